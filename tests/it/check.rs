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

/// `sealbox check ARGS` in the scratch directory: (passed, stderr).
fn check(env: &Env, args: &[&str]) -> (bool, String) {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    let run = env.sealbox(&all).run();
    let err = run.stderr();
    assert!(
        !err.contains("hunter2"),
        "a secret value in the report: {err}"
    );
    (run.output.status.success(), err)
}

/// Asserts that checking `file` alone fails with `want` in the report.
fn fails_with(env: &Env, file: &str, want: &str) {
    let (passed, err) = check(env, &[file]);
    assert!(!passed, "{file} passed");
    assert!(err.contains(want), "{file}: want {want:?} in:\n{err}");
}

fn indent(text: &str) -> String {
    text.trim_end().replace('\n', "\n    ")
}

#[test]
fn check_fails_on_manifests_that_do_not_parse() {
    let env = Env::new();
    env.write(
        "dup.yaml",
        SECRET.replace("stringData:", "stringData: {}\nstringData:"),
    );
    env.write("tab.yaml", SECRET.replace("  password", "\tpassword"));
    env.write("stray.yaml", format!("{SECRET}[\n"));
    for file in ["dup.yaml", "tab.yaml", "stray.yaml"] {
        fails_with(
            &env,
            file,
            &format!("{file}: document 1 does not parse as YAML or JSON"),
        );
    }
    env.write(
        "dup.json",
        r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"j"},"data":{},"data":{"a":"aHVudGVyMg=="}}"#,
    );
    fails_with(
        &env,
        "dup.json",
        "dup.json: document 1 has the key \"data\" twice",
    );
}

#[test]
fn check_fails_on_lists_of_plain_secrets() {
    let env = Env::new();
    env.write(
        "list.yaml",
        format!(
            "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {{name: c}}\n  - {}\n",
            indent(SECRET)
        ),
    );
    fails_with(
        &env,
        "list.yaml",
        "list.yaml: document 1, items[1]: Kubernetes Secret prod/db is not encrypted",
    );
    // `kubectl get secrets -o yaml` (and the key backup the runbook takes) prints this shape
    env.write(
        "kubectl.yaml",
        "apiVersion: v1\nitems:\n- apiVersion: v1\n  data:\n    tls.key: aHVudGVyMg==\n  kind: Secret\n  metadata:\n    name: sealed-secrets-key\n    namespace: kube-system\n  type: kubernetes.io/tls\nkind: List\nmetadata:\n  resourceVersion: \"\"\n",
    );
    fails_with(
        &env,
        "kubectl.yaml",
        "kubectl.yaml: document 1, items[0]: Kubernetes Secret kube-system/sealed-secrets-key is not encrypted",
    );
    env.write(
        "secretlist.json",
        r#"{"apiVersion":"v1","kind":"SecretList","items":[{"kind":"Secret","metadata":{"name":"s"},"stringData":{"p":"hunter2"}}]}"#,
    );
    fails_with(
        &env,
        "secretlist.json",
        "secretlist.json: document 1, items[0]: Kubernetes Secret s is not encrypted",
    );
    env.write(
        "array.json",
        r#"[{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a"},"data":{"p":"aHVudGVyMg=="}}]"#,
    );
    fails_with(
        &env,
        "array.json",
        "array.json: document 1, [0]: Kubernetes Secret a is not encrypted",
    );
}

#[test]
fn check_reads_every_file_by_content_not_by_name() {
    let env = Env::new();
    for name in ["secret", "secret.YAML", "secret.Yml", "tls.key"] {
        env.write(name, SECRET);
        fails_with(
            &env,
            name,
            &format!("{name}: document 1: Kubernetes Secret prod/db is not encrypted"),
        );
    }
    env.write(
        "secret.JSON.bak",
        r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"j"},"data":{"a":"aHVudGVyMg=="}}"#,
    );
    fails_with(
        &env,
        "secret.JSON.bak",
        "Kubernetes Secret j is not encrypted",
    );
    // other encodings: UTF-16 with a byte-order mark is read, without one it cannot be
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(SECRET.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    env.write("utf16.yaml", utf16);
    fails_with(
        &env,
        "utf16.yaml",
        "utf16.yaml: document 1: Kubernetes Secret prod/db is not encrypted",
    );
    let no_bom: Vec<u8> = SECRET.encode_utf16().flat_map(u16::to_be_bytes).collect();
    env.write("utf16be", no_bom);
    fails_with(
        &env,
        "utf16be",
        "utf16be: text in an encoding sealbox cannot read",
    );
    // found in a directory too
    std::fs::create_dir(env.path("dir")).unwrap();
    env.write("dir/noext", SECRET);
    fails_with(
        &env,
        "dir",
        "dir/noext: document 1: Kubernetes Secret prod/db",
    );
}

