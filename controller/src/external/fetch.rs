//! Reading an ExternalSecret's data from its providers (ESO's `GetProviderSecretData`, spec
//! §5.3 step 10): `dataFrom[]` in order, then `data[]`, later keys overwriting earlier ones;
//! each `dataFrom` result rewritten (or its keys converted), validated, decoded and checked
//! for null bytes; each `data[]` value decoded and checked.
//!
//! [`provider_data`] is the one entry point. A secret missing at the provider skips its entry
//! (noted for a `MissingProviderSecret` Event) unless `deletionPolicy` is `Retain`, where it is
//! an error, as in ESO. Each entry that gave no data is named in an [`EntryFailure`] (sealbox's
//! `status.failures`); [`failure`] is the pure rule that makes one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use super::keys::{self, Conversion, Decoding, NullBytePolicy};
use super::policy::DeletionPolicy;
use super::providers::{Client, Find, ProviderError, Ref};
use super::rewrite;
use super::store_id::Kind;
use super::stores::{StoreError, Stores};
use crate::crd::external::ExternalSecretSpec;
use crate::crd::external::externalsecret::{
    Data, DataFrom, EntryFailure, RemoteRef, SecretStoreRef, SourceRef,
};

/// The data read, and the entries skipped as missing at the provider.
#[derive(Debug, Default)]
pub struct Fetched {
    pub data: BTreeMap<String, Vec<u8>>,
    pub missing: Vec<Missing>,
}

/// An entry skipped because its secret is missing at the provider.
#[derive(Debug)]
pub struct Missing {
    pub failure: EntryFailure,
    /// ESO's `MissingProviderSecret` Event message.
    pub event: String,
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
    /// Until when the store's provider is not called (its circuit breaker is open).
    pub fn paused_until(&self) -> Option<Instant> {
        match self {
            FetchError::Store(StoreError::Paused { paused, .. }) => Some(paused.until),
            _ => None,
        }
    }
}

/// A sync that could not read its data: the error, and every entry that gave none (those
/// skipped as missing before it, then the one that failed).
#[derive(Debug)]
pub struct Failed {
    pub error: FetchError,
    pub failures: Vec<EntryFailure>,
}

/// Which entry, for its [`EntryFailure`].
struct Entry<'a> {
    /// `spec.data[i]` or `spec.dataFrom[i]`.
    at: &'a str,
    secret_key: Option<&'a str>,
    remote_key: Option<&'a str>,
}

/// The [`EntryFailure`] of `entry` failing with `error`.
fn failure(entry: &Entry<'_>, error: &FetchError) -> EntryFailure {
    let reason = match error {
        FetchError::Provider(ProviderError::NotFound(_)) => "NotFound",
        FetchError::Provider(_) => "ProviderError",
        FetchError::Store(_) => "StoreError",
        FetchError::Spec(_) => "InvalidEntry",
    };
    EntryFailure {
        entry: entry.at.to_owned(),
        secret_key: entry.secret_key.map(str::to_owned),
        remote_key: entry
            .remote_key
            .filter(|k| !k.is_empty())
            .map(str::to_owned),
        reason: reason.to_owned(),
        message: match error {
            // Without its countdown, which would change the status at every retry.
            FetchError::Store(StoreError::Paused { what, paused }) => {
                format!("{what}: provider calls paused {}", paused.why())
            }
            _ => error.to_string(),
        },
    }
}

