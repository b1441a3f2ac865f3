//! Recovering the data key (spec `sops.md` §7): every age entry holds the key (one group) or a
//! Shamir share (two or more groups) in an armored age file for one recipient.

use std::io::Read;
use std::str::FromStr;

use age::x25519;
use zeroize::Zeroizing;

use super::cipher::DataKey;
use super::error::Error;
use super::metadata::{AgeKey, ForeignKeys, KeyGroup, Metadata, SOPS_VERSION};
use super::pq::{self, HybridIdentity};
use super::shamir;

/// A key that can open age stanzas: a native age X25519 or post-quantum hybrid identity, or an
/// OpenSSH Ed25519 key.
#[derive(Clone)]
pub enum Identity {
    X25519(x25519::Identity),
    Hybrid(Box<HybridIdentity>),
    SshEd25519(super::ssh::Ed25519Identity),
    SshRsa(super::ssh::RsaIdentity),
    /// `AGE-PLUGIN-NAME-1…`: opened by the `age-plugin-NAME` binary on `PATH` through the age
    /// plugin protocol (C2SP age-plugin, `identity-v1`).
    Plugin(age::plugin::Identity),
}

/// What a plugin may ask for while it works: its messages go to stderr (a hardware key saying
/// "touch it"); questions get no answer, since sops's commands never prompt here.
#[derive(Clone, Copy)]
struct PluginCallbacks;

impl age::Callbacks for PluginCallbacks {
    fn display_message(&self, message: &str) {
        eprintln!("{message}");
    }
    fn confirm(&self, _: &str, _: &str, _: Option<&str>) -> Option<bool> {
        None
    }
    fn request_public_string(&self, _: &str) -> Option<String> {
        None
    }
    fn request_passphrase(&self, _: &str) -> Option<age::secrecy::SecretString> {
        None
    }
}

fn plugin_missing(name: &str) -> Error {
    Error::Identity(format!(
        "age plugin {name:?} needed: install age-plugin-{name} on PATH"
    ))
}

impl From<super::ssh::SshIdentity> for Identity {
    fn from(identity: super::ssh::SshIdentity) -> Identity {
        match identity {
            super::ssh::SshIdentity::Ed25519(i) => Identity::SshEd25519(i),
            super::ssh::SshIdentity::Rsa(i) => Identity::SshRsa(i),
        }
    }
}

impl From<x25519::Identity> for Identity {
    fn from(identity: x25519::Identity) -> Identity {
        Identity::X25519(identity)
    }
}

impl Identity {
    fn as_age(&self) -> Option<&dyn age::Identity> {
        match self {
            Identity::X25519(i) => Some(i),
            Identity::Hybrid(i) => Some(i.as_ref()),
            Identity::SshEd25519(i) => Some(i),
            Identity::SshRsa(i) => Some(i),
            Identity::Plugin(_) => None,
        }
    }
}

/// One `identity-v1` client per plugin named by `identities` (a plugin that is not installed is
/// left out: its stanzas then stay closed, and the error names the recipients).
fn plugin_identities(
    identities: &[Identity],
) -> Vec<age::plugin::IdentityPluginV1<PluginCallbacks>> {
    let plugins: Vec<age::plugin::Identity> = identities
        .iter()
        .filter_map(|i| match i {
            Identity::Plugin(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    let mut names: Vec<&str> = plugins.iter().map(|p| p.plugin()).collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            age::plugin::IdentityPluginV1::new(name, &plugins, PluginCallbacks)
                .map_err(|_| eprintln!("{}", plugin_missing(name)))
                .ok()
        })
        .collect()
}

/// Parses age identities (`AGE-SECRET-KEY-…` and `AGE-SECRET-KEY-PQ-…` lines); blank lines
/// and `#` comments skipped.
/// Several keys may share a line, separated by whitespace (`SOPS_AGE_KEY` since sops 3.13).
pub fn parse_identities(text: &str) -> Result<Vec<Identity>, Error> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .flat_map(str::split_whitespace)
        .map(|word| {
            let parsed = if word.starts_with("AGE-PLUGIN-") {
                age::plugin::Identity::from_str(word)
                    .map(Identity::Plugin)
                    .ok()
            } else if word.starts_with("AGE-SECRET-KEY-PQ-") {
                HybridIdentity::from_str(word)
                    .map(|i| Identity::Hybrid(Box::new(i)))
                    .ok()
            } else {
                x25519::Identity::from_str(word).map(Identity::X25519).ok()
            };
            parsed.ok_or_else(|| {
                Error::Identity("not an age identity (expected an AGE-SECRET-KEY-… line)".into())
            })
        })
        .collect()
}

