//! `sealbox external refresh NAME | --all | --store NAME`: an immediate sync, asked for the
//! way ESO users ask (`kubectl annotate es NAME force-sync=$(date +%s) --overwrite`, ESO's
//! FAQ; spec `external-secrets.md` §5.3 step 8): a merge patch of the `force-sync` annotation
//! to the current Unix time. The annotation is part of the ExternalSecret's
//! `syncedResourceVersion` (generation + hash of labels and annotations, §13), so a controller
//! with a non-zero `refreshInterval` sees a changed version and reads the provider again; ESO
//! and sealbox-controller behave alike. `--wait` then watches each object's status until it
//! shows a sync of the new version.
//!
//! Which function when (all pure, unit-tested below; [`run`] does the I/O): [`selected`]
//! for which objects a selection takes; [`cannot_refresh`] for objects the controller would
//! not sync again whatever the annotation says; [`force_sync_value`] and [`patch_body`] for
//! the request; [`Baseline::outcome`] for what a later status says about it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Args;
use sealbox_crypto::sealed::keysecret::go_duration;
use serde::Deserialize;

use crate::cluster::{Cluster, ClusterArgs};

/// The annotation ESO's FAQ tells users to set (any change of it forces a sync).
pub const FORCE_SYNC: &str = "force-sync";
const API: &str = "/apis/external-secrets.io/v1";

#[derive(Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["name", "all", "store"]))]
pub struct RefreshArgs {
    /// The ExternalSecret to refresh (in --namespace).
    #[arg(value_name = "NAME", conflicts_with = "all_namespaces")]
    pub name: Option<String>,
    /// Every ExternalSecret in --namespace (or in all namespaces with -A).
    #[arg(long)]
    pub all: bool,
    /// The ExternalSecrets that use this SecretStore (in spec.secretStoreRef or a sourceRef).
    #[arg(long, value_name = "NAME")]
    pub store: Option<String>,
    /// --store names a ClusterSecretStore; its ExternalSecrets are looked for in all
    /// namespaces unless --namespace is given.
    #[arg(long, requires = "store", conflicts_with_all = ["name", "all"])]
    pub cluster_store: bool,
    /// Namespace (default: the kubeconfig context's, else default).
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Look in all namespaces.
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    pub all_namespaces: bool,
    /// Wait until each ExternalSecret has synced after the request; print one line per object
    /// and exit non-zero if any failed or did not sync in time.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, a Go duration.
    #[arg(long, default_value = "60s", value_parser = go_duration, requires = "wait")]
    pub timeout: Duration,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Which ExternalSecrets a command line names.
#[derive(Clone, Debug, PartialEq)]
pub enum Selection {
    Named(String),
    All,
    /// `kind` is `SecretStore` or `ClusterSecretStore`.
    Store {
        name: String,
        kind: &'static str,
    },
}

/// The part of an ExternalSecret this command reads (no secret values live in one).
#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecret {
    #[serde(default)]
    pub metadata: Meta,
    #[serde(default)]
    pub spec: Spec,
    #[serde(default)]
    pub status: Status,
}

#[derive(Deserialize, Default, Clone)]
pub struct Meta {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    #[serde(default)]
    pub secret_store_ref: Option<StoreRef>,
    #[serde(default)]
    pub refresh_policy: Option<String>,
    #[serde(default)]
    pub refresh_interval: Option<String>,
    #[serde(default)]
    pub data: Vec<SourceHolder>,
    #[serde(default)]
    pub data_from: Vec<SourceHolder>,
}

#[derive(Deserialize, Default, Clone)]
pub struct StoreRef {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub kind: Option<String>,
}

/// A `data[]` or `dataFrom[]` entry, for its `sourceRef.storeRef`.
#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct SourceHolder {
    #[serde(default)]
    pub source_ref: Option<SourceRef>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct SourceRef {
    #[serde(default)]
    pub store_ref: Option<StoreRef>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    #[serde(default)]
    pub synced_resource_version: Option<String>,
    #[serde(default)]
    pub refresh_time: Option<String>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

#[derive(Deserialize, Default, Clone, PartialEq, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type", default)]
    pub type_: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub last_transition_time: Option<String>,
}

