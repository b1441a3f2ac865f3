//! `sealbox updatekeys DIR` and `sealbox rotate DIR`: a repository of SOPS files made by the
//! real sops (YAML, JSON, dotenv, INI, binary; nested directories; two creation rules with
//! different recipients) re-keyed from one age key to another, checked with the real sops and
//! with sealbox; dry runs, failures, JSON records, re-runs and SIGKILL mid-walk.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::*;

/// The SOPS files of the repository and their plaintexts.
const FILES: [(&str, &[u8]); 6] = [
    ("apps/web/secret.yaml", YAML.as_bytes()),
    ("apps/web/config.json", JSON.as_bytes()),
    ("apps/api/app.env", DOTENV.as_bytes()),
    ("infra/db.ini", INI.as_bytes()),
    ("infra/tls/cert.bin", BINARY),
    (
        "infra/nested/deep/more.yaml",
        b"token: abc\nlist:\n    - 1\n    - two\n",
    ),
];

/// A plaintext file the `apps/` rule covers: reported, never encrypted.
const UNCOVERED: &str = "apps/plain.yaml";

/// Keys (Go age-keygen) in `keys/`: `old`, `new`, and `team` (only in the `apps/` rule).
struct Repo {
    env: Env,
    old: String,
    new: String,
    team: String,
}

impl Repo {
    /// The repository, every file encrypted by the real sops under the rules for `old`.
    fn new() -> Repo {
        let env = Env::new();
        std::fs::create_dir(env.path("keys")).unwrap();
        let [old, new, team] =
            ["keys/old.txt", "keys/new.txt", "keys/team.txt"].map(|k| env.age_keygen(k));
        let repo = Repo {
            env,
            old,
            new,
            team,
        };
        repo.rules(&repo.old);
        for (name, plain) in FILES {
            std::fs::create_dir_all(repo.env.path(name).parent().unwrap()).unwrap();
            repo.env.write(name, plain);
            let run = repo.env.sops(&["encrypt", "-i", name]).run();
            assert!(
                run.output.status.success(),
                "sops encrypt {name}: {}",
                run.stderr()
            );
        }
        repo.env.write(UNCOVERED, "password: not-yet\n");
        repo.env.write("README.md", "# not a secret\n");
        // What a clone has: never walked into.
        std::fs::create_dir(repo.env.path(".git")).unwrap();
        std::fs::copy(repo.env.path(FILES[0].0), repo.env.path(".git/copy.yaml")).unwrap();
        repo
    }

    /// `.sops.yaml`: `apps/` for `key` and the team, `infra/` for `key` alone.
    fn rules(&self, key: &str) {
        self.env.write(
            ".sops.yaml",
            format!(
                "creation_rules:\n  - path_regex: ^apps/\n    age: {key},{}\n  - path_regex: ^infra/\n    age: [{key}]\n",
                self.team
            ),
        );
    }

    /// `sealbox ARGS` with the identity in `keys/KEY.txt`.
    fn sealbox(&self, key: &str, args: &[&str]) -> Run {
        let mut cmd = self.env.sealbox(args);
        cmd.0.env(
            "SOPS_AGE_KEY_FILE",
            self.env.path(&format!("keys/{key}.txt")),
        );
        cmd.run()
    }

    /// The real `sops decrypt FILE` with the identity in `keys/KEY.txt`.
    fn sops_decrypt(&self, key: &str, file: &str) -> Run {
        let mut cmd = self.env.sops(&["decrypt", file]);
        cmd.0.env(
            "SOPS_AGE_KEY_FILE",
            self.env.path(&format!("keys/{key}.txt")),
        );
        cmd.run()
    }

    /// Every file under the repository (`.git` included), by path.
    fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, root, out);
                } else {
                    let name = path.strip_prefix(root).unwrap().display().to_string();
                    out.insert(name, std::fs::read(&path).unwrap());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(self.env.dir.path(), self.env.dir.path(), &mut out);
        out
    }
}

/// The `ENC[…]` values of a file (the MAC included): what a data key change replaces.
fn ciphertexts(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    text.match_indices("ENC[")
        .map(|(at, _)| text[at..at + text[at..].find(']').unwrap()].to_owned())
        .collect()
}

