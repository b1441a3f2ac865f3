//! The key ring (spec `sealed-secrets.md` §1.4, §3.1, §4.8): the controller's RSA keys, kept in
//! `kubernetes.io/tls` Secrets in its own namespace exactly as sealed-secrets keeps them, so an
//! existing installation's keys (and restored backups) are adopted as they are.
//!
//! - [`load`] reads the labelled key Secrets and the legacy `<prefix>` one at startup;
//! - [`ensure_current`] generates a key when there is none or the newest is older than the
//!   cut-off; [`renew`] then adds one every renewal period;
//! - [`watch`] adopts key Secrets added later (a restored backup) and retires keys whose Secret
//!   is deleted or relabelled away from `active`, both without a restart;
//! - [`KeyRing::keys_for`] is the order to try keys in for one SealedSecret.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use futures::channel::mpsc::UnboundedSender;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use rand::seq::SliceRandom;
use sealbox_crypto::sealed::keyfile::KEY_LABEL;
use sealbox_crypto::sealed::keysecret::{KeySpec, new_key_secret, wait_to_follow};
use sealbox_crypto::sealed::{Certificate, PrivateKey, private_keys_from_pem};
use tracing::{info, warn};

use super::drift::MacKey;

/// One key with the certificate kubeseal seals to.
pub struct Key {
    pub private: PrivateKey,
    pub cert_pem: String,
    /// Orders keys: the newest certificate's NotBefore is the key new seals use.
    pub not_before: SystemTime,
    /// The Secret it came from.
    pub secret: String,
    /// The key of the Secrets' data MACs, derived from this key's private half
    /// (`super::drift`).
    pub mac: MacKey,
}

/// How keys are made and renewed (the controller's `--key-*` flags).
#[derive(Clone, Debug)]
pub struct KeySettings {
    pub prefix: String,
    pub bits: usize,
    pub ttl: Duration,
    pub common_name: String,
    /// Zero disables renewal (a first key is still made when there is none).
    pub renew_period: Duration,
    pub cutoff: Option<SystemTime>,
}

impl KeySettings {
    /// What a new key is made of.
    pub fn spec(&self) -> KeySpec {
        KeySpec {
            prefix: self.prefix.clone(),
            bits: self.bits,
            ttl: self.ttl,
            common_name: self.common_name.clone(),
        }
    }
}

/// The keys, newest first, and which key last opened each SealedSecret.
pub struct KeyRing {
    keys: RwLock<Vec<Arc<Key>>>,
    memory: Option<Mutex<HashMap<String, String>>>,
}

impl KeyRing {
    /// `remember`: try the key that last opened a SealedSecret first, then the newest. Without
    /// it keys are tried in random order, as sealed-secrets does.
    pub fn new(remember: bool) -> KeyRing {
        KeyRing {
            keys: RwLock::new(Vec::new()),
            memory: remember.then(|| Mutex::new(HashMap::new())),
        }
    }

    /// Adds a key unless the ring has it already; true when it was new.
    pub fn add(&self, key: Key) -> bool {
        let mut keys = self.keys.write().expect("key ring lock");
        if keys
            .iter()
            .any(|k| k.private.fingerprint() == key.private.fingerprint())
        {
            return false;
        }
        info!(
            fingerprint = key.private.fingerprint(),
            secret = key.secret,
            "key added to the ring"
        );
        // Certificates carry whole seconds: of two made in the same second, the one added
        // last is the newer (the sort is stable).
        keys.insert(0, Arc::new(key));
        keys.sort_by_key(|k| std::cmp::Reverse(k.not_before));
        true
    }

