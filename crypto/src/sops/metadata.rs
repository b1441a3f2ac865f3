//! The `sops` metadata block (spec `sops.md` §6): recipients with their wrapped data key,
//! key groups, `lastmodified`, `mac`, the selector and `version`. YAML and JSON keep it as a
//! nested object; dotenv and INI flatten it into `age__list_0__map_enc`-style keys (spec `sops.md` §6.2).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value as Json};

use super::error::Error;
use super::rules::Selector;

/// The sops version written into new files. sops requires a parseable version and treats
/// values below 3.3.0 or starting with `1.` specially, so this is a real sops release whose
/// file format sealbox writes (spec `sops.md` §6.4).
pub const SOPS_VERSION: &str = "3.13.2";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub age: Vec<AgeKey>,
    #[serde(flatten)]
    pub foreign: ForeignKeys,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub key_groups: Vec<KeyGroup>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub shamir_threshold: usize,
    #[serde(default, deserialize_with = "nullable")]
    pub lastmodified: String,
    #[serde(default, deserialize_with = "nullable")]
    pub mac: String,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub unencrypted_suffix: String,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub encrypted_suffix: String,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub unencrypted_regex: String,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub encrypted_regex: String,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub unencrypted_comment_regex: String,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub encrypted_comment_regex: String,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_false"
    )]
    pub mac_only_encrypted: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub version: String,
}

/// One age recipient and the data key (or Shamir share) wrapped for it, as an armored age file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgeKey {
    #[serde(default, deserialize_with = "nullable")]
    pub enc: String,
    #[serde(default, deserialize_with = "nullable")]
    pub recipient: String,
}

/// Master keys of other kinds. sealbox opens files with age only; these are counted so an
/// error can say which kind a file needs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ForeignKeys {
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub pgp: Vec<ForeignKey>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub kms: Vec<ForeignKey>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub gcp_kms: Vec<ForeignKey>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub azure_kv: Vec<ForeignKey>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub hc_vault: Vec<ForeignKey>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub hckms: Vec<ForeignKey>,
}

impl ForeignKeys {
    /// The kinds present, e.g. `["pgp"]`.
    pub fn kinds(&self) -> Vec<&'static str> {
        [
            ("pgp", &self.pgp),
            ("kms", &self.kms),
            ("gcp_kms", &self.gcp_kms),
            ("azure_kv", &self.azure_kv),
            ("hc_vault", &self.hc_vault),
            ("hckms", &self.hckms),
        ]
        .into_iter()
        .filter(|(_, keys)| !keys.is_empty())
        .map(|(kind, _)| kind)
        .collect()
    }
}

/// A non-age master key, kept field for field so rewriting the file leaves it intact for its
/// holder (sealbox cannot use it).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ForeignKey(pub serde_json::Map<String, Json>);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KeyGroup {
    #[serde(default, deserialize_with = "nullable")]
    pub age: Vec<AgeKey>,
    #[serde(flatten)]
    pub foreign: ForeignKeys,
}

impl Metadata {
    /// Refuses to replace the data key's wrapping when holders of non-age keys would lose
    /// access: sealbox can wrap keys for age only.
    pub fn check_age_only(&self, action: &str) -> Result<(), Error> {
        let kinds: Vec<&str> = self
            .groups()
            .iter()
            .flat_map(|g| g.foreign.kinds())
            .collect();
        if kinds.is_empty() {
            return Ok(());
        }
        Err(Error::Metadata(format!(
            "this file's data key is also wrapped for {} keys, which sealbox cannot wrap a key for: {action} it with sops, or remove those keys first",
            kinds.join(", ")
        )))
    }

    /// The key groups to open: the top-level lists as one group when any is set, else
    /// `key_groups`.
    pub fn groups(&self) -> Vec<KeyGroup> {
        if !self.age.is_empty() || !self.foreign.kinds().is_empty() {
            vec![KeyGroup {
                age: self.age.clone(),
                foreign: self.foreign.clone(),
            }]
        } else {
            self.key_groups.clone()
        }
    }

