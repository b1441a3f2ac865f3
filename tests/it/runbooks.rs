//! The runbooks in docs/runbooks, run from their markdown (tests/runbook.rs): each shell block
//! in order, with the real binaries against the Kubernetes API emulator, checking the outcome
//! after each step. The world around the steps (a cluster that is lost, the kubelet starting
//! the chart's pod) is done here, between them.

use std::process::Command;

use sealbox_crypto::sealed::decode_base64;
use sealbox_tests::cluster::{Cluster, Controller, wait_for};
use sealbox_tests::runbook::{Runbook, Shell, emulator_tools, twice, use_cluster};
use sealbox_tests::{Env, crdgen_bin, root};
use serde_json::Value;

const KEYS: &str = "/api/v1/namespaces/kube-system/secrets?labelSelector=sealedsecrets.bitnami.com%2Fsealed-secrets-key";

/// The value of `key` in a Secret, decoded, if it is UTF-8.
pub(crate) fn secret_value(secret: &Value, key: &str) -> Option<String> {
    let bytes = decode_base64(secret["data"][key].as_str()?).ok()?;
    String::from_utf8(bytes).ok()
}

#[test]
fn sealed_secrets_disaster_recovery() {
    let env = Env::new();
    let book = Runbook::load("docs/runbooks/sealed-secrets-disaster-recovery.md");
    assert_eq!(
        book.headings(),
        [
            "1. Back up the keys, encrypted",
            "2. The cluster is lost: restore the keys into the new one",
            "3. Install sealbox",
            "4. Check that everything in Git opens",
            "5. Apply",
        ]
    );
    let step = |n: usize| &book.steps[n - 1];

    // The old cluster: a controller that has renewed its key once, and a Git tree of
    // SealedSecrets sealed for both keys.
    let crds = Command::new(crdgen_bin()).output().expect("crdgen").stdout;
    let crds = env.write("crds.yaml", crds);
    let old = Cluster::start_with_crds(&env, "old", &[&crds]);
    let controller = Controller::start(&env, &old, &["--key-size=2048"]);
    let first_cert = controller.get("/v1/cert.pem").body;
    // Certificates say when they start to the second; a renewal is newer than that.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let usr1 = Command::new("kill")
        .args(["-USR1", &controller.pid().to_string()])
        .status()
        .unwrap();
    assert!(usr1.success());
    let second_cert = wait_for("the renewed key", || {
        let cert = controller.get("/v1/cert.pem").body;
        (cert != first_cert).then_some(cert)
    });
    let repo = env.path("repo");
    std::fs::create_dir_all(repo.join("clusters/prod")).unwrap();
    std::os::unix::fs::symlink(root().join("charts"), repo.join("charts")).unwrap();
    std::fs::write(
        repo.join("clusters/prod/00-namespaces.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n",
    )
    .unwrap();
    let planted = [
        ("db", "team-a", "first-key-plaintext", &first_cert),
        ("api", "team-a", "second-key-plaintext", &second_cert),
        ("cache", "default", "another-plaintext", &second_cert),
    ];
    for (name, namespace, value, cert) in planted {
        let cert_file = env.write(&format!("{name}.pem"), cert);
        let sealed = env
            .sealbox(&["seal", "--cert", cert_file.to_str().unwrap(), "-o", "yaml"])
            .stdin(format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\nstringData:\n  value: {value}\n"
            ))
            .ok();
        std::fs::write(repo.join(format!("clusters/prod/{name}.yaml")), sealed).unwrap();
    }
    let mut shell = Shell::new(&repo);
    emulator_tools(&shell);
    shell.var("KUBECONFIG", repo.join("kubeconfig").display().to_string());
    use_cluster(&shell, &old);
    let admin = env.age_keygen("admin.agekey");
    shell.var("ADMIN_AGE_RECIPIENT", admin);

    // A step that fails fails the test: the backup step pointed at a namespace without keys.
    let mut broken = step(1).clone();
    broken.script = broken.script.replace(
        "sealbox keys backup",
        "sealbox keys backup --controller-namespace nosuch",
    );
    assert_ne!(
        broken.script,
        step(1).script,
        "the step to break has changed"
    );
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        shell.run(&book, &broken);
    }));
    assert!(caught.is_err(), "a failing step did not fail the test");

    // 1. The backup: both keys, encrypted, nothing in the clear on disk.
    let key_values: Vec<String> = old
        .list(KEYS)
        .iter()
        .map(|k| k["data"]["tls.key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(key_values.len(), 2);
    twice(&shell, &book, step(1));
    let encrypted = std::fs::read_to_string(repo.join("sealed-secrets-keys.enc.yaml")).unwrap();
    assert!(encrypted.contains("ENC[AES256_GCM,"), "{encrypted}");
    for value in &key_values {
        assert!(
            !encrypted.contains(value.as_str()),
            "a private key in the clear"
        );
    }
    let mut files: Vec<String> = std::fs::read_dir(&repo)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| !f.starts_with('.'))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "charts",
            "clusters",
            "kubeconfig",
            "sealed-secrets-keys.enc.yaml"
        ]
    );

    // The cluster is lost; a new, empty one takes its place.
    drop(controller);
    drop(old);
    let new = Cluster::start(&env, "new");
    use_cluster(&shell, &new);
    assert!(new.list(KEYS).is_empty());

    // 2. The keys restored, from the admins' identity, without a plaintext file.
    shell.var(
        "SOPS_AGE_KEY_FILE",
        env.path("admin.agekey").display().to_string(),
    );
    twice(&shell, &book, step(2));
    let mut restored: Vec<String> = new
        .list(KEYS)
        .iter()
        .map(|k| k["data"]["tls.key"].as_str().unwrap().to_owned())
        .collect();
    let mut expected = key_values.clone();
    restored.sort();
    expected.sort();
    assert_eq!(
        restored, expected,
        "the restored keys are the backed-up ones"
    );
    assert!(!repo.join("sealed-secrets-keys.yaml").exists());

    // 3. helm install; the kubelet's part: the chart's pod runs. It starts with the restored
    // keys and makes none of its own.
    twice(&shell, &book, step(3));
    let pod = new.run_deployment(&env, "kube-system", "sealbox", &[]);
    assert_eq!(pod.controller.get("/v1/cert.pem").body, second_cert);
    assert_eq!(new.list(KEYS).len(), 2, "{}", pod.controller.log());

    // 4. Every SealedSecret in Git opens in the new cluster.
    let validated = twice(&shell, &book, step(4));
    assert!(!validated.contains("error"), "{validated}");

    // 5. Applied: every Secret is back with its value.
    twice(&shell, &book, step(5));
    for (name, namespace, value, _) in planted {
        let secret = wait_for(&format!("Secret {namespace}/{name}"), || {
            new.get(&format!("/api/v1/namespaces/{namespace}/secrets/{name}"))
        });
        assert_eq!(secret_value(&secret, "value").as_deref(), Some(value));
    }
}
