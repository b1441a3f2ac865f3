//! The contents of a new controller key Secret (spec `sealed-secrets.md` §1.4, §3.4), the one
//! place they are decided: the controller's key generation and `sealbox keys renew --cluster`
//! both call [`new_key_secret`] and only send the result with their own client.
//!
//! Which function when: [`KeySpec::check`] for the `--key-prefix` rules before any work;
//! [`new_key_secret`] for a key pair, its certificate and the Secret's type, labels,
//! generateName and data; [`NewKeySecret::manifest_json`] for the body of a
//! `POST /api/v1/namespaces/<ns>/secrets`; [`wait_to_follow`] before making a key, so it
//! starts strictly after the newest one; [`go_duration`] for `--key-ttl`-style flags.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use sealbox_crypto::sealed::keysecret::{new_key_secret, KeySpec};
//! let spec = KeySpec { bits: 2048, ..KeySpec::default() };
//! let secret = new_key_secret(&spec, SystemTime::now()).unwrap();
//! assert_eq!(secret.generate_name, "sealed-secrets-key");
//! assert_eq!(secret.type_, "kubernetes.io/tls");
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use zeroize::Zeroizing;

use super::cert::{DEFAULT_VALIDITY, KeyPair};
use super::encoding::encode_base64;
use super::error::Error;
use super::keyfile::KEY_LABEL;
use super::manifest::SecretBytes;

/// The type of every key Secret.
pub const KEY_SECRET_TYPE: &str = "kubernetes.io/tls";
/// `--key-prefix`'s default (also the pre-0.9 single key's name).
pub const DEFAULT_KEY_PREFIX: &str = "sealed-secrets-key";
/// `--key-size`'s default.
pub const DEFAULT_KEY_BITS: usize = 4096;

/// How a key is made: the controller's `--key-prefix`, `--key-size`, `--key-ttl`, `--my-cn`.
#[derive(Clone, Debug)]
pub struct KeySpec {
    pub prefix: String,
    pub bits: usize,
    pub ttl: Duration,
    pub common_name: String,
}

impl Default for KeySpec {
    fn default() -> KeySpec {
        KeySpec {
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
            bits: DEFAULT_KEY_BITS,
            ttl: DEFAULT_VALIDITY,
            common_name: String::new(),
        }
    }
}

impl KeySpec {
    /// sealed-secrets' `--key-prefix` rule (spec §3.1 step 3): `a-z0-9-`, at most 245
    /// characters, so `generateName` gives a valid Secret name.
    pub fn check(&self) -> Result<(), Error> {
        let prefix = &self.prefix;
        let valid = !prefix.is_empty()
            && prefix.len() <= 245
            && prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            return Err(Error::Key(format!(
                "--key-prefix {prefix:?}: use 1 to 245 characters from a-z, 0-9 and -"
            )));
        }
        Ok(())
    }
}

/// A key pair and the key Secret that stores it, not yet sent anywhere.
pub struct NewKeySecret {
    pub pair: KeyPair,
    /// PEM of the certificate (`tls.crt`), what kubeseal seals to.
    pub cert_pem: String,
    pub generate_name: String,
    /// `sealedsecrets.bitnami.com/sealed-secrets-key: active`.
    pub labels: BTreeMap<String, String>,
    pub type_: &'static str,
    /// `tls.key` (PKCS#1 PEM) and `tls.crt`.
    pub data: BTreeMap<String, SecretBytes>,
}

/// Generates a key pair of `spec.bits` with a certificate valid from `now` for `spec.ttl`,
/// and the key Secret that holds it, as sealed-secrets stores one.
pub fn new_key_secret(spec: &KeySpec, now: SystemTime) -> Result<NewKeySecret, Error> {
    spec.check()?;
    let pair = KeyPair::generate(spec.bits, now, spec.ttl, &spec.common_name)?;
    let cert_pem = pair.certificate.to_pem();
    let data = BTreeMap::from([
        (
            "tls.key".to_owned(),
            SecretBytes::new(pair.key_pem().as_bytes().to_vec()),
        ),
        (
            "tls.crt".to_owned(),
            SecretBytes::new(cert_pem.as_bytes().to_vec()),
        ),
    ]);
    Ok(NewKeySecret {
        pair,
        cert_pem,
        generate_name: spec.prefix.clone(),
        labels: BTreeMap::from([(KEY_LABEL.to_owned(), "active".to_owned())]),
        type_: KEY_SECRET_TYPE,
        data,
    })
}

/// How long to wait before making a key at `now` so that its certificate's NotBefore comes
/// strictly after `newest`'s. Certificates carry whole seconds, and the newest NotBefore is
/// what picks the key that seals; two keys made in the same second would leave that to chance
/// (and `sealbox keys retire` would refuse to choose). At most a second: a newest key from a
/// clock ahead of this one is not waited for.
pub fn wait_to_follow(newest: Option<SystemTime>, now: SystemTime) -> Duration {
    let seconds = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
    };
    match newest {
        Some(newest) if seconds(now) == seconds(newest) => {
            let next = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds(newest) + 1);
            next.duration_since(now).unwrap_or_default()
        }
        _ => Duration::ZERO,
    }
}

