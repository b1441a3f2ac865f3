//! Sprig's string, encoding, hash and regex functions. Strings are bytes; functions that are
//! defined on runes decode UTF-8 the way Go does (an invalid byte is one U+FFFD).

use base64::Engine as _;
use sha2::Digest as _;

use super::super::limits;
use super::super::value::Value;
use super::args::{Fail, Result, arity, int, string, strval};

pub(super) fn call(name: &str, args: &[Value]) -> Option<Result<Value>> {
    let s = Value::String;
    let str1 = |f: fn(&[u8]) -> Vec<u8>| -> Result<Value> {
        arity(name, args, 1)?;
        Ok(s(f(string(&args[0])?)))
    };
    // Sprig puts the operand last so `"x" | f arg` reads well: (arg, operand).
    let str2 = |f: fn(&[u8], &[u8]) -> Value| -> Result<Value> {
        arity(name, args, 2)?;
        Ok(f(string(&args[0])?, string(&args[1])?))
    };
    Some(match name {
        "trim" => str1(|v| trim_by(v, char::is_whitespace).to_vec()),
        "nospace" => str1(|v| map_runes(v, |c| (!c.is_whitespace()).then_some(c))),
        "upper" => str1(|v| map_runes(v, |c| Some(simple_case(c, true)))),
        "lower" => str1(|v| map_runes(v, |c| Some(simple_case(c, false)))),
        "title" => str1(|v| title(v, true)),
        "untitle" => str1(|v| title(v, false)),
        "trimAll" | "trimall" => str2(|cut, v| {
            let cut = String::from_utf8_lossy(cut);
            Value::String(trim_by(v, |c| cut.contains(c)).to_vec())
        }),
        "trimPrefix" => str2(|p, v| Value::String(v.strip_prefix(p).unwrap_or(v).to_vec())),
        "trimSuffix" => str2(|p, v| Value::String(v.strip_suffix(p).unwrap_or(v).to_vec())),
        "contains" => str2(|p, v| Value::Bool(find(v, p).is_some())),
        "hasPrefix" => str2(|p, v| Value::Bool(v.starts_with(p))),
        "hasSuffix" => str2(|p, v| Value::Bool(v.ends_with(p))),
        "splitList" => str2(|sep, v| {
            Value::List(
                split(v, sep, usize::MAX)
                    .into_iter()
                    .map(Value::String)
                    .collect(),
            )
        }),
        "split" => str2(|sep, v| split_map(split(v, sep, usize::MAX))),
        "splitn" => (|| {
            arity(name, args, 3)?;
            let n = int(&args[1])?;
            let parts = if n < 0 { usize::MAX } else { n as usize };
            Ok(split_map(split(
                string(&args[2])?,
                string(&args[0])?,
                parts,
            )))
        })(),
        "quote" => Ok(s(join_non_nil(args, |v, out| {
            super::super::fmt::quote_into(out, &strval(v), '"', false)
        }))),
        "squote" => Ok(s(join_non_nil(args, |v, out| {
            out.push(b'\'');
            super::super::fmt::write_value(out, v);
            out.push(b'\'');
        }))),
        "cat" => Ok(s(join_non_nil(args, |v, out| {
            super::super::fmt::write_value(out, v)
        }))),
        "indent" | "nindent" => (|| {
            arity(name, args, 2)?;
            let width = usize::try_from(int(&args[0])?).unwrap_or(0);
            let text = string(&args[1])?;
            let lines = text.iter().filter(|&&b| b == b'\n').count() + 1;
            if width.saturating_mul(lines).saturating_add(text.len()) > limits::MAX_OUTPUT {
                return Err(Fail::Call(format!("{name}: output too large")));
            }
            let pad = vec![b' '; width];
            let mut out = if name == "nindent" {
                vec![b'\n']
            } else {
                vec![]
            };
            out.extend_from_slice(&pad);
            for (i, line) in text.split(|&b| b == b'\n').enumerate() {
                if i > 0 {
                    out.push(b'\n');
                    out.extend_from_slice(&pad);
                }
                out.extend_from_slice(line);
            }
            Ok(s(out))
        })(),
        "replace" => (|| {
            arity(name, args, 3)?;
            Ok(s(replace(
                string(&args[2])?,
                string(&args[0])?,
                string(&args[1])?,
            )))
        })(),
        "repeat" => (|| {
            arity(name, args, 2)?;
            let n = int(&args[0])?;
            let n = usize::try_from(n)
                .map_err(|_| Fail::Call("strings: negative Repeat count".into()))?;
            let v = string(&args[1])?;
            if v.len().saturating_mul(n) > limits::MAX_OUTPUT {
                return Err(Fail::Call("strings: Repeat output too large".into()));
            }
            Ok(s(v.repeat(n)))
        })(),
        "substr" => (|| {
            arity(name, args, 3)?;
            let (start, end, v) = (int(&args[0])?, int(&args[1])?, string(&args[2])?);
            let len = v.len() as i64;
            let (a, b) = if start < 0 {
                (0, end)
            } else if end < 0 || end > len {
                (start, len)
            } else {
                (start, end)
            };
            if a > b || b > len || b < 0 {
                return Err(Fail::Call(
                    "runtime error: slice bounds out of range".into(),
                ));
            }
            Ok(s(v[a as usize..b as usize].to_vec()))
        })(),
        "trunc" => (|| {
            arity(name, args, 2)?;
            let (c, v) = (int(&args[0])?, string(&args[1])?);
            let len = v.len() as i64;
            Ok(s(if c < 0 && len + c > 0 {
                v[(len + c) as usize..].to_vec()
            } else if c >= 0 && len > c {
                v[..c as usize].to_vec()
            } else {
                v.to_vec()
            }))
        })(),
        "abbrev" => (|| {
            arity(name, args, 2)?;
            let (w, v) = (int(&args[0])?, string(&args[1])?);
            if w < 4 || v.len() as i64 <= w {
                return Ok(s(v.to_vec()));
            }
            let mut out = v[..(w - 3) as usize].to_vec();
            out.extend_from_slice(b"...");
            Ok(s(out))
        })(),
        "plural" => (|| {
            arity(name, args, 3)?;
            let (one, many) = (string(&args[0])?, string(&args[1])?);
            Ok(s(if int(&args[2])? == 1 { one } else { many }.to_vec()))
        })(),
        "toString" => arity(name, args, 1).map(|_| s(strval(&args[0]))),
        "b64enc" => str1(|v| {
            base64::engine::general_purpose::STANDARD
                .encode(v)
                .into_bytes()
        }),
        "b64dec" => str1(|v| b64dec(v).unwrap_or_else(|at| go_corrupt("base64", at))),
        "b32enc" => str1(b32enc),
        "b32dec" => str1(|v| b32dec(v).unwrap_or_else(|at| go_corrupt("base32", at))),
        "sha1sum" => str1(|v| {
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, v);
            hex(d.as_ref())
        }),
        "sha256sum" => str1(|v| hex(&sha2::Sha256::digest(v))),
        "sha512sum" => str1(|v| hex(&sha2::Sha512::digest(v))),
        "adler32sum" => str1(|v| adler32(v).to_string().into_bytes()),
        "regexQuoteMeta" => str1(|v| regex::escape(&String::from_utf8_lossy(v)).into_bytes()),
        "regexMatch" | "mustRegexMatch" => (|| {
            arity(name, args, 2)?;
            let re = compile(name, &args[0])?;
            Ok(Value::Bool(re.is_some_and(|re| {
                re.is_match(string(&args[1]).unwrap_or_default())
            })))
        })(),
        "regexFind" | "mustRegexFind" => (|| {
            arity(name, args, 2)?;
            let found = compile(name, &args[0])?.and_then(|re| {
                re.find(string(&args[1]).ok()?)
                    .map(|m| m.as_bytes().to_vec())
            });
            Ok(s(found.unwrap_or_default()))
        })(),
        "regexFindAll" | "mustRegexFindAll" => (|| {
            arity(name, args, 3)?;
            let n = int(&args[2])?;
            let v = string(&args[1])?;
            let found: Vec<Value> = match compile(name, &args[0])? {
                Some(re) => re
                    .find_iter(v)
                    .take(if n < 0 { usize::MAX } else { n as usize })
                    .map(|m| s(m.as_bytes().to_vec()))
                    .collect(),
                None => vec![],
            };
            Ok(Value::List(found))
        })(),
        "regexReplaceAll"
        | "mustRegexReplaceAll"
        | "regexReplaceAllLiteral"
        | "mustRegexReplaceAllLiteral" => (|| {
            arity(name, args, 3)?;
            let (v, repl) = (string(&args[1])?, string(&args[2])?);
            Ok(s(match compile(name, &args[0])? {
                Some(re) if name.ends_with("Literal") => {
                    re.replace_all(v, regex::bytes::NoExpand(repl)).into_owned()
                }
                Some(re) => re.replace_all(v, repl).into_owned(),
                None => Vec::new(),
            }))
        })(),
        "regexSplit" | "mustRegexSplit" => (|| {
            arity(name, args, 3)?;
            let (v, n) = (string(&args[1])?, int(&args[2])?);
            let parts: Vec<Value> = match compile(name, &args[0])? {
                Some(_) if n == 0 => vec![],
                Some(re) if n < 0 => re.split(v).map(|p| s(p.to_vec())).collect(),
                Some(re) => re.splitn(v, n as usize).map(|p| s(p.to_vec())).collect(),
                None => vec![],
            };
            Ok(Value::List(parts))
        })(),
        "fail" => (|| {
            arity(name, args, 1)?;
            Err(Fail::Call(
                String::from_utf8_lossy(string(&args[0])?).into_owned(),
            ))
        })(),
        "join" => (|| {
            arity(name, args, 2)?;
            let sep = string(&args[0])?;
            Ok(s(super::collections::strslice(&args[1]).join(sep)))
        })(),
        "sortAlpha" => arity(name, args, 1).map(|_| {
            let mut items = super::collections::strslice(&args[0]);
            items.sort();
            Value::List(items.into_iter().map(s).collect())
        }),
        "toStrings" => arity(name, args, 1).map(|_| {
            Value::List(
                super::collections::strslice(&args[0])
                    .into_iter()
                    .map(s)
                    .collect(),
            )
        }),
        _ => return None,
    })
}

