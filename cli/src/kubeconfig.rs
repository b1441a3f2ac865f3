//! The one thing sealing needs from a kubeconfig: the current context's namespace, used when
//! neither the input nor `--namespace` names one (kubectl's rule, defaulting to "default").

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
}

/// The current context's namespace, or "default". An unreadable or malformed kubeconfig is
/// ignored here, as kubeseal does since v0.32 (#1798): sealing needs no cluster.
pub fn context_namespace() -> String {
    path()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|text| serde_saphyr::from_str::<KubeConfig>(&text).ok())
        .and_then(|cfg| {
            cfg.contexts
                .into_iter()
                .find(|c| c.name == cfg.current_context)
                .map(|c| c.context.namespace)
        })
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(|| "default".to_owned())
}

static PATH_FLAG: OnceLock<PathBuf> = OnceLock::new();

/// `--kubeconfig`: takes precedence over `$KUBECONFIG`.
pub fn set_path(path: PathBuf) {
    let _ = PATH_FLAG.set(path);
}

/// `--kubeconfig`, else `$KUBECONFIG` (first entry), else `~/.kube/config`.
fn path() -> Option<PathBuf> {
    if let Some(flag) = PATH_FLAG.get() {
        return Some(flag.clone());
    }
    match std::env::var_os("KUBECONFIG") {
        Some(list) => std::env::split_paths(&list).find(|p| !p.as_os_str().is_empty()),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube/config")),
    }
}
