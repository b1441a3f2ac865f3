//! sealbox-controller: the in-cluster half of Sealed Secrets, wire-compatible with
//! bitnami-labs/sealed-secrets (spec `sealed-secrets.md` §2–§3).
//!
//! Which piece when:
//! - the Kubernetes types: [`crd`] (`crdgen` prints the CRD);
//! - keys: [`sealed::keyring`] ([`sealed::keyring::load`], [`sealed::keyring::renew`],
//!   [`sealed::keyring::watch`]);
//! - SealedSecret → Secret: [`sealed::reconciler::run`];
//! - kubeseal's HTTP API and `/metrics`: [`sealed::api::router`],
//!   [`sealed::api::metrics_router`].
//!
//! The `sealbox-controller` binary wires them together from its flags.
#![forbid(unsafe_code)]

pub mod crd;
pub mod sealed;
