//! `dataFrom[].find` (ESO's `GetAllSecrets`, spec §6.3): which API calls each form makes.
//!
//! | find | calls |
//! |---|---|
//! | name | `ListSecrets` (paginated), then `GetSecretValue` per matching name (as ESO) |
//! | name + path | `BatchGetSecretValue` filtered by the `name` prefix, regexp applied here (as ESO) |
//! | tags (± name, ± path) | `ListSecrets` filtered by tag keys and values (+ path), kept only when the secret has every tag pair exactly, then `BatchGetSecretValue` by id, 20 a call; `GetSecretValue` per secret for name + tags without path, as ESO |
//!
//! ESO sends tags as independent `tag-key` and `tag-value` prefix filters and takes what AWS
//! returns, so `{env: prod, team: a}` also matched a secret tagged `env=a, team=prod` or
//! `env=production` (ESO #3031). Here the listed tags are checked pair by pair; `ListSecrets`
//! is already needed by a filtered `BatchGetSecretValue`, so the IAM policy is unchanged.
//!
//! Names returned by AWS are used as they are: ESO re-applied `prefix` to them in the
//! name-only form (a double prefix); `path` is not prefixed, as in ESO.

use std::collections::BTreeMap;
use std::time::Instant;

use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, SecretListEntry};

use super::super::meter::AWS_SECRETS_MANAGER;
use super::super::request::{Find, ProviderError};
use super::sdk::{BATCH, Sdk, outcome, sdk_error};
use super::value::Payload;

/// What errors and logs call a find.
const FIND: &str = "for dataFrom.find";

pub(super) async fn get_all(c: &Sdk, f: &Find) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
    match (&f.name, f.tags.is_empty(), &f.path) {
        (None, true, _) => Err(ProviderError::Config(
            "unexpected find operator: set find.name, find.tags or both".into(),
        )),
        (Some(_), true, None) => {
            let names = list(c, Vec::new(), f).await?;
            fetch_each(c, names, f.fresh_since).await
        }
        (Some(_), true, Some(path)) => {
            batch(
                c,
                Some(vec![filter(FilterNameStringType::Name, path)]),
                None,
                f,
            )
            .await
        }
        (name, false, path) => {
            let mut filters = Vec::new();
            for (k, v) in &f.tags {
                filters.push(filter(FilterNameStringType::TagKey, k));
                filters.push(filter(FilterNameStringType::TagValue, v));
            }
            if let Some(path) = path {
                filters.push(filter(FilterNameStringType::Name, path));
            }
            let names = list(c, filters, f).await?;
            if name.is_some() && path.is_none() {
                fetch_each(c, names, f.fresh_since).await
            } else {
                let mut out = BTreeMap::new();
                for chunk in names.chunks(BATCH) {
                    out.append(&mut batch(c, None, Some(chunk.to_vec()), f).await?);
                }
                Ok(out)
            }
        }
    }
}

fn filter(key: FilterNameStringType, value: &str) -> Filter {
    Filter::builder().key(key).values(value).build()
}

/// The names `ListSecrets` returns for `filters` that match `f`'s name regexp and tag pairs.
async fn list(c: &Sdk, filters: Vec<Filter>, f: &Find) -> Result<Vec<String>, ProviderError> {
    let mut names = Vec::new();
    let mut next = None;
    loop {
        let request =
            c.sm.list_secrets()
                .set_filters((!filters.is_empty()).then(|| filters.clone()))
                .set_next_token(next)
                .send();
        let page = c
            .meter
            .call(AWS_SECRETS_MANAGER, "ListSecrets", request, outcome)
            .await;
        let page = page.map_err(|e| sdk_error("ListSecrets", FIND, &e))?;
        names.extend(
            page.secret_list()
                .iter()
                .filter(|s| has_tags(s, &f.tags) && matches_name(s.name(), f))
                .filter_map(|s| s.name().map(str::to_owned)),
        );
        next = page.next_token;
        if next.is_none() {
            return Ok(names);
        }
    }
}

fn matches_name(name: Option<&str>, f: &Find) -> bool {
    match (&f.name, name) {
        (None, _) => true,
        (Some(re), Some(name)) => re.is_match(name),
        (Some(_), None) => false,
    }
}

