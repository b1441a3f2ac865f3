//! The parts of Go's `fmt` and `strconv` that templates reach: `%v` printing of values
//! (`map[a:1 b:2]`, `[a b]`, floats as `1e+06`), `print`/`println`/`printf`, and
//! `strconv.Quote`. Works on bytes, since Go strings may hold any.

use super::value::Value;

/// Go's `%v` of a value (what an action prints; nil prints `<nil>` here, the action itself
/// prints `<no value>`).
pub(super) fn write_value(out: &mut Vec<u8>, v: &Value) {
    format_verb(out, v, 'v', &Spec::default());
}

pub(super) fn to_string(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(&mut out, v);
    out
}

/// `fmt.Sprint`: spaces between operands when neither side is a string.
pub(super) fn sprint(args: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = |v: &Value| matches!(v, Value::String(_));
        if i > 0 && !is_str(a) && !is_str(&args[i - 1]) {
            out.push(b' ');
        }
        write_value(&mut out, a);
    }
    out
}

/// `fmt.Sprintln`: always spaces, then a newline.
pub(super) fn sprintln(args: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        write_value(&mut out, a);
    }
    out.push(b'\n');
    out
}

#[derive(Default, Clone)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// `fmt.Sprintf` with flags `+-# 0`, width, precision (`*` too) and the verbs
/// `v s q x X d b o O c U t e E f F g G %`. Misuse prints Go's `%!verb(type=value)` markers.
pub(super) fn sprintf(format: &[u8], args: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut arg = 0;
    let mut i = 0;
    while i < format.len() {
        if format[i] != b'%' {
            let next = format[i..]
                .iter()
                .position(|&b| b == b'%')
                .map_or(format.len(), |p| i + p);
            out.extend_from_slice(&format[i..next]);
            i = next;
            continue;
        }
        i += 1;
        let mut spec = Spec::default();
        while i < format.len() {
            match format[i] {
                b'-' => spec.minus = true,
                b'+' => spec.plus = true,
                b'#' => spec.sharp = true,
                b' ' => spec.space = true,
                b'0' => spec.zero = true,
                _ => break,
            }
            i += 1;
        }
        let number = |i: &mut usize, arg: &mut usize, out: &mut Vec<u8>| -> Option<usize> {
            if format.get(*i) == Some(&b'*') {
                *i += 1;
                let n = match args.get(*arg) {
                    Some(Value::Int(n)) => Some(*n),
                    _ => None,
                };
                *arg += 1;
                return match n {
                    Some(n) if (0..=1_000_000).contains(&n) => Some(n as usize),
                    _ => {
                        out.extend_from_slice(b"%!(BADWIDTH)");
                        None
                    }
                };
            }
            // Go's `parsenum`: a number that grows past 10^6 before its last digit is "a crazy
            // long number": the rest of the format is dropped (then `%!(NOVERB)`). One that
            // ends by 10^7 is a width Go honours; sealbox caps it at 10^6 characters, so one
            // verb cannot fill the memory of the controller that renders it.
            let mut n: usize = 0;
            let mut digits = false;
            while let Some(d) = format.get(*i).filter(|b| b.is_ascii_digit()) {
                if n > 1_000_000 {
                    *i = format.len();
                    return None;
                }
                n = n * 10 + usize::from(d - b'0');
                digits = true;
                *i += 1;
            }
            digits.then_some(n.min(1_000_000))
        };
        spec.width = number(&mut i, &mut arg, &mut out);
        if format.get(i) == Some(&b'.') {
            i += 1;
            spec.prec = Some(number(&mut i, &mut arg, &mut out).unwrap_or(0));
        }
        let Some(verb) = std::str::from_utf8(&format[i..])
            .ok()
            .and_then(|s| s.chars().next())
            .or_else(|| format.get(i).map(|&b| b as char))
        else {
            out.extend_from_slice(b"%!(NOVERB)");
            break;
        };
        i += verb.len_utf8();
        if verb == '%' {
            out.push(b'%');
            continue;
        }
        match args.get(arg) {
            Some(v) => format_verb(&mut out, v, verb, &spec),
            None => out.extend_from_slice(format!("%!{verb}(MISSING)").as_bytes()),
        }
        arg += 1;
    }
    if arg < args.len() {
        out.extend_from_slice(b"%!(EXTRA ");
        for (n, v) in args[arg..].iter().enumerate() {
            if n > 0 {
                out.extend_from_slice(b", ");
            }
            bad_arg(&mut out, v);
        }
        out.push(b')');
    }
    out
}

