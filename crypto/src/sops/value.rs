//! The SOPS tree (spec `sops.md` §2.1) and how each scalar turns into the bytes that are
//! encrypted and hashed (spec `sops.md` §3.3).

use super::error::Error;

/// A mapping: ordered entries, comments in place, duplicates kept.
pub type Branch = Vec<Entry>;

#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// A comment line (text after `#`, leading space kept).
    Comment(String),
    /// `key: value`.
    Pair(String, Value),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Scalar(Scalar),
    /// A comment inside a sequence.
    Comment(String),
    Seq(Vec<Value>),
    Map(Branch),
}

/// A leaf value with sops's type. `Debug` shows the type and size, never the value.
#[derive(Clone, PartialEq)]
pub enum Scalar {
    /// `type:str`; raw bytes (the binary store puts arbitrary bytes here).
    Str(Vec<u8>),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// `type:time`, kept as its RFC 3339 text.
    Time(String),
    /// Legacy `type:bytes`.
    Bytes(Vec<u8>),
}

impl std::fmt::Debug for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}(<{} bytes redacted>)",
            self.kind(),
            self.to_bytes().len()
        )
    }
}

impl Scalar {
    /// sops's `type:` name.
    pub fn kind(&self) -> &'static str {
        match self {
            Scalar::Str(_) => "str",
            Scalar::Int(_) => "int",
            Scalar::Float(_) => "float",
            Scalar::Bool(_) => "bool",
            Scalar::Time(_) => "time",
            Scalar::Bytes(_) => "bytes",
        }
    }

    /// The bytes that are encrypted and fed to the MAC: Go's `strconv` forms, `True`/`False`
    /// for booleans (python-sops heritage), floats in shortest form without an exponent.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Scalar::Str(b) | Scalar::Bytes(b) => b.clone(),
            Scalar::Int(i) => i.to_string().into_bytes(),
            Scalar::Float(f) => go_float(*f).into_bytes(),
            Scalar::Bool(true) => b"True".to_vec(),
            Scalar::Bool(false) => b"False".to_vec(),
            Scalar::Time(t) => t.clone().into_bytes(),
        }
    }

    /// Parses decrypted bytes back into a value of `kind`; `path` names it in errors.
    pub fn from_bytes(kind: &str, bytes: &[u8], path: &str) -> Result<Scalar, Error> {
        let bad = || Error::Decrypt {
            path: path.to_owned(),
        };
        let text = || std::str::from_utf8(bytes).map_err(|_| bad());
        Ok(match kind {
            "str" => Scalar::Str(bytes.to_vec()),
            "int" => Scalar::Int(text()?.parse().map_err(|_| bad())?),
            "float" => Scalar::Float(parse_go_float(text()?).ok_or_else(bad)?),
            "bool" => Scalar::Bool(parse_go_bool(text()?).ok_or_else(bad)?),
            "time" => Scalar::Time(text()?.to_owned()),
            "bytes" => Scalar::Bytes(bytes.to_vec()),
            other => {
                return Err(Error::Metadata(format!(
                    "{path}: unknown value type {other:?}"
                )));
            }
        })
    }
}

/// `strconv.FormatFloat(f, 'f', -1, 64)`: Rust's `Display` is also shortest-round-trip and
/// never uses an exponent; only the non-finite spellings differ.
fn go_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{f}")
    }
}

fn parse_go_float(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_like_go() {
        assert_eq!(Scalar::Float(2.0).to_bytes(), b"2");
        assert_eq!(Scalar::Float(1e-7).to_bytes(), b"0.0000001");
        assert_eq!(Scalar::Float(1000.5).to_bytes(), b"1000.5");
        assert_eq!(Scalar::Bool(true).to_bytes(), b"True");
        assert_eq!(Scalar::Int(-7).to_bytes(), b"-7");
        assert_eq!(
            Scalar::from_bytes("bool", b"True", "p").unwrap(),
            Scalar::Bool(true)
        );
        assert_eq!(
            Scalar::from_bytes("float", b"0.5", "p").unwrap(),
            Scalar::Float(0.5)
        );
        assert!(Scalar::from_bytes("int", b"x", "p").is_err());
    }
}