    /// Takes the selector and `mac_only_encrypted` of another file's metadata.
    pub fn copy_rules_from(&mut self, other: &Metadata) {
        self.unencrypted_suffix = other.unencrypted_suffix.clone();
        self.encrypted_suffix = other.encrypted_suffix.clone();
        self.unencrypted_regex = other.unencrypted_regex.clone();
        self.encrypted_regex = other.encrypted_regex.clone();
        self.unencrypted_comment_regex = other.unencrypted_comment_regex.clone();
        self.encrypted_comment_regex = other.encrypted_comment_regex.clone();
        self.mac_only_encrypted = other.mac_only_encrypted;
    }

    /// Stores `selector` (a new file's metadata has none yet).
    pub fn set_selector(&mut self, selector: &Selector) -> Result<(), Error> {
        let field = match selector {
            Selector::UnencryptedSuffix(_) => &mut self.unencrypted_suffix,
            Selector::EncryptedSuffix(_) => &mut self.encrypted_suffix,
            Selector::UnencryptedRegex(_) => &mut self.unencrypted_regex,
            Selector::EncryptedRegex(_) => &mut self.encrypted_regex,
            Selector::UnencryptedCommentRegex(_) => &mut self.unencrypted_comment_regex,
            Selector::EncryptedCommentRegex(_) => &mut self.encrypted_comment_regex,
        };
        *field = selector.value().to_owned();
        self.selector().map(|_| ())
    }

    /// The file's selector (the default `unencrypted_suffix: _unencrypted` when none is set).
    pub fn selector(&self) -> Result<Selector, Error> {
        Selector::from_fields(&[
            ("unencrypted_suffix", &self.unencrypted_suffix),
            ("encrypted_suffix", &self.encrypted_suffix),
            ("unencrypted_regex", &self.unencrypted_regex),
            ("encrypted_regex", &self.encrypted_regex),
            ("unencrypted_comment_regex", &self.unencrypted_comment_regex),
            ("encrypted_comment_regex", &self.encrypted_comment_regex),
        ])
    }

    /// The metadata as JSON with every object's keys sorted, the order sops 3.13 writes.
    pub fn to_json(&self) -> Json {
        // serde_json's map is ordered by key, which is exactly the order wanted.
        serde_json::to_value(self).expect("metadata serialises")
    }

    /// The flattened form for dotenv and INI, sorted by flattened key (sops 3.8+).
    pub fn to_flat(&self) -> Vec<(String, String)> {
        fn walk(prefix: &str, value: &Json, out: &mut Vec<(String, String)>) {
            match value {
                Json::Object(map) => {
                    for (k, v) in map {
                        let key = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}__map_{k}")
                        };
                        walk(&key, v, out);
                    }
                }
                Json::Array(items) => {
                    for (i, v) in items.iter().enumerate() {
                        walk(&format!("{prefix}__list_{i}"), v, out);
                    }
                }
                Json::String(s) => out.push((prefix.to_owned(), s.clone())),
                Json::Null => {}
                other => out.push((prefix.to_owned(), other.to_string())),
            }
        }
        let mut out = Vec::new();
        walk("", &self.to_json(), &mut out);
        out.sort();
        out
    }

    /// Rebuilds the metadata from flattened `(key, value)` pairs (prefix already removed):
    /// `__map_` before a mapping key, `__list_` before a list index (spec `sops.md` §6.2).
    pub fn from_flat(pairs: &[(String, String)]) -> Result<Metadata, Error> {
        let mut root = Json::Object(Map::new());
        for (key, value) in pairs {
            let leaf = match key.as_str() {
                "shamir_threshold" => Json::from(value.parse::<u64>().map_err(|_| {
                    Error::Metadata(format!("shamir_threshold {value:?} is not a number"))
                })?),
                "mac_only_encrypted" => Json::Bool(value == "true"),
                _ => Json::String(value.clone()),
            };
            insert(&mut root, &tokens(key)?, leaf, key)?;
        }
        serde_json::from_value(lists(root)).map_err(Error::MalformedMetadata)
    }
}

