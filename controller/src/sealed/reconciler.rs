//! The SealedSecret reconciler (spec `sealed-secrets.md` §2.3–§2.6, §3.2, §3.3): unseals each
//! SealedSecret into its Secret, all-or-nothing, and reports the outcome in `status`, Events
//! and metrics.
//!
//! Unlike sealed-secrets it decrypts on a bounded pool (one RSA operation per core at a time),
//! tries the key that last opened a SealedSecret first, and does not decrypt again a
//! SealedSecret whose Secret is in place and whose spec has not changed since.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::PostParams;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use sealbox_crypto::sealed as crypto;
use tokio::sync::Semaphore;
use tracing::{info, warn};

use super::events::{self, Kind};
use super::keyring::KeyRing;
use super::metrics::Metrics;
use crate::crd::{SealedSecret, SealedSecretCondition, SealedSecretStatus};

/// Annotation on an existing Secret: the controller may take it over (spec §2.4).
const MANAGED: &str = "sealedsecrets.bitnami.com/managed";
/// Annotation on an existing Secret: merge into it instead of replacing it.
const PATCH: &str = "sealedsecrets.bitnami.com/patch";

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub ring: Arc<KeyRing>,
    pub metrics: Arc<Metrics>,
    pub update_status: bool,
    /// One permit per core: RSA private operations never queue behind more of themselves
    /// than the machine can run.
    pub pool: Arc<Semaphore>,
    /// The generation each SealedSecret (by uid) was last unsealed at: the Secret's own
    /// watch event can arrive before the status saying so, and must not cost a decrypt.
    unsealed: Mutex<HashMap<String, i64>>,
}

impl Context {
    /// `pool` bounds RSA work; the HTTP API shares it.
    pub fn new(
        client: Client,
        ring: Arc<KeyRing>,
        metrics: Arc<Metrics>,
        update_status: bool,
        pool: Arc<Semaphore>,
    ) -> Context {
        Context {
            client,
            ring,
            metrics,
            update_status,
            pool,
            unsealed: Mutex::new(HashMap::new()),
        }
    }

    fn unsealed_at(&self, uid: &str) -> Option<i64> {
        self.unsealed.lock().expect("lock").get(uid).copied()
    }
}

/// Why a reconcile failed; the text goes into the status and the Event.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An item did not open (wrong key, wrong namespace or name, tampered ciphertext).
    #[error("Failed to unseal: {0}")]
    Unseal(String),
    /// A Secret of that name exists and this SealedSecret may not touch it.
    #[error(
        "Resource \"{0}\" already exists and is not managed by SealedSecret: delete it, or annotate it with sealedsecrets.bitnami.com/managed=\"true\" to let the SealedSecret take it over"
    )]
    Unmanaged(String),
    /// The API server refused a read or a write.
    #[error("{0}")]
    Kube(#[from] kube::Error),
}

impl Error {
    fn reason(&self) -> &'static str {
        match self {
            Error::Unseal(_) => "unseal",
            Error::Unmanaged(_) => "unmanaged",
            Error::Kube(_) => "update",
        }
    }
}

/// Runs the reconciler until the process stops. `key_changes` fires when a key is added to
/// the ring from outside (a restored backup): every SealedSecret is then looked at again.
pub async fn run(ctx: Arc<Context>, key_changes: impl Stream<Item = ()> + Send + 'static) {
    let sealed: Api<SealedSecret> = Api::all(ctx.client.clone());
    let secrets: Api<Secret> = Api::all(ctx.client.clone());
    // Every Secret maps to the SealedSecret of its name: owned Secrets, and also `managed`,
    // `patch` and owner-less ones, so a take-over annotation or a deletion acts at once.
    Controller::new(sealed, watcher::Config::default())
        .watches(secrets, watcher::Config::default(), |secret: Secret| {
            secret
                .namespace()
                .map(|ns| ObjectRef::<SealedSecret>::new(&secret.name_any()).within(&ns))
        })
        .reconcile_all_on(key_changes)
        .with_config(controller::Config::default().concurrency(64))
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

fn error_policy(_: Arc<SealedSecret>, error: &Error, _: Arc<Context>) -> Action {
    match error {
        // Nothing changes until the SealedSecret, the Secret or the key ring does, and each of
        // those triggers a reconcile by itself.
        Error::Unseal(_) | Error::Unmanaged(_) => Action::requeue(Duration::from_secs(300)),
        // Refused for good (immutable, invalid, forbidden): retrying soon only burns RSA work.
        Error::Kube(kube::Error::Api(status))
            if (400..500).contains(&status.code) && ![409, 429].contains(&status.code) =>
        {
            Action::requeue(Duration::from_secs(300))
        }
        Error::Kube(_) => Action::requeue(Duration::from_secs(5)),
    }
}

/// Drops what the controller keeps about deleted SealedSecrets (the `condition_info` series
/// and the key memory): the reconciler never sees an object that is gone.
pub async fn forget_deleted(ctx: Arc<Context>) {
    let api: Api<SealedSecret> = Api::all(ctx.client.clone());
    let mut events = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        if let Ok(watcher::Event::Delete(ss)) = event {
            let uid = ss.uid().unwrap_or_default();
            ctx.unsealed.lock().expect("lock").remove(&uid);
            ctx.ring.forget(&uid);
            ctx.metrics.forget(&ss);
        }
    }
}

