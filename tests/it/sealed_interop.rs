//! Interop with kubesealpy, an independent Sealed Secrets implementation, in both directions.

use std::collections::BTreeMap;

use sealbox_crypto::sealed::manifest::parse_documents;
use sealbox_crypto::sealed::{SealedSecret, Secret, encode_base64};
use sealbox_tests::Env;
use serde_json::{Value, json};

const SCOPES: [&str; 3] = ["strict", "namespace-wide", "cluster-wide"];

/// Items that exercise the format's edges: every byte value, an empty value, a UTF-8 string
/// and a value longer than one AES block.
fn items() -> BTreeMap<&'static str, Vec<u8>> {
    BTreeMap::from([
        ("binary", (0..=255u8).rev().chain(0..=255).collect()),
        ("empty", Vec::new()),
        ("utf8", "pässwörd ✓\n".as_bytes().to_vec()),
        ("long", vec![b'x'; 70_000]),
    ])
}

fn b64_items() -> BTreeMap<String, String> {
    items()
        .into_iter()
        .map(|(k, v)| (k.to_string(), encode_base64(&v)))
        .collect()
}

fn secret_yaml(scope_annotation: Option<&str>) -> String {
    let mut doc = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "example.com/custom",
        "metadata": {
            "name": "db-creds",
            "namespace": "team-a",
            "labels": {"app": "db", "tier": "backend"},
            "annotations": {"owner": "platform", "note": "true"},
        },
        "data": b64_items(),
        "stringData": {"from-string": "plain text"},
    });
    if let Some(a) = scope_annotation {
        doc["metadata"]["annotations"][a] = json!("true");
    }
    serde_json::to_string_pretty(&doc).unwrap()
}

#[test]
fn sealbox_seals_and_kubesealpy_unseals_in_every_scope() {
    let env = Env::with_keys();
    let (_, key) = env.key_files();
    env.write("secret.json", secret_yaml(None));
    for scope in SCOPES {
        for (mode, args) in [
            (
                "native yaml",
                vec!["seal", "-f", "secret.json", "--scope", scope],
            ),
            (
                "kubeseal json",
                vec!["kubeseal", "-f", "secret.json", "--scope", scope],
            ),
        ] {
            let mut seal = env.sealbox(&args);
            // kubeseal seals offline only with a certificate it is given.
            seal.0.env("SEALED_SECRETS_CERT", env.key_files().0);
            let sealed = seal.run().ok();
            let got: Value = serde_json::from_str(
                &env.peer(&["unseal", key.to_str().unwrap()])
                    .stdin(&sealed)
                    .ok(),
            )
            .unwrap();
            let mut want_data = b64_items();
            want_data.insert("from-string".into(), encode_base64(b"plain text"));
            assert_eq!(got["data"], json!(want_data), "{scope} {mode}");
            assert_eq!(got["name"], "db-creds", "{scope} {mode}");
            assert_eq!(got["namespace"], "team-a", "{scope} {mode}");
            assert_eq!(got["type"], "example.com/custom", "{scope} {mode}");
            assert_eq!(
                got["labels"],
                json!({"app": "db", "tier": "backend"}),
                "{scope} {mode}"
            );
            assert_eq!(got["annotations"]["owner"], "platform", "{scope} {mode}");

            // The scope is really in the ciphertext: the peer opens a renamed or moved copy
            // exactly when the scope allows it.
            let peer_opens = |name: &str, namespace: &str| {
                let mut ss: Vec<SealedSecret> = parse_documents(&sealed).unwrap();
                ss[0].metadata.name = name.into();
                ss[0].metadata.namespace = namespace.into();
                let moved = serde_json::to_string(&ss[0]).unwrap();
                let run = env.peer(&["unseal", key.to_str().unwrap()]).stdin(moved);
                run.output.status.success()
            };
            assert_eq!(
                peer_opens("renamed", "team-a"),
                scope != "strict",
                "{scope} {mode} renamed"
            );
            assert_eq!(
                peer_opens("db-creds", "team-b"),
                scope == "cluster-wide",
                "{scope} {mode} moved"
            );
        }
    }
}

