//! Go's `encoding/json` as Sprig uses it: `json.Marshal` (sorted keys, `<>&` escaped as
//! `\u003c`..., floats as Go prints them, invalid UTF-8 as U+FFFD), `MarshalIndent` with two
//! spaces, and `Unmarshal` into `interface{}` (every number a float64).

use super::fmt::format_json_float;
use super::value::Value;

pub(super) fn marshal(v: &Value, indent: bool, escape_html: bool) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    write(&mut out, v, indent.then_some(0), escape_html)?;
    Ok(out)
}

fn newline(out: &mut Vec<u8>, depth: Option<usize>) {
    if let Some(d) = depth {
        out.push(b'\n');
        out.resize(out.len() + 2 * d, b' ');
    }
}

fn write(out: &mut Vec<u8>, v: &Value, depth: Option<usize>, html: bool) -> Result<(), String> {
    let inner = depth.map(|d| d + 1);
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Float(f) if !f.is_finite() => {
            return Err(format!(
                "json: unsupported value: {}",
                super::fmt::format_g(*f)
            ));
        }
        Value::Float(f) => out.extend_from_slice(format_json_float(*f).as_bytes()),
        Value::String(s) => string(out, s, html),
        Value::List(l) if l.is_empty() => out.extend_from_slice(b"[]"),
        Value::List(l) => {
            out.push(b'[');
            for (i, item) in l.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                newline(out, inner);
                write(out, item, inner, html)?;
            }
            newline(out, depth);
            out.push(b']');
        }
        Value::Map(m) if m.is_empty() => out.extend_from_slice(b"{}"),
        Value::Map(m) => {
            out.push(b'{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                newline(out, inner);
                string(out, k.as_bytes(), html);
                out.push(b':');
                if depth.is_some() {
                    out.push(b' ');
                }
                write(out, item, inner, html)?;
            }
            newline(out, depth);
            out.push(b'}');
        }
    }
    Ok(())
}

fn string(out: &mut Vec<u8>, s: &[u8], html: bool) {
    const HEX: &[u8] = b"0123456789abcdef";
    out.push(b'"');
    for c in String::from_utf8_lossy(s).chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\x08' => out.extend_from_slice(b"\\b"),
            '\x0c' => out.extend_from_slice(b"\\f"),
            '<' | '>' | '&' if html => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c as usize) >> 4]);
                out.push(HEX[(c as usize) & 15]);
            }
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c as usize) >> 4]);
                out.push(HEX[(c as usize) & 15]);
            }
            '\u{2028}' => out.extend_from_slice(b"\\u2028"),
            '\u{2029}' => out.extend_from_slice(b"\\u2029"),
            c => {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// `json.Unmarshal` into `interface{}`. The error names the position only: Go's message
/// would quote a character of the (secret) input.
pub(super) fn parse(text: &[u8]) -> Result<Value, String> {
    let text = String::from_utf8_lossy(text);
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "invalid JSON at line {} column {} ({:?})",
            e.line(),
            e.column(),
            e.classify()
        )
    })?;
    Ok(from_json(v))
}

pub(super) fn from_json(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Value::String(s.into_bytes()),
        serde_json::Value::Array(a) => Value::List(a.into_iter().map(from_json).collect()),
        serde_json::Value::Object(o) => {
            Value::Map(o.into_iter().map(|(k, v)| (k, from_json(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn m(v: &Value, indent: bool, html: bool) -> String {
        String::from_utf8(marshal(v, indent, html).unwrap()).unwrap()
    }

    #[test]
    fn marshal_like_go() {
        let v = Value::Map(BTreeMap::from([
            (
                "b".into(),
                Value::List(vec![Value::Int(1), Value::Float(2.5), Value::Nil]),
            ),
            ("a".into(), Value::str("<x>&\"\\\n\u{1}\u{2028}é")),
            ("c".into(), Value::Map(BTreeMap::new())),
        ]));
        assert_eq!(
            m(&v, false, true),
            r#"{"a":"\u003cx\u003e\u0026\"\\\n\u0001\u2028é","b":[1,2.5,null],"c":{}}"#
        );
        assert_eq!(
            m(&v, true, false),
            "{\n  \"a\": \"<x>&\\\"\\\\\\n\\u0001\\u2028é\",\n  \"b\": [\n    1,\n    2.5,\n    null\n  ],\n  \"c\": {}\n}"
        );
        assert_eq!(m(&Value::str("\u{8}\u{c}"), false, true), r#""\b\f""#);
        assert_eq!(
            m(&Value::String(vec![b'a', 0xff]), false, true),
            "\"a\u{fffd}\""
        );
        assert!(marshal(&Value::Float(f64::NAN), false, true).is_err());
    }

    #[test]
    fn unmarshal_numbers_are_floats_and_errors_hide_input() {
        let v = parse(br#"{"n": 1, "l": [true, null, "s"]}"#).unwrap();
        let Value::Map(m) = v else { panic!() };
        assert_eq!(m["n"], Value::Float(1.0));
        assert_eq!(
            m["l"],
            Value::List(vec![Value::Bool(true), Value::Nil, Value::str("s")])
        );
        let e = parse(b"hunter2").unwrap_err();
        assert!(!e.contains("hunter2") && !e.contains('h'), "{e}");
    }
}
