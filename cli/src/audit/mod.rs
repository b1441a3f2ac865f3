//! `sealbox audit PATHS…`: one report of what needs attention in a Git tree, changing nothing.
//! Per file, findings in five categories ([`Category`]): plain Secrets and private keys (what
//! `sealbox check` fails on, through [`crate::scan`]), SealedSecrets for an older key than the
//! newest given or for none of them (with `--keys`), SOPS files whose recipients differ from
//! what `.sops.yaml` asks for now, and SOPS files last modified before `--older-than`.
//!
//! - `plain`: the check verdict as findings;
//! - `sealed`: the keys given (names, certificates) and which of them opens each SealedSecret;
//! - `sopsfiles`: SOPS metadata against the creation rules and the cut-off date;
//! - `finding` (what those hand back) and `dates` (RFC 3339 and `YYYY-MM-DD`), leaves;
//! - this module: arguments, the walk, the report (text or `--output json`) and the exit
//!   status (0 nothing to do, [`NEEDS_ATTENTION`], or 1 when an input could not be read).
//!
//! ```text
//! sealbox audit --keys keys-backup.yaml --older-than 90d --output json .
//! ```

mod dates;
mod finding;
mod plain;
mod sealed;
mod sopsfiles;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Result;
use clap::Args;
use serde_json::Value;
use zeroize::Zeroizing;

use self::finding::{Category, FileAudit, Finding};
use crate::exit::{Exit, NEEDS_ATTENTION};
use crate::report::{Format, Outcome, Record, Report};
use crate::scan::Walk;
use crate::sopsconfig;

#[derive(Args)]
pub struct AuditArgs {
    /// Files or directories (searched recursively; `.git` and what `.sealboxignore` allows are
    /// skipped).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Private keys to tell which key opens each SealedSecret: the key backup `sealbox keys
    /// backup` writes, a Secret with tls.key, or PEM files (certificates beside the keys give
    /// their NotBefore). Repeat or comma-separate. Without it SealedSecrets are counted only.
    #[arg(long, short = 'k', value_delimiter = ',')]
    pub keys: Vec<PathBuf>,
    /// Namespace of SealedSecrets that do not set one (their scope label needs it).
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// Report SOPS files whose sops.lastmodified is before this: a date (2026-01-01, UTC), a
    /// time (2026-01-01T10:30:00Z, RFC 3339) or an age (90d, 12w, 36h).
    #[arg(long, value_parser = sopsfiles::parse_cutoff)]
    pub older_than: Option<sopsfiles::Cutoff>,
    /// The .sops.yaml whose creation rules files are held against (default: the nearest one
    /// from each file's directory upwards, else the working directory's, as sops finds it).
    #[arg(long, env = "SOPS_CONFIG")]
    pub config: Option<PathBuf>,
    /// `json`: one record per file on stdout (file, outcome, message, findings).
    #[arg(long, value_enum, default_value_t)]
    pub output: Format,
}

pub fn run(args: &AuditArgs) -> Result<()> {
    let keys = sealed::Keys::load(&args.keys)?;
    let fallback = sopsconfig::find(args.config.as_deref());
    let cutoff = args.older_than.map(|c| c.at(SystemTime::now()));
    let found = Walk::new()?.files(&args.paths)?;
    let mut report = Report::new(args.output, found.files.len() + found.missing.len());
    for path in &found.missing {
        report.record(Record::new(
            path,
            Outcome::Failed,
            "does not exist: check the path (nothing was audited there)",
        ));
    }
    let mut counts: BTreeMap<Category, usize> = BTreeMap::new();
    let (mut unchecked, mut sealed_files) = (0usize, 0usize);
    for file in &found.files {
        report.working_on(file);
        let config = match &args.config {
            Some(_) => fallback.clone(),
            None => nearest_config(file).or_else(|| fallback.clone()),
        };
        let record = match audit_file(file, args, &keys, config.as_deref(), cutoff) {
            Ok(audit) => {
                unchecked += audit.unchecked_sealed;
                sealed_files += usize::from(audit.unchecked_sealed > 0);
                for finding in &audit.findings {
                    *counts.entry(finding.category).or_default() += 1;
                }
                record_for(file, audit)
            }
            Err(e) => Record::new(
                file,
                Outcome::Failed,
                format!("{e:#}: it could not be audited"),
            ),
        };
        report.record(record);
    }
    if unchecked > 0 {
        eprintln!(
            "note: {unchecked} SealedSecret(s) in {sealed_files} file(s) not checked: which certificate a SealedSecret was sealed for cannot be told from its ciphertext (it carries no key id); pass --keys with the controller's key backup (`sealbox keys backup`) to see which key opens each"
        );
    }
    let attention = report.count(Outcome::Attention);
    let summary = summary(found.files.len(), attention, &counts);
    report.finish(&summary)?;
    if attention > 0 {
        // The summary said it all; the status tells scripts.
        return Err(Exit::new(NEEDS_ATTENTION, "").into());
    }
    Ok(())
}

