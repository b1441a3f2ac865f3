//! How functions fail ([`Fail`]) and check their arguments, with Go's `validateType`
//! wording: shared by every function module.

use super::super::fmt;
use super::super::value::Value;

/// How a function failed. Go reports a wrong argument type plainly and a function's own
/// error as `error calling NAME: ...`.
pub(crate) enum Fail {
    Type(String),
    Call(String),
}

pub(crate) type Result<T> = std::result::Result<T, Fail>;

pub(super) fn arity(name: &str, args: &[Value], want: usize) -> Result<()> {
    if args.len() != want {
        return Err(Fail::Type(format!(
            "wrong number of args for {name}: want {want} got {}",
            args.len()
        )));
    }
    Ok(())
}

pub(super) fn at_least(name: &str, args: &[Value], want: usize) -> Result<()> {
    if args.len() < want {
        return Err(Fail::Type(format!(
            "wrong number of args for {name}: want at least {want} got {}",
            args.len()
        )));
    }
    Ok(())
}

fn wrong_type(expected: &str, v: &Value) -> Fail {
    Fail::Type(match v {
        Value::Nil => format!("invalid value; expected {expected}"),
        v => format!(
            "wrong type for value; expected {expected}; got {}",
            v.type_name()
        ),
    })
}

pub(super) fn string(v: &Value) -> Result<&[u8]> {
    match v {
        Value::String(s) => Ok(s),
        v => Err(wrong_type("string", v)),
    }
}

pub(super) fn int(v: &Value) -> Result<i64> {
    match v {
        Value::Int(i) => Ok(*i),
        v => Err(wrong_type("int", v)),
    }
}

pub(super) fn boolean(v: &Value) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        v => Err(wrong_type("bool", v)),
    }
}

pub(super) fn map(v: &Value) -> Result<&std::collections::BTreeMap<String, Value>> {
    match v {
        Value::Map(m) => Ok(m),
        v => Err(wrong_type("map[string]interface {}", v)),
    }
}

/// Sprig's `strval`: strings as they are, everything else as `%v`.
pub(super) fn strval(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.clone(),
        v => fmt::to_string(v),
    }
}

pub(super) fn key(v: &Value) -> String {
    String::from_utf8_lossy(&strval(v)).into_owned()
}
