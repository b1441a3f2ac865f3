//! The native command line. The drop-in kubeseal command line is in [`crate::kubeseal`]; both
//! fill the same option structs and call the same actions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use sealbox_crypto::sealed::Scope;
use sealbox_crypto::sealed::manifest::Format;

use crate::controller::ControllerArgs;
use crate::{check, clusterkeys, keystore, kubeseal, online, seal, sops, unseal};

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
    Reencrypt {
        /// Files or directories (searched recursively, .git skipped).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Namespace for SealedSecrets that do not set one (default: kubeconfig context).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        #[command(flatten)]
        controller: ControllerArgs,
    },
    /// Pre-commit guard: fail when a Kubernetes Secret or a file a .sops.yaml rule covers is
    /// unencrypted. SealedSecrets, SOPS files and ExternalSecrets pass.
    Check {
        /// Files or directories (searched recursively, .git skipped).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
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

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key pair and certificate (RSA-4096, like the controller's) if none exists.
    Init,
    /// Add a new key pair; it seals from now on, older keys still unseal.
    Renew,
    /// Print the newest certificate (PEM) to share with people who seal.
    ExportCert,
    /// Save the controller's key Secrets from the cluster (a List, mode 0600), as the upstream
    /// runbook's `kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml`.
    Backup {
        /// Output file (default: stdout).
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        #[command(flatten)]
        controller: ControllerArgs,
    },
    /// Put the key Secrets of a backup into the cluster's controller namespace.
    Restore {
        /// The backup file (a List or Secrets with tls.key and tls.crt).
        file: PathBuf,
        #[command(flatten)]
        controller: ControllerArgs,
    },
}

/// kubeseal's `-o` values.
#[derive(Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Json,
    Yaml,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Json => Format::Json,
            FormatArg::Yaml => Format::Yaml,
        }
    }
}

/// Options for sealing, shared by `sealbox seal` and `sealbox kubeseal`.
#[derive(Args, Default)]
pub struct SealArgs {
    /// Certificate or public key to seal with: a file, or an http(s):// or file:// URL.
    /// Default: the newest certificate of the local key store.
    #[arg(long, env = "SEALED_SECRETS_CERT")]
    pub cert: Option<String>,
    /// Seal with the certificate of the running controller, fetched through the Kubernetes
    /// API server's service proxy (kubeconfig as kubectl's). In kubeseal mode: print it.
    #[arg(long = "fetch-cert")]
    pub fetch_cert: bool,
    #[command(flatten)]
    pub controller: ControllerArgs,
    /// strict (bound to name and namespace), namespace-wide or cluster-wide. Default: the
    /// Secret's scope annotations, else strict; with --merge-into, the target file's scope
    /// (a different one is refused).
    #[arg(long, env = "SEALED_SECRETS_SCOPE")]
    pub scope: Option<Scope>,
    /// Output format (sealbox seal: yaml; kubeseal: json). A -w file ending in .yaml/.yml
    /// selects yaml.
    #[arg(
        short = 'o',
        long = "format",
        value_enum,
        ignore_case = true,
        env = "SEALED_SECRETS_FORMAT"
    )]
    pub format: Option<FormatArg>,
    /// Input file (default: stdin).
    #[arg(short = 'f', long = "secret-file")]
    pub secret_file: Option<PathBuf>,
    /// Output file, written atomically and only on success (default: stdout).
    #[arg(short = 'w', long = "sealed-secret-file")]
    pub sealed_secret_file: Option<PathBuf>,
    /// Name of the Secret: overrides the input's name; with --raw, the name bound by strict scope.
    #[arg(long)]
    pub name: Option<String>,
    /// Namespace; must match the input's when both are set. Default: the input's, else the
    /// kubeconfig context's, else "default".
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Seal one value (stdin or --from-file) and print only its base64 ciphertext.
    #[arg(long)]
    pub raw: bool,
    /// With --raw: the file to seal, as [key=]path.
    #[arg(long = "from-file")]
    pub from_file: Vec<String>,
    /// Seal the input Secret's items into this existing SealedSecret file, keeping its other
    /// items; its name, namespace and (unless --scope is given) scope are used.
    #[arg(long = "merge-into")]
    pub merge_into: Option<PathBuf>,
    /// Accept a Secret with no data or stringData.
    #[arg(long = "allow-empty-data")]
    pub allow_empty_data: bool,
}

/// Where private keys come from, for unseal and validate.
#[derive(Args, Default)]
pub struct KeySourceArgs {
    /// Private key files: PEM (PKCS#1 or PKCS#8), a Secret with tls.key, or the backup List
    /// from `kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml`.
    /// Repeat or comma-separate. Default: the local key store.
    #[arg(
        long = "recovery-private-key",
        visible_alias = "key",
        short = 'k',
        value_delimiter = ','
    )]
    pub recovery_private_key: Vec<PathBuf>,
}

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
}

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

impl Cli {
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Seal(args) => seal::run(&args, Format::Yaml),
            Command::Unseal(args) => unseal::unseal(&args, unseal::Mimic::Native),
            Command::Validate(args) if args.online => online::validate_online(
                &args.controller,
                args.input.as_deref(),
                args.namespace.as_deref(),
            ),
            Command::Validate(args) => unseal::validate(&args),
            Command::Reencrypt {
                paths,
                namespace,
                controller,
            } => online::reencrypt_paths(&paths, &controller, namespace.as_deref()),
            Command::Check { paths } => check::run(&paths),
            Command::Keys { command } => match command {
                KeysCommand::Init => keystore::init(),
                KeysCommand::Renew => keystore::renew(),
                KeysCommand::ExportCert => keystore::export_cert(),
                KeysCommand::Backup { output, controller } => {
                    clusterkeys::backup(&controller, output.as_deref())
                }
                KeysCommand::Restore { file, controller } => {
                    clusterkeys::restore(&controller, &file)
                }
            },
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