/// Compiles a Sprig regex argument. The non-`must` variants swallow a bad pattern (Sprig
/// returns the zero result); `must*` report it. The pattern is template text, not data.
fn compile(name: &str, pattern: &Value) -> Result<Option<regex::bytes::Regex>> {
    let p = String::from_utf8_lossy(string(pattern)?).into_owned();
    match regex::bytes::Regex::new(&p) {
        Ok(re) => Ok(Some(re)),
        Err(_) if !name.starts_with("must") => Ok(None),
        Err(e) => Err(Fail::Call(format!("error parsing regexp: {e}"))),
    }
}

fn join_non_nil(args: &[Value], mut each: impl FnMut(&Value, &mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, v) in args.iter().filter(|v| !matches!(v, Value::Nil)).enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        each(v, &mut out);
    }
    out
}

/// Decodes `s` rune by rune (invalid bytes become U+FFFD, as Go's `strings.Map` does) and
/// keeps what `f` returns.
fn map_runes(s: &[u8], mut f: impl FnMut(char) -> Option<char>) -> Vec<u8> {
    String::from_utf8_lossy(s)
        .chars()
        .filter_map(&mut f)
        .collect::<String>()
        .into_bytes()
}

/// Go's `unicode.ToUpper`/`ToLower`: one rune to one rune (no `ß` → `SS`).
fn simple_case(c: char, upper: bool) -> char {
    let mut it: Box<dyn Iterator<Item = char>> = if upper {
        Box::new(c.to_uppercase())
    } else {
        Box::new(c.to_lowercase())
    };
    match (it.next(), it.next()) {
        (Some(m), None) => m,
        _ => c,
    }
}

