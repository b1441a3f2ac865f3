//! AWS Secrets Manager, read as ESO's `secretsmanager` provider reads it (spec §6).
//!
//! Which method when: [`Client::connect`] once per store and reconcile (it resolves the
//! credentials, §6.2); [`Client::get_secret`] for a `data[].remoteRef`;
//! [`Client::get_secret_map`] for `dataFrom[].extract`; [`Client::get_all`] for
//! `dataFrom[].find`; [`Client::validate`] for the store's readiness (it calls STS when a role
//! is configured).
//!
//! ```no_run
//! # async fn demo(
//! #     spec: &sealbox_controller::crd::external::aws::AwsProvider,
//! #     refs: &sealbox_controller::external::refs::Refs,
//! # ) -> Result<(), sealbox_controller::external::providers::ProviderError> {
//! use sealbox_controller::external::providers::{Ref, aws::Client};
//! let client = Client::connect(spec, refs).await?;
//! let password = client
//!     .get_secret(&Ref { key: "team/db".into(), property: Some("password".into()), ..Ref::default() })
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Endpoints: `AWS_SECRETSMANAGER_ENDPOINT` and `AWS_STS_ENDPOINT` (ESO's variables) win over
//! the SDK's `AWS_ENDPOINT_URL[_SECRETS_MANAGER|_STS]`.

mod auth;
mod find;
#[cfg(test)]
mod moto_tests;
mod value;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use aws_sdk_secretsmanager::config::SharedCredentialsProvider;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata};
use zeroize::Zeroizing;

use super::request::{Find, ProviderError, Ref};
use crate::crd::external::aws::AwsProvider;
use crate::external::refs::Refs;
use value::{Payload, Version};

/// A Secrets Manager client for one store, with ESO's per-reconcile memo of fetched values.
pub struct Client {
    sm: aws_sdk_secretsmanager::Client,
    credentials: SharedCredentialsProvider,
    prefix: String,
    /// `key#version#SECRET|TAG` → payload, so several `data[]` entries reading one secret make
    /// one call (ESO's `fetch` cache; it lives as long as this client).
    memo: Mutex<HashMap<String, Arc<Payload>>>,
}

impl Client {
    /// Builds the client of `spec`, reading its credentials through `refs`.
    pub async fn connect(spec: &AwsProvider, refs: &Refs) -> Result<Client, ProviderError> {
        check_spec(spec)?;
        let base = auth::base(spec.auth.as_ref(), refs).await?;
        Client::build(spec, base, &auth::Endpoints::from_env()).await
    }

    async fn build(
        spec: &AwsProvider,
        base: auth::Base,
        endpoints: &auth::Endpoints,
    ) -> Result<Client, ProviderError> {
        check_spec(spec)?;
        let config = auth::config(spec, base, endpoints).await?;
        let credentials = config
            .credentials_provider()
            .expect("auth::config always sets a credentials provider");
        let mut builder = aws_sdk_secretsmanager::config::Builder::from(&config);
        if let Some(url) = &endpoints.secrets_manager {
            builder = builder.endpoint_url(url);
        }
        Ok(Client {
            sm: aws_sdk_secretsmanager::Client::from_conf(builder.build()),
            credentials,
            prefix: spec.prefix.clone().unwrap_or_default(),
            memo: Mutex::default(),
        })
    }

    /// One value: the secret string (or binary), or its `property`; with `metadata`, the
    /// secret's tags as a JSON object.
    pub async fn get_secret(&self, r: &Ref) -> Result<Vec<u8>, ProviderError> {
        let payload = self
            .fetch(
                &format!("{}{}", self.prefix, r.key),
                r.version.as_deref(),
                r.metadata,
            )
            .await?;
        match r.property.as_deref().filter(|p| !p.is_empty()) {
            None => match (&payload.string, &payload.binary) {
                (Some(s), _) => Ok(s.as_bytes().to_vec()),
                (None, Some(b)) => Ok(b.to_vec()),
                (None, None) => Err(ProviderError::Failed(format!(
                    "invalid secret received. no secret string nor binary for key: {}",
                    r.key
                ))),
            },
            Some(property) => {
                // ESO reads a property from the binary when there is one.
                let text: &[u8] = match (&payload.binary, &payload.string) {
                    (Some(b), _) => b,
                    (None, Some(s)) => s.as_bytes(),
                    (None, None) => b"",
                };
                value::property(text, property)
                    .map(|v| v.as_bytes().to_vec())
                    .ok_or_else(|| {
                        ProviderError::Config(format!(
                            "key {property} does not exist in secret {}",
                            r.key
                        ))
                    })
            }
        }
    }

