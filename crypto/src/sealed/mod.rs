//! Bitnami Sealed Secrets, wire-compatible (spec `sealed-secrets.md`).
//!
//! Which function to use when:
//! - seal one value for a scope: [`hybrid::seal`] with [`Scope::label`];
//! - seal a whole Secret into a SealedSecret (kubeseal's `Seal`): [`seal_secret`];
//! - open one value: [`hybrid::open`]; a whole SealedSecret, all-or-nothing, rendering
//!   `spec.template.data` and opening a deprecated v1 `spec.data`: [`unseal`] (or
//!   [`unseal_with`] to refuse v1 as kubeseal and `--accept-deprecated-v1-data=false` do);
//!   item by item with the key that opened each (offline validate): [`open_items`];
//! - read a `--cert`: [`Certificate::from_pem`] (then [`Certificate::check_not_expired`]) or
//!   [`PublicKey::from_pem`]; read `--recovery-private-key` files: [`keyfile::private_keys`];
//! - make a controller-shaped key pair: [`KeyPair::generate`]; a whole new controller key
//!   Secret (type, label, generateName, data), as the controller and
//!   `sealbox keys renew --cluster` both store one: [`keysecret::new_key_secret`].
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
mod encoding;
mod error;
pub mod hybrid;
pub mod keyfile;
mod keys;
pub mod keysecret;
pub mod manifest;
mod pem;
mod scope;
mod secret;

pub use cert::{Certificate, DEFAULT_VALIDITY, KeyPair};
pub use encoding::{decode_base64, encode_base64};
pub use error::{EncodeError, Error};
pub use keys::{PrivateKey, PublicKey, private_keys_from_pem};
pub use manifest::{ObjectMeta, SealedSecret, Secret, SecretBytes, SecretText};
pub use scope::{CLUSTER_WIDE_ANNOTATION, NAMESPACE_WIDE_ANNOTATION, Scope, UnknownScope};
pub use secret::{
    DEPRECATED_V1_REFUSED, ItemFailure, ItemResult, SKIP_SET_OWNER_REFERENCES, UnsealError,
    UnsealErrorKind, UnsealOptions, Unsealed, V1_ITEM, open_items, owner_reference, seal_secret,
    unseal, unseal_with,
};

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