impl ExternalSecret {
    /// `namespace/name`, for messages.
    pub fn id(&self) -> String {
        format!("{}/{}", self.metadata.namespace, self.metadata.name)
    }

    /// Every store it reads from, as (name, kind); an empty kind is a SecretStore (§2.1).
    fn stores(&self) -> impl Iterator<Item = (&str, &str)> {
        let holders = self.spec.data.iter().chain(&self.spec.data_from);
        self.spec
            .secret_store_ref
            .iter()
            .chain(holders.filter_map(|h| h.source_ref.as_ref().and_then(|s| s.store_ref.as_ref())))
            .map(|r| {
                let kind = r.kind.as_deref().filter(|k| !k.is_empty());
                (r.name.as_str(), kind.unwrap_or("SecretStore"))
            })
    }
}

impl Status {
    fn ready(&self) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == "Ready")
    }
}

/// Whether `selection` takes `es`.
pub fn selected(es: &ExternalSecret, selection: &Selection) -> bool {
    match selection {
        Selection::Named(name) => &es.metadata.name == name,
        Selection::All => true,
        Selection::Store { name, kind } => es.stores().any(|(n, k)| n == name && k == *kind),
    }
}

/// Why the controller would not sync `es` again on a metadata change (ESO's `shouldRefresh`,
/// spec §5.3 step 8), or `None` when a force-sync works. Only once it has synced: before
/// that every policy syncs.
pub fn cannot_refresh(es: &ExternalSecret) -> Option<String> {
    let synced = es
        .status
        .synced_resource_version
        .as_deref()
        .is_some_and(|v| !v.is_empty());
    if !synced {
        return None;
    }
    match es.spec.refresh_policy.as_deref().unwrap_or("") {
        "CreatedOnce" => Some(
            "refreshPolicy CreatedOnce syncs only once: delete its target Secret to sync it again"
                .into(),
        ),
        "OnChange" => None,
        _ => {
            // No refreshInterval: the CRD's default, 1h.
            let zero = es
                .spec
                .refresh_interval
                .as_deref()
                .and_then(|i| go_duration(i).ok())
                .is_some_and(|i| i.is_zero());
            zero.then(|| {
                "refreshInterval 0 never syncs again once synced (ESO semantics): set a refreshInterval, or delete its target Secret".into()
            })
        }
    }
}

/// The annotation's new value: the current Unix time, as `$(date +%s)`; one more than the old
/// value if that is not older, so a second request within the same second still changes it.
pub fn force_sync_value(previous: Option<&str>, now: u64) -> String {
    match previous.and_then(|p| p.parse::<u64>().ok()) {
        Some(old) if old >= now => (old + 1).to_string(),
        _ => now.to_string(),
    }
}

/// The merge patch: `metadata.annotations.force-sync` only.
pub fn patch_body(value: &str) -> String {
    serde_json::json!({"metadata": {"annotations": {FORCE_SYNC: value}}}).to_string()
}

/// What an object's status was right after the request, to tell a later sync from an old one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Baseline {
    synced_version: Option<String>,
    ready: Option<Condition>,
}

/// What a status says about a request.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Pending,
    Synced,
    /// The Ready condition's reason and message.
    Failed(String),
}

impl Baseline {
    /// The status the patch reply carried: the controller cannot have synced the new
    /// annotation before it existed.
    pub fn of(es: &ExternalSecret) -> Baseline {
        Baseline {
            synced_version: es.status.synced_resource_version.clone(),
            ready: es.status.ready().cloned(),
        }
    }

