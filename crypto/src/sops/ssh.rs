//! SSH keys in age (spec `sops.md` §7.2, age's `agessh`): OpenSSH Ed25519 and RSA private keys
//! as identities, so a file sops wrapped for an SSH key opens with that key, as
//! `SOPS_AGE_SSH_PRIVATE_KEY_FILE` or `~/.ssh/id_ed25519` / `~/.ssh/id_rsa` allow in sops; and
//! `ssh-ed25519 AAAA…` / `ssh-rsa AAAA…` public keys as recipients ([`parse_recipient`]).
//!
//! Which to use when: [`parse_identity`] for a private key file of either kind,
//! [`parse_recipient`] for an `authorized_keys`-style line.
//!
//! ```
//! use sealbox_crypto::sops::ssh;
//! assert!(ssh::is_recipient("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN alice"));
//! assert!(ssh::parse_recipient("ssh-ed25519 AAAA").is_err());
//! ```
//!
//! The `ssh-rsa` stanza: `-> ssh-rsa <tag>`, the file key encrypted with RSA-OAEP-SHA256 and the
//! label `age-encryption.org/v1/ssh-rsa` (aws-lc-rs, constant time).
//!
//! The stanza: `-> ssh-ed25519 <tag> <ephemeral share>`, tag = the first 4 bytes of SHA-256 of
//! the SSH public key blob. The X25519 secret is the clamped first half of SHA-512(seed); the
//! shared secret is tweaked with HKDF(salt = key blob) and the file key is wrapped with
//! ChaCha20-Poly1305 under HKDF(salt = ephemeral share || own X25519 public key).

use std::collections::HashSet;

use age::secrecy::ExposeSecret;
use age::{DecryptError, EncryptError, Identity, Recipient};
use age_core::format::{FileKey, Stanza};
use age_core::primitives::{aead_decrypt, aead_encrypt, hkdf};
use aws_lc_rs::rsa::{
    OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    PrivateDecryptingKey, PublicEncryptingKey,
};
use base64::Engine as _;
use curve25519_dalek::edwards::CompressedEdwardsY;
use der::{Encode, asn1::AnyRef};
use sha2::{Digest, Sha256, Sha512};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::error::Error;

const STANZA_TAG: &str = "ssh-ed25519";
/// Split so this source file does not look like it holds a key.
const PEM_BEGIN: &str = concat!("-----BEGIN OPENSSH ", "PRIVATE KEY-----");
const LABEL: &[u8] = b"age-encryption.org/v1/ssh-ed25519";
const RSA_TAG: &str = "ssh-rsa";
const RSA_LABEL: &[u8] = b"age-encryption.org/v1/ssh-rsa";

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD_NO_PAD
}

/// The first 4 bytes of SHA-256 of an SSH public key blob: which key a stanza is for.
fn key_tag(blob: &[u8]) -> [u8; 4] {
    let digest = Sha256::digest(blob);
    [digest[0], digest[1], digest[2], digest[3]]
}

/// Whether `text` looks like an SSH public key line sops takes as an age recipient.
pub fn is_recipient(text: &str) -> bool {
    let text = text.trim_start();
    text.starts_with("ssh-ed25519 ") || text.starts_with("ssh-rsa ")
}

/// An SSH public key (`ssh-ed25519 AAAA… [comment]`, `ssh-rsa AAAA… [comment]`) as an age
/// recipient.
pub enum SshRecipient {
    Ed25519 {
        blob: Vec<u8>,
        x25519: [u8; 32],
    },
    Rsa {
        blob: Vec<u8>,
        key: OaepPublicEncryptingKey,
    },
}

