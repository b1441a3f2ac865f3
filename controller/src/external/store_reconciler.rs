//! The SecretStore and ClusterSecretStore reconcilers (spec §3): every `refreshInterval`
//! (else `--store-requeue-interval`) each store of our controller class is validated — its
//! provider client is built and its credentials checked — and its `Ready` condition written
//! with ESO's reasons, which the flood gate of the ExternalSecret reconciler reads.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::{Api, Client as Kube, Resource, ResourceExt};
use serde_json::json;

use super::clients::Clients;
use super::metrics::Metrics;
use super::providers::ProviderError;
use super::status::{self, message, reason};
use super::store_id::{Kind, StoreId};
use super::stores::class_matches;
use super::triggers;
use crate::crd::external::{ClusterSecretStore, SecretStore, SecretStoreSpec, SecretStoreStatus};
use crate::events::{Kind as EventKind, Recorder};
use crate::flags::go_duration;
use crate::supervisor::Shutdown;

/// ESO's finalizer on stores used by PushSecrets with `deletionPolicy: Delete`.
pub const PUSH_FINALIZER: &str = "secretstore.externalsecrets.io/finalizer";

/// What the store reconcilers share.
pub struct Context {
    pub client: Kube,
    pub events: Recorder,
    pub metrics: Metrics,
    /// Provider clients, shared with the ExternalSecret reconciler.
    pub clients: Arc<Clients>,
    pub class: String,
    /// `--store-requeue-interval`.
    pub requeue: Duration,
}

/// The outcome of validating one store: `Ready`'s status, reason and message, and the error
/// for the Warning Event.
#[derive(Debug, PartialEq)]
pub struct Validation {
    pub ready: bool,
    pub reason: &'static str,
    pub message: &'static str,
    pub error: Option<String>,
}

/// Gets the store's client (built, or kept from earlier) and checks its credentials (ESO's
/// `validateStore`).
pub async fn validate(spec: &SecretStoreSpec, store: &StoreId, clients: &Clients) -> Validation {
    let outcome = match clients.client(store, &spec.provider, None).await {
        Err(e) => Err((message::STORE_CLIENT, e)),
        Ok(client) => client
            .validate()
            .await
            .map_err(|e| (message::STORE_VALIDATE, e)),
    };
    match outcome {
        Ok(()) => Validation {
            ready: true,
            reason: reason::STORE_VALID,
            message: message::STORE_VALID,
            error: None,
        },
        // A ClusterSecretStore whose credentials live in each ExternalSecret's namespace
        // cannot be checked on its own.
        Err((_, ProviderError::Referent(_))) => Validation {
            ready: true,
            reason: reason::STORE_UNKNOWN,
            message: message::STORE_UNKNOWN,
            error: None,
        },
        Err((generic, e)) => Validation {
            ready: false,
            reason: reason::STORE_INVALID,
            message: generic,
            error: Some(e.to_string()),
        },
    }
}

/// `spec.refreshInterval` (seconds or a Go duration), else the controller's default.
pub fn interval(spec: &SecretStoreSpec, default: Duration) -> Duration {
    let parsed = match &spec.refresh_interval {
        Some(IntOrString::Int(secs)) => u64::try_from(*secs).ok().map(Duration::from_secs),
        Some(IntOrString::String(text)) => go_duration(text).ok(),
        None => None,
    };
    parsed.filter(|d| !d.is_zero()).unwrap_or(default)
}

/// Which store kinds are validated (`--enable-secret-store-reconciler`,
/// `--enable-cluster-store-reconciler`).
#[derive(Clone, Copy, Debug)]
pub struct Kinds {
    pub namespaced: bool,
    pub cluster: bool,
}

/// Runs the store reconcilers of `kinds` until `shutdown` (`namespace`: only SecretStores
/// there).
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<String>,
    kinds: Kinds,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let stores: Api<SecretStore> = match &namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    let namespaced = async {
        if kinds.namespaced {
            let (trigger, store) = triggers::watch(stores);
            Controller::for_stream(trigger, store)
                .graceful_shutdown_on(shutdown.clone().wait())
                .run(reconcile_namespaced, error_policy, ctx.clone())
                .for_each(|_| futures::future::ready(()))
                .await;
        }
    };
    let cluster = async {
        if kinds.cluster {
            let (trigger, store) =
                triggers::watch(Api::<ClusterSecretStore>::all(ctx.client.clone()));
            Controller::for_stream(trigger, store)
                .graceful_shutdown_on(shutdown.clone().wait())
                .run(reconcile_cluster, error_policy, ctx.clone())
                .for_each(|_| futures::future::ready(()))
                .await;
        }
    };
    futures::join!(namespaced, cluster);
    Ok(())
}

