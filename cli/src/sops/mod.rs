//! SOPS files: `sealbox encrypt` / `sealbox decrypt` and the drop-in `sealbox sops …` (also
//! through a link named `sops`), sharing one set of flags with sops's names and exit codes
//! (spec `sops.md` §8, §10).

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};
use sealbox_crypto::sops::{self, Format};

use crate::Exit;

mod change;
mod exec;
mod files;

pub use files::Mode;
mod identities;

/// sops's `--input-type` / `--output-type` values.
#[derive(Clone, Copy, ValueEnum)]
pub enum TypeArg {
    Yaml,
    Json,
    Dotenv,
    Ini,
    Binary,
}

impl From<TypeArg> for Format {
    fn from(t: TypeArg) -> Format {
        match t {
            TypeArg::Yaml => Format::Yaml,
            TypeArg::Json => Format::Json,
            TypeArg::Dotenv => Format::Dotenv,
            TypeArg::Ini => Format::Ini,
            TypeArg::Binary => Format::Binary,
        }
    }
}

/// The flags of sops's encrypt and decrypt, for the native commands and the drop-in alike.
#[derive(Args, Default)]
pub struct SopsFlags {
    /// The file (default: stdin, which needs --input-type or --filename-override).
    pub file: Option<PathBuf>,
    /// age recipients, comma-separated (encrypt).
    #[arg(short = 'a', long, env = "SOPS_AGE_RECIPIENTS", value_delimiter = ',')]
    pub age: Vec<String>,
    /// Format of the input (default: from the file name; sops's rule: .yaml/.yml, .json, .env,
    /// .ini, else binary).
    #[arg(long = "input-type", value_enum)]
    pub input_type: Option<TypeArg>,
    /// Format of the output (default: the input's).
    #[arg(long = "output-type", value_enum)]
    pub output_type: Option<TypeArg>,
    /// The name used to pick the format when reading stdin.
    #[arg(long = "filename-override")]
    pub filename_override: Option<String>,
    /// Write the result back to the file (atomically).
    #[arg(short = 'i', long = "in-place")]
    pub in_place: bool,
    /// Write the result to this file (atomically) instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Decrypt even if the MAC does not match (values must still open).
    #[arg(long = "ignore-mac")]
    pub ignore_mac: bool,
    /// Decrypt one value or subtree, e.g. '["db"]["password"]'.
    #[arg(long)]
    pub extract: Option<String>,
    /// Leave values whose key ends with this suffix clear (default: _unencrypted).
    #[arg(long = "unencrypted-suffix")]
    pub unencrypted_suffix: Option<String>,
    /// Encrypt only values whose key ends with this suffix.
    #[arg(long = "encrypted-suffix")]
    pub encrypted_suffix: Option<String>,
    /// Leave values whose key matches this regex clear.
    #[arg(long = "unencrypted-regex")]
    pub unencrypted_regex: Option<String>,
    /// Encrypt only values whose key matches this regex (e.g. '^(data|stringData)$').
    #[arg(long = "encrypted-regex")]
    pub encrypted_regex: Option<String>,
    /// Leave values after a comment matching this regex clear.
    #[arg(long = "unencrypted-comment-regex")]
    pub unencrypted_comment_regex: Option<String>,
    /// Encrypt only values after a comment matching this regex.
    #[arg(long = "encrypted-comment-regex")]
    pub encrypted_comment_regex: Option<String>,
    /// Only encrypted values go into the MAC, so clear ones can be edited by hand.
    #[arg(long = "mac-only-encrypted")]
    pub mac_only_encrypted: bool,
    /// Key groups needed to recover the data key (default: the creation rule's, else all).
    #[arg(long = "shamir-secret-sharing-threshold")]
    pub shamir_threshold: Option<usize>,
    /// The .sops.yaml to use (default: SOPS_CONFIG, else .sops.yaml in the working directory
    /// or a parent).
    #[arg(long, env = "SOPS_CONFIG")]
    pub config: Option<PathBuf>,
}

/// sops's command line: `sops COMMAND [flags] FILE`, the legacy `sops -e|-d [flags] FILE`, or
/// `sops FILE` to edit.
#[derive(Parser)]
#[command(
    name = "sops",
    about = "sops-compatible file encryption with age (sealbox drop-in mode)",
    args_conflicts_with_subcommands = true,
    disable_version_flag = true
)]
pub struct SopsArgs {
    #[command(subcommand)]
    command: Option<SopsCommand>,
    /// Encrypt (legacy form of `sops encrypt`).
    #[arg(short = 'e', long)]
    encrypt: bool,
    /// Decrypt (legacy form of `sops decrypt`).
    #[arg(short = 'd', long)]
    decrypt: bool,
    /// Print the version.
    #[arg(long)]
    version: bool,
    #[command(flatten)]
    flags: SopsFlags,
}

