//! `sealbox_controller::rollout::restart` against the Kubernetes API emulator: each workload
//! kind gets kubectl's `restartedAt` pod-template annotation beside the template's own
//! annotations; a later restart moves it; a missing workload is an error naming it, and the others
//! are restarted all the same. Then the controller end to end: a workload named by an
//! ExternalSecret or a SealedSecret is restarted once per change of the Secret's data, and
//! never by a refresh or a metadata change.

use std::process::Command;
use std::time::Duration;

use sealbox_controller::rollout::{Kind, Target, restart};
use sealbox_tests::cluster::{Cluster, Controller, wait_for};
use sealbox_tests::servers::{Bao, unique};
use sealbox_tests::{Env, crdgen_bin};
use serde_json::{Value, json};

const NAMESPACE: &str = "team-a";
const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

fn collection(kind: Kind) -> String {
    let plural = match kind {
        Kind::Deployment => "deployments",
        Kind::StatefulSet => "statefulsets",
        Kind::DaemonSet => "daemonsets",
    };
    format!("/apis/apps/v1/namespaces/{NAMESPACE}/{plural}")
}

/// A workload of `kind` named `name` whose pod template already carries an annotation and a
/// label of its own.
fn workload(kind: Kind, name: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": kind.as_str(),
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": {"team": "a"}},
                "spec": {"containers": [{"name": "app", "image": "busybox"}]}
            }
        }
    })
}

fn target(kind: Kind, name: &str) -> Target {
    Target {
        kind,
        name: name.into(),
    }
}

fn pod_annotations(cluster: &Cluster, target: &Target) -> Value {
    let path = format!("{}/{}", collection(target.kind), target.name);
    let object = cluster
        .get(&path)
        .unwrap_or_else(|| panic!("{path} exists"));
    object["spec"]["template"]["metadata"]["annotations"].clone()
}

#[tokio::test]
async fn rollout_restart_annotates_each_workload_kind_and_reports_missing_ones() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "rollout");
    let client = kube::Client::try_from(kube::Config::new(cluster.url.parse().unwrap())).unwrap();
    cluster.create(
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}),
    );
    let present = [
        target(Kind::Deployment, "api"),
        target(Kind::StatefulSet, "db"),
        target(Kind::DaemonSet, "agent"),
    ];
    for t in &present {
        cluster.create(&collection(t.kind), &workload(t.kind, &t.name));
    }

    let first = "2026-12-01T07:00:00Z";
    let results = restart(client.clone(), NAMESPACE, &present, first).await;
    assert_eq!(
        results.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>(),
        present,
        "one result per target, in order"
    );
    for (t, result) in &results {
        assert_eq!(result, &Ok(()), "{t}");
        assert_eq!(
            pod_annotations(&cluster, t),
            json!({"team": "a", RESTARTED_AT: first}),
            "{t}: restartedAt set, the template's own annotations kept"
        );
    }

    // A later restart moves the annotation (which is what rolls the pods again); a missing
    // workload fails alone, named, and does not stop the others.
    let second = "2026-12-01T07:05:00.123456789Z";
    let missing = target(Kind::Deployment, "gone");
    let with_missing = [
        present[0].clone(),
        missing.clone(),
        present[1].clone(),
        present[2].clone(),
    ];
    let results = restart(client, NAMESPACE, &with_missing, second).await;
    assert_eq!(results.len(), 4);
    for (t, result) in &results {
        if *t == missing {
            let error = result.as_ref().unwrap_err();
            assert!(
                error.contains("Deployment/gone in namespace team-a")
                    && error.contains("does not exist")
                    && error.contains("sealbox.io/rollout-restart-targets"),
                "{error}"
            );
        } else {
            assert_eq!(result, &Ok(()), "{t}");
            assert_eq!(pod_annotations(&cluster, t)[RESTARTED_AT], second, "{t}");
        }
    }
    assert!(
        cluster
            .get(&format!("{}/gone", collection(Kind::Deployment)))
            .is_none(),
        "a missing workload is not created by the patch"
    );
}

const DEFAULT_DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";

/// A Deployment `name` in `default`; its pod template's `restartedAt`, if any, is read by
/// [`restarted_at`].
fn deployment(cluster: &Cluster, name: &str) {
    let mut object = workload(Kind::Deployment, name);
    object["metadata"]["namespace"] = json!("default");
    cluster.create(DEFAULT_DEPLOYMENTS, &object);
}

