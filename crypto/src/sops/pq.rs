//! age's post-quantum hybrid keys (age ≥ 1.3, sops ≥ 3.12): recipients `age1pq1…`, identities
//! `AGE-SECRET-KEY-PQ-1…`, stanza `-> mlkem768x25519 <enc>`.
//!
//! The file key is sealed with HPKE (RFC 9180, base mode, HKDF-SHA256, ChaCha20-Poly1305, info
//! `age-encryption.org/mlkem768x25519`, empty AAD) under the MLKEM768-X25519 KEM (X-Wing):
//! - identity = a 32-byte seed; SHAKE256(seed) gives 96 bytes: ML-KEM-768's key-generation
//!   seeds d and z, then the X25519 secret;
//! - recipient = ML-KEM encapsulation key (1184 bytes) || X25519 public key (32);
//! - enc = ML-KEM ciphertext (1088) || X25519 ephemeral share (32);
//! - shared secret = SHA3-256(ss_mlkem || ss_x25519 || share || X25519 public key || label).

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use age::{DecryptError, EncryptError};
use age_core::format::{FileKey, Stanza};
use age_core::primitives::{bech32_decode, bech32_encode};
use age_core::secrecy::ExposeSecret;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key};
use hkdf::Hkdf;
use ml_kem::kem::{Decapsulate, Encapsulate};
use ml_kem::{Ciphertext, EncodedSizeUser, KemCore, MlKem768};
use rand_core::{OsRng, RngCore};
use sha2::Sha256;
use sha3::digest::{Digest, ExtendableOutput, Update, XofReader};
use sha3::{Sha3_256, Shake256};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::error::Error;

const STANZA_TAG: &str = "mlkem768x25519";
const INFO: &[u8] = b"age-encryption.org/mlkem768x25519";
const RECIPIENT_HRP: &str = "age1pq";
const IDENTITY_HRP: &str = "age-secret-key-pq-";
/// The X-Wing combiner's label, `\.//^\`.
const XWING_LABEL: &[u8] = b"\\.//^\\";
/// HPKE suite: KEM MLKEM768-X25519 (0x647a), KDF HKDF-SHA256 (1), AEAD ChaCha20-Poly1305 (3).
const SUITE_ID: &[u8] = b"HPKE\x64\x7a\x00\x01\x00\x03";
const MLKEM_EK_LEN: usize = 1184;
const MLKEM_CT_LEN: usize = 1088;
const ENC_LEN: usize = MLKEM_CT_LEN + 32;
/// The sealed 16-byte file key plus the Poly1305 tag.
const BODY_LEN: usize = 32;

type DecapsulationKey = <MlKem768 as KemCore>::DecapsulationKey;
type EncapsulationKey = <MlKem768 as KemCore>::EncapsulationKey;

/// An `AGE-SECRET-KEY-PQ-1…` identity.
#[derive(Clone)]
pub struct HybridIdentity {
    mlkem: DecapsulationKey,
    x25519: StaticSecret,
    recipient: HybridRecipient,
}

/// An `age1pq1…` recipient.
#[derive(Clone)]
pub struct HybridRecipient {
    mlkem: EncapsulationKey,
    x25519: PublicKey,
}

impl HybridIdentity {
    fn from_seed(seed: &[u8; 32]) -> HybridIdentity {
        let mut expanded = Zeroizing::new([0u8; 96]);
        Shake256::default()
            .chain(seed)
            .finalize_xof()
            .read(expanded.as_mut());
        let d: [u8; 32] = expanded[..32].try_into().expect("32 bytes");
        let z: [u8; 32] = expanded[32..64].try_into().expect("32 bytes");
        let (mlkem, ek) = MlKem768::generate_deterministic(&d.into(), &z.into());
        let x25519 = StaticSecret::from(<[u8; 32]>::try_from(&expanded[64..]).expect("32 bytes"));
        let recipient = HybridRecipient {
            mlkem: ek,
            x25519: PublicKey::from(&x25519),
        };
        HybridIdentity {
            mlkem,
            x25519,
            recipient,
        }
    }

    pub fn to_public(&self) -> HybridRecipient {
        self.recipient.clone()
    }
}

