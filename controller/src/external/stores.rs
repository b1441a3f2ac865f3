//! Finding the store an ExternalSecret reads from, and whether it may (spec §3, §5.3 step 4):
//! the controller class, a ClusterSecretStore's `conditions`, the flood gate (`Ready=True`),
//! then a connected provider [`Client`].
//!
//! Which function when: [`Stores::client`] inside a reconcile (the store's client from
//! [`Clients`], kept across reconciles); [`Stores::skips`] first, to leave objects of another controller class alone;
//! [`namespace_allowed`] and [`selector_matches`] are the pure rules, unit-tested here.
//!
//! Stores are read from a [`StoreCache`], watched, as ESO reads them from its informer cache:
//! a reconcile makes no API call for them. A ClusterSecretStore is watched only when the
//! controller watches all namespaces (with `--namespace`, its RBAC may be a namespaced Role):
//! otherwise it is read from the API server when an ExternalSecret names one.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::runtime::reflector::{self, ObjectRef, Store as Reader};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client as Kube};

use super::breaker::Paused;
use super::clients::Clients;
use super::providers::{Client, ProviderError};
use super::status;
use super::store_id::{Kind, StoreId};
use super::triggers;
use crate::crd::external::store::StoreCondition;
use crate::crd::external::{ClusterSecretStore, SecretStore, SecretStoreSpec, SecretStoreStatus};

/// Why a store cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store does not exist, is not ready, or refuses the namespace.
    #[error("{0}")]
    Unusable(String),
    /// Its provider client could not be built.
    #[error("{0}")]
    Provider(#[from] ProviderError),
    /// Its provider is not called for now (the store's circuit breaker).
    #[error(
        "{what}: provider calls paused for {}s {}",
        seconds_left(.paused.until),
        .paused.why()
    )]
    Paused { what: String, paused: Paused },
}

/// Whole seconds from now to `until`, at least 1.
fn seconds_left(until: Instant) -> u64 {
    until
        .saturating_duration_since(Instant::now())
        .as_secs()
        .max(1)
}

/// The stores as watched.
#[derive(Clone)]
pub struct StoreCache {
    namespaced: Reader<SecretStore>,
    /// `None`: ClusterSecretStores are read from the API server.
    cluster: Option<Reader<ClusterSecretStore>>,
}

impl StoreCache {
    /// Watches the SecretStores of `namespace` (`None`: all) and, when `cluster`, the
    /// ClusterSecretStores. The cache fills while the returned future runs (for ever).
    pub fn watch(
        kube: &Kube,
        namespace: Option<&str>,
        cluster: bool,
    ) -> (StoreCache, impl Future<Output = ()> + Send + 'static) {
        let api: Api<SecretStore> = match namespace {
            Some(ns) => Api::namespaced(kube.clone(), ns),
            None => Api::all(kube.clone()),
        };
        let (namespaced, writer) = reflector::store();
        let namespaced_watch = reflect(api, writer);
        let (cluster_reader, cluster_watch) = if cluster {
            let (reader, writer) = reflector::store();
            let api = Api::<ClusterSecretStore>::all(kube.clone());
            (Some(reader), Some(reflect(api, writer)))
        } else {
            (None, None)
        };
        let watching = async move {
            let cluster = async {
                if let Some(watch) = cluster_watch {
                    watch.await;
                }
            };
            futures::join!(namespaced_watch, cluster);
        };
        let cache = StoreCache {
            namespaced,
            cluster: cluster_reader,
        };
        (cache, watching)
    }

    /// Waits until every watched kind has been listed once.
    pub async fn ready(&self) {
        // Only a dropped writer makes these fail, and the watches keep theirs.
        let _ = self.namespaced.wait_until_ready().await;
        if let Some(cluster) = &self.cluster {
            let _ = cluster.wait_until_ready().await;
        }
    }
}

/// Keeps `writer`'s store in step with the objects of `api` (without their `managedFields`).
async fn reflect<K>(api: Api<K>, writer: reflector::store::Writer<K>)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(triggers::slim)
        .reflect(writer)
        .for_each(|event| {
            if let Err(e) = event {
                tracing::warn!(
                    "cannot watch {}: {e}; ExternalSecrets wait for their stores until it can",
                    K::plural(&())
                );
            }
            futures::future::ready(())
        })
        .await;
}

/// The stores of one reconcile, with the controller's settings.
pub struct Stores<'a> {
    pub kube: &'a Kube,
    /// `--controller-class`.
    pub class: &'a str,
    /// `--enable-flood-gate`.
    pub flood_gate: bool,
    /// The ExternalSecret's namespace.
    pub namespace: &'a str,
    cache: &'a Clients,
    watched: &'a StoreCache,
    clients: BTreeMap<(Kind, String), Arc<Client>>,
    /// The stores read so far in this reconcile (`None`: it does not exist): the class check
    /// and the client use one read.
    read: BTreeMap<(Kind, String), Option<Store>>,
}

