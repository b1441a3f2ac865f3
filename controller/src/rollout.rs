//! Restarting the workloads that use a Secret after sealbox changed its data, the way
//! `kubectl rollout restart` does (sealbox; ESO has no such feature, issue #3218; HashiCorp's
//! Vault Secrets Operator calls it `rolloutRestartTargets`). Opt-in per ExternalSecret or
//! SealedSecret with the annotation [`ANNOTATION`], so both upstream CRD schemas stay as they
//! are and a manifest using it is still valid for ESO and sealed-secrets (which ignore it):
//!
//! ```yaml
//! metadata:
//!   annotations:
//!     sealbox.io/rollout-restart-targets: "Deployment/api, StatefulSet/db, DaemonSet/agent"
//! ```
//!
//! Which function when, in a reconcile that writes a Secret:
//! - [`targets`] reads the annotation of the ExternalSecret or SealedSecret (before any write:
//!   a malformed annotation is the user's error to report, whatever the Secret does);
//! - [`data_changed`] says, from the Secret's data before and after the write, whether a
//!   restart is due (only when the data changed; metadata alone never restarts anything);
//! - [`restart`] patches each target's pod template, one result per target, for a Warning
//!   Event naming those that failed;
//! - [`after_write`] does all three for a reconciler that just wrote a Secret, and reports in
//!   Events on the SealedSecret or ExternalSecret.
//!
//! ```
//! use std::collections::BTreeMap;
//! use sealbox_controller::rollout::{ANNOTATION, Kind, Target, data_changed, targets};
//!
//! let annotations = BTreeMap::from([(ANNOTATION.to_owned(), "Deployment/api, DaemonSet/agent".to_owned())]);
//! let found = targets(&annotations).unwrap();
//! assert_eq!(found[0], Target { kind: Kind::Deployment, name: "api".into() });
//! assert_eq!(found[1].to_string(), "DaemonSet/agent");
//!
//! let before = BTreeMap::from([("password".to_owned(), b"old".to_vec())]);
//! let after = BTreeMap::from([("password".to_owned(), b"new".to_vec())]);
//! assert!(data_changed(Some(&before), &after));
//! assert!(!data_changed(Some(&after), &after));
//! ```

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource};

use crate::events::{Kind as EventKind, Recorder};
use serde::de::DeserializeOwned;

/// The annotation, on an ExternalSecret or a SealedSecret, listing the workloads to restart
/// when its Secret's data changes: `Kind/name` entries separated by commas or whitespace.
pub const ANNOTATION: &str = "sealbox.io/rollout-restart-targets";

/// The pod-template annotation `kubectl rollout restart` sets; a new value rolls the pods.
const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// The field manager of the restart patches.
const FIELD_MANAGER: &str = "sealbox";