/// Wraps `payload` (the data key or a share) for one age recipient, armored as sops writes it.
pub fn wrap(recipient: &str, payload: &[u8]) -> Result<AgeKey, Error> {
    let trimmed = recipient.trim();
    let enc = if trimmed.starts_with("age1pq1") {
        age::encrypt_and_armor(&pq::parse_recipient(trimmed)?, payload)
    } else if super::ssh::is_recipient(trimmed) {
        age::encrypt_and_armor(&super::ssh::parse_recipient(trimmed)?, payload)
    } else {
        match x25519::Recipient::from_str(trimmed) {
            Ok(parsed) => age::encrypt_and_armor(&parsed, payload),
            Err(e) => {
                // `age1NAME1…`: a plugin's recipient, wrapped by `age-plugin-NAME`.
                let Ok(plugin) = age::plugin::Recipient::from_str(trimmed) else {
                    return Err(Error::Identity(format!(
                        "not an age recipient {recipient:?}: {e}"
                    )));
                };
                let client = age::plugin::RecipientPluginV1::new(
                    plugin.plugin(),
                    std::slice::from_ref(&plugin),
                    &[],
                    PluginCallbacks,
                )
                .map_err(|_| plugin_missing(plugin.plugin()))?;
                age::encrypt_and_armor(&client, payload)
            }
        }
    }
    .map_err(|_| Error::Encrypt)?;
    Ok(AgeKey {
        enc,
        recipient: trimmed.to_owned(),
    })
}

// Building new metadata is wrapping keys, so it lives here: `metadata` stays the plain data
// model and does not depend back on `keys`.
impl Metadata {
    /// Metadata for a new file: `key` wrapped for every age recipient of a single group, or a
    /// Shamir share per group (any `threshold` of them recover the key; 0 means all).
    pub fn for_recipients(
        groups: &[Vec<String>],
        threshold: usize,
        key: &DataKey,
    ) -> Result<Metadata, Error> {
        let groups: Vec<&Vec<String>> = groups.iter().filter(|g| !g.is_empty()).collect();
        let mut meta = Metadata {
            version: SOPS_VERSION.into(),
            ..Default::default()
        };
        match groups.as_slice() {
            [] => {
                return Err(Error::Metadata(
                    "no age recipients: pass --age, set SOPS_AGE_RECIPIENTS, or add a .sops.yaml creation rule".into(),
                ));
            }
            [only] => {
                meta.age = only
                    .iter()
                    .map(|r| wrap(r, key.as_bytes()))
                    .collect::<Result<_, _>>()?;
            }
            many => {
                let threshold = if threshold == 0 {
                    many.len()
                } else {
                    threshold
                };
                let shares = shamir::split(key.as_bytes(), many.len(), threshold)?;
                meta.shamir_threshold = threshold;
                meta.key_groups = many
                    .iter()
                    .zip(&shares)
                    .map(|(recipients, share)| {
                        Ok(KeyGroup {
                            age: recipients
                                .iter()
                                .map(|r| wrap(r, share))
                                .collect::<Result<_, Error>>()?,
                            foreign: ForeignKeys::default(),
                        })
                    })
                    .collect::<Result<_, Error>>()?;
            }
        }
        Ok(meta)
    }
}

/// The key groups and Shamir threshold after sops's `groups add`: the new group goes last; the
/// threshold is `flag` when given (non-zero), else the file's (0: all groups). A group without
/// keys, or a threshold above the number of groups, is refused (sops would write a file that
/// cannot be opened, or silently keep the old keys).
pub fn add_group(
    mut groups: Vec<Vec<String>>,
    threshold: usize,
    new: Vec<String>,
    flag: usize,
) -> Result<(Vec<Vec<String>>, usize), Error> {
    if new.is_empty() {
        return Err(Error::Metadata(
            "the new key group has no keys: give at least one --age recipient".into(),
        ));
    }
    groups.push(new);
    let threshold = if flag == 0 { threshold } else { flag };
    if threshold > groups.len() {
        return Err(Error::Metadata(format!(
            "a Shamir threshold of {threshold} cannot be met with {} key groups",
            groups.len()
        )));
    }
    Ok((groups, threshold))
}

