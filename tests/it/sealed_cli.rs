//! kubeseal-compatible behaviour of `sealbox seal/unseal/validate/keys` and `sealbox kubeseal`.

use sealbox_crypto::sealed::manifest::parse_documents;
use sealbox_crypto::sealed::{SealedSecret, Secret};
use sealbox_tests::{Env, sealbox_bin};
use serde_json::Value;

fn unseal_all(env: &Env, manifest: &str) -> Vec<Secret> {
    parse_documents(&env.sealbox(&["unseal"]).stdin(manifest).ok()).unwrap()
}

#[test]
fn multi_document_input_and_namespace_resolution() {
    let env = Env::with_keys();
    env.write(
        "kubeconfig",
        "apiVersion: v1\nkind: Config\ncurrent-context: dev\ncontexts:\n- name: dev\n  context:\n    namespace: from-context\n",
    );
    let input = "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n  namespace: explicit\nstringData: {k: v}\n---\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: b\ndata: {k: dg==}\n";
    // No -n: the second Secret takes the kubeconfig context's namespace.
    let mut cmd = env.sealbox(&["seal"]);
    cmd.0.env("KUBECONFIG", env.path("kubeconfig"));
    let out = cmd.stdin(input).ok();
    let ss: Vec<SealedSecret> = parse_documents(&out).unwrap();
    assert_eq!(ss.len(), 2);
    assert_eq!(ss[0].metadata.namespace, "explicit");
    assert_eq!(ss[1].metadata.namespace, "from-context");
    // No kubeconfig at all: "default". With -n: that namespace.
    let out = env
        .sealbox(&["seal"])
        .stdin(&input[input.find("---\n---\n").unwrap()..])
        .ok();
    assert!(out.contains("namespace: default"), "{out}");
    let out = env
        .sealbox(&["seal", "-n", "given"])
        .stdin(&input[input.find("---\n---\n").unwrap()..])
        .ok();
    assert!(out.contains("namespace: given"), "{out}");
    let secrets = unseal_all(&env, &out);
    assert_eq!(secrets[0].data["k"].as_slice(), b"v");
}

#[test]
fn name_override_json_input_and_string_data_folding() {
    let env = Env::with_keys();
    let input = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"orig","namespace":"ns","creationTimestamp":null,"uid":"123","resourceVersion":"9","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"stringData\":{\"k\":\"secret\"}}"}},"data":{"k":"b2xk"},"stringData":{"k":"new","other":"x"}}"#;
    let out = env.kubeseal(&["--name", "renamed"]).stdin(input).ok();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["metadata"]["name"], "renamed");
    assert_eq!(v["spec"]["template"]["metadata"]["name"], "renamed");
    assert!(
        v["spec"]["template"]["metadata"]
            .get("annotations")
            .is_none(),
        "last-applied stripped: {out}"
    );
    assert!(v["spec"]["template"]["metadata"].get("uid").is_none());
    assert!(
        !out.contains("secret\\\""),
        "no plaintext from last-applied in output"
    );
    let secrets = unseal_all(&env, &out);
    assert_eq!(
        secrets[0].data["k"].as_slice(),
        b"new",
        "stringData wins over data"
    );
    assert_eq!(secrets[0].data["other"].as_slice(), b"x");
}

#[test]
fn kubeseal_output_shapes() {
    let env = Env::with_keys();
    let input = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: ns\nstringData:\n  k: v\n";
    // JSON by default, Go field order.
    let json = env.kubeseal(&[]).stdin(input).ok();
    assert!(json.starts_with("{\n  \"kind\": \"SealedSecret\",\n  \"apiVersion\": \"bitnami.com/v1alpha1\",\n  \"metadata\": {"), "{json}");
    assert!(json.find("\"template\"").unwrap() < json.find("\"encryptedData\"").unwrap());
    // -o yaml: a --- line first, sorted keys.
    let yaml = env.kubeseal(&["-o", "yaml"]).stdin(input).ok();
    assert!(yaml.starts_with("---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: s\n  namespace: ns\nspec:\n  encryptedData:\n    k: Ag"), "{yaml}");
    // -w file.yaml selects YAML and writes nothing to stdout.
    let stdout = env.kubeseal(&["-w", "out.yaml"]).stdin(input).ok();
    assert!(stdout.is_empty());
    assert!(env.read("out.yaml").starts_with("---\napiVersion:"));
    // the --format=yaml, -o YAML and env-var forms kubeseal users write
    assert!(
        env.kubeseal(&["--format=yaml"])
            .stdin(input)
            .ok()
            .starts_with("---\n")
    );
    assert!(
        env.kubeseal(&["-o", "YAML"])
            .stdin(input)
            .ok()
            .starts_with("---\n")
    );
    let other = Env::new();
    other.sealbox(&["keys", "init"]).run().ok();
    let (other_cert, other_key) = other.key_files();
    let mut cmd = env.sealbox(&["kubeseal"]);
    cmd.0
        .env("SEALED_SECRETS_CERT", &other_cert)
        .env("SEALED_SECRETS_FORMAT", "yaml");
    let sealed = cmd.stdin(input).ok();
    assert!(sealed.starts_with("---\n"), "{sealed}");
    env.sealbox(&["unseal"]).stdin(&sealed).fails();
    env.sealbox(&["unseal", "-k", other_key.to_str().unwrap()])
        .stdin(&sealed)
        .ok();
}

