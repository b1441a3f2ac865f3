//! Talking to a running controller (sealbox-controller or sealed-secrets) the way kubeseal does
//! (spec `sealed-secrets.md` §3.5, §4.4, §4.6): through the API server's service proxy,
//! `/api/v1/namespaces/<ns>/services/http:<name>:<port>/proxy/<path>`, with the port named by
//! the Service's first port. [`ControllerArgs::connect`] finds the controller once per command;
//! then [`Controller::fetch_cert`] gives the certificate to seal with, [`Controller::verify`]
//! asks `/v1/verify` and [`Controller::rotate`] asks `/v1/rotate`.

use anyhow::{Context, Result, bail};
use clap::Args;
use sealbox_crypto::sealed::SealedSecret;
use sealbox_crypto::sealed::manifest::object_ref;

use crate::cluster::{Cluster, ClusterArgs, Reply};

/// Where the controller runs (kubeseal's flags and environment), and the cluster it runs in.
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
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// A controller found through its Service.
pub struct Controller {
    cluster: Cluster,
    /// `/api/v1/namespaces/<ns>/services/http:<name>:<port>/proxy`
    proxy: String,
    describe: String,
}

impl ControllerArgs {
    /// `controller NAMESPACE/NAME`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "controller {}/{}",
            self.controller_namespace, self.controller_name
        )
    }

    /// Connects to the cluster and finds the controller's Service.
    pub fn connect(&self) -> Result<Controller> {
        let cluster = self.cluster.connect()?;
        let port = self.service_port(&cluster)?;
        let (ns, name) = (&self.controller_namespace, &self.controller_name);
        Ok(Controller {
            cluster,
            proxy: format!("/api/v1/namespaces/{ns}/services/http:{name}:{port}/proxy"),
            describe: self.describe(),
        })
    }

    /// The name of the controller Service's first port, as kubeseal picks it.
    fn service_port(&self, cluster: &Cluster) -> Result<String> {
        let (ns, name) = (&self.controller_namespace, &self.controller_name);
        // kubeseal's words first (spec `sealed-secrets.md` §4.4), so scripts and searches that
        // know them still match; then what to do.
        let service = cluster
            .get(&format!("/api/v1/namespaces/{ns}/services/{name}"))
            .context("cannot get sealed secret service")?;
        match service.status {
            200 => {}
            401 | 403 => bail!(
                "cannot get sealed secret service: {}\ncheck the kubeconfig's credentials and that your user may get services and services/proxy in namespace {ns}, or seal offline with --cert",
                status_message(&service)
            ),
            _ => bail!(
                "cannot get sealed secret service: {}.\nPlease, use the flag --controller-name and --controller-namespace to set up the name and namespace of the sealed secrets controller (or seal offline with --cert)",
                status_message(&service)
            ),
        }
        let svc: serde_json::Value = serde_json::from_str(&service.body)
            .with_context(|| format!("the API server sent a malformed Service {ns}/{name}"))?;
        Ok(svc["spec"]["ports"][0]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }
}

/// The message of the API server's `Status` reply, else the HTTP status and body.
fn status_message(reply: &Reply) -> String {
    serde_json::from_str::<serde_json::Value>(&reply.body)
        .ok()
        .and_then(|status| status["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("HTTP {}: {}", reply.status, reply.body.trim()))
}

impl Controller {
    /// The newest certificate the controller seals to (`GET /v1/cert.pem`).
    pub fn fetch_cert(&self) -> Result<String> {
        let reply = self
            .request("/v1/cert.pem", None)
            .context("cannot fetch certificate")?;
        if reply.status != 200 {
            bail!(
                "cannot fetch certificate: {} (from the {})",
                status_message(&reply),
                self.describe
            );
        }
        Ok(reply.body)
    }

    /// Asks the controller whether every item of `sealed` opens.
    pub fn verify(&self, sealed: &SealedSecret) -> Result<()> {
        let name = object_ref(&sealed.metadata);
        let reply = self.request("/v1/verify", Some(&serde_json::to_string(sealed)?))?;
        match reply.status {
            200 => Ok(()),
            409 => bail!(
                "unable to decrypt sealed secret: {name}: {}",
                reply.body.trim()
            ),
            other => bail!(
                "cannot validate sealed secret {name}: HTTP {other}: {}",
                reply.body.trim()
            ),
        }
    }

    /// The same SealedSecret re-encrypted by the controller with its newest key.
    pub fn rotate(&self, sealed: &SealedSecret) -> Result<SealedSecret> {
        let name = object_ref(&sealed.metadata);
        let reply = self.request("/v1/rotate", Some(&serde_json::to_string(sealed)?))?;
        if reply.status != 200 {
            bail!(
                "cannot re-encrypt sealed secret {name}: HTTP {}: {}",
                reply.status,
                reply.body.trim()
            );
        }
        serde_json::from_str(&reply.body).with_context(|| {
            format!("the controller sent back a malformed SealedSecret for {name}")
        })
    }

    /// GET `path` of the controller, or POST `body` (a SealedSecret as JSON) to it.
    fn request(&self, path: &str, body: Option<&str>) -> Result<Reply> {
        let proxied = format!("{}{path}", self.proxy);
        match body {
            None => self.cluster.get(&proxied),
            Some(body) => self.cluster.post(&proxied, body),
        }
    }
}
