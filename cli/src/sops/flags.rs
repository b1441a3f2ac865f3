//! The flags of sops's encrypt and decrypt (and `--input-type`/`--output-type` for every
//! command), with sops's names (spec `sops.md` §8). A leaf: the commands read these, nothing
//! here knows the commands.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use sealbox_crypto::sops::Format;

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