/// One step of a `--extract` / `set` path: `["key"]` or `[0]`.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Parses sops's tree path syntax, e.g. `["db"]["hosts"][0]`.
pub fn parse_path(text: &str) -> Result<Vec<Step>, Error> {
    let bad = || Error::Path(format!("{text:?} is not a path like [\"key\"][0]"));
    let mut steps = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[').ok_or_else(bad)?;
        if let Some(quote) = inner.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let quoted = &inner[1..];
            let end = quoted.find(&format!("{quote}]")).ok_or_else(bad)?;
            steps.push(Step::Key(quoted[..end].to_owned()));
            rest = &quoted[end + 2..];
        } else {
            let end = inner.find(']').ok_or_else(bad)?;
            steps.push(Step::Index(inner[..end].trim().parse().map_err(|_| bad())?));
            rest = &inner[end + 1..];
        }
    }
    Ok(steps)
}

/// The value at `path` in a branch (the first of duplicate keys, as sops does).
pub fn lookup<'a>(branch: &'a Branch, path: &[Step]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let Step::Key(key) = first else {
        return None;
    };
    let value = branch.iter().find_map(|e| match e {
        Entry::Pair(k, v) if k == key => Some(v),
        _ => None,
    })?;
    descend(value, rest)
}

fn descend<'a>(value: &'a Value, path: &[Step]) -> Option<&'a Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(value);
    };
    match (value, first) {
        (Value::Map(branch), Step::Key(_)) => lookup(branch, path),
        (Value::Seq(items), Step::Index(i)) => {
            let item = items
                .iter()
                .filter(|v| !matches!(v, Value::Comment(_)))
                .nth(*i)?;
            descend(item, rest)
        }
        _ => None,
    }
}

#[cfg(test)]
mod path_tests {
    use super::*;

    #[test]
    fn parses_and_looks_up_paths() {
        let steps = parse_path(r#"["a"][1]["b c"]"#).unwrap();
        assert_eq!(
            steps,
            [
                Step::Key("a".into()),
                Step::Index(1),
                Step::Key("b c".into())
            ]
        );
        assert!(parse_path("a.b").is_err());
        assert_eq!(
            parse_path("['a'][1]").unwrap(),
            [Step::Key("a".into()), Step::Index(1)]
        );
        let leaf = Value::Scalar(Scalar::Int(7));
        let branch = vec![Entry::Pair(
            "a".into(),
            Value::Seq(vec![
                Value::Null,
                Value::Comment("c".into()),
                Value::Map(vec![Entry::Pair("b c".into(), leaf.clone())]),
            ]),
        )];
        assert_eq!(lookup(&branch, &steps), Some(&leaf));
        assert_eq!(lookup(&branch, &[Step::Key("zz".into())]), None);
    }
}

/// Sets the value at `path`, creating missing mappings (appended at the end, as sops does).
/// A list index may replace an item or append right after the last one. Returns whether
/// anything changed.
pub fn set(branch: &mut Branch, path: &[Step], value: Value) -> Result<bool, Error> {
    let Some((Step::Key(key), rest)) = path.split_first() else {
        return Err(Error::Path(
            "a path must start with a key, like [\"key\"]".into(),
        ));
    };
    let slot = match branch.iter_mut().find_map(|e| match e {
        Entry::Pair(k, v) if k == key => Some(v),
        _ => None,
    }) {
        Some(slot) => slot,
        None => {
            branch.push(Entry::Pair(key.clone(), Value::Null));
            let Some(Entry::Pair(_, slot)) = branch.last_mut() else {
                unreachable!("just pushed")
            };
            if !rest.is_empty() {
                *slot = Value::Map(Branch::new());
            }
            slot
        }
    };
    set_in(slot, rest, value)
}

fn set_in(slot: &mut Value, path: &[Step], value: Value) -> Result<bool, Error> {
    let Some((first, rest)) = path.split_first() else {
        if same_value(slot, &value) {
            return Ok(false);
        }
        *slot = value;
        return Ok(true);
    };
    match (slot, first) {
        (Value::Map(branch), Step::Key(_)) => set(branch, path, value),
        (Value::Seq(items), Step::Index(i)) => {
            let positions: Vec<usize> = items
                .iter()
                .enumerate()
                .filter(|(_, v)| !matches!(v, Value::Comment(_)))
                .map(|(p, _)| p)
                .collect();
            match positions.get(*i) {
                Some(&at) => set_in(&mut items[at], rest, value),
                // Past the end: appended, as sops does.
                None => {
                    items.push(Value::Null);
                    let last = items.last_mut().expect("just pushed");
                    if let Some(Step::Key(_)) = rest.first() {
                        *last = Value::Map(Branch::new());
                    }
                    set_in(last, rest, value).map(|_| true)
                }
            }
        }
        (_, step) => Err(Error::Path(format!(
            "{step:?} does not fit the value at that place"
        ))),
    }
}

/// Equal values; an integer also equals the same number stored as a float, since sops before
/// 3.13.2 read every JSON number as a float.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Scalar(Scalar::Float(f)), Value::Scalar(Scalar::Int(i)))
        | (Value::Scalar(Scalar::Int(i)), Value::Scalar(Scalar::Float(f))) => *f == *i as f64,
        _ => a == b,
    }
}

