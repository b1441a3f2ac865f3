//! The runbooks in docs/runbooks, run from their markdown (tests/runbook.rs): each shell block
//! in order, with the real binaries against the Kubernetes API emulator, checking the outcome
//! after each step. The world around the steps (a cluster that is lost, the kubelet starting
//! the chart's pod) is done here, between them.

use std::process::Command;

use sealbox_crypto::sealed::decode_base64;
use sealbox_tests::cluster::{Cluster, Controller, wait_for};
use sealbox_tests::runbook::{
    Runbook, Shell, assert_fails, edited, emulator_tools, twice, use_cluster,
};
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
    let broken = edited(
        step(1),
        "sealbox keys backup",
        "sealbox keys backup --controller-namespace nosuch",
    );
    assert_fails(&shell, &book, &broken);

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

/// A SealedSecret manifest for `name` in `namespace` with `items` (key, value), sealed with
/// the certificate `cert` (PEM).
fn sealed(env: &Env, cert: &str, name: &str, namespace: &str, items: &[(&str, &str)]) -> String {
    let cert_file = env.write(&format!("seal-{name}.pem"), cert);
    let data: String = items.iter().map(|(k, v)| format!("  {k}: {v}\n")).collect();
    env.sealbox(&["seal", "--cert", cert_file.to_str().unwrap(), "-o", "yaml"])
        .stdin(format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\nstringData:\n{data}"
        ))
        .ok()
}

/// Whether every item of every SealedSecret in `file` opens with the key Secret `key`.
fn opens_with(env: &Env, key: &std::path::Path, file: &std::path::Path) -> bool {
    env.sealbox(&[
        "validate",
        "-k",
        key.to_str().unwrap(),
        "-f",
        file.to_str().unwrap(),
    ])
    .run()
    .output
    .status
    .success()
}

