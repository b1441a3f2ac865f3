//! sealbox-controller end to end: the real CLI and controller binaries against the Kubernetes
//! API emulator (tests/infra/kapi_emulator.py), the controller running as a normal process on
//! its kubeconfig, as it would against a real cluster.

use sealbox_crypto::sealed::decode_base64;
use sealbox_tests::cluster::{Cluster, Controller, wait_for};
use sealbox_tests::{Env, Run};
use serde_json::{Value, json};

const SS: &str = "/apis/bitnami.com/v1alpha1/namespaces/default/sealedsecrets";
const SECRETS: &str = "/api/v1/namespaces/default/secrets";
const KEYS: &str = "/api/v1/namespaces/kube-system/secrets?labelSelector=sealedsecrets.bitnami.com%2Fsealed-secrets-key%3Dactive";

fn secret_manifest(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: default\n  labels:\n    app: web\ntype: kubernetes.io/basic-auth\nstringData:\n  username: admin\n  password: {value}\n"
    )
}

/// `sealbox seal --fetch-cert` against `cluster`'s controller, JSON out.
fn seal_online(env: &Env, cluster: &Cluster, manifest: &str, extra: &[&str]) -> Value {
    let mut args = vec!["seal", "--fetch-cert", "-o", "json"];
    args.extend_from_slice(extra);
    let mut cmd = env.sealbox(&args);
    cmd.0.env("KUBECONFIG", &cluster.kubeconfig);
    let out = cmd.stdin(manifest).ok();
    serde_json::from_str(&out).unwrap()
}

fn data(secret: &Value, item: &str) -> String {
    let b64 = secret["data"][item]
        .as_str()
        .unwrap_or_else(|| panic!("no {item} in {secret}"));
    String::from_utf8(decode_base64(b64).unwrap()).unwrap()
}

fn condition(cluster: &Cluster, name: &str) -> Option<(String, String, i64, i64)> {
    let ss = cluster.get(&format!("{SS}/{name}"))?;
    let c = &ss["status"]["conditions"][0];
    Some((
        c["status"].as_str()?.to_owned(),
        c["message"].as_str().unwrap_or_default().to_owned(),
        ss["status"]["observedGeneration"].as_i64()?,
        ss["metadata"]["generation"].as_i64()?,
    ))
}

