//! The ExternalSecret test environment itself: moto and OpenBao answer (tests/servers.rs), OpenBao's
//! kubernetes auth logs in with a TokenRequest token from the Kubernetes API emulator, the
//! emulator serves multi-version CRDs, and the servers die with the test process.

use std::process::Command;
use std::time::{Duration, Instant};

use sealbox_tests::cluster::Cluster;
use sealbox_tests::servers::{Bao, Moto, unique};
use sealbox_tests::{Env, root};
use serde_json::{Value, json};

#[test]
fn moto_stores_and_returns_a_secret_through_the_raw_api() {
    let moto = Moto::shared();
    let name = unique("servers-moto");
    let created = moto.request(
        "CreateSecret",
        &json!({"Name": name, "SecretString": "{\"password\":\"hunter2\"}", "Tags": [{"Key": "team", "Value": "a"}]}),
    );
    assert!(
        created["ARN"].as_str().unwrap().contains(&name),
        "{created}"
    );
    moto.request(
        "PutSecretValue",
        &json!({"SecretId": name, "SecretString": "{\"password\":\"hunter3\"}"}),
    );

    let current = moto.request("GetSecretValue", &json!({"SecretId": name}));
    assert_eq!(current["SecretString"], "{\"password\":\"hunter3\"}");
    assert_eq!(current["VersionStages"], json!(["AWSCURRENT"]));
    let previous = moto.request(
        "GetSecretValue",
        &json!({"SecretId": name, "VersionStage": "AWSPREVIOUS"}),
    );
    assert_eq!(previous["SecretString"], "{\"password\":\"hunter2\"}");
    let described = moto.request("DescribeSecret", &json!({"SecretId": name}));
    assert_eq!(described["Tags"], json!([{"Key": "team", "Value": "a"}]));

    let missing = moto.call(
        "GetSecretValue",
        &json!({"SecretId": unique("servers-moto-missing")}),
    );
    // AWS answers 400, moto 404; clients go by the error type.
    assert!(missing.status >= 400, "{}", missing.body);
    assert_eq!(missing.json()["__type"], "ResourceNotFoundException");
}

#[test]
fn bao_serves_kv_v2_kv_v1_and_approle() {
    let bao = Bao::shared();
    let health = bao.request("GET", "sys/health", None);
    assert_eq!(health["sealed"], false);
    assert_eq!(health["version"], "2.7.2");

    let path = unique("servers-bao");
    assert_eq!(
        bao.kv2_put("secret", &path, &json!({"user": "admin"}))["version"],
        1
    );
    assert_eq!(
        bao.kv2_put("secret", &path, &json!({"user": "root"}))["version"],
        2
    );
    let read = bao.request("GET", &format!("secret/data/{path}?version=1"), None);
    assert_eq!(read["data"]["data"], json!({"user": "admin"}));

    let kv1 = unique("servers-kv1");
    bao.enable_kv(&kv1, "1");
    bao.enable_kv(&kv1, "1"); // already there: kept
    bao.kv1_put(&kv1, "app", &json!({"token": "t0"}));
    assert_eq!(
        bao.request("GET", &format!("{kv1}/app"), None)["data"],
        json!({"token": "t0"})
    );
    let listed = bao.request("LIST", &format!("{kv1}/"), None);
    assert_eq!(listed["data"]["keys"], json!(["app"]));

    // AppRole: a token that reads what its policy allows and nothing else.
    let policy = unique("servers-read");
    bao.write_policy(
        &policy,
        &format!("path \"secret/data/{path}\" {{ capabilities = [\"read\"] }}"),
    );
    let mount = unique("servers-approle");
    let (role_id, secret_id) = bao.approle(&mount, "reader", &[&policy]);
    let login = bao.login(&mount, &json!({"role_id": role_id, "secret_id": secret_id}));
    assert_eq!(login.status, 200, "{}", login.body);
    let token = login.json()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let read = bao.call("GET", &format!("secret/data/{path}"), Some(&token), None);
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.json()["data"]["data"], json!({"user": "root"}));
    let write = bao.call(
        "POST",
        &format!("secret/data/{path}"),
        Some(&token),
        Some(&json!({"data": {}})),
    );
    assert_eq!(write.status, 403, "{}", write.body);
}

fn token_request(cluster: &Cluster, namespace: &str, name: &str, audiences: &[&str]) -> String {
    let answer = cluster.create(
        &format!("/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"),
        &json!({
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"audiences": audiences, "expirationSeconds": 600}
        }),
    );
    answer["status"]["token"].as_str().unwrap().to_owned()
}

fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let mut padded = payload.replace('-', "+").replace('_', "/");
    while !padded.len().is_multiple_of(4) {
        padded.push('=');
    }
    let bytes = sealbox_crypto::sealed::decode_base64(&padded).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn bao_kubernetes_auth_logs_in_with_a_token_request_token_from_the_emulator() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "kauth");
    let bao = Bao::shared();

    cluster.create(
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "team-a"}}),
    );
    let sas = "/api/v1/namespaces/team-a/serviceaccounts";
    let reader = cluster.create(sas, &json!({"metadata": {"name": "reader"}}));
    cluster.create(sas, &json!({"metadata": {"name": "writer"}}));
    // No ServiceAccount, no token.
    let reply = cluster.request(
        "POST",
        &format!("{sas}/nobody/token"),
        Some(&json!({"spec": {}})),
    );
    assert_eq!(reply.status, 404, "{}", reply.body);

    let path = unique("servers-kauth");
    bao.kv2_put("secret", &path, &json!({"password": "from-vault"}));
    let policy = unique("servers-kauth-read");
    bao.write_policy(
        &policy,
        &format!("path \"secret/data/{path}\" {{ capabilities = [\"read\"] }}"),
    );
    let mount = unique("servers-kubernetes");
    bao.kubernetes_auth(&mount, &cluster.url);
    bao.request(
        "POST",
        &format!("auth/{mount}/role/reader"),
        Some(&json!({
            "bound_service_account_names": ["reader"],
            "bound_service_account_namespaces": ["team-a"],
            "audience": "vault",
            "token_policies": [policy],
        })),
    );

    let token = token_request(&cluster, "team-a", "reader", &["vault"]);
    let claims = jwt_claims(&token);
    assert_eq!(claims["sub"], "system:serviceaccount:team-a:reader");
    assert_eq!(claims["aud"], json!(["vault"]));
    assert_eq!(
        claims["kubernetes.io"]["serviceaccount"]["uid"],
        reader["metadata"]["uid"]
    );
    assert_eq!(cluster.token_requests("team-a", "reader"), 1);

    let login = bao.login(&mount, &json!({"role": "reader", "jwt": token}));
    assert_eq!(login.status, 200, "{}", login.body);
    let auth = &login.json()["auth"];
    assert_eq!(auth["metadata"]["service_account_namespace"], "team-a");
    let client_token = auth["client_token"].as_str().unwrap().to_owned();
    let read = bao.call(
        "GET",
        &format!("secret/data/{path}"),
        Some(&client_token),
        None,
    );
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.json()["data"]["data"]["password"], "from-vault");

    // Another ServiceAccount's token: the role does not bind it.
    let other = token_request(&cluster, "team-a", "writer", &["vault"]);
    let refused = bao.login(&mount, &json!({"role": "reader", "jwt": other}));
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused.body.contains("service account name not authorized"),
        "{}",
        refused.body
    );
    // A token for another audience: refused (OpenBao checks the claim before TokenReview).
    let wrong_audience = token_request(&cluster, "team-a", "reader", &["elsewhere"]);
    let refused = bao.login(&mount, &json!({"role": "reader", "jwt": wrong_audience}));
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused.body.contains("invalid audience"),
        "{}",
        refused.body
    );
    // Once the ServiceAccount is gone, TokenReview no longer accepts its tokens.
    cluster.delete(&format!("{sas}/reader"));
    let refused = bao.login(&mount, &json!({"role": "reader", "jwt": token}));
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused.body.contains("permission denied"),
        "{}",
        refused.body
    );
    assert_eq!(cluster.token_requests("team-a", "reader"), 2);
}

