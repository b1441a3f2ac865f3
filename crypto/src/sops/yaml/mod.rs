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
    let mut out = String::new();
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        emit::write_map(&mut out, doc, 0);
    }
    out.into_bytes()
}

/// The encrypted documents, each with the same `sops` block at its end.
pub fn emit_encrypted(docs: &[Branch], meta: &Metadata) -> Vec<u8> {
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
        emit::write_top_entries(&mut out, doc.iter().chain([&block]));
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
