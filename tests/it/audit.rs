//! `sealbox audit` on a prepared tree with one of every problem it reports and files it must
//! leave alone: exactly the planted (file, category) pairs, no secret value in any output, the
//! documented exit codes; the same tree fixed exits 0.

use std::collections::{BTreeMap, BTreeSet};

use sealbox_crypto::sealed::encode_base64;
use sealbox_tests::{Env, Run, root};
use serde_json::Value;

/// Values planted in plaintext and encrypted files: none may appear in any output.
const PLAINTEXTS: [&str; 8] = [
    "plain-secret-value-1a",
    "list-secret-value-2b",
    "sealed-old-value-3c",
    "sealed-new-value-4d",
    "sealed-foreign-value-5e",
    "sops-value-6f",
    "private-key-body-7g",
    "fixed-value-8h",
];

fn secret(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: prod\nstringData:\n  password: {value}\n"
    )
}

/// A key Secret as `sealbox keys backup` writes it.
fn key_secret(name: &str, crt: &str, key: &str) -> String {
    format!(
        "- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: {name}\n    namespace: kube-system\n    labels:\n      sealedsecrets.bitnami.com/sealed-secrets-key: active\n  type: kubernetes.io/tls\n  data:\n    tls.crt: {}\n    tls.key: {}\n",
        encode_base64(crt.as_bytes()),
        encode_base64(key.as_bytes())
    )
}

/// The tree: returns the age recipients (r1, r2, r3) its SOPS files use.
struct Tree {
    env: Env,
    r1: String,
    r2: String,
    r3: String,
    foreign_cert: String,
}

impl Tree {
    fn sops_file(&self, rel: &str, recipients: &[&str], value: &str) {
        self.env.write(
            "plain-input.yaml",
            format!("password: {value}\nuser: app\n"),
        );
        let run = self
            .env
            .sops(&[
                "encrypt",
                "--age",
                &recipients.join(","),
                "plain-input.yaml",
            ])
            .run();
        assert!(run.output.status.success(), "sops: {}", run.stderr());
        self.env.write(rel, &run.output.stdout);
        std::fs::remove_file(self.env.path("plain-input.yaml")).unwrap();
    }

    fn seal(&self, rel: &str, name: &str, value: &str, cert: Option<&str>) {
        let mut args = vec!["seal"];
        if let Some(cert) = cert {
            args.extend(["--cert", cert]);
        }
        let sealed = self.env.sealbox(&args).stdin(secret(name, value)).ok();
        self.env.write(rel, sealed);
    }

    fn audit(&self, extra: &[&str]) -> Run {
        let mut args = vec!["audit", "--older-than", "2025-06-01"];
        args.extend_from_slice(extra);
        args.push("repo");
        let run = self.env.sealbox(&args).run();
        let (out, err) = (run.stdout(), run.stderr());
        for plain in PLAINTEXTS {
            assert!(
                !out.contains(plain) && !err.contains(plain),
                "{plain} printed:\n{out}\n{err}"
            );
        }
        run
    }
}

