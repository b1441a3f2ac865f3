//! yaml.v3's typing of plain scalars (spec `sops.md` §6): which text reads back as null, a
//! bool, an int, a float, a timestamp or a string. The reader types what it parses with it; the
//! emitter asks it whether a string written plain would read back as that string.

use granit_parser::ScalarStyle;

use crate::sops::value::{Scalar, Value};

pub(super) fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// yaml.v3's typing of a scalar (its `resolve`): only plain scalars are resolved, quoted and
/// block ones are strings; `!!str` forces a string. Numbers are tried only when the first
/// character can start one, as yaml.v3's hint table does.
pub(super) fn scalar(text: &str, style: ScalarStyle, tag: Option<&str>) -> Value {
    let string = || Value::Scalar(Scalar::Str(text.as_bytes().to_vec()));
    if style != ScalarStyle::Plain || tag.is_some_and(|t| t.ends_with("str")) {
        return string();
    }
    if is_null(text) {
        return Value::Null;
    }
    match text {
        "true" | "True" | "TRUE" => return Value::Scalar(Scalar::Bool(true)),
        "false" | "False" | "FALSE" => return Value::Scalar(Scalar::Bool(false)),
        _ => {}
    }
    if !text.starts_with(|c: char| c.is_ascii_digit() || "+-.".contains(c)) {
        return string();
    }
    if let Some(i) = parse_int(text) {
        return Value::Scalar(Scalar::Int(i));
    }
    if let Some(f) = parse_float(text) {
        return Value::Scalar(Scalar::Float(f));
    }
    if let Some(t) = parse_timestamp(text) {
        return Value::Scalar(Scalar::Time(t));
    }
    string()
}

/// Go's `strconv.ParseInt(s, 0, 64)` after removing `_`: `0x`, `0o`, `0b` (either case) and
/// a leading `0` for octal.
fn parse_int(text: &str) -> Option<i64> {
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    let (negative, digits) = match clean.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(b) = lower.strip_prefix("0x") {
        (16, b)
    } else if let Some(b) = lower.strip_prefix("0o") {
        (8, b)
    } else if let Some(b) = lower.strip_prefix("0b") {
        (2, b)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(body, radix).ok()?;
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// yaml.v3's float form `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$` and the
/// `.inf`/`.nan` spellings.
fn parse_float(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    // `.5`, `1.` and `1.5` are floats; `.` is not.
    let mantissa_ok =
        digits(whole) && digits(fraction) && (!whole.is_empty() || !fraction.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    (mantissa_ok && exponent_ok)
        .then(|| text.parse().ok())
        .flatten()
}

/// yaml.v3's timestamp layouts (`2006-1-2T15:4:5.999999999Z07:00`, the same with `t`,
/// `2006-1-2 15:4:5.999999999` in UTC, and `2006-1-2`), with real calendar checks; the value
/// is kept as Go writes it back (RFC 3339, `Z` for a zero offset).
fn parse_timestamp(text: &str) -> Option<String> {
    let num = |s: &str, max_len: usize| -> Option<u32> {
        (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let date_end = text.find(['T', 't', ' ']).unwrap_or(text.len());
    let mut date = text[..date_end].split('-');
    let (year, month, day) = (date.next()?, date.next()?, date.next()?);
    if date.next().is_some() || year.len() != 4 {
        return None;
    }
    let (year, month, day) = (num(year, 4)?, num(month, 2)?, num(day, 2)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month) || day == 0 || day > days[month as usize - 1] {
        return None;
    }
    let ymd = format!("{year:04}-{month:02}-{day:02}");
    if date_end == text.len() {
        return Some(format!("{ymd}T00:00:00Z"));
    }
    let separator = text.as_bytes()[date_end];
    let rest = &text[date_end + 1..];
    let (clock, zone) = if separator == b' ' {
        (rest, "Z")
    } else {
        let at = rest.find(['Z', '+', '-'])?;
        (&rest[..at], &rest[at..])
    };
    let zone = match zone {
        "Z" | "+00:00" | "-00:00" => "Z".to_owned(),
        z => {
            let (h, m) = z[1..].split_once(':')?;
            (h.len() == 2 && m.len() == 2 && num(h, 2)? < 24 && num(m, 2)? < 60)
                .then(|| z.to_owned())?
        }
    };
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut parts = hms.split(':');
    let (h, m, sec) = (
        num(parts.next()?, 2)?,
        num(parts.next()?, 2)?,
        num(parts.next()?, 2)?,
    );
    if parts.next().is_some() || h > 23 || m > 59 || sec > 59 {
        return None;
    }
    if !fraction.is_empty() && num(fraction, 9).is_none() {
        return None;
    }
    let fraction = fraction.trim_end_matches('0');
    let fraction = if fraction.is_empty() {
        String::new()
    } else {
        format!(".{fraction}")
    };
    Some(format!("{ymd}T{h:02}:{m:02}:{sec:02}{fraction}{zone}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sops::value::Entry;
    use crate::sops::yaml::parse;

    #[test]
    fn types_plain_scalars_like_yaml_v3() {
        let doc = &parse("a: 017\nb: 0x1F\nc: 1e3\nd: yes\ne: ~\nf: 2024-01-02\ng: '5'\nh: True\n")
            .unwrap()[0];
        let get = |k: &str| {
            doc.iter()
                .find_map(|e| match e {
                    Entry::Pair(key, v) if key == k => Some(v.clone()),
                    _ => None,
                })
                .unwrap()
        };
        assert_eq!(get("a"), Value::Scalar(Scalar::Int(15)));
        assert_eq!(get("b"), Value::Scalar(Scalar::Int(31)));
        assert_eq!(get("c"), Value::Scalar(Scalar::Float(1000.0)));
        assert_eq!(get("d"), Value::Scalar(Scalar::Str(b"yes".to_vec())));
        assert_eq!(get("e"), Value::Null);
        assert_eq!(
            get("f"),
            Value::Scalar(Scalar::Time("2024-01-02T00:00:00Z".into()))
        );
        assert_eq!(get("g"), Value::Scalar(Scalar::Str(b"5".to_vec())));
        assert_eq!(get("h"), Value::Scalar(Scalar::Bool(true)));
        let ty = |t: &str| scalar(t, ScalarStyle::Plain, None);
        assert_eq!(
            ty("2024-01-02T03:04:05+00:00"),
            Value::Scalar(Scalar::Time("2024-01-02T03:04:05Z".into()))
        );
        assert_eq!(
            ty("2024-1-2"),
            Value::Scalar(Scalar::Time("2024-01-02T00:00:00Z".into()))
        );
        assert_eq!(
            ty("2024-01-02 03:04:05"),
            Value::Scalar(Scalar::Time("2024-01-02T03:04:05Z".into()))
        );
        assert_eq!(
            ty("2024-13-45"),
            Value::Scalar(Scalar::Str(b"2024-13-45".to_vec()))
        );
        assert_eq!(
            ty("2024-01-02T03:04:05"),
            Value::Scalar(Scalar::Str(b"2024-01-02T03:04:05".to_vec()))
        );
        assert_eq!(ty("_1"), Value::Scalar(Scalar::Str(b"_1".to_vec())));
        assert_eq!(ty("0X1F"), Value::Scalar(Scalar::Int(31)));
        assert_eq!(ty("1_000"), Value::Scalar(Scalar::Int(1000)));
        assert_eq!(ty("1."), Value::Scalar(Scalar::Float(1.0)));
    }
}
