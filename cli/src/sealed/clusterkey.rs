//! `sealbox keys renew --cluster`: a new sealing key in the controller's namespace, made
//! exactly as the controller makes one (spec `sealed-secrets.md` §1.4, §4.8) through the
//! shared [`new_key_secret`]: a `kubernetes.io/tls` Secret labelled
//! `sealedsecrets.bitnami.com/sealed-secrets-key=active`, `generateName` from `--key-prefix`.
//! A running sealbox-controller adopts it at once through its key Secret watch (no restart);
//! sealed-secrets does with `--watch-for-secrets`, else after a restart.
//!
//! Which function when: [`renew`] runs the command; [`create_error`] says what a refused
//! `POST` means and what to do.

use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use clap::Args;
use sealbox_crypto::sealed::keysecret::{
    DEFAULT_KEY_BITS, DEFAULT_KEY_PREFIX, KeySpec, go_duration, new_key_secret,
};
use sealbox_crypto::sops::mac::format_lastmodified;

use crate::cluster::Reply;
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

/// Makes the key, creates its Secret in `--controller-namespace` and prints its name,
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
    eprintln!("generating an RSA-{} key pair…", spec.bits);
    let made = new_key_secret(&spec, SystemTime::now())?;
    let reply = cluster
        .post(
            &format!("/api/v1/namespaces/{ns}/secrets"),
            &made.manifest_json(ns),
        )
        .context("is the cluster up, and are the kubeconfig and --context the right ones?")?;
    if !matches!(reply.status, 200 | 201) {
        return Err(create_error(ns, &reply));
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

/// What a refused key Secret creation means, and what to do. Only the API server's `Status`
/// message is quoted: the request carried the private key.
pub fn create_error(ns: &str, reply: &Reply) -> anyhow::Error {
    let message = reply.status_message();
    match reply.status {
        401 => anyhow::anyhow!(
            "cannot create a key Secret in namespace {ns}: the API server did not accept the kubeconfig's credentials ({message}): log in again or pick another --context"
        ),
        403 => anyhow::anyhow!(
            "cannot create a key Secret in namespace {ns}: {message}\nyour user needs `create secrets` in namespace {ns} (as the controller's Role has): ask a cluster admin, or run with an admin --context"
        ),
        404 => anyhow::anyhow!(
            "cannot create a key Secret in namespace {ns}: {message}: pass --controller-namespace with the namespace the controller runs in"
        ),
        other => {
            anyhow::anyhow!("cannot create a key Secret in namespace {ns}: HTTP {other}: {message}")
        }
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
        let forbidden = create_error(
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
        let missing = create_error("nope", &reply(404, "{}")).to_string();
        assert!(missing.contains("--controller-namespace"), "{missing}");
        let raw = create_error("kube-system", &reply(500, "tls.key: LS0tLS1CRUdJTi")).to_string();
        assert!(!raw.contains("LS0t"), "{raw}");
        assert!(raw.contains("HTTP 500"));
        let unauthorized = create_error("kube-system", &reply(401, "")).to_string();
        assert!(unauthorized.contains("credentials"), "{unauthorized}");
    }
}
