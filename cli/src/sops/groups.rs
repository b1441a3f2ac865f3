//! `groups add` and `groups delete` (sops `cmd/sops/subcommand/groups`): a key group more or
//! less, the same data key re-split and re-wrapped; values, MAC and `lastmodified` stay.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use super::files;
use crate::exit::{ERROR_GENERIC, Exit, NO_FILE_SPECIFIED};
use crate::io::{self, Readers};

#[derive(Subcommand)]
pub enum GroupsCommand {
    /// Add a key group: `groups add --file F --age age1… [--age …]`. With two or more groups
    /// the data key is split with Shamir (threshold: --shamir-secret-sharing-threshold, else
    /// the file's, else all groups).
    Add(AddArgs),
    /// Delete the key group at INDEX (from 0, in the order of `sops.key_groups`).
    #[command(visible_alias = "remove")]
    Delete(DeleteArgs),
}

/// What both take.
#[derive(Args)]
pub struct Common {
    /// The SOPS file.
    #[arg(short = 'f', long)]
    file: PathBuf,
    /// Write the result back to the file (atomically) instead of stdout.
    #[arg(short = 'i', long = "in-place")]
    in_place: bool,
    /// Key groups needed to recover the data key (default: the file's; 0 or unset means all).
    #[arg(long = "shamir-secret-sharing-threshold", default_value_t = 0)]
    shamir_threshold: usize,
}

#[derive(Args)]
pub struct AddArgs {
    #[command(flatten)]
    common: Common,
    /// age recipients of the new group (repeatable, or comma-separated): age1…, age1pq1…,
    /// ssh-ed25519 …, ssh-rsa ….
    #[arg(long)]
    age: Vec<String>,
    /// PGP fingerprints (sops's flag; refused: sealbox wraps keys for age only).
    #[arg(long)]
    pgp: Vec<String>,
    /// AWS KMS ARNs (refused: age only).
    #[arg(long)]
    kms: Vec<String>,
    /// GCP KMS resource ids (refused: age only).
    #[arg(long = "gcp-kms")]
    gcp_kms: Vec<String>,
    /// Azure Key Vault key URLs (refused: age only).
    #[arg(long = "azure-kv")]
    azure_kv: Vec<String>,
    /// Vault transit key URIs (refused: age only).
    #[arg(long = "hc-vault-transit")]
    hc_vault_transit: Vec<String>,
    /// (none: sops refuses positional arguments here, with its generic status)
    #[arg(hide = true)]
    extra: Vec<String>,
}

#[derive(Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    common: Common,
    /// Which group, counting from 0 (exactly one).
    #[arg(value_name = "INDEX")]
    index: Vec<String>,
}

pub fn run(command: &GroupsCommand) -> Result<()> {
    match command {
        GroupsCommand::Add(args) => add(args),
        GroupsCommand::Delete(args) => delete(args),
    }
}

fn add(args: &AddArgs) -> Result<()> {
    if !args.extra.is_empty() {
        return Err(Exit::new(ERROR_GENERIC, "error: no positional arguments allowed").into());
    }
    let foreign = [
        ("--pgp", &args.pgp),
        ("--kms", &args.kms),
        ("--gcp-kms", &args.gcp_kms),
        ("--azure-kv", &args.azure_kv),
        ("--hc-vault-transit", &args.hc_vault_transit),
    ];
    if let Some((flag, _)) = foreign.iter().find(|(_, v)| !v.is_empty()) {
        return Err(Exit::new(
            ERROR_GENERIC,
            format!("{flag}: sealbox wraps data keys for age recipients only: use --age"),
        )
        .into());
    }
    let new: Vec<String> = args
        .age
        .iter()
        .flat_map(|a| a.split(','))
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .collect();
    change_groups(&args.common, |groups, threshold| {
        sealbox_crypto::sops::keys::add_group(groups, threshold, new, args.common.shamir_threshold)
    })
}

fn delete(args: &DeleteArgs) -> Result<()> {
    let [index] = args.index.as_slice() else {
        return Err(Exit::new(
            ERROR_GENERIC,
            "error: exactly one positional argument (index) required",
        )
        .into());
    };
    let index: usize = index.trim().parse().map_err(|_| {
        Exit::new(
            ERROR_GENERIC,
            format!("failed to parse [index] argument: {index:?} is not a group number"),
        )
    })?;
    change_groups(&args.common, |groups, threshold| {
        sealbox_crypto::sops::keys::delete_group(
            groups,
            threshold,
            index,
            args.common.shamir_threshold,
        )
    })
}

type Groups = Vec<Vec<String>>;

fn change_groups(
    common: &Common,
    change: impl FnOnce(Groups, usize) -> Result<(Groups, usize), sealbox_crypto::sops::Error>,
) -> Result<()> {
    let source = common.file.display().to_string();
    if !common.file.exists() {
        return Err(Exit::new(NO_FILE_SPECIFIED, format!("{source}: file does not exist")).into());
    }
    let text = io::read_text(Some(&common.file), "--file")?;
    let format = sealbox_crypto::sops::Format::from_path(&source);
    let file = files::open(&text, format, &source, false)?;
    let (groups, threshold) = change(file.recipient_groups(), file.metadata.shamir_threshold)
        .map_err(|e| anyhow::Error::new(e).context(source.clone()))?;
    let out = file
        .regroup(&text, &groups, threshold)
        .map_err(|e| anyhow::Error::new(e).context(source))?;
    let target = common.in_place.then_some(common.file.as_path());
    io::write_output(target, &out, Readers::Anyone)
}
