//! The JSON store (spec `sops.md` §2.3) and the binary store's JSON envelope (spec `sops.md` §2.6). Objects
//! keep their key order and duplicates; output follows sops: tab indentation, Go's string
//! escaping (`<`, `>`, `&` as `\u003c`…) and Go's float formatting.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;

use super::error::Error;
use super::metadata::Metadata;
use super::value::{Branch, Entry, Scalar, Value};

const METADATA_KEY: &str = "sops";

/// Parses a plaintext JSON document (a top-level object) into a tree.
pub fn load_plain(text: &str) -> Result<Branch, Error> {
    let root: Ordered = serde_json::from_str(text).map_err(|e| {
        Error::Store(format!(
            "invalid JSON at line {}, column {}",
            e.line(),
            e.column()
        ))
    })?;
    match root.0 {
        Value::Map(branch) => Ok(branch),
        _ => Err(Error::Store(
            "SOPS only supports JSON files with a top-level object".into(),
        )),
    }
}

/// Parses one JSON value (for `set`): objects become mappings, arrays sequences.
pub fn parse_value(text: &str) -> Result<Value, Error> {
    serde_json::from_str::<Ordered>(text)
        .map(|o| o.0)
        .map_err(Error::ValueNotJson)
}

/// Splits an encrypted JSON document into its tree and its `sops` metadata.
pub fn load_encrypted(text: &str) -> Result<(Branch, Metadata), Error> {
    let mut branch = load_plain(text)?;
    let at = branch
        .iter()
        .position(|e| matches!(e, Entry::Pair(k, _) if k == METADATA_KEY))
        .ok_or(Error::NotSopsFile)?;
    let Entry::Pair(_, meta) = branch.remove(at) else {
        unreachable!("position matched a pair")
    };
    let meta = serde_json::from_value(to_json_value(&meta)).map_err(Error::MalformedMetadata)?;
    Ok((branch, meta))
}

/// The decrypted document, as `sops decrypt` prints it.
pub fn emit_plain(branch: &Branch) -> Vec<u8> {
    emit_plain_indented(branch, None)
}

/// [`emit_plain`] indented with `indent` spaces per level (`None`: a tab, sops's default;
/// sops's `stores.json.indent`, where -1 means the tab).
pub fn emit_plain_indented(branch: &Branch, indent: Option<usize>) -> Vec<u8> {
    let pad = pad_for(indent);
    let mut out = String::new();
    write_map(&mut out, branch, 0, &pad);
    out.push('\n');
    out.into_bytes()
}

/// The encrypted document: the tree with the `sops` metadata as its last entry.
pub fn emit_encrypted(branch: &Branch, meta: &Metadata) -> Vec<u8> {
    emit_encrypted_indented(branch, meta, None)
}

/// [`emit_encrypted`] indented as [`emit_plain_indented`].
pub fn emit_encrypted_indented(branch: &Branch, meta: &Metadata, indent: Option<usize>) -> Vec<u8> {
    let pad = pad_for(indent);
    let block = Entry::Pair(METADATA_KEY.into(), from_json_value(&meta.to_json()));
    // The tree's entries then the block, without copying the tree.
    let mut out = String::new();
    write_entries(&mut out, branch.iter().chain([&block]), 0, &pad);
    out.push('\n');
    out.into_bytes()
}

/// Refuses a plaintext document that already has `sops` metadata (sops exit 203).
pub fn check_not_encrypted(branch: &Branch) -> Result<(), Error> {
    if branch
        .iter()
        .any(|e| matches!(e, Entry::Pair(k, _) if k == METADATA_KEY))
    {
        return Err(Error::AlreadyEncrypted);
    }
    Ok(())
}

/// The binary store: the plaintext is the `data` value's raw bytes.
pub fn emit_binary(branch: &Branch) -> Result<Vec<u8>, Error> {
    match branch.as_slice() {
        [Entry::Pair(key, Value::Scalar(Scalar::Str(bytes)))] if key == "data" => Ok(bytes.clone()),
        _ => Err(Error::Store(
            "not a binary-store file: expected a single \"data\" value".into(),
        )),
    }
}

pub(super) fn from_json_value(value: &Json) -> Value {
    match value {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Scalar(Scalar::Bool(*b)),
        Json::Number(n) => Value::Scalar(match n.as_i64() {
            Some(i) => Scalar::Int(i),
            None => Scalar::Float(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Json::String(s) => Value::Scalar(Scalar::Str(s.clone().into_bytes())),
        Json::Array(items) => Value::Seq(items.iter().map(from_json_value).collect()),
        Json::Object(map) => Value::Map(
            map.iter()
                .map(|(k, v)| Entry::Pair(k.clone(), from_json_value(v)))
                .collect(),
        ),
    }
}

/// A value for serde_json, used to read the metadata block with its typed struct.
pub(super) fn to_json_value(value: &Value) -> Json {
    match value {
        Value::Null | Value::Comment(_) => Json::Null,
        Value::Scalar(Scalar::Str(b) | Scalar::Bytes(b)) => {
            Json::String(String::from_utf8_lossy(b).into_owned())
        }
        Value::Scalar(Scalar::Int(i)) => Json::from(*i),
        Value::Scalar(Scalar::Float(f)) => Json::from(*f),
        Value::Scalar(Scalar::Bool(b)) => Json::Bool(*b),
        Value::Scalar(Scalar::Time(t)) => Json::String(t.clone()),
        Value::Seq(items) => Json::Array(items.iter().map(to_json_value).collect()),
        Value::Map(branch) => Json::Object(
            branch
                .iter()
                .filter_map(|e| match e {
                    Entry::Pair(k, v) => Some((k.clone(), to_json_value(v))),
                    Entry::Comment(_) => None,
                })
                .collect(),
        ),
    }
}

/// A JSON value read in document order, duplicates kept, integers apart from floats.
struct Ordered(Value);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OrderedVisitor)
    }
}