/// Parses an SSH public key line; the comment, if any, is ignored.
pub fn parse_recipient(text: &str) -> Result<SshRecipient, Error> {
    let bad = |why: &str| Error::Identity(format!("not a usable SSH public key: {why}"));
    let mut words = text.split_whitespace();
    let kind = words.next().unwrap_or_default();
    let blob = words
        .next()
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .ok_or_else(|| bad("expected `ssh-ed25519 AAAA…` or `ssh-rsa AAAA…`"))?;
    let mut r = Reader(&blob);
    if r.string() != Some(kind.as_bytes()) {
        return Err(bad("the key's type does not match its blob"));
    }
    match kind {
        "ssh-ed25519" => {
            let point: [u8; 32] = r
                .string()
                .and_then(|k| k.try_into().ok())
                .ok_or_else(|| bad("truncated"))?;
            let x25519 = CompressedEdwardsY(point)
                .decompress()
                .ok_or_else(|| bad("not a point on Ed25519"))?
                .to_montgomery()
                .to_bytes();
            Ok(SshRecipient::Ed25519 { blob, x25519 })
        }
        "ssh-rsa" => {
            let e = r.string().ok_or_else(|| bad("truncated"))?;
            let n = r.string().ok_or_else(|| bad("truncated"))?;
            let pkcs1 = pkcs1::RsaPublicKey {
                modulus: der::asn1::UintRef::new(n).map_err(|_| bad("bad modulus"))?,
                public_exponent: der::asn1::UintRef::new(e).map_err(|_| bad("bad exponent"))?,
            }
            .to_der()
            .map_err(|_| bad("bad RSA key"))?;
            let spki = spki::SubjectPublicKeyInfoRef {
                algorithm: spki::AlgorithmIdentifierRef {
                    oid: pkcs1::ALGORITHM_OID,
                    parameters: Some(AnyRef::NULL),
                },
                subject_public_key: der::asn1::BitStringRef::from_bytes(&pkcs1)
                    .map_err(|_| bad("bad RSA key"))?,
            }
            .to_der()
            .map_err(|_| bad("bad RSA key"))?;
            let key = PublicEncryptingKey::from_der(&spki)
                .ok()
                .and_then(|k| OaepPublicEncryptingKey::new(k).ok())
                .ok_or_else(|| bad("RSA key rejected (too small or malformed)"))?;
            Ok(SshRecipient::Rsa { blob, key })
        }
        _ => Err(bad("only ssh-ed25519 and ssh-rsa keys are age recipients")),
    }
}

impl Recipient for SshRecipient {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, HashSet<String>), EncryptError> {
        let stanza = match self {
            SshRecipient::Ed25519 { blob, x25519 } => {
                let mut seed = Zeroizing::new([0u8; 32]);
                getrandom::getrandom(seed.as_mut())
                    .map_err(|_| EncryptError::Io(std::io::Error::other("no randomness")))?;
                let ephemeral = StaticSecret::from(*seed);
                let share = PublicKey::from(&ephemeral);
                let shared = ephemeral.diffie_hellman(&PublicKey::from(*x25519));
                let tweak = StaticSecret::from(hkdf(blob, LABEL, &[]));
                let tweaked = tweak.diffie_hellman(&PublicKey::from(*shared.as_bytes()));
                let mut salt = [0u8; 64];
                salt[..32].copy_from_slice(share.as_bytes());
                salt[32..].copy_from_slice(x25519);
                let key = Zeroizing::new(hkdf(&salt, LABEL, tweaked.as_bytes()));
                Stanza {
                    tag: STANZA_TAG.into(),
                    args: vec![b64().encode(key_tag(blob)), b64().encode(share.as_bytes())],
                    body: aead_encrypt(&key, file_key.expose_secret()),
                }
            }
            SshRecipient::Rsa { blob, key } => {
                let mut out = vec![0u8; key.ciphertext_size()];
                let body = key
                    .encrypt(
                        &OAEP_SHA256_MGF1SHA256,
                        file_key.expose_secret(),
                        &mut out,
                        Some(RSA_LABEL),
                    )
                    .map_err(|_| EncryptError::Io(std::io::Error::other("RSA-OAEP")))?
                    .to_vec();
                Stanza {
                    tag: RSA_TAG.into(),
                    args: vec![b64().encode(key_tag(blob))],
                    body,
                }
            }
        };
        Ok((vec![stanza], HashSet::new()))
    }
}

/// An unencrypted OpenSSH RSA private key.
#[derive(Clone)]
pub struct RsaIdentity {
    public_blob: Vec<u8>,
    key: std::sync::Arc<OaepPrivateDecryptingKey>,
}

/// An OpenSSH private key of either kind.
pub enum SshIdentity {
    Ed25519(Ed25519Identity),
    Rsa(RsaIdentity),
}