#[test]
fn unsealed_output_is_private_and_owner_references_follow_the_template() {
    let env = Env::with_keys();
    let (_, key) = env.key_files();
    let input = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: ns\n  annotations:\n    sealedsecrets.bitnami.com/skip-set-owner-references: \"true\"\nstringData:\n  k: v\n";
    let sealed = env.sealbox(&["seal"]).stdin(input).ok();
    // -w over an existing world-readable file still leaves a 0600 file
    let out = env.write("secret.yaml", "old\n");
    std::fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    env.sealbox(&["unseal", "-w", "secret.yaml"])
        .stdin(&sealed)
        .ok();
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&out).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    assert!(env.read("secret.yaml").contains("k: dg=="));
    let recovered = |manifest: &str| -> Value {
        let out = env
            .sealbox(&[
                "kubeseal",
                "--recovery-unseal",
                "--recovery-private-key",
                key.to_str().unwrap(),
            ])
            .stdin(manifest)
            .ok();
        serde_json::from_str(&out).unwrap()
    };
    assert!(
        recovered(&sealed)["metadata"]
            .get("ownerReferences")
            .is_none()
    );
    let plain = sealed.replace(
        "sealedsecrets.bitnami.com/skip-set-owner-references: \"true\"",
        "other: x",
    );
    assert_eq!(
        recovered(&plain)["metadata"]["ownerReferences"][0]["kind"],
        "SealedSecret"
    );
}

#[test]
fn invoked_through_a_link_named_kubeseal() {
    let env = Env::with_keys();
    std::os::unix::fs::symlink(sealbox_bin(), env.path("kubeseal")).unwrap();
    let input = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: ns\nstringData:\n  k: v\n";
    let mut seal = env.command(env.path("kubeseal"), &["--scope", "cluster-wide"]);
    seal.0.env("SEALED_SECRETS_CERT", env.key_files().0);
    let out = seal.stdin(input).ok();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["metadata"]["annotations"]["sealedsecrets.bitnami.com/cluster-wide"],
        "true"
    );
    let version = env.command(env.path("kubeseal"), &["--version"]).run().ok();
    assert!(version.starts_with("kubeseal version: "), "{version}");
    let (_, key) = env.key_files();
    let secret = env
        .command(
            env.path("kubeseal"),
            &[
                "--recovery-unseal",
                "--recovery-private-key",
                key.to_str().unwrap(),
                "-o",
                "yaml",
            ],
        )
        .stdin(&out)
        .ok();
    assert!(secret.contains("k: dg=="), "{secret}");
    // Online-only flags say what to do instead.
    let err = env
        .command(env.path("kubeseal"), &["--validate"])
        .stdin(&out)
        .fails();
    assert!(err.contains("sealbox validate"), "{err}");
}

#[test]
fn merge_into_a_strict_target_forces_its_name_and_namespace() {
    let env = Env::with_keys();
    let target = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n  namespace: prod\nstringData:\n  old: one\n";
    env.write("app.json", env.kubeseal(&[]).stdin(target).ok());
    let input = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: other\n  namespace: prod\nstringData:\n  new: two\n";
    env.kubeseal(&["--merge-into", "app.json"])
        .stdin(input)
        .ok();
    let merged = env.read("app.json");
    assert!(merged.starts_with("{"), "JSON stays JSON");
    // The strict label binds prod/app, so the new item opens only because the name was forced.
    let secret = &unseal_all(&env, &merged)[0];
    assert_eq!(secret.data["new"].as_slice(), b"two");
    assert_eq!(secret.data["old"].as_slice(), b"one");
}

