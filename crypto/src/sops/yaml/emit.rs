//! Writing branches the way sops's yaml.v3 encoder does: 4-space indentation (or
//! `stores.yaml.indent` / `--indent`), sequences
//! indented under their key, yaml.v3 quoting, `|` blocks for multi-line text, comments above
//! what they belong to.

use granit_parser::ScalarStyle;

use super::typing::scalar;
use crate::sops::value::{Branch, Entry, Scalar, Value};

/// yaml.v3's default, and sops's (`stores/yaml/store.go: IndentDefault`).
pub const DEFAULT_INDENT: usize = 4;

/// The indentation yaml.v3 really uses for a requested one: sops passes 0 as its default 4,
/// and yaml.v3's emitter replaces anything outside 2..=9 with 2 (`yaml_emitter_emit_stream_start`).
pub fn effective_indent(requested: usize) -> usize {
    match requested {
        0 => DEFAULT_INDENT,
        2..=9 => requested,
        _ => 2,
    }
}

/// The column of what a mapping key at column `col` holds: yaml.v3 aligns every level that is
/// not a sequence item to the next multiple of the indentation (`yaml_emitter_increase_indent`:
/// "Everything else aligns to the chosen indentation"), where a sequence item's content goes
/// two columns in, after its `- `.
fn deeper(col: usize, step: usize) -> usize {
    step * ((col + step) / step)
}

/// One comment, or one `key:` (at column `indent`) and its value.
fn write_entry(out: &mut String, entry: &Entry, indent: usize, step: usize) {
    match entry {
        Entry::Comment(text) => write_comment(out, text),
        Entry::Pair(key, value) => {
            out.push_str(&key_text(key));
            out.push(':');
            write_value(out, value, deeper(indent, step), step);
        }
    }
}

/// Writes a mapping's entries at column `indent`; an empty top-level document is `{}`.
pub(super) fn write_map(out: &mut String, branch: &Branch, indent: usize, step: usize) {
    let pad = " ".repeat(indent);
    for entry in branch {
        out.push_str(&pad);
        write_entry(out, entry, indent, step);
    }
    if branch.is_empty() && indent == 0 {
        out.push_str("{}\n");
    }
}

/// Writes top-level entries (of a document that is not empty).
pub(super) fn write_top_entries<'a>(
    out: &mut String,
    entries: impl Iterator<Item = &'a Entry>,
    step: usize,
) {
    for entry in entries {
        write_entry(out, entry, 0, step);
    }
}

/// Writes what follows `key:` (or `-`): inline scalars, or a nested block on the next lines at
/// column `child`.
fn write_value(out: &mut String, value: &Value, child: usize, step: usize) {
    match value {
        Value::Map(branch) if branch.iter().any(|e| matches!(e, Entry::Pair(..))) => {
            out.push('\n');
            write_map(out, branch, child, step);
        }
        Value::Map(_) => out.push_str(" {}\n"),
        Value::Seq(items) if items.iter().any(|v| !matches!(v, Value::Comment(_))) => {
            out.push('\n');
            write_seq(out, items, child, step, false);
        }
        Value::Seq(_) => out.push_str(" []\n"),
        Value::Comment(_) => out.push('\n'),
        Value::Null => out.push_str(" null\n"),
        Value::Scalar(s) => {
            out.push(' ');
            write_scalar(out, s, child, step);
        }
    }
}

/// Writes sequence items at column `indent`. With `inline_first` the first item goes where the
/// cursor is (after an enclosing `- `): yaml.v3 writes a sequence in a sequence as `- - a`.
fn write_seq(out: &mut String, items: &[Value], indent: usize, step: usize, inline_first: bool) {
    let pad = " ".repeat(indent);
    for (i, item) in items.iter().enumerate() {
        let inline = inline_first && i == 0;
        if let Value::Map(branch) = item
            && branch.iter().any(|e| matches!(e, Entry::Pair(..)))
        {
            write_item_map(out, branch, indent, step, inline);
            continue;
        }
        if !inline {
            out.push_str(&pad);
        }
        match item {
            Value::Comment(text) => {
                write_comment(out, text);
            }
            Value::Seq(inner) if inner.iter().any(|v| !matches!(v, Value::Comment(_))) => {
                out.push_str("- ");
                write_seq(out, inner, indent + 2, step, true);
            }
            other => {
                out.push('-');
                write_value(out, other, indent + 2, step);
            }
        }
    }
}

/// A mapping that is a sequence item: its keys line up two columns in (after `- `), and what
/// they hold is indented from there, as yaml.v3 does. Comments before its first key go above
/// the `- ` line, where they cannot turn the item into an empty one.
fn write_item_map(out: &mut String, branch: &Branch, seq_indent: usize, step: usize, inline: bool) {
    let pad = " ".repeat(seq_indent);
    let key_pad = " ".repeat(seq_indent + 2);
    let lead = branch
        .iter()
        .take_while(|e| matches!(e, Entry::Comment(_)))
        .count();
    let mut inline = inline;
    for entry in &branch[..lead] {
        if let Entry::Comment(text) = entry {
            if !std::mem::take(&mut inline) {
                out.push_str(&pad);
            }
            write_comment(out, text);
        }
    }
    if !inline {
        out.push_str(&pad);
    }
    out.push_str("- ");
    for (i, entry) in branch[lead..].iter().enumerate() {
        if i > 0 {
            out.push_str(&key_pad);
        }
        write_entry(out, entry, seq_indent + 2, step);
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

fn write_scalar(out: &mut String, scalar: &Scalar, block_indent: usize, step: usize) {
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
                        out.insert_str(out.len() - usize::from(trailing != 1), &step.to_string());
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
    use crate::sops::yaml::{emit_plain, parse};

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
