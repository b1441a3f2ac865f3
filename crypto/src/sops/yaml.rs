//! The YAML store (spec `sops.md` §2.2, §6): documents read from parser events with their
//! comments, plain scalars typed as yaml.v3 types them, and output written the way sops's
//! yaml.v3 encoder writes it (4-space indentation, sequences indented under their key, yaml.v3
//! quoting, `|` blocks for multi-line text, comments above what they belong to).

use std::collections::HashMap;
use std::iter::Peekable;

use granit_parser::{Event, Parser, Placement, ScalarStyle};

use super::error::Error;
use super::metadata::Metadata;
use super::value::{Branch, Entry, Scalar, Value};

const METADATA_KEY: &str = "sops";
const INDENT: usize = 4;

type Events<'a> = Peekable<Parser<'a, granit_parser::StrInput<'a>>>;

/// Reads every document of a YAML stream into a branch.
pub fn parse(text: &str) -> Result<Vec<Branch>, Error> {
    let mut reader = Reader {
        events: Parser::new_from_str(text).peekable(),
        anchors: HashMap::new(),
        comments: Vec::new(),
        expanded: 0,
    };
    reader.stream()
}

/// How many nodes aliases may expand to in one file, like yaml.v3's guard against alias bombs.
const ALIAS_BUDGET: usize = 1_000_000;

struct Reader<'a> {
    events: Events<'a>,
    anchors: HashMap<usize, Value>,
    /// Comments seen and not yet placed, with their column.
    comments: Vec<(String, usize)>,
    /// Nodes produced by alias expansion so far.
    expanded: usize,
}

fn syntax(e: impl std::fmt::Display) -> Error {
    Error::Store(format!("invalid YAML: {e}"))
}

impl<'a> Reader<'a> {
    /// The next node event with its column; comments go to the pending list.
    fn next(&mut self) -> Result<(Event<'a>, usize), Error> {
        loop {
            let (event, span) = self
                .events
                .next()
                .ok_or_else(|| syntax("unexpected end of input"))?
                .map_err(syntax)?;
            match event {
                Event::Comment(text, _) => {
                    self.comments.push((text.into_owned(), span.start.col()))
                }
                Event::Anchor(..) => {}
                other => return Ok((other, span.start.col())),
            }
        }
    }

    /// Moves comment events waiting in the stream to the pending list.
    fn pull_comments(&mut self) -> Result<(), Error> {
        while let Some(Ok((Event::Comment(..), _))) = self.events.peek() {
            if let Some(Ok((Event::Comment(text, _), span))) = self.events.next() {
                self.comments.push((text.into_owned(), span.start.col()));
            }
        }
        match self.events.peek() {
            Some(Err(_)) => Err(syntax(
                self.events
                    .next()
                    .and_then(Result::err)
                    .expect("peeked an error"),
            )),
            _ => Ok(()),
        }
    }

