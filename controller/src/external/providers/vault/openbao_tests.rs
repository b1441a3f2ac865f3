//! Against a real OpenBao dev server (test-infra spec §2), started by the caller:
//! `bao server -dev -dev-root-token-id=root -dev-listen-address=127.0.0.1:18200 -dev-no-store-token`
//! then `SEALBOX_BAO_URL=http://127.0.0.1:18200 cargo test -p sealbox-controller --lib
//! external::providers::vault -- --ignored`. Every test writes under its own random prefix,
//! so they run in parallel and can be re-run on the same server.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;

fn url() -> String {
    std::env::var("SEALBOX_BAO_URL").expect("SEALBOX_BAO_URL: the OpenBao dev server's address")
}

fn root_token() -> String {
    std::env::var("SEALBOX_BAO_TOKEN").unwrap_or_else(|_| "root".into())
}

/// A prefix no other test run uses.
fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

/// Sets up the server with the root token, as an operator would with the `bao` CLI.
async fn admin(method: &str, logical: &str, body: Value) -> Value {
    admin_in(None, method, logical, body).await
}

/// [`admin`] in a namespace.
async fn admin_in(namespace: Option<&str>, method: &str, logical: &str, body: Value) -> Value {
    let http = Http::new(&url(), &BTreeMap::new(), Tls::default()).unwrap();
    let token = root_token();
    let call = Call {
        method: ::http::Method::from_bytes(method.as_bytes()).unwrap(),
        path: logical,
        query: &[],
        body: (!body.is_null()).then(|| Zeroizing::new(serde_json::to_vec(&body).unwrap())),
        token: Some(&token),
        namespace,
    };
    let reply = http.send(call).await.unwrap();
    assert!(
        reply.status < 400,
        "{method} {logical}: {}",
        http::status_error(&reply)
    );
    if reply.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&reply.body).unwrap()
    }
}

async fn put_v2(path: &str, data: Value) {
    admin(
        "POST",
        &format!("secret/data/{path}"),
        json!({ "data": data }),
    )
    .await;
}

fn store(mount: Option<&str>, version: &str) -> VaultProvider {
    VaultProvider {
        server: url(),
        path: mount.map(str::to_owned),
        version: Some(version.into()),
        ..VaultProvider::default()
    }
}

async fn root_client(spec: &VaultProvider) -> Client {
    Client::log_in(
        spec,
        Tls::default(),
        Login::Token(Zeroizing::new(root_token())),
    )
    .await
    .unwrap()
}

fn key(key: &str) -> Ref {
    Ref {
        key: key.into(),
        ..Ref::default()
    }
}

fn prop(key: &str, property: &str) -> Ref {
    Ref {
        key: key.into(),
        property: Some(property.into()),
        ..Ref::default()
    }
}

async fn text(client: &Client, r: &Ref) -> String {
    String::from_utf8(client.get_secret(r).await.unwrap()).unwrap()
}

