//! sealbox-controller: the in-cluster half of Sealed Secrets, wire-compatible with
//! bitnami-labs/sealed-secrets (spec `sealed-secrets.md` §2–§3), built to host more reconcilers
//! (ExternalSecrets next) beside it.
//!
//! Which piece when:
//! - the Kubernetes types: [`crd`], one file per API group (`crdgen` prints the CRDs);
//! - one reconciler with its flags, keys and routes: [`sealed`] ([`sealed::run`]);
//! - the ExternalSecret reconciler's pure decisions (hashes, keys, gjson properties, refresh
//!   and policies): [`external`];
//! - what every reconciler shares: [`flags`] (Go-style flag values), [`metrics`] (the one
//!   registry), [`events`] (Kubernetes Events), [`http`] (the API and `/metrics` servers),
//!   [`supervisor`] (every task watched; graceful shutdown), [`ratelimit`] (the `/v1/verify`
//!   limit and the stores' client-side one), [`leader`] (with several
//!   replicas, only the holder of a Lease reconciles), [`rollout`] (the workloads a Secret's
//!   owner names, restarted when its data changes).
//!
//! The `sealbox-controller` binary wires them together from its flags.
#![forbid(unsafe_code)]

pub mod crd;
pub mod events;
pub mod external;
pub mod flags;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod ratelimit;
pub mod rollout;
pub mod sealed;
pub mod supervisor;

#[cfg(test)]
mod fixtures;
