//! sealbox-controller's sealed-secrets flags that installations set (spec `sealed-secrets.md`
//! §3.4), each against the Kubernetes API emulator: `--label-selector`, `--all-namespaces` with
//! `--additional-namespaces`, `--max-unseal-retries`, `--rate-limit`/`--rate-limit-burst` on
//! `/v1/verify`, `--skip-recreate`; and drift repair: a hand-edited Secret is restored at once,
//! while Secrets in sync cost no decrypt, after a restart too.
//!
//! Where a test shows that something does *not* happen, it first waits for something the
//! controller does later (a second object it reconciles, or the emulator's count of the
//! requests it made), never for a length of time.

use sealbox_crypto::sealed::{Certificate, Secret, decode_base64, encode_base64, seal_secret};
use sealbox_tests::Env;
use sealbox_tests::cluster::{Cluster, Controller, wait_for};
use serde_json::{Value, json};

fn ss_path(namespace: &str) -> String {
    format!("/apis/bitnami.com/v1alpha1/namespaces/{namespace}/sealedsecrets")
}

fn secrets_path(namespace: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/secrets")
}

/// A SealedSecret `namespace/name` holding `password: value`, sealed in-process with `cert`,
/// with `labels` on the SealedSecret (not on its template).
fn sealed(cert: &str, namespace: &str, name: &str, value: &str, labels: Value) -> Value {
    let key = Certificate::from_pem(cert).unwrap().public_key;
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"password": encode_base64(value.as_bytes())}
    }))
    .unwrap();
    let mut ss = serde_json::to_value(seal_secret(&secret, &key).unwrap()).unwrap();
    ss["metadata"]["labels"] = labels;
    ss
}

fn password(secret: &Value) -> String {
    let b64 = secret["data"]["password"]
        .as_str()
        .unwrap_or_else(|| panic!("no password in {secret}"));
    String::from_utf8(decode_base64(b64).unwrap()).unwrap()
}

fn wait_secret(cluster: &Cluster, namespace: &str, name: &str) -> Value {
    wait_for(&format!("Secret {namespace}/{name}"), || {
        cluster.get(&format!("{}/{name}", secrets_path(namespace)))
    })
}

fn create_namespace(cluster: &Cluster, name: &str) {
    cluster.create(
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
    );
}

/// The value of the metric series `series` (name and labels as printed), 0 when absent.
fn metric(controller: &Controller, series: &str) -> f64 {
    controller
        .metrics()
        .body
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

const UNSEALS: &str = "sealed_secrets_controller_unseal_requests_total";

#[test]
fn label_selector_reconciles_only_matching_sealed_secrets() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "c1");
    let controller = Controller::start(
        &env,
        &cluster,
        &["--external-secrets=false", "--label-selector=shard=a"],
    );
    let cert = controller.get("/v1/cert.pem").body;
    let ss = ss_path("default");
    // Created first: had the controller seen it, it would be unsealed before the next one.
    cluster.create(
        &ss,
        &sealed(&cert, "default", "other", "o", json!({"shard": "b"})),
    );
    cluster.create(
        &ss,
        &sealed(&cert, "default", "mine", "m", json!({"shard": "a"})),
    );
    assert_eq!(password(&wait_secret(&cluster, "default", "mine")), "m");
    wait_for("mine's status", || {
        cluster
            .get(&format!("{ss}/mine"))
            .filter(|s| s["status"]["conditions"][0]["status"] == "True")
    });
    assert!(
        cluster
            .get(&format!("{}/other", secrets_path("default")))
            .is_none(),
        "{}",
        controller.log()
    );
    let other = cluster.get(&format!("{ss}/other")).unwrap();
    assert!(other.get("status").is_none(), "{other}");
    assert_eq!(metric(&controller, UNSEALS), 1.0);

    // Relabelled into the shard, it is reconciled.
    let mut relabelled = other;
    relabelled["metadata"]["labels"]["shard"] = json!("a");
    cluster.replace(&format!("{ss}/other"), &relabelled);
    assert_eq!(password(&wait_secret(&cluster, "default", "other")), "o");
}

