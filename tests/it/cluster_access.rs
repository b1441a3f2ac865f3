//! The CLI reaches a cluster as kubectl does: every online command works through the
//! emulator's authenticating HTTPS port with a bearer token, a TLS client certificate and an
//! exec credential plugin; `--context` picks between contexts; a kubeconfig that does not parse
//! is a clear error.

use std::path::Path;

use sealbox_crypto::sealed::{decode_base64, encode_base64};
use sealbox_tests::cluster::{Cluster, Controller, wait_for};
use sealbox_tests::{Cmd, Env};
use serde_json::Value;

const TOKEN: &str = "token-for-sealbox-tests";
const EXEC_TOKEN: &str = "token-the-exec-plugin-prints";
const SS: &str = "/apis/bitnami.com/v1alpha1/namespaces/default/sealedsecrets";
const KEYS: &str = "/api/v1/namespaces/kube-system/secrets?labelSelector=sealedsecrets.bitnami.com%2Fsealed-secrets-key";

/// How the kubeconfig's user authenticates.
#[derive(Clone, Copy, Debug)]
enum Auth {
    Token,
    ClientCertificate,
    ExecPlugin,
    Nothing,
}

/// A kubeconfig for the cluster's HTTPS port, the user authenticating with `auth`, and one
/// more context, `elsewhere`, whose server listens nowhere.
fn kubeconfig(env: &Env, cluster: &Cluster, auth: Auth, current: &str) -> std::path::PathBuf {
    let secure = cluster.secure.as_ref().unwrap();
    let user = match auth {
        Auth::Token => format!("    token: {TOKEN}\n"),
        Auth::ClientCertificate => format!(
            "    client-certificate: {}\n    client-key: {}\n",
            secure.client_cert.display(),
            secure.client_key.display()
        ),
        Auth::ExecPlugin => {
            let plugin = env.write(
                "credential-plugin.sh",
                format!(
                    "#!/bin/sh\necho called >> \"$(dirname \"$0\")/plugin-calls\"\n\
                     printf '%s' '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{EXEC_TOKEN}\"}}}}'\n"
                ),
            );
            make_executable(&plugin);
            format!(
                "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {}\n      interactiveMode: Never\n",
                plugin.display()
            )
        }
        Auth::Nothing => "    {}\n".to_owned(),
    };
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: {current}\n\
         clusters:\n\
         - name: emulator\n  cluster:\n    server: {}\n    certificate-authority: {}\n\
         - name: nowhere\n  cluster:\n    server: https://127.0.0.1:9\n\
         contexts:\n\
         - name: emulator\n  context:\n    cluster: emulator\n    user: tester\n    namespace: team-a\n\
         - name: elsewhere\n  context:\n    cluster: nowhere\n    user: tester\n    namespace: team-b\n\
         users:\n- name: tester\n  user:\n{user}",
        secure.url,
        secure.ca.display()
    );
    env.write(&format!("{auth:?}.kubeconfig"), text)
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn with_kubeconfig(mut cmd: Cmd, kubeconfig: &Path) -> Cmd {
    cmd.0.env("KUBECONFIG", kubeconfig);
    cmd
}

const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: web\n  namespace: default\nstringData:\n  password: over-https\n";

const NO_NAMESPACE: &str =
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: web\nstringData:\n  a: b\n";

