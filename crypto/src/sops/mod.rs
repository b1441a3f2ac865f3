//! SOPS files encrypted with age, file-compatible with `sops` (spec `sops.md`).
//!
//! Which function to use when:
//! - decrypt a whole file with age identities: [`decrypt_file`]; with a known data key (tests,
//!   re-encryption): [`load`], then [`tree::decrypt`], then [`emit_plain`];
//! - one `ENC[…]` value: [`cipher::encrypt`] / [`cipher::decrypt`];
//! - the data key from the metadata: [`keys::recover_data_key`] (age, with Shamir key groups).
//!
//! All five stores: YAML (multi-document, comments), JSON, dotenv, INI and binary.
//!
//! ```
//! use sealbox_crypto::sops::{Format, cipher, cipher::DataKey, decrypt_file, keys, mac};
//! // A one-value dotenv file, built by hand the way sops writes it.
//! let id = age::x25519::Identity::generate();
//! let key = DataKey::generate().unwrap();
//! let stanza = keys::wrap(&id.to_public().to_string(), key.as_bytes()).unwrap();
//! let value = cipher::encrypt(&key, b"hunter2", b"PASSWORD:", "str").unwrap();
//! let mut hash = mac::MacHasher::new(false);
//! hash.add(b"hunter2", true);
//! let lastmodified = "2026-11-22T00:00:00Z";
//! let file = format!(
//!     "PASSWORD={value}\nsops_age__list_0__map_enc={}\nsops_age__list_0__map_recipient={}\nsops_lastmodified={lastmodified}\nsops_mac={}\nsops_version=3.13.2\n",
//!     stanza.enc.replace('\n', "\\n"),
//!     stanza.recipient,
//!     mac::seal(&key, &hash.hex(), lastmodified).unwrap(),
//! );
//! let plain = decrypt_file(Format::Dotenv, &file, &[id.into()], false).unwrap();
//! assert_eq!(plain, b"PASSWORD=hunter2\n");
//! ```

pub mod cipher;
pub mod config;
pub mod dotenv;
mod error;
mod format;
pub mod ini;
pub mod json;
pub mod keys;
mod layout;
pub mod mac;
pub mod metadata;
pub mod pq;
mod rules;
pub mod shamir;
pub mod ssh;
pub mod tree;
pub mod value;
pub mod yaml;

pub use error::{Error, RegexProblem};
pub use format::Format;
pub use layout::Layout;
pub use metadata::Metadata;
pub use rules::{SELECTOR_FIELDS, Selector};
pub use value::{Branch, Entry, Scalar, Step, Value, lookup, parse_path, set, unset};

/// What to encrypt a new file for.
#[derive(Debug, Clone, Default)]
pub struct EncryptSettings {
    /// age recipients per key group; two or more groups use Shamir shares.
    pub groups: Vec<Vec<String>>,
    /// Groups needed to recover the key (0 = all).
    pub shamir_threshold: usize,
    /// At most one selector; none means `unencrypted_suffix: _unencrypted` (not for the
    /// binary store).
    pub selector: Option<Selector>,
    /// Only encrypted values go into the MAC.
    pub mac_only_encrypted: bool,
    /// Indentation of the output (`stores:`, `--indent`).
    pub layout: Layout,
}

/// Reads a plaintext file into branches, refusing one that is already encrypted.
pub fn load_plain(format: Format, bytes: &[u8]) -> Result<Vec<Branch>, Error> {
    let text = || {
        std::str::from_utf8(bytes).map_err(|_| Error::Store("the file is not UTF-8 text".into()))
    };
    match format {
        Format::Dotenv => Ok(vec![dotenv::load_plain(text()?)?]),
        Format::Json => {
            let branch = json::load_plain(text()?)?;
            json::check_not_encrypted(&branch)?;
            Ok(vec![branch])
        }
        Format::Ini => Ok(vec![ini::load_plain(text()?)?]),
        Format::Yaml => yaml::load_plain(text()?),
        Format::Binary => Ok(vec![vec![Entry::Pair(
            "data".into(),
            Value::Scalar(Scalar::Str(bytes.to_vec())),
        )]]),
    }
}

/// The encrypted file for encrypted branches and their metadata.
pub fn emit_encrypted(
    format: Format,
    branches: &[Branch],
    meta: &Metadata,
) -> Result<Vec<u8>, Error> {
    emit_encrypted_with(format, branches, meta, &Layout::default())
}

