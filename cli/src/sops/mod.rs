//! SOPS files: `sealbox encrypt` / `sealbox decrypt` and the drop-in `sealbox sops …` (also
//! through a link named `sops`), sharing one set of flags with sops's names and exit codes
//! (spec `sops.md` §8, §10).

use std::ffi::OsString;

use anyhow::Result;
use clap::{Parser, Subcommand};
use sealbox_crypto::sops;

use crate::exit::{ERROR_CONFLICTING_PARAMETERS, Exit, NO_FILE_SPECIFIED};

mod change;
mod exec;
mod files;
mod flags;
mod groups;
mod identities;
mod rekey;
mod tree;

use std::path::PathBuf;

use files::Mode;

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
    /// The legacy `-e`/`-d` form takes encrypt's and decrypt's flags alike.
    #[command(flatten)]
    io: flags::IoFlags,
    #[command(flatten)]
    encrypt_flags: flags::EncryptFlags,
    #[command(flatten)]
    decrypt_flags: flags::DecryptFlags,
}

/// The file commands `sealbox …` and `sealbox sops …` share.
#[derive(Subcommand)]
pub enum FileCommand {
    /// Encrypt a file with sops's format and age (YAML, JSON, dotenv, INI, binary). A
    /// Kubernetes Secret manifest with no selector from flags or .sops.yaml keeps
    /// apiVersion/kind/metadata readable: only data and stringData are encrypted
    /// (`sealbox sops encrypt` encrypts everything, as sops does).
    Encrypt(flags::EncryptArgs),
    /// Decrypt a sops file with age identities (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, …).
    Decrypt(flags::DecryptArgs),
    /// Open a sops file in $SOPS_EDITOR/$EDITOR and seal it again; unchanged values keep
    /// their ciphertext.
    Edit(change::EditArgs),
    /// Set one value, e.g. set secrets.json '["db"]["password"]' '"new"'.
    Set(change::SetArgs),
    /// Remove one value, e.g. unset secrets.json '["db"]["password"]'.
    Unset(change::UnsetArgs),
    /// Print {"encrypted":true} or {"encrypted":false}.
    Filestatus(change::FilestatusArgs),
    /// Run a command with the file's top-level values in its environment.
    #[command(name = "exec-env")]
    ExecEnv(exec::ExecEnvArgs),
    /// Run a command with the decrypted file at a private path substituted for {}.
    #[command(name = "exec-file")]
    ExecFile(exec::ExecFileArgs),
    /// Add or delete key groups (`groups add --file F --age …`, `groups delete --file F INDEX`),
    /// re-wrapping the same data key.
    #[command(subcommand)]
    Groups(groups::GroupsCommand),
}

/// `sealbox sops …`'s commands: the shared ones, and sops's single-file rotate and
/// updatekeys exactly as sops has them.
#[derive(Subcommand)]
pub enum SopsCommand {
    #[command(flatten)]
    File(Box<FileCommand>),
    /// Re-encrypt everything with a new data key (optionally adding or removing recipients).
    Rotate(change::RotateArgs),
    /// Make a file's recipients match its .sops.yaml creation rule, re-wrapping the same data key.
    Updatekeys(change::UpdatekeysArgs),
}

/// sealbox's own file commands: the shared ones, and rotate and updatekeys that also walk
/// directories (`sops::tree`).
#[derive(Subcommand)]
pub enum NativeCommand {
    #[command(flatten)]
    File(Box<FileCommand>),
    /// Re-encrypt with a new data key (optionally adding or removing recipients): one file as
    /// sops does, or every SOPS file under directories, in place, with a per-file report.
    Rotate(tree::RotateArgs),
    /// Make files' recipients match their .sops.yaml creation rules, re-wrapping the same data
    /// key: files as sops does, or every SOPS file under directories, with a per-file report.
    Updatekeys(tree::UpdatekeysArgs),
}

