//! docs/migrate/from-sops.md, run from its markdown (tests/runbook.rs): each shell block in
//! order, twice, against a Git repository that the real sops encrypted (helm-secrets values, a
//! Secret manifest for KSOPS/Flux, a dotenv file; three creation rules), with the real sops
//! installed on PATH behind the `sops` link the guide makes. What the link prints and writes is
//! compared with what the real sops prints and writes for the same command line, including the
//! command lines helm-secrets runs (quoted in the guide from its source); what sealbox writes
//! is opened with the real sops, with the team's key and with Flux's.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sealbox_tests::runbook::{Runbook, Shell, assert_fails, edited, twice};
use sealbox_tests::{Env, Run, sealbox_bin};

/// The SOPS files and their plaintexts, in the layout sops gives back.
const CHART_SECRETS: (&str, &str) = (
    "charts/app/secrets.yaml",
    "db:\n    password: chart-password-1\n    port: 5432\n",
);
const DB_SECRET: (&str, &str) = (
    "clusters/prod/secrets/db.yaml",
    "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\n    namespace: prod\nstringData:\n    password: db-password-2\n",
);
const APP_ENV: (&str, &str) = ("clusters/prod/secrets/app.env", "API_KEY=env-key-3\n");

/// Plain files beside them: a chart, a Flux Kustomization, a KSOPS generator.
const PLAIN: [(&str, &str); 4] = [
    (
        "charts/app/Chart.yaml",
        "apiVersion: v2\nname: app\nversion: 0.1.0\n",
    ),
    ("charts/app/values.yaml", "replicas: 2\n"),
    (
        "clusters/prod/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - secrets/db.yaml\ngenerators:\n  - secret-generator.yaml\n",
    ),
    (
        "clusters/prod/secret-generator.yaml",
        "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: secrets\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: ksops\nfiles:\n  - secrets/db.yaml\n",
    ),
];

/// The command lines of helm-secrets 4.7 (`scripts/lib/backends/sops.sh`) that the guide
/// quotes beside its decrypt step: `install -f` (decrypt to a `.dec` file), `encrypt -i` and
/// `edit` (both run in the file's directory).
const HELM_DECRYPT_TO_FILE: &str = "sops --decrypt --input-type yaml --output-type yaml --output charts/app/secrets.yaml.dec charts/app/secrets.yaml";
const HELM_ENCRYPT: &str =
    "sops --encrypt --input-type yaml --output-type yaml --in-place secrets.yaml";
const HELM_EDIT: &str = "sops --input-type yaml --output-type yaml secrets.yaml";

const API_TOKEN: &str = "api-token-4";

struct Repo {
    env: Env,
    /// The team's age key, where sops finds it: `home/.config/sops/age/keys.txt`.
    team: String,
    /// Flux's key (`flux.txt`), a recipient of everything under `clusters/`.
    flux: String,
}