#[test]
fn check_fails_on_private_keys_in_any_text_file() {
    let env = Env::new();
    let out = env
        .command(
            "openssl",
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ],
        )
        .run();
    assert!(out.output.status.success(), "openssl: {}", out.stderr());
    let pem = out.stdout();
    let body = pem.lines().nth(1).unwrap().to_owned();
    env.write("notes.txt", format!("the key:\n{pem}"));
    env.write("id_key", pem.replace("BEGIN PRIVATE", "BEGIN RSA PRIVATE"));
    env.write(
        "ssh",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n",
    );
    env.write(
        "enc.pem.txt",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n",
    );
    env.age_keygen("age.txt");
    let identity = env.read("age.txt");
    let identity = identity
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap();
    for (file, want) in [
        (
            "notes.txt",
            "notes.txt: line 2: a PEM private key (-----BEGIN PRIVATE KEY-----)",
        ),
        (
            "id_key",
            "id_key: line 1: a PEM private key (-----BEGIN RSA PRIVATE KEY-----)",
        ),
        (
            "ssh",
            "ssh: line 1: a PEM private key (-----BEGIN OPENSSH PRIVATE KEY-----)",
        ),
        (
            "enc.pem.txt",
            "a PEM private key (-----BEGIN ENCRYPTED PRIVATE KEY-----)",
        ),
        (
            "age.txt",
            "age.txt: line 3: an age identity (AGE-SECRET-KEY-1…)",
        ),
    ] {
        let (passed, err) = check(&env, &[file]);
        assert!(!passed, "{file} passed");
        assert!(err.contains(want), "{file}: want {want:?} in:\n{err}");
        assert!(
            !err.contains(&body) && !err.contains(&identity[16..]),
            "a key in the report: {err}"
        );
    }
}

#[test]
fn check_fails_on_leftover_temp_files_and_missing_paths() {
    let env = Env::new();
    std::fs::create_dir(env.path("repo")).unwrap();
    env.write("repo/.sealbox-Xy12Ab", "partial: plaintext\n");
    fails_with(
        &env,
        "repo",
        "repo/.sealbox-Xy12Ab: a temporary file left by an interrupted sealbox run",
    );
    env.write("ok.yaml", "a: 1\n");
    fails_with(&env, "missing.yaml", "missing.yaml: does not exist");
    let (passed, err) = check(&env, &["ok.yaml", "gone/"]);
    assert!(!passed && err.contains("gone/: does not exist"), "{err}");
}

#[test]
fn check_staged_reads_the_index_not_the_working_tree() {
    let env = Env::new();
    let r = env.age_keygen("key.txt");
    std::fs::create_dir(env.path("repo")).unwrap();
    let git = |args: &[&str]| {
        let mut all = vec!["-c", "user.name=t", "-c", "user.email=t@t"];
        all.extend_from_slice(args);
        let mut cmd = env.command("git", &all);
        cmd.0.current_dir(env.path("repo"));
        let run = cmd.run();
        assert!(
            run.output.status.success(),
            "git {args:?}: {}",
            run.stderr()
        );
    };
    let staged = |dir: &str| {
        let mut cmd = env.sealbox(&["check", "--staged"]);
        cmd.0.current_dir(env.path(dir));
        let run = cmd.run();
        assert!(!run.stderr().contains("hunter2"), "{}", run.stderr());
        (run.output.status.success(), run.stderr())
    };
    git(&["init", "-q"]);
    env.write("repo/README", "hello\n");
    git(&["add", "README"]);
    git(&["commit", "-q", "-m", "one"]);
    assert!(staged("repo").0, "nothing staged passes");

    // plaintext staged, then the working copy encrypted: what a commit would record is plain
    std::fs::create_dir(env.path("repo/k8s")).unwrap();
    env.write("repo/k8s/db.yaml", SECRET);
    git(&["add", "k8s/db.yaml"]);
    let enc = env
        .sealbox(&["encrypt", "--age", &r, "repo/k8s/db.yaml"])
        .run()
        .ok();
    env.write("repo/k8s/db.yaml", &enc);
    let mut tree = env.sealbox(&["check", "k8s/db.yaml"]);
    tree.0.current_dir(env.path("repo"));
    tree.run().ok();
    let (passed, err) = staged("repo");
    assert!(!passed);
    assert!(
        err.contains("k8s/db.yaml: document 1: Kubernetes Secret prod/db is not encrypted"),
        "{err}"
    );
    // names are the repo's paths, from a subdirectory too
    let (passed, err) = staged("repo/k8s");
    assert!(
        !passed && (err.contains("\nk8s/db.yaml: ") || err.starts_with("k8s/db.yaml: ")),
        "{err}"
    );

    // the encrypted copy staged: passes
    git(&["add", "k8s/db.yaml"]);
    assert!(staged("repo").0);
    git(&["commit", "-q", "-m", "two"]);

    // a staged .sealboxignore allows a fixture; a staged key is caught
    std::fs::create_dir(env.path("repo/testdata")).unwrap();
    env.write("repo/testdata/plain.yaml", SECRET);
    env.write("repo/testdata/age.txt", env.read("key.txt"));
    git(&["add", "testdata"]);
    let (passed, err) = staged("repo");
    assert!(
        !passed && err.contains("testdata/age.txt: line 3: an age identity"),
        "{err}"
    );
    env.write("repo/.sealboxignore", "# TEST ONLY fixtures\ntestdata/\n");
    let (passed, _) = staged("repo");
    assert!(
        !passed,
        "a .sealboxignore only in the working tree is not what is committed"
    );
    git(&["add", ".sealboxignore"]);
    let (passed, err) = staged("repo");
    assert!(passed, "{err}");
}

