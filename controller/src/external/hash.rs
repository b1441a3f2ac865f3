//! The hashes and names ESO writes, byte for byte (spec `external-secrets.md` §2.3, §13), so a
//! Secret ESO synced looks up to date to us and the cut-over costs no provider call.
//!
//! Which function when:
//! - the `reconcile.external-secrets.io/data-hash` annotation of a target Secret:
//!   [`object_hash_data`] over the final `data`;
//! - the `reconcile.external-secrets.io/created-by` label: [`created_by`];
//! - `status.syncedResourceVersion` (and the "did the ExternalSecret change" check):
//!   [`synced_resource_version`];
//! - the `fieldManager` of our writes to target Secrets: [`field_manager`];
//! - ESO's `ObjectHash` of any other string: [`object_hash_str`].
//!
//! ESO's `ObjectHash(x)` is `hex(SHA3-224(fmt.Sprintf("%+v", x)))`; each function here prints its
//! input the way Go's `%+v` does (maps sorted by byte-wise key order) and hashes that.
//!
//! ```
//! use std::collections::BTreeMap;
//! use sealbox_controller::external::hash;
//!
//! assert_eq!(
//!     hash::created_by("default", "my-es"),
//!     "b8464376b5fe3535e690594280bfe59b60be2603cb6cbb6d6c8bcbb4"
//! );
//! let none = BTreeMap::new();
//! assert_eq!(
//!     hash::synced_resource_version(1, &none, &none),
//!     "1-f47fe3c0b255b6dd8047cdffa772587bb829efe7a1cb70febeda2eb2"
//! );
//! assert_eq!(
//!     hash::field_manager("my-es"),
//!     "externalsecrets.external-secrets.io/my-es"
//! );
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sha3::{Digest, Sha3_224};

/// Label ESO sets on every target it manages; drives its Secret watch.
pub const LABEL_MANAGED: &str = "reconcile.external-secrets.io/managed";
/// The value of [`LABEL_MANAGED`].
pub const LABEL_MANAGED_VALUE: &str = "true";
/// Annotation holding [`object_hash_data`] of the target's data after the last write.
pub const ANNOTATION_DATA_HASH: &str = "reconcile.external-secrets.io/data-hash";
/// Label holding [`created_by`], set with `creationPolicy: Owner` only.
pub const LABEL_CREATED_BY: &str = "reconcile.external-secrets.io/created-by";

/// The field-manager prefix ESO uses for its writes (`fieldOwnerTemplate`).
const FIELD_MANAGER_PREFIX: &str = "externalsecrets.external-secrets.io/";

/// Kubernetes rejects longer field managers; ESO then hashes the name (`fqdnFor`).
const FIELD_MANAGER_MAX: usize = 63;

fn sha3_224_hex(bytes: &[u8]) -> String {
    let digest = Sha3_224::digest(bytes);
    let mut out = String::with_capacity(digest.len() * 2);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// ESO's `ObjectHash` of a string: Go's `%+v` of a string is the string itself.
pub fn object_hash_str(s: &str) -> String {
    sha3_224_hex(s.as_bytes())
}

/// ESO's `ObjectHash(secret.Data)`: the value of the `reconcile.external-secrets.io/data-hash`
/// annotation. Go prints a `map[string][]byte` as `map[k1:[1 2 3] k2:[]]`, keys in byte order
/// (which is `BTreeMap<String, _>`'s order), bytes in decimal; an empty map is `map[]`.
pub fn object_hash_data(data: &BTreeMap<String, Vec<u8>>) -> String {
    object_hash_entries(data.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
}

/// [`object_hash_data`] over borrowed entries, for maps of another value type (e.g. a
/// `BTreeMap<String, ByteString>` mapped to `(k.as_str(), v.0.as_slice())`) without a copy.
/// The entries must come in byte order of their keys, each key once, as a `BTreeMap` yields
/// them; Go sorts them before printing.
pub fn object_hash_entries<'a>(entries: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut s = String::from("map[");
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(key);
        s.push_str(":[");
        for (j, b) in value.iter().enumerate() {
            if j > 0 {
                s.push(' ');
            }
            let _ = write!(s, "{b}");
        }
        s.push(']');
    }
    s.push(']');
    sha3_224_hex(s.as_bytes())
}

