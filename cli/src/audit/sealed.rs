//! SealedSecrets: which of the given keys opens each, and whether that is the newest. A
//! ciphertext carries no key id (spec `sealed-secrets.md` §1.1, §1.3), so only trying the
//! private keys tells; without keys the SealedSecrets are counted and the report says why
//! they were not checked.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};
use sealbox_crypto::sealed::keyfile;
use sealbox_crypto::sealed::manifest::{object_ref, parse_documents};
use sealbox_crypto::sealed::{
    Certificate, PrivateKey, Scope, SealedSecret, SecretBytes, open_items, private_keys_from_pem,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::dates::format_rfc3339;
use super::finding::{Category, FileAudit, Finding};
use crate::io;

/// A key as the report names it.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyInfo {
    /// The key Secret's name in a backup, else the file it came from.
    pub name: String,
    pub fingerprint: String,
    /// From the key's certificate, when one was given beside it.
    pub not_before: Option<SystemTime>,
}

impl KeyInfo {
    fn describe(&self) -> String {
        match self.not_before {
            Some(t) => format!(
                "{} ({}, NotBefore {})",
                self.name,
                self.fingerprint,
                format_rfc3339(t)
            ),
            None => format!("{} ({}, no certificate given)", self.name, self.fingerprint),
        }
    }

    fn json(&self) -> Value {
        json!({
            "name": self.name,
            "fingerprint": self.fingerprint,
            "not_before": self.not_before.map(format_rfc3339),
        })
    }
}

/// The private keys of `--keys`, newest first, with what is known of each.
pub struct Keys {
    keys: Vec<PrivateKey>,
    info: Vec<KeyInfo>,
}

/// A key Secret or a List of them: what names the keys and dates them.
#[derive(Deserialize, Default)]
struct KeyDocument {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    metadata: KeyMeta,
    #[serde(default)]
    items: Vec<KeyDocument>,
    #[serde(default)]
    data: BTreeMap<String, SecretBytes>,
}

#[derive(Deserialize, Default)]
struct KeyMeta {
    #[serde(default)]
    name: String,
}

impl Keys {
    /// Reads every file as `sealbox unseal -k` does ([`keyfile::private_keys`]), then names
    /// and dates the keys from the Secrets' names and `tls.crt`, or the PEM certificates in
    /// the same file.
    pub fn load(paths: &[PathBuf]) -> Result<Keys> {
        let mut keys: Vec<PrivateKey> = Vec::new();
        let mut info: Vec<KeyInfo> = Vec::new();
        for path in paths {
            let text = io::read_text(Some(path), "--keys")?;
            let found = keyfile::private_keys(&text).with_context(|| path.display().to_string())?;
            let (names, dates) = names_and_dates(&text);
            for key in found {
                let fingerprint = key.fingerprint().to_owned();
                if info.iter().any(|i| i.fingerprint == fingerprint) {
                    continue;
                }
                info.push(KeyInfo {
                    name: names
                        .get(&fingerprint)
                        .cloned()
                        .unwrap_or_else(|| path.display().to_string()),
                    not_before: dates.get(&fingerprint).copied(),
                    fingerprint,
                });
                keys.push(key);
            }
        }
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by(|&a, &b| info[b].not_before.cmp(&info[a].not_before));
        Ok(Keys {
            keys: order.iter().map(|&i| keys[i].clone()).collect(),
            info: order.iter().map(|&i| info[i].clone()).collect(),
        })
    }

    fn given(&self) -> bool {
        !self.keys.is_empty()
    }
}