fn build() -> Tree {
    let env = Env::with_keys();
    let (old_crt, old_key) = env.key_files();
    let (old_crt, old_key) = (
        std::fs::read_to_string(old_crt).unwrap(),
        std::fs::read_to_string(old_key).unwrap(),
    );
    let other = Env::new();
    other.sealbox(&["keys", "init"]).run().ok();
    let foreign_cert = other.key_files().0.to_string_lossy().into_owned();
    let (r1, r2, r3) = (
        env.age_keygen("r1.txt"),
        env.age_keygen("r2.txt"),
        env.age_keygen("r3.txt"),
    );
    let tree = Tree {
        env,
        r1,
        r2,
        r3,
        foreign_cert,
    };
    let env = &tree.env;
    for dir in [
        "repo/.git",
        "repo/apps/web",
        "repo/keys",
        "repo/sealed/old",
        "repo/prod",
        "repo/dev",
        "repo/legacy",
    ] {
        std::fs::create_dir_all(env.path(dir)).unwrap();
    }
    let legacy = "age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29";
    env.write(
        "repo/.sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: legacy/\n    age: {legacy}\n  - path_regex: prod/\n    age: {},{}\n  - path_regex: \\.enc\\.yaml$\n    age: {}\n",
            tree.r1, tree.r2, tree.r1
        ),
    );
    // Clean files.
    env.write(
        "repo/README.md",
        "# deploy\nSecrets are sealed; see docs.\n",
    );
    env.write(
        "repo/apps/web/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  a: b\n",
    );
    env.write(
        "repo/apps/web/es.yaml",
        "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: web\nspec:\n  secretStoreRef: {name: aws, kind: SecretStore}\n  data:\n  - secretKey: a\n    remoteRef: {key: k}\n",
    );
    tree.sops_file("repo/apps/web/app.enc.yaml", &[&tree.r1], "sops-value-6f");
    tree.sops_file("repo/prod/ok.yaml", &[&tree.r1, &tree.r2], "sops-value-6f");
    // Planted: plain Secret, Secret List, private key.
    env.write(
        "repo/apps/web/plain-secret.yaml",
        secret("web", "plain-secret-value-1a"),
    );
    env.write(
        "repo/apps/list.yaml",
        format!(
            "apiVersion: v1\nkind: List\nitems:\n- {}",
            secret("db", "list-secret-value-2b").replace('\n', "\n  ")
        ),
    );
    env.write(
        "repo/keys/deploy.pem",
        format!(
            "-----BEGIN {}-----\nprivate-key-body-7g\n-----END PRIVATE KEY-----\n",
            "PRIVATE KEY"
        ),
    );
    // Planted: a SealedSecret for the old key; then renewal, one for the newest, one for a
    // key not in the backup. Two key pairs made in the same second would be equally new.
    tree.seal("repo/sealed/old/db.yaml", "db", "sealed-old-value-3c", None);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.sealbox(&["keys", "renew"]).run().ok();
    tree.seal("repo/sealed/new.yaml", "web", "sealed-new-value-4d", None);
    tree.seal(
        "repo/sealed/foreign.yaml",
        "api",
        "sealed-foreign-value-5e",
        Some(&tree.foreign_cert),
    );
    let (new_crt, new_key) = env.key_files();
    let (new_crt, new_key) = (
        std::fs::read_to_string(new_crt).unwrap(),
        std::fs::read_to_string(new_key).unwrap(),
    );
    env.write(
        "keys-backup.yaml",
        format!(
            "apiVersion: v1\nkind: List\nitems:\n{}{}",
            key_secret("sealed-secrets-keyold01", &old_crt, &old_key),
            key_secret("sealed-secrets-keynew02", &new_crt, &new_key)
        ),
    );
    // Planted SOPS problems: a recipient the rule asks for is missing, an extra one, an old file.
    tree.sops_file("repo/prod/missing.yaml", &[&tree.r1], "sops-value-6f");
    tree.sops_file(
        "repo/dev/extra.enc.yaml",
        &[&tree.r1, &tree.r3],
        "sops-value-6f",
    );
    std::fs::copy(
        root().join("testdata/sops/fluxcd-kustomize-controller/algorithms/age.yaml"),
        env.path("repo/legacy/age.yaml"),
    )
    .unwrap();
    tree
}