    fn peek_is(&mut self, end: fn(&Event<'_>) -> bool) -> Result<bool, Error> {
        self.pull_comments()?;
        Ok(matches!(self.events.peek(), Some(Ok((event, _))) if end(event)))
    }

    /// Takes a same-line comment that follows the node just read, if any.
    fn right_comment(&mut self) -> Option<String> {
        match self.events.peek() {
            Some(Ok((Event::Comment(_, Placement::Right), _))) => match self.events.next() {
                Some(Ok((Event::Comment(text, _), _))) => Some(text.into_owned()),
                _ => None,
            },
            _ => None,
        }
    }

    fn take_comments(&mut self) -> Vec<String> {
        std::mem::take(&mut self.comments)
            .into_iter()
            .map(|(text, _)| text)
            .collect()
    }

    /// At the end of a block that started at `col`: the pending comments indented at least as
    /// far belong to it (yaml.v3's foot comments); the rest wait for the enclosing block.
    fn take_foot_comments(&mut self, col: usize) -> Vec<String> {
        let (mine, outer): (Vec<_>, Vec<_>) = std::mem::take(&mut self.comments)
            .into_iter()
            .partition(|(_, c)| *c >= col);
        self.comments = outer;
        mine.into_iter().map(|(text, _)| text).collect()
    }

    fn stream(&mut self) -> Result<Vec<Branch>, Error> {
        let mut docs = Vec::new();
        loop {
            match self.next()?.0 {
                Event::StreamStart => {}
                Event::StreamEnd => return Ok(docs),
                Event::DocumentStart(..) => {
                    let mut branch = match self.next()? {
                        (Event::MappingStart(_, anchor, _), col) => self.mapping(anchor, col)?,
                        (Event::Scalar(text, ScalarStyle::Plain, _, _), _) if is_null(&text) => {
                            Branch::new()
                        }
                        _ => {
                            return Err(Error::Store(
                                "YAML documents that are sequences or scalars are not supported"
                                    .into(),
                            ));
                        }
                    };
                    match self.next()?.0 {
                        Event::DocumentEnd => {}
                        other => {
                            return Err(syntax(format!(
                                "expected the end of a document, got {other:?}"
                            )));
                        }
                    }
                    branch.extend(self.take_comments().into_iter().map(Entry::Comment));
                    docs.push(branch);
                }
                other => return Err(syntax(format!("unexpected {other:?}"))),
            }
        }
    }

    fn mapping(&mut self, anchor: usize, col: usize) -> Result<Branch, Error> {
        let mut branch = Branch::new();
        let mut keys = std::collections::HashSet::new();
        loop {
            if self.peek_is(|e| matches!(e, Event::MappingEnd))? {
                self.next()?;
                branch.extend(self.take_foot_comments(col).into_iter().map(Entry::Comment));
                break;
            }
            let key = match self.next()?.0 {
                Event::Scalar(text, ..) => text.into_owned(),
                other => {
                    return Err(Error::Store(format!(
                        "only string keys are supported, found {other:?}"
                    )));
                }
            };
            if !keys.insert(key.clone()) {
                return Err(Error::Store(format!("mapping key {key:?} already defined")));
            }
            branch.extend(self.take_comments().into_iter().map(Entry::Comment));
            let right_of_key = self.right_comment();
            let value = self.node()?;
            let right_of_value = if matches!(value, Value::Scalar(_) | Value::Null) {
                self.right_comment()
            } else {
                None
            };
            // sops keeps a key's and a scalar value's comments before the entry.
            branch.extend(
                right_of_key
                    .into_iter()
                    .chain(right_of_value)
                    .map(Entry::Comment),
            );
            // A merge key simply stays a key named `<<` holding the merged mapping (spec §2.2).
            branch.push(Entry::Pair(key, value));
        }
        if anchor != 0 {
            self.anchors.insert(anchor, Value::Map(branch.clone()));
        }
        Ok(branch)
    }

    fn sequence(&mut self, anchor: usize, col: usize) -> Result<Vec<Value>, Error> {
        let mut items = Vec::new();
        loop {
            if self.peek_is(|e| matches!(e, Event::SequenceEnd))? {
                self.next()?;
                items.extend(self.take_foot_comments(col).into_iter().map(Value::Comment));
                break;
            }
            items.extend(self.take_comments().into_iter().map(Value::Comment));
            let item = self.node()?;
            let right = matches!(item, Value::Scalar(_) | Value::Null)
                .then(|| self.right_comment())
                .flatten();
            items.extend(right.map(Value::Comment));
            items.push(item);
        }
        if anchor != 0 {
            self.anchors.insert(anchor, Value::Seq(items.clone()));
        }
        Ok(items)
    }

    fn node(&mut self) -> Result<Value, Error> {
        match self.next()? {
            (Event::MappingStart(_, anchor, _), col) => Ok(Value::Map(self.mapping(anchor, col)?)),
            (Event::SequenceStart(_, anchor, _), col) => {
                Ok(Value::Seq(self.sequence(anchor, col)?))
            }
            (Event::Scalar(text, style, anchor, tag), _) => {
                let tag = tag.map(|t| t.to_string());
                let value = scalar(&text, style, tag.as_deref());
                if anchor != 0 {
                    self.anchors.insert(anchor, value.clone());
                }
                Ok(value)
            }
            (Event::Alias(id), _) => {
                let value = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| syntax("an alias refers to no anchor"))?;
                self.expanded += node_count(&value);
                if self.expanded > ALIAS_BUDGET {
                    return Err(syntax("document contains excessive aliasing"));
                }
                Ok(value)
            }
            (other, _) => Err(syntax(format!("unexpected {other:?}"))),
        }
    }
}

