//! ExternalSecrets end to end: the real `sealbox-controller` binary against the Kubernetes API
//! emulator (with the CRDs `crdgen` prints), moto (AWS Secrets Manager) and OpenBao (Vault),
//! from ESO's own manifests.

use std::process::Command;

use sealbox_crypto::sealed::decode_base64;
use sealbox_tests::cluster::{Cluster, Controller, wait_for};
use sealbox_tests::servers::{Bao, Moto, unique};
use sealbox_tests::{Env, crdgen_bin};
use serde_json::{Value, json};

const ES: &str = "/apis/external-secrets.io/v1/namespaces/default/externalsecrets";
const ES_BETA: &str = "/apis/external-secrets.io/v1beta1/namespaces/default/externalsecrets";
const STORES: &str = "/apis/external-secrets.io/v1/namespaces/default/secretstores";
const SECRETS: &str = "/api/v1/namespaces/default/secrets";

/// An emulator serving the CRDs exactly as `crdgen` prints them.
fn cluster(env: &Env, name: &str) -> Cluster {
    let out = Command::new(crdgen_bin()).output().expect("run crdgen");
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
    // ESO's metric names, so existing dashboards keep working.
    let metrics = controller.metrics().body;
    for series in [
        "externalsecret_sync_calls_total{name=\"app\",namespace=\"default\"}",
        "externalsecret_status_condition{name=\"app\",namespace=\"default\",condition=\"Ready\",status=\"True\"} 1",
        "externalsecret_reconcile_duration{name=\"app\",namespace=\"default\"}",
        "secretstore_status_condition{name=\"vault\",namespace=\"default\",condition=\"Ready\",status=\"True\"} 1",
    ] {
        assert!(
            metrics.contains(series),
            "{series} missing from:\n{metrics}"
        );
    }
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
    // The SDK's standard endpoint variables (not ESO's) reach moto too.
    let controller = Controller::start_with_env(
        &env,
        &cluster,
        &["--key-size=2048"],
        &[
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto.url().to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("RUST_LOG", "debug".to_owned()),
        ],
    );
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
    // The first failure may be the flood gate (the store not Ready yet); then the property.
    let failed = wait_for("an UpdateFailed event about the missing property", || {
        events_about(&cluster, "nokey")
            .into_iter()
            .find(|e| e.0 == "UpdateFailed" && e.1.contains("missing"))
    });
    assert!(failed.1.contains("nokey"), "{failed:?}");
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

fn namespace(cluster: &Cluster, name: &str, labels: Value) {
    cluster.create(
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}),
    );
}

fn external_secret(cluster: &Cluster, ns: &str, name: &str, spec: Value) -> Value {
    cluster.create(
        &format!("/apis/external-secrets.io/v1/namespaces/{ns}/externalsecrets"),
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                "metadata": {"name": name, "namespace": ns}, "spec": spec}),
    )
}

#[test]
fn deletion_policies_decide_what_happens_when_the_remote_secret_is_gone() {
    let env = Env::new();
    let cluster = cluster(&env, "es-deletion");
    let bao = Bao::shared();
    let (gone, kept) = (unique("es-del"), unique("es-ret"));
    bao.kv2_put("secret", &gone, &json!({"v": "delete-me"}));
    bao.kv2_put("secret", &kept, &json!({"v": "keep-me"}));
    vault_store(&cluster, "vault");
    for (name, path, policy) in [("del", &gone, "Delete"), ("ret", &kept, "Retain")] {
        external_secret(
            &cluster,
            "default",
            name,
            json!({"refreshInterval": "1s", "secretStoreRef": {"name": "vault"},
                   "target": {"deletionPolicy": policy},
                   "dataFrom": [{"extract": {"key": path}}]}),
        );
    }
    let _controller = controller(&env, &cluster);
    wait_secret(&cluster, "del", &[("v", "delete-me")]);
    wait_secret(&cluster, "ret", &[("v", "keep-me")]);
    bao.request("DELETE", &format!("secret/metadata/{gone}"), None);
    bao.request("DELETE", &format!("secret/metadata/{kept}"), None);
    wait_for("the Delete target to be deleted", || {
        cluster
            .get(&format!("{SECRETS}/del"))
            .is_none()
            .then_some(())
    });
    let del = wait_for("Ready=True SecretDeleted", || {
        ready(&cluster, &format!("{ES}/del")).filter(|r| r.1 == "SecretDeleted")
    });
    assert_eq!(
        del,
        (
            "True".into(),
            "SecretDeleted".into(),
            "secret deleted due to DeletionPolicy=Delete".into()
        )
    );
    // Retain: a missing remote secret is an error, and the Secret stays as it was.
    wait_for("the Retain ExternalSecret to report the error", || {
        ready(&cluster, &format!("{ES}/ret")).filter(|r| r.0 == "False")
    });
    wait_secret(&cluster, "ret", &[("v", "keep-me")]);
}

