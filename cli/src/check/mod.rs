//! `sealbox check PATHS…` / `sealbox check --staged`: a pre-commit guard that fails closed.
//! It fails, naming the file, on a Kubernetes Secret with clear data (in any document, any
//! `*List`'s items or a top-level sequence, whatever the file's name), a file that looks like a
//! manifest but does not parse, a PEM private key or age identity in any text file, a
//! temporary file an interrupted sealbox run left behind, a path that does not exist, and a
//! file a `.sops.yaml` creation rule covers that is not encrypted. SealedSecrets, SOPS files,
//! ExternalSecrets and everything else pass; `.sealboxignore` and a `# sealbox:allow` line
//! allow fixtures on purpose.
//!
//! What a file holds is decided by [`crate::scan`] (shared with `sealbox audit`); this module
//! says where the bytes come from (the working tree, or git's index with `--staged`) and
//! reports.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;
use zeroize::Zeroizing;

use crate::scan::{self, Walk, ignore};
use crate::sopsconfig;

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
        self.problems
            .extend(scan::problems(name, path, bytes, self.config.as_deref())?);
        Ok(())
    }
}

/// The files under `paths`, directories searched in name order.
fn working_tree(paths: &[PathBuf], report: &mut Report) -> Result<()> {
    let found = Walk::new()?.files(paths)?;
    for path in found.missing {
        report.problems.push(format!(
            "{}: does not exist: check the path (nothing was checked there)",
            path.display()
        ));
    }
    for file in found.files {
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
}
