//! The few Vault HTTP calls sealbox makes, over the hyper + rustls (aws-lc-rs) stack kube
//! already brings, and the reading of Vault's replies the way the Vault Go client reads them
//! (`api.ParseSecret`, `Logical.ParseRawResponseAndCloseBody`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{ConfigBuilderExt, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use serde_json::Value;
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use super::super::meter::{Meter, Outcome, VAULT};
use super::path;
use crate::external::property;

/// The Vault Go client's default timeout (`api.DefaultConfig`).
const TIMEOUT: Duration = Duration::from_secs(60);
/// A reply larger than this is refused rather than buffered.
const MAX_REPLY: usize = 32 << 20;

/// TLS material read from the store's references.
#[derive(Default)]
pub(super) struct Tls {
    /// PEM CA certificates; when set they replace the system roots (as in ESO).
    pub(super) ca_pem: Option<Vec<u8>>,
    /// A PEM client certificate chain and its PEM private key (`spec.provider.vault.tls`).
    pub(super) client: Option<(Vec<u8>, Zeroizing<Vec<u8>>)>,
}

/// One request.
pub(super) struct Call<'a> {
    /// The call's name in `externalsecret_provider_api_calls_count` (ESO's: `Login`,
    /// `ReadSecretData`, `ListSecrets`, ...).
    pub(super) name: &'static str,
    pub(super) method: Method,
    /// The logical path (`secret/data/app`), cleaned and escaped by [`path::request_path`].
    pub(super) path: &'a str,
    pub(super) query: &'a [(&'a str, &'a str)],
    pub(super) body: Option<Zeroizing<Vec<u8>>>,
    pub(super) token: Option<&'a str>,
    /// `X-Vault-Namespace`, when not the root namespace.
    pub(super) namespace: Option<&'a str>,
}

impl<'a> Call<'a> {
    /// A `GET` with no body.
    pub(super) fn get(
        name: &'static str,
        path: &'a str,
        token: &'a str,
        namespace: Option<&'a str>,
    ) -> Call<'a> {
        Call {
            name,
            method: Method::GET,
            path,
            query: &[],
            body: None,
            token: Some(token),
            namespace,
        }
    }
}

/// A reply: its status and body.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) body: Bytes,
    /// `Retry-After` in seconds, when the server sent one.
    pub(super) retry_after: Option<Duration>,
}

/// How a call ended, for the meter: a missing secret (404) is an answer, 429 is throttling,
/// other 4xx a refused request, 5xx or no reply a failing server.
fn outcome(reply: &Result<Reply, String>) -> Outcome {
    match reply {
        Err(_) => Outcome::Failed,
        Ok(r) if r.status == 429 => Outcome::Throttled(r.retry_after),
        Ok(r) if r.status < 400 || r.status == 404 => Outcome::Success,
        Ok(r) if r.status < 500 => Outcome::Refused,
        Ok(_) => Outcome::Failed,
    }
}

/// An HTTP client for one Vault server.
pub(super) struct Http {
    client: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// `scheme://authority` of `server`.
    origin: String,
    /// The path of `server` (a Vault behind a path prefix), `""` for none.
    base_path: String,
    /// `X-Vault-Request` and the store's `headers`.
    headers: HeaderMap,
    meter: Meter,
}

