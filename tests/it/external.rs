//! ExternalSecrets end to end: the real `sealbox-controller` binary against the Kubernetes API
//! emulator (with the CRDs `crdgen` prints), moto (AWS Secrets Manager) and OpenBao (Vault),
//! from ESO's own manifests.

use std::process::Command;

use sealbox_crypto::sealed::decode_base64;
use sealbox_tests::cluster::{Cluster, Controller, wait_for};
use sealbox_tests::servers::{Bao, Moto, unique};
use sealbox_tests::{Env, controller_bin};
use serde_json::{Value, json};

const ES: &str = "/apis/external-secrets.io/v1/namespaces/default/externalsecrets";
const ES_BETA: &str = "/apis/external-secrets.io/v1beta1/namespaces/default/externalsecrets";
const STORES: &str = "/apis/external-secrets.io/v1/namespaces/default/secretstores";
const SECRETS: &str = "/api/v1/namespaces/default/secrets";

/// An emulator serving the CRDs exactly as `crdgen` prints them.
fn cluster(env: &Env, name: &str) -> Cluster {
    let crdgen = controller_bin().with_file_name("crdgen");
    let out = Command::new(&crdgen).output().expect("run crdgen");
    assert!(out.status.success(), "crdgen failed");
    let crds = env.path("crds.yaml");
    std::fs::write(&crds, &out.stdout).unwrap();
    Cluster::start_with_crds(env, name, &[&crds])
}

fn controller(env: &Env, cluster: &Cluster) -> Controller {
    Controller::start_with_env(
        env,
        cluster,
        &["--key-size=2048"],
        &[
            (
                "AWS_SECRETSMANAGER_ENDPOINT",
                Moto::shared().url().to_owned(),
            ),
            ("AWS_STS_ENDPOINT", Moto::shared().url().to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("RUST_LOG", "debug".to_owned()),
        ],
    )
}

fn secret_data(secret: &Value) -> Vec<(String, String)> {
    secret["data"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let bytes = decode_base64(v.as_str().unwrap()).unwrap();
                    (k.clone(), String::from_utf8(bytes).unwrap())
                })
                .collect()
        })
        .unwrap_or_default()
}

fn wait_secret(cluster: &Cluster, name: &str, want: &[(&str, &str)]) -> Value {
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    wait_for(&format!("Secret {name} with {} keys", want.len()), || {
        cluster
            .get(&format!("{SECRETS}/{name}"))
            .filter(|s| secret_data(s) == want)
    })
}

fn ready(cluster: &Cluster, path: &str) -> Option<(String, String, String)> {
    let object = cluster.get(path)?;
    let c = object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?
        .clone();
    Some((
        c["status"].as_str()?.to_owned(),
        c["reason"].as_str()?.to_owned(),
        c["message"].as_str().unwrap_or("").to_owned(),
    ))
}

fn events_about(cluster: &Cluster, name: &str) -> Vec<(String, String)> {
    cluster
        .list("/api/v1/namespaces/default/events")
        .into_iter()
        .filter(|e| e["involvedObject"]["name"] == name)
        .map(|e| {
            (
                e["reason"].as_str().unwrap_or("").to_owned(),
                e["message"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn vault_store(cluster: &Cluster, name: &str) {
    let bao = Bao::shared();
    cluster.create(
        SECRETS,
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": format!("{name}-token")},
                "stringData": {"token": bao.root_token()}}),
    );
    cluster.create(
        STORES,
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": name},
                "spec": {"provider": {"vault": {"server": bao.url(), "path": "secret", "version": "v2",
                    "auth": {"tokenSecretRef": {"name": format!("{name}-token"), "key": "token"}}}}}}),
    );
}

#[test]
fn vault_kv2_values_become_a_secret_and_follow_remote_changes() {
    let env = Env::new();
    let cluster = cluster(&env, "es-vault");
    let bao = Bao::shared();
    let path = unique("es-vault");
    bao.kv2_put(
        "secret",
        &path,
        &json!({"user": "admin", "password": "vault-seeded-1", "db": {"port": 5432}}),
    );
    vault_store(&cluster, "vault");
    cluster.create(
        ES,
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": "app"},
                "spec": {"refreshInterval": "1s", "secretStoreRef": {"name": "vault", "kind": "SecretStore"},
                    "target": {"name": "app-creds"},
                    "data": [{"secretKey": "pw", "remoteRef": {"key": path, "property": "password"}},
                             {"secretKey": "port", "remoteRef": {"key": path, "property": "db.port"}}]}}),
    );
    let controller = controller(&env, &cluster);
    let secret = wait_secret(
        &cluster,
        "app-creds",
        &[("port", "5432"), ("pw", "vault-seeded-1")],
    );
    assert_eq!(
        secret["metadata"]["labels"]["reconcile.external-secrets.io/managed"],
        "true"
    );
    assert_eq!(
        secret["metadata"]["ownerReferences"][0]["kind"],
        "ExternalSecret"
    );
    assert_eq!(
        ready(&cluster, &format!("{STORES}/vault")).map(|r| r.1),
        Some("Valid".to_owned())
    );
    wait_for("Ready=True SecretSynced", || {
        ready(&cluster, &format!("{ES}/app"))
            .filter(|r| r == &("True".into(), "SecretSynced".into(), "secret synced".into()))
    });
    let es = cluster.get(&format!("{ES}/app")).unwrap();
    assert_eq!(
        es["metadata"]["finalizers"],
        json!(["externalsecrets.external-secrets.io/externalsecret-cleanup"])
    );

    bao.kv2_put(
        "secret",
        &path,
        &json!({"user": "admin", "password": "vault-seeded-2", "db": {"port": 5432}}),
    );
    wait_secret(
        &cluster,
        "app-creds",
        &[("port", "5432"), ("pw", "vault-seeded-2")],
    );
    assert!(
        events_about(&cluster, "app")
            .iter()
            .any(|e| e.0 == "Updated")
    );
    no_leaks(&cluster, &controller, &["vault-seeded-1", "vault-seeded-2"]);
}

