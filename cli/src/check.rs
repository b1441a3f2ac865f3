//! `sealbox check PATHS…`: a pre-commit guard. It fails, naming the file, when a Kubernetes
//! Secret with data (in any document of a manifest) or a file that a `.sops.yaml` creation
//! rule covers is about to be committed unencrypted. SealedSecrets, SOPS-encrypted files,
//! ExternalSecrets and everything else pass.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use sealbox_crypto::sealed::manifest::{ObjectMeta, object_ref};
use sealbox_crypto::sops::{self, Branch, Entry, Format, Scalar, Step, Value};

use crate::{io, sopsconfig};

#[derive(Args)]
pub struct CheckArgs {
    /// Files or directories (searched recursively, .git skipped).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

pub fn run(paths: &[PathBuf]) -> Result<()> {
    let config = sopsconfig::find(None);
    let files = io::files_under(paths)?;
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

fn check_file(file: &Path, config: Option<&Path>) -> Result<Vec<String>> {
    let name = file.display().to_string();
    let Ok(bytes) = std::fs::read(file) else {
        return Ok(vec![format!("{name}: cannot be read")]);
    };
    let text = String::from_utf8_lossy(&bytes);
    let format = Format::from_path(&name);
    let mut problems = Vec::new();

    let docs = match format {
        Format::Yaml => yaml_documents(&text),
        Format::Json => sops::json::load_plain(&text)
            .map(|b| vec![b])
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let encrypted = if docs.is_empty() {
        sops::load(format, &text).is_ok_and(|(_, meta)| !meta.mac.is_empty())
    } else {
        docs.iter().any(is_sops_document)
    };
    for (index, doc) in docs.iter().enumerate() {
        if text_at(doc, "kind") != Some("Secret") {
            continue;
        }
        let what = format!(
            "{name}: document {}: Kubernetes Secret {}",
            index + 1,
            secret_ref(doc)
        );
        let clear = ["data", "stringData"]
            .iter()
            .filter_map(|field| sops::lookup(doc, &[Step::Key(field.to_string())]))
            .any(has_clear_value);
        if clear && encrypted {
            problems.push(format!(
                "{what} has values under data/stringData left clear by the file's selector"
            ));
        } else if clear {
            problems.push(format!("{what} is not encrypted"));
        }
    }
    if let Some(config) = config
        && problems.is_empty()
        && !encrypted
        && sopsconfig::find_rule(config, &name)?.is_some()
    {
        problems.push(format!(
            "{name}: matches a creation rule in {} but is not encrypted",
            config.display()
        ));
    }
    Ok(problems)
}

/// The documents of a YAML file; when the whole stream does not parse (a template, a
/// sequence document), each `---`-separated document that does is still checked.
fn yaml_documents(text: &str) -> Vec<Branch> {
    if let Ok(docs) = sops::yaml::parse(text) {
        return docs;
    }
    let mut docs = Vec::new();
    let mut current = String::new();
    for line in text.lines().chain(std::iter::once("---")) {
        if line.trim_end() == "---" || line.starts_with("--- ") {
            if let Ok(parsed) = sops::yaml::parse(&current) {
                docs.extend(parsed);
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    docs
}

fn is_sops_document(doc: &Branch) -> bool {
    sops::lookup(doc, &[Step::Key("sops".into()), Step::Key("mac".into())]).is_some()
}

fn text_at<'a>(doc: &'a Branch, key: &str) -> Option<&'a str> {
    match sops::lookup(doc, &[Step::Key(key.into())]) {
        Some(Value::Scalar(Scalar::Str(bytes))) => std::str::from_utf8(bytes).ok(),
        _ => None,
    }
}

fn secret_ref(doc: &Branch) -> String {
    let field =
        |f: &str| match sops::lookup(doc, &[Step::Key("metadata".into()), Step::Key(f.into())]) {
            Some(Value::Scalar(Scalar::Str(bytes))) => String::from_utf8_lossy(bytes).into_owned(),
            _ => String::new(),
        };
    let meta = ObjectMeta {
        name: field("name"),
        namespace: field("namespace"),
        ..Default::default()
    };
    object_ref(&meta)
}

/// Whether a value holds anything that is not an `ENC[…]` ciphertext (empty strings and nulls
/// hold nothing).
fn has_clear_value(value: &Value) -> bool {
    match value {
        Value::Null | Value::Comment(_) => false,
        Value::Scalar(Scalar::Str(bytes)) => {
            !bytes.is_empty() && !std::str::from_utf8(bytes).is_ok_and(sops::cipher::is_encrypted)
        }
        Value::Scalar(_) => true,
        Value::Map(branch) => branch.iter().any(|e| match e {
            Entry::Pair(_, v) => has_clear_value(v),
            Entry::Comment(_) => false,
        }),
        Value::Seq(items) => items.iter().any(has_clear_value),
    }
}
