//! Vault / OpenBao KV v1 and v2, read the way External Secrets Operator reads them (spec §7,
//! ESO's `providers/v1/vault`).
//!
//! Which function when: [`Client::connect`] once per store (and ExternalSecret namespace, for
//! referent ClusterSecretStores) — it reads the credentials and logs in; then
//! [`Client::get_secret`] per `data[]`, [`Client::get_secret_map`] per `dataFrom[].extract`,
//! [`Client::get_all`] per `dataFrom[].find`, and [`Client::validate`] for the store's `Ready`.
//!
//! ```no_run
//! # async fn example(
//! #     store: &sealbox_controller::crd::external::vault::VaultProvider,
//! #     refs: &sealbox_controller::external::refs::Refs,
//! # ) -> Result<(), sealbox_controller::external::providers::ProviderError> {
//! use sealbox_controller::external::providers::{Ref, vault::Client};
//!
//! let vault = Client::connect(store, refs, &Default::default()).await?;
//! let password = vault
//!     .get_secret(&Ref {
//!         key: "app/db".into(),
//!         property: Some("password".into()),
//!         ..Ref::default()
//!     })
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Compatibility: paths follow ESO's `buildPath`/`buildMetadataPath` exactly ([`path`]), and
//! values are the bytes ESO produces ([`crate::external::property`], over the secret's JSON text
//! as Vault sent it): Go `json.Marshal` of the secret, `GetByteValue` of a property, gjson paths,
//! `float64` numbers in `extract`. Errors keep ESO's texts where
//! a user may search for them (`cannot find secret data for key: "…"`).
//!
//! Authentication, in ESO's order: `tokenSecretRef`, `appRole`, `kubernetes` ([`auth`]).
//! `ldap`, `userPass`, `jwt`, `cert`, `iam` and `gcp` are refused with a Config error naming the
//! method. The token from a login lives as long as the client: renewed after half of
//! its TTL ([`session`]) until its max TTL, when [`Client::alive`] turns false and the owner
//! builds a new client (a new login); a dropped client revokes it. ESO instead logs in and
//! revokes on every reconcile unless `--enable-vault-token-cache` is on (spec §7.2).
//!
//! Not done (yet): `readYourWrites` (the `X-Vault-Index` replay; `forwardInconsistent` with it
//! does send `X-Vault-Inconsistent`), `caProvider` of type ConfigMap, `retrySettings` (the
//! Vault Go client retries 5xx twice by default; here the reconciler's backoff retries).
//!
//! HTTP client: a small layer ([`http`]) over hyper-util + hyper-rustls + http-body-util, the
//! versions and features kube already builds, with the aws-lc-rs rustls provider. Not
//! `vaultrs` (named in DESIGN.md): its `rustls-no-provider` feature avoids `ring`, but it takes
//! CA certificates only as file paths (the store's `caBundle` is in memory), cannot add the
//! store's extra `headers`, builds URLs its own way rather than Go's `path.Join`, and brings
//! reqwest 0.13 + rustify into the build.

mod auth;
mod http;
mod path;
mod session;
mod tls;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use serde_json::value::RawValue;

use self::auth::Login;
use self::http::{Call, Http, Members, Tls};
use self::path::{Kv, MetadataPathError};
use self::session::Session;
use super::meter::Meter;
use super::request::{Find, ProviderError, Ref};
use super::singleflight::Singleflight;
use crate::crd::external::vault::VaultProvider;
use crate::external::property::{self, PropertyError};
use crate::external::refs::Refs;

/// The KV v2 metadata fields ESO adds to `metadataPolicy: Fetch` results (`systemMetadataKeys`).
const SYSTEM_METADATA_KEYS: [&str; 3] = ["created_time", "current_version", "delete_version_after"];

/// A logged-in client for one Vault store. It holds a Vault token: it is deliberately not
/// `Debug`, and the token is wiped on drop.
pub struct Client {
    /// Behind a pointer: the hyper client is large, and [`super::Client`] is an enum of
    /// providers; shared with the revocation that outlives the client.
    http: Arc<Http>,
    mount: Option<String>,
    kv: Kv,
    /// `X-Vault-Namespace` of every read.
    namespace: Option<String>,
    session: Session,
    /// Secrets read recently, by key and version.
    reads: Singleflight<Option<Box<RawValue>>>,
}