/// Fingerprint → key Secret name, and fingerprint → certificate NotBefore, from a key file.
fn names_and_dates(text: &str) -> (HashMap<String, String>, HashMap<String, SystemTime>) {
    let (mut names, mut dates) = (HashMap::new(), HashMap::new());
    let mut date = |cert: &str| {
        if let Ok(cert) = Certificate::from_pem(cert) {
            dates.insert(cert.public_key.fingerprint().to_owned(), cert.not_before);
        }
    };
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    for (at, _) in text.match_indices(BEGIN) {
        date(&text[at..]);
    }
    fn walk(doc: &KeyDocument, names: &mut HashMap<String, String>, date: &mut dyn FnMut(&str)) {
        for item in &doc.items {
            walk(item, names, date);
        }
        if doc.kind != "Secret" {
            return;
        }
        let text = |k: &str| {
            doc.data
                .get(k)
                .and_then(|b| std::str::from_utf8(b.as_slice()).ok())
        };
        if let Some(key) = text("tls.key") {
            for key in private_keys_from_pem(key).unwrap_or_default() {
                names.insert(key.fingerprint().to_owned(), doc.metadata.name.clone());
            }
        }
        if let Some(cert) = text("tls.crt") {
            date(cert);
        }
    }
    if !text.contains("-----BEGIN ")
        && let Ok(docs) = parse_documents::<KeyDocument>(text)
    {
        for doc in &docs {
            walk(doc, &mut names, &mut date);
        }
    }
    (names, dates)
}

/// How a SealedSecret stands with the keys given.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Every item opens with a newest key (or the keys' ages are not known).
    Current,
    /// Every item opens, some only with a key older than the newest.
    OldKey,
    /// These items open with no key given.
    NoKey(Vec<String>),
}

/// The verdict for one SealedSecret from which key (index into `keys`) opened each item.
pub fn verdict(opened: &[(String, Option<usize>)], keys: &[KeyInfo]) -> Verdict {
    let unopened: Vec<String> = opened
        .iter()
        .filter(|(_, key)| key.is_none())
        .map(|(item, _)| item.clone())
        .collect();
    if !unopened.is_empty() {
        return Verdict::NoKey(unopened);
    }
    let newest = keys.iter().filter_map(|k| k.not_before).max();
    let old = opened
        .iter()
        .filter_map(|(_, k)| *k)
        .any(|k| matches!((keys[k].not_before, newest), (Some(t), Some(newest)) if t < newest));
    if old {
        Verdict::OldKey
    } else {
        Verdict::Current
    }
}