#[test]
fn restricted_to_its_own_and_additional_namespaces() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "c1");
    for ns in ["team-a", "team-b"] {
        create_namespace(&cluster, ns);
    }
    // `missing` does not exist: skipped with an error, as upstream, not fatal.
    let controller = Controller::start(
        &env,
        &cluster,
        &[
            "--external-secrets=false",
            "--all-namespaces=false",
            "--additional-namespaces=team-a,missing",
        ],
    );
    assert!(
        controller.log().contains("namespace doesn't exist"),
        "{}",
        controller.log()
    );
    let cert = controller.get("/v1/cert.pem").body;
    cluster.create(
        &ss_path("team-b"),
        &sealed(&cert, "team-b", "b", "b", json!({})),
    );
    cluster.create(
        &ss_path("kube-system"),
        &sealed(&cert, "kube-system", "own", "own", json!({})),
    );
    cluster.create(
        &ss_path("team-a"),
        &sealed(&cert, "team-a", "a", "a", json!({})),
    );
    assert_eq!(
        password(&wait_secret(&cluster, "kube-system", "own")),
        "own"
    );
    assert_eq!(password(&wait_secret(&cluster, "team-a", "a")), "a");
    assert!(
        cluster
            .get(&format!("{}/b", secrets_path("team-b")))
            .is_none()
    );
    // It never watched the cluster-wide collections (what `--all-namespaces` needs RBAC
    // for), only the namespaces it was given.
    let all = "/apis/bitnami.com/v1alpha1/sealedsecrets";
    assert_eq!(cluster.requests(&format!("WATCH {all}")), 0);
    assert_eq!(cluster.requests("WATCH /api/v1/secrets"), 0);
    for ns in ["kube-system", "team-a"] {
        assert!(
            cluster.requests(&format!("WATCH {}", ss_path(ns))) > 0,
            "{ns}"
        );
        assert!(
            cluster.requests(&format!("WATCH {}", secrets_path(ns))) > 0,
            "{ns}"
        );
    }
    assert_eq!(cluster.requests(&format!("WATCH {}", ss_path("team-b"))), 0);
    assert_eq!(
        cluster.requests(&format!("WATCH {}", ss_path("missing"))),
        0
    );
}

#[test]
fn a_failing_unseal_is_retried_max_unseal_retries_times_then_given_up() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "c1");
    let controller = Controller::start(
        &env,
        &cluster,
        &["--external-secrets=false", "--max-unseal-retries=2"],
    );
    let cert = controller.get("/v1/cert.pem").body;
    // Sealed for team-a, applied in default: no key opens it.
    create_namespace(&cluster, "team-a");
    let mut moved = sealed(&cert, "team-a", "moved", "x", json!({}));
    moved["metadata"]["namespace"] = json!("default");
    cluster.create(&ss_path("default"), &moved);
    wait_for("giving up", || {
        controller.log().contains("giving up").then_some(())
    });
    let failures =
        r#"sealed_secrets_controller_unseal_errors_total{reason="unseal",namespace="default"}"#;
    // The first attempt and 2 retries; then nothing until it changes. A SealedSecret
    // reconciled after that shows the controller went on working meanwhile.
    cluster.create(
        &ss_path("default"),
        &sealed(&cert, "default", "later", "l", json!({})),
    );
    wait_secret(&cluster, "default", "later");
    assert_eq!(metric(&controller, failures), 3.0, "{}", controller.log());
    assert_eq!(metric(&controller, UNSEALS), 4.0);
    let status = cluster
        .get(&format!("{}/moved", ss_path("default")))
        .unwrap();
    assert_eq!(status["status"]["conditions"][0]["status"], "False");

    // A change to it starts the count afresh (here: fixed by sealing for the right place).
    let mut fixed = sealed(&cert, "default", "moved", "ok", json!({}));
    fixed["metadata"] = status["metadata"].clone();
    cluster.replace(&format!("{}/moved", ss_path("default")), &fixed);
    assert_eq!(password(&wait_secret(&cluster, "default", "moved")), "ok");
}

#[test]
fn verify_is_rate_limited_per_caller_with_429() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "c1");
    let controller = Controller::start(
        &env,
        &cluster,
        &[
            "--external-secrets=false",
            "--rate-limit=1",
            "--rate-limit-burst=1",
        ],
    );
    let cert = controller.get("/v1/cert.pem").body;
    let body = sealed(&cert, "default", "web", "s3cret", json!({})).to_string();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let verify = |forwarded: &str| {
        let mut reply = agent
            .post(&format!("{}/v1/verify", controller.url))
            .header("X-Forwarded-For", forwarded)
            .send(&body)
            .unwrap();
        let header = |h: &str| {
            reply
                .headers()
                .get(h)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let (limit, retry) = (header("X-RateLimit-Limit"), header("Retry-After"));
        let text = reply.body_mut().read_to_string().unwrap_or_default();
        (reply.status().as_u16(), text, limit, retry)
    };
    // burst + 1 pass at once (throttled's GCRA, as upstream).
    for _ in 0..2 {
        let (status, text, limit, _) = verify("10.0.0.1");
        assert_eq!((status, limit.as_deref()), (200, Some("2")), "{text}");
    }
    // At one per second, some of the next twenty are refused, however slow this machine.
    let limited = (0..20)
        .map(|_| verify("10.0.0.1"))
        .find(|r| r.0 == 429)
        .expect("a 429 among 20 requests at 1/s");
    assert_eq!(limited.1, "limit exceeded\n");
    assert!(limited.3.is_some_and(|s| s.parse::<u64>().unwrap() >= 1));
    // Another caller (X-Forwarded-For) has its own allowance; other paths are not limited.
    assert_eq!(verify("10.0.0.2").0, 200);
    for _ in 0..5 {
        assert_eq!(controller.get("/v1/cert.pem").status, 200);
    }
    let counted = r#"sealed_secrets_controller_http_requests_total{path="/v1/verify",code="429",method="POST"}"#;
    assert!(metric(&controller, counted) >= 1.0);
}