impl Client {
    /// Reads the store's CA, client certificate and credentials through `refs`, then logs in.
    /// Its calls are counted by `meter`.
    pub async fn connect(
        spec: &VaultProvider,
        refs: &Refs,
        meter: &Meter,
    ) -> Result<Client, ProviderError> {
        let tls = tls::tls_material(spec, refs).await?;
        let login = auth::credentials(spec.auth.as_ref(), refs).await?;
        Client::log_in(spec, tls, login, meter).await
    }

    /// The client of `spec` with credentials already read: a token is used as is, any other
    /// method logs in (in `auth.namespace` when set, else the store's namespace).
    async fn log_in(
        spec: &VaultProvider,
        tls: Tls,
        login: Login,
        meter: &Meter,
    ) -> Result<Client, ProviderError> {
        if spec.server.is_empty() {
            return Err(ProviderError::Config(
                "spec.provider.vault.server is empty: set the Vault address (https://vault:8200)"
                    .into(),
            ));
        }
        let kv = match spec.version.as_deref() {
            None | Some("" | "v2") => Kv::V2,
            Some("v1") => Kv::V1,
            Some(other) => {
                return Err(ProviderError::Config(format!(
                    "spec.provider.vault.version {other:?} is not v1 or v2"
                )));
            }
        };
        let mut headers = spec.headers.clone();
        if spec.read_your_writes && spec.forward_inconsistent {
            headers.insert("X-Vault-Inconsistent".into(), "forward-active-node".into());
        }
        let http = Http::new(&spec.server, &headers, tls, meter.clone())
            .map_err(|e| ProviderError::Config(format!("spec.provider.vault: {e}")))?;
        let namespace = spec.namespace.clone().filter(|ns| !ns.is_empty());
        // ESO switches to `auth.namespace` for the login only; an empty one is the root.
        let login_namespace = match spec.auth.as_ref().and_then(|a| a.namespace.as_deref()) {
            Some(ns) => Some(ns).filter(|ns| !ns.is_empty()),
            None => namespace.as_deref(),
        };
        let session = match login {
            Login::Token(token) if token.is_empty() => {
                return Err(ProviderError::Config(
                    "auth.tokenSecretRef: the Vault token is empty".into(),
                ));
            }
            Login::Token(token) => Session::given(token),
            other => auth::log_in(&http, &other, login_namespace).await?,
        };
        Ok(Client {
            http: Arc::new(http),
            mount: spec.path.clone(),
            kv,
            namespace,
            session,
            reads: Singleflight::default(),
        })
    }

    /// One value (`data[].remoteRef`): the secret as JSON, a property of it, or its metadata.
    pub async fn get_secret(&self, r: &Ref) -> Result<Vec<u8>, ProviderError> {
        let property = r.property.as_deref().unwrap_or_default();
        let value = if r.metadata {
            if self.kv == Kv::V1 {
                return Err(ProviderError::Config(
                    "cannot perform metadata fetch operations with kv version v1: metadataPolicy Fetch needs a KV v2 store".into(),
                ));
            }
            let metadata = self.read_metadata(&r.key).await?;
            if metadata.is_empty() {
                // ESO returns no bytes and no error here.
                return Ok(Vec::new());
            }
            let metadata: serde_json::Map<String, Value> = metadata
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            property::vault_secret_value(&metadata, property)
        } else {
            let read = self
                .read_secret(&r.key, r.version.as_deref(), r.fresh_since)
                .await?;
            let Some(data) = read.as_deref() else {
                return Err(self.not_found(&r.key));
            };
            property::vault_secret_value_raw(data, property)
        };
        match value {
            Ok(Some(bytes)) => Ok(bytes),
            Ok(None) => Err(ProviderError::Failed(format!(
                "cannot find secret data for key: {}",
                go_quote(property)
            ))),
            Err(e @ PropertyError::Unsupported { .. }) => Err(ProviderError::Config(e.to_string())),
            Err(e) => Err(ProviderError::Failed(format!("Vault key {:?}: {e}", r.key))),
        }
    }

