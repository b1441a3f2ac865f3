//! `external-secrets.io` exactly as External Secrets Operator v2.9 defines it (spec
//! `external-secrets.md` §1–§4, §6.1, §7.1), so every manifest in Git keeps working:
//! [`ExternalSecret`], [`SecretStore`], [`ClusterSecretStore`], [`ClusterExternalSecret`].
//!
//! Which piece when:
//! - the objects and their specs: [`externalsecret`], [`store`], [`cluster_external_secret`];
//! - the selectors and conditions they share: [`meta`] (ESO's `esmeta`);
//! - the provider blocks sealbox syncs from: [`aws`], [`vault`] (every other provider is kept
//!   as it is written and reported as unsupported: [`store::SecretStoreProvider::other`]);
//! - the CRDs as `crdgen` prints them: [`crds`].
//!
//! Choices that matter for users switching from ESO:
//! - `v1` is served and stored; `v1beta1` is served too, with the same schema (ESO's v1beta1 is
//!   a strict subset of v1, and there is no conversion webhook: the API server only rewrites
//!   `apiVersion`), because most manifests in the wild still say `v1beta1` (spec §1).
//! - Only the CRD defaults ESO still has are declared (spec §2.1): adding or dropping one makes
//!   GitOps tools show a permanent diff. Enumerations are kept as strings here and checked by
//!   the reconciler, so one odd value makes one object fail, not the whole watch.
//! - `spec.provider` preserves unknown fields: a store for another provider is accepted (and
//!   reported as unsupported), and the CRDs stay small enough for client-side `kubectl apply`.
//!
//! ```
//! let crds = sealbox_controller::crd::external::crds();
//! let names: Vec<_> = crds.iter().map(|c| c.metadata.name.clone().unwrap()).collect();
//! assert!(names.contains(&"externalsecrets.external-secrets.io".to_string()));
//! for crd in &crds {
//!     let versions: Vec<_> = crd.spec.versions.iter().map(|v| (v.name.as_str(), v.served, v.storage)).collect();
//!     assert_eq!(versions, [("v1", true, true), ("v1beta1", true, false)]);
//! }
//! ```

pub mod aws;
pub mod cluster_external_secret;
pub mod externalsecret;
pub mod meta;
pub mod store;
pub mod vault;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use cluster_external_secret::{ClusterExternalSecret, ClusterExternalSecretSpec};
pub use externalsecret::{ExternalSecret, ExternalSecretSpec, ExternalSecretStatus};
pub use meta::{Condition, SecretKeySelector, ServiceAccountSelector};
pub use store::{ClusterSecretStore, SecretStore, SecretStoreSpec, SecretStoreStatus};

/// The API group.
pub const GROUP: &str = "external-secrets.io";

/// The four CRDs, each serving `v1` (storage) and `v1beta1` with the same schema.
pub fn crds() -> Vec<CustomResourceDefinition> {
    [
        ExternalSecret::crd(),
        SecretStore::crd(),
        ClusterSecretStore::crd(),
        ClusterExternalSecret::crd(),
    ]
    .into_iter()
    .map(also_serve_v1beta1)
    .collect()
}

/// Adds `v1beta1` beside `v1`: served, not stored, deprecated as ESO marks it, same schema.
fn also_serve_v1beta1(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    let mut beta = crd.spec.versions[0].clone();
    beta.name = "v1beta1".into();
    beta.storage = false;
    beta.deprecated = Some(true);
    crd.spec.versions.push(beta);
    crd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_crd_serves_v1_and_v1beta1_with_one_schema() {
        for crd in crds() {
            let [v1, beta] = &crd.spec.versions[..] else {
                panic!("two versions")
            };
            assert_eq!(
                (v1.name.as_str(), v1.served, v1.storage),
                ("v1", true, true)
            );
            assert_eq!(
                (beta.name.as_str(), beta.served, beta.storage),
                ("v1beta1", true, false)
            );
            assert_eq!(v1.schema, beta.schema);
            assert_eq!(crd.spec.group, GROUP);
        }
    }
}