async fn reconcile(ss: Arc<SealedSecret>, ctx: Arc<Context>) -> Result<Action, Error> {
    if ss.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let result = unseal_into_secret(&ss, &ctx).await;
    if result.is_ok() {
        let generation = ss.meta().generation.unwrap_or_default();
        ctx.unsealed
            .lock()
            .expect("lock")
            .insert(ss.uid().unwrap_or_default(), generation);
    }
    let object = ss.object_ref(&());
    let namespace = ss.namespace().unwrap_or_default();
    match &result {
        Ok(Outcome::Unchanged) => {}
        Ok(Outcome::Written) => {
            info!(sealedsecret = %format!("{namespace}/{}", ss.name_any()), "unsealed");
            events::publish(
                &ctx.client,
                &object,
                Kind::Normal,
                "Unsealed",
                "SealedSecret unsealed successfully",
            )
            .await;
        }
        Err(error) => {
            warn!(sealedsecret = %format!("{namespace}/{}", ss.name_any()), "{error}");
            ctx.metrics.unseal_error(error.reason(), &namespace);
            let reason = match error {
                Error::Unseal(_) => "ErrUnsealFailed",
                _ => "ErrUpdateFailed",
            };
            events::publish(
                &ctx.client,
                &object,
                Kind::Warning,
                reason,
                &error.to_string(),
            )
            .await;
        }
    }
    if ctx.update_status {
        let message = result.as_ref().err().map(ToString::to_string);
        let status = update_status(&ss, &ctx, message).await;
        // 409: the cached object is older than one already written (by this controller, a
        // moment ago); the write's own watch event brings the current one.
        if let Err(e) = ignore_conflict(status) {
            ctx.metrics.unseal_error("status", &namespace);
            warn!(
                "cannot update the status of {namespace}/{}: {e}",
                ss.name_any()
            );
        }
    }
    ctx.metrics.condition(&ss, result.is_ok());
    result.map(|_| Action::await_change())
}

enum Outcome {
    /// The Secret was already what the SealedSecret says.
    Unchanged,
    Written,
}

fn is_synced(ss: &SealedSecret) -> bool {
    ss.status.as_ref().is_some_and(|s| {
        s.observed_generation == ss.meta().generation
            && s.conditions
                .first()
                .is_some_and(|c| c.type_ == "Synced" && c.status == "True")
    })
}

fn controlled_by(secret: &Secret, uid: &str) -> bool {
    secret
        .owner_references()
        .iter()
        .any(|r| r.controller == Some(true) && r.uid == uid)
}

fn annotated(secret: &Secret, annotation: &str) -> bool {
    secret
        .annotations()
        .get(annotation)
        .is_some_and(|v| v == "true")
}

async fn unseal_into_secret(ss: &SealedSecret, ctx: &Context) -> Result<Outcome, Error> {
    let namespace = ss.namespace().unwrap_or_default();
    let name = ss.name_any();
    let uid = ss.uid().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let existing = secrets.get_opt(&name).await?;
    let ours = existing.as_ref().is_some_and(|s| controlled_by(s, &uid));
    let generation = ss.meta().generation.unwrap_or_default();
    if ours && (is_synced(ss) || ctx.unsealed_at(&uid) == Some(generation)) {
        return Ok(Outcome::Unchanged);
    }
    let unmanaged = existing
        .as_ref()
        .is_some_and(|s| !ours && !annotated(s, MANAGED) && !annotated(s, PATCH));
    if unmanaged {
        return Err(Error::Unmanaged(name));
    }
    ctx.metrics.unseal_request();
    let desired = unseal(ss, ctx).await?;
    let Some(current) = existing else {
        secrets.create(&PostParams::default(), &desired).await?;
        return Ok(Outcome::Written);
    };
    let merged = merge(current.clone(), desired);
    if merged == current {
        return Ok(Outcome::Unchanged);
    }
    secrets
        .replace(&name, &PostParams::default(), &merged)
        .await?;
    Ok(Outcome::Written)
}

