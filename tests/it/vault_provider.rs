//! The Vault provider (`sealbox_controller::external::providers::vault::Client`) driven
//! directly against the test process's OpenBao ([`Bao::shared`]): KV v1 and v2 reads, metadata,
//! find, token and AppRole logins, namespaces, and a CA bundle against an HTTPS OpenBao of its
//! own ([`Bao::start_tls`]). The store's credentials are Secrets in a Kubernetes API emulator,
//! read through `Refs` as in a cluster. Every test uses paths and mounts of its own ([`unique`]).

use std::collections::BTreeMap;

use sealbox_controller::crd::external::vault::VaultProvider;
use sealbox_controller::external::providers::vault::Client;
use sealbox_controller::external::providers::{Find, Meter, ProviderError, Ref};
use sealbox_controller::external::refs::{Refs, StoreScope};
use sealbox_crypto::sealed::encode_base64;
use sealbox_tests::Env;
use sealbox_tests::cluster::Cluster;
use sealbox_tests::servers::{Bao, unique};
use serde_json::{Value, json};

const SECRETS: &str = "/api/v1/namespaces/default/secrets";

/// An emulated cluster holding the stores' credentials, and the `Refs` of a SecretStore in
/// `default` reading them.
struct Kube {
    cluster: Cluster,
    refs: Refs,
    _env: Env,
}

impl Kube {
    fn start() -> Kube {
        let env = Env::new();
        let cluster = Cluster::start(&env, "vault-provider");
        let config = kube::Config::new(cluster.url.parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        let refs = Refs::new(
            client,
            StoreScope::Namespaced {
                namespace: "default".into(),
            },
        );
        Kube {
            cluster,
            refs,
            _env: env,
        }
    }

    /// A new Secret holding `value` under the key `value`: its selector.
    fn secret(&self, value: &str) -> Value {
        let name = unique("vault-cred");
        self.cluster.create(
            SECRETS,
            &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                    "stringData": {"value": value}}),
        );
        json!({"name": name, "key": "value"})
    }

    /// A store spec (ESO's `spec.provider.vault`) for `server` with `extra` fields, whose
    /// token is `token`.
    fn store(&self, server: &str, token: &str, extra: Value) -> VaultProvider {
        let mut spec = json!({"server": server, "auth": {"tokenSecretRef": self.secret(token)}});
        for (key, value) in extra.as_object().unwrap() {
            spec[key] = value.clone();
        }
        serde_json::from_value(spec).unwrap()
    }

    /// A client of the shared OpenBao with the root token; `mount` and `version` as in the
    /// store's `path` and `version`.
    async fn root_client(&self, mount: Option<&str>, version: &str) -> Client {
        let bao = Bao::shared();
        let spec = self.store(
            bao.url(),
            bao.root_token(),
            json!({"path": mount, "version": version}),
        );
        Client::connect(&spec, &self.refs, &Meter::default())
            .await
            .unwrap()
    }
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
async fn kv2_reads_whole_property_nested_version_and_extract() {
    let kube = Kube::start();
    let bao = Bao::shared();
    let app = unique("vp-kv2");
    bao.kv2_put("secret", &app, &json!({"old": "one"}));
    bao.kv2_put(
        "secret",
        &app,
        &json!({"user": "u", "db": {"host": "h", "port": 5432}, "ratio": 1.50, "html": "<&>",
                "on": true, "tiny": 0.00001}),
    );
    let client = kube.root_client(Some("secret"), "v2").await;
    // KV v2 stores numbers as float64s: they come back in Go's spelling.
    assert_eq!(
        text(&client, &key(&app)).await,
        r#"{"db":{"host":"h","port":5432},"html":"\u003c\u0026\u003e","on":true,"ratio":1.5,"tiny":0.00001,"user":"u"}"#
    );
    assert_eq!(text(&client, &prop(&app, "user")).await, "u");
    assert_eq!(
        text(&client, &prop(&app, "db")).await,
        r#"{"host":"h","port":5432}"#
    );
    assert_eq!(text(&client, &prop(&app, "db.port")).await, "5432");
    assert_eq!(text(&client, &prop(&app, "on")).await, "true");
    assert_eq!(text(&client, &prop(&app, "tiny")).await, "0.00001");
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
    let unmounted = kube.root_client(None, "v2").await;
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
    assert_eq!(map["tiny"], "0.00001");
    let nested = client.get_secret_map(&prop(&app, "db")).await.unwrap();
    assert_eq!(nested["port"], b"5432");
}

