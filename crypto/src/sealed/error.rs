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
    /// A DER structure (key or certificate) that does not parse or encode; `what` says which.
    #[error("{what}")]
    Der {
        /// What was being read, e.g. "malformed PKCS#8 private key".
        what: &'static str,
        /// The DER decoder's reason.
        #[source]
        source: der::Error,
    },
    /// aws-lc refused a well-formed RSA key.
    #[error("{what}")]
    KeyRejected {
        /// Which key, e.g. "RSA private key rejected".
        what: &'static str,
        /// aws-lc's reason.
        #[source]
        source: aws_lc_rs::error::KeyRejected,
    },
    /// A self-signed certificate could not be made.
    #[error("certificate generation failed")]
    CertificateGeneration(#[source] rcgen::Error),
    /// A certificate date that cannot be represented.
    #[error("certificate date out of range")]
    CertificateDate(#[source] time::error::ComponentRange),
    /// An object that cannot be written as JSON or YAML.
    #[error("cannot encode {format}")]
    Encode {
        /// `JSON` or `YAML`.
        format: &'static str,
        /// The encoder's reason.
        #[source]
        source: EncodeError,
    },
    /// The sealing certificate's NotAfter has passed (kubeseal's exact text).
    #[error("failed to encrypt using an expired certificate on {on}")]
    CertificateExpired {
        /// The NotAfter date, as kubeseal writes it (`January 2, 2006`).
        on: String,
    },
    /// The system random generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// No key opened the item: wrong key, wrong name/namespace/scope, or tampered bytes.
    #[error("no key could decrypt secret")]
    NoKeyCouldDecrypt,
    /// An item that is not standard padded base64 (Go's wording).
    #[error("illegal base64 data at input byte {offset}")]
    Base64 {
        /// Byte offset of the first bad character in the item as given.
        offset: usize,
    },
    /// A Secret or SealedSecret manifest that is malformed or not what was expected. A YAML
    /// parse error is flattened into this text on purpose: the parser's message can quote the
    /// input, so it is redacted first and not kept as a source.
    #[error("{0}")]
    Manifest(String),
    /// A `spec.template.data` value that does not parse or execute. The template engine's
    /// message names the key (the template's name) and never a data value.
    #[error(transparent)]
    Template(#[from] crate::template::Error),
}

/// Why an object could not be encoded ([`Error::Encode`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// From `serde_json`.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// From `serde-saphyr`.
    #[error(transparent)]
    Yaml(#[from] serde_saphyr::ser::Error),
}
