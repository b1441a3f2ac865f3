//! AWS credentials in ESO's order (`auth/auth.go`, spec §6.2): `auth.jwt`, else
//! `auth.secretRef`, else the SDK's default chain; then each `additionalRoles` entry and `role`
//! as chained AssumeRole calls.
//!
//! The STS exchanges are our own small providers rather than aws-config's: its web-identity
//! provider reads the token from a file (the TokenRequest token must never touch disk), and its
//! AssumeRole provider cannot pass `transitiveTagKeys`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::future;
use aws_sdk_secretsmanager::config::{Credentials, ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sts::types::Tag;
use zeroize::Zeroizing;

use super::super::meter::{AWS_STS, Meter};
use super::super::request::ProviderError;
use super::sdk::outcome;
use crate::crd::external::SecretKeySelector;
use crate::crd::external::aws::{AwsAuth, AwsProvider};
use crate::external::refs::Refs;

/// ESO's environment overrides of the service endpoints (`secretsmanager/resolver.go`,
/// `auth/resolver.go`). When unset, the SDK's own `AWS_ENDPOINT_URL`,
/// `AWS_ENDPOINT_URL_SECRETS_MANAGER` and `AWS_ENDPOINT_URL_STS` apply.
#[derive(Clone, Debug, Default)]
pub struct Endpoints {
    /// `AWS_SECRETSMANAGER_ENDPOINT`.
    pub secrets_manager: Option<String>,
    /// `AWS_STS_ENDPOINT`.
    pub sts: Option<String>,
}

impl Endpoints {
    /// ESO's variables, empty ones ignored.
    pub fn from_env() -> Endpoints {
        let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
        Endpoints {
            secrets_manager: var("AWS_SECRETSMANAGER_ENDPOINT"),
            sts: var("AWS_STS_ENDPOINT"),
        }
    }
}

/// Where the first credentials of the chain come from (what `auth` resolved to).
pub enum Base {
    /// `auth.jwt`: AssumeRoleWithWebIdentity with a ServiceAccount token.
    WebIdentity {
        role_arn: String,
        token: Zeroizing<String>,
        service_account: String,
    },
    /// `auth.secretRef`.
    Static(Credentials),
    /// No `auth`: the controller pod's environment, web identity file, profile or IMDS.
    DefaultChain,
}

/// The annotation naming the role a `serviceAccountRef` assumes, and the token audience.
const ROLE_ARN_ANNOTATION: &str = "eks.amazonaws.com/role-arn";
const AUDIENCE_ANNOTATION: &str = "eks.amazonaws.com/audience";
const DEFAULT_AUDIENCE: &str = "sts.amazonaws.com";
/// ESO's RoleSessionName for web identity, kept so CloudTrail and trust policies see the same.
const WEB_IDENTITY_SESSION: &str = "external-secrets-provider-aws";

/// Reads the credentials `auth` points at (Secrets, a ServiceAccount token).
pub(super) async fn base(auth: Option<&AwsAuth>, refs: &Refs) -> Result<Base, ProviderError> {
    let auth = auth.cloned().unwrap_or_default();
    if let Some(jwt) = &auth.jwt {
        let selector = jwt.service_account_ref.as_ref().ok_or_else(|| {
            ProviderError::Config(
                "spec.provider.aws.auth.jwt has no serviceAccountRef: name the ServiceAccount whose token is exchanged".into(),
            )
        })?;
        let sa = refs.service_account(selector).await?;
        let ns = sa.metadata.namespace.clone().unwrap_or_default();
        let annotations = sa.metadata.annotations.unwrap_or_default();
        let role_arn = annotations
            .get(ROLE_ARN_ANNOTATION)
            .filter(|r| !r.is_empty())
            .cloned()
            .ok_or_else(|| {
                ProviderError::Config(format!(
                    "an IAM role must be associated with service account {} (namespace: {ns}): annotate it with {ROLE_ARN_ANNOTATION} (spec.provider.aws.auth.jwt.serviceAccountRef)",
                    selector.name
                ))
            })?;
        let mut audiences = vec![
            annotations
                .get(AUDIENCE_ANNOTATION)
                .filter(|a| !a.is_empty())
                .cloned()
                .unwrap_or_else(|| DEFAULT_AUDIENCE.into()),
        ];
        audiences.extend(selector.audiences.iter().cloned());
        let token = refs
            .service_account_token(selector, audiences, None)
            .await?;
        return Ok(Base::WebIdentity {
            role_arn,
            token,
            service_account: format!("{ns}/{}", selector.name),
        });
    }
    if let Some(secret_ref) = &auth.secret_ref {
        let akid = secret_text(refs, &secret_ref.access_key_id, "accessKeyIDSecretRef").await?;
        let sak = secret_text(
            refs,
            &secret_ref.secret_access_key,
            "secretAccessKeySecretRef",
        )
        .await?;
        let token = match &secret_ref.session_token {
            Some(selector) => Some(secret_text(refs, selector, "sessionTokenSecretRef").await?),
            None => None,
        };
        return Ok(Base::Static(Credentials::new(
            akid.as_str(),
            sak.as_str(),
            token.map(|t| t.to_string()),
            None,
            "spec.provider.aws.auth.secretRef",
        )));
    }
    Ok(Base::DefaultChain)
}

/// The text of one `auth.secretRef` key; `field` names the selector in errors.
async fn secret_text(
    refs: &Refs,
    selector: &SecretKeySelector,
    field: &str,
) -> Result<Zeroizing<String>, ProviderError> {
    if selector.key.is_empty() {
        return Err(ProviderError::Config(format!(
            "spec.provider.aws.auth.secretRef.{field} names no key: set its `key`"
        )));
    }
    let bytes = refs.secret_key(selector, "").await?;
    String::from_utf8(bytes.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| {
            ProviderError::Config(format!(
                "spec.provider.aws.auth.secretRef.{field}: key {:?} of Secret {:?} is not UTF-8 text",
                selector.key, selector.name
            ))
        })
}

/// The SDK configuration for `spec`'s region with `base` then its roles assumed in order.
pub(super) async fn config(
    spec: &AwsProvider,
    base: Base,
    endpoints: &Endpoints,
    meter: &Meter,
) -> Result<SdkConfig, ProviderError> {
    // ESO declares sessionTagsPolicy (and customSessionTags) but never reads it: only
    // sessionTags are sent, whatever the policy says. Accepted and ignored the same way.
    if let Some(policy) = spec
        .session_tags_policy
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        tracing::debug!(
            policy,
            "spec.provider.aws.sessionTagsPolicy is ignored, as External Secrets Operator ignores it: only sessionTags are sent"
        );
    }
    let loader =
        || aws_config::defaults(BehaviorVersion::latest()).region(Region::new(spec.region.clone()));
    let mut config = match base {
        Base::WebIdentity {
            role_arn,
            token,
            service_account,
        } => {
            let sts = sts_client(&loader().no_credentials().load().await, endpoints);
            let exchange = StsExchange {
                sts,
                meter: meter.clone(),
                field: format!(
                    "spec.provider.aws.auth.jwt (ServiceAccount {service_account}, role {role_arn})"
                ),
                call: Call::WebIdentity { role_arn, token },
            };
            loader().credentials_provider(exchange).load().await
        }
        Base::Static(credentials) => loader().credentials_provider(credentials).load().await,
        Base::DefaultChain => {
            let config = loader().load().await;
            let chain = config.credentials_provider().ok_or_else(|| {
                ProviderError::Config(
                    "no AWS credentials: set spec.provider.aws.auth (secretRef or jwt)".into(),
                )
            })?;
            let labelled = Labelled {
                inner: chain,
                field: "the controller's default AWS credentials (environment, web identity file, profile, IMDS; spec.provider.aws.auth is not set)",
            };
            config
                .into_builder()
                .credentials_provider(SharedCredentialsProvider::new(labelled))
                .build()
        }
    };
    for (i, role_arn) in spec.additional_roles.iter().enumerate() {
        let call = Call::AssumeRole {
            role_arn: role_arn.clone(),
            external_id: None,
            tags: Vec::new(),
            transitive_tag_keys: Vec::new(),
        };
        config = assume(
            config,
            endpoints,
            call,
            format!("spec.provider.aws.additionalRoles[{i}] ({role_arn})"),
            meter,
        );
    }
    if let Some(role_arn) = spec.role.as_ref().filter(|r| !r.is_empty()) {
        let tags = spec
            .session_tags
            .iter()
            .map(|t| Tag::builder().key(&t.key).value(&t.value).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ProviderError::Config(format!("spec.provider.aws.sessionTags: {e}")))?;
        let call = Call::AssumeRole {
            role_arn: role_arn.clone(),
            external_id: spec.external_id.clone().filter(|e| !e.is_empty()),
            transitive_tag_keys: spec.transitive_tag_keys.clone(),
            tags,
        };
        config = assume(
            config,
            endpoints,
            call,
            format!("spec.provider.aws.role ({role_arn})"),
            meter,
        );
    }
    // The reads (through the client's identity cache) and the store's validation (which asks
    // the provider directly) share one set of credentials until shortly before it expires.
    let credentials = config
        .credentials_provider()
        .expect("every branch sets a credentials provider");
    let cached = Cached {
        inner: credentials,
        last: tokio::sync::Mutex::new(None),
    };
    Ok(config
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(cached))
        .build())
}

