//! The runbook commands that act on a cluster, end to end against the emulator and the real
//! controller binary: `sealbox keys renew --cluster` (a running controller adopts the key at
//! once, no restart) and `sealbox external refresh` (a force-sync the controller honours, with
//! --wait reporting each object; values from OpenBao).

use std::process::Command;

use sealbox_crypto::sealed::keyfile::KEY_LABEL;
use sealbox_crypto::sealed::{Certificate, decode_base64};
use sealbox_tests::cluster::{Cluster, Controller, wait_for};
use sealbox_tests::servers::{Bao, unique};
use sealbox_tests::{Cmd, Env, crdgen_bin};
use serde_json::{Value, json};

const SS: &str = "/apis/bitnami.com/v1alpha1/namespaces/default/sealedsecrets";
const SECRETS: &str = "/api/v1/namespaces/default/secrets";
const ES_API: &str = "/apis/external-secrets.io/v1";

fn sealbox(env: &Env, cluster: &Cluster, args: &[&str]) -> Cmd {
    let mut cmd = env.sealbox(args);
    cmd.0.env("KUBECONFIG", &cluster.kubeconfig);
    cmd
}

fn value(secret: &Value, item: &str) -> String {
    let b64 = secret["data"][item]
        .as_str()
        .unwrap_or_else(|| panic!("no {item} in {secret}"));
    String::from_utf8(decode_base64(b64).unwrap()).unwrap()
}

fn secret_manifest(name: &str, password: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: default\nstringData:\n  password: {password}\n"
    )
}

/// Seals `name` with the certificate in `cert` (a file), applies it and waits for the Secret.
fn seal_apply_unseal(env: &Env, cluster: &Cluster, cert: &str, name: &str, password: &str) {
    let sealed = env
        .sealbox(&["seal", "--cert", cert, "-o", "json"])
        .stdin(secret_manifest(name, password))
        .ok();
    cluster.create_text(SS, &sealed);
    let secret = wait_for(&format!("Secret {name} unsealed"), || {
        cluster.get(&format!("{SECRETS}/{name}"))
    });
    assert_eq!(value(&secret, "password"), password);
}

#[test]
fn keys_renew_cluster_makes_a_key_the_running_controller_adopts_at_once() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "renew");
    let mut controller = Controller::start(&env, &cluster, &["--key-size=2048"]);
    let old_cert = controller.get("/v1/cert.pem").body;
    env.write("old.crt", &old_cert);

    let out = sealbox(
        &env,
        &cluster,
        &[
            "keys",
            "renew",
            "--cluster",
            "--key-size",
            "2048",
            "--controller-namespace",
            "kube-system",
        ],
    )
    .run();
    let stdout = out.ok();
    let name = stdout
        .lines()
        .find_map(|l| l.strip_prefix("created key Secret kube-system/"))
        .unwrap_or_else(|| panic!("no Secret name in {stdout}"))
        .to_owned();
    let fingerprint = stdout
        .lines()
        .find_map(|l| l.strip_prefix("fingerprint: "))
        .unwrap_or_else(|| panic!("no fingerprint in {stdout}"))
        .to_owned();
    assert!(stdout.contains("not before:  20"), "{stdout}");
    assert!(!stdout.contains("PRIVATE KEY") && !out.stderr().contains("PRIVATE KEY"));

    // The Secret is the controller's shape.
    let secret = cluster
        .get(&format!("/api/v1/namespaces/kube-system/secrets/{name}"))
        .expect("the new key Secret");
    assert!(name.starts_with("sealed-secrets-key"), "{name}");
    assert_eq!(secret["metadata"]["generateName"], "sealed-secrets-key");
    assert_eq!(secret["type"], "kubernetes.io/tls");
    assert_eq!(secret["metadata"]["labels"][KEY_LABEL], "active");
    let new_cert = value(&secret, "tls.crt");
    let parsed = Certificate::from_pem(&new_cert).unwrap();
    assert_eq!(parsed.public_key.fingerprint(), fingerprint);
    assert!(value(&secret, "tls.key").starts_with("-----BEGIN RSA PRIVATE KEY-----"));

    // The same controller process seals with it now.
    let served = wait_for("the controller to serve the new certificate", || {
        let body = controller.get("/v1/cert.pem").body;
        (body != old_cert).then_some(body)
    });
    assert_eq!(
        Certificate::from_pem(&served)
            .unwrap()
            .public_key
            .fingerprint(),
        fingerprint
    );
    assert!(controller.wait_exit(std::time::Duration::ZERO).is_none());

    // Sealed with the new certificate: unseals. Sealed with the old one: still unseals.
    env.write("new.crt", &new_cert);
    seal_apply_unseal(&env, &cluster, "new.crt", "after", "sealed-after");
    seal_apply_unseal(&env, &cluster, "old.crt", "before", "sealed-before");
    let keys = cluster.list(&format!(
        "/api/v1/namespaces/kube-system/secrets?labelSelector={}",
        KEY_LABEL.replace('/', "%2F")
    ));
    assert_eq!(keys.len(), 2, "the old key stays");
}

