//! Runbooks tested from their markdown. Every ```` ```sh ```` block of a runbook is a step; a
//! [`Shell`] runs the steps in order, each with `bash -euo pipefail`, in one working directory
//! with one environment, and a step that exits non-zero fails the test with its text and
//! output. A test names the steps it expects (by the heading above each), so a runbook whose
//! steps change without its test fails too, and checks the outcome after each step.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::cluster::Cluster;
use crate::{root, sealbox_bin};

/// One shell block and the heading it stands under.
#[derive(Clone, Debug)]
pub struct Step {
    pub heading: String,
    pub script: String,
    /// Where the block starts in the markdown (1-based), for messages.
    pub line: usize,
}

/// A markdown file's shell blocks, in order.
pub struct Runbook {
    pub path: PathBuf,
    pub steps: Vec<Step>,
}

impl Runbook {
    /// Reads `relative` (from the repository root).
    pub fn load(relative: &str) -> Runbook {
        let path = root().join(relative);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        Runbook {
            steps: steps(&text),
            path,
        }
    }

    /// The headings of the steps, one per step.
    pub fn headings(&self) -> Vec<&str> {
        self.steps.iter().map(|s| s.heading.as_str()).collect()
    }
}

/// The ```` ```sh ```` blocks of `markdown` with their headings. Other blocks (```` ```yaml ````,
/// ```` ```text ````, plain ```` ``` ````) are examples to read, not steps.
pub fn steps(markdown: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut heading = String::new();
    let mut block: Option<(bool, usize, String)> = None;
    for (n, line) in markdown.lines().enumerate() {
        match &mut block {
            Some((is_sh, start, script)) => {
                if line.trim_start().starts_with("```") {
                    if *is_sh {
                        steps.push(Step {
                            heading: heading.clone(),
                            script: std::mem::take(script),
                            line: *start,
                        });
                    }
                    block = None;
                } else {
                    script.push_str(line);
                    script.push('\n');
                }
            }
            None => {
                if let Some(info) = line.trim_start().strip_prefix("```") {
                    block = Some((info.trim() == "sh", n + 1, String::new()));
                } else if line.starts_with('#') {
                    heading = line.trim_start_matches('#').trim().to_owned();
                }
            }
        }
    }
    assert!(block.is_none(), "an unclosed ``` block");
    steps
}

/// Where the steps run: a working directory, `sealbox` and the given tools on PATH, and the
/// variables set with [`Shell::var`].
pub struct Shell {
    pub dir: PathBuf,
    bin: PathBuf,
    vars: Vec<(String, String)>,
}

impl Shell {
    /// A shell in `dir`, with a `bin/` of its own first on PATH (see [`Shell::tool`]), then
    /// the `sealbox` binary's directory, then the system's.
    pub fn new(dir: &Path) -> Shell {
        let bin = dir.join(".runbook-bin");
        std::fs::create_dir_all(&bin).unwrap();
        let path = format!(
            "{}:{}:{}",
            bin.display(),
            sealbox_bin().parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Shell {
            dir: dir.to_owned(),
            bin,
            vars: vec![("PATH".into(), path), ("NO_COLOR".into(), "1".into())],
        }
    }

    pub fn var(&mut self, name: &str, value: impl Into<String>) {
        self.vars.retain(|(n, _)| n != name);
        self.vars.push((name.to_owned(), value.into()));
    }

    /// The HOME the steps run with.
    pub fn home(&self) -> PathBuf {
        self.dir.join(".home")
    }

    /// Puts `dir` first on PATH, as a profile adding e.g. `~/.local/bin` does.
    pub fn prepend_path(&mut self, dir: &Path) {
        for (name, value) in &mut self.vars {
            if name == "PATH" {
                *value = format!("{}:{value}", dir.display());
            }
        }
    }

    /// Puts `name` on PATH as a script running `script` (e.g. a wrapper adding a flag the
    /// emulator needs).
    pub fn tool(&self, name: &str, script: &str) {
        let path = self.bin.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        let mut mode = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut mode, 0o755);
        std::fs::set_permissions(&path, mode).unwrap();
    }

    /// Runs `script` and returns its result, whatever it is.
    pub fn try_script(&self, script: &str) -> Output {
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", script])
            .current_dir(&self.dir)
            .env_clear()
            .env("HOME", self.home())
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run bash")
    }

    /// Runs `step`; fails the test, quoting it and its output, unless it exits 0. Returns what
    /// it printed (stdout, then stderr).
    pub fn run(&self, book: &Runbook, step: &Step) -> String {
        let out = self.try_script(&step.script);
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "{}:{} step \"{}\" failed ({}):\n{}\n--- output ---\n{printed}",
            book.path.display(),
            step.line,
            step.heading,
            out.status,
            step.script
        );
        printed
    }
}

/// `step` with `from` replaced by `to`, for a test that breaks a step on purpose; the text
/// must be in the step (else the runbook changed under the test).
pub fn edited(step: &Step, from: &str, to: &str) -> Step {
    let mut broken = step.clone();
    broken.script = broken.script.replace(from, to);
    assert_ne!(broken.script, step.script, "the step to break has changed");
    broken
}

/// Shows that a failing step fails the test: [`Shell::run`] of `step` must panic.
pub fn assert_fails(shell: &Shell, book: &Runbook, step: &Step) {
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        shell.run(book, step);
    }));
    assert!(caught.is_err(), "a failing step did not fail the test");
}

/// Wrappers adding the flags the emulator needs: it serves no OpenAPI document, so helm and
/// kubectl must not validate against one (tests/infra/kapi_emulator.py).
pub fn emulator_tools(shell: &Shell) {
    let helm = std::env::var("SEALBOX_HELM").expect("SEALBOX_HELM (scripts/test.sh sets it)");
    let kubectl =
        std::env::var("SEALBOX_KUBECTL").expect("SEALBOX_KUBECTL (scripts/test.sh sets it)");
    shell.tool(
        "helm",
        &format!(
            "case \"$1\" in install|upgrade) exec {helm} \"$@\" --disable-openapi-validation;; esac\nexec {helm} \"$@\""
        ),
    );
    shell.tool(
        "kubectl",
        &format!(
            "case \"$1\" in apply|create|replace) exec {kubectl} \"$@\" --validate=false;; esac\nexec {kubectl} \"$@\""
        ),
    );
}

/// Points the shell's kubeconfig at `cluster` (the same file, as after switching context).
pub fn use_cluster(shell: &Shell, cluster: &Cluster) {
    std::fs::copy(&cluster.kubeconfig, shell.dir.join("kubeconfig")).unwrap();
}

/// Runs `step` twice, as someone unsure whether it went through would: the second run must
/// succeed too (the checks after it then hold for both). Returns what the second printed.
pub fn twice(shell: &Shell, book: &Runbook, step: &Step) -> String {
    shell.run(book, step);
    shell.run(book, step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_blocks_are_steps_under_their_headings() {
        let md =
            "# Title\n\n```sh\na\n```\n\n## Two\n\n```yaml\nnot: a step\n```\n\n```sh\nb\nc\n```\n";
        let steps = steps(md);
        let got: Vec<(&str, &str, usize)> = steps
            .iter()
            .map(|s| (s.heading.as_str(), s.script.as_str(), s.line))
            .collect();
        assert_eq!(got, [("Title", "a\n", 3), ("Two", "b\nc\n", 13)]);
    }
}