fn bad_arg(out: &mut Vec<u8>, v: &Value) {
    if matches!(v, Value::Nil) {
        out.extend_from_slice(b"<nil>");
        return;
    }
    out.extend_from_slice(v.type_name().as_bytes());
    out.push(b'=');
    write_value(out, v);
}

fn bad_verb(out: &mut Vec<u8>, verb: char, v: &Value) {
    out.extend_from_slice(format!("%!{verb}(").as_bytes());
    bad_arg(out, v);
    out.push(b')');
}

fn format_verb(out: &mut Vec<u8>, v: &Value, verb: char, spec: &Spec) {
    match v {
        Value::Nil => match verb {
            'v' => pad(out, b"<nil>", spec, false),
            _ => bad_verb(out, verb, v),
        },
        Value::Bool(b) => match verb {
            'v' | 't' => pad(out, if *b { b"true" } else { b"false" }, spec, false),
            _ => bad_verb(out, verb, v),
        },
        Value::Int(n) => format_int(out, *n, verb, spec, v),
        Value::Float(f) => format_float(out, *f, verb, spec, v),
        Value::String(s) => format_bytes(out, s, verb, spec, v),
        Value::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                format_verb(out, item, verb, spec);
            }
            out.push(b']');
        }
        Value::Map(m) => {
            out.extend_from_slice(b"map[");
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                format_verb(out, &Value::str(k.as_str()), verb, spec);
                out.push(b':');
                format_verb(out, item, verb, spec);
            }
            out.push(b']');
        }
    }
}

/// Pads to the width (counted in runes, as Go does); `numeric` zero-pads after the sign.
fn pad(out: &mut Vec<u8>, s: &[u8], spec: &Spec, numeric: bool) {
    let len = String::from_utf8_lossy(s).chars().count();
    let fill = spec.width.unwrap_or(0).saturating_sub(len);
    if fill == 0 {
        out.extend_from_slice(s);
    } else if spec.minus {
        out.extend_from_slice(s);
        out.resize(out.len() + fill, b' ');
    } else if spec.zero && numeric {
        let sign = usize::from(s.first().is_some_and(|c| matches!(c, b'+' | b'-' | b' ')));
        out.extend_from_slice(&s[..sign]);
        out.resize(out.len() + fill, b'0');
        out.extend_from_slice(&s[sign..]);
    } else {
        out.resize(out.len() + fill, if spec.zero { b'0' } else { b' ' });
        out.extend_from_slice(s);
    }
}

fn format_int(out: &mut Vec<u8>, n: i64, verb: char, spec: &Spec, v: &Value) {
    let magnitude = n.unsigned_abs();
    let (digits, prefix) = match verb {
        'v' | 'd' => (magnitude.to_string(), ""),
        'b' => (format!("{magnitude:b}"), "0b"),
        'o' => (format!("{magnitude:o}"), "0"),
        'O' => (format!("{magnitude:o}"), "0o"),
        'x' => (format!("{magnitude:x}"), "0x"),
        'X' => (format!("{magnitude:X}"), "0X"),
        'c' => {
            let c = u32::try_from(n)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            return pad(out, c.to_string().as_bytes(), spec, false);
        }
        'q' => {
            let c = u32::try_from(n)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            let mut s = Vec::new();
            quote_into(&mut s, c.to_string().as_bytes(), '\'', spec.plus);
            return pad(out, &s, spec, false);
        }
        'U' => {
            let s = format!("U+{magnitude:04X}");
            return pad(out, s.as_bytes(), spec, false);
        }
        _ => return bad_verb(out, verb, v),
    };
    let mut digits = digits;
    if let Some(p) = spec.prec {
        if p == 0 && n == 0 {
            digits.clear();
        }
        while digits.len() < p {
            digits.insert(0, '0');
        }
    }
    let mut s = String::new();
    if n < 0 {
        s.push('-');
    } else if spec.plus {
        s.push('+');
    } else if spec.space {
        s.push(' ');
    }
    let zero_prefix = verb == 'o' && digits.starts_with('0');
    if (spec.sharp && verb != 'v' && verb != 'd' && !zero_prefix) || verb == 'O' {
        s.push_str(prefix);
    }
    s.push_str(&digits);
    let spec = Spec {
        zero: spec.zero && spec.prec.is_none(),
        ..spec.clone()
    };
    pad(out, s.as_bytes(), &spec, true);
}

