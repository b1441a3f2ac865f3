//! Changing sealed files: `edit`, `set`, `unset` (same data key; unchanged values keep their
//! ciphertext), `rotate` (new data key), `updatekeys` (same key, new recipients) and
//! `filestatus`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use clap::Args;
use sealbox_crypto::sops::{self, Format, OpenFile};

use super::files;
use super::flags::TypeArg;
use crate::cleanup::{self, PrivateDir};
use crate::exit::{
    ERROR_CONFLICTING_PARAMETERS, ERROR_GENERIC, ERROR_INVALID_SET_FORMAT, Exit,
    FILE_HAS_NOT_BEEN_MODIFIED, NO_EDITOR_FOUND, NO_FILE_SPECIFIED,
};
use crate::io::{self, Readers};
use crate::sopsconfig;

#[derive(Args)]
pub struct EditArgs {
    /// The SOPS file to edit (it must exist: create one with `sealbox encrypt`).
    pub file: PathBuf,
    /// Read the file as this format instead of the one its name picks.
    #[arg(long = "input-type", value_enum)]
    pub input_type: Option<TypeArg>,
    /// Open the file even when its MAC does not match; the saved result gets a new MAC.
    #[arg(long = "ignore-mac")]
    pub ignore_mac: bool,
}

#[derive(Args)]
pub struct SetArgs {
    /// The SOPS file.
    file: PathBuf,
    /// Where, e.g. '["db"]["password"]'.
    path: String,
    /// The new value as JSON ('"text"', '5', '{"a": 1}').
    value: Option<String>,
    /// Read the value from the file named by VALUE.
    #[arg(long = "value-file")]
    value_file: bool,
    /// Read the value from stdin.
    #[arg(long = "value-stdin")]
    value_stdin: bool,
    /// Do not rewrite the file when the value is already there.
    #[arg(long)]
    idempotent: bool,
    /// Read the file as this format instead of the one its name picks.
    #[arg(long = "input-type", value_enum)]
    input_type: Option<TypeArg>,
}

#[derive(Args)]
pub struct UnsetArgs {
    /// The SOPS file.
    file: PathBuf,
    /// Where, e.g. '["db"]["password"]'.
    path: String,
    /// Succeed without writing when the path does not exist.
    #[arg(long)]
    idempotent: bool,
    /// Read the file as this format instead of the one its name picks.
    #[arg(long = "input-type", value_enum)]
    input_type: Option<TypeArg>,
}

#[derive(Args)]
pub struct RotateArgs {
    /// The SOPS file.
    pub file: PathBuf,
    /// Add age recipients (comma-separated) to the first key group.
    #[arg(long = "add-age", value_delimiter = ',')]
    pub add_age: Vec<String>,
    /// Remove age recipients (comma-separated) from every key group.
    #[arg(long = "rm-age", value_delimiter = ',')]
    pub rm_age: Vec<String>,
    /// Write the result back to FILE (atomically) instead of stdout.
    #[arg(short = 'i', long = "in-place")]
    pub in_place: bool,
    /// Write the result to this file instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Read the file as this format instead of the one its name picks.
    #[arg(long = "input-type", value_enum)]
    pub input_type: Option<TypeArg>,
}

#[derive(Args)]
pub struct UpdatekeysArgs {
    /// SOPS files whose recipients should follow .sops.yaml.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Apply without asking.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// The .sops.yaml to follow (default: found from each file's directory upwards).
    #[arg(long, env = "SOPS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Read the file as this format instead of the one its name picks.
    #[arg(long = "input-type", value_enum)]
    pub input_type: Option<TypeArg>,
}

#[derive(Args)]
pub struct FilestatusArgs {
    /// The SOPS file.
    file: PathBuf,
    /// Read the file as this format instead of the one its name picks.
    #[arg(long = "input-type", value_enum)]
    input_type: Option<TypeArg>,
}

fn format_of(file: &std::path::Path, input_type: Option<TypeArg>) -> Format {
    input_type.map_or_else(|| Format::from_path(&file.to_string_lossy()), Into::into)
}

fn read(file: &std::path::Path) -> Result<zeroize::Zeroizing<String>> {
    if !file.exists() {
        return Err(Exit::new(
            NO_FILE_SPECIFIED,
            format!("{}: file does not exist", file.display()),
        )
        .into());
    }
    io::read_text(Some(file), "FILE")
}

