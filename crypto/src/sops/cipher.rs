//! One SOPS value: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` (spec `sops.md` §3).
//! AES-256-GCM under the file's data key with a 32-byte IV (GCM's GHASH-derived counter
//! block) and the value's path as additional data.

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, AeadInPlace, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine as _;
use zeroize::Zeroizing;

use super::error::Error;

/// sops writes 32-byte IVs; it reads any length, so 12-byte IVs from other writers open too.
const IV_BYTES: usize = 32;
type Aes256Gcm32 = AesGcm<Aes256, U32>;
type Aes256Gcm12 = aes_gcm::Aes256Gcm;

/// The 32-byte data key every value and the MAC are encrypted with.
#[derive(Clone)]
pub struct DataKey {
    bytes: Zeroizing<[u8; 32]>,
    /// The expanded key, built once: a file has thousands of values under one key.
    cipher: Aes256Gcm32,
}

impl DataKey {
    fn new(bytes: Zeroizing<[u8; 32]>) -> DataKey {
        let cipher = Aes256Gcm32::new_from_slice(bytes.as_ref()).expect("32-byte key");
        DataKey { bytes, cipher }
    }

    pub fn generate() -> Result<DataKey, Error> {
        let mut key = Zeroizing::new([0u8; 32]);
        random(key.as_mut())?;
        Ok(DataKey::new(key))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<DataKey, Error> {
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::Metadata(format!("data key has {} bytes, not 32", bytes.len())))?;
        Ok(DataKey::new(Zeroizing::new(key)))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// Random bytes from the operating system. aws-lc's generator seeds itself from CPU jitter on
/// first use (about 40 ms), which would dominate a SOPS command; SOPS needs no RSA, so its data
/// keys, IVs and Shamir coefficients come from the OS directly, as age's own randomness does.
pub(super) fn random(buf: &mut [u8]) -> Result<(), Error> {
    getrandom::getrandom(buf).map_err(|_| Error::Random)
}

/// Whether a string is an `ENC[AES256_GCM,…]` value.
pub fn is_encrypted(text: &str) -> bool {
    text.starts_with("ENC[AES256_GCM,data:")
}

/// Encrypts `plaintext` with a fresh IV, tagging it with sops's `type` name.
pub fn encrypt(key: &DataKey, plaintext: &[u8], aad: &[u8], kind: &str) -> Result<String, Error> {
    encrypt_with_iv(key, plaintext, aad, kind, &fresh_iv()?)
}

/// IVs are public, so they are drawn from the OS in batches rather than one system call each.
fn fresh_iv() -> Result<[u8; IV_BYTES], Error> {
    const BATCH: usize = 256 * IV_BYTES;
    thread_local! {
        static POOL: std::cell::RefCell<(Vec<u8>, usize)> = const { std::cell::RefCell::new((Vec::new(), 0)) };
    }
    POOL.with_borrow_mut(|(buf, used)| {
        if *used + IV_BYTES > buf.len() {
            buf.resize(BATCH, 0);
            random(buf)?;
            *used = 0;
        }
        let iv: [u8; IV_BYTES] = buf[*used..*used + IV_BYTES]
            .try_into()
            .expect("IV_BYTES long");
        *used += IV_BYTES;
        Ok(iv)
    })
}

/// Encrypts with a given IV: sops reuses a value's IV when re-encrypting the same plaintext at
/// the same path, so an edit changes only what was edited.
pub fn encrypt_with_iv(
    key: &DataKey,
    plaintext: &[u8],
    aad: &[u8],
    kind: &str,
    iv: &[u8; IV_BYTES],
) -> Result<String, Error> {
    let sealed = key
        .cipher
        .encrypt(
            Nonce::from_slice(iv),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| Error::Encrypt)?;
    let (data, tag) = sealed.split_at(sealed.len() - 16);
    // The base64 goes straight into the value: no intermediate strings.
    let engine = &base64::engine::general_purpose::STANDARD;
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4 + kind.len() + 120);
    out.push_str("ENC[AES256_GCM,data:");
    engine.encode_string(data, &mut out);
    out.push_str(",iv:");
    engine.encode_string(iv, &mut out);
    out.push_str(",tag:");
    engine.encode_string(tag, &mut out);
    out.push_str(",type:");
    out.push_str(kind);
    out.push(']');
    Ok(out)
}

/// A decrypted value: its plaintext bytes and sops's `type` name.
pub struct Opened {
    pub plaintext: Zeroizing<Vec<u8>>,
    pub kind: String,
    /// The IV it was sealed with, so an unchanged value can be sealed again identically.
    pub iv: Vec<u8>,
}

/// Parses and decrypts an `ENC[…]` value. `path` names the value in errors.
pub fn decrypt(key: &DataKey, text: &str, aad: &[u8], path: &str) -> Result<Opened, Error> {
    let parsed = parse(text).ok_or_else(|| Error::NotEncrypted {
        path: path.to_owned(),
    })?;
    let engine = &base64::engine::general_purpose::STANDARD;
    let b64 = |s: &str| engine.decode(s).ok();
    // Ciphertext and tag in one buffer sized for both, opened in place: the buffer becomes
    // the plaintext, so the value is never held twice.
    let mut data = Zeroizing::new(Vec::with_capacity(parsed.data.len() / 4 * 3 + 3 + 16));
    let decoded = engine.decode_vec(parsed.data, &mut data).is_ok();
    let (true, Some(iv), Some(tag)) = (decoded, b64(parsed.iv), b64(parsed.tag)) else {
        return Err(Error::NotEncrypted {
            path: path.to_owned(),
        });
    };
    data.extend_from_slice(&tag);
    let opened = match iv.len() {
        32 => key
            .cipher
            .decrypt_in_place(Nonce::from_slice(&iv), aad, &mut *data),
        12 => Aes256Gcm12::new_from_slice(key.as_bytes())
            .expect("32-byte key")
            .decrypt_in_place(Nonce::from_slice(&iv), aad, &mut *data),
        _ => Err(aes_gcm::Error),
    };
    opened.map_err(|_| Error::Decrypt {
        path: path.to_owned(),
    })?;
    Ok(Opened {
        plaintext: data,
        kind: parsed.kind.to_owned(),
        iv,
    })
}

struct Parsed<'a> {
    data: &'a str,
    iv: &'a str,
    tag: &'a str,
    kind: &'a str,
}

