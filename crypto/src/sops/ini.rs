//! The INI store (spec `sops.md` §2.5, §6.2), following go-ini as sops uses it: a `DEFAULT`
//! section first (keys before any header, written without one), `=` or `:` between key and
//! value, `;`/`#` comments (an inline one becomes the key's comment), quoted and `"""`
//! multi-line values, and metadata flattened into a `[sops]` section.
//!
//! In the tree a section's comment is the first entry of its branch and a key's comment
//! follows the key; both are written above what they belong to.

use super::error::Error;
use super::metadata::Metadata;
use super::value::{Branch, Entry, Scalar, Value};

const DEFAULT: &str = "DEFAULT";
const METADATA_SECTION: &str = "sops";

struct Section {
    name: String,
    comments: Vec<String>,
    entries: Branch,
}

/// Parses an INI file into `[section → {key → value}]`, `DEFAULT` first, the way go-ini
/// reads it: a repeated key keeps its first place and its last value, a later `[DEFAULT]`
/// header goes back to the default section, `\` continues a line.
pub fn parse(text: &str) -> Result<Branch, Error> {
    let mut sections = vec![Section {
        name: DEFAULT.into(),
        comments: Vec::new(),
        entries: Branch::new(),
    }];
    let mut current = 0;
    let mut pending: Vec<String> = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, raw)) = lines.next() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix(';').or_else(|| line.strip_prefix('#')) {
            pending.push(comment.trim_start().to_owned());
            continue;
        }
        if let Some(header) = line.strip_prefix('[') {
            let close = header.find(']').ok_or_else(|| {
                Error::Store(format!("line {}: a section header has no closing ]", n + 1))
            })?;
            let name = header[..close].trim().to_owned();
            let comments = std::mem::take(&mut pending);
            current = match sections
                .iter()
                .position(|s| s.name == name && name == DEFAULT)
            {
                Some(at) => at,
                None => {
                    sections.push(Section {
                        name,
                        comments: Vec::new(),
                        entries: Branch::new(),
                    });
                    sections.len() - 1
                }
            };
            sections[current].comments.extend(comments);
            continue;
        }
        let at = line.find(['=', ':']).ok_or_else(|| {
            Error::Store(format!(
                "line {}: expected key = value, [section] or a comment",
                n + 1
            ))
        })?;
        let key = line[..at].trim().to_owned();
        let rest = line[at + 1..].trim_start();
        let (value, inline) = if let Some(body) = rest.strip_prefix("\"\"\"") {
            (multi_line(body, &mut lines, n)?, None)
        } else {
            let mut rest = rest.to_owned();
            while rest.ends_with('\\') && !rest.starts_with('`') {
                rest.pop();
                match lines.next() {
                    Some((_, next)) => rest.push_str(next.trim()),
                    None => break,
                }
            }
            single_value(&rest)
        };
        // go-ini keeps the comment lines above a key and its inline comment.
        let mut comments = std::mem::take(&mut pending);
        comments.extend(inline);
        let section = &mut sections[current];
        let value = Value::Scalar(Scalar::Str(value.into_bytes()));
        let existing = section.entries.iter_mut().find_map(|e| match e {
            Entry::Pair(k, v) if *k == key => Some(v),
            _ => None,
        });
        match existing {
            Some(slot) => *slot = value,
            None => {
                section.entries.push(Entry::Pair(key, value));
                section
                    .entries
                    .extend(comments.into_iter().map(Entry::Comment));
            }
        }
    }
    Ok(sections
        .into_iter()
        .map(|s| {
            let mut entries: Branch = s.comments.into_iter().map(Entry::Comment).collect();
            entries.extend(s.entries);
            Entry::Pair(s.name, Value::Map(entries))
        })
        .collect())
}

/// go-ini's one-line value: a backquoted value runs to the last backquote; otherwise an
/// inline comment is cut at the first `;`/`#`, then quotes are removed when they surround the
/// whole value.
fn single_value(rest: &str) -> (String, Option<String>) {
    if let Some(body) = rest.strip_prefix('`')
        && let Some(end) = body.rfind('`')
    {
        return (body[..end].to_owned(), None);
    }
    let rest = rest.trim();
    let (value, comment) = match rest.find([';', '#']) {
        Some(i) => (
            rest[..i].trim(),
            Some(rest[i + 1..].trim_start().to_owned()),
        ),
        None => (rest, None),
    };
    let surrounded = |q: char| {
        value.len() >= 2
            && value.starts_with(q)
            && value.ends_with(q)
            && value.matches(q).count() == 2
    };
    let value = if surrounded('"') || surrounded('\'') {
        &value[1..value.len() - 1]
    } else {
        value
    };
    (value.to_owned(), comment)
}

