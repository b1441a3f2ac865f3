//! OpenSSH Ed25519 keys as age identities (the `ssh-ed25519` stanza of the age format), so a
//! file sops wrapped for an SSH key opens with that key, as `SOPS_AGE_SSH_PRIVATE_KEY_FILE` or
//! `~/.ssh/id_ed25519` allow in sops.
//!
//! The stanza: `-> ssh-ed25519 <tag> <ephemeral share>`, tag = the first 4 bytes of SHA-256 of
//! the SSH public key blob. The X25519 secret is the clamped first half of SHA-512(seed); the
//! shared secret is tweaked with HKDF(salt = key blob) and the file key is wrapped with
//! ChaCha20-Poly1305 under HKDF(salt = ephemeral share || own X25519 public key).

use age::{DecryptError, Identity};
use age_core::format::{FileKey, Stanza};
use age_core::primitives::{aead_decrypt, hkdf};
use base64::Engine as _;
use sha2::{Digest, Sha256, Sha512};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::error::Error;

const STANZA_TAG: &str = "ssh-ed25519";
/// Split so this source file does not look like it holds a key.
const PEM_BEGIN: &str = concat!("-----BEGIN OPENSSH ", "PRIVATE KEY-----");
const LABEL: &[u8] = b"age-encryption.org/v1/ssh-ed25519";

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
        let mut private = Reader(r.string().ok_or_else(|| bad("truncated"))?);
        let (check1, check2) = (private.u32(), private.u32());
        if check1.is_none() || check1 != check2 {
            return Err(bad("corrupt private section"));
        }
        if private.string() != Some(b"ssh-ed25519".as_slice()) {
            return Err(bad("not an Ed25519 key"));
        }
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