#[tokio::test]
#[ignore = "needs OpenBao: SEALBOX_BAO_URL=… cargo test -- --ignored"]
async fn kv2_reads_whole_property_nested_version_and_extract() {
    let p = unique("kv2");
    put_v2(&format!("{p}/app"), json!({"old": "one"})).await;
    put_v2(
        &format!("{p}/app"),
        json!({"user": "u", "db": {"host": "h", "port": 5432}, "ratio": 1.50, "html": "<&>", "on": true}),
    )
    .await;
    let client = root_client(&store(Some("secret"), "v2")).await;
    let app = format!("{p}/app");
    assert_eq!(
        text(&client, &key(&app)).await,
        r#"{"db":{"host":"h","port":5432},"html":"\u003c\u0026\u003e","on":true,"ratio":1.5,"user":"u"}"#
    );
    assert_eq!(text(&client, &prop(&app, "user")).await, "u");
    assert_eq!(
        text(&client, &prop(&app, "db")).await,
        r#"{"host":"h","port":5432}"#
    );
    assert_eq!(text(&client, &prop(&app, "db.port")).await, "5432");
    assert_eq!(text(&client, &prop(&app, "on")).await, "true");
    let first = Ref {
        version: Some("1".into()),
        ..key(&app)
    };
    assert_eq!(text(&client, &first).await, r#"{"old":"one"}"#);
    // The mount prefix in the key, with and without `data/`, reads the same secret.
    for spelled in [format!("secret/{app}"), format!("secret/data/{app}")] {
        assert_eq!(text(&client, &prop(&spelled, "user")).await, "u");
    }
    // No mount in the store: the key carries it.
    let unmounted = root_client(&store(None, "v2")).await;
    assert_eq!(
        text(&unmounted, &prop(&format!("secret/{app}"), "user")).await,
        "u"
    );

    let map = client.get_secret_map(&key(&app)).await.unwrap();
    let map: BTreeMap<&str, String> = map
        .iter()
        .map(|(k, v)| (k.as_str(), String::from_utf8(v.clone()).unwrap()))
        .collect();
    assert_eq!(map["user"], "u");
    assert_eq!(map["db"], r#"{"host":"h","port":5432}"#);
    assert_eq!(map["ratio"], "1.5");
    assert_eq!(map["on"], "true");
    let nested = client.get_secret_map(&prop(&app, "db")).await.unwrap();
    assert_eq!(nested["port"], b"5432");
}

#[tokio::test]
#[ignore = "needs OpenBao: SEALBOX_BAO_URL=… cargo test -- --ignored"]
async fn kv2_missing_deleted_and_missing_property() {
    let p = unique("gone");
    let client = root_client(&store(Some("secret"), "v2")).await;
    let missing = client.get_secret(&key(&format!("{p}/never"))).await;
    assert!(
        matches!(missing, Err(ProviderError::NotFound(_))),
        "{missing:?}"
    );
    put_v2(&format!("{p}/deleted"), json!({"a": "b"})).await;
    admin("DELETE", &format!("secret/data/{p}/deleted"), Value::Null).await;
    let deleted = client.get_secret(&key(&format!("{p}/deleted"))).await;
    assert!(
        matches!(deleted, Err(ProviderError::NotFound(_))),
        "{deleted:?}"
    );
    let absent_version = Ref {
        version: Some("7".into()),
        ..key(&format!("{p}/deleted"))
    };
    assert!(matches!(
        client.get_secret(&absent_version).await,
        Err(ProviderError::NotFound(_))
    ));
    put_v2(&format!("{p}/here"), json!({"a": "b"})).await;
    let err = client
        .get_secret(&prop(&format!("{p}/here"), "nope.x"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ProviderError::Failed(r#"cannot find secret data for key: "nope.x""#.into())
    );
}

#[tokio::test]
#[ignore = "needs OpenBao: SEALBOX_BAO_URL=… cargo test -- --ignored"]
async fn kv2_metadata_fetch() {
    let p = unique("meta");
    let app = format!("{p}/app");
    put_v2(&app, json!({"a": "b"})).await;
    put_v2(&app, json!({"a": "c"})).await;
    admin(
        "POST",
        &format!("secret/metadata/{app}"),
        json!({"custom_metadata": {"team": "blue", "created_time": "custom wins"}}),
    )
    .await;
    let client = root_client(&store(Some("secret"), "v2")).await;
    let meta = Ref {
        metadata: true,
        ..key(&app)
    };
    let whole: Value = serde_json::from_slice(&client.get_secret(&meta).await.unwrap()).unwrap();
    assert_eq!(
        whole,
        json!({"team": "blue", "created_time": "custom wins", "current_version": "2", "delete_version_after": "0s"})
    );
    let team = Ref {
        property: Some("team".into()),
        ..meta.clone()
    };
    assert_eq!(text(&client, &team).await, "blue");
    let version = Ref {
        property: Some("current_version".into()),
        ..meta
    };
    assert_eq!(text(&client, &version).await, "2");
}

#[tokio::test]
#[ignore = "needs OpenBao: SEALBOX_BAO_URL=… cargo test -- --ignored"]
async fn kv2_find_by_path_name_and_tags() {
    let p = unique("find");
    for (name, team) in [
        ("db/one", "blue"),
        ("db/two", "red"),
        ("web/deep/x", "blue"),
    ] {
        put_v2(&format!("{p}/{name}"), json!({"n": name})).await;
        admin(
            "POST",
            &format!("secret/metadata/{p}/{name}"),
            json!({"custom_metadata": {"team": team}}),
        )
        .await;
    }
    let client = root_client(&store(Some("secret"), "v2")).await;
    let by_path = Find {
        path: Some(p.clone()),
        ..Find::default()
    };
    let all = client.get_all(&by_path).await.unwrap();
    let names: Vec<&str> = all.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            format!("{p}/db/one"),
            format!("{p}/db/two"),
            format!("{p}/web/deep/x")
        ]
    );
    assert_eq!(all[&format!("{p}/db/one")], br#"{"n":"db/one"}"#);

    // Name over the whole mount (unanchored), relative to the mount.
    let by_name = Find {
        name: Some(regex::Regex::new(&format!("{p}/db/")).unwrap()),
        ..Find::default()
    };
    let db: Vec<String> = client
        .get_all(&by_name)
        .await
        .unwrap()
        .into_keys()
        .collect();
    assert_eq!(db, [format!("{p}/db/one"), format!("{p}/db/two")]);

    let by_tags = Find {
        path: Some(p.clone()),
        tags: BTreeMap::from([("team".into(), "blue".into())]),
        ..Find::default()
    };
    let blue: Vec<String> = client
        .get_all(&by_tags)
        .await
        .unwrap()
        .into_keys()
        .collect();
    assert_eq!(blue, [format!("{p}/db/one"), format!("{p}/web/deep/x")]);

    // No mount: the path carries `<mount>/data/`, and so do the keys.
    let unmounted = root_client(&store(None, "v2")).await;
    let find = Find {
        path: Some(format!("secret/data/{p}/db")),
        ..Find::default()
    };
    let keys: Vec<String> = unmounted
        .get_all(&find)
        .await
        .unwrap()
        .into_keys()
        .collect();
    assert_eq!(
        keys,
        [
            format!("secret/data/{p}/db/one"),
            format!("secret/data/{p}/db/two")
        ]
    );
    let missing = Find {
        path: Some(format!("{p}/none")),
        ..Find::default()
    };
    assert!(matches!(
        client.get_all(&missing).await,
        Err(ProviderError::NotFound(_))
    ));
}

#[tokio::test]
#[ignore = "needs OpenBao: SEALBOX_BAO_URL=… cargo test -- --ignored"]
async fn kv1_mount_reads_and_finds_by_name() {
    let mount = unique("kv1");
    admin(
        "POST",
        &format!("sys/mounts/{mount}"),
        json!({"type": "kv", "options": {"version": "1"}}),
    )
    .await;
    admin(
        "POST",
        &format!("{mount}/app/db"),
        json!({"user": "u", "n": 7}),
    )
    .await;
    let client = root_client(&store(Some(&mount), "v1")).await;
    assert_eq!(text(&client, &key("app/db")).await, r#"{"n":7,"user":"u"}"#);
    assert_eq!(
        text(&client, &prop(&format!("{mount}/app/db"), "n")).await,
        "7"
    );
    let unmounted = root_client(&store(None, "v1")).await;
    assert_eq!(
        text(&unmounted, &prop(&format!("{mount}/app/db"), "user")).await,
        "u"
    );
    assert!(matches!(
        client.get_secret(&key("app/none")).await,
        Err(ProviderError::NotFound(_))
    ));
    let meta = Ref {
        metadata: true,
        ..key("app/db")
    };
    assert!(matches!(
        client.get_secret(&meta).await,
        Err(ProviderError::Config(_))
    ));
    let tags = Find {
        tags: BTreeMap::from([("a".into(), "b".into())]),
        ..Find::default()
    };
    assert!(matches!(
        client.get_all(&tags).await,
        Err(ProviderError::Config(_))
    ));
    let by_name = Find {
        name: Some(regex::Regex::new("^app/").unwrap()),
        ..Find::default()
    };
    let found = client.get_all(&by_name).await.unwrap();
    assert_eq!(found.keys().collect::<Vec<_>>(), ["app/db"]);
}

#[tokio::test]
#[ignore = "needs OpenBao: SEALBOX_BAO_URL=… cargo test -- --ignored"]
async fn app_role_logs_in_and_reads_with_its_policy() {
    let mount = unique("approle");
    let p = unique("ar");
    put_v2(&format!("{p}/app"), json!({"k": "v"})).await;
    admin(
        "POST",
        &format!("sys/auth/{mount}"),
        json!({"type": "approle"}),
    )
    .await;
    admin(
        "PUT",
        &format!("sys/policies/acl/{mount}"),
        json!({"policy": format!("path \"secret/data/{p}/*\" {{ capabilities = [\"read\"] }}")}),
    )
    .await;
    admin(
        "POST",
        &format!("auth/{mount}/role/sealbox"),
        json!({"token_policies": [mount.clone()]}),
    )
    .await;
    let role_id = admin(
        "GET",
        &format!("auth/{mount}/role/sealbox/role-id"),
        Value::Null,
    )
    .await["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret_id = admin(
        "POST",
        &format!("auth/{mount}/role/sealbox/secret-id"),
        json!({}),
    )
    .await["data"]["secret_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let spec = store(Some("secret"), "v2");
    let login = Login::AppRole {
        mount: mount.clone(),
        role_id: Zeroizing::new(role_id.clone()),
        secret_id: Zeroizing::new(secret_id.clone()),
    };
    let client = Client::log_in(&spec, Tls::default(), login).await.unwrap();
    client.validate().await.unwrap();
    assert_eq!(text(&client, &prop(&format!("{p}/app"), "k")).await, "v");
    // Outside the policy: a Failed with Vault's words, not a NotFound.
    let denied = client.get_secret(&key("elsewhere")).await.unwrap_err();
    assert!(
        matches!(&denied, ProviderError::Failed(m) if m.contains("permission denied")),
        "{denied:?}"
    );

    let wrong = Login::AppRole {
        mount: mount.clone(),
        role_id: Zeroizing::new(role_id),
        secret_id: Zeroizing::new("not-the-secret-id-4711".into()),
    };
    let err = Client::log_in(&spec, Tls::default(), wrong)
        .await
        .err()
        .unwrap();
    let ProviderError::Failed(message) = &err else {
        panic!("{err:?}");
    };
    assert!(
        message.contains("appRole") && message.contains(&format!("auth/{mount}/login")),
        "{message}"
    );
    assert!(
        !message.contains("4711") && !message.contains(&secret_id),
        "{message}"
    );
}

#[tokio::test]
#[ignore = "needs OpenBao: SEALBOX_BAO_URL=… cargo test -- --ignored"]
async fn a_bad_token_fails_validation_and_reads() {
    let spec = store(Some("secret"), "v2");
    let login = Login::Token(Zeroizing::new("s.not-a-token-0815".into()));
    let client = Client::log_in(&spec, Tls::default(), login).await.unwrap();
    let err = client.validate().await.unwrap_err();
    assert!(
        matches!(&err, ProviderError::Failed(m) if m.contains("403") && !m.contains("0815")),
        "{err:?}"
    );
    let read = client.get_secret(&key("x")).await.unwrap_err();
    assert!(matches!(read, ProviderError::Failed(_)), "{read:?}");
    root_client(&spec).await.validate().await.unwrap();
}

#[tokio::test]
#[ignore = "needs OpenBao: SEALBOX_BAO_URL=… cargo test -- --ignored"]
async fn the_store_namespace_is_sent_on_reads() {
    let namespace = unique("team");
    admin("POST", &format!("sys/namespaces/{namespace}"), json!({})).await;
    admin_in(
        Some(&namespace),
        "POST",
        "sys/mounts/secret",
        json!({"type": "kv", "options": {"version": "2"}}),
    )
    .await;
    admin_in(
        Some(&namespace),
        "POST",
        "secret/data/app",
        json!({"data": {"in": "namespace"}}),
    )
    .await;
    let spec = VaultProvider {
        namespace: Some(namespace.clone()),
        ..store(Some("secret"), "v2")
    };
    let client = root_client(&spec).await;
    assert_eq!(text(&client, &prop("app", "in")).await, "namespace");
    client.validate().await.unwrap();
    let root = root_client(&store(Some("secret"), "v2")).await;
    assert!(matches!(
        root.get_secret(&key("app")).await,
        Err(ProviderError::NotFound(_))
    ));
}

/// With `SEALBOX_BAO_TLS_URL` and `SEALBOX_BAO_CA` (the CA file) of a
/// `bao server -dev -dev-tls -dev-tls-cert-dir=DIR` (`DIR/vault-ca.pem`); skipped without them.
#[tokio::test]
#[ignore = "needs OpenBao: SEALBOX_BAO_URL=… cargo test -- --ignored"]
async fn ca_bundle_verifies_the_server_certificate() {
    let (Ok(server), Ok(ca_file)) = (
        std::env::var("SEALBOX_BAO_TLS_URL"),
        std::env::var("SEALBOX_BAO_CA"),
    ) else {
        eprintln!("SEALBOX_BAO_TLS_URL / SEALBOX_BAO_CA unset: TLS check skipped");
        return;
    };
    use base64::Engine as _;
    let pem = std::fs::read(ca_file).unwrap();
    let spec = VaultProvider {
        server,
        ca_bundle: Some(base64::engine::general_purpose::STANDARD.encode(&pem)),
        ..store(Some("secret"), "v2")
    };
    let tls = Tls {
        ca_pem: tls::ca_bundle(&spec).unwrap(),
        client: None,
    };
    let token = Login::Token(Zeroizing::new(root_token()));
    let client = Client::log_in(&spec, tls, token).await.unwrap();
    client.validate().await.unwrap();

    // Without the CA (system roots only), the self-signed chain is refused.
    let token = Login::Token(Zeroizing::new(root_token()));
    let untrusted = Client::log_in(&spec, Tls::default(), token).await.unwrap();
    let err = untrusted.validate().await.unwrap_err();
    assert!(
        matches!(&err, ProviderError::Failed(m) if m.contains("certificate")),
        "{err:?}"
    );
}