    /// Synced: `Ready=True` with a `syncedResourceVersion` other than the one before (the
    /// new annotation changed its hash; a sync of the old version, still in flight, keeps
    /// it). Failed: `Ready=False` that is new since the request (a provider or write error
    /// leaves the version as it was, spec §5.3 step 11). A `Ready=False` that was already
    /// there stays pending, since an unchanged status cannot tell a retry happened.
    pub fn outcome(&self, now: &Status) -> Outcome {
        let Some(ready) = now.ready() else {
            return Outcome::Pending;
        };
        let version = now.synced_resource_version.as_deref().unwrap_or("");
        if ready.status == "True" && !version.is_empty() {
            if Some(version) != self.synced_version.as_deref() {
                return Outcome::Synced;
            }
            return Outcome::Pending;
        }
        if ready.status == "False" {
            let new = self.ready.as_ref().is_none_or(|before| {
                before.status != "False"
                    || before.last_transition_time != ready.last_transition_time
            });
            if new {
                return Outcome::Failed(describe(ready));
            }
        }
        Outcome::Pending
    }
}

/// `Ready=False SecretSyncedError: could not get secret data from provider`.
fn describe(ready: &Condition) -> String {
    let mut text = format!("Ready={}", ready.status);
    if let Some(reason) = ready.reason.as_deref().filter(|r| !r.is_empty()) {
        text.push(' ');
        text.push_str(reason);
    }
    if let Some(message) = ready.message.as_deref().filter(|m| !m.is_empty()) {
        text.push_str(": ");
        text.push_str(message);
    }
    text
}

/// The line for an object that did not sync in time.
pub fn timed_out(timeout: Duration, now: &Status) -> String {
    let state = now
        .ready()
        .map_or_else(|| "no Ready condition yet".to_owned(), describe);
    format!("not synced within {}s ({state})", timeout.as_secs())
}

/// Where to look for ExternalSecrets.
#[derive(Clone, Debug, PartialEq)]
pub enum Scope {
    Namespace(String),
    Everywhere,
}

impl Scope {
    fn path(&self) -> String {
        match self {
            Scope::Namespace(ns) => format!("{API}/namespaces/{ns}/externalsecrets"),
            Scope::Everywhere => format!("{API}/externalsecrets"),
        }
    }

    fn describe(&self) -> String {
        match self {
            Scope::Namespace(ns) => format!("namespace {ns}"),
            Scope::Everywhere => "any namespace".into(),
        }
    }
}

/// The selection and scope a command line means: `-A` for all namespaces; a
/// ClusterSecretStore's users anywhere unless `-n` is given; else `-n`, the context's
/// namespace, or `default`.
pub fn plan(args: &RefreshArgs, context_namespace: Option<String>) -> (Selection, Scope) {
    let selection = match (&args.name, &args.store) {
        (Some(name), _) => Selection::Named(name.clone()),
        (None, Some(store)) => Selection::Store {
            name: store.clone(),
            kind: if args.cluster_store {
                "ClusterSecretStore"
            } else {
                "SecretStore"
            },
        },
        (None, None) => Selection::All,
    };
    let scope = match &args.namespace {
        _ if args.all_namespaces => Scope::Everywhere,
        Some(ns) => Scope::Namespace(ns.clone()),
        None if args.cluster_store => Scope::Everywhere,
        None => Scope::Namespace(context_namespace.unwrap_or_else(|| "default".into())),
    };
    (selection, scope)
}

