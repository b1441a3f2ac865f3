//! `sealbox keys backup` / `sealbox keys restore`: the controller's key Secrets (spec
//! `sealed-secrets.md` §1.4, §4.8), saved as the `List` the upstream runbook's
//! `kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml` writes, and
//! put back into a cluster (the same one, or another that must open the same SealedSecrets).
//! The backup also works offline: `sealbox unseal -k main.key`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use sealbox_crypto::sealed::SecretBytes;
use sealbox_crypto::sealed::keyfile::{self, KEY_LABEL};
use sealbox_crypto::sealed::manifest::{parse_documents, to_yaml};
use serde::{Deserialize, Serialize};

use crate::io::{self, Readers};
use crate::sealed::controller::ControllerArgs;

/// The pre-0.9 single key's name.
const LEGACY_KEY: &str = "sealed-secrets-key";

/// A key Secret as backed up and restored: server-set fields are dropped.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeySecret {
    #[serde(default = "v1")]
    api_version: String,
    #[serde(default = "secret_kind")]
    kind: String,
    #[serde(default)]
    metadata: KeyMeta,
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    type_: String,
    #[serde(default)]
    data: BTreeMap<String, SecretBytes>,
}

#[derive(Serialize, Deserialize, Default)]
struct KeyMeta {
    #[serde(default)]
    name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    namespace: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyList {
    #[serde(default = "v1")]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    items: Vec<KeySecret>,
}

fn v1() -> String {
    "v1".into()
}

fn secret_kind() -> String {
    "Secret".into()
}

/// Writes every key Secret of the controller's namespace (any label value, and the legacy
/// one) to `output` (0600) or stdout.
pub fn backup(controller: &ControllerArgs, output: Option<&Path>) -> Result<()> {
    let ns = &controller.controller_namespace;
    let api = controller.cluster.connect()?;
    let reply = api.get(&format!(
        "/api/v1/namespaces/{ns}/secrets?labelSelector={}",
        KEY_LABEL.replace('/', "%2F")
    ))?;
    if reply.status != 200 {
        bail!(
            "cannot list the key Secrets in namespace {ns}: HTTP {}",
            reply.status
        );
    }
    let mut list: KeyList =
        serde_json::from_str(&reply.body).context("the API server sent a malformed list")?;
    let legacy = api.get(&format!("/api/v1/namespaces/{ns}/secrets/{LEGACY_KEY}"))?;
    if legacy.status == 200 && !list.items.iter().any(|s| s.metadata.name == LEGACY_KEY) {
        list.items
            .push(serde_json::from_str(&legacy.body).context("malformed legacy key Secret")?);
    }
    if list.items.is_empty() {
        bail!(
            "no key Secrets in namespace {ns}: is the controller installed there? (--controller-namespace)"
        );
    }
    list.kind = "List".into();
    for item in &mut list.items {
        item.api_version = v1();
        item.kind = secret_kind();
    }
    let count = list.items.len();
    io::write_output(output, to_yaml(&list)?.as_bytes(), Readers::Owner)?;
    eprintln!(
        "backed up {count} key(s) from namespace {ns}: keep the file safe, it opens every SealedSecret of this cluster; back up again after each renewal"
    );
    Ok(())
}

/// Creates the key Secrets of a backup in the controller's namespace. Every key is checked
/// before anything is written; keys already there are left as they are.
pub fn restore(controller: &ControllerArgs, file: &Path) -> Result<()> {
    let ns = &controller.controller_namespace;
    let text = io::read_text(Some(file), "FILE")?;
    keyfile::private_keys(&text).with_context(|| file.display().to_string())?;
    // A List (or several appended with >>), or Secret documents: each document read as both.
    let lists: Vec<KeyList> = parse_documents(&text)?;
    let singles: Vec<KeySecret> = parse_documents(&text)?;
    let mut secrets = Vec::new();
    for (list, single) in lists.into_iter().zip(singles) {
        match list.kind.as_str() {
            "List" | "SecretList" => secrets.extend(list.items),
            "Secret" => secrets.push(single),
            _ => {}
        }
    }
    let api = controller.cluster.connect()?;
    let (mut restored, mut present) = (0usize, 0usize);
    for mut secret in secrets {
        if !secret.data.contains_key("tls.key") {
            continue;
        }
        secret.metadata.namespace = ns.clone();
        let name = secret.metadata.name.clone();
        let reply = api.post(
            &format!("/api/v1/namespaces/{ns}/secrets"),
            &serde_json::to_string(&secret)?,
        )?;
        match reply.status {
            200 | 201 => restored += 1,
            409 => present += 1,
            other => bail!(
                "cannot create key Secret {ns}/{name}: HTTP {other}: {} (restored {restored} so far)",
                reply.body.trim()
            ),
        }
    }
    eprintln!(
        "restored {restored} key(s) into namespace {ns} ({present} already there); sealbox-controller adopts them at once, a sealed-secrets controller needs a restart"
    );
    Ok(())
}
