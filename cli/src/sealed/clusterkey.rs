//! `sealbox keys renew --cluster`: a new sealing key in the controller's namespace, made
//! exactly as the controller makes one (spec `sealed-secrets.md` §1.4, §4.8) through the
//! shared [`new_key_secret`]: a `kubernetes.io/tls` Secret labelled
//! `sealedsecrets.bitnami.com/sealed-secrets-key=active`, `generateName` from `--key-prefix`.
//! A running sealbox-controller adopts it at once through its key Secret watch (no restart);
//! sealed-secrets does with `--watch-for-secrets`, else after a restart.
//!
//! Which function when: [`renew`] runs the command; [`list_keys`] reads the key Secrets
//! (their names, labels and certificates; never the keys) and [`refused`] says what a refused
//! request for a key Secret means and what to do, for `keys retire` too.

use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use clap::Args;
use sealbox_crypto::sealed::keyfile::KEY_LABEL;
use sealbox_crypto::sealed::keysecret::{
    DEFAULT_KEY_BITS, DEFAULT_KEY_PREFIX, KeySpec, go_duration, new_key_secret, wait_to_follow,
};
use sealbox_crypto::sealed::{Certificate, decode_base64};
use sealbox_crypto::sops::mac::format_lastmodified;
use serde_json::Value;

use crate::cluster::{Cluster, Reply};
use crate::sealed::controller::ControllerArgs;

/// The controller's key flags (same names and defaults), so a key made here is the key the
/// controller would have made. No environment variables: a shell's `SEALED_SECRETS_KEY_*`
/// meant for a controller must not change, or break, a local `keys renew`.
#[derive(Args, Clone)]
pub struct ClusterKeyArgs {
    /// generateName of the new key Secret (the controller's --key-prefix).
    #[arg(long = "key-prefix", default_value = DEFAULT_KEY_PREFIX, requires = "cluster")]
    pub key_prefix: String,
    /// RSA key size in bits (the controller's --key-size).
    #[arg(long = "key-size", default_value_t = DEFAULT_KEY_BITS, requires = "cluster")]
    pub key_size: usize,
    /// Validity of the new certificate, a Go duration (the controller's --key-ttl).
    #[arg(long = "key-ttl", default_value = "87600h", value_parser = go_duration, requires = "cluster")]
    pub key_ttl: std::time::Duration,
    /// Subject and issuer CN of the new certificate (the controller's --my-cn; empty by default).
    #[arg(long = "my-cn", default_value = "", requires = "cluster")]
    pub my_cn: String,
    #[command(flatten)]
    pub controller: ControllerArgs,
}

impl ClusterKeyArgs {
    fn spec(&self) -> KeySpec {
        KeySpec {
            prefix: self.key_prefix.clone(),
            bits: self.key_size,
            ttl: self.key_ttl,
            common_name: self.my_cn.clone(),
        }
    }
}

/// Makes the key (its certificate starting strictly after the newest key's:
/// [`wait_to_follow`]), creates its Secret in `--controller-namespace` and prints its name,
/// fingerprint and NotBefore (no key material).
pub fn renew(args: &ClusterKeyArgs) -> Result<()> {
    let spec = args.spec();
    spec.check()?;
    let ns = &args.controller.controller_namespace;
    let cluster = args.controller.cluster.connect()?;
    // Before minutes of key generation: is the server there, and the namespace?
    let namespace = cluster
        .get(&format!("/api/v1/namespaces/{ns}"))
        .context("is the cluster up, and are the kubeconfig and --context the right ones?")?;
    if namespace.status == 404 {
        bail!(
            "namespace {ns} not found: pass --controller-namespace with the namespace the controller runs in"
        );
    }
    let newest = list_keys(&cluster, ns)?
        .iter()
        .filter(|k| k.active)
        .filter_map(|k| k.cert.as_ref().ok().map(|(not_before, _)| *not_before))
        .max();
    std::thread::sleep(wait_to_follow(newest, SystemTime::now()));
    eprintln!("generating an RSA-{} key pair…", spec.bits);
    let made = new_key_secret(&spec, SystemTime::now())?;
    let reply = cluster
        .post(
            &format!("/api/v1/namespaces/{ns}/secrets"),
            &made.manifest_json(ns),
        )
        .context("is the cluster up, and are the kubeconfig and --context the right ones?")?;
    if !matches!(reply.status, 200 | 201) {
        return Err(refused("create a key Secret", "create", ns, &reply));
    }
    let created: serde_json::Value =
        serde_json::from_str(&reply.body).context("the API server sent a malformed Secret")?;
    let name = created["metadata"]["name"].as_str().unwrap_or_default();
    println!("created key Secret {ns}/{name}");
    println!("fingerprint: {}", made.pair.private_key.fingerprint());
    println!(
        "not before:  {}",
        format_lastmodified(made.pair.certificate.not_before)?
    );
    eprintln!(
        "a running sealbox-controller seals with it at once (sealed-secrets: with --watch-for-secrets, else after a restart); back up the keys again: sealbox keys backup --controller-namespace {ns}"
    );
    Ok(())
}

