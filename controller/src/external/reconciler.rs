//! The ExternalSecret reconciler (ESO's `Reconcile`, spec §5.3): the reads, provider calls
//! and writes, in ESO's order. What to decide is in the pure modules: `refresh` (whether the
//! provider is read at all), `policy` (creation and deletion policies), `target` (the Secret
//! to write), `status` (conditions), `hash` (ESO's hashes).
//!
//! Switching from ESO costs nothing: an ExternalSecret whose status and Secret are as ESO
//! left them passes the refresh gate without a provider call, and when it is due the Secret
//! is rewritten only if its content changed, with ESO's field manager.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{debug, info, warn};

use super::clients::Clients;
use super::fetch;
use super::hash::{
    LABEL_CREATED_BY, LABEL_MANAGED, created_by, field_manager, metadata_field_manager,
    synced_resource_version,
};
use super::lanes::{Lane, Lanes};
use super::metrics::Metrics;
use super::policy::{self, CreationPolicy, DeletionPolicy, EmptyDataAction, WriteAction};
use super::refresh::{self, ExistingTarget, RefreshInput, RefreshPolicy};
use super::status::{self, message, reason};
use super::store_id::Kind;
use super::stores::{StoreCache, Stores};
use super::target::{self, Owner, Spec, TargetError, plain_data};
use super::templating::{self, Sources};
use super::triggers;
use crate::crd::external::{ExternalSecret, ExternalSecretStatus};
use crate::events::{Kind as EventKind, Recorder};
use crate::flags::go_duration;
use crate::rollout;
use crate::supervisor::Shutdown;

/// The finalizer ESO puts on every ExternalSecret (since v0.20.0); sealbox uses the same one,
/// so an ExternalSecret deleted after the switch is not left hanging.
pub const FINALIZER: &str = "externalsecrets.external-secrets.io/externalsecret-cleanup";

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub events: Recorder,
    pub metrics: Metrics,
    /// `--controller-class`.
    pub class: String,
    /// `--enable-cluster-store-reconciler`: ExternalSecrets using ClusterSecretStores are
    /// left alone when off.
    pub cluster_stores: bool,
    /// `--enable-flood-gate`.
    pub flood_gate: bool,
    /// Provider clients, shared with the store reconcilers.
    pub clients: Arc<Clients>,
    /// The stores, watched.
    pub stores: StoreCache,
    /// `--error-backoff-max`.
    pub error_backoff_max: Duration,
    /// `--concurrent` syncs at once, new and changed objects first.
    pub lanes: Lanes,
    /// The last sync this controller made of each ExternalSecret (uid): the version synced and
    /// the `refreshTime` written. The watch cache can lag behind a status write (the
    /// finalizer patch or the Secret's own watch event brings a reconcile before the new
    /// status arrives); the refresh gate takes whichever is newer, so that reconcile makes no
    /// second provider read.
    synced: Mutex<HashMap<String, (String, SystemTime)>>,
    /// Consecutive failures per ExternalSecret (uid), for the backoff.
    failures: Mutex<HashMap<String, u32>>,
}

/// The reconciler's flags.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `--controller-class`.
    pub class: String,
    /// `--enable-cluster-store-reconciler`.
    pub cluster_stores: bool,
    /// `--enable-flood-gate`.
    pub flood_gate: bool,
    /// `--error-backoff-max`.
    pub error_backoff_max: Duration,
    /// `--concurrent`.
    pub concurrent: usize,
}

impl Context {
    pub fn new(
        client: Client,
        clients: Arc<Clients>,
        metrics: Metrics,
        stores: StoreCache,
        settings: Settings,
    ) -> Context {
        Context {
            events: Recorder::new(client.clone(), "external-secrets"),
            client,
            metrics,
            class: settings.class,
            cluster_stores: settings.cluster_stores,
            flood_gate: settings.flood_gate,
            clients,
            stores,
            error_backoff_max: settings.error_backoff_max,
            lanes: Lanes::new(settings.concurrent),
            synced: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }
}

/// A reconcile that did not finish; retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Kube(#[from] kube::Error),
    /// Already reported in the status and an Event.
    #[error("{0}")]
    Reported(String),
}

