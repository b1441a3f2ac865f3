//! The AWS Secrets Manager provider (`sealbox_controller::external::providers::aws`) driven
//! directly against the shared moto server: reads, properties, versions, metadata, extract,
//! find, credentials and role chains. Each test seeds secrets under names of its own
//! ([`unique`]), so the tests run in parallel on one server.

use std::collections::BTreeMap;

use sealbox_controller::crd::external::aws::{AwsProvider, Tag as SessionTag};
use sealbox_controller::external::providers::aws::{Base, Client, Credentials, Endpoints};
use sealbox_controller::external::providers::{Find, Meter, ProviderError, Ref};
use sealbox_crypto::sealed::encode_base64;
use sealbox_tests::servers::{Moto, unique};
use serde_json::{Value, json};

fn spec() -> AwsProvider {
    AwsProvider {
        service: "SecretsManager".into(),
        region: "us-east-1".into(),
        ..AwsProvider::default()
    }
}

fn static_creds() -> Base {
    Base::Static(Credentials::new(
        "AKIDSTATIC",
        "static-secret",
        Some("static-session-token".into()),
        None,
        "test",
    ))
}

/// Both services at moto.
fn endpoints() -> Endpoints {
    let url = Moto::shared().url().to_owned();
    Endpoints {
        secrets_manager: Some(url.clone()),
        sts: Some(url),
    }
}

async fn client_for(spec: &AwsProvider) -> Client {
    Client::build(spec, static_creds(), &endpoints(), &Meter::default())
        .await
        .unwrap()
}

async fn client() -> Client {
    client_for(&spec()).await
}

/// Creates `name` with a string value and tags; its version id.
fn create(name: &str, value: &str, tags: &[(&str, &str)]) -> String {
    let tags: Vec<Value> = tags
        .iter()
        .map(|(k, v)| json!({"Key": k, "Value": v}))
        .collect();
    let out = Moto::shared().request(
        "CreateSecret",
        &json!({"Name": name, "SecretString": value, "Tags": tags}),
    );
    out["VersionId"].as_str().unwrap().to_owned()
}

