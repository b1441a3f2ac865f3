//! docs/runbooks/age-key-rotation.md, run from its markdown (tests/runbook.rs): each shell block
//! in order, twice, with the real binaries, against a Git repository whose SOPS files the real
//! sops encrypted for the old key (every store, nested directories, two creation rules, one with
//! a second recipient). After each step the outcome is checked: the audit's counts, which key
//! opens what with sealbox and with the real sops, and that `updatekeys` alone leaves the data
//! keys that the old key and Git history still open.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use sealbox_tests::runbook::{Runbook, Shell, assert_fails, edited, twice};
use sealbox_tests::{Env, Run};
use serde_json::Value;

/// The SOPS files and their plaintexts, written in the layout sops gives back, so "decrypts to
/// the original" is byte for byte.
const FILES: [(&str, &[u8]); 6] = [
    (
        "apps/web/secret.yaml",
        b"apiVersion: v1\nkind: Secret\nmetadata:\n    name: web\nstringData:\n    password: web-password-1\n    list:\n        - a\n        - 2\n",
    ),
    (
        "apps/web/config.json",
        b"{\n\t\"db\": {\n\t\t\"user\": \"app\",\n\t\t\"password\": \"json-password-2\",\n\t\t\"port\": 5432\n\t}\n}\n",
    ),
    (
        "apps/api/app.env",
        b"DB_HOST=db.internal\nDB_PASS=dotenv-password-3\n",
    ),
    (
        "infra/db.ini",
        b"[database]\nhost     = db.internal\npassword = ini-password-4\n",
    ),
    ("infra/tls/key.bin", b"\x00\xffbinary-secret-5\n"),
    (
        "infra/nested/deep/token.yaml",
        b"token: nested-token-6\n",
    ),
];

/// A JSON file the `apps/` rule covers, for taking its key metadata apart.
const JSON_FILE: &str = "apps/web/config.json";

struct Repo {
    env: Env,
    /// Go age-keygen's keys: `keys/old.txt` (retired) and `keys/team.txt` (a second recipient
    /// of `apps/`, kept). The runbook makes `keys/new.txt`.
    old: String,
    team: String,
}

impl Repo {
    fn new() -> Repo {
        let env = Env::new();
        for dir in ["keys", "home", "repo"] {
            std::fs::create_dir(env.path(dir)).unwrap();
        }
        let old = env.age_keygen("keys/old.txt");
        let team = env.age_keygen("keys/team.txt");
        let repo = Repo { env, old, team };
        std::fs::write(
            repo.path(".sops.yaml"),
            format!(
                "creation_rules:\n  - path_regex: ^apps/.*\n    age: {},{}\n  - path_regex: ^infra/.*\n    age: {}\n",
                repo.old, repo.team, repo.old
            ),
        )
        .unwrap();
        for (name, plain) in FILES {
            std::fs::create_dir_all(repo.path(name).parent().unwrap()).unwrap();
            std::fs::write(repo.path(name), plain).unwrap();
            let mut sops = repo.env.sops(&["encrypt", "-i", name]);
            sops.0.current_dir(repo.path(""));
            let run = sops.run();
            assert!(run.output.status.success(), "sops {name}: {}", run.stderr());
        }
        repo.git(&["init", "-q", "."]);
        repo.git(&["add", "-A"]);
        repo.git(&["commit", "-q", "-m", "secrets"]);
        repo
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.env.path("repo").join(rel)
    }

    fn key(&self, name: &str) -> PathBuf {
        self.env.path(&format!("keys/{name}.txt"))
    }

    fn git(&self, args: &[&str]) -> String {
        let mut git = self.env.command(
            "git",
            &[&["-c", "user.name=t", "-c", "user.email=t@t"], args].concat(),
        );
        git.0.current_dir(self.path(""));
        git.run().ok()
    }

