//! docs/migrate/from-kubeseal.md run from its markdown: each shell block in order and twice,
//! with the real sealbox, helm and kubectl against the Kubernetes API emulator, checking the
//! outcome after each step.
//!
//! The old installation is played by what sealed-secrets leaves in a cluster: a Helm release
//! `sealed-secrets` (a stand-in chart with the upstream chart's Deployment and Service names;
//! the emulator runs no pods), the SealedSecret CRD with no Helm metadata (the upstream chart
//! installs it from `crds/`), a key Secret made as upstream's bring-your-own-key docs make one
//! (openssl), a Git tree sealed by the independent kubesealpy peer, and the Secrets the old
//! controller unsealed (owned by their SealedSecrets, status `Synced`).

use std::process::Command;

use sealbox_crypto::sealed::encode_base64;
use sealbox_tests::cluster::{Cluster, wait_for};
use sealbox_tests::runbook::{
    Runbook, Shell, assert_fails, edited, emulator_tools, twice, use_cluster,
};
use sealbox_tests::{Env, crdgen_bin, root};
use serde_json::json;

use crate::runbooks::secret_value;

const KEYS: &str = "/api/v1/namespaces/kube-system/secrets?labelSelector=sealedsecrets.bitnami.com%2Fsealed-secrets-key";
const CRD: &str =
    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/sealedsecrets.bitnami.com";

fn ss_path(namespace: &str, name: &str) -> String {
    format!("/apis/bitnami.com/v1alpha1/namespaces/{namespace}/sealedsecrets/{name}")
}

fn secret_path(namespace: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/secrets/{name}")
}

/// The SealedSecret CRD alone, from crdgen's output (the same name, group, versions and
/// schema as upstream's).
fn sealed_secret_crd() -> String {
    let all = Command::new(crdgen_bin()).output().expect("crdgen").stdout;
    String::from_utf8(all)
        .unwrap()
        .split("\n---")
        .find(|doc| doc.contains("name: sealedsecrets.bitnami.com"))
        .expect("the SealedSecret CRD")
        .to_owned()
}

/// A key pair and certificate as upstream's bring-your-own-certificates docs make them.
fn openssl_key(env: &Env) -> (String, String) {
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-days", "365", "-nodes", "-newkey", "rsa:2048", "-keyout",
        ])
        .arg(env.path("old.key"))
        .arg("-out")
        .arg(env.path("old.crt"))
        .args(["-subj", "/CN=sealed-secret/O=sealed-secret"])
        .output()
        .expect("openssl");
    assert!(out.status.success(), "{out:?}");
    (env.read("old.key"), env.read("old.crt"))
}

/// A stand-in for the upstream chart's release: its Deployment and Service names.
fn stand_in_chart(env: &Env) -> std::path::PathBuf {
    std::fs::create_dir_all(env.path("sealed-secrets-chart/templates")).unwrap();
    env.write(
        "sealed-secrets-chart/Chart.yaml",
        "apiVersion: v2\nname: sealed-secrets\nversion: 2.18.5\nappVersion: 0.36.6\n",
    );
    env.write(
        "sealed-secrets-chart/templates/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: sealed-secrets\nspec:\n  selector:\n    matchLabels: {app.kubernetes.io/name: sealed-secrets}\n  template:\n    metadata:\n      labels: {app.kubernetes.io/name: sealed-secrets}\n    spec:\n      containers:\n      - name: controller\n        image: docker.io/bitnami/sealed-secrets-controller:0.36.6\n        ports: [{name: http, containerPort: 8080}]\n",
    );
    env.write(
        "sealed-secrets-chart/templates/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: sealed-secrets\nspec:\n  selector: {app.kubernetes.io/name: sealed-secrets}\n  ports: [{name: http, port: 8080, targetPort: http}]\n",
    );
    env.path("sealed-secrets-chart")
}

fn unseal_requests(metrics: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("sealed_secrets_controller_unseal_requests_total "))
        .expect("the unseal counter")
        .parse()
        .unwrap()
}