fn events_for(cluster: &Cluster, name: &str) -> Vec<(String, String, String)> {
    cluster
        .list("/api/v1/namespaces/default/events")
        .iter()
        .filter(|e| {
            e["involvedObject"]["name"] == name && e["involvedObject"]["kind"] == "SealedSecret"
        })
        .map(|e| {
            (
                e["type"].as_str().unwrap_or_default().to_owned(),
                e["reason"].as_str().unwrap_or_default().to_owned(),
                e["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_controller_unseals_what_the_cli_sealed_with_its_fetched_cert() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "c1");
    let controller = Controller::start(&env, &cluster, &[]);

    // kubeseal mode prints the controller's certificate, fetched through the service proxy.
    let mut fetch = env.sealbox(&["kubeseal", "--fetch-cert"]);
    fetch.0.env("KUBECONFIG", &cluster.kubeconfig);
    assert_eq!(fetch.run().ok(), controller.get("/v1/cert.pem").body);

    // Seal → apply → the Secret appears with the data, type, labels and owner.
    let sealed = seal_online(&env, &cluster, &secret_manifest("web", "s3cret"), &[]);
    let created = cluster.create(SS, &sealed);
    let uid = created["metadata"]["uid"].as_str().unwrap().to_owned();
    let secret = wait_for("the Secret", || cluster.get(&format!("{SECRETS}/web")));
    assert_eq!(data(&secret, "password"), "s3cret");
    assert_eq!(data(&secret, "username"), "admin");
    assert_eq!(secret["type"], "kubernetes.io/basic-auth");
    assert_eq!(secret["metadata"]["labels"]["app"], "web");
    let owner = &secret["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "SealedSecret");
    assert_eq!(owner["uid"], uid.as_str());
    assert_eq!(owner["controller"], true);
    let (status, _, observed, generation) = wait_for("status Synced", || {
        condition(&cluster, "web").filter(|c| c.0 == "True")
    });
    assert_eq!((status.as_str(), observed), ("True", generation));
    assert!(
        events_for(&cluster, "web")
            .iter()
            .any(|e| e.1 == "Unsealed")
    );

    // Editing the SealedSecret updates the Secret.
    let resealed = seal_online(&env, &cluster, &secret_manifest("web", "n3w"), &[]);
    let mut current = cluster.get(&format!("{SS}/web")).unwrap();
    current["spec"] = resealed["spec"].clone();
    cluster.replace(&format!("{SS}/web"), &current);
    wait_for("the updated Secret", || {
        cluster
            .get(&format!("{SECRETS}/web"))
            .filter(|s| data(s, "password") == "n3w")
    });

    // Deleting the Secret re-creates it.
    cluster.delete(&format!("{SECRETS}/web"));
    let again = wait_for("the re-created Secret", || {
        cluster.get(&format!("{SECRETS}/web"))
    });
    assert_eq!(data(&again, "password"), "n3w");

    // A SealedSecret sealed for another namespace: no Secret, status False, a Warning Event.
    let mut moved = seal_online(
        &env,
        &cluster,
        &secret_manifest("moved", "x").replace("namespace: default", "namespace: team-a"),
        &[],
    );
    moved["metadata"]["namespace"] = json!("default");
    cluster.create(SS, &moved);
    let (status, message, _, _) = wait_for("status False", || {
        condition(&cluster, "moved").filter(|c| c.0 == "False")
    });
    assert_eq!(status, "False");
    assert!(message.contains("no key could decrypt secret"), "{message}");
    assert!(cluster.get(&format!("{SECRETS}/moved")).is_none());
    let events = wait_for("a Warning event", || {
        Some(events_for(&cluster, "moved")).filter(|e| e.iter().any(|e| e.0 == "Warning"))
    });
    assert!(
        events.iter().any(|e| e.1 == "ErrUnsealFailed"),
        "{events:?}"
    );

    // An unowned Secret of the same name is left alone.
    cluster.create(
        SECRETS,
        // The sealed Secret's own type: the API server refuses to change a Secret's type.
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "mine"},
                "type": "kubernetes.io/basic-auth", "data": {"password": "b3JpZ2luYWw="}}),
    );
    cluster.create(
        SS,
        &seal_online(&env, &cluster, &secret_manifest("mine", "sealed"), &[]),
    );
    let (_, message, _, _) = wait_for("status False", || {
        condition(&cluster, "mine").filter(|c| c.0 == "False")
    });
    assert!(message.contains("not managed by SealedSecret"), "{message}");
    let mut untouched = cluster.get(&format!("{SECRETS}/mine")).unwrap();
    assert_eq!(data(&untouched, "password"), "original");
    assert!(untouched["metadata"]["ownerReferences"].is_null());

    // Annotated `managed`, it is taken over: replaced and owned from then on.
    untouched["metadata"]["annotations"] = json!({"sealedsecrets.bitnami.com/managed": "true"});
    cluster.replace(&format!("{SECRETS}/mine"), &untouched);
    let taken = wait_for("the taken-over Secret", || {
        cluster
            .get(&format!("{SECRETS}/mine"))
            .filter(|s| data(s, "password") == "sealed")
    });
    assert_eq!(
        taken["metadata"]["ownerReferences"][0]["kind"],
        "SealedSecret"
    );
    wait_for("status True", || {
        condition(&cluster, "mine").filter(|c| c.0 == "True")
    });

    // Annotated `patch`, an unowned Secret keeps its other keys and gets the sealed ones.
    cluster.create(
        SECRETS,
        &json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "merged", "annotations": {"sealedsecrets.bitnami.com/patch": "true"}},
                "type": "kubernetes.io/basic-auth", "data": {"extra": "a2VwdA==", "username": "dXNlcg=="}}),
    );
    cluster.create(
        SS,
        &seal_online(&env, &cluster, &secret_manifest("merged", "p"), &[]),
    );
    let merged = wait_for("the patched Secret", || {
        cluster
            .get(&format!("{SECRETS}/merged"))
            .filter(|s| s["data"]["password"].is_string())
    });
    assert_eq!(data(&merged, "extra"), "kept");
    assert_eq!(data(&merged, "password"), "p");
    assert!(
        merged["metadata"]["ownerReferences"].is_null(),
        "patch alone takes no ownership"
    );

    // Metrics with sealed-secrets' names.
    let metrics = controller.metrics();
    assert!(
        metrics
            .body
            .contains("sealed_secrets_controller_unseal_requests_total"),
        "{}",
        metrics.body
    );
    assert!(
        metrics.body.contains(
            "sealed_secrets_controller_unseal_errors_total{reason=\"unseal\",namespace=\"default\"}"
        ),
        "{}",
        metrics.body
    );
    assert!(metrics.body.contains("sealed_secrets_controller_condition_info{namespace=\"default\",name=\"web\",condition=\"Synced\",ss_app_kubernetes_io_instance=\"\"} 1"), "{}", metrics.body);

    // Online validate and re-encrypt in kubeseal mode.
    let path = env.write("web.json", resealed.to_string());
    let mut validate = env.sealbox(&["kubeseal", "--validate", "-f", path.to_str().unwrap()]);
    validate.0.env("KUBECONFIG", &cluster.kubeconfig);
    validate.run().ok();
    let path = env.write("moved.json", moved.to_string());
    let mut validate = env.sealbox(&["kubeseal", "--validate", "-f", path.to_str().unwrap()]);
    validate.0.env("KUBECONFIG", &cluster.kubeconfig);
    let err = validate.run().fails();
    assert!(
        err.contains("unable to decrypt sealed secret: default/moved"),
        "{err}"
    );
    drop(controller);
}

