//! Provider clients kept across reconciles (spec §5.4, §14.1). ESO builds a client, resolves
//! credentials (an STS call with a role, a Vault login) and drops it on every reconcile;
//! sealbox builds one per store and keeps it while it is good:
//! - keyed by the store (kind, namespace, name) and checked against its uid and generation, so
//!   a changed or re-created store gets a new client;
//! - for a ClusterSecretStore whose credentials resolve in each ExternalSecret's namespace
//!   (referent authentication), one client per namespace;
//! - dropped when a Secret or ServiceAccount its credentials came from changes
//!   ([`CredentialWatch`]), when the ServiceAccount token it exchanges is near its expiry, or
//!   when its Vault token reaches its max TTL (it is renewed before then);
//! - built once however many reconciles ask at the same time; a failure is shared only with
//!   those already waiting for it.
//!
//! A replaced client's Vault token is revoked once the last reconcile using it is done (when
//! it is dropped). Every client of a store counts its calls into the store's circuit breaker
//! and waits on the store's rate limit (`--store-qps`), so referent clients and a rebuilt
//! client share both.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use kube::Client as Kube;

use super::breaker::{Breakers, Paused};
use super::credwatch::CredentialWatch;
use super::metrics::Metrics;
use super::providers::{Client, Meter, ProviderError};
use super::refs::{Reads, Refs, StoreScope};
use super::store_id::{Kind, StoreId};
use crate::crd::external::store::SecretStoreProvider;
use crate::ratelimit::Gcra;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SlotKey {
    kind: Kind,
    namespace: String,
    name: String,
    /// The ExternalSecret namespace of a referent ClusterSecretStore's client.
    referent: Option<String>,
}

/// Which store version a slot's content is for.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Version {
    uid: String,
    generation: i64,
}

struct Entry {
    version: Version,
    client: Arc<Client>,
    /// Raised by the credential watch.
    stale: Arc<AtomicBool>,
    /// When to build a new one: the exchanged ServiceAccount token is near its expiry.
    renew_at: Option<Instant>,
}

impl Entry {
    async fn usable(&self, version: &Version) -> bool {
        self.version == *version
            && !self.stale.load(Ordering::SeqCst)
            && self.renew_at.is_none_or(|t| Instant::now() < t)
            && self.client.alive().await
    }
}

enum Slot {
    Empty,
    Ready(Entry),
    /// The store's credentials resolve per ExternalSecret namespace: see the namespace's slot.
    Referent(Version),
    /// The last attempt failed (shared with the callers that were waiting for it).
    Failed {
        version: Version,
        at: Instant,
        error: ProviderError,
    },
}

/// The clients of every store in use.
pub struct Clients {
    kube: Kube,
    metrics: Metrics,
    breakers: Arc<Breakers>,
    /// `--store-qps`: each store's provider calls, one cell per store.
    limit: Option<Arc<Gcra>>,
    slots: Mutex<HashMap<SlotKey, Arc<tokio::sync::Mutex<Slot>>>>,
    watch: CredentialWatch,
}

impl Clients {
    /// `store_backoff_max` caps the pauses of the stores' circuit breakers; `limit`, if any,
    /// spaces each store's provider calls.
    pub fn new(
        kube: Kube,
        metrics: Metrics,
        store_backoff_max: Duration,
        limit: Option<Gcra>,
    ) -> Clients {
        Clients {
            watch: CredentialWatch::new(kube.clone()),
            kube,
            metrics,
            breakers: Arc::new(Breakers::new(store_backoff_max)),
            limit: limit.map(Arc::new),
            slots: Mutex::default(),
        }
    }

    /// Whether the provider of `store` may be called now (its circuit breaker).
    pub fn admit(&self, store: &StoreId) -> Result<(), Paused> {
        self.breakers.admit(&store.key())
    }