#[test]
fn status_failures_name_each_entry_that_gave_no_data_until_it_does() {
    let env = Env::new();
    let cluster = cluster(&env, "es-failures");
    let bao = Bao::shared();
    let (there, absent) = (unique("es-there"), unique("es-absent"));
    bao.kv2_put("secret", &there, &json!({"v": "here"}));
    vault_store(&cluster, "vault");
    let data = json!([
        {"secretKey": "a", "remoteRef": {"key": there, "property": "v"}},
        {"secretKey": "b", "remoteRef": {"key": absent, "property": "v"}}
    ]);
    for (name, policy) in [("partial", "Delete"), ("strict", "Retain")] {
        external_secret(
            &cluster,
            "default",
            name,
            json!({"refreshInterval": "1s", "secretStoreRef": {"name": "vault"},
                   "target": {"deletionPolicy": policy}, "data": data}),
        );
    }
    external_secret(
        &cluster,
        "default",
        "badfind",
        json!({"refreshInterval": "1s", "secretStoreRef": {"name": "vault"},
               "dataFrom": [{"find": {"name": {"regexp": "("}}}]}),
    );
    let _controller = controller(&env, &cluster);
    let failures = |name: &str| {
        wait_for(&format!("status.failures of {name}"), || {
            let es = cluster.get(&format!("{ES}/{name}"))?;
            es["status"]["failures"].as_array().cloned()
        })
    };
    // deletionPolicy Delete: synced without the missing key, and the status says which.
    wait_secret(&cluster, "partial", &[("a", "here")]);
    let partial = failures("partial");
    assert_eq!(partial.len(), 1, "{partial:?}");
    let mut missing = partial[0].clone();
    let message = missing["message"].take();
    assert_eq!(
        missing,
        json!({"entry": "spec.data[1]", "secretKey": "b", "remoteKey": absent,
               "reason": "NotFound", "message": null})
    );
    // The provider's own words, naming the path read (the Event keeps ESO's text).
    let message = message.as_str().unwrap();
    assert!(
        message.contains(&format!("secret/data/{absent}")),
        "{message}"
    );
    assert!(
        events_about(&cluster, "partial")
            .iter()
            .any(|e| e.0 == "MissingProviderSecret"
                && e.1
                    == format!(
                        "secret does not exist at provider using spec.dataFrom[1] (key={absent})"
                    )),
        "no MissingProviderSecret Event"
    );
    assert_eq!(
        ready(&cluster, &format!("{ES}/partial")).unwrap().1,
        "SecretSynced"
    );
    // Retain: the same missing key fails the sync, and the status names it.
    let strict = failures("strict");
    assert_eq!(strict.len(), 1, "{strict:?}");
    assert_eq!(
        (&strict[0]["entry"], &strict[0]["reason"]),
        (&json!("spec.data[1]"), &json!("NotFound"))
    );
    assert_eq!(ready(&cluster, &format!("{ES}/strict")).unwrap().0, "False");
    let bad = failures("badfind");
    assert_eq!(
        (&bad[0]["entry"], &bad[0]["reason"], bad[0].get("remoteKey")),
        (&json!("spec.dataFrom[0]"), &json!("InvalidEntry"), None)
    );
    assert!(
        bad[0]["message"]
            .as_str()
            .unwrap()
            .contains("find.name.regexp"),
        "{bad:?}"
    );

    // The key appears: both sync it, and their failures are gone from the status.
    bao.kv2_put("secret", &absent, &json!({"v": "now"}));
    for name in ["partial", "strict"] {
        wait_secret(&cluster, name, &[("a", "here"), ("b", "now")]);
        wait_for(&format!("{name} without failures"), || {
            let es = cluster.get(&format!("{ES}/{name}"))?;
            es["status"].get("failures").is_none().then_some(())
        });
    }
}

#[test]
fn a_provider_outage_keeps_the_last_good_secret() {
    let env = Env::new();
    let cluster = cluster(&env, "es-outage");
    let path = unique("es-outage");
    Bao::shared().kv2_put("secret", &path, &json!({"v": "last-good"}));
    vault_store(&cluster, "vault");
    external_secret(
        &cluster,
        "default",
        "app",
        json!({"refreshInterval": "1s", "secretStoreRef": {"name": "vault"},
               "data": [{"secretKey": "v", "remoteRef": {"key": path, "property": "v"}}]}),
    );
    let _controller = controller(&env, &cluster);
    wait_secret(&cluster, "app", &[("v", "last-good")]);
    // The store now points at a port nothing listens on.
    let mut store = cluster.get(&format!("{STORES}/vault")).unwrap();
    store["spec"]["provider"]["vault"]["server"] = json!("http://127.0.0.1:9");
    cluster.replace(&format!("{STORES}/vault"), &store);
    let failed = wait_for("SecretSyncedError", || {
        ready(&cluster, &format!("{ES}/app")).filter(|r| r.0 == "False")
    });
    assert_eq!(failed.1, "SecretSyncedError");
    assert_eq!(failed.2, "could not get secret data from provider");
    wait_secret(&cluster, "app", &[("v", "last-good")]);
}