/// How long before they expire credentials are replaced.
const EXPIRY_MARGIN: Duration = Duration::from_secs(300);

/// Whether credentials can still be handed out at `now`.
fn fresh(credentials: &Credentials, now: SystemTime) -> bool {
    credentials
        .expiry()
        .is_none_or(|expiry| expiry > now + EXPIRY_MARGIN)
}

/// The last credentials `inner` gave, until they are no longer [`fresh`]; one refresh at a
/// time.
#[derive(Debug)]
struct Cached {
    inner: SharedCredentialsProvider,
    last: tokio::sync::Mutex<Option<Credentials>>,
}

impl Cached {
    async fn get(&self) -> Result<Credentials, CredentialsError> {
        let mut last = self.last.lock().await;
        if let Some(credentials) = last.as_ref().filter(|c| fresh(c, SystemTime::now())) {
            return Ok(credentials.clone());
        }
        let credentials = self.inner.provide_credentials().await?;
        *last = Some(credentials.clone());
        Ok(credentials)
    }
}

impl ProvideCredentials for Cached {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.get())
    }
}

/// `config` with its credentials replaced by those of `call`, made with its current ones.
fn assume(
    config: SdkConfig,
    endpoints: &Endpoints,
    call: Call,
    field: String,
    meter: &Meter,
) -> SdkConfig {
    let exchange = StsExchange {
        sts: sts_client(&config, endpoints),
        meter: meter.clone(),
        field,
        call,
    };
    config
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(exchange))
        .build()
}