enum Token {
    Key(String),
    Index(usize),
}

fn tokens(key: &str) -> Result<Vec<Token>, Error> {
    let mut out = Vec::new();
    let mut rest = key;
    let mut next = Token::Key(String::new());
    loop {
        let cut = [rest.find("__map_"), rest.find("__list_")]
            .into_iter()
            .flatten()
            .min();
        let (part, tail) = match cut {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        out.push(match next {
            Token::Key(_) => Token::Key(part.to_owned()),
            Token::Index(_) => Token::Index(part.parse().map_err(|_| {
                Error::Metadata(format!("sops metadata key {key:?} has a bad list index"))
            })?),
        });
        if let Some(t) = tail.strip_prefix("__map_") {
            next = Token::Key(String::new());
            rest = t;
        } else if let Some(t) = tail.strip_prefix("__list_") {
            next = Token::Index(0);
            rest = t;
        } else {
            return Ok(out);
        }
    }
}

/// Lists are built as objects keyed by index first, then turned into arrays by [`lists`].
fn insert(node: &mut Json, path: &[Token], leaf: Json, key: &str) -> Result<(), Error> {
    let clash = || Error::Metadata(format!("sops metadata key {key:?} clashes with another"));
    let Json::Object(map) = node else {
        return Err(clash());
    };
    let name = match &path[0] {
        Token::Key(k) => k.clone(),
        Token::Index(i) => format!("#{i:010}"),
    };
    if path.len() == 1 {
        if map.insert(name, leaf).is_some() {
            return Err(clash());
        }
        return Ok(());
    }
    let child = map.entry(name).or_insert_with(|| Json::Object(Map::new()));
    insert(child, &path[1..], leaf, key)
}

fn lists(node: Json) -> Json {
    match node {
        Json::Object(map) if !map.is_empty() && map.keys().all(|k| k.starts_with('#')) => {
            let mut items: Vec<(String, Json)> = map.into_iter().collect();
            items.sort_by(|a, b| a.0.cmp(&b.0));
            Json::Array(items.into_iter().map(|(_, v)| lists(v)).collect())
        }
        Json::Object(map) => Json::Object(map.into_iter().map(|(k, v)| (k, lists(v))).collect()),
        other => other,
    }
}

fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sops::cipher::DataKey;

    #[test]
    fn flattening_round_trips() {
        let key = DataKey::generate().unwrap();
        let r = age::x25519::Identity::generate().to_public().to_string();
        let mut meta = Metadata::for_recipients(&[vec![r.clone()], vec![r]], 0, &key).unwrap();
        meta.lastmodified = "2026-01-01T00:00:00Z".into();
        meta.mac_only_encrypted = true;
        let flat = meta.to_flat();
        assert!(
            flat.iter()
                .any(|(k, v)| k == "shamir_threshold" && v == "2")
        );
        assert!(
            flat.iter()
                .any(|(k, _)| k == "key_groups__list_1__map_age__list_0__map_enc")
        );
        let back = Metadata::from_flat(&flat).unwrap();
        assert_eq!(back.to_json(), meta.to_json());
    }

    #[test]
    fn unflattens_lists_groups_and_numbers() {
        let pairs: Vec<(String, String)> = [
            (
                "key_groups__list_1__map_age__list_0__map_recipient",
                "age1b",
            ),
            (
                "key_groups__list_0__map_age__list_0__map_recipient",
                "age1a",
            ),
            ("key_groups__list_0__map_age__list_0__map_enc", "A"),
            ("key_groups__list_1__map_age__list_0__map_enc", "B"),
            ("shamir_threshold", "2"),
            ("lastmodified", "2026-01-01T00:00:00Z"),
            ("mac_only_encrypted", "true"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let m = Metadata::from_flat(&pairs).unwrap();
        assert_eq!(m.shamir_threshold, 2);
        assert!(m.mac_only_encrypted);
        let groups = m.groups();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].age[0].recipient, "age1a");
        assert_eq!(groups[1].age[0].enc, "B");
    }
}
