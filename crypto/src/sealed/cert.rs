//! X.509 certificates shaped like the Sealed Secrets controller's (spec `sealed-secrets.md`
//! §1.4): parsing any RSA certificate (empty subject, keyUsage not enforced), the expiry
//! check kubeseal applies before sealing, and generating a new key pair with its
//! self-signed certificate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::{Decode, Encode};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::error::Error;
use super::keys::{PrivateKey, PublicKey};
use super::pem;

/// Default validity of a controller certificate: `--key-ttl` 87600h (3650 days).
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(87_600 * 3600);

/// A parsed certificate: its RSA public key and validity window.
#[derive(Clone, Debug)]
pub struct Certificate {
    pub public_key: PublicKey,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    der: Vec<u8>,
}

impl Certificate {
    /// Parses a DER certificate. Only the RSA public key and the validity are used; keyUsage,
    /// subject and signature are deliberately not checked, like kubeseal.
    pub fn from_der(der: &[u8]) -> Result<Certificate, Error> {
        let cert = x509_cert::Certificate::from_der(der).map_err(|source| Error::Der {
            what: "malformed certificate",
            source,
        })?;
        let tbs = &cert.tbs_certificate;
        let spki = tbs
            .subject_public_key_info
            .to_der()
            .map_err(|source| Error::Der {
                what: "malformed certificate public key",
                source,
            })?;
        Ok(Certificate {
            public_key: PublicKey::from_spki_der(&spki)?,
            not_before: tbs.validity.not_before.to_system_time(),
            not_after: tbs.validity.not_after.to_system_time(),
            der: der.to_vec(),
        })
    }

    /// The first `CERTIFICATE` block of a PEM text.
    pub fn from_pem(text: &str) -> Result<Certificate, Error> {
        let block = pem::blocks(text)?
            .into_iter()
            .find(|b| b.label == "CERTIFICATE")
            .ok_or_else(|| Error::Certificate("no CERTIFICATE PEM block found".into()))?;
        Certificate::from_der(&block.der)
    }

    /// kubeseal refuses to seal with a certificate whose NotAfter has passed (NotBefore is not
    /// checked), with this exact message.
    pub fn check_not_expired(&self, now: SystemTime) -> Result<(), Error> {
        if now > self.not_after {
            return Err(Error::CertificateExpired {
                on: format_long_date(self.not_after),
            });
        }
        Ok(())
    }

    pub fn to_pem(&self) -> String {
        pem::encode("CERTIFICATE", &self.der).to_string()
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }
}

// Here rather than in `keys.rs`: reading a certificate needs `Certificate`, and `keys` is the
// lower layer (`cert` builds on it).
impl PublicKey {
    /// Reads the first usable public key in a PEM file: the first `CERTIFICATE` (as kubeseal
    /// does; its validity is checked by [`Certificate`], not here), else a
    /// `PUBLIC KEY` or `RSA PUBLIC KEY` block.
    pub fn from_pem(text: &str) -> Result<PublicKey, Error> {
        for block in pem::blocks(text)? {
            match block.label.as_str() {
                "CERTIFICATE" => return Ok(Certificate::from_der(&block.der)?.public_key),
                "PUBLIC KEY" => return PublicKey::from_spki_der(&block.der),
                "RSA PUBLIC KEY" => return PublicKey::from_pkcs1_der(&block.der),
                _ => {}
            }
        }
        Err(Error::Key(
            "no CERTIFICATE, PUBLIC KEY or RSA PUBLIC KEY PEM block found".into(),
        ))
    }
}

/// A key pair with its self-signed certificate, as the controller creates one.
pub struct KeyPair {
    pub private_key: PrivateKey,
    pub certificate: Certificate,
}

impl KeyPair {
    /// Generates an RSA key of `bits` and a self-signed certificate valid from `not_before` for
    /// `valid_for`: random 128-bit serial, subject and issuer CN = `common_name` (an empty name
    /// when empty, the controller's default), keyUsage encipherOnly (critical), CA:TRUE
    /// (critical), SHA256-RSA signature.
    pub fn generate(
        bits: usize,
        not_before: SystemTime,
        valid_for: Duration,
        common_name: &str,
    ) -> Result<KeyPair, Error> {
        let private_key = PrivateKey::generate(bits)?;
        let certificate = self_signed(&private_key, not_before, valid_for, common_name)?;
        Ok(KeyPair {
            private_key,
            certificate,
        })
    }

