//! docs/runbooks/secretstore-credentials-rotation.md, run from its markdown (tests/runbook.rs):
//! each shell block in order, each twice, with the real `sealbox`, `kubectl` and OpenBao's CLI
//! (as `vault`, the name the runbook uses) against the Kubernetes API emulator, the test
//! process's OpenBao and a `sealbox-controller`. The world changes between the steps as it
//! would (new values at the provider), so each check tells a fresh read from an old one.

use std::process::Command;

use sealbox_tests::cluster::{Cluster, Controller, wait_for};
use sealbox_tests::runbook::{Runbook, Shell, edited, emulator_tools, twice, use_cluster};
use sealbox_tests::servers::{Bao, unique};
use sealbox_tests::{Env, crdgen_bin};
use serde_json::{Value, json};

use crate::runbooks::secret_value;

/// The names the runbook uses.
const NS: &str = "team-a";
const MOUNT: &str = "approle";
const ROLE: &str = "eso-team-a";
const CREDENTIALS: &str = "/api/v1/namespaces/team-a/secrets/vault-approle";
const ES: &str = "/apis/external-secrets.io/v1/namespaces/team-a/externalsecrets";

/// The current time as `refreshTime` spells it (RFC 3339, seconds, UTC), so that the two
/// compare as strings.
fn now_rfc3339() -> String {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("run date");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Version `n` of the provider's values for the store's two ExternalSecrets.
fn put_values(bao: &Bao, base: &str, n: u32) {
    bao.kv2_put(
        "secret",
        &format!("{base}/db"),
        &json!({"password": format!("db-pw-{n}")}),
    );
    bao.kv2_put(
        "secret",
        &format!("{base}/api"),
        &json!({"user": "svc", "token": format!("api-token-{n}")}),
    );
}

/// Whether the Secrets hold version `n` of the values.
fn holds_values(cluster: &Cluster, n: u32) -> bool {
    let secret = |name: &str| cluster.get(&format!("/api/v1/namespaces/{NS}/secrets/{name}"));
    let (Some(db), Some(api)) = (secret("db"), secret("api")) else {
        return false;
    };
    secret_value(&db, "password") == Some(format!("db-pw-{n}"))
        && secret_value(&api, "token") == Some(format!("api-token-{n}"))
        && secret_value(&api, "user").as_deref() == Some("svc")
}

/// Asserts that both ExternalSecrets are `Ready=True` from a sync that started at `since` or
/// later.
fn assert_synced_since(cluster: &Cluster, since: &str) {
    for name in ["db", "api"] {
        let es = cluster.get(&format!("{ES}/{name}")).unwrap();
        let status = &es["status"];
        let ready = status["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
            .unwrap_or_else(|| panic!("{name}: no Ready condition: {status}"));
        assert_eq!(ready["status"], "True", "{name}: {status}");
        let refreshed = status["refreshTime"].as_str().unwrap_or_default();
        assert!(
            refreshed >= since,
            "{name} last synced at {refreshed}, before {since}"
        );
    }
}

/// Whether `secret_id` logs in with the role.
fn logs_in(bao: &Bao, role_id: &str, secret_id: &str) -> bool {
    let reply = bao.login(MOUNT, &json!({"role_id": role_id, "secret_id": secret_id}));
    match reply.status {
        200 => true,
        400 => false,
        other => panic!("AppRole login: {other} {}", reply.body),
    }
}

/// The accessors of the role's secret-ids.
fn secret_id_accessors(bao: &Bao) -> Vec<String> {
    let reply = bao.call(
        "LIST",
        &format!("auth/{MOUNT}/role/{ROLE}/secret-id"),
        Some(bao.root_token()),
        None,
    );
    if reply.status == 404 {
        return Vec::new();
    }
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["data"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

fn credential(cluster: &Cluster) -> String {
    let secret = cluster.get(CREDENTIALS).expect("the credentials Secret");
    secret_value(&secret, "secret-id").expect("a secret-id")
}

#[test]
fn secretstore_credentials_rotation() {
    let env = Env::new();
    let book = Runbook::load("docs/runbooks/secretstore-credentials-rotation.md");
    assert_eq!(
        book.headings(),
        [
            "1. Check that the store works now",
            "2. Make a new secret-id and put it in the store's Secret",
            "3. Sync every ExternalSecret of the store with it",
            "4. Revoke the old secret-id",
            "5. Sync again, with the new secret-id alone",
        ]
    );
    let step = |n: usize| &book.steps[n - 1];

    // The provider: two secrets, a policy that reads them, and the store's AppRole role.
    let bao = Bao::shared();
    let base = unique("rotation");
    put_values(bao, &base, 1);
    let policy = unique("rotation-read");
    bao.write_policy(
        &policy,
        &format!("path \"secret/data/{base}/*\" {{ capabilities = [\"read\"] }}"),
    );
    let (role_id, old_secret_id) = bao.approle(MOUNT, ROLE, &[&policy]);

    // The cluster: the store logging in with the old secret-id, two ExternalSecrets using it,
    // and the controller. Stores are checked at start and then hourly, so the check cannot
    // fall in the moment the test puts a wrong secret-id in (below) and hold the store back.
    let crds = Command::new(crdgen_bin()).output().expect("crdgen").stdout;
    let crds = env.write("crds.yaml", crds);
    let cluster = Cluster::start_with_crds(&env, "rotation", &[&crds]);
    cluster.create(
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
    );
    cluster.create(
        &format!("/api/v1/namespaces/{NS}/secrets"),
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "vault-approle"},
                "stringData": {"secret-id": old_secret_id}}),
    );
    cluster.create(
        &format!("/apis/external-secrets.io/v1/namespaces/{NS}/secretstores"),
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": "vault"},
                "spec": {"provider": {"vault": {"server": bao.url(), "path": "secret", "version": "v2",
                    "auth": {"appRole": {"path": MOUNT, "roleId": role_id,
                        "secretRef": {"name": "vault-approle", "key": "secret-id"}}}}}}}),
    );
    let external_secret = |name: &str, spec: Value| {
        cluster.create(
            ES,
            &json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                    "metadata": {"name": name}, "spec": spec}),
        );
    };
    external_secret(
        "db",
        json!({"refreshInterval": "1h", "secretStoreRef": {"name": "vault", "kind": "SecretStore"},
               "data": [{"secretKey": "password", "remoteRef": {"key": format!("{base}/db"), "property": "password"}}]}),
    );
    external_secret(
        "api",
        json!({"refreshInterval": "1h", "secretStoreRef": {"name": "vault"},
               "dataFrom": [{"extract": {"key": format!("{base}/api")}}]}),
    );
    let controller = Controller::start(
        &env,
        &cluster,
        &["--key-size=2048", "--store-requeue-interval=1h"],
    );
    wait_for("the first sync", || holds_values(&cluster, 1).then_some(()));

    let work = env.path("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut shell = Shell::new(&work);
    emulator_tools(&shell);
    shell.var("KUBECONFIG", work.join("kubeconfig").display().to_string());
    use_cluster(&shell, &cluster);
    let bao_bin = std::env::var("SEALBOX_BAO").expect("SEALBOX_BAO (scripts/test.sh sets it)");
    shell.tool("vault", &format!("exec {bao_bin} \"$@\""));
    shell.var("VAULT_ADDR", bao.url());
    shell.var("VAULT_TOKEN", bao.root_token());

    // 1. The store works before the rotation.
    let printed = twice(&shell, &book, step(1));
    for name in ["db", "api"] {
        assert!(
            printed.contains(&format!("{NS}/{name}: synced")),
            "{printed}"
        );
    }

    // A wrong new secret-id is caught by step 3, before anything is revoked: step 2 edited to
    // put one in, then step 3 fails, and so does the test that runs it.
    let wrong = edited(
        step(2),
        &format!("vault write -f -field=secret_id auth/{MOUNT}/role/{ROLE}/secret-id"),
        "printf not-a-secret-id",
    );
    shell.run(&book, &wrong);
    assert_eq!(credential(&cluster), "not-a-secret-id");
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        shell.run(&book, step(3));
    }));
    let message = match caught {
        Ok(()) => panic!("step 3 passed with a wrong secret-id in the Secret"),
        Err(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default(),
    };
    assert!(
        message.contains(&format!("{NS}/db: failed")) && message.contains("Ready=False"),
        "{message}"
    );
    assert!(logs_in(bao, &role_id, &old_secret_id));

    // 2. The new secret-id, twice: the Secret holds the second; both new ones and the old
    // one log in (nothing is revoked yet).
    let rotated_at = now_rfc3339();
    shell.run(&book, step(2));
    let spare = credential(&cluster);
    shell.run(&book, step(2));
    let new_secret_id = credential(&cluster);
    for (what, id) in [
        ("old", &old_secret_id),
        ("spare", &spare),
        ("new", &new_secret_id),
    ] {
        assert!(
            logs_in(bao, &role_id, id),
            "the {what} secret-id does not log in"
        );
    }
    assert_ne!(new_secret_id, spare);
    assert_ne!(new_secret_id, old_secret_id);
    assert_eq!(secret_id_accessors(bao).len(), 3);
    let fresh = cluster.get(CREDENTIALS).unwrap();
    assert!(
        !fresh.to_string().contains("last-applied-configuration"),
        "the secret-id was copied into an annotation: {fresh}"
    );

    // 3. New values at the provider; the refresh reads them, logged in with the new secret-id.
    put_values(bao, &base, 2);
    let printed = twice(&shell, &book, step(3));
    assert!(printed.contains(&format!("{NS}/api: synced")), "{printed}");
    assert_synced_since(&cluster, &rotated_at);
    assert!(
        holds_values(&cluster, 2),
        "the Secrets do not hold the new values"
    );

    // 4. The old secret-id and the spare no longer log in; the new one does.
    let revoked_at = now_rfc3339();
    twice(&shell, &book, step(4));
    assert!(
        !logs_in(bao, &role_id, &old_secret_id),
        "the old secret-id still logs in"
    );
    assert!(
        !logs_in(bao, &role_id, &spare),
        "the spare secret-id still logs in"
    );
    assert!(logs_in(bao, &role_id, &new_secret_id));
    assert_eq!(secret_id_accessors(bao).len(), 1);

    // 5. With the new secret-id alone, the store still syncs new values.
    put_values(bao, &base, 3);
    let printed = twice(&shell, &book, step(5));
    assert!(printed.contains(&format!("{NS}/db: synced")), "{printed}");
    assert_synced_since(&cluster, &revoked_at);
    assert!(
        holds_values(&cluster, 3),
        "the Secrets do not hold the newest values"
    );

    // No secret-id in what the controller reports: its log, Events, statuses.
    let mut reported = controller.log();
    for path in [
        "/api/v1/namespaces/team-a/events",
        ES,
        "/apis/external-secrets.io/v1/namespaces/team-a/secretstores",
    ] {
        reported.push_str(&serde_json::to_string(&cluster.list(path)).unwrap());
    }
    for id in [&old_secret_id, &spare, &new_secret_id] {
        assert!(!reported.contains(id.as_str()), "a secret-id leaked");
    }
}