/// `^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]`, the fields being base64 (no
/// commas) and the type a plain word.
fn parse(text: &str) -> Option<Parsed<'_>> {
    let inner = text.strip_prefix("ENC[AES256_GCM,")?;
    let inner = &inner[..inner.rfind(']')?];
    let mut fields = inner.splitn(4, ',');
    let mut field = |name: &str| fields.next()?.strip_prefix(name);
    Some(Parsed {
        data: field("data:")?,
        iv: field("iv:")?,
        tag: field("tag:")?,
        kind: field("type:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_binds_the_path() {
        let key = DataKey::generate().unwrap();
        let enc = encrypt(&key, b"hunter2", b"db:password:", "str").unwrap();
        assert!(is_encrypted(&enc) && enc.ends_with(",type:str]"));
        let opened = decrypt(&key, &enc, b"db:password:", "db.password").unwrap();
        assert_eq!(opened.plaintext.as_slice(), b"hunter2");
        assert_eq!(opened.kind, "str");
        assert!(matches!(
            decrypt(&key, &enc, b"db:other:", "db.other"),
            Err(Error::Decrypt { .. })
        ));
        assert!(matches!(
            decrypt(&key, "plain", b"", "x"),
            Err(Error::NotEncrypted { .. })
        ));
    }

    #[test]
    fn same_iv_gives_the_same_ciphertext() {
        let key = DataKey::generate().unwrap();
        let iv = [7u8; 32];
        let a = encrypt_with_iv(&key, b"v", b"k:", "str", &iv).unwrap();
        let b = encrypt_with_iv(&key, b"v", b"k:", "str", &iv).unwrap();
        assert_eq!(a, b);
    }
}