#[test]
fn a_cluster_store_serves_only_the_namespaces_its_conditions_allow() {
    let env = Env::new();
    let cluster = cluster(&env, "es-css");
    let bao = Bao::shared();
    let path = unique("es-css");
    bao.kv2_put("secret", &path, &json!({"v": "css-value"}));
    for ns in ["creds", "team-a", "team-b"] {
        namespace(&cluster, ns, json!({}));
    }
    cluster.create(
        "/api/v1/namespaces/creds/secrets",
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bao"},
                "stringData": {"token": bao.root_token()}}),
    );
    cluster.create(
        "/apis/external-secrets.io/v1/clustersecretstores",
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore", "metadata": {"name": "shared"},
                "spec": {"conditions": [{"namespaces": ["team-a"]}],
                    "provider": {"vault": {"server": bao.url(), "path": "secret",
                        "auth": {"tokenSecretRef": {"name": "bao", "namespace": "creds", "key": "token"}}}}}}),
    );
    let spec = json!({"refreshInterval": "1h", "secretStoreRef": {"name": "shared", "kind": "ClusterSecretStore"},
                      "data": [{"secretKey": "v", "remoteRef": {"key": path, "property": "v"}}]});
    external_secret(&cluster, "team-a", "app", spec.clone());
    external_secret(&cluster, "team-b", "app", spec);
    let _controller = controller(&env, &cluster);
    wait_for("the team-a Secret", || {
        cluster
            .get("/api/v1/namespaces/team-a/secrets/app")
            .filter(|s| secret_data(s) == [("v".to_owned(), "css-value".to_owned())])
    });
    let denied = wait_for("team-b to be denied", || {
        ready(
            &cluster,
            "/apis/external-secrets.io/v1/namespaces/team-b/externalsecrets/app",
        )
        .filter(|r| r.0 == "False")
    });
    assert_eq!(denied.1, "SecretSyncedError");
    let events: Vec<Value> = cluster.list("/api/v1/namespaces/team-b/events");
    assert!(
        events.iter().any(|e| e["message"].as_str().is_some_and(
            |m| m.contains("not allowed from namespace \"team-b\": denied by spec.condition")
        )),
        "{events:?}"
    );
    assert!(
        cluster
            .get("/api/v1/namespaces/team-b/secrets/app")
            .is_none()
    );
}

#[test]
fn a_cluster_external_secret_fans_out_to_the_selected_namespaces() {
    let env = Env::new();
    let cluster = cluster(&env, "es-ces");
    let bao = Bao::shared();
    let path = unique("es-ces");
    bao.kv2_put("secret", &path, &json!({"v": "fanned-out"}));
    namespace(&cluster, "creds", json!({}));
    namespace(&cluster, "blue", json!({"fanout": "yes"}));
    namespace(&cluster, "green", json!({"fanout": "yes"}));
    namespace(&cluster, "red", json!({}));
    cluster.create(
        "/api/v1/namespaces/creds/secrets",
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bao"},
                "stringData": {"token": bao.root_token()}}),
    );
    cluster.create(
        "/apis/external-secrets.io/v1/clustersecretstores",
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore", "metadata": {"name": "shared"},
                "spec": {"provider": {"vault": {"server": bao.url(), "path": "secret",
                    "auth": {"tokenSecretRef": {"name": "bao", "namespace": "creds", "key": "token"}}}}}}),
    );
    cluster.create(
        "/apis/external-secrets.io/v1/clusterexternalsecrets",
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "ClusterExternalSecret", "metadata": {"name": "fan"},
                "spec": {"externalSecretName": "app",
                    "namespaceSelectors": [{"matchLabels": {"fanout": "yes"}}],
                    "externalSecretSpec": {"refreshInterval": "1h",
                        "secretStoreRef": {"name": "shared", "kind": "ClusterSecretStore"},
                        "data": [{"secretKey": "v", "remoteRef": {"key": path, "property": "v"}}]}}}),
    );
    let _controller = controller(&env, &cluster);
    for ns in ["blue", "green"] {
        wait_for(&format!("the Secret in {ns}"), || {
            cluster
                .get(&format!("/api/v1/namespaces/{ns}/secrets/app"))
                .filter(|s| secret_data(s) == [("v".to_owned(), "fanned-out".to_owned())])
        });
    }
    assert!(
        cluster
            .get("/apis/external-secrets.io/v1/namespaces/red/externalsecrets/app")
            .is_none()
    );
    let status = wait_for("the ClusterExternalSecret status", || {
        cluster
            .get("/apis/external-secrets.io/v1/clusterexternalsecrets/fan")
            .filter(|c| c["status"]["provisionedNamespaces"] == json!(["blue", "green"]))
    });
    assert_eq!(status["status"]["externalSecretName"], "app");
}