#[test]
fn migrate_from_kubeseal_and_sealed_secrets() {
    let env = Env::new();
    let book = Runbook::load("docs/migrate/from-kubeseal.md");
    assert_eq!(
        book.headings(),
        [
            "1. Back up the keys, encrypted",
            "2. Check that sealbox opens everything in Git with those keys",
            "3. Hand the SealedSecret CRD over to the sealbox release",
            "4. Remove the sealed-secrets controller",
            "5. Install sealbox with the same Service name",
            "6. Check that the new controller opens everything in Git",
            "7. kubeseal keeps working",
        ]
    );
    let step = |n: usize| &book.steps[n - 1];

    // The old installation.
    let cluster = Cluster::start(&env, "prod");
    cluster.create_text(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &sealed_secret_crd(),
    );
    let (key_pem, cert_pem) = openssl_key(&env);
    cluster.create(
        "/api/v1/namespaces/kube-system/secrets",
        &json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "sealed-secrets-keyq7b2x", "namespace": "kube-system",
                "labels": {"sealedsecrets.bitnami.com/sealed-secrets-key": "active"}},
            "type": "kubernetes.io/tls",
            "data": {"tls.key": encode_base64(key_pem.as_bytes()), "tls.crt": encode_base64(cert_pem.as_bytes())},
        }),
    );
    let helm = std::env::var("SEALBOX_HELM").expect("SEALBOX_HELM (scripts/test.sh sets it)");
    let installed = Command::new(&helm)
        .args(["install", "sealed-secrets"])
        .arg(stand_in_chart(&env))
        .args(["--namespace", "kube-system", "--disable-openapi-validation"])
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env("HOME", env.path("helm-home"))
        .output()
        .unwrap();
    assert!(installed.status.success(), "{installed:?}");
    cluster.create(
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}),
    );
    let repo = env.path("repo");
    std::fs::create_dir_all(repo.join("clusters/prod")).unwrap();
    std::os::unix::fs::symlink(root().join("charts"), repo.join("charts")).unwrap();
    let planted = [
        ("db", "team-a", "password", "db-password-plaintext"),
        ("api", "team-a", "token", "api-token-plaintext"),
        ("cache", "default", "value", "cache-plaintext"),
    ];
    let mut resource_versions = Vec::new();
    for (name, namespace, key, value) in planted {
        let spec = json!({"name": name, "namespace": namespace, "scope": "strict",
            "data": {key: encode_base64(value.as_bytes())}});
        let sealed = env
            .peer(&["seal", env.path("old.crt").to_str().unwrap()])
            .stdin(spec.to_string())
            .ok();
        std::fs::write(repo.join(format!("clusters/prod/{name}.yaml")), &sealed).unwrap();
        // What the old controller did with it: the Secret, owned, and status Synced.
        let ss = cluster.create_text(
            &format!("/apis/bitnami.com/v1alpha1/namespaces/{namespace}/sealedsecrets"),
            &sealed,
        );
        let mut with_status = ss.clone();
        with_status["status"] = json!({
            "conditions": [{"type": "Synced", "status": "True",
                "lastUpdateTime": "2026-11-01T00:00:00Z", "lastTransitionTime": "2026-11-01T00:00:00Z"}],
            "observedGeneration": ss["metadata"]["generation"],
        });
        cluster.replace(
            &format!("{}/status", ss_path(namespace, name)),
            &with_status,
        );
        let secret = cluster.create(
            &format!("/api/v1/namespaces/{namespace}/secrets"),
            &json!({
                "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": name, "namespace": namespace,
                    "ownerReferences": [{"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
                        "name": name, "uid": ss["metadata"]["uid"], "controller": true}]},
                "data": {key: encode_base64(value.as_bytes())},
            }),
        );
        resource_versions.push(secret["metadata"]["resourceVersion"].clone());
    }
    let unchanged = |cluster: &Cluster| {
        for ((name, namespace, key, value), version) in planted.iter().zip(&resource_versions) {
            let secret = cluster.get(&secret_path(namespace, name)).unwrap();
            assert_eq!(secret_value(&secret, key).as_deref(), Some(*value));
            assert_eq!(
                &secret["metadata"]["resourceVersion"], version,
                "Secret {namespace}/{name} was written"
            );
        }
    };

    let mut shell = Shell::new(&repo);
    emulator_tools(&shell);
    shell.var("KUBECONFIG", repo.join("kubeconfig").display().to_string());
    use_cluster(&shell, &cluster);
    shell.var("SEALED_SECRETS_CONTROLLER_NAME", "sealed-secrets");
    shell.var("ADMIN_AGE_RECIPIENT", env.age_keygen("admin.agekey"));
    shell.var(
        "SOPS_AGE_KEY_FILE",
        env.path("admin.agekey").display().to_string(),
    );
    let local_bin = shell.home().join(".local/bin");
    shell.prepend_path(&local_bin);

    // A step that fails fails the test: the backup pointed at a namespace without keys.
    let broken = edited(
        step(1),
        "sealbox keys backup",
        "sealbox keys backup --controller-namespace nosuch",
    );
    assert_fails(&shell, &book, &broken);

    // 1. The keys backed up, encrypted.
    twice(&shell, &book, step(1));
    let backup = std::fs::read_to_string(repo.join("sealed-secrets-keys.enc.yaml")).unwrap();
    assert!(backup.contains("ENC[AES256_GCM,"), "{backup}");
    assert!(!backup.contains(&encode_base64(key_pem.as_bytes())));

    // 2. Every item in Git opens with them, offline.
    let checked = twice(&shell, &book, step(2));
    let opened = checked.lines().filter(|l| l.starts_with("ok")).count();
    assert_eq!(opened, planted.len(), "{checked}");

    // Without step 3, Helm refuses the install (the CRD is nobody's), and changes nothing.
    let refused = shell.try_script(&step(5).script);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(said.contains("exists and cannot be imported"), "{said}");
    assert!(
        cluster
            .get("/apis/apps/v1/namespaces/kube-system/deployments/sealbox")
            .is_none()
    );

    // 3. The CRD marked as the sealbox release's.
    twice(&shell, &book, step(3));
    let crd = cluster.get(CRD).unwrap();
    assert_eq!(
        crd["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "Helm"
    );
    assert_eq!(
        crd["metadata"]["annotations"]["meta.helm.sh/release-name"],
        "sealbox"
    );

    // 4. The old controller gone; keys, CRD, SealedSecrets and Secrets stay.
    twice(&shell, &book, step(4));
    assert!(
        cluster
            .get("/apis/apps/v1/namespaces/kube-system/deployments/sealed-secrets")
            .is_none()
    );
    assert!(
        cluster
            .get("/api/v1/namespaces/kube-system/services/sealed-secrets")
            .is_none()
    );
    assert_eq!(cluster.list(KEYS).len(), 1);
    assert!(cluster.get(CRD).is_some());
    for (name, namespace, _, _) in planted {
        assert!(cluster.get(&ss_path(namespace, name)).is_some());
    }
    unchanged(&cluster);

    // 5. sealbox installed under the old Service name; the kubelet's part: its pod runs. It
    // adopts the key, makes none, and leaves the Secrets in sync untouched: no decryption.
    twice(&shell, &book, step(5));
    assert!(
        cluster
            .get("/api/v1/namespaces/kube-system/services/sealed-secrets")
            .is_some()
    );
    let pod = cluster.run_deployment(&env, "kube-system", "sealbox", &[]);
    assert_eq!(pod.controller.get("/v1/cert.pem").body, cert_pem);
    assert_eq!(cluster.list(KEYS).len(), 1, "{}", pod.controller.log());
    let metrics = wait_for("every SealedSecret reconciled", || {
        let body = pod.controller.metrics().body;
        planted
            .iter()
            .all(|(name, namespace, _, _)| {
                body.contains(&format!(
                    "condition_info{{namespace=\"{namespace}\",name=\"{name}\",condition=\"Synced\""
                ))
            })
            .then_some(body)
    });
    assert_eq!(unseal_requests(&metrics), 0.0, "{metrics}");
    unchanged(&cluster);

    // 6. The new controller opens everything in Git.
    let validated = twice(&shell, &book, step(6));
    assert!(!validated.contains("error"), "{validated}");

    // 7. kubeseal, linked to sealbox, fetches the same certificate through the old name, and
    // what it seals unseals.
    twice(&shell, &book, step(7));
    assert_eq!(
        std::fs::read_to_string(repo.join("cert.pem")).unwrap(),
        cert_pem
    );
    let sealed = shell.try_script(
        "printf 'apiVersion: v1\\nkind: Secret\\nmetadata: {name: new, namespace: default}\\nstringData: {value: sealed-after-the-switch}\\n' | kubeseal --format yaml",
    );
    assert!(sealed.status.success(), "{sealed:?}");
    cluster.create_text(
        "/apis/bitnami.com/v1alpha1/namespaces/default/sealedsecrets",
        &String::from_utf8(sealed.stdout).unwrap(),
    );
    let secret = wait_for("the new Secret", || {
        cluster.get(&secret_path("default", "new"))
    });
    assert_eq!(
        secret_value(&secret, "value").as_deref(),
        Some("sealed-after-the-switch")
    );
    unchanged(&cluster);
    let log = pod.controller.log();
    for (_, _, _, value) in planted {
        assert!(!log.contains(value), "a value in the controller's log");
    }
}