#[test]
fn a_deleted_key_is_dropped_at_once_and_retire_never_takes_the_newest() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "retire");
    let controller = Controller::start(&env, &cluster, &["--key-size=2048"]);
    let old_cert = controller.get("/v1/cert.pem").body;
    env.write("old.crt", &old_cert);
    let keys_path = format!(
        "/api/v1/namespaces/kube-system/secrets?labelSelector={}",
        KEY_LABEL.replace('/', "%2F")
    );
    let [old] = cluster.list(&keys_path).try_into().unwrap();
    let old = old["metadata"]["name"].as_str().unwrap().to_owned();

    // One key: nothing to retire, and the one that seals cannot be named.
    let none = sealbox(&env, &cluster, &["keys", "retire"]).run();
    none.ok();
    assert!(
        none.stderr().contains("0 key(s) retired"),
        "{}",
        none.stderr()
    );
    let refused = sealbox(&env, &cluster, &["keys", "retire", &old])
        .run()
        .fails();
    assert!(
        refused.contains(&format!("kube-system/{old} is the newest active key")),
        "{refused}"
    );
    let unknown = sealbox(&env, &cluster, &["keys", "retire", "nosuch"])
        .run()
        .fails();
    assert!(
        unknown.contains("kube-system/nosuch is not a key Secret"),
        "{unknown}"
    );
    let [still] = cluster.list(&keys_path).try_into().unwrap();
    assert_eq!(still["metadata"]["labels"][KEY_LABEL], "active");

    // A new key, then the old key's Secret deleted: the running controller drops it at once.
    sealbox(
        &env,
        &cluster,
        &["keys", "renew", "--cluster", "--key-size", "2048"],
    )
    .run()
    .ok();
    wait_for("the controller to seal with the new key", || {
        (controller.get("/v1/cert.pem").body != old_cert).then_some(())
    });
    cluster.delete(&format!("/api/v1/namespaces/kube-system/secrets/{old}"));
    let sealed = env
        .sealbox(&["seal", "--cert", "old.crt", "-o", "json"])
        .stdin(secret_manifest("late", "sealed-for-the-deleted-key"))
        .ok();
    cluster.create_text(SS, &sealed);
    let message = wait_for("the SealedSecret for the deleted key to fail", || {
        let ss = cluster.get(&format!("{SS}/late"))?;
        let synced = ss["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Synced" && c["status"] == "False")?
            .clone();
        Some(synced["message"].as_str().unwrap_or_default().to_owned())
    });
    assert!(message.contains("no key could decrypt secret"), "{message}");
    assert!(cluster.get(&format!("{SECRETS}/late")).is_none());
    assert!(controller.log().contains("key retired from the ring"));
}