/// A float's decimal digits: `0.d1d2d3... × 10^dp`, as Go's strconv works with them.
struct Digits {
    neg: bool,
    digits: Vec<u8>,
    dp: i32,
}

impl Digits {
    /// The shortest digits that round-trip, or `sig` significant digits.
    fn new(f: f64, sig: Option<usize>) -> Digits {
        let s = match sig {
            None => format!("{f:e}"),
            Some(n) => format!("{:.*e}", n.max(1) - 1, f),
        };
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let neg = mantissa.starts_with('-');
        let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
        while digits.len() > 1 && digits.last() == Some(&b'0') {
            digits.pop();
        }
        let exp: i32 = exp.parse().unwrap_or(0);
        let zero = digits == [b'0'];
        Digits {
            neg,
            digits: if zero { Vec::new() } else { digits },
            dp: if zero { 0 } else { exp + 1 },
        }
    }

    /// `%e` with `prec` digits after the point (`None`: all digits).
    fn fmt_e(&self, prec: Option<usize>, upper: bool) -> String {
        let mut s = String::new();
        let first = self.digits.first().copied().unwrap_or(b'0');
        s.push(first as char);
        let rest = self.digits.get(1..).unwrap_or_default();
        let prec = prec.unwrap_or(rest.len());
        if prec > 0 {
            s.push('.');
            for i in 0..prec {
                s.push(rest.get(i).copied().unwrap_or(b'0') as char);
            }
        }
        let exp = if self.digits.is_empty() {
            0
        } else {
            self.dp - 1
        };
        s.push(if upper { 'E' } else { 'e' });
        s.push(if exp < 0 { '-' } else { '+' });
        s.push_str(&format!("{:02}", exp.abs()));
        s
    }

    /// `%f` with `prec` digits after the point.
    fn fmt_f(&self, prec: usize) -> String {
        let digit = |i: i32| -> char {
            usize::try_from(i)
                .ok()
                .and_then(|i| self.digits.get(i))
                .map_or('0', |&d| d as char)
        };
        let mut s = String::new();
        if self.dp > 0 {
            for i in 0..self.dp {
                s.push(digit(i));
            }
        } else {
            s.push('0');
        }
        if prec > 0 {
            s.push('.');
            for i in 0..prec as i32 {
                s.push(digit(self.dp + i));
            }
        }
        s
    }

    /// strconv's `%g`: `%e` when the exponent is < -4 or >= `eprec`.
    fn fmt_g(&self, eprec: i32, upper: bool) -> String {
        let exp = self.dp - 1;
        if !self.digits.is_empty() && (exp < -4 || exp >= eprec) {
            return self.fmt_e(None, upper);
        }
        let prec = (self.digits.len() as i32 - self.dp).max(0) as usize;
        self.fmt_f(prec)
    }
}

