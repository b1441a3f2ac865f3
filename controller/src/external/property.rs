//! Picking a value out of a provider's JSON and turning it into Secret bytes exactly as ESO's
//! AWS and Vault providers do (spec `external-secrets.md` §6.3, §7.3): a subset of gjson paths
//! (ESO uses `tidwall/gjson` v1.18) evaluated on the raw JSON text, and Go `encoding/json`
//! re-encoding.
//!
//! Which function when:
//! - AWS `remoteRef.property` over `SecretString`/`SecretBinary`: [`aws_property`] (tries the
//!   property with every `.` escaped first, as ESO does);
//! - AWS `dataFrom[].extract` (`GetSecretMap`): [`aws_secret_map`];
//! - Vault `GetSecret` over the secret's `data`: [`vault_secret_value`] (no property: Go
//!   `json.Marshal` of the data; a top-level key wins; else a gjson path), or
//!   [`vault_secret_value_raw`] over the data's JSON text as Vault sent it (numbers keep their
//!   text, as ESO's `json.Number`s do);
//! - Vault `dataFrom[].extract` (`GetSecretMap`) over what [`vault_secret_value`] returned:
//!   [`vault_secret_map`];
//! - the pieces: [`get`] + [`Found::text`] (gjson `Get(..).String()`), [`go_json_marshal`]
//!   (Go `json.Marshal`), [`vault_byte_value`] (ESO `GetByteValue`), [`gjson_text`].
//!
//! Supported gjson syntax: keys `a.b`, array indexes `a.0`, escapes `a\.b` (any character after
//! `\`), the array length `a.#`, the projection `a.#.b`, wildcards `*` and `?` in object keys,
//! and gjson's lenient scanning (first match wins, duplicate keys included). Anything else —
//! queries `#(..)`, pipes `|`, modifiers `@reverse`…, multipaths `[..]`/`{..}`, literals `!true`,
//! JSON lines `..` — is refused with [`PropertyError::Unsupported`] rather than answered wrongly.
//!
//! Numbers keep the text they had in the document where Go keeps it; where the input is a
//! `serde_json::Value` (this workspace does not enable `preserve_order`/`arbitrary_precision`),
//! objects come out in sorted key order and a float's original spelling is lost (see
//! [`go_json_marshal`], [`gjson_text`]).
//!
//! ```
//! use sealbox_controller::external::property;
//!
//! let secret = br#"{"db": {"user": "app", "port": 5432, "tls": {"ca": "x"}}, "a.b": 1}"#;
//! let text = |p| property::aws_property(secret, p).unwrap().map(|v| String::from_utf8(v).unwrap());
//! assert_eq!(text("db.user").as_deref(), Some("app"));
//! assert_eq!(text("db.port").as_deref(), Some("5432"));
//! assert_eq!(text("db.tls").as_deref(), Some(r#"{"ca": "x"}"#));
//! assert_eq!(text("a.b").as_deref(), Some("1"));
//! assert_eq!(text("db.nope"), None);
//!
//! let map = property::aws_secret_map(br#"{"user": "app", "port": 5432}"#).unwrap();
//! assert_eq!(map["port"], b"5432");
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

/// A property that cannot be evaluated (never includes secret data).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PropertyError {
    /// gjson syntax outside the supported subset.
    #[error(
        "property {path:?} uses gjson {what}, which sealbox does not support yet: use a plain \
         path (a.b, a.0, a\\.b, a.#, a.#.b, wildcards * and ?) or a template"
    )]
    Unsupported {
        /// The property as written.
        path: String,
        /// The unsupported feature.
        what: &'static str,
    },
    /// The secret's data given to [`vault_secret_value_raw`] is not a JSON object (the reason
    /// names a byte position, never the data).
    #[error("{0}")]
    NotAnObject(String),
}

/// gjson's value types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `null`.
    Null,
    /// `false`.
    False,
    /// A number.
    Number,
    /// A string.
    String,
    /// `true`.
    True,
    /// An object or array.
    Json,
}

/// A value found by [`get`]: its kind and its raw JSON text as it appears in the document (or
/// as gjson builds it, for `#` and `#.b`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found<'a> {
    kind: Kind,
    raw: Cow<'a, [u8]>,
}

impl Found<'_> {
    /// The value's type.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The raw JSON text of the value.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// gjson's `Result.String()`: strings unescaped, integers as written, other numbers via Go
    /// `FormatFloat(f, 'f', -1)` (`1.50` → `1.5`, `1e3` → `1000`), `true`/`false`, objects and
    /// arrays as their raw text, `null` → empty.
    pub fn text(&self) -> Vec<u8> {
        match self.kind {
            Kind::Null => Vec::new(),
            Kind::False => b"false".to_vec(),
            Kind::True => b"true".to_vec(),
            Kind::Json => self.raw.to_vec(),
            Kind::String => {
                let inner = &self.raw[1..self.raw.len().saturating_sub(1).max(1)];
                if inner.contains(&b'\\') {
                    gjson_unescape(inner)
                } else {
                    inner.to_vec()
                }
            }
            Kind::Number => {
                let digits = self.raw.strip_prefix(b"-").unwrap_or(&self.raw);
                if digits.iter().all(u8::is_ascii_digit) {
                    self.raw.to_vec()
                } else {
                    let num = std::str::from_utf8(&self.raw)
                        .ok()
                        .and_then(|s| s.parse::<f64>().ok())
                        .unwrap_or(0.0);
                    format_float_f(num).into_bytes()
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// gjson paths

const MODIFIERS: [&str; 13] = [
    "pretty", "ugly", "reverse", "this", "flatten", "join", "valid", "keys", "values", "tostr",
    "fromstr", "group", "dig",
];

/// One path component: as written (array indexes use this, as gjson does) and unescaped (object
/// keys), and whether it has an unescaped wildcard.
struct Component<'p> {
    raw: &'p str,
    key: String,
    wild: bool,
}

fn is_modifier(component: &str) -> bool {
    component.strip_prefix('@').is_some_and(|name| {
        let name = name.split([':', '.', '|']).next().unwrap_or("");
        MODIFIERS.contains(&name)
    })
}

fn unsupported(path: &str, what: &'static str) -> PropertyError {
    PropertyError::Unsupported {
        path: path.to_string(),
        what,
    }
}

/// Splits a path at unescaped dots, refusing the syntax this module does not implement.
fn components(path: &str) -> Result<Vec<Component<'_>>, PropertyError> {
    if path.starts_with("..") {
        return Err(unsupported(path, "JSON lines (..)"));
    }
    if path.len() > 1 {
        if path.starts_with('!') && path[1..].starts_with(|c: char| "{[\"+-0123456789".contains(c))
        {
            return Err(unsupported(path, "literals (!)"));
        }
        if let Some(rest) = path.strip_prefix('!') {
            let name = rest
                .split(['.', '|'])
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if ["true", "false", "null", "nan", "inf"].contains(&name.as_str()) {
                return Err(unsupported(path, "literals (!)"));
            }
        }
        if path.starts_with(['[', '{']) {
            return Err(unsupported(path, "multipaths ([..] or {..})"));
        }
    }
    let mut out = Vec::new();
    let mut start = 0;
    let mut key = String::new();
    let mut wild = false;
    let mut chars = path.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, next)) = chars.next() {
                    key.push(next);
                }
            }
            '|' => return Err(unsupported(path, "pipes (|)")),
            '*' | '?' => {
                wild = true;
                key.push(c);
            }
            '.' => {
                out.push(Component {
                    raw: &path[start..i],
                    key: std::mem::take(&mut key),
                    wild: std::mem::take(&mut wild),
                });
                start = i + 1;
                let next = &path[start..];
                if next.starts_with(['[', '{']) || is_modifier(next) {
                    return Err(unsupported(path, "modifiers or multipaths after a dot"));
                }
            }
            _ => key.push(c),
        }
    }
    out.push(Component {
        raw: &path[start..],
        key,
        wild,
    });
    if path.len() > 1 && is_modifier(path) {
        return Err(unsupported(path, "modifiers (@)"));
    }
    if out
        .iter()
        .any(|c| c.raw.starts_with("#(") || c.raw.starts_with("#["))
    {
        return Err(unsupported(path, "queries (#(..))"));
    }
    Ok(out)
}