fn open(
    file: &std::path::Path,
    input_type: Option<TypeArg>,
    ignore_mac: bool,
) -> Result<(OpenFile, zeroize::Zeroizing<String>)> {
    let text = read(file)?;
    let opened = files::open(
        &text,
        format_of(file, input_type),
        &file.display().to_string(),
        ignore_mac,
    )?;
    Ok((opened, text))
}

pub fn set(args: &SetArgs) -> Result<()> {
    let raw = match (&args.value, args.value_file, args.value_stdin) {
        (Some(path), true, false) => {
            io::read_text(Some(std::path::Path::new(path)), "--value-file")?
        }
        (None, false, true) => io::read_text(None, "--value-stdin")?,
        (Some(v), false, false) => zeroize::Zeroizing::new(v.clone()),
        _ => {
            return Err(Exit::new(
                ERROR_INVALID_SET_FORMAT,
                "give the value as an argument, or use --value-file or --value-stdin",
            )
            .into());
        }
    };
    let steps = sops::parse_path(&args.path)?;
    let value = sops::json::parse_value(&raw)?;
    let (mut file, _) = open(&args.file, args.input_type, false)?;
    let first = file
        .branches
        .first_mut()
        .context("the file has no document")?;
    let changed = sops::set(first, &steps, value)?;
    if !changed && args.idempotent {
        return Ok(());
    }
    io::write_output(
        Some(&args.file),
        &file.seal(SystemTime::now())?,
        Readers::Anyone,
    )
}

pub fn unset(args: &UnsetArgs) -> Result<()> {
    let steps = sops::parse_path(&args.path)?;
    let (mut file, _) = open(&args.file, args.input_type, false)?;
    let first = file
        .branches
        .first_mut()
        .context("the file has no document")?;
    match sops::unset(first, &steps) {
        Ok(()) => {}
        Err(sops::Error::Path(_)) if args.idempotent => return Ok(()),
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!(
                "{}: {}",
                args.file.display(),
                args.path
            )));
        }
    }
    io::write_output(
        Some(&args.file),
        &file.seal(SystemTime::now())?,
        Readers::Anyone,
    )
}

pub fn rotate(args: &RotateArgs) -> Result<()> {
    if args.in_place && args.output.is_some() {
        return Err(Exit::new(
            ERROR_CONFLICTING_PARAMETERS,
            "--in-place and --output cannot be used together",
        )
        .into());
    }
    let (file, _) = open(&args.file, args.input_type, false)?;
    let mut groups = file.recipient_groups();
    if groups.is_empty() {
        groups.push(Vec::new());
    }
    groups[0].extend(args.add_age.iter().map(|r| r.trim().to_owned()));
    for group in &mut groups {
        group.retain(|r| !args.rm_age.contains(r));
        group.dedup();
    }
    let threshold = file.metadata.shamir_threshold;
    let out = file.rotate(&groups, threshold, SystemTime::now())?;
    let target = match (&args.output, args.in_place) {
        (Some(out), _) => Some(out.as_path()),
        (None, true) => Some(args.file.as_path()),
        (None, false) => None,
    };
    io::write_output(target, &out, Readers::Anyone)
}

pub fn updatekeys(args: &UpdatekeysArgs) -> Result<()> {
    let config = sopsconfig::find(args.config.as_deref())
        .ok_or_else(|| Exit::new(ERROR_GENERIC, "updatekeys needs a .sops.yaml (or --config)"))?;
    for path in &args.files {
        let rule =
            sopsconfig::matching_rule(&config, &path.to_string_lossy())?.ok_or_else(|| {
                Exit::new(
                    ERROR_GENERIC,
                    format!("{}: has no creation_rules", config.display()),
                )
            })?;
        let wanted: Vec<Vec<String>> = rule.groups();
        let (file, text) = open(path, args.input_type, false)?;
        let current = file.recipient_groups();
        // sops keeps the file's threshold unless the rule sets one, and clamps it to the groups.
        let threshold = match rule.shamir_threshold {
            0 => file.metadata.shamir_threshold.min(wanted.len()),
            t => t,
        };
        let threshold = if wanted.len() < 2 { 0 } else { threshold };
        if current == wanted && file.metadata.shamir_threshold == threshold {
            println!("File {} already up to date", path.display());
            continue;
        }
        println!("The following changes will be made to the file's groups:");
        for (i, group) in wanted.iter().enumerate() {
            println!("Group {}", i + 1);
            let old = current.get(i).cloned().unwrap_or_default();
            for r in group {
                println!("    {}{r}", if old.contains(r) { "" } else { "+++ " });
            }
            for r in old.iter().filter(|r| !group.contains(r)) {
                println!("--- {r}");
            }
        }
        if !args.yes && !confirm()? {
            println!("Changes not applied to {}", path.display());
            continue;
        }
        let out = file.rewrap(&text, &wanted, threshold)?;
        io::write_output(Some(path), &out, Readers::Anyone)?;
        println!("File {} synced with new keys", path.display());
    }
    Ok(())
}

