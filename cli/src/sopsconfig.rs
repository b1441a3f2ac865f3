//! Finding and reading `.sops.yaml` (spec `sops.md` §9): `--config` / `SOPS_CONFIG`, else
//! from the working directory upwards. What the file says and which creation rule applies to a
//! path is [`sealbox_crypto::sops::config`]; command-line keys and selectors override the
//! rule's (in `sops/files.rs`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sealbox_crypto::sops::Layout;
use sealbox_crypto::sops::config::{Config, Rule};

use crate::exit::{ERROR_GENERIC, Exit};

/// `--config` (or `SOPS_CONFIG`, through the flag), else `.sops.yaml` in the working
/// directory or up to 100 parents.
pub fn find(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_owned());
    }
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .take(101)
        .map(|dir| dir.join(".sops.yaml"))
        .find(|p| p.is_file())
}

/// The first creation rule of `config` matching `file`. A config without a matching rule is
/// an error, as in sops.
pub fn matching_rule(config: &Path, file: &str) -> Result<Option<Rule>> {
    let parsed = load(config)?;
    if !parsed.has_creation_rules() {
        // A config with only `stores:` or `destination_rules` counts as none.
        return Ok(None);
    }
    rule_in(&parsed, config, file)?.map(Some).ok_or_else(|| {
        Exit::new(
            ERROR_GENERIC,
            format!(
                "error loading config: no matching creation rules found in {} for {file}",
                config.display()
            ),
        )
        .into()
    })
}

/// The indentation `config`'s `stores:` section asks for.
pub fn layout(config: &Path) -> Result<Layout> {
    Ok(load(config)?.layout())
}

/// The first creation rule of `config` whose `path_regex` matches `file` (relative to the
/// config's directory), if any.
pub fn find_rule(config: &Path, file: &str) -> Result<Option<Rule>> {
    rule_in(&load(config)?, config, file)
}

fn load(config: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("cannot read {}", config.display()))?;
    Config::parse(&text).with_context(|| format!("error loading config {}", config.display()))
}

fn rule_in(parsed: &Config, config: &Path, file: &str) -> Result<Option<Rule>> {
    let base = match config.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let absolute = std::env::current_dir()
        .map(|cwd| cwd.join(file))
        .unwrap_or_else(|_| PathBuf::from(file));
    let relative = absolute
        .strip_prefix(base.canonicalize().unwrap_or(base.to_owned()))
        .map(Path::to_path_buf)
        .unwrap_or(absolute.clone());
    let rule = parsed
        .find_rule(&relative.to_string_lossy())
        .with_context(|| config.display().to_string())?;
    Ok(rule.cloned())
}
