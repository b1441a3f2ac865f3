//! How the provider gets its Vault token (spec §7.1, ESO's `auth*.go`): the store's `auth`
//! methods in ESO's order, the credentials each reads from Kubernetes, and the login call.
//!
//! [`credentials`] reads what the first configured method needs (through [`Refs`]);
//! [`Login::request`] is the pure login call, so it is unit-tested without a cluster;
//! [`log_in`] sends it and returns the client token's [`Session`].

use std::time::Instant;

use k8s_openapi::api::core::v1::ServiceAccount;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::super::request::ProviderError;
use super::http::{Call, Http};
use super::session::{ReplyAuth, Session};
use crate::crd::external::vault::{VaultAppRole, VaultAuth, VaultKubernetesAuth};
use crate::crd::external::{SecretKeySelector, ServiceAccountSelector};
use crate::external::refs::Refs;

/// Where a pod's own ServiceAccount token is mounted.
const POD_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
/// ESO requests Kubernetes-auth tokens valid for 10 minutes (`getJwtString`).
const TOKEN_SECONDS: i64 = 600;

/// A way to get a Vault token, with its credentials read. Never `Debug`: it holds secrets.
pub(super) enum Login {
    /// `tokenSecretRef`: the token itself.
    Token(Zeroizing<String>),
    /// `appRole`: `POST auth/<mount>/login {role_id, secret_id}`.
    AppRole {
        mount: String,
        role_id: Zeroizing<String>,
        secret_id: Zeroizing<String>,
    },
    /// `kubernetes`: `POST auth/<mount>/login {role, jwt}`.
    Kubernetes {
        mount: String,
        role: String,
        jwt: Zeroizing<String>,
    },
}

impl Login {
    /// The method's name, as the store's YAML spells it, for error texts.
    pub(super) fn method(&self) -> &'static str {
        match self {
            Login::Token(_) => "tokenSecretRef",
            Login::AppRole { .. } => "appRole",
            Login::Kubernetes { .. } => "kubernetes",
        }
    }

    /// The login call: its logical path and JSON body; `None` for a token, which needs none.
    pub(super) fn request(&self) -> Option<(String, Zeroizing<Vec<u8>>)> {
        match self {
            Login::Token(_) => None,
            Login::AppRole {
                mount,
                role_id,
                secret_id,
            } => Some((
                login_path(mount),
                json_body(&[("role_id", role_id), ("secret_id", secret_id)]),
            )),
            Login::Kubernetes { mount, role, jwt } => Some((
                login_path(mount),
                json_body(&[("role", role), ("jwt", jwt)]),
            )),
        }
    }
}

fn login_path(mount: &str) -> String {
    format!("auth/{mount}/login")
}

/// A JSON object of strings, written into a buffer sized for the worst case (6 bytes per
/// escaped byte) so it never reallocates and leaves an unwiped copy of a secret behind.
fn json_body(fields: &[(&str, &str)]) -> Zeroizing<Vec<u8>> {
    let size = 2 + fields
        .iter()
        .map(|(key, value)| 6 * (key.len() + value.len()) + 6)
        .sum::<usize>();
    let mut buffer = Zeroizing::new(Vec::with_capacity(size));
    let object: std::collections::BTreeMap<&str, &str> = fields.iter().copied().collect();
    // Writing a map of strings into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buffer, &object);
    buffer
}

/// Reads the credentials of the first configured method, in ESO's order (`setAuth`): token,
/// AppRole, Kubernetes, then the methods sealbox does not support.
pub(super) async fn credentials(
    auth: Option<&VaultAuth>,
    refs: &Refs,
) -> Result<Login, ProviderError> {
    let Some(auth) = auth else {
        return Err(ProviderError::Config(
            "spec.provider.vault.auth is missing: set tokenSecretRef, appRole or kubernetes".into(),
        ));
    };
    if let Some(selector) = &auth.token_secret_ref {
        if selector.key.is_empty() {
            return Err(ProviderError::Config(
                "auth.tokenSecretRef names no key: set `key` to the Secret key holding the Vault token"
                    .into(),
            ));
        }
        let token = utf8(refs.secret_key(selector, "").await?, "auth.tokenSecretRef")?;
        // ESO sends the value as is, so a trailing newline breaks the header; trimming keeps
        // every token that works there working here.
        return Ok(Login::Token(Zeroizing::new(token.trim().to_owned())));
    }
    if let Some(app_role) = &auth.app_role {
        return app_role_credentials(app_role, refs).await;
    }
    if let Some(kubernetes) = &auth.kubernetes {
        return kubernetes_credentials(kubernetes, refs).await;
    }
    let unsupported = [
        ("ldap", auth.ldap.is_some()),
        ("userPass", auth.user_pass.is_some()),
        ("jwt", auth.jwt.is_some()),
        ("cert", auth.cert.is_some()),
        ("iam", auth.iam.is_some()),
        ("gcp", auth.gcp.is_some()),
    ];
    match unsupported.iter().find(|(_, set)| *set) {
        Some((method, _)) => Err(ProviderError::Config(format!(
            "Vault auth method {method:?} is not supported by sealbox (it logs in with tokenSecretRef, appRole or kubernetes): switch the store to one of those or keep External Secrets Operator for it"
        ))),
        None => Err(ProviderError::Config(
            "cannot initialize Vault client: no valid auth method specified (set auth.tokenSecretRef, auth.appRole or auth.kubernetes)"
                .into(),
        )),
    }
}