    /// The client of `store` (whose provider is `provider`) for an ExternalSecret in
    /// `es_namespace` (`None`: the store itself is being validated).
    pub async fn client(
        &self,
        store: &StoreId,
        provider: &SecretStoreProvider,
        es_namespace: Option<&str>,
    ) -> Result<Arc<Client>, ProviderError> {
        let asked = Instant::now();
        let version = Version {
            uid: store.uid.clone(),
            generation: store.generation,
        };
        let key = SlotKey {
            kind: store.kind,
            namespace: store.namespace.clone(),
            name: store.name.clone(),
            referent: None,
        };
        let slot = self.slot(&key);
        let mut guard = slot.lock().await;
        match &*guard {
            Slot::Referent(v) if *v == version => {
                drop(guard);
                let Some(ns) = es_namespace else {
                    // Nothing to resolve the references with: the connect says so.
                    return self.connect(store, provider, None).await.map(|(c, _)| c);
                };
                let key = SlotKey {
                    referent: Some(ns.to_owned()),
                    ..key
                };
                let slot = self.slot(&key);
                let mut guard = slot.lock().await;
                return self
                    .fill(&mut guard, store, provider, es_namespace, &version, asked)
                    .await
                    .map(|(client, _)| client);
            }
            _ => {}
        }
        let (client, reads) = self
            .fill(&mut guard, store, provider, es_namespace, &version, asked)
            .await?;
        if reads.as_ref().is_some_and(|r| r.referent) && store.kind == Kind::Cluster {
            // Built for this namespace only: the entry `fill` made moves to the namespace's
            // slot (its credential watch comes with it).
            let built = std::mem::replace(&mut *guard, Slot::Referent(version.clone()));
            drop(guard);
            if let Some(ns) = es_namespace {
                let key = SlotKey {
                    referent: Some(ns.to_owned()),
                    ..key
                };
                *self.slot(&key).lock().await = built;
            }
        }
        Ok(client)
    }

    fn slot(&self, key: &SlotKey) -> Arc<tokio::sync::Mutex<Slot>> {
        self.slots
            .lock()
            .expect("lock")
            .entry(key.clone())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(Slot::Empty)))
            .clone()
    }

    /// The slot's client if it is usable, else a new one put in the slot. The reads are
    /// returned for a new client.
    async fn fill(
        &self,
        slot: &mut Slot,
        store: &StoreId,
        provider: &SecretStoreProvider,
        es_namespace: Option<&str>,
        version: &Version,
        asked: Instant,
    ) -> Result<(Arc<Client>, Option<Reads>), ProviderError> {
        match &*slot {
            Slot::Ready(entry) if entry.usable(version).await => {
                return Ok((entry.client.clone(), None));
            }
            Slot::Failed {
                version: v,
                at,
                error,
            } if v == version && *at >= asked => {
                return Err(error.clone());
            }
            _ => {}
        }
        match self.connect(store, provider, es_namespace).await {
            Ok((client, reads)) => {
                let entry = self.entry(client.clone(), reads.clone(), version);
                *slot = Slot::Ready(entry);
                Ok((client, Some(reads)))
            }
            Err(error) => {
                let failed = Slot::Failed {
                    version: version.clone(),
                    at: Instant::now(),
                    error: error.clone(),
                };
                *slot = failed;
                Err(error)
            }
        }
    }

    fn entry(&self, client: Arc<Client>, reads: Reads, version: &Version) -> Entry {
        let stale = Arc::new(AtomicBool::new(false));
        self.watch.follow(&reads.sources, &stale);
        Entry {
            version: version.clone(),
            client,
            stale,
            renew_at: reads.token_expires.map(renew_at),
        }
    }

    async fn connect(
        &self,
        store: &StoreId,
        provider: &SecretStoreProvider,
        es_namespace: Option<&str>,
    ) -> Result<(Arc<Client>, Reads), ProviderError> {
        let scope = match store.kind {
            Kind::Namespaced => StoreScope::Namespaced {
                namespace: store.namespace.clone(),
            },
            Kind::Cluster => StoreScope::Cluster {
                es_namespace: es_namespace.map(str::to_owned),
            },
        };
        let refs = Refs::new(self.kube.clone(), scope);
        let (metrics, breakers, id) = (self.metrics.clone(), self.breakers.clone(), store.clone());
        let key = store.key();
        let mut meter = Meter::new(move |provider, call, outcome| {
            metrics.provider_call(&id, provider, call, outcome);
            breakers.record(&key, outcome);
        });
        if let Some(limit) = &self.limit {
            meter = meter.limited(limit.clone(), store.key());
        }
        let client = Client::connect(provider, &refs, &meter).await?;
        Ok((Arc::new(client), refs.reads()))
    }
}

/// When a client exchanging a ServiceAccount token that expires at `expires` is rebuilt:
/// after four fifths of the token's remaining life.
fn renew_at(expires: SystemTime) -> Instant {
    let left = expires
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Instant::now() + left * 4 / 5
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_exchanging_client_is_rebuilt_before_the_token_expires() {
        let now = Instant::now();
        let at = renew_at(SystemTime::now() + Duration::from_secs(3600));
        let left = at.duration_since(now);
        assert!(left <= Duration::from_secs(2881), "{left:?}");
        assert!(left > Duration::from_secs(2870), "{left:?}");
        assert!(renew_at(SystemTime::now() - Duration::from_secs(5)) <= Instant::now());
    }
}
