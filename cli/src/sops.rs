//! SOPS files: `sealbox encrypt` / `sealbox decrypt` and the drop-in `sealbox sops …` (also
//! through a link named `sops`), sharing one set of flags with sops's names and exit codes
//! (spec `sops.md` §8, §10).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use sealbox_crypto::sops::{self, EncryptSettings, Format, Value, keys};

use crate::Exit;
use crate::io::{self, Readers};
use crate::sopsconfig;

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

/// sops's command line: `sops encrypt|decrypt [flags] FILE` or the legacy
/// `sops -e|-d [flags] FILE`.
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

#[derive(Subcommand)]
enum SopsCommand {
    /// Encrypt a file.
    Encrypt(SopsFlags),
    /// Decrypt a file.
    Decrypt(SopsFlags),
}

pub fn run_dropin(args: SopsArgs) -> Result<()> {
    match (args.command, args.encrypt, args.decrypt) {
        (Some(SopsCommand::Encrypt(flags)), ..) => encrypt(&flags),
        (Some(SopsCommand::Decrypt(flags)), ..) => decrypt(&flags),
        (None, true, false) => encrypt(&args.flags),
        (None, false, true) => decrypt(&args.flags),
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
        (None, false, false) => bail!(
            "this sops mode implements encrypt and decrypt (and -e/-d); edit, rotate, updatekeys, set, unset, exec-env, exec-file and filestatus are not implemented yet"
        ),
    }
}

pub fn encrypt(flags: &SopsFlags) -> Result<()> {
    let (bytes, format) = read_input(flags)?;
    let settings = encrypt_settings(flags)?;
    let out = sops::encrypt_file(format, &bytes, &settings, SystemTime::now())
        .with_context(|| source_name(flags))?;
    write(flags, &out, Readers::Anyone)
}

/// Recipients, threshold and selector: flags first, then the matching `.sops.yaml` rule.
fn encrypt_settings(flags: &SopsFlags) -> Result<EncryptSettings> {
    let name = flags.filename_override.clone().or_else(|| {
        flags
            .file
            .as_ref()
            .map(|f| f.to_string_lossy().into_owned())
    });
    let rule = match (sopsconfig::find(flags.config.as_deref()), name) {
        (Some(config), Some(name)) => Some(sopsconfig::matching_rule(&config, &name)?),
        _ => None,
    };
    let flag_recipients: Vec<String> = flags
        .age
        .iter()
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .collect();
    let groups = match (&rule, flag_recipients.is_empty()) {
        (_, false) => vec![flag_recipients],
        (Some(rule), true) => rule.groups(),
        (None, true) => Vec::new(),
    };
    if groups.iter().all(|g| g.is_empty()) {
        let why = if rule.as_ref().is_some_and(sopsconfig::Rule::has_pgp) {
            "the matching .sops.yaml rule names only PGP keys: PGP is not supported, age only"
        } else {
            "no age recipients: pass --age, set SOPS_AGE_RECIPIENTS, or add a .sops.yaml creation rule with age keys"
        };
        return Err(Exit::new(1, why).into());
    }
    Ok(EncryptSettings {
        groups,
        shamir_threshold: flags
            .shamir_threshold
            .or(rule.as_ref().map(|r| r.shamir_threshold))
            .unwrap_or(0),
        selector: selector(flags)?.or_else(|| rule.as_ref().and_then(sopsconfig::Rule::selector)),
        mac_only_encrypted: flags.mac_only_encrypted
            || rule.as_ref().is_some_and(|r| r.mac_only_encrypted),
    })
}

pub fn decrypt(flags: &SopsFlags) -> Result<()> {
    let (bytes, format) = read_input(flags)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Exit::new(
            2,
            format!("{}: not a sops file (not UTF-8 text)", source_name(flags)),
        )
    })?;
    let out_format = flags.output_type.map_or(format, Into::into);
    let (mut branches, meta) = sops::load(format, text).with_context(|| source_name(flags))?;
    let (identities, sources) = age_identities()?;
    let key = keys::recover_data_key(&meta, &identities).map_err(|e| {
        let hint = if identities.is_empty() {
            format!(
                "; no age identities found (looked in {})",
                sources.join(", ")
            )
        } else {
            String::new()
        };
        anyhow::Error::new(e).context(format!("{}{hint}", source_name(flags)))
    })?;
    sops::tree::decrypt(&mut branches, &meta, &key, flags.ignore_mac)
        .with_context(|| source_name(flags))?;
    let out = match &flags.extract {
        Some(path) => extract(&branches, path, out_format)?,
        None => sops::emit_plain(out_format, &branches)?,
    };
    write(flags, &out, Readers::Owner)
}

fn extract(branches: &[sops::Branch], path: &str, format: Format) -> Result<Vec<u8>> {
    let steps = sops::parse_path(path)?;
    let value = branches
        .first()
        .and_then(|b| sops::lookup(b, &steps))
        .ok_or_else(|| Exit::new(91, format!("component {path} not found")))?;
    Ok(match value {
        // A leaf prints raw, without a newline.
        Value::Scalar(s) => match s {
            sops::Scalar::Bool(true) => b"true".to_vec(),
            sops::Scalar::Bool(false) => b"false".to_vec(),
            other => other.to_bytes(),
        },
        Value::Map(branch) => sops::emit_plain(format, std::slice::from_ref(branch))?,
        _ => bail!("{path}: only a value or a mapping can be extracted"),
    })
}