#[test]
fn a_kubesealpy_sealed_secret_is_unsealed_by_the_controller() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "c1");
    let controller = Controller::start(&env, &cluster, &[]);
    let cert = env.write("cert.pem", controller.get("/v1/cert.pem").body);
    let spec = json!({"name": "peer", "namespace": "default", "scope": "strict",
                      "labels": {"from": "kubesealpy"}, "data": {"token": "cGVlci10b2tlbg=="}});
    let sealed: Run = env
        .peer(&["seal", cert.to_str().unwrap()])
        .stdin(spec.to_string());
    cluster.create_text(SS, &sealed.ok());
    let secret = wait_for("the Secret", || cluster.get(&format!("{SECRETS}/peer")));
    assert_eq!(data(&secret, "token"), "peer-token");
    assert_eq!(secret["metadata"]["labels"]["from"], "kubesealpy");
}

#[test]
fn renewed_and_restored_keys_all_open() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "c1");
    let controller = Controller::start(&env, &cluster, &["--key-renew-period=3s"]);
    let keys = |cluster: &Cluster| cluster.list(KEYS);
    let old = seal_online(&env, &cluster, &secret_manifest("old", "before"), &[]);
    wait_for("a renewed key", || {
        (keys(&cluster).len() >= 2).then_some(())
    });
    let new = seal_online(&env, &cluster, &secret_manifest("new", "after"), &[]);
    assert_ne!(old["spec"]["encryptedData"], new["spec"]["encryptedData"]);
    cluster.create(SS, &old);
    cluster.create(SS, &new);
    for (name, value) in [("old", "before"), ("new", "after")] {
        let s = wait_for(name, || cluster.get(&format!("{SECRETS}/{name}")));
        assert_eq!(data(&s, "password"), value);
    }
    for key in keys(&cluster) {
        assert_eq!(key["type"], "kubernetes.io/tls");
        assert!(
            key["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("sealed-secrets-key")
        );
    }

    // Another cluster's keys, restored here as `kubectl apply -f main.key` would, open that
    // cluster's SealedSecrets without a restart.
    let other = Cluster::start(&env, "c2");
    let other_controller = Controller::start(&env, &other, &[]);
    let theirs = seal_online(&env, &other, &secret_manifest("theirs", "from-c2"), &[]);
    drop(other_controller);
    cluster.create(SS, &theirs);
    wait_for("status False before the restore", || {
        condition(&cluster, "theirs").filter(|c| c.0 == "False")
    });
    let mut backup = env.sealbox(&["keys", "backup", "-o", "c2.key"]);
    backup.0.env("KUBECONFIG", &other.kubeconfig);
    assert!(backup.run().ok().is_empty());
    let mode = std::fs::metadata(env.path("c2.key")).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    // The backup also opens the other cluster's SealedSecret offline.
    let offline = env
        .sealbox(&["unseal", "-k", "c2.key"])
        .stdin(theirs.to_string())
        .ok();
    assert!(offline.contains("password: ZnJvbS1jMg=="), "{offline}");
    let mut restore = env.sealbox(&["keys", "restore", "c2.key"]);
    restore.0.env("KUBECONFIG", &cluster.kubeconfig);
    let said = restore.run();
    said.ok();
    assert!(
        said.stderr().contains("restored 1 key(s)"),
        "{}",
        said.stderr()
    );
    let s = wait_for("the restored cluster's Secret", || {
        cluster.get(&format!("{SECRETS}/theirs"))
    });
    assert_eq!(data(&s, "password"), "from-c2");
    drop(controller);
}

/// `sealbox` with `cluster`'s kubeconfig.
fn online(env: &Env, cluster: &Cluster, args: &[&str]) -> sealbox_tests::Cmd {
    let mut cmd = env.sealbox(args);
    cmd.0.env("KUBECONFIG", &cluster.kubeconfig);
    cmd
}