/// The key groups and Shamir threshold after sops's `groups delete INDEX` (groups count from
/// 0); the threshold as in [`add_group`], and it must still be reachable.
pub fn delete_group(
    mut groups: Vec<Vec<String>>,
    threshold: usize,
    index: usize,
    flag: usize,
) -> Result<(Vec<Vec<String>>, usize), Error> {
    if index >= groups.len() {
        return Err(Error::Metadata(format!(
            "there is no key group {index}: the file has {} (numbered from 0)",
            groups.len()
        )));
    }
    if groups.len() == 1 {
        return Err(Error::Metadata(
            "cannot delete the only key group: nobody could open the file".into(),
        ));
    }
    groups.remove(index);
    let threshold = if flag == 0 { threshold } else { flag };
    if groups.len() < threshold {
        // sops's own words (cmd/sops/subcommand/groups/delete.go).
        return Err(Error::Metadata(format!(
            "removing this key group will make the Shamir threshold impossible to satisfy: Shamir threshold is {threshold}, but we only have {} key groups",
            groups.len()
        )));
    }
    Ok((groups, threshold))
}

fn unwrap(
    entry: &AgeKey,
    identities: &[Identity],
    plugins: &[age::plugin::IdentityPluginV1<PluginCallbacks>],
) -> Option<Zeroizing<Vec<u8>>> {
    let decryptor =
        age::Decryptor::new_buffered(age::armor::ArmoredReader::new(entry.enc.as_bytes())).ok()?;
    let native = identities.iter().filter_map(Identity::as_age);
    let plugged = plugins.iter().map(|p| p as &dyn age::Identity);
    let mut reader = decryptor.decrypt(native.chain(plugged)).ok()?;
    let mut out = Zeroizing::new(Vec::new());
    reader.read_to_end(&mut out).ok()?;
    Some(out)
}