#[test]
fn an_aws_secret_syncs_from_a_v1beta1_manifest_with_static_credentials() {
    let env = Env::new();
    let cluster = cluster(&env, "es-aws");
    let moto = Moto::shared();
    let name = unique("es-aws");
    moto.request(
        "CreateSecret",
        &json!({"Name": name, "SecretString": "{\"username\":\"svc\",\"password\":\"aws-seeded-1\"}"}),
    );
    cluster.create(
        SECRETS,
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "aws-creds"},
                "stringData": {"id": "AKIDEXAMPLE", "key": "not-a-real-key", "token": "session"}}),
    );
    let store = json!({"apiVersion": "external-secrets.io/v1beta1", "kind": "SecretStore", "metadata": {"name": "aws"},
        "spec": {"provider": {"aws": {"service": "SecretsManager", "region": "us-east-1",
            "auth": {"secretRef": {
                "accessKeyIDSecretRef": {"name": "aws-creds", "key": "id"},
                "secretAccessKeySecretRef": {"name": "aws-creds", "key": "key"},
                "sessionTokenSecretRef": {"name": "aws-creds", "key": "token"}}}}}}});
    cluster.create(
        "/apis/external-secrets.io/v1beta1/namespaces/default/secretstores",
        &store,
    );
    cluster.create(
        ES_BETA,
        &json!({"apiVersion": "external-secrets.io/v1beta1", "kind": "ExternalSecret", "metadata": {"name": "db"},
                "spec": {"refreshInterval": "1h", "secretStoreRef": {"name": "aws", "kind": "SecretStore"},
                    "dataFrom": [{"extract": {"key": name}}]}}),
    );
    let controller = controller(&env, &cluster);
    let secret = wait_secret(
        &cluster,
        "db",
        &[("password", "aws-seeded-1"), ("username", "svc")],
    );
    let hash = secret["metadata"]["annotations"]["reconcile.external-secrets.io/data-hash"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(hash.len(), 56, "SHA3-224 hex: {hash}");
    no_leaks(&cluster, &controller, &["aws-seeded-1"]);
}