fn error_policy<K>(_: Arc<K>, _: &kube::Error, _: Arc<Context>) -> Action {
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile_namespaced(
    store: Arc<SecretStore>,
    ctx: Arc<Context>,
) -> Result<Action, kube::Error> {
    let ns = store.namespace().unwrap_or_default();
    let api: Api<SecretStore> = Api::namespaced(ctx.client.clone(), &ns);
    reconcile(
        &*store,
        &store.spec,
        store.status.as_ref(),
        &api,
        Kind::Namespaced,
        &ctx,
    )
    .await
}

async fn reconcile_cluster(
    store: Arc<ClusterSecretStore>,
    ctx: Arc<Context>,
) -> Result<Action, kube::Error> {
    let api: Api<ClusterSecretStore> = Api::all(ctx.client.clone());
    reconcile(
        &*store,
        &store.spec.0,
        store.status.as_ref(),
        &api,
        Kind::Cluster,
        &ctx,
    )
    .await
}

async fn reconcile<K>(
    store: &K,
    spec: &SecretStoreSpec,
    current: Option<&SecretStoreStatus>,
    api: &Api<K>,
    kind: Kind,
    ctx: &Context,
) -> Result<Action, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    if !class_matches(spec.controller.as_deref(), &ctx.class) {
        return Ok(Action::await_change());
    }
    // ESO holds a store with this finalizer while its PushSecrets may delete remote secrets;
    // sealbox has no PushSecrets, so it lets a deleted store go.
    if store.meta().deletion_timestamp.is_some() {
        let finalizers = store.meta().finalizers.clone().unwrap_or_default();
        if finalizers.iter().any(|f| f == PUSH_FINALIZER) {
            let kept: Vec<&String> = finalizers.iter().filter(|f| *f != PUSH_FINALIZER).collect();
            let patch = json!({"metadata": {"finalizers": kept, "resourceVersion": store.meta().resource_version}});
            let name = store.meta().name.clone().unwrap_or_default();
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
        }
        return Ok(Action::await_change());
    }
    let cluster = kind == Kind::Cluster;
    let name = store.meta().name.clone().unwrap_or_default();
    let ns = store.meta().namespace.clone().unwrap_or_default();
    let id = StoreId {
        kind,
        namespace: ns.clone(),
        name: name.clone(),
        uid: store.meta().uid.clone().unwrap_or_default(),
        generation: store.meta().generation.unwrap_or_default(),
    };
    let outcome = validate(spec, &id, &ctx.clients).await;
    let mut status = current.cloned().unwrap_or_default();
    let now = k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default();
    status::set_ready(
        &mut status.conditions,
        outcome.ready,
        outcome.reason,
        outcome.message,
        &now,
    );
    // What ESO's AWS and Vault providers report (they can also push, which sealbox does not).
    status.capabilities = Some("ReadWrite".into());
    ctx.metrics
        .store_condition(cluster, &ns, &name, outcome.ready);
    if current != Some(&status) {
        let kind = if outcome.ready {
            EventKind::Normal
        } else {
            EventKind::Warning
        };
        let text = outcome.error.as_deref().unwrap_or(outcome.message);
        ctx.events
            .publish(&store.object_ref(&()), kind, outcome.reason, text)
            .await;
        let patch = json!({ "status": status });
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    Ok(Action::requeue(interval(spec, ctx.requeue)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_intervals_are_seconds_or_durations() {
        let default = Duration::from_secs(300);
        let spec = |i| SecretStoreSpec {
            refresh_interval: i,
            ..SecretStoreSpec::default()
        };
        assert_eq!(interval(&spec(None), default), default);
        assert_eq!(
            interval(&spec(Some(IntOrString::Int(30))), default),
            Duration::from_secs(30)
        );
        assert_eq!(
            interval(&spec(Some(IntOrString::String("2m".into()))), default),
            Duration::from_secs(120)
        );
        assert_eq!(interval(&spec(Some(IntOrString::Int(0))), default), default);
    }
}