/// The JSON records of a run, by file name (without the leading `./`).
fn records(run: &Run) -> BTreeMap<String, serde_json::Value> {
    run.stdout()
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            let file = record["file"]
                .as_str()
                .unwrap()
                .trim_start_matches("./")
                .to_owned();
            (file, record)
        })
        .collect()
}

fn outcomes(records: &BTreeMap<String, serde_json::Value>, outcome: &str) -> Vec<String> {
    records
        .iter()
        .filter(|(_, r)| r["outcome"] == outcome)
        .map(|(f, _)| f.clone())
        .collect()
}

fn sops_files() -> Vec<String> {
    let mut names: Vec<String> = FILES.iter().map(|(n, _)| n.to_string()).collect();
    names.sort();
    names
}

#[test]
fn a_repository_is_rekeyed_from_one_age_key_to_another() {
    let repo = Repo::new();
    let before = repo.snapshot();
    repo.rules(&repo.new);
    let config = repo.env.read(".sops.yaml");

    // --dry-run: every SOPS file would change, nothing is written.
    let dry = repo.sealbox("old", &["updatekeys", "--dry-run", "."]);
    dry.ok();
    let mut after_dry = repo.snapshot();
    assert_eq!(after_dry.remove(".sops.yaml").unwrap(), config.as_bytes());
    let mut expected = before.clone();
    expected.remove(".sops.yaml");
    assert_eq!(after_dry, expected, "--dry-run wrote something");
    for (name, _) in FILES {
        let line = dry
            .stdout()
            .lines()
            .find(|l| l.starts_with(&format!("./{name}: would change")))
            .unwrap_or_else(|| panic!("{name} missing from:\n{}", dry.stdout()))
            .to_owned();
        assert!(line.contains(&format!("+{}", repo.new)), "{line}");
        assert!(line.contains(&format!("-{}", repo.old)), "{line}");
    }
    assert!(
        dry.stderr().contains(&format!("warning: ./{UNCOVERED}")),
        "{}",
        dry.stderr()
    );

    // updatekeys: new recipients, the same data key (every ciphertext and the MAC kept).
    let run = repo.sealbox("old", &["updatekeys", "-y", "--output", "json", "."]);
    run.ok();
    let recs = records(&run);
    assert_eq!(outcomes(&recs, "changed"), sops_files());
    assert_eq!(outcomes(&recs, "skipped"), [UNCOVERED]);
    assert!(outcomes(&recs, "failed").is_empty());
    assert_eq!(
        recs.len(),
        repo.snapshot().len() - 1,
        "one record per file but .git's"
    );
    for (name, _) in FILES {
        assert_eq!(recs[name]["added"], serde_json::json!([repo.new]), "{name}");
        assert_eq!(
            recs[name]["removed"],
            serde_json::json!([repo.old]),
            "{name}"
        );
        let now = std::fs::read(repo.env.path(name)).unwrap();
        assert_eq!(ciphertexts(&now), ciphertexts(&before[name]), "{name}");
    }
    assert_eq!(repo.env.read(UNCOVERED), "password: not-yet\n");
    assert_eq!(repo.snapshot()[".git/copy.yaml"], before[".git/copy.yaml"]);

    // Again, with only the new key: nothing to do, nothing written, no key needed to say so.
    let updated = repo.snapshot();
    let again = repo.sealbox("new", &["updatekeys", "-y", "--output", "json", "."]);
    again.ok();
    let recs = records(&again);
    assert!(outcomes(&recs, "changed").is_empty());
    for (name, _) in FILES {
        assert_eq!(recs[name]["outcome"], "unchanged", "{name}");
        assert_eq!(recs[name]["message"], "already up to date", "{name}");
    }
    assert_eq!(repo.snapshot(), updated);

    // rotate: new data keys, every value re-encrypted, the old key named for removal.
    let rotated = repo.sealbox(
        "new",
        &["rotate", ".", "--rm-age", &repo.old, "--output", "json"],
    );
    rotated.ok();
    assert_eq!(outcomes(&records(&rotated), "changed"), sops_files());
    for (name, plain) in FILES {
        let now = std::fs::read(repo.env.path(name)).unwrap();
        let old_values = ciphertexts(&updated[name]);
        assert!(
            ciphertexts(&now).iter().all(|c| !old_values.contains(c)),
            "{name}: a value kept its ciphertext"
        );
        // The new key opens every file, with the real sops and with sealbox.
        let theirs = repo.sops_decrypt("new", name);
        assert!(
            theirs.output.status.success(),
            "sops {name}: {}",
            theirs.stderr()
        );
        let ours = repo.sealbox("new", &["decrypt", name]);
        assert!(
            ours.output.status.success(),
            "sealbox {name}: {}",
            ours.stderr()
        );
        assert_eq!(ours.output.stdout, theirs.output.stdout, "{name}");
        if !name.ends_with(".yaml") {
            // sops rewrites YAML in its own layout; the other stores come back byte for byte.
            assert_eq!(theirs.output.stdout, plain, "{name}");
        }
        // The old key opens nothing any more.
        assert_eq!(
            exit_code(&repo.sops_decrypt("old", name)),
            128,
            "sops {name}"
        );
        assert_eq!(
            exit_code(&repo.sealbox("old", &["decrypt", name])),
            128,
            "sealbox {name}"
        );
        // The team keeps what its rule gives it.
        let team = repo.sops_decrypt("team", name);
        assert_eq!(
            team.output.status.success(),
            name.starts_with("apps/"),
            "team {name}"
        );
    }
    let yaml = repo.sops_decrypt("new", FILES[0].0).ok();
    assert!(yaml.contains("password: hunter2"), "{yaml}");
}