fn multi_line<'a>(
    first: &str,
    lines: &mut impl Iterator<Item = (usize, &'a str)>,
    start: usize,
) -> Result<String, Error> {
    if let Some(end) = first.find("\"\"\"") {
        return Ok(first[..end].to_owned());
    }
    let mut value = first.to_owned();
    for (_, line) in lines {
        value.push('\n');
        if let Some(end) = line.find("\"\"\"") {
            value.push_str(&line[..end]);
            return Ok(value);
        }
        value.push_str(line);
    }
    Err(Error::Store(format!(
        "line {}: a \"\"\" value is not closed",
        start + 1
    )))
}

/// Splits an encrypted INI file into its tree and the `[sops]` metadata (values with `\n`
/// escapes, or `"""` blocks as sops 3.13.0/3.13.1 wrote them).
pub fn load_encrypted(text: &str) -> Result<(Branch, Metadata), Error> {
    let mut tree = parse(text)?;
    let at = tree
        .iter()
        .position(|e| matches!(e, Entry::Pair(k, _) if k == METADATA_SECTION))
        .ok_or(Error::NotSopsFile)?;
    let Entry::Pair(_, Value::Map(section)) = tree.remove(at) else {
        unreachable!("sections are maps")
    };
    let pairs: Vec<(String, String)> = section
        .into_iter()
        .filter_map(|e| match e {
            Entry::Pair(k, Value::Scalar(Scalar::Str(v))) => {
                Some((k, String::from_utf8_lossy(&v).replace("\\n", "\n")))
            }
            _ => None,
        })
        .collect();
    Ok((tree, Metadata::from_flat(&pairs)?))
}

/// Parses a plaintext file, refusing one that already has a `[sops]` section (exit 203).
pub fn load_plain(text: &str) -> Result<Branch, Error> {
    let tree = parse(text)?;
    if tree
        .iter()
        .any(|e| matches!(e, Entry::Pair(k, _) if k == METADATA_SECTION))
    {
        return Err(Error::AlreadyEncrypted);
    }
    Ok(tree)
}

/// go-ini's pretty form: `=` aligned per section, a blank line between sections, `DEFAULT`
/// keys without a header.
pub fn emit_plain(tree: &Branch) -> Result<Vec<u8>, Error> {
    let mut blocks = Vec::new();
    for entry in tree {
        let Entry::Pair(name, value) = entry else {
            continue;
        };
        let Value::Map(entries) = value else {
            return Err(Error::Store(format!(
                "{name}: INI values must sit in sections"
            )));
        };
        if name == DEFAULT && entries.is_empty() {
            continue;
        }
        blocks.push(section(name, entries)?);
    }
    // Each block ends with a newline; a blank line separates them.
    Ok(blocks.join("\n").into_bytes())
}

/// The encrypted file: the sections, then `[sops]` with the sorted flattened metadata.
pub fn emit_encrypted(tree: &Branch, meta: &Metadata) -> Result<Vec<u8>, Error> {
    let mut with_meta = tree.clone();
    let entries = meta
        .to_flat()
        .into_iter()
        .map(|(k, v)| {
            Entry::Pair(
                k,
                Value::Scalar(Scalar::Str(v.replace('\n', "\\n").into_bytes())),
            )
        })
        .collect();
    with_meta.push(Entry::Pair(METADATA_SECTION.into(), Value::Map(entries)));
    emit_plain(&with_meta)
}