fn special(f: f64) -> Option<&'static str> {
    if f.is_nan() {
        Some("NaN")
    } else if f == f64::INFINITY {
        Some("+Inf")
    } else if f == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`, which is also `%v`: `1e+06`, `1.5`, `1e-05`.
pub(super) fn format_g(f: f64) -> String {
    if let Some(s) = special(f) {
        return if s == "+Inf" { "+Inf".into() } else { s.into() };
    }
    let d = Digits::new(f, None);
    let body = d.fmt_g(6, false);
    if d.neg { format!("-{body}") } else { body }
}

/// `encoding/json`'s float64: `%f` style between 1e-6 and 1e21, else `%e` with a short
/// exponent (`1e-7`, `1e+21`).
pub(super) fn format_json_float(f: f64) -> String {
    let d = Digits::new(f, None);
    let abs = f.abs();
    let body = if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let e = d.fmt_e(None, false);
        match e.split_once("e-0") {
            Some((m, x)) => format!("{m}e-{x}"),
            None => e,
        }
    } else {
        d.fmt_f((d.digits.len() as i32 - d.dp).max(0) as usize)
    };
    if d.neg { format!("-{body}") } else { body }
}

fn format_float(out: &mut Vec<u8>, f: f64, verb: char, spec: &Spec, v: &Value) {
    let body = if let Some(s) = special(f) {
        let s = if s == "+Inf" && !spec.plus { "Inf" } else { s };
        let spec = Spec {
            zero: false,
            ..spec.clone()
        };
        let mut s = s.to_string();
        if spec.space && !s.starts_with(['+', '-']) {
            s.insert(0, ' ');
        }
        return pad(out, s.as_bytes(), &spec, true);
    } else {
        match verb {
            'v' | 'g' | 'G' => match spec.prec {
                None => {
                    let d = Digits::new(f, None);
                    (d.neg, d.fmt_g(6, verb == 'G'))
                }
                Some(p) => {
                    let p = p.max(1);
                    let d = Digits::new(f, Some(p));
                    let eprec = if p > d.digits.len() && d.digits.len() as i32 >= d.dp {
                        d.digits.len() as i32
                    } else {
                        p as i32
                    };
                    (d.neg, d.fmt_g(eprec, verb == 'G'))
                }
            },
            'e' | 'E' => {
                let p = spec.prec.unwrap_or(6);
                let d = Digits::new(f, Some(p + 1));
                (d.neg, d.fmt_e(Some(p), verb == 'E'))
            }
            'f' | 'F' => {
                let p = spec.prec.unwrap_or(6);
                let s = format!("{:.*}", p, f.abs());
                (f.is_sign_negative(), s)
            }
            _ => return bad_verb(out, verb, v),
        }
    };
    let (neg, digits) = body;
    let mut s = String::new();
    if neg {
        s.push('-');
    } else if spec.plus {
        s.push('+');
    } else if spec.space {
        s.push(' ');
    }
    s.push_str(&digits);
    pad(out, s.as_bytes(), spec, true);
}

fn format_bytes(out: &mut Vec<u8>, s: &[u8], verb: char, spec: &Spec, v: &Value) {
    match verb {
        'v' | 's' => {
            let s = truncate_runes(s, spec.prec);
            pad(out, s, spec, false);
        }
        'q' => {
            let s = truncate_runes(s, spec.prec);
            let mut q = Vec::new();
            if spec.sharp && can_backquote(s) {
                q.push(b'`');
                q.extend_from_slice(s);
                q.push(b'`');
            } else {
                quote_into(&mut q, s, '"', spec.plus);
            }
            pad(out, &q, spec, false);
        }
        'x' | 'X' => {
            let s = match spec.prec {
                Some(p) => &s[..p.min(s.len())],
                None => s,
            };
            let mut h = String::new();
            for (i, b) in s.iter().enumerate() {
                if spec.space && i > 0 {
                    h.push(' ');
                }
                if spec.sharp && (spec.space || i == 0) {
                    h.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                if verb == 'x' {
                    h.push_str(&format!("{b:02x}"));
                } else {
                    h.push_str(&format!("{b:02X}"));
                }
            }
            pad(out, h.as_bytes(), spec, false);
        }
        _ => bad_verb(out, verb, v),
    }
}

fn truncate_runes(s: &[u8], prec: Option<usize>) -> &[u8] {
    let Some(p) = prec else { return s };
    let mut i = 0;
    for _ in 0..p {
        if i >= s.len() {
            break;
        }
        i += utf8_len(&s[i..]);
    }
    &s[..i]
}

