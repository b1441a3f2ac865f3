//! SOPS files: their age recipients against what the `.sops.yaml` creation rule for their path
//! asks for now (spec `sops.md` §9), and their `sops.lastmodified` (§5, §6.1) against
//! `--older-than`. Only the metadata is read: nothing is decrypted.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use sealbox_crypto::sops::{self, Format, Metadata};
use serde_json::json;

use super::dates::{format_rfc3339, parse_date, parse_rfc3339};
use super::finding::{Category, FileAudit, Finding};
use crate::sopsconfig;

/// `--older-than`: a fixed date, or an age counted back from now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cutoff {
    Date(SystemTime),
    Age(Duration),
}

impl Cutoff {
    /// The moment before which a file counts as old.
    pub fn at(self, now: SystemTime) -> SystemTime {
        match self {
            Cutoff::Date(date) => date,
            Cutoff::Age(age) => now.checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH),
        }
    }
}

/// `2026-01-01` (UTC midnight), an RFC 3339 time (`2026-01-01T10:30:00Z`, as
/// `sops.lastmodified` and age-keygen's `# created:` line write it: a rotation runbook uses the
/// moment its new key was made), or `90d`, `12w`, `36h`.
pub fn parse_cutoff(text: &str) -> Result<Cutoff, String> {
    if let Some(date) = parse_date(text).or_else(|| parse_rfc3339(text)) {
        return Ok(Cutoff::Date(date));
    }
    let unit = |suffix: char, seconds: u64| {
        text.strip_suffix(suffix)
            .and_then(|n| n.parse::<u64>().ok())
            .map(|n| Cutoff::Age(Duration::from_secs(n.saturating_mul(seconds))))
    };
    unit('d', 86_400)
        .or_else(|| unit('w', 7 * 86_400))
        .or_else(|| unit('h', 3600))
        .ok_or_else(|| {
            format!(
                "{text:?} is not a date (2026-01-01), a time (2026-01-01T10:30:00Z) or an age (90d, 12w, 36h)"
            )
        })
}

/// The recipients to add and to remove so a file has exactly those its rule asks for.
#[derive(Debug, PartialEq, Default)]
pub struct RecipientChange {
    pub add: Vec<String>,
    pub remove: Vec<String>,
}

/// Compares recipient sets (key groups are flattened: a recipient counts once).
pub fn recipient_change(file: &[Vec<String>], rule: &[Vec<String>]) -> RecipientChange {
    let set = |groups: &[Vec<String>]| -> BTreeSet<String> {
        groups
            .iter()
            .flatten()
            .map(|r| r.trim().to_owned())
            .collect()
    };
    let (have, want) = (set(file), set(rule));
    RecipientChange {
        add: want.difference(&have).cloned().collect(),
        remove: have.difference(&want).cloned().collect(),
    }
}

/// Whether `lastmodified` is before the cut-off; `None` when it is not a time.
pub fn is_stale(lastmodified: &str, cutoff: SystemTime) -> Option<bool> {
    parse_rfc3339(lastmodified).map(|t| t < cutoff)
}

/// The SOPS metadata of a file, if it is one: its own store first (by name), then the others.
fn metadata(path: &Path, text: &str) -> Option<Metadata> {
    let own = match Format::from_path(&path.to_string_lossy()) {
        Format::Binary => Format::Json,
        other => other,
    };
    std::iter::once(own)
        .chain([Format::Yaml, Format::Json, Format::Dotenv, Format::Ini])
        .find_map(|format| {
            sops::load(format, text)
                .ok()
                .map(|(_, meta)| meta)
                .filter(|meta| !meta.mac.is_empty())
        })
}