/// The SealedSecrets of one file (YAML or JSON).
pub fn audit(
    file: &Path,
    text: &str,
    keys: &Keys,
    namespace: &str,
    out: &mut FileAudit,
) -> Result<()> {
    let manifest = file
        .extension()
        .is_some_and(|e| e == "yaml" || e == "yml" || e == "json");
    if !manifest || !text.contains("SealedSecret") {
        return Ok(());
    }
    let sealed: Vec<SealedSecret> = parse_documents::<SealedSecret>(text)
        .context("cannot be read as YAML or JSON")?
        .into_iter()
        .filter(|d| d.kind == "SealedSecret")
        .collect();
    if sealed.is_empty() {
        return Ok(());
    }
    if !keys.given() {
        out.unchecked_sealed += sealed.len();
        out.facts
            .insert("sealed_secrets".into(), json!(sealed.len()));
        out.facts.insert(
            "summary".into(),
            json!(format!(
                "{} SealedSecret(s), not checked (no --keys)",
                sealed.len()
            )),
        );
        return Ok(());
    }
    let mut records = Vec::new();
    for mut ss in sealed {
        let scope = Scope::from_annotations(&ss.metadata.annotations);
        if ss.metadata.namespace.is_empty() && scope != Scope::ClusterWide {
            ss.metadata.namespace = namespace.to_owned();
        }
        let object = object_ref(&ss.metadata);
        // The plaintexts are dropped (and wiped) here: only which key opened each item stays.
        let opened: Vec<(String, Option<usize>)> = open_items(&ss, &keys.keys)
            .into_iter()
            .map(|r| (r.item, r.outcome.ok().map(|(_, index)| index)))
            .collect();
        let mut used: Vec<usize> = opened.iter().filter_map(|(_, k)| *k).collect();
        used.sort_unstable();
        used.dedup();
        let described: Vec<String> = used.iter().map(|&k| keys.info[k].describe()).collect();
        let verdict = verdict(&opened, &keys.info);
        let status = match &verdict {
            Verdict::Current => "current",
            Verdict::OldKey => "old-key",
            Verdict::NoKey(_) => "no-key",
        };
        records.push(json!({
            "object": object,
            "status": status,
            "keys": used.iter().map(|&k| keys.info[k].json()).collect::<Vec<_>>(),
        }));
        match verdict {
            Verdict::Current => {}
            Verdict::OldKey => out.findings.push(
                Finding::new(
                    Category::SealedOldKey,
                    format!(
                        "SealedSecret {object} is sealed for {}, older than the newest key {}: needs reencrypt (`sealbox reencrypt {}`)",
                        described.join(" and "),
                        keys.info[0].describe(),
                        file.display()
                    ),
                )
                .with("object", object.clone())
                .with("keys", used.iter().map(|&k| keys.info[k].json()).collect::<Vec<_>>()),
            ),
            Verdict::NoKey(items) => out.findings.push(
                Finding::new(
                    Category::SealedNoKey,
                    format!(
                        "SealedSecret {object}: item(s) {} open with none of the {} key(s) given (sealed for another cluster or a lost key, or renamed/moved since sealing): re-seal it from its source",
                        items.join(", "),
                        keys.keys.len()
                    ),
                )
                .with("object", object.clone())
                .with("items", items),
            ),
        }
    }
    out.facts
        .insert("sealed_secrets".into(), Value::Array(records));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn key(name: &str, day: Option<u64>) -> KeyInfo {
        KeyInfo {
            name: name.into(),
            fingerprint: format!("SHA256:{name}"),
            not_before: day.map(|d| UNIX_EPOCH + Duration::from_secs(d * 86_400)),
        }
    }

    fn opened(keys: &[Option<usize>]) -> Vec<(String, Option<usize>)> {
        keys.iter()
            .enumerate()
            .map(|(i, k)| (format!("item{i}"), *k))
            .collect()
    }

    #[test]
    fn the_newest_key_is_current_an_older_one_needs_reencrypt() {
        let keys = [key("new", Some(30)), key("old", Some(0))];
        assert_eq!(
            verdict(&opened(&[Some(0), Some(0)]), &keys),
            Verdict::Current
        );
        assert_eq!(verdict(&opened(&[Some(1)]), &keys), Verdict::OldKey);
        // One item still on the old key is enough.
        assert_eq!(
            verdict(&opened(&[Some(0), Some(1)]), &keys),
            Verdict::OldKey
        );
    }

    #[test]
    fn an_item_no_key_opens_wins() {
        let keys = [key("new", Some(30)), key("old", Some(0))];
        assert_eq!(
            verdict(&opened(&[Some(1), None]), &keys),
            Verdict::NoKey(vec!["item1".into()])
        );
    }

    #[test]
    fn keys_without_certificates_are_never_called_old() {
        let keys = [key("a.pem", None), key("b.pem", None)];
        assert_eq!(verdict(&opened(&[Some(1)]), &keys), Verdict::Current);
        let mixed = [key("dated", Some(5)), key("undated", None)];
        assert_eq!(verdict(&opened(&[Some(1)]), &mixed), Verdict::Current);
    }

    #[test]
    fn a_key_is_described_by_name_fingerprint_and_not_before() {
        assert_eq!(
            key("sealed-secrets-keyab12", Some(1)).describe(),
            "sealed-secrets-keyab12 (SHA256:sealed-secrets-keyab12, NotBefore 1970-01-02T00:00:00Z)"
        );
        assert!(
            key("k.pem", None)
                .describe()
                .contains("no certificate given")
        );
    }
}