/// Reads an OpenSSH private key file (`ssh-keygen -t ed25519` or `-t rsa`) holding one
/// unencrypted key.
pub fn parse_identity(text: &str) -> Result<SshIdentity, Error> {
    let bad = |why: &str| Error::Identity(format!("not a usable OpenSSH private key: {why}"));
    let PrivateSection {
        public_blob,
        raw,
        at,
    } = open_private_section(text)?;
    let mut private = Reader(&raw[at..]);
    match private.string() {
        Some(b"ssh-ed25519") => {
            Ed25519Identity::from_fields(public_blob, &mut private).map(SshIdentity::Ed25519)
        }
        Some(b"ssh-rsa") => {
            let mut field = || private.string().ok_or_else(|| bad("truncated"));
            let (n, e, d, iqmp, p, q) =
                (field()?, field()?, field()?, field()?, field()?, field()?);
            let dp = Zeroizing::new(mod_be(d, &minus_one(p)));
            let dq = Zeroizing::new(mod_be(d, &minus_one(q)));
            fn uint(b: &[u8]) -> Result<der::asn1::UintRef<'_>, Error> {
                der::asn1::UintRef::new(b).map_err(|_| {
                    Error::Identity("not a usable OpenSSH private key: bad RSA key".into())
                })
            }
            let pkcs1 = Zeroizing::new(
                pkcs1::RsaPrivateKey {
                    modulus: uint(n)?,
                    public_exponent: uint(e)?,
                    private_exponent: uint(d)?,
                    prime1: uint(p)?,
                    prime2: uint(q)?,
                    exponent1: uint(&dp)?,
                    exponent2: uint(&dq)?,
                    coefficient: uint(iqmp)?,
                    other_prime_infos: None,
                }
                .to_der()
                .map_err(|_| bad("bad RSA key"))?,
            );
            let pkcs8 = Zeroizing::new(
                pkcs8::PrivateKeyInfo::new(
                    spki::AlgorithmIdentifierRef {
                        oid: pkcs1::ALGORITHM_OID,
                        parameters: Some(AnyRef::NULL),
                    },
                    &pkcs1,
                )
                .to_der()
                .map_err(|_| bad("bad RSA key"))?,
            );
            let key = PrivateDecryptingKey::from_pkcs8(&pkcs8)
                .ok()
                .and_then(|k| OaepPrivateDecryptingKey::new(k).ok())
                .ok_or_else(|| bad("RSA key rejected"))?;
            Ok(SshIdentity::Rsa(RsaIdentity {
                public_blob,
                key: std::sync::Arc::new(key),
            }))
        }
        _ => Err(bad("only Ed25519 and RSA keys are supported")),
    }
}

/// An OpenSSH key file, decoded.
struct PrivateSection {
    public_blob: Vec<u8>,
    raw: Zeroizing<Vec<u8>>,
    /// Where the private key's fields start (after the two check numbers) in `raw`.
    at: usize,
}

fn open_private_section(text: &str) -> Result<PrivateSection, Error> {
    let bad = |why: &str| Error::Identity(format!("not a usable OpenSSH private key: {why}"));
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with(PEM_BEGIN))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let raw = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .map_err(|_| bad("invalid base64"))?,
    );
    let mut r = Reader(&raw);
    if r.take(15) != Some(b"openssh-key-v1\0".as_slice()) {
        return Err(bad("not an openssh-key-v1 file"));
    }
    if r.string() != Some(b"none".as_slice()) {
        return Err(bad(
            "it is passphrase-protected; remove the passphrase (ssh-keygen -p)",
        ));
    }
    let _kdf = r.string().ok_or_else(|| bad("truncated"))?;
    let _kdf_options = r.string().ok_or_else(|| bad("truncated"))?;
    if r.u32() != Some(1) {
        return Err(bad("the file must hold exactly one key"));
    }
    let public_blob = r.string().ok_or_else(|| bad("truncated"))?.to_vec();
    let section = r.string().ok_or_else(|| bad("truncated"))?;
    let mut private = Reader(section);
    let (check1, check2) = (private.u32(), private.u32());
    if check1.is_none() || check1 != check2 {
        return Err(bad("corrupt private section"));
    }
    let at = raw.len() - private.0.len();
    Ok(PrivateSection {
        public_blob,
        raw,
        at,
    })
}

