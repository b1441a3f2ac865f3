//! Reading an ExternalSecret's data from its providers (ESO's `GetProviderSecretData`, spec
//! §5.3 step 10): `dataFrom[]` in order, then `data[]`, later keys overwriting earlier ones;
//! each `dataFrom` result rewritten (or its keys converted), validated, decoded and checked
//! for null bytes; each `data[]` value decoded and checked.
//!
//! [`provider_data`] is the one entry point. A secret missing at the provider skips its entry
//! (with a note for a `MissingProviderSecret` Event) unless `deletionPolicy` is `Retain`,
//! where it is an error, as in ESO.

use std::collections::BTreeMap;
use std::time::Instant;

use super::keys::{self, Conversion, Decoding, NullBytePolicy};
use super::policy::DeletionPolicy;
use super::providers::{Find, ProviderError, Ref};
use super::rewrite;
use super::store_id::Kind;
use super::stores::{StoreError, Stores};
use crate::crd::external::ExternalSecretSpec;
use crate::crd::external::externalsecret::{RemoteRef, SecretStoreRef, SourceRef};

/// The data read, and what was missing at the provider (one Event message each).
#[derive(Debug, Default)]
pub struct Fetched {
    pub data: BTreeMap<String, Vec<u8>>,
    pub missing: Vec<String>,
}

/// Why the data could not be read. Messages name the entry and never carry a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// A store is missing, not ready, refuses the namespace, or its client failed to build.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A provider call failed.
    #[error("{0}")]
    Provider(ProviderError),
    /// The ExternalSecret asks for something impossible or unsupported.
    #[error("{0}")]
    Spec(String),
}

impl FetchError {
    /// Whether retrying could help (a provider or the API server), or only a spec change can.
    pub fn retryable(&self) -> bool {
        !matches!(self, FetchError::Spec(_))
    }

    /// Until when the store's provider is not called (its circuit breaker is open).
    pub fn paused_until(&self) -> Option<Instant> {
        match self {
            FetchError::Store(StoreError::Paused { paused, .. }) => Some(paused.until),
            _ => None,
        }
    }
}

/// Reads everything `spec` asks for through `stores`, taking shared reads that started at
/// or after `since` (the reconcile's start).
pub async fn provider_data(
    spec: &ExternalSecretSpec,
    stores: &mut Stores<'_>,
    deletion: DeletionPolicy,
    since: Instant,
) -> Result<Fetched, FetchError> {
    let mut out = Fetched::default();
    for (i, entry) in spec.data_from.iter().enumerate() {
        let at = format!("spec.dataFrom[{i}]");
        let (kind, name) = store_of(spec, entry.source_ref.as_ref(), &at)?;
        let client = stores.client(kind, &name).await?;
        let (result, conversion, decoding, null_bytes) = match (&entry.extract, &entry.find) {
            (Some(extract), None) => {
                let result = client.get_secret_map(&remote_ref(extract, since)).await;
                (
                    result,
                    extract.conversion_strategy.as_deref(),
                    extract.decoding_strategy.as_deref(),
                    extract.null_byte_policy.as_deref(),
                )
            }
            (None, Some(find)) => {
                let query = Find {
                    path: find.path.clone(),
                    name: find
                        .name
                        .as_ref()
                        .and_then(|n| n.regexp.as_deref())
                        .map(|re| {
                            regex::Regex::new(re).map_err(|e| {
                                FetchError::Spec(format!(
                                    "{at}.find.name.regexp is not a valid regular expression: {e}"
                                ))
                            })
                        })
                        .transpose()?,
                    tags: find.tags.clone(),
                    fresh_since: Some(since),
                };
                if query.path.is_none() && query.name.is_none() && query.tags.is_empty() {
                    return Err(FetchError::Spec(format!(
                        "{at}.find sets none of path, name and tags: set at least one"
                    )));
                }
                (
                    client.get_all(&query).await,
                    find.conversion_strategy.as_deref(),
                    find.decoding_strategy.as_deref(),
                    find.null_byte_policy.as_deref(),
                )
            }
            _ => {
                return Err(FetchError::Spec(format!(
                    "{at} must set exactly one of extract and find (generators are not supported by sealbox)"
                )));
            }
        };
        let map = match result {
            Ok(map) => map,
            Err(ProviderError::NotFound(_)) if deletion.skips_missing_provider_secret() => {
                out.missing
                    .push(format!("secret does not exist at provider using {at}"));
                continue;
            }
            Err(e) => return Err(FetchError::Provider(e)),
        };
        let spec_err = |e: String| FetchError::Spec(format!("{at}: {e}"));
        let map = if entry.rewrite.is_empty() {
            let conversion = Conversion::from_spec(conversion).map_err(spec_err)?;
            keys::convert_keys(map, conversion).map_err(|e| spec_err(e.to_string()))?
        } else {
            rewrite::apply(&entry.rewrite, map).map_err(|e| spec_err(e.to_string()))?
        };
        let mut map = map;
        keys::validate_keys(&mut map).map_err(|e| spec_err(e.to_string()))?;
        let decoding = Decoding::from_spec(decoding).map_err(spec_err)?;
        let map = keys::decode_map(map, decoding).map_err(|e| spec_err(e.to_string()))?;
        let null_bytes = NullBytePolicy::from_spec(null_bytes).map_err(spec_err)?;
        keys::check_null_bytes_map(&map, null_bytes).map_err(|e| spec_err(e.to_string()))?;
        out.data.extend(map);
    }
    for (i, entry) in spec.data.iter().enumerate() {
        let at = format!("spec.data[{i}]");
        let (kind, name) = store_of(spec, entry.source_ref.as_ref(), &at)?;
        let client = stores.client(kind, &name).await?;
        let r = &entry.remote_ref;
        let value = match client.get_secret(&remote_ref(r, since)).await {
            Ok(value) => value,
            Err(ProviderError::NotFound(_)) if deletion.skips_missing_provider_secret() => {
                // ESO's message for data[] says dataFrom too (`eventMissingProviderSecretKey`).
                out.missing.push(format!(
                    "secret does not exist at provider using spec.dataFrom[{i}] (key={})",
                    r.key
                ));
                continue;
            }
            Err(e) => return Err(FetchError::Provider(e)),
        };
        let spec_err = |e: String| FetchError::Spec(format!("{at}: {e}"));
        let decoding = Decoding::from_spec(r.decoding_strategy.as_deref()).map_err(spec_err)?;
        let value = keys::decode(&entry.secret_key, &value, decoding)
            .map_err(|e| spec_err(e.to_string()))?;
        let null_bytes =
            NullBytePolicy::from_spec(r.null_byte_policy.as_deref()).map_err(spec_err)?;
        keys::check_null_bytes(&entry.secret_key, &value, null_bytes)
            .map_err(|e| spec_err(e.to_string()))?;
        out.data.insert(entry.secret_key.clone(), value);
    }
    Ok(out)
}