/// The key Secrets of `cluster` by label value: (name, label, tls.crt PEM), oldest first.
fn key_secrets(cluster: &Cluster) -> Vec<(String, String, String)> {
    let mut keys: Vec<(String, String, String)> = cluster
        .list(KEYS)
        .iter()
        .map(|k| {
            (
                k["metadata"]["name"].as_str().unwrap().to_owned(),
                k["metadata"]["labels"]["sealedsecrets.bitnami.com/sealed-secrets-key"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                secret_value(k, "tls.crt").unwrap(),
            )
        })
        .collect();
    keys.sort_by_key(|(_, _, cert)| {
        sealbox_crypto::sealed::Certificate::from_pem(cert)
            .unwrap()
            .not_before
    });
    keys
}

#[test]
fn sealed_secrets_key_rotation_after_a_leak() {
    let env = Env::new();
    let book = Runbook::load("docs/runbooks/sealed-secrets-key-rotation.md");
    assert_eq!(
        book.headings(),
        [
            "1. Make a new key now",
            "2. Re-encrypt everything in Git with the new key",
            "3. Change the values the leaked key could read",
            "4. Apply",
            "5. Check that nothing in Git still needs an old key",
            "6. Retire the old keys",
        ]
    );
    let step = |n: usize| &book.steps[n - 1];

    // A cluster whose one key has leaked, and a Git tree sealed for it.
    let crds = Command::new(crdgen_bin()).output().expect("crdgen").stdout;
    let crds = env.write("crds.yaml", crds);
    let cluster = Cluster::start_with_crds(&env, "prod", &[&crds]);
    let controller = Controller::start(&env, &cluster, &["--key-size=2048"]);
    let old_cert = controller.get("/v1/cert.pem").body;
    let [(old_key, _, _)] = key_secrets(&cluster).try_into().unwrap();
    let old_key_file = env.write(
        "old-key.json",
        cluster
            .get(&format!("/api/v1/namespaces/kube-system/secrets/{old_key}"))
            .unwrap()
            .to_string(),
    );
    let repo = env.path("repo");
    std::fs::create_dir_all(repo.join("clusters/prod")).unwrap();
    std::fs::write(
        repo.join("clusters/prod/00-namespaces.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n",
    )
    .unwrap();
    type Planted<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
    let planted: [Planted; 3] = [
        (
            "db",
            "team-a",
            &[("password", "leaked-db-password"), ("user", "app")],
        ),
        ("api", "team-a", &[("token", "leaked-api-token")]),
        ("cache", "default", &[("value", "leaked-cache-value")]),
    ];
    for (name, namespace, items) in planted {
        std::fs::write(
            repo.join(format!("clusters/prod/{name}.yaml")),
            sealed(&env, &old_cert, name, namespace, items),
        )
        .unwrap();
    }
    let files: Vec<std::path::PathBuf> = planted
        .iter()
        .map(|(name, _, _)| repo.join(format!("clusters/prod/{name}.yaml")))
        .collect();
    let mut shell = Shell::new(&repo);
    emulator_tools(&shell);
    shell.var("KUBECONFIG", repo.join("kubeconfig").display().to_string());
    use_cluster(&shell, &cluster);
    shell.var("NEW_DB_PASSWORD", "changed-at-the-source");

    // 1. New keys (two: the step ran twice); the controller seals with the newest at once.
    twice(&shell, &book, step(1));
    let keys = key_secrets(&cluster);
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys.iter().all(|(_, label, _)| label == "active"));
    let (new_key, _, new_cert) = keys.last().unwrap().clone();
    assert_eq!(keys[0].0, old_key);
    let new_cert = wait_for("the controller to seal with the new key", || {
        (controller.get("/v1/cert.pem").body == new_cert).then_some(new_cert.clone())
    });
    assert_ne!(new_cert, old_cert);
    let new_key_file = env.write(
        "new-key.json",
        cluster
            .get(&format!("/api/v1/namespaces/kube-system/secrets/{new_key}"))
            .unwrap()
            .to_string(),
    );

    // A re-encryption killed at any moment leaves each file old or new, on a copy of a larger
    // tree (so that kills land mid-walk).
    reencrypt_killed_mid_walk(&env, &cluster, &old_cert, &new_key_file);

    // 2. Re-encrypted: every file opens with the new key and no longer with the old one.
    for file in &files {
        assert!(opens_with(&env, &old_key_file, file), "{}", file.display());
    }
    twice(&shell, &book, step(2));
    for file in &files {
        assert!(opens_with(&env, &new_key_file, file), "{}", file.display());
        assert!(!opens_with(&env, &old_key_file, file), "{}", file.display());
    }

    // 3. The leaked password changed; the file's other item is kept.
    twice(&shell, &book, step(3));
    let unsealed = env
        .sealbox(&[
            "unseal",
            "-k",
            new_key_file.to_str().unwrap(),
            "-f",
            files[0].to_str().unwrap(),
            "-o",
            "json",
        ])
        .run()
        .ok();
    let secret: Value = serde_json::from_str(&unsealed).unwrap();
    assert_eq!(
        secret_value(&secret, "password").as_deref(),
        Some("changed-at-the-source")
    );
    assert_eq!(secret_value(&secret, "user").as_deref(), Some("app"));
    assert!(!opens_with(&env, &old_key_file, &files[0]));

    // 4. Applied: the controller opens everything with the new key.
    twice(&shell, &book, step(4));
    let expected = [
        ("db", "team-a", "password", "changed-at-the-source"),
        ("api", "team-a", "token", "leaked-api-token"),
        ("cache", "default", "value", "leaked-cache-value"),
    ];
    for (name, namespace, key, value) in expected {
        wait_for(&format!("Secret {namespace}/{name}"), || {
            let secret = cluster.get(&format!("/api/v1/namespaces/{namespace}/secrets/{name}"))?;
            (secret_value(&secret, key).as_deref() == Some(value)).then_some(())
        });
    }

    // A step that fails fails the test: the audit, given a file still sealed for the old key.
    std::fs::create_dir_all(repo.join("stale")).unwrap();
    std::fs::write(
        repo.join("stale/late.yaml"),
        sealed(
            &env,
            &old_cert,
            "late",
            "default",
            &[("value", "sealed-late")],
        ),
    )
    .unwrap();
    let broken = edited(step(5), "clusters/prod/", "clusters/prod/ stale/");
    assert_fails(&shell, &book, &broken);

    // 5. Nothing in the tree needs an old key.
    twice(&shell, &book, step(5));

    // 6. The old keys retired (the leaked one and the first of the two new ones), the
    // newest kept; the Secrets are kept, relabelled.
    twice(&shell, &book, step(6));
    let labels: Vec<(String, String)> = key_secrets(&cluster)
        .into_iter()
        .map(|(name, label, _)| (name, label))
        .collect();
    assert_eq!(
        labels,
        [
            (old_key.clone(), "retired".to_owned()),
            (keys[1].0.clone(), "retired".to_owned()),
            (new_key.clone(), "active".to_owned()),
        ]
    );
    assert_eq!(controller.get("/v1/cert.pem").body, new_cert);
    // The running controller no longer opens what is sealed for the leaked key (no restart)…
    let late = env.read("repo/stale/late.yaml");
    cluster.create_text(
        "/apis/bitnami.com/v1alpha1/namespaces/default/sealedsecrets",
        &late,
    );
    let failure = wait_for("the late SealedSecret to fail", || {
        let ss = cluster.get("/apis/bitnami.com/v1alpha1/namespaces/default/sealedsecrets/late")?;
        let condition = ss["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Synced")?
            .clone();
        (condition["status"] == "False").then_some(condition)
    });
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .contains("no key could decrypt secret"),
        "{failure}"
    );
    assert!(
        cluster
            .get("/api/v1/namespaces/default/secrets/late")
            .is_none()
    );
    // …while every Secret it unsealed before stays.
    for (name, namespace, key, value) in expected {
        let secret = cluster
            .get(&format!("/api/v1/namespaces/{namespace}/secrets/{name}"))
            .unwrap();
        assert_eq!(secret_value(&secret, key).as_deref(), Some(value));
    }
    // Nothing is lost: labelled active again, the old key opens it.
    let relabel = shell.try_script(&format!(
        "kubectl label secret -n kube-system {old_key} sealedsecrets.bitnami.com/sealed-secrets-key=active --overwrite"
    ));
    assert!(relabel.status.success(), "{relabel:?}");
    let secret = wait_for("the late Secret once the key is back", || {
        cluster.get("/api/v1/namespaces/default/secrets/late")
    });
    assert_eq!(
        secret_value(&secret, "value").as_deref(),
        Some("sealed-late")
    );
    assert!(!controller.log().contains("leaked-"), "a value in the log");
}

