//! Provider clients kept across reconciles and reads shared (issue 14, spec §14.1–§14.3), seen
//! from the providers: OpenBao's audit log counts the logins, renewals, revocations and reads;
//! the emulator counts the ServiceAccount TokenRequests each AWS web-identity client starts
//! with.

use std::process::Command;
use std::time::Duration;

use sealbox_crypto::sealed::{decode_base64, encode_base64};
use sealbox_tests::cluster::{Cluster, Controller, wait_for};
use sealbox_tests::servers::{AuditedBao, Bao, Moto, unique};
use sealbox_tests::{Env, crdgen_bin};
use serde_json::{Value, json};

const ES: &str = "/apis/external-secrets.io/v1/namespaces/default/externalsecrets";
const STORES: &str = "/apis/external-secrets.io/v1/namespaces/default/secretstores";
const SECRETS: &str = "/api/v1/namespaces/default/secrets";

fn cluster(env: &Env, name: &str) -> Cluster {
    let out = Command::new(crdgen_bin()).output().expect("run crdgen");
    assert!(out.status.success(), "crdgen failed");
    let crds = env.write("crds.yaml", &out.stdout);
    Cluster::start_with_crds(env, name, &[&crds])
}

/// The text of `key` in the Secret `name`, if both exist.
fn value(cluster: &Cluster, name: &str, key: &str) -> Option<String> {
    let secret = cluster.get(&format!("{SECRETS}/{name}"))?;
    let b64 = secret["data"][key].as_str()?;
    Some(String::from_utf8(decode_base64(b64).unwrap()).unwrap())
}

fn wait_value(cluster: &Cluster, names: &[String], key: &str, want: &str) {
    for name in names {
        wait_for(&format!("{name}.{key} = {want}"), || {
            (value(cluster, name, key).as_deref() == Some(want)).then_some(())
        });
    }
}

/// The sum of `externalsecret_provider_api_calls_count` over the series that carry every
/// label of `labels` (e.g. `call="Login"`).
fn provider_calls(controller: &Controller, labels: &[&str]) -> u64 {
    let text = controller.metrics().body;
    text.lines()
        .filter(|l| l.starts_with("externalsecret_provider_api_calls_count{"))
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

/// An audit time in RFC 3339 UTC (`2026-12-01T06:50:01.123456789Z`) as seconds since the start
/// of its month: enough to compare requests seconds apart.
fn seconds(t: &str) -> f64 {
    let (date, time) = t.trim_end_matches('Z').split_once('T').unwrap();
    let day: f64 = date.rsplit('-').next().unwrap().parse().unwrap();
    let hms: Vec<f64> = time.split(':').map(|p| p.parse().unwrap()).collect();
    ((day * 24.0 + hms[0]) * 60.0 + hms[1]) * 60.0 + hms[2]
}

/// `count` ExternalSecrets reading `remote` through `store` every second: their names.
fn external_secrets(cluster: &Cluster, store: &str, count: usize, remote: &Value) -> Vec<String> {
    refreshing(cluster, store, count, remote, "1s")
}

/// `count` ExternalSecrets reading `remote` through `store` every `interval`: their names.
fn refreshing(
    cluster: &Cluster,
    store: &str,
    count: usize,
    remote: &Value,
    interval: &str,
) -> Vec<String> {
    (0..count)
        .map(|i| {
            let name = format!("{store}-{i}");
            cluster.create(
                ES,
                &json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                        "metadata": {"name": name},
                        "spec": {"refreshInterval": interval, "secretStoreRef": {"name": store},
                                 "data": [{"secretKey": "v", "remoteRef": remote}]}}),
            );
            name
        })
        .collect()
}

/// `count` Vault keys holding `{"v": "v1"}` and as many ExternalSecrets `store-N`, each reading
/// its own key's `v` through `store` every `interval`: the keys and the names.
fn one_key_each(
    bao: &Bao,
    cluster: &Cluster,
    store: &str,
    count: usize,
    interval: &str,
) -> (Vec<String>, Vec<String>) {
    let base = unique(store);
    let keys: Vec<String> = (0..count).map(|i| format!("{base}/key-{i}")).collect();
    let names = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            bao.kv2_put("secret", key, &json!({"v": "v1"}));
            let name = format!("{store}-{i}");
            cluster.create(
                ES,
                &json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                        "metadata": {"name": name},
                        "spec": {"refreshInterval": interval, "secretStoreRef": {"name": store},
                                 "data": [{"secretKey": "v", "remoteRef": {"key": key, "property": "v"}}]}}),
            );
            name
        })
        .collect();
    (keys, names)
}

