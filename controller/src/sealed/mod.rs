//! The Sealed Secrets controller. [`run`] starts it from its flags ([`Args`]): it loads the
//! [`keyring`] (keys in Secrets, renewal, adoption of restored backups), starts the
//! [`reconciler`] (SealedSecret → Secret, deciding through [`decision`]) and the key jobs as
//! supervised tasks, and returns the [`api`] routes kubeseal calls, for `crate::http` to serve.
//! [`metrics`] keeps sealed-secrets' metric names; [`drift`] tells an edited Secret from one
//! in sync without decrypting; `crate::ratelimit` limits `/v1/verify`.

pub mod api;
pub mod decision;
pub mod drift;
pub mod keyring;
pub mod metrics;
pub mod options;
pub mod reconciler;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::{Api, Client};
use tokio::signal::unix::{SignalKind, signal};
use tracing::{info, warn};

use crate::flags::{go_duration, own_namespace, rfc1123z};
use crate::leader::Leadership;
use crate::metrics::Registry;
use crate::supervisor::Supervisor;

/// sealed-secrets' controller flags (spec `sealed-secrets.md` §3.4), each also settable as
/// `SEALED_SECRETS_<FLAG>`.
#[derive(clap::Args, Clone, Debug)]
#[group(id = "sealed")]
pub struct Args {
    /// Prefix of the key Secrets' generateName (and the legacy single key's name).
    #[arg(
        long,
        env = "SEALED_SECRETS_KEY_PREFIX",
        default_value = "sealed-secrets-key"
    )]
    pub key_prefix: String,
    /// RSA key size in bits.
    #[arg(long, env = "SEALED_SECRETS_KEY_SIZE", default_value_t = 4096)]
    pub key_size: usize,
    /// Validity of new certificates (Go duration).
    #[arg(long, env = "SEALED_SECRETS_KEY_TTL", default_value = "87600h", value_parser = go_duration)]
    pub key_ttl: Duration,
    /// Common name of new certificates (empty by default, as upstream).
    #[arg(long, env = "SEALED_SECRETS_MY_CN", default_value = "")]
    pub my_cn: String,
    /// Add a new key this often (Go duration); 0 disables renewal.
    #[arg(long, alias = "rotate-period", env = "SEALED_SECRETS_KEY_RENEW_PERIOD", default_value = "720h", value_parser = go_duration)]
    pub key_renew_period: Duration,
    /// Make a new key at startup if the newest is older than this (RFC 1123 with a numeric
    /// zone, as `date -R` prints).
    #[arg(long, env = "SEALED_SECRETS_KEY_CUTOFF_TIME", value_parser = rfc1123z)]
    pub key_cutoff_time: Option<SystemTime>,
    /// Write .status on SealedSecrets.
    #[arg(long, env = "SEALED_SECRETS_UPDATE_STATUS", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub update_status: bool,
    /// Try first the key that last opened a SealedSecret, then the newest (sealbox); false
    /// tries keys in random order, as sealed-secrets does.
    #[arg(long, env = "SEALBOX_KEY_MEMORY", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub key_memory: bool,
    /// Open SealedSecrets in the deprecated v1 format (`spec.data`, spec `sealed-secrets.md`
    /// §1.6); false refuses them with upstream's message.
    #[arg(long, env = "SEALED_SECRETS_ACCEPT_DEPRECATED_V1_DATA", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub accept_deprecated_v1_data: bool,
    /// Reconcile only the SealedSecrets, and watch only the Secrets, that match this label
    /// selector (e.g. `shard=a`; for sharding across several controllers).
    #[arg(long, env = "SEALED_SECRETS_LABEL_SELECTOR", default_value = "")]
    pub label_selector: String,
    /// Watch SealedSecrets in every namespace; false: only in the controller's own namespace
    /// (plus --additional-namespaces).
    #[arg(long, env = "SEALED_SECRETS_ALL_NAMESPACES", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub all_namespaces: bool,
    /// Comma-separated namespaces to watch besides the controller's own; setting it also
    /// stops the watch of every namespace, as upstream. Namespaces that do not exist are
    /// skipped.
    #[arg(long, env = "SEALED_SECRETS_ADDITIONAL_NAMESPACES", default_value = "")]
    pub additional_namespaces: String,
    /// How many times a SealedSecret that fails to unseal (or to be written) is retried, with
    /// exponential backoff, before the controller gives up until it changes.
    #[arg(long, env = "SEALED_SECRETS_MAX_UNSEAL_RETRIES", default_value_t = 5)]
    pub max_unseal_retries: u32,
    /// Requests per second to /v1/verify, per path and X-Forwarded-For.
    #[arg(long, env = "SEALED_SECRETS_RATE_LIMIT", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit: u32,
    /// Requests to /v1/verify allowed beyond the rate in one burst.
    #[arg(long, env = "SEALED_SECRETS_RATE_LIMIT_BURST", default_value_t = 2)]
    pub rate_limit_burst: u32,
    /// Do not watch Secrets: a deleted Secret is not re-created (nor a hand-edited one
    /// restored) until its SealedSecret changes or the controller restarts. For installs
    /// without list/watch on Secrets.
    #[arg(long, env = "SEALED_SECRETS_SKIP_RECREATE", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub skip_recreate: bool,
}