/// Whether the listed secret carries every wanted tag with exactly that value.
fn has_tags(secret: &SecretListEntry, wanted: &BTreeMap<String, String>) -> bool {
    wanted.iter().all(|(k, v)| {
        secret
            .tags()
            .iter()
            .any(|t| t.key() == Some(k.as_str()) && t.value() == Some(v.as_str()))
    })
}

/// `GetSecretValue` (AWSCURRENT) of each name, shared with identical reads.
async fn fetch_each(
    c: &Sdk,
    names: Vec<String>,
    since: Option<Instant>,
) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
    let mut out = BTreeMap::new();
    for name in names {
        let payload = c.fetch(&name, None, false, since).await?;
        if let Some(bytes) = bytes(&payload) {
            out.insert(name, bytes);
        }
    }
    Ok(out)
}

/// A find's value of a secret: its binary if it has one (ESO's `setSecretValues`), else its
/// string.
fn bytes(payload: &Payload) -> Option<Vec<u8>> {
    match (&payload.binary, &payload.string) {
        (Some(b), _) => Some(b.to_vec()),
        (None, Some(s)) => Some(s.as_bytes().to_vec()),
        (None, None) => None,
    }
}

/// `BatchGetSecretValue` by `filters` or by `ids`, every page; names filtered by `f.name`.
/// Secrets AWS reports in `Errors` are skipped with a warning, as ESO ignores them.
async fn batch(
    c: &Sdk,
    filters: Option<Vec<Filter>>,
    ids: Option<Vec<String>>,
    f: &Find,
) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
    let mut out = BTreeMap::new();
    let mut next = None;
    loop {
        let request =
            c.sm.batch_get_secret_value()
                .set_filters(filters.clone())
                .set_secret_id_list(ids.clone())
                .set_next_token(next)
                .send();
        let page = c
            .meter
            .call(AWS_SECRETS_MANAGER, "BatchGetSecretValue", request, outcome)
            .await;
        let page = page.map_err(|e| sdk_error("BatchGetSecretValue", FIND, &e))?;
        for error in page.errors() {
            tracing::warn!(
                secret = error.secret_id().unwrap_or_default(),
                code = error.error_code().unwrap_or_default(),
                message = error.message().unwrap_or_default(),
                "BatchGetSecretValue could not read a secret; it is left out of dataFrom.find"
            );
        }
        let page_next = page.next_token;
        for entry in page.secret_values.unwrap_or_default() {
            let Some(name) = entry.name else { continue };
            if !matches_name(Some(&name), f) {
                continue;
            }
            let binary = entry.secret_binary.map(|b| b.into_inner());
            let payload = Payload::read(entry.secret_string, binary);
            if let Some(bytes) = bytes(&payload) {
                out.insert(name, bytes);
            }
        }
        next = page_next;
        if next.is_none() {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_secretsmanager::types::Tag;

    use super::*;

    fn secret(tags: &[(&str, &str)]) -> SecretListEntry {
        SecretListEntry::builder()
            .name("s")
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
                    .collect(),
            ))
            .build()
    }

    #[test]
    fn tags_match_pair_by_pair_not_as_separate_key_and_value_lists() {
        let wanted: BTreeMap<String, String> =
            [("env".into(), "prod".into()), ("team".into(), "a".into())].into();
        assert!(has_tags(
            &secret(&[("env", "prod"), ("team", "a"), ("x", "y")]),
            &wanted
        ));
        // ESO #3031: both keys and both values exist, but not as these pairs.
        assert!(!has_tags(
            &secret(&[("env", "a"), ("team", "prod")]),
            &wanted
        ));
        // AWS's tag-value filter is a prefix match.
        assert!(!has_tags(
            &secret(&[("env", "production"), ("team", "a")]),
            &wanted
        ));
        assert!(!has_tags(&secret(&[("env", "prod")]), &wanted));
        assert!(has_tags(&secret(&[]), &BTreeMap::new()));
    }

    #[test]
    fn names_match_the_regexp_anywhere_as_go_matchstring() {
        let f = Find {
            name: Some(regex::Regex::new("db$").unwrap()),
            ..Find::default()
        };
        assert!(matches_name(Some("team/app/db"), &f));
        assert!(!matches_name(Some("team/db/app"), &f));
        assert!(!matches_name(None, &f));
        assert!(matches_name(None, &Find::default()));
    }
}