/// [`emit_encrypted`] indented as `layout` says.
pub fn emit_encrypted_with(
    format: Format,
    branches: &[Branch],
    meta: &Metadata,
    layout: &Layout,
) -> Result<Vec<u8>, Error> {
    match (format, branches) {
        (Format::Dotenv, [branch]) => dotenv::emit_encrypted(branch, meta),
        (Format::Json | Format::Binary, [branch]) => Ok(json::emit_encrypted_indented(
            branch,
            meta,
            layout.json(format)?,
        )),
        (Format::Ini, [branch]) => ini::emit_encrypted(branch, meta),
        (Format::Yaml, docs) => Ok(yaml::emit_encrypted_indented(docs, meta, layout.yaml()?)),
        (other, _) => Err(Error::OneDocumentOnly(other)),
    }
}

/// Encrypts a plaintext file with a fresh data key, written in `output` format (usually the
/// input's). `now` becomes `lastmodified`.
pub fn encrypt_file(
    format: Format,
    output: Format,
    plaintext: &[u8],
    settings: &EncryptSettings,
    now: std::time::SystemTime,
) -> Result<Vec<u8>, Error> {
    encrypt_branches(
        load_plain(format, plaintext)?,
        format,
        output,
        settings,
        now,
    )
}

/// [`encrypt_file`] of branches already read with [`load_plain`] (so the caller can let go
/// of the file's text first).
pub fn encrypt_branches(
    mut branches: Vec<Branch>,
    format: Format,
    output: Format,
    settings: &EncryptSettings,
    now: std::time::SystemTime,
) -> Result<Vec<u8>, Error> {
    let key = cipher::DataKey::generate()?;
    let mut meta = Metadata::for_recipients(&settings.groups, settings.shamir_threshold, &key)?;
    meta.mac_only_encrypted = settings.mac_only_encrypted;
    match (&settings.selector, format) {
        // The binary store ignores selectors.
        (_, Format::Binary) => {}
        (None, _) => meta.unencrypted_suffix = "_unencrypted".into(),
        (Some(selector), _) => meta.set_selector(selector)?,
    }
    tree::encrypt(
        &mut branches,
        &mut meta,
        &key,
        &mac::format_lastmodified(now)?,
        None,
    )?;
    emit_encrypted_with(output, &branches, &meta, &settings.layout)
}

/// Splits an encrypted file into its branches and metadata.
pub fn load(format: Format, text: &str) -> Result<(Vec<Branch>, Metadata), Error> {
    match format {
        Format::Dotenv => {
            let (branch, meta) = dotenv::load_encrypted(text)?;
            Ok((vec![branch], meta))
        }
        Format::Json | Format::Binary => {
            let (branch, meta) = json::load_encrypted(text)?;
            Ok((vec![branch], meta))
        }
        Format::Ini => {
            let (branch, meta) = ini::load_encrypted(text)?;
            Ok((vec![branch], meta))
        }
        Format::Yaml => yaml::load_encrypted(text),
    }
}

/// The plaintext file for decrypted branches.
pub fn emit_plain(format: Format, branches: &[Branch]) -> Result<Vec<u8>, Error> {
    emit_plain_with(format, branches, &Layout::default())
}

/// [`emit_plain`] indented as `layout` says.
pub fn emit_plain_with(
    format: Format,
    branches: &[Branch],
    layout: &Layout,
) -> Result<Vec<u8>, Error> {
    match (format, branches) {
        (Format::Dotenv, [branch]) => dotenv::emit_plain(branch),
        (Format::Json, [branch]) => Ok(json::emit_plain_indented(branch, layout.json(format)?)),
        (Format::Binary, [branch]) => json::emit_binary(branch),
        (Format::Ini, [branch]) => ini::emit_plain(branch),
        (Format::Yaml, docs) => Ok(yaml::emit_plain_indented(docs, layout.yaml()?)),
        (other, _) => Err(Error::OneDocumentOnly(other)),
    }
}

/// Decrypts a whole file with age identities, verifying the MAC unless `ignore_mac`.
pub fn decrypt_file(
    format: Format,
    text: &str,
    identities: &[keys::Identity],
    ignore_mac: bool,
) -> Result<Vec<u8>, Error> {
    let file = OpenFile::open_to_read(format, text, identities, ignore_mac)?;
    emit_plain(format, &file.branches)
}

/// A decrypted file kept ready to be changed and sealed again with the same data key; values
/// that do not change keep their exact ciphertext (for `set`, `unset` and `edit`).
pub struct OpenFile {
    pub format: Format,
    pub branches: Vec<Branch>,
    pub metadata: Metadata,
    /// Indentation used when it is written again (default: sops's).
    pub layout: Layout,
    key: cipher::DataKey,
    stash: tree::IvStash,
}

impl OpenFile {
    pub fn open(
        format: Format,
        text: &str,
        identities: &[keys::Identity],
        ignore_mac: bool,
    ) -> Result<OpenFile, Error> {
        OpenFile::open_with(format, text, identities, ignore_mac, true)
    }

