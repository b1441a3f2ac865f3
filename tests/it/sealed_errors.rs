//! Bad input: a clear error naming the object and failing items, a non-zero exit, and no
//! output file created or changed.

use sealbox_tests::{Env, root};

const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-creds\n  namespace: team-a\nstringData:\n  user: admin\n  password: hunter2\n";

/// Seals SECRET with extra args and returns the YAML.
fn sealed(env: &Env, extra: &[&str]) -> String {
    env.write("secret.yaml", SECRET);
    let mut args = vec!["seal", "-f", "secret.yaml"];
    args.extend_from_slice(extra);
    env.sealbox(&args).run().ok()
}

/// Runs `sealbox unseal -w out.yaml` on `manifest`; asserts failure, no out.yaml, and returns
/// stderr.
fn unseal_fails(env: &Env, manifest: &str) -> String {
    env.write("in.yaml", manifest);
    let err = env
        .sealbox(&["unseal", "-f", "in.yaml", "-w", "out.yaml"])
        .run()
        .fails();
    assert!(!env.path("out.yaml").exists(), "no output file on failure");
    err
}

#[test]
fn wrong_namespace_when_sealing() {
    let env = Env::with_keys();
    env.write("secret.yaml", SECRET);
    let err = env
        .sealbox(&[
            "seal",
            "-f",
            "secret.yaml",
            "-n",
            "team-b",
            "-w",
            "out.yaml",
        ])
        .run()
        .fails();
    assert!(err.contains("Secret team-a/db-creds"), "{err}");
    assert!(
        err.contains(r#"namespace mismatch: input secret is in namespace "team-a" but "team-b" was specified"#),
        "{err}"
    );
    assert!(!env.path("out.yaml").exists());
}

#[test]
fn sealed_secret_moved_to_another_namespace_does_not_open() {
    let env = Env::with_keys();
    let moved = sealed(&env, &[]).replacen("namespace: team-a", "namespace: team-b", 1);
    let err = unseal_fails(&env, &moved);
    assert!(err.contains("SealedSecret team-b/db-creds"), "{err}");
    assert!(
        err.contains("no key could decrypt secret (password, user)"),
        "{err}"
    );
    assert!(err.contains("name, namespace or scope"), "{err}");
}

#[test]
fn wrong_name_under_strict_scope_does_not_open() {
    let env = Env::with_keys();
    let renamed = sealed(&env, &[]).replacen("name: db-creds", "name: db-creds-v2", 1);
    let err = unseal_fails(&env, &renamed);
    assert!(err.contains("SealedSecret team-a/db-creds-v2"), "{err}");
    assert!(
        err.contains("no key could decrypt secret (password, user)"),
        "{err}"
    );
    // The same rename is fine under namespace-wide scope, which does not bind the name.
    let renamed = sealed(&env, &["--scope", "namespace-wide"]).replacen(
        "name: db-creds",
        "name: db-creds-v2",
        1,
    );
    env.write("in.yaml", renamed);
    env.sealbox(&["unseal", "-f", "in.yaml"]).run().ok();
}

#[test]
fn scope_annotation_only_in_the_template_is_ignored_with_a_hint() {
    let env = Env::with_keys();
    let out = sealed(&env, &["--scope", "namespace-wide"]);
    // Drop the annotation from the object's own metadata (its first occurrence); the
    // template keeps it.
    let stripped = out.replacen(
        "metadata:\n  annotations:\n    sealedsecrets.bitnami.com/namespace-wide: \"true\"\n",
        "metadata:\n",
        1,
    );
    assert_ne!(stripped, out);
    assert!(stripped.contains("sealedsecrets.bitnami.com/namespace-wide"));
    let err = unseal_fails(&env, &stripped);
    assert!(
        err.contains("no key could decrypt secret (password, user)"),
        "{err}"
    );
    assert!(
        err.contains("item \"password\" opens under scope namespace-wide"),
        "{err}"
    );
    assert!(err.contains("not only in spec.template"), "{err}");
    let report = env.sealbox(&["validate", "-f", "in.yaml"]).run();
    report.fails();
    assert!(report.stdout().contains("FAILED  team-a/db-creds user: no key could decrypt secret (opens under scope namespace-wide"));
}

fn replace_item(manifest: &str, item: &str, f: impl Fn(&str) -> String) -> String {
    let prefix = format!("    {item}: ");
    manifest
        .lines()
        .map(|l| match l.strip_prefix(&prefix) {
            Some(ct) => format!("{prefix}{}", f(ct)),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn corrupted_ciphertext_fails_and_names_the_item() {
    let env = Env::with_keys();
    let out = sealed(&env, &[]);
    let corrupted = replace_item(&out, "password", |ct| {
        let mut b = ct.as_bytes().to_vec();
        let i = b.len() - 10; // inside the AES-GCM part
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    });
    let err = unseal_fails(&env, &corrupted);
    assert!(
        err.contains("no key could decrypt secret (password)"),
        "{err}"
    );
    assert!(!err.contains("(password, user)"), "user still opens: {err}");
}

#[test]
fn truncated_ciphertext_fails() {
    let env = Env::with_keys();
    let truncated = replace_item(&sealed(&env, &[]), "user", |ct| ct[..400].to_string());
    let err = unseal_fails(&env, &truncated);
    assert!(
        err.contains("SealedSecret team-a/db-creds: no key could decrypt secret (user)"),
        "{err}"
    );
}

#[test]
fn invalid_base64_fails_with_the_offset() {
    let env = Env::with_keys();
    let bad = replace_item(&sealed(&env, &[]), "user", |ct| {
        format!("{}*{}", &ct[..5], &ct[6..])
    });
    let err = unseal_fails(&env, &bad);
    assert!(
        err.contains("illegal base64 data at input byte 5 (user)"),
        "{err}"
    );
}

#[test]
fn no_matching_key_fails() {
    let env = Env::with_keys();
    let out = sealed(&env, &[]);
    let other = Env::new();
    other.sealbox(&["keys", "init"]).run().ok();
    other.write("in.yaml", &out);
    let err = other
        .sealbox(&["unseal", "-f", "in.yaml", "-w", "out.yaml"])
        .run()
        .fails();
    assert!(
        err.contains("SealedSecret team-a/db-creds: no key could decrypt secret (password, user)"),
        "{err}"
    );
    assert!(!other.path("out.yaml").exists());
    // validate says the same, per item, and exits non-zero
    let report = other.sealbox(&["validate", "-f", "in.yaml"]).run();
    assert!(
        report
            .fails()
            .contains("2 of 2 items do not open with the 1 key(s) given")
    );
}

#[test]
fn not_a_secret_is_refused() {
    let env = Env::with_keys();
    env.write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: team-a\ndata:\n  a: b\n");
    let err = env
        .sealbox(&["seal", "-f", "cm.yaml", "-w", "out.yaml"])
        .run()
        .fails();
    assert!(
        err.contains("cm.yaml: document 1 (team-a/cfg) is a \"ConfigMap\", not a Secret"),
        "{err}"
    );
    assert!(!env.path("out.yaml").exists());
    // and unseal refuses what is not a SealedSecret
    env.write("secret.yaml", SECRET);
    let err = unseal_fails(&env, SECRET);
    assert!(
        err.contains("in.yaml: document 1 (team-a/db-creds) is a \"Secret\", not a SealedSecret"),
        "{err}"
    );
}

#[test]
fn malformed_yaml_is_refused() {
    let env = Env::with_keys();
    env.write(
        "bad.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: x\nstringData:\n  a: b\n",
    );
    let err = env
        .sealbox(&["seal", "-f", "bad.yaml", "-w", "out.yaml"])
        .run()
        .fails();
    assert!(err.contains("bad.yaml: malformed YAML"), "{err}");
    assert!(!env.path("out.yaml").exists());
    let err = unseal_fails(&env, "kind: SealedSecret\nspec: [\n");
    assert!(err.contains("in.yaml: malformed YAML"), "{err}");
}

#[test]
fn expired_certificate_is_refused_like_kubeseal() {
    let env = Env::new();
    let cert = root().join("testdata/sealed/expired-cert.pem");
    env.write("secret.yaml", SECRET);
    for mode in ["seal", "kubeseal"] {
        let err = env
            .sealbox(&[
                mode,
                "-f",
                "secret.yaml",
                "--cert",
                cert.to_str().unwrap(),
                "-w",
                "out.yaml",
            ])
            .run()
            .fails();
        assert!(
            err.contains("failed to encrypt using an expired certificate on March 4, 2021"),
            "{err}"
        );
        assert!(!env.path("out.yaml").exists());
    }
}

#[test]
fn existing_output_files_are_left_untouched_on_failure() {
    let env = Env::with_keys();
    let original = sealed(&env, &[]);
    env.write("target.yaml", &original);
    env.write("out.yaml", "previous contents\n");
    env.write("bad.yaml", "kind: Secret\nmetadata: [\n");
    env.sealbox(&["seal", "-f", "bad.yaml", "-w", "out.yaml"])
        .run()
        .fails();
    assert_eq!(env.read("out.yaml"), "previous contents\n");
    env.sealbox(&["seal", "-f", "bad.yaml", "--merge-into", "target.yaml"])
        .run()
        .fails();
    assert_eq!(env.read("target.yaml"), original);
    // a valid input refused after the target was read: a scope the target does not have
    let err = env
        .sealbox(&[
            "seal",
            "--merge-into",
            "target.yaml",
            "--scope",
            "cluster-wide",
        ])
        .stdin(SECRET)
        .fails();
    assert!(
        err.contains("--scope cluster-wide conflicts with the target's scope strict"),
        "{err}"
    );
    assert_eq!(env.read("target.yaml"), original);
    // wrong-key unseal onto an existing file
    let moved = original.replacen("namespace: team-a", "namespace: team-b", 1);
    env.write("moved.yaml", moved);
    env.sealbox(&["unseal", "-f", "moved.yaml", "-w", "out.yaml"])
        .run()
        .fails();
    assert_eq!(env.read("out.yaml"), "previous contents\n");
}

#[test]
fn secrets_without_a_name_are_refused_in_every_scope() {
    let env = Env::with_keys();
    env.write(
        "noname.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  namespace: ns\nstringData:\n  a: b\n",
    );
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        let err = env
            .sealbox(&["seal", "-f", "noname.yaml", "--scope", scope])
            .run()
            .fails();
        assert!(
            err.contains("missing metadata.name in input Secret"),
            "{scope}: {err}"
        );
    }
    env.sealbox(&["seal", "-f", "noname.yaml", "--name", "given"])
        .run()
        .ok();
}

#[test]
fn empty_data_needs_allow_empty_data() {
    let env = Env::with_keys();
    env.write(
        "empty.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: e\n  namespace: ns\n",
    );
    let err = env.sealbox(&["seal", "-f", "empty.yaml"]).run().fails();
    assert!(err.contains("secret.data is empty in input Secret, assuming this is an error and aborting. To work with empty data, --allow-empty-data can be used"), "{err}");
    let out = env
        .sealbox(&["seal", "-f", "empty.yaml", "--allow-empty-data"])
        .run()
        .ok();
    assert!(out.contains("encryptedData: {}"), "{out}");
}