#[test]
fn skip_recreate_leaves_a_deleted_secret_deleted_and_watches_no_secrets() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "c1");
    let controller = Controller::start(
        &env,
        &cluster,
        &["--external-secrets=false", "--skip-recreate"],
    );
    let cert = controller.get("/v1/cert.pem").body;
    let ss = ss_path("default");
    cluster.create(&ss, &sealed(&cert, "default", "first", "1", json!({})));
    wait_secret(&cluster, "default", "first");
    cluster.delete(&format!("{}/first", secrets_path("default")));
    cluster.create(&ss, &sealed(&cert, "default", "second", "2", json!({})));
    wait_secret(&cluster, "default", "second");
    assert!(
        cluster
            .get(&format!("{}/first", secrets_path("default")))
            .is_none()
    );
    // No Secret watch at all (upstream: no Secret informer), so nothing could re-create it.
    assert_eq!(cluster.requests("WATCH /api/v1/secrets"), 0);
    assert!(cluster.requests("WATCH /apis/bitnami.com/v1alpha1/sealedsecrets") > 0);

    // Its SealedSecret changing (or a restart) still writes it.
    let mut current = cluster.get(&format!("{ss}/first")).unwrap();
    current["spec"] = sealed(&cert, "default", "first", "1b", json!({}))["spec"].clone();
    cluster.replace(&format!("{ss}/first"), &current);
    assert_eq!(password(&wait_secret(&cluster, "default", "first")), "1b");
}

#[test]
fn a_hand_edited_secret_is_restored_and_secrets_in_sync_cost_no_decrypt_even_after_a_restart() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "c1");
    let mut controller = Controller::start(
        &env,
        &cluster,
        &["--external-secrets=false", "--key-renew-period=0"],
    );
    let cert = controller.get("/v1/cert.pem").body;
    let ss = ss_path("default");
    let names = ["alpha", "beta", "gamma"];
    for name in names {
        cluster.create(&ss, &sealed(&cert, "default", name, name, json!({})));
    }
    for name in names {
        let secret = wait_secret(&cluster, "default", name);
        let mac = secret["metadata"]["annotations"]["sealbox.io/data-hmac"]
            .as_str()
            .unwrap_or_else(|| panic!("{secret}"));
        // A keyed MAC, never the data nor a plain hash of it.
        assert!(mac.starts_with("v1:") && !mac.contains(name), "{mac}");
    }
    wait_for("every status Synced", || {
        cluster
            .list(&ss)
            .iter()
            .all(|s| s["status"]["conditions"][0]["status"] == "True")
            .then_some(())
    });
    let unsealed = metric(&controller, UNSEALS);
    assert_eq!(unsealed, 3.0, "{}", controller.log());

    // Edited by hand: restored at once, on the Secret's own update event.
    let path = format!("{}/beta", secrets_path("default"));
    let mut edited = cluster.get(&path).unwrap();
    edited["data"]["password"] = json!(encode_base64(b"hand-edited"));
    cluster.replace(&path, &edited);
    wait_for("beta restored", || {
        cluster.get(&path).filter(|s| password(s) == "beta")
    });
    // One decrypt, for beta alone: the Secrets' own update events (and the other Secrets'
    // relist) cost nothing.
    assert_eq!(metric(&controller, UNSEALS), 4.0, "{}", controller.log());
    // Its metadata edited (data untouched): in sync, no decrypt.
    let mut labelled = cluster.get(&path).unwrap();
    labelled["metadata"]["labels"] = json!({"touched": "yes"});
    cluster.replace(&path, &labelled);

    // A restart: every SealedSecret is looked at again, none decrypted.
    controller.terminate();
    assert!(
        controller
            .wait_exit(std::time::Duration::from_secs(30))
            .is_some_and(|s| s.success())
    );
    let controller = Controller::start(
        &env,
        &cluster,
        &["--external-secrets=false", "--key-renew-period=0"],
    );
    // A fourth SealedSecret, created after the restart: once it is unsealed, the initial
    // list (which came before it) has been reconciled.
    cluster.create(&ss, &sealed(&cert, "default", "delta", "delta", json!({})));
    wait_secret(&cluster, "default", "delta");
    wait_for("condition_info of all four", || {
        let body = controller.metrics().body;
        names
            .iter()
            .chain(&["delta"])
            .all(|n| body.contains(&format!("name=\"{n}\",condition=\"Synced\"")))
            .then_some(())
    });
    assert_eq!(
        metric(&controller, UNSEALS),
        1.0,
        "only delta was decrypted after the restart:\n{}",
        controller.log()
    );
    // And the restarted controller repairs drift too.
    let path = format!("{}/gamma", secrets_path("default"));
    let mut edited = cluster.get(&path).unwrap();
    edited["data"]["extra"] = json!(encode_base64(b"added"));
    cluster.replace(&path, &edited);
    let restored = wait_for("gamma restored", || {
        cluster
            .get(&path)
            .filter(|s| s["data"].get("extra").is_none())
    });
    assert_eq!(password(&restored), "gamma");
    assert_eq!(metric(&controller, UNSEALS), 2.0);
}
