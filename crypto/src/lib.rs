//! sealbox-crypto: the pure, synchronous cryptography shared by the `sealbox` CLI and the
//! `sealbox-controller`. No network, no async runtime, no Kubernetes client.
//!
//! - [`sealed`]: the Bitnami Sealed Secrets wire format (hybrid RSA-OAEP + AES-256-GCM), scopes,
//!   key pairs and certificates, and the Secret/SealedSecret manifest semantics.
//! - [`sops`]: the SOPS file format with age recipients.
//! - [`template`]: Go `text/template` with Sprig functions, for ExternalSecret templates and
//!   SealedSecret `template.data`.
#![forbid(unsafe_code)]

pub mod sealed;
pub mod sops;
pub mod template;
