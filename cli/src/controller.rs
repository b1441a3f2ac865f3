//! Talking to a running controller (sealbox-controller or sealed-secrets) the way kubeseal does
//! (spec `sealed-secrets.md` §3.5, §4.4, §4.6): through the API server's service proxy,
//! `/api/v1/namespaces/<ns>/services/http:<name>:<port>/proxy/<path>`, with the port named by
//! the Service's first port.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::kubeconfig;

/// Where the controller runs (kubeseal's flags and environment).
#[derive(Args, Clone, Default)]
pub struct ControllerArgs {
    /// Namespace of the controller, for online operations.
    #[arg(
        long = "controller-namespace",
        env = "SEALED_SECRETS_CONTROLLER_NAMESPACE",
        default_value = "kube-system"
    )]
    pub controller_namespace: String,
    /// Name of the controller's Service, for online operations.
    #[arg(
        long = "controller-name",
        env = "SEALED_SECRETS_CONTROLLER_NAME",
        default_value = "sealed-secrets-controller"
    )]
    pub controller_name: String,
}

/// A reply from the controller.
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl ControllerArgs {
    fn describe(&self) -> String {
        format!(
            "controller {}/{}",
            self.controller_namespace, self.controller_name
        )
    }

    /// The newest certificate the controller seals to (`GET /v1/cert.pem`).
    pub fn fetch_cert(&self) -> Result<String> {
        let reply = self.request("GET", "/v1/cert.pem", None)?;
        if reply.status != 200 {
            bail!(
                "cannot fetch certificate from {}: HTTP {}: {}",
                self.describe(),
                reply.status,
                reply.body.trim()
            );
        }
        Ok(reply.body)
    }

    /// Sends `body` (a SealedSecret as JSON) to `path` (`/v1/verify` or `/v1/rotate`).
    pub fn post(&self, path: &str, body: &str) -> Result<Reply> {
        self.request("POST", path, Some(body))
    }

    fn request(&self, method: &str, path: &str, body: Option<&str>) -> Result<Reply> {
        let api = kubeconfig::api_server()?;
        let agent = agent(&api)?;
        let auth = api.token.as_ref().map(|t| format!("Bearer {}", t.as_str()));
        let send = |method: &str, url: &str, body: Option<&str>| -> Result<Reply> {
            let result = match (method, body) {
                ("GET", _) => {
                    let mut req = agent.get(url);
                    if let Some(auth) = &auth {
                        req = req.header("Authorization", auth);
                    }
                    req.call()
                }
                (_, body) => {
                    let mut req = agent.post(url).header("Content-Type", "application/json");
                    if let Some(auth) = &auth {
                        req = req.header("Authorization", auth);
                    }
                    req.send(body.unwrap_or_default())
                }
            };
            let mut response = result.with_context(|| {
                format!(
                    "cannot reach the Kubernetes API server {} for the {}",
                    api.server,
                    self.describe()
                )
            })?;
            Ok(Reply {
                status: response.status().as_u16(),
                body: response
                    .body_mut()
                    .with_config()
                    .limit(16 << 20)
                    .read_to_string()
                    .unwrap_or_default(),
            })
        };
        let (ns, name) = (&self.controller_namespace, &self.controller_name);
        let service = send(
            "GET",
            &format!("{}/api/v1/namespaces/{ns}/services/{name}", api.server),
            None,
        )?;
        if service.status != 200 {
            bail!(
                "cannot find the {} (HTTP {}): check --controller-namespace and --controller-name, or seal offline with --cert",
                self.describe(),
                service.status
            );
        }
        let svc: serde_json::Value = serde_json::from_str(&service.body)
            .with_context(|| format!("the API server sent a malformed Service {ns}/{name}"))?;
        let port = svc["spec"]["ports"][0]["name"].as_str().unwrap_or_default();
        let url = format!(
            "{}/api/v1/namespaces/{ns}/services/http:{name}:{port}/proxy{path}",
            api.server
        );
        send(method, &url, body)
    }
}

fn agent(api: &kubeconfig::ApiServer) -> Result<ureq::Agent> {
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
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .root_certs(roots)
        .disable_verification(api.insecure)
        .build();
    Ok(ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .new_agent())
}
