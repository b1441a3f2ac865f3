//! `sealbox keys retire [SECRET…]`: takes sealing keys out of service in the cluster by
//! relabelling their Secrets `sealedsecrets.bitnami.com/sealed-secrets-key=retired` (spec
//! `sealed-secrets.md` §1.4: only `active` keys are loaded). The Secret is kept, so nothing is
//! lost: labelling it `active` again brings the key back. A running sealbox-controller drops a
//! retired key at once; sealed-secrets after a restart.
//!
//! The newest active key is the one kubeseal seals with: it is never retired, so the
//! controller always keeps a key. Without names every other active key is retired.
//!
//! Which function when: [`retire`] runs the command; [`choose`] is the pure decision.

use anyhow::{Result, bail};
use sealbox_crypto::sealed::keyfile::KEY_LABEL;
use sealbox_crypto::sops::mac::format_lastmodified;

use crate::sealed::clusterkey::{KeySecret, list_keys, refused};
use crate::sealed::controller::ControllerArgs;

/// The label value of a retired key.
pub const RETIRED: &str = "retired";

/// What to do with the named (or, with none, every) key Secret.
#[derive(Debug, PartialEq)]
pub struct Plan {
    pub retire: Vec<String>,
    pub already: Vec<String>,
    /// The newest active key, which keeps sealing (two names if two start in the same second).
    pub kept: String,
}

/// Decides which keys to retire. Refuses to retire the newest active key, to go on when which
/// key is newest cannot be told, and names that are not key Secrets.
pub fn choose(keys: &[KeySecret], named: &[String], ns: &str) -> Result<Plan> {
    let mut active = Vec::new();
    for key in keys.iter().filter(|k| k.active) {
        match &key.cert {
            Ok((not_before, _)) => active.push((*not_before, key.name.as_str())),
            Err(why) => bail!(
                "cannot tell which key is newest: key Secret {ns}/{}: {why}; fix or retire it by hand (kubectl label secret -n {ns} {} {KEY_LABEL}={RETIRED} --overwrite)",
                key.name,
                key.name
            ),
        }
    }
    active.sort();
    let Some(&(newest_at, _)) = active.last() else {
        bail!(
            "no active key Secret in namespace {ns}: is the controller installed there? (--controller-namespace)"
        );
    };
    // Certificates carry whole seconds: which of two keys from the same second seals cannot be
    // told (sealbox never makes such a pair: keysecret::wait_to_follow), so none of them is
    // retired.
    let newest: Vec<&str> = active
        .iter()
        .filter(|&&(t, _)| t == newest_at)
        .map(|&(_, n)| n)
        .collect();
    if newest.len() > 1 && named.is_empty() {
        bail!(
            "key Secrets {} in namespace {ns} start in the same second, so which one seals cannot be told: name the keys to retire; nothing retired",
            newest.join(", ")
        );
    }
    let mut plan = Plan {
        retire: Vec::new(),
        already: Vec::new(),
        kept: newest.join(" or "),
    };
    if named.is_empty() {
        plan.retire = active
            .iter()
            .map(|&(_, n)| n.to_owned())
            .filter(|n| !newest.contains(&n.as_str()))
            .collect();
        plan.retire.sort();
        plan.already = keys
            .iter()
            .filter(|k| !k.active)
            .map(|k| k.name.clone())
            .collect();
        return Ok(plan);
    }
    for name in named {
        let Some(key) = keys.iter().find(|k| &k.name == name) else {
            bail!("{ns}/{name} is not a key Secret (no {KEY_LABEL} label): nothing retired");
        };
        if newest.contains(&name.as_str()) {
            bail!(
                "{ns}/{name} is the newest active key, the one kubeseal seals with: make a new key first (sealbox keys renew --cluster), then retire this one; nothing retired"
            );
        }
        let list = if key.active {
            &mut plan.retire
        } else {
            &mut plan.already
        };
        if !list.contains(name) {
            list.push(name.clone());
        }
    }
    Ok(plan)
}