/// A workload kind that can be restarted (all `apps/v1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Deployment, Kind::StatefulSet, Kind::DaemonSet];

    /// The kind as written in the annotation and in `kind:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
        }
    }

    /// The kind a user most likely meant by `word`: any case, kubectl's plural and short
    /// names (`deploy`, `sts`, `ds`), for the error message only ([`targets`] accepts the
    /// kind names alone, so one manifest has one spelling).
    fn meant(word: &str) -> Option<Kind> {
        match word.to_ascii_lowercase().as_str() {
            "deployment" | "deployments" | "deploy" => Some(Kind::Deployment),
            "statefulset" | "statefulsets" | "sts" => Some(Kind::StatefulSet),
            "daemonset" | "daemonsets" | "ds" => Some(Kind::DaemonSet),
            _ => None,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One workload to restart, in the namespace of the object carrying the annotation.
/// Displayed as written in the annotation, `Kind/name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    pub kind: Kind,
    pub name: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// The targets listed in [`ANNOTATION`] among `annotations`, in order, each once; none when
/// the annotation is absent or empty. Entries are separated by commas and/or whitespace;
/// empty entries are ignored. The first malformed entry (no `/`, an unknown kind, an empty
/// name, a name that is not a DNS-1123 subdomain, a namespace given) is an error naming it
/// and what to write instead.
pub fn targets(annotations: &BTreeMap<String, String>) -> Result<Vec<Target>, String> {
    let Some(value) = annotations.get(ANNOTATION) else {
        return Ok(Vec::new());
    };
    let mut found: Vec<Target> = Vec::new();
    for entry in value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|e| !e.is_empty())
    {
        let target = parse(entry).map_err(|why| format!("{ANNOTATION}: {why}"))?;
        if !found.contains(&target) {
            found.push(target);
        }
    }
    Ok(found)
}

/// One `Kind/name` entry.
fn parse(entry: &str) -> Result<Target, String> {
    let kinds = "Deployment, StatefulSet or DaemonSet";
    let Some((kind, name)) = entry.split_once('/') else {
        return Err(format!(
            "{entry:?} has no kind: write Kind/name, e.g. Deployment/{entry} (kinds: {kinds})"
        ));
    };
    let kind = match Kind::ALL.into_iter().find(|k| k.as_str() == kind) {
        Some(k) => k,
        None => {
            return Err(match Kind::meant(kind) {
                Some(meant) => format!("{entry:?}: write {meant}/{name} (kinds: {kinds})"),
                None => format!("{entry:?} names an unknown kind {kind:?}: the kinds are {kinds}"),
            });
        }
    };
    if name.is_empty() {
        return Err(format!("{entry:?} has no name: write {kind}/<name>"));
    }
    if name.contains('/') {
        return Err(format!(
            "{entry:?}: targets are in the object's own namespace; write {kind}/<name>"
        ));
    }
    if !dns1123_subdomain(name) {
        return Err(format!(
            "{entry:?}: {name:?} is not a workload name (lowercase letters, digits, '-' and '.', \
             starting and ending with a letter or digit, at most 253 characters): write the \
             workload's metadata.name"
        ));
    }
    Ok(Target {
        kind,
        name: name.to_owned(),
    })
}

/// Kubernetes' `IsDNS1123Subdomain`: the names Deployments, StatefulSets and DaemonSets take.
fn dns1123_subdomain(name: &str) -> bool {
    let label = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
    };
    name.len() <= 253 && name.split('.').all(label)
}

/// Whether a write of a Secret is a change its workloads must be restarted for: `before` is
/// its data as read just before the write (`None`: it did not exist), `after` what was
/// written. Only the data bytes count: labels, annotations (the controller's own stamps
/// included) or the type changing alone restart nothing, and a write that leaves the data as
/// it was (a refresh that read the same values) restarts nothing.
///
/// A newly created Secret does restart: the workload may have started without it (an
/// `optional` reference, or pods waiting on it), or still hold an old copy when the Secret
/// was deleted and is re-created with other values. It costs one rollout at first sync. A
/// Secret restored after a hand edit restarts too: its pods may have read the edited values.
pub fn data_changed<V: PartialEq>(
    before: Option<&BTreeMap<String, V>>,
    after: &BTreeMap<String, V>,
) -> bool {
    before != Some(after)
}

/// Restarts each of `targets` in `namespace` as `kubectl rollout restart` does: a merge
/// patch setting the pod template's annotation `kubectl.kubernetes.io/restartedAt` to `at`
/// (field manager `sealbox`), so the workload's controller rolls its pods under its own
/// update strategy. `at` is an RFC 3339 time (kubectl writes `time.Now()` in RFC 3339;
/// `k8s_openapi::jiff::Timestamp::now().to_string()` gives one): a restart with the same
/// `at` as the last one changes nothing and rolls nothing.
///
/// Every target is tried; the result says, per target in the order given, what failed
/// (missing, forbidden, or another API error), in a message naming the workload and what
/// to do, fit for a Warning Event (it holds no Secret value).
pub async fn restart(
    client: Client,
    namespace: &str,
    targets: &[Target],
    at: &str,
) -> Vec<(Target, Result<(), String>)> {
    let patch = serde_json::json!({
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: at}}}}
    });
    let one = |target: &Target| {
        let (client, patch) = (client.clone(), &patch);
        let target = target.clone();
        async move {
            let result = match target.kind {
                Kind::Deployment => {
                    patch_one::<Deployment>(client, namespace, &target, patch).await
                }
                Kind::StatefulSet => {
                    patch_one::<StatefulSet>(client, namespace, &target, patch).await
                }
                Kind::DaemonSet => patch_one::<DaemonSet>(client, namespace, &target, patch).await,
            };
            (target, result)
        }
    };
    futures::future::join_all(targets.iter().map(one)).await
}