impl FromStr for HybridIdentity {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        bech32_decode(
            s,
            |_| "invalid Bech32 encoding",
            |hrp| {
                (hrp.to_lowercase() == IDENTITY_HRP)
                    .then_some(())
                    .ok_or("not an AGE-SECRET-KEY-PQ-1 identity")
            },
            |_, bytes| {
                let seed = Zeroizing::new(bytes.collect::<Vec<u8>>());
                let seed: &[u8; 32] = seed.as_slice().try_into().map_err(|_| "wrong key length")?;
                Ok(HybridIdentity::from_seed(seed))
            },
        )
    }
}

impl FromStr for HybridRecipient {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        bech32_decode(
            s,
            |_| "invalid Bech32 encoding",
            |hrp| {
                (hrp.to_lowercase() == RECIPIENT_HRP)
                    .then_some(())
                    .ok_or("not an age1pq1 recipient")
            },
            |_, bytes| {
                let raw: Vec<u8> = bytes.collect();
                if raw.len() != MLKEM_EK_LEN + 32 {
                    return Err("wrong key length");
                }
                let (ek, x) = raw.split_at(MLKEM_EK_LEN);
                let ek = ek.try_into().map_err(|_| "wrong key length")?;
                let x: [u8; 32] = x.try_into().map_err(|_| "wrong key length")?;
                Ok(HybridRecipient {
                    mlkem: EncapsulationKey::from_bytes(&ek),
                    x25519: PublicKey::from(x),
                })
            },
        )
    }
}

impl fmt::Display for HybridRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = self.mlkem.as_bytes().to_vec();
        raw.extend_from_slice(self.x25519.as_bytes());
        let hrp = bech32::Hrp::parse(RECIPIENT_HRP).expect("valid HRP");
        f.write_str(&bech32_encode(hrp, &raw))
    }
}

/// The X-Wing combiner.
fn shared_secret(ss_mlkem: &[u8], ss_x25519: &[u8], share: &[u8], public: &[u8]) -> [u8; 32] {
    Sha3_256::new()
        .chain(ss_mlkem)
        .chain(ss_x25519)
        .chain(share)
        .chain(public)
        .chain(XWING_LABEL)
        .finalize()
        .into()
}

/// HPKE's base-mode key schedule with an empty PSK: the AEAD key and the (first) nonce.
fn key_schedule(shared: &[u8; 32]) -> (Zeroizing<[u8; 32]>, [u8; 12]) {
    let labeled = |label: &[u8], rest: &[u8]| [b"HPKE-v1", SUITE_ID, label, rest].concat();
    let extract = |salt: &[u8], label: &[u8], ikm: &[u8]| {
        Hkdf::<Sha256>::extract(Some(salt), &labeled(label, ikm))
    };
    let mut context = vec![0u8]; // mode_base
    context.extend_from_slice(&extract(b"", b"psk_id_hash", b"").0);
    context.extend_from_slice(&extract(b"", b"info_hash", INFO).0);
    let (_, secret) = extract(shared, b"secret", b"");
    let expand = |label: &[u8], out: &mut [u8]| {
        let len = u16::try_from(out.len()).expect("short").to_be_bytes();
        let info = [&len[..], &labeled(label, &context)].concat();
        secret.expand(&info, out).expect("short output");
    };
    let mut key = Zeroizing::new([0u8; 32]);
    let mut nonce = [0u8; 12];
    expand(b"key", key.as_mut());
    expand(b"base_nonce", &mut nonce);
    (key, nonce)
}

fn aead(shared: &[u8; 32]) -> (ChaCha20Poly1305, [u8; 12]) {
    let (key, nonce) = key_schedule(shared);
    (ChaCha20Poly1305::new(Key::from_slice(key.as_ref())), nonce)
}

impl age::Identity for HybridIdentity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, DecryptError>> {
        if stanza.tag != STANZA_TAG {
            return None;
        }
        let enc = match stanza.args.as_slice() {
            [enc] => base64::engine::general_purpose::STANDARD_NO_PAD.decode(enc),
            _ => return Some(Err(DecryptError::InvalidHeader)),
        };
        let enc = match enc {
            Ok(enc) if enc.len() == ENC_LEN && stanza.body.len() == BODY_LEN => enc,
            _ => return Some(Err(DecryptError::InvalidHeader)),
        };
        let (ct, share) = enc.split_at(MLKEM_CT_LEN);
        let ct = Ciphertext::<MlKem768>::try_from(ct).ok()?;
        let share: [u8; 32] = share.try_into().ok()?;
        let ss_mlkem: Zeroizing<[u8; 32]> =
            Zeroizing::new(self.mlkem.decapsulate(&ct).ok()?.into());
        let ss_x25519 = self.x25519.diffie_hellman(&PublicKey::from(share));
        let shared = Zeroizing::new(shared_secret(
            ss_mlkem.as_ref(),
            ss_x25519.as_bytes(),
            &share,
            self.recipient.x25519.as_bytes(),
        ));
        let (cipher, nonce) = aead(&shared);
        // The stanza names no recipient: a failure means it was sealed for someone else.
        let plain = Zeroizing::new(cipher.decrypt(&nonce.into(), stanza.body.as_slice()).ok()?);
        Some(Ok(FileKey::init_with_mut(|k| k.copy_from_slice(&plain))))
    }
}

