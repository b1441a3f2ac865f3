//! sealbox-controller as a process: SIGTERM stops it cleanly (in-flight reconciles finish,
//! exit 0 within 10 s) and a supervised task that ends makes it exit non-zero, saying which
//! task and why. Black-box, against the Kubernetes API emulator.

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use sealbox_crypto::sealed::{Certificate, Secret, decode_base64, encode_base64, seal_secret};
use sealbox_tests::Env;
use sealbox_tests::cluster::{Cluster, Controller, free_port, wait_for};
use serde_json::{Value, json};

const SS: &str = "/apis/bitnami.com/v1alpha1/namespaces/default/sealedsecrets";
const SECRETS: &str = "/api/v1/namespaces/default/secrets";
const COUNT: usize = 1000;
/// Items per SealedSecret: each costs an RSA-4096 decrypt, so the cold start (3,000 of them
/// on a couple of cores) lasts seconds, far longer than the 100 ms between two polls.
const ITEMS: usize = 3;
/// The promise: a stopped controller is gone within 10 s of SIGTERM.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

fn value(i: usize, item: usize) -> String {
    format!("token-{i}-{item}")
}

/// `COUNT` SealedSecrets `app-<i>` (items `item-<n>`: `token-<i>-<n>`), sealed in-process
/// with `cert`.
fn sealed_secrets(cert: &str) -> Vec<Value> {
    let key = Certificate::from_pem(cert).unwrap().public_key;
    (0..COUNT)
        .map(|i| {
            let data: serde_json::Map<String, Value> = (0..ITEMS)
                .map(|n| {
                    let plain = encode_base64(value(i, n).as_bytes());
                    (format!("item-{n}"), Value::String(plain))
                })
                .collect();
            let secret: Secret = serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": format!("app-{i}"), "namespace": "default"},
                "data": data
            }))
            .unwrap();
            serde_json::to_value(seal_secret(&secret, &key).unwrap()).unwrap()
        })
        .collect()
}

/// Creates `objects` in the collection at `path`, four requests at a time.
fn create_all(cluster: &Cluster, path: &str, objects: &[Value]) {
    std::thread::scope(|scope| {
        for chunk in objects.chunks(objects.len().div_ceil(4)) {
            scope.spawn(move || {
                for object in chunk {
                    cluster.create(path, object);
                }
            });
        }
    });
}

