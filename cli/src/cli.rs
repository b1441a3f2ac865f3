//! The native command line, composed of the command modules' own arguments, and the one place
//! a parsed command is dispatched. The drop-in command lines are
//! [`crate::sealed::kubeseal`] and [`crate::sops`]'s; all of them call the same actions.
use clap::{Parser, Subcommand};

use crate::age::{self, AgeCommand};
use crate::audit::{self, AuditArgs};
use crate::check;
use crate::external::{self, ExternalCommand};
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
    about = "Keep Kubernetes Secrets out of Git in plain text: seal them for Sealed Secrets controllers (kubeseal-compatible), encrypt files with age (sops-compatible), and guard commits.",
    long_about = "Keep Kubernetes Secrets out of Git in plain text.\n\n\
        Sealed Secrets: `seal` a Secret with a controller's public key, `unseal`/`validate` with \
        private keys, `reencrypt` a tree with the controller's newest key, `keys` for the local key \
        pair and the controller's keys. SOPS: `encrypt`, `decrypt`, `edit`, `set`, `rotate`, … \
        files (YAML, JSON, dotenv, INI, binary) for age recipients. `check` fails a commit that \
        would add a plain Secret or private key.\n\n\
        Quickstart with no cluster: `sealbox keys init`, then\n  \
        sealbox seal -f secret.yaml > sealed.yaml\n  \
        sealbox unseal -f sealed.yaml\n\
        `sealbox kubeseal …` and `sealbox sops …` (or links named kubeseal and sops) take those \
        tools' flags, output and exit codes."
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
    /// Report what needs attention in a tree, changing nothing: plain Secrets and private keys
    /// (as `check`), SealedSecrets for an old or unknown key (--keys), SOPS files whose
    /// recipients differ from .sops.yaml or older than --older-than. Exit 10 when anything
    /// needs attention, 1 when something could not be read.
    Audit(AuditArgs),
    /// The local key store that seal and unseal use when no cert or key is given; backup and
    /// restore of a cluster controller's keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// ExternalSecrets in a cluster: `refresh` asks the controller to sync them now.
    External {
        #[command(subcommand)]
        command: ExternalCommand,
    },
    #[command(flatten)]
    File(sops::NativeCommand),
    /// age keys without another tool: `keygen` (age-keygen's format) and `recipient`
    /// (age-keygen -y).
    Age {
        #[command(subcommand)]
        command: AgeCommand,
    },
    /// kubeseal's command line, flags, output and exit codes.
    #[command(disable_help_flag = true, disable_version_flag = true)]
    Kubeseal {
        /// kubeseal's flags and arguments (`sealbox kubeseal --help` lists them).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// sops's command line (encrypt, decrypt, -e, -d), flags and exit codes.
    #[command(disable_help_flag = true, disable_version_flag = true)]
    Sops {
        /// sops's command, flags and arguments (`sealbox sops --help` lists them).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

impl Cli {
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Seal(args) => seal::run(&args, seal::Mode::Native),
            Command::Unseal(args) => unseal::unseal(&args, unseal::Mimic::Native),
            Command::Validate(args) => validate::run(&args),
            Command::Reencrypt(args) => reencrypt::run(&args),
            Command::Check(args) => check::run(&args),
            Command::Audit(args) => audit::run(&args),
            Command::Keys { command } => keys::run(&command),
            Command::External { command } => external::run(&command),
            Command::File(command) => sops::run_native(command),
            Command::Age { command } => age::run(&command),
            Command::Kubeseal { args } => {
                let argv = std::iter::once("kubeseal".into()).chain(args);
                kubeseal::run(kubeseal::parse(argv))
            }
            Command::Sops { args } => {
                let argv = std::iter::once("sops".into()).chain(args);
                sops::run_dropin(sops::parse_dropin(argv))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every argument of every command line, with the path of subcommands leading to it.
    fn arguments(command: &clap::Command, path: &str, out: &mut Vec<(String, clap::Arg)>) {
        for arg in command.get_arguments() {
            out.push((path.to_owned(), arg.clone()));
        }
        for sub in command.get_subcommands() {
            arguments(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_argument_has_a_description() {
        let mut all = Vec::new();
        arguments(&super::Cli::command(), "sealbox", &mut all);
        arguments(
            &crate::sealed::kubeseal::KubesealArgs::command(),
            "kubeseal",
            &mut all,
        );
        arguments(&crate::sops::SopsArgs::command(), "sops", &mut all);
        let missing: Vec<String> = all
            .iter()
            .filter(|(_, arg)| !arg.is_hide_set() && arg.get_help().is_none())
            .map(|(path, arg)| format!("{path}: {}", arg.get_id()))
            .collect();
        assert!(
            missing.is_empty(),
            "arguments without a description:\n{}",
            missing.join("\n")
        );
    }

    #[test]
    fn encrypt_and_decrypt_each_show_only_their_own_flags() {
        let cli = super::Cli::command();
        let flags = |name: &str| -> Vec<String> {
            let command = cli.find_subcommand(name).unwrap();
            command
                .get_arguments()
                .filter_map(|a| a.get_long().map(str::to_owned))
                .collect()
        };
        let (encrypt, decrypt) = (flags("encrypt"), flags("decrypt"));
        for own in ["age", "encrypted-regex", "shamir-secret-sharing-threshold"] {
            assert!(encrypt.iter().any(|f| f == own) && !decrypt.iter().any(|f| f == own));
        }
        for own in ["ignore-mac", "extract"] {
            assert!(decrypt.iter().any(|f| f == own) && !encrypt.iter().any(|f| f == own));
        }
    }

    #[test]
    fn the_command_lines_are_consistent() {
        super::Cli::command().debug_assert();
        crate::sealed::kubeseal::KubesealArgs::command().debug_assert();
        crate::sops::SopsArgs::command().debug_assert();
    }
}
