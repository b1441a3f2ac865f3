//! Reaching a cluster as kubectl does, through kube's kubeconfig loading and client: client
//! certificates, exec credential plugins, auth-provider tokens, bearer tokens, `proxy-url` and
//! CA data all work, and `$KUBECONFIG` lists are merged as kubectl merges them.
//!
//! Which function when: [`ClusterArgs::context_namespace`] for the namespace an object without
//! one lands in (needs no cluster); [`ClusterArgs::connect`] for a [`Cluster`] to send requests
//! to. The CLI is synchronous, so a [`Cluster`] owns a small runtime and blocks on each request.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::Args;
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use sealbox_crypto::sealed::manifest::redact;

/// How long one request and its reply may take.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Which kubeconfig and context (kubectl's flags).
#[derive(Args, Clone, Default, Debug)]
pub struct ClusterArgs {
    /// Kubeconfig file. Default: the files in $KUBECONFIG (merged as kubectl merges them),
    /// else ~/.kube/config.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use instead of its current-context.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Whether a kubeconfig that cannot be read only warns when it would give a default
    /// namespace (kubeseal's behaviour for whole Secrets); set by the kubeseal drop-in.
    #[arg(skip)]
    pub tolerate_broken_kubeconfig: bool,
    /// The context's namespace once read: a stream of Secrets reads the kubeconfig once.
    #[arg(skip)]
    namespace: std::sync::OnceLock<Option<String>>,
}

/// The status and body of a reply.
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    /// The `message` of the API server's `Status` reply, else only the HTTP status: for
    /// replies to requests that carried a secret, whose raw body must not be printed.
    pub fn status_message(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|status| status["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("HTTP {}", self.status))
    }
}

/// A connection to the API server of the chosen context.
pub struct Cluster {
    runtime: tokio::runtime::Runtime,
    client: kube::Client,
    server: String,
}

impl ClusterArgs {
    /// The kubeconfig files, in kubectl's order: `--kubeconfig` (which must exist), else the
    /// `$KUBECONFIG` entries that exist (kubectl skips the others), else `~/.kube/config` if
    /// it exists. None at all is not an error: sealing needs no cluster.
    fn files(&self) -> Result<Vec<PathBuf>> {
        if let Some(path) = &self.kubeconfig {
            if !path.exists() {
                bail!(
                    "kubeconfig {} does not exist: check --kubeconfig",
                    path.display()
                );
            }
            return Ok(vec![path.clone()]);
        }
        let candidates: Vec<PathBuf> = match std::env::var_os("KUBECONFIG") {
            Some(list) => std::env::split_paths(&list)
                .filter(|p| !p.as_os_str().is_empty())
                .collect(),
            None => std::env::var_os("HOME")
                .map(|home| PathBuf::from(home).join(".kube/config"))
                .into_iter()
                .collect(),
        };
        Ok(candidates.into_iter().filter(|p| p.exists()).collect())
    }

    /// The files merged as kubectl merges them (the first to set a value wins), or `None`.
    fn kubeconfig(&self) -> Result<Option<Kubeconfig>> {
        let mut merged: Option<Kubeconfig> = None;
        for path in self.files()? {
            let next = read_kubeconfig(&path)?;
            merged = Some(match merged {
                None => next,
                Some(first) => first
                    .merge(next)
                    .with_context(|| format!("kubeconfig {}: cannot merge", path.display()))?,
            });
        }
        Ok(merged)
    }

    /// The chosen context's namespace, if it sets one.
    ///
    /// Read with a reader of its own, not kube's: kube's types require every context to name a
    /// cluster, while `kubectl config set-context NAME --namespace NS` writes contexts that
    /// name only a namespace, and sealing offline must accept those.
    pub fn context_namespace(&self) -> Result<Option<String>> {
        if let Some(found) = self.namespace.get() {
            return Ok(found.clone());
        }
        let found = self.read_context_namespace()?;
        Ok(self.namespace.get_or_init(|| found).clone())
    }

    fn read_context_namespace(&self) -> Result<Option<String>> {
        let mut current = self.context.clone();
        let mut contexts: Vec<NamedContext> = Vec::new();
        let files = self.files()?;
        for path in &files {
            let text = std::fs::read_to_string(path).with_context(|| invalid(path))?;
            if text.trim().is_empty() {
                continue;
            }
            // No source snippet and no quoted values in the message: the lines around an
            // error may hold a token or a key.
            let options = serde_saphyr::options! { with_snippet: false };
            let file: NamespaceView = serde_saphyr::from_str_with_options(&text, options)
                .map_err(|e| anyhow::anyhow!("{}", parser_message(&e.to_string())))
                .with_context(|| invalid(path))?;
            current = current.or(file.current_context.filter(|c| !c.is_empty()));
            for named in file.contexts.unwrap_or_default() {
                if !contexts.iter().any(|c| c.name == named.name) {
                    contexts.push(named);
                }
            }
        }
        let Some(current) = current else {
            return Ok(None);
        };
        match contexts.iter().find(|c| c.name == current) {
            Some(named) => Ok(named
                .context
                .as_ref()
                .and_then(|c| c.namespace.clone())
                .filter(|ns| !ns.is_empty())),
            None if self.context.is_some() => {
                let names: Vec<&str> = contexts.iter().map(|c| c.name.as_str()).collect();
                bail!(
                    "--context {current}: the kubeconfig has no such context (it has: {})",
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                )
            }
            None => Ok(None),
        }
    }

