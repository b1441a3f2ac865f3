//! `sealbox reencrypt PATHS…`: every SealedSecret in the YAML and JSON files under PATHS,
//! re-encrypted by the running controller with its newest key (`/v1/rotate`, spec
//! `sealed-secrets.md` §4.6, §4.8) and written back in place.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use sealbox_crypto::sealed::manifest::{object_ref, parse_documents};
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
    for mut ss in docs.into_iter().filter(|d| d.kind == "SealedSecret") {
        let scope = Scope::from_annotations(&ss.metadata.annotations);
        if ss.metadata.namespace.is_empty() && scope != Scope::ClusterWide {
            // Applied without a namespace, it lands in the context's, which its label names.
            ss.metadata.namespace =
                resolve_namespace("", args.namespace.as_deref(), &args.controller.cluster)?;
        }
        let name = object_ref(&ss.metadata);
        let rotated = controller.rotate(&ss)?;
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