#[test]
fn keys_renew_cluster_failures_say_what_to_do() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "renew-errors");
    let err = sealbox(
        &env,
        &cluster,
        &[
            "keys",
            "renew",
            "--cluster",
            "--key-size",
            "2048",
            "--controller-namespace",
            "no-such-ns",
        ],
    )
    .run()
    .fails();
    assert!(
        err.contains("namespace no-such-ns not found") && err.contains("--controller-namespace"),
        "{err}"
    );
    let err = sealbox(
        &env,
        &cluster,
        &["keys", "renew", "--cluster", "--key-prefix", "Bad_Prefix"],
    )
    .run()
    .fails();
    assert!(err.contains("--key-prefix"), "{err}");
    let dead = env.write(
        "dead.kubeconfig",
        "apiVersion: v1\nkind: Config\ncurrent-context: dead\nclusters:\n- name: dead\n  cluster:\n    server: http://127.0.0.1:9\ncontexts:\n- name: dead\n  context:\n    cluster: dead\n    user: u\nusers:\n- name: u\n  user: {}\n",
    );
    let err = env
        .sealbox(&[
            "keys",
            "renew",
            "--cluster",
            "--kubeconfig",
            dead.to_str().unwrap(),
        ])
        .run()
        .fails();
    assert!(
        err.contains("cannot reach the Kubernetes API server") && err.contains("--context"),
        "{err}"
    );
    // No key was made anywhere.
    assert!(
        cluster
            .list("/api/v1/namespaces/kube-system/secrets")
            .is_empty()
    );
    // --key-size and friends belong to --cluster.
    let err = env
        .sealbox(&["keys", "renew", "--key-size", "2048"])
        .run()
        .fails();
    assert!(err.contains("--cluster"), "{err}");
}

/// An emulator serving the CRDs exactly as `crdgen` prints them.
fn es_cluster(env: &Env, name: &str) -> Cluster {
    let out = Command::new(crdgen_bin()).output().expect("run crdgen");
    assert!(out.status.success(), "crdgen failed");
    let crds = env.path("crds.yaml");
    std::fs::write(&crds, &out.stdout).unwrap();
    Cluster::start_with_crds(env, name, &[&crds])
}

fn vault_store(cluster: &Cluster, ns: &str, name: &str) {
    let bao = Bao::shared();
    cluster.create(
        &format!("/api/v1/namespaces/{ns}/secrets"),
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": format!("{name}-token")},
                "stringData": {"token": bao.root_token()}}),
    );
    cluster.create(
        &format!("{ES_API}/namespaces/{ns}/secretstores"),
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": name},
                "spec": {"provider": {"vault": {"server": bao.url(), "path": "secret", "version": "v2",
                    "auth": {"tokenSecretRef": {"name": format!("{name}-token"), "key": "token"}}}}}}),
    );
}

/// An ExternalSecret `name` in `ns` reading `password` of `path` through `store`, refreshed
/// only hourly, so only a force-sync makes it read again during the test.
fn external_secret(cluster: &Cluster, ns: &str, name: &str, store: &str, path: &str) {
    cluster.create(
        &format!("{ES_API}/namespaces/{ns}/externalsecrets"),
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": name},
                "spec": {"refreshInterval": "1h", "secretStoreRef": {"name": store, "kind": "SecretStore"},
                    "target": {"name": name},
                    "data": [{"secretKey": "pw", "remoteRef": {"key": path, "property": "password"}}]}}),
    );
}

fn synced_value(cluster: &Cluster, ns: &str, name: &str) -> Option<String> {
    let secret = cluster.get(&format!("/api/v1/namespaces/{ns}/secrets/{name}"))?;
    secret["data"]["pw"].as_str()?;
    Some(value(&secret, "pw"))
}