fn confirm() -> Result<bool> {
    print!("Is this okay? (y/n):");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "y")
}

pub fn filestatus(args: &FilestatusArgs) -> Result<()> {
    let text = read(&args.file)?;
    let encrypted = sops::load(format_of(&args.file, args.input_type), &text)
        .is_ok_and(|(_, meta)| !meta.version.is_empty() && !meta.mac.is_empty());
    println!("{{\"encrypted\":{encrypted}}}");
    Ok(())
}

/// Decrypts into a 0600 file in a private directory, runs the editor on it, and seals the
/// result back in place. The plaintext copy is removed whatever happens.
pub fn edit(args: &EditArgs) -> Result<()> {
    let (mut file, _) = open(&args.file, args.input_type, args.ignore_mac)?;
    let before = zeroize::Zeroizing::new(file.plain(file.format)?);
    let dir = PrivateDir::new("edit")?;
    let name = args
        .file
        .file_name()
        .map_or("file".into(), |n| n.to_owned());
    let path = dir.path().join(name);
    io::write_output(Some(&path), &before, Readers::Owner)?;
    loop {
        run_editor(&path)?;
        let after = io::read_bytes(Some(&path), "the edited file")?;
        if after.as_slice() == before.as_slice() {
            return Err(
                Exit::new(FILE_HAS_NOT_BEEN_MODIFIED, "File has not changed, exiting.").into(),
            );
        }
        match file.replace_plain(&after) {
            Ok(()) => break,
            // At a terminal, as sops does, back to the editor with the edits kept.
            Err(e) if std::io::stdin().is_terminal() => {
                // `{:#}` adds the cause (the parser's own message).
                let e = anyhow::Error::new(e);
                eprint!("{e:#}\nPress Enter to return to the editor, or Ctrl+C to exit.");
                std::io::stdin().lock().read_line(&mut String::new())?;
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "{}: the edited text does not parse, so your edits were discarded and the file was left unchanged (not at a terminal, sealbox cannot send you back to the editor; run `sealbox edit` at a terminal, or `sealbox set` for one value)",
                    args.file.display()
                )));
            }
        }
    }
    drop(dir);
    io::write_output(
        Some(&args.file),
        &file.seal(SystemTime::now())?,
        Readers::Anyone,
    )
}

/// `$SOPS_EDITOR`, else `$EDITOR`, else vim/nano/vi, split on whitespace.
fn run_editor(path: &std::path::Path) -> Result<()> {
    let configured = ["SOPS_EDITOR", "EDITOR"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()));
    let command = match configured {
        Some(c) => c,
        None => ["vim", "nano", "vi"]
            .iter()
            .find(|e| which(e))
            .map(|e| e.to_string())
            .ok_or_else(|| {
                Exit::new(
                    NO_EDITOR_FOUND,
                    "no editor found: set SOPS_EDITOR or EDITOR",
                )
            })?,
    };
    let mut words = command.split_whitespace();
    let program = words.next().expect("non-empty");
    let mut editor = std::process::Command::new(program);
    editor.args(words).arg(path);
    let status = cleanup::foreground_child(|| editor.status()).map_err(|e| {
        Exit::new(
            NO_EDITOR_FOUND,
            format!("cannot run the editor {program:?}: {e}"),
        )
    })?;
    if !status.success() {
        bail!("the editor {program:?} failed ({status}); the file was left unchanged");
    }
    Ok(())
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}
