//! Online operations on SealedSecrets through the running controller (spec `sealed-secrets.md`
//! §4.6, §4.8): validate (`/v1/verify`) and re-encrypt with the newest key (`/v1/rotate`), for
//! kubeseal's flags, `sealbox validate --online` and `sealbox reencrypt PATHS…`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sealbox_crypto::sealed::manifest::{Format, object_ref, parse_documents, render};
use sealbox_crypto::sealed::{Scope, SealedSecret};

use crate::args::SealArgs;
use crate::controller::ControllerArgs;
use crate::io::{self, Readers};
use crate::seal::{output_format, resolve_namespace};
use crate::unseal::read_sealed;

/// Asks the controller whether every item of `sealed` opens.
pub fn verify(controller: &ControllerArgs, sealed: &SealedSecret) -> Result<()> {
    let name = object_ref(&sealed.metadata);
    let reply = controller.post("/v1/verify", &serde_json::to_string(sealed)?)?;
    match reply.status {
        200 => Ok(()),
        409 => bail!(
            "unable to decrypt sealed secret: {name}: {}",
            reply.body.trim()
        ),
        other => bail!(
            "cannot validate sealed secret {name}: HTTP {other}: {}",
            reply.body.trim()
        ),
    }
}

/// The same SealedSecret re-encrypted by the controller with its newest key.
pub fn reencrypt(controller: &ControllerArgs, sealed: &SealedSecret) -> Result<SealedSecret> {
    let name = object_ref(&sealed.metadata);
    let reply = controller.post("/v1/rotate", &serde_json::to_string(sealed)?)?;
    if reply.status != 200 {
        bail!(
            "cannot re-encrypt sealed secret {name}: HTTP {}: {}",
            reply.status,
            reply.body.trim()
        );
    }
    serde_json::from_str(&reply.body)
        .with_context(|| format!("the controller sent back a malformed SealedSecret for {name}"))
}

/// kubeseal's `--validate` / `--re-encrypt`: every SealedSecret of the input; re-encrypted
/// ones are printed, or written back in place when only `-f` is given (upstream #405).
pub fn validate_or_reencrypt(args: &SealArgs, re_encrypt: bool) -> Result<()> {
    let input = args.secret_file.as_deref();
    let docs = read_sealed(input, args.namespace.as_deref())?;
    if !re_encrypt {
        return docs
            .iter()
            .try_for_each(|ss| verify(&args.controller, ss))
            .context("--validate asks the running controller; offline: `sealbox validate --recovery-private-key KEY`");
    }
    // Written where -w says, else back into -f; a .yaml/.yml target is written as YAML.
    let target = args.sealed_secret_file.as_deref().or(input);
    let format = match target.and_then(Path::extension) {
        Some(e) if e == "yaml" || e == "yml" => Format::Yaml,
        _ => output_format(args, Format::Json),
    };
    let mut out = String::new();
    for ss in &docs {
        let rotated = reencrypt(&args.controller, ss).context(
            "--re-encrypt asks the running controller; offline: `sealbox kubeseal --recovery-unseal --recovery-private-key OLD.key | sealbox kubeseal --cert NEW.pem`",
        )?;
        out.push_str(&render(&rotated, format)?);
    }
    io::write_output(target, out.as_bytes(), Readers::Anyone)
}

/// `sealbox validate --online`: every SealedSecret of the input, checked by the controller.
pub fn validate_online(
    controller: &ControllerArgs,
    input: Option<&Path>,
    namespace: Option<&str>,
) -> Result<()> {
    let docs = read_sealed(input, namespace)?;
    let mut failed = 0usize;
    for ss in &docs {
        match verify(controller, ss) {
            Ok(()) => println!("ok      {}", object_ref(&ss.metadata)),
            Err(e) => {
                failed += 1;
                println!("FAILED  {e:#}");
            }
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} SealedSecret(s) do not open in the cluster",
            docs.len()
        );
    }
    eprintln!("all {} SealedSecret(s) open in the cluster", docs.len());
    Ok(())
}

/// `sealbox reencrypt PATHS…`: every SealedSecret in the YAML and JSON files under PATHS is
/// re-encrypted by the controller with its newest key and written back in place. Only the
/// ciphertexts change in the file (comments, order and other documents stay as they are); a
/// file is written atomically and only when all of its SealedSecrets succeeded.
pub fn reencrypt_paths(
    paths: &[PathBuf],
    controller: &ControllerArgs,
    namespace: Option<&str>,
) -> Result<()> {
    let files: Vec<PathBuf> = io::files_under(paths)?
        .into_iter()
        .filter(|f| {
            f.extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        })
        .collect();
    let (mut changed, mut total, mut failed) = (0usize, 0usize, 0usize);
    for file in &files {
        match reencrypt_file(file, controller, namespace) {
            Ok(0) => {}
            Ok(n) => {
                println!("{}: {n} SealedSecret(s) re-encrypted", file.display());
                changed += 1;
                total += n;
            }
            Err(e) => {
                eprintln!("error: {}: {e:#} (file left unchanged)", file.display());
                failed += 1;
            }
        }
    }
    eprintln!(
        "re-encrypted {total} SealedSecret(s) in {changed} of {} file(s) with the controller's newest key",
        files.len()
    );
    if failed > 0 {
        bail!("{failed} file(s) could not be re-encrypted and were left unchanged");
    }
    Ok(())
}

fn reencrypt_file(
    path: &Path,
    controller: &ControllerArgs,
    namespace: Option<&str>,
) -> Result<usize> {
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
            ss.metadata.namespace = resolve_namespace("", namespace)?;
        }
        let name = object_ref(&ss.metadata);
        let rotated = reencrypt(controller, &ss)?;
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
