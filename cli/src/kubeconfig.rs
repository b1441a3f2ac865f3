//! What the CLI needs from a kubeconfig: the current context's namespace, used when neither the
//! input nor `--namespace` names one (kubectl's rule, defaulting to "default"), and for online
//! commands the API server and the bearer token to reach it with.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct KubeConfig {
    #[serde(default)]
    current_context: String,
    #[serde(default)]
    contexts: Vec<NamedContext>,
    #[serde(default)]
    clusters: Vec<NamedCluster>,
    #[serde(default)]
    users: Vec<NamedUser>,
}

#[derive(Deserialize)]
struct NamedCluster {
    name: String,
    #[serde(default)]
    cluster: ClusterEntry,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct ClusterEntry {
    #[serde(default)]
    server: String,
    #[serde(default)]
    certificate_authority: Option<PathBuf>,
    #[serde(default)]
    certificate_authority_data: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
}

#[derive(Deserialize)]
struct NamedUser {
    name: String,
    #[serde(default)]
    user: UserEntry,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct UserEntry {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    token_file: Option<PathBuf>,
    #[serde(default)]
    client_certificate_data: Option<String>,
    #[serde(default)]
    client_certificate: Option<PathBuf>,
    #[serde(default)]
    exec: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    auth_provider: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    username: Option<String>,
}

/// How to reach the API server of the current context.
pub struct ApiServer {
    pub server: String,
    /// PEM of the cluster's CA, when the kubeconfig gives one.
    pub ca_pem: Option<String>,
    pub insecure: bool,
    pub token: Option<zeroize::Zeroizing<String>>,
}

#[derive(Deserialize)]
struct NamedContext {
    name: String,
    #[serde(default)]
    context: Context,
}

#[derive(Deserialize, Default)]
struct Context {
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    cluster: String,
    #[serde(default)]
    user: String,
}

static PATH_FLAG: OnceLock<PathBuf> = OnceLock::new();
static CONTEXT_FLAG: OnceLock<String> = OnceLock::new();

/// `--kubeconfig`: replaces `$KUBECONFIG`.
pub fn set_path(path: PathBuf) {
    let _ = PATH_FLAG.set(path);
}

/// `--context`: replaces the kubeconfig's current-context.
pub fn set_context(context: String) {
    let _ = CONTEXT_FLAG.set(context);
}

/// The current context's namespace, or "default". Files are merged as kubectl does (the first
/// file to set `current-context` or to define a context wins). An unreadable or malformed
/// kubeconfig is ignored, as kubeseal does since v0.32 (#1798): sealing needs no cluster.
pub fn context_namespace() -> String {
    let configs = configs();
    let namespace = current_context(&configs).map(|c| c.namespace.clone());
    match namespace.filter(|ns| !ns.is_empty()) {
        Some(ns) => ns,
        None => {
            eprintln!(
                "note: using namespace \"default\": none given with --namespace, in the input, or in the kubeconfig context"
            );
            "default".to_owned()
        }
    }
}

/// The API server of the current context, for online commands. Bearer tokens (`token`,
/// `token-file`) are supported; client certificates and exec plugins are not yet.
pub fn api_server() -> anyhow::Result<ApiServer> {
    use anyhow::{Context as _, bail};
    let configs = configs();
    let Some(context) = current_context(&configs) else {
        bail!(
            "no current kubeconfig context: set KUBECONFIG or pass --kubeconfig/--context, or seal offline with --cert"
        );
    };
    let cluster = configs
        .iter()
        .flat_map(|c| &c.clusters)
        .find(|c| c.name == context.cluster)
        .map(|c| &c.cluster)
        .filter(|c| !c.server.is_empty())
        .with_context(|| format!("kubeconfig: cluster {:?} has no server", context.cluster))?;
    let user = configs
        .iter()
        .flat_map(|c| &c.users)
        .find(|u| u.name == context.user)
        .map(|u| &u.user);
    let unsupported = user.is_some_and(|u| {
        (u.exec.is_some()
            || u.auth_provider.is_some()
            || u.username.is_some()
            || u.client_certificate.is_some()
            || u.client_certificate_data.is_some())
            && u.token.is_none()
            && u.token_file.is_none()
    });
    if unsupported {
        bail!(
            "kubeconfig user {:?} authenticates with a client certificate, an exec or auth-provider plugin, or a password, which sealbox does not support yet: fetch the certificate once with a token-based context, or seal offline with --cert",
            context.user
        );
    }
    let token = match user {
        Some(UserEntry { token: Some(t), .. }) => Some(zeroize::Zeroizing::new(t.clone())),
        Some(UserEntry {
            token_file: Some(f),
            ..
        }) => Some(zeroize::Zeroizing::new(
            std::fs::read_to_string(f)
                .with_context(|| format!("cannot read token-file {}", f.display()))?
                .trim()
                .to_owned(),
        )),
        _ => None,
    };
    let ca_pem = match (
        &cluster.certificate_authority_data,
        &cluster.certificate_authority,
    ) {
        (Some(data), _) => Some(
            String::from_utf8(sealbox_crypto::sealed::decode_base64(data)?)
                .context("kubeconfig: certificate-authority-data is not PEM")?,
        ),
        (None, Some(path)) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read certificate-authority {}", path.display()))?,
        ),
        (None, None) => None,
    };
    Ok(ApiServer {
        server: cluster.server.trim_end_matches('/').to_owned(),
        ca_pem,
        insecure: cluster.insecure_skip_tls_verify,
        token,
    })
}

fn configs() -> Vec<KubeConfig> {
    paths()
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|text| serde_saphyr::from_str(&text).ok())
        .collect()
}

/// The current context (`--context`, else the first file's `current-context`).
fn current_context(configs: &[KubeConfig]) -> Option<&Context> {
    let current = CONTEXT_FLAG.get().cloned().or_else(|| {
        configs
            .iter()
            .map(|c| c.current_context.clone())
            .find(|c| !c.is_empty())
    })?;
    configs
        .iter()
        .flat_map(|c| &c.contexts)
        .find(|c| c.name == current)
        .map(|c| &c.context)
}

/// `--kubeconfig`, else every `$KUBECONFIG` entry, else `~/.kube/config`.
fn paths() -> Vec<PathBuf> {
    if let Some(flag) = PATH_FLAG.get() {
        return vec![flag.clone()];
    }
    match std::env::var_os("KUBECONFIG") {
        Some(list) => std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
        None => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".kube/config"))
            .into_iter()
            .collect(),
    }
}
