//! `sealbox check PATHS…` / `sealbox check --staged`: a pre-commit guard that fails closed.
//! It fails, naming the file, on a Kubernetes Secret with clear data (in any document, any
//! `*List`'s items or a top-level sequence, whatever the file's name), a file that looks like a
//! manifest but does not parse, a PEM private key or age identity in any text file, a
//! temporary file an interrupted sealbox run left behind, a path that does not exist, and a
//! file a `.sops.yaml` creation rule covers that is not encrypted. SealedSecrets, SOPS files,
//! ExternalSecrets and everything else pass; `.sealboxignore` and a `# sealbox:allow` line
//! allow fixtures on purpose.
//!
//! - `classify`: one file's bytes → its problems (pure), through `documents` (text → parsed
//!   documents) and `secrets` (documents → plain Secrets);
//! - `ignore`: `.sealboxignore` patterns (pure);
//! - this module: where the bytes come from (the working tree, or git's index with
//!   `--staged`) and the report.

mod classify;
mod documents;
mod ignore;
mod secrets;

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;
use zeroize::Zeroizing;

use crate::{io, sopsconfig};

#[derive(Args)]
pub struct CheckArgs {
    /// Files or directories (searched recursively; `.git` and what `.sealboxignore` allows are
    /// skipped). A path that does not exist fails. With --staged: git pathspecs limiting
    /// the staged files checked.
    #[arg(required_unless_present = "staged")]
    pub paths: Vec<PathBuf>,
    /// Check the content staged in git's index (what `git commit` records), not the working
    /// tree: for a git pre-commit hook.
    #[arg(long)]
    pub staged: bool,
}

pub fn run(args: &CheckArgs) -> Result<()> {
    let mut report = Report {
        config: sopsconfig::find(None),
        problems: Vec::new(),
        files: 0,
    };
    if args.staged {
        staged(&args.paths, &mut report)?;
    } else {
        working_tree(&args.paths, &mut report)?;
    }
    for problem in &report.problems {
        eprintln!("{problem}");
    }
    if !report.problems.is_empty() {
        bail!(
            "{} unencrypted secret(s) in {} file(s) checked (counting what cannot be ruled out): seal Kubernetes Secrets with `sealbox seal` or encrypt them with `sealbox encrypt`; allow test fixtures in .sealboxignore",
            report.problems.len(),
            report.files
        );
    }
    Ok(())
}

struct Report {
    config: Option<PathBuf>,
    problems: Vec<String>,
    files: usize,
}

impl Report {
    /// Checks one file: `name` for messages, `path` for `.sops.yaml` rules (relative to the
    /// working directory, or absolute).
    fn file(&mut self, name: &str, path: &Path, bytes: &[u8]) -> Result<()> {
        self.files += 1;
        let outcome = classify::classify(name, bytes);
        if let Some(config) = &self.config
            && outcome.problems.is_empty()
            && !outcome.encrypted
            && !outcome.allowed
            && sopsconfig::find_rule(config, &path.to_string_lossy())?.is_some()
        {
            self.problems.push(format!(
                "{name}: matches a creation rule in {} but is not encrypted: encrypt it with `sealbox encrypt`",
                config.display()
            ));
        }
        self.problems.extend(outcome.problems);
        Ok(())
    }
}

/// The files under `paths`, directories searched in name order.
fn working_tree(paths: &[PathBuf], report: &mut Report) -> Result<()> {
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let mut ignores = Ignores::default();
    let mut files = Vec::new();
    for path in paths {
        if std::fs::symlink_metadata(path).is_err() {
            report.problems.push(format!(
                "{}: does not exist: check the path (nothing was checked there)",
                path.display()
            ));
            continue;
        }
        walk(path, true, &cwd, &mut ignores, &mut files)?;
    }
    for file in files {
        let name = file.display().to_string();
        match std::fs::read(&file).map(Zeroizing::new) {
            Ok(bytes) => report.file(&name, &file, &bytes)?,
            Err(e) => report.problems.push(format!(
                "{name}: cannot be read ({}), so it cannot be ruled out: make it readable",
                e.kind()
            )),
        }
    }
    Ok(())
}

fn walk(
    path: &Path,
    explicit: bool,
    cwd: &Path,
    ignores: &mut Ignores,
    out: &mut Vec<PathBuf>,
) -> Result<()> {
    if ignores.allows(&normalize(&cwd.join(path))) {
        return Ok(());
    }
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    // Links found inside a directory are not followed into directories (no loops); a link
    // to a file is checked through it, as a link named on the command line is.
    let is_dir = meta.is_dir() || (explicit && path.is_dir());
    if is_dir {
        for entry in io::dir_entries(path)? {
            walk(&entry, false, cwd, ignores, out)?;
        }
    } else if meta.is_file() || path.is_file() {
        out.push(path.to_owned());
    }
    Ok(())
}