/// The `.sops.yaml` nearest to a file: in its directory or the closest parent holding one, so
/// a tree audited from outside is held against its own rules.
fn nearest_config(file: &Path) -> Option<PathBuf> {
    let absolute = std::env::current_dir().ok()?.join(file);
    absolute
        .ancestors()
        .skip(1)
        .map(|dir| dir.join(".sops.yaml"))
        .find(|p| p.is_file())
}

fn audit_file(
    file: &Path,
    args: &AuditArgs,
    keys: &sealed::Keys,
    config: Option<&Path>,
    cutoff: Option<SystemTime>,
) -> Result<FileAudit> {
    let bytes = Zeroizing::new(
        std::fs::read(file)
            .map_err(|e| anyhow::anyhow!("cannot be read ({}): make it readable", e.kind()))?,
    );
    let name = file.display().to_string();
    let mut audit = FileAudit::default();
    audit
        .findings
        .extend(plain::findings(&name, file, &bytes, config)?);
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(audit);
    };
    sealed::audit(file, text, keys, &args.namespace, &mut audit)?;
    sopsfiles::audit(file, text, config, cutoff, &mut audit)?;
    Ok(audit)
}

fn record_for(file: &Path, audit: FileAudit) -> Record {
    let FileAudit {
        findings, facts, ..
    } = audit;
    let mut record = if findings.is_empty() {
        let message = facts
            .get("summary")
            .and_then(Value::as_str)
            .unwrap_or("nothing needs attention")
            .to_owned();
        Record::new(file, Outcome::Unchanged, message)
    } else {
        let mut categories: Vec<&str> = findings.iter().map(|f| f.category.name()).collect();
        categories.dedup();
        let mut record = Record::new(
            file,
            Outcome::Attention,
            format!("needs attention ({})", categories.join(", ")),
        );
        for finding in &findings {
            record = record.detail(format!("{}: {}", finding.category.name(), finding.message));
        }
        record.with(
            "findings",
            Value::Array(findings.iter().map(Finding::json).collect()),
        )
    };
    for (key, value) in facts {
        if key != "summary" {
            record = record.with(&key, value);
        }
    }
    record
}

/// The last line: how many files need attention, by category.
fn summary(files: usize, attention: usize, counts: &BTreeMap<Category, usize>) -> String {
    if attention == 0 {
        return format!("audited {files} file(s): nothing needs attention");
    }
    let by_category: Vec<String> = Category::ALL
        .iter()
        .filter_map(|c| counts.get(c).map(|n| format!("{}: {n}", c.name())))
        .collect();
    format!(
        "audited {files} file(s): {attention} need attention; findings by category: {}",
        by_category.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_by_category_in_a_fixed_order() {
        let counts = BTreeMap::from([(Category::SopsStale, 1), (Category::Plaintext, 3)]);
        assert_eq!(
            summary(9, 3, &counts),
            "audited 9 file(s): 3 need attention; findings by category: plaintext: 3, sops-stale: 1"
        );
        assert_eq!(
            summary(2, 0, &BTreeMap::new()),
            "audited 2 file(s): nothing needs attention"
        );
    }

    #[test]
    fn a_file_with_findings_lists_them_as_details_and_json() {
        let audit = FileAudit {
            findings: vec![
                Finding::new(Category::Plaintext, "a key").with("line", 2),
                Finding::new(Category::SopsStale, "old"),
            ],
            ..Default::default()
        };
        let record = record_for(Path::new("a.yaml"), audit);
        let mut report = Report::new(Format::Json, 1);
        report.record(record);
        assert_eq!(report.count(Outcome::Attention), 1);
        let clean = record_for(Path::new("b.yaml"), FileAudit::default());
        let mut report = Report::new(Format::Text, 1);
        report.record(clean);
        assert_eq!(report.count(Outcome::Unchanged), 1);
    }

    #[test]
    fn category_names_are_distinct() {
        let mut names: Vec<&str> = Category::ALL.iter().map(|c| c.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Category::ALL.len());
    }
}
