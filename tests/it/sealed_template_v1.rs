//! SealedSecret `spec.template.data` (Go templates over the decrypted items) and the
//! deprecated v1 `spec.data` (spec `sealed-secrets.md` §1.6, §2.3): what kubesealpy seals
//! opens to the Secret upstream's `Unseal` gives, in `sealbox unseal`, `sealbox kubeseal
//! --recovery-unseal` and the controller.

use std::collections::BTreeMap;
use std::path::Path;

use sealbox_crypto::sealed::manifest::parse_documents;
use sealbox_crypto::sealed::{SealedSecret, decode_base64, encode_base64};
use sealbox_tests::Env;
use sealbox_tests::cluster::{Cluster, Controller, wait_for};
use serde_json::{Value, json};

const SS: &str = "/apis/bitnami.com/v1alpha1/namespaces/default/sealedsecrets";
const SECRETS: &str = "/api/v1/namespaces/default/secrets";

/// Passwords that need JSON escaping, so `toJson` is really exercised.
fn items() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("server1".into(), "s3\"cr\\et".into()),
        ("server2".into(), "pässwörd\n".into()),
        ("database1".into(), "db-pw".into()),
    ])
}

/// The template of upstream's `docs/examples/config-template/sealedsecret.yaml` (shortened to
/// its three placeholders), plus one key that replaces an encrypted item and one that reads a
/// key that does not exist (Go's default: `<no value>`).
fn templates() -> BTreeMap<String, Option<String>> {
    BTreeMap::from([
        (
            "myconfig.json".into(),
            Some(
                r#"{"Server": [{"host": "foobar", "password": {{ toJson .server1 }}},
  {"host": "barfoo", "password": {{ toJson .server2 }}}],
 "Database": [{"host": "somedb", "password": {{ toJson .database1 }}}]}
"#
                .into(),
            ),
        ),
        ("database1".into(), Some("{{ .database1 | upper }}".into())),
        ("dsn".into(), Some("{{ .database1 }}@{{ .nothere }}".into())),
    ])
}

/// kubesealpy seals [`items`] for `default/name` (strict) with `cert`.
fn peer_sealed(env: &Env, cert: &Path, name: &str) -> SealedSecret {
    let spec = json!({
        "name": name, "namespace": "default", "scope": "strict",
        "labels": {"app": "web"},
        "data": items().iter().map(|(k, v)| (k.clone(), encode_base64(v.as_bytes()))).collect::<BTreeMap<_, _>>(),
    });
    let yaml = env
        .peer(&["seal", cert.to_str().unwrap()])
        .stdin(spec.to_string())
        .ok();
    parse_documents::<SealedSecret>(&yaml).unwrap().remove(0)
}

fn with_templates(mut ss: SealedSecret, templates: BTreeMap<String, Option<String>>) -> String {
    ss.spec.template.data = templates;
    serde_json::to_string(&ss).unwrap()
}

/// A v1 SealedSecret: kubesealpy seals the JSON of a whole Secret as one raw value with the
/// strict label of `default/name`, as `NewSealedSecretV1` did.
fn peer_sealed_v1(env: &Env, cert: &Path, name: &str) -> Value {
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "ignored", "namespace": "ignored", "labels": {"era": "v1"}},
        "type": "kubernetes.io/basic-auth",
        "data": {"username": encode_base64(b"admin")},
        "stringData": {"password": "old-pw"},
    });
    let spec = json!({
        "name": name, "namespace": "default", "scope": "strict",
        "value": encode_base64(secret.to_string().as_bytes()),
    });
    let ct = env
        .peer(&["seal-raw", cert.to_str().unwrap()])
        .stdin(spec.to_string())
        .ok();
    json!({
        "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"data": ct, "encryptedData": {}, "template": {"type": "Opaque"}},
    })
}

fn text(data: &Value, item: &str) -> String {
    let b64 = data[item]
        .as_str()
        .unwrap_or_else(|| panic!("no {item} in {data}"));
    String::from_utf8(decode_base64(b64).unwrap()).unwrap()
}

/// What upstream's `Unseal` makes of [`templates`] over [`items`].
fn check_templated(data: &Value) {
    let config: Value = serde_json::from_str(&text(data, "myconfig.json")).unwrap();
    assert_eq!(config["Server"][0]["password"], items()["server1"]);
    assert_eq!(config["Server"][1]["password"], items()["server2"]);
    assert_eq!(config["Database"][0]["password"], items()["database1"]);
    assert_eq!(text(data, "database1"), items()["database1"].to_uppercase());
    assert_eq!(
        text(data, "dsn"),
        format!("{}@<no value>", items()["database1"])
    );
    assert_eq!(text(data, "server1"), items()["server1"]);
}