/// A key Secret as listed: its name, whether it is `active`, and what its certificate says.
#[derive(Debug)]
pub struct KeySecret {
    pub name: String,
    pub active: bool,
    /// NotBefore and fingerprint, or why `tls.crt` could not be read.
    pub cert: Result<(SystemTime, String), String>,
}

/// The key Secrets (any label value) in namespace `ns`.
pub fn list_keys(cluster: &Cluster, ns: &str) -> Result<Vec<KeySecret>> {
    let reply = cluster
        .get(&format!(
            "/api/v1/namespaces/{ns}/secrets?labelSelector={}",
            KEY_LABEL.replace('/', "%2F")
        ))
        .context("is the cluster up, and are the kubeconfig and --context the right ones?")?;
    if reply.status != 200 {
        return Err(refused("list the key Secrets", "list", ns, &reply));
    }
    let list: Value =
        serde_json::from_str(&reply.body).context("the API server sent a malformed list")?;
    Ok(list["items"]
        .as_array()
        .map(|items| items.iter().map(key_secret).collect())
        .unwrap_or_default())
}

fn key_secret(item: &Value) -> KeySecret {
    let cert = item["data"]["tls.crt"]
        .as_str()
        .ok_or_else(|| "it has no tls.crt".to_owned())
        .and_then(|b64| decode_base64(b64).map_err(|e| format!("tls.crt: {e}")))
        .and_then(|pem| {
            Certificate::from_pem(&String::from_utf8_lossy(&pem))
                .map_err(|e| format!("tls.crt: {e}"))
        })
        .map(|c| (c.not_before, c.public_key.fingerprint().to_owned()));
    KeySecret {
        name: item["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        active: item["metadata"]["labels"][KEY_LABEL].as_str() == Some("active"),
        cert,
    }
}

/// What the API server's refusal to `action` (with the RBAC `verb` it needs) in namespace `ns`
/// means, and what to do. Only the `Status` message is quoted: a request may carry a key.
pub fn refused(action: &str, verb: &str, ns: &str, reply: &Reply) -> anyhow::Error {
    let message = reply.status_message();
    match reply.status {
        401 => anyhow::anyhow!(
            "cannot {action} in namespace {ns}: the API server did not accept the kubeconfig's credentials ({message}): log in again or pick another --context"
        ),
        403 => anyhow::anyhow!(
            "cannot {action} in namespace {ns}: {message}\nyour user needs `{verb} secrets` in namespace {ns}: ask a cluster admin, or run with an admin --context"
        ),
        404 => anyhow::anyhow!(
            "cannot {action} in namespace {ns}: {message}: pass --controller-namespace with the namespace the controller runs in"
        ),
        other => anyhow::anyhow!("cannot {action} in namespace {ns}: HTTP {other}: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_say_what_to_do_and_never_echo_the_request() {
        let reply = |status: u16, body: &str| Reply {
            status,
            body: body.to_owned(),
        };
        let forbidden = refused(
            "create a key Secret",
            "create",
            "kube-system",
            &reply(
                403,
                r#"{"kind":"Status","message":"secrets is forbidden: User \"dev\" cannot create resource \"secrets\""}"#,
            ),
        )
        .to_string();
        assert!(
            forbidden.contains("User \"dev\" cannot create"),
            "{forbidden}"
        );
        assert!(forbidden.contains("`create secrets` in namespace kube-system"));
        let missing =
            refused("create a key Secret", "create", "nope", &reply(404, "{}")).to_string();
        assert!(missing.contains("--controller-namespace"), "{missing}");
        let raw = refused(
            "create a key Secret",
            "create",
            "kube-system",
            &reply(500, "tls.key: LS0tLS1CRUdJTi"),
        )
        .to_string();
        assert!(!raw.contains("LS0t"), "{raw}");
        assert!(raw.contains("HTTP 500"));
        let unauthorized = refused(
            "create a key Secret",
            "create",
            "kube-system",
            &reply(401, ""),
        )
        .to_string();
        assert!(unauthorized.contains("credentials"), "{unauthorized}");
    }
}