/// The store an entry reads from: its own `sourceRef.storeRef`, else `spec.secretStoreRef`.
fn store_of(
    spec: &ExternalSecretSpec,
    source: Option<&SourceRef>,
    at: &str,
) -> Result<(Kind, String), FetchError> {
    if source.is_some_and(|s| s.generator_ref.is_some()) {
        return Err(FetchError::Spec(format!(
            "{at}.sourceRef.generatorRef: generators are not supported by sealbox; keep External Secrets Operator for this ExternalSecret"
        )));
    }
    let store: &SecretStoreRef = source
        .and_then(|s| s.store_ref.as_ref())
        .or(spec.secret_store_ref.as_ref())
        .filter(|r| !r.name.is_empty())
        .ok_or_else(|| {
            FetchError::Spec(format!(
                "{at} has no store: set spec.secretStoreRef (or {at}.sourceRef.storeRef)"
            ))
        })?;
    let kind = Kind::of(store).map_err(FetchError::Spec)?;
    Ok((kind, store.name.clone()))
}

/// Every store an ExternalSecret refers to (for the controller-class check).
pub fn store_refs(spec: &ExternalSecretSpec) -> Vec<(Kind, String)> {
    let sources = spec
        .data
        .iter()
        .filter_map(|d| d.source_ref.as_ref())
        .chain(spec.data_from.iter().filter_map(|d| d.source_ref.as_ref()))
        .filter_map(|s| s.store_ref.as_ref());
    let mut refs: Vec<(Kind, String)> = spec
        .secret_store_ref
        .iter()
        .chain(sources)
        .filter(|r| !r.name.is_empty())
        .filter_map(|r| Kind::of(r).ok().map(|k| (k, r.name.clone())))
        .collect();
    refs.sort();
    refs.dedup();
    refs
}

/// What an ExternalSecret reads, one line per entry in order (store, then key and version,
/// or the find query): the seed of its refresh slot (`refresh::phase`).
pub fn read_keys(spec: &ExternalSecretSpec) -> Vec<String> {
    let store = |source: Option<&SourceRef>| {
        source
            .and_then(|s| s.store_ref.as_ref())
            .or(spec.secret_store_ref.as_ref())
            .map(|r| format!("{}/{}", r.kind.as_deref().unwrap_or_default(), r.name))
            .unwrap_or_default()
    };
    let from = spec.data_from.iter().map(|d| {
        let what = match (&d.extract, &d.find) {
            (Some(r), _) => format!("{}#{}", r.key, r.version.as_deref().unwrap_or_default()),
            (None, Some(f)) => format!(
                "find:{}:{}:{:?}",
                f.path.as_deref().unwrap_or_default(),
                f.name
                    .as_ref()
                    .and_then(|n| n.regexp.as_deref())
                    .unwrap_or_default(),
                f.tags
            ),
            (None, None) => String::new(),
        };
        format!("{} {what}", store(d.source_ref.as_ref()))
    });
    let data = spec.data.iter().map(|d| {
        let r = &d.remote_ref;
        format!(
            "{} {}#{}",
            store(d.source_ref.as_ref()),
            r.key,
            r.version.as_deref().unwrap_or_default()
        )
    });
    from.chain(data).collect()
}

/// A `remoteRef` with ESO's defaults (absent `metadataPolicy` is `None`).
fn remote_ref(r: &RemoteRef, since: Instant) -> Ref {
    Ref {
        key: r.key.clone(),
        property: r.property.clone().filter(|p| !p.is_empty()),
        version: r.version.clone().filter(|v| !v.is_empty()),
        metadata: r.metadata_policy.as_deref() == Some("Fetch"),
        fresh_since: Some(since),
    }
}