fn check_v1(secret: &Value, name: &str) {
    assert_eq!(secret["metadata"]["name"], name);
    assert_eq!(secret["metadata"]["namespace"], "default");
    assert_eq!(secret["metadata"]["labels"]["era"], "v1");
    assert_eq!(secret["type"], "kubernetes.io/basic-auth");
    assert_eq!(text(&secret["data"], "username"), "admin");
    assert_eq!(text(&secret["data"], "password"), "old-pw");
}

fn unseal_json(env: &Env, key: &Path, input: &str) -> Value {
    let out = env
        .sealbox(&[
            "unseal",
            "-o",
            "json",
            "--recovery-private-key",
            key.to_str().unwrap(),
        ])
        .stdin(input)
        .ok();
    serde_json::from_str(&out).unwrap()
}

fn recovery_unseal(env: &Env, key: &Path, input: &str) -> sealbox_tests::Run {
    env.sealbox(&[
        "kubeseal",
        "--recovery-unseal",
        "--recovery-private-key",
        key.to_str().unwrap(),
    ])
    .stdin(input)
}

#[test]
fn recovery_unseal_renders_template_data_over_kubesealpy_items() {
    let env = Env::with_keys();
    let (cert, key) = env.key_files();
    let sealed = with_templates(peer_sealed(&env, &cert, "example"), templates());
    let native = unseal_json(&env, &key, &sealed);
    check_templated(&native["data"]);
    assert_eq!(native["metadata"]["labels"]["app"], "web");
    let kubeseal: Value = serde_json::from_str(&recovery_unseal(&env, &key, &sealed).ok()).unwrap();
    check_templated(&kubeseal["data"]);
    assert_eq!(
        kubeseal["metadata"]["ownerReferences"][0]["kind"],
        "SealedSecret"
    );
}

#[test]
fn bad_templates_fail_naming_each_key_without_plaintext() {
    let env = Env::with_keys();
    let (cert, key) = env.key_files();
    let bad = BTreeMap::from([
        (
            "url".to_string(),
            Some("{{ .server1 | nosuchfunc }}".to_string()),
        ),
        ("home".to_string(), Some("{{ env \"HOME\" }}".to_string())),
        ("cfg".to_string(), Some("{{ .server1 ".to_string())),
        ("fine".to_string(), Some("{{ .server1 }}".to_string())),
    ]);
    let sealed = with_templates(peer_sealed(&env, &cert, "example"), bad);
    for run in [
        env.sealbox(&["unseal", "--recovery-private-key", key.to_str().unwrap()])
            .stdin(&sealed),
        recovery_unseal(&env, &key, &sealed),
    ] {
        let err = run.fails();
        assert!(run.stdout().is_empty(), "no Secret at all");
        assert!(err.contains("SealedSecret default/example"), "{err}");
        for key in ["url", "home", "cfg"] {
            assert!(err.contains(&format!("template: {key}:1")), "{err}");
        }
        assert!(err.contains("\"nosuchfunc\" not defined"), "{err}");
        assert!(err.contains("\"env\""), "{err}");
        for value in items().values() {
            assert!(!err.contains(value.as_str()), "{err}");
        }
    }
}

#[test]
fn v1_data_opens_in_sealbox_unseal_and_kubeseal_refuses_it_as_upstream() {
    let env = Env::with_keys();
    let (cert, key) = env.key_files();
    let v1 = peer_sealed_v1(&env, &cert, "legacy").to_string();
    check_v1(&unseal_json(&env, &key, &v1), "legacy");
    let err = recovery_unseal(&env, &key, &v1).fails();
    assert!(
        err.contains("using deprecated 'data' field, use 'encryptedData' or flip the feature flag"),
        "{err}"
    );
}

fn condition(cluster: &Cluster, name: &str) -> Option<(String, String)> {
    let ss = cluster.get(&format!("{SS}/{name}"))?;
    let c = &ss["status"]["conditions"][0];
    Some((
        c["status"].as_str()?.to_owned(),
        c["message"].as_str().unwrap_or_default().to_owned(),
    ))
}

fn warning_events(cluster: &Cluster, name: &str) -> Vec<String> {
    cluster
        .list("/api/v1/namespaces/default/events")
        .iter()
        .filter(|e| e["involvedObject"]["name"] == name && e["type"] == "Warning")
        .map(|e| format!("{} {}", e["reason"], e["message"]))
        .collect()
}