/// The SOPS findings of one file.
pub fn audit(
    path: &Path,
    text: &str,
    config: Option<&Path>,
    cutoff: Option<SystemTime>,
    out: &mut FileAudit,
) -> Result<()> {
    let Some(meta) = metadata(path, text) else {
        return Ok(());
    };
    let file_groups: Vec<Vec<String>> = meta
        .groups()
        .iter()
        .map(|g| g.age.iter().map(|a| a.recipient.clone()).collect())
        .collect();
    if let Some(config) = config
        && let Some(rule) = sopsconfig::find_rule(config, &path.to_string_lossy())?
    {
        let change = recipient_change(&file_groups, &rule.groups());
        if change != RecipientChange::default() {
            let mut what = Vec::new();
            if !change.add.is_empty() {
                what.push(format!("add {}", change.add.join(", ")));
            }
            if !change.remove.is_empty() {
                what.push(format!("remove {}", change.remove.join(", ")));
            }
            let rotate = if change.remove.is_empty() {
                ""
            } else {
                ", then `sealbox rotate` so removed recipients' old copies stop opening new values"
            };
            out.findings.push(
                Finding::new(
                    Category::SopsRecipients,
                    format!(
                        "its recipients differ from the creation rule in {}: {}: run `sealbox updatekeys {}`{rotate}",
                        config.display(),
                        what.join("; "),
                        path.display()
                    ),
                )
                .with("add", change.add)
                .with("remove", change.remove),
            );
        }
    }
    if let Some(cutoff) = cutoff {
        match is_stale(&meta.lastmodified, cutoff) {
            Some(false) => {}
            Some(true) => out.findings.push(
                Finding::new(
                    Category::SopsStale,
                    format!(
                        "last modified {}, before the cut-off {}: review it and rotate its data key (`sealbox rotate {}`)",
                        meta.lastmodified,
                        format_rfc3339(cutoff),
                        path.display()
                    ),
                )
                .with("lastmodified", meta.lastmodified.clone())
                .with("cutoff", format_rfc3339(cutoff)),
            ),
            None => out.findings.push(
                Finding::new(
                    Category::SopsStale,
                    format!(
                        "sops.lastmodified {:?} is not an RFC 3339 time, so its age cannot be told: re-encrypt it",
                        meta.lastmodified
                    ),
                )
                .with("lastmodified", meta.lastmodified.clone()),
            ),
        }
    }
    out.facts
        .insert("sops_recipients".into(), json!(file_groups));
    out.facts
        .insert("sops_lastmodified".into(), json!(meta.lastmodified));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(g: &[&[&str]]) -> Vec<Vec<String>> {
        g.iter()
            .map(|g| g.iter().map(|r| r.to_string()).collect())
            .collect()
    }

    #[test]
    fn recipients_to_add_and_remove() {
        let rule = groups(&[&["age1a", "age1b"]]);
        assert_eq!(
            recipient_change(&groups(&[&["age1b", "age1a"]]), &rule),
            RecipientChange::default()
        );
        assert_eq!(
            recipient_change(&groups(&[&["age1a"]]), &rule),
            RecipientChange {
                add: vec!["age1b".into()],
                remove: vec![]
            }
        );
        assert_eq!(
            recipient_change(&groups(&[&["age1a", "age1b", "age1c"]]), &rule),
            RecipientChange {
                add: vec![],
                remove: vec!["age1c".into()]
            }
        );
        // Key groups flatten: the same recipients in two groups are the same set.
        assert_eq!(
            recipient_change(&groups(&[&["age1a"], &["age1b"]]), &rule),
            RecipientChange::default()
        );
    }

    #[test]
    fn cutoffs_are_dates_times_or_ages() {
        let now = parse_rfc3339("2026-03-31T12:00:00Z").unwrap();
        let date = parse_cutoff("2026-01-01").unwrap();
        assert_eq!(format_rfc3339(date.at(now)), "2026-01-01T00:00:00Z");
        assert_eq!(
            format_rfc3339(parse_cutoff("90d").unwrap().at(now)),
            "2025-12-31T12:00:00Z"
        );
        assert_eq!(
            format_rfc3339(parse_cutoff("2w").unwrap().at(now)),
            "2026-03-17T12:00:00Z"
        );
        assert_eq!(
            format_rfc3339(parse_cutoff("36h").unwrap().at(now)),
            "2026-03-30T00:00:00Z"
        );
        assert_eq!(
            format_rfc3339(parse_cutoff("2026-01-01T10:30:00Z").unwrap().at(now)),
            "2026-01-01T10:30:00Z"
        );
        assert_eq!(
            format_rfc3339(parse_cutoff("2026-01-01T12:30:00+02:00").unwrap().at(now)),
            "2026-01-01T10:30:00Z"
        );
        for bad in [
            "",
            "90",
            "d",
            "-3d",
            "3m",
            "2026/01/01",
            "2026-01-01T10:30",
            "2026-01-01T10:30:00",
        ] {
            assert!(parse_cutoff(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn staleness_compares_with_the_cutoff() {
        let cutoff = parse_date("2025-06-01").unwrap();
        assert_eq!(is_stale("2024-11-12T13:33:42Z", cutoff), Some(true));
        assert_eq!(is_stale("2025-06-01T00:00:00Z", cutoff), Some(false));
        assert_eq!(is_stale("2026-11-22T04:07:56Z", cutoff), Some(false));
        assert_eq!(is_stale("last week", cutoff), None);
    }
}
