//! The SealedSecret reconciler (spec `sealed-secrets.md` §2.3–§2.6, §3.2, §3.3): unseals each
//! SealedSecret into its Secret, all-or-nothing, and reports the outcome in `status`, Events
//! and metrics. This file does the reads, the decrypts and the writes; what to write is
//! decided in `super::decision`.
//!
//! Unlike sealed-secrets it decrypts on a bounded pool (one RSA operation per core at a time),
//! tries the key that last opened a SealedSecret first, and does not decrypt again a
//! SealedSecret whose Secret is in place and whose spec has not changed since. It watches the
//! Secrets it manages (by owner, or annotated `managed`/`patch`): a deleted one is re-created
//! and one whose data was edited by hand is restored at once, told apart from one in sync by
//! its data MAC (`super::drift`) without decrypting.
//!
//! On shutdown a reconcile still waiting for the pool gives up without writing anything
//! ([`Error::Stopping`]): only the decrypts already running finish (one SealedSecret per
//! core), so the reconciler drains quickly however many SealedSecrets are queued.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, predicates, reflector, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use sealbox_crypto::sealed as crypto;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{debug, info, warn};

use super::decision::{self, Error, Outcome, Plan, Write};
use super::drift;
use super::keyring::KeyRing;
use super::metrics::Metrics;
use crate::crd::sealed::SealedSecret;
use crate::events::Recorder;
use crate::rollout;
use crate::supervisor::Shutdown;

/// Which SealedSecrets and Secrets the reconciler watches (`--all-namespaces`,
/// `--additional-namespaces`, `--label-selector`, `--skip-recreate`).
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// `None`: every namespace; else one watch per namespace, as upstream runs one informer
    /// per namespace (and needs no cluster-wide list permission then).
    pub namespaces: Option<Vec<String>>,
    /// Applied to the SealedSecret and the Secret watches alike (upstream `tweakopts`).
    pub label_selector: Option<String>,
    /// Watch the Secrets the controller manages: re-create deleted ones, restore edited
    /// ones, take over ones annotated `managed`. Off with `--skip-recreate`.
    pub watch_secrets: bool,
}

impl Scope {
    /// One API per watched namespace (or one for all).
    fn apis<K>(&self, client: &Client) -> Vec<Api<K>>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match &self.namespaces {
            None => vec![Api::all(client.clone())],
            Some(namespaces) => namespaces
                .iter()
                .map(|ns| Api::namespaced(client.clone(), ns))
                .collect(),
        }
    }

    fn watch_config(&self) -> watcher::Config {
        match &self.label_selector {
            Some(selector) => watcher::Config::default().labels(selector),
            None => watcher::Config::default(),
        }
    }
}