fn sts_client(config: &SdkConfig, endpoints: &Endpoints) -> aws_sdk_sts::Client {
    let mut builder = aws_sdk_sts::config::Builder::from(config);
    if let Some(url) = &endpoints.sts {
        builder = builder.endpoint_url(url);
    }
    aws_sdk_sts::Client::from_conf(builder.build())
}

/// One STS call that yields credentials.
enum Call {
    AssumeRole {
        role_arn: String,
        external_id: Option<String>,
        tags: Vec<Tag>,
        transitive_tag_keys: Vec<String>,
    },
    WebIdentity {
        role_arn: String,
        token: Zeroizing<String>,
    },
}

/// A credentials provider that makes one STS call per refresh; the SDK's identity cache in
/// front of it keeps the result until shortly before it expires.
struct StsExchange {
    sts: aws_sdk_sts::Client,
    meter: Meter,
    /// The store field to fix when the call fails.
    field: String,
    call: Call,
}

impl std::fmt::Debug for StsExchange {
    // The token and the returned keys are never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StsExchange")
            .field("field", &self.field)
            .finish_non_exhaustive()
    }
}

impl StsExchange {
    async fn exchange(&self) -> Result<Credentials, CredentialsError> {
        let reply = match &self.call {
            Call::AssumeRole {
                role_arn,
                external_id,
                tags,
                transitive_tag_keys,
            } => {
                let request = self
                    .sts
                    .assume_role()
                    .role_arn(role_arn)
                    .role_session_name(session_name())
                    .set_external_id(external_id.clone())
                    .set_tags((!tags.is_empty()).then(|| tags.clone()))
                    .set_transitive_tag_keys(
                        (!transitive_tag_keys.is_empty()).then(|| transitive_tag_keys.clone()),
                    )
                    .send();
                let reply = self
                    .meter
                    .call(AWS_STS, "AssumeRole", request, outcome)
                    .await;
                let reply = reply.map(|out| out.credentials);
                reply.map_err(|e| self.failed("AssumeRole", &e))
            }
            Call::WebIdentity { role_arn, token } => {
                let request = self
                    .sts
                    .assume_role_with_web_identity()
                    .role_arn(role_arn)
                    .role_session_name(WEB_IDENTITY_SESSION)
                    .web_identity_token(token.as_str())
                    .send();
                let name = "AssumeRoleWithWebIdentity";
                let reply = self.meter.call(AWS_STS, name, request, outcome).await;
                let reply = reply.map(|out| out.credentials);
                reply.map_err(|e| self.failed(name, &e))
            }
        };
        let reply = reply?;
        let c = reply.ok_or_else(|| {
            CredentialsError::provider_error(format!("{}: STS returned no credentials", self.field))
        })?;
        Ok(Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            SystemTime::try_from(c.expiration).ok(),
            "sealbox-sts",
        ))
    }

    fn failed<E>(&self, op: &str, e: &E) -> CredentialsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let why = match (e.code(), e.message()) {
            (Some(code), Some(msg)) => format!("{code}: {msg}"),
            (Some(code), None) => code.to_owned(),
            _ => DisplayErrorContext(e).to_string(),
        };
        CredentialsError::provider_error(format!("{op} for {} failed: {why}", self.field))
    }
}

