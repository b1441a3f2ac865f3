//! Talking to a running controller (sealbox-controller or sealed-secrets) the way kubeseal does
//! (spec `sealed-secrets.md` §3.5, §4.4, §4.6): through the API server's service proxy,
//! `/api/v1/namespaces/<ns>/services/http:<name>:<port>/proxy/<path>`, with the port named by
//! the Service's first port.

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::kubeapi::{KubeApi, Reply};

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
        let api = KubeApi::connect()?;
        let (ns, name) = (&self.controller_namespace, &self.controller_name);
        let service = api.get(&format!("/api/v1/namespaces/{ns}/services/{name}"))?;
        match service.status {
            200 => {}
            401 | 403 => bail!(
                "the Kubernetes API server refused to show the {} (HTTP {}: {}): check the kubeconfig's credentials and that your user may get services and services/proxy there, or seal offline with --cert",
                self.describe(),
                service.status,
                service.body.trim()
            ),
            other => bail!(
                "cannot find the {} (HTTP {other}): check --controller-namespace and --controller-name, or seal offline with --cert",
                self.describe()
            ),
        }
        let svc: serde_json::Value = serde_json::from_str(&service.body)
            .with_context(|| format!("the API server sent a malformed Service {ns}/{name}"))?;
        let port = svc["spec"]["ports"][0]["name"].as_str().unwrap_or_default();
        let proxied = format!("/api/v1/namespaces/{ns}/services/http:{name}:{port}/proxy{path}");
        match (method, body) {
            ("GET", _) => api.get(&proxied),
            (_, body) => api.post(&proxied, body.unwrap_or_default()),
        }
    }
}