#[test]
fn rotate_adds_and_removes_recipients_in_one_walk_without_touching_the_config() {
    let repo = Repo::new();
    let config = repo.env.read(".sops.yaml");
    let run = repo.sealbox(
        "old",
        &[
            "rotate",
            "apps",
            "infra",
            "--add-age",
            &repo.new,
            "--rm-age",
            &repo.old,
        ],
    );
    run.ok();
    assert!(
        run.stderr().contains("6 of 7 file(s) changed, 0 failed"),
        "{}",
        run.stderr()
    );
    for (name, _) in FILES {
        assert_eq!(exit_code(&repo.sops_decrypt("new", name)), 0, "{name}");
        assert_eq!(exit_code(&repo.sops_decrypt("old", name)), 128, "{name}");
    }
    assert_eq!(repo.env.read(".sops.yaml"), config);
}

#[test]
fn failing_files_are_left_unchanged_and_listed_while_the_others_are_done() {
    let repo = Repo::new();
    // A tampered MAC, and a file no identity at hand opens.
    let tampered = "apps/web/config.json";
    let text = repo.env.read(tampered);
    let at = text.find("\"mac\": \"ENC[AES256_GCM,data:").unwrap() + 28;
    let flipped = if &text[at..=at] == "A" { "B" } else { "A" };
    repo.env.write(
        tampered,
        format!("{}{flipped}{}", &text[..at], &text[at + 1..]),
    );
    let foreign = "infra/foreign.yaml";
    repo.env.write(foreign, "key: value\n");
    let mut encrypt = repo
        .env
        .sops(&["encrypt", "-i", "--age", &repo.team, foreign]);
    encrypt.0.env_remove("SOPS_AGE_KEY_FILE");
    assert!(encrypt.run().output.status.success());
    let before = repo.snapshot();

    // A dry run already says which would fail, and writes nothing.
    let dry = repo.sealbox("old", &["rotate", "--dry-run", "--output", "json", "."]);
    dry.fails();
    let recs = records(&dry);
    assert_eq!(outcomes(&recs, "failed"), [tampered, foreign]);
    assert_eq!(outcomes(&recs, "would_change").len(), FILES.len() - 1);
    assert_eq!(repo.snapshot(), before);

    let run = repo.sealbox("old", &["rotate", ".", "--add-age", &repo.new]);
    let stderr = run.fails();
    assert_eq!(exit_code(&run), 1);
    assert!(
        stderr.contains(&format!("error: ./{tampered}: MAC mismatch")),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("error: ./{foreign}:")), "{stderr}");
    assert!(
        stderr.contains("2 file(s) failed and were left unchanged"),
        "{stderr}"
    );
    let after = repo.snapshot();
    assert_eq!(after[tampered], before[tampered]);
    assert_eq!(after[foreign], before[foreign]);
    for (name, _) in FILES.iter().filter(|(n, _)| *n != tampered) {
        assert_ne!(after[*name], before[*name], "{name}");
        assert_eq!(exit_code(&repo.sops_decrypt("new", name)), 0, "{name}");
    }
}

