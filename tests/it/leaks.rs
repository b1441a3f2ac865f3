//! Secrets never leak: known plaintexts (canaries) go through the CLI and the controller, the
//! controller logging at debug (its own crate at trace), over the happy paths and the failures
//! (wrong keys, tampered ciphertexts, unmanaged Secrets, bad templates, failing commands).
//! Then every byte they printed, every Event, every status, the metrics and every temporary
//! file is searched for each canary, raw, base64-encoded as the API carries it, in hex and as
//! Rust's `Debug` prints bytes: zero hits.
//! Only what must hold a plaintext is left out: a decrypt's or unseal's output, and the
//! Secrets themselves.

use std::path::Path;
use std::process::Command;

use sealbox_crypto::sealed::encode_base64;
use sealbox_tests::cluster::{Cluster, Controller, wait_for};
use sealbox_tests::servers::{Bao, unique};
use sealbox_tests::{Env, crdgen_bin};
use serde_json::{Value, json};

const ES_API: &str = "/apis/external-secrets.io/v1";
const SS_API: &str = "/apis/bitnami.com/v1alpha1";

/// What must never appear: each canary, raw and in standard base64.
struct Canaries(Vec<String>);

impl Canaries {
    fn new(names: &[&str]) -> Canaries {
        let id = std::process::id();
        Canaries(
            names
                .iter()
                .map(|n| format!("canary-{n}-{id}-Zq8rX"))
                .collect(),
        )
    }

    fn get(&self, index: usize) -> &str {
        &self.0[index]
    }

    /// The canaries found in `text`, in any form (raw, base64 as the API carries it, hex, and
    /// as Rust's `Debug` prints bytes), named by where the text came from.
    fn hits(&self, place: &str, text: &str) -> Vec<String> {
        self.0
            .iter()
            .flat_map(|c| {
                let hex: String = c.bytes().map(|b| format!("{b:02x}")).collect();
                let debug = format!("{:?}", c.as_bytes());
                [c.clone(), encode_base64(c.as_bytes()), hex, debug]
            })
            .filter(|form| text.contains(form.as_str()))
            .map(|form| format!("{place}: {form}"))
            .collect()
    }
}

/// Every file under `dir`, read as text (lossily).
fn files_under(dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            found.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    found
}

