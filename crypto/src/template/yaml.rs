//! ESO's `toYaml`/`fromYaml` (`runtime/template/v2/yaml.go`), which go through
//! `sigs.k8s.io/yaml`: a value is marshalled to JSON, re-read by yaml.v2 (integers stay
//! integers) and emitted by yaml.v2's emitter: block style, two-space indent, sequences not
//! indented under their key, keys in yaml.v2's "natural" order, strings quoted only when they
//! would read back as something else, multi-line strings as literal blocks, long lines folded
//! at 80 columns. `toYaml` trims the final newline; errors give `""`.
//!
//! `fromYaml` reads with the SOPS YAML reader (yaml.v3 typing: `yes`/`on` stay strings, where
//! yaml.v2 would give booleans) and, like the JSON round trip upstream, turns every number
//! into a float64. A failure is returned as `{"Error": message}`, as ESO does.

use std::collections::BTreeMap;

use super::value::Value;

const BEST_WIDTH: usize = 80;

pub(super) fn to_yaml(v: &Value) -> Vec<u8> {
    // The JSON step upstream: NaN/Inf fail (and give ""), invalid UTF-8 becomes U+FFFD.
    let Ok(json) = super::json::marshal(v, false, false) else {
        return Vec::new();
    };
    let Ok(parsed) = serde_json::from_slice::<serde_json::Value>(&json) else {
        return Vec::new();
    };
    let mut e = Emitter { out: String::new() };
    e.node(&parsed, 0, Ctx::Top);
    let mut out = e.out.into_bytes();
    if out.last() == Some(&b'\n') {
        out.pop();
    }
    out
}

pub(super) fn from_yaml(text: &[u8]) -> Value {
    let text = String::from_utf8_lossy(text);
    match crate::sops::yaml::parse(&text) {
        Ok(docs) => docs.first().map_or(Value::Map(BTreeMap::new()), branch),
        Err(e) => Value::Map(BTreeMap::from([(
            "Error".into(),
            Value::str(e.to_string()),
        )])),
    }
}

fn branch(b: &crate::sops::Branch) -> Value {
    Value::Map(
        b.iter()
            .filter_map(|e| match e {
                crate::sops::Entry::Pair(k, v) => Some((k.clone(), sops_value(v)?)),
                crate::sops::Entry::Comment(_) => None,
            })
            .collect(),
    )
}

