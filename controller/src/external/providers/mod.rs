//! The secret managers sealbox reads from, behind one type: [`Client`] (AWS Secrets Manager or
//! Vault KV), built from a store's `spec.provider` by [`Client::connect`].
//!
//! Which method when (ESO's `SecretsClient`, spec §6.3 and §7.3):
//! - [`Client::get_secret`]: one value (`data[].remoteRef`), `property` applied;
//! - [`Client::get_secret_map`]: a JSON object's keys (`dataFrom[].extract`);
//! - [`Client::get_all`]: many secrets by name, tags or path (`dataFrom[].find`);
//! - [`Client::validate`]: whether the store's credentials work (the store's `Ready`);
//! - [`Client::prefetch`]: before several `get_secret`s, reads their values together where
//!   the provider can (AWS `BatchGetSecretValue`); a no-op for Vault, which cannot.
//!
//! Errors say whether the secret is missing ([`ProviderError::NotFound`], which feeds
//! `deletionPolicy`), the store is wrong ([`ProviderError::Config`]), or the call failed
//! ([`ProviderError::Failed`], retried with backoff). No error text carries a secret value.

pub mod aws;
pub mod meter;
pub mod request;
pub mod singleflight;
pub mod vault;

use std::collections::BTreeMap;

pub use meter::Meter;
pub use request::{Find, ProviderError, Ref};

use crate::crd::external::store::SecretStoreProvider;
use crate::external::refs::Refs;

/// A connected provider client for one store (and, for referent auth, one namespace).
pub enum Client {
    Aws(aws::Client),
    Vault(vault::Client),
}

impl Client {
    /// Builds the client of `provider`, reading its credentials through `refs`; its calls are
    /// counted by `meter`.
    pub async fn connect(
        provider: &SecretStoreProvider,
        refs: &Refs,
        meter: &Meter,
    ) -> Result<Client, ProviderError> {
        match (&provider.aws, &provider.vault) {
            (Some(aws), None) if provider.other.is_empty() => {
                Ok(Client::Aws(aws::Client::connect(aws, refs, meter).await?))
            }
            (None, Some(vault)) if provider.other.is_empty() => Ok(Client::Vault(
                vault::Client::connect(vault, refs, meter).await?,
            )),
            _ => Err(ProviderError::Config(unsupported(provider))),
        }
    }

    pub async fn get_secret(&self, r: &Ref) -> Result<Vec<u8>, ProviderError> {
        match self {
            Client::Aws(c) => c.get_secret(r).await,
            Client::Vault(c) => c.get_secret(r).await,
        }
    }

    pub async fn get_secret_map(
        &self,
        r: &Ref,
    ) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
        match self {
            Client::Aws(c) => c.get_secret_map(r).await,
            Client::Vault(c) => c.get_secret_map(r).await,
        }
    }

    pub async fn get_all(&self, find: &Find) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
        match self {
            Client::Aws(c) => c.get_all(find).await,
            Client::Vault(c) => c.get_all(find).await,
        }
    }

    pub async fn prefetch(&self, refs: &[Ref]) {
        match self {
            Client::Aws(c) => c.prefetch(refs).await,
            Client::Vault(_) => {}
        }
    }

    pub async fn validate(&self) -> Result<(), ProviderError> {
        match self {
            Client::Aws(c) => c.validate().await,
            Client::Vault(c) => c.validate().await,
        }
    }

    /// Whether the client can be used for more reads (a Vault token is renewed when due; one
    /// at the end of its life needs a new client). AWS credentials refresh themselves.
    pub async fn alive(&self) -> bool {
        match self {
            Client::Aws(_) => true,
            Client::Vault(c) => c.alive().await,
        }
    }
}

/// Names what `spec.provider` holds when it is not exactly one supported provider.
fn unsupported(provider: &SecretStoreProvider) -> String {
    let mut names: Vec<&str> = provider.other.keys().map(String::as_str).collect();
    if provider.aws.is_some() {
        names.push("aws");
    }
    if provider.vault.is_some() {
        names.push("vault");
    }
    match names[..] {
        [] => "spec.provider is empty: set exactly one provider (sealbox supports aws and vault)"
            .into(),
        [one] => format!(
            "provider {one:?} is not supported by sealbox (it syncs from aws Secrets Manager and vault): keep External Secrets Operator for this store or move the secret"
        ),
        _ => format!(
            "spec.provider sets {} providers ({}): set exactly one",
            names.len(),
            names.join(", ")
        ),
    }
}