#[test]
fn reencrypt_moves_a_directory_to_the_newest_key_and_validate_online_agrees() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "c1");
    let controller = Controller::start(&env, &cluster, &["--key-renew-period=0"]);
    let first_cert = controller.get("/v1/cert.pem").body;

    // A GitOps tree: YAML with a comment and a ConfigMap beside a SealedSecret, JSON, and a file
    // with no SealedSecret.
    std::fs::create_dir_all(env.path("repo/apps/web")).unwrap();
    let sealed_yaml = |name: &str, value: &str| {
        online(&env, &cluster, &["seal", "--fetch-cert"])
            .stdin(secret_manifest(name, value))
            .ok()
    };
    let web = format!(
        "# the web app's credentials\n{}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  a: b\n",
        sealed_yaml("web", "w1")
    );
    env.write("repo/apps/web/secrets.yaml", &web);
    let db = seal_online(&env, &cluster, &secret_manifest("db", "d1"), &[]);
    env.write(
        "repo/apps/db.json",
        serde_json::to_string_pretty(&db).unwrap(),
    );
    env.write("repo/README.yaml", "kind: Note\ntext: not a secret\n");
    online(
        &env,
        &cluster,
        &["validate", "--online", "-f", "repo/apps/db.json"],
    )
    .run()
    .ok();

    // Renew (SIGUSR1 adds a key, as the renewal timer does), then re-encrypt the tree.
    let pid = controller.pid();
    std::process::Command::new("kill")
        .args(["-USR1", &pid.to_string()])
        .status()
        .unwrap();
    wait_for("the new certificate", || {
        (controller.get("/v1/cert.pem").body != first_cert).then_some(())
    });
    let run = online(&env, &cluster, &["reencrypt", "repo"]).run();
    let out = run.ok();
    assert!(
        out.contains("secrets.yaml: 1 SealedSecret(s) re-encrypted"),
        "{out}"
    );
    assert!(
        out.contains("db.json: 1 SealedSecret(s) re-encrypted"),
        "{out}"
    );
    assert!(
        run.stderr()
            .contains("re-encrypted 2 SealedSecret(s) in 2 of 3 file(s)"),
        "{}",
        run.stderr()
    );
    // The same walk for automation: one JSON record per file, outcomes as above.
    let json = online(&env, &cluster, &["reencrypt", "--output", "json", "repo"]).run();
    let records: Vec<Value> = json
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let outcomes: Vec<(&str, &str, Option<u64>)> = records
        .iter()
        .map(|r| {
            (
                r["file"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
                r["sealed_secrets"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("repo/README.yaml", "unchanged", None),
            ("repo/apps/db.json", "changed", Some(1)),
            ("repo/apps/web/secrets.yaml", "changed", Some(1)),
        ],
        "{records:?}"
    );
    let after = env.read("repo/apps/web/secrets.yaml");
    assert!(
        after.starts_with("# the web app's credentials\n"),
        "{after}"
    );
    assert!(
        after.ends_with("kind: ConfigMap\nmetadata:\n  name: web\ndata:\n  a: b\n"),
        "{after}"
    );
    assert_ne!(after, web);
    assert_eq!(
        env.read("repo/README.yaml"),
        "kind: Note\ntext: not a secret\n"
    );

    // Every item now opens with the newest key alone, and the controller still unseals them.
    let current = controller.get("/v1/cert.pem").body;
    let decoded =
        |v: &Value| String::from_utf8(decode_base64(v.as_str().unwrap()).unwrap()).unwrap();
    let keys = cluster.list(KEYS);
    assert_eq!(keys.len(), 2);
    let newest = keys
        .iter()
        .find(|k| decoded(&k["data"]["tls.crt"]) == current)
        .unwrap();
    let newest_only = env.write("newest.pem", decoded(&newest["data"]["tls.key"]));
    let web_sealed = after
        .split("---\napiVersion: v1\nkind: ConfigMap")
        .next()
        .unwrap()
        .to_owned();
    for sealed in [web_sealed, env.read("repo/apps/db.json")] {
        env.sealbox(&["validate", "-k", newest_only.to_str().unwrap()])
            .stdin(&sealed)
            .ok();
        online(&env, &cluster, &["validate", "--online"])
            .stdin(&sealed)
            .ok();
    }
    let db: Value = serde_json::from_str(&env.read("repo/apps/db.json")).unwrap();
    cluster.create(SS, &db);
    let s = wait_for("the Secret", || cluster.get(&format!("{SECRETS}/db")));
    assert_eq!(data(&s, "password"), "d1");

    // A file whose SealedSecret the controller cannot open is reported and left unchanged.
    let mut broken = db.clone();
    broken["metadata"]["name"] = json!("renamed");
    let text = serde_json::to_string_pretty(&broken).unwrap();
    env.write("repo/broken.json", &text);
    let err = online(&env, &cluster, &["reencrypt", "repo/broken.json"])
        .run()
        .fails();
    assert!(err.contains("broken.json"), "{err}");
    assert_eq!(env.read("repo/broken.json"), text);

    // A copy of a ciphertext outside encryptedData (kubectl's last-applied annotation) would
    // take the new value in its place: refused, file unchanged.
    let mut applied = db.clone();
    applied["metadata"]["annotations"] = json!({
        "kubectl.kubernetes.io/last-applied-configuration": db.to_string()
    });
    let text = serde_json::to_string_pretty(&applied).unwrap();
    env.write("repo/applied.json", &text);
    let err = online(&env, &cluster, &["reencrypt", "repo/applied.json"])
        .run()
        .fails();
    assert!(err.contains("outside encryptedData"), "{err}");
    assert_eq!(env.read("repo/applied.json"), text);
}

/// A key Secret as a bring-your-own key is made (docs/bring-your-own-certificates.md upstream):
/// `openssl req -x509 -newkey rsa:4096` (PKCS#8 key), `kubernetes.io/tls`.
fn openssl_key_secret(env: &Env, name: &str, labelled: bool) -> (Value, String) {
    let (key, crt) = (format!("{name}.key"), format!("{name}.crt"));
    let subject = "/CN=sealed-secret/O=sealed-secret";
    let args = [
        "req", "-x509", "-nodes", "-newkey", "rsa:4096", "-days", "365", "-subj", subject,
    ];
    let mut args: Vec<&str> = args.to_vec();
    args.extend(["-keyout", &key, "-out", &crt]);
    let run = env.command("openssl", &args).run();
    assert!(run.output.status.success(), "openssl: {}", run.stderr());
    let b64 = |f: &str| sealbox_crypto::sealed::encode_base64(env.read(f).as_bytes());
    let labels = if labelled {
        json!({"sealedsecrets.bitnami.com/sealed-secrets-key": "active"})
    } else {
        json!({})
    };
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": "kube-system", "labels": labels},
        "data": {"tls.key": b64(&key), "tls.crt": b64(&crt)}});
    (secret, env.read(&crt))
}

