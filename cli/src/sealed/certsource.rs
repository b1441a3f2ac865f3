//! The public key to seal with: `--cert FILE|URL`, else the controller's (`--fetch-cert`), else
//! the local key store. A certificate must not be expired (kubeseal refuses, with no
//! override); a bare public key has no expiry.

use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use sealbox_crypto::sealed::{Certificate, PublicKey};

use crate::sealed::controller::ControllerArgs;
use crate::sealed::keystore;

/// The public key to seal with, from a certificate that is not expired or a bare public key,
/// and where it came from.
pub fn load(cert: Option<&str>, online: Option<&ControllerArgs>) -> Result<(PublicKey, String)> {
    let (pem, origin) = read_pem(cert, online)?;
    let key = if pem.contains("-----BEGIN CERTIFICATE-----") {
        let cert = Certificate::from_pem(&pem).with_context(|| origin.clone())?;
        cert.check_not_expired(SystemTime::now())?;
        cert.public_key
    } else {
        PublicKey::from_pem(&pem).with_context(|| origin.clone())?
    };
    Ok((key, origin))
}

/// The PEM text of `--cert`, of the controller `online` names, or of the key store's newest
/// certificate, and where it came from.
pub fn read_pem(cert: Option<&str>, online: Option<&ControllerArgs>) -> Result<(String, String)> {
    Ok(match (cert, online) {
        (Some(source), _) => (read_source(source)?, without_credentials(source)),
        (None, Some(controller)) => (controller.connect()?.fetch_cert()?, controller.describe()),
        (None, None) => match keystore::newest_certificate()? {
            Some((_, pem)) => (pem, format!("key store {}", keystore::dir()?.display())),
            None => bail!(
                "no certificate to seal with: pass --cert FILE|URL (for example the output of \
                 `kubeseal --fetch-cert`), or run `sealbox keys init` to create a local key pair"
            ),
        },
    })
}

/// A local path, or a URL with a scheme of two or more letters (Go's rule, which keeps
/// `C:\…` a path). `file://` URLs are read locally.
fn read_source(source: &str) -> Result<String> {
    let scheme = source.split_once("://").map(|(s, _)| s).filter(|s| {
        s.len() > 1
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    match scheme {
        None => std::fs::read_to_string(source)
            .with_context(|| format!("cannot read certificate file {source}")),
        Some("file") => {
            let path = &source["file://".len()..];
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read certificate file {path}"))
        }
        Some("http" | "https") => fetch(source),
        Some(other) => bail!(
            "cannot fetch {source}: {other}:// URLs are not supported; use http(s):// or a file"
        ),
    }
}

/// GET over HTTP(S): the system's trust store (honouring `SSL_CERT_FILE`/`SSL_CERT_DIR`),
/// proxies from `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`, anything but 200 is an error.
fn fetch(url: &str) -> Result<String> {
    let agent = https_agent();
    let mut response = agent
        .get(url)
        .call()
        .with_context(|| format!("cannot fetch certificate from {url}"))?;
    if response.status() != 200 {
        bail!(
            "cannot fetch certificate from {url}: HTTP {}",
            response.status()
        );
    }
    response
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .with_context(|| format!("cannot read certificate from {}", without_credentials(url)))
}

/// A URL for messages: `user:password@` is dropped, the query string is elided.
fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let rest = match rest[..authority_end].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    match rest.split_once('?') {
        Some((path, _)) => format!("{scheme}://{path}?…"),
        None => format!("{scheme}://{rest}"),
    }
}

/// rustls on aws-lc with the system's roots, proxies from the environment, a 30 s limit; every
/// status is a reply, so the caller says what a non-200 means.
fn https_agent() -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .new_agent()
}