    /// Drops the key that came from the Secret `secret`; true when there was one. Nothing
    /// sealed for it opens here any more, and if it was the newest, the next one seals.
    pub fn retire(&self, secret: &str) -> bool {
        let mut keys = self.keys.write().expect("key ring lock");
        let before = keys.len();
        keys.retain(|k| k.secret != secret);
        let retired = keys.len() != before;
        if retired {
            info!(secret, keys = keys.len(), "key retired from the ring");
            if keys.is_empty() {
                warn!(
                    "no active key left: nothing can be unsealed and kubeseal --fetch-cert fails until a key Secret is labelled active again (or the controller restarts and makes one)"
                );
            }
        }
        retired
    }

    /// The MAC keys of every key in the ring, newest first: the first stamps, any verifies.
    pub fn mac_keys(&self) -> Vec<MacKey> {
        let keys = self.keys.read().expect("key ring lock");
        keys.iter().map(|k| k.mac.clone()).collect()
    }

    pub fn newest(&self) -> Option<Arc<Key>> {
        self.keys.read().expect("key ring lock").first().cloned()
    }

    pub fn len(&self) -> usize {
        self.keys.read().expect("key ring lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys in the order to try them for the SealedSecret `object` (its uid).
    pub fn keys_for(&self, object: &str) -> Vec<PrivateKey> {
        let mut keys: Vec<PrivateKey> = self
            .keys
            .read()
            .expect("key ring lock")
            .iter()
            .map(|k| k.private.clone())
            .collect();
        match &self.memory {
            None => keys.shuffle(&mut rand::thread_rng()),
            Some(memory) => {
                let memory = memory.lock().expect("key memory lock");
                if let Some(at) = memory
                    .get(object)
                    .and_then(|fp| keys.iter().position(|k| k.fingerprint() == fp))
                {
                    keys[..=at].rotate_right(1);
                }
            }
        }
        keys
    }

    /// Notes that `key` opened the SealedSecret `object`.
    pub fn remember(&self, object: &str, key: &PrivateKey) {
        if let Some(memory) = &self.memory {
            memory
                .lock()
                .expect("key memory lock")
                .insert(object.to_owned(), key.fingerprint().to_owned());
        }
    }

    pub fn forget(&self, object: &str) {
        if let Some(memory) = &self.memory {
            memory.lock().expect("key memory lock").remove(object);
        }
    }
}

/// Reads a key Secret: `tls.key` (PKCS#1 or PKCS#8 PEM) and `tls.crt`.
pub fn key_from_secret(secret: &Secret) -> anyhow::Result<Key> {
    use anyhow::{Context as _, bail};
    let name = secret.name_any();
    let field = |f: &str| {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(f))
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
            .with_context(|| format!("key Secret {name} has no {f}"))
    };
    let key_pem = zeroize::Zeroizing::new(field("tls.key")?);
    let private = private_keys_from_pem(&key_pem)
        .with_context(|| format!("key Secret {name}: tls.key"))?
        .into_iter()
        .next()
        .with_context(|| format!("key Secret {name}: tls.key holds no RSA key"))?;
    let cert_pem = field("tls.crt")?;
    let cert =
        Certificate::from_pem(&cert_pem).with_context(|| format!("key Secret {name}: tls.crt"))?;
    if cert.public_key.fingerprint() != private.fingerprint() {
        bail!("key Secret {name}: tls.crt is not the certificate of tls.key");
    }
    Ok(Key {
        mac: MacKey::derive(private.fingerprint(), key_pem.as_bytes()),
        private,
        cert_pem,
        not_before: cert.not_before,
        secret: name,
    })
}

fn is_active(secret: &Secret) -> bool {
    secret
        .labels()
        .get(KEY_LABEL)
        .is_some_and(|v| v == "active")
}

/// Loads every active key Secret and the legacy one named exactly `prefix` (pre-0.9
/// installations). A Secret that does not parse is logged and skipped, not fatal.
pub async fn load(api: &Api<Secret>, prefix: &str, ring: &KeyRing) -> kube::Result<()> {
    let selector = format!("{KEY_LABEL}=active");
    let mut secrets = api
        .list(&kube::api::ListParams::default().labels(&selector))
        .await?
        .items;
    if let Some(legacy) = api.get_opt(prefix).await? {
        secrets.push(legacy);
    }
    for secret in &secrets {
        match key_from_secret(secret) {
            Ok(key) => {
                ring.add(key);
            }
            Err(e) => warn!("{e:#}"),
        }
    }
    Ok(())
}

/// Generates a key, starting strictly after the newest ([`wait_to_follow`]), stores it as a
/// new key Secret and adds it to the ring. What the Secret
/// holds is decided by [`new_key_secret`], shared with `sealbox keys renew --cluster`; only
/// the API call is the controller's.
pub async fn generate(
    api: &Api<Secret>,
    settings: &KeySettings,
    ring: &KeyRing,
) -> anyhow::Result<()> {
    let spec = settings.spec();
    let newest = ring.newest().map(|k| k.not_before);
    tokio::time::sleep(wait_to_follow(newest, SystemTime::now())).await;
    let made =
        tokio::task::spawn_blocking(move || new_key_secret(&spec, SystemTime::now())).await??;
    let secret = Secret {
        metadata: ObjectMeta {
            generate_name: Some(made.generate_name.clone()),
            labels: Some(made.labels.clone()),
            ..Default::default()
        },
        type_: Some(made.type_.to_owned()),
        data: Some(
            made.data
                .iter()
                .map(|(k, v)| (k.clone(), ByteString(v.as_slice().to_vec())))
                .collect(),
        ),
        ..Default::default()
    };
    let created = api.create(&PostParams::default(), &secret).await?;
    info!(
        secret = created.name_any(),
        "new key generated; the certificate new seals use:\n{}", made.cert_pem
    );
    let key_pem = made.data.get("tls.key").map_or(&[][..], |v| v.as_slice());
    let mac = MacKey::derive(made.pair.private_key.fingerprint(), key_pem);
    ring.add(Key {
        mac,
        private: made.pair.private_key,
        cert_pem: made.cert_pem,
        not_before: made.pair.certificate.not_before,
        secret: created.name_any(),
    });
    Ok(())
}

/// Makes a key now when there is none or the newest predates the cut-off (spec `sealed-secrets.md` §3.1 step 5).
pub async fn ensure_current(
    api: &Api<Secret>,
    settings: &KeySettings,
    ring: &KeyRing,
) -> anyhow::Result<()> {
    let stale = match ring.newest() {
        None => true,
        Some(k) => settings.cutoff.is_some_and(|cutoff| k.not_before < cutoff),
    };
    if stale {
        generate(api, settings, ring).await?;
    }
    Ok(())
}

/// Adds a key every `renew_period` counted from the newest key's NotBefore; run only when
/// renewal is enabled (a non-zero period). A new key opens nothing sealed before it, so
/// nothing is reconciled again.
pub async fn renew(api: Api<Secret>, settings: KeySettings, ring: Arc<KeyRing>) {
    loop {
        let newest = ring.newest().map_or(SystemTime::now(), |k| k.not_before);
        let wait = (newest + settings.renew_period)
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        tokio::time::sleep(wait).await;
        if let Err(e) = generate(&api, &settings, &ring).await {
            warn!("key renewal failed, retrying in a minute: {e}");
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    }
}

/// Keeps the ring in step with the key Secrets after startup: adopts a Secret labelled
/// `active` (a restored backup, `sealbox keys renew --cluster`) and announces it on `changed`
/// so SealedSecrets that failed are tried again; retires the key of a Secret that is deleted
/// or relabelled to any other value (`sealbox keys retire`) at once, where sealed-secrets
/// needs a restart. A deletion missed while the watch was down takes effect at the next
/// restart, as upstream.
pub async fn watch(api: Api<Secret>, ring: Arc<KeyRing>, changed: UnboundedSender<()>) {
    // Every value of the label, so that a relabel arrives as a change, not as a disappearance.
    let config = watcher::Config::default().labels(KEY_LABEL);
    // Errors (an API server restart, an expired watch) are retried with backoff, never fatal.
    let mut events = watcher::watcher(api, config).default_backoff().boxed();
    while let Some(event) = events.next().await {
        let secret = match event {
            Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => s,
            Ok(watcher::Event::Delete(s)) => {
                ring.retire(&s.name_any());
                continue;
            }
            Ok(watcher::Event::Init | watcher::Event::InitDone) => continue,
            Err(e) => {
                warn!("watching key Secrets: {e}");
                continue;
            }
        };
        if !is_active(&secret) {
            ring.retire(&secret.name_any());
            continue;
        }
        match key_from_secret(&secret) {
            Ok(key) => {
                if ring.add(key) {
                    let _ = changed.unbounded_send(());
                }
            }
            Err(e) => warn!("{e:#}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(age_days: u64) -> Key {
        let private = PrivateKey::generate(2048).unwrap();
        Key {
            mac: MacKey::derive(private.fingerprint(), private.fingerprint().as_bytes()),
            private,
            cert_pem: String::new(),
            not_before: SystemTime::now() - Duration::from_secs(age_days * 86_400),
            secret: format!("k{age_days}"),
        }
    }

    #[test]
    fn keys_are_tried_remembered_first_then_newest_first() {
        let ring = KeyRing::new(true);
        for age in [30, 0, 60] {
            assert!(ring.add(key(age)));
        }
        let order = |ring: &KeyRing, uid: &str| -> Vec<String> {
            ring.keys_for(uid)
                .iter()
                .map(|k| k.fingerprint().to_owned())
                .collect()
        };
        let newest_first = order(&ring, "a");
        assert_eq!(ring.newest().unwrap().secret, "k0");
        assert_eq!(
            newest_first[0],
            ring.newest().unwrap().private.fingerprint()
        );
        let oldest = ring.keys_for("a")[2].clone();
        ring.remember("a", &oldest);
        let remembered = order(&ring, "a");
        assert_eq!(remembered[0], oldest.fingerprint());
        assert_eq!(&remembered[1..], &newest_first[..2]);
        assert_eq!(
            order(&ring, "b"),
            newest_first,
            "memory is per SealedSecret"
        );
        ring.forget("a");
        assert_eq!(order(&ring, "a"), newest_first);
    }

    #[test]
    fn of_two_keys_made_in_the_same_second_the_later_is_newest() {
        let ring = KeyRing::new(true);
        let first = key(0);
        let second = Key {
            not_before: first.not_before,
            ..key(0)
        };
        let second_fp = second.private.fingerprint().to_owned();
        ring.add(first);
        ring.add(second);
        assert_eq!(ring.newest().unwrap().private.fingerprint(), second_fp);
    }

    #[test]
    fn a_key_already_in_the_ring_is_not_added_twice() {
        let ring = KeyRing::new(true);
        let k = key(1);
        let again = Key {
            mac: k.mac.clone(),
            private: k.private.clone(),
            cert_pem: String::new(),
            not_before: k.not_before,
            secret: "copy".into(),
        };
        assert!(ring.add(k));
        assert!(!ring.add(again));
        assert_eq!(ring.len(), 1);
    }

    #[test]
    fn a_retired_key_opens_nothing_and_the_next_newest_seals() {
        let ring = KeyRing::new(true);
        for age in [30, 0] {
            ring.add(key(age));
        }
        let old = ring.keys_for("a")[1].clone();
        ring.remember("a", &old);
        assert!(ring.retire("k0"), "the newest key's Secret");
        assert!(!ring.retire("k0"), "a second retire finds nothing");
        assert!(!ring.retire("unknown"));
        assert_eq!(ring.newest().unwrap().secret, "k30");
        assert_eq!(ring.len(), 1);
        assert!(ring.retire("k30"));
        assert!(ring.is_empty());
        assert!(ring.keys_for("a").is_empty(), "remembered, yet retired");
    }
}