fn lines_with(out: &str, needle: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

#[test]
fn external_refresh_syncs_on_request_selects_by_name_namespace_and_store_and_reports_failures() {
    let env = Env::new();
    let cluster = es_cluster(&env, "refresh");
    let bao = Bao::shared();
    let (shared, own) = (unique("refresh-shared"), unique("refresh-own"));
    bao.kv2_put("secret", &shared, &json!({"password": "v1"}));
    bao.kv2_put("secret", &own, &json!({"password": "own-v1"}));
    cluster.create(
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-b"}}),
    );
    vault_store(&cluster, "default", "vault");
    vault_store(&cluster, "default", "other");
    vault_store(&cluster, "team-b", "vault");
    external_secret(&cluster, "default", "a", "vault", &shared);
    external_secret(&cluster, "default", "b", "vault", &shared);
    external_secret(&cluster, "default", "c", "other", &own);
    external_secret(&cluster, "team-b", "d", "vault", &shared);
    let _controller = Controller::start(&env, &cluster, &["--key-size=2048"]);
    for (ns, name, want) in [
        ("default", "a", "v1"),
        ("default", "b", "v1"),
        ("default", "c", "own-v1"),
        ("team-b", "d", "v1"),
    ] {
        wait_for(&format!("{ns}/{name} synced"), || {
            (synced_value(&cluster, ns, name).as_deref() == Some(want)).then_some(())
        });
    }

    // The remote value changes; with an hourly refresh nothing reads it until asked to.
    bao.kv2_put("secret", &shared, &json!({"password": "v2"}));
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(
        synced_value(&cluster, "default", "a").as_deref(),
        Some("v1")
    );

    let out = sealbox(&env, &cluster, &["external", "refresh", "a", "--wait"])
        .run()
        .ok();
    assert_eq!(lines_with(&out, "synced").len(), 1, "{out}");
    assert!(out.starts_with("default/a: synced"), "{out}");
    assert_eq!(
        synced_value(&cluster, "default", "a").as_deref(),
        Some("v2")
    );
    assert_eq!(
        synced_value(&cluster, "default", "b").as_deref(),
        Some("v1"),
        "only a was asked for"
    );
    let es = cluster
        .get(&format!("{ES_API}/namespaces/default/externalsecrets/a"))
        .unwrap();
    let stamp = es["metadata"]["annotations"]["force-sync"]
        .as_str()
        .unwrap();
    assert!(stamp.parse::<u64>().is_ok(), "{stamp}");

    // --store: the two in default that use SecretStore vault (not c, not team-b's d).
    let out = sealbox(
        &env,
        &cluster,
        &["external", "refresh", "--store", "vault", "--wait"],
    )
    .run()
    .ok();
    let synced = lines_with(&out, ": synced");
    assert_eq!(synced.len(), 2, "{out}");
    assert!(synced[0].starts_with("default/a") || synced[1].starts_with("default/a"));
    assert!(out.contains("default/b: synced"), "{out}");
    assert_eq!(
        synced_value(&cluster, "default", "b").as_deref(),
        Some("v2")
    );
    assert_eq!(synced_value(&cluster, "team-b", "d").as_deref(), Some("v1"));

    // --all -n: the three in default; -A: all four.
    let out = sealbox(
        &env,
        &cluster,
        &["external", "refresh", "--all", "-n", "default"],
    )
    .run()
    .ok();
    assert_eq!(lines_with(&out, ": refresh requested").len(), 3, "{out}");
    assert!(!out.contains("team-b/"), "{out}");
    let out = sealbox(
        &env,
        &cluster,
        &["external", "refresh", "--all", "-A", "--wait"],
    )
    .run()
    .ok();
    assert_eq!(lines_with(&out, ": synced").len(), 4, "{out}");
    assert_eq!(synced_value(&cluster, "team-b", "d").as_deref(), Some("v2"));

    // A selection that finds nothing is an error, not a silent success.
    let err = sealbox(&env, &cluster, &["external", "refresh", "--store", "nope"])
        .run()
        .fails();
    assert!(err.contains("SecretStore nope"), "{err}");

    // The remote key is gone: --wait names the object and why, and exits non-zero.
    bao.request("DELETE", &format!("secret/metadata/{own}"), None);
    let run = sealbox(
        &env,
        &cluster,
        &["external", "refresh", "--all", "--wait", "--timeout", "60s"],
    )
    .run();
    let err = run.fails();
    let out = run.stdout();
    assert!(
        out.contains("default/c: failed: Ready=False SecretSyncedError"),
        "{out}"
    );
    assert!(
        out.contains("default/a: synced") && out.contains("default/b: synced"),
        "{out}"
    );
    assert!(
        err.contains("1 ExternalSecret(s) did not sync: default/c"),
        "{err}"
    );
    assert_eq!(
        synced_value(&cluster, "default", "c").as_deref(),
        Some("own-v1"),
        "a failed sync leaves the Secret as it was"
    );
}
