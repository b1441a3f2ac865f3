//! `sealbox-controller`: runs the SealedSecret reconciler, the key ring and the HTTP API with
//! sealed-secrets' flags (spec `sealed-secrets.md` §3.4; each also `SEALED_SECRETS_<FLAG>`).
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use clap::Parser;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use sealbox_controller::sealed::api;
use sealbox_controller::sealed::keyring::{self, KeyRing, KeySettings};
use sealbox_controller::sealed::metrics::Metrics;
use sealbox_controller::sealed::reconciler::{self, Context};
use tokio::signal::unix::{SignalKind, signal};
use tracing::{info, warn};

#[derive(Parser)]
#[command(
    name = "sealbox-controller",
    version,
    about = "Unseals SealedSecrets in the cluster; serves kubeseal's API."
)]
struct Flags {
    /// Prefix of the key Secrets' generateName (and the legacy single key's name).
    #[arg(
        long,
        env = "SEALED_SECRETS_KEY_PREFIX",
        default_value = "sealed-secrets-key"
    )]
    key_prefix: String,
    /// RSA key size in bits.
    #[arg(long, env = "SEALED_SECRETS_KEY_SIZE", default_value_t = 4096)]
    key_size: usize,
    /// Validity of new certificates (Go duration).
    #[arg(long, env = "SEALED_SECRETS_KEY_TTL", default_value = "87600h", value_parser = go_duration)]
    key_ttl: Duration,
    /// Common name of new certificates (empty by default, as upstream).
    #[arg(long, env = "SEALED_SECRETS_MY_CN", default_value = "")]
    my_cn: String,
    /// Add a new key this often (Go duration); 0 disables renewal.
    #[arg(long, alias = "rotate-period", env = "SEALED_SECRETS_KEY_RENEW_PERIOD", default_value = "720h", value_parser = go_duration)]
    key_renew_period: Duration,
    /// Make a new key at startup if the newest is older than this (RFC 1123 with a numeric
    /// zone, as `date -R` prints).
    #[arg(long, env = "SEALED_SECRETS_KEY_CUTOFF_TIME", value_parser = rfc1123z)]
    key_cutoff_time: Option<SystemTime>,
    /// Address of the HTTP API (cert.pem, verify, rotate, healthz).
    #[arg(long, env = "SEALED_SECRETS_LISTEN_ADDR", default_value = ":8080")]
    listen_addr: String,
    /// Address of /metrics.
    #[arg(
        long,
        env = "SEALED_SECRETS_LISTEN_METRICS_ADDR",
        default_value = ":8081"
    )]
    listen_metrics_addr: String,
    /// Write .status on SealedSecrets.
    #[arg(long, env = "SEALED_SECRETS_UPDATE_STATUS", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    update_status: bool,
    /// Try first the key that last opened a SealedSecret, then the newest (sealbox); false
    /// tries keys in random order, as sealed-secrets does.
    #[arg(long, env = "SEALBOX_KEY_MEMORY", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    key_memory: bool,
}

/// Go's `time.ParseDuration` for the forms flags use: `720h`, `1h30m`, `90s`, `0`.
fn go_duration(text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("{text:?}: missing unit (h, m, s, ms)"))?;
        let value: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{text:?}: not a duration"))?;
        let unit_end = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .map_or(rest.len(), |i| digits + i);
        let seconds = match &rest[digits..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            unit => {
                return Err(format!(
                    "{text:?}: unknown unit {unit:?} (use h, m, s or ms)"
                ));
            }
        };
        total += value * seconds;
        rest = &rest[unit_end..];
    }
    Ok(Duration::from_secs_f64(total))
}

fn rfc1123z(text: &str) -> Result<SystemTime, String> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc2822)
        .map(SystemTime::from)
        .map_err(|e| format!("{text:?} is not an RFC 1123 time like `date -R` prints: {e}"))
}

fn socket(addr: &str) -> anyhow::Result<SocketAddr> {
    let full = if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_owned()
    };
    full.parse()
        .with_context(|| format!("{addr:?} is not an address like :8080 or 127.0.0.1:8080"))
}

/// The namespace the key Secrets live in: where the controller runs.
fn own_namespace() -> String {
    std::env::var("POD_NAMESPACE")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace").ok()
        })
        .map(|ns| ns.trim().to_owned())
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(|| "default".into())
}

async fn serve(addr: SocketAddr, router: axum::Router) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    axum::serve(listener, router).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let flags = Flags::parse();
    if !flags
        .key_prefix
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        || flags.key_prefix.len() > 245
    {
        anyhow::bail!(
            "--key-prefix {:?}: use at most 245 characters from a-z, 0-9 and -",
            flags.key_prefix
        );
    }
    let (api_addr, metrics_addr) = (
        socket(&flags.listen_addr)?,
        socket(&flags.listen_metrics_addr)?,
    );
    let client = Client::try_default()
        .await
        .context("cannot configure the Kubernetes client: set KUBECONFIG or run in a pod with a service account")?;
    let namespace = own_namespace();
    let keys_api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let ring = Arc::new(KeyRing::new(flags.key_memory));
    keyring::load(&keys_api, &flags.key_prefix, &ring)
        .await
        .with_context(|| format!("cannot read the key Secrets in namespace {namespace}"))?;
    let settings = KeySettings {
        prefix: flags.key_prefix.clone(),
        bits: flags.key_size,
        ttl: flags.key_ttl,
        common_name: flags.my_cn.clone(),
        renew_period: flags.key_renew_period,
        cutoff: flags.key_cutoff_time,
    };
    keyring::ensure_current(&keys_api, &settings, &ring).await?;
    info!(keys = ring.len(), namespace, "key ring ready");

    let metrics = Arc::new(Metrics::default());
    let (key_changes, key_changed) = futures::channel::mpsc::unbounded();
    tokio::spawn(keyring::renew(
        keys_api.clone(),
        settings.clone(),
        ring.clone(),
    ));
    tokio::spawn(keyring::watch(keys_api.clone(), ring.clone(), key_changes));
    tokio::spawn({
        let (api, ring, settings) = (keys_api.clone(), ring.clone(), settings.clone());
        async move {
            let mut usr1 = signal(SignalKind::user_defined1()).expect("SIGUSR1 handler");
            while usr1.recv().await.is_some() {
                info!("SIGUSR1: generating a new key");
                if let Err(e) = keyring::generate(&api, &settings, &ring).await {
                    warn!("key generation failed: {e}");
                }
            }
        }
    });
    // One RSA private operation per core at a time, for the reconciler and the API alike.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = Arc::new(tokio::sync::Semaphore::new(cores));
    let http = serve(
        api_addr,
        api::router(ring.clone(), metrics.clone(), pool.clone()),
    );
    let metrics_http = serve(metrics_addr, api::metrics_router(metrics.clone()));
    let ctx = Arc::new(Context::new(
        client,
        ring,
        metrics,
        flags.update_status,
        pool,
    ));
    tokio::spawn(reconciler::forget_deleted(ctx.clone()));
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = http => r?,
        r = metrics_http => r?,
        () = reconciler::run(ctx, key_changed) => {},
        _ = term.recv() => info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => info!("interrupted: shutting down"),
    }
    Ok(())
}
