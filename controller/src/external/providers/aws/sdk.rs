//! The Secrets Manager calls every read goes through: [`Sdk::fetch`] (shared by identical
//! reads, [`Singleflight`]), [`Sdk::prefetch`] (several current values in one
//! `BatchGetSecretValue`, for `fetch` to take) and [`sdk_error`], which turns a failed call
//! into a [`ProviderError`]. `find` uses the SDK client directly for its listing and batch
//! calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::primitives::Blob;
use zeroize::Zeroizing;

use super::super::meter::{AWS_SECRETS_MANAGER, Meter, Outcome};
use super::super::request::ProviderError;
use super::super::singleflight::Singleflight;
use super::value::{Payload, Version, tags_json};

/// The SDK client of one store and the values recently fetched through it.
pub(super) struct Sdk {
    pub(super) sm: aws_sdk_secretsmanager::Client,
    /// Counts every call, `find`'s too.
    pub(super) meter: Meter,
    /// `key#version#SECRET|TAG` → payload: several `data[]` entries, and ExternalSecrets
    /// refreshed together, reading one secret make one call (ESO's `fetch` cache, shared).
    reads: Singleflight<Payload>,
    /// The credentials may not call `BatchGetSecretValue` (ESO's documented policy for
    /// `data[]` grants `GetSecretValue` only): read one secret at a time.
    batch_denied: AtomicBool,
}

/// `BatchGetSecretValue` takes at most 20 ids.
pub(super) const BATCH: usize = 20;

/// The [`Singleflight`] key of a read.
fn memo_key(key: &str, version: Option<&str>, metadata: bool) -> String {
    format!(
        "{key}#{}#{}",
        version.filter(|v| !v.is_empty()).unwrap_or("AWSCURRENT"),
        if metadata { "TAG" } else { "SECRET" }
    )
}

impl Sdk {
    pub(super) fn new(sm: aws_sdk_secretsmanager::Client, meter: Meter) -> Sdk {
        Sdk {
            sm,
            meter,
            reads: Singleflight::default(),
            batch_denied: AtomicBool::new(false),
        }
    }

    /// Reads the current values of `keys` with `BatchGetSecretValue`, [`BATCH`] a call, for
    /// [`Sdk::fetch`] to take with a bound no later than `since`. Keys already read (or being
    /// read) since then are left out, and fewer than two are left to `fetch`. A key a batch
    /// does not return (missing, denied, named by a partial ARN) is left to `fetch` too, so
    /// its error is `GetSecretValue`'s, as without batching.
    pub(super) async fn prefetch(&self, keys: &[String], since: Instant) {
        if self.batch_denied.load(Ordering::Relaxed) {
            return;
        }
        let mut wanted: Vec<&String> = keys
            .iter()
            .filter(|k| !self.reads.has(&memo_key(k, None, false), since))
            .collect();
        wanted.sort();
        wanted.dedup();
        if wanted.len() < 2 {
            return;
        }
        for chunk in wanted.chunks(BATCH) {
            let started = Instant::now();
            let ids: Vec<String> = chunk.iter().map(|k| (*k).clone()).collect();
            let request = self
                .sm
                .batch_get_secret_value()
                .set_secret_id_list(Some(ids))
                .send();
            let out = self
                .meter
                .call(AWS_SECRETS_MANAGER, "BatchGetSecretValue", request, outcome)
                .await;
            let out = match out {
                Ok(out) => out,
                Err(e) => {
                    if denied(&e) {
                        self.batch_denied.store(true, Ordering::Relaxed);
                        tracing::info!(
                            "BatchGetSecretValue is denied: reading secrets one at a time with GetSecretValue (allow secretsmanager:BatchGetSecretValue to save calls)"
                        );
                    }
                    return;
                }
            };
            for entry in out.secret_values.unwrap_or_default() {
                let asked = chunk.iter().find(|k| {
                    entry.name.as_deref() == Some(k.as_str())
                        || entry.arn.as_deref() == Some(k.as_str())
                });
                if let Some(key) = asked {
                    let binary = entry.secret_binary.map(Blob::into_inner);
                    let payload = Payload::read(entry.secret_string, binary);
                    self.reads
                        .put(&memo_key(key, None, false), started, payload);
                }
            }
        }
    }

    /// `GetSecretValue` (or `DescribeSecret` for metadata) of `key`, or a read of it that
    /// started at or after `since`.
    pub(super) async fn fetch(
        &self,
        key: &str,
        version: Option<&str>,
        metadata: bool,
        since: Option<Instant>,
    ) -> Result<Arc<Payload>, ProviderError> {
        let memo_key = memo_key(key, version, metadata);
        self.reads
            .get(&memo_key, since, || self.call(key, version, metadata))
            .await
    }

    async fn call(
        &self,
        key: &str,
        version: Option<&str>,
        metadata: bool,
    ) -> Result<Payload, ProviderError> {
        Ok(if metadata {
            let request = self.sm.describe_secret().secret_id(key).send();
            let out = self
                .meter
                .call(AWS_SECRETS_MANAGER, "DescribeSecret", request, outcome)
                .await;
            let out = out.map_err(|e| sdk_error("DescribeSecret", key, &e))?;
            let tags = out
                .tags()
                .iter()
                .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()));
            Payload {
                string: Some(Zeroizing::new(tags_json(tags))),
                binary: None,
            }
        } else {
            let request = self.sm.get_secret_value().secret_id(key);
            let request = match Version::of(version) {
                Version::Stage(stage) => request.version_stage(stage),
                Version::Id(id) => request.version_id(id),
            };
            let out = self
                .meter
                .call(
                    AWS_SECRETS_MANAGER,
                    "GetSecretValue",
                    request.send(),
                    outcome,
                )
                .await;
            let out = out.map_err(|e| sdk_error("GetSecretValue", key, &e))?;
            Payload::read(out.secret_string, out.secret_binary.map(Blob::into_inner))
        })
    }
}