#[tokio::test]
async fn kv2_missing_deleted_and_missing_property() {
    let kube = Kube::start();
    let bao = Bao::shared();
    let p = unique("vp-gone");
    let client = kube.root_client(Some("secret"), "v2").await;
    let missing = client.get_secret(&key(&format!("{p}/never"))).await;
    assert!(
        matches!(missing, Err(ProviderError::NotFound(_))),
        "{missing:?}"
    );
    bao.kv2_put("secret", &format!("{p}/deleted"), &json!({"a": "b"}));
    bao.request("DELETE", &format!("secret/data/{p}/deleted"), None);
    let deleted = client.get_secret(&key(&format!("{p}/deleted"))).await;
    assert!(
        matches!(deleted, Err(ProviderError::NotFound(_))),
        "{deleted:?}"
    );
    let absent_version = Ref {
        version: Some("7".into()),
        ..key(&format!("{p}/deleted"))
    };
    let absent = client.get_secret(&absent_version).await;
    assert!(
        matches!(absent, Err(ProviderError::NotFound(_))),
        "{absent:?}"
    );
    bao.kv2_put("secret", &format!("{p}/here"), &json!({"a": "b"}));
    let err = client
        .get_secret(&prop(&format!("{p}/here"), "nope.x"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ProviderError::Failed(r#"cannot find secret data for key: "nope.x""#.into())
    );
    // gjson syntax sealbox does not evaluate is a spec error, not a wrong value.
    let err = client
        .get_secret(&prop(&format!("{p}/here"), "a|@reverse"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::Config(m) if m.contains("does not support")),
        "{err:?}"
    );
}

#[tokio::test]
async fn kv2_metadata_fetch() {
    let kube = Kube::start();
    let bao = Bao::shared();
    let app = unique("vp-meta");
    bao.kv2_put("secret", &app, &json!({"a": "b"}));
    bao.kv2_put("secret", &app, &json!({"a": "c"}));
    bao.request(
        "POST",
        &format!("secret/metadata/{app}"),
        Some(&json!({"custom_metadata": {"team": "blue", "created_time": "custom wins"}})),
    );
    let client = kube.root_client(Some("secret"), "v2").await;
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
async fn kv2_find_by_path_name_and_tags() {
    let kube = Kube::start();
    let bao = Bao::shared();
    // A mount of its own: finding by name lists the whole mount.
    let mount = unique("vp-find");
    bao.enable_kv(&mount, "2");
    let p = "apps";
    for (name, team) in [
        ("db/one", "blue"),
        ("db/two", "red"),
        ("web/deep/x", "blue"),
    ] {
        bao.kv2_put(&mount, &format!("{p}/{name}"), &json!({"n": name}));
        bao.request(
            "POST",
            &format!("{mount}/metadata/{p}/{name}"),
            Some(&json!({"custom_metadata": {"team": team}})),
        );
    }
    bao.kv2_put(&mount, "elsewhere", &json!({"n": "elsewhere"}));
    let client = kube.root_client(Some(&mount), "v2").await;
    let by_path = Find {
        path: Some(p.to_owned()),
        ..Find::default()
    };
    let all = client.get_all(&by_path).await.unwrap();
    let names: Vec<&str> = all.keys().map(String::as_str).collect();
    assert_eq!(names, ["apps/db/one", "apps/db/two", "apps/web/deep/x"]);
    assert_eq!(all["apps/db/one"], br#"{"n":"db/one"}"#);

    // Name over the whole mount (unanchored), relative to the mount.
    let by_name = Find {
        name: Some(regex::Regex::new("s/db/").unwrap()),
        ..Find::default()
    };
    let db: Vec<String> = client
        .get_all(&by_name)
        .await
        .unwrap()
        .into_keys()
        .collect();
    assert_eq!(db, ["apps/db/one", "apps/db/two"]);

    let by_tags = Find {
        path: Some(p.to_owned()),
        tags: BTreeMap::from([("team".into(), "blue".into())]),
        ..Find::default()
    };
    let blue: Vec<String> = client
        .get_all(&by_tags)
        .await
        .unwrap()
        .into_keys()
        .collect();
    assert_eq!(blue, ["apps/db/one", "apps/web/deep/x"]);

    // No mount: the path carries `<mount>/data/`, and so do the keys.
    let unmounted = kube.root_client(None, "v2").await;
    let find = Find {
        path: Some(format!("{mount}/data/{p}/db")),
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
            format!("{mount}/data/{p}/db/one"),
            format!("{mount}/data/{p}/db/two")
        ]
    );
    let missing = Find {
        path: Some(format!("{p}/none")),
        ..Find::default()
    };
    let err = client.get_all(&missing).await;
    assert!(matches!(err, Err(ProviderError::NotFound(_))), "{err:?}");
}

#[tokio::test]
async fn kv1_mount_reads_and_finds_by_name() {
    let kube = Kube::start();
    let bao = Bao::shared();
    let mount = unique("vp-kv1");
    bao.enable_kv(&mount, "1");
    // KV v1 keeps the numbers' text as written, so it is sent as text (`json!` would make
    // `1.50` into `1.5`).
    let reply = ureq::post(format!("{}/v1/{mount}/app/db", bao.url()))
        .header("X-Vault-Token", bao.root_token())
        .send(r#"{"user": "u", "n": 7, "f": 1.50, "big": 12345678901234567890123}"#)
        .unwrap();
    assert_eq!(reply.status(), 204);
    let client = kube.root_client(Some(&mount), "v1").await;
    // As ESO (json.Number): the whole secret and a top-level key keep Vault's text...
    assert_eq!(
        text(&client, &key("app/db")).await,
        r#"{"big":12345678901234567890123,"f":1.50,"n":7,"user":"u"}"#
    );
    assert_eq!(text(&client, &prop("app/db", "f")).await, "1.50");
    assert_eq!(
        text(&client, &prop("app/db", "big")).await,
        "12345678901234567890123"
    );
    // ... and extract reads them as float64s.
    let map = client.get_secret_map(&key("app/db")).await.unwrap();
    assert_eq!(map["f"], b"1.5");
    assert_eq!(map["big"], b"12345678901234568000000");
    assert_eq!(
        text(&client, &prop(&format!("{mount}/app/db"), "n")).await,
        "7"
    );
    let unmounted = kube.root_client(None, "v1").await;
    assert_eq!(
        text(&unmounted, &prop(&format!("{mount}/app/db"), "user")).await,
        "u"
    );
    let none = client.get_secret(&key("app/none")).await;
    assert!(matches!(none, Err(ProviderError::NotFound(_))), "{none:?}");
    let meta = Ref {
        metadata: true,
        ..key("app/db")
    };
    let err = client.get_secret(&meta).await;
    assert!(matches!(err, Err(ProviderError::Config(_))), "{err:?}");
    let tags = Find {
        tags: BTreeMap::from([("a".into(), "b".into())]),
        ..Find::default()
    };
    let err = client.get_all(&tags).await;
    assert!(matches!(err, Err(ProviderError::Config(_))), "{err:?}");
    let by_name = Find {
        name: Some(regex::Regex::new("^app/").unwrap()),
        ..Find::default()
    };
    let found = client.get_all(&by_name).await.unwrap();
    assert_eq!(found.keys().collect::<Vec<_>>(), ["app/db"]);
}

#[tokio::test]
async fn app_role_logs_in_and_reads_with_its_policy() {
    let kube = Kube::start();
    let bao = Bao::shared();
    let mount = unique("vp-approle");
    let p = unique("vp-ar");
    bao.kv2_put("secret", &format!("{p}/app"), &json!({"k": "v"}));
    bao.write_policy(
        &mount,
        &format!("path \"secret/data/{p}/*\" {{ capabilities = [\"read\"] }}"),
    );
    let (role_id, secret_id) = bao.approle(&mount, "sealbox", &[&mount]);

    let spec = |secret_id: &str| -> VaultProvider {
        serde_json::from_value(json!({
            "server": bao.url(), "path": "secret", "version": "v2",
            "auth": {"appRole": {"path": mount, "roleId": role_id,
                                 "secretRef": kube.secret(secret_id)}}}))
        .unwrap()
    };
    let client = Client::connect(&spec(&secret_id), &kube.refs, &Meter::default())
        .await
        .unwrap();
    client.validate().await.unwrap();
    assert_eq!(text(&client, &prop(&format!("{p}/app"), "k")).await, "v");
    // Outside the policy: a Failed with Vault's words, not a NotFound.
    let denied = client.get_secret(&key("elsewhere")).await.unwrap_err();
    assert!(
        matches!(&denied, ProviderError::Failed(m) if m.contains("permission denied")),
        "{denied:?}"
    );

    let err = Client::connect(
        &spec("not-the-secret-id-4711"),
        &kube.refs,
        &Meter::default(),
    )
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
async fn a_bad_token_fails_validation_and_reads() {
    let kube = Kube::start();
    let bao = Bao::shared();
    let spec = kube.store(
        bao.url(),
        "s.not-a-token-0815",
        json!({"path": "secret", "version": "v2"}),
    );
    let client = Client::connect(&spec, &kube.refs, &Meter::default())
        .await
        .unwrap();
    let err = client.validate().await.unwrap_err();
    assert!(
        matches!(&err, ProviderError::Failed(m) if m.contains("403") && !m.contains("0815")),
        "{err:?}"
    );
    let read = client.get_secret(&key("x")).await.unwrap_err();
    assert!(matches!(read, ProviderError::Failed(_)), "{read:?}");
    kube.root_client(Some("secret"), "v2")
        .await
        .validate()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_store_namespace_is_sent_on_reads() {
    let kube = Kube::start();
    let bao = Bao::shared();
    let namespace = unique("vp-team");
    bao.request(
        "POST",
        &format!("sys/namespaces/{namespace}"),
        Some(&json!({})),
    );
    // A path prefix addresses a namespace in OpenBao's API, as the header does.
    bao.request(
        "POST",
        &format!("{namespace}/sys/mounts/secret"),
        Some(&json!({"type": "kv", "options": {"version": "2"}})),
    );
    bao.kv2_put(
        &format!("{namespace}/secret"),
        "app",
        &json!({"in": "namespace"}),
    );
    let spec = kube.store(
        bao.url(),
        bao.root_token(),
        json!({"path": "secret", "version": "v2", "namespace": namespace}),
    );
    let client = Client::connect(&spec, &kube.refs, &Meter::default())
        .await
        .unwrap();
    assert_eq!(text(&client, &prop("app", "in")).await, "namespace");
    client.validate().await.unwrap();
    let root = kube.root_client(Some("secret"), "v2").await;
    let err = root.get_secret(&key("app")).await;
    assert!(matches!(err, Err(ProviderError::NotFound(_))), "{err:?}");
}

#[tokio::test]
async fn ca_bundle_verifies_the_server_certificate() {
    let kube = Kube::start();
    let bao = Bao::start_tls();
    let with_ca = kube.store(
        bao.url(),
        bao.root_token(),
        json!({"path": "secret", "version": "v2", "caBundle": encode_base64(bao.ca_pem())}),
    );
    let client = Client::connect(&with_ca, &kube.refs, &Meter::default())
        .await
        .unwrap();
    client.validate().await.unwrap();

    // Without the CA (system roots only), the self-signed chain is refused.
    let without = kube.store(
        bao.url(),
        bao.root_token(),
        json!({"path": "secret", "version": "v2"}),
    );
    let untrusted = Client::connect(&without, &kube.refs, &Meter::default())
        .await
        .unwrap();
    let err = untrusted.validate().await.unwrap_err();
    assert!(
        matches!(&err, ProviderError::Failed(m) if m.contains("certificate")),
        "{err:?}"
    );
    // Nor does another CA do.
    let other_ca = Bao::start_tls();
    let wrong = kube.store(
        bao.url(),
        bao.root_token(),
        json!({"path": "secret", "version": "v2", "caBundle": encode_base64(other_ca.ca_pem())}),
    );
    let err = Client::connect(&wrong, &kube.refs, &Meter::default())
        .await
        .unwrap()
        .validate()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::Failed(m) if m.contains("certificate")),
        "{err:?}"
    );
}