impl Http {
    /// A client for `server`, sending `headers` on every request.
    pub(super) fn new(
        server: &str,
        headers: &BTreeMap<String, String>,
        tls: Tls,
        meter: Meter,
    ) -> Result<Http, String> {
        let uri: Uri = server
            .parse()
            .map_err(|e| format!("server {server:?} is not a URL: {e}"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(format!(
                    "server {server:?} must start with https:// or http://"
                ));
            }
        };
        let Some(authority) = uri.authority() else {
            return Err(format!("server {server:?} names no host"));
        };
        let origin = format!("{}://{authority}", uri.scheme_str().unwrap_or("https"));
        let base_path = uri.path().trim_end_matches('/').to_owned();

        let mut map = HeaderMap::new();
        // The Vault Go client marks every request so Vault's CSRF-style checks accept it.
        map.insert("x-vault-request", HeaderValue::from_static("true"));
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("headers: {name:?} is not a valid HTTP header name"))?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                format!("headers: the value of {name} is not a valid HTTP header value")
            })?;
            map.append(name, value);
        }

        let config = tls_config(https, tls)?;
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .build();
        let client = HyperClient::builder(TokioExecutor::new()).build(connector);
        Ok(Http {
            client,
            origin,
            base_path,
            headers: map,
            meter,
        })
    }

    /// Sends `call`. The error names the request and the cause, never the token or body.
    /// A missing secret (404) is an answer, not a failed call.
    pub(super) async fn send(&self, call: Call<'_>) -> Result<Reply, String> {
        let name = call.name;
        self.meter
            .call(VAULT, name, self.exchange(call), outcome)
            .await
    }

    async fn exchange(&self, call: Call<'_>) -> Result<Reply, String> {
        let what = format!("{} {}", call.method, call.path);
        let mut uri = format!(
            "{}{}",
            self.origin,
            path::request_path(&self.base_path, call.path)
        );
        for (i, (key, value)) in call.query.iter().enumerate() {
            uri.push(if i == 0 { '?' } else { '&' });
            uri.push_str(key);
            uri.push('=');
            uri.push_str(&path::escape_query(value));
        }
        let mut request = Request::builder()
            .method(call.method)
            .uri(&uri)
            .body(Full::new(match call.body {
                Some(body) => Bytes::from_owner(body),
                None => Bytes::new(),
            }))
            .map_err(|e| format!("{what}: cannot build the request: {e}"))?;
        let headers = request.headers_mut();
        headers.extend(self.headers.clone());
        if let Some(namespace) = call.namespace {
            let value = HeaderValue::from_str(namespace)
                .map_err(|_| format!("namespace {namespace:?} is not a valid HTTP header value"))?;
            headers.insert("x-vault-namespace", value);
        }
        if let Some(token) = call.token {
            let mut value = HeaderValue::from_str(token).map_err(|_| {
                "the Vault token holds characters not allowed in an HTTP header".to_owned()
            })?;
            value.set_sensitive(true);
            headers.insert("x-vault-token", value);
        }
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| error_chain(&e))?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(::http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = Limited::new(response.into_body(), MAX_REPLY)
                .collect()
                .await
                .map_err(|e| format!("reading the reply: {e}"))?
                .to_bytes();
            Ok::<_, String>(Reply {
                status,
                body,
                retry_after,
            })
        };
        match tokio::time::timeout(TIMEOUT, exchange).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => Err(format!("{what} to {}: {e}", self.origin)),
            Err(_) => Err(format!(
                "{what} to {}: no reply within {} s",
                self.origin,
                TIMEOUT.as_secs()
            )),
        }
    }
}

/// An error and its sources, `: `-separated (hyper's own text is terse).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// rustls with aws-lc-rs; the CA bundle replaces the system roots when given (ESO sets
/// `RootCAs` to that pool only).
fn tls_config(https: bool, tls: Tls) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let builder = match tls.ca_pem {
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            let certs = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok);
            let (added, _ignored) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err("the CA bundle holds no PEM certificate".into());
            }
            builder.with_root_certificates(roots)
        }
        None if https => builder.with_native_roots().map_err(|e| {
            format!("cannot load the system CA certificates ({e}): set caBundle or caProvider")
        })?,
        None => builder.with_root_certificates(RootCertStore::empty()),
    };
    match tls.client {
        None => Ok(builder.with_no_client_auth()),
        Some((cert_pem, key_pem)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
                .collect::<Result<_, _>>()
                .map_err(|e| format!("tls.certSecretRef: not a PEM certificate chain: {e}"))?;
            if chain.is_empty() {
                return Err("tls.certSecretRef: no PEM certificate found".into());
            }
            // The key's parse error is not shown: it could quote key material.
            let key = PrivateKeyDer::from_pem_slice(&key_pem)
                .map_err(|_| "tls.keySecretRef: not a PEM private key".to_owned())?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("tls: the client certificate does not fit its key: {e}"))
        }
    }
}

/// A JSON object's members, each as its JSON text, as Go decodes an object into a map (the
/// last duplicate key wins). The text keeps numbers as Vault wrote them: the Vault Go client
/// decodes replies with `UseNumber`.
pub(super) type Members = BTreeMap<String, Box<RawValue>>;

/// The members of `raw`, `None` when it is not a JSON object.
pub(super) fn members(raw: &RawValue) -> Option<Members> {
    // Checked first: a type error's text would quote the value.
    if !raw.get().starts_with('{') {
        return None;
    }
    serde_json::from_str(raw.get()).ok()
}

/// `raw` as a `serde_json::Value`, for the reply's fields whose number spelling does not
/// matter (lists, metadata, errors).
pub(super) fn value(raw: &RawValue) -> Value {
    serde_json::from_str(raw.get()).unwrap_or(Value::Null)
}

/// What the Vault Go client makes of a reply to a read (`ReadWithDataWithContext`,
/// `ListWithContext`): `Ok(None)` is "no secret" (a 404 without warnings or data, an empty
/// body, or only `errors`); a status ≥ 400 is an error carrying Vault's `errors`.
pub(super) fn read_reply(reply: &Reply) -> Result<Option<Members>, String> {
    if reply.status == 404 {
        if reply.body.is_empty() {
            return Ok(None);
        }
        let body = parse_body(reply)?;
        let field = |name: &str| body.get(name).map(|raw| value(raw));
        let has_warnings = matches!(field("warnings"), Some(Value::Array(w)) if !w.is_empty());
        let has_data = matches!(field("data"), Some(Value::Object(d)) if !d.is_empty());
        return Ok((has_warnings || has_data).then_some(body));
    }
    if !(200..400).contains(&reply.status) {
        return Err(status_error(reply));
    }
    if reply.body.is_empty() {
        return Ok(None);
    }
    let body = parse_body(reply)?;
    if body.len() == 1 && body.contains_key("errors") {
        return Ok(None);
    }
    Ok(Some(body))
}