#[test]
fn sealboxignore_and_the_marker_allow_fixtures() {
    let env = Env::new();
    for dir in ["repo/.git", "repo/tests/fixtures/deep", "repo/app"] {
        std::fs::create_dir_all(env.path(dir)).unwrap();
    }
    env.write("repo/tests/fixtures/deep/secret.yaml", SECRET);
    env.write(
        "repo/tests/fixtures/key.pem",
        "-----BEGIN PRIVATE KEY-----\nMIIB\n",
    );
    env.write("repo/app/fixture-1.yaml", SECRET);
    env.write(
        "repo/app/marked.yaml",
        format!("# sealbox:allow a test fixture\n{SECRET}"),
    );
    env.write("repo/app/real.yaml", SECRET);
    let run = |args: &[&str]| {
        let mut all = vec!["check"];
        all.extend_from_slice(args);
        let mut cmd = env.sealbox(&all);
        cmd.0.current_dir(env.path("repo"));
        let run = cmd.run();
        (run.output.status.success(), run.stderr())
    };
    let (passed, err) = run(&["."]);
    assert!(!passed);
    for file in [
        "deep/secret.yaml",
        "key.pem",
        "fixture-1.yaml",
        "app/real.yaml",
    ] {
        assert!(err.contains(file), "{file} in {err}");
    }
    assert!(!err.contains("marked.yaml"), "the marker allows it: {err}");
    env.write(
        "repo/.sealboxignore",
        "# TEST ONLY\ntests/**/*.yaml\n*.pem\napp/fixture-?.yaml\n",
    );
    let (passed, err) = run(&["."]);
    assert!(!passed);
    assert!(err.contains("./app/real.yaml: document 1"), "{err}");
    assert!(
        err.contains("1 unencrypted secret(s)"),
        "only real.yaml: {err}"
    );
    // named one by one, as pre-commit passes them; from a subdirectory the parent's file applies
    let (passed, err) = run(&["tests/fixtures/deep/secret.yaml", "app/fixture-1.yaml"]);
    assert!(passed, "{err}");
    let mut sub = env.sealbox(&["check", "deep/secret.yaml", "key.pem"]);
    sub.0.current_dir(env.path("repo/tests/fixtures"));
    sub.run().ok();
}

#[test]
fn the_published_hook_excludes_nothing_of_the_users() {
    let hooks =
        std::fs::read_to_string(sealbox_tests::root().join(".pre-commit-hooks.yaml")).unwrap();
    assert!(
        !hooks.lines().any(|l| l.trim_start().starts_with("exclude")),
        "{hooks}"
    );
    let docs = std::fs::read_to_string(sealbox_tests::root().join("docs/sops.md")).unwrap();
    assert!(
        docs.contains("sealbox check --staged"),
        "the documented git hook checks the index"
    );
}

/// A generated corpus of plain Secrets for the property test.
mod corpus {
    use proptest::prelude::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    pub enum Shape {
        Yaml,
        /// A ConfigMap, then the Secret.
        YamlMulti,
        YamlList,
        Json,
        JsonArray,
        JsonList,
    }