    /// The keys of the JSON object `r` reads (after `property`), for `dataFrom[].extract`.
    pub async fn get_secret_map(
        &self,
        r: &Ref,
    ) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
        let data = Zeroizing::new(self.get_secret(r).await?);
        value::extract(&data, &r.key)
    }

    /// The secrets `find` selects, keyed by their full names (spec §6.3's table).
    pub async fn get_all(&self, f: &Find) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
        find::get_all(self, f).await
    }

    /// Whether the store's credentials resolve (this makes the STS calls of its roles).
    pub async fn validate(&self) -> Result<(), ProviderError> {
        use aws_sdk_secretsmanager::config::ProvideCredentials;
        self.credentials
            .provide_credentials()
            .await
            .map(drop)
            .map_err(|e| {
                ProviderError::Failed(format!(
                    "AWS credentials cannot be resolved: {}",
                    DisplayErrorContext(&e)
                ))
            })
    }

    /// `GetSecretValue` (or `DescribeSecret` for metadata) of `key`, once per client.
    async fn fetch(
        &self,
        key: &str,
        version: Option<&str>,
        metadata: bool,
    ) -> Result<Arc<Payload>, ProviderError> {
        let memo_key = format!(
            "{key}#{}#{}",
            version.filter(|v| !v.is_empty()).unwrap_or("AWSCURRENT"),
            if metadata { "TAG" } else { "SECRET" }
        );
        if let Some(hit) = self.memo.lock().unwrap().get(&memo_key) {
            return Ok(hit.clone());
        }
        let payload = if metadata {
            let out = self
                .sm
                .describe_secret()
                .secret_id(key)
                .send()
                .await
                .map_err(|e| sdk_error("DescribeSecret", key, &e))?;
            let tags = out
                .tags()
                .iter()
                .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()));
            Payload {
                string: Some(Zeroizing::new(value::tags_json(tags))),
                binary: None,
            }
        } else {
            let request = self.sm.get_secret_value().secret_id(key);
            let request = match Version::of(version) {
                Version::Stage(stage) => request.version_stage(stage),
                Version::Id(id) => request.version_id(id),
            };
            let out = request
                .send()
                .await
                .map_err(|e| sdk_error("GetSecretValue", key, &e))?;
            Payload {
                string: out.secret_string.map(Zeroizing::new),
                binary: out.secret_binary.map(|b| Zeroizing::new(b.into_inner())),
            }
        };
        let payload = Arc::new(payload);
        self.memo.lock().unwrap().insert(memo_key, payload.clone());
        Ok(payload)
    }
}

fn check_spec(spec: &AwsProvider) -> Result<(), ProviderError> {
    if spec.service != "SecretsManager" {
        return Err(ProviderError::Config(format!(
            "spec.provider.aws.service {:?} is not supported: sealbox syncs from AWS Secrets Manager only (service: SecretsManager); keep External Secrets Operator for this store",
            spec.service
        )));
    }
    if spec.region.is_empty() {
        return Err(ProviderError::Config(
            "spec.provider.aws.region is empty: set the region of the secrets (e.g. eu-west-1)"
                .into(),
        ));
    }
    Ok(())
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
fn sdk_error<E>(op: &str, key: &str, e: &E) -> ProviderError
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
    use aws_sdk_secretsmanager::config::Credentials;

    use super::*;

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

    #[tokio::test]
    async fn an_unreachable_endpoint_is_a_failure_naming_the_call() {
        let spec = AwsProvider {
            service: "SecretsManager".into(),
            region: "us-east-1".into(),
            ..AwsProvider::default()
        };
        let endpoints = auth::Endpoints {
            secrets_manager: Some("http://127.0.0.1:9".into()),
            sts: None,
        };
        let c = Client::build(
            &spec,
            auth::Base::Static(Credentials::new("a", "b", None, None, "test")),
            &endpoints,
        )
        .await
        .unwrap();
        let key = Ref {
            key: "team/db".into(),
            ..Ref::default()
        };
        let Err(ProviderError::Failed(msg)) = c.get_secret(&key).await else {
            panic!("not Failed")
        };
        assert!(msg.starts_with("GetSecretValue team/db: "), "{msg}");
    }

    #[test]
    fn only_secrets_manager_stores_with_a_region_are_accepted() {
        let spec = |service: &str, region: &str| AwsProvider {
            service: service.into(),
            region: region.into(),
            ..AwsProvider::default()
        };
        assert!(check_spec(&spec("SecretsManager", "eu-west-1")).is_ok());
        let Err(ProviderError::Config(msg)) = check_spec(&spec("ParameterStore", "eu-west-1"))
        else {
            panic!("accepted")
        };
        assert!(msg.contains("\"ParameterStore\"") && msg.contains("Secrets Manager only"));
        assert!(matches!(
            check_spec(&spec("SecretsManager", "")),
            Err(ProviderError::Config(m)) if m.contains("region")
        ));
    }
}
