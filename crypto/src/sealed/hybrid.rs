//! The Sealed Secrets ciphertext of one item (spec `sealed-secrets.md` §1.1, §1.3):
//! `u16be(L) || RSA-OAEP-SHA256(session key, label) || AES-256-GCM(plaintext)` with a fresh
//! 32-byte session key, an all-zero 12-byte nonce and no AAD.
//!
//! [`seal`] needs only a public key; [`open`] tries private keys in the order given and reports
//! which one worked.

use aes_gcm::aead::{Aead, AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce};
use aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256;
use zeroize::Zeroizing;

use super::error::Error;
use super::keys::{PrivateKey, PublicKey};

const SESSION_KEY_BYTES: usize = 32;
/// Each session key encrypts exactly one plaintext, so a fixed nonce is safe (upstream's choice).
const ZERO_NONCE: [u8; 12] = [0; 12];

/// Seals `plaintext` for `key`, bound to `label` (see [`super::Scope::label`]).
pub fn seal(key: &PublicKey, plaintext: &[u8], label: &[u8]) -> Result<Vec<u8>, Error> {
    let mut session_key = Zeroizing::new([0u8; SESSION_KEY_BYTES]);
    aws_lc_rs::rand::fill(session_key.as_mut()).map_err(|_| Error::Random)?;

    let rsa_len = key.size_bytes();
    // Sized for all of it: the AES-GCM body is encrypted in place after the RSA block.
    let mut out = Vec::with_capacity(2 + rsa_len + plaintext.len() + 16);
    out.resize(2 + rsa_len, 0);
    out[..2].copy_from_slice(&(rsa_len as u16).to_be_bytes());
    let written = key
        .oaep()
        .encrypt(
            &OAEP_SHA256_MGF1SHA256,
            session_key.as_ref(),
            &mut out[2..],
            oaep_label(label),
        )
        .map_err(|_| Error::Key("RSA-OAEP encryption failed".into()))?
        .len();
    debug_assert_eq!(written, rsa_len);

    let aead = Aes256Gcm::new_from_slice(session_key.as_ref()).expect("32-byte key");
    out.extend_from_slice(plaintext);
    match aead.encrypt_in_place_detached(
        Nonce::from_slice(&ZERO_NONCE),
        b"",
        &mut out[2 + rsa_len..],
    ) {
        Ok(tag) => {
            out.extend_from_slice(&tag);
            Ok(out)
        }
        Err(_) => {
            // Never happens below 64 GiB; the plaintext copy is wiped all the same.
            drop(Zeroizing::new(out));
            Err(Error::Key("AES-GCM encryption failed".into()))
        }
    }
}

/// Opens a ciphertext with the first of `keys` that can, returning the plaintext and the index
/// of that key. Every failure (truncated, wrong key, wrong label, tampered bytes) is the same
/// [`Error::NoKeyCouldDecrypt`], as upstream: the format carries no key id, so a wrong key and a
/// tampered ciphertext look alike.
pub fn open(
    keys: &[PrivateKey],
    ciphertext: &[u8],
    label: &[u8],
) -> Result<(Zeroizing<Vec<u8>>, usize), Error> {
    // Upstream's per-key "too short" error is swallowed like any other, so a truncated item
    // reports the same text as a wrong key.
    if ciphertext.len() < 2 {
        return Err(Error::NoKeyCouldDecrypt);
    }
    let rsa_len = u16::from_be_bytes([ciphertext[0], ciphertext[1]]) as usize;
    let Some(rsa_block) = ciphertext.get(2..2 + rsa_len) else {
        return Err(Error::NoKeyCouldDecrypt);
    };
    let body = &ciphertext[2 + rsa_len..];
    for (index, key) in keys.iter().enumerate() {
        if let Some(plaintext) = open_with(key, rsa_block, body, label) {
            return Ok((plaintext, index));
        }
    }
    Err(Error::NoKeyCouldDecrypt)
}