fn sops_value(v: &crate::sops::Value) -> Option<Value> {
    use crate::sops::{Scalar, Value as S};
    Some(match v {
        S::Null => Value::Nil,
        S::Comment(_) => return None,
        S::Seq(items) => Value::List(items.iter().filter_map(sops_value).collect()),
        S::Map(b) => branch(b),
        S::Scalar(s) => match s {
            Scalar::Str(b) | Scalar::Bytes(b) => Value::String(b.clone()),
            Scalar::Int(i) => Value::Float(*i as f64),
            Scalar::Float(f) => Value::Float(*f),
            Scalar::Bool(b) => Value::Bool(*b),
            Scalar::Time(t) => Value::str(t.as_str()),
        },
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Top,
    /// The value after `key:`.
    MapValue,
    /// The value after `- `.
    SeqItem,
}

struct Emitter {
    out: String,
}

fn column(s: &str) -> usize {
    s.rsplit('\n').next().unwrap_or("").chars().count()
}

impl Emitter {
    fn pad(&mut self, n: usize) {
        self.out.extend(std::iter::repeat_n(' ', n));
    }

    /// Writes `v` whose first line continues the current one; `indent` is the column of the
    /// enclosing node's content.
    fn node(&mut self, v: &serde_json::Value, indent: usize, ctx: Ctx) {
        use serde_json::Value as J;
        match v {
            J::Object(m) if !m.is_empty() => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort_by(|a, b| natural(a, b));
                let inner = match ctx {
                    Ctx::Top => 0,
                    Ctx::MapValue => indent + 2,
                    Ctx::SeqItem => indent + 2,
                };
                for (i, k) in keys.iter().enumerate() {
                    if i == 0 && ctx == Ctx::SeqItem {
                        // Continues "- " on the same line.
                    } else {
                        if i > 0 || ctx == Ctx::MapValue {
                            self.out.push('\n');
                        }
                        self.pad(inner);
                    }
                    self.scalar(k, inner, true);
                    self.out.push(':');
                    let child = &m[k.as_str()];
                    if is_block_collection(child) {
                        self.node(child, inner, Ctx::MapValue);
                    } else {
                        self.out.push(' ');
                        self.node(child, inner, Ctx::MapValue);
                    }
                }
                if ctx == Ctx::Top {
                    self.out.push('\n');
                }
            }
            J::Array(l) if !l.is_empty() => {
                // yaml.v2 does not indent a sequence under its mapping key.
                let dash = match ctx {
                    Ctx::Top | Ctx::MapValue => indent,
                    Ctx::SeqItem => indent + 2,
                };
                for (i, item) in l.iter().enumerate() {
                    if i == 0 && ctx == Ctx::SeqItem {
                    } else {
                        if i > 0 || ctx == Ctx::MapValue {
                            self.out.push('\n');
                        }
                        self.pad(dash);
                    }
                    self.out.push_str("- ");
                    self.node(item, dash, Ctx::SeqItem);
                }
                if ctx == Ctx::Top {
                    self.out.push('\n');
                }
            }
            J::Object(_) => self.leaf("{}", ctx),
            J::Array(_) => self.leaf("[]", ctx),
            J::Null => self.leaf("null", ctx),
            J::Bool(b) => self.leaf(if *b { "true" } else { "false" }, ctx),
            J::Number(n) => {
                let text = n.to_string();
                let s = if text.contains(['.', 'e', 'E']) {
                    // yaml.v2 re-reads it as a float and prints strconv's 'g'.
                    super::fmt::format_g(n.as_f64().unwrap_or(0.0))
                } else {
                    text
                };
                self.leaf(&s, ctx);
            }
            J::String(s) => {
                // libyaml indents a block scalar one step (2) past its parent; at the root
                // that is column 2 too.
                let content = match ctx {
                    Ctx::Top => 2,
                    Ctx::MapValue | Ctx::SeqItem => indent + 2,
                };
                self.scalar(s, content, false);
                if ctx == Ctx::Top {
                    self.out.push('\n');
                }
            }
        }
    }

    fn leaf(&mut self, s: &str, ctx: Ctx) {
        self.out.push_str(s);
        if ctx == Ctx::Top {
            self.out.push('\n');
        }
    }

    /// A string in the style yaml.v2 picks; `indent` is where continuation lines start.
    fn scalar(&mut self, s: &str, indent: usize, key: bool) {
        let a = analyze(s);
        let style = if s.contains('\n') {
            if a.block && !key {
                Style::Literal
            } else {
                Style::Double
            }
        } else if resolves_to_non_string(s) {
            Style::Double
        } else if !a.block_plain {
            if a.single {
                Style::Single
            } else {
                Style::Double
            }
        } else {
            Style::Plain
        };
        match style {
            Style::Plain => self.folded(s, indent, !key, |_, c, out| out.push(c)),
            Style::Single => {
                self.out.push('\'');
                self.folded(s, indent, !key, |_, c, out| {
                    if c == '\'' {
                        out.push_str("''");
                    } else {
                        out.push(c);
                    }
                });
                self.out.push('\'');
            }
            Style::Double => self.double(s, indent, !key),
            Style::Literal => self.literal(s, indent),
        }
    }

    /// Writes `s` char by char, breaking the line at a single space once past the best
    /// width (yaml.v2's `write_plain`/`write_single_quoted`).
    fn folded(
        &mut self,
        s: &str,
        indent: usize,
        allow_breaks: bool,
        put: impl Fn(usize, char, &mut String),
    ) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        let mut col = column(&self.out);
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks
                    && !spaces
                    && col > BEST_WIDTH
                    && i != 0
                    && i + 1 != chars.len()
                    && !next_space
                {
                    self.out.push('\n');
                    self.pad(indent);
                    col = indent;
                } else {
                    self.out.push(c);
                    col += 1;
                }
                spaces = true;
            } else {
                let before = self.out.len();
                put(i, c, &mut self.out);
                col += self.out[before..].chars().count();
                spaces = false;
            }
        }
    }

    fn double(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        self.out.push('"');
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        let mut col = column(&self.out);
        for (i, &c) in chars.iter().enumerate() {
            if !is_printable(c) || matches!(c, '\u{FEFF}' | '"' | '\\') || is_break(c) {
                let esc = match c {
                    '\0' => "\\0".to_string(),
                    '\x07' => "\\a".into(),
                    '\x08' => "\\b".into(),
                    '\t' => "\\t".into(),
                    '\n' => "\\n".into(),
                    '\x0b' => "\\v".into(),
                    '\x0c' => "\\f".into(),
                    '\r' => "\\r".into(),
                    '\x1b' => "\\e".into(),
                    '"' => "\\\"".into(),
                    '\\' => "\\\\".into(),
                    '\u{85}' => "\\N".into(),
                    '\u{A0}' => "\\_".into(),
                    '\u{2028}' => "\\L".into(),
                    '\u{2029}' => "\\P".into(),
                    c if (c as u32) <= 0xFF => format!("\\x{:02X}", c as u32),
                    c if (c as u32) <= 0xFFFF => format!("\\u{:04X}", c as u32),
                    c => format!("\\U{:08X}", c as u32),
                };
                col += esc.len();
                self.out.push_str(&esc);
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && col > BEST_WIDTH && i != 0 && i + 1 != chars.len() {
                    self.out.push('\n');
                    self.pad(indent);
                    col = indent;
                    if chars.get(i + 1) == Some(&' ') {
                        self.out.push('\\');
                        col += 1;
                    }
                } else {
                    self.out.push(' ');
                    col += 1;
                }
                spaces = true;
            } else {
                self.out.push(c);
                col += 1;
                spaces = false;
            }
        }
        self.out.push('"');
    }

    fn literal(&mut self, s: &str, indent: usize) {
        self.out.push('|');
        if s.starts_with([' ', '\n']) {
            self.out.push('2');
        }
        let trailing = s.len() - s.trim_end_matches('\n').len();
        match trailing {
            0 => self.out.push('-'),
            1 => {}
            _ => self.out.push('+'),
        }
        let body = if trailing >= 1 { &s[..s.len() - 1] } else { s };
        for line in body.split('\n') {
            self.out.push('\n');
            if !line.is_empty() {
                self.pad(indent);
                self.out.push_str(line);
            }
        }
    }
}