    #[derive(Debug, Clone)]
    pub struct Case {
        pub shape: Shape,
        pub name: String,
        pub namespace: Option<String>,
        pub values: Vec<(String, String)>,
        pub string_data: bool,
        /// YAML only: a leading `---` and CRLF line ends.
        pub marker: bool,
        pub crlf: bool,
        pub stem: String,
        pub ext: &'static str,
    }

    pub fn case() -> impl Strategy<Value = Case> {
        (
            prop_oneof![
                Just(Shape::Yaml),
                Just(Shape::YamlMulti),
                Just(Shape::YamlList),
                Just(Shape::Json),
                Just(Shape::JsonArray),
                Just(Shape::JsonList),
            ],
            "[a-z][a-z0-9-]{0,20}",
            proptest::option::of("[a-z][a-z0-9-]{0,10}"),
            // distinct keys: a duplicate is a file that does not parse, tested on its own
            proptest::collection::btree_map("[A-Za-z_][A-Za-z0-9_.-]{0,12}", "[ -~]{1,30}", 1..4),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            // no dots: a stem ending in `.md`, `.sh`… would name a file of another kind
            "[a-zA-Z0-9_][a-zA-Z0-9_ -]{0,15}",
            proptest::sample::select(vec![
                "yaml", "yml", "YAML", "Yml", "json", "JSON", "", "key", "txt", "secret", "bak",
            ]),
        )
            .prop_map(
                |(shape, name, namespace, values, string_data, marker, crlf, stem, ext)| Case {
                    shape,
                    name,
                    namespace,
                    values: values.into_iter().collect(),
                    string_data,
                    marker,
                    crlf,
                    stem,
                    ext,
                },
            )
    }

    fn base64(bytes: &[u8]) -> String {
        const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ABC[(n >> (18 - 6 * i)) as usize & 63]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    fn q(text: &str) -> String {
        serde_json::to_string(text).unwrap()
    }

    impl Case {
        pub fn is_json(&self) -> bool {
            matches!(self.shape, Shape::Json | Shape::JsonArray | Shape::JsonList)
        }

        pub fn file_name(&self, index: usize) -> String {
            if self.ext.is_empty() {
                format!("{index:02}-{}", self.stem)
            } else {
                format!("{index:02}-{}.{}", self.stem, self.ext)
            }
        }

        /// Where the Secret is, as `check` names it.
        pub fn label(&self) -> &'static str {
            match self.shape {
                Shape::Yaml | Shape::Json => "document 1: Kubernetes Secret",
                Shape::YamlMulti => "document 2: Kubernetes Secret",
                Shape::YamlList | Shape::JsonList => "document 1, items[0]: Kubernetes Secret",
                Shape::JsonArray => "document 1, [0]: Kubernetes Secret",
            }
        }

        /// The Secret as one line of JSON (also a YAML flow mapping).
        fn secret_json(&self) -> String {
            let values: Vec<String> = self
                .values
                .iter()
                .map(|(k, v)| {
                    let v = if self.string_data {
                        q(v)
                    } else {
                        q(&base64(v.as_bytes()))
                    };
                    format!("{}:{v}", q(k))
                })
                .collect();
            let ns = self
                .namespace
                .as_ref()
                .map(|n| format!(",\"namespace\":{}", q(n)))
                .unwrap_or_default();
            format!(
                r#"{{"apiVersion":"v1","kind":"Secret","metadata":{{"name":{}{ns}}},"type":"Opaque","{}":{{{}}}}}"#,
                q(&self.name),
                if self.string_data {
                    "stringData"
                } else {
                    "data"
                },
                values.join(",")
            )
        }

        fn secret_yaml(&self) -> String {
            let mut out = format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {}\n",
                q(&self.name)
            );
            if let Some(ns) = &self.namespace {
                out += &format!("  namespace: {}\n", q(ns));
            }
            out += if self.string_data {
                "stringData:\n"
            } else {
                "data:\n"
            };
            for (k, v) in &self.values {
                let v = if self.string_data {
                    q(v)
                } else {
                    base64(v.as_bytes())
                };
                out += &format!("  {}: {v}\n", q(k));
            }
            out
        }