/// An audited OpenBao of the test's own with a `read` policy on every KV v2 secret.
fn audited_bao() -> AuditedBao {
    let bao = Bao::start_audited();
    bao.write_policy(
        "read",
        r#"path "secret/data/*" { capabilities = ["read"] }"#,
    );
    bao
}

/// An AppRole at its own mount `mount` whose tokens live `ttl` and at most `max_ttl`, a
/// Secret with its secret-id, and a SecretStore `mount` logging in with it.
fn approle_store(bao: &Bao, cluster: &Cluster, mount: &str, ttl: &str, max_ttl: &str) -> String {
    let (role_id, secret_id) = bao.approle(mount, "app", &["read"]);
    bao.request(
        "POST",
        &format!("auth/{mount}/role/app"),
        Some(&json!({"token_ttl": ttl, "token_max_ttl": max_ttl})),
    );
    cluster.create(
        SECRETS,
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": mount},
                "stringData": {"secret-id": secret_id}}),
    );
    cluster.create(
        STORES,
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": mount},
                "spec": {"provider": {"vault": {"server": bao.url(), "path": "secret", "version": "v2",
                    "auth": {"appRole": {"path": mount, "roleId": role_id,
                        "secretRef": {"name": mount, "key": "secret-id"}}}}}}}),
    );
    secret_id
}

#[test]
fn a_vault_token_is_renewed_not_replaced_until_its_credentials_change_or_its_max_ttl() {
    let env = Env::new();
    let bao = audited_bao();
    let base = unique("clients");
    bao.kv2_put("secret", &format!("{base}/db"), &json!({"password": "v1"}));
    let cluster = cluster(&env, "es-clients-vault");
    // Renewed every 3 s (half of 6 s) for an hour; the other cannot outlive 8 s.
    let old_secret_id = approle_store(&bao, &cluster, "renewing", "6s", "1h");
    approle_store(&bao, &cluster, "capped", "6s", "8s");
    let remote = json!({"key": format!("{base}/db"), "property": "password"});
    let renewing = external_secrets(&cluster, "renewing", 3, &remote);
    let capped = external_secrets(&cluster, "capped", 1, &remote);
    let controller = Controller::start(&env, &cluster, &["--key-size=2048"]);
    wait_value(&cluster, &renewing, "v", "v1");
    wait_value(&cluster, &capped, "v", "v1");

    let logins = |mount: &str| bao.requests("update", &format!("auth/{mount}/login")).len();
    let renewals = || bao.requests("update", "auth/token/renew-self").len();
    let revocations = || bao.requests("update", "auth/token/revoke-self").len();
    // Four ExternalSecrets read every second, the store is validated: over two TTLs (12 s) of
    // that, the renewing store's token is renewed, never replaced, and reads go on.
    wait_for("five renewals", || (renewals() >= 5).then_some(()));
    std::thread::sleep(Duration::from_secs(3));
    bao.kv2_put("secret", &format!("{base}/db"), &json!({"password": "v2"}));
    wait_value(&cluster, &renewing, "v", "v2");
    assert_eq!(logins("renewing"), 1, "the renewing store logged in again");
    // The controller's own count of its calls agrees with OpenBao's audit log.
    let renewing_calls = |call: &str| {
        let call = format!("call=\"{call}\"");
        provider_calls(
            &controller,
            &[&call, "store_name=\"renewing\"", "status=\"success\""],
        )
    };
    assert_eq!(renewing_calls("Login"), 1);
    assert!(renewing_calls("RenewSelf") >= 3);
    let reads = bao
        .requests("read", &format!("secret/data/{base}/db"))
        .len();
    assert!(
        reads >= 9,
        "only {reads} reads: the ExternalSecrets did not refresh"
    );
    // The capped store's token cannot outlive 8 s: a new login replaces it, and the spent
    // token is revoked.
    wait_for("the capped store to log in again", || {
        (logins("capped") >= 2).then_some(())
    });
    wait_value(&cluster, &capped, "v", "v2");

    // A new secret-id in the store's Secret: the next reconcile logs in with it (one login)
    // and the replaced token is revoked; the old secret-id, destroyed, is not needed again.
    let revoked_before = revocations();
    let new_secret_id =
        bao.request("POST", "auth/renewing/role/app/secret-id", None)["data"]["secret_id"]
            .as_str()
            .unwrap()
            .to_owned();
    let mut secret = cluster.get(&format!("{SECRETS}/renewing")).unwrap();
    secret["data"]["secret-id"] = json!(encode_base64(new_secret_id.as_bytes()));
    cluster.replace(&format!("{SECRETS}/renewing"), &secret);
    wait_for("a login with the new secret-id", || {
        (logins("renewing") == 2).then_some(())
    });
    wait_for("the replaced token's revocation", || {
        (revocations() > revoked_before).then_some(())
    });
    bao.request(
        "POST",
        "auth/renewing/role/app/secret-id/destroy",
        Some(&json!({"secret_id": old_secret_id})),
    );
    bao.kv2_put("secret", &format!("{base}/db"), &json!({"password": "v3"}));
    wait_value(&cluster, &renewing, "v", "v3");
    assert_eq!(logins("renewing"), 2);

    let log = controller.log();
    for id in [&old_secret_id, &new_secret_id] {
        assert!(!log.contains(id.as_str()), "a secret-id is in the log");
    }
}

