//! Offline decryption with private keys: `unseal` (kubeseal's `--recovery-unseal`, spec §4.7)
//! and `validate`, which reports per item whether it opens and with which key — kubeseal can
//! only validate against a live controller.

use std::path::Path;

use anyhow::{Context, Result, bail};
use sealbox_crypto::sealed::manifest::{object_ref, parse_objects, render};
use sealbox_crypto::sealed::{
    PrivateKey, Scope, SealedSecret, keyfile, open_items, owner_reference, unseal as unseal_one,
};

use crate::args::{KeySourceArgs, UnsealArgs, ValidateArgs};
use crate::io::{self, Readers};
use crate::keystore;
use crate::seal::resolve_namespace;

/// Whose output shape to produce.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mimic {
    /// A Secret ready to apply.
    Native,
    /// kubeseal's: the controller's owner reference, with the empty uid an offline run has.
    Kubeseal,
}

pub fn unseal(args: &UnsealArgs, mimic: Mimic) -> Result<()> {
    let keys = load_keys(&args.keys)?;
    let sealed = read_sealed(args.input.as_deref(), args.namespace.as_deref())?;
    let mut out = zeroize::Zeroizing::new(String::new());
    let mut errors = Vec::new();
    for ss in &sealed {
        match unseal_one(ss, &keys) {
            Ok(unsealed) => {
                let mut secret = unsealed.secret;
                if mimic == Mimic::Kubeseal {
                    secret.metadata.owner_references =
                        owner_reference(ss, "").into_iter().collect();
                }
                out.push_str(&zeroize::Zeroizing::new(render(
                    &secret,
                    args.format.into(),
                )?));
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    // Plaintext: a new output file is readable by its owner only.
    io::write_output(args.output.as_deref(), out.as_bytes(), Readers::Owner)
}

/// Upstream leaves the owner reference out when the template asks it to (spec §2.3 step 6).
pub fn validate(args: &ValidateArgs) -> Result<()> {
    let keys = load_keys(&args.keys)?;
    let sealed = read_sealed(args.input.as_deref(), args.namespace.as_deref())?;
    let (mut opened, mut failed) = (0usize, 0usize);
    for ss in &sealed {
        let object = object_ref(&ss.metadata);
        for result in open_items(ss, &keys) {
            match result.outcome {
                Ok((_, index)) => {
                    opened += 1;
                    println!(
                        "ok      {object} {}: opens with key {}",
                        result.item,
                        keys[index].fingerprint()
                    );
                }
                Err(failure) => {
                    failed += 1;
                    let hint = failure.opens_under.map_or(String::new(), |scope| {
                        format!(" (opens under scope {scope}: the SealedSecret's metadata lacks that scope annotation)")
                    });
                    println!("FAILED  {object} {}: {}{hint}", result.item, failure.error);
                }
            }
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} items do not open with the {} key(s) given",
            opened + failed,
            keys.len()
        );
    }
    eprintln!(
        "all {opened} items in {} SealedSecret(s) open",
        sealed.len()
    );
    Ok(())
}

/// Keys from `--recovery-private-key` files in the order given, else the key store's, newest
/// first.
pub fn load_keys(args: &KeySourceArgs) -> Result<Vec<PrivateKey>> {
    if args.recovery_private_key.is_empty() {
        let keys = keystore::private_keys()?;
        if keys.is_empty() {
            bail!(
                "no private keys: pass --recovery-private-key FILE (a PEM key or the key backup \
                 List), or run `sealbox keys init` for a local key store"
            );
        }
        return Ok(keys);
    }
    let mut keys = Vec::new();
    for path in &args.recovery_private_key {
        let text = io::read_text(Some(path), "--recovery-private-key")?;
        keys.extend(keyfile::private_keys(&text).with_context(|| path.display().to_string())?);
    }
    Ok(keys)
}

pub fn read_sealed(path: Option<&Path>, namespace: Option<&str>) -> Result<Vec<SealedSecret>> {
    let source = path.map_or("stdin".to_owned(), |p| p.display().to_string());
    let text = io::read_text(path, "--sealed-secret-file")?;
    let mut docs: Vec<SealedSecret> =
        parse_objects(&text, "SealedSecret").with_context(|| source.clone())?;
    if docs.is_empty() {
        bail!("{source}: no SealedSecret found");
    }
    for ss in &mut docs {
        // The controller binds the label to the namespace the object lives in; a cluster-wide
        // one needs none, and gets none it did not have.
        if Scope::from_annotations(&ss.metadata.annotations) == Scope::ClusterWide
            && namespace.is_none()
        {
            continue;
        }
        ss.metadata.namespace = resolve_namespace(&ss.metadata.namespace, namespace)
            .with_context(|| format!("{source}: SealedSecret {}", object_ref(&ss.metadata)))?;
    }
    Ok(docs)
}