/// gjson `Get(json, path)` for the supported subset: `Ok(None)` when nothing matches
/// (`!Exists()`). Like gjson, the document is not validated: the first `{` or `[` starts the
/// search, and the first matching key wins.
pub fn get<'a>(json: &'a [u8], path: &str) -> Result<Option<Found<'a>>, PropertyError> {
    let parts = components(path)?;
    Ok(get_parts(json, &parts))
}

fn get_parts<'a>(json: &'a [u8], parts: &[Component<'_>]) -> Option<Found<'a>> {
    let start = json.iter().position(|b| *b == b'{' || *b == b'[')?;
    if json[start] == b'{' {
        in_object(json, start + 1, parts)
    } else {
        in_array(json, start + 1, parts)
    }
}

/// Whether gjson starts reading a value at this byte (it skips every other byte).
fn is_value_start(c: u8) -> bool {
    matches!(
        c,
        b'"' | b'{' | b'[' | b't' | b'f' | b'n' | b'+' | b'-' | b'0'..=b'9' | b'i' | b'I' | b'N'
    )
}

/// Where the value starting at `i` ends, gjson's way (lenient), and its kind; `None` for an
/// unterminated string (gjson stops there) or a byte that starts no value.
fn scan_value(json: &[u8], i: usize) -> Option<(usize, Kind)> {
    match json[i] {
        b'"' => scan_string(json, i + 1).map(|end| (end, Kind::String)),
        b'{' | b'[' => Some((squash(json, i), Kind::Json)),
        b'n' if json.get(i + 1) != Some(&b'u') => Some((scan_number(json, i), Kind::Number)),
        b't' | b'f' | b'n' => {
            let mut end = i + 1;
            while end < json.len() && json[end].is_ascii_lowercase() {
                end += 1;
            }
            let kind = match json[i] {
                b't' => Kind::True,
                b'f' => Kind::False,
                _ => Kind::Null,
            };
            Some((end, kind))
        }
        b'+' | b'-' | b'0'..=b'9' | b'i' | b'I' | b'N' => {
            Some((scan_number(json, i), Kind::Number))
        }
        _ => None,
    }
}

/// From just after an opening quote to just after the closing one; `None` if unterminated.
fn scan_string(json: &[u8], mut i: usize) -> Option<usize> {
    while i < json.len() {
        match json[i] {
            b'"' => return Some(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    None
}

fn scan_number(json: &[u8], mut i: usize) -> usize {
    i += 1;
    // gjson's `parseNumber`: up to whitespace/control, `,`, `]` or `}`.
    while i < json.len() && json[i] > b' ' && !matches!(json[i], b',' | b']' | b'}') {
        i += 1;
    }
    i
}

/// gjson's `parseSquash`: from an opening bracket to just after its match (or the end).
fn squash(json: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < json.len() {
        match json[i] {
            b'"' => match scan_string(json, i + 1) {
                Some(end) => {
                    i = end;
                    continue;
                }
                None => return json.len(),
            },
            b'{' | b'[' | b'(' => depth += 1,
            b'}' | b']' | b')' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    json.len()
}

fn found(json: &[u8], start: usize, end: usize, kind: Kind) -> Found<'_> {
    Found {
        kind,
        raw: Cow::Borrowed(&json[start..end]),
    }
}

fn in_object<'a>(json: &'a [u8], mut i: usize, parts: &[Component<'_>]) -> Option<Found<'a>> {
    let (part, rest) = parts.split_first()?;
    loop {
        // The next key, or the end of the object.
        while i < json.len() && json[i] != b'"' {
            if json[i] == b'}' {
                return None;
            }
            i += 1;
        }
        let key_end = scan_string(json, i.checked_add(1).filter(|s| *s <= json.len())?)?;
        let raw_key = &json[i + 1..key_end - 1];
        let key = if raw_key.contains(&b'\\') {
            Cow::Owned(gjson_unescape(raw_key))
        } else {
            Cow::Borrowed(raw_key)
        };
        let matched = if part.wild {
            wildcard_match(&String::from_utf8_lossy(&key), &part.key)
        } else {
            *key == *part.key.as_bytes()
        };
        // The value: gjson skips anything up to the first character that can start one.
        i = key_end;
        while i < json.len() && !is_value_start(json[i]) {
            i += 1;
        }
        if i >= json.len() {
            return None;
        }
        let (end, kind) = scan_value(json, i)?;
        if matched {
            if rest.is_empty() {
                return Some(found(json, i, end, kind));
            }
            let nested = match json[i] {
                b'{' => in_object(json, i + 1, rest),
                b'[' => in_array(json, i + 1, rest),
                _ => None,
            };
            if nested.is_some() {
                return nested;
            }
        }
        i = end;
    }
}

fn in_array<'a>(json: &'a [u8], mut i: usize, parts: &[Component<'_>]) -> Option<Found<'a>> {
    let (part, rest) = parts.split_first()?;
    let index = if !part.raw.is_empty() && part.raw.bytes().all(|b| b.is_ascii_digit()) {
        part.raw.parse::<usize>().ok()
    } else {
        None
    };
    let count_or_project = part.raw == "#";
    let mut n = 0usize;
    let mut projected: Vec<u8> = vec![b'['];
    loop {
        let (end, kind) = loop {
            if i >= json.len() || json[i] == b']' {
                if !count_or_project {
                    return None;
                }
                if rest.is_empty() {
                    return Some(Found {
                        kind: Kind::Number,
                        raw: Cow::Owned(n.to_string().into_bytes()),
                    });
                }
                projected.push(b']');
                return Some(Found {
                    kind: Kind::Json,
                    raw: Cow::Owned(projected),
                });
            }
            if is_value_start(json[i]) {
                break scan_value(json, i)?;
            }
            i += 1;
        };
        if count_or_project && !rest.is_empty() {
            // gjson `Result.Get` on each element's raw text; an element without the path is
            // left out.
            if let Some(sub) = get_parts(&json[i..end], rest) {
                if projected.len() > 1 {
                    projected.push(b',');
                }
                if sub.raw.is_empty() {
                    projected.extend(sub.text());
                } else {
                    projected.extend_from_slice(&sub.raw);
                }
            }
        } else if index == Some(n) {
            if rest.is_empty() {
                return Some(found(json, i, end, kind));
            }
            return match json[i] {
                b'{' => in_object(json, i + 1, rest),
                b'[' => in_array(json, i + 1, rest),
                _ => None,
            };
        }
        n += 1;
        i = end;
    }
}

/// `tidwall/match`: `*` is any run of characters, `?` one character, `\c` the character `c`.
fn wildcard_match(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    let (mut t, mut p) = (0usize, 0usize);
    let mut back: Option<(usize, usize)> = None;
    while t < text.len() {
        let (pc, width) = match pattern.get(p) {
            Some('\\') if p + 1 < pattern.len() => (Some(pattern[p + 1]), 2),
            Some(c) => (Some(*c), 1),
            None => (None, 0),
        };
        if pc == Some('*') && width == 1 {
            back = Some((p + 1, t));
            p += 1;
        } else if pc.is_some_and(|c| (c == '?' && width == 1) || c == text[t]) {
            t += 1;
            p += width;
        } else if let Some((bp, bt)) = back {
            p = bp;
            t = bt + 1;
            back = Some((bp, bt + 1));
        } else {
            return false;
        }
    }
    while pattern.get(p) == Some(&'*') {
        p += 1;
    }
    p == pattern.len()
}

/// gjson's `unescape`: lenient; stops at a control character or a bad escape.
fn gjson_unescape(s: &[u8]) -> Vec<u8> {
    // Go's ParseUint: four hex digits, else 0.
    let hex4 = |b: &[u8]| -> u32 {
        b.iter()
            .try_fold(0u32, |acc, d| {
                char::from(*d).to_digit(16).map(|v| acc * 16 + v)
            })
            .unwrap_or(0)
    };
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c < b' ' {
            return out;
        }
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        let Some(&e) = s.get(i) else {
            return out;
        };
        match e {
            b'\\' | b'/' | b'"' => out.push(e),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'u' => {
                if i + 5 > s.len() {
                    return out;
                }
                let mut r = hex4(&s[i + 1..i + 5]);
                i += 5;
                if (0xd800..0xe000).contains(&r)
                    && s.len() - i >= 6
                    && s[i] == b'\\'
                    && s[i + 1] == b'u'
                {
                    let r2 = hex4(&s[i + 2..i + 6]);
                    r = if (0xd800..0xdc00).contains(&r) && (0xdc00..0xe000).contains(&r2) {
                        0x10000 + ((r - 0xd800) << 10) + (r2 - 0xdc00)
                    } else {
                        0xfffd
                    };
                    i += 6;
                }
                let ch = char::from_u32(r).unwrap_or('\u{fffd}');
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            _ => return out,
        }
        i += 1;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Go number formatting

/// Go `strconv.FormatFloat(f, 'f', -1, 64)`: shortest round-trip digits, never an exponent.
fn format_float_f(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        // Rust's Display is also shortest round-trip without an exponent.
        format!("{f}")
    }
}

/// Go `encoding/json`'s float64 encoding: like [`format_float_f`], but exponent form
/// (`1e+21`, `1e-7`) below 1e-6 and from 1e21 on.
fn go_json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let e = format!("{f:e}");
        let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
        match exp.strip_prefix('-') {
            Some(neg) => format!("{mantissa}e-{neg}"),
            None => format!("{mantissa}e+{exp:0>2}"),
        }
    } else {
        format_float_f(f)
    }
}

// ---------------------------------------------------------------------------------------------
// Strict (Go encoding/json) parsing

/// A JSON value as Go decodes it into `any`, numbers kept as text.
#[derive(Clone, Debug, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Node>),
    /// Members in document order, duplicates kept (the last one wins when used).
    Object(Vec<(String, Node)>),
}

/// Deeper documents are refused (Go allows 10000 levels; a secret never needs 512).
const MAX_DEPTH: usize = 512;

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(b: &'a [u8]) -> Self {
        Self { b, i: 0, depth: 0 }
    }

    fn err(&self, what: &str) -> String {
        format!("invalid JSON at byte {}: {what}", self.i)
    }

    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn end(&mut self) -> Result<(), String> {
        self.ws();
        if self.i == self.b.len() {
            Ok(())
        } else {
            Err(self.err("unexpected data after the top-level value"))
        }
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.b[self.i..].starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Node, String> {
        self.ws();
        match self.b.get(self.i) {
            None => Err(self.err("unexpected end of input")),
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().map(Node::String),
            Some(b'-' | b'0'..=b'9') => self.number().map(Node::Number),
            Some(_) if self.eat(b"true") => Ok(Node::Bool(true)),
            Some(_) if self.eat(b"false") => Ok(Node::Bool(false)),
            Some(_) if self.eat(b"null") => Ok(Node::Null),
            Some(_) => Err(self.err("expected a value")),
        }
    }

    fn nest(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        self.i += 1;
        Ok(())
    }

    fn object(&mut self) -> Result<Node, String> {
        self.nest()?;
        let mut members = Vec::new();
        self.ws();
        if self.eat(b"}") {
            self.depth -= 1;
            return Ok(Node::Object(members));
        }
        loop {
            self.ws();
            if self.b.get(self.i) != Some(&b'"') {
                return Err(self.err("expected a string key"));
            }
            let key = self.string()?;
            self.ws();
            if !self.eat(b":") {
                return Err(self.err("expected ':' after an object key"));
            }
            let value = self.value()?;
            members.push((key, value));
            self.ws();
            if self.eat(b",") {
                continue;
            }
            if self.eat(b"}") {
                self.depth -= 1;
                return Ok(Node::Object(members));
            }
            return Err(self.err("expected ',' or '}' in an object"));
        }
    }

    fn array(&mut self) -> Result<Node, String> {
        self.nest()?;
        let mut items = Vec::new();
        self.ws();
        if self.eat(b"]") {
            self.depth -= 1;
            return Ok(Node::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.ws();
            if self.eat(b",") {
                continue;
            }
            if self.eat(b"]") {
                self.depth -= 1;
                return Ok(Node::Array(items));
            }
            return Err(self.err("expected ',' or ']' in an array"));
        }
    }

    fn number(&mut self) -> Result<String, String> {
        let start = self.i;
        let digits = |p: &mut Self| {
            let s = p.i;
            while p.i < p.b.len() && p.b[p.i].is_ascii_digit() {
                p.i += 1;
            }
            p.i - s
        };
        self.eat(b"-");
        if !self.eat(b"0") && digits(self) == 0 {
            return Err(self.err("bad number"));
        }
        if self.eat(b".") && digits(self) == 0 {
            return Err(self.err("bad number"));
        }
        if self.eat(b"e") || self.eat(b"E") {
            let _ = self.eat(b"+") || self.eat(b"-");
            if digits(self) == 0 {
                return Err(self.err("bad number"));
            }
        }
        Ok(String::from_utf8_lossy(&self.b[start..self.i]).into_owned())
    }

    /// A string, unquoted as Go does: invalid UTF-8 bytes and lone surrogates become U+FFFD.
    fn string(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        let hex4 = |p: &Self, at: usize| -> Option<u32> {
            let h = p.b.get(at..at + 4)?;
            if !h.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
        };
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return Err(self.err("unterminated string"));
            };
            match c {
                b'"' => {
                    self.i += 1;
                    break;
                }
                0..=0x1f => return Err(self.err("control character in a string")),
                b'\\' => {
                    let e = self.b.get(self.i + 1).copied();
                    self.i += 2;
                    match e {
                        Some(b'"') => out.push(b'"'),
                        Some(b'\\') => out.push(b'\\'),
                        Some(b'/') => out.push(b'/'),
                        Some(b'b') => out.push(0x08),
                        Some(b'f') => out.push(0x0c),
                        Some(b'n') => out.push(b'\n'),
                        Some(b'r') => out.push(b'\r'),
                        Some(b't') => out.push(b'\t'),
                        Some(b'u') => {
                            let Some(mut r) = hex4(self, self.i) else {
                                return Err(self.err("bad \\u escape"));
                            };
                            self.i += 4;
                            if (0xd800..0xe000).contains(&r) {
                                let low = (self.b.get(self.i..self.i + 2) == Some(b"\\u"))
                                    .then(|| hex4(self, self.i + 2))
                                    .flatten();
                                match low {
                                    Some(r2)
                                        if (0xd800..0xdc00).contains(&r)
                                            && (0xdc00..0xe000).contains(&r2) =>
                                    {
                                        r = 0x10000 + ((r - 0xd800) << 10) + (r2 - 0xdc00);
                                        self.i += 6;
                                    }
                                    _ => r = 0xfffd,
                                }
                            }
                            let ch = char::from_u32(r).unwrap_or('\u{fffd}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(self.err("bad escape in a string")),
                    }
                }
                _ => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        // Go replaces each invalid byte with U+FFFD.
        let mut s = String::with_capacity(out.len());
        for chunk in out.utf8_chunks() {
            s.push_str(chunk.valid());
            for _ in chunk.invalid() {
                s.push('\u{fffd}');
            }
        }
        Ok(s)
    }
}

fn parse(json: &[u8]) -> Result<Node, String> {
    let mut p = Parser::new(json);
    let node = p.value()?;
    p.end()?;
    Ok(node)
}

// ---------------------------------------------------------------------------------------------
// Go encoding/json output

#[derive(Clone, Copy, PartialEq, Eq)]
enum Numbers {
    /// `json.Number`: written as in the source.
    AsWritten,
    /// `float64` (decoded without `UseNumber`): re-encoded by Go's float rules.
    Float64,
}

fn go_float(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(f),
        _ => Err("a number in the secret does not fit a Go float64".to_string()),
    }
}

/// Go's string encoding with `SetEscapeHTML(true)` (the `json.Marshal` default).
fn go_quote(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn marshal(out: &mut String, node: &Node, numbers: Numbers) -> Result<(), String> {
    match node {
        Node::Null => out.push_str("null"),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Number(text) => match numbers {
            Numbers::AsWritten => out.push_str(text),
            Numbers::Float64 => out.push_str(&go_json_float(go_float(text)?)),
        },
        Node::String(s) => go_quote(out, s),
        Node::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                marshal(out, item, numbers)?;
            }
            out.push(']');
        }
        Node::Object(members) => {
            // A Go map: the last duplicate wins, keys sorted by bytes.
            let map: BTreeMap<&str, &Node> = members.iter().map(|(k, v)| (k.as_str(), v)).collect();
            out.push('{');
            for (i, (key, value)) in map.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_quote(out, key);
                out.push(':');
                marshal(out, value, numbers)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn from_value(value: &Value) -> Node {
    match value {
        Value::Null => Node::Null,
        Value::Bool(b) => Node::Bool(*b),
        Value::Number(n) => Node::Number(n.to_string()),
        Value::String(s) => Node::String(s.clone()),
        Value::Array(items) => Node::Array(items.iter().map(from_value).collect()),
        Value::Object(map) => Node::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), from_value(v)))
                .collect(),
        ),
    }
}

/// Go `json.Marshal` of a value decoded from Vault (numbers are `json.Number`): compact, keys
/// sorted by bytes, `<` `>` `&` U+2028 U+2029 escaped as `\u003c`…, `\b` `\f` `\n` `\r` `\t`
/// short, other control characters `\u00XX`. Integers keep their text; a float is written by
/// `serde_json` (shortest round trip, e.g. `1.5`, `1e21`), since `Value` has lost how Vault
/// spelled it.
pub fn go_json_marshal(value: &Value) -> String {
    let mut out = String::new();
    // AsWritten never fails.
    let _ = marshal(&mut out, &from_value(value), Numbers::AsWritten);
    out
}

fn byte_value(node: &Node, numbers: Numbers) -> Result<Vec<u8>, String> {
    Ok(match node {
        Node::Null => Vec::new(),
        Node::Bool(b) => if *b { "true" } else { "false" }.as_bytes().to_vec(),
        Node::String(s) => s.as_bytes().to_vec(),
        Node::Number(text) => match numbers {
            Numbers::AsWritten => text.as_bytes().to_vec(),
            Numbers::Float64 => format_float_f(go_float(text)?).into_bytes(),
        },
        Node::Array(_) | Node::Object(_) => {
            let mut out = String::new();
            marshal(&mut out, node, numbers)?;
            out.into_bytes()
        }
    })
}

/// ESO's `GetByteValue` for a value of a Vault secret (numbers are `json.Number`): a string as
/// is, an object or array via [`go_json_marshal`], a number as its text, `true`/`false`, null
/// → empty.
pub fn vault_byte_value(value: &Value) -> Vec<u8> {
    // AsWritten never fails.
    byte_value(&from_value(value), Numbers::AsWritten).unwrap_or_default()
}

/// Vault `GetSecret` (ESO's `getSecretValue`) over the secret's `data` (KV v2: `.data.data`).
/// No property: the whole data as [`go_json_marshal`]. A property equal to a top-level key:
/// that value via [`vault_byte_value`]. Else a gjson path over the marshalled data; `Ok(None)`
/// means ESO's error `cannot find secret data for key: "<property>"`.
pub fn vault_secret_value(
    data: &serde_json::Map<String, Value>,
    property: &str,
) -> Result<Option<Vec<u8>>, PropertyError> {
    let members = data
        .iter()
        .map(|(k, v)| (k.clone(), from_value(v)))
        .collect();
    vault_value_of(members, property)
}

/// [`vault_secret_value`] over the JSON text of the secret's `data` object exactly as Vault sent
/// it, for a caller that has the text (`serde_json`'s `RawValue`): numbers keep Vault's spelling
/// wherever Go keeps a `json.Number` (the whole secret, a top-level key: `1.50` stays `1.50`,
/// where a `Value` has made it `1.5`), and the last duplicate key wins, as in a Go map.
/// [`PropertyError::NotAnObject`] when `data` is not a JSON object.
pub fn vault_secret_value_raw(
    data: &serde_json::value::RawValue,
    property: &str,
) -> Result<Option<Vec<u8>>, PropertyError> {
    match parse(data.get().as_bytes()) {
        Ok(Node::Object(members)) => vault_value_of(members, property),
        Ok(_) => Err(PropertyError::NotAnObject(
            "the secret's data is not a JSON object".to_string(),
        )),
        Err(e) => Err(PropertyError::NotAnObject(e)),
    }
}

fn vault_value_of(
    members: Vec<(String, Node)>,
    property: &str,
) -> Result<Option<Vec<u8>>, PropertyError> {
    let whole = Node::Object(members);
    let mut json = String::new();
    // AsWritten never fails.
    let _ = marshal(&mut json, &whole, Numbers::AsWritten);
    if property.is_empty() {
        return Ok(Some(json.into_bytes()));
    }
    if let Node::Object(members) = &whole {
        // A Go map: the last duplicate wins.
        if let Some((_, value)) = members.iter().rev().find(|(k, _)| k == property) {
            return Ok(Some(
                byte_value(value, Numbers::AsWritten).unwrap_or_default(),
            ));
        }
    }
    Ok(get(json.as_bytes(), property)?.map(|f| f.text()))
}

/// Vault `GetSecretMap` over what [`vault_secret_value`] returned: decoded again with Go's
/// `json.Unmarshal` into `map[string]any` (no `UseNumber`, so every number is a float64: `1.50`
/// → `1.5`, top-level `1e21` → `1000000000000000000000`, nested `1e21` → `1e+21`), then
/// `GetByteValue` per key. `null` gives an empty map, as in Go; anything else but an object is
/// an error.
pub fn vault_secret_map(secret: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, String> {
    match parse(secret)? {
        Node::Null => Ok(BTreeMap::new()),
        Node::Object(members) => {
            let mut out = BTreeMap::new();
            for (key, value) in &members {
                out.insert(key.clone(), byte_value(value, Numbers::Float64)?);
            }
            Ok(out)
        }
        _ => Err("the secret is not a JSON object".to_string()),
    }
}

/// AWS `GetSecret` with a `property` over the payload (`SecretBinary` if set, else
/// `SecretString`): if the property has a `.` and the property with every `.` escaped exists,
/// that wins (a key such as `a.b`); else the property is a gjson path. The value is gjson's
/// `String()` ([`Found::text`]). `Ok(None)` means ESO's error
/// `key <property> does not exist in secret <key>`.
pub fn aws_property(payload: &[u8], property: &str) -> Result<Option<Vec<u8>>, PropertyError> {
    if property.contains('.') {
        let escaped = property.replace('.', "\\.");
        if let Some(found) = get(payload, &escaped)? {
            return Ok(Some(found.text()));
        }
    }
    Ok(get(payload, property)?.map(|f| f.text()))
}

/// AWS `GetSecretMap` over what `GetSecret` returned: a JSON object whose string values are
/// unquoted and every other value kept as its raw text (`123`, `true`, `{"a": 1}` with its
/// spacing), except `null`, which Go decodes into a string as empty. The last duplicate key
/// wins; a top-level `null` is an empty map; anything else but an object is an error (ESO:
/// `unable to unmarshal secret <key>`).
pub fn aws_secret_map(secret: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut p = Parser::new(secret);
    p.ws();
    if p.eat(b"null") {
        p.end()?;
        return Ok(BTreeMap::new());
    }
    if p.b.get(p.i) != Some(&b'{') {
        // Validate first so a broken document reports where, as Go does.
        parse(secret)?;
        return Err("the secret is not a JSON object".to_string());
    }
    p.nest()?;
    let mut out = BTreeMap::new();
    p.ws();
    if !p.eat(b"}") {
        loop {
            p.ws();
            if p.b.get(p.i) != Some(&b'"') {
                return Err(p.err("expected a string key"));
            }
            let key = p.string()?;
            p.ws();
            if !p.eat(b":") {
                return Err(p.err("expected ':' after an object key"));
            }
            p.ws();
            let start = p.i;
            let value = p.value()?;
            let bytes = match value {
                Node::String(s) => s.into_bytes(),
                Node::Null => Vec::new(),
                _ => secret[start..p.i].to_vec(),
            };
            out.insert(key, bytes);
            p.ws();
            if p.eat(b",") {
                continue;
            }
            if p.eat(b"}") {
                break;
            }
            return Err(p.err("expected ',' or '}' in an object"));
        }
    }
    p.end()?;
    Ok(out)
}

/// gjson's `String()` of a value that is only available as a `serde_json::Value`: strings as
/// is, integers as written, other numbers via Go `FormatFloat('f', -1)`, `true`/`false`,
/// null → empty; objects and arrays as compact JSON with sorted keys (gjson would return the
/// original text; prefer [`get`] + [`Found::text`] when the raw document is at hand).
pub fn gjson_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => {
            if n.is_i64() || n.is_u64() {
                n.to_string()
            } else {
                format_float_f(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::Array(_) | Value::Object(_) => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(json: &str, path: &str) -> Option<String> {
        get(json.as_bytes(), path)
            .unwrap()
            .map(|f| String::from_utf8(f.text()).unwrap())
    }

    const DOC: &str = r#"{
      "name": {"first": "Tom", "last": "Anderson"},
      "age": 37,
      "children": ["Sara", "Alex", "Jack"],
      "fav.movie": "Deer Hunter",
      "friends": [
        {"first": "Dale", "last": "Murphy", "age": 44, "nets": ["ig", "fb", "tw"]},
        {"first": "Roger", "last": "Craig", "age": 68, "nets": ["fb", "tw"]},
        {"first": "Jane", "last": "Murphy", "age": 47, "nets": ["ig", "tw"]}
      ]
    }"#;

    #[test]
    fn gjson_readme_paths() {
        // The examples of gjson's README that fall in the supported subset.
        assert_eq!(text(DOC, "name.last").as_deref(), Some("Anderson"));
        assert_eq!(text(DOC, "age").as_deref(), Some("37"));
        assert_eq!(
            text(DOC, "children").as_deref(),
            Some(r#"["Sara", "Alex", "Jack"]"#)
        );
        assert_eq!(text(DOC, "children.#").as_deref(), Some("3"));
        assert_eq!(text(DOC, "children.1").as_deref(), Some("Alex"));
        assert_eq!(text(DOC, "child*.2").as_deref(), Some("Jack"));
        assert_eq!(text(DOC, "c?ildren.0").as_deref(), Some("Sara"));
        assert_eq!(text(DOC, r"fav\.movie").as_deref(), Some("Deer Hunter"));
        assert_eq!(
            text(DOC, "friends.#.first").as_deref(),
            Some(r#"["Dale","Roger","Jane"]"#)
        );
        assert_eq!(text(DOC, "friends.1.last").as_deref(), Some("Craig"));
        assert_eq!(text(DOC, "friends.#.age").as_deref(), Some("[44,68,47]"));
        assert_eq!(text(DOC, "friends.#.nets.#").as_deref(), Some("[3,2,2]"));
        assert_eq!(text(DOC, "friends.#").as_deref(), Some("3"));
    }

    #[test]
    fn missing_paths_do_not_exist() {
        assert_eq!(text(DOC, "name.middle"), None);
        assert_eq!(text(DOC, "children.3"), None);
        assert_eq!(text(DOC, "children.x"), None);
        assert_eq!(text(DOC, "age.x"), None);
        assert_eq!(text(DOC, "fav.movie"), None);
        assert_eq!(text("not json", "a"), None);
        assert_eq!(text("", "a"), None);
        assert_eq!(text(r#"{"a": "unterminated"#, "a"), None);
    }

    #[test]
    fn value_text_rules() {
        let doc = r#"{"s":"a\"b\u00e9\n","i":-12,"f":1.50,"e":1e3,"big":1E21,"t":true,"n":null,
                      "o": { "x" : 1 },"a":[1, 2],"z":-0,"u":"\ud83d\ude00"}"#;
        assert_eq!(text(doc, "s").as_deref(), Some("a\"bé\n"));
        assert_eq!(text(doc, "i").as_deref(), Some("-12"));
        assert_eq!(text(doc, "f").as_deref(), Some("1.5"));
        assert_eq!(text(doc, "e").as_deref(), Some("1000"));
        assert_eq!(text(doc, "big").as_deref(), Some("1000000000000000000000"));
        assert_eq!(text(doc, "t").as_deref(), Some("true"));
        // null exists, with empty text.
        assert_eq!(text(doc, "n").as_deref(), Some(""));
        assert_eq!(
            get(doc.as_bytes(), "n").unwrap().unwrap().kind(),
            Kind::Null
        );
        // Objects and arrays keep their original spacing.
        assert_eq!(text(doc, "o").as_deref(), Some(r#"{ "x" : 1 }"#));
        assert_eq!(text(doc, "a").as_deref(), Some("[1, 2]"));
        assert_eq!(text(doc, "z").as_deref(), Some("-0"));
        assert_eq!(text(doc, "u").as_deref(), Some("😀"));
    }

    #[test]
    fn first_match_wins_and_keys_are_unescaped() {
        assert_eq!(text(r#"{"a":1,"a":2}"#, "a").as_deref(), Some("1"));
        // gjson keeps looking when the first "a" lacks the rest of the path.
        assert_eq!(
            text(r#"{"a":{"x":1},"a":{"b":2}}"#, "a.b").as_deref(),
            Some("2")
        );
        assert_eq!(text(r#"{"a\u002eb":3}"#, r"a\.b").as_deref(), Some("3"));
        assert_eq!(text(r#"{"a\"b":4}"#, "a\"b").as_deref(), Some("4"));
        // A top-level array.
        assert_eq!(text(r#"[{"k":"v"}]"#, "0.k").as_deref(), Some("v"));
        assert_eq!(text(r#"[]"#, "#").as_deref(), Some("0"));
        // Array indexes are read as written: an escaped digit is not an index.
        assert_eq!(text(r#"[0,1,2,3,4,5,6,7,8,9,10,11,12]"#, r"1\2"), None);
        assert_eq!(
            text(r#"[0,1,2,3,4,5,6,7,8,9,10,11,12]"#, "12").as_deref(),
            Some("12")
        );
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("hello", "h*o"));
        assert!(wildcard_match("hello", "*"));
        assert!(wildcard_match("", "*"));
        assert!(wildcard_match("héllo", "h?llo"));
        assert!(!wildcard_match("hello", "h?o"));
        assert!(wildcard_match("a*b", r"a\*b"));
        assert!(!wildcard_match("axb", r"a\*b"));
        assert!(wildcard_match("abcabd", "*abd"));
        assert_eq!(text(r#"{"key1":1,"key2":2}"#, "key*").as_deref(), Some("1"));
    }

    #[test]
    fn unsupported_syntax_is_refused_not_guessed() {
        for path in [
            "friends.#(last==\"Murphy\").first",
            "friends.#[age>45]",
            "children|@reverse",
            "children.@reverse",
            "@reverse",
            "[name.first,age]",
            "{name.first,age}",
            "..0",
            "!true",
            "a|b",
        ] {
            let err = get(DOC.as_bytes(), path).unwrap_err();
            assert!(
                matches!(err, PropertyError::Unsupported { path: ref p, .. } if p == path),
                "{path}"
            );
            assert!(
                err.to_string().contains("does not support"),
                "{path}: {err}"
            );
        }
        // Not modifiers: plain keys.
        assert_eq!(text(r#"{"@foo":1}"#, "@foo").as_deref(), Some("1"));
        assert_eq!(text(r#"{"!foo":1}"#, "!foo").as_deref(), Some("1"));
        assert_eq!(text(r#"{"a":{"@x":2}}"#, "a.@x").as_deref(), Some("2"));
    }

    #[test]
    fn aws_property_prefers_escaped_dots() {
        let payload = br#"{"a.b": "dotted", "a": {"b": "nested", "c": "only"}}"#;
        let got = |p| {
            aws_property(payload, p)
                .unwrap()
                .map(|v| String::from_utf8(v).unwrap())
        };
        assert_eq!(got("a.b").as_deref(), Some("dotted"));
        assert_eq!(got("a.c").as_deref(), Some("only"));
        assert_eq!(got("a.x"), None);
        // Binary payloads that are not UTF-8 still work.
        let binary = b"{\"k\": \"\xff\xfe\"}";
        assert_eq!(
            aws_property(binary, "k").unwrap(),
            Some(b"\xff\xfe".to_vec())
        );
    }

    #[test]
    fn aws_secret_map_rules() {
        let m = aws_secret_map(
            br#" {"s": "x\ny", "n": 123, "f": 1.50, "b": true, "o": {"a": 1}, "a": [1, "2"], "z": null, "s": "last"} "#,
        )
        .unwrap();
        assert_eq!(m["s"], b"last");
        assert_eq!(m["n"], b"123");
        assert_eq!(m["f"], b"1.50");
        assert_eq!(m["b"], b"true");
        assert_eq!(m["o"], br#"{"a": 1}"#);
        assert_eq!(m["a"], br#"[1, "2"]"#);
        assert_eq!(m["z"], b"");
        assert_eq!(m.len(), 7);
        assert!(aws_secret_map(b"null").unwrap().is_empty());
        assert!(aws_secret_map(b"{}").unwrap().is_empty());
        assert!(aws_secret_map(b"[1]").is_err());
        assert!(aws_secret_map(b"\"str\"").is_err());
        assert!(aws_secret_map(b"plain text").is_err());
        let err = aws_secret_map(br#"{"k": "v",}"#).unwrap_err();
        assert!(err.contains("byte"), "{err}");
        assert!(aws_secret_map(br#"{"k": 01}"#).is_err());
        assert!(aws_secret_map(br#"{"k": "a"} x"#).is_err());
        assert!(aws_secret_map(b"{\"k\": \"tab\there\"}").is_err());
    }

    #[test]
    fn go_marshal_escaping_and_order() {
        let v = json!({"b": "<a href=\"x\">&</a>", "a": [1, 2.5, null, true],
                       "é": "\u{2028}\u{2029}\u{0001}\u{0008}\u{000c}\t\u{007f}/"});
        assert_eq!(
            go_json_marshal(&v),
            concat!(
                r#"{"a":[1,2.5,null,true],"b":"\u003ca href=\"x\"\u003e\u0026\u003c/a\u003e","#,
                r#""é":"\u2028\u2029\u0001\b\f\t"#,
                "\u{7f}",
                r#"/"}"#
            )
        );
        assert_eq!(go_json_marshal(&json!({})), "{}");
        assert_eq!(
            go_json_marshal(&json!({"Z": 1, "a": 2, "B": 3})),
            r#"{"B":3,"Z":1,"a":2}"#
        );
        assert_eq!(
            go_json_marshal(&json!(18446744073709551615u64)),
            "18446744073709551615"
        );
    }

    #[test]
    fn vault_byte_values() {
        assert_eq!(vault_byte_value(&json!("raw <s>")), b"raw <s>");
        assert_eq!(vault_byte_value(&json!({"k": "<"})), br#"{"k":"\u003c"}"#);
        assert_eq!(vault_byte_value(&json!([1, "a"])), br#"[1,"a"]"#);
        assert_eq!(vault_byte_value(&json!(42)), b"42");
        assert_eq!(vault_byte_value(&json!(-7)), b"-7");
        assert_eq!(vault_byte_value(&json!(false)), b"false");
        assert_eq!(vault_byte_value(&json!(null)), b"");
    }

    #[test]
    fn vault_secret_value_rules() {
        let data = json!({"user": "app", "port": 5432, "a.b": "key-with-dot",
                          "nested": {"pw": "s3cr&t", "n": 1}});
        let data = data.as_object().unwrap();
        let get = |p| {
            vault_secret_value(data, p)
                .unwrap()
                .map(|v| String::from_utf8(v).unwrap())
        };
        assert_eq!(
            get("").as_deref(),
            Some(
                r#"{"a.b":"key-with-dot","nested":{"n":1,"pw":"s3cr\u0026t"},"port":5432,"user":"app"}"#
            )
        );
        // A top-level key wins over gjson.
        assert_eq!(get("a.b").as_deref(), Some("key-with-dot"));
        assert_eq!(get("port").as_deref(), Some("5432"));
        assert_eq!(
            get("nested").as_deref(),
            Some(r#"{"n":1,"pw":"s3cr\u0026t"}"#)
        );
        // gjson over the marshalled text: strings are unescaped again.
        assert_eq!(get("nested.pw").as_deref(), Some("s3cr&t"));
        assert_eq!(get("nested.x"), None);
        assert!(vault_secret_value(data, "nested|@this").is_err());
    }

    #[test]
    fn vault_secret_value_raw_keeps_vault_number_text() {
        let value = |data: &str, property: &str| {
            let raw: Box<serde_json::value::RawValue> = serde_json::from_str(data).unwrap();
            vault_secret_value_raw(&raw, property)
                .unwrap()
                .map(|v| String::from_utf8(v).unwrap())
        };
        // The whole data: keys sorted, the last duplicate wins, numbers as Vault wrote them.
        assert_eq!(
            value(
                r#"{"z":1.50,"a":"<b>&amp;</b>","m":{"y":[1e21,true,null],"x":"\u2028\n\u0001\b\f\t\"\\é"},"n":12345678901234567890123,"a":"last wins"}"#,
                ""
            )
            .as_deref(),
            Some(
                r#"{"a":"last wins","m":{"x":"\u2028\n\u0001\b\f\t\"\\é","y":[1e21,true,null]},"n":12345678901234567890123,"z":1.50}"#
            )
        );
        let secret = r#"{"num":42,"float":1.50,"big":1e3,"o":{"f":1.50,"e":1e3,"i":-7,"h":"<&>"},"list":["a",2],"dotted.key":"literal","nothing":null,"d":1,"d":2}"#;
        // A top-level key keeps a number's text; a gjson path re-formats non-integers.
        assert_eq!(value(secret, "num").as_deref(), Some("42"));
        assert_eq!(value(secret, "float").as_deref(), Some("1.50"));
        assert_eq!(value(secret, "big").as_deref(), Some("1e3"));
        assert_eq!(value(secret, "d").as_deref(), Some("2"));
        assert_eq!(value(secret, "o.f").as_deref(), Some("1.5"));
        assert_eq!(value(secret, "o.e").as_deref(), Some("1000"));
        assert_eq!(value(secret, "o.i").as_deref(), Some("-7"));
        assert_eq!(value(secret, "o.h").as_deref(), Some("<&>"));
        assert_eq!(value(secret, "list").as_deref(), Some(r#"["a",2]"#));
        assert_eq!(value(secret, "list.#").as_deref(), Some("2"));
        assert_eq!(value(secret, "dotted.key").as_deref(), Some("literal"));
        assert_eq!(value(secret, "nothing").as_deref(), Some(""));
        assert_eq!(value(secret, "nop.doesnt.exist"), None);
        assert_eq!(value("{}", "").as_deref(), Some("{}"));
        let not_object: Box<serde_json::value::RawValue> =
            serde_json::from_str(r#""hunter2""#).unwrap();
        let err = vault_secret_value_raw(&not_object, "").unwrap_err();
        assert!(matches!(err, PropertyError::NotAnObject(_)), "{err:?}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        // Nor do vault_secret_map's errors quote the secret.
        let err = vault_secret_map(br#"{"k":"hunter2""#).unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn vault_secret_map_uses_float64_numbers() {
        let m = vault_secret_map(
            br#"{"s":"x","i":5432,"f":1.50,"big":1e21,"small":1e-7,"huge":12345678901234567890123,
                 "o":{"n":1e21,"m":1e-7,"k":0.000001,"q":1.0,"big":1e20},"a":[2.50],"t":true,"z":null}"#,
        )
        .unwrap();
        let s = |k: &str| String::from_utf8(m[k].clone()).unwrap();
        assert_eq!(s("s"), "x");
        assert_eq!(s("i"), "5432");
        assert_eq!(s("f"), "1.5");
        assert_eq!(s("big"), "1000000000000000000000");
        assert_eq!(s("small"), "0.0000001");
        assert_eq!(s("huge"), "12345678901234568000000");
        assert_eq!(
            s("o"),
            r#"{"big":100000000000000000000,"k":0.000001,"m":1e-7,"n":1e+21,"q":1}"#
        );
        assert_eq!(s("a"), "[2.5]");
        assert_eq!(s("t"), "true");
        assert_eq!(s("z"), "");
        assert!(vault_secret_map(b"null").unwrap().is_empty());
        assert!(vault_secret_map(b"\"just a string\"").is_err());
        let err = vault_secret_map(br#"{"n":1e999}"#).unwrap_err();
        assert!(!err.contains("1e999"), "{err}");
    }

    #[test]
    fn go_float_formats() {
        assert_eq!(format_float_f(0.1), "0.1");
        assert_eq!(format_float_f(1e21), "1000000000000000000000");
        assert_eq!(format_float_f(-0.0), "-0");
        assert_eq!(format_float_f(f64::INFINITY), "+Inf");
        assert_eq!(go_json_float(1e21), "1e+21");
        assert_eq!(go_json_float(1.5e300), "1.5e+300");
        assert_eq!(go_json_float(1e-7), "1e-7");
        assert_eq!(go_json_float(1.25e-10), "1.25e-10");
        assert_eq!(go_json_float(123.0), "123");
        assert_eq!(go_json_float(0.0), "0");
    }

    #[test]
    fn gjson_text_of_values() {
        assert_eq!(gjson_text(&json!("s")), "s");
        assert_eq!(gjson_text(&json!(12)), "12");
        assert_eq!(gjson_text(&json!(1.0)), "1");
        assert_eq!(gjson_text(&json!(0.5)), "0.5");
        assert_eq!(gjson_text(&json!(true)), "true");
        assert_eq!(gjson_text(&json!(null)), "");
        assert_eq!(gjson_text(&json!({"b": 1, "a": [2]})), r#"{"a":[2],"b":1}"#);
    }

    #[test]
    fn strict_parser_unquotes_like_go() {
        let node = parse(b"\"\\ud800x\\u00e9\xff\"").unwrap();
        assert_eq!(node, Node::String("\u{fffd}xé\u{fffd}".into()));
        assert!(parse(b"\"\\x\"").is_err());
        assert!(parse(b"[1,]").is_err());
        assert!(parse(&[b'['; MAX_DEPTH + 1]).is_err());
        assert!(parse(b" {\"a\" : [ -0.5e+3 , false ] } ").is_ok());
    }
}