#[test]
fn an_aws_web_identity_client_is_built_once_and_again_when_its_service_account_changes() {
    let env = Env::new();
    let cluster = cluster(&env, "es-clients-aws");
    let moto = Moto::shared();
    let name = unique("es-clients-aws");
    moto.request("CreateSecret", &json!({"Name": name, "SecretString": "v1"}));
    let account = "/api/v1/namespaces/default/serviceaccounts";
    cluster.create(
        account,
        &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "irsa",
                "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/irsa"}}}),
    );
    cluster.create(
        STORES,
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": "irsa"},
                "spec": {"provider": {"aws": {"service": "SecretsManager", "region": "us-east-1",
                    "role": "arn:aws:iam::123456789012:role/reader",
                    "auth": {"jwt": {"serviceAccountRef": {"name": "irsa"}}}}}}}),
    );
    let names = external_secrets(&cluster, "irsa", 5, &json!({"key": name}));
    let controller = Controller::start_with_env(
        &env,
        &cluster,
        &["--key-size=2048"],
        &[
            ("AWS_SECRETSMANAGER_ENDPOINT", moto.url().to_owned()),
            ("AWS_STS_ENDPOINT", moto.url().to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ],
    );
    wait_value(&cluster, &names, "v", "v1");
    // Five ExternalSecrets refreshing every second for 4 s, and the store's validation: one
    // client, so one ServiceAccount token (and one pair of STS exchanges).
    std::thread::sleep(Duration::from_secs(4));
    moto.request(
        "PutSecretValue",
        &json!({"SecretId": name, "SecretString": "v2"}),
    );
    wait_value(&cluster, &names, "v", "v2");
    assert_eq!(cluster.token_requests("default", "irsa"), 1);
    let sts = |call: &str| {
        let call = format!("call=\"{call}\"");
        provider_calls(
            &controller,
            &["provider=\"AWS/STS\"", &call, "status=\"success\""],
        )
    };
    assert_eq!(sts("AssumeRoleWithWebIdentity"), 1);
    assert_eq!(sts("AssumeRole"), 1);
    let reads = provider_calls(
        &controller,
        &[
            "call=\"GetSecretValue\"",
            "store_kind=\"SecretStore\"",
            "store_name=\"irsa\"",
        ],
    );
    // Five ExternalSecrets on one key share a slot: about one read a second (plus the first
    // syncs), far fewer than one each.
    assert!(
        (3..20).contains(&reads),
        "{reads} reads in about 5 s of five ExternalSecrets refreshing every second"
    );

    // Another role on the ServiceAccount: the client is rebuilt with it.
    let mut sa = cluster.get(&format!("{account}/irsa")).unwrap();
    sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] =
        json!("arn:aws:iam::123456789012:role/irsa-2");
    cluster.replace(&format!("{account}/irsa"), &sa);
    wait_for("a new client for the changed ServiceAccount", || {
        (cluster.token_requests("default", "irsa") == 2).then_some(())
    });
    moto.request(
        "PutSecretValue",
        &json!({"SecretId": name, "SecretString": "v3"}),
    );
    wait_value(&cluster, &names, "v", "v3");
    assert_eq!(cluster.token_requests("default", "irsa"), 2);
    assert_eq!(sts("AssumeRoleWithWebIdentity"), 2);
}

