//! `.sops.yaml` creation rules (spec `sops.md` §9): the file's model and the choice of the
//! rule for a path. Pure: finding the file (upwards from the working directory, `--config`,
//! `SOPS_CONFIG`) and reading it is the caller's job.
//!
//! ```
//! use sealbox_crypto::sops::config::Config;
//! let config = Config::parse(
//!     "creation_rules:\n  - path_regex: \\.env$\n    encrypted_regex: ^PASS\n    age: age1a, age1b\n",
//! )
//! .unwrap();
//! let rule = config.find_rule("app/prod.env").unwrap().unwrap();
//! assert_eq!(rule.groups(), vec![vec!["age1a".to_owned(), "age1b".to_owned()]]);
//! assert_eq!(rule.selector().unwrap().unwrap().value(), "^PASS");
//! assert!(config.find_rule("app/values.yaml").unwrap().is_none());
//! ```

use regex::Regex;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::error::Error;
use super::rules::{SELECTOR_FIELDS, Selector};

/// A parsed `.sops.yaml`: `creation_rules` and `stores` (`destination_rules` are read past).
#[derive(Deserialize, Default)]
pub struct Config {
    #[serde(default)]
    creation_rules: Vec<Rule>,
    #[serde(default)]
    stores: Stores,
}

/// `stores:` (sops `config/config.go: StoresConfig`): an indent for `yaml`, `json` and
/// `json_binary`; `dotenv` and `ini` take no settings.
#[derive(Deserialize, Default)]
struct Stores {
    #[serde(default)]
    yaml: Option<StoreIndent>,
    #[serde(default)]
    json: Option<StoreIndent>,
    #[serde(default)]
    json_binary: Option<StoreIndent>,
    // `dotenv: {}` and `ini: {}` are read past like any other key.
}

#[derive(Deserialize, Default)]
struct StoreIndent {
    #[serde(default)]
    indent: Option<i64>,
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

    /// The selectors the rule sets, as `(field name, value)`.
    fn selectors(&self) -> Vec<(&'static str, &str)> {
        SELECTOR_FIELDS
            .into_iter()
            .zip([
                &self.unencrypted_suffix,
                &self.encrypted_suffix,
                &self.unencrypted_regex,
                &self.encrypted_regex,
                &self.unencrypted_comment_regex,
                &self.encrypted_comment_regex,
            ])
            .filter_map(|(name, v)| v.as_deref().map(|v| (name, v)))
            .collect()
    }

    /// The rule's selector, if it sets one; its regex must compile.
    pub fn selector(&self) -> Result<Option<Selector>, Error> {
        self.selectors()
            .first()
            .map(|(name, value)| Selector::new(name, value))
            .transpose()
    }
}

impl Config {
    /// Parses the text of a `.sops.yaml`.
    pub fn parse(text: &str) -> Result<Config, Error> {
        serde_saphyr::from_str(text).map_err(Error::ConfigSyntax)
    }

    /// The indentation `stores:` asks for (sops's defaults for what it leaves out).
    pub fn layout(&self) -> super::layout::Layout {
        let d = super::layout::Layout::default();
        let get = |s: &Option<StoreIndent>, default: i64| {
            s.as_ref().and_then(|s| s.indent).unwrap_or(default)
        };
        super::layout::Layout {
            yaml_indent: get(&self.stores.yaml, d.yaml_indent),
            json_indent: get(&self.stores.json, d.json_indent),
            json_binary_indent: get(&self.stores.json_binary, d.json_binary_indent),
        }
    }

    /// Whether the file has any creation rule (one with only `stores:` or
    /// `destination_rules` has none, and sops treats it as no config for encryption).
    pub fn has_creation_rules(&self) -> bool {
        !self.creation_rules.is_empty()
    }

    /// The first creation rule whose `path_regex` matches `path` (relative to the config's
    /// directory), if any. Rules before it must have valid regexes; the rule found may set at
    /// most one selector.
    pub fn find_rule(&self, path: &str) -> Result<Option<&Rule>, Error> {
        for rule in &self.creation_rules {
            let regex = Regex::new(&rule.path_regex).map_err(|source| Error::InvalidPathRegex {
                pattern: rule.path_regex.clone(),
                source: source.into(),
            })?;
            if regex.is_match(path) {
                if rule.selectors().len() > 1 {
                    return Err(Error::RuleSelectors);
                }
                return Ok(Some(rule));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_give_the_layout() {
        let config = Config::parse(
            "stores:\n  yaml:\n    indent: 2\n  json_binary: {indent: 0}\n  dotenv: {}\n  ini: {}\n",
        )
        .unwrap();
        assert!(!config.has_creation_rules());
        let layout = config.layout();
        assert_eq!(
            (
                layout.yaml_indent,
                layout.json_indent,
                layout.json_binary_indent
            ),
            (2, -1, 0)
        );
        assert_eq!(
            Config::parse("creation_rules: []\n").unwrap().layout(),
            crate::sops::Layout::default()
        );
    }

    #[test]
    fn key_groups_merge_and_foreign_keys_are_named() {
        let config = Config::parse(
            "creation_rules:\n  - path_regex: x\n    shamir_threshold: 2\n    key_groups:\n      - age: [a1]\n        pgp: [F]\n      - merge:\n          - age: a2,a3\n",
        )
        .unwrap();
        let rule = config.find_rule("x").unwrap().unwrap();
        assert_eq!(
            rule.groups(),
            vec![vec!["a1".to_owned()], vec!["a2".into(), "a3".into()]]
        );
        assert_eq!(rule.shamir_threshold, 2);
        assert_eq!(rule.foreign_kinds(), vec!["pgp"]);
    }

    #[test]
    fn bad_rules_are_errors() {
        let two = Config::parse(
            "creation_rules:\n  - path_regex: x\n    encrypted_regex: a\n    unencrypted_suffix: b\n",
        )
        .unwrap();
        assert!(matches!(two.find_rule("x"), Err(Error::RuleSelectors)));
        let regex = Config::parse("creation_rules:\n  - path_regex: '('\n").unwrap();
        assert!(matches!(
            regex.find_rule("x"),
            Err(Error::InvalidPathRegex { .. })
        ));
        assert!(matches!(
            Config::parse("creation_rules: 3\n"),
            Err(Error::ConfigSyntax(_))
        ));
        let bad = Config::parse("creation_rules:\n  - path_regex: x\n    encrypted_regex: '('\n")
            .unwrap();
        let rule = bad.find_rule("x").unwrap().unwrap();
        assert!(matches!(rule.selector(), Err(Error::InvalidRegex { .. })));
    }
}
