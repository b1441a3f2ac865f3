//! The YAML store (spec `sops.md` §2.2, §6): documents read from parser events with their
//! comments, plain scalars typed as yaml.v3 types them, and output written the way sops's
//! yaml.v3 encoder writes it.
//!
//! - `reader.rs`: parser events → branches; `typing.rs`: yaml.v3's scalar types;
//!   `emit.rs`: branches → text;
//! - this module joins them into the store: the `sops` key split off and put back, a file that
//!   is already encrypted refused.

mod emit;
mod reader;
mod typing;

pub use emit::{DEFAULT_INDENT, effective_indent};
pub use reader::parse;

use crate::sops::error::Error;
use crate::sops::metadata::Metadata;
use crate::sops::value::{Branch, Entry};

const METADATA_KEY: &str = "sops";

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
    let meta = serde_json::from_value(crate::sops::json::to_json_value(&meta))
        .map_err(Error::MalformedMetadata)?;
    Ok((docs, meta))
}

/// Reads a plaintext stream, refusing one whose first document has a `sops` key
/// ([`Error::AlreadyEncrypted`]).
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
    emit_plain_indented(docs, DEFAULT_INDENT)
}

/// [`emit_plain`] with `indent` spaces per level (sops's `stores.yaml.indent`; see
/// [`effective_indent`]).
pub fn emit_plain_indented(docs: &[Branch], indent: usize) -> Vec<u8> {
    let step = effective_indent(indent);
    let mut out = String::new();
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        emit::write_map(&mut out, doc, 0, step);
    }
    out.into_bytes()
}

/// The encrypted documents, each with the same `sops` block at its end.
pub fn emit_encrypted(docs: &[Branch], meta: &Metadata) -> Vec<u8> {
    emit_encrypted_indented(docs, meta, DEFAULT_INDENT)
}

/// [`emit_encrypted`] with `indent` spaces per level.
pub fn emit_encrypted_indented(docs: &[Branch], meta: &Metadata, indent: usize) -> Vec<u8> {
    let step = effective_indent(indent);
    let block = Entry::Pair(
        METADATA_KEY.into(),
        crate::sops::json::from_json_value(&meta.to_json()),
    );
    // Each document's entries, then the block: what emitting a copy of it with the block
    // appended gives, without the copy.
    let mut out = String::new();
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        emit::write_top_entries(&mut out, doc.iter().chain([&block]), step);
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sops::value::{Scalar, Value};

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
    fn indentation_follows_yaml_v3() {
        let docs =
            parse("f:\n  - - deep\n  - k: v\n    m: {o: 1}\n    s: [1]\n  - \" x\\ny\"\n").unwrap();
        let text = |n| String::from_utf8(emit_plain_indented(&docs, n)).unwrap();
        // Levels align to multiples of the indent; a sequence item's content is 2 columns in.
        assert_eq!(
            text(3),
            "f:\n   - - deep\n   - k: v\n     m:\n      o: 1\n     s:\n      - 1\n   - |3-\n      x\n     y\n"
        );
        assert_eq!(
            text(0),
            "f:\n    - - deep\n    - k: v\n      m:\n        o: 1\n      s:\n        - 1\n    - |4-\n       x\n      y\n"
        );
        // Outside 2..=9 yaml.v3 uses 2.
        assert_eq!(text(1), text(2));
        assert_eq!(text(10), text(2));
        // (yaml.v3's indentation indicator for a block scalar that starts with a space does not
        // always read back; sops writes it so all the same.)
        let plain = parse("f:\n  - - deep\n  - k: v\n    m: {o: [1, {p: 2}]}\n").unwrap();
        for n in 2..=9 {
            let text = String::from_utf8(emit_plain_indented(&plain, n)).unwrap();
            assert_eq!(parse(&text).unwrap(), plain, "indent {n}");
        }
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
}
