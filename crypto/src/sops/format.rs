//! The file formats sops calls stores (spec `sops.md`).

/// The file formats (sops "stores").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    Dotenv,
    Ini,
    Binary,
}

impl Format {
    /// sops picks the store by file name suffix: `.yaml`/`.yml`, `.json`, `.env`, `.ini`, else
    /// binary.
    pub fn from_path(path: &str) -> Format {
        // Case matters, as in sops: `X.YAML` is a binary file to it.
        if path.ends_with(".yaml") || path.ends_with(".yml") {
            Format::Yaml
        } else if path.ends_with(".json") {
            Format::Json
        } else if path.ends_with(".env") {
            Format::Dotenv
        } else if path.ends_with(".ini") {
            Format::Ini
        } else {
            Format::Binary
        }
    }
}
