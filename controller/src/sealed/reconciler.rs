//! The SealedSecret reconciler (spec `sealed-secrets.md` §2.3–§2.6, §3.2, §3.3): unseals each
//! SealedSecret into its Secret, all-or-nothing, and reports the outcome in `status`, Events
//! and metrics. This file does the reads, the decrypts and the writes; what to write is
//! decided in `super::decision`.
//!
//! Unlike sealed-secrets it decrypts on a bounded pool (one RSA operation per core at a time),
//! tries the key that last opened a SealedSecret first, and does not decrypt again a
//! SealedSecret whose Secret is in place and whose spec has not changed since.
//!
//! On shutdown a reconcile still waiting for the pool gives up without writing anything
//! ([`Error::Stopping`]): only the decrypts already running finish (one SealedSecret per
//! core), so the reconciler drains quickly however many SealedSecrets are queued.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use sealbox_crypto::sealed as crypto;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{debug, info, warn};

use super::decision::{self, Error, Outcome, Plan, Write};
use super::keyring::KeyRing;
use super::metrics::Metrics;
use crate::crd::sealed::SealedSecret;
use crate::events::Recorder;
use crate::supervisor::Shutdown;

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub ring: Arc<KeyRing>,
    pub metrics: Metrics,
    pub events: Recorder,
    pub update_status: bool,
    /// One permit per core: RSA private operations never queue behind more of themselves
    /// than the machine can run.
    pub pool: Arc<Semaphore>,
    /// Once the shutdown starts, a reconcile still waiting for the pool gives up.
    shutdown: Shutdown,
    /// The generation each SealedSecret (by uid) was last unsealed at: the Secret's own
    /// watch event can arrive before the status saying so, and must not cost a decrypt.
    unsealed: Mutex<HashMap<String, i64>>,
}

impl Context {
    /// `pool` bounds RSA work; the HTTP API shares it. `shutdown` is the supervisor's.
    pub fn new(
        client: Client,
        ring: Arc<KeyRing>,
        metrics: Metrics,
        update_status: bool,
        pool: Arc<Semaphore>,
        shutdown: Shutdown,
    ) -> Context {
        Context {
            events: Recorder::new(client.clone(), "sealbox-controller"),
            client,
            ring,
            metrics,
            update_status,
            pool,
            shutdown,
            unsealed: Mutex::new(HashMap::new()),
        }
    }

    fn unsealed_at(&self, uid: &str) -> Option<i64> {
        self.unsealed.lock().expect("lock").get(uid).copied()
    }
}

/// How many SealedSecrets are reconciled at once, per core. Decrypts take turns on the pool
/// (one per core) anyway; the rest of the reconciles in flight overlap their API round trips
/// with those decrypts, and a few per core are enough for that.
const RECONCILES_PER_CORE: usize = 8;

/// Runs the reconciler until `shutdown`, then lets the reconciles in flight finish (those
/// not yet decrypting give up at once). `key_changes` fires when a key is added to the ring
/// from outside (a restored backup): every SealedSecret is then looked at again.
pub async fn run(
    ctx: Arc<Context>,
    key_changes: impl Stream<Item = ()> + Send + 'static,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let sealed: Api<SealedSecret> = Api::all(ctx.client.clone());
    let secrets: Api<Secret> = Api::all(ctx.client.clone());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let concurrency = u16::try_from(RECONCILES_PER_CORE * cores).unwrap_or(u16::MAX);
    // Every Secret maps to the SealedSecret of its name: owned Secrets, and also `managed`,
    // `patch` and owner-less ones, so a take-over annotation or a deletion acts at once.
    Controller::new(sealed, watcher::Config::default())
        .watches(secrets, watcher::Config::default(), |secret: Secret| {
            secret
                .namespace()
                .map(|ns| ObjectRef::<SealedSecret>::new(&secret.name_any()).within(&ns))
        })
        .reconcile_all_on(key_changes)
        .with_config(controller::Config::default().concurrency(concurrency))
        .graceful_shutdown_on(shutdown.wait())
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
    // The stream ends only on shutdown; the supervisor treats an earlier end as a failure.
    Ok(())
}

fn error_policy(_: Arc<SealedSecret>, error: &Error, _: Arc<Context>) -> Action {
    Action::requeue(decision::requeue_after(error))
}

/// Drops what the controller keeps about deleted SealedSecrets (the `condition_info` series
/// and the key memory): the reconciler never sees an object that is gone.
pub async fn forget_deleted(ctx: Arc<Context>) -> anyhow::Result<()> {
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
    anyhow::bail!("the SealedSecret watch ended")
}

async fn reconcile(ss: Arc<SealedSecret>, ctx: Arc<Context>) -> Result<Action, Error> {
    if ss.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let result = unseal_into_secret(&ss, &ctx).await;
    let name = format!("{}/{}", ss.namespace().unwrap_or_default(), ss.name_any());
    if let Err(Error::Stopping) = result {
        // Nothing was decrypted: no Event, status or metric, so the next start finds it as
        // it was.
        debug!(sealedsecret = %name, "left for the next start");
        return Err(Error::Stopping);
    }
    if result.is_ok() {
        let generation = ss.meta().generation.unwrap_or_default();
        ctx.unsealed
            .lock()
            .expect("lock")
            .insert(ss.uid().unwrap_or_default(), generation);
    }
    match &result {
        Ok(Outcome::Unchanged) => {}
        Ok(Outcome::Written) => info!(sealedsecret = %name, "unsealed"),
        Err(error) => {
            warn!(sealedsecret = %name, "{error}");
            let namespace = ss.namespace().unwrap_or_default();
            ctx.metrics.unseal_error(error.metric_label(), &namespace);
        }
    }
    if let Some((kind, reason, message)) = decision::event(&result) {
        ctx.events
            .publish(&ss.object_ref(&()), kind, reason, &message)
            .await;
    }
    if ctx.update_status {
        let message = result.as_ref().err().map(ToString::to_string);
        let status = update_status(&ss, &ctx, message).await;
        // 409: the cached object is older than one already written (by this controller, a
        // moment ago); the write's own watch event brings the current one.
        if let Err(e) = ignore_conflict(status) {
            ctx.metrics
                .unseal_error("status", &ss.namespace().unwrap_or_default());
            warn!("cannot update the status of {name}: {e}");
        }
    }
    ctx.metrics.condition(&ss, result.is_ok());
    result.map(|_| Action::await_change())
}

