//! A Kubernetes API emulator (tests/infra/kapi_emulator.py) and sealbox-controller processes for
//! one test, each stopped when dropped. The controller runs as it would in a cluster: a normal
//! process reading its kubeconfig.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{Env, controller_bin, root};

/// How long a test waits for something the controller does before failing. Generous, since
/// a slow CI machine must not fail a test; nothing here measures speed.
const PATIENCE: Duration = Duration::from_secs(90);

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// The status and body of a response.
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn send(method: &str, url: &str, body: Option<&str>) -> Reply {
    let agent = agent();
    let result = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        ("DELETE", _) => agent.delete(url).call(),
        ("POST", Some(b)) => agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(b),
        ("PUT", Some(b)) => agent
            .put(url)
            .header("Content-Type", "application/json")
            .send(b),
        other => panic!("unsupported request {other:?}"),
    };
    let mut response = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    Reply {
        status: response.status().as_u16(),
        body: response.body_mut().read_to_string().unwrap_or_default(),
    }
}

/// Polls `probe` until it gives a value, failing the test with `what` after [`PATIENCE`].
pub fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A port nothing listens on right now, below the kernel's ephemeral range (32768 and up on
/// Linux): a port the kernel handed out with `bind(0)` can be taken again as the source port
/// of any outgoing connection before the server that was meant to listen on it starts.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64)
        ^ (u64::from(std::process::id()) << 16);
    loop {
        // A step coprime with the range's size walks it without repeats.
        let n = seed.wrapping_add(NEXT.fetch_add(7919, Ordering::Relaxed));
        let port = 20_000 + (n % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A Kubernetes API emulator with owner-reference garbage collection.
pub struct Cluster {
    child: Child,
    pub url: String,
    pub kubeconfig: PathBuf,
    /// The authenticating HTTPS port, when started with [`Cluster::start_secure`].
    pub secure: Option<SecurePort>,
}

/// An emulator's HTTPS port, as a real API server's: it accepts a client certificate signed by
/// `ca` or a bearer token it was given, and answers 401 to anything else.
pub struct SecurePort {
    pub url: String,
    /// The CA that signed the server's certificate and the client certificate.
    pub ca: PathBuf,
    /// A client certificate and key the port accepts.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl Cluster {
    pub fn start(env: &Env, name: &str) -> Cluster {
        Cluster::launch(env, name, false, &[])
    }

    /// An emulator that also serves the resources of the CRDs in `crd_files` (YAML); a CRD
    /// replaces a built-in resource of the same group and plural.
    pub fn start_with_crds(env: &Env, name: &str, crd_files: &[&std::path::Path]) -> Cluster {
        let args: Vec<String> = crd_files
            .iter()
            .flat_map(|f| ["--crd-file".to_owned(), f.display().to_string()])
            .collect();
        Cluster::launch(env, name, false, &args)
    }

    /// An emulator that also serves HTTPS, authenticating each request by client certificate
    /// or by one of `tokens` (certificates made with openssl for this test alone).
    pub fn start_secure(env: &Env, name: &str, tokens: &[&str]) -> Cluster {
        let dir = env.path(&format!("{name}-pki"));
        std::fs::create_dir_all(&dir).unwrap();
        let file = |f: &str| dir.join(f);
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("run openssl");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"],
                &ec[..],
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.crt",
                    "-subj",
                    "/CN=emulator-ca",
                    "-days",
                    "2",
                ],
            ]
            .concat(),
        );
        for (who, subject, ext) in [
            (
                "server",
                "/CN=127.0.0.1",
                "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth",
            ),
            (
                "client",
                "/O=system:masters/CN=tester",
                "extendedKeyUsage=clientAuth",
            ),
        ] {
            std::fs::write(
                file(&format!("{who}.ext")),
                format!("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n{ext}\n"),
            )
            .unwrap();
            let (key, csr, crt, extfile) = (
                format!("{who}.key"),
                format!("{who}.csr"),
                format!("{who}.crt"),
                format!("{who}.ext"),
            );
            openssl(
                &[
                    &["req"],
                    &ec[..],
                    &["-keyout", &key, "-out", &csr, "-subj", subject],
                ]
                .concat(),
            );
            openssl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &crt,
                "-days",
                "2",
                "-extfile",
                &extfile,
            ]);
        }
        let mut args: Vec<String> = ["--secure-port", "0", "--tls-cert"]
            .map(String::from)
            .to_vec();
        args.push(file("server.crt").display().to_string());
        args.push("--tls-key".into());
        args.push(file("server.key").display().to_string());
        args.push("--client-ca".into());
        args.push(file("ca.crt").display().to_string());
        for token in tokens {
            args.push("--user-token".into());
            args.push((*token).to_owned());
        }
        let mut cluster = Cluster::launch(env, name, true, &args);
        let url = cluster.secure.take().unwrap().url;
        cluster.secure = Some(SecurePort {
            url,
            ca: file("ca.crt"),
            client_cert: file("client.crt"),
            client_key: file("client.key"),
        });
        cluster
    }

    /// Starts the emulator with `extra` arguments; `secure`: they open its HTTPS port, whose
    /// URL it announces on a second line.
    fn launch(env: &Env, name: &str, secure: bool, extra: &[String]) -> Cluster {
        let python = std::env::var("SEALBOX_KAPI_PYTHON").expect(
            "SEALBOX_KAPI_PYTHON is not set: run the tests through scripts/test.sh, which installs the emulator's Python",
        );
        let kubeconfig = env.path(&format!("{name}.kubeconfig"));
        let mut child = Command::new(python)
            .arg(root().join("tests/infra/kapi_emulator.py"))
            .args(["--port", "0", "--gc", "--kubeconfig"])
            .arg(&kubeconfig)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the Kubernetes API emulator");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut ready = |prefix: &str| {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            line.trim()
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("the emulator did not start: {line:?}"))
                .to_owned()
        };
        let url = ready("READY ");
        let secure = secure.then(|| SecurePort {
            url: ready("READY_SECURE "),
            ca: PathBuf::new(),
            client_cert: PathBuf::new(),
            client_key: PathBuf::new(),
        });
        Cluster {
            child,
            url,
            kubeconfig,
            secure,
        }
    }

    pub fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let body = body.map(|b| b.to_string());
        send(method, &format!("{}{path}", self.url), body.as_deref())
    }

    /// The object at `path`, or `None` when there is none.
    pub fn get(&self, path: &str) -> Option<Value> {
        let reply = self.request("GET", path, None);
        match reply.status {
            404 => None,
            200 => Some(reply.json()),
            other => panic!("GET {path}: {other} {}", reply.body),
        }
    }

    /// Creates `object` in the collection at `path` (what `kubectl create` does).
    pub fn create(&self, path: &str, object: &Value) -> Value {
        self.create_text(path, &object.to_string())
    }

    /// Creates the object in `text` (JSON or YAML) in the collection at `path`.
    pub fn create_text(&self, path: &str, text: &str) -> Value {
        let reply = send("POST", &format!("{}{path}", self.url), Some(text));
        assert_eq!(reply.status, 201, "POST {path}: {}", reply.body);
        reply.json()
    }

    pub fn replace(&self, path: &str, object: &Value) -> Value {
        let reply = self.request("PUT", path, Some(object));
        assert_eq!(reply.status, 200, "PUT {path}: {}", reply.body);
        reply.json()
    }

    pub fn delete(&self, path: &str) {
        let reply = self.request("DELETE", path, None);
        assert_eq!(reply.status, 200, "DELETE {path}: {}", reply.body);
    }

    /// How many TokenRequests the ServiceAccount `namespace/name` has had.
    pub fn token_requests(&self, namespace: &str, name: &str) -> u64 {
        self.get("/emulator/tokenrequests")
            .expect("the emulator's counters")[format!("{namespace}/{name}")]
        .as_u64()
        .unwrap_or(0)
    }

    /// How many requests `VERB path` the emulator has served (`WATCH` for watches, `GET` for
    /// lists and reads).
    pub fn requests(&self, request: &str) -> u64 {
        self.get("/emulator/requests")
            .expect("the emulator's counters")[request]
            .as_u64()
            .unwrap_or(0)
    }

    /// The items of the list at `path`.
    pub fn list(&self, path: &str) -> Vec<Value> {
        self.get(path).expect("a list")["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `sealbox-controller` process for a [`Cluster`], its keys in `kube-system`, reachable
/// through the Service `sealed-secrets-controller` there (port `http`), as upstream's.
pub struct Controller {
    child: Child,
    log: PathBuf,
    pub url: String,
    pub metrics_url: String,
}

impl Controller {
    /// Starts a controller and waits until it serves its certificate.
    pub fn start(env: &Env, cluster: &Cluster, args: &[&str]) -> Controller {
        Controller::start_with_env(env, cluster, args, &[])
    }

    /// [`Controller::start`] with extra environment variables (e.g. provider endpoints).
    pub fn start_with_env(
        env: &Env,
        cluster: &Cluster,
        args: &[&str],
        vars: &[(&str, String)],
    ) -> Controller {
        let api_port = free_port();
        let controller =
            Controller::launch_with_env(env, cluster, api_port, free_port(), args, vars);
        wait_for("the controller to serve its certificate", || {
            std::net::TcpStream::connect(("127.0.0.1", api_port))
                .ok()
                .and_then(|_| (controller.get("/v1/cert.pem").status == 200).then_some(()))
        });
        controller
    }

    /// Starts a controller listening on `api_port` and `metrics_port` (on 127.0.0.1), without
    /// waiting for anything; its stdout and stderr go to [`Controller::log`].
    pub fn launch(
        env: &Env,
        cluster: &Cluster,
        api_port: u16,
        metrics_port: u16,
        args: &[&str],
    ) -> Controller {
        Controller::launch_with_env(env, cluster, api_port, metrics_port, args, &[])
    }

    /// [`Controller::launch`] with extra environment variables.
    pub fn launch_with_env(
        env: &Env,
        cluster: &Cluster,
        api_port: u16,
        metrics_port: u16,
        args: &[&str],
        vars: &[(&str, String)],
    ) -> Controller {
        let log = env.path(&format!("controller-{api_port}.log"));
        let output = std::fs::File::create(&log).unwrap();
        let child = Command::new(controller_bin())
            .arg(format!("--listen-addr=127.0.0.1:{api_port}"))
            .arg(format!("--listen-metrics-addr=127.0.0.1:{metrics_port}"))
            .args(args)
            .env("KUBECONFIG", &cluster.kubeconfig)
            .env("POD_NAMESPACE", "kube-system")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .spawn()
            .expect("start sealbox-controller");
        let service = serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "sealed-secrets-controller", "namespace": "kube-system"},
            "spec": {"ports": [{"name": "http", "port": 8080, "targetPort": api_port}]}
        });
        let path = "/api/v1/namespaces/kube-system/services";
        if cluster
            .get(&format!("{path}/sealed-secrets-controller"))
            .is_some()
        {
            cluster.delete(&format!("{path}/sealed-secrets-controller"));
        }
        cluster.create(path, &service);
        Controller {
            child,
            log,
            url: format!("http://127.0.0.1:{api_port}"),
            metrics_url: format!("http://127.0.0.1:{metrics_port}"),
        }
    }

    /// Starts `sealbox-controller ARGS` as a pod's container runs: exactly `args` and an
    /// environment of exactly `vars` (nothing inherited from the test), no Service made for it.
    /// `api_port` and `metrics_port` are where `args` make it listen; this waits until the API
    /// port serves the certificate.
    pub fn start_as_pod(
        env: &Env,
        args: &[String],
        vars: &[(String, String)],
        api_port: u16,
        metrics_port: u16,
    ) -> Controller {
        let log = env.path(&format!("controller-pod-{api_port}.log"));
        let output = std::fs::File::create(&log).unwrap();
        let child = Command::new(controller_bin())
            .args(args)
            .env_clear()
            .envs(vars.iter().map(|(k, v)| (k, v)))
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .spawn()
            .expect("start sealbox-controller");
        let mut controller = Controller {
            child,
            log,
            url: format!("http://127.0.0.1:{api_port}"),
            metrics_url: format!("http://127.0.0.1:{metrics_port}"),
        };
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = controller
                .child
                .try_wait()
                .expect("wait for the controller")
            {
                panic!("sealbox-controller exited ({status}): {}", controller.log());
            }
            let serving = std::net::TcpStream::connect(("127.0.0.1", api_port)).is_ok()
                && controller.get("/v1/cert.pem").status == 200;
            if serving {
                return controller;
            }
            assert!(
                Instant::now() < deadline,
                "the controller did not serve its certificate on port {api_port}: {}",
                controller.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        send("GET", &format!("{}{path}", self.url), None)
    }

    pub fn post(&self, path: &str, body: &str) -> Reply {
        send("POST", &format!("{}{path}", self.url), Some(body))
    }

    /// `GET /metrics` on the metrics port.
    pub fn metrics(&self) -> Reply {
        send("GET", &format!("{}/metrics", self.metrics_url), None)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM, as the kubelet does to stop a pod.
    pub fn terminate(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {}", self.pid());
    }

    /// Sends SIGKILL, as a node that dies or the OOM killer does: nothing runs after it.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill the controller");
        self.child.wait().expect("reap the controller");
    }

    /// The exit status, once the process has exited, waiting at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the controller") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the controller has written to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Held while a controller listens on the ports the chart's Deployment names (8080 and 8081):
/// the emulator's service proxy forwards to 127.0.0.1:targetPort, so they cannot be moved, and
/// no two tests of this binary may use them at once.
static DEPLOYMENT_PORTS: Mutex<()> = Mutex::new(());

/// A Deployment's controller run as its pod would be (see [`Cluster::run_deployment`]).
pub struct Pod {
    pub controller: Controller,
    /// The ServiceAccount it runs as, and that account's user name in the API server.
    pub service_account: String,
    pub user: String,
    _ports: MutexGuard<'static, ()>,
}

impl Cluster {
    /// Does the kubelet's part for the sealbox chart's Deployment NAMESPACE/NAME (installed with
    /// `helm install`): runs `sealbox-controller` with exactly its container's arguments and
    /// environment (the downward API's namespace resolved), on a token for its ServiceAccount
    /// (a kubeconfig standing in for in-cluster configuration), plus `extra` variables (e.g. an
    /// AWS endpoint). It listens where the arguments say; this waits until it serves its
    /// certificate.
    pub fn run_deployment(
        &self,
        env: &Env,
        namespace: &str,
        name: &str,
        extra: &[(String, String)],
    ) -> Pod {
        let path = format!("/apis/apps/v1/namespaces/{namespace}/deployments/{name}");
        let deployment = self
            .get(&path)
            .unwrap_or_else(|| panic!("no Deployment {namespace}/{name}"));
        let pod = &deployment["spec"]["template"]["spec"];
        let containers = pod["containers"].as_array().expect("containers");
        assert_eq!(containers.len(), 1, "{pod}");
        let container = &containers[0];
        assert_eq!(
            container["command"],
            serde_json::json!(["sealbox-controller"]),
            "{container}"
        );
        let args: Vec<String> = container["args"]
            .as_array()
            .expect("args")
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect();
        let service_account = pod["serviceAccountName"].as_str().unwrap().to_owned();
        let token = self.create(
            &format!("/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token"),
            &serde_json::json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}),
        )["status"]["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let kubeconfig = env.write(
            &format!("pod-{name}.kubeconfig"),
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: emu\n  cluster:\n    server: {}\n\
                 contexts:\n- name: pod\n  context:\n    cluster: emu\n    user: pod\n    namespace: {namespace}\n\
                 current-context: pod\nusers:\n- name: pod\n  user:\n    token: {token}\n",
                self.url
            ),
        );
        let mut vars = pod_env(container, namespace);
        vars.push(("KUBECONFIG".into(), kubeconfig.display().to_string()));
        vars.extend(extra.iter().cloned());
        let ports = DEPLOYMENT_PORTS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (api_port, metrics_port) = (
            port_of(&args, "--listen-addr"),
            port_of(&args, "--listen-metrics-addr"),
        );
        take_port(api_port);
        take_port(metrics_port);
        Pod {
            controller: Controller::start_as_pod(env, &args, &vars, api_port, metrics_port),
            user: format!("system:serviceaccount:{namespace}:{service_account}"),
            service_account,
            _ports: ports,
        }
    }
}