fn node_count(value: &Value) -> usize {
    1 + match value {
        Value::Map(branch) => branch
            .iter()
            .map(|e| match e {
                Entry::Pair(_, v) => node_count(v),
                Entry::Comment(_) => 0,
            })
            .sum(),
        Value::Seq(items) => items.iter().map(node_count).sum(),
        _ => 0,
    }
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// yaml.v3's typing of a scalar (its `resolve`): only plain scalars are resolved, quoted and
/// block ones are strings; `!!str` forces a string. Numbers are tried only when the first
/// character can start one, as yaml.v3's hint table does.
fn scalar(text: &str, style: ScalarStyle, tag: Option<&str>) -> Value {
    let string = || Value::Scalar(Scalar::Str(text.as_bytes().to_vec()));
    if style != ScalarStyle::Plain || tag.is_some_and(|t| t.ends_with("str")) {
        return string();
    }
    if is_null(text) {
        return Value::Null;
    }
    match text {
        "true" | "True" | "TRUE" => return Value::Scalar(Scalar::Bool(true)),
        "false" | "False" | "FALSE" => return Value::Scalar(Scalar::Bool(false)),
        _ => {}
    }
    if !text.starts_with(|c: char| c.is_ascii_digit() || "+-.".contains(c)) {
        return string();
    }
    if let Some(i) = parse_int(text) {
        return Value::Scalar(Scalar::Int(i));
    }
    if let Some(f) = parse_float(text) {
        return Value::Scalar(Scalar::Float(f));
    }
    if let Some(t) = parse_timestamp(text) {
        return Value::Scalar(Scalar::Time(t));
    }
    string()
}

/// Go's `strconv.ParseInt(s, 0, 64)` after removing `_`: `0x`, `0o`, `0b` (either case) and
/// a leading `0` for octal.
fn parse_int(text: &str) -> Option<i64> {
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    let (negative, digits) = match clean.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(b) = lower.strip_prefix("0x") {
        (16, b)
    } else if let Some(b) = lower.strip_prefix("0o") {
        (8, b)
    } else if let Some(b) = lower.strip_prefix("0b") {
        (2, b)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(body, radix).ok()?;
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// yaml.v3's float form `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$` and the
/// `.inf`/`.nan` spellings.
fn parse_float(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    // `.5`, `1.` and `1.5` are floats; `.` is not.
    let mantissa_ok =
        digits(whole) && digits(fraction) && (!whole.is_empty() || !fraction.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    (mantissa_ok && exponent_ok)
        .then(|| text.parse().ok())
        .flatten()
}

/// yaml.v3's timestamp layouts (`2006-1-2T15:4:5.999999999Z07:00`, the same with `t`,
/// `2006-1-2 15:4:5.999999999` in UTC, and `2006-1-2`), with real calendar checks; the value
/// is kept as Go writes it back (RFC 3339, `Z` for a zero offset).
fn parse_timestamp(text: &str) -> Option<String> {
    let num = |s: &str, max_len: usize| -> Option<u32> {
        (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let date_end = text.find(['T', 't', ' ']).unwrap_or(text.len());
    let mut date = text[..date_end].split('-');
    let (year, month, day) = (date.next()?, date.next()?, date.next()?);
    if date.next().is_some() || year.len() != 4 {
        return None;
    }
    let (year, month, day) = (num(year, 4)?, num(month, 2)?, num(day, 2)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month) || day == 0 || day > days[month as usize - 1] {
        return None;
    }
    let ymd = format!("{year:04}-{month:02}-{day:02}");
    if date_end == text.len() {
        return Some(format!("{ymd}T00:00:00Z"));
    }
    let separator = text.as_bytes()[date_end];
    let rest = &text[date_end + 1..];
    let (clock, zone) = if separator == b' ' {
        (rest, "Z")
    } else {
        let at = rest.find(['Z', '+', '-'])?;
        (&rest[..at], &rest[at..])
    };
    let zone = match zone {
        "Z" | "+00:00" | "-00:00" => "Z".to_owned(),
        z => {
            let (h, m) = z[1..].split_once(':')?;
            (h.len() == 2 && m.len() == 2 && num(h, 2)? < 24 && num(m, 2)? < 60)
                .then(|| z.to_owned())?
        }
    };
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut parts = hms.split(':');
    let (h, m, sec) = (
        num(parts.next()?, 2)?,
        num(parts.next()?, 2)?,
        num(parts.next()?, 2)?,
    );
    if parts.next().is_some() || h > 23 || m > 59 || sec > 59 {
        return None;
    }
    if !fraction.is_empty() && num(fraction, 9).is_none() {
        return None;
    }
    let fraction = fraction.trim_end_matches('0');
    let fraction = if fraction.is_empty() {
        String::new()
    } else {
        format!(".{fraction}")
    };
    Some(format!("{ymd}T{h:02}:{m:02}:{sec:02}{fraction}{zone}"))
}

/// Splits an encrypted YAML stream into its documents and the first document's metadata.
pub fn load_encrypted(text: &str) -> Result<(Vec<Branch>, Metadata), Error> {
    let mut docs = parse(text)?;
    let mut meta = None;
    for (index, doc) in docs.iter_mut().enumerate() {
        if let Some(at) = doc
            .iter()
            .position(|e| matches!(e, Entry::Pair(k, _) if k == METADATA_KEY))
        {
            let Entry::Pair(_, value) = doc.remove(at) else {
                unreachable!("position matched a pair")
            };
            if index == 0 {
                meta = Some(value);
            }
        }
    }
    let meta = meta.ok_or(Error::NotSopsFile)?;
    let meta = serde_json::from_value(super::json::to_json_value(&meta))
        .map_err(|e| Error::Metadata(format!("malformed sops metadata: {e}")))?;
    Ok((docs, meta))
}

/// Reads a plaintext stream, refusing one whose first document has a `sops` key (exit 203).
pub fn load_plain(text: &str) -> Result<Vec<Branch>, Error> {
    let docs = parse(text)?;
    if docs.first().is_some_and(|d| {
        d.iter()
            .any(|e| matches!(e, Entry::Pair(k, _) if k == METADATA_KEY))
    }) {
        return Err(Error::AlreadyEncrypted);
    }
    if docs.is_empty() {
        return Err(Error::Empty);
    }
    Ok(docs)
}

/// The decrypted documents, `---` between them.
pub fn emit_plain(docs: &[Branch]) -> Vec<u8> {
    let mut out = String::new();
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        write_map(&mut out, doc, 0);
    }
    out.into_bytes()
}

/// The encrypted documents, each with the same `sops` block at its end.
pub fn emit_encrypted(docs: &[Branch], meta: &Metadata) -> Vec<u8> {
    let block = super::json::from_json_value(&meta.to_json());
    let with_meta: Vec<Branch> = docs
        .iter()
        .map(|doc| {
            let mut doc = doc.clone();
            doc.push(Entry::Pair(METADATA_KEY.into(), block.clone()));
            doc
        })
        .collect();
    emit_plain(&with_meta)
}

/// Writes a mapping's entries at column `indent`; an empty top-level document is `{}`.
fn write_map(out: &mut String, branch: &Branch, indent: usize) {
    let pad = " ".repeat(indent);
    for entry in branch {
        out.push_str(&pad);
        match entry {
            Entry::Comment(text) => {
                write_comment(out, text);
            }
            Entry::Pair(key, value) => {
                out.push_str(&key_text(key));
                out.push(':');
                write_value(out, value, indent);
            }
        }
    }
    if branch.is_empty() && indent == 0 {
        out.push_str("{}\n");
    }
}

/// Writes what follows `key:` (or `- `): inline scalars, or a nested block on the next lines.
fn write_value(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Map(branch) if branch.iter().any(|e| matches!(e, Entry::Pair(..))) => {
            out.push('\n');
            write_map(out, branch, indent + INDENT);
        }
        Value::Map(_) => out.push_str(" {}\n"),
        Value::Seq(items) if items.iter().any(|v| !matches!(v, Value::Comment(_))) => {
            out.push('\n');
            write_seq(out, items, indent + INDENT);
        }
        Value::Seq(_) => out.push_str(" []\n"),
        Value::Comment(_) => out.push('\n'),
        Value::Null => out.push_str(" null\n"),
        Value::Scalar(s) => {
            out.push(' ');
            write_scalar(out, s, indent + INDENT);
        }
    }
}

fn write_seq(out: &mut String, items: &[Value], indent: usize) {
    let pad = " ".repeat(indent);
    for item in items {
        if let Value::Map(branch) = item
            && branch.iter().any(|e| matches!(e, Entry::Pair(..)))
        {
            write_item_map(out, branch, indent);
            continue;
        }
        out.push_str(&pad);
        match item {
            Value::Comment(text) => {
                write_comment(out, text);
            }
            Value::Seq(inner) if inner.iter().any(|v| !matches!(v, Value::Comment(_))) => {
                out.push_str("-\n");
                write_seq(out, inner, indent + INDENT);
            }
            other => {
                out.push('-');
                write_value(out, other, indent);
            }
        }
    }
}

/// A mapping that is a sequence item: its keys line up two columns in (after `- `), and what
/// they hold is indented from the sequence's column, as yaml.v3 does. Comments before its
/// first key go above the `- ` line, where they cannot turn the item into an empty one.
fn write_item_map(out: &mut String, branch: &Branch, seq_indent: usize) {
    let pad = " ".repeat(seq_indent);
    let key_pad = " ".repeat(seq_indent + 2);
    let lead = branch
        .iter()
        .take_while(|e| matches!(e, Entry::Comment(_)))
        .count();
    for entry in &branch[..lead] {
        if let Entry::Comment(text) = entry {
            out.push_str(&pad);
            write_comment(out, text);
        }
    }
    out.push_str(&pad);
    out.push_str("- ");
    for (i, entry) in branch[lead..].iter().enumerate() {
        if i > 0 {
            out.push_str(&key_pad);
        }
        match entry {
            Entry::Comment(text) => {
                write_comment(out, text);
            }
            Entry::Pair(key, value) => {
                out.push_str(&key_text(key));
                out.push(':');
                write_value(out, value, seq_indent);
            }
        }
    }
}

/// A comment line; the text keeps its leading space (`# c` is stored as `" c"`).
fn write_comment(out: &mut String, text: &str) {
    out.push('#');
    out.push_str(text);
    out.push('\n');
}

fn key_text(key: &str) -> String {
    match string_style(key) {
        Style::Plain => key.to_owned(),
        Style::Single => format!("'{}'", key.replace('\'', "''")),
        Style::Double | Style::Literal => double_quoted(key),
    }
}

fn write_scalar(out: &mut String, scalar: &Scalar, block_indent: usize) {
    match scalar {
        Scalar::Str(bytes) | Scalar::Bytes(bytes) => {
            let text = String::from_utf8_lossy(bytes);
            match string_style(&text) {
                Style::Plain => out.push_str(&text),
                Style::Single => {
                    out.push('\'');
                    out.push_str(&text.replace('\'', "''"));
                    out.push('\'');
                }
                Style::Double => out.push_str(&double_quoted(&text)),
                Style::Literal => {
                    out.push('|');
                    let trailing = text.len() - text.trim_end_matches('\n').len();
                    match trailing {
                        0 => out.push('-'),
                        1 => {}
                        _ => out.push('+'),
                    }
                    if text.starts_with(' ') {
                        out.insert_str(out.len() - usize::from(trailing != 1), &INDENT.to_string());
                    }
                    out.push('\n');
                    let pad = " ".repeat(block_indent);
                    let body = text.strip_suffix('\n').unwrap_or(&text);
                    for line in body.split('\n') {
                        if !line.is_empty() {
                            out.push_str(&pad);
                            out.push_str(line);
                        }
                        out.push('\n');
                    }
                    return;
                }
            }
        }
        Scalar::Int(i) => out.push_str(&i.to_string()),
        Scalar::Float(f) => out.push_str(&go_float_g(*f)),
        Scalar::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Scalar::Time(t) => out.push_str(t),
    }
    out.push('\n');
}

#[derive(PartialEq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// yaml.v3's choice for a string: plain when it reads back as the same string, else single
/// quotes, else double quotes; multi-line text as a literal block.
fn string_style(text: &str) -> Style {
    if text.is_empty() {
        return Style::Double;
    }
    // Line and paragraph separators are line breaks to YAML readers, and a BOM is invisible.
    let printable = text.chars().all(|c| {
        c == '\n' || !(c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}'))
    });
    if text.trim_matches('\n').is_empty() {
        return Style::Double;
    }
    if text.contains('\n') {
        let trailing_space = text
            .split('\n')
            .any(|l| l.ends_with(' ') || l.ends_with('\t'));
        return if printable && !trailing_space {
            Style::Literal
        } else {
            Style::Double
        };
    }
    if !printable {
        return Style::Double;
    }
    // A string that would read back as another type (or as a YAML 1.1 bool) is double-quoted.
    let retyped = !matches!(
        scalar(text, ScalarStyle::Plain, None),
        Value::Scalar(Scalar::Str(_))
    ) || matches!(
        text,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    ) || looks_like_old_number(text);
    if retyped {
        return Style::Double;
    }
    if plain_allowed(text) {
        Style::Plain
    } else {
        Style::Single
    }
}

/// yaml.v3 also quotes YAML 1.1 sexagesimal floats (`1:20`, `-190:20:30.15`), which older
/// readers would take for numbers.
fn looks_like_old_number(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (head, fraction) = body.split_once('.').unwrap_or((body, ""));
    let mut parts = head.split(':');
    let first = parts.next().unwrap_or("");
    let sexagesimal: Vec<&str> = parts.collect();
    first.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && first.bytes().all(|b| b.is_ascii_digit() || b == b'_')
        && !sexagesimal.is_empty()
        && sexagesimal.iter().all(|p| {
            (1..=2).contains(&p.len())
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u8>().is_ok_and(|n| n < 60)
        })
        && fraction.bytes().all(|b| b.is_ascii_digit() || b == b'_')
}

fn plain_allowed(text: &str) -> bool {
    let mut chars = text.chars();
    let first = chars.next().expect("non-empty");
    // `-`, `?` and `:` may start a plain scalar when a non-space follows; other indicators not.
    let soft_start = matches!(first, '-' | '?' | ':') && chars.next().is_some_and(|c| c != ' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) && !soft_start {
        return false;
    }
    !(text.starts_with(' ')
        || text.ends_with(' ')
        || text.contains(": ")
        || text.contains(" #")
        || text.ends_with(':')
        || text.starts_with("---")
        || text.starts_with("..."))
}

fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            '\u{feff}' => out.push_str("\\uFEFF"),
            c if c.is_control() => out.push_str(&format!("\\x{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` as yaml.v3 writes floats: shortest digits,
/// exponent form below 1e-4 and from 1e21, `.inf`/`.nan` spellings.
fn go_float_g(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e').expect("exponent form");
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        format!("{mantissa}e{sign}{digits:0>2}")
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_plain_scalars_like_yaml_v3() {
        let doc = &parse("a: 017\nb: 0x1F\nc: 1e3\nd: yes\ne: ~\nf: 2024-01-02\ng: '5'\nh: True\n")
            .unwrap()[0];
        let get = |k: &str| {
            doc.iter()
                .find_map(|e| match e {
                    Entry::Pair(key, v) if key == k => Some(v.clone()),
                    _ => None,
                })
                .unwrap()
        };
        assert_eq!(get("a"), Value::Scalar(Scalar::Int(15)));
        assert_eq!(get("b"), Value::Scalar(Scalar::Int(31)));
        assert_eq!(get("c"), Value::Scalar(Scalar::Float(1000.0)));
        assert_eq!(get("d"), Value::Scalar(Scalar::Str(b"yes".to_vec())));
        assert_eq!(get("e"), Value::Null);
        assert_eq!(
            get("f"),
            Value::Scalar(Scalar::Time("2024-01-02T00:00:00Z".into()))
        );
        assert_eq!(get("g"), Value::Scalar(Scalar::Str(b"5".to_vec())));
        assert_eq!(get("h"), Value::Scalar(Scalar::Bool(true)));
        let ty = |t: &str| scalar(t, ScalarStyle::Plain, None);
        assert_eq!(
            ty("2024-01-02T03:04:05+00:00"),
            Value::Scalar(Scalar::Time("2024-01-02T03:04:05Z".into()))
        );
        assert_eq!(
            ty("2024-1-2"),
            Value::Scalar(Scalar::Time("2024-01-02T00:00:00Z".into()))
        );
        assert_eq!(
            ty("2024-01-02 03:04:05"),
            Value::Scalar(Scalar::Time("2024-01-02T03:04:05Z".into()))
        );
        assert_eq!(
            ty("2024-13-45"),
            Value::Scalar(Scalar::Str(b"2024-13-45".to_vec()))
        );
        assert_eq!(
            ty("2024-01-02T03:04:05"),
            Value::Scalar(Scalar::Str(b"2024-01-02T03:04:05".to_vec()))
        );
        assert_eq!(ty("_1"), Value::Scalar(Scalar::Str(b"_1".to_vec())));
        assert_eq!(ty("0X1F"), Value::Scalar(Scalar::Int(31)));
        assert_eq!(ty("1_000"), Value::Scalar(Scalar::Int(1000)));
        assert_eq!(ty("1."), Value::Scalar(Scalar::Float(1.0)));
    }

    #[test]
    fn comments_at_the_start_of_a_list_item_stay_comments() {
        let docs = vec![vec![Entry::Pair(
            "l".into(),
            Value::Seq(vec![Value::Map(vec![
                Entry::Comment(" about k".into()),
                Entry::Pair("k".into(), Value::Scalar(Scalar::Int(1))),
            ])]),
        )]];
        let text = String::from_utf8(emit_plain(&docs)).unwrap();
        assert_eq!(text, "l:\n    # about k\n    - k: 1\n");
        assert_eq!(parse(&text).unwrap()[0].len(), 1);
    }

    #[test]
    fn comments_stay_in_their_block() {
        let docs = parse("a:\n    b: 1\n    # end of a\nl:\n    - x\n# top\nd: 1\n").unwrap();
        let Entry::Pair(_, Value::Map(a)) = &docs[0][0] else {
            panic!()
        };
        assert_eq!(a.last(), Some(&Entry::Comment(" end of a".into())));
        assert!(docs[0].contains(&Entry::Comment(" top".into())));
        assert!(parse("a: 1\na: 2\n").is_err());
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
        assert!(parse(bomb).is_err());
    }

    #[test]
    fn writes_like_sops() {
        let text = "# c\na: 1\nl:\n    - x\n    - k: v\n      m:\n        name: \"yes\"\ns: |\n    one\n    two\n";
        let docs = parse(text).unwrap();
        assert_eq!(String::from_utf8(emit_plain(&docs)).unwrap(), text);
        assert_eq!(go_float_g(1e-7), "1e-07");
        assert!(string_style("3.13.2") == Style::Plain);
        assert!(string_style("1:20") == Style::Double);
        assert!(string_style("1_000") == Style::Double);
        assert!(string_style("\n") == Style::Double);
        assert!(string_style("a\u{2028}b") == Style::Double);
        assert_eq!(go_float_g(1000.0), "1000");
    }
}
