//! The one error type of the Sealed Secrets primitives.

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