fn run_file(command: FileCommand, mode: Mode) -> Result<()> {
    match command {
        FileCommand::Encrypt(args) => files::encrypt(&args.io, &args.encrypt, mode),
        FileCommand::Decrypt(args) => files::decrypt(&args.io, &args.decrypt),
        FileCommand::Edit(args) => change::edit(&args),
        FileCommand::Set(args) => change::set(&args),
        FileCommand::Unset(args) => change::unset(&args),
        FileCommand::Filestatus(args) => change::filestatus(&args),
        FileCommand::ExecEnv(args) => exec::exec_env(&args),
        FileCommand::ExecFile(args) => exec::exec_file(&args),
        FileCommand::Groups(command) => groups::run(&command),
    }
}

fn run_command(command: SopsCommand) -> Result<()> {
    match command {
        SopsCommand::File(command) => run_file(*command, Mode::Sops),
        SopsCommand::Rotate(args) => change::rotate(&args),
        SopsCommand::Updatekeys(args) => change::updatekeys(&args),
    }
}

/// Runs one of sealbox's own file commands. `rotate` and `updatekeys` given sops's command
/// line (files, sops's flags) do what sops does; given a directory, `--dry-run` or a report
/// format they walk (`sops::tree`).
pub fn run_native(command: NativeCommand) -> Result<()> {
    match command {
        NativeCommand::File(command) => run_file(*command, Mode::Native),
        NativeCommand::Rotate(args) if args.walks() => tree::rotate(&args),
        NativeCommand::Rotate(args) => change::rotate(&change::RotateArgs {
            file: args.paths.into_iter().next().unwrap_or_default(),
            add_age: args.add_age,
            rm_age: args.rm_age,
            in_place: args.in_place,
            output: args.output.map(PathBuf::from),
            input_type: args.input_type,
        }),
        NativeCommand::Updatekeys(args) if args.walks() => tree::updatekeys(&args),
        NativeCommand::Updatekeys(args) => change::updatekeys(&change::UpdatekeysArgs {
            files: args.paths,
            yes: args.yes,
            config: args.config,
            input_type: args.input_type,
        }),
    }
}

/// Parses sops's command line. sops takes some flags before the command
/// (`sops --config X encrypt f`, `--verbose`, `--disable-version-check`, key-service and
/// decryption-order settings): `--config` is moved behind the command, the others have no
/// effect here (age only, no key service, no update check) and are dropped.
pub fn parse_dropin(argv: impl IntoIterator<Item = OsString>) -> SopsArgs {
    const COMMANDS: [&str; 11] = [
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
        "groups",
    ];
    const WITHOUT_VALUE: [&str; 4] = [
        "--verbose",
        "--disable-version-check",
        "--check-for-updates",
        "--enable-local-keyservice",
    ];
    const WITH_VALUE: [&str; 2] = ["--keyservice", "--decryption-order"];
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
        // sops's global `--indent` (before the command, or anywhere in the legacy form)
        // applies to whichever command writes YAML or JSON.
        if flag == "--indent" {
            let value = match text.split_once('=') {
                Some((_, v)) => Some(v.to_owned()),
                None => input.next().map(|v| v.to_string_lossy().into_owned()),
            };
            if let Some(indent) = value.and_then(|v| v.trim().parse::<i64>().ok()) {
                files::set_global_indent(indent);
            }
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
        (Some(command), ..) => run_command(command),
        (None, true, false) => files::encrypt(&args.io, &args.encrypt_flags, Mode::Sops),
        (None, false, true) => files::decrypt(&args.io, &args.decrypt_flags),
        (None, true, true) => Err(Exit::new(
            ERROR_CONFLICTING_PARAMETERS,
            "--encrypt and --decrypt are mutually exclusive",
        )
        .into()),
        (None, false, false) if args.version => {
            println!(
                "sops {} (sealbox {})",
                sops::metadata::SOPS_VERSION,
                env!("CARGO_PKG_VERSION")
            );
            Ok(())
        }
        // `sops FILE` edits.
        (None, false, false) => match args.io.file {
            Some(file) => change::edit(&change::EditArgs {
                file,
                input_type: args.io.input_type,
                ignore_mac: args.decrypt_flags.ignore_mac,
            }),
            None => Err(Exit::new(NO_FILE_SPECIFIED, "no file specified").into()),
        },
    }
}