        pub fn text(&self) -> String {
            let text = match self.shape {
                Shape::Yaml => self.secret_yaml(),
                Shape::YamlMulti => format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n---\n{}",
                    self.secret_yaml()
                ),
                Shape::YamlList => format!(
                    "apiVersion: v1\nkind: List\nmetadata: {{}}\nitems:\n- {}\n",
                    self.secret_yaml().trim_end().replace('\n', "\n  ")
                ),
                Shape::Json => self.secret_json(),
                Shape::JsonArray => format!("[\n{}\n]\n", self.secret_json()),
                Shape::JsonList => format!(
                    r#"{{"apiVersion":"v1","kind":"List","items":[{}]}}"#,
                    self.secret_json()
                ),
            };
            if self.is_json() {
                return text;
            }
            let text = if self.marker {
                format!("---\n{text}")
            } else {
                text
            };
            if self.crlf {
                text.replace('\n', "\r\n")
            } else {
                text
            }
        }
    }
}

/// For every plain Secret in a generated corpus (YAML/JSON, single and multi-document, Lists,
/// arrays, data and stringData, odd names and extensions), `check` fails naming it; for every
/// file `sealbox encrypt` or `sealbox seal` made of one, it passes. The corpus is checked with
/// one run per directory, each file's verdict read from the report.
#[test]
fn check_fails_on_every_plain_secret_and_passes_what_sealbox_encrypts() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::{Config, TestRunner};

    let env = Env::with_keys();
    let r = env.age_keygen("key.txt");
    for dir in ["plain", "enc", "sealed"] {
        std::fs::create_dir(env.path(dir)).unwrap();
    }
    let mut runner = TestRunner::new(Config::with_cases(48));
    let cases: Vec<corpus::Case> = (0..48)
        .map(|_| corpus::case().new_tree(&mut runner).unwrap().current())
        .collect();
    let mut sealed = 0;
    for (index, case) in cases.iter().enumerate() {
        let file = case.file_name(index);
        let text = case.text();
        env.write(&format!("plain/{file}"), &text);
        let (input, output) = match case.shape {
            // sops has no store for a top-level JSON array: encrypted as a binary file
            corpus::Shape::JsonArray => ("binary", "json"),
            _ if case.is_json() => ("json", "json"),
            _ => ("yaml", "yaml"),
        };
        let plain = format!("plain/{file}");
        let args = [
            "encrypt",
            "--age",
            &r,
            "--input-type",
            input,
            "--output-type",
            output,
            &plain,
        ];
        let enc = env.sealbox(&args).run();
        assert!(
            enc.output.status.success(),
            "encrypt {case:?}:\n{text}\n{}",
            enc.stderr()
        );
        env.write(&format!("enc/{file}"), &enc.output.stdout);
        if matches!(case.shape, corpus::Shape::Yaml | corpus::Shape::Json) {
            let format = if case.is_json() { "json" } else { "yaml" };
            let mut args = vec!["seal", "-o", format];
            if case.namespace.is_none() {
                args.extend(["-n", "team-a"]);
            }
            let seal = env.sealbox(&args).stdin(&text);
            assert!(
                seal.output.status.success(),
                "seal {case:?}:\n{text}\n{}",
                seal.stderr()
            );
            env.write(&format!("sealed/{file}"), &seal.output.stdout);
            sealed += 1;
        }
    }
    assert!(sealed > 0, "the corpus has single Secrets to seal");

    let (passed, err) = check(&env, &["plain"]);
    assert!(!passed);
    for (index, case) in cases.iter().enumerate() {
        let want = format!("plain/{}: {}", case.file_name(index), case.label());
        assert!(
            err.contains(&want),
            "{want:?} not reported for {case:?}:\n{}\n{err}",
            case.text()
        );
        for (_, value) in &case.values {
            assert!(
                value.len() < 12 || !err.contains(value.as_str()),
                "a value in: {err}"
            );
        }
    }
    assert!(
        err.contains(&format!(
            "{0} unencrypted secret(s) in {0} file(s)",
            cases.len()
        )),
        "one problem per file: {err}"
    );
    let (passed, err) = check(&env, &["enc", "sealed"]);
    assert!(passed, "encrypted or sealed files failed:\n{err}");
}

#[test]
fn binary_files_are_skipped_unless_a_creation_rule_covers_them() {
    let env = Env::new();
    let r = env.age_keygen("key.txt");
    env.write(
        ".sops.yaml",
        "creation_rules:\n  - path_regex: \\.bin$\n    age: AGE\n".replace("AGE", &r),
    );
    env.write("logo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR kind: Secret");
    env.write("blob.bin", b"\0\x01secret\0");
    let enc = env
        .sealbox(&["encrypt", "--age", &r, "blob.bin"])
        .run()
        .ok();
    env.write("blob.enc.bin", enc);
    let (passed, err) = check(&env, &["logo.png", "blob.enc.bin"]);
    assert!(passed, "{err}");
    fails_with(&env, "blob.bin", "blob.bin: matches a creation rule in");
}
