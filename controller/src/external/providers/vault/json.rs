//! Vault's JSON as ESO sees it, and the bytes ESO makes of it (spec §7.3 `GetSecret`,
//! `GetSecretMap`).
//!
//! Vault's Go client decodes numbers as `json.Number`, so a number read from Vault keeps the
//! text Vault sent ([`Json::Number`]). [`secret_value`] then follows ESO's `getSecretValue`:
//! Go's `json.Marshal` of the whole secret ([`marshal`]: keys sorted, `<>&` escaped), a
//! top-level key through `GetByteValue` ([`byte_value`]), else a gjson path. [`secret_map`]
//! re-reads those bytes without `UseNumber`, so numbers become `float64` there.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

/// A JSON value as Vault's Go client decodes it: numbers keep their text, object keys are
/// unique (the last one wins, as in a Go map) and sorted (as Go's `json.Marshal` writes them).
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Json {
    Null,
    Bool(bool),
    /// The number's text, as sent.
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(BTreeMap<String, Json>),
}

impl Json {
    /// Parses JSON text. Errors carry positions only, never the text.
    pub(super) fn parse(text: &[u8]) -> Result<Json, serde_json::Error> {
        let raw: Box<RawValue> = serde_json::from_slice(text)?;
        Json::from_raw(&raw)
    }

    fn from_raw(raw: &RawValue) -> Result<Json, serde_json::Error> {
        let text = raw.get();
        // The first byte decides the type, so each nested parse below is of the right type
        // and a type error (whose text would quote the value) cannot happen.
        Ok(match text.as_bytes().first() {
            Some(b'{') => {
                let members: BTreeMap<String, Box<RawValue>> = serde_json::from_str(text)?;
                let mut object = BTreeMap::new();
                for (key, value) in members {
                    object.insert(key, Json::from_raw(&value)?);
                }
                Json::Object(object)
            }
            Some(b'[') => {
                let items: Vec<Box<RawValue>> = serde_json::from_str(text)?;
                Json::Array(
                    items
                        .iter()
                        .map(|item| Json::from_raw(item))
                        .collect::<Result<_, _>>()?,
                )
            }
            Some(b'"') => Json::String(serde_json::from_str(text)?),
            Some(b't') => Json::Bool(true),
            Some(b'f') => Json::Bool(false),
            Some(b'n') => Json::Null,
            _ => Json::Number(text.to_owned()),
        })
    }

    /// The member `key` of an object.
    pub(super) fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(object) => object.get(key),
            _ => None,
        }
    }

    /// The text of a string, number or boolean as Go's `fmt.Sprintf("%v")` prints it, else
    /// the JSON text (Vault's `custom_metadata` values are strings).
    pub(super) fn to_text(&self) -> String {
        match self {
            Json::String(s) => s.clone(),
            Json::Number(n) => n.clone(),
            Json::Bool(b) => b.to_string(),
            other => marshal(other),
        }
    }
}

/// Go's `json.Marshal` of a value decoded with `UseNumber`.
pub(super) fn marshal(value: &Json) -> String {
    let mut out = String::new();
    write_json(&mut out, value);
    out
}

fn write_json(out: &mut String, value: &Json) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(n),
        Json::String(s) => write_string(out, s),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Json::Object(members) => {
            out.push('{');
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_json(out, item);
            }
            out.push('}');
        }
    }
}

/// Go's `encoding/json` string encoding with HTML escaping (Go ≥ 1.22: `\b` and `\f` short).
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// ESO's `esutils.GetByteValue` for a value decoded with `UseNumber`: a string raw, a number
/// as its text, a bool as `true`/`false`, null as nothing, an object or array as JSON.
pub(super) fn byte_value(value: &Json) -> Vec<u8> {
    match value {
        Json::Null => Vec::new(),
        Json::String(s) => s.as_bytes().to_vec(),
        other => other.to_text().into_bytes(),
    }
}

/// Why [`secret_value`] has no value.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ValueError {
    /// No data at all (ESO's `NoSecretError`).
    NoSecret,
    /// `property` is neither a key nor a gjson path that exists.
    MissingProperty,
}

/// ESO's `getSecretValue`: the whole secret as JSON, a top-level key, or a gjson path.
pub(super) fn secret_value(
    data: Option<&BTreeMap<String, Json>>,
    property: Option<&str>,
) -> Result<Vec<u8>, ValueError> {
    let data = data.ok_or(ValueError::NoSecret)?;
    let whole = marshal_object(data);
    let Some(property) = property.filter(|p| !p.is_empty()) else {
        return Ok(whole.into_bytes());
    };
    // A real key wins over gjson syntax (ESO keeps this for backwards compatibility).
    if let Some(value) = data.get(property) {
        return Ok(byte_value(value));
    }
    let found = gjson::get(&whole, property);
    if !found.exists() {
        return Err(ValueError::MissingProperty);
    }
    Ok(gjson_string(&found).into_bytes())
}

