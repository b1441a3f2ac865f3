//! A small client for the Kubernetes API server named by the kubeconfig (server, CA, bearer
//! token): what the online commands need, JSON in and out, nothing cached.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::kubeconfig::{self, ApiServer};

/// The status and body of a reply.
pub struct Reply {
    pub status: u16,
    pub body: String,
}

pub struct KubeApi {
    api: ApiServer,
    agent: ureq::Agent,
}

impl KubeApi {
    /// The current kubeconfig context's API server.
    pub fn connect() -> Result<KubeApi> {
        let api = kubeconfig::api_server()?;
        let agent = agent(&api)?;
        Ok(KubeApi { api, agent })
    }

    pub fn get(&self, path: &str) -> Result<Reply> {
        self.send("GET", path, None)
    }

    pub fn post(&self, path: &str, body: &str) -> Result<Reply> {
        self.send("POST", path, Some(body))
    }

    fn send(&self, method: &str, path: &str, body: Option<&str>) -> Result<Reply> {
        let url = format!("{}{path}", self.api.server);
        let auth = self
            .api
            .token
            .as_ref()
            .map(|t| zeroize::Zeroizing::new(format!("Bearer {}", t.as_str())));
        let result = match body {
            None => {
                let mut req = self.agent.get(&url);
                if let Some(auth) = &auth {
                    req = req.header("Authorization", auth.as_str());
                }
                req.call()
            }
            Some(body) => {
                let mut req = self
                    .agent
                    .post(&url)
                    .header("Content-Type", "application/json");
                if let Some(auth) = &auth {
                    req = req.header("Authorization", auth.as_str());
                }
                req.send(body)
            }
        };
        let mut response = result.with_context(|| {
            format!(
                "{method} {path}: cannot reach the Kubernetes API server {}",
                self.api.server
            )
        })?;
        Ok(Reply {
            status: response.status().as_u16(),
            body: response
                .body_mut()
                .with_config()
                .limit(64 << 20)
                .read_to_string()
                .unwrap_or_default(),
        })
    }
}

fn agent(api: &ApiServer) -> Result<ureq::Agent> {
    let roots = match &api.ca_pem {
        Some(pem) => {
            let certs = ureq::tls::parse_pem(pem.as_bytes())
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                })
                .collect::<Result<Vec<_>, _>>()
                .context("kubeconfig: the cluster's certificate authority is not valid PEM")?;
            ureq::tls::RootCerts::new_with_certs(&certs)
        }
        None => ureq::tls::RootCerts::PlatformVerifier,
    };
    Ok(https_agent(roots, api.insecure))
}

/// The CLI's one HTTP(S) client configuration: rustls on aws-lc, `roots` to trust (or no
/// verification when `insecure`), proxies from the environment, a 30 s limit; every status is
/// a reply, so callers say what a non-200 means.
pub fn https_agent(roots: ureq::tls::RootCerts, insecure: bool) -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .root_certs(roots)
        .disable_verification(insecure)
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent()
}
