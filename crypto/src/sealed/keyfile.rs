//! Private-key files as kubeseal's `--recovery-private-key` accepts them: PEM key files, a
//! Secret (YAML or JSON) with `data."tls.key"`, or the backup `List` that
//! `kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml` writes
//! (several documents appended with `>>` work too).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::error::Error;
use super::keys::{PrivateKey, private_keys_from_pem};
use super::manifest::SecretBytes;
use super::manifest::parse_documents;

/// The label on the controller's key Secrets (`active` for keys in use), spec `sealed-secrets.md` §1.4.
pub const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";

/// A Secret or a List of them; only what key loading needs.
#[derive(Deserialize, Default)]
struct KeyDocument {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    items: Vec<KeyDocument>,
    #[serde(default)]
    data: BTreeMap<String, SecretBytes>,
}

/// Every private key in one file's text. A file with no key at all is an error, so a wrong
/// path or an empty backup is noticed.
pub fn private_keys(text: &str) -> Result<Vec<PrivateKey>, Error> {
    if text.contains("AGE-SECRET-KEY-") {
        return Err(Error::Key(
            "this is an age identity, which opens SOPS files (sealbox decrypt); SealedSecrets open with the controller's RSA keys: PEM, a Secret with tls.key, or the backup List".into(),
        ));
    }
    if !text.contains("-----BEGIN ") && !looks_like_manifest(text) {
        return Err(Error::Key(
            "no RSA private key found (expected PEM, a Secret with tls.key, or a List of them)"
                .into(),
        ));
    }
    let keys = if text.contains("-----BEGIN ") && !looks_like_manifest(text) {
        private_keys_from_pem(text)?
    } else {
        let docs: Vec<KeyDocument> = parse_documents(text)?;
        let mut keys = Vec::new();
        for doc in &docs {
            collect(doc, &mut keys)?;
        }
        keys
    };
    if keys.is_empty() {
        return Err(Error::Key(
            "no RSA private key found (expected PEM, a Secret with tls.key, or a List of them)"
                .into(),
        ));
    }
    Ok(keys)
}

fn collect(doc: &KeyDocument, keys: &mut Vec<PrivateKey>) -> Result<(), Error> {
    match doc.kind.as_str() {
        "List" | "SecretList" => doc.items.iter().try_for_each(|item| collect(item, keys)),
        "Secret" => {
            let Some(pem) = doc.data.get("tls.key") else {
                return Ok(());
            };
            let text = std::str::from_utf8(pem.as_slice())
                .map_err(|_| Error::Key("tls.key is not PEM text".into()))?;
            keys.extend(private_keys_from_pem(text)?);
            Ok(())
        }
        other => Err(Error::Key(format!(
            "expected a Secret or a List of Secrets holding tls.key, found kind {other:?}"
        ))),
    }
}

/// A PEM file has no `kind:`; a manifest's PEM is base64 inside `data`, so a literal BEGIN
/// line only shows up in manifests via `stringData`, which key backups never use.
fn looks_like_manifest(text: &str) -> bool {
    text.trim_start().starts_with('{')
        || text.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with("kind:") || l.starts_with("\"kind\"")
        })
}