#[test]
fn a_crd_with_two_versions_serves_one_object_through_both() {
    let env = Env::new();
    let crd = root().join("testdata/crds/two-versions.yaml");
    let cluster = Cluster::start_with_crds(&env, "crd", &[&crd]);
    let group = "/apis/example.sealbox.dev";
    let discovery = cluster.get(group).unwrap();
    assert_eq!(discovery["preferredVersion"]["version"], "v1");
    assert_eq!(discovery["versions"].as_array().unwrap().len(), 2); // v1alpha1 is not served
    assert!(
        cluster
            .get(&format!("{group}/v1alpha1/namespaces/default/widgets"))
            .is_none()
    );

    let v1 = format!("{group}/v1/namespaces/default/widgets");
    let v1beta1 = format!("{group}/v1beta1/namespaces/default/widgets");
    let rv = cluster.get(&v1).unwrap()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    let watch_url = format!("{v1}?watch=true&resourceVersion={rv}&timeoutSeconds=3");
    let watcher = std::thread::scope(|s| {
        let watcher = s.spawn(|| cluster.request("GET", &watch_url, None).body);
        std::thread::sleep(Duration::from_millis(300));
        let created = cluster.create(
            &v1beta1,
            &json!({
                "apiVersion": "example.sealbox.dev/v1beta1", "kind": "Widget",
                "metadata": {"name": "w"}, "spec": {"size": 3}
            }),
        );
        assert_eq!(created["apiVersion"], "example.sealbox.dev/v1beta1");
        watcher.join().unwrap()
    });

    let through_v1 = cluster.get(&format!("{v1}/w")).unwrap();
    let through_v1beta1 = cluster.get(&format!("{v1beta1}/w")).unwrap();
    assert_eq!(through_v1["apiVersion"], "example.sealbox.dev/v1");
    assert_eq!(through_v1beta1["apiVersion"], "example.sealbox.dev/v1beta1");
    assert_eq!(through_v1["metadata"], through_v1beta1["metadata"]);
    assert_eq!(through_v1["spec"], json!({"size": 3}));
    assert_eq!(cluster.list(&v1beta1).len(), 1);

    let events: Vec<Value> = watcher
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let added = events
        .iter()
        .find(|e| e["type"] == "ADDED")
        .unwrap_or_else(|| panic!("no ADDED event through v1: {watcher}"));
    assert_eq!(added["object"]["apiVersion"], "example.sealbox.dev/v1");
    assert_eq!(added["object"]["metadata"]["name"], "w");
}

#[test]
fn the_emulator_labels_namespaces_and_records_field_managers() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "meta");
    cluster.create(
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "team-b"}}),
    );
    let selected =
        cluster.list("/api/v1/namespaces?labelSelector=kubernetes.io%2Fmetadata.name%3Dteam-b");
    assert_eq!(selected.len(), 1);
    assert_eq!(selected[0]["metadata"]["name"], "team-b");
    // ClusterExternalSecrets are served by default.
    assert!(
        cluster
            .get("/apis/external-secrets.io/v1/clusterexternalsecrets")
            .is_some()
    );
    // No namespace, no content.
    let reply = cluster.request(
        "POST",
        "/api/v1/namespaces/team-z/secrets",
        Some(&json!({"metadata": {"name": "s"}})),
    );
    assert_eq!(reply.status, 404, "{}", reply.body);

    let secrets = "/api/v1/namespaces/team-b/secrets";
    cluster.create(
        &format!("{secrets}?fieldManager=external-secrets"),
        &json!({"metadata": {"name": "s"}, "stringData": {"a": "1", "b": "2"}}),
    );
    let mut secret = cluster.get(&format!("{secrets}/s")).unwrap();
    secret["data"]["c"] = json!("Mw==");
    let replaced = cluster.replace(&format!("{secrets}/s?fieldManager=someone-else"), &secret);
    let owned = |manager: &str| -> Vec<String> {
        let entry = replaced["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["manager"] == manager)
            .unwrap_or_else(|| panic!("no managedFields entry of {manager}: {replaced}"));
        assert_eq!(entry["operation"], "Update");
        let mut keys: Vec<String> = entry["fieldsV1"]["f:data"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(owned("external-secrets"), [".", "f:a", "f:b"]);
    assert_eq!(owned("someone-else"), ["f:c"]);

    // Deleting the namespace takes its objects with it.
    cluster.delete("/api/v1/namespaces/team-b");
    assert!(cluster.get(&format!("{secrets}/s")).is_none());
    assert!(cluster.get("/api/v1/namespaces/team-b").is_none());
}

/// What the next test runs in a child process: start both servers, print their PIDs, abort.
#[test]
#[ignore = "run by the_servers_die_with_the_test_process, in a process of its own"]
fn child_starts_the_servers_and_aborts() {
    if std::env::var_os("SEALBOX_SERVERS_CHILD").is_none() {
        return;
    }
    println!("PIDS {} {}", Moto::shared().pid(), Bao::shared().pid());
    std::process::abort();
}

fn alive(pid: &str) -> bool {
    // A zombie has exited; it is only waiting to be reaped.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

#[test]
fn the_servers_die_with_the_test_process_even_when_it_aborts() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "servers::child_starts_the_servers_and_aborts",
            "--nocapture",
        ])
        .env("SEALBOX_SERVERS_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "the child did not abort: {stdout}");
    let pids: Vec<String> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("PIDS "))
        .unwrap_or_else(|| {
            panic!(
                "the child printed no PIDs: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .split(' ')
        .map(String::from)
        .collect();
    assert_eq!(pids.len(), 2);
    let deadline = Instant::now() + Duration::from_secs(30);
    while pids.iter().any(|p| alive(p)) {
        assert!(
            Instant::now() < deadline,
            "servers still running 30 s after their test process died: {pids:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