impl ProvideCredentials for StsExchange {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.exchange())
    }
}

/// A session name unique per exchange, as the Go SDK's `aws-go-sdk-<nanos>` default is.
fn session_name() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("sealbox-{millis}")
}

/// Prefixes the errors of another provider with the store field that chose it.
#[derive(Debug)]
struct Labelled {
    inner: SharedCredentialsProvider,
    field: &'static str,
}

impl ProvideCredentials for Labelled {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            self.inner.provide_credentials().await.map_err(|e| {
                CredentialsError::provider_error(format!(
                    "{}: {}",
                    self.field,
                    DisplayErrorContext(&e)
                ))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::external::aws::{AwsJwt, AwsSecretRef};
    use crate::external::refs::StoreScope;

    /// Refs whose API server is never reached: the errors tested come first.
    fn refs() -> Refs {
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        Refs::new(
            client,
            StoreScope::Namespaced {
                namespace: "team-a".into(),
            },
        )
    }

    fn config_error(result: Result<Base, ProviderError>) -> String {
        match result {
            Err(ProviderError::Config(msg)) => msg,
            Err(other) => panic!("not a Config error: {other:?}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[tokio::test]
    async fn a_secret_ref_without_a_key_names_the_field() {
        let auth = AwsAuth {
            secret_ref: Some(AwsSecretRef {
                access_key_id: SecretKeySelector {
                    name: "aws".into(),
                    namespace: None,
                    key: String::new(),
                },
                ..AwsSecretRef::default()
            }),
            ..AwsAuth::default()
        };
        let msg = config_error(base(Some(&auth), &refs()).await);
        assert_eq!(
            msg,
            "spec.provider.aws.auth.secretRef.accessKeyIDSecretRef names no key: set its `key`"
        );
    }

    #[tokio::test]
    async fn jwt_without_a_service_account_is_a_config_error() {
        let auth = AwsAuth {
            jwt: Some(AwsJwt::default()),
            ..AwsAuth::default()
        };
        let msg = config_error(base(Some(&auth), &refs()).await);
        assert!(msg.contains("auth.jwt has no serviceAccountRef"), "{msg}");
    }

    #[tokio::test]
    async fn session_tags_policies_are_accepted_and_ignored_as_eso_does() {
        let spec = |policy: &str| AwsProvider {
            service: "SecretsManager".into(),
            region: "eu-west-1".into(),
            session_tags_policy: Some(policy.into()),
            ..AwsProvider::default()
        };
        let creds = || Base::Static(Credentials::new("a", "b", None, None, "test"));
        let endpoints = Endpoints::default();
        for policy in ["None", "Simple", "Custom", ""] {
            let config = config(&spec(policy), creds(), &endpoints, &Meter::default()).await;
            assert!(config.is_ok(), "{policy} refused");
            // The static credentials are used as they are: no role, so no STS call.
            let creds = config
                .unwrap()
                .credentials_provider()
                .unwrap()
                .provide_credentials()
                .await
                .unwrap();
            assert_eq!(creds.access_key_id(), "a");
        }
    }

    #[tokio::test]
    async fn a_failed_assume_role_names_the_role_field() {
        let spec = AwsProvider {
            service: "SecretsManager".into(),
            region: "eu-west-1".into(),
            role: Some("arn:aws:iam::123456789012:role/reader".into()),
            ..AwsProvider::default()
        };
        let endpoints = Endpoints {
            secrets_manager: None,
            sts: Some("http://127.0.0.1:9".into()),
        };
        let creds = Base::Static(Credentials::new("a", "b", None, None, "test"));
        let config = config(&spec, creds, &endpoints, &Meter::default())
            .await
            .unwrap();
        let err = config
            .credentials_provider()
            .unwrap()
            .provide_credentials()
            .await
            .unwrap_err();
        let msg = DisplayErrorContext(&err).to_string();
        assert!(
            msg.contains(
                "AssumeRole for spec.provider.aws.role (arn:aws:iam::123456789012:role/reader) failed"
            ),
            "{msg}"
        );
    }

    #[test]
    fn credentials_are_replaced_five_minutes_before_they_expire() {
        let now = SystemTime::now();
        let expiring = |secs| {
            Credentials::new(
                "a",
                "b",
                None,
                Some(now + Duration::from_secs(secs)),
                "test",
            )
        };
        assert!(fresh(&expiring(3600), now));
        assert!(fresh(&expiring(301), now));
        assert!(!fresh(&expiring(300), now));
        assert!(fresh(
            &Credentials::new("a", "b", None, None, "static"),
            now
        ));
    }
}
