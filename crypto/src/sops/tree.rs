//! Walking a tree to encrypt or decrypt it (spec `sops.md` §4, §5): every leaf the selector
//! marks is sealed or opened with its path as AAD, every non-comment leaf feeds the MAC in
//! document order.

use super::error::Error;
use std::borrow::Cow;
use std::collections::HashMap;

use zeroize::Zeroizing;

use super::cipher::{self, DataKey};
use super::mac::{self, MacHasher};
use super::metadata::Metadata;
use super::rules::Selector;
use super::value::{Branch, Entry, Scalar, Value};

/// IVs of the values a decryption saw, by path and plaintext: sealing the same plaintext at
/// the same path again reuses its IV, so an edit changes only what was edited (sops's
/// `Cipher.stash`).
#[derive(Default)]
pub struct IvStash(HashMap<String, Vec<StashedIv>>);

/// A plaintext seen at a path and the IV it was sealed with.
type StashedIv = (Zeroizing<Vec<u8>>, [u8; 32]);

impl IvStash {
    fn remember(&mut self, aad: &str, plaintext: &[u8], iv: &[u8]) {
        if let Ok(iv) = <[u8; 32]>::try_from(iv) {
            self.0
                .entry(aad.to_owned())
                .or_default()
                .push((Zeroizing::new(plaintext.to_vec()), iv));
        }
    }

    fn find(&self, aad: &str, plaintext: &[u8]) -> Option<&[u8; 32]> {
        self.0
            .get(aad)?
            .iter()
            .find(|(p, _)| p.as_slice() == plaintext)
            .map(|(_, iv)| iv)
    }
}

/// Encrypts plaintext `branches` in place with `key` and sets `meta.mac` and
/// `meta.lastmodified` (RFC 3339, UTC, seconds). With a stash from the decryption of the same
/// file, unchanged values keep their ciphertext.
pub fn encrypt(
    branches: &mut [Branch],
    meta: &mut Metadata,
    key: &DataKey,
    lastmodified: &str,
    stash: Option<&mut IvStash>,
) -> Result<(), Error> {
    let mut walker = Walker::new(meta, key, Direction::Encrypt, stash)?;
    for branch in branches.iter_mut() {
        walker.branch(branch)?;
    }
    meta.lastmodified = lastmodified.to_owned();
    meta.mac = mac::seal(key, &walker.mac.hex(), lastmodified)?;
    Ok(())
}

/// Decrypts `branches` (YAML documents, or the one branch of other stores) in place and checks
/// the MAC unless `ignore_mac`. Values must all open even when the MAC is ignored. A stash, if
/// given, records every value's IV for re-encryption.
pub fn decrypt(
    branches: &mut [Branch],
    meta: &Metadata,
    key: &DataKey,
    ignore_mac: bool,
    stash: Option<&mut IvStash>,
) -> Result<(), Error> {
    let mut walker = Walker::new(meta, key, Direction::Decrypt, stash)?;
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
    stash: Option<&'a mut IvStash>,
    selector: Selector,
    key: &'a DataKey,
    mac: MacHasher,
    path: Vec<String>,
    /// One frame per mapping/sequence level: the comments seen since the last entry.
    comments: Vec<Vec<String>>,
}

impl<'a> Walker<'a> {
    fn new(
        meta: &Metadata,
        key: &'a DataKey,
        direction: Direction,
        stash: Option<&'a mut IvStash>,
    ) -> Result<Walker<'a>, Error> {
        Ok(Walker {
            direction,
            stash,
            selector: meta.selector()?,
            key,
            mac: MacHasher::new(meta.mac_only_encrypted),
            path: Vec::new(),
            comments: Vec::new(),
        })
    }

    /// Seals at the current path, reusing a stashed IV for an unchanged plaintext.
    fn seal(&self, plaintext: &[u8], kind: &str) -> Result<String, Error> {
        let aad = self.aad();
        match self.stash.as_ref().and_then(|s| s.find(&aad, plaintext)) {
            Some(iv) => cipher::encrypt_with_iv(self.key, plaintext, aad.as_bytes(), kind, iv),
            None => cipher::encrypt(self.key, plaintext, aad.as_bytes(), kind),
        }
    }

    /// Opens at the current path, stashing the IV when asked to.
    fn open(&mut self, text: &str) -> Result<cipher::Opened, Error> {
        let aad = self.aad();
        // The path for messages is built only when something fails.
        let opened =
            cipher::decrypt(self.key, text, aad.as_bytes(), "").map_err(|e| e.at(self.where_()))?;
        if let Some(stash) = self.stash.as_mut() {
            stash.remember(&aad, &opened.plaintext, &opened.iv);
        }
        Ok(opened)
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
    fn comment(&mut self, text: &str) -> Result<String, Error> {
        if text.is_empty() || !self.selector.encrypts(&self.path, &self.comments, true) {
            return Ok(text.to_owned());
        }
        if self.direction == Direction::Encrypt {
            return self.seal(text.as_bytes(), "comment");
        }
        if !cipher::is_encrypted(text) {
            // Comments from before sops 3.0 were never encrypted.
            return Ok(text.to_owned());
        }
        let opened = self.open(text)?;
        String::from_utf8(opened.plaintext.to_vec()).map_err(|_| Error::Decrypt {
            path: self.where_(),
        })
    }

    /// Returns the replacement for a leaf the selector covers; clear leaves stay as they are.
    fn leaf(&mut self, scalar: &Scalar) -> Result<Option<Value>, Error> {
        let encrypted = self.selector.encrypts(&self.path, &self.comments, false);
        // A string's bytes are used where they are, never copied.
        let bytes = || match scalar {
            Scalar::Str(bytes) | Scalar::Bytes(bytes) => Cow::Borrowed(bytes.as_slice()),
            other => Cow::Owned(other.to_bytes()),
        };
        if !encrypted {
            self.mac.add(&bytes(), false);
            return Ok(None);
        }
        if self.direction == Direction::Encrypt {
            let bytes = bytes();
            // An empty string stays "" and adds nothing to the MAC.
            if bytes.is_empty() && matches!(scalar, Scalar::Str(_)) {
                return Ok(None);
            }
            self.mac.add(&bytes, true);
            let sealed = self.seal(&bytes, scalar.kind())?;
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
        let mut opened = self.open(text)?;
        if opened.kind == "str" {
            // The plaintext moves into the tree rather than being copied.
            self.mac.add(&opened.plaintext, true);
            return Ok(Some(Value::Scalar(Scalar::Str(std::mem::take(
                &mut *opened.plaintext,
            )))));
        }
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
