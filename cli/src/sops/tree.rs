//! `sealbox updatekeys PATHS…` and `sealbox rotate PATHS…` over whole trees: the SOPS twin
//! of `sealbox reencrypt`. Every file under PATHS (`.git` skipped) that carries SOPS metadata
//! is re-keyed and written back atomically; a file a `.sops.yaml` rule covers that is not
//! encrypted is reported (never encrypted); a file that fails is left as it was and listed,
//! and the run exits non-zero. `--dry-run` says what would change and writes nothing.
//!
//! ```text
//! sealbox updatekeys -y secrets/                # recipients from .sops.yaml, same data key
//! sealbox rotate secrets/ --rm-age age1old…     # new data key, one recipient fewer
//! ```
//!
//! One file with sops's flags (and no `--dry-run`/`--output json`) is sops's single-file
//! command, which `sops::change` implements; `sops/mod.rs` decides which runs
//! ([`RotateArgs::walks`], [`UpdatekeysArgs::walks`]).

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Result, bail};
use clap::Args;
use sealbox_crypto::sops::config::Rule;
use sealbox_crypto::sops::keys::Identity;
use sealbox_crypto::sops::{self, Format};

use super::files;
use super::flags::TypeArg;
use super::identities::age_identities;
use super::rekey::{self, Rekey};
use crate::cleanup;
use crate::exit::{ERROR_CONFLICTING_PARAMETERS, ERROR_GENERIC, Exit};
use crate::io::{self, Readers};
use crate::report::{self, Outcome, Record, Report};
use crate::sopsconfig;

#[derive(Args)]
pub struct RotateArgs {
    /// SOPS files or directories (searched recursively, .git skipped). One file: as sops, the
    /// result goes to stdout unless -i or --output FILE. A directory, several files or
    /// --dry-run: every SOPS file is rewritten in place and reported.
    #[arg(required = true, value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
    /// Add age recipients (comma-separated) to the first key group.
    #[arg(long = "add-age", value_delimiter = ',')]
    pub add_age: Vec<String>,
    /// Remove age recipients (comma-separated) from every key group.
    #[arg(long = "rm-age", value_delimiter = ',')]
    pub rm_age: Vec<String>,
    /// Write the result back to the file (atomically) instead of stdout; a walk always does.
    #[arg(short = 'i', long = "in-place")]
    pub in_place: bool,
    /// One file: write the result to this file instead of stdout. A walk: `text` (default)
    /// or `json` (one record per file on stdout).
    #[arg(long, value_name = "FILE|text|json")]
    pub output: Option<String>,
    /// Read files as this format instead of the one their names pick.
    #[arg(long = "input-type", value_enum)]
    pub input_type: Option<TypeArg>,
    /// Say what would change (recipients added and removed, per file) and write nothing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
}

#[derive(Args)]
pub struct UpdatekeysArgs {
    /// SOPS files or directories (searched recursively, .git skipped) whose recipients should
    /// follow .sops.yaml.
    #[arg(required = true, value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
    /// Apply without asking.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// The .sops.yaml to follow (default: found from the working directory upwards).
    #[arg(long, env = "SOPS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Read files as this format instead of the one their names pick.
    #[arg(long = "input-type", value_enum)]
    pub input_type: Option<TypeArg>,
    /// Say what would change (recipients added and removed, per file) and write nothing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// `text` (default), or `json`: one record per file on stdout. Either walks PATHS.
    #[arg(long, value_enum)]
    pub output: Option<report::Format>,
}

impl RotateArgs {
    /// Whether this is a walk (a directory, several paths, or `--dry-run`) rather than sops's
    /// single-file rotate.
    pub fn walks(&self) -> bool {
        self.dry_run || self.paths.len() > 1 || self.paths.iter().any(|p| p.is_dir())
    }
}

impl UpdatekeysArgs {
    /// Whether this is a walk (a directory, `--dry-run` or `--output`) rather than sops's
    /// updatekeys of the files named.
    pub fn walks(&self) -> bool {
        self.dry_run || self.output.is_some() || self.paths.iter().any(|p| p.is_dir())
    }
}

/// What a walk does to each SOPS file.
enum Action<'a> {
    Rotate { add: &'a [String], rm: &'a [String] },
    Updatekeys { config: &'a Path },
}

/// The settings of one walk.
struct Walk<'a> {
    action: Action<'a>,
    config: Option<PathBuf>,
    input_type: Option<TypeArg>,
    dry_run: bool,
    identities: (Vec<Identity>, Vec<String>),
}

pub fn rotate(args: &RotateArgs) -> Result<()> {
    let format = match args.output.as_deref() {
        None | Some("text") => report::Format::Text,
        Some("json") => report::Format::Json,
        Some(other) => {
            return Err(Exit::new(
                ERROR_CONFLICTING_PARAMETERS,
                format!(
                    "--output {other}: a directory or several files are each rewritten in place, so --output takes text or json here (the report's format); to write one rotated file elsewhere, give that one file"
                ),
            )
            .into());
        }
    };
    let walk = Walk {
        action: Action::Rotate {
            add: &args.add_age,
            rm: &args.rm_age,
        },
        config: sopsconfig::find(None),
        input_type: args.input_type,
        dry_run: args.dry_run,
        identities: age_identities(),
    };
    run(&walk, &args.paths, format, "rotate")
}