#[test]
fn fifty_external_secrets_on_one_key_make_one_read_per_refresh() {
    let env = Env::new();
    let bao = audited_bao();
    let key = format!("{}/shared", unique("dedup"));
    bao.kv2_put("secret", &key, &json!({"password": "v1"}));
    let cluster = cluster(&env, "es-clients-dedup");
    approle_store(&bao, &cluster, "shared", "1h", "2h");
    let remote = json!({"key": key, "property": "password"});
    let names = refreshing(&cluster, "shared", 50, &remote, "4s");
    let controller = Controller::start(&env, &cluster, &["--key-size=2048"]);
    wait_value(&cluster, &names, "v", "v1");
    let reads = || bao.requests("read", &format!("secret/data/{key}"));
    let first = reads().len();

    // Five refresh intervals: all fifty refresh in each (a new value reaches every Secret),
    // on one shared slot, with one read each time.
    std::thread::sleep(Duration::from_secs(10));
    bao.kv2_put("secret", &key, &json!({"password": "v2"}));
    wait_value(&cluster, &names, "v", "v2");
    std::thread::sleep(Duration::from_secs(10 - 4));
    let times: Vec<String> = reads().split_off(first);
    assert!(
        (4..=6).contains(&times.len()),
        "{} reads in 20 s of fifty ExternalSecrets refreshing every 4 s: {times:?}",
        times.len()
    );
    for pair in times.windows(2) {
        let gap = seconds(&pair[1]) - seconds(&pair[0]);
        assert!(gap > 3.0, "two reads {gap:.3} s apart: {times:?}");
    }
    let counted = provider_calls(
        &controller,
        &["call=\"ReadSecretData\"", "store_name=\"shared\""],
    );
    assert_eq!(counted, u64::try_from(reads().len()).unwrap());
    // The store comes from the watch, as in ESO's informer cache: the reconciles that read
    // each target Secret (fifty ExternalSecrets, five refreshes each) never GET it.
    assert!(cluster.requests(&format!("GET {SECRETS}/shared-0")) >= 5);
    assert_eq!(cluster.requests(&format!("GET {STORES}/shared")), 0);
}

#[test]
fn a_throttling_provider_gets_exponentially_fewer_calls_and_every_secret_keeps_its_value() {
    let env = Env::new();
    let bao = audited_bao();
    let cluster = cluster(&env, "es-clients-throttled");
    approle_store(&bao, &cluster, "limited", "1h", "2h");
    let (keys, names) = one_key_each(&bao, &cluster, "limited", 10, "1s");
    let controller = Controller::start(
        &env,
        &cluster,
        &["--key-size=2048", "--store-backoff-max=16s"],
    );
    wait_value(&cluster, &names, "v", "v1");

    // OpenBao's own rate limit on the KV mount: one read an hour. Each of the ten
    // ExternalSecrets would read every second (ESO: 300 calls in 30 s).
    bao.request(
        "POST",
        "sys/quotas/rate-limit/kv",
        Some(&json!({"rate": 1, "interval": "1h", "path": "secret/"})),
    );
    let throttled = || {
        provider_calls(
            &controller,
            &[
                "call=\"ReadSecretData\"",
                "status=\"error\"",
                "store_name=\"limited\"",
            ],
        )
    };
    let start = std::time::Instant::now();
    let mut calls_at: Vec<f64> = Vec::new();
    let mut last = throttled();
    while start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(250));
        let now = throttled();
        for _ in last..now {
            calls_at.push(start.elapsed().as_secs_f64());
        }
        last = now;
    }
    assert!(
        (2..=25).contains(&calls_at.len()),
        "{} throttled calls in 30 s: {calls_at:?}",
        calls_at.len()
    );
    // The pauses double: the last calls are far apart.
    let gaps: Vec<f64> = calls_at.windows(2).map(|w| w[1] - w[0]).collect();
    let longest = gaps.iter().copied().fold(0.0, f64::max);
    assert!(longest >= 7.0, "gaps between calls {gaps:?}");
    let late = calls_at.iter().filter(|t| **t >= 15.0).count();
    let early = calls_at.iter().filter(|t| **t < 15.0).count();
    assert!(
        late < early,
        "{early} calls in the first 15 s, {late} in the next: {calls_at:?}"
    );

    // Every Secret still holds its last good value, and says why it is not refreshed.
    for name in &names {
        assert_eq!(value(&cluster, name, "v").as_deref(), Some("v1"), "{name}");
    }
    let events = cluster.list("/api/v1/namespaces/default/events");
    assert!(
        events.iter().any(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.contains("paused") && m.contains("throttled"))),
        "no Event says the store is paused"
    );

    // The limit lifted: every ExternalSecret syncs again, new values included.
    bao.request("DELETE", "sys/quotas/rate-limit/kv", None);
    for key in &keys {
        bao.kv2_put("secret", key, &json!({"v": "v2"}));
    }
    wait_value(&cluster, &names, "v", "v2");
}