#[test]
fn vault_approle_and_kubernetes_auth_log_in() {
    let env = Env::new();
    let cluster = cluster(&env, "es-vault-auth");
    let bao = Bao::shared();
    let path = unique("es-auth");
    bao.kv2_put("secret", &path, &json!({"v": "auth-value"}));
    let policy = unique("es-read");
    bao.write_policy(&policy, "path \"secret/data/*\" { capabilities = [\"read\"] }\npath \"secret/metadata/*\" { capabilities = [\"read\", \"list\"] }");
    let approle = unique("approle");
    bao.enable_auth(&approle, "approle");
    let (role_id, secret_id) = bao.approle(&approle, "reader", &[&policy]);
    let k8s = unique("kubernetes");
    bao.kubernetes_auth(&k8s, &cluster.url);
    bao.kubernetes_role(&k8s, "reader", &["reader"], &["default"], &[&policy]);
    cluster.create(
        "/api/v1/namespaces/default/serviceaccounts",
        &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}}),
    );
    cluster.create(
        SECRETS,
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "approle"},
                "stringData": {"secret-id": secret_id}}),
    );
    let store = |name: &str, auth: Value| {
        cluster.create(
            STORES,
            &json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": name},
                    "spec": {"provider": {"vault": {"server": bao.url(), "path": "secret", "auth": auth}}}}),
        );
    };
    store(
        "approle",
        json!({"appRole": {"path": approle, "roleId": role_id,
        "secretRef": {"name": "approle", "key": "secret-id"}}}),
    );
    store(
        "k8s",
        json!({"kubernetes": {"mountPath": k8s, "role": "reader",
        "serviceAccountRef": {"name": "reader"}}}),
    );
    for store in ["approle", "k8s"] {
        external_secret(
            &cluster,
            "default",
            store,
            json!({"refreshInterval": "1h", "secretStoreRef": {"name": store},
                   "data": [{"secretKey": "v", "remoteRef": {"key": path, "property": "v"}}]}),
        );
    }
    let _controller = controller(&env, &cluster);
    wait_secret(&cluster, "approle", &[("v", "auth-value")]);
    wait_secret(&cluster, "k8s", &[("v", "auth-value")]);
    assert!(cluster.token_requests("default", "reader") >= 1);
}

#[test]
fn aws_versions_properties_tags_find_rewrite_and_binary_values() {
    let env = Env::new();
    let cluster = cluster(&env, "es-aws-reads");
    let moto = Moto::shared();
    let prefix = unique("es-aws-reads");
    let json_secret = format!("{prefix}/app");
    moto.request(
        "CreateSecret",
        &json!({"Name": json_secret, "SecretString": "{\"friends\":[{\"first\":\"ann\"},{\"first\":\"bob\"}],\"v\":\"one\"}",
                "Tags": [{"Key": "team", "Value": "blue"}, {"Key": "env", "Value": "prod"}]}),
    );
    moto.request("PutSecretValue", &json!({"SecretId": json_secret, "SecretString": "{\"friends\":[{\"first\":\"ann\"},{\"first\":\"bob\"}],\"v\":\"two\"}"}));
    let binary = format!("{prefix}/bin");
    // Bytes that are not UTF-8 go through byte for byte.
    moto.request(
        "CreateSecret",
        &json!({"Name": binary, "SecretBinary": "/wD+AQ=="}),
    );
    let decoy = format!("{prefix}/decoy");
    moto.request(
        "CreateSecret",
        &json!({"Name": decoy, "SecretString": "decoy", "Tags": [{"Key": "team", "Value": "prod"}, {"Key": "env", "Value": "blue"}]}),
    );
    cluster.create(
        SECRETS,
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "aws-creds"},
                "stringData": {"id": "AKIDEXAMPLE", "key": "not-a-real-key"}}),
    );
    cluster.create(
        STORES,
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": "aws"},
                "spec": {"provider": {"aws": {"service": "SecretsManager", "region": "us-east-1",
                    "auth": {"secretRef": {"accessKeyIDSecretRef": {"name": "aws-creds", "key": "id"},
                                           "secretAccessKeySecretRef": {"name": "aws-creds", "key": "key"}}}}}}}),
    );
    external_secret(
        &cluster,
        "default",
        "reads",
        json!({"refreshInterval": "1h", "secretStoreRef": {"name": "aws"},
               "data": [
                   {"secretKey": "second", "remoteRef": {"key": json_secret, "property": "friends.1.first"}},
                   {"secretKey": "previous", "remoteRef": {"key": json_secret, "property": "v", "version": "AWSPREVIOUS"}},
                   {"secretKey": "team", "remoteRef": {"key": json_secret, "property": "team", "metadataPolicy": "Fetch"}},
                   {"secretKey": "bin", "remoteRef": {"key": binary}}],
               "dataFrom": [{"find": {"tags": {"team": "blue", "env": "prod"}},
                             "rewrite": [{"regexp": {"source": ".*/(.*)", "target": "found-$1"}}]}]}),
    );
    let _controller = controller(&env, &cluster);
    let secret = wait_for("the Secret with every read", || {
        cluster
            .get(&format!("{SECRETS}/reads"))
            .filter(|s| s["data"].as_object().is_some_and(|d| d.len() == 5))
    });
    assert_eq!(
        secret["data"]["bin"], "/wD+AQ==",
        "binary value byte for byte"
    );
    let text: std::collections::BTreeMap<String, String> = secret_data(&json!({"data": {
        "second": secret["data"]["second"], "previous": secret["data"]["previous"], "team": secret["data"]["team"],
        "found-app": secret["data"]["found-app"]}}))
    .into_iter()
    .collect();
    assert_eq!(text["second"], "bob");
    assert_eq!(text["previous"], "one");
    assert_eq!(text["team"], "blue");
    assert!(
        text["found-app"].contains("\"two\""),
        "{}",
        text["found-app"]
    );
    assert!(
        secret["data"].get("found-decoy").is_none(),
        "mixed tags must not match"
    );
}