/// Every online command, through the HTTPS port, authenticated with `auth`.
fn online_commands_work_with(auth: Auth) {
    let env = Env::with_keys();
    let cluster = Cluster::start_secure(&env, "c1", &[TOKEN, EXEC_TOKEN]);
    let controller = Controller::start(&env, &cluster, &["--key-renew-period=0"]);
    let kc = kubeconfig(&env, &cluster, auth, "emulator");
    let sealbox = |args: &[&str]| with_kubeconfig(env.sealbox(args), &kc);

    // kubeseal --fetch-cert prints the controller's certificate; seal --fetch-cert seals to it.
    let cert = sealbox(&["kubeseal", "--fetch-cert"]).run().ok();
    assert_eq!(cert, controller.get("/v1/cert.pem").body);
    let sealed = sealbox(&["seal", "--fetch-cert", "-o", "json"])
        .stdin(SECRET)
        .ok();
    env.write("sealed.json", &sealed);
    cluster.create(SS, &serde_json::from_str::<Value>(&sealed).unwrap());
    let secret = wait_for("the Secret", || {
        cluster.get("/api/v1/namespaces/default/secrets/web")
    });
    let password = decode_base64(secret["data"]["password"].as_str().unwrap()).unwrap();
    assert_eq!(password, b"over-https");

    // Validate and re-encrypt, in both command lines.
    let said = sealbox(&["validate", "--online", "-f", "sealed.json"]).run();
    assert!(said.ok().contains("ok      default/web"));
    sealbox(&["kubeseal", "--validate", "-f", "sealed.json"])
        .run()
        .ok();
    sealbox(&["kubeseal", "--re-encrypt", "-f", "sealed.json"])
        .run()
        .ok();
    let rotated = env.read("sealed.json");
    assert_ne!(rotated, sealed, "--re-encrypt rewrote the file in place");
    std::fs::create_dir_all(env.path("repo")).unwrap();
    std::fs::copy(env.path("sealed.json"), env.path("repo/web.json")).unwrap();
    let said = sealbox(&["reencrypt", "repo"]).run();
    said.ok();
    assert!(
        said.stderr()
            .contains("re-encrypted 1 SealedSecret(s) in 1 of 1 file(s)"),
        "{}",
        said.stderr()
    );

    // Back up the controller's key; restore it and one more key from elsewhere.
    sealbox(&["keys", "backup", "-o", "backup.yaml"]).run().ok();
    let backup = env.read("backup.yaml");
    assert!(
        backup.contains("kind: List") && backup.contains("tls.key"),
        "{backup}"
    );
    let (crt, key) = env.key_files();
    let foreign = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: foreign-key\n  labels:\n    sealedsecrets.bitnami.com/sealed-secrets-key: active\ntype: kubernetes.io/tls\ndata:\n  tls.crt: {}\n  tls.key: {}\n",
        encode_base64(&std::fs::read(crt).unwrap()),
        encode_base64(&std::fs::read(key).unwrap())
    );
    env.write("restore.yaml", format!("{backup}---\n{foreign}"));
    let said = sealbox(&["keys", "restore", "restore.yaml"]).run();
    said.ok();
    assert!(
        said.stderr()
            .contains("restored 1 key(s) into namespace kube-system (1 already there)"),
        "{}",
        said.stderr()
    );
    let names: Vec<String> = cluster
        .list(KEYS)
        .iter()
        .map(|s| s["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.contains(&"foreign-key".to_owned()), "{names:?}");

    if let Auth::ExecPlugin = auth {
        let calls = env.read("plugin-calls");
        assert!(
            calls.lines().count() >= 8,
            "the plugin ran per command: {calls}"
        );
    }
    drop(controller);
}

#[test]
fn online_commands_authenticate_with_a_bearer_token() {
    online_commands_work_with(Auth::Token);
}

#[test]
fn online_commands_authenticate_with_a_client_certificate() {
    online_commands_work_with(Auth::ClientCertificate);
}

#[test]
fn online_commands_authenticate_with_an_exec_credential_plugin() {
    online_commands_work_with(Auth::ExecPlugin);
}

#[test]
fn the_secure_port_refuses_a_user_without_credentials() {
    let env = Env::new();
    let cluster = Cluster::start_secure(&env, "c1", &[TOKEN]);
    let kc = kubeconfig(&env, &cluster, Auth::Nothing, "emulator");
    let err = with_kubeconfig(env.sealbox(&["seal", "--fetch-cert"]), &kc)
        .stdin(SECRET)
        .fails();
    assert!(
        err.contains("cannot get sealed secret service: Unauthorized"),
        "{err}"
    );
    assert!(err.contains("check the kubeconfig's credentials"), "{err}");
}

#[test]
fn context_picks_between_two_contexts_on_native_commands() {
    let env = Env::new();
    let cluster = Cluster::start_secure(&env, "c1", &[TOKEN]);
    let controller = Controller::start(&env, &cluster, &[]);
    // The current context points at a server that listens nowhere.
    let kc = kubeconfig(&env, &cluster, Auth::Token, "elsewhere");
    let sealbox = |args: &[&str]| with_kubeconfig(env.sealbox(args), &kc);
    let err = sealbox(&["keys", "backup"]).run().fails();
    assert!(
        err.contains("cannot reach the Kubernetes API server https://127.0.0.1:9"),
        "{err}"
    );
    // The cause is kept, not flattened away.
    assert!(err.contains("Connection refused"), "{err}");
    let backup = sealbox(&["keys", "backup", "--context", "emulator"])
        .run()
        .ok();
    assert!(backup.contains("tls.key"));

    // The context's namespace is where a Secret without one is sealed for, offline too.
    let cert = controller.get("/v1/cert.pem").body;
    env.write("cert.pem", &cert);
    for (context, namespace) in [("emulator", "team-a"), ("elsewhere", "team-b")] {
        let sealed = sealbox(&["seal", "--cert", "cert.pem", "--context", context])
            .stdin(NO_NAMESPACE)
            .ok();
        assert!(
            sealed.contains(&format!("namespace: {namespace}")),
            "{sealed}"
        );
    }
    let err = sealbox(&["seal", "--cert", "cert.pem", "--context", "nosuch"])
        .stdin(NO_NAMESPACE)
        .fails();
    assert!(
        err.contains(
            "--context nosuch: the kubeconfig has no such context (it has: emulator, elsewhere)"
        ),
        "{err}"
    );
    // kubeseal mode takes --context (and --kubeconfig) too.
    let printed = env
        .sealbox(&[
            "kubeseal",
            "--fetch-cert",
            "--context",
            "emulator",
            "--kubeconfig",
        ])
        .0
        .arg(&kc)
        .output()
        .unwrap();
    assert!(printed.status.success());
    assert_eq!(String::from_utf8(printed.stdout).unwrap(), cert);
}

#[test]
fn a_malformed_kubeconfig_is_an_error_naming_it() {
    let env = Env::with_keys();
    let kc = env.write(
        "broken.kubeconfig",
        "apiVersion: v1\nclusters: [\n  - name: x\n",
    );
    let sealed = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: web\n  namespace: default\nspec:\n  encryptedData:\n    a: AAAA\n";
    for (args, input) in [
        (&["seal", "--fetch-cert"][..], SECRET),
        // Offline too, where the context's namespace is needed.
        (&["seal"][..], NO_NAMESPACE),
        (&["validate", "--online"][..], sealed),
        (&["keys", "backup"][..], ""),
        (&["kubeseal", "--fetch-cert"][..], ""),
    ] {
        let err = with_kubeconfig(env.sealbox(args), &kc).stdin(input).fails();
        assert!(
            err.contains(&format!("kubeconfig {} is not valid", kc.display())),
            "{args:?}: {err}"
        );
    }
    // kubeseal ignores a broken kubeconfig when sealing whole Secrets (v0.32, #1798); its
    // drop-in warns and goes on, and still fails in raw mode, as kubeseal does.
    let run = with_kubeconfig(env.kubeseal(&[]), &kc).stdin(NO_NAMESPACE);
    assert!(run.ok().contains("\"namespace\": \"default\""));
    assert!(
        run.stderr().contains("ignored, as kubeseal ignores it"),
        "{}",
        run.stderr()
    );
    with_kubeconfig(env.kubeseal(&["--raw", "--scope", "namespace-wide"]), &kc)
        .stdin("value")
        .fails();
    // --kubeconfig names a file that is not there: an error too (a missing $KUBECONFIG entry
    // is skipped, as kubectl skips it).
    let err = env
        .sealbox(&["keys", "backup", "--kubeconfig", "nosuch.kubeconfig"])
        .run()
        .fails();
    assert!(
        err.contains("kubeconfig nosuch.kubeconfig does not exist"),
        "{err}"
    );
}

#[test]
fn kubeconfig_errors_never_quote_the_file() {
    let env = Env::with_keys();
    let secret = "SECRET-TOKEN-9f2c";
    // Not YAML, a credential beside the error; and YAML whose context names no cluster.
    let broken = env.write(
        "broken.kubeconfig",
        format!("apiVersion: v1\nusers:\n- name: u\n  user:\n    token: {secret}\n  - bad: [\n"),
    );
    let no_cluster = env.write(
        "no-cluster.kubeconfig",
        format!("apiVersion: v1\ncurrent-context: a\ncontexts:\n- name: a\n  context:\n    user: u\nusers:\n- name: u\n  user:\n    token: {secret}\n"),
    );
    for (kc, args, input) in [
        (&broken, &["seal"][..], NO_NAMESPACE),
        (&broken, &["keys", "backup"][..], ""),
        (&no_cluster, &["keys", "backup"][..], ""),
    ] {
        let run = with_kubeconfig(env.sealbox(args), kc).stdin(input);
        let err = run.fails();
        assert!(err.contains("is not valid"), "{args:?}: {err}");
        assert!(
            !err.contains(secret) && !run.stdout().contains(secret),
            "{args:?}: {err}"
        );
    }
    let err = with_kubeconfig(env.sealbox(&["keys", "backup"]), &no_cluster)
        .run()
        .fails();
    assert!(err.contains("missing field `cluster`"), "{err}");
}

#[test]
fn kubeconfigs_kubectl_writes_with_null_lists_are_read() {
    let env = Env::with_keys();
    let kc = env.write(
        "empty.kubeconfig",
        "apiVersion: v1\nkind: Config\nclusters: null\ncontexts: null\nusers: null\ncurrent-context: \"\"\npreferences: {}\n",
    );
    let run = with_kubeconfig(env.sealbox(&["seal"]), &kc).stdin(NO_NAMESPACE);
    assert!(run.ok().contains("namespace: default"));
    assert!(run.stderr().contains("using namespace \"default\""));
}

#[test]
fn a_kubeconfig_list_merges_and_inline_credentials_work() {
    let env = Env::new();
    let cluster = Cluster::start_secure(&env, "c1", &[]);
    let _controller = Controller::start(&env, &cluster, &["--key-renew-period=0"]);
    let secure = cluster.secure.as_ref().unwrap();
    let inline = |path: &Path| encode_base64(&std::fs::read(path).unwrap());
    // The cluster and context in one file, the user in another, everything inline (`*-data`),
    // as cloud CLIs write them; the first file's current-context wins.
    let first = env.write(
        "first.kubeconfig",
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: merged\nclusters:\n- name: emulator\n  cluster:\n    server: {}\n    certificate-authority-data: {}\ncontexts:\n- name: merged\n  context:\n    cluster: emulator\n    user: from-second-file\n",
            secure.url,
            inline(&secure.ca)
        ),
    );
    let second = env.write(
        "second.kubeconfig",
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: nowhere\nusers:\n- name: from-second-file\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
            inline(&secure.client_cert),
            inline(&secure.client_key)
        ),
    );
    let list = std::env::join_paths([&first, &env.path("missing.kubeconfig"), &second]).unwrap();
    let mut cmd = env.sealbox(&["keys", "backup"]);
    cmd.0.env("KUBECONFIG", list);
    assert!(cmd.run().ok().contains("tls.key"));
}