pub fn updatekeys(args: &UpdatekeysArgs) -> Result<()> {
    let config = sopsconfig::find(args.config.as_deref())
        .ok_or_else(|| Exit::new(ERROR_GENERIC, "updatekeys needs a .sops.yaml (or --config)"))?;
    let format = args.output.unwrap_or_default();
    let mut walk = Walk {
        action: Action::Updatekeys { config: &config },
        config: Some(config.clone()),
        input_type: args.input_type,
        dry_run: args.dry_run,
        identities: age_identities(),
    };
    if walk.dry_run || args.yes {
        return run(&walk, &args.paths, format, "updatekeys");
    }
    // As sops asks before each file, a walk asks once, after showing every change.
    if !std::io::stdin().is_terminal() {
        return Err(Exit::new(
            ERROR_GENERIC,
            "updatekeys on a directory asks before it changes files, and stdin is not a terminal: pass -y to apply, or --dry-run to see what would change",
        )
        .into());
    }
    walk.dry_run = true;
    run(&walk, &args.paths, format, "updatekeys")?;
    eprint!("Apply these changes? (y/n): ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != "y" {
        eprintln!("Changes not applied");
        return Ok(());
    }
    walk.dry_run = false;
    run(&walk, &args.paths, format, "updatekeys")
}

fn run(walk: &Walk, paths: &[PathBuf], format: report::Format, command: &str) -> Result<()> {
    let files = io::files_under(paths)?;
    let mut report = Report::new(format, files.len());
    for file in &files {
        report.working_on(file);
        report.record(rekey_file(walk, file));
    }
    let count = |o| report.count(o);
    let summary = if walk.dry_run {
        format!(
            "{command} --dry-run: {} of {} file(s) would change, {} failed; nothing was written",
            count(Outcome::WouldChange),
            files.len(),
            count(Outcome::Failed)
        )
    } else {
        format!(
            "{command}: {} of {} file(s) changed, {} failed",
            count(Outcome::Changed),
            files.len(),
            count(Outcome::Failed)
        )
    };
    report.finish(&summary)
}

/// What kind of file a walk found, from its content and the `.sops.yaml` rules.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// Carries SOPS metadata: re-keyed.
    Sops,
    /// Not encrypted, but a creation rule covers it: reported.
    Uncovered,
    /// Neither: left alone silently.
    Other,
}

fn kind(is_sops: bool, covered: bool) -> Kind {
    match (is_sops, covered) {
        (true, _) => Kind::Sops,
        (false, true) => Kind::Uncovered,
        (false, false) => Kind::Other,
    }
}

fn rekey_file(walk: &Walk, file: &Path) -> Record {
    match try_rekey_file(walk, file) {
        Ok(record) => record,
        Err(e) => Record::new(file, Outcome::Failed, without_name(&format!("{e:#}"), file)),
    }
}

/// The record names the file already: an error that starts with its name drops it.
fn without_name(message: &str, file: &Path) -> String {
    message
        .strip_prefix(&*file.to_string_lossy())
        .map_or(message, |rest| rest.trim_start_matches([':', ';', ' ']))
        .to_owned()
}