    /// A client for the chosen context's API server, authenticated as the kubeconfig says.
    pub fn connect(&self) -> Result<Cluster> {
        let Some(config) = self.kubeconfig()? else {
            bail!(
                "invalid configuration: no configuration has been provided: set KUBECONFIG or pass --kubeconfig, or work offline (seal with --cert, unseal and validate with --recovery-private-key)"
            );
        };
        if self.context.is_none() && config.current_context.is_none() {
            bail!(
                "the kubeconfig has no current-context: pass --context (it has: {})",
                context_names(&config)
            );
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the HTTP client's runtime")?;
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..KubeConfigOptions::default()
        };
        let names = context_names(&config);
        let kube_config = runtime
            .block_on(kube::Config::from_custom_kubeconfig(config, &options))
            .with_context(|| match &self.context {
                Some(context) => format!("kubeconfig context {context} (contexts: {names})"),
                None => "kubeconfig".to_owned(),
            })?;
        let server = kube_config.cluster_url.to_string();
        // The client spawns its connection pool's worker onto the current runtime.
        let _entered = runtime.enter();
        let client = kube::Client::try_from(kube_config)
            .with_context(|| format!("cannot set up a client for the API server {server}"))?;
        Ok(Cluster {
            runtime,
            client,
            server: server.trim_end_matches('/').to_owned(),
        })
    }
}

/// One kubeconfig file through kube (which also makes its relative paths absolute), with an
/// empty `current-context` read as none, as kubectl reads it.
fn read_kubeconfig(path: &Path) -> Result<Kubeconfig> {
    let mut config = Kubeconfig::read_from(path)
        .map_err(|e| match e {
            // kube's parser quotes the lines around the error, which may hold credentials.
            KubeconfigError::Parse(e) => {
                anyhow::anyhow!("{}", parser_message(&e.without_snippet().to_string()))
            }
            other => anyhow::Error::new(other),
        })
        .with_context(|| invalid(path))?;
    if config.current_context.as_deref() == Some("") {
        config.current_context = None;
    }
    Ok(config)
}

/// A YAML parser's message with every quoted value redacted, since it may be a credential;
/// a missing field's name comes from the kubeconfig's schema, not the file, so it stays.
fn parser_message(message: &str) -> String {
    if message.starts_with("missing field `") {
        message.to_owned()
    } else {
        redact(message)
    }
}

fn invalid(path: &Path) -> String {
    format!(
        "kubeconfig {} is not valid: fix it, or choose another with --kubeconfig",
        path.display()
    )
}

/// What [`ClusterArgs::context_namespace`] reads of a kubeconfig file.
#[derive(serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
struct NamespaceView {
    #[serde(default)]
    current_context: Option<String>,
    /// `null` in files kubectl writes before it has a context.
    #[serde(default)]
    contexts: Option<Vec<NamedContext>>,
}

#[derive(serde::Deserialize)]
struct NamedContext {
    name: String,
    #[serde(default)]
    context: Option<ContextNamespace>,
}

#[derive(serde::Deserialize)]
struct ContextNamespace {
    #[serde(default)]
    namespace: Option<String>,
}

fn context_names(config: &Kubeconfig) -> String {
    let names: Vec<&str> = config.contexts.iter().map(|c| c.name.as_str()).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

impl Cluster {
    pub fn get(&self, path: &str) -> Result<Reply> {
        self.send(http::Method::GET, path, None)
    }

    pub fn post(&self, path: &str, body: &str) -> Result<Reply> {
        self.send(http::Method::POST, path, Some(body))
    }

    /// A JSON merge patch (RFC 7386), as `kubectl annotate`/`patch --type merge` send it: only
    /// the fields in `body` change, with no read-modify-write race.
    pub fn merge_patch(&self, path: &str, body: &str) -> Result<Reply> {
        self.send(http::Method::PATCH, path, Some(body))
    }

    /// Any status is a reply, so callers say what a non-2xx means; only a request that gets no
    /// answer at all is an error.
    fn send(&self, method: http::Method, path: &str, body: Option<&str>) -> Result<Reply> {
        let mut request = http::Request::builder().method(method.clone()).uri(path);
        if body.is_some() {
            let content_type = if method == http::Method::PATCH {
                "application/merge-patch+json"
            } else {
                "application/json"
            };
            request = request.header(http::header::CONTENT_TYPE, content_type);
        }
        let request = request
            .body(kube::client::Body::from(
                body.unwrap_or_default().as_bytes().to_vec(),
            ))
            .with_context(|| format!("{method} {path}: not a valid request"))?;
        let unreachable = || {
            format!(
                "{method} {path}: cannot reach the Kubernetes API server {}",
                self.server
            )
        };
        let exchange = async {
            let response = self.client.send(request).await.with_context(unreachable)?;
            let status = response.status().as_u16();
            let bytes = response
                .into_body()
                .collect_bytes()
                .await
                .with_context(|| format!("{method} {path}: the reply was cut off"))?;
            Ok(Reply {
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            })
        };
        self.runtime
            .block_on(async { tokio::time::timeout(TIMEOUT, exchange).await })
            .map_err(|_| anyhow::anyhow!("no answer within {} s", TIMEOUT.as_secs()))
            .with_context(unreachable)?
    }
}