fn parse_body(reply: &Reply) -> Result<Members, String> {
    let raw: Box<RawValue> = serde_json::from_slice(&reply.body).map_err(|e| {
        format!(
            "code {}: the reply is not JSON ({e}): is server a Vault address?",
            reply.status
        )
    })?;
    members(&raw).ok_or_else(|| {
        format!(
            "code {}: the reply is not a JSON object: is server a Vault address?",
            reply.status
        )
    })
}

/// `code N: <Vault's errors>`. Vault's error strings carry no secret values; a non-JSON body
/// (a proxy's page) is cut short.
pub(super) fn status_error(reply: &Reply) -> String {
    let errors = serde_json::from_slice::<Value>(&reply.body)
        .ok()
        .and_then(|body| match body.get("errors") {
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(property::gjson_text)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            _ => None,
        });
    match errors {
        Some(errors) if !errors.is_empty() => format!("code {}: {errors}", reply.status),
        Some(_) => format!("code {}", reply.status),
        None => {
            let text = String::from_utf8_lossy(&reply.body);
            let short: String = text.chars().take(200).collect();
            format!("code {}: {}", reply.status, short.trim())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            body: Bytes::copy_from_slice(body.as_bytes()),
            retry_after: None,
        }
    }

    #[test]
    fn throttling_pauses_the_store_refused_requests_do_not() {
        assert_eq!(outcome(&Ok(reply(200, "{}"))), Outcome::Success);
        assert_eq!(outcome(&Ok(reply(404, ""))), Outcome::Success);
        assert_eq!(outcome(&Ok(reply(403, ""))), Outcome::Refused);
        assert_eq!(outcome(&Ok(reply(503, ""))), Outcome::Failed);
        assert_eq!(outcome(&Err("refused".into())), Outcome::Failed);
        let throttled = Reply {
            retry_after: Some(Duration::from_secs(7)),
            ..reply(429, "")
        };
        assert_eq!(
            outcome(&Ok(throttled)),
            Outcome::Throttled(Some(Duration::from_secs(7)))
        );
    }

    #[test]
    fn replies_are_read_like_the_vault_go_client() {
        assert!(matches!(read_reply(&reply(404, "")), Ok(None)));
        assert!(matches!(
            read_reply(&reply(404, r#"{"errors":[]}"#)),
            Ok(None)
        ));
        // Numbers keep Vault's text; the last duplicate key wins, as in a Go map.
        let body = read_reply(&reply(200, r#"{"data":{"n":1.50},"data":{"n":1e3}}"#))
            .unwrap()
            .unwrap();
        assert_eq!(body["data"].get(), r#"{"n":1e3}"#);
        // A deleted KV v2 version: 404 with data (whose `data` is null).
        let deleted = read_reply(&reply(
            404,
            r#"{"data":{"data":null,"metadata":{"deletion_time":"x"}}}"#,
        ))
        .unwrap()
        .unwrap();
        assert_eq!(members(&deleted["data"]).unwrap()["data"].get(), "null");
        assert!(
            read_reply(&reply(404, r#"{"warnings":["Invalid path"]}"#))
                .unwrap()
                .is_some()
        );
        assert!(matches!(read_reply(&reply(204, "")), Ok(None)));
        assert!(matches!(
            read_reply(&reply(200, r#"{"errors":["x"]}"#)),
            Ok(None)
        ));
        assert_eq!(
            read_reply(&reply(403, r#"{"errors":["permission denied"]}"#)).err(),
            Some("code 403: permission denied".into())
        );
        assert_eq!(
            read_reply(&reply(502, "<html>bad gateway</html>")).err(),
            Some("code 502: <html>bad gateway</html>".into())
        );
        assert!(read_reply(&reply(200, "not json")).is_err());
        let err = read_reply(&reply(200, r#""hunter2""#)).unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn server_must_be_an_http_url() {
        let none = BTreeMap::new();
        assert!(Http::new("vault:8200", &none, Tls::default(), Meter::default()).is_err());
        assert!(Http::new("ftp://vault", &none, Tls::default(), Meter::default()).is_err());
        let http = Http::new(
            "http://127.0.0.1:8200/prefix/",
            &none,
            Tls::default(),
            Meter::default(),
        )
        .unwrap();
        assert_eq!(http.origin, "http://127.0.0.1:8200");
        assert_eq!(http.base_path, "/prefix");
        let bad = BTreeMap::from([("bad header".to_owned(), "v".to_owned())]);
        assert!(Http::new("http://v", &bad, Tls::default(), Meter::default()).is_err());
    }

    #[test]
    fn a_ca_bundle_without_certificates_is_refused() {
        let tls = Tls {
            ca_pem: Some(b"not a certificate".to_vec()),
            client: None,
        };
        let err = Http::new(
            "https://vault:8200",
            &BTreeMap::new(),
            tls,
            Meter::default(),
        )
        .err()
        .unwrap();
        assert!(err.contains("no PEM certificate"), "{err}");
    }
}