fn try_rekey_file(walk: &Walk, file: &Path) -> Result<Record> {
    let base = file.file_name().map(|n| n.to_string_lossy().into_owned());
    if base.as_deref() == Some(".sops.yaml") {
        return Ok(Record::new(
            file,
            Outcome::Unchanged,
            "the SOPS configuration",
        ));
    }
    if base.as_deref().is_some_and(cleanup::is_artifact_name) {
        // Left by a killed run; the next write into its directory removes it.
        return Ok(Record::new(
            file,
            Outcome::Unchanged,
            "a temp file of an interrupted sealbox run",
        ));
    }
    let name = file.to_string_lossy();
    let format = walk
        .input_type
        .map_or_else(|| Format::from_path(&name), Into::into);
    let bytes = io::read_bytes(Some(file), "PATHS")?;
    let sops_file = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|t| Some((t, sops::load(format, t).ok()?.1)));
    let rule = match &walk.config {
        Some(config) => sopsconfig::find_rule(config, &name)?,
        None => None,
    };
    let (text, metadata) = match (kind(sops_file.is_some(), rule.is_some()), sops_file) {
        (Kind::Other, _) => return Ok(Record::new(file, Outcome::Unchanged, "not a SOPS file")),
        (Kind::Uncovered, _) => {
            return Ok(Record::new(
                file,
                Outcome::Skipped,
                format!(
                    "a .sops.yaml creation rule covers it but it is not encrypted; left as it is (encrypt it with `sealbox encrypt -i {name}`)"
                ),
            ));
        }
        (_, Some(loaded)) => loaded,
        (Kind::Sops, None) => bail!("cannot read it"),
    };
    // Decided from the metadata alone, so a file already as asked needs no key to open it (a
    // second updatekeys after the old key is gone still succeeds).
    let current: Vec<Vec<String>> = metadata
        .groups()
        .iter()
        .map(|g| g.age.iter().map(|a| a.recipient.clone()).collect())
        .collect();
    let threshold = metadata.shamir_threshold;
    let plan = match walk.action {
        Action::Rotate { add, rm } => rekey::rotate(&current, threshold, add, rm),
        Action::Updatekeys { config } => {
            let Some(rule) = rule else {
                return Ok(Record::new(
                    file,
                    Outcome::Skipped,
                    format!(
                        "no creation rule of {} covers it, so updatekeys has no recipients for it; left as it is",
                        config.display()
                    ),
                ));
            };
            refuse_foreign_keys(&rule)?;
            rekey::updatekeys(&current, threshold, rule.groups(), rule.shamir_threshold)
        }
    };
    let rotating = matches!(walk.action, Action::Rotate { .. });
    if plan.locks_everyone_out() {
        bail!(
            "no age recipient would be left to open it (add one with --add-age, or fix the creation rule)"
        );
    }
    if !rotating && plan.is_noop() {
        return Ok(with_changes(
            Record::new(file, Outcome::Unchanged, "already up to date"),
            &plan,
        ));
    }
    // Opened even for --dry-run: a file no identity opens (or with a bad MAC) would fail.
    let opened = files::open_for_change(text, format, &name, &walk.identities)?;
    let what = if rotating {
        "new data key"
    } else {
        "same data key"
    };
    if walk.dry_run {
        return Ok(with_changes(
            Record::new(
                file,
                Outcome::WouldChange,
                format!("would change: {} ({what})", plan.summary()),
            ),
            &plan,
        ));
    }
    let out = if rotating {
        opened.rotate(&plan.groups, plan.threshold, SystemTime::now())?
    } else {
        opened.rewrap(text, &plan.groups, plan.threshold)?
    };
    io::write_output(Some(file), &out, Readers::Anyone)?;
    Ok(with_changes(
        Record::new(
            file,
            Outcome::Changed,
            format!("{} ({what})", plan.summary()),
        ),
        &plan,
    ))
}

fn with_changes(record: Record, plan: &Rekey) -> Record {
    record
        .with("added", plan.added.clone())
        .with("removed", plan.removed.clone())
}

/// A rule that names PGP or cloud keys cannot be followed with age alone (as `encrypt`).
fn refuse_foreign_keys(rule: &Rule) -> Result<()> {
    let kinds = rule.foreign_kinds();
    if !kinds.is_empty() {
        bail!(
            "the matching .sops.yaml rule also names {} keys; sealbox wraps data keys for age only, so their holders would be locked out: use sops for this file",
            kinds.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Rotate {
        #[command(flatten)]
        args: RotateArgs,
    }

    #[derive(Parser)]
    struct Updatekeys {
        #[command(flatten)]
        args: UpdatekeysArgs,
    }

    #[test]
    fn a_failure_names_its_file_once() {
        let file = Path::new("a/s.yaml");
        assert_eq!(
            without_name("a/s.yaml; age identities …", file),
            "age identities …"
        );
        assert_eq!(without_name("a/s.yaml: MAC mismatch", file), "MAC mismatch");
        assert_eq!(without_name("MAC mismatch", file), "MAC mismatch");
    }

    #[test]
    fn sops_files_are_rekeyed_uncovered_plaintext_reported_the_rest_left_alone() {
        assert_eq!(kind(true, false), Kind::Sops);
        assert_eq!(kind(true, true), Kind::Sops);
        assert_eq!(kind(false, true), Kind::Uncovered);
        assert_eq!(kind(false, false), Kind::Other);
    }

    #[test]
    fn one_file_with_sops_flags_is_sops_rotate_and_anything_more_walks() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.yaml");
        std::fs::write(&file, "").unwrap();
        let (dir, file) = (dir.path().to_str().unwrap(), file.to_str().unwrap());
        let walks = |argv: &[&str]| {
            Rotate::parse_from([&["rotate"], argv].concat())
                .args
                .walks()
        };
        assert!(!walks(&["-i", file]));
        assert!(!walks(&["--output", "out.yaml", file]));
        assert!(walks(&[dir]));
        assert!(walks(&[file, file]));
        assert!(walks(&["--dry-run", file]));
        let walks = |argv: &[&str]| {
            Updatekeys::parse_from([&["updatekeys"], argv].concat())
                .args
                .walks()
        };
        assert!(!walks(&["-y", file, file]));
        assert!(walks(&["-y", dir]));
        assert!(walks(&["--output", "json", file]));
        assert!(walks(&["--dry-run", file]));
    }
}
