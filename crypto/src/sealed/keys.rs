//! RSA key pairs for sealing (public) and opening (private), their SSH-style fingerprints, and
//! loading them from PEM (spec `sealed-secrets.md` §1.3, §1.4).
//!
//! Use [`PublicKey::from_pem`] for anything a user passes as `--cert` (a certificate, an SPKI
//! `PUBLIC KEY` or a PKCS#1 `RSA PUBLIC KEY`), and [`private_keys_from_pem`] for key files
//! (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`, several per file allowed).

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeySize, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
    PublicEncryptingKey,
};
use base64::Engine as _;
use der::asn1::AnyRef;
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::error::Error;
use super::pem;

/// An RSA public key that seals items. Cheap to clone.
#[derive(Clone)]
pub struct PublicKey {
    oaep: Arc<OaepPublicEncryptingKey>,
    fingerprint: String,
}

impl PublicKey {
    /// Parses a DER `SubjectPublicKeyInfo` holding an RSA key.
    pub fn from_spki_der(spki: &[u8]) -> Result<PublicKey, Error> {
        let info = spki::SubjectPublicKeyInfoRef::from_der(spki).map_err(|source| Error::Der {
            what: "not a DER SubjectPublicKeyInfo",
            source,
        })?;
        if info.algorithm.oid != pkcs1::ALGORITHM_OID {
            return Err(Error::Key(format!(
                "public key algorithm {} is not RSA; Sealed Secrets needs an RSA key",
                info.algorithm.oid
            )));
        }
        let pkcs1_der = info
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| Error::Key("public key bit string is not byte-aligned".into()))?;
        let rsa = pkcs1::RsaPublicKey::from_der(pkcs1_der).map_err(|source| Error::Der {
            what: "malformed RSA public key",
            source,
        })?;
        let fingerprint = ssh_fingerprint(rsa.public_exponent.as_bytes(), rsa.modulus.as_bytes());
        let bits = rsa.modulus.as_bytes().len() * 8;
        if !(2048..=8192).contains(&bits) {
            return Err(Error::Key(format!(
                "{bits}-bit RSA keys are not supported: use a key of 2048 to 8192 bits (the controller's default is 4096)"
            )));
        }
        let key = PublicEncryptingKey::from_der(spki).map_err(|source| Error::KeyRejected {
            what: "RSA public key rejected",
            source,
        })?;
        let oaep = OaepPublicEncryptingKey::new(key)
            .map_err(|_| Error::Key("RSA public key cannot be used for OAEP".into()))?;
        Ok(PublicKey {
            oaep: Arc::new(oaep),
            fingerprint,
        })
    }

    /// Parses a PKCS#1 `RSAPublicKey` DER.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<PublicKey, Error> {
        let spki = spki::SubjectPublicKeyInfoRef {
            algorithm: spki::AlgorithmIdentifierRef {
                oid: pkcs1::ALGORITHM_OID,
                parameters: Some(AnyRef::NULL),
            },
            subject_public_key: der::asn1::BitStringRef::from_bytes(der).map_err(|source| {
                Error::Der {
                    what: "malformed RSA public key",
                    source,
                }
            })?,
        };
        let spki_der = spki.to_der().map_err(|source| Error::Der {
            what: "malformed RSA public key",
            source,
        })?;
        PublicKey::from_spki_der(&spki_der)
    }

    /// The controller's key id: `SHA256:<unpadded base64>` of the SSH wire encoding, the same
    /// string `ssh-keygen -l -E sha256` prints.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Modulus size in bytes (512 for RSA-4096), which is also the RSA block length in a
    /// ciphertext.
    pub fn size_bytes(&self) -> usize {
        self.oaep.key_size_bytes()
    }

    pub(super) fn oaep(&self) -> &OaepPublicEncryptingKey {
        &self.oaep
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PublicKey({}, {} bits)",
            self.fingerprint,
            self.size_bytes() * 8
        )
    }
}

/// An RSA private key that opens items. Never printed: `Debug` shows only the fingerprint.
#[derive(Clone)]
pub struct PrivateKey {
    oaep: Arc<OaepPrivateDecryptingKey>,
    pkcs8: Zeroizing<Vec<u8>>,
    public: PublicKey,
}