    /// `tls.key` contents: PEM PKCS#1.
    pub fn key_pem(&self) -> Zeroizing<String> {
        self.private_key.to_pkcs1_pem()
    }
}

fn self_signed(
    key: &PrivateKey,
    not_before: SystemTime,
    valid_for: Duration,
    common_name: &str,
) -> Result<Certificate, Error> {
    let fail = Error::CertificateGeneration;
    let signer = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &key.pkcs8_der().to_vec().into(),
        &rcgen::PKCS_RSA_SHA256,
    )
    .map_err(fail)?;
    let mut serial = [0u8; 16];
    aws_lc_rs::rand::fill(&mut serial).map_err(|_| Error::Random)?;
    let mut params = rcgen::CertificateParams::default();
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    params.not_before = to_offset(not_before)?;
    params.not_after = to_offset(not_before + valid_for)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    if !common_name.is_empty() {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
    }
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![rcgen::KeyUsagePurpose::EncipherOnly];
    let cert = params.self_signed(&signer).map_err(fail)?;
    Certificate::from_der(cert.der())
}

fn to_offset(t: SystemTime) -> Result<OffsetDateTime, Error> {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Error::Certificate("certificate dates before 1970 are not supported".into()))?
        .as_secs();
    OffsetDateTime::from_unix_timestamp(secs as i64).map_err(Error::CertificateDate)
}

/// Go's `January 2, 2006` layout, used in kubeseal's expiry message.
fn format_long_date(t: SystemTime) -> String {
    let format = time::macros::format_description!("[month repr:long] [day padding:none], [year]");
    match to_offset(t).ok().and_then(|d| d.format(&format).ok()) {
        Some(s) => s,
        None => format!("{t:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_date_matches_go_layout() {
        let t = UNIX_EPOCH + Duration::from_secs(1_813_293_165); // 2027-06-18T04:32:45Z
        assert_eq!(format_long_date(t), "June 18, 2027");
    }

    #[test]
    fn generated_certificate_round_trips_and_expires() {
        let now = SystemTime::now();
        let pair = KeyPair::generate(2048, now, Duration::from_secs(3600), "").unwrap();
        let parsed = Certificate::from_pem(&pair.certificate.to_pem()).unwrap();
        assert_eq!(
            parsed.public_key.fingerprint(),
            pair.private_key.fingerprint()
        );
        assert!(parsed.check_not_expired(now).is_ok());
        let err = parsed
            .check_not_expired(now + Duration::from_secs(7200))
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("failed to encrypt using an expired certificate on ")
        );
    }

    /// The 2017 controller certificate from upstream kubeseal tests (testdata/sealed/NOTE.md).
    #[test]
    fn parses_upstream_controller_certificate() {
        let pem = include_str!("../../../testdata/sealed/upstream-kubeseal-test-cert.pem");
        let cert = Certificate::from_pem(pem).unwrap();
        assert_eq!(
            cert.public_key.fingerprint(),
            "SHA256:GGkvu+e9oSv0lC5zQgZeFDtW/h7L0lSIV4QFz6+0tcI"
        );
        assert_eq!(cert.public_key.size_bytes(), 512);
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs(cert.not_before), 1_497_933_165); // 2017-06-20T04:32:45Z
        assert_eq!(secs(cert.not_after), 1_813_293_165); // 2027-06-18T04:32:45Z
        assert!(cert.check_not_expired(cert.not_after).is_ok());
        let err = cert
            .check_not_expired(cert.not_after + Duration::from_secs(1))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to encrypt using an expired certificate on June 18, 2027"
        );
        assert_eq!(
            PublicKey::from_pem(pem).unwrap().fingerprint(),
            cert.public_key.fingerprint()
        );
    }
}
