//! The SOPS tree (spec `sops.md` §2.1) and how each scalar turns into the bytes that are
//! encrypted and hashed (§3.3).

use super::Error;

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

/// A leaf value with sops's type.
#[derive(Debug, Clone, PartialEq)]
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