#[test]
fn no_plaintext_in_any_output_event_status_metric_or_temp_file() {
    let env = Env::with_keys();
    let canaries = Canaries::new(&["sealed", "sops", "vault", "templated", "plain"]);
    let tmp = env.path("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut printed: Vec<(String, String)> = Vec::new();

    // The controller, logging at debug (trace for its own crate), against the emulator and
    // OpenBao.
    let crds = env.write(
        "crds.yaml",
        Command::new(crdgen_bin()).output().expect("crdgen").stdout,
    );
    let cluster = Cluster::start_with_crds(&env, "leaks", &[&crds]);
    let controller = Controller::start_with_env(
        &env,
        &cluster,
        &["--key-size=2048"],
        &[
            ("RUST_LOG", "debug,sealbox_controller=trace".to_owned()),
            ("TMPDIR", tmp.display().to_string()),
        ],
    );
    let cert = env.write("cert.pem", controller.get("/v1/cert.pem").body);
    let cli = |args: &[&str]| {
        let mut cmd = env.sealbox(args);
        cmd.0
            .env("KUBECONFIG", &cluster.kubeconfig)
            .env("TMPDIR", &tmp);
        cmd
    };

    // Sealed Secrets: a good one, one with a tampered item, one whose Secret exists unmanaged.
    let secret = |name: &str, value: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: default\nstringData:\n  value: {value}\n"
        )
    };
    let sealed = cli(&["seal", "--cert", cert.to_str().unwrap(), "-o", "json"])
        .stdin(secret("good", canaries.get(0)));
    printed.push(("seal".into(), sealed.stderr()));
    let sealed = sealed.ok();
    let mut tampered: Value = serde_json::from_str(&sealed).unwrap();
    tampered["metadata"]["name"] = json!("tampered");
    tampered["spec"]["template"]["metadata"]["name"] = json!("tampered");
    let item = tampered["spec"]["encryptedData"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    tampered["spec"]["encryptedData"]["value"] = json!(format!("{}AAAA", &item[..item.len() - 8]));
    let mut unmanaged: Value = serde_json::from_str(&sealed).unwrap();
    unmanaged["metadata"]["name"] = json!("taken");
    unmanaged["spec"]["template"]["metadata"]["name"] = json!("taken");
    cluster.create(
        "/api/v1/namespaces/default/secrets",
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "taken"},
                "stringData": {"other": "not-a-canary"}}),
    );
    for object in [serde_json::from_str(&sealed).unwrap(), tampered, unmanaged] {
        cluster.create(
            &format!("{SS_API}/namespaces/default/sealedsecrets"),
            &object,
        );
    }
    wait_for("the good SealedSecret unsealed", || {
        cluster.get("/api/v1/namespaces/default/secrets/good")
    });

    // ExternalSecrets from OpenBao: a value, a template over it, and a template that fails on
    // it (the error names the key, never the value).
    let bao = Bao::shared();
    let path = unique("leaks");
    bao.kv2_put("secret", &path, &json!({"password": canaries.get(2)}));
    cluster.create(
        "/api/v1/namespaces/default/secrets",
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bao-token"},
                "stringData": {"token": bao.root_token()}}),
    );
    cluster.create(
        &format!("{ES_API}/namespaces/default/secretstores"),
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": "vault"},
                "spec": {"provider": {"vault": {"server": bao.url(), "path": "secret", "version": "v2",
                    "auth": {"tokenSecretRef": {"name": "bao-token", "key": "token"}}}}}}),
    );
    let external = |name: &str, template: Option<&str>, decoding: &str| {
        let mut target = json!({"name": name});
        if let Some(text) = template {
            target["template"] = json!({"data": {"config": text}});
        }
        cluster.create(
            &format!("{ES_API}/namespaces/default/externalsecrets"),
            &json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": name},
                    "spec": {"refreshInterval": "1h", "secretStoreRef": {"name": "vault", "kind": "SecretStore"},
                        "target": target,
                        "data": [{"secretKey": "pw", "remoteRef": {"key": path, "property": "password",
                                                                   "decodingStrategy": decoding}}]}}),
        );
    };
    external("from-vault", None, "None");
    external(
        "templated",
        Some(&format!("{{{{ .pw }}}}-{}", canaries.get(3))),
        "None",
    );
    external(
        "bad-template",
        Some("{{ .pw | fromJson | index 3 }}"),
        "None",
    );
    // The canary is not base64: the entry fails, and status.failures says why.
    external("bad-decoding", None, "Base64");
    wait_for("the ExternalSecrets synced or failed", || {
        let done = ["from-vault", "templated", "bad-template", "bad-decoding"]
            .iter()
            .all(|name| {
                cluster
                    .get(&format!(
                        "{ES_API}/namespaces/default/externalsecrets/{name}"
                    ))
                    .and_then(|es| es["status"]["conditions"].as_array().cloned())
                    .is_some_and(|c| !c.is_empty())
            });
        done.then_some(())
    });

    // The CLI: online and offline Sealed Secrets commands, failures included.
    std::fs::create_dir_all(env.path("repo")).unwrap();
    env.write("repo/good.json", &sealed);
    for (label, args, stdin) in [
        (
            "validate --online",
            vec!["validate", "--online", "-f", "repo/good.json"],
            String::new(),
        ),
        ("reencrypt", vec!["reencrypt", "repo"], String::new()),
        (
            "unseal with the wrong key",
            vec!["unseal", "-f", "repo/good.json"],
            String::new(),
        ),
        (
            "seal --raw",
            vec![
                "seal",
                "--raw",
                "--cert",
                cert.to_str().unwrap(),
                "--name",
                "x",
                "-n",
                "default",
            ],
            canaries.get(0).to_owned(),
        ),
        (
            "seal a malformed Secret",
            vec!["seal", "--cert", cert.to_str().unwrap()],
            format!("kind: Secret\nstringData: [{}", canaries.get(0)),
        ),
    ] {
        let run = cli(&args).stdin(stdin);
        printed.push((format!("{label} (stdout)"), run.stdout()));
        printed.push((format!("{label} (stderr)"), run.stderr()));
    }
    // SOPS: encrypt, the wrong key, a failing editor and a failing command, set, check.
    let recipient = env.age_keygen("right.agekey");
    env.age_keygen("wrong.agekey");
    env.write(
        "app.yaml",
        format!("password: {}\nuser: admin\n", canaries.get(1)),
    );
    let encrypted = cli(&["encrypt", "--age", &recipient, "app.yaml"]).run();
    printed.push(("encrypt (stderr)".into(), encrypted.stderr()));
    let encrypted = encrypted.ok();
    printed.push(("encrypt (stdout)".into(), encrypted.clone()));
    env.write("app.enc.yaml", &encrypted);
    std::fs::remove_file(env.path("app.yaml")).unwrap();
    let with_key = |key: &str, args: &[&str]| {
        let mut cmd = cli(args);
        cmd.0
            .env("SOPS_AGE_KEY_FILE", env.path(key))
            .env("EDITOR", "false");
        cmd.run()
    };
    for (label, key, args) in [
        (
            "decrypt with the wrong key",
            "wrong.agekey",
            vec!["decrypt", "app.enc.yaml"],
        ),
        (
            "edit with a failing editor",
            "right.agekey",
            vec!["edit", "app.enc.yaml"],
        ),
        (
            "exec-env with a failing command",
            "right.agekey",
            vec!["exec-env", "app.enc.yaml", "false"],
        ),
        (
            "exec-file with a failing command",
            "right.agekey",
            vec!["exec-file", "app.enc.yaml", "false {}"],
        ),
        (
            "set",
            "right.agekey",
            vec!["set", "app.enc.yaml", "[\"user\"]", "\"root\""],
        ),
        (
            "rotate",
            "right.agekey",
            vec!["rotate", "-i", "app.enc.yaml"],
        ),
        (
            "filestatus",
            "right.agekey",
            vec!["filestatus", "app.enc.yaml"],
        ),
    ] {
        let run = with_key(key, &args);
        printed.push((format!("{label} (stdout)"), run.stdout()));
        printed.push((format!("{label} (stderr)"), run.stderr()));
    }
    env.write("repo/plain.yaml", secret("plain", canaries.get(4)));
    let check = cli(&["check", "repo"]).run();
    printed.push(("check (stdout)".into(), check.stdout()));
    printed.push(("check (stderr)".into(), check.stderr()));
    let audit = cli(&["audit", "--output", "json", "repo"]).run();
    printed.push(("audit (stdout)".into(), audit.stdout()));
    printed.push(("audit (stderr)".into(), audit.stderr()));

    // The search.
    let mut hits = Vec::new();
    for (place, text) in &printed {
        hits.extend(canaries.hits(place, text));
    }
    hits.extend(canaries.hits("controller log", &controller.log()));
    hits.extend(canaries.hits("metrics", &controller.metrics().body));
    for (kind, path) in [
        ("Event", "/api/v1/events"),
        ("SealedSecret", &format!("{SS_API}/sealedsecrets") as &str),
        ("ExternalSecret", &format!("{ES_API}/externalsecrets")),
        ("SecretStore", &format!("{ES_API}/secretstores")),
    ] {
        for object in cluster.list(path) {
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            // An Event is all message; of the others, the status is what the controller wrote.
            let written = if kind == "Event" {
                object.to_string()
            } else {
                object["status"].to_string()
            };
            hits.extend(canaries.hits(&format!("{kind} {name}"), &written));
        }
    }
    for (file, text) in files_under(&tmp) {
        hits.extend(canaries.hits(&format!("temp file {file}"), &text));
    }
    assert!(hits.is_empty(), "plaintexts leaked:\n{}", hits.join("\n"));

    // The search looked where the canaries were: the controller unsealed and synced them, the
    // failures were recorded, and the log is at debug.
    let good = cluster
        .get("/api/v1/namespaces/default/secrets/good")
        .unwrap();
    assert_eq!(
        good["data"]["value"],
        json!(encode_base64(canaries.get(0).as_bytes()))
    );
    let templated = wait_for("the templated Secret", || {
        cluster.get("/api/v1/namespaces/default/secrets/templated")
    });
    assert!(templated["data"]["config"].is_string());
    let bad = cluster
        .get(&format!(
            "{ES_API}/namespaces/default/externalsecrets/bad-decoding"
        ))
        .unwrap();
    assert_eq!(
        bad["status"]["failures"][0]["reason"],
        json!("InvalidEntry"),
        "{bad}"
    );
    let events = cluster.list("/api/v1/events").len();
    assert!(events >= 3, "{events} Events");
    assert!(
        controller.log().contains("DEBUG"),
        "the log is not at debug"
    );
    assert!(!printed.iter().all(|(_, text)| text.is_empty()));
}
