//! Drift detection without decrypting (sealbox; sealed-secrets repairs no drift, spec
//! `sealed-secrets.md` §3.2). When the reconciler writes a Secret it [`stamp`]s it with the
//! annotation [`DATA_MAC`]: an HMAC-SHA256 of the Secret's data, bound to the SealedSecret's
//! uid and generation, under a key derived from one of the controller's sealing keys. Later,
//! [`verify`] tells from the Secret alone whether its data is still what that generation
//! unsealed to: yes → nothing to do (no RSA operation); no → a hand edit, unseal again.
//!
//! Why an HMAC and not a plain hash: a plain SHA-256 of a short password in an annotation
//! (which anyone who may read the Secret's metadata sees) can be brute-forced. The MAC key is
//! derived from a sealing key's private half, which only the controller holds, and which is
//! the same in every replica and across restarts: a restarted controller verifies what the
//! previous one stamped, so Secrets in sync still cost no decrypt.
//!
//! ```
//! use sealbox_controller::sealed::drift::{MacKey, stamp, verify};
//! use k8s_openapi::api::core::v1::Secret;
//! let key = MacKey::derive("fingerprint-of-the-key", b"-----BEGIN RSA PRIVATE KEY-----...");
//! let mut secret = Secret::default();
//! stamp(&key, "uid-1", 1, &mut secret);
//! assert!(verify(&[key.clone()], "uid-1", 1, &secret));
//! assert!(!verify(&[key], "uid-1", 2, &secret), "another generation");
//! ```

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use k8s_openapi::api::core::v1::Secret;
use sha2::Sha256;
use zeroize::Zeroizing;

/// Annotation on a Secret the controller wrote: `v1:<key id>:<hex HMAC>`.
pub const DATA_MAC: &str = "sealbox.io/data-hmac";

/// Domain separation for the derived key: never the same bytes as any other use of the
/// sealing key.
const DERIVATION_LABEL: &[u8] = b"sealbox.io data-hmac v1";

/// A MAC key derived from one sealing key, named by that key's public fingerprint.
#[derive(Clone)]
pub struct MacKey {
    id: String,
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MacKey").field("id", &self.id).finish()
    }
}

impl MacKey {
    /// Derives the MAC key of the sealing key whose public fingerprint is `fingerprint` from
    /// its private key bytes (as stored in the key Secret's `tls.key`): HKDF-Extract, i.e.
    /// HMAC-SHA256 keyed with a fixed label over the private key.
    pub fn derive(fingerprint: &str, private_key: &[u8]) -> MacKey {
        let mut mac = <Hmac<Sha256>>::new_from_slice(DERIVATION_LABEL).expect("any key length");
        mac.update(private_key);
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&mac.finalize().into_bytes());
        // 16 characters of the public fingerprint (`SHA256:<base64>`) identify a key among a
        // ring's few, and say nothing secret; only alphanumerics, so the id never holds the
        // annotation's `:` separator.
        let id = fingerprint
            .strip_prefix("SHA256:")
            .unwrap_or(fingerprint)
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(16)
            .collect();
        MacKey { id, key }
    }

    fn mac(&self, uid: &str, generation: i64, secret: &Secret) -> String {
        let mut mac = <Hmac<Sha256>>::new_from_slice(&*self.key).expect("any key length");
        // Length-prefixed fields: no two different inputs give the same byte stream.
        let mut field = |bytes: &[u8]| {
            mac.update(&(bytes.len() as u64).to_be_bytes());
            mac.update(bytes);
        };
        field(uid.as_bytes());
        field(&generation.to_be_bytes());
        let empty = BTreeMap::new();
        // A BTreeMap iterates in key order: the MAC does not depend on how the API server
        // ordered the keys.
        for (name, value) in secret.data.as_ref().unwrap_or(&empty) {
            field(name.as_bytes());
            field(&value.0);
        }
        let tag = mac.finalize().into_bytes();
        format!("v1:{}:{}", self.id, hex(&tag))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sets [`DATA_MAC`] on `secret` for its current data, as unsealed from generation
/// `generation` of the SealedSecret `uid`.
pub fn stamp(key: &MacKey, uid: &str, generation: i64, secret: &mut Secret) {
    let mac = key.mac(uid, generation, secret);
    secret
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(DATA_MAC.into(), mac);
}

/// Whether `secret` carries a [`DATA_MAC`] at all.
pub fn stamped(secret: &Secret) -> bool {
    secret
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(DATA_MAC))
}

