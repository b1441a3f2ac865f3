//! What a file in a working tree holds that must not be committed in the clear, shared by
//! `sealbox check` (which fails a commit on it) and `sealbox audit` (which reports it):
//! [`problems`] for one file's bytes (plain Kubernetes Secrets, private keys, files a
//! `.sops.yaml` creation rule covers that are not encrypted, leftovers of an interrupted run),
//! and [`Walk`] for the files under some paths, with what `.sealboxignore` allows skipped.
//!
//! - `classify`: one file's bytes → its problems (pure), through `documents` (text → parsed
//!   documents) and `secrets` (documents → plain Secrets);
//! - `ignore`: `.sealboxignore` patterns (pure).
//!
//! ```text
//! let files = Walk::new()?.files(&paths)?;            // missing paths come back by name
//! let found = scan::problems(&name, &file, &bytes, config.as_deref())?;
//! ```

pub mod classify;
mod documents;
pub mod ignore;
mod secrets;

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

use crate::{io, sopsconfig};

/// The problems of one file: `name` for messages, `path` for `.sops.yaml` rules (relative to
/// the working directory, or absolute), `config` the `.sops.yaml` in force. Each message names
/// the file and says what to do; none holds a value of the file.
pub fn problems(
    name: &str,
    path: &Path,
    bytes: &[u8],
    config: Option<&Path>,
) -> Result<Vec<String>> {
    let outcome = classify::classify(name, bytes);
    let mut found = Vec::new();
    if let Some(config) = config
        && outcome.problems.is_empty()
        && !outcome.encrypted
        && !outcome.allowed
        && !is_sops_config(path, config)
        && sopsconfig::find_rule(config, &path.to_string_lossy())?.is_some()
    {
        found.push(format!(
            "{name}: matches a creation rule in {} but is not encrypted: encrypt it with `sealbox encrypt`",
            config.display()
        ));
    }
    found.extend(outcome.problems);
    Ok(found)
}

/// Whether `path` is sops's configuration (any `.sops.yaml`, or the file `--config` names): read
/// in the clear by sops itself, so never a file to encrypt, even when a broad creation rule
/// covers it (Flux's guide has `path_regex: .*.yaml`).
fn is_sops_config(path: &Path, config: &Path) -> bool {
    path.file_name().is_some_and(|name| name == ".sops.yaml")
        || matches!(
            (path.canonicalize(), config.canonicalize()),
            (Ok(a), Ok(b)) if a == b
        )
}

/// The files of a working tree under some paths.
pub struct Walk {
    cwd: PathBuf,
    ignores: Ignores,
}

/// The files found, and the paths named that do not exist.
pub struct Found {
    pub files: Vec<PathBuf>,
    pub missing: Vec<PathBuf>,
}

impl Walk {
    pub fn new() -> Result<Walk> {
        Ok(Walk {
            cwd: std::env::current_dir().context("cannot read the working directory")?,
            ignores: Ignores::default(),
        })
    }

    /// The files under `paths`, directories searched in name order (`.git` and what
    /// `.sealboxignore` allows skipped).
    pub fn files(&mut self, paths: &[PathBuf]) -> Result<Found> {
        let mut found = Found {
            files: Vec::new(),
            missing: Vec::new(),
        };
        for path in paths {
            if std::fs::symlink_metadata(path).is_err() {
                found.missing.push(path.clone());
                continue;
            }
            self.walk(path, true, &mut found.files)?;
        }
        Ok(found)
    }

    fn walk(&mut self, path: &Path, explicit: bool, out: &mut Vec<PathBuf>) -> Result<()> {
        if self.ignores.allows(&normalize(&self.cwd.join(path))) {
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
                self.walk(&entry, false, out)?;
            }
        } else if meta.is_file() || path.is_file() {
            out.push(path.to_owned());
        }
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broad_rule_does_not_make_the_sops_config_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join(".sops.yaml");
        let rules = "creation_rules:\n  - path_regex: .*.yaml\n    age: age1x\n";
        std::fs::write(&config, rules).unwrap();
        let other = dir.path().join("sops-rules.yaml");
        std::fs::write(&other, rules).unwrap();
        let plain = b"apiVersion: v1\nkind: ConfigMap\n";
        let found = |name: &str, config: &Path| {
            problems(name, &dir.path().join(name), plain, Some(config)).unwrap()
        };
        // A plain file the rule covers is reported; the configuration is not, by its name or
        // as the file --config names.
        assert_eq!(found("app.yaml", &config).len(), 1);
        assert_eq!(found(".sops.yaml", &config), Vec::<String>::new());
        assert_eq!(found("sops-rules.yaml", &other), Vec::<String>::new());
        assert_eq!(found("sops-rules.yaml", &config).len(), 1);
    }

    #[test]
    fn paths_are_normalized_by_name() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), Path::new("/a/c"));
    }
}