fn section(name: &str, entries: &Branch) -> Result<String, Error> {
    let width = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Pair(k, _) => Some(k.chars().count()),
            Entry::Comment(_) => None,
        })
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    let mut items = entries.iter().peekable();
    // Leading comments belong to the section header.
    while let Some(Entry::Comment(c)) = items.peek() {
        out.push_str(&comment_line(c));
        items.next();
    }
    if name != DEFAULT {
        out.push_str(&format!("[{name}]\n"));
    }
    let mut lines: Vec<(Vec<String>, String)> = Vec::new();
    for entry in items {
        match entry {
            Entry::Comment(c) => match lines.last_mut() {
                Some((comments, _)) => comments.push(comment_line(c)),
                None => out.push_str(&comment_line(c)),
            },
            Entry::Pair(key, Value::Scalar(scalar)) => {
                let value = String::from_utf8_lossy(&ini_bytes(scalar)).into_owned();
                let pad = " ".repeat(width - key.chars().count());
                lines.push((Vec::new(), format!("{key}{pad} = {}\n", quote(&value))));
            }
            Entry::Pair(key, _) => {
                return Err(Error::Store(format!(
                    "{name}.{key}: INI values cannot be nested"
                )));
            }
        }
    }
    for (comments, line) in lines {
        out.extend(comments);
        out.push_str(&line);
    }
    Ok(out)
}

fn ini_bytes(scalar: &Scalar) -> Vec<u8> {
    match scalar {
        Scalar::Bool(true) => b"true".to_vec(),
        Scalar::Bool(false) => b"false".to_vec(),
        other => other.to_bytes(),
    }
}

fn comment_line(text: &str) -> String {
    format!("; {text}\n")
}

/// go-ini quotes what would not read back: `"""` around newlines or backquotes, backquotes
/// around `;`/`#` or edge spaces.
fn quote(value: &str) -> String {
    if value.contains('\n') || value.contains('`') {
        format!("\"\"\"{value}\"\"\"")
    } else if value.contains([';', '#']) || value.trim() != value {
        format!("`{value}`")
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_go_ini_on_duplicates_quotes_and_default() {
        let tree = parse(
            "[s]\nk = 1\nk = 2\nq = \"a b\"\nh = \"x;y\"\n[DEFAULT]\nd = 3\nc = one \\\n  two\n",
        )
        .unwrap();
        let Entry::Pair(_, Value::Map(default)) = &tree[0] else {
            panic!()
        };
        assert_eq!(
            default[0],
            Entry::Pair("d".into(), Value::Scalar(Scalar::Str(b"3".to_vec())))
        );
        assert_eq!(
            default[1],
            Entry::Pair("c".into(), Value::Scalar(Scalar::Str(b"one two".to_vec())))
        );
        let Entry::Pair(_, Value::Map(s)) = &tree[1] else {
            panic!()
        };
        assert_eq!(
            s[0],
            Entry::Pair("k".into(), Value::Scalar(Scalar::Str(b"2".to_vec())))
        );
        assert_eq!(
            s[1],
            Entry::Pair("q".into(), Value::Scalar(Scalar::Str(b"a b".to_vec())))
        );
        assert_eq!(
            s[2],
            Entry::Pair("h".into(), Value::Scalar(Scalar::Str(b"\"x".to_vec())))
        );
        assert_eq!(s.len(), 4, "the inline comment y\" follows h");
    }

    #[test]
    fn parses_sections_comments_and_quotes() {
        let tree = parse("; top\nk = v\n[s]\n# about a\na : `x;y`\nb = 1;note\n").unwrap();
        let Entry::Pair(name, Value::Map(default)) = &tree[0] else {
            panic!()
        };
        assert_eq!(name, DEFAULT);
        assert_eq!(
            default[0],
            Entry::Pair("k".into(), Value::Scalar(Scalar::Str(b"v".to_vec())))
        );
        assert_eq!(default[1], Entry::Comment("top".into()));
        let Entry::Pair(_, Value::Map(s)) = &tree[1] else {
            panic!()
        };
        assert_eq!(
            s[0],
            Entry::Pair("a".into(), Value::Scalar(Scalar::Str(b"x;y".to_vec())))
        );
        assert_eq!(s[1], Entry::Comment("about a".into()));
        assert_eq!(
            s[2],
            Entry::Pair("b".into(), Value::Scalar(Scalar::Str(b"1".to_vec())))
        );
        assert_eq!(s[3], Entry::Comment("note".into()));
        let out = String::from_utf8(emit_plain(&tree).unwrap()).unwrap();
        assert_eq!(
            out,
            "; top\nk = v\n\n[s]\n; about a\na = `x;y`\n; note\nb = 1\n"
        );
        assert_eq!(parse(&out).unwrap(), tree);
    }
}