/// Opens the data key with `identities`: any key of a single group, or shares from at least
/// `shamir_threshold` groups.
pub fn recover_data_key(meta: &Metadata, identities: &[Identity]) -> Result<DataKey, Error> {
    let groups = meta.groups();
    if groups.is_empty() {
        return Err(Error::Metadata("No keys found in file".into()));
    }
    if groups.iter().all(|g| g.age.is_empty()) {
        let kinds: Vec<&str> = groups.iter().flat_map(|g| g.foreign.kinds()).collect();
        return Err(Error::NotAge {
            kinds: kinds.join(", "),
        });
    }
    let plugins = plugin_identities(identities);
    let shares: Vec<Zeroizing<Vec<u8>>> = groups
        .iter()
        .filter_map(|g| {
            g.age
                .iter()
                .find_map(|entry| unwrap(entry, identities, &plugins))
        })
        .collect();
    let recipients = || -> Vec<String> {
        groups
            .iter()
            .flat_map(|g| g.age.iter().map(|a| a.recipient.clone()))
            .collect()
    };
    let no_key = || Error::NoUsableKey {
        recipients: recipients(),
        identities: identities.len(),
    };
    if groups.len() == 1 {
        let key = shares.first().ok_or_else(no_key)?;
        return DataKey::from_bytes(key);
    }
    let threshold = match meta.shamir_threshold {
        0 => groups.len(),
        t => t,
    };
    if shares.is_empty() {
        return Err(no_key());
    }
    if shares.len() < threshold {
        return Err(Error::ThresholdNotMet {
            opened: shares.len(),
            groups: groups.len(),
            threshold,
            recipients: recipients(),
            identities: identities.len(),
        });
    }
    let key = shamir::combine(&shares)?;
    DataKey::from_bytes(&key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sops::metadata::KeyGroup;

    #[test]
    fn plugin_keys_are_recognised_and_a_missing_plugin_is_named() {
        // A well-formed plugin identity and recipient for a plugin nobody has installed.
        let encode = |hrp: &str| {
            bech32::encode::<bech32::Bech32>(bech32::Hrp::parse(hrp).unwrap(), &[7u8; 32]).unwrap()
        };
        let identity = encode("age-plugin-sealboxnosuch-").to_uppercase();
        let ids = parse_identities(&format!("# plugin\n{identity}\n")).unwrap();
        assert!(matches!(&ids[..], [Identity::Plugin(p)] if p.plugin() == "sealboxnosuch"));
        let recipient = encode("age1sealboxnosuch");
        let err = wrap(&recipient, &[0u8; 32]).unwrap_err();
        assert!(
            err.to_string().contains("age-plugin-sealboxnosuch"),
            "{err}"
        );
        // Nobody to open a stanza with: no key, not a crash.
        let meta = Metadata {
            age: vec![
                wrap(
                    &x25519::Identity::generate().to_public().to_string(),
                    &[1u8; 32],
                )
                .unwrap(),
            ],
            ..Default::default()
        };
        assert!(matches!(
            recover_data_key(&meta, &ids),
            Err(Error::NoUsableKey { .. })
        ));
        assert!(wrap("age1notbech32", &[0u8; 32]).is_err());
    }

    #[test]
    fn groups_are_added_and_deleted_as_sops_does() {
        let g = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let (groups, t) = add_group(vec![g(&["a"])], 0, g(&["b"]), 0).unwrap();
        assert_eq!((groups, t), (vec![g(&["a"]), g(&["b"])], 0));
        let (groups, t) = add_group(vec![g(&["a"]), g(&["b"])], 2, g(&["c", "a"]), 0).unwrap();
        assert_eq!((groups.len(), t), (3, 2));
        assert!(add_group(vec![g(&["a"])], 0, vec![], 0).is_err());
        assert!(add_group(vec![g(&["a"])], 0, g(&["b"]), 3).is_err());

        let three = vec![g(&["a"]), g(&["b"]), g(&["c"])];
        let (groups, t) = delete_group(three.clone(), 2, 0, 0).unwrap();
        assert_eq!((groups, t), (vec![g(&["b"]), g(&["c"])], 2));
        let err = delete_group(vec![g(&["a"]), g(&["b"])], 2, 1, 0).unwrap_err();
        assert!(
            err.to_string()
                .contains("Shamir threshold is 2, but we only have 1")
        );
        let (groups, t) = delete_group(vec![g(&["a"]), g(&["b"])], 2, 1, 1).unwrap();
        assert_eq!((groups, t), (vec![g(&["a"])], 1));
        assert!(delete_group(three, 2, 3, 0).is_err());
        assert!(delete_group(vec![g(&["a"])], 0, 0, 0).is_err());
    }

    #[test]
    fn wraps_and_recovers_with_one_group_and_with_shamir() {
        let raw: Vec<x25519::Identity> = (0..3).map(|_| x25519::Identity::generate()).collect();
        let recipients: Vec<String> = raw.iter().map(|i| i.to_public().to_string()).collect();
        let recipient = |i: usize| recipients[i].clone();
        let ids: Vec<Identity> = raw.into_iter().map(Identity::from).collect();
        let key = DataKey::generate().unwrap();

        let meta = Metadata {
            age: vec![wrap(&recipient(0), key.as_bytes()).unwrap()],
            ..Default::default()
        };
        let got = recover_data_key(&meta, &ids[..1]).unwrap();
        assert_eq!(got.as_bytes(), key.as_bytes());
        let err = recover_data_key(&meta, &ids[1..2]).unwrap_err();
        assert!(
            matches!(err, Error::NoUsableKey { ref recipients, .. } if recipients == &[recipient(0)])
        );

        let shares = shamir::split(key.as_bytes(), 3, 2).unwrap();
        let meta = Metadata {
            key_groups: (0..3)
                .map(|i| KeyGroup {
                    age: vec![wrap(&recipient(i), &shares[i]).unwrap()],
                    ..Default::default()
                })
                .collect(),
            shamir_threshold: 2,
            ..Default::default()
        };
        let two = [ids[0].clone(), ids[2].clone()];
        assert_eq!(
            recover_data_key(&meta, &two).unwrap().as_bytes(),
            key.as_bytes()
        );
        // One group of the two needed: said as such, not as "no identity opens it".
        let err = recover_data_key(&meta, &ids[1..2]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::ThresholdNotMet {
                    opened: 1,
                    groups: 3,
                    threshold: 2,
                    identities: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("open 1 of its 3 key groups, and 2 are needed")
        );
        let stranger = Identity::from(x25519::Identity::generate());
        let err = recover_data_key(&meta, &[stranger]).unwrap_err();
        assert!(matches!(err, Error::NoUsableKey { .. }), "{err}");
    }
}
