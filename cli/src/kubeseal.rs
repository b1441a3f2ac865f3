//! Drop-in kubeseal: kubeseal's offline flags, output shapes and exit behaviour (spec §4.1),
//! running the same code as the native subcommands. Flags that need a live controller
//! (`--validate`, `--re-encrypt`, fetching the cert from the cluster) fail with the offline
//! alternative.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Parser;
use sealbox_crypto::sealed::manifest::Format;

use crate::args::{FormatArg, KeySourceArgs, SealArgs, UnsealArgs};
use crate::unseal::Mimic;
use crate::{certsource, kubeconfig, seal, unseal};

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
    /// Print the sealing certificate (from --cert, else the local key store) and exit.
    #[arg(long = "fetch-cert")]
    fetch_cert: bool,
    /// Validate against a live controller (not available offline; see `sealbox validate`).
    #[arg(long)]
    validate: bool,
    /// Re-encrypt through a live controller (not available offline).
    #[arg(long = "re-encrypt", alias = "rotate")]
    re_encrypt: bool,
    /// Controller namespace (only for online operations).
    #[arg(
        long = "controller-namespace",
        env = "SEALED_SECRETS_CONTROLLER_NAMESPACE",
        default_value = "kube-system"
    )]
    controller_namespace: String,
    /// Controller name (only for online operations).
    #[arg(
        long = "controller-name",
        env = "SEALED_SECRETS_CONTROLLER_NAME",
        default_value = "sealed-secrets-controller"
    )]
    controller_name: String,
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
        bail!(
            "{} needs the controller {}/{} in a cluster, which this offline kubeseal mode does not reach; offline: `sealbox validate --recovery-private-key KEY` or `sealbox kubeseal --recovery-unseal --recovery-private-key OLD.key | sealbox kubeseal --cert NEW.pem`",
            if args.validate {
                "--validate"
            } else {
                "--re-encrypt"
            },
            args.controller_namespace,
            args.controller_name
        );
    }
    if args.fetch_cert {
        // Printed as read: kubeseal copies the stream without checking expiry.
        print!("{}", certsource::read_pem(args.seal.cert.as_deref())?.0);
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