/// `x - 1` for a big-endian odd number (an RSA prime).
fn minus_one(x: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(x.to_vec());
    for byte in out.iter_mut().rev() {
        let (v, borrow) = byte.overflowing_sub(1);
        *byte = v;
        if !borrow {
            break;
        }
    }
    out
}

/// `a mod m` for big-endian unsigned numbers, bit by bit (once per key load, so simplicity beats
/// speed; the CRT exponents an OpenSSH RSA key leaves out).
fn mod_be(a: &[u8], m: &[u8]) -> Vec<u8> {
    let m: Vec<u8> = m.iter().copied().skip_while(|b| *b == 0).collect();
    // r < m always holds before a shift, so r fits in one byte more than m.
    let mut r = Zeroizing::new(vec![0u8; m.len() + 1]);
    let mut padded = vec![0u8; 1];
    padded.extend_from_slice(&m);
    for byte in a {
        for bit in (0..8).rev() {
            let mut carry = (byte >> bit) & 1;
            for limb in r.iter_mut().rev() {
                let next = *limb >> 7;
                *limb = (*limb << 1) | carry;
                carry = next;
            }
            if r.as_slice() >= padded.as_slice() {
                let mut borrow = 0i16;
                for (limb, sub) in r.iter_mut().zip(&padded).rev() {
                    let v = i16::from(*limb) - i16::from(*sub) - borrow;
                    borrow = i16::from(v < 0);
                    *limb = v.rem_euclid(256) as u8;
                }
            }
        }
    }
    r[1..].to_vec()
}

impl Identity for RsaIdentity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, DecryptError>> {
        if stanza.tag != RSA_TAG || stanza.args.len() != 1 {
            return None;
        }
        if b64().decode(&stanza.args[0]).ok()?.as_slice() != key_tag(&self.public_blob) {
            return None;
        }
        let mut out = Zeroizing::new(vec![0u8; self.key.key_size_bytes()]);
        // The tag matched: a failure is a broken stanza, not someone else's key.
        Some(
            self.key
                .decrypt(
                    &OAEP_SHA256_MGF1SHA256,
                    &stanza.body,
                    &mut out,
                    Some(RSA_LABEL),
                )
                .ok()
                .filter(|plain| plain.len() == 16)
                .map(|plain| FileKey::init_with_mut(|k| k.copy_from_slice(plain)))
                .ok_or(DecryptError::DecryptionFailed),
        )
    }
}

/// An unencrypted OpenSSH Ed25519 private key.
#[derive(Clone)]
pub struct Ed25519Identity {
    /// The SSH wire form of the public key (`string "ssh-ed25519" || string key`).
    public_blob: Vec<u8>,
    secret: StaticSecret,
}

impl Ed25519Identity {
    /// Reads an OpenSSH private key file (`ssh-keygen -t ed25519` output) holding one
    /// unencrypted Ed25519 key.
    pub fn from_openssh(text: &str) -> Result<Ed25519Identity, Error> {
        let bad = |why: &str| Error::Identity(format!("not a usable OpenSSH Ed25519 key: {why}"));
        let PrivateSection {
            public_blob,
            raw,
            at,
        } = open_private_section(text)?;
        let mut private = Reader(&raw[at..]);
        if private.string() != Some(b"ssh-ed25519".as_slice()) {
            return Err(bad("not an Ed25519 key"));
        }
        Ed25519Identity::from_fields(public_blob, &mut private)
    }

    /// The key from its private-section fields after the key type (public key, then the
    /// 64-byte seed ‖ public key).
    fn from_fields(public_blob: Vec<u8>, private: &mut Reader) -> Result<Ed25519Identity, Error> {
        let bad = |why: &str| Error::Identity(format!("not a usable OpenSSH Ed25519 key: {why}"));
        let _public = private.string().ok_or_else(|| bad("truncated"))?;
        let keypair = private
            .string()
            .filter(|k| k.len() == 64)
            .ok_or_else(|| bad("truncated"))?;
        let mut scalar = Zeroizing::new([0u8; 32]);
        scalar.copy_from_slice(&Sha512::digest(&keypair[..32])[..32]);
        Ok(Ed25519Identity {
            public_blob,
            secret: StaticSecret::from(*scalar),
        })
    }

