//! `sealbox reencrypt PATHS…`: every SealedSecret in the YAML and JSON files under PATHS,
//! re-encrypted by the running controller with its newest key (`/v1/rotate`, spec
//! `sealed-secrets.md` §4.6, §4.8) and written back in place.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use sealbox_crypto::sealed::manifest::{
    Format as ManifestFormat, object_ref, parse_documents, render,
};
use sealbox_crypto::sealed::{Scope, SealedSecret};

use crate::io::{self, Readers};
use crate::report::{Format, Outcome, Record, Report};
use crate::sealed::controller::{Controller, ControllerArgs};
use crate::sealed::input::resolve_namespace;

#[derive(Args)]
pub struct ReencryptArgs {
    /// Files or directories (searched recursively, .git skipped).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Namespace for SealedSecrets that do not set one (default: kubeconfig context).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// `json`: one record per file on stdout (file, outcome, message, sealed_secrets).
    #[arg(long, value_enum, default_value_t)]
    pub output: Format,
    #[command(flatten)]
    pub controller: ControllerArgs,
}

/// `sealbox reencrypt PATHS…`: every SealedSecret in the YAML and JSON files under PATHS is
/// re-encrypted by the controller with its newest key and written back in place. Only the
/// ciphertexts change in the file (comments, order and other documents stay as they are); a
/// file is written atomically and only when all of its SealedSecrets succeeded.
pub fn run(args: &ReencryptArgs) -> Result<()> {
    let files: Vec<PathBuf> = io::files_under(&args.paths)?
        .into_iter()
        .filter(|f| {
            f.extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        })
        .collect();
    let controller = args.controller.connect()?;
    let mut report = Report::new(args.output, files.len());
    let mut total = 0;
    for file in &files {
        report.working_on(file);
        let record = match reencrypt_file(file, args, &controller) {
            Ok(0) => Record::new(file, Outcome::Unchanged, "no SealedSecret"),
            Ok(n) => {
                total += n;
                Record::new(
                    file,
                    Outcome::Changed,
                    format!("{n} SealedSecret(s) re-encrypted"),
                )
                .with("sealed_secrets", n)
            }
            Err(e) => Record::new(file, Outcome::Failed, format!("{e:#}")),
        };
        report.record(record);
    }
    let changed = report.count(Outcome::Changed);
    report.finish(&format!(
        "re-encrypted {total} SealedSecret(s) in {changed} of {} file(s) with the controller's newest key",
        files.len()
    ))
}

fn reencrypt_file(path: &Path, args: &ReencryptArgs, controller: &Controller) -> Result<usize> {
    let text = io::read_text(Some(path), "PATHS")?;
    if !text.contains("SealedSecret") {
        return Ok(0);
    }
    let docs: Vec<SealedSecret> = parse_documents(&text)?;
    let mut out = text.to_string();
    let mut count = 0;
    let mut expected = Vec::new();
    let mut v1 = Vec::new();
    for mut ss in docs.into_iter().filter(|d| d.kind == "SealedSecret") {
        let scope = Scope::from_annotations(&ss.metadata.annotations);
        if ss.metadata.namespace.is_empty() && scope != Scope::ClusterWide {
            // Applied without a namespace, it lands in the context's, which its label names.
            ss.metadata.namespace =
                resolve_namespace("", args.namespace.as_deref(), &args.controller.cluster)?;
        }
        let name = object_ref(&ss.metadata);
        if let Some(old) = &ss.spec.data {
            // The deprecated v1 format (spec `sealed-secrets.md` §1.6): the controller opens
            // the whole sealed Secret and re-seals it as encryptedData plus a template, so
            // the whole document is replaced.
            let rotated = controller.rotate(&ss)?;
            expected.push(rotated.spec.encrypted_data.clone());
            v1.push((old.clone(), rotated));
            count += 1;
            continue;
        }
        // Only the items are re-sealed: the controller would bake rendered templates into
        // encryptedData, but the file keeps its template.data as it is.
        let mut items_only = ss.clone();
        items_only.spec.template.data.clear();
        let rotated = controller.rotate(&items_only)?;
        for (item, old) in &ss.spec.encrypted_data {
            let new = rotated
                .spec
                .encrypted_data
                .get(item)
                .with_context(|| format!("the controller dropped item {item} of {name}"))?;
            if !out.contains(old.as_str()) {
                bail!(
                    "item {item} of SealedSecret {name}: its ciphertext is not written on one line, so it cannot be replaced in place; re-encrypt it with `sealbox kubeseal --re-encrypt`"
                );
            }
            out = out.replacen(old.as_str(), new, 1);
        }
        expected.push(rotated.spec.encrypted_data);
        count += 1;
    }
    if !v1.is_empty() {
        out = replace_v1_documents(&out, &v1)?;
    }
    // The same ciphertext may also stand elsewhere (a last-applied annotation): check that
    // every SealedSecret now carries exactly the new items.
    let written: Vec<_> = parse_documents::<SealedSecret>(&out)?
        .into_iter()
        .filter(|d| d.kind == "SealedSecret")
        .map(|d| d.spec.encrypted_data)
        .collect();
    if written != expected {
        bail!(
            "a ciphertext also appears outside encryptedData (a last-applied-configuration annotation?), so it cannot be replaced in place; remove that copy or re-encrypt with `sealbox kubeseal --re-encrypt`"
        );
    }
    if count > 0 {
        io::write_output(Some(path), out.as_bytes(), Readers::Anyone)?;
    }
    Ok(count)
}

