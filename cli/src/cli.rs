//! The native command line, composed of the command modules' own arguments, and the one place
//! a parsed command is dispatched. The drop-in command lines are
//! [`crate::sealed::kubeseal`] and [`crate::sops`]'s; all of them call the same actions.
use clap::{Parser, Subcommand};
use sealbox_crypto::sealed::manifest::Format;

use crate::check;
use crate::sealed::keys::{self, KeysCommand};
use crate::sealed::kubeseal;
use crate::sealed::reencrypt::{self, ReencryptArgs};
use crate::sealed::seal::{self, SealArgs};
use crate::sealed::unseal::{self, UnsealArgs};
use crate::sealed::validate::{self, ValidateArgs};
use crate::sops;

#[derive(Parser)]
#[command(
    name = "sealbox",
    version,
    about = "Seal Kubernetes Secrets for Sealed Secrets controllers; unseal and validate offline.",
    long_about = "Seal Kubernetes Secrets for Sealed Secrets controllers; unseal and validate offline.\n\n\
        Quickstart with no cluster: `sealbox keys init`, then\n  \
        sealbox seal -f secret.yaml > sealed.yaml\n  \
        sealbox unseal -f sealed.yaml\n\
        `sealbox kubeseal …` (or a link named kubeseal) takes kubeseal's flags and output."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Seal Secrets (YAML or JSON, multi-document) into SealedSecrets, or one value with --raw.
    Seal(SealArgs),
    /// Decrypt SealedSecrets back into Secrets with private keys (disaster recovery).
    Unseal(UnsealArgs),
    /// Check that every item of SealedSecrets opens: offline with private keys (and which key),
    /// or --online through the running controller.
    Validate(ValidateArgs),
    /// Re-encrypt every SealedSecret in the YAML/JSON files under PATHS with the controller's
    /// newest key, in place (only the ciphertexts change; atomic writes; a summary at the end).
    Reencrypt(ReencryptArgs),
    /// Pre-commit guard: fail when a Kubernetes Secret (any file, List or array), a private key
    /// or a file a .sops.yaml rule covers is unencrypted, or a file cannot be ruled out.
    /// SealedSecrets, SOPS files and ExternalSecrets pass; --staged checks git's index.
    Check(check::CheckArgs),
    /// The local key store that seal and unseal use when no cert or key is given; backup and
    /// restore of a cluster controller's keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    #[command(flatten)]
    File(sops::SopsCommand),
    /// kubeseal's command line, flags and output (offline flags).
    #[command(disable_help_flag = true, disable_version_flag = true)]
    Kubeseal {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// sops's command line (encrypt, decrypt, -e, -d), flags and exit codes.
    #[command(disable_help_flag = true, disable_version_flag = true)]
    Sops {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

impl Cli {
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Seal(args) => seal::run(&args, Format::Yaml),
            Command::Unseal(args) => unseal::unseal(&args, unseal::Mimic::Native),
            Command::Validate(args) => validate::run(&args),
            Command::Reencrypt(args) => reencrypt::run(&args),
            Command::Check(args) => check::run(&args),
            Command::Keys { command } => keys::run(&command),
            Command::File(command) => sops::run_command(command, sops::Mode::Native),
            Command::Kubeseal { args } => {
                let argv = std::iter::once("kubeseal".into()).chain(args);
                kubeseal::run(<kubeseal::KubesealArgs as Parser>::parse_from(argv))
            }
            Command::Sops { args } => {
                let argv = std::iter::once("sops".into()).chain(args);
                sops::run_dropin(sops::parse_dropin(argv))
            }
        }
    }
}