    /// [`OpenFile::open`] for reading only: the IVs are not remembered (no copy of every
    /// plaintext is kept), so sealing it again would give every value a new ciphertext.
    pub fn open_to_read(
        format: Format,
        text: &str,
        identities: &[keys::Identity],
        ignore_mac: bool,
    ) -> Result<OpenFile, Error> {
        OpenFile::open_with(format, text, identities, ignore_mac, false)
    }

    fn open_with(
        format: Format,
        text: &str,
        identities: &[keys::Identity],
        ignore_mac: bool,
        keep_ivs: bool,
    ) -> Result<OpenFile, Error> {
        let (mut branches, metadata) = load(format, text)?;
        let key = keys::recover_data_key(&metadata, identities)?;
        let mut stash = tree::IvStash::default();
        let remember = keep_ivs.then_some(&mut stash);
        tree::decrypt(&mut branches, &metadata, &key, ignore_mac, remember)?;
        Ok(OpenFile {
            format,
            branches,
            metadata,
            layout: Layout::default(),
            key,
            stash,
        })
    }

    /// The plaintext in `format`.
    pub fn plain(&self, format: Format) -> Result<Vec<u8>, Error> {
        emit_plain_with(format, &self.branches, &self.layout)
    }

    /// Replaces the tree with a new plaintext in the file's format (after an edit).
    pub fn replace_plain(&mut self, plaintext: &[u8]) -> Result<(), Error> {
        self.branches = load_plain(self.format, plaintext)?;
        Ok(())
    }

    /// Seals the tree again: same data key and recipients, new MAC and `lastmodified`.
    pub fn seal(mut self, now: std::time::SystemTime) -> Result<Vec<u8>, Error> {
        tree::encrypt(
            &mut self.branches,
            &mut self.metadata,
            &self.key,
            &mac::format_lastmodified(now)?,
            Some(&mut self.stash),
        )?;
        emit_encrypted_with(self.format, &self.branches, &self.metadata, &self.layout)
    }

    /// Seals with a new data key for `groups` (every value gets a new ciphertext), keeping the
    /// selector and `mac_only_encrypted`: `sops rotate`.
    pub fn rotate(
        mut self,
        groups: &[Vec<String>],
        shamir_threshold: usize,
        now: std::time::SystemTime,
    ) -> Result<Vec<u8>, Error> {
        self.metadata.check_age_only("rotate")?;
        let key = cipher::DataKey::generate()?;
        let mut meta = Metadata::for_recipients(groups, shamir_threshold, &key)?;
        meta.copy_rules_from(&self.metadata);
        tree::encrypt(
            &mut self.branches,
            &mut meta,
            &key,
            &mac::format_lastmodified(now)?,
            None,
        )?;
        emit_encrypted_with(self.format, &self.branches, &meta, &self.layout)
    }

    /// Wraps the same data key for `groups` and leaves values, MAC and `lastmodified` as they
    /// are: `sops updatekeys`.
    pub fn rewrap(
        self,
        original: &str,
        groups: &[Vec<String>],
        shamir_threshold: usize,
    ) -> Result<Vec<u8>, Error> {
        self.metadata.check_age_only("update the keys of")?;
        let (branches, old) = load(self.format, original)?;
        let mut meta = Metadata::for_recipients(groups, shamir_threshold, &self.key)?;
        meta.copy_rules_from(&old);
        meta.lastmodified = old.lastmodified;
        meta.mac = old.mac;
        meta.version = old.version;
        emit_encrypted_with(self.format, &branches, &meta, &self.layout)
    }

    /// Wraps the same data key for new key `groups` with `threshold` (recorded even for a
    /// single group, as sops does): `sops groups add` / `groups delete` (see
    /// [`keys::add_group`], [`keys::delete_group`]). Values, MAC, `lastmodified` and `version`
    /// stay.
    pub fn regroup(
        self,
        original: &str,
        groups: &[Vec<String>],
        threshold: usize,
    ) -> Result<Vec<u8>, Error> {
        self.metadata.check_age_only("change the key groups of")?;
        let (branches, old) = load(self.format, original)?;
        let mut meta = Metadata::for_recipients(groups, threshold, &self.key)?;
        if groups.len() == 1 {
            meta.shamir_threshold = threshold;
        }
        meta.copy_rules_from(&old);
        meta.lastmodified = old.lastmodified;
        meta.mac = old.mac;
        meta.version = old.version;
        emit_encrypted_with(self.format, &branches, &meta, &self.layout)
    }

    /// The age recipients per key group.
    pub fn recipient_groups(&self) -> Vec<Vec<String>> {
        self.metadata
            .groups()
            .iter()
            .map(|g| g.age.iter().map(|a| a.recipient.clone()).collect())
            .collect()
    }
}

#[cfg(test)]
mod vector_tests;