#[test]
fn merge_into_keeps_other_items_scope_and_format() {
    let env = Env::with_keys();
    let first = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n  namespace: ns\n  labels: {a: '1'}\nstringData:\n  old: one\n  shared: before\n";
    let original = env
        .sealbox(&["seal", "--scope", "namespace-wide"])
        .stdin(first)
        .ok();
    env.write("app.yaml", &original);
    // The input names another Secret: name and namespace come from the target file, and the
    // scope from its annotations.
    let second = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: whatever\n  labels: {b: '2'}\nstringData:\n  new: two\n  shared: after\n";
    let stdout = env
        .sealbox(&["seal", "--merge-into", "app.yaml"])
        .stdin(second)
        .ok();
    assert!(stdout.is_empty());
    let merged = env.read("app.yaml");
    assert!(
        merged.starts_with("---\napiVersion:"),
        "YAML stays YAML: {merged}"
    );
    let ss: Vec<SealedSecret> = parse_documents(&merged).unwrap();
    let old_ct = &parse_documents::<SealedSecret>(&original).unwrap()[0]
        .spec
        .encrypted_data["old"];
    assert_eq!(
        &ss[0].spec.encrypted_data["old"], old_ct,
        "untouched items keep their ciphertext"
    );
    assert_eq!(ss[0].spec.template.metadata.labels.len(), 2);
    let secret = &unseal_all(&env, &merged)[0];
    assert_eq!(secret.metadata.name, "app");
    assert_eq!(secret.data["old"].as_slice(), b"one");
    assert_eq!(secret.data["new"].as_slice(), b"two");
    assert_eq!(secret.data["shared"].as_slice(), b"after");
}

#[test]
fn keys_renew_seals_with_the_newest_and_unseals_with_all() {
    let env = Env::with_keys();
    let input = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: ns\nstringData:\n  k: v\n";
    let before = env.sealbox(&["seal"]).stdin(input).ok();
    let old_cert = env.sealbox(&["keys", "export-cert"]).run().ok();
    // keys init is idempotent; renew adds a key.
    assert!(
        env.sealbox(&["keys", "init"])
            .run()
            .ok()
            .contains("already initialised")
    );
    std::thread::sleep(std::time::Duration::from_millis(10));
    env.sealbox(&["keys", "renew"]).run().ok();
    let new_cert = env.sealbox(&["keys", "export-cert"]).run().ok();
    assert_ne!(old_cert, new_cert);
    assert!(new_cert.starts_with("-----BEGIN CERTIFICATE-----\n"));
    let after = env.sealbox(&["seal"]).stdin(input).ok();
    env.write("both.yaml", format!("{before}{after}"));
    let report = env.sealbox(&["validate", "-f", "both.yaml"]).run().ok();
    let fingerprints: Vec<&str> = report
        .lines()
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(fingerprints.len(), 2);
    assert_ne!(
        fingerprints[0], fingerprints[1],
        "old item opened by old key, new by new: {report}"
    );
    assert_eq!(unseal_all(&env, &format!("{before}{after}")).len(), 2);
    // the private key file is readable by its owner only
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(env.path("home/keys")).unwrap() {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        if entry.path().extension().unwrap() == "key" {
            assert_eq!(mode, 0o600);
        }
    }
}

