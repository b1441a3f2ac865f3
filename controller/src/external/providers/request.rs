//! What is asked of a provider ([`Ref`], [`Find`]) and how it fails ([`ProviderError`]): the
//! vocabulary shared by the providers, the credential references and the reconciler.

use std::collections::BTreeMap;
use std::time::Instant;

/// Why a provider call failed. Messages name the store's object and what to do, never a value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The secret, its version or its property's parent does not exist at the provider.
    #[error("{0}")]
    NotFound(String),
    /// The store's spec or its referenced credentials are wrong or missing.
    #[error("{0}")]
    Config(String),
    /// A ClusterSecretStore reference that only an ExternalSecret's namespace resolves.
    #[error("{0}")]
    Referent(String),
    /// The provider refused or could not be reached (auth, network, throttling).
    #[error("{0}")]
    Failed(String),
}

/// One remote value to read (`remoteRef` with ESO's defaults applied).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ref {
    pub key: String,
    pub property: Option<String>,
    pub version: Option<String>,
    /// `metadataPolicy: Fetch`: read the secret's tags/metadata instead of its value.
    pub metadata: bool,
    /// A read of the same secret that started at or after this instant may be shared (e.g.
    /// the reconcile's start: the value is as fresh as one read by the reconcile itself);
    /// `None`: only reads starting now.
    pub fresh_since: Option<Instant>,
}

/// `dataFrom[].find`: which secrets to read.
#[derive(Clone, Debug, Default)]
pub struct Find {
    pub path: Option<String>,
    pub name: Option<regex::Regex>,
    pub tags: BTreeMap<String, String>,
    /// As [`Ref::fresh_since`], for the secrets found.
    pub fresh_since: Option<Instant>,
}