fn marshal_object(data: &BTreeMap<String, Json>) -> String {
    let mut out = String::new();
    out.push('{');
    for (i, (key, value)) in data.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(&mut out, key);
        out.push(':');
        write_json(&mut out, value);
    }
    out.push('}');
    out
}

/// Go gjson's `Result.String()`: an integer literal keeps its text, any other number is
/// re-formatted as a `float64` (`1.50` ⇒ `1.5`, `1e3` ⇒ `1000`).
fn gjson_string(found: &gjson::Value) -> String {
    match found.kind() {
        gjson::Kind::Number => {
            let raw = found.json();
            let digits = raw.strip_prefix('-').unwrap_or(raw);
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                raw.to_owned()
            } else {
                format_float(found.f64())
            }
        }
        _ => found.str().to_owned(),
    }
}

/// ESO's `GetSecretMap` after `GetSecret`: the bytes parsed into a Go `map[string]any`
/// without `UseNumber` (numbers become `float64`), then `GetByteValue` per key. `null` is an
/// empty map, as in Go.
pub(super) fn secret_map(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let parsed = Json::parse(bytes)
        .map_err(|e| format!("the secret is not JSON ({e}); extract needs a JSON object"))?;
    let members = match parsed {
        Json::Object(members) => members,
        Json::Null => BTreeMap::new(),
        _ => return Err("the secret is not a JSON object; extract needs one".into()),
    };
    let mut map = BTreeMap::new();
    for (key, value) in members {
        let bytes = match value {
            Json::Number(text) => format_float(parse_float(&text)?).into_bytes(),
            other => byte_value(&as_float64(other)?),
        };
        map.insert(key, bytes);
    }
    Ok(map)
}

/// A number read into a Go `float64`; Go refuses numbers out of its range.
fn parse_float(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .ok_or_else(|| {
            format!(
                "a number in the secret does not fit a float64 ({} digits)",
                text.len()
            )
        })
}