#[test]
fn sealed_template_carries_metadata_and_scope_sits_on_the_object() {
    let env = Env::with_keys();
    env.write(
        "secret.json",
        secret_yaml(Some("sealedsecrets.bitnami.com/namespace-wide")),
    );
    let out = env.sealbox(&["seal", "-f", "secret.json"]).run().ok();
    let ss: Vec<SealedSecret> = parse_documents(&out).unwrap();
    let ss = &ss[0];
    assert_eq!(
        ss.metadata.annotations,
        BTreeMap::from([(
            "sealedsecrets.bitnami.com/namespace-wide".into(),
            "true".into()
        )])
    );
    assert!(ss.metadata.labels.is_empty());
    let t = &ss.spec.template;
    assert_eq!(t.type_, "example.com/custom");
    assert_eq!(t.metadata.labels["tier"], "backend");
    assert_eq!(t.metadata.annotations["note"], "true");
    assert_eq!(
        t.metadata.annotations["sealedsecrets.bitnami.com/namespace-wide"],
        "true"
    );
    let mut keys: Vec<&str> = ss.spec.encrypted_data.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["binary", "empty", "from-string", "long", "utf8"]);
    // 4096-bit key: every item starts with the u16 length 512 (base64 "AgA".."AgD").
    for ct in ss.spec.encrypted_data.values() {
        assert!(ct.starts_with("Ag"), "{ct:.8}");
    }
}

#[test]
fn kubesealpy_seals_and_sealbox_unseals_the_identical_secret() {
    let env = Env::with_keys();
    let (cert, key) = env.key_files();
    for scope in SCOPES {
        let spec = json!({
            "name": "db-creds", "namespace": "team-a", "scope": scope,
            "type": "kubernetes.io/tls",
            "labels": {"app": "db"}, "annotations": {"owner": "platform"},
            "data": b64_items(),
        });
        let sealed = env
            .peer(&["seal", cert.to_str().unwrap()])
            .stdin(spec.to_string())
            .ok();
        for args in [
            vec!["unseal", "--recovery-private-key", key.to_str().unwrap()],
            vec!["unseal"], // the key store
        ] {
            let out = env.sealbox(&args).stdin(&sealed).ok();
            let secrets: Vec<Secret> = parse_documents(&out).unwrap();
            let s = &secrets[0];
            assert_eq!(s.kind, "Secret");
            assert_eq!(s.metadata.name, "db-creds");
            assert_eq!(s.metadata.namespace, "team-a");
            assert_eq!(s.type_, "kubernetes.io/tls");
            assert_eq!(s.metadata.labels["app"], "db");
            assert_eq!(s.metadata.annotations["owner"], "platform");
            let got: BTreeMap<String, String> = s
                .data
                .iter()
                .map(|(k, v)| (k.clone(), encode_base64(v.as_slice())))
                .collect();
            assert_eq!(got, b64_items(), "{scope}");
            assert!(s.metadata.owner_references.is_empty());
        }
        // kubeseal --recovery-unseal: JSON with the controller's owner reference.
        let out = env
            .sealbox(&[
                "kubeseal",
                "--recovery-unseal",
                "--recovery-private-key",
                key.to_str().unwrap(),
            ])
            .stdin(&sealed)
            .ok();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["kind"], "Secret");
        assert_eq!(v["data"]["binary"], b64_items()["binary"]);
        assert_eq!(
            v["metadata"]["ownerReferences"],
            json!([{"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "name": "db-creds", "uid": "", "controller": true}])
        );
    }
}

#[test]
fn raw_values_interoperate_both_ways() {
    let env = Env::with_keys();
    let (cert, key) = env.key_files();
    let value = b"s3cr3t\0\xff";
    env.write("value.bin", value);
    for (scope, label) in [
        ("strict", "team-a/db-creds"),
        ("namespace-wide", "team-a"),
        ("cluster-wide", ""),
    ] {
        // sealbox --raw → kubesealpy opens with the scope's label.
        let ct = env
            .kubeseal(&[
                "--raw",
                "--from-file",
                "pw=value.bin",
                "--scope",
                scope,
                "--name",
                "db-creds",
                "-n",
                "team-a",
            ])
            .run()
            .ok();
        assert!(!ct.ends_with('\n'), "raw output has no trailing newline");
        let opened = env
            .peer(&["open-raw", key.to_str().unwrap(), label])
            .stdin(&ct)
            .ok();
        assert_eq!(opened, encode_base64(value), "{scope}");

        // kubesealpy raw value in a hand-written SealedSecret → sealbox unseal.
        let spec = json!({"name": "db-creds", "namespace": "team-a", "scope": scope, "value": encode_base64(value)});
        let peer_ct = env
            .peer(&["seal-raw", cert.to_str().unwrap()])
            .stdin(spec.to_string())
            .ok();
        let annotation = match scope {
            "strict" => String::new(),
            s => format!("  annotations:\n    sealedsecrets.bitnami.com/{s}: \"true\"\n"),
        };
        let manifest = format!(
            "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: db-creds\n  namespace: team-a\n{annotation}spec:\n  encryptedData:\n    pw: {peer_ct}\n"
        );
        let out = env.sealbox(&["unseal", "-o", "json"]).stdin(manifest).ok();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["data"]["pw"], encode_base64(value), "{scope}");
    }
}
