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
    let configs: Vec<KubeConfig> = paths()
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|text| serde_saphyr::from_str(&text).ok())
        .collect();
    let current = CONTEXT_FLAG.get().cloned().or_else(|| {
        configs
            .iter()
            .map(|c| c.current_context.clone())
            .find(|c| !c.is_empty())
    });
    let namespace = current.and_then(|current| {
        configs
            .iter()
            .flat_map(|c| &c.contexts)
            .find(|c| c.name == current)
            .map(|c| c.context.namespace.clone())
    });
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
