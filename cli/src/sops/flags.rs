//! The flags of sops's encrypt and decrypt, in three groups (what both share, encrypt's own,
//! decrypt's own) so each command shows only its flags, with sops's names (spec `sops.md` §8).
//! A leaf: the commands read these, nothing here knows the commands.

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

/// What `encrypt` and `decrypt` share: the file, its format, where the result goes.
#[derive(Args, Default)]
pub struct IoFlags {
    /// The file (default: stdin, which needs --input-type or --filename-override).
    pub file: Option<PathBuf>,
    /// Format of the input (default: from the file name; sops's rule: .yaml/.yml, .json, .env,
    /// .ini, else binary).
    #[arg(long = "input-type", value_enum)]
    pub input_type: Option<TypeArg>,
    /// Format of the output (default: the input's).
    #[arg(long = "output-type", value_enum)]
    pub output_type: Option<TypeArg>,
    /// The name used to pick the format (and the .sops.yaml rule) when reading stdin.
    #[arg(long = "filename-override")]
    pub filename_override: Option<String>,
    /// Write the result back to the file (atomically).
    #[arg(short = 'i', long = "in-place")]
    pub in_place: bool,
    /// Write the result to this file (atomically) instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// The .sops.yaml whose creation rules give recipients and selectors when encrypting
    /// (default: SOPS_CONFIG, else .sops.yaml in the working directory or a parent).
    #[arg(long, env = "SOPS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Spaces per level in YAML and JSON output (overrides .sops.yaml `stores:`; JSON -1 is a
    /// tab).
    #[arg(long, allow_hyphen_values = true)]
    pub indent: Option<i64>,
}

/// How to encrypt: recipients, which values, the MAC and Shamir settings.
#[derive(Args, Default)]
pub struct EncryptFlags {
    /// age recipients, comma-separated (default: the .sops.yaml creation rule's).
    #[arg(short = 'a', long, env = "SOPS_AGE_RECIPIENTS", value_delimiter = ',')]
    pub age: Vec<String>,
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
}

/// How to decrypt.
#[derive(Args, Default)]
pub struct DecryptFlags {
    /// Decrypt even if the MAC does not match (values must still open).
    #[arg(long = "ignore-mac")]
    pub ignore_mac: bool,
    /// Decrypt one value or subtree, e.g. '["db"]["password"]'.
    #[arg(long)]
    pub extract: Option<String>,
}

/// `encrypt`'s flags: only its own, so its help shows nothing that belongs to decrypt.
#[derive(Args)]
pub struct EncryptArgs {
    #[command(flatten)]
    pub io: IoFlags,
    #[command(flatten)]
    pub encrypt: EncryptFlags,
}

/// `decrypt`'s flags.
#[derive(Args)]
pub struct DecryptArgs {
    #[command(flatten)]
    pub io: IoFlags,
    #[command(flatten)]
    pub decrypt: DecryptFlags,
}