/// The port a `--FLAG=HOST:PORT` argument (e.g. `--listen-addr=:8080`) names.
fn port_of(args: &[String], flag: &str) -> u16 {
    let prefix = format!("{flag}=");
    let value = args
        .iter()
        .find_map(|a| a.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("the rendered Deployment has no {flag}=...: {args:?}"));
    value
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{flag}={value}: no port"))
}

/// The container's environment as the kubelet gives it: `value`s as they are, the downward
/// API's `metadata.namespace` resolved to `namespace`. Anything else is refused, so a new kind
/// of variable in the chart makes the tests learn it rather than drop it.
fn pod_env(container: &Value, namespace: &str) -> Vec<(String, String)> {
    assert!(
        container.get("envFrom").is_none(),
        "the rendered container has envFrom, which the tests do not resolve: {container}"
    );
    container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|var| {
            let name = var["name"].as_str().unwrap().to_owned();
            if let Some(value) = var.get("value") {
                return (name, value.as_str().unwrap_or_default().to_owned());
            }
            let field = &var["valueFrom"]["fieldRef"]["fieldPath"];
            assert!(
                field == "metadata.namespace",
                "{name}: a valueFrom the tests do not resolve: {var}"
            );
            (name, namespace.to_owned())
        })
        .collect()
}

/// A port of the rendered Deployment that must be free for the controller to take.
fn take_port(port: u16) {
    if let Err(e) = TcpListener::bind(("0.0.0.0", port)) {
        panic!(
            "port {port} is in use ({e}): the controller must listen where the rendered Deployment \
             says, since the emulator's service proxy forwards to 127.0.0.1:{port}; stop whatever \
             listens there and run the test again"
        );
    }
}