    /// A JSON object's keys (`dataFrom[].extract`), numbers read as Go `float64`s.
    pub async fn get_secret_map(
        &self,
        r: &Ref,
    ) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
        let bytes = self.get_secret(r).await?;
        property::vault_secret_map(&bytes).map_err(|e| {
            ProviderError::Failed(format!(
                "Vault key {:?}: {e} (dataFrom extract needs a JSON object)",
                r.key
            ))
        })
    }

    /// Every secret under `find.path` whose path matches `find.name`, else whose custom
    /// metadata holds all `find.tags`, as JSON, by path (relative to the mount).
    pub async fn get_all(&self, find: &Find) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
        if self.kv == Kv::V1 && !find.tags.is_empty() {
            return Err(ProviderError::Config(
                "cannot perform find by tag operations with kv version v1".into(),
            ));
        }
        let search = find
            .path
            .as_ref()
            .map(|p| format!("{p}/"))
            .unwrap_or_default();
        let mut found = BTreeMap::new();
        for name in self.list(&search).await? {
            let wanted = match &find.name {
                Some(regex) => regex.is_match(&name),
                None => self.has_tags(&name, &find.tags).await?,
            };
            if !wanted {
                continue;
            }
            let whole = Ref {
                key: name.clone(),
                fresh_since: find.fresh_since,
                ..Ref::default()
            };
            match self.get_secret(&whole).await {
                Ok(value) => {
                    found.insert(name, value);
                }
                Err(ProviderError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(found)
    }

    /// Whether the client can go on being used: its token is renewed when due, and a token
    /// at the end of its life means a new client (a new login) is needed.
    pub async fn alive(&self) -> bool {
        self.session.alive(&self.http).await
    }

    /// Whether the token works (`auth/token/lookup-self`).
    pub async fn validate(&self) -> Result<(), ProviderError> {
        let token = self.session.token(&self.http).await;
        let call = Call::get(
            "LookupSelf",
            "auth/token/lookup-self",
            &token,
            self.namespace.as_deref(),
        );
        let reply = self
            .http
            .send(call)
            .await
            .map_err(|e| ProviderError::Failed(format!("invalid vault credentials: {e}")))?;
        if (200..400).contains(&reply.status) {
            Ok(())
        } else {
            Err(ProviderError::Failed(format!(
                "invalid vault credentials: token lookup-self: {}",
                http::status_error(&reply)
            )))
        }
    }

    fn not_found(&self, key: &str) -> ProviderError {
        ProviderError::NotFound(format!(
            "Secret does not exist: Vault has no data at {} (key {key:?})",
            path::build_path(self.mount.as_deref(), self.kv, key)
        ))
    }

    /// A `GET` (a LIST with `list=true`), read as the Vault Go client reads replies.
    async fn read(
        &self,
        name: &'static str,
        logical: &str,
        query: &[(&str, &str)],
    ) -> Result<Option<Members>, ProviderError> {
        let token = self.session.token(&self.http).await;
        let call = Call {
            query,
            ..Call::get(name, logical, &token, self.namespace.as_deref())
        };
        let reply = self.http.send(call).await;
        reply
            .and_then(|reply| http::read_reply(&reply))
            .map_err(|e| ProviderError::Failed(format!("cannot read secret data from Vault: {e}")))
    }

    /// ESO's `readSecret`: the secret's data (`.data.data` for KV v2) as Vault's JSON text,
    /// `None` when missing or deleted; a read started at or after `since` is shared
    /// ([`Singleflight`]).
    async fn read_secret(
        &self,
        key: &str,
        version: Option<&str>,
        since: Option<Instant>,
    ) -> Result<Arc<Option<Box<RawValue>>>, ProviderError> {
        let memo_key = format!("{key}#{}", version.unwrap_or_default());
        self.reads
            .get(&memo_key, since, || self.read_secret_now(key, version))
            .await
    }

    async fn read_secret_now(
        &self,
        key: &str,
        version: Option<&str>,
    ) -> Result<Option<Box<RawValue>>, ProviderError> {
        let logical = path::build_path(self.mount.as_deref(), self.kv, key);
        let query: Vec<(&str, &str)> = version
            .filter(|v| !v.is_empty())
            .map(|v| ("version", v))
            .into_iter()
            .collect();
        let Some(mut reply) = self.read("ReadSecretData", &logical, &query).await? else {
            return Ok(None);
        };
        let data = reply.remove("data");
        let is_object = |raw: &RawValue| raw.get().starts_with('{');
        Ok(match self.kv {
            Kv::V1 => data.filter(|d| is_object(d)),
            Kv::V2 => match data
                .and_then(|d| http::members(&d))
                .and_then(|mut d| d.remove("data"))
            {
                None => {
                    return Err(ProviderError::Failed(format!(
                        "failed to find data field in Vault's reply for {logical}: is the store's version v2 right?"
                    )));
                }
                // A deleted or destroyed version.
                Some(inner) if inner.get() == "null" => None,
                Some(inner) if is_object(&inner) => Some(inner),
                Some(_) => {
                    return Err(ProviderError::Failed(format!(
                        "failed to unmarshall JSON: {logical}'s data is not an object"
                    )));
                }
            },
        })
    }

    /// ESO's `readSecretMetadata`: the KV v2 system keys, then `custom_metadata` over them.
    async fn read_metadata(&self, key: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        let logical = self.metadata_path(key)?;
        let Some(reply) = self.read("ReadSecretMetadata", &logical, &[]).await? else {
            return Err(ProviderError::Failed(format!(
                "secret not found: Vault has no metadata at {logical}"
            )));
        };
        let mut metadata = BTreeMap::new();
        let data = reply.get("data").map(|d| http::value(d));
        if self.kv == Kv::V2 {
            for key in SYSTEM_METADATA_KEYS {
                match data.as_ref().and_then(|d| d.get(key)) {
                    None | Some(Value::Null) => {}
                    Some(value) => {
                        metadata.insert(key.to_owned(), property::gjson_text(value));
                    }
                }
            }
        }
        if let Some(Value::Object(custom)) = data.as_ref().and_then(|d| d.get("custom_metadata")) {
            for (k, v) in custom {
                metadata.insert(k.clone(), property::gjson_text(v));
            }
        }
        Ok(metadata)
    }

    fn metadata_path(&self, key: &str) -> Result<String, ProviderError> {
        path::build_metadata_path(self.mount.as_deref(), self.kv, key).map_err(|e| match e {
            MetadataPathError::NotKv2 => ProviderError::Config(format!(
                "provided Path isn't a valid kv v2 path: {key:?} has no `data` segment; set the store's `path` (the KV mount) or include `<mount>/data/`"
            )),
            MetadataPathError::V1WithoutMount => ProviderError::Config(
                "a KV v1 store needs `path` (the KV mount) to list secrets".into(),
            ),
        })
    }

    /// ESO's `listSecrets`: the secrets under `search` (`""` or ending in `/`), one LIST per
    /// folder, as `search` + the relative names Vault lists.
    async fn list(&self, search: &str) -> Result<Vec<String>, ProviderError> {
        let mut secrets = Vec::new();
        let mut folders = vec![search.to_owned()];
        while let Some(folder) = folders.pop() {
            let logical = self.metadata_path(&folder)?;
            let Some(reply) = self
                .read("ListSecrets", &logical, &[("list", "true")])
                .await?
            else {
                return Err(ProviderError::NotFound(format!(
                    "Secret does not exist: Vault lists nothing at {logical}"
                )));
            };
            let data = reply.get("data").map(|d| http::value(d));
            let Some(keys) = data.as_ref().and_then(|d| d.get("keys")) else {
                continue;
            };
            let Value::Array(keys) = keys else {
                return Err(ProviderError::Failed(format!(
                    "Vault's list of {logical} is not an array"
                )));
            };
            for key in keys {
                let Value::String(key) = key else {
                    return Err(ProviderError::Failed(format!(
                        "Vault's list of {logical} holds a non-string"
                    )));
                };
                let full = format!("{folder}{key}");
                if key.ends_with('/') {
                    folders.push(full);
                } else {
                    secrets.push(full);
                }
            }
        }
        Ok(secrets)
    }

    /// Whether the custom metadata of `name` holds every tag. With no tags ESO still reads
    /// each candidate's metadata; the answer is always yes, so sealbox skips those reads.
    async fn has_tags(
        &self,
        name: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<bool, ProviderError> {
        if tags.is_empty() {
            return Ok(true);
        }
        let metadata = self.read_metadata(name).await?;
        Ok(tags.iter().all(|(k, v)| metadata.get(k) == Some(v)))
    }
}

impl Drop for Client {
    /// Revokes the token this client logged in for, in the background: the client was replaced
    /// (or was only needed once) and nobody reads through it any more.
    fn drop(&mut self) {
        let Some((token, namespace)) = self.session.revocable() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let http = self.http.clone();
            runtime
                .spawn(async move { session::revoke(&http, &token, namespace.as_deref()).await });
        }
    }
}

/// Go's `%q` of a string (ESO's `cannot find secret data for key: %q`).
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quote_matches_go_percent_q() {
        assert_eq!(go_quote("a.b"), r#""a.b""#);
        assert_eq!(go_quote("q\"\\\n\u{1}é"), r#""q\"\\\n\x01é""#);
    }
}
