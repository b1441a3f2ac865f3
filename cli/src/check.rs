//! `sealbox check PATHS…`: a pre-commit guard. It fails, naming the file, when a Kubernetes
//! Secret with data (in any document of a manifest) or a file that a `.sops.yaml` creation
//! rule covers is about to be committed unencrypted. SealedSecrets, SOPS-encrypted files,
//! ExternalSecrets and everything else pass.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use sealbox_crypto::sealed::manifest::{ObjectMeta, object_ref, parse_documents};
use sealbox_crypto::sops::{self, Format};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::sopsconfig;

/// What the guard needs of a YAML/JSON document.
#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    metadata: Option<ObjectMeta>,
    #[serde(default)]
    data: Option<BTreeMap<String, IgnoredAny>>,
    #[serde(default, rename = "stringData")]
    string_data: Option<BTreeMap<String, IgnoredAny>>,
    #[serde(default)]
    sops: Option<SopsHead>,
}

#[derive(Deserialize)]
struct SopsHead {
    #[serde(default)]
    mac: Option<String>,
}

pub fn run(paths: &[PathBuf]) -> Result<()> {
    let config = sopsconfig::find(None);
    let mut files = Vec::new();
    for path in paths {
        collect(path, &mut files)?;
    }
    let mut problems = Vec::new();
    for file in &files {
        problems.extend(check_file(file, config.as_deref())?);
    }
    for problem in &problems {
        eprintln!("{problem}");
    }
    if !problems.is_empty() {
        bail!(
            "{} unencrypted secret(s) in {} file(s) checked: seal Kubernetes Secrets with `sealbox seal` or encrypt them with `sealbox encrypt`",
            problems.len(),
            files.len()
        );
    }
    Ok(())
}

/// Files under `path`, skipping `.git`.
fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().is_none_or(|n| n != ".git"))
            .collect();
        entries.sort();
        for entry in entries {
            collect(&entry, out)?;
        }
    } else if path.exists() {
        out.push(path.to_owned());
    }
    Ok(())
}

fn check_file(file: &Path, config: Option<&Path>) -> Result<Vec<String>> {
    let name = file.display().to_string();
    let Ok(bytes) = std::fs::read(file) else {
        return Ok(vec![format!("{name}: cannot be read")]);
    };
    let text = String::from_utf8_lossy(&bytes);
    let format = Format::from_path(&name);
    let mut problems = Vec::new();

    let manifest = matches!(format, Format::Yaml | Format::Json);
    let heads: Option<Vec<Head>> = manifest.then(|| parse_documents(&text).ok()).flatten();
    let encrypted = match &heads {
        Some(docs) => docs
            .first()
            .and_then(|d| d.sops.as_ref())
            .is_some_and(|s| s.mac.is_some()),
        None => sops::load(format, &text).is_ok_and(|(_, meta)| !meta.mac.is_empty()),
    };
    if encrypted {
        return Ok(problems);
    }
    for (index, doc) in heads.iter().flatten().enumerate() {
        let has_data = doc.data.as_ref().is_some_and(|d| !d.is_empty())
            || doc.string_data.as_ref().is_some_and(|d| !d.is_empty());
        if doc.kind.as_deref() == Some("Secret") && has_data {
            let meta = doc.metadata.clone().unwrap_or_default();
            problems.push(format!(
                "{name}: document {}: Kubernetes Secret {} is not encrypted",
                index + 1,
                object_ref(&meta)
            ));
        }
    }
    if let Some(config) = config
        && problems.is_empty()
        && sopsconfig::find_rule(config, &name)?.is_some()
    {
        problems.push(format!(
            "{name}: matches a creation rule in {} but is not encrypted",
            config.display()
        ));
    }
    Ok(problems)
}