async fn patch_one<K>(
    client: Client,
    namespace: &str,
    target: &Target,
    patch: &serde_json::Value,
) -> Result<(), String>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client, namespace);
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    match api.patch(&target.name, &params, &Patch::Merge(patch)).await {
        Ok(_) => Ok(()),
        Err(e) => Err(failure(namespace, target, &e)),
    }
}

/// The message for a restart that failed: which workload, why, what to do.
fn failure(namespace: &str, target: &Target, error: &kube::Error) -> String {
    let plural = format!("{}s", target.kind.as_str().to_ascii_lowercase());
    match error {
        kube::Error::Api(status) if status.code == 404 => format!(
            "cannot restart {target} in namespace {namespace}: it does not exist; create it or \
             remove it from the {ANNOTATION} annotation"
        ),
        kube::Error::Api(status) if status.code == 403 => format!(
            "cannot restart {target} in namespace {namespace}: sealbox-controller may not patch \
             {plural} (apps); grant it patch on {plural} in its ClusterRole (the Helm chart does)"
        ),
        other => format!(
            "cannot restart {target} in namespace {namespace}: {other}; restart it by hand: \
             kubectl rollout restart {} {} -n {namespace}",
            target.kind.as_str().to_ascii_lowercase(),
            target.name
        ),
    }
}