/// A store as read: what a client is built from.
#[derive(Clone)]
struct Store {
    id: StoreId,
    spec: SecretStoreSpec,
    status: SecretStoreStatus,
}

impl<'a> Stores<'a> {
    pub fn new(
        kube: &'a Kube,
        cache: &'a Clients,
        watched: &'a StoreCache,
        class: &'a str,
        flood_gate: bool,
        namespace: &'a str,
    ) -> Stores<'a> {
        Stores {
            kube,
            class,
            flood_gate,
            namespace,
            cache,
            watched,
            clients: BTreeMap::new(),
            read: BTreeMap::new(),
        }
    }

    async fn get(&mut self, kind: Kind, name: &str) -> Result<Option<Store>, kube::Error> {
        let key = (kind, name.to_owned());
        if let Some(store) = self.read.get(&key) {
            return Ok(store.clone());
        }
        let id = |meta: &kube::api::ObjectMeta, namespace: &str| StoreId {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            uid: meta.uid.clone().unwrap_or_default(),
            generation: meta.generation.unwrap_or_default(),
        };
        let cluster = |s: &ClusterSecretStore| Store {
            id: id(&s.metadata, ""),
            spec: s.spec.0.clone(),
            status: s.status.clone().unwrap_or_default(),
        };
        let store = match (kind, &self.watched.cluster) {
            (Kind::Namespaced, _) => self
                .watched
                .namespaced
                .get(&ObjectRef::new(name).within(self.namespace))
                .map(|s| Store {
                    id: id(&s.metadata, self.namespace),
                    spec: s.spec.clone(),
                    status: s.status.clone().unwrap_or_default(),
                }),
            (Kind::Cluster, Some(watched)) => {
                watched.get(&ObjectRef::new(name)).map(|s| cluster(&s))
            }
            (Kind::Cluster, None) => Api::<ClusterSecretStore>::all(self.kube.clone())
                .get_opt(name)
                .await?
                .map(|s| cluster(&s)),
        };
        self.read.insert(key, store.clone());
        Ok(store)
    }

    /// Whether any of `refs` is a store of another controller class (the ExternalSecret is
    /// then left alone, silently, as ESO does). Missing stores do not count.
    pub async fn skips(&mut self, refs: &[(Kind, String)]) -> Result<bool, kube::Error> {
        for (kind, name) in refs {
            if let Some(store) = self.get(*kind, name).await?
                && !class_matches(store.spec.controller.as_deref(), self.class)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The connected client of the store `kind`/`name`, looked up once per reconcile.
    pub async fn client(&mut self, kind: Kind, name: &str) -> Result<Arc<Client>, StoreError> {
        let key = (kind, name.to_owned());
        if !self.clients.contains_key(&key) {
            let client = self.connect(kind, name).await?;
            self.clients.insert(key.clone(), client);
        }
        Ok(self.clients[&key].clone())
    }

    async fn connect(&mut self, kind: Kind, name: &str) -> Result<Arc<Client>, StoreError> {
        let what = format!("{} {name:?}", kind.name());
        let Store {
            id,
            spec,
            status: store_status,
        } = self
            .get(kind, name)
            .await
            .map_err(|e| StoreError::Unusable(format!("cannot read {what}: {e}")))?
            .ok_or_else(|| {
                StoreError::Unusable(match kind {
                    Kind::Namespaced => format!(
                        "{what} does not exist in namespace {:?}: create it or fix spec.secretStoreRef",
                        self.namespace
                    ),
                    Kind::Cluster => {
                        format!("{what} does not exist: create it or fix spec.secretStoreRef")
                    }
                })
            })?;
        // The namespace is read only when there are conditions to check it against.
        if kind == Kind::Cluster && !spec.conditions.is_empty() {
            let ns: Namespace = Api::<Namespace>::all(self.kube.clone())
                .get(self.namespace)
                .await
                .map_err(|e| {
                    StoreError::Unusable(format!("cannot read namespace {:?}: {e}", self.namespace))
                })?;
            let labels = ns.metadata.labels.unwrap_or_default();
            if !namespace_allowed(&spec.conditions, self.namespace, &labels)
                .map_err(StoreError::Unusable)?
            {
                return Err(StoreError::Unusable(format!(
                    "using cluster store {name:?} is not allowed from namespace {:?}: denied by spec.condition",
                    self.namespace
                )));
            }
        }
        if self.flood_gate && !status::ready(&store_status.conditions) {
            return Err(StoreError::Unusable(format!(
                "{} {name:?} is not ready",
                kind.name()
            )));
        }
        if let Err(paused) = self.cache.admit(&id) {
            return Err(StoreError::Paused { what, paused });
        }
        self.cache
            .client(&id, &spec.provider, Some(self.namespace))
            .await
            .map_err(|e| StoreError::Provider(prefix(&what, e)))
    }
}

/// Prefixes a provider error with the store it came from.
pub fn prefix(what: &str, e: ProviderError) -> ProviderError {
    match e {
        ProviderError::NotFound(m) => ProviderError::NotFound(format!("{what}: {m}")),
        ProviderError::Config(m) => ProviderError::Config(format!("{what}: {m}")),
        ProviderError::Referent(m) => ProviderError::Referent(format!("{what}: {m}")),
        ProviderError::Failed(m) => ProviderError::Failed(format!("{what}: {m}")),
    }
}

/// A store with no class is everyone's; otherwise it must name ours (`--controller-class`).
pub fn class_matches(store_class: Option<&str>, ours: &str) -> bool {
    store_class.is_none_or(|c| c.is_empty() || c == ours)
}

/// Whether a ClusterSecretStore's `conditions` let `namespace` use it: no conditions allow
/// every namespace; otherwise any selector, name or (unanchored) regex of any condition
/// must match (spec §3, `shouldProcessSecret`).
pub fn namespace_allowed(
    conditions: &[StoreCondition],
    namespace: &str,
    labels: &BTreeMap<String, String>,
) -> Result<bool, String> {
    if conditions.is_empty() {
        return Ok(true);
    }
    for condition in conditions {
        if let Some(selector) = &condition.namespace_selector
            && selector_matches(selector, labels)?
        {
            return Ok(true);
        }
        if condition.namespaces.iter().any(|n| n == namespace) {
            return Ok(true);
        }
        for pattern in &condition.namespace_regexes {
            let re = regex::Regex::new(pattern).map_err(|e| {
                format!("spec.conditions namespaceRegexes {pattern:?} is not a valid regular expression: {e}")
            })?;
            if re.is_match(namespace) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Kubernetes label-selector semantics (`matchLabels` AND every `matchExpressions`).
pub fn selector_matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
) -> Result<bool, String> {
    for (k, v) in selector.match_labels.iter().flatten() {
        if labels.get(k) != Some(v) {
            return Ok(false);
        }
    }
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default();
        let value = labels.get(&e.key);
        let ok = match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            other => {
                return Err(format!(
                    "label selector operator {other:?} is not one of In, NotIn, Exists, DoesNotExist"
                ));
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn no_conditions_allow_every_namespace() {
        assert_eq!(namespace_allowed(&[], "anything", &labels(&[])), Ok(true));
    }

    #[test]
    fn names_regexes_and_selectors_are_ored() {
        let conditions = vec![
            StoreCondition {
                namespaces: vec!["team-a".into()],
                ..StoreCondition::default()
            },
            StoreCondition {
                namespace_regexes: vec!["^prod-".into()],
                namespace_selector: Some(LabelSelector {
                    match_labels: Some(labels(&[("tier", "gold")])),
                    ..LabelSelector::default()
                }),
                ..StoreCondition::default()
            },
        ];
        let none = labels(&[]);
        assert_eq!(namespace_allowed(&conditions, "team-a", &none), Ok(true));
        assert_eq!(namespace_allowed(&conditions, "prod-eu", &none), Ok(true));
        assert_eq!(
            namespace_allowed(&conditions, "dev", &labels(&[("tier", "gold")])),
            Ok(true)
        );
        assert_eq!(namespace_allowed(&conditions, "team-b", &none), Ok(false));
    }

    #[test]
    fn regexes_are_unanchored_as_in_go() {
        let conditions = vec![StoreCondition {
            namespace_regexes: vec!["team".into()],
            ..StoreCondition::default()
        }];
        assert_eq!(
            namespace_allowed(&conditions, "my-team-x", &labels(&[])),
            Ok(true)
        );
        let bad = vec![StoreCondition {
            namespace_regexes: vec!["(".into()],
            ..StoreCondition::default()
        }];
        let err = namespace_allowed(&bad, "x", &labels(&[])).unwrap_err();
        assert!(err.contains("namespaceRegexes"), "{err}");
    }

    #[test]
    fn selector_expressions() {
        let expr = |key: &str, op: &str, values: &[&str]| LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: key.into(),
                operator: op.into(),
                values: Some(values.iter().map(|v| v.to_string()).collect()),
            }]),
            ..LabelSelector::default()
        };
        let l = labels(&[("env", "prod")]);
        assert_eq!(
            selector_matches(&expr("env", "In", &["prod", "qa"]), &l),
            Ok(true)
        );
        assert_eq!(
            selector_matches(&expr("env", "NotIn", &["prod"]), &l),
            Ok(false)
        );
        assert_eq!(selector_matches(&expr("env", "Exists", &[]), &l), Ok(true));
        assert_eq!(
            selector_matches(&expr("team", "DoesNotExist", &[]), &l),
            Ok(true)
        );
        assert!(selector_matches(&expr("env", "Gt", &[]), &l).is_err());
    }

    #[test]
    fn classes() {
        assert!(class_matches(None, "default"));
        assert!(class_matches(Some(""), "default"));
        assert!(class_matches(Some("default"), "default"));
        assert!(!class_matches(Some("other"), "default"));
    }
}
