//! Reads against a real moto server (spec test-infra §3). Each test seeds secrets under a name
//! of its own, so they run in parallel and again without a reset. Run with
//! `SEALBOX_MOTO_URL=http://127.0.0.1:15000 cargo test -p sealbox-controller
//! external::providers::aws -- --ignored`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_secretsmanager::config::{Credentials, ProvideCredentials};
use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::Tag;

use super::auth::{Base, Endpoints};
use super::*;
use crate::crd::external::aws::Tag as SessionTag;

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

async fn client_for(spec: &AwsProvider) -> Client {
    let url = std::env::var("SEALBOX_MOTO_URL").expect("SEALBOX_MOTO_URL");
    let endpoints = Endpoints {
        secrets_manager: Some(url.clone()),
        sts: Some(url),
    };
    Client::build(spec, static_creds(), &endpoints)
        .await
        .unwrap()
}

async fn client() -> Client {
    client_for(&spec()).await
}

/// A name no other test or earlier run uses.
fn unique(what: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!(
        "{what}-{}-{}",
        t.as_micros(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

async fn create(c: &Client, name: &str, value: &str, tags: &[(&str, &str)]) -> String {
    let tags: Vec<Tag> = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
        .collect();
    let out =
        c.sm.create_secret()
            .name(name)
            .secret_string(value)
            .set_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .unwrap();
    out.version_id.unwrap()
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
#[ignore = "needs moto: run with SEALBOX_MOTO_URL=… cargo test -- --ignored"]
async fn a_plain_string_secret() {
    let c = client().await;
    let name = unique("plain");
    create(&c, &name, "hello world", &[]).await;
    assert_eq!(text(c.get_secret(&r(&name)).await.unwrap()), "hello world");
}

#[tokio::test]
#[ignore = "needs moto: run with SEALBOX_MOTO_URL=… cargo test -- --ignored"]
async fn properties_nested_indexed_and_dotted() {
    let c = client().await;
    let name = unique("json");
    let json = r#"{"name":{"first":"Tom"},"friends":[{"first":"Dale"},{"first":"Roger"}],"a.b":"lit","n":1.50}"#;
    create(&c, &name, json, &[]).await;
    let prop = |p: &str| Ref {
        property: Some(p.into()),
        ..r(&name)
    };
    assert_eq!(
        text(c.get_secret(&prop("friends.1.first")).await.unwrap()),
        "Roger"
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
}

#[tokio::test]
#[ignore = "needs moto: run with SEALBOX_MOTO_URL=… cargo test -- --ignored"]
async fn a_binary_secret_is_returned_byte_for_byte() {
    let c = client().await;
    let name = unique("bin");
    let bytes: Vec<u8> = (0..=255u8).chain([0, 0xff, 0xfe]).collect();
    c.sm.create_secret()
        .name(&name)
        .secret_binary(Blob::new(bytes.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(c.get_secret(&r(&name)).await.unwrap(), bytes);
}

#[tokio::test]
#[ignore = "needs moto: run with SEALBOX_MOTO_URL=… cargo test -- --ignored"]
async fn versions_by_stage_and_by_uuid() {
    let c = client().await;
    let name = unique("ver");
    let v1 = create(&c, &name, "one", &[]).await;
    c.sm.put_secret_value()
        .secret_id(&name)
        .secret_string("two")
        .send()
        .await
        .unwrap();
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

#[tokio::test]
#[ignore = "needs moto: run with SEALBOX_MOTO_URL=… cargo test -- --ignored"]
async fn metadata_fetch_reads_the_tags() {
    let c = client().await;
    let name = unique("meta");
    create(&c, &name, "value", &[("team", "a&b"), ("env", "prod")]).await;
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
#[ignore = "needs moto: run with SEALBOX_MOTO_URL=… cargo test -- --ignored"]
async fn extract_reads_an_object_and_a_nested_one() {
    let c = client().await;
    let name = unique("extract");
    create(
        &c,
        &name,
        r#"{"user":"admin","port":5432,"tls":{"on": true},"none":null}"#,
        &[],
    )
    .await;
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
        msg.starts_with(&format!("unable to unmarshal secret {name}")) && !msg.contains("admin")
    );
}

#[tokio::test]
#[ignore = "needs moto: run with SEALBOX_MOTO_URL=… cargo test -- --ignored"]
async fn find_by_name_regexp() {
    let c = client().await;
    let run = unique("findname");
    for n in ["app/db", "app/cache", "other/db"] {
        create(&c, &format!("{run}/{n}"), n, &[]).await;
    }
    let f = Find {
        name: Some(regex::Regex::new(&format!("^{run}/.*/db$")).unwrap()),
        ..Find::default()
    };
    let all = c.get_all(&f).await.unwrap();
    assert_eq!(
        all.keys().collect::<Vec<_>>(),
        [&format!("{run}/app/db"), &format!("{run}/other/db")]
    );
    assert_eq!(all[&format!("{run}/app/db")], b"app/db");
}

#[tokio::test]
#[ignore = "needs moto: run with SEALBOX_MOTO_URL=… cargo test -- --ignored"]
async fn find_by_path_and_name() {
    let c = client().await;
    let run = unique("findpath");
    for n in ["app/db", "app/cache", "other/db"] {
        create(&c, &format!("{run}/{n}"), n, &[]).await;
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
#[ignore = "needs moto: run with SEALBOX_MOTO_URL=… cargo test -- --ignored"]
async fn find_by_tags_matches_pairs_not_mixed_tags() {
    let c = client().await;
    let run = unique("findtags");
    let (prod, team) = (format!("prod-{run}"), format!("a-{run}"));
    let wrong = format!("{prod}-x");
    create(
        &c,
        &format!("{run}/good"),
        "good",
        &[("env", &prod), ("team", &team)],
    )
    .await;
    create(
        &c,
        &format!("{run}/app/good"),
        "good2",
        &[("env", &prod), ("team", &team)],
    )
    .await;
    // ESO #3031: every key and every value is present, but not as these pairs.
    create(
        &c,
        &format!("{run}/mixed"),
        "decoy",
        &[("env", &team), ("team", &prod)],
    )
    .await;
    // AWS's tag-value filter is a prefix match.
    create(
        &c,
        &format!("{run}/prefix"),
        "decoy",
        &[("env", &wrong), ("team", &team)],
    )
    .await;
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
#[ignore = "needs moto: run with SEALBOX_MOTO_URL=… cargo test -- --ignored"]
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
#[ignore = "needs moto: run with SEALBOX_MOTO_URL=… cargo test -- --ignored"]
async fn static_credentials_with_a_session_token_validate_and_read() {
    let c = client().await;
    c.validate().await.unwrap();
    let creds = c.credentials.provide_credentials().await.unwrap();
    assert_eq!(creds.access_key_id(), "AKIDSTATIC");
    assert_eq!(creds.session_token(), Some("static-session-token"));
    let name = unique("static");
    create(&c, &name, "v", &[]).await;
    assert_eq!(c.get_secret(&r(&name)).await.unwrap(), b"v");
}

#[tokio::test]
#[ignore = "needs moto: run with SEALBOX_MOTO_URL=… cargo test -- --ignored"]
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
        prefix: Some("pre/".into()),
        ..spec()
    };
    let c = client_for(&spec).await;
    c.validate().await.unwrap();
    let creds = c.credentials.provide_credentials().await.unwrap();
    assert_ne!(creds.access_key_id(), "AKIDSTATIC");
    assert!(creds.expiry().is_some());
    let name = unique("role");
    create(&c, &format!("pre/{name}"), "assumed", &[]).await;
    assert_eq!(c.get_secret(&r(&name)).await.unwrap(), b"assumed");
}

#[tokio::test]
#[ignore = "needs moto: run with SEALBOX_MOTO_URL=… cargo test -- --ignored"]
async fn missing_and_deleted_secrets_are_not_found() {
    let c = client().await;
    let missing = unique("missing");
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
    let deleted = unique("deleted");
    create(&c, &deleted, "v", &[]).await;
    c.sm.delete_secret()
        .secret_id(&deleted)
        .send()
        .await
        .unwrap();
    let got = c.get_secret(&r(&deleted)).await;
    assert!(matches!(got, Err(ProviderError::NotFound(_))), "{got:?}");
}

#[tokio::test]
#[ignore = "needs moto: run with SEALBOX_MOTO_URL=… cargo test -- --ignored"]
async fn a_secret_is_fetched_once_per_client() {
    let c = client().await;
    let name = unique("memo");
    create(&c, &name, r#"{"a":"1","b":"2"}"#, &[]).await;
    let prop = |p: &str| Ref {
        property: Some(p.into()),
        ..r(&name)
    };
    assert_eq!(c.get_secret(&prop("a")).await.unwrap(), b"1");
    c.sm.delete_secret()
        .secret_id(&name)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    // The second entry reads the memo, not AWS, where the secret is gone by now.
    assert_eq!(c.get_secret(&prop("b")).await.unwrap(), b"2");
    assert!(matches!(
        client().await.get_secret(&r(&name)).await,
        Err(ProviderError::NotFound(_))
    ));
}

#[tokio::test]
#[ignore = "needs moto: run with SEALBOX_MOTO_URL=… cargo test -- --ignored"]
async fn a_service_account_token_is_exchanged_for_the_annotated_role() {
    let url = std::env::var("SEALBOX_MOTO_URL").expect("SEALBOX_MOTO_URL");
    let endpoints = Endpoints {
        secrets_manager: Some(url.clone()),
        sts: Some(url),
    };
    let base = Base::WebIdentity {
        role_arn: "arn:aws:iam::123456789012:role/irsa".into(),
        token: "header.payload.signature".to_owned().into(),
        service_account: "team-a/reader".into(),
    };
    let c = Client::build(&spec(), base, &endpoints).await.unwrap();
    c.validate().await.unwrap();
    let creds = c.credentials.provide_credentials().await.unwrap();
    assert!(creds.session_token().is_some() && creds.expiry().is_some());
    let name = unique("irsa");
    create(&c, &name, "via web identity", &[]).await;
    assert_eq!(c.get_secret(&r(&name)).await.unwrap(), b"via web identity");
}
