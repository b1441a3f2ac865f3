//! Drop-in kubeseal: kubeseal's offline flags, output shapes and exit behaviour (spec `sealed-secrets.md` §4.1),
//! running the same code as the native subcommands. `--fetch-cert`, `--validate` and
//! `--re-encrypt` reach the controller through the API server as kubeseal does.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Parser;
use sealbox_crypto::sealed::manifest::{Format, render};

use crate::exit;
use crate::io::{self, Readers};
use crate::sealed::certsource;
use crate::sealed::input::{FormatArg, KeySourceArgs, output_format, read_sealed};
use crate::sealed::seal::{self, SealArgs};
use crate::sealed::unseal::{self, Mimic, UnsealArgs};

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
    /// Print the version.
    #[arg(long)]
    version: bool,
}

/// kubeseal's command line from `argv`. A usage error exits 1, as kubeseal's does (clap's
/// own status would be 2); `--help` exits 0.
pub fn parse(argv: impl IntoIterator<Item = std::ffi::OsString>) -> KubesealArgs {
    KubesealArgs::try_parse_from(argv).unwrap_or_else(|usage| {
        let _ = usage.print();
        let status = if usage.use_stderr() {
            exit::ERROR_GENERIC
        } else {
            0
        };
        std::process::exit(status.into())
    })
}

pub fn run(args: KubesealArgs) -> Result<()> {
    if args.version {
        println!("kubeseal version: sealbox-{}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    if args.validate || args.re_encrypt {
        return validate_or_reencrypt(&args.seal, args.re_encrypt);
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
                cluster: args.seal.controller.cluster,
            },
            Mimic::Kubeseal,
        );
    }
    if !args.recovery_private_key.is_empty() {
        eprintln!("warning: --recovery-private-key is ignored without --recovery-unseal");
    }
    let mut seal_args = args.seal;
    // Raw mode still needs the namespace lookup to succeed (kubeseal #1789).
    seal_args.controller.cluster.tolerate_broken_kubeconfig = !seal_args.raw;
    seal::run(&seal_args, seal::Mode::Kubeseal)
}

/// kubeseal's `--validate` / `--re-encrypt`: every SealedSecret of the input; re-encrypted
/// ones are printed, or written back in place when only `-f` is given (upstream #405).
fn validate_or_reencrypt(args: &SealArgs, re_encrypt: bool) -> Result<()> {
    let input = args.secret_file.as_deref();
    let docs = read_sealed(input, args.namespace.as_deref(), &args.controller.cluster)?;
    if !re_encrypt {
        let offline = "--validate asks the running controller; offline: `sealbox validate --recovery-private-key KEY`";
        let controller = args.controller.connect().context(offline)?;
        return docs
            .iter()
            .try_for_each(|ss| controller.verify(ss))
            .context(offline);
    }
    let offline = "--re-encrypt asks the running controller; offline: `sealbox kubeseal --recovery-unseal --recovery-private-key OLD.key | sealbox kubeseal --cert NEW.pem`";
    let controller = args.controller.connect().context(offline)?;
    // Written where -w says, else back into -f; a .yaml/.yml target is written as YAML.
    let target = args.sealed_secret_file.as_deref().or(input);
    let format = match target.and_then(Path::extension) {
        Some(e) if e == "yaml" || e == "yml" => Format::Yaml,
        _ => output_format(
            args.format,
            args.sealed_secret_file.as_deref(),
            Format::Json,
        ),
    };
    let mut out = String::new();
    for ss in &docs {
        let rotated = controller.rotate(ss).context(offline)?;
        out.push_str(&render(&rotated, format)?);
    }
    io::write_output(target, out.as_bytes(), Readers::Anyone)
}