#[test]
fn templates_and_creation_policies_shape_the_secret() {
    let env = Env::new();
    let cluster = cluster(&env, "es-shape");
    let path = unique("es-shape");
    Bao::shared().kv2_put("secret", &path, &json!({"user": "u", "pass": "p"}));
    vault_store(&cluster, "vault");
    cluster.create(
        SECRETS,
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "shared"}, "stringData": {"theirs": "kept"}}),
    );
    let extract = json!([{"extract": {"key": path}}]);
    external_secret(
        &cluster,
        "default",
        "docker",
        json!({"refreshInterval": "1h", "secretStoreRef": {"name": "vault"},
        "target": {"template": {"type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": "{\"auths\":{\"r.io\":{\"auth\":\"{{ printf \"%s:%s\" .user .pass | b64enc }}\"}}}"}}},
        "dataFrom": extract}),
    );
    external_secret(
        &cluster,
        "default",
        "merge",
        json!({"refreshInterval": "1h", "secretStoreRef": {"name": "vault"},
        "target": {"name": "shared", "creationPolicy": "Merge"}, "dataFrom": extract}),
    );
    external_secret(
        &cluster,
        "default",
        "orphan",
        json!({"refreshInterval": "1h", "secretStoreRef": {"name": "vault"},
        "target": {"creationPolicy": "Orphan"}, "dataFrom": extract}),
    );
    external_secret(
        &cluster,
        "default",
        "none",
        json!({"refreshInterval": "1h", "secretStoreRef": {"name": "vault"},
        "target": {"creationPolicy": "None"}, "dataFrom": extract}),
    );
    let _controller = controller(&env, &cluster);
    let docker = wait_secret(
        &cluster,
        "docker",
        &[(
            ".dockerconfigjson",
            "{\"auths\":{\"r.io\":{\"auth\":\"dTpw\"}}}",
        )],
    );
    assert_eq!(docker["type"], "kubernetes.io/dockerconfigjson");
    let shared = wait_secret(
        &cluster,
        "shared",
        &[("pass", "p"), ("theirs", "kept"), ("user", "u")],
    );
    assert!(
        shared["metadata"]["ownerReferences"].is_null(),
        "Merge does not own"
    );
    let orphan = wait_secret(&cluster, "orphan", &[("pass", "p"), ("user", "u")]);
    assert!(
        orphan["metadata"]["ownerReferences"].is_null(),
        "Orphan does not own"
    );
    wait_for("the None ExternalSecret to be synced", || {
        ready(&cluster, &format!("{ES}/none")).filter(|r| r.0 == "True")
    });
    assert!(cluster.get(&format!("{SECRETS}/none")).is_none());
}

#[test]
fn bad_stores_templates_and_remote_keys_are_reported_without_a_secret() {
    let env = Env::new();
    let cluster = cluster(&env, "es-bad-input");
    let bao = Bao::shared();
    let path = unique("es-bad-input");
    bao.kv2_put("secret", &path, &json!({"v": "bad-input-seeded"}));
    vault_store(&cluster, "vault");
    cluster.create(
        STORES,
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": "nocreds"},
                "spec": {"provider": {"vault": {"server": bao.url(), "path": "secret",
                    "auth": {"tokenSecretRef": {"name": "absent", "key": "token"}}}}}}),
    );
    cluster.create(
        STORES,
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": "malformed"},
                "spec": {"provider": {"aws": {"service": "ParameterStore", "region": "us-east-1"}}}}),
    );
    let data = json!([{"secretKey": "v", "remoteRef": {"key": path, "property": "v"}}]);
    external_secret(
        &cluster,
        "default",
        "nocreds",
        json!({"secretStoreRef": {"name": "nocreds"}, "data": data}),
    );
    external_secret(
        &cluster,
        "default",
        "badtpl",
        json!({"secretStoreRef": {"name": "vault"}, "data": data,
        "target": {"template": {"data": {"conf": "{{ .v | nosuchfunc }}"}}}}),
    );
    external_secret(
        &cluster,
        "default",
        "gone",
        json!({"secretStoreRef": {"name": "vault"},
        "data": [{"secretKey": "v", "remoteRef": {"key": unique("es-never-written")}}]}),
    );
    let controller = controller(&env, &cluster);
    for (store, needle) in [
        ("nocreds", "Secret default/absent does not exist"),
        ("malformed", "ParameterStore"),
    ] {
        wait_for(&format!("store {store} refused with a reason"), || {
            events_about(&cluster, store)
                .into_iter()
                .find(|e| e.0 == "InvalidProviderConfig" && e.1.contains(needle))
        });
        assert_eq!(
            ready(&cluster, &format!("{STORES}/{store}")).map(|r| (r.0, r.1)),
            Some(("False".into(), "InvalidProviderConfig".into()))
        );
    }
    for (es, needle) in [
        ("nocreds", "is not ready"),
        ("badtpl", "nosuchfunc"),
        ("gone", "ExternalSecret default/gone"),
    ] {
        wait_for(&format!("{es} to fail with an Event"), || {
            events_about(&cluster, es)
                .into_iter()
                .find(|e| e.0 == "UpdateFailed" && e.1.contains(needle))
        });
        let status = ready(&cluster, &format!("{ES}/{es}")).unwrap();
        assert_eq!(
            (status.0.as_str(), status.1.as_str()),
            ("False", "SecretSyncedError"),
            "{es}"
        );
        assert!(
            cluster.get(&format!("{SECRETS}/{es}")).is_none(),
            "{es} wrote a Secret"
        );
    }
    no_leaks(&cluster, &controller, &["bad-input-seeded"]);
}