/// Runs the reconciler until `shutdown`. `namespace` limits it to one namespace (`--namespace`);
/// `watching` fills `ctx.stores` (from [`StoreCache::watch`]), which is waited for first.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<String>,
    watching: impl Future<Output = ()> + Send + 'static,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let (es_api, secrets): (Api<ExternalSecret>, Api<Secret>) = match &namespace {
        Some(ns) => (
            Api::namespaced(ctx.client.clone(), ns),
            Api::namespaced(ctx.client.clone(), ns),
        ),
        None => (Api::all(ctx.client.clone()), Api::all(ctx.client.clone())),
    };
    let (trigger, store) = triggers::watch(es_api);
    let controller = Controller::for_stream(trigger, store.clone());
    // Only managed Secrets are watched (not every Secret in the cluster): an edited or deleted
    // target re-enqueues the ExternalSecrets that target it, which is how drift is repaired.
    let managed = watcher::Config::default().labels(&format!("{LABEL_MANAGED}=true"));
    let (stores, stop) = (ctx.stores.clone(), shutdown.clone());
    let reconciling = controller
        .watches(secrets, managed, move |secret: Secret| {
            // Once per Secret event, over every ExternalSecret: nothing allocated per object.
            let (ns, name) = (&secret.metadata.namespace, &secret.metadata.name);
            store
                .state()
                .into_iter()
                .filter(|es| {
                    es.metadata.namespace == *ns && Some(target_name(es)) == name.as_deref()
                })
                .map(|es| ObjectRef::from_obj(&*es))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown.wait())
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()));
    let reconciling = async move {
        tokio::select! {
            () = stores.ready() => reconciling.await,
            () = stop.wait() => {}
        }
    };
    // The watches run for ever: done when the reconciler is.
    futures::future::select(Box::pin(watching), Box::pin(reconciling)).await;
    Ok(())
}

/// The target Secret's name: `spec.target.name`, else the ExternalSecret's.
pub fn target_name(es: &ExternalSecret) -> &str {
    es.spec
        .target
        .as_ref()
        .and_then(|t| t.name.as_deref())
        .filter(|n| !n.is_empty())
        .or(es.metadata.name.as_deref())
        .unwrap_or_default()
}

/// ESO's work-queue backoff for failures: 1 s doubling, up to `--error-backoff-max` (ESO:
/// 7 min).
fn error_policy(es: Arc<ExternalSecret>, _: &Error, ctx: Arc<Context>) -> Action {
    let uid = es.uid().unwrap_or_default();
    let mut failures = ctx.failures.lock().expect("lock");
    let n = failures.entry(uid).or_insert(0);
    *n = n.saturating_add(1);
    Action::requeue(backoff(*n, ctx.error_backoff_max))
}

/// A fixed share of `wait` (at least a second) for the ExternalSecret `ns/name`, so objects
/// paused together do not all come back at the same instant.
fn spread(name: &str, ns: &str, wait: Duration) -> Duration {
    let window = (wait / 10).max(Duration::from_secs(1));
    let seed = refresh::phase(&[ns.to_owned(), name.to_owned()]);
    let millis = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis(seed % millis)
}

/// The wait after the `n`th failure in a row: 1 s, 2 s, 4 s, … up to `max`.
fn backoff(n: u32, max: Duration) -> Duration {
    Duration::from_secs(1u64 << n.saturating_sub(1).min(30)).min(max)
}

async fn reconcile(es: Arc<ExternalSecret>, ctx: Arc<Context>) -> Result<Action, Error> {
    // One turn of `--concurrent` for the whole sync (API calls included), new and changed
    // objects first. While waiting, a reconcile holds only this small future: the sync's
    // own (large) state is allocated once its turn comes.
    let asked = Instant::now();
    let last = Last::of(&es, &ctx);
    let _turn = ctx.lanes.acquire(last.lane(&es)).await;
    let started = std::time::Instant::now();
    let (ns, name) = (es.namespace().unwrap_or_default(), es.name_any());
    let result = Box::pin(sync(&es, &ctx, last, asked)).await;
    ctx.metrics
        .reconciled(&ns, &name, started.elapsed().as_nanos(), result.is_err());
    if result.is_ok() {
        ctx.failures
            .lock()
            .expect("lock")
            .remove(&es.uid().unwrap_or_default());
    }
    result
}