/// True when `secret`'s [`DATA_MAC`] is the MAC of its current data for generation
/// `generation` of the SealedSecret `uid`, under the one of `keys` it names. False when it
/// is missing, malformed, made with a key not in `keys` (retired), or does not match (the
/// data was edited by hand, or the annotation copied from another Secret).
pub fn verify(keys: &[MacKey], uid: &str, generation: i64, secret: &Secret) -> bool {
    let Some(found) = secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DATA_MAC))
    else {
        return false;
    };
    let Some(id) = found
        .strip_prefix("v1:")
        .and_then(|rest| rest.rsplit_once(':'))
        .map(|(id, _)| id)
    else {
        return false;
    };
    keys.iter()
        .filter(|k| k.id == id)
        .any(|k| constant_time_eq(k.mac(uid, generation, secret).as_bytes(), found.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::secret;

    fn key(n: u8) -> MacKey {
        MacKey::derive(&format!("{n:02x}").repeat(32), &[n; 64])
    }

    #[test]
    fn the_key_id_is_taken_from_a_real_fingerprint_without_separators() {
        let key = MacKey::derive("SHA256:pzZwsyzbJr8i/+OQqZE2pRNEtKrEtwHw5", b"k");
        assert_eq!(key.id, "pzZwsyzbJr8iOQqZ");
        let mut s = secret("web").data("a", "1").build();
        stamp(&key, "uid", 1, &mut s);
        assert!(verify(&[key], "uid", 1, &s));
    }

    #[test]
    fn a_stamped_secret_verifies_until_its_data_changes() {
        let mut s = secret("web").data("password", "s3cret").build();
        assert!(!stamped(&s));
        assert!(!verify(&[key(1)], "uid", 1, &s), "no annotation");
        stamp(&key(1), "uid", 1, &mut s);
        assert!(stamped(&s));
        assert!(verify(&[key(1)], "uid", 1, &s));
        let mut edited = s.clone();
        edited.data.as_mut().unwrap().get_mut("password").unwrap().0 = b"hacked".to_vec();
        assert!(!verify(&[key(1)], "uid", 1, &edited));
        let mut added = s.clone();
        added
            .data
            .as_mut()
            .unwrap()
            .insert("extra".into(), k8s_openapi::ByteString(vec![]));
        assert!(!verify(&[key(1)], "uid", 1, &added));
        let mut emptied = s.clone();
        emptied.data = None;
        assert!(!verify(&[key(1)], "uid", 1, &emptied));
    }

    #[test]
    fn the_mac_is_bound_to_the_sealed_secret_and_its_generation() {
        let mut s = secret("web").data("password", "s3cret").build();
        stamp(&key(1), "uid", 3, &mut s);
        assert!(!verify(&[key(1)], "other-uid", 3, &s));
        assert!(!verify(&[key(1)], "uid", 4, &s));
    }

    #[test]
    fn only_the_named_key_verifies_and_a_retired_key_verifies_nothing() {
        let mut s = secret("web").data("a", "1").build();
        stamp(&key(1), "uid", 1, &mut s);
        assert!(
            verify(&[key(2), key(1)], "uid", 1, &s),
            "found among several"
        );
        assert!(!verify(&[key(2)], "uid", 1, &s), "its key is gone");
        // Another key with the same id (a forged id) does not verify.
        let impostor = MacKey {
            id: key(1).id,
            key: Zeroizing::new([9; 32]),
        };
        assert!(!verify(&[impostor], "uid", 1, &s));
    }

    #[test]
    fn the_annotation_reveals_no_plain_hash_of_the_data() {
        let mut s = secret("web").data("password", "s3cret").build();
        stamp(&key(1), "uid", 1, &mut s);
        let mac = s.metadata.annotations.as_ref().unwrap()[DATA_MAC].clone();
        assert!(mac.starts_with("v1:0101010101010101:"), "{mac}");
        let mut other = s.clone();
        stamp(&key(2), "uid", 1, &mut other);
        let other_mac = &other.metadata.annotations.as_ref().unwrap()[DATA_MAC];
        assert_ne!(
            mac.rsplit(':').next(),
            other_mac.rsplit(':').next(),
            "the same data under another key gives another tag"
        );
        assert!(!mac.contains("s3cret"));
        assert!(
            !format!("{:?}", key(1)).contains("key:"),
            "Debug hides the key"
        );
    }

    #[test]
    fn malformed_annotations_do_not_verify() {
        for bad in ["", "v1:", "v2:0101010101010101:00", "v1:0101010101010101"] {
            let s = secret("web").annotation(DATA_MAC, bad).build();
            assert!(!verify(&[key(1)], "uid", 1, &s), "{bad:?}");
        }
    }
}
