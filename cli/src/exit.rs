//! Exit statuses: the one table. `main` turns every error into a status with [`code`]; a
//! command that needs a specific status returns an [`Exit`] with one of the constants below.
//!
//! kubeseal has one failure status (1). The SOPS commands use sops's own codes, named as
//! sops names them in `cmd/sops/codes/codes.go` (spec `sops.md` §10), so scripts written for
//! sops (helm-secrets, CI checks) see the same numbers. Only the codes sealbox can return are
//! here.
//!
//! ```text
//! Err(Exit::new(NO_FILE_SPECIFIED, "no file specified").into())  // exits 100
//! ```

use sealbox_crypto::sops;

/// sops `ErrorGeneric`; also kubeseal's only failure status and every other failure.
pub const ERROR_GENERIC: u8 = 1;
/// sops `CouldNotReadInputFile`: the input cannot be read or parsed in its format.
pub const COULD_NOT_READ_INPUT_FILE: u8 = 2;
/// sops's `ErrorDumpingTree`: the output cannot be written as asked (an indentation sops
/// refuses).
pub const ERROR_DUMPING_TREE: u8 = 4;
/// sops `ErrorInvalidSetFormat`: `sops set` without a usable value.
pub const ERROR_INVALID_SET_FORMAT: u8 = 7;
/// sops `ErrorConflictingParameters`: flags that cannot go together (two selectors,
/// `--in-place` with `--output`, `-e` with `-d`).
pub const ERROR_CONFLICTING_PARAMETERS: u8 = 8;
/// `sealbox audit`: the audit went through and something needs attention (a plain Secret or
/// private key, a SealedSecret for an old or unknown key, a SOPS file with other recipients than
/// `.sops.yaml` asks for or older than `--older-than`). Not a sops code; an audit that cannot
/// read its input ends with [`ERROR_GENERIC`] instead.
pub const NEEDS_ATTENTION: u8 = 10;
/// sops `ErrorDecryptingTree`: a value did not decrypt (tampered, or moved in the file).
pub const ERROR_DECRYPTING_TREE: u8 = 25;
/// sops `MacMismatch`: the MAC is missing, does not open, or does not match.
pub const MAC_MISMATCH: u8 = 51;
/// sops `InvalidTreePathFormat`: an `--extract`/`set`/`unset` path that is malformed or
/// names nothing.
pub const INVALID_TREE_PATH_FORMAT: u8 = 91;
/// sops `NeedAtLeastOneDocument`: a plaintext with nothing to encrypt.
pub const NEED_AT_LEAST_ONE_DOCUMENT: u8 = 92;
/// sops `NoFileSpecified`: no file given, or the file does not exist.
pub const NO_FILE_SPECIFIED: u8 = 100;
/// sops `CouldNotRetrieveKey`: no identity opens the data key (or too few Shamir groups).
pub const COULD_NOT_RETRIEVE_KEY: u8 = 128;
/// sops `FileHasNotBeenModified`: `edit` closed without a change.
pub const FILE_HAS_NOT_BEEN_MODIFIED: u8 = 200;
/// sops `NoEditorFound`: no editor to run for `edit`.
pub const NO_EDITOR_FOUND: u8 = 201;
/// sops `FileAlreadyEncrypted`: the plaintext already carries `sops` metadata.
pub const FILE_ALREADY_ENCRYPTED: u8 = 203;

/// A failure with a specific exit status (sops's codes for command-line errors). An empty
/// message prints nothing: `exec-env`/`exec-file` pass on their command's status that way.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

impl Exit {
    pub fn new(code: u8, message: impl Into<String>) -> Exit {
        Exit {
            code,
            message: message.into(),
        }
    }
}

/// The exit status for an error: the first [`Exit`] or SOPS error in its chain decides, else
/// [`ERROR_GENERIC`].
pub fn code(error: &anyhow::Error) -> u8 {
    error
        .chain()
        .find_map(|cause| {
            cause
                .downcast_ref::<Exit>()
                .map(|e| e.code)
                .or_else(|| cause.downcast_ref::<sops::Error>().map(sops_code))
        })
        .unwrap_or(ERROR_GENERIC)
}

