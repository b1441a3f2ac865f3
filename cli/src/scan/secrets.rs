//! Documents → the plain Kubernetes Secrets in them (pure): a document's own Secret, a
//! `*List`'s `items`, a top-level sequence's entries, YAML merge keys followed.

use sealbox_crypto::sealed::manifest::{ObjectMeta, object_ref};
use sealbox_crypto::sops::{self, Branch, Entry, Scalar, Value};

/// What to do about a plain Secret.
pub const SEAL: &str = "seal it with `sealbox seal` or encrypt it with `sealbox encrypt`";

pub fn is_sops_document(doc: &Value) -> bool {
    let Value::Map(doc) = doc else { return false };
    field(doc, "sops").into_iter().any(|meta| match meta {
        Value::Map(meta) => !field(meta, "mac").is_empty(),
        _ => false,
    })
}

/// Every value under `key` in a mapping, including those a YAML merge key (`<<`) brings in,
/// as Kubernetes' YAML decoder merges them.
pub fn field<'a>(map: &'a Branch, key: &str) -> Vec<&'a Value> {
    let mut found = Vec::new();
    for entry in map {
        let Entry::Pair(k, v) = entry else { continue };
        if k == key {
            found.push(v);
        } else if k == "<<" {
            match v {
                Value::Map(merged) => found.extend(field(merged, key)),
                Value::Seq(items) => {
                    for item in items {
                        if let Value::Map(merged) = item {
                            found.extend(field(merged, key));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    found
}

fn text_of(value: &Value) -> Option<&str> {
    match value {
        Value::Scalar(Scalar::Str(bytes)) => std::str::from_utf8(bytes).ok(),
        _ => None,
    }
}

/// The first key that appears twice in one mapping anywhere in the value.
pub fn duplicate_key(value: &Value) -> Option<String> {
    match value {
        Value::Map(map) => {
            let mut seen = std::collections::HashSet::new();
            for entry in map {
                if let Entry::Pair(k, v) = entry {
                    if !seen.insert(k.as_str()) {
                        return Some(k.clone());
                    }
                    if let Some(dup) = duplicate_key(v) {
                        return Some(dup);
                    }
                }
            }
            None
        }
        Value::Seq(items) => items.iter().find_map(duplicate_key),
        _ => None,
    }
}

/// Lists nest at most this deep (a List of Lists of Secrets is still looked into).
const MAX_DEPTH: usize = 8;

/// Reports plain Secrets in a document, a `*List`'s `items` or a sequence of objects.
pub fn check_value(
    label: &str,
    value: &Value,
    encrypted: bool,
    depth: usize,
    out: &mut Vec<String>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Seq(items) => {
            for (index, item) in items.iter().enumerate() {
                let label = format!("{label}, [{index}]");
                check_value(&label, item, encrypted, depth + 1, out);
            }
        }
        Value::Map(doc) => {
            let kinds: Vec<&str> = field(doc, "kind").into_iter().filter_map(text_of).collect();
            if kinds.iter().any(|k| k.eq_ignore_ascii_case("secret")) {
                check_secret(label, doc, encrypted, out);
            }
            if kinds.is_empty() || kinds.iter().any(|k| k.ends_with("List")) {
                for items in field(doc, "items") {
                    if let Value::Seq(items) = items {
                        for (index, item) in items.iter().enumerate() {
                            let label = format!("{label}, items[{index}]");
                            check_value(&label, item, encrypted, depth + 1, out);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

fn check_secret(label: &str, doc: &Branch, encrypted: bool, out: &mut Vec<String>) {
    let what = format!("{label}: Kubernetes Secret {}", secret_ref(doc));
    let clear = ["data", "stringData"]
        .iter()
        .flat_map(|f| field(doc, f))
        .any(has_clear_value);
    if clear && encrypted {
        out.push(format!(
            "{what} has values under data/stringData left clear by the file's selector: re-encrypt it with `sealbox encrypt` (selector ^(data|stringData)$)"
        ));
    } else if clear {
        out.push(format!("{what} is not encrypted: {SEAL}"));
    }
}

fn secret_ref(doc: &Branch) -> String {
    let metadata = field(doc, "metadata");
    let meta_field = |f: &str| {
        metadata
            .iter()
            .find_map(|m| match m {
                Value::Map(m) => field(m, f).into_iter().find_map(text_of),
                _ => None,
            })
            .unwrap_or_default()
            .to_owned()
    };
    object_ref(&ObjectMeta {
        name: meta_field("name"),
        namespace: meta_field("namespace"),
        ..Default::default()
    })
}

/// Whether a value holds anything that is not an `ENC[…]` ciphertext (empty strings and nulls
/// hold nothing).
fn has_clear_value(value: &Value) -> bool {
    match value {
        Value::Null | Value::Comment(_) => false,
        Value::Scalar(Scalar::Str(bytes)) => {
            !bytes.is_empty() && !std::str::from_utf8(bytes).is_ok_and(sops::cipher::is_encrypted)
        }
        Value::Scalar(_) => true,
        Value::Map(branch) => branch.iter().any(|e| match e {
            Entry::Pair(_, v) => has_clear_value(v),
            Entry::Comment(_) => false,
        }),
        Value::Seq(items) => items.iter().any(has_clear_value),
    }
}