/// Go's `%+v` of a `map[string]string`: keys in byte order, keys and values unquoted.
fn go_string_map(out: &mut String, map: &BTreeMap<String, String>) {
    out.push_str("map[");
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(key);
        out.push(':');
        out.push_str(value);
    }
    out.push(']');
}

/// The `reconcile.external-secrets.io/created-by` label ESO sets with `creationPolicy=Owner`:
/// `ObjectHash("<namespace>/<name>")` of the ExternalSecret.
pub fn created_by(namespace: &str, name: &str) -> String {
    object_hash_str(&format!("{namespace}/{name}"))
}

/// `status.syncedResourceVersion` of an ExternalSecret (ESO's `GetResourceVersion`):
/// `"<generation>-<ObjectHash(struct{annotations, labels})>"`, the struct printed by Go's `%+v`
/// as `{annotations:map[..] labels:map[..]}`. Absent maps are passed as empty maps (Go prints a
/// nil map as `map[]` too).
pub fn synced_resource_version(
    generation: i64,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> String {
    let mut s = String::from("{annotations:");
    go_string_map(&mut s, annotations);
    s.push_str(" labels:");
    go_string_map(&mut s, labels);
    s.push('}');
    format!("{generation}-{}", sha3_224_hex(s.as_bytes()))
}

/// The field manager of the writes for the ExternalSecret named `es_name` (ESO's `fqdnFor`):
/// `externalsecrets.external-secrets.io/<name>`, or, when that is longer than 63 bytes,
/// `externalsecrets.external-secrets.io/sha3/<hex SHA3-224 of the name>`. Using ESO's string
/// keeps its "prune the keys this ExternalSecret wrote before" logic working after takeover.
pub fn field_manager(es_name: &str) -> String {
    let fqdn = format!("{FIELD_MANAGER_PREFIX}{es_name}");
    if fqdn.len() > FIELD_MANAGER_MAX {
        format!("{FIELD_MANAGER_PREFIX}sha3/{}", object_hash_str(es_name))
    } else {
        fqdn
    }
}

/// The field manager ESO looks up when it prunes the labels and annotations an ExternalSecret
/// wrote before (`templating/parser.go`): it switches to the `sha3/` form only when the *name*
/// is longer than 63 bytes, unlike [`field_manager`]. For names of 28 to 63 bytes ESO thus
/// looks for a manager that never wrote anything and prunes no label or annotation; sealbox
/// does the same, so a Secret ESO left is not rewritten by the switch.
pub fn metadata_field_manager(es_name: &str) -> String {
    if es_name.len() > FIELD_MANAGER_MAX {
        format!("{FIELD_MANAGER_PREFIX}sha3/{}", object_hash_str(es_name))
    } else {
        format!("{FIELD_MANAGER_PREFIX}{es_name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_map(pairs: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.to_vec()))
            .collect()
    }

    fn str_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn data_hash_matches_eso_test_object_hash() {
        // §13 row 1, ESO's TestObjectHash.
        let data = bytes_map(&[("foo", b"value1"), ("bar", b"value2")]);
        assert_eq!(
            object_hash_data(&data),
            "1bed8bcbcb4547ffe19a19cd47d9078e84aa6598266d86b99f992d64"
        );
    }

    #[test]
    fn data_hash_sorts_upper_case_first_and_prints_empty_values() {
        // §13 row 2: byte order puts "B" before "bar"; an empty value prints as `[]`.
        let data = bytes_map(&[("B", b""), ("bar", b"value2"), ("foo", b"value1")]);
        assert_eq!(
            object_hash_data(&data),
            "b5d6dff3baa26530397e123ff23b3d55928474811cea63b8bd1bcc2d"
        );
    }

    #[test]
    fn data_hash_of_empty_map_is_hash_of_map_brackets() {
        assert_eq!(object_hash_data(&BTreeMap::new()), object_hash_str("map[]"));
        assert_eq!(
            object_hash_data(&BTreeMap::new()),
            "74a974446e359fb3e6baff9bd0058950e6edd0f040888d9989b0a11b"
        );
    }

    #[test]
    fn entries_hash_equals_map_hash() {
        let data = bytes_map(&[("foo", b"value1"), ("bar", b"value2")]);
        let borrowed: Vec<(&str, &[u8])> = data
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        assert_eq!(object_hash_entries(borrowed), object_hash_data(&data));
    }

    #[test]
    fn data_hash_prints_bytes_in_decimal_and_keys_raw() {
        // `map[a b:[0 255] a:[]]`: a space in a key is printed as is; byte order puts "a" first.
        let data = bytes_map(&[("a b", &[0, 255]), ("a", b"")]);
        assert_eq!(
            object_hash_data(&data),
            object_hash_str("map[a:[] a b:[0 255]]")
        );
    }

    #[test]
    fn string_hash_matches_eso_test() {
        // §13 row 3.
        assert_eq!(
            object_hash_str("hello there"),
            "f78681ec611ebaeea0689bff6c7812a83ff98a7faba986d9af76c999"
        );
        // §13 row 4: Go prints a nil interface as `<nil>`; nothing here hashes nil, but the
        // vector pins the hash function itself.
        assert_eq!(
            object_hash_str("<nil>"),
            "c461202a18e99215f121936fb2452e03843828e448a00a53f285a6fc"
        );
    }

    #[test]
    fn created_by_vector() {
        assert_eq!(
            created_by("default", "my-es"),
            "b8464376b5fe3535e690594280bfe59b60be2603cb6cbb6d6c8bcbb4"
        );
    }

    #[test]
    fn synced_resource_version_without_metadata() {
        let none = BTreeMap::new();
        assert_eq!(
            synced_resource_version(1, &none, &none),
            "1-f47fe3c0b255b6dd8047cdffa772587bb829efe7a1cb70febeda2eb2"
        );
        assert_eq!(
            synced_resource_version(1, &none, &none),
            format!("1-{}", object_hash_str("{annotations:map[] labels:map[]}"))
        );
    }

    #[test]
    fn synced_resource_version_with_labels_and_annotations() {
        let labels = str_map(&[("app", "web"), ("Z", "1")]);
        let annotations = str_map(&[("force-sync", "1700000000"), ("a", "x y")]);
        assert_eq!(
            synced_resource_version(7, &labels, &annotations),
            "7-9371a1b0a38dfb02e393dc20ca327e93f322f9983bb97ff1aabd4814"
        );
    }

    #[test]
    fn synced_resource_version_changes_with_generation_and_metadata() {
        let none = BTreeMap::new();
        let labels = str_map(&[("app", "web")]);
        let v1 = synced_resource_version(1, &none, &none);
        assert_ne!(v1, synced_resource_version(2, &none, &none));
        assert_ne!(v1, synced_resource_version(1, &labels, &none));
        // Labels and annotations are different fields of the struct.
        assert_ne!(
            synced_resource_version(1, &labels, &none),
            synced_resource_version(1, &none, &labels)
        );
    }

    #[test]
    fn field_manager_short_and_long_names() {
        assert_eq!(
            field_manager("my-es"),
            "externalsecrets.external-secrets.io/my-es"
        );
        // 36-byte prefix + 27 = 63: still the plain form.
        let at_limit = "a".repeat(27);
        assert_eq!(
            field_manager(&at_limit),
            format!("externalsecrets.external-secrets.io/{at_limit}")
        );
        assert_eq!(field_manager(&at_limit).len(), 63);
        let over = "a".repeat(28);
        assert_eq!(
            field_manager(&over),
            "externalsecrets.external-secrets.io/sha3/\
             52a6f48b37cd3535ef771a530c08d9cc4b78350ccdd33f2405e22ebb"
        );
    }

    #[test]
    fn labels_are_looked_up_under_the_manager_esos_parser_uses() {
        let medium = "a".repeat(40);
        assert!(field_manager(&medium).contains("/sha3/"));
        assert_eq!(
            metadata_field_manager(&medium),
            format!("externalsecrets.external-secrets.io/{medium}")
        );
        let long = "b".repeat(64);
        assert_eq!(metadata_field_manager(&long), field_manager(&long));
        assert_eq!(metadata_field_manager("db"), field_manager("db"));
    }
}