/// Go's `strings.Title` (and Sprig's `untitle`): the first letter after a separator changes
/// case.
fn title(s: &[u8], upper: bool) -> Vec<u8> {
    let is_sep = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            !(c.is_alphabetic() || c.is_numeric()) && c.is_whitespace()
        }
    };
    let mut prev = ' ';
    map_runes(s, |c| {
        let out = if is_sep(prev) {
            simple_case(c, upper)
        } else {
            c
        };
        prev = c;
        Some(out)
    })
}

/// Trims runes matching `f` from both ends; invalid bytes are never trimmed.
fn trim_by(s: &[u8], f: impl Fn(char) -> bool) -> &[u8] {
    let mut start = 0;
    while start < s.len() {
        match leading_char(&s[start..]) {
            Some(c) if f(c) => start += c.len_utf8(),
            _ => break,
        }
    }
    let mut end = s.len();
    while end > start {
        match trailing_char(&s[start..end]) {
            Some(c) if f(c) => end -= c.len_utf8(),
            _ => break,
        }
    }
    &s[start..end]
}

fn leading_char(s: &[u8]) -> Option<char> {
    (1..=4.min(s.len())).find_map(|n| std::str::from_utf8(&s[..n]).ok()?.chars().next())
}

fn trailing_char(s: &[u8]) -> Option<char> {
    (1..=4.min(s.len())).find_map(|n| std::str::from_utf8(&s[s.len() - n..]).ok()?.chars().next())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Go's `strings.SplitN` (an empty separator splits into UTF-8 sequences).
fn split(s: &[u8], sep: &[u8], n: usize) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    if n == 0 {
        return parts;
    }
    if sep.is_empty() {
        let text = String::from_utf8_lossy(s);
        let mut chars: Vec<Vec<u8>> = text.chars().map(|c| c.to_string().into_bytes()).collect();
        if chars.len() > n {
            let tail: Vec<u8> = chars.split_off(n - 1).concat();
            chars.push(tail);
        }
        return chars;
    }
    let mut rest = s;
    while parts.len() + 1 < n {
        match find(rest, sep) {
            Some(i) => {
                parts.push(rest[..i].to_vec());
                rest = &rest[i + sep.len()..];
            }
            None => break,
        }
    }
    parts.push(rest.to_vec());
    parts
}