#[test]
fn the_controller_renders_template_data_and_opens_v1_data() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "tv1");
    let controller = Controller::start(&env, &cluster, &[]);
    let cert = env.write("cert.pem", controller.get("/v1/cert.pem").body);

    let templated = with_templates(peer_sealed(&env, &cert, "example"), templates());
    cluster.create_text(SS, &templated);
    cluster.create(SS, &peer_sealed_v1(&env, &cert, "legacy"));
    let bad = BTreeMap::from([(
        "conn".to_string(),
        Some("{{ .server1 | nosuchfunc }}".to_string()),
    )]);
    cluster.create_text(SS, &with_templates(peer_sealed(&env, &cert, "broken"), bad));

    let secret = wait_for("the templated Secret", || {
        cluster.get(&format!("{SECRETS}/example"))
    });
    check_templated(&secret["data"]);
    let legacy = wait_for("the v1 Secret", || {
        cluster.get(&format!("{SECRETS}/legacy"))
    });
    check_v1(&legacy, "legacy");
    assert_eq!(
        legacy["metadata"]["ownerReferences"][0]["kind"],
        "SealedSecret"
    );

    let (_, message) = wait_for("status False", || {
        condition(&cluster, "broken").filter(|c| c.0 == "False")
    });
    assert!(
        message.contains("template: conn:1") && message.contains("nosuchfunc"),
        "{message}"
    );
    let events = wait_for("a Warning event", || {
        Some(warning_events(&cluster, "broken")).filter(|e| !e.is_empty())
    });
    assert!(
        events
            .iter()
            .any(|e| e.contains("ErrUnsealFailed") && e.contains("template: conn:1")),
        "{events:?}"
    );
    assert!(cluster.get(&format!("{SECRETS}/broken")).is_none());
    for value in items().values() {
        assert!(!message.contains(value.as_str()) && !controller.log().contains(value.as_str()));
    }
}

#[test]
fn the_controller_refuses_v1_data_with_the_flag_off() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "tv1off");
    let controller = Controller::start(&env, &cluster, &["--accept-deprecated-v1-data=false"]);
    let cert = env.write("cert.pem", controller.get("/v1/cert.pem").body);
    cluster.create(SS, &peer_sealed_v1(&env, &cert, "legacy"));
    let (_, message) = wait_for("status False", || {
        condition(&cluster, "legacy").filter(|c| c.0 == "False")
    });
    assert!(
        message.contains(
            "using deprecated 'data' field, use 'encryptedData' or flip the feature flag"
        ),
        "{message}"
    );
    assert!(cluster.get(&format!("{SECRETS}/legacy")).is_none());
}

#[test]
fn reencrypt_moves_v1_data_to_encrypted_data_and_keeps_templates() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "tv1re");
    let controller = Controller::start(&env, &cluster, &[]);
    let cert = env.write("cert.pem", controller.get("/v1/cert.pem").body);

    let v1 = peer_sealed_v1(&env, &cert, "legacy");
    let head = "# legacy credentials\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\ndata:\n  a: b\n";
    let legacy = format!(
        "{head}---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: legacy\n  namespace: default\nspec:\n  data: {}\n  encryptedData: {{}}\n",
        v1["spec"]["data"].as_str().unwrap()
    );
    std::fs::create_dir_all(env.path("repo")).unwrap();
    env.write("repo/legacy.yaml", &legacy);
    let templated = with_templates(peer_sealed(&env, &cert, "example"), templates());
    env.write("repo/example.json", &templated);

    let mut cmd = env.sealbox(&["reencrypt", "repo"]);
    cmd.0.env("KUBECONFIG", &cluster.kubeconfig);
    let run = cmd.run();
    let out = run.ok();
    assert!(
        out.contains("legacy.yaml: 1 SealedSecret(s) re-encrypted"),
        "{out}"
    );

    let rewritten = env.read("repo/legacy.yaml");
    assert!(rewritten.starts_with(head), "{rewritten}");
    let docs: Vec<SealedSecret> = parse_documents(&rewritten).unwrap();
    let ss = docs.iter().find(|d| d.kind == "SealedSecret").unwrap();
    assert!(ss.spec.data.is_none());
    assert_eq!(
        ss.spec.encrypted_data.keys().collect::<Vec<_>>(),
        ["password", "username"]
    );
    let example: SealedSecret = parse_documents(&env.read("repo/example.json"))
        .unwrap()
        .remove(0);
    assert_eq!(example.spec.template.data, templates());
    assert_ne!(
        example.spec.encrypted_data,
        serde_json::from_str::<SealedSecret>(&templated)
            .unwrap()
            .spec
            .encrypted_data
    );
    assert_eq!(
        example.spec.encrypted_data.keys().collect::<Vec<_>>(),
        items().keys().collect::<Vec<_>>()
    );

    // Both open in the cluster to the same Secrets as before.
    cluster.create(SS, &serde_json::to_value(ss).unwrap());
    cluster.create(SS, &serde_json::to_value(&example).unwrap());
    let legacy = wait_for("the v1 Secret", || {
        cluster.get(&format!("{SECRETS}/legacy"))
    });
    check_v1(&legacy, "legacy");
    let secret = wait_for("the templated Secret", || {
        cluster.get(&format!("{SECRETS}/example"))
    });
    check_templated(&secret["data"]);
}