#[test]
fn store_qps_spaces_a_store_s_calls_and_every_external_secret_still_syncs() {
    let env = Env::new();
    let bao = audited_bao();
    let cluster = cluster(&env, "es-clients-paced");
    approle_store(&bao, &cluster, "paced", "1h", "2h");
    let (keys, names) = one_key_each(&bao, &cluster, "paced", 8, "1h");
    // Two calls a second, one at a time: the login, then the eight reads, which without the
    // limit all go within milliseconds of each other.
    let _controller = Controller::start(
        &env,
        &cluster,
        &["--key-size=2048", "--store-qps=2", "--store-burst=1"],
    );
    wait_value(&cluster, &names, "v", "v1");
    let mut times: Vec<String> = keys
        .iter()
        .flat_map(|key| bao.requests("read", &format!("secret/data/{key}")))
        .chain(bao.requests("update", "auth/paced/login"))
        .collect();
    times.sort();
    assert!(times.len() >= 9, "a login and eight reads: {times:?}");
    // The server's receive times: a call may travel a little longer than the one before it.
    for pair in times.windows(2) {
        let gap = seconds(&pair[1]) - seconds(&pair[0]);
        assert!(
            gap > 0.4,
            "two calls {gap:.3} s apart at 2 per second: {times:?}"
        );
    }
}

/// Every ExternalSecret's `refreshTime` (RFC 3339, seconds), by name, in one list call.
fn refresh_times(cluster: &Cluster) -> std::collections::BTreeMap<String, String> {
    cluster
        .list(ES)
        .iter()
        .map(|es| {
            let name = es["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let at = es["status"]["refreshTime"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            (name, at)
        })
        .collect()
}

#[test]
fn a_new_external_secret_goes_before_a_queue_of_periodic_refreshes() {
    let env = Env::new();
    let bao = audited_bao();
    let key = format!("{}/queued", unique("lanes"));
    bao.kv2_put("secret", &key, &json!({"password": "v1"}));
    let cluster = cluster(&env, "es-clients-lanes");
    approle_store(&bao, &cluster, "queued", "1h", "2h");
    let remote = json!({"key": key, "property": "password"});
    // 300 ExternalSecrets on one key share one refresh slot: every 20 s, 300 refreshes are due
    // at once, and with one sync at a time they queue.
    let names = refreshing(&cluster, "queued", 300, &remote, "20s");
    let _controller = Controller::start(&env, &cluster, &["--key-size=2048", "--concurrent=1"]);
    wait_value(&cluster, &names, "v", "v1");
    let synced = refresh_times(&cluster);
    let refreshed_since = || {
        let now = refresh_times(&cluster);
        names
            .iter()
            .filter(|n| now.get(*n) != synced.get(*n))
            .count()
    };
    // The slot comes: the queue starts to drain.
    wait_for("the periodic refreshes to start", || {
        (refreshed_since() > 0).then_some(())
    });
    cluster.create(
        ES,
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                "metadata": {"name": "newcomer"},
                "spec": {"refreshInterval": "1h", "secretStoreRef": {"name": "queued"},
                         "data": [{"secretKey": "v", "remoteRef": remote}]}}),
    );
    wait_for("the newcomer's Secret", || value(&cluster, "newcomer", "v"));
    let done = refreshed_since();
    assert!(
        done < 150,
        "the newcomer synced after {done} of the 300 queued refreshes"
    );
    wait_for("the queue to drain", || {
        (refreshed_since() == names.len()).then_some(())
    });
}