fn is_block_collection(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Object(m) => !m.is_empty(),
        serde_json::Value::Array(l) => !l.is_empty(),
        _ => false,
    }
}

enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blankz(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => c == ' ' || c == '\t' || c == '\0' || is_break(c),
    }
}

/// libyaml's printable set (tab is not in it).
fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0A
        || (0x20..=0x7E).contains(&u)
        || u == 0x85
        || (0xA0..=0xD7FF).contains(&u)
        || ((0xE000..=0xFFFD).contains(&u) && u != 0xFEFF)
        || (0x10000..=0x10FFFF).contains(&u)
}

struct Analysis {
    block_plain: bool,
    single: bool,
    block: bool,
}

/// libyaml's `analyze_scalar`, for the block context yaml.v2 emits in.
fn analyze(s: &str) -> Analysis {
    let chars: Vec<char> = s.chars().collect();
    let mut block_ind = false;
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break, mut special, mut line_breaks) =
        (false, false, false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    if (s.starts_with("---") || s.starts_with("...")) && is_blankz(chars.get(3).copied()) {
        block_ind = true;
    }
    let mut preceded_by_ws = true;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_ws = is_blankz(chars.get(i + 1).copied());
        if i == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(c) {
                block_ind = true;
            }
            if (c == '?' || c == ':' || c == '-') && followed_by_ws {
                block_ind = true;
            }
        } else if (c == ':' && followed_by_ws) || (c == '#' && preceded_by_ws) {
            block_ind = true;
        }
        if !is_printable(c) || c == '\u{FEFF}' {
            special = true;
        }
        if is_break(c) {
            line_breaks = true;
        }
        let last = i + 1 == chars.len();
        if c == ' ' {
            leading_space |= i == 0;
            trailing_space |= last;
            break_space |= prev_break;
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            leading_break |= i == 0;
            trailing_break |= last;
            space_break |= prev_space;
            prev_break = true;
            prev_space = false;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_by_ws = is_blankz(Some(c));
    }
    let mut a = Analysis {
        block_plain: true,
        single: true,
        block: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain = false;
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        a.block_plain = false;
        a.single = false;
    }
    if space_break || special {
        a.block_plain = false;
        a.single = false;
        a.block = false;
    }
    if line_breaks || block_ind {
        a.block_plain = false;
    }
    a
}

