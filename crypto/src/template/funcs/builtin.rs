//! Go's own template functions (`text/template/funcs.go`). `and`/`or` short-circuit in the
//! executor, so only their pipeline-free fallback is here.

use super::super::fmt;
use super::super::value::Value;
use super::args::{Fail, Result, arity, at_least, string};

pub(super) fn call(name: &str, args: &[Value]) -> Option<Result<Value>> {
    Some(match name {
        "not" => arity(name, args, 1).map(|_| Value::Bool(!args[0].is_true())),
        "len" => arity(name, args, 1).and_then(|_| len(&args[0])),
        "index" => at_least(name, args, 1).and_then(|_| index(args)),
        "print" => Ok(Value::String(fmt::sprint(args))),
        "println" => Ok(Value::String(fmt::sprintln(args))),
        "printf" => at_least(name, args, 1)
            .and_then(|_| string(&args[0]))
            .map(|f| Value::String(fmt::sprintf(f, &args[1..]))),
        "eq" => at_least(name, args, 1).and_then(|_| eq(args)),
        "ne" => {
            arity(name, args, 2).and_then(|_| eq(args).map(|b| Value::Bool(b != Value::Bool(true))))
        }
        "lt" | "le" | "gt" | "ge" => {
            arity(name, args, 2).and_then(|_| order(name, &args[0], &args[1]))
        }
        "html" => Ok(Value::String(html(&fmt::sprint(args)))),
        "js" => Ok(Value::String(js(&fmt::sprint(args)))),
        "urlquery" => Ok(Value::String(urlquery(&fmt::sprint(args)))),
        _ => return None,
    })
}

fn len(v: &Value) -> Result<Value> {
    let n = match v {
        Value::String(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.len(),
        Value::Nil => return Err(Fail::Call("len of nil pointer".into())),
        v => return Err(Fail::Call(format!("len of type {}", v.type_name()))),
    };
    Ok(Value::Int(n as i64))
}

fn index(args: &[Value]) -> Result<Value> {
    let mut item = args[0].clone();
    for i in &args[1..] {
        item = match (&item, i) {
            (Value::Nil, _) => return Err(Fail::Call("index of untyped nil".into())),
            (Value::List(l), Value::Int(n)) => {
                match usize::try_from(*n).ok().and_then(|n| l.get(n)) {
                    Some(v) => v.clone(),
                    None => return Err(Fail::Call(format!("index out of range: {n}"))),
                }
            }
            (Value::String(s), Value::Int(n)) => {
                match usize::try_from(*n).ok().and_then(|n| s.get(n)) {
                    Some(b) => Value::Int(i64::from(*b)),
                    None => return Err(Fail::Call(format!("index out of range: {n}"))),
                }
            }
            (Value::List(_) | Value::String(_), i) => {
                return Err(Fail::Call(format!(
                    "cannot index slice/array with type {}",
                    i.type_name()
                )));
            }
            (Value::Map(m), Value::String(k)) => {
                match m.get(String::from_utf8_lossy(k).as_ref()) {
                    Some(v) => v.clone(),
                    // Go gives the zero value of the element type: "" for ESO's
                    // map[string]string, nil for map[string]interface{}. A map holding only
                    // strings is taken to be a map[string]string.
                    None if m.values().all(|v| matches!(v, Value::String(_))) => Value::str(""),
                    None => Value::Nil,
                }
            }
            (Value::Map(_), i) => {
                return Err(Fail::Call(format!(
                    "value has type {}; should be string",
                    i.type_name()
                )));
            }
            (item, _) => {
                return Err(Fail::Call(format!(
                    "can't index item of type {}",
                    item.type_name()
                )));
            }
        };
    }
    Ok(item)
}

#[derive(PartialEq)]
enum Kind {
    Bool,
    Int,
    Float,
    String,
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::String(_) => Kind::String,
        _ => Kind::Other,
    }
}

/// Go's `eq arg1 arg2...`: true when arg1 equals any later argument; basic kinds must match.
fn eq(args: &[Value]) -> Result<Value> {
    let a = &args[0];
    if args.len() < 2 {
        return Err(Fail::Call("missing argument for comparison".into()));
    }
    for b in &args[1..] {
        let truth = match (a, b) {
            (Value::Nil, _) | (_, Value::Nil) => matches!((a, b), (Value::Nil, Value::Nil)),
            _ if kind(a) != kind(b) => {
                return Err(Fail::Call("incompatible types for comparison".into()));
            }
            (Value::List(_) | Value::Map(_), _) => {
                return Err(Fail::Call(format!(
                    "non-comparable types {} and {}",
                    a.type_name(),
                    b.type_name()
                )));
            }
            _ => a == b,
        };
        if truth {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn order(name: &str, a: &Value, b: &Value) -> Result<Value> {
    use std::cmp::Ordering;
    let ord = match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ if kind(a) == Kind::Bool || kind(a) == Kind::Other => {
            return Err(Fail::Call("invalid type for comparison".into()));
        }
        _ if kind(a) != kind(b) => {
            return Err(Fail::Call("incompatible types for comparison".into()));
        }
        _ => return Err(Fail::Call("invalid type for comparison".into())),
    };
    // NaN compares false everywhere, as in Go.
    let nan = matches!((a, b), (Value::Float(x), Value::Float(y)) if x.is_nan() || y.is_nan());
    Ok(Value::Bool(
        !nan && match name {
            "lt" => ord == Ordering::Less,
            "le" => ord != Ordering::Greater,
            "gt" => ord == Ordering::Greater,
            _ => ord != Ordering::Less,
        },
    ))
}

/// `template.HTMLEscapeString`.
fn html(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"&#34;"),
            b'\'' => out.extend_from_slice(b"&#39;"),
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            0 => out.extend_from_slice("\u{FFFD}".as_bytes()),
            b => out.push(b),
        }
    }
    out
}

/// `template.JSEscapeString`.
fn js(s: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(s);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' | '>' | '&' | '=' => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if !c.is_ascii() && (c.is_control() || c.is_whitespace()) => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.into_bytes()
}

/// `url.QueryEscape`.
pub(super) fn urlquery(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &b in s {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b),
            b' ' => out.push(b'+'),
            b => out.extend_from_slice(format!("%{b:02X}").as_bytes()),
        }
    }
    out
}
