//! Drop-in kubeseal: kubeseal's offline flags, output shapes and exit behaviour (spec §4.1),
//! running the same code as the native subcommands. `--fetch-cert`, `--validate` and
//! `--re-encrypt` reach the controller through the API server as kubeseal does.

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use sealbox_crypto::sealed::manifest::Format;

use crate::args::{FormatArg, KeySourceArgs, SealArgs, UnsealArgs};
use crate::unseal::Mimic;
use crate::{certsource, kubeconfig, online, seal, unseal};

#[derive(Parser)]
#[command(
    name = "kubeseal",
    about = "kubeseal-compatible sealing (sealbox drop-in mode; offline operations)",
    disable_version_flag = true
)]
pub struct KubesealArgs {
    #[command(flatten)]
    seal: SealArgs,
    /// Decrypt a SealedSecret offline with --recovery-private-key and print the Secret.
    #[arg(long = "recovery-unseal")]
    recovery_unseal: bool,
    /// Private key files (PEM, a Secret with tls.key, or the backup List); repeat or comma-separate.
    #[arg(long = "recovery-private-key", value_delimiter = ',')]
    recovery_private_key: Vec<PathBuf>,
    /// Validate each SealedSecret against the running controller (POST /v1/verify).
    #[arg(long)]
    validate: bool,
    /// Re-encrypt each SealedSecret with the controller's newest key (POST /v1/rotate).
    #[arg(long = "re-encrypt", alias = "rotate")]
    re_encrypt: bool,
    /// Kubeconfig whose current context gives the default namespace.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context whose namespace is the default.
    #[arg(long)]
    context: Option<String>,
    /// Print the version.
    #[arg(long)]
    version: bool,
}

pub fn run(args: KubesealArgs) -> Result<()> {
    if args.version {
        println!("kubeseal version: sealbox-{}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    if let Some(path) = args.kubeconfig.clone() {
        kubeconfig::set_path(path);
    }
    if let Some(context) = args.context.clone() {
        kubeconfig::set_context(context);
    }
    if args.validate || args.re_encrypt {
        return online::validate_or_reencrypt(&args.seal, args.re_encrypt);
    }
    if args.seal.fetch_cert {
        // Printed as read: kubeseal copies the stream without checking expiry.
        let online = args.seal.cert.is_none().then_some(&args.seal.controller);
        print!(
            "{}",
            certsource::read_pem(args.seal.cert.as_deref(), online)?.0
        );
        return Ok(());
    }
    if args.recovery_unseal {
        return unseal::unseal(
            &UnsealArgs {
                keys: KeySourceArgs {
                    recovery_private_key: args.recovery_private_key,
                },
                input: args.seal.secret_file,
                output: args.seal.sealed_secret_file,
                format: args.seal.format.unwrap_or(FormatArg::Json),
                namespace: args.seal.namespace,
            },
            Mimic::Kubeseal,
        );
    }
    if !args.recovery_private_key.is_empty() {
        eprintln!("warning: --recovery-private-key is ignored without --recovery-unseal");
    }
    seal::run(&args.seal, Format::Json)
}