#[test]
fn sigterm_during_a_cold_start_exits_0_in_time_and_leaves_only_matching_secrets() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "c1");
    // A first run makes the key; an idle controller also stops cleanly on SIGTERM.
    let mut first = Controller::start(&env, &cluster, &["--key-renew-period=0"]);
    let cert = first.get("/v1/cert.pem").body;
    first.terminate();
    let status = first.wait_exit(SHUTDOWN_DEADLINE);
    assert!(
        status.is_some_and(|s| s.success()),
        "idle: {status:?}\n{}",
        first.log()
    );

    create_all(&cluster, SS, &sealed_secrets(&cert));
    let uids: HashMap<String, String> = cluster
        .list(SS)
        .iter()
        .map(|ss| {
            let meta = &ss["metadata"];
            (
                meta["name"].as_str().unwrap().to_owned(),
                meta["uid"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(uids.len(), COUNT);

    // Cold start: SIGTERM once some, but not all, Secrets exist. The count is read just
    // before the signal, so it is a lower bound of what exists when the signal lands.
    let mut controller = Controller::launch(
        &env,
        &cluster,
        free_port(),
        free_port(),
        &["--key-renew-period=0"],
    );
    let started = wait_for("the first 50 Secrets", || {
        let n = cluster.list(SECRETS).len();
        (n >= 50).then_some(n)
    });
    let signalled = Instant::now();
    controller.terminate();
    assert!(
        started < COUNT,
        "the cold start had already finished when SIGTERM was sent: {started} Secrets"
    );
    let status = controller.wait_exit(SHUTDOWN_DEADLINE);
    let took = signalled.elapsed();
    let log = controller.log();
    let status = status.unwrap_or_else(|| panic!("still running {took:?} after SIGTERM\n{log}"));
    assert!(status.success(), "exit {status:?} after SIGTERM\n{log}");
    assert!(took <= SHUTDOWN_DEADLINE, "took {took:?}");
    assert!(log.contains("SIGTERM: shutting down"), "{log}");
    assert!(log.contains("shut down cleanly"), "{log}");

    // Every Secret there is is exactly its SealedSecret's plaintext, owned by it.
    let secrets = cluster.list(SECRETS);
    let sealed = cluster.list(SS);
    eprintln!(
        "{started} Secrets at SIGTERM, {} when the controller had exited {took:?} later",
        secrets.len()
    );
    assert!(
        secrets.len() >= started && secrets.len() < COUNT,
        "the cold start was interrupted: {started} Secrets at SIGTERM, {} at exit",
        secrets.len()
    );
    for secret in &secrets {
        let name = secret["metadata"]["name"].as_str().unwrap();
        let i: usize = name.strip_prefix("app-").unwrap().parse().unwrap();
        let data = secret["data"].as_object().unwrap();
        assert_eq!(data.len(), ITEMS, "{name}: {data:?}");
        for n in 0..ITEMS {
            let token = decode_base64(data[&format!("item-{n}")].as_str().unwrap()).unwrap();
            assert_eq!(String::from_utf8(token).unwrap(), value(i, n), "{name}");
        }
        let owners = secret["metadata"]["ownerReferences"].as_array().unwrap();
        assert_eq!(owners.len(), 1, "{name}");
        assert_eq!(owners[0]["kind"], "SealedSecret", "{name}");
        assert_eq!(owners[0]["name"], name);
        assert_eq!(owners[0]["uid"], uids[name].as_str(), "{name}");
        assert_eq!(owners[0]["controller"], true, "{name}");
    }
    // A reconcile in flight at SIGTERM finished whole (Secret, then status); one that had
    // not started decrypting gave up without a trace: no failed status, no Warning Event.
    let unsealed: HashSet<&str> = secrets
        .iter()
        .map(|s| s["metadata"]["name"].as_str().unwrap())
        .collect();
    for ss in &sealed {
        let name = ss["metadata"]["name"].as_str().unwrap();
        let condition = &ss["status"]["conditions"][0];
        if unsealed.contains(name) {
            assert_eq!(condition["status"], "True", "{name}: {}", ss["status"]);
        } else {
            assert!(ss.get("status").is_none(), "{name}: {}", ss["status"]);
        }
    }
    let warnings: Vec<Value> = cluster
        .list("/api/v1/namespaces/default/events")
        .into_iter()
        .filter(|e| e["type"] == "Warning")
        .collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
}

#[test]
fn sigterm_while_a_key_is_being_generated_exits_0_in_time_and_stores_no_key() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "c1");
    let keys = "/api/v1/namespaces/kube-system/secrets";
    let mut first = Controller::start(&env, &cluster, &["--key-renew-period=0"]);
    first.terminate();
    assert!(
        first
            .wait_exit(SHUTDOWN_DEADLINE)
            .is_some_and(|s| s.success())
    );
    let before = cluster.list(keys);
    assert_eq!(before.len(), 1);

    // RSA-8192 generation takes seconds (often more than 10 on a small machine): SIGTERM
    // lands while it runs on a blocking thread.
    let mut controller =
        Controller::start(&env, &cluster, &["--key-renew-period=0", "--key-size=8192"]);
    let sent = std::process::Command::new("kill")
        .args(["-USR1", &controller.pid().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    wait_for("the key generation to start", || {
        controller
            .log()
            .contains("SIGUSR1: generating a new key")
            .then_some(())
    });
    let generated_before_sigterm = controller.log().contains("new key generated");
    let signalled = Instant::now();
    controller.terminate();
    let status = controller.wait_exit(SHUTDOWN_DEADLINE);
    let took = signalled.elapsed();
    let log = controller.log();
    let status = status.unwrap_or_else(|| panic!("still running {took:?} after SIGTERM\n{log}"));
    assert!(status.success(), "exit {status:?} after SIGTERM\n{log}");
    // The key being generated is dropped, never stored half made: the next start (or the
    // next SIGUSR1) makes one.
    if !generated_before_sigterm {
        assert!(!log.contains("new key generated"), "{log}");
        assert_eq!(cluster.list(keys).len(), before.len(), "{log}");
    }
}

#[test]
fn a_supervised_task_that_fails_stops_the_process_non_zero_and_says_why() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "c1");
    // The metrics port is taken: the metrics server's task fails after the key ring is
    // loaded and the reconciler is running.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut controller = Controller::launch(&env, &cluster, free_port(), port, &[]);
    let status = controller.wait_exit(Duration::from_secs(90));
    let log = controller.log();
    let status = status.unwrap_or_else(|| panic!("still running\n{log}"));
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("key ring loaded"),
        "failed after start-up\n{log}"
    );
    let said = format!("task \"metrics server\" failed: cannot listen on 127.0.0.1:{port}");
    assert!(log.contains(&said), "{log}");
    assert!(log.contains("Address already in use"), "{log}");
    drop(taken);
}

#[test]
fn with_the_sealed_secrets_controller_off_only_the_shared_servers_run() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "c1");
    let api_port = free_port();
    let mut controller = Controller::launch(
        &env,
        &cluster,
        api_port,
        free_port(),
        &["--sealed-secrets=false"],
    );
    wait_for("/healthz", || {
        std::net::TcpStream::connect(("127.0.0.1", api_port))
            .ok()
            .and_then(|_| (controller.get("/healthz").status == 200).then_some(()))
    });
    assert_eq!(controller.get("/v1/cert.pem").status, 404);
    assert_eq!(controller.metrics().status, 200);
    let keys = "/api/v1/namespaces/kube-system/secrets";
    assert!(cluster.list(keys).is_empty(), "no key made");
    controller.terminate();
    let status = controller.wait_exit(SHUTDOWN_DEADLINE);
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        controller.log()
    );
}
