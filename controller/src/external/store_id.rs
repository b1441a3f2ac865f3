//! Which store an ExternalSecret names ([`Kind`], from its `secretStoreRef`), and a store as
//! read, with the version a provider client is built for ([`StoreId`]).

use crate::crd::external::externalsecret::SecretStoreRef;

/// `SecretStore` or `ClusterSecretStore`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Namespaced,
    Cluster,
}

impl Kind {
    /// The kind a `storeRef` names; absent means SecretStore (ESO decides it in code).
    pub fn of(r: &SecretStoreRef) -> Result<Kind, String> {
        match r.kind.as_deref() {
            None | Some("") | Some("SecretStore") => Ok(Kind::Namespaced),
            Some("ClusterSecretStore") => Ok(Kind::Cluster),
            Some(other) => Err(format!(
                "secretStoreRef.kind {other:?} is not a store kind: use SecretStore or ClusterSecretStore"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Namespaced => "SecretStore",
            Kind::Cluster => "ClusterSecretStore",
        }
    }
}

/// A store as a client is built for: which one, and which version of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreId {
    pub kind: Kind,
    /// The SecretStore's namespace (empty for a ClusterSecretStore).
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub generation: i64,
}

impl StoreId {
    /// `Kind/namespace/name`: one key per store, whatever its version.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.kind.name(), self.namespace, self.name)
    }
}