/// Whether a call was refused for want of permission: AWS's `AccessDeniedException`, or any
/// 403 (moto, enforcing IAM, answers a JSON-protocol call with an XML `AccessDenied`).
fn denied<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    matches!(e.code(), Some("AccessDeniedException" | "AccessDenied"))
        || e.raw_response().is_some_and(|r| r.status().as_u16() == 403)
}

/// AWS error codes that mean "too many calls" (the SDK's own throttling list).
const THROTTLING: [&str; 8] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "SlowDown",
];

/// AWS error codes of a failing service (not of a wrong request).
const SERVER_FAULTS: [&str; 4] = [
    "InternalServiceError",
    "InternalFailure",
    "InternalServiceErrorException",
    "ServiceUnavailable",
];

/// How an SDK call ended, for the meter (and the store's breaker): a transport failure or a
/// server fault is `Failed`, a throttling code `Throttled`, any other error code `Refused`.
pub(super) fn outcome<T, E, R>(result: &Result<T, SdkError<E, R>>) -> Outcome
where
    E: ProvideErrorMetadata,
{
    match result {
        Ok(_) => Outcome::Success,
        Err(SdkError::ServiceError(e)) => outcome_of_code(e.err().code()),
        Err(SdkError::ConstructionFailure(_)) => Outcome::Refused,
        Err(_) => Outcome::Failed,
    }
}

fn outcome_of_code(code: Option<&str>) -> Outcome {
    match code {
        Some(code) if THROTTLING.contains(&code) => Outcome::Throttled(None),
        Some(code) if SERVER_FAULTS.contains(&code) => Outcome::Failed,
        Some(_) => Outcome::Refused,
        None => Outcome::Failed,
    }
}

/// How a failed call counts for the reconciler.
#[derive(Debug, PartialEq, Eq)]
enum Class {
    /// The secret does not exist or is scheduled for deletion: ESO's `NoSecretErr`.
    Missing,
    /// Anything else, retried with backoff.
    Failed,
}

/// ESO's `NoSecretErr` cases; an `InvalidRequestException` is what AWS returns for a secret
/// pending deletion, ESO checks `InvalidParameterException`: both count. AWS says "was marked
/// for deletion", moto "currently marked deleted".
fn classify(code: Option<&str>, message: Option<&str>) -> Class {
    let deleting =
        message.is_some_and(|m| m.contains("marked for deletion") || m.contains("marked deleted"));
    match code {
        Some("ResourceNotFoundException") => Class::Missing,
        Some("InvalidRequestException" | "InvalidParameterException") if deleting => Class::Missing,
        _ => Class::Failed,
    }
}

/// A provider error for a failed SDK call on `key`: the AWS code and message (never a
/// value), or the whole error chain for transport and credential failures.
pub(super) fn sdk_error<E>(op: &str, key: &str, e: &E) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match (classify(e.code(), e.message()), e.code()) {
        (Class::Missing, _) => ProviderError::NotFound(format!(
            "secret {key} does not exist in AWS Secrets Manager or is marked for deletion ({op}: {})",
            e.message().unwrap_or_default()
        )),
        (Class::Failed, Some(code)) => ProviderError::Failed(format!(
            "{op} {key}: {code}: {}",
            e.message().unwrap_or_default()
        )),
        (Class::Failed, None) => {
            ProviderError::Failed(format!("{op} {key}: {}", DisplayErrorContext(e)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_codes_pause_the_store_server_faults_count_as_failures() {
        assert_eq!(
            outcome_of_code(Some("ThrottlingException")),
            Outcome::Throttled(None)
        );
        assert_eq!(
            outcome_of_code(Some("InternalServiceError")),
            Outcome::Failed
        );
        assert_eq!(
            outcome_of_code(Some("ResourceNotFoundException")),
            Outcome::Refused
        );
        assert_eq!(
            outcome_of_code(Some("AccessDeniedException")),
            Outcome::Refused
        );
        assert_eq!(outcome_of_code(None), Outcome::Failed);
    }

    #[test]
    fn missing_and_deleted_secrets_are_not_found_everything_else_failed() {
        assert_eq!(
            classify(Some("ResourceNotFoundException"), None),
            Class::Missing
        );
        let deleting = Some(
            "You can't perform this operation on the secret because it was marked for deletion.",
        );
        assert_eq!(
            classify(Some("InvalidRequestException"), deleting),
            Class::Missing
        );
        assert_eq!(
            classify(Some("InvalidParameterException"), deleting),
            Class::Missing
        );
        let moto =
            Some("You tried to perform the operation on a secret that's currently marked deleted.");
        assert_eq!(
            classify(Some("InvalidRequestException"), moto),
            Class::Missing
        );
        assert_eq!(
            classify(Some("InvalidRequestException"), Some("other")),
            Class::Failed
        );
        assert_eq!(
            classify(Some("ThrottlingException"), deleting),
            Class::Failed
        );
        assert_eq!(classify(Some("AccessDeniedException"), None), Class::Failed);
        assert_eq!(classify(None, None), Class::Failed);
    }
}
