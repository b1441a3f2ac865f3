//! Builders for the objects unit tests feed the reconcilers' decisions: a SealedSecret as the
//! API server would hand it over (uid, generation, status) and the Secrets around it.
//!
//! ```ignore
//! let ss = sealed_secret("web").generation(2).synced().build();
//! let mine = secret("web").owned_by(&ss).data("password", "s3cret").build();
//! ```

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt;
use kube::api::ObjectMeta;

use crate::crd::sealed::{
    SealedSecret, SealedSecretCondition, SealedSecretSpec, SealedSecretStatus,
};

/// A SealedSecret `name` in `default`, uid `uid-<name>`, generation 1, no status.
pub fn sealed_secret(name: &str) -> SealedSecretBuilder {
    let mut ss = SealedSecret::new(name, SealedSecretSpec::default());
    ss.metadata.namespace = Some("default".into());
    ss.metadata.uid = Some(format!("uid-{name}"));
    ss.metadata.generation = Some(1);
    SealedSecretBuilder(ss)
}

pub struct SealedSecretBuilder(SealedSecret);

impl SealedSecretBuilder {
    pub fn generation(mut self, generation: i64) -> Self {
        self.0.metadata.generation = Some(generation);
        self
    }

    /// A status as the controller writes it, for `observed` and `message` (None: synced).
    pub fn status(mut self, observed: i64, message: Option<&str>, transition: &str) -> Self {
        self.0.status = Some(SealedSecretStatus {
            observed_generation: Some(observed),
            conditions: vec![SealedSecretCondition {
                type_: "Synced".into(),
                status: if message.is_none() { "True" } else { "False" }.into(),
                last_update_time: Some(transition.into()),
                last_transition_time: Some(transition.into()),
                reason: None,
                message: message.map(Into::into),
            }],
        });
        self
    }

    /// Synced at its current generation.
    pub fn synced(self) -> Self {
        let generation = self.0.metadata.generation.unwrap_or_default();
        self.status(generation, None, "2026-01-01T00:00:00Z")
    }

    pub fn build(self) -> SealedSecret {
        self.0
    }
}

/// A Secret `name` in `default`, type Opaque, no data, no owner.
pub fn secret(name: &str) -> SecretBuilder {
    SecretBuilder(Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        ..Secret::default()
    })
}

pub struct SecretBuilder(Secret);

impl SecretBuilder {
    /// Controlled by `ss`, as the reconciler sets it.
    pub fn owned_by(mut self, ss: &SealedSecret) -> Self {
        self.0.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "bitnami.com/v1alpha1".into(),
            kind: "SealedSecret".into(),
            name: ss.name_any(),
            uid: ss.uid().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: None,
        }]);
        self
    }

    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.0
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        self
    }

    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.0
            .metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        self
    }

    pub fn data(mut self, key: &str, value: &str) -> Self {
        self.0
            .data
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), ByteString(value.as_bytes().to_vec()));
        self
    }

    pub fn type_(mut self, type_: Option<&str>) -> Self {
        self.0.type_ = type_.map(Into::into);
        self
    }

    pub fn build(self) -> Secret {
        self.0
    }
}