impl Args {
    /// Refuses flag values the API server would refuse later.
    pub fn check(&self) -> anyhow::Result<()> {
        let spec = sealbox_crypto::sealed::keysecret::KeySpec {
            prefix: self.key_prefix.clone(),
            ..Default::default()
        };
        Ok(spec.check()?)
    }

    /// The namespaces to watch, `None` for all (upstream `Main`: restricted to `own` when
    /// `--all-namespaces=false` or `--additional-namespaces` is set, plus each additional
    /// one, without duplicates).
    pub fn namespaces(&self, own: &str) -> Option<Vec<String>> {
        let additional: Vec<&str> = self
            .additional_namespaces
            .split(',')
            .map(str::trim)
            .filter(|ns| !ns.is_empty())
            .collect();
        if self.all_namespaces && additional.is_empty() {
            return None;
        }
        let mut namespaces = vec![own.to_owned()];
        for ns in additional {
            if !namespaces.iter().any(|n| n == ns) {
                namespaces.push(ns.to_owned());
            }
        }
        Some(namespaces)
    }

    fn key_settings(&self) -> keyring::KeySettings {
        keyring::KeySettings {
            prefix: self.key_prefix.clone(),
            bits: self.key_size,
            ttl: self.key_ttl,
            common_name: self.my_cn.clone(),
            renew_period: self.key_renew_period,
            cutoff: self.key_cutoff_time,
        }
    }
}

/// Starts the Sealed Secrets controller: loads the keys, registers the metrics, spawns the key
/// watcher and the SIGUSR1 handler into `tasks`, and, to run while this replica leads, the
/// reconciler, the clean-up of deleted SealedSecrets and the key jobs (the first key, the
/// cut-off key, renewal); returns kubeseal's routes, which every replica serves.
pub async fn run(
    args: Args,
    client: Client,
    leadership: &Leadership,
    registry: &mut Registry,
    tasks: &mut Supervisor,
) -> anyhow::Result<axum::Router> {
    options::set_accept_deprecated_v1_data(args.accept_deprecated_v1_data);
    let namespace = own_namespace();
    let keys_api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let ring = Arc::new(keyring::KeyRing::new(args.key_memory));
    keyring::load(&keys_api, &args.key_prefix, &ring)
        .await
        .with_context(|| format!("cannot read the key Secrets in namespace {namespace}"))?;
    let settings = args.key_settings();
    info!(keys = ring.len(), namespace, "key ring loaded");

    let metrics = metrics::Metrics::register(registry);
    // One RSA private operation per core at a time, for the reconciler and the API alike.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = Arc::new(tokio::sync::Semaphore::new(cores));
    let limit = crate::ratelimit::Gcra::new(args.rate_limit, args.rate_limit_burst);
    let routes = api::routes(ring.clone(), metrics.clone(), pool.clone(), limit);
    let scope = reconciler::Scope {
        namespaces: existing_namespaces(&client, &namespace, args.namespaces(&namespace)).await?,
        label_selector: (!args.label_selector.is_empty()).then(|| args.label_selector.clone()),
        watch_secrets: !args.skip_recreate,
    };
    info!(?scope, "watching SealedSecrets");

    let (key_changes, key_changed) = futures::channel::mpsc::unbounded();
    let (api, key_jobs, jobs_ring) = (keys_api.clone(), settings.clone(), ring.clone());
    let key_jobs = async move {
        keyring::ensure_current(&api, &key_jobs, &jobs_ring).await?;
        if key_jobs.renew_period.is_zero() {
            std::future::pending::<()>().await;
        }
        keyring::renew(api, key_jobs, jobs_ring).await;
        anyhow::bail!("the renewal loop returned")
    };
    let lead = leadership.clone().lead(tasks.shutdown(), key_jobs);
    tasks.spawn("sealed-secrets key jobs", lead);
    let (api, watched) = (keys_api.clone(), ring.clone());
    tasks.spawn("sealed-secrets key watcher", async move {
        keyring::watch(api, watched, key_changes).await;
        anyhow::bail!("the key Secret watch ended")
    });
    let mut usr1 = signal(SignalKind::user_defined1()).context("cannot handle SIGUSR1")?;
    let (api, usr1_ring) = (keys_api, ring.clone());
    tasks.spawn("sealed-secrets SIGUSR1 handler", async move {
        while usr1.recv().await.is_some() {
            info!("SIGUSR1: generating a new key");
            if let Err(e) = keyring::generate(&api, &settings, &usr1_ring).await {
                warn!("key generation failed: {e}");
            }
        }
        anyhow::bail!("the SIGUSR1 stream ended")
    });
    let ctx = Arc::new(reconciler::Context::new(
        client,
        ring,
        metrics,
        reconciler::Settings {
            update_status: args.update_status,
            max_retries: args.max_unseal_retries,
            scope,
        },
        pool,
        tasks.shutdown(),
    ));
    let forget = reconciler::forget_deleted(ctx.clone());
    let lead = leadership.clone().lead(tasks.shutdown(), forget);
    tasks.spawn("sealed-secrets deleted-object clean-up", lead);
    let leadership = leadership.clone();
    tasks.spawn_draining("sealed-secrets reconciler", move |shutdown| {
        leadership.lead(
            shutdown.clone(),
            reconciler::run(ctx, key_changed, shutdown),
        )
    });
    Ok(routes)
}