async fn unseal_into_secret(ss: &SealedSecret, ctx: &Context) -> Result<Outcome, Error> {
    let name = ss.name_any();
    let uid = ss.uid().unwrap_or_default();
    let secrets: Api<Secret> =
        Api::namespaced(ctx.client.clone(), &ss.namespace().unwrap_or_default());
    let existing = secrets.get_opt(&name).await?;
    if decision::plan(ss, existing.as_ref(), ctx.unsealed_at(&uid))? == Plan::InSync {
        return Ok(Outcome::Unchanged);
    }
    let permit = pool_permit(&ctx.pool, &ctx.shutdown)
        .await
        .ok_or(Error::Stopping)?;
    ctx.metrics.unseal_request();
    let desired = unseal(ss, ctx, permit).await?;
    match decision::write(existing, desired) {
        Write::Nothing => return Ok(Outcome::Unchanged),
        Write::Create(secret) => {
            secrets.create(&PostParams::default(), &secret).await?;
        }
        Write::Replace(secret) => {
            secrets
                .replace(&name, &PostParams::default(), &secret)
                .await?;
        }
    }
    Ok(Outcome::Written)
}

/// Waits for a turn on the RSA `pool`; `None` once the shutdown has started, whether it
/// started before or during the wait.
async fn pool_permit(pool: &Arc<Semaphore>, shutdown: &Shutdown) -> Option<OwnedSemaphorePermit> {
    tokio::select! {
        // A permit free at the moment the shutdown starts is not taken either.
        biased;
        () = shutdown.clone().wait() => None,
        permit = pool.clone().acquire_owned() => Some(permit.expect("the pool is never closed")),
    }
}

/// Decrypts on the pool, holding `permit`, and returns the Secret the SealedSecret
/// describes.
async fn unseal(
    ss: &SealedSecret,
    ctx: &Context,
    permit: OwnedSemaphorePermit,
) -> Result<Secret, Error> {
    let uid = ss.uid().unwrap_or_default();
    let sealed: crypto::SealedSecret = serde_json::to_value(ss)
        .and_then(serde_json::from_value)
        .map_err(|e| Error::Unseal(format!("malformed SealedSecret: {e}")))?;
    let keys = ctx.ring.keys_for(&uid);
    let opened = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        crypto::unseal_with(&sealed, &keys, super::options::unseal_options())
            .map(|u| (u, keys, sealed))
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

/// Writes the status [`decision::status`] gives, if it changes.
async fn update_status(
    ss: &SealedSecret,
    ctx: &Context,
    error: Option<String>,
) -> kube::Result<()> {
    let Some(status) = decision::status(ss, error, &now_rfc3339()) else {
        return Ok(());
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::supervisor::Supervisor;

    /// A supervisor whose shutdown starts when `stop` fires, as SIGTERM does.
    fn supervisor() -> (
        Shutdown,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let tasks = Supervisor::new();
        let shutdown = tasks.shutdown();
        let (stop, signal) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(async move {
            let stop = async move {
                let _ = signal.await;
                "SIGTERM"
            };
            tasks.run(stop, Duration::from_secs(1)).await.unwrap();
        });
        (shutdown, stop, running)
    }

    #[tokio::test]
    async fn a_reconcile_queued_for_the_pool_gives_up_when_the_shutdown_starts() {
        let (shutdown, stop, running) = supervisor();
        let pool = Arc::new(Semaphore::new(1));
        // The one permit is taken by a decrypt that is still running.
        let decrypting = pool_permit(&pool, &shutdown).await.expect("a free permit");
        let queued = tokio::spawn({
            let (pool, shutdown) = (pool.clone(), shutdown.clone());
            async move { pool_permit(&pool, &shutdown).await.is_some() }
        });
        tokio::task::yield_now().await;
        assert!(!queued.is_finished(), "waits while the pool is busy");
        stop.send(()).unwrap();
        running.await.unwrap();
        assert!(
            !queued.await.unwrap(),
            "the queued reconcile gave up without a permit"
        );
        // The running decrypt still finishes with its permit; nobody else starts one, even
        // with the pool free again.
        drop(decrypting);
        assert!(pool_permit(&pool, &shutdown).await.is_none());
        assert_eq!(pool.available_permits(), 1);
    }

    #[tokio::test]
    async fn before_the_shutdown_a_queued_reconcile_gets_its_turn() {
        let (shutdown, _stop, _running) = supervisor();
        let pool = Arc::new(Semaphore::new(1));
        let decrypting = pool_permit(&pool, &shutdown).await.expect("a free permit");
        let queued = tokio::spawn({
            let (pool, shutdown) = (pool.clone(), shutdown.clone());
            async move { pool_permit(&pool, &shutdown).await.is_some() }
        });
        drop(decrypting);
        assert!(queued.await.unwrap());
    }
}