impl Repo {
    fn new() -> Repo {
        let env = Env::new();
        std::fs::create_dir_all(env.path("home/.config/sops/age")).unwrap();
        std::fs::create_dir(env.path("repo")).unwrap();
        let team = env.age_keygen("home/.config/sops/age/keys.txt");
        let flux = env.age_keygen("flux.txt");
        let repo = Repo { env, team, flux };
        repo.write(
            ".sops.yaml",
            &format!(
                "creation_rules:\n  - path_regex: ^charts/[^/]+/secrets\\.yaml$\n    age: {team}\n  - path_regex: ^clusters/.*/secrets/.*\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: {team},{flux}\n  - path_regex: ^clusters/.*/secrets/\n    age: {team},{flux}\n",
                team = repo.team,
                flux = repo.flux
            ),
        );
        for (name, plain) in [CHART_SECRETS, DB_SECRET, APP_ENV] {
            repo.write(name, plain);
            let run = repo.real_sops(&["encrypt", "-i", name]);
            assert!(run.output.status.success(), "sops {name}: {}", run.stderr());
        }
        for (name, text) in PLAIN {
            repo.write(name, text);
        }
        repo.git(&["init", "-q", "."]).ok();
        repo.git(&["add", "-A"]).ok();
        repo.git(&["commit", "-q", "-m", "secrets"]).ok();
        repo
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.env.path("repo").join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        std::fs::create_dir_all(self.path(rel).parent().unwrap()).unwrap();
        std::fs::write(self.path(rel), text).unwrap();
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    fn git(&self, args: &[&str]) -> Run {
        let mut git = self.env.command(
            "git",
            &[&["-c", "user.name=t", "-c", "user.email=t@t"], args].concat(),
        );
        git.0.current_dir(self.path(""));
        git.run()
    }

    fn team_key(&self) -> PathBuf {
        self.env.path("home/.config/sops/age/keys.txt")
    }

    /// The real sops with ARGS in the repository, with the team's key.
    fn real_sops(&self, args: &[&str]) -> Run {
        self.real_sops_with(&self.team_key(), args)
    }

    fn real_sops_with(&self, key: &Path, args: &[&str]) -> Run {
        let mut cmd = self.env.sops(args);
        cmd.0
            .current_dir(self.path(""))
            .env("SOPS_AGE_KEY_FILE", key);
        cmd.run()
    }

    /// Every file of the repository but `.git`, by path.
    fn files(&self) -> BTreeSet<String> {
        fn walk(dir: &Path, root: &Path, out: &mut BTreeSet<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.ends_with(".git") {
                    continue;
                }
                if path.is_dir() {
                    walk(&path, root, out);
                } else {
                    out.insert(path.strip_prefix(root).unwrap().display().to_string());
                }
            }
        }
        let mut out = BTreeSet::new();
        walk(&self.path(""), &self.path(""), &mut out);
        out
    }
}