/// Length of the UTF-8 sequence at the start of `s`, or 1 for an invalid byte (Go decodes
/// an invalid byte as one U+FFFD of width 1).
fn utf8_len(s: &[u8]) -> usize {
    let n = match s[0] {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return 1,
    };
    if s.len() >= n && std::str::from_utf8(&s[..n]).is_ok() {
        n
    } else {
        1
    }
}

fn can_backquote(s: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(s) else {
        return false;
    };
    s.chars()
        .all(|c| c != '`' && c != '\u{FEFF}' && (c == '\t' || !c.is_control()))
}

/// An approximation of Go's `unicode.IsPrint` for non-ASCII: not a control, not a space
/// other than U+0020, not a format character or private use. Unassigned code points count
/// as printable here (Go escapes them).
fn is_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c as u32,
            0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
            | 0x202A..=0x202E | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
            | 0xE000..=0xF8FF | 0xF0000.. | 0xE0001 | 0xE0020..=0xE007F))
}

/// Go's `strconv.Quote` (`ascii`: `QuoteToASCII`), with `quote` as the delimiter.
pub(super) fn quote_into(out: &mut Vec<u8>, s: &[u8], quote: char, ascii: bool) {
    out.push(quote as u8);
    let mut i = 0;
    while i < s.len() {
        let n = utf8_len(&s[i..]);
        let c = std::str::from_utf8(&s[i..i + n])
            .ok()
            .and_then(|t| t.chars().next());
        let Some(c) = c.filter(|_| n > 1 || s[i] < 0x80) else {
            out.extend_from_slice(format!("\\x{:02x}", s[i]).as_bytes());
            i += 1;
            continue;
        };
        i += n;
        if c == quote || c == '\\' {
            out.push(b'\\');
            out.push(c as u8);
            continue;
        }
        if (!ascii || c.is_ascii()) && is_print(c) {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let esc = match c {
            '\x07' => "\\a".to_string(),
            '\x08' => "\\b".into(),
            '\x0c' => "\\f".into(),
            '\n' => "\\n".into(),
            '\r' => "\\r".into(),
            '\t' => "\\t".into(),
            '\x0b' => "\\v".into(),
            c if (c as u32) < 0x20 || c == '\x7f' => format!("\\x{:02x}", c as u32),
            c if (c as u32) > 0xFFFF => format!("\\U{:08x}", c as u32),
            c => format!("\\u{:04x}", c as u32),
        };
        out.extend_from_slice(esc.as_bytes());
    }
    out.push(quote as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn v(x: &Value) -> String {
        String::from_utf8(to_string(x)).unwrap()
    }

    fn pf(f: &str, args: &[Value]) -> String {
        String::from_utf8(sprintf(f.as_bytes(), args)).unwrap()
    }

    #[test]
    fn a_crazy_long_width_or_precision_drops_the_rest_of_the_format_as_go_does() {
        // Found by fuzzing (go_template): printf padded to 80 million characters.
        assert_eq!(
            pf("%0000.080000008d200080", &[Value::Int(5)]),
            "%!(NOVERB)%!(EXTRA int=5)"
        );
        assert_eq!(
            pf("a%100000000dz", &[Value::Int(5)]),
            "a%!(NOVERB)%!(EXTRA int=5)"
        );
        // Up to 10^6 digits' worth is a number; just past it, still one (Go checks before
        // each digit).
        assert_eq!(pf("%.1000000d", &[Value::Int(5)]).len(), 1_000_000);
        assert_eq!(pf("%.9999999d", &[Value::Int(5)]).len(), 1_000_000);
        assert_eq!(pf("%3d|", &[Value::Int(5)]), "  5|");
    }

    #[test]
    fn percent_v_matches_go() {
        let m = Value::Map(BTreeMap::from([
            ("b".into(), Value::Int(2)),
            (
                "a".into(),
                Value::List(vec![Value::str("x"), Value::Nil, Value::Bool(true)]),
            ),
        ]));
        assert_eq!(v(&m), "map[a:[x <nil> true] b:2]");
        for (f, want) in [
            (1.0, "1"),
            (1.5, "1.5"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (0.0, "0"),
            (1e21, "1e+21"),
            (0.1 + 0.2, "0.30000000000000004"),
        ] {
            assert_eq!(v(&Value::Float(f)), want, "{f}");
        }
    }

    #[test]
    fn json_floats_match_go() {
        for (f, want) in [
            (1.0, "1"),
            (1.5, "1.5"),
            (1e6, "1000000"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1e-7, "1e-7"),
            (0.000001, "0.000001"),
            (-3.25e-10, "-3.25e-10"),
            (0.0, "0"),
        ] {
            assert_eq!(format_json_float(f), want, "{f}");
        }
    }

    #[test]
    fn printf_verbs() {
        let s = Value::str("héllo");
        assert_eq!(
            pf(
                "%s|%v|%q|%x",
                &[s.clone(), s.clone(), s.clone(), Value::str("ab")]
            ),
            "héllo|héllo|\"héllo\"|6162"
        );
        assert_eq!(
            pf("%5s|%-5s|%.2s", &[Value::str("ab"), Value::str("ab"), s]),
            "   ab|ab   |hé"
        );
        assert_eq!(
            pf(
                "%d %5d %-3d| %05d %x %X %o %b %c %+d",
                &[
                    Value::Int(42),
                    Value::Int(42),
                    Value::Int(7),
                    Value::Int(-42),
                    Value::Int(255),
                    Value::Int(255),
                    Value::Int(8),
                    Value::Int(5),
                    Value::Int(65),
                    Value::Int(3),
                ]
            ),
            "42    42 7  | -0042 ff FF 10 101 A +3"
        );
        assert_eq!(
            pf(
                "%f %.2f %8.3f %e %g %.3g %v",
                &[
                    Value::Float(3.25159),
                    Value::Float(2.675),
                    Value::Float(-1.5),
                    Value::Float(1234.5678),
                    Value::Float(0.000012),
                    Value::Float(1234.0),
                    Value::Float(2.0),
                ]
            ),
            "3.251590 2.67   -1.500 1.234568e+03 1.2e-05 1.23e+03 2"
        );
        assert_eq!(
            pf("%t %v %%", &[Value::Bool(true), Value::Nil]),
            "true <nil> %"
        );
        assert_eq!(
            pf("%d %s", &[Value::str("x")]),
            "%!d(string=x) %!s(MISSING)"
        );
        assert_eq!(
            pf("%s", &[Value::Int(1), Value::Int(2)]),
            "%!s(int=1)%!(EXTRA int=2)"
        );
        assert_eq!(
            pf(
                "%v %s",
                &[
                    Value::List(vec![Value::Int(1)]),
                    Value::List(vec![Value::str("a"), Value::str("b")])
                ]
            ),
            "[1] [a b]"
        );
        assert_eq!(pf("%q", &[Value::List(vec![Value::str("a")])]), "[\"a\"]");
        assert_eq!(
            pf(
                "%*d|%.*f",
                &[
                    Value::Int(4),
                    Value::Int(7),
                    Value::Int(1),
                    Value::Float(2.25)
                ]
            ),
            "   7|2.2"
        );
    }

    #[test]
    fn print_spacing() {
        assert_eq!(
            sprint(&[
                Value::str("a"),
                Value::Int(1),
                Value::Int(2),
                Value::str("b")
            ]),
            b"a1 2b"
        );
        assert_eq!(sprintln(&[Value::str("a"), Value::Int(1)]), b"a 1\n");
    }

    #[test]
    fn quote_matches_strconv() {
        let mut q = Vec::new();
        quote_into(
            &mut q,
            b"a\"\\\n\t\x01\xff\x7f\xc3\xa9\xe2\x80\x8b",
            '"',
            false,
        );
        assert_eq!(
            String::from_utf8(q).unwrap(),
            r#""a\"\\\n\t\x01\xff\x7fé\u200b""#
        );
    }
}
