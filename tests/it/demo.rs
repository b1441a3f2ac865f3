//! `scripts/demo.sh`, the walk-through without a cluster, run as a newcomer runs it: it must
//! succeed, show each step's Secret with the values it planted, and leave nothing behind (no
//! process it started, no temporary directory), also when a step fails.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sealbox_tests::{Env, controller_bin, root, sealbox_bin};

struct Demo {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// The demo's process group: it and everything it started, unless moved out.
    pgid: u32,
}

impl Demo {
    /// Runs the demo with `controller` as sealbox-controller, its temporary files under `env`.
    fn run(env: &Env, controller: &Path) -> Demo {
        let tmp = env.path("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let child = Command::new("bash")
            .arg(root().join("scripts/demo.sh"))
            .env("SEALBOX_BIN", sealbox_bin())
            .env("SEALBOX_CONTROLLER_BIN", controller)
            .env("TMPDIR", &tmp)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("run bash scripts/demo.sh");
        let pgid = child.id();
        let out = child.wait_with_output().unwrap();
        Demo {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            pgid,
        }
    }

    fn output(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// `(name, pid)` of every "demo: VERB NAME (pid N)" line.
    fn pids(&self, verb: &str) -> Vec<(String, u32)> {
        let prefix = format!("demo: {verb} ");
        self.stdout
            .lines()
            .filter_map(|line| {
                let (name, pid) = line.strip_prefix(&prefix)?.split_once(" (pid ")?;
                Some((name.to_owned(), pid.strip_suffix(')')?.parse().ok()?))
            })
            .collect()
    }

    /// Nothing the demo started is running, it said it stopped each, and its directory is gone.
    fn assert_cleaned_up(&self, env: &Env) {
        let started = self.pids("started");
        let names: Vec<&str> = started.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["emulator", "moto", "openbao", "sealbox-controller"],
            "{}",
            self.output()
        );
        let mut stopped = self.pids("stopped");
        stopped.sort_by_key(|(_, pid)| *pid);
        let mut expected = started.clone();
        expected.sort_by_key(|(_, pid)| *pid);
        assert_eq!(stopped, expected, "{}", self.output());
        for (name, pid) in &started {
            assert!(
                !Path::new(&format!("/proc/{pid}")).exists(),
                "{name} (pid {pid}) still runs after the demo exited"
            );
        }
        let left: Vec<u32> = processes_in_group(self.pgid);
        assert!(
            left.is_empty(),
            "processes of the demo's group {} still run: {left:?}",
            self.pgid
        );
        let work = self
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("demo: work dir "))
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("the demo names its work dir: {}", self.output()));
        assert!(work.starts_with(env.path("tmp")), "{}", work.display());
        assert!(!work.exists(), "{} was not removed", work.display());
        assert!(
            self.stdout
                .contains(&format!("demo: removed {}", work.display())),
            "{}",
            self.output()
        );
    }
}

/// The pids whose process group is `pgid`.
fn processes_in_group(pgid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its ')'.
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            (fields.get(2)?.parse::<u32>().ok()? == pgid).then_some(pid)
        })
        .collect()
}

#[test]
fn the_demo_turns_a_sealed_secret_and_two_external_secrets_into_secrets_and_cleans_up() {
    let env = Env::new();
    let demo = Demo::run(&env, controller_bin());
    assert_eq!(demo.code, Some(0), "{}", demo.output());
    let out = &demo.stdout;
    for expected in [
        // The chart's default arguments, with only the listen addresses moved.
        "--key-size=4096",
        "--listen-addr=:8080",
        "-> --listen-addr=127.0.0.1:",
        "-> --listen-metrics-addr=127.0.0.1:",
        "environment: POD_NAMESPACE=kube-system RUST_LOG=info",
        // 1. kubeseal with its defaults reached the controller, which unsealed the Secret.
        "-----BEGIN CERTIFICATE-----",
        "kind: SealedSecret",
        "Secret default/db-credentials, decoded:\n  password: correct-horse-battery-staple\n  username: app\n",
        "Synced=True",
        "Normal Unsealed",
        "OK: SealedSecret -> Secret default/db-credentials",
        // 2. AWS Secrets Manager.
        "Secret default/payments, decoded:\n  api-key: aws-demo-key-42\n",
        "Ready=True (SecretSynced: secret synced)",
        "OK: AWS Secrets Manager -> ExternalSecret -> Secret default/payments",
        // 3. Vault KV v2.
        "Secret default/app-config, decoded:\n  api-token: vault-demo-token-7\n  username: app-user\n",
        "OK: Vault KV v2 -> ExternalSecret -> Secret default/app-config",
    ] {
        assert!(
            out.contains(expected),
            "{expected:?} missing:\n{}",
            demo.output()
        );
    }
    // The other test of this binary that runs a controller on 8080/8081 must not collide.
    assert!(!out.contains("127.0.0.1:8080") && !out.contains("127.0.0.1:8081"));
    demo.assert_cleaned_up(&env);
}

#[test]
fn a_controller_that_exits_at_once_fails_the_demo_clearly_and_it_still_cleans_up() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let fake = env.write(
        "sealbox-controller",
        "#!/bin/sh\necho 'fake controller: refusing to start' >&2\nexit 3\n",
    );
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let demo = Demo::run(&env, &fake);
    assert_eq!(demo.code, Some(1), "{}", demo.output());
    for expected in [
        "demo: FAILED: sealbox-controller exited (status 3) while waiting for the controller to serve its certificate",
        "fake controller: refusing to start",
    ] {
        assert!(
            demo.stderr.contains(expected),
            "{expected:?} missing:\n{}",
            demo.output()
        );
    }
    assert!(!demo.stdout.contains("=== 1."), "{}", demo.output());
    demo.assert_cleaned_up(&env);
}