/// `namespaces` without the additional ones that do not exist (upstream logs and skips them;
/// the controller's own is never looked up). `None` (all) stays `None`.
async fn existing_namespaces(
    client: &Client,
    own: &str,
    namespaces: Option<Vec<String>>,
) -> anyhow::Result<Option<Vec<String>>> {
    let Some(namespaces) = namespaces else {
        return Ok(None);
    };
    let api: Api<Namespace> = Api::all(client.clone());
    let mut existing = Vec::new();
    for ns in namespaces {
        if ns != own
            && api
                .get_opt(&ns)
                .await
                .with_context(|| format!("cannot look up namespace {ns}"))?
                .is_none()
        {
            tracing::error!(namespace = ns, "namespace doesn't exist: not watched");
            continue;
        }
        existing.push(ns);
    }
    Ok(Some(existing))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Args;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        sealed: Args,
    }

    fn args(flags: &[&str]) -> Args {
        Flags::parse_from(std::iter::once("test").chain(flags.iter().copied())).sealed
    }

    #[test]
    fn every_namespace_unless_restricted() {
        assert_eq!(args(&[]).namespaces("kube-system"), None);
        assert_eq!(
            args(&["--all-namespaces=false"]).namespaces("kube-system"),
            Some(vec!["kube-system".into()])
        );
    }

    #[test]
    fn additional_namespaces_alone_restrict_to_them_and_the_own_one() {
        let a = args(&["--additional-namespaces=team-a, team-b,team-a,,kube-system"]);
        assert_eq!(
            a.namespaces("kube-system"),
            Some(vec!["kube-system".into(), "team-a".into(), "team-b".into()])
        );
    }

    #[test]
    fn upstream_defaults_and_forms() {
        let a = args(&[]);
        assert_eq!(
            (a.max_unseal_retries, a.rate_limit, a.rate_limit_burst),
            (5, 2, 2)
        );
        assert!(a.all_namespaces && !a.skip_recreate && a.label_selector.is_empty());
        // The upstream chart passes `--skip-recreate` bare and numbers as separate words.
        let a = args(&[
            "--skip-recreate",
            "--max-unseal-retries",
            "0",
            "--rate-limit",
            "7",
        ]);
        assert!(a.skip_recreate);
        assert_eq!((a.max_unseal_retries, a.rate_limit), (0, 7));
        assert!(
            Flags::try_parse_from(["test", "--rate-limit=0"]).is_err(),
            "a rate of 0 would refuse everything"
        );
    }
}
