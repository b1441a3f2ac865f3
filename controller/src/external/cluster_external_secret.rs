//! The ClusterExternalSecret reconciler (spec §4): one ExternalSecret per selected namespace,
//! owned by the ClusterExternalSecret (so the API server's garbage collector removes them
//! with it), its `spec` replaced from `externalSecretSpec`, its labels and annotations from
//! `externalSecretMetadata`. Namespaces that stop matching lose theirs; an ExternalSecret of
//! the same name that the ClusterExternalSecret does not own is never taken over.
//!
//! [`selected`] is the pure namespace rule; [`run`] the controller (it also re-evaluates every
//! ClusterExternalSecret when a Namespace changes).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use super::status;
use super::stores::selector_matches;
use super::triggers;
use crate::crd::external::cluster_external_secret::{
    ClusterExternalSecretStatus, NamespaceFailure,
};
use crate::crd::external::{ClusterExternalSecret, ExternalSecret};
use crate::flags::go_duration;
use crate::supervisor::Shutdown;

/// ESO's finalizer on ClusterExternalSecrets; sealbox removes it on deletion (children are
/// owned, so the garbage collector deletes them) and does not add it.
pub const FINALIZER: &str = "externalsecrets.external-secrets.io/clusterexternalsecret-cleanup";

/// The names of the namespaces a ClusterExternalSecret selects (sorted): those in
/// `namespaces`, and those any of `namespaceSelector`/`namespaceSelectors` matches; never a
/// terminating one.
pub fn selected(
    ces: &ClusterExternalSecret,
    namespaces: &[Namespace],
) -> Result<Vec<String>, String> {
    let spec = &ces.spec;
    let selectors: Vec<_> = spec
        .namespace_selector
        .iter()
        .chain(spec.namespace_selectors.iter())
        .collect();
    let mut out = Vec::new();
    for ns in namespaces {
        if ns.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = ns.name_any();
        let labels = ns.metadata.labels.clone().unwrap_or_default();
        let mut hit = spec.namespaces.contains(&name);
        for selector in &selectors {
            hit = hit || selector_matches(selector, &labels)?;
        }
        if hit {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// Runs the reconciler until `shutdown`.
pub async fn run(client: Client, shutdown: Shutdown) -> anyhow::Result<()> {
    let api: Api<ClusterExternalSecret> = Api::all(client.clone());
    let (trigger, store) = triggers::watch(api);
    let controller = Controller::for_stream(trigger, store.clone());
    controller
        .watches(
            Api::<Namespace>::all(client.clone()),
            watcher::Config::default(),
            move |_: Namespace| {
                store
                    .state()
                    .into_iter()
                    .map(|ces| ObjectRef::from_obj(&*ces))
                    .collect::<Vec<_>>()
            },
        )
        .owns(
            Api::<ExternalSecret>::all(client.clone()),
            watcher::Config::default(),
        )
        .graceful_shutdown_on(shutdown.wait())
        .run(
            reconcile,
            |_, _, _| Action::requeue(Duration::from_secs(5)),
            Arc::new(client),
        )
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

fn owned_by(es: &ExternalSecret, ces: &ClusterExternalSecret) -> bool {
    es.owner_references().iter().any(|r| {
        r.controller == Some(true) && r.kind == "ClusterExternalSecret" && r.name == ces.name_any()
    })
}

async fn delete_child(
    client: &Client,
    ns: &str,
    name: &str,
    ces: &ClusterExternalSecret,
) -> Result<(), kube::Error> {
    let api: Api<ExternalSecret> = Api::namespaced(client.clone(), ns);
    if let Some(es) = api.get_opt(name).await?
        && owned_by(&es, ces)
    {
        api.delete(name, &DeleteParams::default()).await?;
    }
    Ok(())
}

async fn reconcile(
    ces: Arc<ClusterExternalSecret>,
    client: Arc<Client>,
) -> Result<Action, kube::Error> {
    let api: Api<ClusterExternalSecret> = Api::all((*client).clone());
    let name = ces.name_any();
    let namespaces = Api::<Namespace>::all((*client).clone())
        .list(&ListParams::default())
        .await?
        .items;
    release_namespaces(&client, &name, &namespaces).await?;
    if ces.metadata.deletion_timestamp.is_some() {
        if ces.finalizers().iter().any(|f| f == FINALIZER) {
            let kept: Vec<&String> = ces
                .finalizers()
                .iter()
                .filter(|f| *f != FINALIZER)
                .collect();
            let patch = json!({"metadata": {"finalizers": kept, "resourceVersion": ces.metadata.resource_version}});
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
        }
        return Ok(Action::await_change());
    }
    let es_name = ces
        .spec
        .external_secret_name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| name.clone());
    let previous = ces.status.clone().unwrap_or_default();
    let mut failed: BTreeMap<String, String> = BTreeMap::new();
    if let Some(old) = previous.external_secret_name.as_deref()
        && old != es_name
    {
        for ns in &previous.provisioned_namespaces {
            if let Err(e) = delete_child(&client, ns, old, &ces).await {
                failed.insert(ns.clone(), e.to_string());
            }
        }
    }
    let targets = match selected(&ces, &namespaces) {
        Ok(t) => t,
        Err(e) => {
            // As ESO: a selector that cannot be evaluated changes nothing (no child is
            // deleted because nothing matched); the status says why.
            failed.insert("unknown".into(), e);
            let status = ClusterExternalSecretStatus {
                failed_namespaces: failures(&failed),
                ..previous.clone()
            };
            write_status(&api, &ces, status, false).await?;
            return Ok(Action::requeue(Duration::from_secs(60)));
        }
    };
    for ns in &previous.provisioned_namespaces {
        if !targets.contains(ns)
            && let Err(e) = delete_child(&client, ns, &es_name, &ces).await
        {
            failed.insert(ns.clone(), e.to_string());
        }
    }
    let mut provisioned = Vec::new();
    let meta = ces
        .spec
        .external_secret_metadata
        .clone()
        .unwrap_or_default();
    for ns in &targets {
        let es_api: Api<ExternalSecret> = Api::namespaced((*client).clone(), ns);
        let existing = match es_api.get_opt(&es_name).await {
            Ok(e) => e,
            Err(e) => {
                failed.insert(ns.clone(), e.to_string());
                continue;
            }
        };
        let mut annotations = meta.annotations.clone();
        if let Some(force) = ces.annotations().get("external-secrets.io/force-sync") {
            annotations.insert("external-secrets.io/force-sync".into(), force.clone());
        }
        let mut child = ExternalSecret::new(&es_name, ces.spec.external_secret_spec.clone());
        child.metadata.namespace = Some(ns.clone());
        child.metadata.labels = Some(meta.labels.clone()).filter(|l| !l.is_empty());
        child.metadata.annotations = Some(annotations).filter(|a| !a.is_empty());
        child.metadata.owner_references = ces.controller_owner_ref(&()).map(|r| vec![r]);
        let written = match existing {
            Some(es) if !owned_by(&es, &ces) => {
                failed.insert(
                    ns.clone(),
                    "external secret already exists in namespace".into(),
                );
                continue;
            }
            Some(es) => {
                if es.spec == child.spec
                    && es.metadata.labels == child.metadata.labels
                    && es.metadata.annotations == child.metadata.annotations
                {
                    Ok(())
                } else {
                    child.metadata.resource_version = es.metadata.resource_version.clone();
                    child.metadata.finalizers = es.metadata.finalizers.clone();
                    child.status = es.status.clone();
                    es_api
                        .replace(&es_name, &PostParams::default(), &child)
                        .await
                        .map(|_| ())
                }
            }
            None => es_api
                .create(&PostParams::default(), &child)
                .await
                .map(|_| ()),
        };
        match written {
            Ok(()) => provisioned.push(ns.clone()),
            Err(e) => {
                failed.insert(ns.clone(), e.to_string());
            }
        }
    }
    let new_status = ClusterExternalSecretStatus {
        external_secret_name: Some(es_name),
        provisioned_namespaces: provisioned,
        failed_namespaces: failures(&failed),
        conditions: previous.conditions.clone(),
    };
    write_status(&api, &ces, new_status, failed.is_empty()).await?;
    let every = ces
        .spec
        .refresh_time
        .as_deref()
        .and_then(|t| go_duration(t).ok())
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(3600));
    Ok(Action::requeue(every))
}

fn failures(failed: &BTreeMap<String, String>) -> Vec<NamespaceFailure> {
    failed
        .iter()
        .map(|(ns, why)| NamespaceFailure {
            namespace: ns.clone(),
            reason: Some(why.clone()),
        })
        .collect()
}

/// ESO's `Ready` condition of a ClusterExternalSecret: no reason; a message only on failure.
async fn write_status(
    api: &Api<ClusterExternalSecret>,
    ces: &ClusterExternalSecret,
    mut status: ClusterExternalSecretStatus,
    ok: bool,
) -> Result<(), kube::Error> {
    let now = k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let message = if ok {
        ""
    } else {
        "one or more namespaces failed"
    };
    status::set_ready(&mut status.conditions, ok, "", message, &now);
    for c in &mut status.conditions {
        if c.type_ == "Ready" {
            c.reason = None;
            c.message = Some(message.to_owned()).filter(|m| !m.is_empty());
        }
    }
    if ces.status.as_ref() != Some(&status) {
        let patch = json!({ "status": status });
        api.patch_status(
            &ces.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    }
    Ok(())
}

/// ESO puts a finalizer per ClusterExternalSecret on each Namespace it provisions
/// (`externalsecrets.external-secrets.io/ces-<name>`) and removes it itself. sealbox adds none,
/// so any it finds is ESO's and is removed, or deleting those namespaces would hang once ESO
/// is gone.
async fn release_namespaces(
    client: &Client,
    ces_name: &str,
    namespaces: &[Namespace],
) -> Result<(), kube::Error> {
    let eso = format!("externalsecrets.external-secrets.io/ces-{ces_name}");
    let api: Api<Namespace> = Api::all(client.clone());
    for ns in namespaces {
        let finalizers = ns.finalizers();
        if finalizers.contains(&eso) {
            let kept: Vec<&String> = finalizers.iter().filter(|f| **f != eso).collect();
            let patch = json!({"metadata": {"finalizers": kept, "resourceVersion": ns.metadata.resource_version}});
            api.patch(
                &ns.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};

    use super::*;
    use crate::crd::external::ClusterExternalSecretSpec;

    fn ns(name: &str, labels: &[(&str, &str)], terminating: bool) -> Namespace {
        Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                deletion_timestamp: terminating
                    .then_some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        }
    }

    #[test]
    fn names_and_selectors_are_ored_and_terminating_namespaces_skipped() {
        let ces = ClusterExternalSecret::new(
            "shared",
            ClusterExternalSecretSpec {
                namespaces: vec!["legacy".into()],
                namespace_selectors: vec![LabelSelector {
                    match_labels: Some(BTreeMap::from([("team".into(), "a".into())])),
                    ..LabelSelector::default()
                }],
                ..ClusterExternalSecretSpec::default()
            },
        );
        let all = [
            ns("legacy", &[], false),
            ns("a1", &[("team", "a")], false),
            ns("a2", &[("team", "a")], true),
            ns("b1", &[("team", "b")], false),
        ];
        assert_eq!(
            selected(&ces, &all),
            Ok(vec!["a1".to_owned(), "legacy".to_owned()])
        );
    }

    #[test]
    fn no_selector_selects_nothing() {
        let ces = ClusterExternalSecret::new("none", ClusterExternalSecretSpec::default());
        assert_eq!(selected(&ces, &[ns("x", &[], false)]), Ok(vec![]));
    }
}