pub fn run(args: &RefreshArgs) -> Result<()> {
    let context_namespace = if args.namespace.is_some() || args.all_namespaces {
        None
    } else {
        args.cluster.context_namespace()?
    };
    let (selection, scope) = plan(args, context_namespace);
    let cluster = args.cluster.connect()?;
    let targets = find(&cluster, &selection, &scope)?;

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut requested: Vec<(ExternalSecret, Baseline)> = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    for es in targets {
        if let Some(why) = cannot_refresh(&es) {
            eprintln!("{}: skipped: {why}", es.id());
            continue;
        }
        let value = force_sync_value(
            es.metadata.annotations.get(FORCE_SYNC).map(String::as_str),
            now,
        );
        let path = format!(
            "{API}/namespaces/{}/externalsecrets/{}",
            es.metadata.namespace, es.metadata.name
        );
        let reply = cluster.merge_patch(&path, &patch_body(&value))?;
        match reply.status {
            200 => {}
            404 => {
                println!("{}: failed: deleted before it could be refreshed", es.id());
                failed.push(es.id());
                continue;
            }
            401 | 403 => bail!(
                "cannot annotate ExternalSecret {}: {}\nyour user needs `patch externalsecrets.external-secrets.io` in namespace {}: ask a cluster admin, or use another --context",
                es.id(),
                reply.status_message(),
                es.metadata.namespace
            ),
            other => bail!(
                "cannot annotate ExternalSecret {}: HTTP {other}: {}",
                es.id(),
                reply.status_message()
            ),
        }
        let patched: ExternalSecret = serde_json::from_str(&reply.body).with_context(|| {
            format!("the API server sent a malformed ExternalSecret {}", es.id())
        })?;
        if !args.wait {
            println!("{}: refresh requested ({FORCE_SYNC}={value})", es.id());
        }
        requested.push((es, Baseline::of(&patched)));
    }
    if args.wait {
        failed.extend(wait(&cluster, &requested, args.timeout)?);
    }
    if !failed.is_empty() {
        bail!(
            "{} ExternalSecret(s) did not sync: {}",
            failed.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

/// The ExternalSecrets `selection` takes in `scope`; none at all is an error, as
/// `kubectl annotate` has it, so a mistyped name or store is noticed.
fn find(cluster: &Cluster, selection: &Selection, scope: &Scope) -> Result<Vec<ExternalSecret>> {
    if let (Selection::Named(name), Scope::Namespace(ns)) = (selection, scope) {
        let reply = cluster.get(&format!("{API}/namespaces/{ns}/externalsecrets/{name}"))?;
        return match reply.status {
            200 => Ok(vec![serde_json::from_str(&reply.body).with_context(
                || format!("the API server sent a malformed ExternalSecret {ns}/{name}"),
            )?]),
            404 => bail!(
                "ExternalSecret {ns}/{name} not found: {}: check the name and --namespace (is the external-secrets.io CRD installed?)",
                reply.status_message()
            ),
            _ => bail!(
                "cannot get ExternalSecret {ns}/{name}: {}",
                reply.status_message()
            ),
        };
    }
    let path = scope.path();
    let reply = cluster.get(&path)?;
    match reply.status {
        200 => {}
        404 => bail!(
            "the cluster does not serve external-secrets.io/v1 ExternalSecrets ({}): install the CRDs (the sealbox chart, or ESO's)",
            reply.status_message()
        ),
        401 | 403 => bail!(
            "cannot list ExternalSecrets in {}: {}\nyour user needs `list externalsecrets.external-secrets.io` there: ask a cluster admin, or use another --context",
            scope.describe(),
            reply.status_message()
        ),
        _ => bail!(
            "cannot list ExternalSecrets in {}: {}",
            scope.describe(),
            reply.status_message()
        ),
    }
    #[derive(Deserialize)]
    struct List {
        #[serde(default)]
        items: Vec<ExternalSecret>,
    }
    let list: List =
        serde_json::from_str(&reply.body).context("the API server sent a malformed list")?;
    let found: Vec<ExternalSecret> = list
        .items
        .into_iter()
        .filter(|es| selected(es, selection))
        .collect();
    if found.is_empty() {
        let what = match selection {
            Selection::Named(name) => format!("named {name}"),
            Selection::All => "at all".into(),
            Selection::Store { name, kind } => format!("uses {kind} {name}"),
        };
        bail!(
            "no ExternalSecret in {} {what}: check --namespace / -A and the name",
            scope.describe()
        );
    }
    Ok(found)
}

/// Polls each requested object until its [`Outcome`] is decided or `timeout` passes, printing
/// one line per object; returns the ones that failed or timed out.
fn wait(
    cluster: &Cluster,
    requested: &[(ExternalSecret, Baseline)],
    timeout: Duration,
) -> Result<Vec<String>> {
    let deadline = Instant::now() + timeout;
    let mut pending: Vec<&(ExternalSecret, Baseline)> = requested.iter().collect();
    let mut last: BTreeMap<String, Status> = BTreeMap::new();
    let mut failed = Vec::new();
    loop {
        let mut still = Vec::new();
        for item in pending {
            let (es, baseline) = item;
            let path = format!(
                "{API}/namespaces/{}/externalsecrets/{}",
                es.metadata.namespace, es.metadata.name
            );
            let reply = cluster.get(&path)?;
            if reply.status == 404 {
                println!("{}: failed: deleted while waiting", es.id());
                failed.push(es.id());
                continue;
            }
            if reply.status != 200 {
                bail!(
                    "cannot get ExternalSecret {}: {}",
                    es.id(),
                    reply.status_message()
                );
            }
            let now: ExternalSecret = serde_json::from_str(&reply.body).with_context(|| {
                format!("the API server sent a malformed ExternalSecret {}", es.id())
            })?;
            match baseline.outcome(&now.status) {
                Outcome::Synced => println!(
                    "{}: synced (refreshTime {})",
                    es.id(),
                    now.status.refresh_time.as_deref().unwrap_or("unknown")
                ),
                Outcome::Failed(why) => {
                    println!("{}: failed: {why}", es.id());
                    failed.push(es.id());
                }
                Outcome::Pending => {
                    last.insert(es.id(), now.status);
                    still.push(item);
                }
            }
        }
        pending = still;
        if pending.is_empty() {
            return Ok(failed);
        }
        if Instant::now() >= deadline {
            for (es, _) in pending {
                let status = last.get(&es.id()).cloned().unwrap_or_default();
                println!("{}: failed: {}", es.id(), timed_out(timeout, &status));
                failed.push(es.id());
            }
            return Ok(failed);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn es(json: serde_json::Value) -> ExternalSecret {
        serde_json::from_value(json).unwrap()
    }

    fn ready(status: &str, reason: &str, at: &str) -> Condition {
        Condition {
            type_: "Ready".into(),
            status: status.into(),
            reason: Some(reason.into()),
            message: Some(if status == "True" {
                "secret synced".into()
            } else {
                "could not get secret data from provider".into()
            }),
            last_transition_time: Some(at.into()),
        }
    }

    fn status(version: &str, ready: Option<Condition>) -> Status {
        Status {
            synced_resource_version: Some(version.into()),
            refresh_time: None,
            conditions: ready.into_iter().collect(),
        }
    }

    #[test]
    fn a_store_selects_the_objects_that_read_from_it_by_kind() {
        let uses = |spec: serde_json::Value| es(serde_json::json!({"spec": spec}));
        let store = |name: &str, kind: &'static str| Selection::Store {
            name: name.into(),
            kind,
        };
        let plain = uses(serde_json::json!({"secretStoreRef": {"name": "vault"}}));
        let kinded =
            uses(serde_json::json!({"secretStoreRef": {"name": "vault", "kind": "SecretStore"}}));
        let cluster = uses(
            serde_json::json!({"secretStoreRef": {"name": "vault", "kind": "ClusterSecretStore"}}),
        );
        let by_source = uses(serde_json::json!({
            "secretStoreRef": {"name": "other"},
            "data": [{"secretKey": "k", "remoteRef": {"key": "x"},
                      "sourceRef": {"storeRef": {"name": "aws", "kind": "ClusterSecretStore"}}}],
            "dataFrom": [{"extract": {"key": "y"}, "sourceRef": {"storeRef": {"name": "bao"}}}]
        }));
        assert!(selected(&plain, &store("vault", "SecretStore")));
        assert!(selected(&kinded, &store("vault", "SecretStore")));
        assert!(!selected(&cluster, &store("vault", "SecretStore")));
        assert!(selected(&cluster, &store("vault", "ClusterSecretStore")));
        assert!(!selected(&plain, &store("vault", "ClusterSecretStore")));
        assert!(selected(&by_source, &store("aws", "ClusterSecretStore")));
        assert!(selected(&by_source, &store("bao", "SecretStore")));
        assert!(selected(&by_source, &store("other", "SecretStore")));
        assert!(!selected(&by_source, &store("aws", "SecretStore")));
        assert!(selected(&by_source, &Selection::All));
        let named = es(serde_json::json!({"metadata": {"name": "app"}}));
        assert!(selected(&named, &Selection::Named("app".into())));
        assert!(!selected(&named, &Selection::Named("ap".into())));
    }

    #[test]
    fn only_objects_the_controller_would_sync_again_are_refreshed() {
        let with = |policy: Option<&str>, interval: Option<&str>, synced: Option<&str>| {
            let mut e = ExternalSecret::default();
            e.spec.refresh_policy = policy.map(str::to_owned);
            e.spec.refresh_interval = interval.map(str::to_owned);
            e.status.synced_resource_version = synced.map(str::to_owned);
            e
        };
        let v = Some("1-abc");
        assert_eq!(cannot_refresh(&with(None, Some("1h0m0s"), v)), None);
        assert_eq!(cannot_refresh(&with(None, None, v)), None);
        assert_eq!(cannot_refresh(&with(Some("OnChange"), Some("0s"), v)), None);
        assert_eq!(cannot_refresh(&with(Some("Periodic"), Some("5m"), v)), None);
        assert!(
            cannot_refresh(&with(None, Some("0s"), v))
                .unwrap()
                .contains("refreshInterval 0")
        );
        assert!(cannot_refresh(&with(Some("Periodic"), Some("0"), v)).is_some());
        assert!(
            cannot_refresh(&with(Some("CreatedOnce"), Some("1h"), v))
                .unwrap()
                .contains("CreatedOnce")
        );
        // Never synced: every policy syncs anyway.
        assert_eq!(
            cannot_refresh(&with(Some("CreatedOnce"), Some("0s"), None)),
            None
        );
        assert_eq!(cannot_refresh(&with(None, Some("0s"), Some(""))), None);
    }

    #[test]
    fn the_annotation_always_changes() {
        assert_eq!(force_sync_value(None, 1_700_000_000), "1700000000");
        assert_eq!(
            force_sync_value(Some("1600000000"), 1_700_000_000),
            "1700000000"
        );
        assert_eq!(
            force_sync_value(Some("1700000000"), 1_700_000_000),
            "1700000001"
        );
        assert_eq!(
            force_sync_value(Some("1700000005"), 1_700_000_000),
            "1700000006"
        );
        assert_eq!(force_sync_value(Some("yes"), 1_700_000_000), "1700000000");
        let body: serde_json::Value = serde_json::from_str(&patch_body("42")).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"metadata": {"annotations": {"force-sync": "42"}}})
        );
    }

    #[test]
    fn a_sync_counts_only_with_a_new_version_and_ready() {
        let before = Baseline::of(&ExternalSecret {
            status: status("1-old", Some(ready("True", "SecretSynced", "t0"))),
            ..Default::default()
        });
        // Nothing new yet, or an old sync still landing.
        assert_eq!(
            before.outcome(&status("1-old", Some(ready("True", "SecretSynced", "t0")))),
            Outcome::Pending
        );
        assert_eq!(before.outcome(&Status::default()), Outcome::Pending);
        assert_eq!(
            before.outcome(&status("1-new", Some(ready("True", "SecretSynced", "t0")))),
            Outcome::Synced
        );
        // The provider failed after the request: Ready flipped.
        assert_eq!(
            before.outcome(&status(
                "1-old",
                Some(ready("False", "SecretSyncedError", "t1"))
            )),
            Outcome::Failed(
                "Ready=False SecretSyncedError: could not get secret data from provider".into()
            )
        );
    }

    #[test]
    fn an_old_failure_waits_for_a_change_or_the_timeout() {
        let failing = ready("False", "SecretSyncedError", "t0");
        let before = Baseline::of(&ExternalSecret {
            status: status("1-old", Some(failing.clone())),
            ..Default::default()
        });
        assert_eq!(
            before.outcome(&status("1-old", Some(failing.clone()))),
            Outcome::Pending
        );
        assert_eq!(
            before.outcome(&status("1-new", Some(ready("True", "SecretSynced", "t1")))),
            Outcome::Synced
        );
        assert!(matches!(
            before.outcome(&status(
                "1-old",
                Some(ready("False", "SecretSyncedError", "t2"))
            )),
            Outcome::Failed(_)
        ));
        let line = timed_out(Duration::from_secs(60), &status("1-old", Some(failing)));
        assert_eq!(
            line,
            "not synced within 60s (Ready=False SecretSyncedError: could not get secret data from provider)"
        );
        assert_eq!(
            timed_out(Duration::from_secs(5), &Status::default()),
            "not synced within 5s (no Ready condition yet)"
        );
        // Never synced and no condition yet: the first sync counts.
        let fresh = Baseline::of(&ExternalSecret::default());
        assert_eq!(
            fresh.outcome(&status("1-a", Some(ready("True", "SecretSynced", "t0")))),
            Outcome::Synced
        );
    }

    #[derive(Parser)]
    struct Line {
        #[command(flatten)]
        args: RefreshArgs,
    }

    fn parse(argv: &[&str]) -> Result<RefreshArgs, clap::Error> {
        Line::try_parse_from(std::iter::once("refresh").chain(argv.iter().copied())).map(|l| l.args)
    }

    #[test]
    fn command_lines_mean_one_selection_and_scope() {
        let plan_of =
            |argv: &[&str], ctx: Option<&str>| plan(&parse(argv).unwrap(), ctx.map(str::to_owned));
        assert_eq!(
            plan_of(&["app"], Some("team-a")),
            (
                Selection::Named("app".into()),
                Scope::Namespace("team-a".into())
            )
        );
        assert_eq!(
            plan_of(&["app", "-n", "x"], Some("team-a")),
            (Selection::Named("app".into()), Scope::Namespace("x".into()))
        );
        assert_eq!(
            plan_of(&["--all"], None),
            (Selection::All, Scope::Namespace("default".into()))
        );
        assert_eq!(
            plan_of(&["--all", "-A"], None),
            (Selection::All, Scope::Everywhere)
        );
        let store = |kind| Selection::Store {
            name: "vault".into(),
            kind,
        };
        assert_eq!(
            plan_of(&["--store", "vault"], None),
            (store("SecretStore"), Scope::Namespace("default".into()))
        );
        assert_eq!(
            plan_of(&["--store", "vault", "--cluster-store"], None),
            (store("ClusterSecretStore"), Scope::Everywhere)
        );
        assert_eq!(
            plan_of(&["--store", "vault", "--cluster-store", "-n", "b"], None),
            (store("ClusterSecretStore"), Scope::Namespace("b".into()))
        );
        assert_eq!(
            parse(&["--all", "--wait"]).unwrap().timeout,
            Duration::from_secs(60)
        );
        assert_eq!(
            parse(&["--all", "--wait", "--timeout", "2m"])
                .unwrap()
                .timeout,
            Duration::from_secs(120)
        );
        // Exactly one selection; flags that only make sense with another.
        for bad in [
            &[][..],
            &["app", "--all"],
            &["--all", "--store", "s"],
            &["app", "-A"],
            &["--all", "-A", "-n", "x"],
            &["--all", "--cluster-store"],
            &["--all", "--timeout", "5s"],
            &["--all", "--wait", "--timeout", "5"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