#[test]
fn vault_find_by_path_and_name_and_jwt_from_a_secret() {
    let env = Env::new();
    let cluster = cluster(&env, "es-vault-find");
    let bao = Bao::shared();
    let root = unique("es-find");
    bao.kv2_put(
        "secret",
        &format!("{root}/db/password"),
        &json!({"v": "p1"}),
    );
    bao.kv2_put("secret", &format!("{root}/db/user"), &json!({"v": "u1"}));
    bao.kv2_put("secret", &format!("{root}/other"), &json!({"v": "o1"}));
    let k8s = unique("kubernetes");
    bao.kubernetes_auth(&k8s, &cluster.url);
    let policy = unique("es-find-read");
    bao.write_policy(
        &policy,
        "path \"secret/*\" { capabilities = [\"read\", \"list\"] }",
    );
    bao.kubernetes_role(&k8s, "finder", &["finder"], &["default"], &[&policy]);
    cluster.create(
        "/api/v1/namespaces/default/serviceaccounts",
        &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "finder"}}),
    );
    let token = cluster.create(
        "/api/v1/namespaces/default/serviceaccounts/finder/token",
        &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}),
    )["status"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    cluster.create(
        SECRETS,
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "finder-jwt"}, "stringData": {"token": token}}),
    );
    cluster.create(
        STORES,
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": "jwt"},
                "spec": {"provider": {"vault": {"server": bao.url(), "path": "secret",
                    "auth": {"kubernetes": {"mountPath": k8s, "role": "finder", "secretRef": {"name": "finder-jwt"}}}}}}}),
    );
    external_secret(
        &cluster,
        "default",
        "found",
        json!({"refreshInterval": "1h", "secretStoreRef": {"name": "jwt"},
               "dataFrom": [{"find": {"path": format!("{root}/db"), "name": {"regexp": "pass|user"}},
                             "rewrite": [{"regexp": {"source": ".*/", "target": ""}}]}]}),
    );
    let _controller = controller(&env, &cluster);
    wait_secret(
        &cluster,
        "found",
        &[("password", "{\"v\":\"p1\"}"), ("user", "{\"v\":\"u1\"}")],
    );
}

#[test]
fn create_or_merge_and_deletion_merge_keep_foreign_keys() {
    let env = Env::new();
    let cluster = cluster(&env, "es-merge");
    let bao = Bao::shared();
    let path = unique("es-merge");
    bao.kv2_put("secret", &path, &json!({"ours": "o"}));
    vault_store(&cluster, "vault");
    cluster.create(
        SECRETS,
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pre"}, "stringData": {"theirs": "t"}}),
    );
    external_secret(
        &cluster,
        "default",
        "com",
        json!({"refreshInterval": "1s", "secretStoreRef": {"name": "vault"},
               "target": {"name": "pre", "creationPolicy": "CreateOrMerge", "deletionPolicy": "Merge"},
               "dataFrom": [{"extract": {"key": path}}]}),
    );
    let _controller = controller(&env, &cluster);
    let merged = wait_secret(&cluster, "pre", &[("ours", "o"), ("theirs", "t")]);
    assert!(merged["metadata"]["ownerReferences"].is_null());
    // The remote secret goes: deletionPolicy Merge removes only the keys this ExternalSecret wrote.
    bao.request("DELETE", &format!("secret/metadata/{path}"), None);
    wait_secret(&cluster, "pre", &[("theirs", "t")]);
}

