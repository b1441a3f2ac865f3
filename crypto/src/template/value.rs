//! [`Value`]: the dot and every intermediate result, i.e. Go's dynamic values as a template
//! sees them through `interface{}`.

use std::collections::BTreeMap;

/// A Go value as a template sees it.
///
/// Go strings are byte strings, and ESO's context is `map[string]string` built from `[]byte`
/// provider data, so [`Value::String`] holds bytes: a value that is not UTF-8 goes through
/// `{{ .x }}`, `b64enc`, `b64dec` and friends byte for byte. Map keys are Rust `String`s
/// (Secret keys are `[-._a-zA-Z0-9]+`); a `BTreeMap` iterates them in Go's sorted byte order.
///
/// `Debug` shows the shape and sizes, never the content: values are secrets.
#[derive(Clone, PartialEq)]
pub enum Value {
    /// Go's untyped `nil` (JSON `null`, a missing `index` entry, ...).
    Nil,
    /// `bool`.
    Bool(bool),
    /// `int`/`int64` (Go's template arithmetic and Sprig's counters).
    Int(i64),
    /// `float64` (every number out of `fromJson`, as Go's `encoding/json` gives).
    Float(f64),
    /// `string`: arbitrary bytes.
    String(Vec<u8>),
    /// `[]interface{}`.
    List(Vec<Value>),
    /// `map[string]interface{}` (and ESO's `map[string]string`).
    Map(BTreeMap<String, Value>),
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Nil => f.write_str("Nil"),
            Value::Bool(_) => f.write_str("Bool(<redacted>)"),
            Value::Int(_) => f.write_str("Int(<redacted>)"),
            Value::Float(_) => f.write_str("Float(<redacted>)"),
            Value::String(s) => write!(f, "String(<{} bytes redacted>)", s.len()),
            Value::List(l) => f.debug_list().entries(l).finish(),
            Value::Map(m) => f.debug_map().entries(m).finish(),
        }
    }
}

impl Value {
    /// The template context ESO and Sealed Secrets build: `map[string]string` of the secret's
    /// keys. Takes `String` or byte values (`Vec<u8>`, `Zeroizing<Vec<u8>>`, ...) so provider
    /// bytes need no UTF-8 round trip.
    pub fn from_strings<V: AsRef<[u8]>>(map: &BTreeMap<String, V>) -> Value {
        Value::Map(
            map.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.as_ref().to_vec())))
                .collect(),
        )
    }

    /// Its size as the execution's work limit counts it: a string's bytes, a list's or map's
    /// entries (their contents were counted when made), 0 for a scalar.
    pub(crate) fn size(&self) -> usize {
        match self {
            Value::String(s) => s.len(),
            Value::List(l) => l.len(),
            Value::Map(m) => m.len(),
            Value::Nil | Value::Bool(_) | Value::Int(_) | Value::Float(_) => 0,
        }
    }

    pub(crate) fn str(s: impl Into<Vec<u8>>) -> Value {
        Value::String(s.into())
    }

    /// Go's truth (`isTrue`, Sprig's `empty` negated): zero values and empty containers are
    /// false.
    pub(crate) fn is_true(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
        }
    }

    /// The Go type name used in error messages (Go's `%T`-ish wording).
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.as_bytes().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_content() {
        let v = Value::from_strings(&BTreeMap::from([("k".to_string(), "hunter2".to_string())]));
        let shown = format!("{v:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("\"k\""), "{shown}");
    }

    #[test]
    fn truth_is_gos() {
        for falsy in [
            Value::Nil,
            Value::Bool(false),
            Value::Int(0),
            Value::Float(0.0),
            Value::str(""),
            Value::List(vec![]),
            Value::Map(BTreeMap::new()),
        ] {
            assert!(!falsy.is_true(), "{falsy:?}");
        }
        assert!(Value::str("0").is_true());
        assert!(Value::List(vec![Value::Nil]).is_true());
    }
}
