//! Walking a tree to encrypt or decrypt it (spec `sops.md` §4, §5): every leaf the selector
//! marks is sealed or opened with its path as AAD, every non-comment leaf feeds the MAC in
//! document order.

use super::Error;
use super::cipher::{self, DataKey};
use super::mac::{self, MacHasher};
use super::metadata::Metadata;
use super::rules::Selector;
use super::value::{Branch, Entry, Scalar, Value};

/// Encrypts plaintext `branches` in place with `key` and sets `meta.mac` and
/// `meta.lastmodified` (RFC 3339, UTC, seconds).
pub fn encrypt(
    branches: &mut [Branch],
    meta: &mut Metadata,
    key: &DataKey,
    lastmodified: &str,
) -> Result<(), Error> {
    let mut walker = Walker::new(meta, key, Direction::Encrypt)?;
    for branch in branches.iter_mut() {
        walker.branch(branch)?;
    }
    meta.lastmodified = lastmodified.to_owned();
    meta.mac = mac::seal(key, &walker.mac.hex(), lastmodified)?;
    Ok(())
}

/// Decrypts `branches` (YAML documents, or the one branch of other stores) in place and checks
/// the MAC unless `ignore_mac`. Values must all open even when the MAC is ignored.
pub fn decrypt(
    branches: &mut [Branch],
    meta: &Metadata,
    key: &DataKey,
    ignore_mac: bool,
) -> Result<(), Error> {
    let mut walker = Walker::new(meta, key, Direction::Decrypt)?;
    for branch in branches.iter_mut() {
        walker.branch(branch)?;
    }
    let computed = walker.mac.hex();
    if ignore_mac {
        return Ok(());
    }
    mac::verify(key, &meta.mac, &meta.lastmodified, &computed)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Encrypt,
    Decrypt,
}

struct Walker<'a> {
    direction: Direction,
    selector: Selector,
    key: &'a DataKey,
    mac: MacHasher,
    path: Vec<String>,
    /// One frame per mapping/sequence level: the comments seen since the last entry.
    comments: Vec<Vec<String>>,
}

impl<'a> Walker<'a> {
    fn new(meta: &Metadata, key: &'a DataKey, direction: Direction) -> Result<Walker<'a>, Error> {
        Ok(Walker {
            direction,
            selector: meta.selector()?,
            key,
            mac: MacHasher::new(meta.mac_only_encrypted),
            path: Vec::new(),
            comments: Vec::new(),
        })
    }

    fn aad(&self) -> String {
        format!("{}:", self.path.join(":"))
    }

    fn where_(&self) -> String {
        if self.path.is_empty() {
            "(top level)".into()
        } else {
            self.path.join(".")
        }
    }

    fn branch(&mut self, branch: &mut Branch) -> Result<(), Error> {
        self.comments.push(Vec::new());
        for entry in branch.iter_mut() {
            match entry {
                Entry::Comment(text) => {
                    self.comments.last_mut().expect("frame").push(text.clone());
                    *text = self.comment(text)?;
                }
                Entry::Pair(key, value) => {
                    self.path.push(key.clone());
                    let result = self.value(value);
                    self.path.pop();
                    result?;
                    self.comments.last_mut().expect("frame").clear();
                }
            }
        }
        self.comments.pop();
        Ok(())
    }

    fn value(&mut self, value: &mut Value) -> Result<(), Error> {
        match value {
            Value::Null => Ok(()),
            Value::Map(branch) => self.branch(branch),
            Value::Seq(items) => {
                self.comments.push(Vec::new());
                for item in items.iter_mut() {
                    if let Value::Comment(text) = item {
                        self.comments.last_mut().expect("frame").push(text.clone());
                        *text = self.comment(text)?;
                        continue;
                    }
                    self.value(item)?;
                    self.comments.last_mut().expect("frame").clear();
                }
                self.comments.pop();
                Ok(())
            }
            Value::Comment(text) => {
                *text = self.comment(text)?;
                Ok(())
            }
            Value::Scalar(scalar) => {
                if let Some(decrypted) = self.leaf(scalar)? {
                    *value = decrypted;
                }
                Ok(())
            }
        }
    }

    /// A comment is sealed or opened when the selector covers it; comments never feed the MAC.
    fn comment(&self, text: &str) -> Result<String, Error> {
        if text.is_empty() || !self.selector.encrypts(&self.path, &self.comments, true) {
            return Ok(text.to_owned());
        }
        if self.direction == Direction::Encrypt {
            return cipher::encrypt(self.key, text.as_bytes(), self.aad().as_bytes(), "comment");
        }
        if !cipher::is_encrypted(text) {
            // Comments from before sops 3.0 were never encrypted.
            return Ok(text.to_owned());
        }
        let opened = cipher::decrypt(self.key, text, self.aad().as_bytes(), &self.where_())?;
        String::from_utf8(opened.plaintext.to_vec()).map_err(|_| Error::Decrypt {
            path: self.where_(),
        })
    }

    /// Returns the replacement for a leaf the selector covers; clear leaves stay as they are.
    fn leaf(&mut self, scalar: &Scalar) -> Result<Option<Value>, Error> {
        let encrypted = self.selector.encrypts(&self.path, &self.comments, false);
        if !encrypted {
            self.mac.add(&scalar.to_bytes(), false);
            return Ok(None);
        }
        if self.direction == Direction::Encrypt {
            let bytes = scalar.to_bytes();
            // An empty string stays "" and adds nothing to the MAC.
            if bytes.is_empty() && matches!(scalar, Scalar::Str(_)) {
                return Ok(None);
            }
            self.mac.add(&bytes, true);
            let sealed = cipher::encrypt(self.key, &bytes, self.aad().as_bytes(), scalar.kind())?;
            return Ok(Some(Value::Scalar(Scalar::Str(sealed.into_bytes()))));
        }
        let Scalar::Str(text) = scalar else {
            return Err(Error::NotEncrypted {
                path: self.where_(),
            });
        };
        if text.is_empty() {
            return Ok(None);
        }
        let text = std::str::from_utf8(text).map_err(|_| Error::NotEncrypted {
            path: self.where_(),
        })?;
        let opened = cipher::decrypt(self.key, text, self.aad().as_bytes(), &self.where_())?;
        // An encrypted comment that sat in a YAML sequence comes back as a list item.
        if opened.kind == "comment" {
            let comment =
                String::from_utf8(opened.plaintext.to_vec()).map_err(|_| Error::Decrypt {
                    path: self.where_(),
                })?;
            return Ok(Some(Value::Comment(comment)));
        }
        let value = Scalar::from_bytes(&opened.kind, &opened.plaintext, &self.where_())?;
        self.mac.add(&value.to_bytes(), true);
        Ok(Some(Value::Scalar(value)))
    }
}