    fn tag(&self) -> [u8; 4] {
        let digest = Sha256::digest(&self.public_blob);
        [digest[0], digest[1], digest[2], digest[3]]
    }
}

impl Identity for Ed25519Identity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, DecryptError>> {
        if stanza.tag != STANZA_TAG || stanza.args.len() != 2 {
            return None;
        }
        let arg = |i: usize| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(&stanza.args[i])
                .ok()
        };
        if arg(0)?.as_slice() != self.tag() {
            return None;
        }
        let share: [u8; 32] = arg(1)?.try_into().ok()?;
        let ours = PublicKey::from(&self.secret);
        let tweak = StaticSecret::from(hkdf(&self.public_blob, LABEL, &[]));
        let shared = self.secret.diffie_hellman(&PublicKey::from(share));
        let tweaked = tweak.diffie_hellman(&PublicKey::from(*shared.as_bytes()));
        let mut salt = [0u8; 64];
        salt[..32].copy_from_slice(&share);
        salt[32..].copy_from_slice(ours.as_bytes());
        let key = Zeroizing::new(hkdf(&salt, LABEL, tweaked.as_bytes()));
        // The tag matched, so a failure here means a broken stanza, not someone else's key.
        Some(
            aead_decrypt(&key, 16, &stanza.body)
                .map_err(|_| DecryptError::DecryptionFailed)
                .map(|plain| {
                    let plain = Zeroizing::new(plain);
                    FileKey::init_with_mut(|k| k.copy_from_slice(&plain))
                }),
        )
    }
}

/// A cursor over SSH wire data (big-endian u32 lengths).
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn string(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(rel: &str) -> String {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/sops");
        std::fs::read_to_string(root.join(rel)).unwrap()
    }

    #[test]
    fn ed25519_recipient_wraps_for_its_identity_only() {
        let public = read("generated/keys/ssh_ed25519.pub");
        let recipient = parse_recipient(&public).unwrap();
        let identity = parse_identity(&read("generated/keys/ssh_ed25519")).unwrap();
        let SshIdentity::Ed25519(identity) = identity else {
            panic!("an Ed25519 key")
        };
        let file_key = FileKey::new(Box::new([7u8; 16]));
        let (stanzas, labels) = recipient.wrap_file_key(&file_key).unwrap();
        assert!(labels.is_empty());
        assert_eq!(stanzas[0].tag, "ssh-ed25519");
        let opened = identity.unwrap_stanza(&stanzas[0]).unwrap().unwrap();
        assert_eq!(opened.expose_secret(), &[7u8; 16]);
        // Another key's tag: not for this identity.
        let other = parse_recipient(&read("getsops-sops/age-layer/mockSshRecipient.pub")).unwrap();
        let (stanzas, _) = other.wrap_file_key(&file_key).unwrap();
        assert!(identity.unwrap_stanza(&stanzas[0]).is_none());
    }

    #[test]
    fn recipients_that_are_not_ssh_keys_are_refused() {
        assert!(is_recipient("ssh-rsa AAAAB3Nza x"));
        assert!(!is_recipient("age1qqq"));
        for bad in [
            "ssh-ed25519",
            "ssh-ed25519 !!!",
            "ssh-dss AAAAB3NzaC1kc3MAAAA=",
            // an ed25519 blob under the rsa name
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN",
        ] {
            assert!(parse_recipient(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn big_number_helpers_agree_with_machine_arithmetic() {
        let mut x: u128 = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834;
        for _ in 0..200 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let a = x;
            let m = (x >> (x % 100) as u32) | 1;
            let got = mod_be(&a.to_be_bytes(), &m.to_be_bytes());
            let mut want = (a % m).to_be_bytes().to_vec();
            let m_len = m.to_be_bytes().iter().skip_while(|b| **b == 0).count();
            want.drain(..16 - m_len);
            assert_eq!(got, want, "{a} mod {m}");
        }
        assert_eq!(minus_one(&[1, 0, 0]).as_slice(), &[0, 255, 255]);
        assert_eq!(minus_one(&[4, 7]).as_slice(), &[4, 6]);
    }
}