/// Sprig's `split`: a map `_0`, `_1`, ...
fn split_map(parts: Vec<Vec<u8>>) -> Value {
    Value::Map(
        parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| (format!("_{i}"), Value::String(p)))
            .collect(),
    )
}

fn replace(s: &[u8], old: &[u8], new: &[u8]) -> Vec<u8> {
    if old.is_empty() {
        // Go inserts `new` before every rune and at the end.
        let text = String::from_utf8_lossy(s);
        let mut out = Vec::new();
        for c in text.chars() {
            out.extend_from_slice(new);
            out.extend_from_slice(c.to_string().as_bytes());
        }
        out.extend_from_slice(new);
        return out;
    }
    let mut out = Vec::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = find(rest, old) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(new);
        rest = &rest[i + old.len()..];
    }
    out.extend_from_slice(rest);
    out
}

fn hex(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .flat_map(|b| format!("{b:02x}").into_bytes())
        .collect()
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// Sprig returns a decoding error as the function's *value*; Go's message names only the
/// offset, never the data.
fn go_corrupt(encoding: &str, at: usize) -> Vec<u8> {
    format!("illegal {encoding} data at input byte {at}").into_bytes()
}

/// Decodes with Go's padded alphabet rules (`base64.StdEncoding.DecodeString`, or base32 via
/// `bits`): `\r` and `\n` are skipped, non-zero trailing bits are accepted, and the error is
/// the offset of the first bad byte.
fn decode_go(src: &[u8], alphabet: &[u8], bits: u32) -> std::result::Result<Vec<u8>, usize> {
    let quantum = if bits == 6 { 4 } else { 8 };
    let mut out = Vec::with_capacity(src.len());
    let mut si = 0;
    loop {
        let mut vals = Vec::with_capacity(quantum);
        let mut padded = false;
        while vals.len() < quantum {
            if si == src.len() {
                if vals.is_empty() {
                    return Ok(out);
                }
                return Err(si - vals.len());
            }
            let c = src[si];
            si += 1;
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if c == b'=' {
                // Padding: what is there must form a whole number of bytes and the rest of
                // the quantum must be `=` too.
                let have = vals.len();
                let valid_base64 = bits == 6 && have >= 2;
                let valid_base32 = bits == 5 && matches!(have, 2 | 4 | 5 | 7);
                if !(valid_base64 || valid_base32) {
                    return Err(si - 1);
                }
                let mut need = quantum - have - 1;
                while need > 0 {
                    match src.get(si) {
                        None => return Err(src.len()),
                        Some(b'\n' | b'\r') => si += 1,
                        Some(b'=') => {
                            si += 1;
                            need -= 1;
                        }
                        Some(_) => return Err(si - 1),
                    }
                }
                while matches!(src.get(si), Some(b'\n' | b'\r')) {
                    si += 1;
                }
                if si < src.len() {
                    return Err(si);
                }
                padded = true;
                break;
            }
            match alphabet.iter().position(|&a| a == c) {
                Some(v) => vals.push(v as u64),
                None => return Err(si - 1),
            }
        }
        let mut acc = 0u64;
        for v in &vals {
            acc = (acc << bits) | v;
        }
        let nbits = vals.len() as u32 * bits;
        let nbytes = (nbits / 8) as usize;
        acc >>= nbits % 8;
        for i in (0..nbytes).rev() {
            out.push((acc >> (8 * i)) as u8);
        }
        if padded {
            return Ok(out);
        }
    }
}

const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn b64dec(s: &[u8]) -> std::result::Result<Vec<u8>, usize> {
    decode_go(s, B64, 6)
}

fn b32dec(s: &[u8]) -> std::result::Result<Vec<u8>, usize> {
    decode_go(s, B32, 5)
}

fn b32enc(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in s.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let acc = buf.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b));
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < chars {
                out.push(B32[((acc >> (35 - 5 * i)) & 31) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_base64_decoding() {
        assert_eq!(b64dec(b"aGVsbG8=").unwrap(), b"hello");
        assert_eq!(b64dec(b"aGVs\nbG8=").unwrap(), b"hello");
        assert_eq!(
            b64dec(b"YR==").unwrap(),
            b"a",
            "non-zero trailing bits are accepted"
        );
        assert_eq!(b64dec(b"").unwrap(), b"");
        assert_eq!(b64dec(b"YQ"), Err(0));
        assert_eq!(b64dec(b"aGVsbG8"), Err(4));
        assert_eq!(b64dec(b"aG!s"), Err(2));
        assert_eq!(b64dec(b"YQ==YQ=="), Err(4));
        assert_eq!(b64dec(b"Y==="), Err(1));
    }

    #[test]
    fn base32_round_trip() {
        for (plain, enc) in [
            (&b""[..], &b""[..]),
            (b"f", b"MY======"),
            (b"fo", b"MZXQ===="),
            (b"foo", b"MZXW6==="),
            (b"foob", b"MZXW6YQ="),
            (b"fooba", b"MZXW6YTB"),
            (b"foobar", b"MZXW6YTBOI======"),
        ] {
            assert_eq!(b32enc(plain), enc);
            assert_eq!(b32dec(enc).unwrap(), plain);
        }
    }

    #[test]
    fn split_like_go() {
        assert_eq!(
            split(b"a,b,c", b",", usize::MAX),
            vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
        );
        assert_eq!(
            split(b"a,b,c", b",", 2),
            vec![b"a".to_vec(), b"b,c".to_vec()]
        );
        assert_eq!(split(b"", b",", usize::MAX), vec![b"".to_vec()]);
        assert_eq!(replace(b"ab", b"", b"-"), b"-a-b-");
    }
}