/// tests/infra/connect_proxy.py, stopped when dropped.
struct ConnectProxy {
    child: std::process::Child,
    url: String,
    log: std::path::PathBuf,
}

impl ConnectProxy {
    fn start(env: &Env) -> ConnectProxy {
        use std::io::BufRead;
        let python = std::env::var("SEALBOX_KAPI_PYTHON").expect("run through scripts/test.sh");
        let log = env.path("proxy.log");
        let mut child = std::process::Command::new(python)
            .arg(sealbox_tests::root().join("tests/infra/connect_proxy.py"))
            .arg(&log)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the CONNECT proxy");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("READY ")
            .expect("READY")
            .to_owned();
        ConnectProxy { child, url, log }
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn proxy_url_tunnels_through_the_proxy() {
    let env = Env::new();
    let cluster = Cluster::start_secure(&env, "c1", &[TOKEN]);
    let controller = Controller::start(&env, &cluster, &["--key-renew-period=0"]);
    let proxy = ConnectProxy::start(&env);
    let secure = cluster.secure.as_ref().unwrap();
    let kc = env.write(
        "proxied.kubeconfig",
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority: {}\n    proxy-url: {}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    token: {TOKEN}\n",
            secure.url,
            secure.ca.display(),
            proxy.url
        ),
    );
    let mut cmd = with_kubeconfig(env.sealbox(&["kubeseal", "--fetch-cert"]), &kc);
    for var in ["NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy"] {
        cmd.0.env_remove(var);
    }
    assert_eq!(cmd.run().ok(), controller.get("/v1/cert.pem").body);
    let tunnelled = std::fs::read_to_string(&proxy.log).unwrap_or_default();
    let authority = secure.url.trim_start_matches("https://");
    assert!(
        tunnelled.contains(&format!("CONNECT {authority}")),
        "the request did not go through the proxy: {tunnelled:?}"
    );
}

#[test]
fn kubeseal_mode_fetches_the_cluster_certificate_even_with_a_local_key_store() {
    let env = Env::with_keys();
    let cluster = Cluster::start(&env, "c1");
    let _controller = Controller::start(&env, &cluster, &["--key-renew-period=0"]);
    let sealed = with_kubeconfig(env.sealbox(&["kubeseal"]), &cluster.kubeconfig)
        .stdin(SECRET)
        .ok();
    // Sealed for the cluster, not for the local key store.
    env.sealbox(&["unseal"]).stdin(&sealed).fails();
    cluster.create(SS, &serde_json::from_str::<Value>(&sealed).unwrap());
    let secret = wait_for("the Secret", || {
        cluster.get("/api/v1/namespaces/default/secrets/web")
    });
    assert!(secret["data"]["password"].is_string());
    // The native command keeps the key store as its convenience.
    let native = with_kubeconfig(env.sealbox(&["seal"]), &cluster.kubeconfig)
        .stdin(SECRET)
        .ok();
    env.sealbox(&["unseal"]).stdin(&native).ok();

    // No cluster at all, or no controller there: kubeseal's messages, exit 1.
    let run = env.sealbox(&["kubeseal"]).stdin(SECRET);
    let err = run.fails();
    assert_eq!(run.output.status.code(), Some(1));
    assert!(
        err.contains("error: invalid configuration: no configuration has been provided"),
        "{err}"
    );
    let err = with_kubeconfig(
        env.sealbox(&["kubeseal", "--controller-name", "elsewhere"]),
        &cluster.kubeconfig,
    )
    .stdin(SECRET)
    .fails();
    assert!(
        err.contains("cannot get sealed secret service: services \"elsewhere\" not found.\nPlease, use the flag --controller-name and --controller-namespace"),
        "{err}"
    );
}