/// Whether yaml.v2 would read the plain text back as null, bool, number or timestamp.
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN", "<<",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    if !s.starts_with(|c: char| c.is_ascii_digit() || "+-.".contains(c)) {
        return false;
    }
    let plain = s.replace('_', "");
    let re = |p: &str| regex::Regex::new(p).is_ok_and(|r| r.is_match(&plain));
    let unsigned = plain.trim_start_matches(['+', '-']);
    let int_like = |prefix: &str, digits: &str| {
        unsigned
            .strip_prefix(prefix)
            .is_some_and(|d| !d.is_empty() && d.chars().all(|c| digits.contains(c)))
    };
    int_like("0x", "0123456789abcdefABCDEF")
        || int_like("0X", "0123456789abcdefABCDEF")
        || int_like("0o", "01234567")
        || int_like("0O", "01234567")
        || int_like("0b", "01")
        || int_like("0B", "01")
        || re(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
        || regex::Regex::new(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
            .is_ok_and(|r| r.is_match(s))
        || regex::Regex::new(
            r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?(Z|[-+][0-9]{2}:[0-9]{2})?)?$",
        )
        .is_ok_and(|r| r.is_match(s))
}

/// yaml.v2's `keyList.Less`: runs of digits compare as numbers, letters sort after other
/// characters.
fn natural(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an
                .wrapping_mul(10)
                .wrapping_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn
                .wrapping_mul(10)
                .wrapping_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(v: Value) -> String {
        String::from_utf8(to_yaml(&v)).unwrap()
    }

    #[test]
    fn to_yaml_matches_sigs_yaml() {
        let v = Value::Map(BTreeMap::from([
            ("name".into(), Value::str("app")),
            ("port".into(), Value::Int(8080)),
            ("ratio".into(), Value::Float(0.5)),
            ("on".into(), Value::str("yes")),
            ("empty".into(), Value::str("")),
            (
                "list".into(),
                Value::List(vec![
                    Value::str("a"),
                    Value::Map(BTreeMap::from([
                        ("x".into(), Value::Int(1)),
                        ("z".into(), Value::Nil),
                    ])),
                ]),
            ),
            (
                "nested".into(),
                Value::Map(BTreeMap::from([("k".into(), Value::str("a: b"))])),
            ),
            ("multi".into(), Value::str("line1\nline2\n")),
            ("none".into(), Value::List(vec![])),
        ]));
        assert_eq!(
            y(v),
            "empty: \"\"\nlist:\n- a\n- x: 1\n  z: null\nmulti: |\n  line1\n  line2\nname: app\n\
             nested:\n  k: 'a: b'\nnone: []\n\"on\": \"yes\"\nport: 8080\nratio: 0.5"
        );
    }

    #[test]
    fn scalars_and_quoting() {
        assert_eq!(y(Value::str("plain")), "plain");
        assert_eq!(y(Value::str("123")), "\"123\"");
        assert_eq!(y(Value::str("2024-01-02")), "\"2024-01-02\"");
        assert_eq!(y(Value::str("- x")), "'- x'");
        assert_eq!(y(Value::str("tab\there")), "\"tab\\there\"");
        assert_eq!(y(Value::str("no newline\nend")), "|-\n  no newline\n  end");
        assert_eq!(y(Value::Float(1e21)), "1e+21");
        let long = vec!["word"; 30].join(" ");
        assert_eq!(y(Value::str(long.as_str())).lines().count(), 2);
    }

    #[test]
    fn natural_key_order() {
        let mut keys = vec!["a10", "a2", "b", "A", "_x", "1"];
        keys.sort_by(|a, b| natural(a, b));
        // Go's keyList.Less: `_` vs `1` compares digit runs (none = 0 < 1).
        assert_eq!(keys, ["_x", "1", "A", "a2", "a10", "b"]);
    }

    #[test]
    fn from_yaml_gives_floats_and_error_maps() {
        let v = from_yaml(b"a: 1\nb: [x, true]\nc:\n  d: null\n");
        assert_eq!(
            v,
            Value::Map(BTreeMap::from([
                ("a".into(), Value::Float(1.0)),
                (
                    "b".into(),
                    Value::List(vec![Value::str("x"), Value::Bool(true)])
                ),
                (
                    "c".into(),
                    Value::Map(BTreeMap::from([("d".into(), Value::Nil)]))
                ),
            ]))
        );
        let Value::Map(m) = from_yaml(b"a: [") else {
            panic!()
        };
        assert!(m.contains_key("Error"));
    }
}