impl NewKeySecret {
    /// The Secret as a JSON manifest in `namespace`, for the API server. It holds the private
    /// key, so it is wiped on drop.
    pub fn manifest_json(&self, namespace: &str) -> Zeroizing<String> {
        let data: serde_json::Map<String, serde_json::Value> = self
            .data
            .iter()
            .map(|(k, v)| (k.clone(), encode_base64(v.as_slice()).into()))
            .collect();
        let manifest = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "generateName": self.generate_name,
                "namespace": namespace,
                "labels": self.labels,
            },
            "type": self.type_,
            "data": data,
        });
        Zeroizing::new(manifest.to_string())
    }
}

/// A Go `time.ParseDuration` value with the units flags use (h, m, s, ms; fractions allowed;
/// `0` alone needs no unit), as the controller's `--key-ttl` takes it.
pub fn go_duration(text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err("empty duration (e.g. 87600h, 90s, 1h30m)".into());
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("{text:?}: missing unit (h, m, s, ms)"))?;
        let value: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{text:?}: not a duration"))?;
        let unit_end = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .map_or(rest.len(), |i| digits + i);
        let seconds = match &rest[digits..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            unit => {
                return Err(format!(
                    "{text:?}: unknown unit {unit:?} (use h, m, s or ms)"
                ));
            }
        };
        total += value * seconds;
        rest = &rest[unit_end..];
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sealed::{Certificate, private_keys_from_pem};

    #[test]
    fn the_secret_is_shaped_like_the_controllers() {
        let spec = KeySpec {
            prefix: "my-keys".into(),
            bits: 2048,
            ttl: Duration::from_secs(3600),
            common_name: "sealed-secret".into(),
        };
        let now = SystemTime::now();
        let secret = new_key_secret(&spec, now).unwrap();
        assert_eq!(secret.generate_name, "my-keys");
        assert_eq!(secret.type_, "kubernetes.io/tls");
        assert_eq!(
            secret.labels,
            BTreeMap::from([(KEY_LABEL.to_owned(), "active".to_owned())])
        );
        let text = |k: &str| String::from_utf8(secret.data[k].as_slice().to_vec()).unwrap();
        let cert = Certificate::from_pem(&text("tls.crt")).unwrap();
        let key = private_keys_from_pem(&text("tls.key")).unwrap().remove(0);
        assert_eq!(cert.public_key.fingerprint(), key.fingerprint());
        assert_eq!(text("tls.crt"), secret.cert_pem);
        assert!(text("tls.key").starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        assert_eq!(
            cert.not_after.duration_since(cert.not_before).unwrap(),
            Duration::from_secs(3600)
        );

        let manifest: serde_json::Value =
            serde_json::from_str(&secret.manifest_json("kube-system")).unwrap();
        assert_eq!(manifest["metadata"]["generateName"], "my-keys");
        assert_eq!(manifest["metadata"]["namespace"], "kube-system");
        assert_eq!(manifest["metadata"]["labels"][KEY_LABEL], "active");
        assert_eq!(manifest["type"], "kubernetes.io/tls");
        assert_eq!(
            manifest["data"]["tls.crt"],
            encode_base64(secret.cert_pem.as_bytes())
        );
    }

    #[test]
    fn bad_prefixes_are_refused_before_any_key_is_made() {
        for bad in ["", "Keys", "keys_1", "keys.1", &"k".repeat(246)] {
            let spec = KeySpec {
                prefix: bad.to_owned(),
                ..KeySpec::default()
            };
            let err = new_key_secret(&spec, SystemTime::now())
                .err()
                .expect("refused");
            assert!(err.to_string().contains("--key-prefix"), "{err}");
        }
        let ok = KeySpec {
            prefix: "k".repeat(245),
            ..KeySpec::default()
        };
        assert!(ok.check().is_ok());
    }

    #[test]
    fn go_durations() {
        let secs = Duration::from_secs;
        assert_eq!(go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(go_duration("87600h"), Ok(DEFAULT_VALIDITY));
        assert_eq!(go_duration("1h30m"), Ok(secs(5400)));
        assert_eq!(go_duration("1h0m0s"), Ok(secs(3600)));
        assert_eq!(go_duration("60s"), Ok(secs(60)));
        assert_eq!(go_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(go_duration("10").unwrap_err().contains("missing unit"));
        assert!(go_duration("5d").unwrap_err().contains("unknown unit"));
        assert_eq!(go_duration("1.5h"), Ok(secs(5400)));
        assert!(go_duration("h").unwrap_err().contains("not a duration"));
        assert!(go_duration("1..2s").unwrap_err().contains("not a duration"));
        assert!(go_duration("").is_err());
    }

    #[test]
    fn a_new_key_waits_for_the_next_second_after_the_newest() {
        let at = |ms: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
        assert_eq!(wait_to_follow(None, at(5_300)), Duration::ZERO);
        assert_eq!(wait_to_follow(Some(at(4_000)), at(5_300)), Duration::ZERO);
        assert_eq!(
            wait_to_follow(Some(at(5_000)), at(5_300)),
            Duration::from_millis(700),
            "the same second"
        );
        assert_eq!(
            wait_to_follow(Some(at(5_999)), at(5_000)),
            Duration::from_secs(1)
        );
        assert_eq!(
            wait_to_follow(Some(at(86_400_000)), at(5_300)),
            Duration::ZERO,
            "a key from a clock a day ahead is not waited for"
        );
    }
}
