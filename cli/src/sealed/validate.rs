//! `sealbox validate`: does every item of some SealedSecrets open? Offline with private keys,
//! reporting per item which key opens it (kubeseal can only validate against a live
//! controller), or `--online` through the running controller's `/v1/verify`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use sealbox_crypto::sealed::manifest::object_ref;
use sealbox_crypto::sealed::{V1_ITEM, open_items};
use sealbox_crypto::template::Template;

use crate::sealed::controller::ControllerArgs;
use crate::sealed::input::{KeySourceArgs, par_map, read_sealed};

#[derive(Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub keys: KeySourceArgs,
    /// Input file of SealedSecrets (default: stdin).
    #[arg(short = 'f', long = "sealed-secret-file")]
    pub input: Option<PathBuf>,
    /// Namespace for SealedSecrets that do not set one.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Ask the running controller (POST /v1/verify) instead of using private keys.
    #[arg(long, conflicts_with = "recovery_private_key")]
    pub online: bool,
    #[command(flatten)]
    pub controller: ControllerArgs,
}

pub fn run(args: &ValidateArgs) -> Result<()> {
    if args.online {
        online(args)
    } else {
        offline(args)
    }
}

/// Offline: every item, and the key that opened it.
fn offline(args: &ValidateArgs) -> Result<()> {
    let keys = args.keys.load()?;
    let sealed = read_sealed(
        args.input.as_deref(),
        args.namespace.as_deref(),
        &args.controller.cluster,
    )?;
    let (mut opened, mut failed) = (0usize, 0usize);
    // Every core decrypts; the report keeps input order.
    let opened_items = par_map(&sealed, |ss| open_items(ss, &keys));
    for (ss, results) in sealed.iter().zip(opened_items) {
        let object = object_ref(&ss.metadata);
        for result in results {
            match result.outcome {
                Ok((_, index)) => {
                    opened += 1;
                    let v1 = if ss.spec.data.is_some() && result.item == V1_ITEM {
                        " (deprecated v1 format)"
                    } else {
                        ""
                    };
                    println!(
                        "ok      {object} {}{v1}: opens with key {}",
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
        // Templates are checked for syntax and functions; running them needs the plaintext,
        // which `sealbox unseal` does.
        for (key, text) in &ss.spec.template.data {
            if let Err(e) = Template::parse_sealed_secrets(key, text.as_deref().unwrap_or_default())
            {
                failed += 1;
                println!("FAILED  {object} template.data {key}: {e}");
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

/// Online: every SealedSecret, checked by the controller.
fn online(args: &ValidateArgs) -> Result<()> {
    let docs = read_sealed(
        args.input.as_deref(),
        args.namespace.as_deref(),
        &args.controller.cluster,
    )?;
    let controller = args.controller.connect()?;
    let mut failed = 0usize;
    for ss in &docs {
        match controller.verify(ss) {
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