/// RFC 3339 with seconds, as `metav1.Time` marshals.
fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    k8s_openapi::jiff::Timestamp::from_second(i64::try_from(secs).unwrap_or(0))
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn parse_time(text: &str) -> Option<SystemTime> {
    let t: k8s_openapi::jiff::Timestamp = text.parse().ok()?;
    let secs = u64::try_from(t.as_second()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// One ExternalSecret being synced: the object, its API and what the reconcile learnt.
struct Run<'a> {
    es: &'a ExternalSecret,
    ctx: &'a Context,
    ns: String,
    name: String,
    start: SystemTime,
    /// When the sync was asked for (before its turn), on the monotonic clock: provider reads
    /// started after it may be shared.
    started: Instant,
    status: ExternalSecretStatus,
}

impl Run<'_> {
    fn api(&self) -> Api<ExternalSecret> {
        Api::namespaced(self.ctx.client.clone(), &self.ns)
    }

    async fn event(&self, kind: EventKind, reason: &str, message: &str) {
        self.ctx
            .events
            .publish(&self.es.object_ref(&()), kind, reason, message)
            .await;
    }

    /// ESO's `markAsFailed`: a Warning Event with the error, `Ready=False` with the generic
    /// message. The Secret is left as it is.
    async fn failed(&mut self, generic: &str, error: &str) -> Result<(), Error> {
        warn!(externalsecret = %format!("{}/{}", self.ns, self.name), "{generic}: {error}");
        self.event(EventKind::Warning, "UpdateFailed", error).await;
        let now = rfc3339(SystemTime::now());
        status::set_ready(
            &mut self.status.conditions,
            false,
            reason::SYNCED_ERROR,
            generic,
            &now,
        );
        self.write_status().await
    }

    /// ESO's `markAsDone`: `Ready=True`, `refreshTime` = the start of this reconcile,
    /// `syncedResourceVersion` = the version that was synced.
    async fn done(&mut self, why: &str, message: &str, version: &str) -> Result<(), Error> {
        let now = rfc3339(SystemTime::now());
        status::set_ready(&mut self.status.conditions, true, why, message, &now);
        self.status.refresh_time = Some(rfc3339(self.start));
        self.status.synced_resource_version = Some(version.to_owned());
        self.write_status().await?;
        // What was written, to the second, as the status holds it.
        let written = self.status.refresh_time.as_deref().and_then(parse_time);
        if let (Some(uid), Some(at)) = (self.es.metadata.uid.clone(), written) {
            let mut synced = self.ctx.synced.lock().expect("lock");
            synced.insert(uid, (version.to_owned(), at));
        }
        Ok(())
    }

    async fn write_status(&mut self) -> Result<(), Error> {
        self.status.observed_generation = self.es.metadata.generation;
        let ready = status::ready(&self.status.conditions);
        self.ctx.metrics.condition(&self.ns, &self.name, ready);
        if self.es.status.as_ref() == Some(&self.status) {
            return Ok(());
        }
        let mut patch = json!({ "status": self.status });
        if self.status.failures.is_empty() {
            // A merge patch keeps fields it does not name: remove the last sync's failures.
            patch["status"]["failures"] = serde_json::Value::Null;
        }
        self.api()
            .patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(())
    }
}

/// What an ExternalSecret's last sync was: the version it synced and when, from its status,
/// or from this controller's own last status write when the watch cache lags behind it.
struct Last {
    /// The object's version now (`syncedResourceVersion`'s formula).
    version: String,
    synced_version: Option<String>,
    refresh_time: Option<SystemTime>,
}

impl Last {
    fn of(es: &ExternalSecret, ctx: &Context) -> Last {
        let status = es.status.clone().unwrap_or_default();
        let version = synced_resource_version(
            es.metadata.generation.unwrap_or(0),
            &es.labels().clone(),
            &es.annotations().clone(),
        );
        let mut refresh_time = status.refresh_time.as_deref().and_then(parse_time);
        let mut synced_version = status.synced_resource_version;
        let remembered = es
            .metadata
            .uid
            .as_ref()
            .and_then(|uid| ctx.synced.lock().expect("lock").get(uid).cloned());
        if let Some((version, at)) = remembered
            && refresh_time.is_none_or(|t| t < at)
        {
            // The cache has not caught up with this controller's last status write yet.
            refresh_time = Some(at);
            synced_version = Some(version);
        }
        Last {
            version,
            synced_version,
            refresh_time,
        }
    }

