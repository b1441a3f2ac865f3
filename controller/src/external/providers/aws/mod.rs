//! AWS Secrets Manager, read as ESO's `secretsmanager` provider reads it (spec §6).
//!
//! Which method when: [`Client::connect`] once per store and credentials (the controller
//! keeps clients across reconciles; it resolves the credentials, §6.2); [`Client::get_secret`] for a `data[].remoteRef`;
//! [`Client::get_secret_map`] for `dataFrom[].extract`; [`Client::get_all`] for
//! `dataFrom[].find`; [`Client::validate`] for the store's readiness (it calls STS when a role
//! is configured). [`Client::build`] instead of `connect` when the credentials ([`Base`]) and
//! [`Endpoints`] are already known, as in tests.
//!
//! Inside: `auth` resolves credentials, `sdk` makes the calls (identical reads shared) and
//! maps their errors, `find` lists, `value` is the pure part (versions, `property`, extract,
//! tags). The children import each other, `providers::request` and
//! `providers::singleflight`, never this file.
//!
//! ```no_run
//! # async fn demo(
//! #     spec: &sealbox_controller::crd::external::aws::AwsProvider,
//! #     refs: &sealbox_controller::external::refs::Refs,
//! # ) -> Result<(), sealbox_controller::external::providers::ProviderError> {
//! use sealbox_controller::external::providers::{Ref, aws::Client};
//! let client = Client::connect(spec, refs, &Default::default()).await?;
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
mod sdk;
mod value;

use std::collections::BTreeMap;

pub use auth::{Base, Endpoints};
/// The credentials of [`Base::Static`] (re-exported from the AWS SDK).
pub use aws_sdk_secretsmanager::config::Credentials;
use aws_sdk_secretsmanager::config::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use zeroize::Zeroizing;

use super::meter::Meter;
use super::request::{Find, ProviderError, Ref};
use crate::crd::external::aws::AwsProvider;
use crate::external::refs::Refs;

/// A Secrets Manager client for one store; identical reads through it are made once.
pub struct Client {
    sdk: sdk::Sdk,
    credentials: SharedCredentialsProvider,
    prefix: String,
}

impl Client {
    /// Builds the client of `spec`, reading its credentials through `refs`.
    /// Builds the client of `spec`, reading its credentials through `refs`; its calls are
    /// counted by `meter`.
    pub async fn connect(
        spec: &AwsProvider,
        refs: &Refs,
        meter: &Meter,
    ) -> Result<Client, ProviderError> {
        check_spec(spec)?;
        let base = auth::base(spec.auth.as_ref(), refs).await?;
        Client::build(spec, base, &Endpoints::from_env(), meter).await
    }

    /// Builds the client of `spec` from credentials already resolved (`spec.auth` is not
    /// read) and explicit endpoints (the environment is not read); `spec`'s roles are still
    /// assumed. For tests and tools; the controller uses [`Client::connect`].
    pub async fn build(
        spec: &AwsProvider,
        base: Base,
        endpoints: &Endpoints,
        meter: &Meter,
    ) -> Result<Client, ProviderError> {
        check_spec(spec)?;
        let config = auth::config(spec, base, endpoints, meter).await?;
        let credentials = config
            .credentials_provider()
            .expect("auth::config always sets a credentials provider");
        let mut builder = aws_sdk_secretsmanager::config::Builder::from(&config);
        if let Some(url) = &endpoints.secrets_manager {
            builder = builder.endpoint_url(url);
        }
        Ok(Client {
            sdk: sdk::Sdk::new(
                aws_sdk_secretsmanager::Client::from_conf(builder.build()),
                meter.clone(),
            ),
            credentials,
            prefix: spec.prefix.clone().unwrap_or_default(),
        })
    }

    /// One value: the secret string (or binary), or its `property`; with `metadata`, the
    /// secret's tags as a JSON object.
    pub async fn get_secret(&self, r: &Ref) -> Result<Vec<u8>, ProviderError> {
        let payload = self
            .sdk
            .fetch(
                &format!("{}{}", self.prefix, r.key),
                r.version.as_deref(),
                r.metadata,
                r.fresh_since,
            )
            .await?;
        value::select(&payload, r)
    }

    /// Reads the current values of `refs` together (`BatchGetSecretValue`, 20 a call) for
    /// the [`Client::get_secret`] calls that follow, where that saves calls: two or more
    /// secrets not read yet. Pinned versions and metadata are read one by one, as is every
    /// secret when the credentials may not batch. Errors are left to `get_secret`.
    pub async fn prefetch(&self, refs: &[Ref]) {
        let keys: Vec<String> = refs
            .iter()
            .filter(|r| {
                !r.metadata
                    && value::Version::of(r.version.as_deref())
                        == value::Version::Stage("AWSCURRENT")
            })
            .map(|r| format!("{}{}", self.prefix, r.key))
            .collect();
        // The strictest bound of the callers (they share one in a sync). A caller without one
        // takes only a read that starts after it asks: nothing read now would do.
        let bounds: Option<Vec<std::time::Instant>> = refs.iter().map(|r| r.fresh_since).collect();
        if let Some(since) = bounds.and_then(|b| b.into_iter().max()) {
            self.sdk.prefetch(&keys, since).await;
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
        find::get_all(&self.sdk, f).await
    }

    /// Whether the store's credentials resolve (this makes the STS calls of its roles).
    pub async fn validate(&self) -> Result<(), ProviderError> {
        self.credentials().await.map(drop)
    }

    /// The credentials reads are signed with, after every role of the chain is assumed (the
    /// SDK caches them until shortly before they expire).
    pub async fn credentials(&self) -> Result<Credentials, ProviderError> {
        self.credentials.provide_credentials().await.map_err(|e| {
            ProviderError::Failed(format!(
                "AWS credentials cannot be resolved: {}",
                DisplayErrorContext(&e)
            ))
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_endpoint_is_a_failure_naming_the_call() {
        let spec = AwsProvider {
            service: "SecretsManager".into(),
            region: "us-east-1".into(),
            ..AwsProvider::default()
        };
        let endpoints = Endpoints {
            secrets_manager: Some("http://127.0.0.1:9".into()),
            sts: None,
        };
        let c = Client::build(
            &spec,
            Base::Static(Credentials::new("a", "b", None, None, "test")),
            &endpoints,
            &Meter::default(),
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
