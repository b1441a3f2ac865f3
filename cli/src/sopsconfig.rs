//! `.sops.yaml` creation rules (spec `sops.md` §9): found from the working directory upwards
//! (or `--config` / `SOPS_CONFIG`), first rule whose `path_regex` matches the file wins, and
//! command-line keys and selectors override the rule's.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use regex::Regex;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::exit::{ERROR_CONFLICTING_PARAMETERS, ERROR_GENERIC, Exit};

#[derive(Deserialize, Default)]
struct Config {
    #[serde(default)]
    creation_rules: Vec<Rule>,
}

/// One creation rule; key kinds other than age are read so they can be refused by name.
#[derive(Deserialize, Default, Clone)]
pub struct Rule {
    #[serde(default)]
    path_regex: String,
    #[serde(default)]
    age: Option<Strings>,
    #[serde(default)]
    pgp: Option<Strings>,
    #[serde(default)]
    kms: Option<IgnoredAny>,
    #[serde(default)]
    gcp_kms: Option<IgnoredAny>,
    #[serde(default)]
    azure_keyvault: Option<IgnoredAny>,
    #[serde(default)]
    hc_vault_transit_uri: Option<IgnoredAny>,
    #[serde(default)]
    hckms: Option<IgnoredAny>,
    #[serde(default)]
    key_groups: Vec<Group>,
    #[serde(default)]
    pub shamir_threshold: usize,
    #[serde(default)]
    pub mac_only_encrypted: bool,
    #[serde(default)]
    unencrypted_suffix: Option<String>,
    #[serde(default)]
    encrypted_suffix: Option<String>,
    #[serde(default)]
    unencrypted_regex: Option<String>,
    #[serde(default)]
    encrypted_regex: Option<String>,
    #[serde(default)]
    unencrypted_comment_regex: Option<String>,
    #[serde(default)]
    encrypted_comment_regex: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
struct Group {
    #[serde(default)]
    age: Option<Strings>,
    #[serde(default)]
    merge: Vec<Group>,
    #[serde(default)]
    pgp: Option<IgnoredAny>,
    #[serde(default)]
    kms: Option<IgnoredAny>,
    #[serde(default)]
    gcp_kms: Option<IgnoredAny>,
    #[serde(default)]
    azure_keyvault: Option<IgnoredAny>,
    #[serde(default)]
    hc_vault: Option<IgnoredAny>,
    #[serde(default)]
    hckms: Option<IgnoredAny>,
}

/// A comma-separated string or a list of them, as sops accepts for key lists.
#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum Strings {
    One(String),
    Many(Vec<String>),
}

impl Strings {
    fn split(&self) -> Vec<String> {
        let items: Vec<&String> = match self {
            Strings::One(s) => vec![s],
            Strings::Many(v) => v.iter().collect(),
        };
        items
            .into_iter()
            .flat_map(|s| s.split(','))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    }
}

impl Group {
    fn foreign_kinds(&self) -> Vec<&'static str> {
        let mut kinds: Vec<&'static str> = [
            ("pgp", self.pgp.is_some()),
            ("kms", self.kms.is_some()),
            ("gcp_kms", self.gcp_kms.is_some()),
            ("azure_keyvault", self.azure_keyvault.is_some()),
            ("hc_vault", self.hc_vault.is_some()),
            ("hckms", self.hckms.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(kind, _)| kind)
        .collect();
        for nested in &self.merge {
            kinds.extend(nested.foreign_kinds());
        }
        kinds
    }

    fn recipients(&self) -> Vec<String> {
        let mut out = self.age.as_ref().map(Strings::split).unwrap_or_default();
        for nested in &self.merge {
            out.extend(nested.recipients());
        }
        out.dedup();
        out
    }
}

impl Rule {
    /// age recipients per key group.
    pub fn groups(&self) -> Vec<Vec<String>> {
        if self.key_groups.is_empty() {
            vec![self.age.as_ref().map(Strings::split).unwrap_or_default()]
        } else {
            self.key_groups.iter().map(Group::recipients).collect()
        }
    }

    /// The kinds of non-age keys the rule names: sealbox cannot encrypt for them, so a file
    /// made from this rule would lock their holders out.
    pub fn foreign_kinds(&self) -> Vec<&'static str> {
        let mut kinds = Vec::new();
        if self.pgp.as_ref().is_some_and(|p| !p.split().is_empty()) {
            kinds.push("pgp");
        }
        for (kind, set) in [
            ("kms", self.kms.is_some()),
            ("gcp_kms", self.gcp_kms.is_some()),
            ("azure_keyvault", self.azure_keyvault.is_some()),
            ("hc_vault", self.hc_vault_transit_uri.is_some()),
            ("hckms", self.hckms.is_some()),
        ] {
            if set {
                kinds.push(kind);
            }
        }
        for group in &self.key_groups {
            kinds.extend(group.foreign_kinds());
        }
        kinds.sort_unstable();
        kinds.dedup();
        kinds
    }

    /// The selectors the rule sets, as `(metadata name, value)`.
    fn selectors(&self) -> Vec<(&'static str, &String)> {
        [
            ("unencrypted_suffix", &self.unencrypted_suffix),
            ("encrypted_suffix", &self.encrypted_suffix),
            ("unencrypted_regex", &self.unencrypted_regex),
            ("encrypted_regex", &self.encrypted_regex),
            ("unencrypted_comment_regex", &self.unencrypted_comment_regex),
            ("encrypted_comment_regex", &self.encrypted_comment_regex),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.as_ref().map(|v| (name, v)))
        .collect()
    }

    fn selector_count(&self) -> usize {
        self.selectors().len()
    }

    /// The rule's selector, as `(metadata name, value)`.
    pub fn selector(&self) -> Option<(String, String)> {
        self.selectors()
            .first()
            .map(|(name, v)| (name.to_string(), v.to_string()))
    }
}

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
    if !has_creation_rules(config)? {
        // A config with only `stores:` or `destination_rules` counts as none.
        return Ok(None);
    }
    find_rule(config, file)?.map(Some).ok_or_else(|| {
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

fn load(config: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("cannot read {}", config.display()))?;
    serde_saphyr::from_str(&text).map_err(|e| {
        Exit::new(
            ERROR_GENERIC,
            format!("error loading config {}: {e}", config.display()),
        )
        .into()
    })
}

fn has_creation_rules(config: &Path) -> Result<bool> {
    Ok(!load(config)?.creation_rules.is_empty())
}

/// The first creation rule of `config` whose `path_regex` matches `file` (relative to the
/// config's directory), if any.
pub fn find_rule(config: &Path, file: &str) -> Result<Option<Rule>> {
    let parsed = load(config)?;
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
    let relative = relative.to_string_lossy();
    for rule in &parsed.creation_rules {
        let regex = Regex::new(&rule.path_regex).map_err(|e| {
            Exit::new(
                ERROR_GENERIC,
                format!(
                    "{}: invalid path_regex {:?}: {e}",
                    config.display(),
                    rule.path_regex
                ),
            )
        })?;
        if regex.is_match(&relative) {
            if rule.selector_count() > 1 {
                return Err(Exit::new(
                    ERROR_CONFLICTING_PARAMETERS,
                    format!(
                        "{}: a creation rule may set only one of the *_suffix / *_regex selectors",
                        config.display()
                    ),
                )
                .into());
            }
            return Ok(Some(rule.clone()));
        }
    }
    Ok(None)
}