#[test]
fn aws_roles_and_web_identity_credentials() {
    let env = Env::new();
    let cluster = cluster(&env, "es-aws-roles");
    let moto = Moto::shared();
    let name = unique("es-aws-roles");
    moto.request(
        "CreateSecret",
        &json!({"Name": name, "SecretString": "role-value"}),
    );
    let creds = aws_credentials(&cluster);
    let stores = [
        (
            "role",
            json!({"auth": creds, "role": "arn:aws:iam::123456789012:role/reader",
                        "additionalRoles": ["arn:aws:iam::123456789012:role/hop"], "externalID": "ext-1"}),
        ),
        (
            "irsa",
            json!({"auth": {"jwt": {"serviceAccountRef": {"name": "irsa"}}}}),
        ),
        ("ambient", json!({})),
    ];
    for (store, extra) in &stores {
        aws_store(&cluster, store, extra);
        external_secret(
            &cluster,
            "default",
            store,
            json!({"refreshInterval": "1h", "secretStoreRef": {"name": store},
                   "data": [{"secretKey": "v", "remoteRef": {"key": name}}]}),
        );
    }
    // The controller's own credentials (the SDK's default chain): a web identity token file
    // and a role, as EKS sets them for a pod.
    let token_file = env.path("web-identity-token");
    std::fs::write(&token_file, "header.payload.signature").unwrap();
    let _controller = Controller::start_with_env(
        &env,
        &cluster,
        &["--key-size=2048"],
        &[
            ("AWS_SECRETSMANAGER_ENDPOINT", moto.url().to_owned()),
            ("AWS_STS_ENDPOINT", moto.url().to_owned()),
            ("AWS_ENDPOINT_URL_STS", moto.url().to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            (
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                token_file.display().to_string(),
            ),
            (
                "AWS_ROLE_ARN",
                "arn:aws:iam::123456789012:role/controller".to_owned(),
            ),
            ("AWS_REGION", "us-east-1".to_owned()),
        ],
    );
    for (store, _) in &stores {
        wait_secret(&cluster, store, &[("v", "role-value")]);
    }
    assert!(
        cluster.token_requests("default", "irsa") >= 1,
        "the jwt store requested a token"
    );
}

#[test]
fn roles_and_web_identity_go_through_sts_and_name_the_field_when_it_fails() {
    let env = Env::new();
    let cluster = cluster(&env, "es-aws-sts-down");
    let moto = Moto::shared();
    let name = unique("es-aws-sts-down");
    moto.request(
        "CreateSecret",
        &json!({"Name": name, "SecretString": "static-value"}),
    );
    let creds = aws_credentials(&cluster);
    for (store, extra) in [
        ("static", json!({"auth": creds})),
        (
            "role",
            json!({"auth": creds, "role": "arn:aws:iam::123456789012:role/reader"}),
        ),
        (
            "irsa",
            json!({"auth": {"jwt": {"serviceAccountRef": {"name": "irsa"}}}}),
        ),
    ] {
        aws_store(&cluster, store, &extra);
    }
    external_secret(
        &cluster,
        "default",
        "static",
        json!({"refreshInterval": "1h", "secretStoreRef": {"name": "static"},
               "data": [{"secretKey": "v", "remoteRef": {"key": name}}]}),
    );
    // Secrets Manager answers; STS does not (nothing listens on port 9).
    let _controller = Controller::start_with_env(
        &env,
        &cluster,
        &["--key-size=2048"],
        &[
            ("AWS_SECRETSMANAGER_ENDPOINT", moto.url().to_owned()),
            ("AWS_STS_ENDPOINT", "http://127.0.0.1:9".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ],
    );
    wait_secret(&cluster, "static", &[("v", "static-value")]);
    for (store, field) in [
        ("role", "spec.provider.aws.role"),
        ("irsa", "spec.provider.aws.auth.jwt"),
    ] {
        wait_for(&format!("store {store} to fail naming {field}"), || {
            events_about(&cluster, store)
                .into_iter()
                .find(|e| e.0 == "InvalidProviderConfig" && e.1.contains(field))
        });
    }
}

/// A Secret with static AWS keys and a ServiceAccount annotated with a role (as EKS's IRSA
/// does); returns the `auth.secretRef` block that reads the keys.
fn aws_credentials(cluster: &Cluster) -> Value {
    cluster.create(
        SECRETS,
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "aws-creds"},
                "stringData": {"id": "AKIDEXAMPLE", "key": "not-a-real-key"}}),
    );
    cluster.create(
        "/api/v1/namespaces/default/serviceaccounts",
        &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "irsa",
                "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/irsa"}}}),
    );
    json!({"secretRef": {"accessKeyIDSecretRef": {"name": "aws-creds", "key": "id"},
                         "secretAccessKeySecretRef": {"name": "aws-creds", "key": "key"}}})
}

/// A Secrets Manager SecretStore in us-east-1 with `extra` provider fields.
fn aws_store(cluster: &Cluster, name: &str, extra: &Value) {
    let mut aws = json!({"service": "SecretsManager", "region": "us-east-1"});
    aws.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    cluster.create(
        STORES,
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": name},
                "spec": {"provider": {"aws": aws}}}),
    );
}