fn selector(flags: &SopsFlags) -> Result<Option<(String, String)>> {
    let set: Vec<(&str, &String)> = [
        ("unencrypted_suffix", &flags.unencrypted_suffix),
        ("encrypted_suffix", &flags.encrypted_suffix),
        ("unencrypted_regex", &flags.unencrypted_regex),
        ("encrypted_regex", &flags.encrypted_regex),
        (
            "unencrypted_comment_regex",
            &flags.unencrypted_comment_regex,
        ),
        ("encrypted_comment_regex", &flags.encrypted_comment_regex),
    ]
    .into_iter()
    .filter_map(|(name, v)| v.as_ref().map(|v| (name, v)))
    .collect();
    match set.as_slice() {
        [] => Ok(None),
        [(name, value)] => Ok(Some((name.to_string(), value.to_string()))),
        _ => Err(Exit::new(
            8,
            "only one of the --*-suffix / --*-regex selectors may be given",
        )
        .into()),
    }
}

fn source_name(flags: &SopsFlags) -> String {
    flags
        .file
        .as_ref()
        .map_or("stdin".to_owned(), |p| p.display().to_string())
}

fn read_input(flags: &SopsFlags) -> Result<(zeroize::Zeroizing<Vec<u8>>, Format)> {
    if flags.in_place && flags.output.is_some() {
        return Err(Exit::new(8, "--in-place and --output cannot be used together").into());
    }
    let format = match (flags.input_type, &flags.filename_override, &flags.file) {
        (Some(t), _, _) => t.into(),
        (None, Some(name), _) => Format::from_path(name),
        (None, None, Some(file)) => Format::from_path(&file.to_string_lossy()),
        (None, None, None) => Format::Binary,
    };
    let bytes = match &flags.file {
        Some(file) if !file.exists() => {
            return Err(Exit::new(100, format!("{}: file does not exist", file.display())).into());
        }
        Some(file) => io::read_bytes(Some(file), "FILE")?,
        None if flags.in_place => bail!("--in-place needs a file"),
        None => io::read_bytes(None, "stdin")?,
    };
    Ok((bytes, format))
}

fn write(flags: &SopsFlags, bytes: &[u8], readers: Readers) -> Result<()> {
    let target: Option<&Path> = match (&flags.output, flags.in_place) {
        (Some(out), _) => Some(out),
        (None, true) => flags.file.as_deref(),
        (None, false) => None,
    };
    io::write_output(target, bytes, readers)
}

/// age identities from every source sops reads, merged (spec §8), with the places looked at.
fn age_identities() -> Result<(Vec<age::x25519::Identity>, Vec<String>)> {
    let mut identities = Vec::new();
    let mut sources = Vec::new();
    if let Some(inline) = std::env::var_os("SOPS_AGE_KEY") {
        sources.push("SOPS_AGE_KEY".to_owned());
        identities
            .extend(keys::parse_identities(&inline.to_string_lossy()).context("SOPS_AGE_KEY")?);
    }
    if let Some(file) = std::env::var_os("SOPS_AGE_KEY_FILE") {
        let file = PathBuf::from(file);
        sources.push(format!("SOPS_AGE_KEY_FILE={}", file.display()));
        let text = io::read_text(Some(&file), "SOPS_AGE_KEY_FILE")?;
        identities
            .extend(keys::parse_identities(&text).with_context(|| file.display().to_string())?);
    }
    if let Some(cmd) = std::env::var_os("SOPS_AGE_KEY_CMD") {
        let cmd = cmd.to_string_lossy().into_owned();
        sources.push(format!("SOPS_AGE_KEY_CMD={cmd}"));
        let mut words = cmd.split_whitespace();
        let program = words.next().context("SOPS_AGE_KEY_CMD is empty")?;
        let output = std::process::Command::new(program)
            .args(words)
            .output()
            .with_context(|| format!("cannot run SOPS_AGE_KEY_CMD {cmd:?}"))?;
        if !output.status.success() {
            bail!("SOPS_AGE_KEY_CMD {cmd:?} failed ({})", output.status);
        }
        let text = zeroize::Zeroizing::new(String::from_utf8_lossy(&output.stdout).into_owned());
        identities.extend(keys::parse_identities(&text).context("SOPS_AGE_KEY_CMD output")?);
    }
    if let Some(default) = default_key_file() {
        sources.push(default.display().to_string());
        if default.exists() {
            let text = io::read_text(Some(&default), "keys.txt")?;
            identities.extend(
                keys::parse_identities(&text).with_context(|| default.display().to_string())?,
            );
        }
    }
    Ok((identities, sources))
}

/// `$XDG_CONFIG_HOME/sops/age/keys.txt`, else `~/.config/sops/age/keys.txt`.
fn default_key_file() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("XDG_CONFIG_HOME")
        .or_else(|| env("HOME").map(|h| h.join(".config")))
        .map(|c| c.join("sops/age/keys.txt"))
}
