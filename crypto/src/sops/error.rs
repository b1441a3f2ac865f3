//! The one error type of the SOPS format.

use super::format::Format;

/// Errors of the SOPS format. The CLI maps each variant to the exit status `sops` uses
/// (spec `sops.md` §10); this crate has no exit codes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A `--extract`/`set` path that is malformed or names nothing.
    #[error("{0}")]
    Path(String),
    /// The plaintext already carries `sops` metadata.
    #[error(
        "The file you have provided contains a top-level entry called 'sops', or for flat formats top-level entries starting with 'sops_': it is already encrypted"
    )]
    AlreadyEncrypted,
    /// The file has no `sops` metadata: it is not encrypted.
    #[error("sops metadata not found: the file is not encrypted with sops")]
    NotSopsFile,
    /// The metadata block is malformed or inconsistent.
    #[error("{0}")]
    Metadata(String),
    /// The file cannot be read or written in its format.
    #[error("{0}")]
    Store(String),
    /// The YAML parser rejected the text.
    #[error("invalid YAML")]
    Yaml(#[source] granit_parser::ScanError),
    /// The `sops` metadata block does not have the expected shape.
    #[error("malformed sops metadata")]
    MalformedMetadata(#[source] serde_json::Error),
    /// A value given to `set` that is not JSON.
    #[error("the value is not JSON")]
    ValueNotJson(#[source] serde_json::Error),
    /// A selector regex that does not compile.
    #[error("invalid regex {}", shortened(.pattern))]
    InvalidRegex {
        /// The regex as written.
        pattern: String,
        /// Why it does not compile.
        #[source]
        source: RegexProblem,
    },
    /// A time that cannot be written as `lastmodified`.
    #[error("time out of range")]
    TimeRange(#[source] time::error::ComponentRange),
    /// `lastmodified` could not be formatted.
    #[error("cannot format time")]
    TimeFormat(#[source] time::error::Format),
    /// A `.sops.yaml` that is not valid YAML or not shaped like one.
    #[error("not a valid .sops.yaml")]
    ConfigSyntax(#[source] serde_saphyr::Error),
    /// A creation rule's `path_regex` that does not compile.
    #[error("invalid path_regex {}", shortened(.pattern))]
    InvalidPathRegex {
        /// The regex as written.
        pattern: String,
        /// Why it does not compile.
        #[source]
        source: RegexProblem,
    },
    /// A creation rule that sets more than one selector.
    #[error("a creation rule may set only one of the *_suffix / *_regex selectors")]
    RuleSelectors,
    /// A plaintext with nothing to encrypt (no YAML document).
    #[error("the file has no documents to encrypt")]
    Empty,
    /// Several YAML documents asked for in a format that holds one.
    #[error("{0:?} holds a single document: a multi-document YAML file cannot be written as {0:?}")]
    OneDocumentOnly(Format),
    /// An age identity or recipient that cannot be parsed.
    #[error("{0}")]
    Identity(String),
    /// The data key is wrapped only for non-age master keys.
    #[error(
        "PGP is not supported, age only: this file's data key is wrapped only for {kinds}; add an age recipient with sops updatekeys"
    )]
    NotAge {
        /// The kinds of master keys the file has (`pgp`, `kms`, …).
        kinds: String,
    },
    /// None of the identities opens the data key.
    #[error(
        "Failed to get the data key required to decrypt the SOPS file: none of the {identities} age identities given opens it (recipients: {})",
        recipients.join(", ")
    )]
    NoUsableKey {
        /// Every age recipient the file is wrapped for.
        recipients: Vec<String>,
        /// How many identities were tried.
        identities: usize,
    },
    /// With Shamir key groups: the identities open fewer groups than the threshold needs.
    #[error(
        "Failed to get the data key required to decrypt the SOPS file: the {identities} age identities given open {opened} of its {groups} key groups, and {threshold} are needed (recipients: {})",
        recipients.join(", ")
    )]
    ThresholdNotMet {
        /// Key groups one of the identities opened.
        opened: usize,
        /// Key groups in the file.
        groups: usize,
        /// Key groups needed (`shamir_threshold`).
        threshold: usize,
        /// Every age recipient the file is wrapped for.
        recipients: Vec<String>,
        /// How many identities were tried.
        identities: usize,
    },
    /// A value that should be encrypted is not an `ENC[…]` string.
    #[error("{path}: expected an encrypted value ENC[AES256_GCM,…]")]
    NotEncrypted {
        /// Where the value is, e.g. `db:password`.
        path: String,
    },
    /// A value did not open: its ciphertext, key or place in the file was changed.
    #[error(
        "{path}: could not decrypt the value: it, its key or its place in the file was changed"
    )]
    Decrypt {
        /// Where the value is, e.g. `db:password`.
        path: String,
    },
    /// The stored MAC is missing.
    #[error("MAC mismatch. File has no MAC")]
    NoMac,
    /// The values, their order or `lastmodified` no longer match the MAC.
    #[error(
        "MAC mismatch: the file was changed outside sops (a value, the order of values, or lastmodified); use --ignore-mac to decrypt anyway"
    )]
    MacMismatch,
    /// Encryption failed.
    #[error("encryption failed")]
    Encrypt,
    /// The system random generator failed.
    #[error("the system random number generator failed")]
    Random,
}

impl Error {
    /// The same error naming the value at `path`.
    pub fn at(self, path: String) -> Error {
        match self {
            Error::NotEncrypted { .. } => Error::NotEncrypted { path },
            Error::Decrypt { .. } => Error::Decrypt { path },
            other => other,
        }
    }
}

/// Why a regex does not compile, without the pattern: the regex crate's message repeats the
/// whole pattern, which may be megabytes long; the error holding this names it, shortened.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RegexProblem(String);

impl From<regex::Error> for RegexProblem {
    fn from(error: regex::Error) -> RegexProblem {
        let reason = match &error {
            // "regex parse error:\n    PATTERN\n    ^\nerror: unclosed group"
            regex::Error::Syntax(message) => message
                .lines()
                .rev()
                .find_map(|line| line.trim_start().strip_prefix("error:"))
                .map(|reason| reason.trim().to_owned()),
            regex::Error::CompiledTooBig(limit) => {
                Some(format!("it compiles to more than the {limit}-byte limit"))
            }
            _ => None,
        };
        RegexProblem(reason.unwrap_or_else(|| "not a valid regex".to_owned()))
    }
}

/// A pattern for a message: whole up to 80 characters, else its start and its length.
fn shortened(pattern: &str) -> String {
    let count = pattern.chars().count();
    if count <= 80 {
        format!("{pattern:?}")
    } else {
        let start: String = pattern.chars().take(60).collect();
        format!("{start:?}… ({count} characters)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_invalid_regex_is_not_echoed() {
        let pattern = format!("{}(", "x".repeat(1_000_000));
        let source = RegexProblem::from(regex::Regex::new(&pattern).unwrap_err());
        assert_eq!(source.to_string(), "unclosed group");
        let error = Error::InvalidRegex { pattern, source };
        let message = error.to_string();
        assert!(message.len() < 120, "{message}");
        assert!(message.ends_with("… (1000001 characters)"), "{message}");
    }
}
