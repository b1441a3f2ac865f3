//! Which values are encrypted (spec `sops.md` §4): at most one selector; with none, sops
//! assumes `unencrypted_suffix: _unencrypted`. Keys count along the whole path, comments along
//! the comment stack.

use regex::Regex;

use super::error::Error;

#[derive(Debug, Clone)]
pub enum Selector {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(Regex),
    EncryptedRegex(Regex),
    UnencryptedCommentRegex(Regex),
    EncryptedCommentRegex(Regex),
}

impl Selector {
    /// The metadata's selector fields, as `(name, value)` pairs of the non-empty ones.
    pub fn from_fields(fields: &[(&str, &str)]) -> Result<Selector, Error> {
        let set: Vec<&(&str, &str)> = fields.iter().filter(|(_, v)| !v.is_empty()).collect();
        let regex = |v: &str| {
            Regex::new(v).map_err(|e| Error::Metadata(format!("invalid regex {v:?}: {e}")))
        };
        match set.as_slice() {
            [] => Ok(Selector::UnencryptedSuffix("_unencrypted".into())),
            [(name, value)] => Ok(match *name {
                "unencrypted_suffix" => Selector::UnencryptedSuffix((*value).into()),
                "encrypted_suffix" => Selector::EncryptedSuffix((*value).into()),
                "unencrypted_regex" => Selector::UnencryptedRegex(regex(value)?),
                "encrypted_regex" => Selector::EncryptedRegex(regex(value)?),
                "unencrypted_comment_regex" => Selector::UnencryptedCommentRegex(regex(value)?),
                "encrypted_comment_regex" => Selector::EncryptedCommentRegex(regex(value)?),
                other => return Err(Error::Metadata(format!("unknown selector {other}"))),
            }),
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
