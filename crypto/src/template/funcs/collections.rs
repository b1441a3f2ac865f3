//! Sprig's defaults, lists, dicts, numbers and type functions, plus the JSON/YAML ones.

use super::super::number;
use std::collections::BTreeMap;

use super::super::{json, limits, value::Value, yaml};
use super::args::{Fail, Result, arity, at_least, boolean, int, key, map, string, strval};

pub(super) fn call(name: &str, args: Vec<Value>) -> Option<Result<Value>> {
    let a = &args;
    Some(match name {
        // Defaults and flow.
        "default" => at_least(name, a, 1).map(|_| match a.get(1) {
            Some(g) if g.is_true() => g.clone(),
            _ => a[0].clone(),
        }),
        "empty" => arity(name, a, 1).map(|_| Value::Bool(!a[0].is_true())),
        "coalesce" => Ok(a.iter().find(|v| v.is_true()).cloned().unwrap_or(Value::Nil)),
        "all" => Ok(Value::Bool(a.iter().all(Value::is_true))),
        "any" => Ok(Value::Bool(a.iter().any(Value::is_true))),
        "ternary" => arity(name, a, 3)
            .and_then(|_| boolean(&a[2]))
            .map(|c| if c { a[0].clone() } else { a[1].clone() }),
        "deepCopy" | "mustDeepCopy" => arity(name, a, 1).map(|_| a[0].clone()),
        // JSON and YAML. Sprig swallows errors in the plain variants.
        "fromJson" => arity(name, a, 1)
            .and_then(|_| string(&a[0]))
            .map(|s| json::parse(s).unwrap_or(Value::Nil)),
        "mustFromJson" => arity(name, a, 1)
            .and_then(|_| string(&a[0]))
            .and_then(|s| json::parse(s).map_err(Fail::Call)),
        "toJson" | "toPrettyJson" => arity(name, a, 1).map(|_| {
            let indent = name == "toPrettyJson";
            Value::String(json::marshal(&a[0], indent, true).unwrap_or_default())
        }),
        "mustToJson" | "mustToPrettyJson" | "toRawJson" | "mustToRawJson" => {
            arity(name, a, 1).and_then(|_| {
                let (indent, html) = (name == "mustToPrettyJson", !name.ends_with("RawJson"));
                json::marshal(&a[0], indent, html)
                    .map(Value::String)
                    .map_err(Fail::Call)
            })
        }
        "toYaml" => arity(name, a, 1).map(|_| Value::String(yaml::to_yaml(&a[0]))),
        "fromYaml" => arity(name, a, 1)
            .and_then(|_| string(&a[0]))
            .map(yaml::from_yaml),
        // Lists.
        "list" | "tuple" => Ok(Value::List(args)),
        "append" | "push" | "mustAppend" | "mustPush" => arity(name, a, 2).and_then(|_| {
            let mut l = list(name, "push on", &a[0])?;
            l.push(a[1].clone());
            Ok(Value::List(l))
        }),
        "prepend" | "mustPrepend" => arity(name, a, 2).and_then(|_| {
            let mut l = list(name, "prepend", &a[0])?;
            l.insert(0, a[1].clone());
            Ok(Value::List(l))
        }),
        "first" | "mustFirst" | "last" | "mustLast" => arity(name, a, 1).and_then(|_| {
            let l = list(name, "find first on", &a[0])?;
            let item = if name.ends_with("irst") { l.first() } else { l.last() };
            Ok(item.cloned().unwrap_or(Value::Nil))
        }),
        "rest" | "mustRest" | "initial" | "mustInitial" => arity(name, a, 1).and_then(|_| {
            let mut l = list(name, "find rest on", &a[0])?;
            if l.is_empty() {
                return Ok(Value::Nil);
            }
            if name.ends_with("est") {
                l.remove(0);
            } else {
                l.pop();
            }
            Ok(Value::List(l))
        }),
        "reverse" | "mustReverse" => arity(name, a, 1).and_then(|_| {
            let mut l = list(name, "find reverse on", &a[0])?;
            l.reverse();
            Ok(Value::List(l))
        }),
        "uniq" | "mustUniq" => arity(name, a, 1).and_then(|_| {
            let mut out: Vec<Value> = Vec::new();
            let l = list(name, "find uniq on", &a[0])?;
            if l.len() > limits::MAX_UNIQ {
                return Err(Fail::Call(format!(
                    "uniq: {} items are more than the {} it compares",
                    l.len(),
                    limits::MAX_UNIQ
                )));
            }
            for v in l {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            Ok(Value::List(out))
        }),
        "compact" | "mustCompact" => arity(name, a, 1).and_then(|_| {
            let l = list(name, "compact", &a[0])?;
            Ok(Value::List(l.into_iter().filter(Value::is_true).collect()))
        }),
        "has" | "mustHas" => arity(name, a, 2).and_then(|_| match &a[1] {
            Value::Nil => Ok(Value::Bool(false)),
            h => Ok(Value::Bool(list(name, "find has on", h)?.contains(&a[0]))),
        }),
        "without" | "mustWithout" => at_least(name, a, 1).and_then(|_| {
            let l = list(name, "find without on", &a[0])?;
            Ok(Value::List(l.into_iter().filter(|v| !a[1..].contains(v)).collect()))
        }),
        "concat" => a
            .iter()
            .map(|v| list(name, "concat type", v))
            .collect::<Result<Vec<_>>>()
            .map(|ls| Value::List(ls.concat())),
        "until" => arity(name, a, 1).and_then(|_| {
            let n = int(&a[0])?;
            if n.unsigned_abs() > limits::MAX_ITEMS {
                return Err(Fail::Call(format!(
                    "until: {n} items are more than the {} a template may make",
                    limits::MAX_ITEMS
                )));
            }
            let r: Vec<Value> = if n >= 0 {
                (0..n).map(Value::Int).collect()
            } else {
                (n + 1..=0).rev().map(Value::Int).collect()
            };
            Ok(Value::List(r))
        }),
        // Dicts.
        "dict" => {
            let mut m = BTreeMap::new();
            for pair in a.chunks(2) {
                m.insert(key(&pair[0]), pair.get(1).cloned().unwrap_or(Value::str("")));
            }
            Ok(Value::Map(m))
        }
        "get" => arity(name, a, 2).and_then(|_| {
            let (m, k) = (map(&a[0])?, string(&a[1])?);
            Ok(m.get(String::from_utf8_lossy(k).as_ref())
                .cloned()
                .unwrap_or(Value::str("")))
        }),
        "set" => arity(name, a, 3).and_then(|_| {
            let k = String::from_utf8_lossy(string(&a[1])?).into_owned();
            let mut m = map(&a[0])?.clone();
            m.insert(k, a[2].clone());
            Ok(Value::Map(m))
        }),
        "unset" => arity(name, a, 2).and_then(|_| {
            let mut m = map(&a[0])?.clone();
            m.remove(String::from_utf8_lossy(string(&a[1])?).as_ref());
            Ok(Value::Map(m))
        }),
        "hasKey" => arity(name, a, 2).and_then(|_| {
            let (m, k) = (map(&a[0])?, string(&a[1])?);
            Ok(Value::Bool(m.contains_key(String::from_utf8_lossy(k).as_ref())))
        }),
        "keys" => a
            .iter()
            .map(|d| Ok(map(d)?.keys().map(|k| Value::str(k.as_str())).collect::<Vec<_>>()))
            .collect::<Result<Vec<_>>>()
            .map(|ks| Value::List(ks.concat())),
        "values" => arity(name, a, 1).and_then(|_| Ok(Value::List(map(&a[0])?.values().cloned().collect()))),
        "pick" | "omit" => at_least(name, a, 1).and_then(|_| {
            let m = map(&a[0])?;
            let wanted: Vec<String> = a[1..].iter().map(key).collect();
            let keep = name == "pick";
            Ok(Value::Map(
                m.iter()
                    .filter(|(k, _)| wanted.contains(k) == keep)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ))
        }),
        "pluck" => at_least(name, a, 1).and_then(|_| {
            let k = String::from_utf8_lossy(string(&a[0])?).into_owned();
            let mut out = Vec::new();
            for d in &a[1..] {
                out.extend(map(d)?.get(&k).cloned());
            }
            Ok(Value::List(out))
        }),
        "dig" => at_least(name, a, 3).and_then(|_| {
            let mut current = map(&a[a.len() - 1])?;
            let default = &a[a.len() - 2];
            let path = &a[..a.len() - 2];
            for (i, step) in path.iter().enumerate() {
                let k = String::from_utf8_lossy(string(step)?).into_owned();
                match current.get(&k) {
                    None => return Ok(default.clone()),
                    Some(v) if i + 1 == path.len() => return Ok(v.clone()),
                    Some(Value::Map(m)) => current = m,
                    Some(v) => {
                        return Err(Fail::Call(format!(
                            "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
                            v.type_name()
                        )));
                    }
                }
            }
            Ok(default.clone())
        }),
        "merge" | "mustMerge" | "mergeOverwrite" | "mustMergeOverwrite" => {
            at_least(name, a, 1).and_then(|_| {
                let mut dst = map(&a[0])?.clone();
                for src in &a[1..] {
                    merge_into(&mut dst, map(src)?, name.contains("Overwrite"));
                }
                Ok(Value::Map(dst))
            })
        }
        // Numbers (spf13/cast conversions: anything unparsable is 0).
        "atoi" => arity(name, a, 1).and_then(|_| {
            let s = String::from_utf8_lossy(string(&a[0])?).into_owned();
            Ok(Value::Int(s.parse().unwrap_or(0)))
        }),
        "int" | "int64" => arity(name, a, 1).map(|_| Value::Int(to_int(&a[0]))),
        "float64" => arity(name, a, 1).map(|_| Value::Float(to_float(&a[0]))),
        "add" => Ok(Value::Int(a.iter().map(to_int).fold(0, i64::wrapping_add))),
        "add1" => arity(name, a, 1).map(|_| Value::Int(to_int(&a[0]).wrapping_add(1))),
        "sub" => arity(name, a, 2).map(|_| Value::Int(to_int(&a[0]).wrapping_sub(to_int(&a[1])))),
        "mul" => at_least(name, a, 1)
            .map(|_| Value::Int(a.iter().map(to_int).fold(1, i64::wrapping_mul))),
        "div" | "mod" => arity(name, a, 2).and_then(|_| {
            let (x, y) = (to_int(&a[0]), to_int(&a[1]));
            if y == 0 {
                return Err(Fail::Call("runtime error: integer divide by zero".into()));
            }
            Ok(Value::Int(if name == "div" { x.wrapping_div(y) } else { x.wrapping_rem(y) }))
        }),
        "max" | "biggest" | "min" => at_least(name, a, 1).map(|_| {
            let it = a.iter().map(to_int);
            Value::Int(if name == "min" { it.min() } else { it.max() }.unwrap_or(0))
        }),
        // Types.
        "typeOf" => arity(name, a, 1).map(|_| Value::str(a[0].type_name())),
        "kindOf" => arity(name, a, 1).map(|_| Value::str(kind(&a[0]))),
        "typeIs" | "kindIs" => arity(name, a, 2).and_then(|_| {
            let want = string(&a[0])?;
            let have = if name == "typeIs" { a[1].type_name() } else { kind(&a[1]) };
            Ok(Value::Bool(want == have.as_bytes()))
        }),
        "deepEqual" => arity(name, a, 2).map(|_| Value::Bool(a[0] == a[1])),
        _ => return None,
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Nil => "invalid",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float64",
        Value::String(_) => "string",
        Value::List(_) => "slice",
        Value::Map(_) => "map",
    }
}

/// Sprig's list functions take any slice and fail on anything else.
fn list(name: &str, what: &str, v: &Value) -> Result<Vec<Value>> {
    match v {
        Value::List(l) => Ok(l.clone()),
        v => Err(Fail::Call(if name == "concat" {
            format!("Cannot concat type {} as list", v.type_name())
        } else {
            format!("Cannot {what} type {}", v.type_name())
        })),
    }
}

/// Sprig's `strslice`: a list's non-nil items as strings; a string is a one-item list; nil
/// is empty.
pub(super) fn strslice(v: &Value) -> Vec<Vec<u8>> {
    match v {
        Value::List(l) => l
            .iter()
            .filter(|v| !matches!(v, Value::Nil))
            .map(strval)
            .collect(),
        Value::Nil => Vec::new(),
        v => vec![strval(v)],
    }
}

/// mergo's `Merge` (`overwrite`: `WithOverride`): nested maps merge key by key.
fn merge_into(dst: &mut BTreeMap<String, Value>, src: &BTreeMap<String, Value>, overwrite: bool) {
    for (k, sv) in src {
        match dst.get_mut(k) {
            Some(Value::Map(dm)) if matches!(sv, Value::Map(_)) => {
                if let Value::Map(sm) = sv {
                    merge_into(dm, sm, overwrite);
                }
            }
            Some(dv) => {
                if (overwrite && sv.is_true()) || (!overwrite && !dv.is_true()) {
                    *dv = sv.clone();
                }
            }
            None => {
                dst.insert(k.clone(), sv.clone());
            }
        }
    }
}

/// `cast.ToInt64`: strings parse with Go's base prefixes after dropping a `.0...` tail.
fn to_int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::String(s) => {
            let s = String::from_utf8_lossy(s);
            let s = match s.split_once('.') {
                Some((int, frac)) if frac.bytes().all(|b| b == b'0') => int.to_string(),
                _ => s.into_owned(),
            };
            parse_go_int(&s).unwrap_or(0)
        }
        _ => 0,
    }
}

fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = number::radix_and_digits(&lower);
    let digits = if radix == 10 {
        digits.to_string()
    } else {
        digits.replace('_', "")
    };
    let m = i64::from_str_radix(&digits, radix).ok()?;
    Some(if neg { -m } else { m })
}

fn to_float(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => String::from_utf8_lossy(s).parse().unwrap_or(0.0),
        _ => 0.0,
    }
}