/// `sealbox reencrypt` over 24 files of 8 items, SIGKILLed five times at spread moments of a
/// whole run: after each kill every file is either byte for byte the old one or opens with
/// the new key, and nothing but the killed runs' temp files is left.
fn reencrypt_killed_mid_walk(
    env: &Env,
    cluster: &Cluster,
    old_cert: &str,
    new_key_file: &std::path::Path,
) {
    let items: Vec<(String, String)> = (0..8)
        .map(|i| (format!("item{i}"), format!("value-{i}")))
        .collect();
    let items: Vec<(&str, &str)> = items
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let originals: Vec<(std::path::PathBuf, String)> = (0..24)
        .map(|n| {
            let name = format!("s{n:02}");
            (
                env.path(&format!("kill/{name}.yaml")),
                sealed(env, old_cert, &name, "default", &items),
            )
        })
        .collect();
    let reset = || {
        std::fs::create_dir_all(env.path("kill")).unwrap();
        for (file, text) in &originals {
            std::fs::write(file, text).unwrap();
        }
    };
    let reencrypt = || {
        Command::new(sealbox_tests::sealbox_bin())
            .args(["reencrypt", "kill"])
            .current_dir(env.path(""))
            .env("KUBECONFIG", &cluster.kubeconfig)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    reset();
    let started = std::time::Instant::now();
    assert!(reencrypt().wait().unwrap().success());
    let whole = started.elapsed();
    let (mut mixed, mut killed) = (0, Vec::new());
    for n in 1..=5u32 {
        reset();
        let mut child = reencrypt();
        std::thread::sleep(whole * n / 6);
        let _ = child.kill();
        child.wait().unwrap();
        let mut new = 0;
        for (file, text) in &originals {
            if std::fs::read_to_string(file).unwrap() != *text {
                assert!(
                    opens_with(env, new_key_file, file),
                    "{} is neither old nor new after a kill",
                    file.display()
                );
                new += 1;
            }
        }
        if new > 0 && new < originals.len() {
            mixed += 1;
        }
        // SIGKILL can leave a killed run's own temp file (ciphertext only), which a later
        // run removes once it is a few seconds old (cli/src/cleanup.rs); nothing else.
        killed.push(format!(".sealbox-{}-", child.id()));
        for entry in std::fs::read_dir(env.path("kill")).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let killed_run = killed.iter().any(|k| name.starts_with(k)) && name.ends_with(".tmp");
            assert!(
                name.ends_with(".yaml") || killed_run,
                "{name} left after a kill"
            );
        }
    }
    assert!(mixed > 0, "no kill landed mid-walk");
}