    /// Periodic when the object synced as it is now (and is not being deleted); else urgent.
    fn lane(&self, es: &ExternalSecret) -> Lane {
        let settled =
            self.refresh_time.is_some() && self.synced_version.as_deref() == Some(&self.version);
        if settled && es.metadata.deletion_timestamp.is_none() {
            Lane::Periodic
        } else {
            Lane::Urgent
        }
    }
}

/// Syncs `es` as asked at `asked` (before it waited for its turn): reads that started since
/// are as fresh as it needs.
async fn sync(
    es: &ExternalSecret,
    ctx: &Context,
    last: Last,
    asked: Instant,
) -> Result<Action, Error> {
    let mut run = Run {
        es,
        ctx,
        ns: es.namespace().unwrap_or_default(),
        name: es.name_any(),
        start: SystemTime::now(),
        started: asked,
        status: es.status.clone().unwrap_or_default(),
    };
    let Last {
        version,
        synced_version,
        refresh_time,
    } = last;
    let finalizers = es.finalizers().to_vec();
    if es.metadata.deletion_timestamp.is_some() {
        cleanup(&run).await?;
        if finalizers.iter().any(|f| f == FINALIZER) {
            let kept: Vec<&String> = finalizers.iter().filter(|f| *f != FINALIZER).collect();
            patch_finalizers(&run, &kept).await?;
        }
        ctx.metrics.forget(&run.ns, &run.name);
        if let Some(uid) = &es.metadata.uid {
            ctx.synced.lock().expect("lock").remove(uid);
        }
        return Ok(Action::await_change());
    }
    if !finalizers.iter().any(|f| f == FINALIZER) {
        let mut all: Vec<&String> = finalizers.iter().collect();
        let ours = FINALIZER.to_owned();
        all.push(&ours);
        patch_finalizers(&run, &all).await?;
    }

    let refs = fetch::store_refs(&es.spec);
    let uses_cluster_store = es
        .spec
        .secret_store_ref
        .as_ref()
        .is_some_and(|r| Kind::of(r) == Ok(Kind::Cluster));
    if !ctx.cluster_stores && uses_cluster_store {
        debug!(
            "skipping {}/{}: the ClusterSecretStore reconciler is off",
            run.ns, run.name
        );
        return Ok(Action::await_change());
    }
    let mut stores = Stores::new(
        &ctx.client,
        &ctx.clients,
        &ctx.stores,
        &ctx.class,
        ctx.flood_gate,
        &run.ns,
    );
    if stores.skips(&refs).await? {
        debug!(
            "skipping {}/{}: a store of another controller class",
            run.ns, run.name
        );
        return Ok(Action::await_change());
    }

    let target = es.spec.target.clone().unwrap_or_default();
    let parsed = (|| {
        let creation = CreationPolicy::from_spec(target.creation_policy.as_deref())?;
        let deletion = DeletionPolicy::from_spec(target.deletion_policy.as_deref())?;
        policy::validate(creation, deletion)?;
        let refresh = RefreshPolicy::from_spec(es.spec.refresh_policy.as_deref())?;
        let interval = match es.spec.refresh_interval.as_deref() {
            None => Duration::from_secs(3600),
            Some(text) => go_duration(text).map_err(|e| format!("spec.refreshInterval {e}"))?,
        };
        if target.manifest.is_some() {
            return Err("spec.target.manifest (generic targets) is not supported by sealbox: it writes Secrets only".to_owned());
        }
        if es.spec.data.is_empty() && es.spec.data_from.is_empty() {
            return Err("neither spec.data nor spec.dataFrom is set: set at least one".to_owned());
        }
        Ok((creation, deletion, refresh, interval))
    })();
    let (creation, deletion, refresh, interval) = match parsed {
        Ok(p) => p,
        Err(e) => {
            // No entry was read: none is to blame.
            run.status.failures.clear();
            run.failed(
                message::PROVIDER,
                &format!("ExternalSecret {}/{}: {e}", run.ns, run.name),
            )
            .await?;
            return Ok(Action::await_change());
        }
    };

    let secret_name = target_name(es).to_owned();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &run.ns);
    let existing = secrets.get_opt(&secret_name).await?;
    let phase = refresh::phase(&fetch::read_keys(&es.spec));
    let input = RefreshInput {
        policy: refresh,
        interval,
        synced_resource_version: synced_version.as_deref(),
        resource_version: &version,
        refresh_time,
        sync_windows_allow: true,
        phase,
    };
    let now = SystemTime::now();
    let due = refresh::should_refresh(&input, now);
    let existing_data = existing.as_ref().map(plain_data);
    let valid = refresh::is_secret_valid(
        creation,
        existing
            .as_ref()
            .zip(existing_data.as_ref())
            .map(|(s, data)| ExistingTarget {
                labels: s.metadata.labels.as_ref().unwrap_or(&EMPTY),
                annotations: s.metadata.annotations.as_ref().unwrap_or(&EMPTY),
                data,
            })
            .as_ref(),
    );
    if !due && valid {
        return Ok(requeue(refresh_time, interval, phase));
    }

    if es.spec.sync_windows.is_some() {
        // Said at every refresh (at most once per interval), so nobody relies on a freeze
        // window sealbox does not honour yet.
        run.event(
            EventKind::Warning,
            "SyncWindowsUnsupported",
            "spec.syncWindows is not supported by sealbox yet: this refresh was not gated by it",
        )
        .await;
    }
    // How fresh the values must be: see `refresh::read_window`.
    let periodic = valid && synced_version.as_deref() == Some(&version);
    let due = refresh_time
        .filter(|_| periodic)
        .map(|r| refresh::next_refresh(r, interval, phase));
    let window = refresh::read_window(now, run.start, run.started.elapsed(), due, interval, phase);
    let since = Instant::now().checked_sub(window).unwrap_or(run.started);
    let fetched = match fetch::provider_data(&es.spec, &mut stores, deletion, since).await {
        Ok(f) => f,
        Err(fetch::Failed { error: e, failures }) => {
            run.status.failures = failures;
            run.failed(
                message::PROVIDER,
                &format!("ExternalSecret {}/{}: {e}", run.ns, run.name),
            )
            .await?;
            // A paused store: back when the pause ends, spread so the trial call goes out
            // alone.
            if let Some(until) = e.paused_until() {
                let wait = until.saturating_duration_since(Instant::now());
                return Ok(Action::requeue(wait + spread(&run.name, &run.ns, wait)));
            }
            // Retried with backoff, as ESO does: a key the provider lacks today, a value that
            // is not base64 yet, may be fixed at the provider without touching this object.
            return Err(Error::Reported(e.to_string()));
        }
    };
    run.status.failures.clear();
    for missing in fetched.missing {
        run.event(EventKind::Normal, "MissingProviderSecret", &missing.event)
            .await;
        run.status.failures.push(missing.failure);
    }

    if fetched.data.is_empty() {
        match policy::on_empty_data(creation, deletion, &secret_name) {
            EmptyDataAction::DeleteTarget => {
                if existing.is_some() {
                    if let Err(e) = secrets.delete(&secret_name, &DeleteParams::default()).await
                        && !is_not_found(&e)
                    {
                        run.failed(message::DELETE, &e.to_string()).await?;
                        return Err(e.into());
                    }
                    run.event(EventKind::Normal, "Deleted", message::DELETED)
                        .await;
                }
                run.done(reason::DELETED, message::DELETED, &version)
                    .await?;
                return Ok(requeue(Some(run.start), interval, phase));
            }
            EmptyDataAction::Refuse(why) => {
                run.failed(message::DELETE, &why).await?;
                return Ok(Action::await_change());
            }
            EmptyDataAction::Retain => {
                run.done(reason::SYNCED, message::RETAINED, &version)
                    .await?;
                return Ok(requeue(Some(run.start), interval, phase));
            }
            EmptyDataAction::Continue => {}
        }
    }

    let action = policy::write_action(creation, existing.is_some());
    match action {
        WriteAction::Nothing => {
            run.done(reason::SYNCED, message::SYNCED, &version).await?;
            return Ok(requeue(Some(run.start), interval, phase));
        }
        WriteAction::WaitForTarget => {
            run.done(reason::MISSING, message::MISSING, &version)
                .await?;
            return Ok(requeue(Some(run.start), interval, phase));
        }
        WriteAction::Create | WriteAction::Update => {}
    }
    // ESO renders the template only for a Secret it will create or may change.
    let immutable_target = existing.as_ref().is_some_and(|s| s.immutable == Some(true));
    let rendered = match target.template.as_ref().filter(|_| !immutable_target) {
        None => None,
        Some(template) => {
            let sources = template_sources(&run, template).await?;
            match templating::render(template, &fetched.data, &sources) {
                Ok(r) => Some(r),
                Err(e) => {
                    let e = format!(
                        "ExternalSecret {}/{}: spec.target.template: {e}",
                        run.ns, run.name
                    );
                    run.failed(message::UPDATE, &e).await?;
                    // Retried: a templateFrom source or a provider key may appear later.
                    return Err(Error::Reported(e));
                }
            }
        }
    };
    let manager = field_manager(&run.name);
    let metadata_manager = metadata_field_manager(&run.name);
    let owner = Owner {
        name: &run.name,
        namespace: &run.ns,
        uid: es.metadata.uid.as_deref().unwrap_or_default(),
        labels: es.metadata.labels.as_ref().unwrap_or(&EMPTY),
        annotations: es.metadata.annotations.as_ref().unwrap_or(&EMPTY),
        field_manager: &manager,
        metadata_manager: &metadata_manager,
    };
    let spec = Spec {
        target_name: &secret_name,
        creation,
        immutable: target.immutable,
        template: rendered.as_ref(),
    };
    let desired = match target::desired(existing.as_ref(), &owner, &spec, &fetched.data) {
        Ok(d) => d,
        Err(e) => {
            let generic = match e {
                TargetError::Immutable => message::IMMUTABLE,
                TargetError::ControlledByOther(_) => message::OWNERSHIP,
                _ => message::OWNED,
            };
            run.failed(generic, &format!("Secret {}/{secret_name}: {e}", run.ns))
                .await?;
            return Ok(Action::await_change());
        }
    };

    let post = PostParams {
        field_manager: Some(manager.clone()),
        ..PostParams::default()
    };
    // A Secret of an earlier `target.name` can only exist when the last sync bound another
    // name (`status.binding`): only then are they looked for (a label-selected LIST, which
    // at scale is the costliest call of a sync).
    let renamed = run
        .status
        .binding
        .as_ref()
        .is_some_and(|b| !b.name.is_empty() && b.name != secret_name);
    if creation.owns_target()
        && renamed
        && let Err(e) = delete_orphans(&run, &secrets, &secret_name).await
    {
        run.failed(message::ORPHANS, &e.to_string()).await?;
        return Err(e.into());
    }
    // Create, or update when the content differs (ESO's DeepEqual check): a Secret already
    // as it should be is never written.
    let write = match (action, existing.as_ref()) {
        (WriteAction::Create, _) => Some(("Created", "secret created")),
        (_, Some(before)) if target::needs_write(before, &desired) => {
            Some(("Updated", "secret updated"))
        }
        _ => None,
    };
    if let Some((reason, note)) = write {
        let written = if reason == "Created" {
            secrets.create(&post, &desired).await
        } else {
            secrets.replace(&secret_name, &post, &desired).await
        };
        match written {
            Ok(_) => {
                info!(secret = %format!("{}/{secret_name}", run.ns), "{note}");
                run.event(EventKind::Normal, reason, note).await;
                rollout::after_write(
                    ctx.client.clone(),
                    &ctx.events,
                    &es.object_ref(&()),
                    es.metadata.annotations.as_ref().unwrap_or(&EMPTY),
                    &run.ns,
                    existing.as_ref(),
                    &desired,
                )
                .await;
            }
            Err(e) if is_conflict(&e) => {
                return Ok(Action::requeue(Duration::from_millis(200)));
            }
            Err(e) => {
                run.failed(
                    message::UPDATE,
                    &format!("Secret {}/{secret_name}: {}", run.ns, redacted(&e)),
                )
                .await?;
                return Err(e.into());
            }
        }
    }
    run.status.binding = Some(crate::crd::external::externalsecret::Binding { name: secret_name });
    run.done(reason::SYNCED, message::SYNCED, &version).await?;
    Ok(requeue(Some(run.start), interval, phase))
}

