//! Which values are encrypted (spec `sops.md` §4): at most one selector; with none, sops
//! assumes `unencrypted_suffix: _unencrypted`. Keys count along the whole path, comments along
//! the comment stack.

use regex::Regex;

use super::error::Error;

/// A selector: which values of a file are encrypted. Each variant is one of the metadata (and
/// `.sops.yaml`) fields of the same name; a file carries at most one.
#[derive(Debug, Clone)]
pub enum Selector {
    /// `unencrypted_suffix`: keys ending with it (anywhere on the path) stay clear.
    UnencryptedSuffix(String),
    /// `encrypted_suffix`: only keys ending with it are encrypted.
    EncryptedSuffix(String),
    /// `unencrypted_regex`: keys matching it stay clear.
    UnencryptedRegex(Regex),
    /// `encrypted_regex`: only keys matching it are encrypted.
    EncryptedRegex(Regex),
    /// `unencrypted_comment_regex`: values after a matching comment stay clear.
    UnencryptedCommentRegex(Regex),
    /// `encrypted_comment_regex`: only values after a matching comment are encrypted.
    EncryptedCommentRegex(Regex),
}

/// The selector field names, in the order sops lists them.
pub const SELECTOR_FIELDS: [&str; 6] = [
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
];

impl Selector {
    /// The selector for a field name of [`SELECTOR_FIELDS`] and its value; a regex must
    /// compile.
    pub fn new(field: &str, value: &str) -> Result<Selector, Error> {
        Ok(match field {
            "unencrypted_suffix" => Selector::UnencryptedSuffix(value.into()),
            "encrypted_suffix" => Selector::EncryptedSuffix(value.into()),
            "unencrypted_regex" => Selector::UnencryptedRegex(regex(value)?),
            "encrypted_regex" => Selector::EncryptedRegex(regex(value)?),
            "unencrypted_comment_regex" => Selector::UnencryptedCommentRegex(regex(value)?),
            "encrypted_comment_regex" => Selector::EncryptedCommentRegex(regex(value)?),
            other => return Err(Error::Metadata(format!("unknown selector {other}"))),
        })
    }

    /// Compiles a regex for one of the regex selectors, naming it in the error.
    pub fn compile(pattern: &str) -> Result<Regex, Error> {
        regex(pattern)
    }

    /// The field this selector is stored in (`encrypted_regex`, …).
    pub fn field(&self) -> &'static str {
        match self {
            Selector::UnencryptedSuffix(_) => "unencrypted_suffix",
            Selector::EncryptedSuffix(_) => "encrypted_suffix",
            Selector::UnencryptedRegex(_) => "unencrypted_regex",
            Selector::EncryptedRegex(_) => "encrypted_regex",
            Selector::UnencryptedCommentRegex(_) => "unencrypted_comment_regex",
            Selector::EncryptedCommentRegex(_) => "encrypted_comment_regex",
        }
    }

    /// The suffix or the regex as written.
    pub fn value(&self) -> &str {
        match self {
            Selector::UnencryptedSuffix(s) | Selector::EncryptedSuffix(s) => s,
            Selector::UnencryptedRegex(r)
            | Selector::EncryptedRegex(r)
            | Selector::UnencryptedCommentRegex(r)
            | Selector::EncryptedCommentRegex(r) => r.as_str(),
        }
    }

    /// The metadata's selector fields, as `(name, value)` pairs of the non-empty ones.
    pub(super) fn from_fields(fields: &[(&str, &str)]) -> Result<Selector, Error> {
        let set: Vec<&(&str, &str)> = fields.iter().filter(|(_, v)| !v.is_empty()).collect();
        match set.as_slice() {
            [] => Ok(Selector::UnencryptedSuffix("_unencrypted".into())),
            [(name, value)] => Selector::new(name, value),
            _ => Err(Error::Metadata(
                "more than one of unencrypted_suffix, encrypted_suffix, unencrypted_regex, encrypted_regex, unencrypted_comment_regex, encrypted_comment_regex is set; sops allows one".into(),
            )),
        }
    }

    /// Whether the leaf at `path` is encrypted. `comments` is the comment stack (one frame
    /// per level); for a comment leaf, `is_comment` keeps it from selecting itself.
    pub fn encrypts(&self, path: &[String], comments: &[Vec<String>], is_comment: bool) -> bool {
        match self {
            Selector::UnencryptedSuffix(s) => !path.iter().any(|k| k.ends_with(s.as_str())),
            Selector::EncryptedSuffix(s) => path.iter().any(|k| k.ends_with(s.as_str())),
            Selector::UnencryptedRegex(r) => !path.iter().any(|k| r.is_match(k)),
            Selector::EncryptedRegex(r) => path.iter().any(|k| r.is_match(k)),
            Selector::UnencryptedCommentRegex(r) => {
                !comments.iter().flatten().any(|c| r.is_match(c))
            }
            Selector::EncryptedCommentRegex(r) => {
                let last = comments.len().saturating_sub(1);
                comments.iter().enumerate().any(|(i, frame)| {
                    frame.iter().enumerate().any(|(j, c)| {
                        let itself = is_comment && i == last && j + 1 == frame.len();
                        !itself && r.is_match(c)
                    })
                })
            }
        }
    }
}

/// Compiles a selector regex; the error names it.
pub(super) fn regex(value: &str) -> Result<Regex, Error> {
    Regex::new(value).map_err(|source| Error::InvalidRegex {
        pattern: value.to_owned(),
        source: source.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selector_names_its_field_and_keeps_its_value() {
        for field in SELECTOR_FIELDS {
            let selector = Selector::new(field, "^a$").unwrap();
            assert_eq!((selector.field(), selector.value()), (field, "^a$"));
        }
        assert!(matches!(
            Selector::new("encrypted_regex", "("),
            Err(Error::InvalidRegex { .. })
        ));
        assert!(matches!(
            Selector::new("encrypted_prefix", "x"),
            Err(Error::Metadata(_))
        ));
    }

    #[test]
    fn metadata_stores_the_selector_it_is_given() {
        let mut meta = crate::sops::Metadata::default();
        meta.set_selector(&Selector::new("encrypted_comment_regex", "^sops:enc").unwrap())
            .unwrap();
        assert_eq!(meta.encrypted_comment_regex, "^sops:enc");
        assert!(matches!(
            meta.selector(),
            Ok(Selector::EncryptedCommentRegex(r)) if r.as_str() == "^sops:enc"
        ));
    }
}