/// A path with `.` and `..` resolved by name (no file-system access).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `.sealboxignore` files of the working tree: in a file's directory and its parents, up to
/// the directory holding `.git`.
#[derive(Default)]
struct Ignores {
    by_dir: HashMap<PathBuf, Option<Vec<ignore::Pattern>>>,
}

impl Ignores {
    fn allows(&mut self, absolute: &Path) -> bool {
        for dir in absolute.ancestors().skip(1) {
            let patterns = self.by_dir.entry(dir.to_owned()).or_insert_with(|| {
                std::fs::read_to_string(dir.join(".sealboxignore"))
                    .ok()
                    .map(|t| ignore::parse(&t))
            });
            if let Some(patterns) = patterns
                && let Ok(rel) = absolute.strip_prefix(dir)
                && ignore::matches(patterns, &rel.to_string_lossy())
            {
                return true;
            }
            if dir.join(".git").exists() {
                break;
            }
        }
        false
    }
}

/// The staged content of the files a commit adds, copies, modifies or renames.
fn staged(pathspecs: &[PathBuf], report: &mut Report) -> Result<()> {
    let top = git(Path::new("."), &["rev-parse", "--show-toplevel"], &[])
        .context("--staged checks git's index: run it inside a git repository")?;
    let top =
        String::from_utf8(top).context("git printed a top-level directory that is not UTF-8")?;
    let top = PathBuf::from(top.trim_end_matches('\n'));
    // `--raw` gives the modes, so submodules (160000) are skipped; names are the repo's.
    let raw = git(
        Path::new("."),
        &[
            "-c",
            "diff.relative=false",
            "diff",
            "--cached",
            "--raw",
            "-z",
            "--no-renames",
            "--diff-filter=ACMR",
            "--",
        ],
        pathspecs,
    )?;
    let ignores: Vec<(String, Vec<ignore::Pattern>)> = {
        let list = git(
            &top,
            &[
                "ls-files",
                "-z",
                "--cached",
                "--",
                ":(glob)**/.sealboxignore",
            ],
            &[],
        )?;
        let mut found = Vec::new();
        for path in list.split(|&b| b == 0).filter(|p| !p.is_empty()) {
            let path = String::from_utf8_lossy(path).into_owned();
            let text = git(&top, &["show", &format!(":{path}")], &[])?;
            let dir = path.strip_suffix(".sealboxignore").unwrap_or("").to_owned();
            found.push((dir, ignore::parse(&String::from_utf8_lossy(&text))));
        }
        found
    };
    for path in staged_files(&raw) {
        let allowed = ignores.iter().any(|(dir, patterns)| {
            path.strip_prefix(dir.as_str())
                .is_some_and(|rel| ignore::matches(patterns, rel))
        });
        if allowed {
            continue;
        }
        let bytes = Zeroizing::new(git(&top, &["show", &format!(":{path}")], &[])?);
        report.file(&path, &top.join(&path), &bytes)?;
    }
    Ok(())
}

/// The paths in `git diff --raw -z --no-renames` output (`:old new sha sha STATUS\0path\0`
/// per file), without submodules (mode 160000), which have no content to check.
fn staged_files(raw: &[u8]) -> Vec<String> {
    let mut files = Vec::new();
    let mut fields = raw.split(|&b| b == 0);
    while let (Some(header), Some(path)) = (fields.next(), fields.next()) {
        let new_mode = String::from_utf8_lossy(header)
            .split(' ')
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        if new_mode != "160000" {
            files.push(String::from_utf8_lossy(path).into_owned());
        }
    }
    files
}

/// Runs git in `dir` and returns its stdout; a failure is an error that says what git said.
fn git(dir: &Path, args: &[&str], more: &[PathBuf]) -> Result<Vec<u8>> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .args(more)
        .output()
        .context("cannot run git (is it installed?): --staged reads git's index")?;
    if !out.status.success() {
        bail!(
            "`git {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_files_from_raw_diff_output() {
        let raw = b":000000 100644 0000000 1111111 A\0k8s/a b.yaml\0:100644 100644 2222222 3333333 M\0x\0:000000 160000 0000000 4444444 A\0vendor/sub\0";
        assert_eq!(staged_files(raw), ["k8s/a b.yaml", "x"]);
        assert!(staged_files(b"").is_empty());
    }

    #[test]
    fn paths_are_normalized_by_name() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), Path::new("/a/c"));
    }
}
