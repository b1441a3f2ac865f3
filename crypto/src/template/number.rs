//! Go's integer literal prefixes, shared by template literals (`parser`) and Sprig's `atoi`/
//! `int` (`strconv.ParseInt` with base 0).

/// The radix a lowercased, unsigned Go integer literal is written in, and its digits:
/// `0x…` 16, `0o…` and a leading `0` 8, `0b…` 2, else 10.
pub(super) fn radix_and_digits(lower: &str) -> (u32, &str) {
    if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower)
    }
}

#[cfg(test)]
mod tests {
    use super::radix_and_digits;

    #[test]
    fn go_prefixes() {
        assert_eq!(radix_and_digits("0x1f"), (16, "1f"));
        assert_eq!(radix_and_digits("0o17"), (8, "17"));
        assert_eq!(radix_and_digits("017"), (8, "17"));
        assert_eq!(radix_and_digits("0b101"), (2, "101"));
        assert_eq!(radix_and_digits("0"), (10, "0"));
        assert_eq!(radix_and_digits("42"), (10, "42"));
    }
}