/// Removes the entry or list item at `path`; an error when there is none.
pub fn unset(branch: &mut Branch, path: &[Step]) -> Result<(), Error> {
    let missing = || Error::Path("component not found".into());
    let Some((Step::Key(key), rest)) = path.split_first() else {
        return Err(Error::Path(
            "a path must start with a key, like [\"key\"]".into(),
        ));
    };
    let at = branch
        .iter()
        .position(|e| matches!(e, Entry::Pair(k, _) if k == key))
        .ok_or_else(missing)?;
    if rest.is_empty() {
        branch.remove(at);
        return Ok(());
    }
    let Entry::Pair(_, value) = &mut branch[at] else {
        unreachable!("position matched a pair")
    };
    unset_in(value, rest)
}

fn unset_in(value: &mut Value, path: &[Step]) -> Result<(), Error> {
    let missing = || Error::Path("component not found".into());
    match (value, &path[0]) {
        (Value::Map(branch), Step::Key(_)) => unset(branch, path),
        (Value::Seq(items), Step::Index(i)) => {
            let at = items
                .iter()
                .enumerate()
                .filter(|(_, v)| !matches!(v, Value::Comment(_)))
                .map(|(p, _)| p)
                .nth(*i)
                .ok_or_else(missing)?;
            if path.len() == 1 {
                items.remove(at);
                Ok(())
            } else {
                unset_in(&mut items[at], &path[1..])
            }
        }
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod set_tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Scalar(Scalar::Str(v.as_bytes().to_vec()))
    }

    #[test]
    fn set_creates_replaces_and_unset_removes() {
        let mut b = vec![Entry::Pair("a".into(), Value::Seq(vec![s("x")]))];
        assert!(set(&mut b, &parse_path(r#"["n"]["m"]"#).unwrap(), s("1")).unwrap());
        assert!(set(&mut b, &parse_path(r#"["a"][1]"#).unwrap(), s("y")).unwrap());
        assert!(!set(&mut b, &parse_path(r#"["a"][0]"#).unwrap(), s("x")).unwrap());
        assert!(set(&mut b, &parse_path(r#"["a"][5]"#).unwrap(), s("z")).unwrap());
        assert_eq!(
            lookup(&b, &parse_path(r#"["a"][2]"#).unwrap()),
            Some(&s("z"))
        );
        assert_eq!(
            lookup(&b, &parse_path(r#"["n"]["m"]"#).unwrap()),
            Some(&s("1"))
        );
        assert_eq!(
            lookup(&b, &parse_path(r#"["a"][1]"#).unwrap()),
            Some(&s("y"))
        );
        unset(&mut b, &parse_path(r#"["a"][0]"#).unwrap()).unwrap();
        assert_eq!(
            lookup(&b, &parse_path(r#"["a"][0]"#).unwrap()),
            Some(&s("y"))
        );
        unset(&mut b, &parse_path(r#"["n"]"#).unwrap()).unwrap();
        assert!(unset(&mut b, &parse_path(r#"["n"]"#).unwrap()).is_err());
    }
}
