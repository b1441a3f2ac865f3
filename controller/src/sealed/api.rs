//! The HTTP API kubeseal calls (spec `sealed-secrets.md` §3.5), reached through the API
//! server's service proxy: `GET /v1/cert.pem`, `POST /v1/verify`, `POST /v1/rotate`.
//! [`routes`] is mounted by `crate::http` beside `/healthz` on `--listen-addr`. `/v1/verify`
//! is rate limited per caller (`crate::ratelimit`).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sealbox_crypto::sealed::{
    self as crypto, ObjectMeta, Scope, SealedSecret, manifest::parse_documents,
};

use tokio::sync::Semaphore;

use super::keyring::KeyRing;
use super::metrics::{HttpLabels, Metrics};
use crate::ratelimit::{Gcra, Quota};

#[derive(Clone)]
struct Api {
    ring: Arc<KeyRing>,
    metrics: Metrics,
    /// Shared with the reconciler: requests cannot take more than their share of RSA work.
    pool: Arc<Semaphore>,
    /// `--rate-limit` / `--rate-limit-burst`, on `/v1/verify` only, as upstream.
    verify_limit: Arc<Gcra>,
}

/// kubeseal's routes, counted in `http_requests_total` by route.
pub fn routes(
    ring: Arc<KeyRing>,
    metrics: Metrics,
    pool: Arc<Semaphore>,
    verify_limit: Gcra,
) -> Router {
    let state = Api {
        ring,
        metrics,
        pool,
        verify_limit: Arc::new(verify_limit),
    };
    Router::new()
        .route("/v1/cert.pem", get(cert))
        .route("/v1/verify", post(verify))
        .route("/v1/rotate", post(rotate))
        .route_layer(middleware::from_fn_with_state(state.clone(), count))
        .with_state(state)
}

async fn count(State(api): State<Api>, request: Request, next: Next) -> Response {
    // Labelled by route, never by the raw path: unknown paths must not mint new series.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let method = request.method().to_string();
    let response = next.run(request).await;
    if let Some(path) = route.filter(|p| p.starts_with("/v1/")) {
        api.metrics
            .http_requests
            .get_or_create(&HttpLabels {
                path,
                code: response.status().as_u16().to_string(),
                method,
            })
            .inc();
    }
    response
}

async fn cert(State(api): State<Api>) -> Response {
    match api.ring.newest() {
        Some(key) => (
            [(header::CONTENT_TYPE, "application/x-pem-file")],
            key.cert_pem.clone(),
        )
            .into_response(),
        None => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot get certificate\n",
        )
            .into_response(),
    }
}

/// One SealedSecret from a JSON or YAML body; several documents are refused as upstream does.
fn one_sealed_secret(body: &[u8]) -> Result<SealedSecret, Box<Response>> {
    let bad = |why: String| Box::new((StatusCode::INTERNAL_SERVER_ERROR, why).into_response());
    let text = std::str::from_utf8(body).map_err(|_| bad("the body is not UTF-8 text\n".into()))?;
    let mut docs: Vec<SealedSecret> = parse_documents(text).map_err(|e| bad(format!("{e}\n")))?;
    if docs.len() != 1 {
        return Err(bad(format!(
            "expected one SealedSecret, found {} documents\n",
            docs.len()
        )));
    }
    Ok(docs.remove(0))
}

/// Decrypts on a blocking thread: RSA private operations would stall the async runtime.
async fn open(api: &Api, sealed: SealedSecret) -> Result<crypto::Secret, crypto::UnsealError> {
    let keys = api.ring.keys_for("");
    let permit = api
        .pool
        .clone()
        .acquire_owned()
        .await
        .expect("the pool is never closed");
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        crypto::unseal_with(&sealed, &keys, super::options::unseal_options()).map(|u| u.secret)
    })
    .await
    .expect("unsealing does not panic")
}

/// throttled's `HTTPRateLimiter` with `VaryBy{Path, Headers: X-Forwarded-For}`: 429
/// "limit exceeded" with `Retry-After` when limited, the `X-RateLimit-*` headers always.
fn rate_limited(
    api: &Api,
    path: &str,
    headers: &HeaderMap,
) -> Result<[(String, String); 3], Box<Response>> {
    let forwarded = headers
        .get("x-forwarded-for")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let key = format!("{path}\n{forwarded}");
    let seconds = |d: std::time::Duration| d.as_secs() + u64::from(d.subsec_nanos() > 0);
    let headers = |q: &Quota| {
        [
            ("X-RateLimit-Limit".to_owned(), q.limit.to_string()),
            ("X-RateLimit-Remaining".to_owned(), q.remaining.to_string()),
            (
                "X-RateLimit-Reset".to_owned(),
                seconds(q.reset_after).to_string(),
            ),
        ]
    };
    match api.verify_limit.check(&key, Instant::now()) {
        Ok(quota) => Ok(headers(&quota)),
        Err(quota) => Err(Box::new(
            (
                StatusCode::TOO_MANY_REQUESTS,
                headers(&quota),
                [(header::RETRY_AFTER, seconds(quota.retry_after).to_string())],
                "limit exceeded\n",
            )
                .into_response(),
        )),
    }
}

async fn verify(State(api): State<Api>, headers: HeaderMap, body: Bytes) -> Response {
    let quota = match rate_limited(&api, "/v1/verify", &headers) {
        Ok(quota) => quota,
        Err(limited) => return *limited,
    };
    (quota, verify_allowed(&api, &body).await).into_response()
}

async fn verify_allowed(api: &Api, body: &[u8]) -> Response {
    let sealed = match one_sealed_secret(body) {
        Ok(s) => s,
        Err(response) => return *response,
    };
    match open(api, sealed).await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => (StatusCode::CONFLICT, format!("{e}\n")).into_response(),
    }
}

async fn rotate(State(api): State<Api>, body: Bytes) -> Response {
    let mut sealed = match one_sealed_secret(&body) {
        Ok(s) => s,
        Err(response) => return *response,
    };
    let Some(newest) = api.ring.newest() else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot get certificate\n",
        )
            .into_response();
    };
    // The object's own name, namespace and scope are what the items were sealed for; the
    // template must say the same, or re-sealing would move them (upstream #1885).
    let own: ObjectMeta = sealed.metadata.clone();
    let template = &mut sealed.spec.template.metadata;
    template.name = own.name.clone();
    template.namespace = own.namespace.clone();
    let mut secret = match open(&api, sealed).await {
        Ok(opened) => opened,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    };
    Scope::from_annotations(&own.annotations).apply_to(&mut secret.metadata.annotations);
    let key = newest.private.public_key().clone();
    let resealed = tokio::task::spawn_blocking(move || crypto::seal_secret(&secret, &key))
        .await
        .expect("sealing does not panic");
    match resealed {
        Ok(mut out) => {
            out.metadata = ObjectMeta {
                annotations: own.annotations,
                labels: own.labels,
                ..out.metadata
            };
            match serde_json::to_string(&out) {
                Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
                Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
            }
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}
