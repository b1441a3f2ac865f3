//! `sealbox check`, the pre-commit guard, on a tree with every kind of file it meets.

use sealbox_tests::Env;

const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\nstringData:\n  password: hunter2\n";

#[test]
fn check_fails_on_plain_secrets_and_rule_covered_files_and_passes_the_rest() {
    let env = Env::with_keys();
    let r = env.age_keygen("key.txt");
    std::fs::create_dir_all(env.path("repo/secrets")).unwrap();
    std::fs::create_dir_all(env.path("repo/.git")).unwrap();
    env.write("repo/.git/leak.yaml", SECRET); // never looked at
    env.write(
        "repo/.sops.yaml",
        "creation_rules:\n  - path_regex: secrets/.*\\.env$\n    age: AGE\n".replace("AGE", &r),
    );
    // passes
    env.write(
        "repo/sealed.yaml",
        env.sealbox(&["seal"]).stdin(SECRET).ok(),
    );
    env.write(
        "repo/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n",
    );
    env.write(
        "repo/empty-secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: e\n",
    );
    env.write(
        "repo/es.yaml",
        "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: x\nspec:\n  data:\n  - secretKey: a\n    remoteRef: {key: k}\n",
    );
    env.write(
        "repo/values.yaml",
        "replicas: {{ .Values.n }}\n: not yaml [\n",
    );
    env.write("plain.yaml", SECRET);
    let by_sops = env
        .sops(&[
            "encrypt",
            "--age",
            &r,
            "--encrypted-regex",
            "^(data|stringData)$",
            "plain.yaml",
        ])
        .run();
    assert!(by_sops.output.status.success(), "{}", by_sops.stderr());
    env.write("repo/sops-secret.yaml", &by_sops.output.stdout);
    env.write("repo/secrets/app.env.plain", "X=1\n");
    let mut enc = env.sealbox(&[
        "encrypt",
        "--age",
        &r,
        "--input-type",
        "dotenv",
        "repo/secrets/app.env.plain",
    ]);
    enc.0.current_dir(env.path(""));
    env.write("repo/secrets/enc.env", enc.run().ok());
    std::fs::remove_file(env.path("repo/secrets/app.env.plain")).unwrap();

    let mut clean = env.sealbox(&["check", "."]);
    clean.0.current_dir(env.path("repo"));
    clean.run().ok();

    // fails, each named
    env.write("repo/secret.yaml", SECRET);
    env.write(
        "repo/multi.yaml",
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n---\n{SECRET}"),
    );
    env.write(
        "repo/secret.json",
        r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"j"},"data":{"a":"Yg=="}}"#,
    );
    env.write("repo/secrets/plain.env", "PASSWORD=hunter2\n");
    let mut dirty = env.sealbox(&["check", "."]);
    dirty.0.current_dir(env.path("repo"));
    let run = dirty.run();
    let err = run.fails();
    assert!(
        err.contains("./secret.yaml: document 1: Kubernetes Secret prod/db is not encrypted"),
        "{err}"
    );
    assert!(
        err.contains("./multi.yaml: document 2: Kubernetes Secret prod/db is not encrypted"),
        "{err}"
    );
    assert!(
        err.contains("./secret.json: document 1: Kubernetes Secret j is not encrypted"),
        "{err}"
    );
    assert!(
        err.contains("./secrets/plain.env: matches a creation rule"),
        "{err}"
    );
    assert!(err.contains("4 unencrypted secret(s)"), "{err}");
    assert!(
        !err.contains("hunter2"),
        "no secret values in the report: {err}"
    );
    assert!(
        !err.contains("leak.yaml")
            && !err.contains("sealed.yaml")
            && !err.contains("sops-secret.yaml"),
        "{err}"
    );
    // the way pre-commit calls it: file names
    let mut one = env.sealbox(&["check", "sealed.yaml", "secret.yaml"]);
    one.0.current_dir(env.path("repo"));
    assert!(
        one.run()
            .fails()
            .contains("1 unencrypted secret(s) in 2 file(s)")
    );
}

#[test]
fn check_does_not_fail_open() {
    let env = Env::new();
    let r = env.age_keygen("key.txt");
    // a plain Secret next to a document the stream parser refuses (a top-level list)
    env.write("mixed.yaml", format!("- a\n- b\n---\n{SECRET}"));
    // a SOPS file whose selector left the Secret's data clear
    env.write("narrow.yaml", SECRET);
    let enc = env
        .sops(&[
            "encrypt",
            "--age",
            &r,
            "--encrypted-regex",
            "^nothing$",
            "narrow.yaml",
        ])
        .run();
    assert!(enc.output.status.success(), "{}", enc.stderr());
    env.write("narrow.enc.yaml", &enc.output.stdout);
    let err = env
        .sealbox(&["check", "mixed.yaml", "narrow.enc.yaml"])
        .run()
        .fails();
    assert!(
        // The Secret is the stream's second document (the list is the first); before
        // `check` read every document it skipped the list and called the Secret document 1.
        err.contains("mixed.yaml: document 2: Kubernetes Secret prod/db is not encrypted"),
        "{err}"
    );
    assert!(err.contains("narrow.enc.yaml: document 1: Kubernetes Secret prod/db has values under data/stringData left clear"), "{err}");
}
