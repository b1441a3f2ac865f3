//! `sealbox_controller::rollout::restart` against the Kubernetes API emulator: each workload
//! kind gets kubectl's `restartedAt` pod-template annotation beside the template's own
//! annotations; a later restart moves it; a missing workload is an error naming it, and the others
//! are restarted all the same.

use sealbox_controller::rollout::{Kind, Target, restart};
use sealbox_tests::Env;
use sealbox_tests::cluster::Cluster;
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