/// Lists the key Secrets, retires what [`choose`] says and prints each key retired (name,
/// fingerprint, NotBefore; never key material).
pub fn retire(controller: &ControllerArgs, named: &[String]) -> Result<()> {
    let ns = &controller.controller_namespace;
    let cluster = controller.cluster.connect()?;
    let keys = list_keys(&cluster, ns)?;
    let plan = choose(&keys, named, ns)?;
    let patch = serde_json::json!({"metadata": {"labels": {KEY_LABEL: RETIRED}}}).to_string();
    for name in &plan.retire {
        let reply =
            cluster.merge_patch(&format!("/api/v1/namespaces/{ns}/secrets/{name}"), &patch)?;
        if reply.status != 200 {
            return Err(refused(
                &format!("relabel key Secret {name}"),
                "patch",
                ns,
                &reply,
            ));
        }
        let key = keys
            .iter()
            .find(|k| &k.name == name)
            .expect("chosen from the list");
        let (not_before, fingerprint) = key.cert.as_ref().expect("active keys have certificates");
        println!(
            "retired key Secret {ns}/{name} ({fingerprint}, not before {})",
            format_lastmodified(*not_before)?
        );
    }
    for name in &plan.already {
        println!("key Secret {ns}/{name} was already out of service");
    }
    eprintln!(
        "{} key(s) retired; {ns}/{} keeps sealing. SealedSecrets sealed only for a retired key no longer open: a running sealbox-controller drops retired keys at once (sealed-secrets after a restart). Label a Secret {KEY_LABEL}=active to bring its key back.",
        plan.retire.len(),
        plan.kept
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    fn key(name: &str, active: bool, days_ago: u64) -> KeySecret {
        KeySecret {
            name: name.into(),
            active,
            cert: Ok((
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000 - days_ago * 86_400),
                format!("SHA256:{name}"),
            )),
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn without_names_every_active_key_but_the_newest_is_retired() {
        let keys = [
            key("k60", true, 60),
            key("k0", true, 0),
            key("k30", true, 30),
            key("old", false, 90),
        ];
        let plan = choose(&keys, &[], "kube-system").unwrap();
        assert_eq!(
            plan,
            Plan {
                retire: names(&["k30", "k60"]),
                already: names(&["old"]),
                kept: "k0".into()
            }
        );
        let again = [
            key("k60", false, 60),
            key("k0", true, 0),
            key("k30", false, 30),
        ];
        let plan = choose(&again, &[], "kube-system").unwrap();
        assert!(plan.retire.is_empty(), "a second run retires nothing");
    }

    #[test]
    fn named_keys_are_retired_but_never_the_newest() {
        let keys = [
            key("k30", true, 30),
            key("k0", true, 0),
            key("k60", false, 60),
        ];
        let plan = choose(&keys, &names(&["k30", "k60", "k30"]), "ns").unwrap();
        assert_eq!(plan.retire, names(&["k30"]));
        assert_eq!(plan.already, names(&["k60"]));
        let newest = choose(&keys, &names(&["k0"]), "ns")
            .unwrap_err()
            .to_string();
        assert!(
            newest.contains("ns/k0 is the newest active key"),
            "{newest}"
        );
        assert!(newest.contains("sealbox keys renew --cluster"), "{newest}");
        let unknown = choose(&keys, &names(&["nope"]), "ns")
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("ns/nope is not a key Secret"), "{unknown}");
    }

    #[test]
    fn an_unreadable_certificate_or_no_active_key_stops_everything() {
        let mut broken = key("broken", true, 10);
        broken.cert = Err("it has no tls.crt".into());
        let err = choose(&[key("k0", true, 0), broken], &[], "ns")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ns/broken: it has no tls.crt"), "{err}");
        let none = choose(&[key("old", false, 1)], &[], "ns")
            .unwrap_err()
            .to_string();
        assert!(
            none.contains("no active key Secret in namespace ns"),
            "{none}"
        );
    }

    #[test]
    fn of_two_newest_keys_from_the_same_second_neither_is_retired() {
        let tied = [
            key("k30", true, 30),
            key("k0", true, 0),
            key("twin", true, 0),
        ];
        let err = choose(&tied, &[], "ns").unwrap_err().to_string();
        assert!(err.contains("k0, twin"), "{err}");
        assert!(err.contains("start in the same second"), "{err}");
        let err = choose(&tied, &names(&["twin"]), "ns")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ns/twin is the newest active key"), "{err}");
        let plan = choose(&tied, &names(&["k30"]), "ns").unwrap();
        assert_eq!(
            (plan.retire, plan.kept),
            (names(&["k30"]), "k0 or twin".into())
        );
    }
}
