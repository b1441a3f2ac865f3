//! A file's text → its documents, each parsed on its own (pure): a YAML stream split at its
//! `---` markers, so a document that does not parse is known by its number and does not hide
//! the others; sequences and scalars read too (SOPS's reader takes mappings only).

use sealbox_crypto::sops::{self, Value};

use super::secrets::field;

/// The documents of a YAML stream, each parsed on its own so one that does not parse is
/// known by its number. A document that is a sequence or a scalar is read too.
pub fn yaml_documents(text: &str) -> Vec<Result<Value, ()>> {
    // Each chunk, and whether a `---` opened it: one that did is a document even if empty;
    // before the first `---` or after a `...` there is one only if something is written.
    let mut chunks = vec![(String::new(), false)];
    for line in text.lines() {
        if line.trim_end() == "---" || line.starts_with("--- ") {
            chunks.push((line[3..].trim_start().to_owned() + "\n", true));
        } else if line.trim_end() == "..." {
            chunks.push((String::new(), false));
        } else if let Some((current, _)) = chunks.last_mut() {
            current.push_str(line);
            current.push('\n');
        }
    }
    chunks
        .into_iter()
        .filter(|(chunk, opened)| *opened || has_content(chunk))
        .map(|(chunk, _)| parse_yaml_document(&chunk))
        .collect()
}

fn has_content(chunk: &str) -> bool {
    chunk.lines().any(|l| {
        let l = l.trim();
        !l.is_empty() && !l.starts_with('#') && !l.starts_with('%')
    })
}

fn parse_yaml_document(chunk: &str) -> Result<Value, ()> {
    if let Ok(mut docs) = sops::yaml::parse(chunk) {
        return Ok(docs.pop().map_or(Value::Null, Value::Map));
    }
    // SOPS's reader takes mappings only: read a sequence or scalar as a mapping's value.
    let mut wrapped = String::from("_:\n");
    for line in chunk.lines() {
        if !line.starts_with('%') {
            wrapped.push_str("  ");
            wrapped.push_str(line);
        }
        wrapped.push('\n');
    }
    match sops::yaml::parse(&wrapped) {
        Ok(docs) => Ok(docs
            .first()
            .and_then(|d| field(d, "_").into_iter().next())
            .cloned()
            .unwrap_or(Value::Null)),
        Err(_) => Err(()),
    }
}