#[test]
fn validate_checks_v1_data_and_template_syntax() {
    let env = Env::with_keys();
    let (cert, key) = env.key_files();
    let v1 = peer_sealed_v1(&env, &cert, "legacy").to_string();
    let out = env
        .sealbox(&["validate", "--recovery-private-key", key.to_str().unwrap()])
        .stdin(&v1)
        .ok();
    assert!(
        out.contains("ok      default/legacy data (deprecated v1 format)"),
        "{out}"
    );
    let bad = BTreeMap::from([(
        "url".to_string(),
        Some("{{ .server1 | nosuchfunc }}".to_string()),
    )]);
    let sealed = with_templates(peer_sealed(&env, &cert, "example"), bad);
    let run = env
        .sealbox(&["validate", "--recovery-private-key", key.to_str().unwrap()])
        .stdin(&sealed);
    run.fails();
    let out = run.stdout();
    assert!(
        out.contains("FAILED  default/example template.data url: template: url:1"),
        "{out}"
    );
    assert!(out.contains("ok      default/example server1"), "{out}");
}

/// The findings of `sealbox audit --output json`, as (file, category, object, items).
fn audit_findings(env: &Env, keys: &Path) -> Vec<(String, String, String, String)> {
    let run = env
        .sealbox(&[
            "audit",
            "--output",
            "json",
            "--keys",
            keys.to_str().unwrap(),
            "repo",
        ])
        .run();
    assert!(!run.stdout().contains("old-pw"), "{}", run.stdout());
    run.stdout()
        .lines()
        .flat_map(|l| {
            let record: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            let file = record["file"].as_str().unwrap_or_default().to_owned();
            let findings = record["findings"].as_array().cloned().unwrap_or_default();
            findings.into_iter().map(move |f| {
                (
                    file.clone(),
                    f["category"].as_str().unwrap_or_default().to_owned(),
                    f["object"].as_str().unwrap_or_default().to_owned(),
                    f["items"].to_string(),
                )
            })
        })
        .collect()
}

#[test]
fn audit_looks_into_v1_data() {
    let env = Env::with_keys();
    let (cert, key) = env.key_files();
    std::fs::create_dir_all(env.path("repo")).unwrap();
    env.write(
        "repo/legacy.yaml",
        peer_sealed_v1(&env, &cert, "legacy").to_string(),
    );
    let old = [
        std::fs::read_to_string(&key).unwrap(),
        std::fs::read_to_string(&cert).unwrap(),
    ]
    .concat();
    env.write("old.pem", &old);
    assert_eq!(audit_findings(&env, &env.path("old.pem")), vec![]);

    // A newer key beside it: the v1 object is sealed for the older one.
    env.sealbox(&["keys", "renew"]).run().ok();
    let (new_cert, new_key) = env.key_files();
    assert_ne!(new_key, key);
    let both = [
        old.clone(),
        std::fs::read_to_string(&new_key).unwrap(),
        std::fs::read_to_string(&new_cert).unwrap(),
    ]
    .concat();
    env.write("both.pem", both);
    let findings = audit_findings(&env, &env.path("both.pem"));
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].1, "sealed-old-key", "{findings:?}");
    assert_eq!(findings[0].2, "default/legacy", "{findings:?}");

    // Only the new key: the v1 ciphertext, item `data`, opens with none.
    let new = [
        std::fs::read_to_string(&new_key).unwrap(),
        std::fs::read_to_string(&new_cert).unwrap(),
    ]
    .concat();
    env.write("new.pem", new);
    let findings = audit_findings(&env, &env.path("new.pem"));
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(
        (findings[0].1.as_str(), findings[0].3.as_str()),
        ("sealed-no-key", r#"["data"]"#),
        "{findings:?}"
    );
}