/// A mount path, with the CRD's default when unset or empty.
fn mount_or(path: Option<&str>, default: &str) -> String {
    match path {
        Some(p) if !p.is_empty() => p.to_owned(),
        _ => default.to_owned(),
    }
}

async fn app_role_credentials(
    app_role: &VaultAppRole,
    refs: &Refs,
) -> Result<Login, ProviderError> {
    let role_id = match (&app_role.role_id, &app_role.role_ref) {
        (Some(inline), _) if !inline.is_empty() => Zeroizing::new(inline.trim().to_owned()),
        (_, Some(selector)) => utf8(refs.secret_key(selector, "").await?, "auth.appRole.roleRef")?,
        _ => {
            return Err(ProviderError::Config(
                "invalid Auth.AppRole: neither `roleId` nor `roleRef` was supplied".into(),
            ));
        }
    };
    if role_id.is_empty() {
        return Err(ProviderError::Config(
            "auth.appRole: the role id is empty".into(),
        ));
    }
    let secret_id = utf8(
        refs.secret_key(&app_role.secret_ref, "").await?,
        "auth.appRole.secretRef",
    )?;
    Ok(Login::AppRole {
        mount: mount_or(app_role.path.as_deref(), "approle"),
        role_id,
        secret_id,
    })
}

async fn kubernetes_credentials(
    kubernetes: &VaultKubernetesAuth,
    refs: &Refs,
) -> Result<Login, ProviderError> {
    if kubernetes.role.is_empty() {
        return Err(ProviderError::Config(
            "auth.kubernetes.role is empty: set the Vault role to log in as".into(),
        ));
    }
    let jwt = if let Some(account) = &kubernetes.service_account_ref {
        service_account_jwt(account, refs).await?
    } else if let Some(selector) = &kubernetes.secret_ref {
        utf8(
            refs.secret_key(selector, "token").await?,
            "auth.kubernetes.secretRef",
        )?
    } else {
        let jwt = std::fs::read_to_string(POD_TOKEN).map_err(|e| {
            ProviderError::Config(format!(
                "cannot read Kubernetes service account token from file system ({POD_TOKEN}: {e}): set auth.kubernetes.serviceAccountRef or secretRef"
            ))
        })?;
        Zeroizing::new(jwt)
    };
    Ok(Login::Kubernetes {
        mount: mount_or(kubernetes.mount_path.as_deref(), "kubernetes"),
        role: kubernetes.role.clone(),
        jwt,
    })
}

/// A TokenRequest for the ServiceAccount (its `audiences`, 600 s), else, as ESO does, the
/// `token` of a legacy token Secret listed in the ServiceAccount's `secrets`.
async fn service_account_jwt(
    account: &ServiceAccountSelector,
    refs: &Refs,
) -> Result<Zeroizing<String>, ProviderError> {
    let requested = refs
        .service_account_token(account, account.audiences.clone(), Some(TOKEN_SECONDS))
        .await;
    let request_error = match requested {
        Ok(jwt) if !jwt.is_empty() => return Ok(jwt),
        Ok(_) => "the token request returned an empty token".to_owned(),
        Err(ProviderError::Referent(e)) => return Err(ProviderError::Referent(e)),
        Err(e) => e.to_string(),
    };
    match legacy_token(account, refs).await {
        Ok(jwt) => Ok(jwt),
        Err(legacy_error) => Err(ProviderError::Failed(format!(
            "cannot request Kubernetes service account token for service account {:?}: {request_error}; no legacy token Secret either: {legacy_error}",
            account.name
        ))),
    }
}

