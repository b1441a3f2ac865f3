//! The file MAC (spec `sops.md` §5): SHA-512 over the plaintext bytes of the values in tree
//! order, uppercase hex, encrypted as a `str` value with `lastmodified` (RFC 3339, seconds) as
//! additional data.

use sha2::{Digest, Sha512};

use super::cipher::{self, DataKey};
use super::error::Error;

/// SHA-256("sops"): the prefix that marks a `mac_only_encrypted` MAC.
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

pub struct MacHasher {
    hash: Sha512,
    only_encrypted: bool,
}

impl MacHasher {
    pub fn new(only_encrypted: bool) -> MacHasher {
        let mut hash = Sha512::new();
        if only_encrypted {
            hash.update(MAC_ONLY_ENCRYPTED_INIT);
        }
        MacHasher {
            hash,
            only_encrypted,
        }
    }

    /// Feeds one leaf, unless `mac_only_encrypted` leaves clear values out.
    pub fn add(&mut self, bytes: &[u8], encrypted: bool) {
        if encrypted || !self.only_encrypted {
            self.hash.update(bytes);
        }
    }

    pub fn hex(self) -> String {
        self.hash
            .finalize()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }
}

/// Go's `time.Parse(RFC3339)` then `Format(RFC3339)`: fractional seconds are dropped.
pub fn normalize_lastmodified(text: &str) -> Result<String, Error> {
    let bad = || Error::Metadata(format!("lastmodified {text:?} is not an RFC 3339 time"));
    let (head, offset) = match text
        .find(['Z', '+'])
        .or_else(|| text.rfind('-').filter(|i| *i > 10))
    {
        Some(i) => text.split_at(i),
        None => return Err(bad()),
    };
    let seconds = head.split('.').next().ok_or_else(bad)?;
    if seconds.len() != 19 || !seconds.is_ascii() || seconds.as_bytes()[10] != b'T' {
        return Err(bad());
    }
    Ok(format!("{seconds}{offset}"))
}

/// `lastmodified` for a time: RFC 3339 in UTC with whole seconds, as sops writes it.
pub fn format_lastmodified(t: std::time::SystemTime) -> Result<String, Error> {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| Error::Metadata("the clock is before 1970".into()))?
        .as_secs();
    let t = time::OffsetDateTime::from_unix_timestamp(secs as i64).map_err(Error::TimeRange)?;
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&format).map_err(Error::TimeFormat)
}

/// The stored form of a MAC.
pub fn seal(key: &DataKey, hex: &str, lastmodified: &str) -> Result<String, Error> {
    cipher::encrypt(
        key,
        hex.as_bytes(),
        normalize_lastmodified(lastmodified)?.as_bytes(),
        "str",
    )
}

/// Checks a stored MAC against the one computed: `NoMac` or `MacMismatch` when it fails (the
/// CLI gives both sops's exit 51).
pub fn verify(
    key: &DataKey,
    stored: &str,
    lastmodified: &str,
    computed: &str,
) -> Result<(), Error> {
    if stored.is_empty() {
        return Err(Error::NoMac);
    }
    let aad = normalize_lastmodified(lastmodified)?;
    let opened =
        cipher::decrypt(key, stored, aad.as_bytes(), "sops.mac").map_err(|_| Error::MacMismatch)?;
    if opened.plaintext.as_slice() != computed.as_bytes() {
        return Err(Error::MacMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lastmodified_drops_fractions_and_keeps_offsets() {
        assert_eq!(
            normalize_lastmodified("2026-05-22T20:16:23Z").unwrap(),
            "2026-05-22T20:16:23Z"
        );
        assert_eq!(
            normalize_lastmodified("2026-05-22T20:16:23.123456Z").unwrap(),
            "2026-05-22T20:16:23Z"
        );
        assert_eq!(
            normalize_lastmodified("2026-05-22T20:16:23.5-07:00").unwrap(),
            "2026-05-22T20:16:23-07:00"
        );
        assert!(normalize_lastmodified("yesterday").is_err());
        assert!(normalize_lastmodified("2026-05-2é0:16:23Z").is_err());
    }

    #[test]
    fn mac_seals_verifies_and_detects_changes() {
        let key = DataKey::generate().unwrap();
        let mut h = MacHasher::new(false);
        h.add(b"a", true);
        let hex = h.hex();
        assert_eq!(hex.len(), 128);
        let stored = seal(&key, &hex, "2026-01-01T00:00:00Z").unwrap();
        verify(&key, &stored, "2026-01-01T00:00:00Z", &hex).unwrap();
        assert!(matches!(
            verify(&key, &stored, "2026-01-01T00:00:01Z", &hex),
            Err(Error::MacMismatch)
        ));
        assert!(matches!(
            verify(&key, &stored, "2026-01-01T00:00:00Z", "00"),
            Err(Error::MacMismatch)
        ));
        assert!(matches!(
            verify(&key, "", "2026-01-01T00:00:00Z", &hex),
            Err(Error::NoMac)
        ));
    }
}