/// `line` with its leading `sops` replaced by the real sops binary.
fn with_real_sops(line: &str) -> String {
    let sops = std::env::var("SEALBOX_PEER_SOPS").expect("SEALBOX_PEER_SOPS");
    format!("{sops}{}", line.strip_prefix("sops").unwrap())
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn migrate_from_sops() {
    let repo = Repo::new();
    let book = Runbook::load("docs/migrate/from-sops.md");
    assert_eq!(
        book.headings(),
        [
            "1. See what is in the repository",
            "2. Check that sealbox opens every SOPS file",
            "3. Put a `sops` link to sealbox first on PATH",
            "4. helm-secrets",
            "5. KSOPS and Flux: nothing to change",
            "6. Write secrets with sealbox",
            "7. Guard commits",
        ]
    );
    let step = |n: usize| &book.steps[n - 1];

    // A machine with sops installed: the real sops is on PATH, after ~/.local/bin.
    let home = repo.env.path("home");
    let real_sops = PathBuf::from(std::env::var("SEALBOX_PEER_SOPS").unwrap());
    let mut shell = Shell::new(&repo.path(""));
    shell.var("HOME", home.display().to_string());
    shell.var(
        "PATH",
        format!(
            "{}:{}:{}:{}",
            home.join(".local/bin").display(),
            real_sops.parent().unwrap().display(),
            sealbox_bin().parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    );
    shell.var("SOPS_DISABLE_VERSION_CHECK", "true");
    shell.var("API_TOKEN", API_TOKEN);

    // 1. The repository as sops left it needs nothing.
    let printed = twice(&shell, &book, step(1));
    assert!(
        printed.contains(&format!(
            "audited {} file(s): nothing needs attention",
            repo.files().len()
        )),
        "{printed}"
    );
    // What the guide says of rules as broad as Flux's example: each plain manifest they cover
    // is reported, `.sops.yaml` is not.
    let broad = repo.env.path("broad-rules.yaml");
    std::fs::write(
        &broad,
        format!(
            "creation_rules:\n  - path_regex: .*.yaml\n    encrypted_regex: ^(data|stringData)$\n    age: {}\n",
            repo.team
        ),
    )
    .unwrap();
    let mut audit = repo.env.sealbox(&[
        "audit",
        "--output",
        "json",
        "--config",
        broad.to_str().unwrap(),
        ".",
    ]);
    audit.0.current_dir(repo.path(""));
    let audit = audit.run();
    assert_eq!(audit.output.status.code(), Some(10), "{}", audit.stderr());
    let plaintext: BTreeSet<String> = audit
        .stdout()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| {
            r["findings"]
                .as_array()
                .is_some_and(|f| f.iter().any(|f| f["category"] == "plaintext"))
        })
        .map(|r| {
            r["file"]
                .as_str()
                .unwrap()
                .trim_start_matches("./")
                .to_owned()
        })
        .collect();
    let plain_yaml: BTreeSet<String> = PLAIN.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(plaintext, plain_yaml);

    // A step that fails fails the test: step 2 reading every file as JSON stops at the first
    // YAML file.
    let broken = edited(
        step(2),
        "sealbox decrypt ",
        "sealbox decrypt --input-type json ",
    );
    assert_fails(&shell, &book, &broken);

    // 2. sealbox opens every SOPS file, and only those are tried.
    // (The audit's summary goes to stderr.)
    let opened: BTreeSet<String> = twice(&shell, &book, step(2))
        .lines()
        .filter_map(|l| l.strip_prefix("opens: ./").map(str::to_owned))
        .collect();
    let sops_files: BTreeSet<String> = [CHART_SECRETS, DB_SECRET, APP_ENV]
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(opened, sops_files);

    // 3. Before it, `sops` is the real one; after it, the link to sealbox.
    let before = stdout(&shell.try_script("command -v sops"));
    assert_eq!(before.trim(), real_sops.display().to_string());
    let printed = twice(&shell, &book, step(3));
    let link = home.join(".local/bin/sops");
    let mut lines = printed.lines();
    assert_eq!(lines.next(), Some(link.display().to_string().as_str()));
    assert!(lines.next().unwrap().contains("(sealbox "), "{printed}");
    assert_eq!(std::fs::read_link(&link).unwrap(), sealbox_bin());

    // 4. `helm secrets decrypt` through the link prints what the real sops prints: the values.
    let printed = twice(&shell, &book, step(4));
    let theirs = repo.real_sops(&[
        "--decrypt",
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
        CHART_SECRETS.0,
    ]);
    assert_eq!(printed, theirs.stdout());
    assert_eq!(printed, CHART_SECRETS.1);

    // helm-secrets's other command lines, as the guide quotes them, through the link and
    // through the real sops.
    let guide = std::fs::read_to_string(&book.path).unwrap();
    for line in [HELM_DECRYPT_TO_FILE, HELM_ENCRYPT, HELM_EDIT] {
        assert!(guide.contains(line), "the guide no longer quotes {line}");
    }
    // `install -f`: a 0600 .dec file with what the real sops writes.
    let dec = repo.path("charts/app/secrets.yaml.dec");
    stdout(&shell.try_script(HELM_DECRYPT_TO_FILE));
    let ours = repo.read("charts/app/secrets.yaml.dec");
    let mode = std::fs::metadata(&dec).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    std::fs::remove_file(&dec).unwrap();
    stdout(&shell.try_script(&with_real_sops(HELM_DECRYPT_TO_FILE)));
    assert_eq!(ours, repo.read("charts/app/secrets.yaml.dec"));
    assert_eq!(ours, CHART_SECRETS.1);
    std::fs::remove_file(&dec).unwrap();
    // `encrypt -i` in the file's directory: the rule for `charts/*/secrets.yaml` is found
    // from there; the real sops opens the result to the same plaintext as its own.
    let new_values = "token: chart-token-5\n";
    for (dir, line) in [
        ("charts/ours", HELM_ENCRYPT.to_owned()),
        ("charts/theirs", with_real_sops(HELM_ENCRYPT)),
    ] {
        repo.write(&format!("{dir}/secrets.yaml"), new_values);
        stdout(&shell.try_script(&format!("cd {dir} && {line}")));
        let file = repo.read(&format!("{dir}/secrets.yaml"));
        assert!(!file.contains("chart-token-5"), "{dir}: {file}");
        assert!(file.contains(&repo.team), "{dir}: not for the rule's key");
        // helm-secrets's test for "encrypted": `grep -q 'mac.*,type:str]'`.
        assert!(
            file.lines().any(|l| l
                .find("mac")
                .is_some_and(|at| l[at..].contains(",type:str]"))),
            "{dir}: helm-secrets would not see it as encrypted"
        );
        let opened = repo.real_sops(&["decrypt", &format!("{dir}/secrets.yaml")]);
        assert_eq!(opened.stdout(), new_values, "{dir}: {}", opened.stderr());
    }
    // `edit` in the file's directory, with an editor that changes one value.
    shell.tool(
        "change-password",
        "sed -i 's/chart-password-1/chart-password-6/' \"$1\"",
    );
    let editor = repo.path(".runbook-bin/change-password");
    shell.var("EDITOR", editor.display().to_string());
    for (dir, line) in [
        ("charts/ours", HELM_EDIT.to_owned()),
        ("charts/theirs", with_real_sops(HELM_EDIT)),
    ] {
        std::fs::copy(
            repo.path(CHART_SECRETS.0),
            repo.path(&format!("{dir}/secrets.yaml")),
        )
        .unwrap();
        stdout(&shell.try_script(&format!("cd {dir} && {line}")));
        let opened = repo.real_sops(&["decrypt", &format!("{dir}/secrets.yaml")]);
        assert_eq!(
            opened.stdout(),
            CHART_SECRETS
                .1
                .replace("chart-password-1", "chart-password-6"),
            "{dir}: {}",
            opened.stderr()
        );
    }
    for dir in ["charts/ours", "charts/theirs"] {
        std::fs::remove_dir_all(repo.path(dir)).unwrap();
    }
    std::fs::remove_file(editor).unwrap();

    // 5. What KSOPS and Flux get from the files: the link prints what the real sops prints,
    // and Flux's own key opens them.
    let printed = twice(&shell, &book, step(5));
    let mut expected = String::new();
    for (name, plain) in [DB_SECRET, APP_ENV] {
        let theirs = repo.real_sops(&["decrypt", name]).stdout();
        assert_eq!(theirs, plain, "{name}");
        let flux = repo.real_sops_with(&repo.env.path("flux.txt"), &["decrypt", name]);
        assert_eq!(flux.stdout(), plain, "{name}: {}", flux.stderr());
        expected.push_str(&theirs);
    }
    assert_eq!(printed, expected);

    // 6. A Secret written by sealbox from a pipe: only its values encrypted, for the team and
    // Flux; the real sops opens it, with either key.
    twice(&shell, &book, step(6));
    let written = repo.read("clusters/prod/secrets/api-token.yaml");
    assert!(
        written.contains("kind: Secret\nmetadata:\n    name: api-token\n"),
        "{written}"
    );
    assert!(!written.contains(API_TOKEN), "{written}");
    let plain = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n    name: api-token\nstringData:\n    token: {API_TOKEN}\n"
    );
    for key in [repo.team_key(), repo.env.path("flux.txt")] {
        let opened =
            repo.real_sops_with(&key, &["decrypt", "clusters/prod/secrets/api-token.yaml"]);
        assert_eq!(opened.stdout(), plain, "{}", opened.stderr());
    }

    // 7. The hook is in place and the new file is staged; a commit of it goes through, a
    // plain Secret staged after it is stopped by name.
    twice(&shell, &book, step(7));
    let hook = repo.path(".git/hooks/pre-commit");
    assert_eq!(
        std::fs::metadata(&hook).unwrap().permissions().mode() & 0o111,
        0o111
    );
    let commit = "git -c user.name=t -c user.email=t@t commit -q -m change";
    stdout(&shell.try_script(commit));
    let committed = repo.git(&["show", "HEAD:clusters/prod/secrets/api-token.yaml"]);
    assert_eq!(committed.stdout(), written);
    repo.write(
        "clusters/prod/secrets/leak.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n    name: leak\nstringData:\n    password: leaked-7\n",
    );
    repo.git(&["add", "clusters/prod/secrets/leak.yaml"]).ok();
    let head = repo.git(&["rev-parse", "HEAD"]).ok();
    let refused = shell.try_script(commit);
    assert!(!refused.status.success(), "the hook let a plain Secret in");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("clusters/prod/secrets/leak.yaml"), "{said}");
    assert!(!said.contains("leaked-7"), "{said}");
    assert_eq!(repo.git(&["rev-parse", "HEAD"]).ok(), head);
}
