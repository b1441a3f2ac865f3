//! What the commands that walk a tree (`reencrypt`, `updatekeys`, `rotate`, `audit`) say about
//! each file: a line per file that needs saying (`--output text`, the default) or one JSON
//! record per file on stdout (`--output json`, for automation), a progress bar on a terminal's
//! stderr (none when stderr is piped or a file), and the summary and exit status at the end:
//! non-zero when any file failed.
//!
//! ```text
//! let mut report = Report::new(args.output, files.len());
//! for file in &files {
//!     report.record(Record::new(file, Outcome::Changed, "2 SealedSecret(s) re-encrypted"));
//! }
//! report.finish("re-encrypted 2 SealedSecret(s) in 1 of 3 file(s)")
//! ```

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;

use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value, json};

/// `--output`: lines for people, or one JSON object per file.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// What happened to one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Written with the change.
    Changed,
    /// Nothing to do (not a file of this kind, or already as asked).
    Unchanged,
    /// The file could not be handled and was left as it was.
    Failed,
    /// `--dry-run`: the file would be written with the change; it was not.
    WouldChange,
    /// Left as it is for a reason worth a warning (not a failure): e.g. a file a `.sops.yaml`
    /// rule covers that is not encrypted.
    Skipped,
    /// Something in the file needs someone's attention (`audit`): nothing was changed.
    Attention,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Outcome::Changed => "changed",
            Outcome::Unchanged => "unchanged",
            Outcome::Failed => "failed",
            Outcome::WouldChange => "would_change",
            Outcome::Skipped => "skipped",
            Outcome::Attention => "attention",
        }
    }
}

/// One file's result: its outcome, a sentence for people, and fields for automation.
pub struct Record {
    file: String,
    outcome: Outcome,
    message: String,
    fields: Map<String, Value>,
    /// Lines printed indented under the record's line in text mode (JSON has `fields`).
    details: Vec<String>,
}

impl Record {
    pub fn new(file: &Path, outcome: Outcome, message: impl Into<String>) -> Record {
        Record {
            file: file.display().to_string(),
            outcome,
            message: message.into(),
            fields: Map::new(),
            details: Vec::new(),
        }
    }

    /// Adds a line shown indented under the file's line in text mode only (never secret
    /// values); JSON records carry the same facts as fields.
    pub fn detail(mut self, line: impl Into<String>) -> Record {
        self.details.push(line.into());
        self
    }

    /// Adds a field to the JSON record (never secret values).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Record {
        self.fields.insert(key.to_owned(), value.into());
        self
    }

    fn json(&self) -> Value {
        let mut record = Map::new();
        record.insert("file".into(), json!(self.file));
        record.insert("outcome".into(), json!(self.outcome.name()));
        record.insert("message".into(), json!(self.message));
        record.extend(self.fields.clone());
        Value::Object(record)
    }
}

/// The records of one tree walk, printed as they come.
pub struct Report {
    format: Format,
    bar: ProgressBar,
    counts: std::collections::HashMap<Outcome, usize>,
}

impl Report {
    /// A report on `files` files; the bar shows only when stderr is a terminal.
    pub fn new(format: Format, files: usize) -> Report {
        let bar = if std::io::stderr().is_terminal() {
            let bar =
                ProgressBar::with_draw_target(Some(files as u64), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} {wide_msg}") {
                bar.set_style(style);
            }
            bar
        } else {
            ProgressBar::hidden()
        };
        Report {
            format,
            bar,
            counts: Default::default(),
        }
    }

    /// Shows which file is being worked on (on the bar only).
    pub fn working_on(&self, file: &Path) {
        self.bar.set_message(file.display().to_string());
    }

    /// Records one file: text mode prints every outcome but `Unchanged` (failures and skips on
    /// stderr), JSON mode every one.
    pub fn record(&mut self, record: Record) {
        *self.counts.entry(record.outcome).or_default() += 1;
        self.bar.inc(1);
        let line = match (self.format, record.outcome) {
            (Format::Json, _) => record.json().to_string(),
            (Format::Text, Outcome::Unchanged) => return,
            (Format::Text, Outcome::Failed) => {
                let line = format!(
                    "error: {}: {} (file left unchanged)",
                    record.file, record.message
                );
                self.bar.suspend(|| eprintln!("{line}"));
                return;
            }
            (Format::Text, Outcome::Skipped) => {
                let line = format!("warning: {}: {}", record.file, record.message);
                self.bar.suspend(|| eprintln!("{line}"));
                return;
            }
            (Format::Text, _) => std::iter::once(format!("{}: {}", record.file, record.message))
                .chain(record.details.iter().map(|d| format!("  {d}")))
                .collect::<Vec<_>>()
                .join("\n"),
        };
        self.bar.suspend(|| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
        });
    }

    /// How many files had `outcome` so far.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.counts.get(&outcome).copied().unwrap_or(0)
    }

    /// Ends the walk: clears the bar, prints `summary` on stderr, and fails when a file did.
    pub fn finish(self, summary: &str) -> Result<()> {
        self.bar.finish_and_clear();
        eprintln!("{summary}");
        let failed = self.count(Outcome::Failed);
        if failed > 0 {
            bail!("{failed} file(s) failed and were left unchanged");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_record_names_the_file_outcome_message_and_fields() {
        let record = Record::new(Path::new("a/b.yaml"), Outcome::Changed, "1 recipient added")
            .with("added", json!(["age1x"]));
        assert_eq!(
            record.json(),
            json!({"file": "a/b.yaml", "outcome": "changed", "message": "1 recipient added", "added": ["age1x"]})
        );
    }

    #[test]
    fn details_are_for_text_only() {
        let record = Record::new(Path::new("a.yaml"), Outcome::Attention, "1 finding")
            .detail("plaintext: a key");
        assert_eq!(record.details, ["plaintext: a key"]);
        assert_eq!(
            record.json(),
            json!({"file": "a.yaml", "outcome": "attention", "message": "1 finding"})
        );
    }

    #[test]
    fn failures_are_counted_and_fail_the_walk() {
        let mut report = Report::new(Format::Text, 2);
        report.record(Record::new(Path::new("x"), Outcome::Unchanged, ""));
        assert!(Report::new(Format::Text, 0).finish("nothing").is_ok());
        report.record(Record::new(Path::new("y"), Outcome::Failed, "bad MAC"));
        assert_eq!(report.count(Outcome::Failed), 1);
        let err = report.finish("done").unwrap_err();
        assert_eq!(err.to_string(), "1 file(s) failed and were left unchanged");
    }

    #[test]
    fn dry_run_and_skipped_outcomes_do_not_fail_the_walk() {
        let mut report = Report::new(Format::Json, 2);
        report.record(Record::new(Path::new("a"), Outcome::WouldChange, "+age1x"));
        report.record(Record::new(
            Path::new("b"),
            Outcome::Skipped,
            "not encrypted",
        ));
        assert_eq!(report.count(Outcome::WouldChange), 1);
        assert_eq!(
            Record::new(Path::new("b"), Outcome::Skipped, "").json()["outcome"],
            "skipped"
        );
        assert!(report.finish("done").is_ok());
    }
}
