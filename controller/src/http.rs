//! The controller's two HTTP servers, built and served here for every reconciler:
//! `--listen-addr` (`/healthz` and the routes each reconciler adds, e.g. kubeseal's `/v1/…`)
//! and `--listen-metrics-addr` (`/metrics`, the one registry). [`spawn`] runs both as
//! supervised tasks that drain on shutdown.

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use axum::http::header;
use axum::routing::{any, get};

use crate::metrics::Exposition;
use crate::supervisor::{Shutdown, Supervisor};

/// Where to listen (sealed-secrets' flag and environment names, spec `sealed-secrets.md`
/// §3.4). Addresses are Go's: `:8080` is every interface.
#[derive(clap::Args, Clone, Debug)]
#[group(id = "http")]
pub struct Args {
    /// Address of the HTTP API (cert.pem, verify, rotate, healthz).
    #[arg(long, env = "SEALED_SECRETS_LISTEN_ADDR", default_value = ":8080")]
    pub listen_addr: String,
    /// Address of /metrics.
    #[arg(
        long,
        env = "SEALED_SECRETS_LISTEN_METRICS_ADDR",
        default_value = ":8081"
    )]
    pub listen_metrics_addr: String,
}

/// The `--listen-addr` router: `/healthz` plus every reconciler's `routes`.
pub fn api_router(routes: Router) -> Router {
    Router::new()
        .route(
            "/healthz",
            any(|| async {
                (
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    "ok\n",
                )
            }),
        )
        .merge(routes)
}

/// The `--listen-metrics-addr` router: `/metrics`.
pub fn metrics_router(metrics: Exposition) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.encode(),
                )
            }
        }),
    )
}

/// Serves `routes` (with `/healthz`) on `api` and `/metrics` on `metrics`, each a supervised
/// task: a port that cannot be bound ends the task, and so the process.
pub fn spawn(
    tasks: &mut Supervisor,
    api: SocketAddr,
    routes: Router,
    metrics: SocketAddr,
    exposition: Exposition,
) {
    let router = api_router(routes);
    tasks.spawn_draining("API server", move |shutdown| serve(api, router, shutdown));
    let router = metrics_router(exposition);
    tasks.spawn_draining("metrics server", move |shutdown| {
        serve(metrics, router, shutdown)
    });
}

/// Serves until `shutdown`, then lets requests in flight finish.
pub async fn serve(addr: SocketAddr, router: Router, shutdown: Shutdown) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.wait())
        .await
        .with_context(|| format!("serving on {addr}"))
}