    /// The real `sops decrypt FILE` (in the repository) with the identity `key`.
    fn sops_decrypt(&self, key: &Path, file: &str) -> Run {
        let mut cmd = self.env.sops(&["decrypt", file]);
        cmd.0
            .current_dir(self.path(""))
            .env("SOPS_AGE_KEY_FILE", key);
        cmd.run()
    }

    fn sealbox(&self, key: Option<&Path>, args: &[&str]) -> Run {
        let mut cmd = self.env.sealbox(args);
        cmd.0.current_dir(self.path(""));
        if let Some(key) = key {
            cmd.0.env("SOPS_AGE_KEY_FILE", key);
        }
        cmd.run()
    }

    /// `sealbox audit --output json --older-than CUTOFF .`: its exit code, and the finding
    /// categories per file (files without findings left out).
    fn audit(&self, cutoff: &str) -> (i32, BTreeMap<String, Vec<Value>>) {
        let run = self.sealbox(
            None,
            &["audit", "--output", "json", "--older-than", cutoff, "."],
        );
        let mut files = BTreeMap::new();
        for line in run.stdout().lines() {
            let record: Value = serde_json::from_str(line).unwrap();
            assert_ne!(record["outcome"], "failed", "{record}");
            if let Some(findings) = record["findings"].as_array() {
                let file = record["file"].as_str().unwrap().trim_start_matches("./");
                files.insert(file.to_owned(), findings.clone());
            }
        }
        (run.output.status.code().unwrap(), files)
    }

    /// Every file of the repository but `.git`, by path.
    fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.ends_with(".git") {
                    continue;
                }
                if path.is_dir() {
                    walk(&path, root, out);
                } else {
                    let name = path.strip_prefix(root).unwrap().display().to_string();
                    out.insert(name, std::fs::read(&path).unwrap());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.path(""), &self.path(""), &mut out);
        out
    }

    /// The committed `apps/web/config.json` (encrypted for the old key) with its data key's
    /// wrapping put into the current file: what someone with the old key and the Git history
    /// can do. Returns the real sops's decryption of that with the old key.
    fn open_with_history(&self) -> Run {
        let committed = self.git(&["show", &format!("HEAD:{JSON_FILE}")]);
        let current = std::fs::read_to_string(self.path(JSON_FILE)).unwrap();
        // By text: the MAC covers the values in their order, which a JSON value would sort.
        // The array holds recipients and armored age files, neither of which has a `]`.
        let age = |text: &str| {
            let start = text.find("\"age\": [").expect("an age array");
            start..start + text[start..].find(']').unwrap() + 1
        };
        let mut spliced = current.clone();
        spliced.replace_range(age(&current), &committed[age(&committed)]);
        assert_ne!(spliced, current, "the file has other recipients now");
        let path = self.env.path("spliced.json");
        std::fs::write(&path, spliced).unwrap();
        let mut cmd = self.env.sops(&["decrypt", path.to_str().unwrap()]);
        cmd.0.env("SOPS_AGE_KEY_FILE", self.key("old"));
        cmd.run()
    }
}

/// The `ENC[…]` values of a file (the MAC included): what a new data key replaces.
fn ciphertexts(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    text.match_indices("ENC[")
        .map(|(at, _)| text[at..at + text[at..].find(']').unwrap()].to_owned())
        .collect()
}

fn categories(findings: &[Value]) -> Vec<&str> {
    findings
        .iter()
        .map(|f| f["category"].as_str().unwrap())
        .collect()
}

fn sops_names() -> BTreeSet<String> {
    FILES.iter().map(|(n, _)| n.to_string()).collect()
}

