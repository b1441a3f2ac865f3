//! The Kubernetes objects a store's auth points at: keys of Secrets and ServiceAccount tokens,
//! resolved with ESO's namespace rules (spec §3 "Referent authentication").
//!
//! Which function when: [`Refs::secret_key`] for a `SecretKeySelector`,
//! [`Refs::service_account_token`] for a `serviceAccountRef` (TokenRequest),
//! [`Refs::service_account`] when the ServiceAccount itself is needed (its annotations).
//! The pure rule deciding the namespace is [`namespace_for`].
//!
//! A `Refs` remembers what it read ([`Refs::reads`]): the objects and their versions, whether a
//! reference resolved in the ExternalSecret's namespace, and when the tokens it requested
//! expire. The client cache keys and invalidates clients by that.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::PostParams;
use kube::{Api, Client};
use zeroize::Zeroizing;

use super::providers::request::ProviderError;
use crate::crd::external::{SecretKeySelector, ServiceAccountSelector};

/// Which kind of store the references belong to: it decides their namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreScope {
    /// A SecretStore: every reference is in the store's namespace.
    Namespaced { namespace: String },
    /// A ClusterSecretStore: a reference's own namespace, else the ExternalSecret's (`None`
    /// while the store itself is validated, when there is no ExternalSecret).
    Cluster { es_namespace: Option<String> },
}

/// The namespace a reference resolves in, or `None` for a referent reference of a
/// ClusterSecretStore with no ExternalSecret to resolve it against.
pub fn namespace_for<'a>(scope: &'a StoreScope, selector_ns: Option<&'a str>) -> Option<&'a str> {
    match scope {
        StoreScope::Namespaced { namespace } => Some(namespace),
        StoreScope::Cluster { es_namespace } => selector_ns.or(es_namespace.as_deref()),
    }
}

/// Reads what a store's auth references, for one store used from one namespace.
#[derive(Clone)]
pub struct Refs {
    client: Client,
    scope: StoreScope,
    reads: Arc<Mutex<Reads>>,
}

/// An object a store's credentials were read from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    pub kind: SourceKind,
    pub namespace: String,
    pub name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKind {
    Secret,
    ServiceAccount,
}

/// What a [`Refs`] read.
#[derive(Clone, Debug, Default)]
pub struct Reads {
    /// Each object read, with the `resourceVersion` read (empty: it did not exist).
    pub sources: Vec<(Source, String)>,
    /// A reference resolved in the ExternalSecret's namespace (referent authentication): what
    /// was read holds for that namespace only.
    pub referent: bool,
    /// When the earliest ServiceAccount token requested expires.
    pub token_expires: Option<SystemTime>,
}

impl Refs {
    pub fn new(client: Client, scope: StoreScope) -> Refs {
        Refs {
            client,
            scope,
            reads: Arc::default(),
        }
    }

    /// What was read through this `Refs` (and its clones) so far.
    pub fn reads(&self) -> Reads {
        self.reads.lock().expect("lock").clone()
    }

    fn record(&self, kind: SourceKind, namespace: &str, name: &str, version: Option<&str>) {
        let source = Source {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        self.reads
            .lock()
            .expect("lock")
            .sources
            .push((source, version.unwrap_or_default().to_owned()));
    }

    /// Whether every reference of this store resolves without an ExternalSecret.
    pub fn scope(&self) -> &StoreScope {
        &self.scope
    }

    fn namespace(&self, selector_ns: Option<&str>, what: &str) -> Result<String, ProviderError> {
        if selector_ns.is_none() && matches!(self.scope, StoreScope::Cluster { .. }) {
            self.reads.lock().expect("lock").referent = true;
        }
        namespace_for(&self.scope, selector_ns)
            .map(str::to_owned)
            .ok_or_else(|| {
                ProviderError::Referent(format!(
                    "{what} has no namespace: it is read in the namespace of each ExternalSecret using this ClusterSecretStore"
                ))
            })
    }

    /// The bytes of `selector.key` (or `default_key` when the selector names none) in the
    /// Secret `selector.name`.
    pub async fn secret_key(
        &self,
        selector: &SecretKeySelector,
        default_key: &str,
    ) -> Result<Zeroizing<Vec<u8>>, ProviderError> {
        let key = if selector.key.is_empty() {
            default_key
        } else {
            &selector.key
        };
        let what = format!("Secret {:?} (key {key:?})", selector.name);
        if selector.name.is_empty() {
            return Err(ProviderError::Config(format!(
                "{what}: the secret reference names no Secret; set its `name`"
            )));
        }
        let ns = self.namespace(selector.namespace.as_deref(), &what)?;
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &ns);
        let secret = api.get_opt(&selector.name).await.map_err(|e| {
            ProviderError::Failed(format!("cannot read Secret {ns}/{}: {e}", selector.name))
        })?;
        self.record(
            SourceKind::Secret,
            &ns,
            &selector.name,
            secret
                .as_ref()
                .and_then(|s| s.metadata.resource_version.as_deref()),
        );
        let Some(mut secret) = secret else {
            return Err(ProviderError::Config(format!(
                "Secret {ns}/{} does not exist: create it with the store's credentials",
                selector.name
            )));
        };
        let value = secret
            .data
            .as_mut()
            .and_then(|data| data.remove(key))
            .ok_or_else(|| {
                ProviderError::Config(format!(
                    "Secret {ns}/{} has no key {key:?}: add it or fix the store's reference",
                    selector.name
                ))
            })?;
        Ok(Zeroizing::new(value.0))
    }