/// Reads everything `spec` asks for through `stores`, taking shared reads that started at
/// or after `since` (the reconcile's start).
pub async fn provider_data(
    spec: &ExternalSecretSpec,
    stores: &mut Stores<'_>,
    deletion: DeletionPolicy,
    since: Instant,
) -> Result<Fetched, Failed> {
    let mut out = Fetched::default();
    let mut batches = reads_by_store(spec, since);
    let skip = |e: &FetchError| {
        matches!(e, FetchError::Provider(ProviderError::NotFound(_)))
            && deletion.skips_missing_provider_secret()
    };
    for (i, entry) in spec.data_from.iter().enumerate() {
        let at = format!("spec.dataFrom[{i}]");
        let which = Entry {
            at: &at,
            secret_key: None,
            remote_key: entry.extract.as_ref().map(|r| r.key.as_str()),
        };
        let source = entry.source_ref.as_ref();
        let read = match client_of(spec, source, &at, stores, &mut batches).await {
            Ok(client) => data_from(entry, &at, &client, since).await,
            Err(e) => Err(e),
        };
        match read {
            Ok(map) => out.data.extend(map),
            Err(e) if skip(&e) => out.missing.push(Missing {
                failure: failure(&which, &e),
                event: format!("secret does not exist at provider using {at}"),
            }),
            Err(e) => return Err(failed(out.missing, &which, e)),
        }
    }
    for (i, entry) in spec.data.iter().enumerate() {
        let at = format!("spec.data[{i}]");
        let which = Entry {
            at: &at,
            secret_key: Some(&entry.secret_key),
            remote_key: Some(&entry.remote_ref.key),
        };
        let source = entry.source_ref.as_ref();
        let read = match client_of(spec, source, &at, stores, &mut batches).await {
            Ok(client) => data(entry, &at, &client, since).await,
            Err(e) => Err(e),
        };
        match read {
            Ok(value) => {
                out.data.insert(entry.secret_key.clone(), value);
            }
            Err(e) if skip(&e) => out.missing.push(Missing {
                failure: failure(&which, &e),
                // ESO's message for data[] says dataFrom too (`eventMissingProviderSecretKey`).
                event: format!(
                    "secret does not exist at provider using spec.dataFrom[{i}] (key={})",
                    entry.remote_ref.key
                ),
            }),
            Err(e) => return Err(failed(out.missing, &which, e)),
        }
    }
    Ok(out)
}

fn failed(missing: Vec<Missing>, entry: &Entry<'_>, error: FetchError) -> Failed {
    let mut failures: Vec<EntryFailure> = missing.into_iter().map(|m| m.failure).collect();
    failures.push(failure(entry, &error));
    Failed { error, failures }
}

/// The client of the store an entry reads from. The first time a store is used in a sync, the
/// values its entries read are asked for together ([`Client::prefetch`]).
async fn client_of(
    spec: &ExternalSecretSpec,
    source: Option<&SourceRef>,
    at: &str,
    stores: &mut Stores<'_>,
    batches: &mut BTreeMap<(Kind, String), Vec<Ref>>,
) -> Result<Arc<Client>, FetchError> {
    let store = store_of(spec, source, at)?;
    let client = stores.client(store.0, &store.1).await?;
    if let Some(refs) = batches.remove(&store) {
        client.prefetch(&refs).await;
    }
    Ok(client)
}

/// The single values (`data[].remoteRef`, `dataFrom[].extract`) `spec` reads, by store, for
/// the stores it reads two or more from (reading one together saves nothing).
fn reads_by_store(spec: &ExternalSecretSpec, since: Instant) -> BTreeMap<(Kind, String), Vec<Ref>> {
    let from = spec
        .data_from
        .iter()
        .filter_map(|d| Some((d.source_ref.as_ref(), d.extract.as_ref()?)));
    let data = spec
        .data
        .iter()
        .map(|d| (d.source_ref.as_ref(), &d.remote_ref));
    let mut out: BTreeMap<(Kind, String), Vec<Ref>> = BTreeMap::new();
    for (source, r) in from.chain(data) {
        if let Ok(store) = store_of(spec, source, "") {
            out.entry(store).or_default().push(remote_ref(r, since));
        }
    }
    out.retain(|_, refs| refs.len() > 1);
    out
}

/// The keys and values of one `dataFrom[]` entry.
async fn data_from(
    entry: &DataFrom,
    at: &str,
    client: &Client,
    since: Instant,
) -> Result<BTreeMap<String, Vec<u8>>, FetchError> {
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
    let map = result.map_err(FetchError::Provider)?;
    let spec_err = |e: String| FetchError::Spec(format!("{at}: {e}"));
    let mut map = if entry.rewrite.is_empty() {
        let conversion = Conversion::from_spec(conversion).map_err(spec_err)?;
        keys::convert_keys(map, conversion).map_err(|e| spec_err(e.to_string()))?
    } else {
        rewrite::apply(&entry.rewrite, map).map_err(|e| spec_err(e.to_string()))?
    };
    keys::validate_keys(&mut map).map_err(|e| spec_err(e.to_string()))?;
    let decoding = Decoding::from_spec(decoding).map_err(spec_err)?;
    let map = keys::decode_map(map, decoding).map_err(|e| spec_err(e.to_string()))?;
    let null_bytes = NullBytePolicy::from_spec(null_bytes).map_err(spec_err)?;
    keys::check_null_bytes_map(&map, null_bytes).map_err(|e| spec_err(e.to_string()))?;
    Ok(map)
}