async fn legacy_token(
    account: &ServiceAccountSelector,
    refs: &Refs,
) -> Result<Zeroizing<String>, ProviderError> {
    let service_account: ServiceAccount = refs.service_account(account).await?;
    let names: Vec<String> = service_account
        .secrets
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| s.name)
        .collect();
    if names.is_empty() {
        return Err(ProviderError::Config(format!(
            "cannot find secrets bound to service account: {:?}",
            account.name
        )));
    }
    for name in names {
        let selector = SecretKeySelector {
            name,
            namespace: account.namespace.clone(),
            key: "token".into(),
        };
        if let Ok(token) = refs.secret_key(&selector, "token").await {
            return utf8(token, "the service account's token Secret");
        }
    }
    Err(ProviderError::Config(format!(
        "cannot find token in secrets bound to service account: {:?}",
        account.name
    )))
}

/// The bytes as a string, without copying (so the zeroizing buffer is the only copy).
fn utf8(bytes: Zeroizing<Vec<u8>>, what: &str) -> Result<Zeroizing<String>, ProviderError> {
    let mut bytes = bytes;
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(e) => {
            zeroize::Zeroize::zeroize(&mut e.into_bytes());
            Err(ProviderError::Config(format!(
                "{what}: the value is not UTF-8 text"
            )))
        }
    }
}

/// `POST auth/<mount>/login`: the client token and its lease, or an error naming the method
/// and mount with Vault's error strings (never the credentials).
pub(super) async fn log_in(
    http: &Http,
    login: &Login,
    namespace: Option<&str>,
) -> Result<Session, ProviderError> {
    #[derive(Deserialize)]
    struct Reply {
        auth: Option<ReplyAuth>,
    }

    let Some((logical, body)) = login.request() else {
        return Err(ProviderError::Config(
            "this auth method has no login call".into(),
        ));
    };
    let method = login.method();
    let failed = |why: String| {
        ProviderError::Failed(format!(
            "Vault {method} login at {logical} failed: {why}: check the store's auth.{method} settings and the Vault role"
        ))
    };
    let call = Call {
        name: "Login",
        method: ::http::Method::POST,
        path: &logical,
        query: &[],
        body: Some(body),
        token: None,
        namespace,
    };
    let since = Instant::now();
    let reply = http.send(call).await.map_err(failed)?;
    if !(200..400).contains(&reply.status) {
        return Err(failed(super::http::status_error(&reply)));
    }
    let body = Zeroizing::new(Vec::from(reply.body));
    let parsed: Reply = serde_json::from_slice(&body)
        .map_err(|_| failed("Vault's reply could not be decoded".into()))?;
    match parsed.auth {
        Some(auth) if !auth.client_token.is_empty() => {
            let lease = auth.lease(since);
            Ok(Session::logged_in(auth.client_token, lease, namespace))
        }
        _ => Err(failed("Vault's reply holds no client token".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(login: &Login) -> (String, serde_json::Value) {
        let (path, body) = login.request().unwrap();
        (path, serde_json::from_slice(&body).unwrap())
    }

    #[test]
    fn app_role_logs_in_at_its_mount_with_role_and_secret_id() {
        let login = Login::AppRole {
            mount: "approle".into(),
            role_id: Zeroizing::new("r-1".into()),
            secret_id: Zeroizing::new("s\"1".into()),
        };
        assert_eq!(login.method(), "appRole");
        assert_eq!(
            body(&login),
            (
                "auth/approle/login".into(),
                serde_json::json!({"role_id": "r-1", "secret_id": "s\"1"})
            )
        );
    }

    #[test]
    fn kubernetes_logs_in_at_its_mount_with_role_and_jwt() {
        let login = Login::Kubernetes {
            mount: "k8s/prod".into(),
            role: "eso".into(),
            jwt: Zeroizing::new("eyJ.x.y".into()),
        };
        assert_eq!(
            body(&login),
            (
                "auth/k8s/prod/login".into(),
                serde_json::json!({"role": "eso", "jwt": "eyJ.x.y"})
            )
        );
        assert!(Login::Token(Zeroizing::new("t".into())).request().is_none());
    }

    #[test]
    fn mounts_default_like_the_crd() {
        assert_eq!(mount_or(None, "approle"), "approle");
        assert_eq!(mount_or(Some(""), "kubernetes"), "kubernetes");
        assert_eq!(mount_or(Some("custom"), "approle"), "custom");
    }

    #[test]
    fn non_utf8_credentials_are_refused_without_echoing_them() {
        let err = utf8(Zeroizing::new(vec![0xff, b's']), "auth.tokenSecretRef").unwrap_err();
        assert!(matches!(err, ProviderError::Config(ref m) if m.contains("not UTF-8")));
    }
}