    /// The ServiceAccount a `serviceAccountRef` names.
    pub async fn service_account(
        &self,
        selector: &ServiceAccountSelector,
    ) -> Result<ServiceAccount, ProviderError> {
        let what = format!("ServiceAccount {:?}", selector.name);
        let ns = self.namespace(selector.namespace.as_deref(), &what)?;
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &ns);
        let account = api.get_opt(&selector.name).await.map_err(|e| {
            ProviderError::Failed(format!(
                "cannot read ServiceAccount {ns}/{}: {e}",
                selector.name
            ))
        })?;
        self.record(
            SourceKind::ServiceAccount,
            &ns,
            &selector.name,
            account
                .as_ref()
                .and_then(|a| a.metadata.resource_version.as_deref()),
        );
        account.ok_or_else(|| {
            ProviderError::Config(format!(
                "ServiceAccount {ns}/{} does not exist",
                selector.name
            ))
        })
    }

    /// A token for the ServiceAccount, by TokenRequest, for `audiences` (the API server's
    /// default when empty) valid `expiration_seconds` (the API server's default when `None`).
    pub async fn service_account_token(
        &self,
        selector: &ServiceAccountSelector,
        audiences: Vec<String>,
        expiration_seconds: Option<i64>,
    ) -> Result<Zeroizing<String>, ProviderError> {
        let what = format!("ServiceAccount {:?}", selector.name);
        let ns = self.namespace(selector.namespace.as_deref(), &what)?;
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &ns);
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                // Absent, not empty, when none: the API server's default audience, as ESO asks.
                audiences: Some(audiences).filter(|a| !a.is_empty()),
                expiration_seconds,
                ..TokenRequestSpec::default()
            }),
            ..TokenRequest::default()
        };
        let reply = api
            .create_token_request(&selector.name, &PostParams::default(), &request)
            .await
            .map_err(|e| {
                ProviderError::Failed(format!(
                    "cannot request a token for ServiceAccount {ns}/{}: {e}",
                    selector.name
                ))
            })?;
        let status = reply.status.unwrap_or_default();
        let expires = status.expiration_timestamp.map(|t| SystemTime::from(t.0));
        if let Some(expires) = expires.filter(|t| *t > SystemTime::now()) {
            let mut reads = self.reads.lock().expect("lock");
            reads.token_expires = Some(reads.token_expires.map_or(expires, |t| t.min(expires)));
        }
        status
            .token
            .filter(|t| !t.is_empty())
            .map(Zeroizing::new)
            .ok_or_else(|| {
                ProviderError::Failed(format!(
                    "the token request for ServiceAccount {ns}/{} returned no token",
                    selector.name
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_store_reads_in_its_own_namespace_whatever_the_selector_says() {
        let scope = StoreScope::Namespaced {
            namespace: "team-a".into(),
        };
        assert_eq!(namespace_for(&scope, None), Some("team-a"));
        assert_eq!(namespace_for(&scope, Some("kube-system")), Some("team-a"));
    }

    #[test]
    fn a_cluster_store_reads_in_the_selector_namespace_else_the_external_secret_one() {
        let scope = StoreScope::Cluster {
            es_namespace: Some("team-b".into()),
        };
        assert_eq!(namespace_for(&scope, Some("creds")), Some("creds"));
        assert_eq!(namespace_for(&scope, None), Some("team-b"));
        let validating = StoreScope::Cluster { es_namespace: None };
        assert_eq!(namespace_for(&validating, None), None);
        assert_eq!(namespace_for(&validating, Some("creds")), Some("creds"));
    }
}