struct OrderedVisitor;

impl<'de> Visitor<'de> for OrderedVisitor {
    type Value = Ordered;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Ordered, E> {
        Ok(Ordered(Value::Scalar(Scalar::Bool(v))))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Ordered, E> {
        Ok(Ordered(Value::Scalar(Scalar::Int(v))))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Ordered, E> {
        Ok(Ordered(Value::Scalar(match i64::try_from(v) {
            Ok(i) => Scalar::Int(i),
            Err(_) => Scalar::Float(v as f64),
        })))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Ordered, E> {
        Ok(Ordered(Value::Scalar(Scalar::Float(v))))
    }
    fn visit_str<E>(self, v: &str) -> Result<Ordered, E> {
        Ok(Ordered(Value::Scalar(Scalar::Str(v.as_bytes().to_vec()))))
    }
    fn visit_unit<E>(self) -> Result<Ordered, E> {
        Ok(Ordered(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
        let mut items = Vec::new();
        while let Some(Ordered(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Ordered(Value::Seq(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
        let mut branch = Branch::new();
        while let Some((key, Ordered(value))) = map.next_entry::<String, Ordered>()? {
            branch.push(Entry::Pair(key, value));
        }
        Ok(Ordered(Value::Map(branch)))
    }
}

/// What one level of indentation is: Go's `json.Indent` with a tab, or with n spaces (`""`
/// for 0, which still breaks lines).
fn pad_for(indent: Option<usize>) -> String {
    match indent {
        None => "\t".into(),
        Some(n) => " ".repeat(n),
    }
}

fn indent(out: &mut String, depth: usize, pad: &str) {
    for _ in 0..depth {
        out.push_str(pad);
    }
}

fn write_map(out: &mut String, branch: &Branch, depth: usize, pad: &str) {
    write_entries(out, branch.iter(), depth, pad);
}

fn write_entries<'a>(
    out: &mut String,
    entries: impl Iterator<Item = &'a Entry>,
    depth: usize,
    pad: &str,
) {
    let pairs: Vec<(&String, &Value)> = entries
        .filter_map(|e| match e {
            Entry::Pair(k, v) => Some((k, v)),
            Entry::Comment(_) => None,
        })
        .collect();
    if pairs.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push_str("{\n");
    for (i, (key, value)) in pairs.iter().enumerate() {
        indent(out, depth + 1, pad);
        write_string(out, key.as_bytes());
        out.push_str(": ");
        write_value(out, value, depth + 1, pad);
        out.push_str(if i + 1 < pairs.len() { ",\n" } else { "\n" });
    }
    indent(out, depth, pad);
    out.push('}');
}

fn write_value(out: &mut String, value: &Value, depth: usize, pad: &str) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Map(branch) => write_map(out, branch, depth, pad),
        Value::Seq(items) => {
            let items: Vec<&Value> = items
                .iter()
                .filter(|v| !matches!(v, Value::Comment(_)))
                .collect();
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                indent(out, depth + 1, pad);
                write_value(out, item, depth + 1, pad);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            indent(out, depth, pad);
            out.push(']');
        }
        Value::Comment(_) => {}
        Value::Scalar(scalar) => match scalar {
            Scalar::Str(b) => write_string(out, b),
            Scalar::Int(i) => out.push_str(&i.to_string()),
            Scalar::Float(f) => out.push_str(&go_json_float(*f)),
            Scalar::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Scalar::Time(t) => write_string(out, t.as_bytes()),
            Scalar::Bytes(b) => {
                use base64::Engine as _;
                let encoded = base64::engine::general_purpose::STANDARD.encode(b);
                write_string(out, encoded.as_bytes())
            }
        },
    }
}

/// Go's `encoding/json` string form: HTML-safe escapes, U+2028/2029 escaped, invalid UTF-8 as
/// `\ufffd`.
fn write_string(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                }
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        if !chunk.invalid().is_empty() {
            out.push_str("\\ufffd");
        }
    }
    out.push('"');
}

/// Go's `encoding/json` float form: shortest digits, exponent form below 1e-6 and from 1e21
/// (`1e-7`, `1e+21`).
fn go_json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
            _ => s,
        }
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_duplicates_and_number_kinds() {
        let b = load_plain(r#"{"b": 1, "a": 2.0, "b": -3, "big": 18446744073709551615}"#).unwrap();
        let keys: Vec<&str> = b
            .iter()
            .map(|e| match e {
                Entry::Pair(k, _) => k.as_str(),
                Entry::Comment(_) => "",
            })
            .collect();
        assert_eq!(keys, ["b", "a", "b", "big"]);
        assert_eq!(
            b[1],
            Entry::Pair("a".into(), Value::Scalar(Scalar::Float(2.0)))
        );
        assert_eq!(
            b[2],
            Entry::Pair("b".into(), Value::Scalar(Scalar::Int(-3)))
        );
        assert!(load_plain("[1]").is_err());
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(go_json_float(1e-7), "1e-7");
        assert_eq!(go_json_float(1e21), "1e+21");
        assert_eq!(go_json_float(2.0), "2");
        assert_eq!(go_json_float(0.000001), "0.000001");
        let mut s = String::new();
        write_string(&mut s, b"<a&b>\x01\xff\xe2\x80\xa8");
        assert_eq!(s, r#""\u003ca\u0026b\u003e\u0001\ufffd\u2028""#);
    }
}