#[test]
fn a_secret_as_eso_left_it_is_adopted_without_a_write() {
    let env = Env::new();
    let cluster = cluster(&env, "es-adopt");
    let bao = Bao::shared();
    let path = unique("es-adopt");
    bao.kv2_put("secret", &path, &json!({"password": "adopt-seeded"}));
    vault_store(&cluster, "vault");
    let es = cluster.create(
        ES,
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": "adopt",
                    "finalizers": ["externalsecrets.external-secrets.io/externalsecret-cleanup"]},
                "spec": {"refreshInterval": "1h", "secretStoreRef": {"name": "vault"},
                    "data": [{"secretKey": "password", "remoteRef": {"key": path, "property": "password"}}]}}),
    );
    // The status and the Secret exactly as ESO writes them (spec §13 hashes).
    let data_hash = sha3_224("map[password:[97 100 111 112 116 45 115 101 101 100 101 100]]");
    let version = format!("1-{}", sha3_224("{annotations:map[] labels:map[]}"));
    let mut with_status = es.clone();
    with_status["status"] = json!({"refreshTime": now_rfc3339(), "syncedResourceVersion": version,
        "conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced", "message": "secret synced",
                        "lastTransitionTime": now_rfc3339()}]});
    cluster.replace(&format!("{ES}/adopt/status"), &with_status);
    let uid = es["metadata"]["uid"].as_str().unwrap();
    let secret = cluster.create(
        SECRETS,
        &json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": "adopt",
                    "labels": {"reconcile.external-secrets.io/managed": "true",
                               "reconcile.external-secrets.io/created-by": sha3_224("default/adopt")},
                    "annotations": {"reconcile.external-secrets.io/data-hash": data_hash},
                    "ownerReferences": [{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "name": "adopt",
                                         "uid": uid, "controller": true, "blockOwnerDeletion": true}]},
                "stringData": {"password": "adopt-seeded"}}),
    );
    let before = secret["metadata"]["resourceVersion"].clone();
    let _controller = controller(&env, &cluster);
    wait_for("the store to be Ready", || {
        ready(&cluster, &format!("{STORES}/vault")).filter(|r| r.0 == "True")
    });
    // Give the reconciler time to look at the ExternalSecret (its metric appears once it has).
    wait_for("the ExternalSecret to be reconciled", || {
        let metrics = _controller.metrics().body;
        metrics
            .contains("externalsecret_sync_calls_total{name=\"adopt\",namespace=\"default\"}")
            .then_some(())
    });
    let after = cluster.get(&format!("{SECRETS}/adopt")).unwrap();
    assert_eq!(
        after["metadata"]["resourceVersion"], before,
        "the Secret was rewritten"
    );
    assert!(
        events_about(&cluster, "adopt")
            .iter()
            .all(|e| e.0 != "Updated" && e.0 != "Created")
    );
}

#[test]
fn an_unsupported_provider_and_a_missing_key_are_reported_without_a_secret() {
    let env = Env::new();
    let cluster = cluster(&env, "es-bad");
    cluster.create(
        STORES,
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": "gcp"},
                "spec": {"provider": {"gcpsm": {"projectID": "p"}}}}),
    );
    vault_store(&cluster, "vault");
    let path = unique("es-bad");
    Bao::shared().kv2_put("secret", &path, &json!({"a": "b"}));
    cluster.create(
        ES,
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": "nokey"},
                "spec": {"secretStoreRef": {"name": "vault"},
                    "data": [{"secretKey": "x", "remoteRef": {"key": path, "property": "missing"}}]}}),
    );
    let _controller = controller(&env, &cluster);
    let store = wait_for("the gcpsm store to be refused", || {
        ready(&cluster, &format!("{STORES}/gcp")).filter(|r| r.0 == "False")
    });
    assert_eq!(store.1, "InvalidProviderConfig");
    let es = wait_for("the ExternalSecret to fail", || {
        ready(&cluster, &format!("{ES}/nokey")).filter(|r| r.0 == "False")
    });
    assert_eq!(es.1, "SecretSyncedError");
    let events = events_about(&cluster, "nokey");
    let failed = events
        .iter()
        .find(|e| e.0 == "UpdateFailed")
        .expect("an UpdateFailed event");
    assert!(failed.1.contains("missing"), "{failed:?}");
    let gcp = events_about(&cluster, "gcp");
    assert!(
        gcp.iter()
            .any(|e| e.1.contains("gcpsm") && e.1.contains("not supported")),
        "{gcp:?}"
    );
    assert!(cluster.get(&format!("{SECRETS}/nokey")).is_none());
}

/// No seeded value anywhere the controller reports: its log (at debug level), Events,
/// statuses and metrics.
fn no_leaks(cluster: &Cluster, controller: &Controller, values: &[&str]) {
    let mut reported = controller.log();
    reported.push_str(&controller.metrics().body);
    for path in ["/api/v1/namespaces/default/events", ES, STORES] {
        reported.push_str(&serde_json::to_string(&cluster.list(path)).unwrap());
    }
    for value in values {
        assert!(!reported.contains(value), "{value:?} leaked");
    }
}

fn sha3_224(text: &str) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import hashlib,sys; print(hashlib.sha3_224(sys.argv[1].encode()).hexdigest())",
            text,
        ])
        .output()
        .expect("python3");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn now_rfc3339() -> String {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