impl PrivateKey {
    /// Generates a fresh key with e = 65537. The controller's default is 4096 bits.
    pub fn generate(bits: usize) -> Result<PrivateKey, Error> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            8192 => KeySize::Rsa8192,
            other => {
                return Err(Error::Key(format!(
                    "unsupported RSA key size {other}: use 2048, 3072, 4096 or 8192"
                )));
            }
        };
        let key = PrivateDecryptingKey::generate(size)
            .map_err(|_| Error::Key("RSA key generation failed".into()))?;
        let pkcs8 = key
            .as_der()
            .map_err(|_| Error::Key("RSA key could not be encoded".into()))?;
        PrivateKey::from_pkcs8_der(pkcs8.as_ref())
    }

    /// Parses a PKCS#8 `PrivateKeyInfo` DER holding an RSA key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<PrivateKey, Error> {
        let info = pkcs8::PrivateKeyInfo::from_der(der).map_err(|source| Error::Der {
            what: "malformed PKCS#8 private key",
            source,
        })?;
        if info.algorithm.oid != pkcs1::ALGORITHM_OID {
            return Err(Error::Key(format!(
                "private key algorithm {} is not RSA; Sealed Secrets keys are RSA",
                info.algorithm.oid
            )));
        }
        let key = PrivateDecryptingKey::from_pkcs8(der).map_err(|source| Error::KeyRejected {
            what: "RSA private key rejected",
            source,
        })?;
        let spki = key
            .public_key()
            .as_der()
            .map_err(|_| Error::Key("RSA public key could not be encoded".into()))?;
        let public = PublicKey::from_spki_der(spki.as_ref())?;
        let oaep = OaepPrivateDecryptingKey::new(key)
            .map_err(|_| Error::Key("RSA private key cannot be used for OAEP".into()))?;
        Ok(PrivateKey {
            oaep: Arc::new(oaep),
            pkcs8: Zeroizing::new(der.to_vec()),
            public,
        })
    }

    /// Parses a PKCS#1 `RSAPrivateKey` DER (the controller's `tls.key` format).
    pub fn from_pkcs1_der(der: &[u8]) -> Result<PrivateKey, Error> {
        let info = pkcs8::PrivateKeyInfo::new(
            spki::AlgorithmIdentifierRef {
                oid: pkcs1::ALGORITHM_OID,
                parameters: Some(AnyRef::NULL),
            },
            der,
        );
        let pkcs8 = Zeroizing::new(info.to_der().map_err(|source| Error::Der {
            what: "malformed PKCS#1 private key",
            source,
        })?);
        PrivateKey::from_pkcs8_der(&pkcs8)
    }

    /// PEM `RSA PRIVATE KEY` (PKCS#1), the form the controller stores in `tls.key`.
    pub fn to_pkcs1_pem(&self) -> Zeroizing<String> {
        let info = pkcs8::PrivateKeyInfo::from_der(&self.pkcs8)
            .expect("PKCS#8 bytes were validated when the key was built");
        pem::encode("RSA PRIVATE KEY", info.private_key)
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Same as [`PublicKey::fingerprint`] of the matching public key.
    pub fn fingerprint(&self) -> &str {
        self.public.fingerprint()
    }

    pub(super) fn oaep(&self) -> &OaepPrivateDecryptingKey {
        &self.oaep
    }

    pub(super) fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({})", self.fingerprint())
    }
}

/// Every RSA private key in a PEM text, in file order. Non-key blocks (certificates) are
/// skipped; a non-RSA or encrypted key is an error rather than silently ignored.
pub fn private_keys_from_pem(text: &str) -> Result<Vec<PrivateKey>, Error> {
    let mut keys = Vec::new();
    for block in pem::blocks(text)? {
        match block.label.as_str() {
            "RSA PRIVATE KEY" => keys.push(PrivateKey::from_pkcs1_der(&block.der)?),
            "PRIVATE KEY" => keys.push(PrivateKey::from_pkcs8_der(&block.der)?),
            "EC PRIVATE KEY" => {
                return Err(Error::Key(
                    "EC private keys cannot open Sealed Secrets: RSA keys only".into(),
                ));
            }
            "ENCRYPTED PRIVATE KEY" => {
                return Err(Error::Key(
                    "password-protected private keys are not supported: decrypt it first with `openssl pkey`".into(),
                ));
            }
            _ => {}
        }
    }
    Ok(keys)
}

/// `"SHA256:" + base64-nopad(sha256(string "ssh-rsa" || mpint e || mpint n))`.
fn ssh_fingerprint(e: &[u8], n: &[u8]) -> String {
    fn put_string(buf: &mut Vec<u8>, bytes: &[u8]) {
        buf.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        buf.extend_from_slice(bytes);
    }
    fn put_mpint(buf: &mut Vec<u8>, magnitude: &[u8]) {
        let trimmed = match magnitude.iter().position(|b| *b != 0) {
            Some(i) => &magnitude[i..],
            None => &[],
        };
        if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
            let mut padded = Vec::with_capacity(trimmed.len() + 1);
            padded.push(0);
            padded.extend_from_slice(trimmed);
            put_string(buf, &padded);
        } else {
            put_string(buf, trimmed);
        }
    }
    let mut wire = Vec::new();
    put_string(&mut wire, b"ssh-rsa");
    put_mpint(&mut wire, e);
    put_mpint(&mut wire, n);
    let digest = Sha256::digest(&wire);
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}
