//! Two `sealbox-controller` replicas with leader election against the emulator: one reconciles,
//! both serve kubeseal's API, and when the leader dies (SIGKILL) the other takes over the Lease
//! and syncs what was created meanwhile, each Secret written once. On SIGTERM the leader hands
//! the Lease over instead of letting it expire.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sealbox_crypto::sealed::decode_base64;
use sealbox_tests::cluster::{Cluster, Controller, free_port, wait_for};
use sealbox_tests::servers::{Bao, unique};
use sealbox_tests::{Env, crdgen_bin};
use serde_json::{Value, json};

const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/sealbox-controller";
const SS: &str = "/apis/bitnami.com/v1alpha1/namespaces/default/sealedsecrets";
const ES: &str = "/apis/external-secrets.io/v1/namespaces/default/externalsecrets";
const STORES: &str = "/apis/external-secrets.io/v1/namespaces/default/secretstores";
const SECRETS: &str = "/api/v1/namespaces/default/secrets";
const KEYS: &str = "/api/v1/namespaces/kube-system/secrets?labelSelector=sealedsecrets.bitnami.com%2Fsealed-secrets-key";

/// Short timings so the test is quick: a claim holds 4 s, renewals every second.
const ELECTION: &[&str] = &[
    "--key-size=2048",
    "--enable-leader-election",
    "--leader-election-lease-duration=4s",
    "--leader-election-renew-deadline=3s",
    "--leader-election-retry-period=1s",
];

fn cluster(env: &Env) -> Cluster {
    let out = Command::new(crdgen_bin()).output().expect("run crdgen");
    assert!(out.status.success(), "crdgen failed");
    let crds = env.write("crds.yaml", &out.stdout);
    Cluster::start_with_crds(env, "leader-election", &[&crds])
}

fn replica(env: &Env, cluster: &Cluster, name: &str) -> Controller {
    Controller::launch_with_env(
        env,
        cluster,
        free_port(),
        free_port(),
        ELECTION,
        &[("HOSTNAME", name.to_owned())],
    )
}

fn holder(cluster: &Cluster) -> Option<String> {
    let lease = cluster.get(LEASE)?;
    Some(lease["spec"]["holderIdentity"].as_str()?.to_owned()).filter(|h| !h.is_empty())
}

/// The sum of a metric's samples (0 when it has none).
fn metric(controller: &Controller, name: &str) -> f64 {
    controller
        .metrics()
        .body
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn leading(controller: &Controller) -> f64 {
    metric(controller, "leader_election_master_status")
}

/// Every ADDED and MODIFIED watch event on Secrets in `default`, by name, from now on.
struct SecretWrites(Arc<Mutex<BTreeMap<String, Vec<String>>>>);

impl SecretWrites {
    fn watch(cluster: &Cluster) -> SecretWrites {
        let rv = cluster
            .request("GET", SECRETS, None)
            .json()
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .expect("list resourceVersion")
            .to_owned();
        let url = format!(
            "{}{SECRETS}?watch=true&resourceVersion={rv}&timeoutSeconds=600",
            cluster.url
        );
        let writes = Arc::new(Mutex::new(BTreeMap::<String, Vec<String>>::new()));
        let log = writes.clone();
        std::thread::spawn(move || {
            let response = ureq::get(&url).call().expect("watch Secrets");
            for line in std::io::BufReader::new(response.into_body().into_reader()).lines() {
                let Ok(line) = line else { return };
                let event: Value = serde_json::from_str(&line).expect("a watch event");
                let name = event["object"]["metadata"]["name"].as_str().unwrap_or("");
                let kind = event["type"].as_str().unwrap_or("").to_owned();
                log.lock()
                    .unwrap()
                    .entry(name.to_owned())
                    .or_default()
                    .push(kind);
            }
        });
        SecretWrites(writes)
    }

    fn of(&self, name: &str) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .unwrap_or_default()
    }
}

fn create_sealed(env: &Env, cluster: &Cluster, cert: &str, name: &str, value: &str) {
    let cert = env.write(&format!("{name}.pem"), cert);
    let manifest = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: default\nstringData:\n  password: {value}\n"
    );
    let sealed = env
        .sealbox(&["seal", "--cert", cert.to_str().unwrap(), "-o", "json"])
        .stdin(manifest)
        .ok();
    cluster.create(SS, &serde_json::from_str(&sealed).unwrap());
}

fn create_external(cluster: &Cluster, name: &str, remote: &str) {
    cluster.create(
        ES,
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                "metadata": {"name": name},
                "spec": {"secretStoreRef": {"name": "bao", "kind": "SecretStore"},
                         "target": {"name": name},
                         "data": [{"secretKey": "password", "remoteRef": {"key": remote, "property": "password"}}]}}),
    );
}