/// The reconciler's flags.
#[derive(Clone, Debug)]
pub struct Settings {
    pub update_status: bool,
    /// `--max-unseal-retries`.
    pub max_retries: u32,
    pub scope: Scope,
}

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub ring: Arc<KeyRing>,
    pub metrics: Metrics,
    pub events: Recorder,
    pub settings: Settings,
    /// One permit per core: RSA private operations never queue behind more of themselves
    /// than the machine can run.
    pub pool: Arc<Semaphore>,
    /// Once the shutdown starts, a reconcile still waiting for the pool gives up.
    shutdown: Shutdown,
    /// The SealedSecrets (by uid) whose Secret this process has written, and so stamped
    /// with a data MAC (`super::drift`).
    stamped: Mutex<HashSet<String>>,
    /// Failures in a row per SealedSecret (uid), for `--max-unseal-retries`.
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    /// `pool` bounds RSA work; the HTTP API shares it. `shutdown` is the supervisor's.
    pub fn new(
        client: Client,
        ring: Arc<KeyRing>,
        metrics: Metrics,
        settings: Settings,
        pool: Arc<Semaphore>,
        shutdown: Shutdown,
    ) -> Context {
        Context {
            events: Recorder::new(client.clone(), "sealbox-controller"),
            client,
            ring,
            metrics,
            settings,
            pool,
            shutdown,
            stamped: Mutex::new(HashSet::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn stamped_here(&self, uid: &str) -> bool {
        self.stamped.lock().expect("lock").contains(uid)
    }
}

/// How many SealedSecrets are reconciled at once, per core. Decrypts take turns on the pool
/// (one per core) anyway; the rest of the reconciles in flight overlap their API round trips
/// with those decrypts, and a few per core are enough for that.
const RECONCILES_PER_CORE: usize = 8;

/// Runs the reconciler until `shutdown`, then lets the reconciles in flight finish (those
/// not yet decrypting give up at once). `key_changes` fires when a key is added to the ring
/// from outside (a restored backup): every SealedSecret is then looked at again.
///
/// One kube-runtime `Controller` per watched namespace (one for all by default), all sharing
/// `ctx`.
pub async fn run(
    ctx: Arc<Context>,
    key_changes: impl Stream<Item = ()> + Send + 'static,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let concurrency = u16::try_from(RECONCILES_PER_CORE * cores).unwrap_or(u16::MAX);
    let scope = ctx.settings.scope.clone();
    let secret_apis = scope.apis::<PartialObjectMeta<Secret>>(&ctx.client);
    let mut fan_out = Vec::new();
    let mut controllers = Vec::new();
    for (sealed, secrets) in scope
        .apis::<SealedSecret>(&ctx.client)
        .into_iter()
        .zip(secret_apis)
    {
        let (to_this, key_changed) = futures::channel::mpsc::unbounded::<()>();
        fan_out.push(to_this);
        // Only spec changes (a new generation) wake a SealedSecret, as upstream's
        // `sealedSecretChanged`: never the controller's own status writes, which would
        // otherwise cost another decrypt (and another failure) after every failed unseal.
        let (store, writer) = reflector::store();
        let trigger = watcher::watcher(sealed, scope.watch_config())
            .default_backoff()
            .reflect(writer)
            .applied_objects()
            .predicate_filter(predicates::generation, Default::default());
        let mut controller = Controller::for_stream(trigger, store);
        if scope.watch_secrets {
            // Only the metadata of Secrets: which SealedSecret a change concerns is decided
            // by owner and annotations, and the data of Secrets the controller does not
            // manage is never streamed to it.
            let changes = watcher::watcher(secrets, scope.watch_config())
                .default_backoff()
                .touched_objects();
            controller = controller.watches_stream(changes, |secret: PartialObjectMeta<Secret>| {
                decision::sealed_secret_of(&secret.metadata)
                    .map(|(ns, name)| ObjectRef::<SealedSecret>::new(&name).within(&ns))
            });
        }
        controllers.push(
            controller
                .reconcile_all_on(key_changed)
                .with_config(controller::Config::default().concurrency(concurrency))
                .graceful_shutdown_on(shutdown.clone().wait())
                .run(reconcile, error_policy, ctx.clone())
                .for_each(|_| futures::future::ready(())),
        );
    }
    let forward = key_changes.for_each(move |()| {
        for to in &fan_out {
            let _ = to.unbounded_send(());
        }
        futures::future::ready(())
    });
    // The key changes end when the key watcher stops (at shutdown, before the controllers
    // have drained): wait for both.
    futures::join!(futures::future::join_all(controllers), forward);
    // The streams end only on shutdown; the supervisor treats an earlier end as a failure.
    Ok(())
}

fn error_policy(ss: Arc<SealedSecret>, error: &Error, ctx: Arc<Context>) -> Action {
    let uid = ss.uid().unwrap_or_default();
    let failures = if let Error::Stopping = error {
        0
    } else {
        let mut failures = ctx.failures.lock().expect("lock");
        let n = failures.entry(uid.clone()).or_default();
        *n += 1;
        *n
    };
    match decision::retry_after(error, failures, ctx.settings.max_retries) {
        Some(delay) => Action::requeue(delay),
        None => {
            ctx.failures.lock().expect("lock").remove(&uid);
            let name = format!("{}/{}", ss.namespace().unwrap_or_default(), ss.name_any());
            warn!(sealedsecret = %name, failures, "Error updating, giving up: {error}");
            Action::await_change()
        }
    }
}

/// Drops what the controller keeps about deleted SealedSecrets (the `condition_info` series
/// and the key memory): the reconciler never sees an object that is gone.
pub async fn forget_deleted(ctx: Arc<Context>) -> anyhow::Result<()> {
    let scope = &ctx.settings.scope;
    let watches = scope
        .apis::<SealedSecret>(&ctx.client)
        .into_iter()
        .map(|api| {
            watcher::watcher(api, scope.watch_config())
                .default_backoff()
                .boxed()
        });
    let mut events = futures::stream::select_all(watches);
    while let Some(event) = events.next().await {
        if let Ok(watcher::Event::Delete(ss)) = event {
            let uid = ss.uid().unwrap_or_default();
            ctx.stamped.lock().expect("lock").remove(&uid);
            ctx.failures.lock().expect("lock").remove(&uid);
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
        ctx.failures
            .lock()
            .expect("lock")
            .remove(&ss.uid().unwrap_or_default());
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
    if ctx.settings.update_status {
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
    let macs = ctx.ring.mac_keys();
    let known = decision::Known {
        macs: &macs,
        stamped_here: ctx.stamped_here(&uid),
    };
    if decision::plan(ss, existing.as_ref(), known)? == Plan::InSync {
        return Ok(Outcome::Unchanged);
    }
    if existing.as_ref().is_some_and(drift::stamped) {
        // Stamped but no longer verifying: edited by hand (or a new generation).
        debug!(secret = %name, "the Secret's data MAC does not match: unsealing again");
    }
    let permit = pool_permit(&ctx.pool, &ctx.shutdown)
        .await
        .ok_or(Error::Stopping)?;
    ctx.metrics.unseal_request();
    let desired = unseal(ss, ctx, permit).await?;
    // The key new writes are stamped with: the newest (the one that just opened it may be
    // older, and every key in the ring verifies).
    let newest = ctx.ring.newest().map(|k| k.mac.clone());
    let stamp = newest.as_ref().map(|key| decision::Stamp {
        key,
        uid: &uid,
        generation: ss.meta().generation.unwrap_or_default(),
    });
    // Kept for the rollout restart only when one is asked for.
    let annotated = ss.annotations().contains_key(rollout::ANNOTATION);
    let before = annotated.then(|| existing.clone()).flatten();
    let written = match decision::write(existing, desired, stamp) {
        Write::Nothing => None,
        Write::Create(secret) => Some(secrets.create(&PostParams::default(), &secret).await?),
        Write::Replace(secret) => Some(
            secrets
                .replace(&name, &PostParams::default(), &secret)
                .await?,
        ),
    };
    let outcome = match &written {
        None => Outcome::Unchanged,
        Some(secret) => {
            rollout::after_write(
                ctx.client.clone(),
                &ctx.events,
                &ss.object_ref(&()),
                ss.metadata.annotations.as_ref().unwrap_or(&BTreeMap::new()),
                &ss.namespace().unwrap_or_default(),
                before.as_ref(),
                secret,
            )
            .await;
            Outcome::Written
        }
    };
    if stamp.is_some() {
        ctx.stamped.lock().expect("lock").insert(uid);
    }
    Ok(outcome)
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