fn restarted_at(cluster: &Cluster, name: &str) -> Option<String> {
    let object = cluster.get(&format!("{DEFAULT_DEPLOYMENTS}/{name}"))?;
    object["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
        .as_str()
        .map(str::to_owned)
}

/// The `reason` Events about the object `name`.
fn events(cluster: &Cluster, name: &str, reason: &str) -> usize {
    cluster
        .list("/api/v1/namespaces/default/events")
        .iter()
        .filter(|e| e["involvedObject"]["name"] == name && e["reason"] == reason)
        .count()
}

/// Watches `name`'s `restartedAt` for `seconds` while the controller works: it must stay
/// `at`.
fn stays(cluster: &Cluster, name: &str, at: &str, seconds: u64) {
    for _ in 0..seconds * 4 {
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(restarted_at(cluster, name).as_deref(), Some(at));
    }
}

fn secret_value(cluster: &Cluster, name: &str, key: &str) -> Option<String> {
    let secret = cluster.get(&format!("/api/v1/namespaces/default/secrets/{name}"))?;
    let bytes = sealbox_crypto::sealed::decode_base64(secret["data"][key].as_str()?).ok()?;
    String::from_utf8(bytes).ok()
}

#[test]
fn an_external_secret_restarts_its_deployment_once_per_data_change_and_never_on_a_refresh() {
    let env = Env::new();
    let crds = Command::new(crdgen_bin()).output().expect("crdgen").stdout;
    let crds = env.write("crds.yaml", crds);
    let cluster = Cluster::start_with_crds(&env, "rollout-es", &[&crds]);
    let bao = Bao::shared();
    let key = unique("rollout");
    bao.kv2_put("secret", &key, &json!({"password": "v1"}));
    cluster.create(
        "/api/v1/namespaces/default/secrets",
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "vault-token"},
                "stringData": {"token": bao.root_token()}}),
    );
    cluster.create(
        "/apis/external-secrets.io/v1/namespaces/default/secretstores",
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": "vault"},
                "spec": {"provider": {"vault": {"server": bao.url(), "path": "secret", "version": "v2",
                    "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token"}}}}}}),
    );
    deployment(&cluster, "api");
    deployment(&cluster, "bystander");
    cluster.create(
        "/apis/external-secrets.io/v1/namespaces/default/externalsecrets",
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                "metadata": {"name": "app", "annotations": {"sealbox.io/rollout-restart-targets": "Deployment/api"}},
                "spec": {"refreshInterval": "1s", "secretStoreRef": {"name": "vault"},
                         "data": [{"secretKey": "password", "remoteRef": {"key": key, "property": "password"}}]}}),
    );
    let controller = Controller::start(&env, &cluster, &["--key-size=2048"]);

    // Created: restarted once.
    let first = wait_for("the first restart", || restarted_at(&cluster, "api"));
    assert_eq!(
        secret_value(&cluster, "app", "password").as_deref(),
        Some("v1")
    );
    // Refreshed every second with the same value: not restarted again.
    let syncs = || {
        let metrics = controller.metrics().body;
        metrics
            .lines()
            .find(|l| {
                l.starts_with("externalsecret_sync_calls_total{") && l.contains("name=\"app\"")
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let before = syncs();
    stays(&cluster, "api", &first, 4);
    assert!(syncs() >= before + 2, "the ExternalSecret did not refresh");
    assert_eq!(events(&cluster, "app", "RolloutRestarted"), 1);

    // A new value: restarted once more.
    bao.kv2_put("secret", &key, &json!({"password": "v2"}));
    let second = wait_for("the second restart", || {
        restarted_at(&cluster, "api").filter(|at| *at != first)
    });
    assert_eq!(
        secret_value(&cluster, "app", "password").as_deref(),
        Some("v2")
    );
    stays(&cluster, "api", &second, 3);
    assert_eq!(events(&cluster, "app", "RolloutRestarted"), 2);
    assert_eq!(restarted_at(&cluster, "bystander"), None);
}

#[test]
fn a_sealed_secret_restarts_its_deployment_when_its_data_changes_not_its_labels() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "rollout-ss");
    let _controller = Controller::start(&env, &cluster, &["--key-size=2048"]);
    deployment(&cluster, "web");
    let seal = |password: &str| -> Value {
        let manifest = format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: web\n  namespace: default\nstringData:\n  password: {password}\n"
        );
        let mut cmd = env.sealbox(&["seal", "--fetch-cert", "-o", "json"]);
        cmd.0.env("KUBECONFIG", &cluster.kubeconfig);
        serde_json::from_str(&cmd.stdin(manifest).ok()).unwrap()
    };
    const SS: &str = "/apis/bitnami.com/v1alpha1/namespaces/default/sealedsecrets";
    let mut sealed = seal("one");
    sealed["metadata"]["annotations"] =
        json!({"sealbox.io/rollout-restart-targets": "Deployment/web"});
    cluster.create(SS, &sealed);
    let first = wait_for("the first restart", || restarted_at(&cluster, "web"));
    assert_eq!(
        secret_value(&cluster, "web", "password").as_deref(),
        Some("one")
    );

    // A label on the Secret's template: the Secret changes, its data does not.
    let mut current = cluster.get(&format!("{SS}/web")).unwrap();
    current["spec"]["template"]["metadata"]["labels"] = json!({"tier": "front"});
    cluster.replace(&format!("{SS}/web"), &current);
    wait_for("the relabelled Secret", || {
        let secret = cluster.get("/api/v1/namespaces/default/secrets/web")?;
        (secret["metadata"]["labels"]["tier"] == "front").then_some(())
    });
    stays(&cluster, "web", &first, 2);

    // A new password: restarted.
    let resealed = seal("two");
    let mut current = cluster.get(&format!("{SS}/web")).unwrap();
    current["spec"]["encryptedData"] = resealed["spec"]["encryptedData"].clone();
    cluster.replace(&format!("{SS}/web"), &current);
    let second = wait_for("the second restart", || {
        restarted_at(&cluster, "web").filter(|at| *at != first)
    });
    assert_eq!(
        secret_value(&cluster, "web", "password").as_deref(),
        Some("two")
    );
    stays(&cluster, "web", &second, 2);
    assert_eq!(events(&cluster, "web", "RolloutRestarted"), 2);
}