impl age::Recipient for HybridRecipient {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, HashSet<String>), EncryptError> {
        let (ct, ss_mlkem) = self
            .mlkem
            .encapsulate(&mut OsRng)
            .map_err(|()| EncryptError::Io(std::io::Error::other("ML-KEM encapsulation")))?;
        let ss_mlkem: Zeroizing<[u8; 32]> = Zeroizing::new(ss_mlkem.into());
        let mut ephemeral = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(ephemeral.as_mut());
        let ephemeral = StaticSecret::from(*ephemeral);
        let share = PublicKey::from(&ephemeral);
        let ss_x25519 = ephemeral.diffie_hellman(&self.x25519);
        let shared = Zeroizing::new(shared_secret(
            ss_mlkem.as_ref(),
            ss_x25519.as_bytes(),
            share.as_bytes(),
            self.x25519.as_bytes(),
        ));
        let (cipher, nonce) = aead(&shared);
        let body = cipher
            .encrypt(&nonce.into(), file_key.expose_secret().as_slice())
            .map_err(|_| EncryptError::Io(std::io::Error::other("ChaCha20-Poly1305")))?;
        let mut enc = ct.to_vec();
        enc.extend_from_slice(share.as_bytes());
        let stanza = Stanza {
            tag: STANZA_TAG.to_owned(),
            args: vec![base64::engine::general_purpose::STANDARD_NO_PAD.encode(enc)],
            body,
        };
        // Like age: a post-quantum recipient must not be mixed with classic ones in one file.
        Ok((vec![stanza], HashSet::from(["postquantum".to_owned()])))
    }
}

/// Parses an `age1pq1…` recipient, naming it in the error.
pub fn parse_recipient(recipient: &str) -> Result<HybridRecipient, Error> {
    HybridRecipient::from_str(recipient)
        .map_err(|e| Error::Identity(format!("not an age1pq recipient {recipient:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn vector_key_file() -> String {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testdata/sops/fluxcd-kustomize-controller/keys/age-pq.txt"
        );
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn the_vector_identity_gives_the_recipient_age_printed_for_it() {
        let text = vector_key_file();
        let printed = text
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .unwrap();
        let identity: HybridIdentity = text
            .lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-PQ-1"))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(identity.to_public().to_string(), printed);
        let reparsed: HybridRecipient = printed.parse().unwrap();
        assert_eq!(reparsed.to_string(), printed);
    }

    #[test]
    fn wraps_for_a_recipient_only_its_identity_opens() {
        let seed = |b: u8| HybridIdentity::from_seed(&[b; 32]);
        let (ours, theirs) = (seed(1), seed(2));
        let sealed = age::encrypt(&ours.to_public(), b"sixteen byte key").unwrap();
        let open = |id: &HybridIdentity| {
            let decryptor = age::Decryptor::new_buffered(sealed.as_slice()).unwrap();
            let mut out = Vec::new();
            decryptor
                .decrypt(std::iter::once(id as &dyn age::Identity))
                .map(|mut r| r.read_to_end(&mut out).unwrap())
                .map(|_| out)
        };
        assert_eq!(open(&ours).unwrap(), b"sixteen byte key");
        assert!(matches!(open(&theirs), Err(DecryptError::NoMatchingKeys)));
    }

    #[test]
    fn rejects_malformed_keys() {
        assert!("age1pq1qqqq".parse::<HybridRecipient>().is_err());
        let x25519 = age::x25519::Identity::generate();
        assert!(
            x25519
                .to_public()
                .to_string()
                .parse::<HybridRecipient>()
                .is_err()
        );
        assert!(
            x25519
                .to_string()
                .expose_secret()
                .parse::<HybridIdentity>()
                .is_err()
        );
    }
}
