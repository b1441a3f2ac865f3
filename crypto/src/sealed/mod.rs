//! Bitnami Sealed Secrets, wire-compatible (spec `sealed-secrets.md`).
//!
//! Which function to use when:
//! - seal one value for a scope: [`hybrid::seal`] with [`Scope::label`];
//! - seal a whole Secret into a SealedSecret (kubeseal's `Seal`): [`seal_secret`];
//! - open one value: [`hybrid::open`]; a whole SealedSecret, all-or-nothing: [`unseal`];
//!   item by item with the key that opened each (offline validate): [`open_items`];
//! - read a `--cert`: [`Certificate::from_pem`] (then [`Certificate::check_not_expired`]) or
//!   [`PublicKey::from_pem`]; read `--recovery-private-key` files: [`keyfile::private_keys`];
//! - make a controller-shaped key pair: [`KeyPair::generate`].
//!
//! ```
//! use sealbox_crypto::sealed::{hybrid, PrivateKey, Scope};
//! let key = PrivateKey::generate(2048).unwrap();
//! let label = Scope::Strict.label("default", "mysecret");
//! let ct = hybrid::seal(key.public_key(), b"hunter2", &label).unwrap();
//! let (plaintext, _) = hybrid::open(&[key], &ct, &label).unwrap();
//! assert_eq!(plaintext.as_slice(), b"hunter2");
//! ```

mod cert;
pub mod hybrid;
pub mod keyfile;
mod keys;
pub mod manifest;
mod pem;
mod scope;
mod secret;

pub use cert::{Certificate, DEFAULT_VALIDITY, KeyPair};
pub use keys::{PrivateKey, PublicKey, private_keys_from_pem};
pub use manifest::{ObjectMeta, SealedSecret, Secret, SecretBytes, SecretText};
pub use scope::{CLUSTER_WIDE_ANNOTATION, NAMESPACE_WIDE_ANNOTATION, Scope, UnknownScope};
pub use secret::{
    ItemFailure, ItemResult, SKIP_SET_OWNER_REFERENCES, UnsealError, UnsealErrorKind, Unsealed,
    open_items, owner_reference, seal_secret, unseal,
};

/// Errors of the Sealed Secrets primitives. Messages for the ciphertext cases match upstream's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A PEM file that cannot be split into blocks.
    #[error("{0}")]
    Pem(String),
    /// A key that cannot be parsed, is not RSA, or cannot be used.
    #[error("{0}")]
    Key(String),
    /// A certificate that cannot be parsed or generated.
    #[error("{0}")]
    Certificate(String),
    /// The sealing certificate's NotAfter has passed (kubeseal's exact text).
    #[error("failed to encrypt using an expired certificate on {on}")]
    CertificateExpired { on: String },
    /// The system random generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// No key opened the item: wrong key, wrong name/namespace/scope, or tampered bytes.
    #[error("no key could decrypt secret")]
    NoKeyCouldDecrypt,
    /// An item that is not standard padded base64 (Go's wording).
    #[error("illegal base64 data at input byte {offset}")]
    Base64 { offset: usize },
    /// A Secret or SealedSecret manifest that is malformed or not what was expected.
    #[error("{0}")]
    Manifest(String),
}

/// Decodes standard padded base64 the way Go's `base64.StdEncoding` does: `\r` and `\n` are
/// skipped, anything else outside the alphabet is an error at its byte offset.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, Error> {
    use base64::Engine as _;
    // Go's StdEncoding accepts non-zero trailing bits in the last symbol.
    const GO_STD: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let kept: Vec<(usize, u8)> = text
        .bytes()
        .enumerate()
        .filter(|(_, b)| *b != b'\r' && *b != b'\n')
        .collect();
    let compact: Vec<u8> = kept.iter().map(|(_, b)| *b).collect();
    GO_STD.decode(&compact).map_err(|e| {
        let at = match e {
            base64::DecodeError::InvalidByte(i, _)
            | base64::DecodeError::InvalidLastSymbol(i, _) => i,
            _ => compact.len(),
        };
        Error::Base64 {
            offset: kept.get(at).map_or(text.len(), |(orig, _)| *orig),
        }
    })
}

/// Standard padded base64, as kubeseal writes each item.
pub fn encode_base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_skips_newlines_and_reports_offsets() {
        assert_eq!(decode_base64("YmFy\r\n").unwrap(), b"bar");
        assert_eq!(decode_base64("Ym\nFy").unwrap(), b"bar");
        assert!(matches!(
            decode_base64("Ym Fy"),
            Err(Error::Base64 { offset: 2 })
        ));
        assert!(matches!(
            decode_base64("\nYm*y"),
            Err(Error::Base64 { offset: 3 })
        ));
        assert!(decode_base64("YmF").is_err());
        assert_eq!(
            decode_base64("YR==").unwrap(),
            b"a",
            "trailing bits allowed, as Go"
        );
    }
}