/// Decrypts on the pool and returns the Secret the SealedSecret describes.
async fn unseal(ss: &SealedSecret, ctx: &Context) -> Result<Secret, Error> {
    let uid = ss.uid().unwrap_or_default();
    let sealed: crypto::SealedSecret = serde_json::to_value(ss)
        .and_then(serde_json::from_value)
        .map_err(|e| Error::Unseal(format!("malformed SealedSecret: {e}")))?;
    let keys = ctx.ring.keys_for(&uid);
    let permit = ctx
        .pool
        .clone()
        .acquire_owned()
        .await
        .expect("the pool is never closed");
    let opened = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        crypto::unseal(&sealed, &keys).map(|u| (u, keys, sealed))
    })
    .await
    .expect("unsealing does not panic");
    let (unsealed, keys, sealed) = opened.map_err(|e| Error::Unseal(e.to_string()))?;
    if let Some(first) = unsealed.opened_with.first() {
        ctx.ring.remember(&uid, &keys[*first]);
    }
    let mut secret = unsealed.secret;
    secret.metadata.owner_references = crypto::owner_reference(&sealed, &uid).into_iter().collect();
    serde_json::to_value(&secret)
        .and_then(serde_json::from_value)
        .map_err(|e| Error::Unseal(format!("cannot build the Secret: {e}")))
}

/// The Secret to write over `current` (spec §2.5): replaced wholesale (data, labels,
/// annotations, owners; other metadata kept), or merged into when it carries `patch`, keeping
/// its owners unless it is also `managed`.
fn merge(mut current: Secret, desired: Secret) -> Secret {
    let patch = annotated(&current, PATCH);
    let managed = annotated(&current, MANAGED);
    if patch {
        let data = current.data.get_or_insert_with(BTreeMap::new);
        data.extend(desired.data.unwrap_or_default());
        let meta = &mut current.metadata;
        meta.labels
            .get_or_insert_with(BTreeMap::new)
            .extend(desired.metadata.labels.unwrap_or_default());
        meta.annotations
            .get_or_insert_with(BTreeMap::new)
            .extend(desired.metadata.annotations.unwrap_or_default());
        if managed {
            meta.owner_references = desired.metadata.owner_references;
        }
    } else {
        current.data = desired.data;
        let meta = &mut current.metadata;
        meta.labels = desired.metadata.labels;
        meta.annotations = desired.metadata.annotations;
        meta.owner_references = desired
            .metadata
            .owner_references
            .or_else(|| Some(Vec::<OwnerReference>::new()));
    }
    // The API server defaults an empty type to Opaque; compare like with like.
    current.type_ = desired.type_.or_else(|| Some("Opaque".into()));
    current.immutable = desired.immutable.or(current.immutable);
    current
}

async fn update_status(
    ss: &SealedSecret,
    ctx: &Context,
    error: Option<String>,
) -> kube::Result<()> {
    let now = now_rfc3339();
    let status = if error.is_none() { "True" } else { "False" };
    let previous = ss.status.as_ref().and_then(|s| s.conditions.first());
    let flipped = previous.is_none_or(|c| c.status != status);
    if !flipped
        && ss.status.as_ref().and_then(|s| s.observed_generation) == ss.meta().generation
        && previous.and_then(|c| c.message.clone()) == error
    {
        return Ok(());
    }
    let condition = SealedSecretCondition {
        type_: "Synced".into(),
        status: status.into(),
        last_update_time: Some(now.clone()),
        last_transition_time: if flipped {
            Some(now)
        } else {
            previous.and_then(|c| c.last_transition_time.clone())
        },
        reason: None,
        message: error,
    };
    let status = SealedSecretStatus {
        observed_generation: ss.meta().generation,
        conditions: vec![condition],
    };
    // PUT, not PATCH: sealed-secrets' ClusterRole grants `update` on sealedsecrets/status.
    let api: Api<SealedSecret> =
        Api::namespaced(ctx.client.clone(), &ss.namespace().unwrap_or_default());
    let mut updated = ss.clone();
    updated.status = Some(status);
    api.replace_status(&ss.name_any(), &PostParams::default(), &updated)
        .await?;
    Ok(())
}

fn ignore_conflict(result: kube::Result<()>) -> kube::Result<()> {
    match result {
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        other => other,
    }
}

/// RFC 3339 UTC to the second, as Kubernetes writes times.
fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("zero nanoseconds")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formattable")
}
