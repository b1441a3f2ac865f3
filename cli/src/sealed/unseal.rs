//! `sealbox unseal`: offline decryption with private keys, kubeseal's `--recovery-unseal`
//! (spec `sealed-secrets.md` §4.7).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use sealbox_crypto::sealed::manifest::{render_into, render_room};
use sealbox_crypto::sealed::{UnsealOptions, owner_reference, unseal_with};

use crate::cluster::ClusterArgs;
use crate::io::{self, Readers};
use crate::sealed::input::{FormatArg, KeySourceArgs, par_map, read_sealed};

#[derive(Args)]
pub struct UnsealArgs {
    #[command(flatten)]
    pub keys: KeySourceArgs,
    /// Input file of SealedSecrets (default: stdin).
    #[arg(short = 'f', long = "sealed-secret-file")]
    pub input: Option<PathBuf>,
    /// Output file, written atomically with mode 0600 (default: stdout).
    #[arg(short = 'w', long = "output-file")]
    pub output: Option<PathBuf>,
    /// Output format.
    #[arg(
        short = 'o',
        long = "format",
        value_enum,
        ignore_case = true,
        default_value = "yaml"
    )]
    pub format: FormatArg,
    /// Namespace for SealedSecrets that do not set one (default: kubeconfig context, else "default").
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Whose output shape to produce.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mimic {
    /// A Secret ready to apply.
    Native,
    /// kubeseal's: the controller's owner reference, with the empty uid an offline run has,
    /// and its refusal of the deprecated v1 `spec.data` (kubeseal never sets
    /// `AcceptDeprecatedV1Data`, spec `sealed-secrets.md` §1.6).
    Kubeseal,
}

pub fn unseal(args: &UnsealArgs, mimic: Mimic) -> Result<()> {
    let keys = args.keys.load()?;
    let sealed = read_sealed(
        args.input.as_deref(),
        args.namespace.as_deref(),
        &args.cluster,
    )?;
    // Room for every item (the plaintext's base64 is shorter than the ciphertext's) and its
    // metadata, so the output never grows by copying itself.
    let room = sealed.iter().map(render_room).sum();
    let mut out = zeroize::Zeroizing::new(String::with_capacity(room));
    let options = UnsealOptions {
        accept_deprecated_v1_data: mimic == Mimic::Native,
    };
    // Every core decrypts; the Secrets are written in input order.
    let results = par_map(&sealed, |ss| unseal_with(ss, &keys, options));
    let mut errors = Vec::new();
    for (ss, result) in sealed.iter().zip(results) {
        let owner = (mimic == Mimic::Kubeseal).then(|| owner_reference(ss, ""));
        match result {
            Ok(unsealed) => {
                let mut secret = unsealed.secret;
                if let Some(owner) = owner {
                    secret.metadata.owner_references = owner.into_iter().collect();
                }
                render_into(&mut out, &secret, args.format.into())?;
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