fn wait_value(cluster: &Cluster, name: &str, want: &str) {
    wait_for(&format!("Secret {name} = {want}"), || {
        let secret = cluster.get(&format!("{SECRETS}/{name}"))?;
        let value = decode_base64(secret["data"]["password"].as_str()?).ok()?;
        (value == want.as_bytes()).then_some(())
    });
}

#[test]
fn one_replica_reconciles_and_the_other_takes_over_when_it_is_killed() {
    let env = Env::new();
    let cluster = cluster(&env);
    let bao = Bao::shared();
    let remote = unique("ha");
    bao.kv2_put("secret", &remote, &json!({"password": "from-vault"}));
    cluster.create(
        SECRETS,
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bao-token"},
                "stringData": {"token": bao.root_token()}}),
    );
    cluster.create(
        STORES,
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": "bao"},
                "spec": {"provider": {"vault": {"server": bao.url(), "path": "secret", "version": "v2",
                    "auth": {"tokenSecretRef": {"name": "bao-token", "key": "token"}}}}}}),
    );
    let writes = SecretWrites::watch(&cluster);

    let a = replica(&env, &cluster, "replica-a");
    let b = replica(&env, &cluster, "replica-b");
    let first = wait_for("a replica to take the Lease", || holder(&cluster));
    let (mut leader, follower) = if first.starts_with("replica-a_") {
        (a, b)
    } else {
        assert!(first.starts_with("replica-b_"), "holder {first}");
        (b, a)
    };
    // Both serve the one key the leader made (the follower learns it from its key watch).
    let cert = wait_for("both replicas to serve the same certificate", || {
        let (l, f) = (leader.get("/v1/cert.pem"), follower.get("/v1/cert.pem"));
        (l.status == 200 && l.body == f.body).then_some(l.body)
    });
    assert_eq!(cluster.list(KEYS).len(), 1, "one key, made by the leader");

    create_sealed(&env, &cluster, &cert, "before", "sealed-before");
    create_external(&cluster, "es-before", &remote);
    wait_value(&cluster, "before", "sealed-before");
    wait_value(&cluster, "es-before", "from-vault");

    // Exactly one reconciles.
    assert_eq!((leading(&leader), leading(&follower)), (1.0, 0.0));
    let unseals = "sealed_secrets_controller_unseal_requests_total";
    let syncs = "externalsecret_sync_calls_total";
    assert!(metric(&leader, unseals) > 0.0 && metric(&leader, syncs) > 0.0);
    assert_eq!(
        (metric(&follower, unseals), metric(&follower, syncs)),
        (0.0, 0.0),
        "the follower reconciled: {}",
        follower.log()
    );

    // The leader dies; objects created during the failover are synced by the new leader.
    let killed = Instant::now();
    leader.kill();
    create_sealed(&env, &cluster, &cert, "during", "sealed-during");
    create_external(&cluster, "es-during", &remote);
    let next = wait_for("the follower to take the Lease", || {
        holder(&cluster).filter(|h| *h != first)
    });
    let took_over = killed.elapsed();
    assert_eq!(leading(&follower), 1.0, "{next} holds the Lease");
    wait_value(&cluster, "during", "sealed-during");
    wait_value(&cluster, "es-during", "from-vault");
    eprintln!(
        "failover: the new leader held the Lease {took_over:?} after SIGKILL (lease duration 4s)"
    );
    assert_eq!(
        cluster.get(LEASE).unwrap()["spec"]["leaseTransitions"],
        json!(2),
        "two acquisitions"
    );

    // Each Secret was written once: the new leader did not rewrite what was in sync.
    for name in ["before", "es-before", "during", "es-during"] {
        wait_for(&format!("the watch to see {name}"), || {
            (!writes.of(name).is_empty()).then_some(())
        });
        assert_eq!(writes.of(name), ["ADDED"], "writes of Secret {name}");
    }
    assert_eq!(cluster.list(KEYS).len(), 1, "no second key");
}

#[test]
fn on_sigterm_the_leader_hands_the_lease_over() {
    let env = Env::new();
    let cluster = cluster(&env);
    let mut first = replica(&env, &cluster, "first");
    wait_for("the first replica to lead", || {
        holder(&cluster).filter(|h| h.starts_with("first_"))
    });
    let second = replica(&env, &cluster, "second");
    wait_for("the second replica to serve", || {
        let port = second.url.rsplit(':').next()?.parse::<u16>().ok()?;
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        (second.get("/healthz").status == 200).then_some(())
    });
    assert_eq!(leading(&second), 0.0);
    first.terminate();
    let status = first
        .wait_exit(std::time::Duration::from_secs(30))
        .expect("the leader exits on SIGTERM");
    assert!(status.success(), "{status:?}: {}", first.log());
    assert!(
        first.log().contains("released the leader election Lease"),
        "{}",
        first.log()
    );
    wait_for("the second replica to lead", || {
        holder(&cluster).filter(|h| h.starts_with("second_"))
    });
    assert_eq!(leading(&second), 1.0);
}