/// Replaces each document holding one of the v1 ciphertexts `v1` (`spec.data`, old → the
/// re-sealed object) by the re-sealed object; the other documents, comments between them and
/// separators stay as they are. A JSON file must hold that one object.
fn replace_v1_documents(text: &str, v1: &[(String, SealedSecret)]) -> Result<String> {
    let not_found = |name: String| {
        anyhow::anyhow!(
            "SealedSecret {name}: its deprecated 'data' ciphertext is not written on one line, so the document cannot be replaced in place; convert it with `sealbox unseal … | sealbox seal …`"
        )
    };
    if text.trim_start().starts_with('{') {
        let [(old, rotated)] = v1 else {
            bail!(
                "a JSON file with several SealedSecrets in the deprecated 'data' format cannot be rewritten in place; split it into one file per object"
            );
        };
        if !text.contains(old.as_str()) {
            return Err(not_found(object_ref(&rotated.metadata)));
        }
        return Ok(render(rotated, ManifestFormat::Json)?);
    }
    // YAML: documents start at `---` lines.
    let mut chunks: Vec<String> = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with("---") || chunks.is_empty() {
            chunks.push(String::new());
        }
        chunks.last_mut().expect("pushed").push_str(line);
    }
    for (old, rotated) in v1 {
        let chunk = chunks
            .iter_mut()
            .find(|c| c.contains(old.as_str()))
            .ok_or_else(|| not_found(object_ref(&rotated.metadata)))?;
        let rendered = render(rotated, ManifestFormat::Yaml)?;
        let body = rendered.strip_prefix("---\n").unwrap_or(&rendered);
        let separator = chunk.lines().next().filter(|l| l.starts_with("---"));
        *chunk = match separator {
            Some(line) => format!("{line}\n{body}"),
            None => body.to_string(),
        };
    }
    Ok(chunks.concat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sealbox_crypto::sealed::ObjectMeta;

    fn rotated(name: &str) -> SealedSecret {
        let mut ss = SealedSecret::new(
            ObjectMeta {
                name: name.into(),
                namespace: "default".into(),
                ..Default::default()
            },
            Default::default(),
        );
        ss.spec.encrypted_data.insert("k".into(), "NEWCT".into());
        ss
    }

    #[test]
    fn v1_documents_are_replaced_and_the_rest_kept() {
        let text = "# keep me\n---\nkind: ConfigMap\nmetadata:\n  name: c\n---\nkind: SealedSecret\nmetadata:\n  name: old\nspec:\n  data: OLDCT\n";
        let out = replace_v1_documents(text, &[("OLDCT".into(), rotated("old"))]).unwrap();
        assert!(
            out.starts_with("# keep me\n---\nkind: ConfigMap\nmetadata:\n  name: c\n---\n"),
            "{out}"
        );
        assert!(!out.contains("OLDCT") && out.contains("NEWCT"), "{out}");
        let docs: Vec<SealedSecret> = parse_documents(&out).unwrap();
        assert_eq!(docs[1].spec.encrypted_data["k"], "NEWCT");
        assert!(docs[1].spec.data.is_none());

        let json = r#"{"kind":"SealedSecret","spec":{"data":"OLDCT"}}"#;
        let out = replace_v1_documents(json, &[("OLDCT".into(), rotated("old"))]).unwrap();
        assert!(
            out.trim_start().starts_with('{') && out.contains("NEWCT"),
            "{out}"
        );
        let err = replace_v1_documents("kind: x\n", &[("OLDCT".into(), rotated("old"))]);
        assert!(err.unwrap_err().to_string().contains("default/old"));
    }
}