#[test]
fn an_existing_installations_keys_are_adopted_and_the_cutoff_forces_a_new_one() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "c1");
    let keys_path = "/api/v1/namespaces/kube-system/secrets";
    // A pre-0.9 single key (named exactly the prefix, no label) and a newer labelled one.
    let (legacy, legacy_cert) = openssl_key_secret(&env, "sealed-secrets-key", false);
    // Certificates order by NotBefore, to the second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (current, current_cert) = openssl_key_secret(&env, "sealed-secrets-keyabcde", true);
    cluster.create(keys_path, &legacy);
    cluster.create(keys_path, &current);

    let controller = Controller::start(&env, &cluster, &[]);
    assert_eq!(
        controller.get("/v1/cert.pem").body,
        current_cert,
        "the newest key seals"
    );
    assert_eq!(
        cluster.list(KEYS).len(),
        1,
        "no key generated when there is one"
    );
    // Sealed with the legacy key's certificate, it still opens.
    env.write("legacy.pem", &legacy_cert);
    let mut seal = env.sealbox(&["seal", "--cert", "legacy.pem", "-o", "json"]);
    seal.0.env("KUBECONFIG", &cluster.kubeconfig);
    let sealed: Value =
        serde_json::from_str(&seal.stdin(secret_manifest("old", "v")).ok()).unwrap();
    cluster.create(SS, &sealed);
    let s = wait_for("the Secret", || cluster.get(&format!("{SECRETS}/old")));
    assert_eq!(data(&s, "password"), "v");
    drop(controller);

    // A cut-off after the newest key's NotBefore (whole seconds) makes a new key at start-up
    // (once the replica leads; the API serves the loaded keys meanwhile).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let cutoff = std::process::Command::new("date")
        .arg("-R")
        .output()
        .unwrap();
    let cutoff = String::from_utf8(cutoff.stdout).unwrap();
    let controller = Controller::start(
        &env,
        &cluster,
        &[&format!("--key-cutoff-time={}", cutoff.trim())],
    );
    wait_for("the cut-off key", || {
        (controller.get("/v1/cert.pem").body != current_cert).then_some(())
    });
    assert_eq!(cluster.list(KEYS).len(), 2);
}