/// Replaces every number by the text Go's `json.Marshal` writes for its `float64`.
fn as_float64(value: Json) -> Result<Json, String> {
    Ok(match value {
        Json::Number(text) => Json::Number(marshal_float(parse_float(&text)?)),
        Json::Array(items) => Json::Array(
            items
                .into_iter()
                .map(as_float64)
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(members) => Json::Object(
            members
                .into_iter()
                .map(|(k, v)| Ok((k, as_float64(v)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other,
    })
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest round-trip digits, never an exponent.
fn format_float(f: f64) -> String {
    format!("{f}")
}

/// Go's `json.Marshal` of a `float64`: like [`format_float`], but an exponent below 1e-6 and
/// from 1e21 on (`1e+21`, `1e-7`).
fn marshal_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let text = format!("{f:e}");
        match text.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
            _ => text,
        }
    } else {
        format_float(f)
    }
}

/// Go's `%q` of a string, for error texts that name a property.
pub(super) fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(text: &str) -> BTreeMap<String, Json> {
        match Json::parse(text.as_bytes()).unwrap() {
            Json::Object(members) => members,
            other => panic!("not an object: {other:?}"),
        }
    }

    fn value(text: &str, property: Option<&str>) -> Result<String, ValueError> {
        secret_value(Some(&object(text)), property).map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn marshal_sorts_keys_keeps_number_text_and_escapes_like_go() {
        let data = object(
            r#"{"z":1.50,"a":"<b>&amp;</b>","m":{"y":[1e21,true,null],"x":"\u2028\n\u0001\b\f\t\"\\é"},"n":12345678901234567890123,"a":"last wins"}"#,
        );
        assert_eq!(
            marshal_object(&data),
            r#"{"a":"last wins","m":{"x":"\u2028\n\u0001\b\f\t\"\\é","y":[1e21,true,null]},"n":12345678901234567890123,"z":1.50}"#
        );
        let html = object(r#"{"h":"<a href=\"x\">&</a>"}"#);
        assert_eq!(
            marshal_object(&html),
            r#"{"h":"\u003ca href=\"x\"\u003e\u0026\u003c/a\u003e"}"#
        );
    }

    #[test]
    fn secret_value_follows_eso_get_secret() {
        let secret = r#"{"access_key":"ak","nested":{"foo":"oke","bar":{"baz":"deep"}},"num":42,"float":1.50,"big":1e3,"yes":true,"nothing":null,"list":["a",2],"dotted.key":"literal","<x>":"&"}"#;
        assert_eq!(
            value(r#"{"b":"2","a":"1"}"#, None).unwrap(),
            r#"{"a":"1","b":"2"}"#
        );
        assert_eq!(value(secret, Some("access_key")).unwrap(), "ak");
        assert_eq!(
            value(secret, Some("nested")).unwrap(),
            r#"{"bar":{"baz":"deep"},"foo":"oke"}"#
        );
        assert_eq!(value(secret, Some("nested.foo")).unwrap(), "oke");
        assert_eq!(value(secret, Some("nested.bar.baz")).unwrap(), "deep");
        // A top-level key keeps a number's text; a gjson path re-formats non-integers.
        assert_eq!(value(secret, Some("num")).unwrap(), "42");
        assert_eq!(value(secret, Some("float")).unwrap(), "1.50");
        assert_eq!(value(secret, Some("big")).unwrap(), "1e3");
        assert_eq!(
            value(r#"{"o":{"f":1.50,"e":1e3,"i":-7}}"#, Some("o.f")).unwrap(),
            "1.5"
        );
        assert_eq!(
            value(r#"{"o":{"f":1.50,"e":1e3,"i":-7}}"#, Some("o.e")).unwrap(),
            "1000"
        );
        assert_eq!(
            value(r#"{"o":{"f":1.50,"e":1e3,"i":-7}}"#, Some("o.i")).unwrap(),
            "-7"
        );
        assert_eq!(value(secret, Some("yes")).unwrap(), "true");
        assert_eq!(value(secret, Some("nothing")).unwrap(), "");
        assert_eq!(value(secret, Some("list")).unwrap(), r#"["a",2]"#);
        assert_eq!(value(secret, Some("list.1")).unwrap(), "2");
        assert_eq!(value(secret, Some("list.#")).unwrap(), "2");
        assert_eq!(value(secret, Some("dotted.key")).unwrap(), "literal");
        // gjson runs over the marshalled (HTML-escaped) text but decodes the string back.
        assert_eq!(value(r#"{"o":{"h":"<&>"}}"#, Some("o.h")).unwrap(), "<&>");
        assert_eq!(value(secret, Some("<x>")).unwrap(), "&");
        assert_eq!(
            value(secret, Some("nop.doesnt.exist")),
            Err(ValueError::MissingProperty)
        );
        assert_eq!(secret_value(None, None), Err(ValueError::NoSecret));
        assert_eq!(secret_value(Some(&BTreeMap::new()), None).unwrap(), b"{}");
    }

    #[test]
    fn secret_map_reads_numbers_as_go_float64() {
        let map = secret_map(
            br#"{"s":"x","i":3,"f":1.50,"big":1e21,"huge":12345678901234567890,"tiny":1e-7,"neg":-0,"b":false,"n":null,"o":{"v":1e21,"w":1.0,"t":1e-7,"h":"<"},"a":[2.5e0,100]}"#,
        )
        .unwrap();
        let text = |k: &str| String::from_utf8(map[k].clone()).unwrap();
        assert_eq!(text("s"), "x");
        assert_eq!(text("i"), "3");
        assert_eq!(text("f"), "1.5");
        assert_eq!(text("big"), "1000000000000000000000");
        assert_eq!(text("huge"), "12345678901234567000");
        assert_eq!(text("tiny"), "0.0000001");
        assert_eq!(text("neg"), "-0");
        assert_eq!(text("b"), "false");
        assert_eq!(text("n"), "");
        assert_eq!(text("o"), r#"{"h":"\u003c","t":1e-7,"v":1e+21,"w":1}"#);
        assert_eq!(text("a"), "[2.5,100]");
        assert!(secret_map(b"null").unwrap().is_empty());
        assert!(secret_map(b"\"a string\"").is_err());
        assert!(secret_map(b"").is_err());
        assert!(secret_map(br#"{"x":1e400}"#).is_err());
    }

    #[test]
    fn errors_never_quote_the_secret() {
        let err = secret_map(br#"{"k":"hunter2""#).unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        let err = secret_map(br#""hunter2""#).unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn go_quote_matches_go_percent_q() {
        assert_eq!(go_quote("a.b"), r#""a.b""#);
        assert_eq!(go_quote("q\"\\\n\u{1}é"), r#""q\"\\\n\x01é""#);
    }
}