fn r(key: &str) -> Ref {
    Ref {
        key: key.into(),
        ..Ref::default()
    }
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn a_plain_string_secret() {
    let c = client().await;
    let name = unique("aws-plain");
    create(&name, "hello world", &[]);
    assert_eq!(text(c.get_secret(&r(&name)).await.unwrap()), "hello world");
}

#[tokio::test]
async fn properties_nested_indexed_and_dotted() {
    let c = client().await;
    let name = unique("aws-json");
    let json = r#"{"name":{"first":"Tom"},"friends":[{"first":"Dale"},{"first":"Roger"}],"a.b":"lit","n":1.50}"#;
    create(&name, json, &[]);
    let prop = |p: &str| Ref {
        property: Some(p.into()),
        ..r(&name)
    };
    assert_eq!(
        text(c.get_secret(&prop("friends.1.first")).await.unwrap()),
        "Roger"
    );
    assert_eq!(
        text(c.get_secret(&prop("friends.#.first")).await.unwrap()),
        r#"["Dale","Roger"]"#
    );
    assert_eq!(
        text(c.get_secret(&prop("name")).await.unwrap()),
        r#"{"first":"Tom"}"#
    );
    assert_eq!(text(c.get_secret(&prop("a.b")).await.unwrap()), "lit");
    assert_eq!(text(c.get_secret(&prop("n")).await.unwrap()), "1.5");
    let err = c.get_secret(&prop("nope")).await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::Config(format!("key nope does not exist in secret {name}"))
    );
    let Err(ProviderError::Config(msg)) = c.get_secret(&prop("friends|@reverse")).await else {
        panic!("an unsupported property is a Config error")
    };
    assert!(
        msg.contains("friends|@reverse") && !msg.contains("Tom"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_binary_secret_is_returned_byte_for_byte() {
    let c = client().await;
    let name = unique("aws-bin");
    let bytes: Vec<u8> = (0..=255u8).chain([0, 0xff, 0xfe]).collect();
    Moto::shared().request(
        "CreateSecret",
        &json!({"Name": name, "SecretBinary": encode_base64(&bytes)}),
    );
    assert_eq!(c.get_secret(&r(&name)).await.unwrap(), bytes);
}

#[tokio::test]
async fn versions_by_stage_and_by_uuid() {
    let c = client().await;
    let name = unique("aws-ver");
    let v1 = create(&name, "one", &[]);
    Moto::shared().request(
        "PutSecretValue",
        &json!({"SecretId": name, "SecretString": "two"}),
    );
    let at = |v: &str| Ref {
        version: Some(v.into()),
        ..r(&name)
    };
    assert_eq!(text(c.get_secret(&r(&name)).await.unwrap()), "two");
    assert_eq!(text(c.get_secret(&at("AWSCURRENT")).await.unwrap()), "two");
    assert_eq!(text(c.get_secret(&at("AWSPREVIOUS")).await.unwrap()), "one");
    assert_eq!(
        text(c.get_secret(&at(&format!("uuid/{v1}"))).await.unwrap()),
        "one"
    );
}

/// A client whose calls are listed as `(call, status)`.
async fn counted() -> (
    Client,
    std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
) {
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = calls.clone();
    let meter = Meter::new(move |_, call, outcome| {
        sink.lock()
            .unwrap()
            .push((call.to_owned(), outcome.status().to_owned()));
    });
    let client = Client::build(&spec(), static_creds(), &endpoints(), &meter)
        .await
        .unwrap();
    (client, calls)
}

#[tokio::test]
async fn prefetch_reads_current_values_twenty_a_call_and_leaves_the_rest_to_get_secret() {
    let (c, calls) = counted().await;
    let base = unique("aws-batch");
    let names: Vec<String> = (0..23).map(|i| format!("{base}/s{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        create(name, &format!(r#"{{"n":"{i}"}}"#), &[]);
    }
    let pinned = format!("{base}/pinned");
    create(&pinned, "old", &[]);
    Moto::shared().request(
        "PutSecretValue",
        &json!({"SecretId": pinned, "SecretString": "new"}),
    );
    let missing = format!("{base}/missing");
    let since = Some(std::time::Instant::now());
    let mut refs: Vec<Ref> = names
        .iter()
        .map(|n| Ref {
            property: Some("n".into()),
            fresh_since: since,
            ..r(n)
        })
        .collect();
    let previous = Ref {
        version: Some("AWSPREVIOUS".into()),
        fresh_since: since,
        ..r(&pinned)
    };
    let absent = Ref {
        fresh_since: since,
        ..r(&missing)
    };
    refs.extend([previous.clone(), absent.clone()]);
    c.prefetch(&refs).await;
    // 23 current values and the missing one, in batches of 20: two calls.
    assert_eq!(
        *calls.lock().unwrap(),
        [
            ("BatchGetSecretValue".to_owned(), "success".to_owned()),
            ("BatchGetSecretValue".to_owned(), "success".to_owned())
        ]
    );
    for (i, r) in refs[..names.len()].iter().enumerate() {
        assert_eq!(text(c.get_secret(r).await.unwrap()), i.to_string());
    }
    assert_eq!(text(c.get_secret(&previous).await.unwrap()), "old");
    let err = c.get_secret(&absent).await.unwrap_err();
    assert!(matches!(err, ProviderError::NotFound(_)), "{err:?}");
    // Only the pinned version and the missing secret were read one by one.
    let singles: Vec<String> = calls.lock().unwrap()[2..]
        .iter()
        .map(|(call, _)| call.clone())
        .collect();
    assert_eq!(singles, ["GetSecretValue", "GetSecretValue"]);
    // Asked again with the same bound: everything is already read, no call.
    c.prefetch(&refs[..names.len()]).await;
    assert_eq!(calls.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn without_batch_permission_prefetch_is_refused_once_then_every_read_is_single() {
    let base = unique("aws-nobatch");
    let names: Vec<String> = (0..3).map(|i| format!("{base}/{i}")).collect();
    let secrets: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    // ESO's documented policy for data[]: GetSecretValue only.
    let (moto, id, secret) = Moto::start_with_policy(&["secretsmanager:GetSecretValue"], &secrets);
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = calls.clone();
    let meter = Meter::new(move |_, call, outcome| {
        sink.lock()
            .unwrap()
            .push(format!("{call} {}", outcome.status()));
    });
    let endpoints = Endpoints {
        secrets_manager: Some(moto.url().to_owned()),
        sts: Some(moto.url().to_owned()),
    };
    let base = Base::Static(Credentials::new(id, secret, None, None, "test"));
    let c = Client::build(&spec(), base, &endpoints, &meter)
        .await
        .unwrap();
    let refs = |since| -> Vec<Ref> {
        names
            .iter()
            .map(|n| Ref {
                fresh_since: Some(since),
                ..r(n)
            })
            .collect()
    };
    let first = refs(std::time::Instant::now());
    c.prefetch(&first).await;
    for r in &first {
        assert_eq!(text(c.get_secret(r).await.unwrap()), "v");
    }
    // A new sync: the client does not ask for a batch again.
    let second = refs(std::time::Instant::now());
    c.prefetch(&second).await;
    for r in &second {
        assert_eq!(text(c.get_secret(r).await.unwrap()), "v");
    }
    let mut want = vec!["BatchGetSecretValue error".to_owned()];
    want.extend(std::iter::repeat_n("GetSecretValue success".to_owned(), 6));
    assert_eq!(*calls.lock().unwrap(), want);
}

#[tokio::test]
async fn metadata_fetch_reads_the_tags() {
    let c = client().await;
    let name = unique("aws-meta");
    create(&name, "value", &[("team", "a&b"), ("env", "prod")]);
    let meta = Ref {
        metadata: true,
        ..r(&name)
    };
    assert_eq!(
        text(c.get_secret(&meta).await.unwrap()),
        r#"{"env":"prod","team":"a\u0026b"}"#
    );
    let team = Ref {
        property: Some("team".into()),
        ..meta
    };
    assert_eq!(text(c.get_secret(&team).await.unwrap()), "a&b");
}

#[tokio::test]
async fn extract_reads_an_object_and_a_nested_one() {
    let c = client().await;
    let name = unique("aws-extract");
    create(
        &name,
        r#"{"user":"admin","port":5432,"tls":{"on": true},"none":null}"#,
        &[],
    );
    let map = c.get_secret_map(&r(&name)).await.unwrap();
    let expected: BTreeMap<String, Vec<u8>> = [
        ("none", ""),
        ("port", "5432"),
        ("tls", r#"{"on": true}"#),
        ("user", "admin"),
    ]
    .map(|(k, v)| (k.to_owned(), v.as_bytes().to_vec()))
    .into();
    assert_eq!(map, expected);
    let nested = Ref {
        property: Some("tls".into()),
        ..r(&name)
    };
    assert_eq!(c.get_secret_map(&nested).await.unwrap()["on"], b"true");
    let user = Ref {
        property: Some("user".into()),
        ..r(&name)
    };
    let Err(ProviderError::Failed(msg)) = c.get_secret_map(&user).await else {
        panic!("a string is not an object")
    };
    assert!(
        msg.starts_with(&format!("unable to unmarshal secret {name}")) && !msg.contains("admin"),
        "{msg}"
    );
}

#[tokio::test]
async fn find_by_name_regexp() {
    let c = client().await;
    let run = unique("aws-findname");
    for n in ["app/db", "app/cache", "other/db"] {
        create(&format!("{run}/{n}"), n, &[]);
    }
    let f = Find {
        name: Some(regex::Regex::new(&format!("^{run}/.*/db$")).unwrap()),
        ..Find::default()
    };
    let all = c.get_all(&f).await.unwrap();
    assert_eq!(
        all.keys().cloned().collect::<Vec<_>>(),
        [format!("{run}/app/db"), format!("{run}/other/db")]
    );
    assert_eq!(all[&format!("{run}/app/db")], b"app/db");
}

#[tokio::test]
async fn find_by_path_and_name() {
    let c = client().await;
    let run = unique("aws-findpath");
    for n in ["app/db", "app/cache", "other/db"] {
        create(&format!("{run}/{n}"), n, &[]);
    }
    let f = Find {
        path: Some(format!("{run}/app/")),
        name: Some(regex::Regex::new("db|cache").unwrap()),
        ..Find::default()
    };
    let all = c.get_all(&f).await.unwrap();
    assert_eq!(
        all.keys().cloned().collect::<Vec<_>>(),
        [format!("{run}/app/cache"), format!("{run}/app/db")]
    );
}

#[tokio::test]
async fn find_by_tags_matches_pairs_not_mixed_tags() {
    let c = client().await;
    let run = unique("aws-findtags");
    let (prod, team) = (format!("prod-{run}"), format!("a-{run}"));
    let wrong = format!("{prod}-x");
    create(
        &format!("{run}/good"),
        "good",
        &[("env", &prod), ("team", &team)],
    );
    create(
        &format!("{run}/app/good"),
        "good2",
        &[("env", &prod), ("team", &team)],
    );
    // ESO #3031: every key and every value is present, but not as these pairs.
    create(
        &format!("{run}/mixed"),
        "decoy",
        &[("env", &team), ("team", &prod)],
    );
    // AWS's tag-value filter is a prefix match.
    create(
        &format!("{run}/prefix"),
        "decoy",
        &[("env", &wrong), ("team", &team)],
    );
    let tags: BTreeMap<String, String> =
        [("env".into(), prod.clone()), ("team".into(), team.clone())].into();
    let by_tags = Find {
        tags: tags.clone(),
        ..Find::default()
    };
    let all = c.get_all(&by_tags).await.unwrap();
    assert_eq!(
        all.keys().cloned().collect::<Vec<_>>(),
        [format!("{run}/app/good"), format!("{run}/good")]
    );
    assert_eq!(all[&format!("{run}/good")], b"good");
    let with_path = Find {
        tags: tags.clone(),
        path: Some(format!("{run}/app")),
        ..Find::default()
    };
    let all = c.get_all(&with_path).await.unwrap();
    assert_eq!(
        all.keys().cloned().collect::<Vec<_>>(),
        [format!("{run}/app/good")]
    );
    let with_name = Find {
        tags,
        name: Some(regex::Regex::new("/good$").unwrap()),
        ..Find::default()
    };
    let all = c.get_all(&with_name).await.unwrap();
    assert_eq!(
        all.keys().cloned().collect::<Vec<_>>(),
        [format!("{run}/app/good"), format!("{run}/good")]
    );
}

#[tokio::test]
async fn find_with_neither_name_nor_tags_is_refused() {
    let c = client().await;
    let f = Find {
        path: Some("x".into()),
        ..Find::default()
    };
    assert!(
        matches!(c.get_all(&f).await, Err(ProviderError::Config(m)) if m.starts_with("unexpected find operator"))
    );
}

#[tokio::test]
async fn static_credentials_with_a_session_token_validate_and_read() {
    let c = client().await;
    c.validate().await.unwrap();
    let creds = c.credentials().await.unwrap();
    assert_eq!(creds.access_key_id(), "AKIDSTATIC");
    assert_eq!(creds.session_token(), Some("static-session-token"));
    let name = unique("aws-static");
    create(&name, "v", &[]);
    assert_eq!(c.get_secret(&r(&name)).await.unwrap(), b"v");
}

#[tokio::test]
async fn roles_are_assumed_in_order_and_used_for_reads() {
    let spec = AwsProvider {
        additional_roles: vec!["arn:aws:iam::123456789012:role/hop".into()],
        role: Some("arn:aws:iam::123456789012:role/reader".into()),
        external_id: Some("ext-1".into()),
        session_tags: vec![SessionTag {
            key: "team".into(),
            value: "a".into(),
        }],
        transitive_tag_keys: vec!["team".into()],
        // ESO ignores it; so does sealbox (the tags above are still sent).
        session_tags_policy: Some("Simple".into()),
        prefix: Some("pre/".into()),
        ..spec()
    };
    let c = client_for(&spec).await;
    c.validate().await.unwrap();
    let creds = c.credentials().await.unwrap();
    assert_ne!(creds.access_key_id(), "AKIDSTATIC");
    assert!(creds.expiry().is_some());
    let name = unique("aws-role");
    create(&format!("pre/{name}"), "assumed", &[]);
    assert_eq!(c.get_secret(&r(&name)).await.unwrap(), b"assumed");
}

#[tokio::test]
async fn missing_and_deleted_secrets_are_not_found() {
    let c = client().await;
    let missing = unique("aws-missing");
    assert!(matches!(
        c.get_secret(&r(&missing)).await,
        Err(ProviderError::NotFound(_))
    ));
    let meta = Ref {
        metadata: true,
        ..r(&missing)
    };
    assert!(matches!(
        c.get_secret(&meta).await,
        Err(ProviderError::NotFound(_))
    ));
    let deleted = unique("aws-deleted");
    create(&deleted, "v", &[]);
    Moto::shared().request("DeleteSecret", &json!({"SecretId": deleted}));
    let got = c.get_secret(&r(&deleted)).await;
    assert!(matches!(got, Err(ProviderError::NotFound(_))), "{got:?}");
}

#[tokio::test]
async fn a_fetch_is_shared_by_reads_bound_before_it_started() {
    let c = client().await;
    let name = unique("aws-memo");
    create(&name, r#"{"a":"1","b":"2"}"#, &[]);
    let reconcile_start = Some(std::time::Instant::now());
    let prop = |p: &str| Ref {
        property: Some(p.into()),
        fresh_since: reconcile_start,
        ..r(&name)
    };
    assert_eq!(c.get_secret(&prop("a")).await.unwrap(), b"1");
    Moto::shared().request(
        "DeleteSecret",
        &json!({"SecretId": name, "ForceDeleteWithoutRecovery": true}),
    );
    // The second entry of the same reconcile takes the value read, not AWS, where the secret
    // is gone by now.
    assert_eq!(c.get_secret(&prop("b")).await.unwrap(), b"2");
    // A read that must be fresher (a later reconcile) goes to AWS.
    let later = Ref {
        fresh_since: Some(std::time::Instant::now()),
        ..r(&name)
    };
    assert!(matches!(
        c.get_secret(&later).await,
        Err(ProviderError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_service_account_token_is_exchanged_for_the_annotated_role() {
    let base = Base::WebIdentity {
        role_arn: "arn:aws:iam::123456789012:role/irsa".into(),
        token: "header.payload.signature".to_owned().into(),
        service_account: "team-a/reader".into(),
    };
    let c = Client::build(&spec(), base, &endpoints(), &Meter::default())
        .await
        .unwrap();
    c.validate().await.unwrap();
    let creds = c.credentials().await.unwrap();
    assert!(creds.session_token().is_some() && creds.expiry().is_some());
    let name = unique("aws-irsa");
    create(&name, "via web identity", &[]);
    assert_eq!(c.get_secret(&r(&name)).await.unwrap(), b"via web identity");
}