#[test]
fn recovery_keys_from_backup_lists_pkcs8_files_and_comma_lists() {
    let env = Env::with_keys();
    let (cert, key) = env.key_files();
    // A BYO key made by openssl (PKCS#8), as in the upstream docs.
    env.command(
        "openssl",
        &[
            "req",
            "-x509",
            "-days",
            "365",
            "-nodes",
            "-newkey",
            "rsa:2048",
            "-keyout",
            "byo.key",
            "-out",
            "byo.crt",
            "-subj",
            "/CN=sealed-secret/O=sealed-secret",
        ],
    )
    .run()
    .ok();
    assert!(
        env.read("byo.key")
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    let input = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: ns\nstringData:\n  k: v\n";
    let by_store = env
        .sealbox(&["seal", "--cert", cert.to_str().unwrap()])
        .stdin(input)
        .ok();
    let by_byo = env
        .sealbox(&["seal", "--cert", "byo.crt"])
        .stdin(input)
        .ok();
    // The backup List that `kubectl get secret -l … -o yaml` writes.
    let b64 =
        |p: &std::path::Path| sealbox_crypto::sealed::encode_base64(&std::fs::read(p).unwrap());
    env.write(
        "main.key",
        format!(
            "apiVersion: v1\nitems:\n- apiVersion: v1\n  data:\n    tls.crt: {}\n    tls.key: {}\n  kind: Secret\n  metadata:\n    generateName: sealed-secrets-key\n    labels:\n      sealedsecrets.bitnami.com/sealed-secrets-key: active\n    name: sealed-secrets-keyabcde\n    namespace: kube-system\n  type: kubernetes.io/tls\nkind: List\nmetadata:\n  resourceVersion: \"\"\n",
            b64(&cert), b64(&key)
        ),
    );
    env.write("both.yaml", format!("{by_store}{by_byo}"));
    let err = env
        .sealbox(&["unseal", "-f", "both.yaml", "-k", "main.key"])
        .run()
        .fails();
    assert!(
        err.contains("SealedSecret ns/s: no key could decrypt secret (k)"),
        "{err}"
    );
    let out = env
        .sealbox(&[
            "unseal",
            "-f",
            "both.yaml",
            "--recovery-private-key",
            "main.key,byo.key",
        ])
        .run()
        .ok();
    assert_eq!(out.matches("k: dg==").count(), 2, "{out}");
    let report = env
        .sealbox(&[
            "validate",
            "-f",
            "both.yaml",
            "-k",
            "main.key",
            "-k",
            "byo.key",
        ])
        .run()
        .ok();
    assert_eq!(
        report
            .matches("ok      ns/s k: opens with key SHA256:")
            .count(),
        2,
        "{report}"
    );
}

#[test]
fn fingerprints_match_ssh_keygen() {
    let env = Env::with_keys();
    let (cert, _) = env.key_files();
    let input = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: ns\nstringData:\n  k: v\n";
    let sealed = env.sealbox(&["seal"]).stdin(input).ok();
    let report = env.sealbox(&["validate"]).stdin(sealed).ok();
    let ours = report.trim_end().rsplit(' ').next().unwrap().to_string();
    // ssh-keygen needs an SSH-format key; openssl gives us the SPKI, ssh-keygen -i converts.
    let spki = env
        .command(
            "openssl",
            &["x509", "-in", cert.to_str().unwrap(), "-noout", "-pubkey"],
        )
        .run()
        .ok();
    env.write("pub.pem", spki);
    let ssh = env
        .command("ssh-keygen", &["-i", "-m", "PKCS8", "-f", "pub.pem"])
        .run()
        .ok();
    env.write("pub.ssh", ssh);
    let theirs = env
        .command("ssh-keygen", &["-l", "-E", "sha256", "-f", "pub.ssh"])
        .run()
        .ok();
    assert!(
        theirs.contains(&ours),
        "ssh-keygen: {theirs} vs ours: {ours}"
    );
}

/// A file server on loopback for `--cert URL` tests; killed on drop.
struct FileServer {
    child: std::process::Child,
    port: u16,
}

impl FileServer {
    fn start(env: &Env, tls: Option<(&str, &str)>) -> FileServer {
        use std::io::BufRead;
        let mut cmd = std::process::Command::new("python3");
        cmd.arg(sealbox_tests::root().join("tests/infra/serve_files.py"))
            .arg(env.dir.path());
        if let Some((cert, key)) = tls {
            cmd.arg(env.path(cert)).arg(env.path(key));
        }
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        FileServer {
            child,
            port: line.trim().parse().expect("server port"),
        }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn cert_from_http_and_https_urls() {
    let env = Env::with_keys();
    let (cert, _) = env.key_files();
    std::fs::copy(&cert, env.path("cert.pem")).unwrap();
    let input = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: ns\nstringData:\n  k: v\n";

    let http = FileServer::start(&env, None);
    let url = format!("http://127.0.0.1:{}/cert.pem", http.port);
    let fetched = env
        .sealbox(&["kubeseal", "--fetch-cert", "--cert", &url])
        .run()
        .ok();
    assert_eq!(fetched, std::fs::read_to_string(&cert).unwrap());
    let sealed = env.sealbox(&["seal", "--cert", &url]).stdin(input).ok();
    assert_eq!(unseal_all(&env, &sealed)[0].data["k"].as_slice(), b"v");
    let missing = format!("http://127.0.0.1:{}/nope.pem", http.port);
    let err = env
        .sealbox(&["seal", "--cert", &missing, "-w", "out.yaml"])
        .stdin(input)
        .fails();
    assert!(
        err.contains(&format!("cannot fetch certificate from {missing}")) && err.contains("404"),
        "{err}"
    );
    assert!(!env.path("out.yaml").exists());

    // HTTPS, trusted through SSL_CERT_FILE: a CA and a server certificate for 127.0.0.1.
    let openssl = |args: &[&str]| env.command("openssl", args).run().ok();
    openssl(&[
        "req",
        "-x509",
        "-nodes",
        "-newkey",
        "rsa:2048",
        "-days",
        "1",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-subj",
        "/CN=test-ca",
    ]);
    openssl(&[
        "req",
        "-nodes",
        "-newkey",
        "rsa:2048",
        "-keyout",
        "tls.key",
        "-out",
        "tls.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    env.write(
        "san.ext",
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    );
    openssl(&[
        "x509",
        "-req",
        "-in",
        "tls.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "san.ext",
        "-out",
        "tls.crt",
    ]);
    let https = FileServer::start(&env, Some(("tls.crt", "tls.key")));
    let url = format!("https://127.0.0.1:{}/cert.pem", https.port);
    let mut cmd = env.sealbox(&["seal", "--cert", &url]);
    cmd.0.env("SSL_CERT_FILE", env.path("ca.crt"));
    let sealed = cmd.stdin(input).ok();
    assert_eq!(unseal_all(&env, &sealed)[0].data["k"].as_slice(), b"v");
    // Without trusting the CA the connection is refused.
    let mut cmd = env.sealbox(&["seal", "--cert", &url]);
    cmd.0.env("SSL_CERT_FILE", env.path("cert.pem"));
    let err = cmd.stdin(input).fails();
    assert!(err.contains("cannot fetch certificate"), "{err}");
}

#[test]
fn native_seal_names_its_certificate_at_a_terminal_only() {
    let env = Env::with_keys();
    env.write(
        "s.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: ns\nstringData:\n  k: v\n",
    );
    // Piped: the output is for machines, nothing extra on stderr.
    let piped = env
        .sealbox(&["seal", "-f", "s.yaml", "-w", "piped.yaml"])
        .run();
    piped.ok();
    assert!(
        !piped.stderr().contains("sealing with"),
        "{}",
        piped.stderr()
    );
    // At a terminal (util-linux `script` gives it one): which certificate, said once.
    let command = format!(
        "{} seal -f s.yaml -w tty.yaml",
        sealbox_bin().to_str().unwrap()
    );
    let tty = env
        .command("script", &["-q", "-e", "-c", &command, "/dev/null"])
        .run();
    let said = tty.ok();
    assert!(
        said.contains(&format!(
            "sealing with the certificate of key store {}",
            env.path("home").display()
        )),
        "{said}"
    );
}

#[test]
fn kubeseal_usage_errors_exit_1_as_kubeseal_does() {
    let env = Env::new();
    std::os::unix::fs::symlink(sealbox_bin(), env.path("kubeseal")).unwrap();
    for run in [
        env.sealbox(&["kubeseal", "--no-such-flag"]).run(),
        env.command(env.path("kubeseal"), &["--no-such-flag"]).run(),
    ] {
        let err = run.fails();
        assert_eq!(run.output.status.code(), Some(1), "{err}");
        assert!(err.contains("--no-such-flag"), "{err}");
    }
    // Native commands keep clap's usage status, 2 (docs/exit-codes.md).
    let run = env.sealbox(&["seal", "--no-such-flag"]).run();
    run.fails();
    assert_eq!(run.output.status.code(), Some(2));
    let help = env.command(env.path("kubeseal"), &["--help"]).run();
    assert!(help.ok().contains("Usage: kubeseal"));
}

#[test]
fn sealing_a_secret_over_1_mib_warns_that_the_api_server_will_refuse_it() {
    let env = Env::with_keys();
    // 1,048,577 bytes of data: one over the API server's limit on a Secret.
    let over = format!("{}AAA=", "AAAA".repeat(349_525));
    env.write(
        "big.yaml",
        format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: big\n  namespace: ns\ndata:\n  blob: {over}\n"),
    );
    let run = env
        .sealbox(&["seal", "-f", "big.yaml", "-w", "big-sealed.yaml"])
        .run();
    run.ok();
    let stderr = run.stderr();
    assert!(
        stderr.contains("warning: Secret ns/big holds 1048577 bytes of data")
            && stderr.contains("the API server will refuse it"),
        "{stderr}"
    );
    // Only a warning: the SealedSecret is written all the same.
    let sealed: Vec<SealedSecret> =
        parse_documents(&std::fs::read_to_string(env.path("big-sealed.yaml")).unwrap()).unwrap();
    assert_eq!(sealed[0].spec.encrypted_data.len(), 1);

    // Exactly 1 MiB, and a big `data` item that `stringData` replaces: no warning.
    let exact = "x".repeat(1_048_576);
    for input in [
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: ns\nstringData:\n  k: {exact}\n"
        ),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: ns\ndata:\n  k: {over}\nstringData:\n  k: small\n"
        ),
    ] {
        let run = env.sealbox(&["seal"]).stdin(&input);
        run.ok();
        assert!(!run.stderr().contains("warning"), "{}", run.stderr());
    }
}
