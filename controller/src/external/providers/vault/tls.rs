//! The TLS material of a store: its CA certificates (`caBundle`, `caProvider`) and client
//! certificate (`tls`), read through [`Refs`] for [`super::http::Http`].

use base64::Engine as _;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::super::request::ProviderError;
use super::http::Tls;
use crate::crd::external::SecretKeySelector;
use crate::crd::external::vault::{CaProvider, VaultProvider};
use crate::external::refs::Refs;

/// The store's CA certificates and client certificate, read through `refs`.
pub(super) async fn tls_material(spec: &VaultProvider, refs: &Refs) -> Result<Tls, ProviderError> {
    let ca_pem = match (ca_bundle(spec)?, &spec.ca_provider) {
        (Some(pem), _) => Some(pem),
        (None, Some(provider)) => Some(ca_from_provider(provider, refs).await?),
        (None, None) => None,
    };
    Ok(Tls {
        ca_pem,
        client: client_certificate(spec.client_tls.as_ref(), refs).await?,
    })
}

/// `caBundle`: base64 of PEM certificates (a Go `[]byte` field), `None` when unset or empty.
pub(super) fn ca_bundle(spec: &VaultProvider) -> Result<Option<Vec<u8>>, ProviderError> {
    let Some(bundle) = spec.ca_bundle.as_deref().filter(|b| !b.is_empty()) else {
        return Ok(None);
    };
    // Go's base64 decoder skips line breaks; any other whitespace is dropped too.
    let compact: String = bundle
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let pem = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| {
            ProviderError::Config(
                "spec.provider.vault.caBundle is not base64: it holds the PEM certificates base64-encoded".into(),
            )
        })?;
    Ok(Some(pem))
}

async fn ca_from_provider(provider: &CaProvider, refs: &Refs) -> Result<Vec<u8>, ProviderError> {
    match provider.type_.as_str() {
        "Secret" => {
            let key = provider.key.clone().unwrap_or_default();
            if key.is_empty() {
                return Err(ProviderError::Config(
                    "caProvider.key is empty: name the Secret key holding the PEM CA".into(),
                ));
            }
            let selector = SecretKeySelector {
                name: provider.name.clone(),
                namespace: provider.namespace.clone(),
                key,
            };
            Ok(refs.secret_key(&selector, "").await?.to_vec())
        }
        "ConfigMap" => Err(ProviderError::Config(
            "caProvider type ConfigMap is not supported by sealbox yet: put the CA in a Secret (caProvider type Secret) or in caBundle".into(),
        )),
        other => Err(ProviderError::Config(format!(
            "caProvider.type {other:?} is not Secret or ConfigMap"
        ))),
    }
}

/// `spec.provider.vault.tls`: both references or none (ESO's `errInvalidClientTLS`).
async fn client_certificate(
    spec: Option<&serde_json::Value>,
    refs: &Refs,
) -> Result<Option<(Vec<u8>, Zeroizing<Vec<u8>>)>, ProviderError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ClientTls {
        cert_secret_ref: Option<SecretKeySelector>,
        key_secret_ref: Option<SecretKeySelector>,
    }

    let Some(spec) = spec else {
        return Ok(None);
    };
    let tls: ClientTls = serde_json::from_value(spec.clone())
        .map_err(|e| ProviderError::Config(format!("spec.provider.vault.tls: {e}")))?;
    match (tls.cert_secret_ref, tls.key_secret_ref) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => {
            let key = refs.secret_key(&key, "tls.key").await?;
            let cert = refs.secret_key(&cert, "tls.crt").await?;
            Ok(Some((cert.to_vec(), key)))
        }
        _ => Err(ProviderError::Config(
            "spec.provider.vault.tls: when provided, both certSecretRef and keySecretRef should be provided".into(),
        )),
    }
}