/// The JSON records, one per line.
fn json_records(run: &Run) -> Vec<Value> {
    run.stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// (file, category) of every finding.
fn pairs(records: &[Value]) -> BTreeSet<(String, String)> {
    records
        .iter()
        .flat_map(|r| {
            let file = r["file"].as_str().unwrap().to_owned();
            r["findings"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |f| (file.clone(), f["category"].as_str().unwrap().to_owned()))
        })
        .collect()
}

fn set(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    pairs
        .iter()
        .map(|(f, c)| (f.to_string(), c.to_string()))
        .collect()
}

#[test]
fn audit_reports_exactly_the_planted_problems_and_a_fixed_tree_passes() {
    let tree = build();
    let run = tree.audit(&["--keys", "keys-backup.yaml", "--output", "json"]);
    assert_eq!(run.output.status.code(), Some(10), "{}", run.stderr());
    let records = json_records(&run);
    let files: Vec<&str> = records
        .iter()
        .map(|r| r["file"].as_str().unwrap())
        .collect();
    assert_eq!(files.len(), 15, "one record per file: {files:?}");
    assert!(!files.iter().any(|f| f.contains(".git/")), "{files:?}");
    let found = pairs(&records);
    let want = set(&[
        ("repo/apps/list.yaml", "plaintext"),
        ("repo/apps/web/plain-secret.yaml", "plaintext"),
        ("repo/keys/deploy.pem", "plaintext"),
        ("repo/sealed/old/db.yaml", "sealed-old-key"),
        ("repo/sealed/foreign.yaml", "sealed-no-key"),
        ("repo/prod/missing.yaml", "sops-recipients"),
        ("repo/dev/extra.enc.yaml", "sops-recipients"),
        ("repo/legacy/age.yaml", "sops-stale"),
    ]);
    assert_eq!(found, want);
    let mut by_category: BTreeMap<String, usize> = BTreeMap::new();
    for (_, category) in &found {
        *by_category.entry(category.clone()).or_default() += 1;
    }
    assert_eq!(
        by_category,
        BTreeMap::from([
            ("plaintext".into(), 3),
            ("sealed-no-key".into(), 1),
            ("sealed-old-key".into(), 1),
            ("sops-recipients".into(), 2),
            ("sops-stale".into(), 1),
        ])
    );
    let record = |file: &str| records.iter().find(|r| r["file"] == file).unwrap().clone();
    for r in &records {
        let want_outcome = if r["findings"].is_array() {
            "attention"
        } else {
            "unchanged"
        };
        assert_eq!(r["outcome"], want_outcome, "{r}");
    }
    // Which key opens each SealedSecret, by name, fingerprint and NotBefore.
    let new = record("repo/sealed/new.yaml");
    assert_eq!(new["sealed_secrets"][0]["status"], "current");
    assert_eq!(
        new["sealed_secrets"][0]["keys"][0]["name"],
        "sealed-secrets-keynew02"
    );
    let old = record("repo/sealed/old/db.yaml");
    let key = &old["findings"][0]["keys"][0];
    assert_eq!(key["name"], "sealed-secrets-keyold01");
    assert!(key["fingerprint"].as_str().unwrap().starts_with("SHA256:"));
    assert!(key["not_before"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        record("repo/sealed/foreign.yaml")["findings"][0]["items"],
        serde_json::json!(["password"])
    );
    let missing = &record("repo/prod/missing.yaml")["findings"][0];
    assert_eq!(missing["add"], serde_json::json!([tree.r2]));
    assert_eq!(missing["remove"], serde_json::json!([]));
    let extra = &record("repo/dev/extra.enc.yaml")["findings"][0];
    assert_eq!(extra["add"], serde_json::json!([]));
    assert_eq!(extra["remove"], serde_json::json!([tree.r3]));
    assert_eq!(
        record("repo/legacy/age.yaml")["findings"][0]["lastmodified"],
        "2024-11-12T13:33:42Z"
    );
    assert!(
        run.stderr()
            .contains("8 need attention; findings by category: plaintext: 3, sealed-old-key: 1, sealed-no-key: 1, sops-recipients: 2, sops-stale: 1"),
        "{}",
        run.stderr()
    );

    // Text: a line per file that needs attention, its findings under it; no keys given, the
    // SealedSecrets are not judged and the report says why, once.
    let text = tree.audit(&[]);
    assert_eq!(text.output.status.code(), Some(10), "{}", text.stderr());
    let out = text.stdout();
    assert!(
        out.contains("repo/apps/web/plain-secret.yaml: needs attention (plaintext)\n  plaintext: document 1: Kubernetes Secret prod/web is not encrypted"),
        "{out}"
    );
    assert!(out.contains("repo/legacy/age.yaml: needs attention (sops-stale)\n  sops-stale: last modified 2024-11-12T13:33:42Z, before the cut-off 2025-06-01T00:00:00Z"), "{out}");
    assert!(!out.contains("sealed/"), "{out}");
    assert_eq!(
        out.lines().filter(|l| !l.starts_with("  ")).count(),
        6,
        "{out}"
    );
    let err = text.stderr();
    assert_eq!(
        err.matches("cannot be told from its ciphertext").count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("3 SealedSecret(s) in 3 file(s) not checked"),
        "{err}"
    );
    assert!(!err.contains("error"), "{err}");

    // Fixed: plaintext gone, everything sealed for the newest key and encrypted for the rule's
    // recipients, the old file rotated away.
    let env = &tree.env;
    for gone in [
        "repo/apps/web/plain-secret.yaml",
        "repo/apps/list.yaml",
        "repo/keys/deploy.pem",
        "repo/sealed/foreign.yaml",
        "repo/legacy/age.yaml",
    ] {
        std::fs::remove_file(env.path(gone)).unwrap();
    }
    tree.seal("repo/sealed/old/db.yaml", "db", "fixed-value-8h", None);
    tree.sops_file(
        "repo/prod/missing.yaml",
        &[&tree.r1, &tree.r2],
        "fixed-value-8h",
    );
    tree.sops_file("repo/dev/extra.enc.yaml", &[&tree.r1], "fixed-value-8h");
    let fixed = tree.audit(&["--keys", "keys-backup.yaml", "--output", "json"]);
    assert_eq!(fixed.output.status.code(), Some(0), "{}", fixed.stderr());
    assert_eq!(pairs(&json_records(&fixed)), BTreeSet::new());
    assert!(
        fixed
            .stderr()
            .contains("audited 10 file(s): nothing needs attention"),
        "{}",
        fixed.stderr()
    );
}

#[test]
fn audit_errors_are_not_findings() {
    let env = Env::new();
    std::fs::create_dir_all(env.path("repo")).unwrap();
    env.write(
        "repo/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
    );
    // A path that does not exist: an error, not "needs attention".
    let run = env.sealbox(&["audit", "repo", "missing"]).run();
    assert_eq!(run.output.status.code(), Some(1), "{}", run.stderr());
    assert!(
        run.stderr().contains("missing: does not exist"),
        "{}",
        run.stderr()
    );
    // Unreadable keys and a bad cut-off.
    env.write("not-keys.txt", "hello\n");
    let run = env
        .sealbox(&["audit", "--keys", "not-keys.txt", "repo"])
        .run();
    assert_eq!(run.output.status.code(), Some(1), "{}", run.stderr());
    assert!(run.stderr().contains("not-keys.txt"), "{}", run.stderr());
    let run = env
        .sealbox(&["audit", "--older-than", "soon", "repo"])
        .run();
    assert_eq!(run.output.status.code(), Some(2), "{}", run.stderr());
    // A clean tree.
    let run = env.sealbox(&["audit", "repo"]).run();
    assert_eq!(run.output.status.code(), Some(0), "{}", run.stderr());
}