/// The value of one `data[]` entry.
async fn data(
    entry: &Data,
    at: &str,
    client: &Client,
    since: Instant,
) -> Result<Vec<u8>, FetchError> {
    let r = &entry.remote_ref;
    let value = client
        .get_secret(&remote_ref(r, since))
        .await
        .map_err(FetchError::Provider)?;
    let spec_err = |e: String| FetchError::Spec(format!("{at}: {e}"));
    let decoding = Decoding::from_spec(r.decoding_strategy.as_deref()).map_err(spec_err)?;
    let value =
        keys::decode(&entry.secret_key, &value, decoding).map_err(|e| spec_err(e.to_string()))?;
    let null_bytes = NullBytePolicy::from_spec(r.null_byte_policy.as_deref()).map_err(spec_err)?;
    keys::check_null_bytes(&entry.secret_key, &value, null_bytes)
        .map_err(|e| spec_err(e.to_string()))?;
    Ok(value)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_names_its_entry_and_why_in_one_of_four_reasons() {
        let data = Entry {
            at: "spec.data[1]",
            secret_key: Some("password"),
            remote_key: Some("prod/db"),
        };
        let missing = FetchError::Provider(ProviderError::NotFound("gone".into()));
        let f = failure(&data, &missing);
        assert_eq!(
            (
                f.entry.as_str(),
                f.secret_key.as_deref(),
                f.remote_key.as_deref()
            ),
            ("spec.data[1]", Some("password"), Some("prod/db"))
        );
        assert_eq!(
            (f.reason.as_str(), f.message.as_str()),
            ("NotFound", "gone")
        );
        let find = Entry {
            at: "spec.dataFrom[0]",
            secret_key: None,
            remote_key: None,
        };
        let reasons: Vec<String> = [
            FetchError::Provider(ProviderError::Failed("503".into())),
            FetchError::Provider(ProviderError::Config("no role".into())),
            FetchError::Store(StoreError::Unusable("not ready".into())),
            FetchError::Spec("not base64".into()),
        ]
        .iter()
        .map(|e| failure(&find, e).reason)
        .collect();
        assert_eq!(
            reasons,
            [
                "ProviderError",
                "ProviderError",
                "StoreError",
                "InvalidEntry"
            ]
        );
    }

    #[test]
    fn the_single_values_of_a_spec_are_grouped_by_store_for_prefetching() {
        let spec: ExternalSecretSpec = serde_json::from_value(serde_json::json!({
            "secretStoreRef": {"name": "aws"},
            "dataFrom": [
                {"extract": {"key": "team/json"}},
                {"find": {"name": {"regexp": "^team/"}}},
                {"extract": {"key": "other/json"},
                 "sourceRef": {"storeRef": {"name": "vault", "kind": "ClusterSecretStore"}}}
            ],
            "data": [
                {"secretKey": "a", "remoteRef": {"key": "team/a", "property": "p"}},
                {"secretKey": "b", "remoteRef": {"key": "team/b", "version": "uuid/1"}},
                {"secretKey": "c", "remoteRef": {"key": "other/c"},
                 "sourceRef": {"storeRef": {"name": "vault", "kind": "ClusterSecretStore"}}}
            ]
        }))
        .unwrap();
        let since = Instant::now();
        let plan = reads_by_store(&spec, since);
        let keys = |kind, name: &str| -> Vec<(String, Option<String>)> {
            plan[&(kind, name.to_owned())]
                .iter()
                .map(|r| (r.key.clone(), r.version.clone()))
                .collect()
        };
        assert_eq!(plan.len(), 2);
        assert_eq!(
            keys(Kind::Namespaced, "aws"),
            [
                ("team/json".into(), None),
                ("team/a".into(), None),
                ("team/b".into(), Some("uuid/1".into()))
            ]
        );
        assert_eq!(
            keys(Kind::Cluster, "vault"),
            [("other/json".into(), None), ("other/c".into(), None)]
        );
        assert!(
            plan.values()
                .flatten()
                .all(|r| r.fresh_since == Some(since))
        );
    }

    #[test]
    fn an_empty_remote_key_is_left_out() {
        let entry = Entry {
            at: "spec.dataFrom[0]",
            secret_key: None,
            remote_key: Some(""),
        };
        let f = failure(&entry, &FetchError::Spec("x".into()));
        assert_eq!(f.remote_key, None);
    }
}