#[test]
fn one_file_keeps_sops_single_file_behaviour() {
    let repo = Repo::new();
    let name = "infra/db.ini";
    let before = repo.env.read(name);
    // Without -i the rotated file goes to stdout and the file stays.
    let out = repo
        .sealbox("old", &["rotate", "--add-age", &repo.new, name])
        .ok();
    assert!(out.contains("[sops]"), "{out}");
    assert_eq!(repo.env.read(name), before);
    // A walk's --output takes only a report format.
    let run = repo.sealbox("old", &["rotate", "infra", "--output", "x.ini"]);
    run.fails();
    assert_eq!(exit_code(&run), 8);
    // updatekeys on a directory asks; not at a terminal it needs -y.
    repo.rules(&repo.new);
    let run = repo.sealbox("old", &["updatekeys", "infra"]);
    assert!(run.fails().contains("pass -y"), "{}", run.stderr());
    assert_eq!(repo.env.read(name), before);
}

/// About 60 KB of dotenv per file, so a walk over them takes long enough to kill mid-way.
fn big_dotenv(i: usize) -> String {
    (0..1500)
        .map(|k| format!("KEY_{k}=value-{i}-{k}-abcdefghijklmnopqrstuvwxyz\n"))
        .collect()
}

#[test]
fn a_walk_killed_at_any_moment_leaves_each_file_old_or_new() {
    let repo = Repo::new();
    std::fs::create_dir(repo.env.path("infra/many")).unwrap();
    let names: Vec<String> = (0..12).map(|i| format!("infra/many/s{i:02}.env")).collect();
    let mut old = Vec::new();
    for (i, name) in names.iter().enumerate() {
        repo.env.write(name, big_dotenv(i));
        let run = repo.env.sops(&["encrypt", "-i", name]).run();
        assert!(run.output.status.success(), "{}", run.stderr());
        old.push(std::fs::read(repo.env.path(name)).unwrap());
    }
    let args = [
        "rotate",
        "infra/many",
        "--add-age",
        &repo.new,
        "--rm-age",
        &repo.old,
    ];
    let spawn = || {
        let mut cmd = repo.env.sealbox(&args);
        cmd.0
            .env("SOPS_AGE_KEY_FILE", repo.env.path("keys/old.txt"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd.0.spawn().unwrap()
    };
    let reset = || {
        for (name, bytes) in names.iter().zip(&old) {
            std::fs::write(repo.env.path(name), bytes).unwrap();
        }
    };
    // One whole run sets how long to wait at most before a kill.
    let start = Instant::now();
    assert!(spawn().wait().unwrap().success());
    let whole = start.elapsed().as_millis() as u64;
    let mut rng = (whole | 1) ^ 0x9E37_79B9_7F4A_7C15;
    let (mut kills, mut mixed) = (0, 0);
    for _ in 0..40 {
        if kills == 8 {
            break;
        }
        reset();
        let mut child = spawn();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(rng % whole.max(1)));
        let _ = child.kill();
        let status = child.wait().unwrap();
        let mut new_files = 0;
        for (i, name) in names.iter().enumerate() {
            let bytes = std::fs::read(repo.env.path(name)).unwrap();
            if bytes == old[i] {
                continue;
            }
            new_files += 1;
            let opened = repo.sealbox("new", &["decrypt", name]);
            assert_eq!(
                opened.output.stdout,
                big_dotenv(i).as_bytes(),
                "{name} is neither old nor new after a kill ({status}): {}",
                opened.stderr()
            );
        }
        if std::os::unix::process::ExitStatusExt::signal(&status) == Some(9) {
            kills += 1;
            mixed += usize::from(new_files > 0 && new_files < names.len());
        }
    }
    assert_eq!(kills, 8, "kills that landed");
    // Most kills land mid-walk (some files new, some old); at least one must, or this test
    // checked only whole runs.
    assert!(mixed > 0, "no kill landed mid-walk");
}