#[test]
fn a_renamed_target_replaces_the_secret_of_the_old_name() {
    let env = Env::new();
    let cluster = cluster(&env, "es-rename");
    let bao = Bao::shared();
    let path = unique("es-rename");
    bao.kv2_put("secret", &path, &json!({"v": "renamed"}));
    vault_store(&cluster, "vault");
    let spec = |target: &str| {
        json!({"refreshInterval": "1h", "secretStoreRef": {"name": "vault"},
               "target": {"name": target},
               "data": [{"secretKey": "v", "remoteRef": {"key": path, "property": "v"}}]})
    };
    external_secret(&cluster, "default", "app", spec("first"));
    let _controller = controller(&env, &cluster);
    wait_secret(&cluster, "first", &[("v", "renamed")]);
    let mut es = cluster.get(&format!("{ES}/app")).unwrap();
    es["spec"] = spec("second");
    cluster.replace(&format!("{ES}/app"), &es);
    wait_secret(&cluster, "second", &[("v", "renamed")]);
    wait_for("the Secret of the old name to go", || {
        cluster
            .get(&format!("{SECRETS}/first"))
            .is_none()
            .then_some(())
    });
}

#[test]
fn an_external_secret_s_aws_values_come_in_one_batch_call() {
    let env = Env::new();
    let cluster = cluster(&env, "es-aws-batch");
    let base = unique("es-aws-batch");
    for (i, value) in ["one", "two", "three"].iter().enumerate() {
        Moto::shared().request(
            "CreateSecret",
            &json!({"Name": format!("{base}/{i}"), "SecretString": format!(r#"{{"v":"{value}"}}"#)}),
        );
    }
    let creds = aws_credentials(&cluster);
    aws_store(&cluster, "batched", &json!({"auth": creds}));
    let data: Vec<Value> = (0..3)
        .map(|i| json!({"secretKey": format!("k{i}"), "remoteRef": {"key": format!("{base}/{i}"), "property": "v"}}))
        .collect();
    external_secret(
        &cluster,
        "default",
        "batched",
        json!({"refreshInterval": "1h", "secretStoreRef": {"name": "batched"}, "data": data}),
    );
    let controller = controller(&env, &cluster);
    wait_secret(
        &cluster,
        "batched",
        &[("k0", "one"), ("k1", "two"), ("k2", "three")],
    );
    // ESO: three GetSecretValue calls. sealbox: one BatchGetSecretValue.
    let calls: Vec<String> = controller
        .metrics()
        .body
        .lines()
        .filter(|l| l.starts_with("externalsecret_provider_api_calls_count{"))
        .filter(|l| l.contains("store_name=\"batched\"") && !l.ends_with(" 0"))
        .map(|l| {
            let call = l
                .split("call=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            format!("{call} {}", l.rsplit(' ').next().unwrap())
        })
        .collect();
    assert_eq!(calls, ["BatchGetSecretValue 1"]);
}

#[test]
fn with_namespace_a_cluster_store_is_read_on_demand_not_watched() {
    let env = Env::new();
    let cluster = cluster(&env, "es-css-namespace");
    let bao = Bao::shared();
    let path = unique("es-css-ns");
    bao.kv2_put("secret", &path, &json!({"v": "one-namespace"}));
    namespace(&cluster, "team-a", json!({}));
    cluster.create(
        "/api/v1/namespaces/team-a/secrets",
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bao"},
                "stringData": {"token": bao.root_token()}}),
    );
    let css = "/apis/external-secrets.io/v1/clustersecretstores";
    cluster.create(
        css,
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore", "metadata": {"name": "shared"},
                "spec": {"provider": {"vault": {"server": bao.url(), "path": "secret",
                    "auth": {"tokenSecretRef": {"name": "bao", "namespace": "team-a", "key": "token"}}}}}}),
    );
    external_secret(
        &cluster,
        "team-a",
        "app",
        json!({"refreshInterval": "1h", "secretStoreRef": {"name": "shared", "kind": "ClusterSecretStore"},
               "data": [{"secretKey": "v", "remoteRef": {"key": path, "property": "v"}}]}),
    );
    // One namespace: its RBAC may be a Role, so no cluster-wide watch. Nothing validates the
    // ClusterSecretStore here (ESO's cluster-wide instance would), hence no flood gate.
    let _controller = Controller::start(
        &env,
        &cluster,
        &[
            "--key-size=2048",
            "--namespace=team-a",
            "--enable-flood-gate=false",
        ],
    );
    wait_for("the team-a Secret", || {
        cluster
            .get("/api/v1/namespaces/team-a/secrets/app")
            .filter(|s| secret_data(s) == [("v".to_owned(), "one-namespace".to_owned())])
    });
    assert!(cluster.requests(&format!("GET {css}/shared")) >= 1);
    assert_eq!(cluster.requests(&format!("WATCH {css}")), 0);
}