/// sops's exit status for a SOPS format error (spec `sops.md` §10).
pub fn sops_code(error: &sops::Error) -> u8 {
    use sops::Error as E;
    match error {
        E::NoMac | E::MacMismatch => MAC_MISMATCH,
        E::NotAge { .. } | E::NoUsableKey { .. } | E::ThresholdNotMet { .. } => {
            COULD_NOT_RETRIEVE_KEY
        }
        E::NotEncrypted { .. } | E::Decrypt { .. } => ERROR_DECRYPTING_TREE,
        // sops says "sops metadata not found" with the generic status.
        E::NotSopsFile => ERROR_GENERIC,
        E::AlreadyEncrypted => FILE_ALREADY_ENCRYPTED,
        E::Empty => NEED_AT_LEAST_ONE_DOCUMENT,
        E::Path(_) => INVALID_TREE_PATH_FORMAT,
        E::ValueNotJson(_) => INVALID_TREE_PATH_FORMAT,
        E::Store(_) | E::Yaml(_) | E::OneDocumentOnly(_) => COULD_NOT_READ_INPUT_FILE,
        E::RuleSelectors => ERROR_CONFLICTING_PARAMETERS,
        // Metadata, Identity, MalformedMetadata, InvalidRegex, the .sops.yaml errors, …
        _ => ERROR_GENERIC,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sealbox_crypto::sops::{Error as E, Format};

    fn bad_regex() -> regex::Error {
        let unclosed = String::from("(");
        regex::Regex::new(&unclosed).unwrap_err()
    }

    fn json_error() -> serde_json::Error {
        serde_json::from_str::<u8>("x").unwrap_err()
    }

    #[test]
    fn sops_errors_get_sops_codes() {
        let cases = [
            (E::NoMac, 51),
            (E::MacMismatch, 51),
            (
                E::NotAge {
                    kinds: "pgp".into(),
                },
                128,
            ),
            (
                E::NoUsableKey {
                    recipients: vec![],
                    identities: 0,
                },
                128,
            ),
            (
                E::ThresholdNotMet {
                    opened: 1,
                    groups: 3,
                    threshold: 2,
                    recipients: vec![],
                    identities: 1,
                },
                128,
            ),
            (E::NotEncrypted { path: "a".into() }, 25),
            (E::Decrypt { path: "a".into() }, 25),
            (E::NotSopsFile, 1),
            (E::AlreadyEncrypted, 203),
            (E::Empty, 92),
            (E::Path("x".into()), 91),
            (E::Store("x".into()), 2),
            (sops::yaml::parse("a: [").unwrap_err(), 2),
            (E::ValueNotJson(json_error()), 91),
            (E::MalformedMetadata(json_error()), 1),
            (E::RuleSelectors, 8),
            (
                E::InvalidPathRegex {
                    pattern: "(".into(),
                    source: bad_regex().into(),
                },
                1,
            ),
            (
                E::InvalidRegex {
                    pattern: "(".into(),
                    source: bad_regex().into(),
                },
                1,
            ),
            (E::OneDocumentOnly(Format::Json), 2),
            (E::Metadata("x".into()), 1),
            (E::Identity("x".into()), 1),
            (E::Encrypt, 1),
            (E::Random, 1),
        ];
        for (error, want) in cases {
            assert_eq!(sops_code(&error), want, "{error:?}");
        }
    }

    #[test]
    fn the_first_exit_or_sops_error_in_the_chain_decides() {
        let plain = anyhow::anyhow!("no code");
        assert_eq!(code(&plain), ERROR_GENERIC);
        let sops = anyhow::Error::new(E::MacMismatch).context("file.yaml");
        assert_eq!(code(&sops), MAC_MISMATCH);
        let exit = anyhow::Error::new(Exit::new(NO_FILE_SPECIFIED, "none")).context("outer");
        assert_eq!(code(&exit), NO_FILE_SPECIFIED);
    }
}