fn open_with(
    key: &PrivateKey,
    rsa_block: &[u8],
    body: &[u8],
    label: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    if rsa_block.len() != key.public_key().size_bytes() {
        return None;
    }
    let mut buf = Zeroizing::new(vec![0u8; key.oaep().min_output_size()]);
    let session_key = key
        .oaep()
        .decrypt(
            &OAEP_SHA256_MGF1SHA256,
            rsa_block,
            &mut buf,
            oaep_label(label),
        )
        .ok()?;
    let nonce = Nonce::from_slice(&ZERO_NONCE);
    // Go's aes.NewCipher also takes 16- and 24-byte keys; no sealer makes them, but a
    // ciphertext that carries one still opens upstream, so it opens here too.
    let plaintext = match session_key.len() {
        32 => Aes256Gcm::new_from_slice(session_key)
            .ok()?
            .decrypt(nonce, body),
        24 => aes_gcm::AesGcm::<aes_gcm::aes::Aes192, aes_gcm::aead::consts::U12>::new_from_slice(
            session_key,
        )
        .ok()?
        .decrypt(nonce, body),
        16 => Aes128Gcm::new_from_slice(session_key)
            .ok()?
            .decrypt(nonce, body),
        _ => return None,
    };
    plaintext.ok().map(Zeroizing::new)
}

/// An empty label and no label are the same for OAEP (lHash = SHA-256("")).
fn oaep_label(label: &[u8]) -> Option<&[u8]> {
    (!label.is_empty()).then_some(label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::LazyLock;

    static KEY: LazyLock<PrivateKey> = LazyLock::new(|| PrivateKey::generate(2048).unwrap());
    static OTHER: LazyLock<PrivateKey> = LazyLock::new(|| PrivateKey::generate(2048).unwrap());

    #[test]
    fn layout_is_length_prefix_rsa_block_then_gcm() {
        let ct = seal(KEY.public_key(), b"bar", b"default/mysecret").unwrap();
        assert_eq!(&ct[..2], &[1, 0]);
        assert_eq!(ct.len(), 2 + 256 + 3 + 16);
        let empty = seal(KEY.public_key(), b"", b"").unwrap();
        assert_eq!(empty.len(), 2 + 256 + 16);
    }

    #[test]
    fn opens_with_the_matching_key_among_several() {
        let ct = seal(KEY.public_key(), b"bar", b"ns").unwrap();
        let keys = [OTHER.clone(), KEY.clone()];
        let (pt, index) = open(&keys, &ct, b"ns").unwrap();
        assert_eq!(pt.as_slice(), b"bar");
        assert_eq!(index, 1);
        assert!(matches!(
            open(&keys[..1], &ct, b"ns"),
            Err(Error::NoKeyCouldDecrypt)
        ));
    }

    #[test]
    fn truncated_and_tampered_ciphertexts_fail() {
        let ct = seal(KEY.public_key(), b"bar", b"ns").unwrap();
        let keys = [KEY.clone()];
        assert!(matches!(
            open(&keys, &ct[..1], b"ns"),
            Err(Error::NoKeyCouldDecrypt)
        ));
        assert!(matches!(
            open(&keys, &ct[..100], b"ns"),
            Err(Error::NoKeyCouldDecrypt)
        ));
        assert!(matches!(
            open(&keys, &ct[..ct.len() - 1], b"ns"),
            Err(Error::NoKeyCouldDecrypt)
        ));
        for i in [3, 2 + 256, ct.len() - 1] {
            let mut bad = ct.clone();
            bad[i] ^= 1;
            assert!(
                matches!(open(&keys, &bad, b"ns"), Err(Error::NoKeyCouldDecrypt)),
                "byte {i}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn open_inverts_seal_and_binds_the_label(
            plaintext in proptest::collection::vec(any::<u8>(), 0..2048),
            label in proptest::collection::vec(any::<u8>(), 0..80),
            other in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let keys = [KEY.clone()];
            let ct = seal(KEY.public_key(), &plaintext, &label).unwrap();
            let (opened, _) = open(&keys, &ct, &label).unwrap();
            prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
            if other != label {
                prop_assert!(matches!(open(&keys, &ct, &other), Err(Error::NoKeyCouldDecrypt)));
            }
        }
    }
}