/// After a reconciler wrote the Secret of `owner` (a SealedSecret or ExternalSecret with
/// these `annotations`, in `namespace`): restarts the workloads the annotation names when the
/// data went from `before` to something else (`after`), and says so in Events on the owner: a
/// Normal `RolloutRestarted` naming the workloads, a Warning `RolloutRestartFailed` for a
/// malformed annotation or each workload that could not be restarted.
pub async fn after_write(
    client: Client,
    events: &Recorder,
    owner: &ObjectReference,
    annotations: &BTreeMap<String, String>,
    namespace: &str,
    before: Option<&Secret>,
    after: &Secret,
) {
    let none = BTreeMap::new();
    let data = |s: &Secret| s.data.as_ref().unwrap_or(&none).clone();
    if !annotations.contains_key(ANNOTATION)
        || !data_changed(before.map(data).as_ref(), &data(after))
    {
        return;
    }
    let targets = match targets(annotations) {
        Ok(targets) if targets.is_empty() => return,
        Ok(targets) => targets,
        Err(e) => {
            events
                .publish(owner, EventKind::Warning, "RolloutRestartFailed", &e)
                .await;
            return;
        }
    };
    let at = k8s_openapi::jiff::Timestamp::now().to_string();
    let mut restarted = Vec::new();
    for (target, result) in restart(client, namespace, &targets, &at).await {
        match result {
            Ok(()) => restarted.push(target.to_string()),
            Err(e) => {
                events
                    .publish(owner, EventKind::Warning, "RolloutRestartFailed", &e)
                    .await;
            }
        }
    }
    if !restarted.is_empty() {
        let message = format!(
            "restarted {} because the Secret's data changed",
            restarted.join(", ")
        );
        events
            .publish(owner, EventKind::Normal, "RolloutRestarted", &message)
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotated(value: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (ANNOTATION.to_owned(), value.to_owned()),
            ("other".to_owned(), "Deployment/ignored".to_owned()),
        ])
    }

    fn target(kind: Kind, name: &str) -> Target {
        Target {
            kind,
            name: name.into(),
        }
    }

    #[test]
    fn targets_are_read_in_order_once_with_any_separators() {
        let found = targets(&annotated(
            " Deployment/api,StatefulSet/db \n\tDaemonSet/agent,, Deployment/api ,",
        ))
        .unwrap();
        assert_eq!(
            found,
            [
                target(Kind::Deployment, "api"),
                target(Kind::StatefulSet, "db"),
                target(Kind::DaemonSet, "agent"),
            ]
        );
        // The same name under two kinds is two workloads.
        assert_eq!(
            targets(&annotated("Deployment/x StatefulSet/x"))
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn no_annotation_or_an_empty_one_is_no_target() {
        assert_eq!(targets(&BTreeMap::new()), Ok(vec![]));
        assert_eq!(targets(&annotated("")), Ok(vec![]));
        assert_eq!(targets(&annotated(" , ,\n")), Ok(vec![]));
    }

    #[test]
    fn names_may_be_dns_subdomains() {
        let long = "a".repeat(253);
        for name in ["a", "api-v2", "api.team-a", "0db", long.as_str()] {
            assert_eq!(
                targets(&annotated(&format!("Deployment/{name}"))),
                Ok(vec![target(Kind::Deployment, name)])
            );
        }
    }

    #[test]
    fn malformed_entries_are_errors_saying_what_to_write() {
        let error = |value: &str| targets(&annotated(value)).unwrap_err();

        let e = error("Deployment/api api");
        assert!(
            e.contains(ANNOTATION) && e.contains("\"api\" has no kind"),
            "{e}"
        );
        assert!(e.contains("Deployment/api"), "{e}");

        let e = error("deploy/api");
        assert!(e.contains("\"deploy/api\": write Deployment/api"), "{e}");
        let e = error("statefulsets/db");
        assert!(e.contains("write StatefulSet/db"), "{e}");
        let e = error("ds/agent");
        assert!(e.contains("write DaemonSet/agent"), "{e}");

        let e = error("CronJob/nightly");
        assert!(e.contains("unknown kind \"CronJob\""), "{e}");
        assert!(e.contains("Deployment, StatefulSet or DaemonSet"), "{e}");

        let e = error("Deployment/");
        assert!(e.contains("has no name: write Deployment/<name>"), "{e}");

        let e = error("team-b/Deployment/api");
        assert!(e.contains("unknown kind \"team-b\""), "{e}");
        let e = error("Deployment/team-b/api");
        assert!(e.contains("own namespace"), "{e}");

        let too_long = format!("Deployment/{}", "a".repeat(254));
        for bad in [
            "Deployment/API",
            "Deployment/-api",
            "Deployment/api-",
            "Deployment/api..v2",
            "Deployment/api_v2",
            "Deployment/.api",
            too_long.as_str(),
        ] {
            let e = error(bad);
            assert!(e.contains("is not a workload name"), "{bad}: {e}");
            assert!(e.contains("metadata.name"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_bad_entry_fails_the_whole_annotation() {
        // No partial list: restarting some targets and not others would hide the mistake.
        assert!(targets(&annotated("Deployment/api, Deploymnet/db")).is_err());
    }

    fn data(pairs: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
            .collect()
    }

    #[test]
    fn a_new_secret_restarts() {
        assert!(data_changed(None, &data(&[("password", b"s3cret")])));
        assert!(data_changed::<Vec<u8>>(None, &BTreeMap::new()));
    }

    #[test]
    fn only_a_change_of_the_data_bytes_restarts() {
        let before = data(&[("password", b"old"), ("user", b"app")]);
        assert!(!data_changed(Some(&before), &before.clone()));
        assert!(data_changed(
            Some(&before),
            &data(&[("password", b"new"), ("user", b"app")])
        ));
        // A key added, removed or renamed, even with the same bytes.
        assert!(data_changed(
            Some(&before),
            &data(&[("password", b"old"), ("user", b"app"), ("x", b"")])
        ));
        assert!(data_changed(Some(&before), &data(&[("password", b"old")])));
        assert!(data_changed(
            Some(&before),
            &data(&[("pass", b"old"), ("user", b"app")])
        ));
        // An empty value is a value.
        assert!(data_changed(
            Some(&data(&[("k", b"")])),
            &data(&[("k", b" ")])
        ));
    }

    #[test]
    fn failures_name_the_workload_and_what_to_do() {
        let status = |code: u16| {
            kube::Error::Api(Box::new(kube::core::Status {
                code,
                message: "nope".into(),
                ..Default::default()
            }))
        };
        let api = target(Kind::Deployment, "api");
        let e = failure("team-a", &api, &status(404));
        assert!(
            e.contains("Deployment/api in namespace team-a") && e.contains("does not exist"),
            "{e}"
        );
        assert!(e.contains(ANNOTATION), "{e}");
        let e = failure("team-a", &target(Kind::StatefulSet, "db"), &status(403));
        assert!(
            e.contains("StatefulSet/db") && e.contains("patch on statefulsets"),
            "{e}"
        );
        let e = failure("team-a", &target(Kind::DaemonSet, "agent"), &status(500));
        assert!(
            e.contains("kubectl rollout restart daemonset agent -n team-a"),
            "{e}"
        );
    }
}