/// The file commands, for `sealbox …` and `sealbox sops …` alike.
#[derive(Subcommand)]
pub enum SopsCommand {
    /// Encrypt a file with sops's format and age (YAML, JSON, dotenv, INI, binary). A
    /// Kubernetes Secret manifest with no selector from flags or .sops.yaml keeps
    /// apiVersion/kind/metadata readable: only data and stringData are encrypted
    /// (`sealbox sops encrypt` encrypts everything, as sops does).
    Encrypt(SopsFlags),
    /// Decrypt a sops file with age identities (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, …).
    Decrypt(SopsFlags),
    /// Open a sops file in $SOPS_EDITOR/$EDITOR and seal it again; unchanged values keep
    /// their ciphertext.
    Edit(change::EditArgs),
    /// Set one value, e.g. set secrets.json '["db"]["password"]' '"new"'.
    Set(change::SetArgs),
    /// Remove one value, e.g. unset secrets.json '["db"]["password"]'.
    Unset(change::UnsetArgs),
    /// Re-encrypt everything with a new data key (optionally adding or removing recipients).
    Rotate(change::RotateArgs),
    /// Make a file's recipients match its .sops.yaml creation rule, re-wrapping the same data key.
    Updatekeys(change::UpdatekeysArgs),
    /// Print {"encrypted":true} or {"encrypted":false}.
    Filestatus(change::FilestatusArgs),
    /// Run a command with the file's top-level values in its environment.
    #[command(name = "exec-env")]
    ExecEnv(exec::ExecEnvArgs),
    /// Run a command with the decrypted file at a private path substituted for {}.
    #[command(name = "exec-file")]
    ExecFile(exec::ExecFileArgs),
}

pub fn run_command(command: SopsCommand, mode: Mode) -> Result<()> {
    match command {
        SopsCommand::Encrypt(flags) => files::encrypt(&flags, mode),
        SopsCommand::Decrypt(flags) => files::decrypt(&flags),
        SopsCommand::Edit(args) => change::edit(&args),
        SopsCommand::Set(args) => change::set(&args),
        SopsCommand::Unset(args) => change::unset(&args),
        SopsCommand::Rotate(args) => change::rotate(&args),
        SopsCommand::Updatekeys(args) => change::updatekeys(&args),
        SopsCommand::Filestatus(args) => change::filestatus(&args),
        SopsCommand::ExecEnv(args) => exec::exec_env(&args),
        SopsCommand::ExecFile(args) => exec::exec_file(&args),
    }
}

/// Parses sops's command line. sops takes some flags before the command
/// (`sops --config X encrypt f`, `--verbose`, `--disable-version-check`, key-service and
/// decryption-order settings): `--config` is moved behind the command, the others have no
/// effect here (age only, no key service, no update check) and are dropped.
pub fn parse_dropin(argv: impl IntoIterator<Item = OsString>) -> SopsArgs {
    const COMMANDS: [&str; 10] = [
        "encrypt",
        "decrypt",
        "edit",
        "set",
        "unset",
        "rotate",
        "updatekeys",
        "filestatus",
        "exec-env",
        "exec-file",
    ];
    const WITHOUT_VALUE: [&str; 4] = [
        "--verbose",
        "--disable-version-check",
        "--check-for-updates",
        "--enable-local-keyservice",
    ];
    const WITH_VALUE: [&str; 3] = ["--keyservice", "--decryption-order", "--indent"];
    let mut args: Vec<OsString> = Vec::new();
    let mut config: Vec<OsString> = Vec::new();
    let mut input = argv.into_iter();
    let mut command_at = None;
    while let Some(arg) = input.next() {
        let text = arg.to_string_lossy().into_owned();
        let flag = text.split('=').next().unwrap_or_default().to_owned();
        if command_at.is_none() && COMMANDS.contains(&text.as_str()) && !args.is_empty() {
            command_at = Some(args.len());
        }
        if WITHOUT_VALUE.contains(&flag.as_str()) {
            continue;
        }
        if WITH_VALUE.contains(&flag.as_str()) {
            if !text.contains('=') {
                input.next();
            }
            continue;
        }
        if flag == "--config" && command_at.is_none() {
            config.push(arg);
            if !text.contains('=') {
                config.extend(input.next());
            }
            continue;
        }
        args.push(arg);
    }
    match command_at {
        // Only these commands read a creation rule; the others have no use for it.
        Some(at)
            if ["encrypt", "decrypt", "updatekeys"].contains(&&*args[at].to_string_lossy()) =>
        {
            let tail = args.split_off(at + 1);
            args.extend(config);
            args.extend(tail);
        }
        Some(_) => {}
        None => args.extend(config),
    }
    SopsArgs::parse_from(args)
}

pub fn run_dropin(args: SopsArgs) -> Result<()> {
    match (args.command, args.encrypt, args.decrypt) {
        (Some(command), ..) => run_command(command, Mode::Sops),
        (None, true, false) => files::encrypt(&args.flags, Mode::Sops),
        (None, false, true) => files::decrypt(&args.flags),
        (None, true, true) => {
            Err(Exit::new(8, "--encrypt and --decrypt are mutually exclusive").into())
        }
        (None, false, false) if args.version => {
            println!(
                "sops {} (sealbox {})",
                sops::metadata::SOPS_VERSION,
                env!("CARGO_PKG_VERSION")
            );
            Ok(())
        }
        // `sops FILE` edits.
        (None, false, false) => match args.flags.file {
            Some(file) => change::edit(&change::EditArgs {
                file,
                input_type: args.flags.input_type,
                ignore_mac: args.flags.ignore_mac,
            }),
            None => Err(Exit::new(100, "no file specified").into()),
        },
    }
}