static EMPTY: BTreeMap<String, String> = BTreeMap::new();

/// Back at the ExternalSecret's next slot after the refresh at `refreshed` (never if the
/// interval is zero).
fn requeue(refreshed: Option<SystemTime>, interval: Duration, phase: u64) -> Action {
    match refresh::requeue_after(interval, refreshed, SystemTime::now(), phase) {
        None => Action::await_change(),
        Some(d) => Action::requeue(d.max(Duration::from_millis(100))),
    }
}

/// An API error as text, without the values the API server quotes back: a 422 names the
/// rejected value (`Invalid value: "…"`), which may be a secret a template rendered.
fn redacted(e: &kube::Error) -> String {
    static QUOTED: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"Invalid value: "(?:[^"\\]|\\.)*""#).expect("a valid pattern")
    });
    QUOTED
        .replace_all(&e.to_string(), "Invalid value: (not shown)")
        .into_owned()
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

async fn patch_finalizers(run: &Run<'_>, finalizers: &[&String]) -> Result<(), Error> {
    let patch = json!({
        "metadata": {
            "finalizers": finalizers,
            "resourceVersion": run.es.metadata.resource_version,
        }
    });
    match run
        .api()
        .patch(&run.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// ESO's `cleanupManagedSecrets`: the target is deleted only with `deletionPolicy: Delete`
/// and only if this ExternalSecret controls it.
async fn cleanup(run: &Run<'_>) -> Result<(), Error> {
    let deletion = run
        .es
        .spec
        .target
        .as_ref()
        .and_then(|t| t.deletion_policy.as_deref());
    if DeletionPolicy::from_spec(deletion) != Ok(DeletionPolicy::Delete) {
        return Ok(());
    }
    let secrets: Api<Secret> = Api::namespaced(run.ctx.client.clone(), &run.ns);
    let name = target_name(run.es);
    let Some(secret) = secrets.get_opt(name).await? else {
        return Ok(());
    };
    if controlled_by(&secret, run.es) {
        match secrets.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn controlled_by(secret: &Secret, es: &ExternalSecret) -> bool {
    secret.owner_references().iter().any(|r| {
        r.controller == Some(true)
            && r.kind == "ExternalSecret"
            && Some(&r.uid) == es.metadata.uid.as_ref()
    })
}

/// ESO's `deleteOrphanedSecrets`: Secrets this ExternalSecret created under a previous
/// `target.name` (its `created-by` label, another name).
async fn delete_orphans(
    run: &Run<'_>,
    secrets: &Api<Secret>,
    current: &str,
) -> Result<(), kube::Error> {
    let label = format!("{LABEL_CREATED_BY}={}", created_by(&run.ns, &run.name));
    for secret in secrets.list(&ListParams::default().labels(&label)).await? {
        let name = secret.name_any();
        if name != current && controlled_by(&secret, run.es) {
            match secrets.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {
                    run.event(
                        EventKind::Normal,
                        "Deleted",
                        "secret deleted because it was orphaned",
                    )
                    .await;
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// The ConfigMaps and Secrets `templateFrom` reads, from the ExternalSecret's namespace.
async fn template_sources(
    run: &Run<'_>,
    template: &crate::crd::external::externalsecret::Template,
) -> Result<Sources, Error> {
    let mut sources = Sources::default();
    for from in &template.template_from {
        if let Some(cm) = &from.config_map {
            let api: Api<ConfigMap> = Api::namespaced(run.ctx.client.clone(), &run.ns);
            let data = api.get_opt(&cm.name).await?.map(|c| {
                c.data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.into_bytes()))
                    .collect()
            });
            sources.config_maps.insert(cm.name.clone(), data);
        }
        if let Some(s) = &from.secret {
            let api: Api<Secret> = Api::namespaced(run.ctx.client.clone(), &run.ns);
            let data = api.get_opt(&s.name).await?.map(|s| plain_data(&s));
            sources.secrets.insert(s.name.clone(), data);
        }
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_object_waits_twice_as_long_each_time_up_to_the_maximum() {
        let max = Duration::from_secs(420);
        let waits: Vec<u64> = (1..=11).map(|n| backoff(n, max).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 420, 420]);
        assert_eq!(backoff(1000, max), max);
        assert_eq!(backoff(3, Duration::from_secs(3)), Duration::from_secs(3));
    }

    #[test]
    fn objects_paused_together_come_back_spread_over_a_tenth_of_the_pause() {
        let wait = Duration::from_secs(100);
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..100 {
            let s = spread(&format!("es-{i}"), "team", wait);
            assert!(s < Duration::from_secs(10));
            seen.insert(s.as_secs());
            assert_eq!(s, spread(&format!("es-{i}"), "team", wait));
        }
        assert!(seen.len() >= 8, "{seen:?}");
        assert!(spread("a", "b", Duration::ZERO) < Duration::from_secs(1));
    }
}