#[test]
fn age_key_rotation() {
    let repo = Repo::new();
    let book = Runbook::load("docs/runbooks/age-key-rotation.md");
    assert_eq!(
        book.headings(),
        [
            "1. Find what the old key opens",
            "2. Make the new key",
            "3. Name the new key in `.sops.yaml` instead of the old",
            "4. See what still needs work",
            "5. Re-wrap each file's data key for the new recipients",
            "6. Give every file a new data key",
            "7. Check that nothing is left",
        ]
    );
    let step = |n: usize| &book.steps[n - 1];

    // Before: the real sops opens every file with the old key, to exactly its plaintext, and
    // the repository is as its rules ask.
    for (name, plain) in FILES {
        let run = repo.sops_decrypt(&repo.key("old"), name);
        assert_eq!(run.output.stdout, plain, "{name}: {}", run.stderr());
    }
    let before = repo.snapshot();
    assert_eq!(
        repo.sealbox(None, &["audit", "."]).output.status.code(),
        Some(0)
    );
    // sops.lastmodified and the key's `# created:` line count whole seconds: the new key is
    // made in a later second than the files, so they are older than it.
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let mut shell = Shell::new(&repo.path(""));
    shell.var("HOME", repo.env.path("home").display().to_string());
    shell.var("OLD_AGE_RECIPIENT", repo.old.clone());
    shell.var("OLD_KEY_FILE", repo.key("old").display().to_string());
    shell.var("NEW_KEY_FILE", repo.key("new").display().to_string());

    // 1. Every file naming the old key is listed, and only those.
    let listed: BTreeSet<String> = twice(&shell, &book, step(1))
        .lines()
        .map(|l| l.trim_start_matches("./").to_owned())
        .collect();
    let mut expected = sops_names();
    expected.insert(".sops.yaml".into());
    assert_eq!(listed, expected);

    // 2. A new key, made once: its recipient is the one Go's age-keygen derives from it.
    let printed = twice(&shell, &book, step(2));
    let derived = repo
        .env
        .command("age-keygen", &["-y", repo.key("new").to_str().unwrap()])
        .run()
        .ok();
    let new = derived.trim().to_owned();
    assert_eq!(
        printed.trim(),
        new,
        "the second run printed only the recipient"
    );
    let created = std::fs::read_to_string(repo.key("new"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# created: ").map(str::to_owned))
        .expect("the key says when it was made");
    // With the rules unchanged, the cut-off alone finds every file (and nothing else).
    let (code, found) = repo.audit(&created);
    assert_eq!(code, 10);
    assert_eq!(found.keys().cloned().collect::<BTreeSet<_>>(), sops_names());
    for (file, findings) in &found {
        assert_eq!(categories(findings), ["sops-stale"], "{file}");
    }
    assert_eq!(
        repo.snapshot(),
        before,
        "nothing in the repository changed yet"
    );

    // 3. Both rules name the new key where they named the old; the team key stays.
    twice(&shell, &book, step(3));
    assert_eq!(
        std::fs::read_to_string(repo.path(".sops.yaml")).unwrap(),
        format!(
            "creation_rules:\n  - path_regex: ^apps/.*\n    age: {new},{}\n  - path_regex: ^infra/.*\n    age: {new}\n",
            repo.team
        )
    );

    // 4. The audit counts the drift: every file has the wrong recipients and an old data key.
    // The dry run writes nothing.
    let config = repo.snapshot();
    let printed = twice(&shell, &book, step(4));
    let summary = format!(
        "audited {} file(s): {} need attention; findings by category: sops-recipients: {n}, sops-stale: {n}",
        FILES.len() + 1,
        FILES.len(),
        n = FILES.len()
    );
    assert!(printed.contains(&summary), "{printed}");
    for (name, _) in FILES {
        assert!(
            printed.contains(&format!(
                "./{name}: would change: +{new} -{} (same data key)",
                repo.old
            )),
            "{name}:\n{printed}"
        );
    }
    assert_eq!(repo.snapshot(), config, "step 4 wrote something");
    let (code, found) = repo.audit(&created);
    assert_eq!(code, 10);
    assert_eq!(found.keys().cloned().collect::<BTreeSet<_>>(), sops_names());
    for (file, findings) in &found {
        assert_eq!(
            categories(findings),
            ["sops-recipients", "sops-stale"],
            "{file}"
        );
        assert_eq!(findings[0]["add"], serde_json::json!([new]), "{file}");
        assert_eq!(
            findings[0]["remove"],
            serde_json::json!([repo.old]),
            "{file}"
        );
        assert_eq!(findings[1]["cutoff"], created.as_str(), "{file}");
    }

    // A step that fails fails the test: step 5 with the new key, which opens nothing yet.
    // The files it could not open are left as they were.
    let broken = edited(step(5), "$OLD_KEY_FILE", "$NEW_KEY_FILE");
    assert_fails(&shell, &book, &broken);
    assert_eq!(
        repo.snapshot(),
        config,
        "a failed updatekeys wrote something"
    );

    // 5. updatekeys: new recipients, the same data keys (every ciphertext and MAC kept). The
    // old key no longer opens the files as they are, but with the wrapping from Git history it
    // still opens the current values: why step 6 is needed.
    twice(&shell, &book, step(5));
    let updated = repo.snapshot();
    for (name, _) in FILES {
        assert_eq!(
            ciphertexts(&updated[name]),
            ciphertexts(&before[name]),
            "{name}: updatekeys changed the data key"
        );
        assert!(
            !repo
                .sops_decrypt(&repo.key("old"), name)
                .output
                .status
                .success()
        );
        let run = repo.sops_decrypt(&repo.key("new"), name);
        assert!(run.output.status.success(), "{name}: {}", run.stderr());
    }
    let from_history = repo.open_with_history();
    assert_eq!(
        from_history.output.stdout,
        FILES[1].1,
        "the old data key opened the current file: {}",
        from_history.stderr()
    );
    let (code, found) = repo.audit(&created);
    assert_eq!(code, 10);
    assert_eq!(found.keys().cloned().collect::<BTreeSet<_>>(), sops_names());
    for (file, findings) in &found {
        assert_eq!(categories(findings), ["sops-stale"], "{file}");
    }

    // 6. rotate: a new data key for every file; the old data keys open nothing any more.
    twice(&shell, &book, step(6));
    let rotated = repo.snapshot();
    for (name, _) in FILES {
        let old_values = ciphertexts(&before[name]);
        assert!(
            ciphertexts(&rotated[name])
                .iter()
                .all(|c| !old_values.contains(c)),
            "{name}: a value kept its ciphertext"
        );
    }
    assert!(
        !repo.open_with_history().output.status.success(),
        "the old data key still opens the rotated file"
    );
    assert_eq!(repo.audit(&created), (0, BTreeMap::new()));

    // 7. The check passes; it is what the test checks too.
    twice(&shell, &book, step(7));
    for (name, plain) in FILES {
        // The new key opens every file, to its original plaintext, with both tools.
        let theirs = repo.sops_decrypt(&repo.key("new"), name);
        assert_eq!(
            theirs.output.stdout,
            plain,
            "sops {name}: {}",
            theirs.stderr()
        );
        let ours = repo.sealbox(Some(&repo.key("new")), &["decrypt", name]);
        assert_eq!(
            ours.output.stdout,
            plain,
            "sealbox {name}: {}",
            ours.stderr()
        );
        // The old key opens none, with either.
        let theirs = repo.sops_decrypt(&repo.key("old"), name);
        let ours = repo.sealbox(Some(&repo.key("old")), &["decrypt", name]);
        assert!(!theirs.output.status.success(), "sops opened {name}");
        assert_eq!(
            ours.output.status.code(),
            theirs.output.status.code(),
            "{name}: {}",
            ours.stderr()
        );
        // The team key, still in the `apps/` rule, opens the `apps/` files.
        let team = repo.sops_decrypt(&repo.key("team"), name);
        assert_eq!(
            team.output.status.success(),
            name.starts_with("apps/"),
            "{name}: {}",
            team.stderr()
        );
    }
    assert_eq!(
        repo.sealbox(None, &["audit", "."]).output.status.code(),
        Some(0)
    );
}
