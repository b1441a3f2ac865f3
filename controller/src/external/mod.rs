//! The External Secrets controller, compatible with External Secrets Operator v2.9 (spec
//! `external-secrets.md`). [`run`] starts it from its flags ([`Args`]): the ExternalSecret
//! [`reconciler`] and the [`store_reconciler`]s, as supervised tasks.
//!
//! Which piece when:
//! - reading remote values: [`providers`] (AWS Secrets Manager, Vault KV) behind one client
//!   per store ([`store_id`]), found by [`stores`] (class, ClusterSecretStore conditions,
//!   flood gate) and kept across reconciles by [`clients`] with the credentials [`refs`]
//!   resolves (dropped when [`credwatch`] sees them change); identical reads shared by
//!   [`providers::singleflight`]; [`fetch`] runs an ExternalSecret's `data`/`dataFrom`
//!   through them, with [`rewrite`] and [`keys`] (conversion, validation, decoding);
//! - deciding, without I/O: [`refresh`] (whether to read the provider at all), [`policy`]
//!   (creation and deletion policies), [`templating`] and [`target`] (the Secret to write),
//!   [`status`] (conditions), [`hash`] (ESO's data-hash, created-by, syncedResourceVersion),
//!   [`property`] (gjson paths and Go's JSON value formatting);
//! - what wakes a reconciler (user changes, not status writes): [`triggers`]; who syncs first
//!   (new and changed before periodic): [`lanes`];
//! - reporting: [`metrics`] with ESO's names, Events through `crate::events`;
//! - fanning one ExternalSecret out to namespaces: [`cluster_external_secret`].
//!
//! ```
//! use std::collections::BTreeMap;
//! use sealbox_controller::external::hash;
//!
//! let mut data = BTreeMap::new();
//! data.insert("foo".to_string(), b"value1".to_vec());
//! data.insert("bar".to_string(), b"value2".to_vec());
//! assert_eq!(
//!     hash::object_hash_data(&data),
//!     "1bed8bcbcb4547ffe19a19cd47d9078e84aa6598266d86b99f992d64"
//! );
//! ```

pub mod breaker;
pub mod clients;
pub mod cluster_external_secret;
pub mod credwatch;
pub mod fetch;
pub mod hash;
pub mod keys;
pub mod lanes;
pub mod metrics;
pub mod policy;
pub mod property;
pub mod providers;
pub mod reconciler;
pub mod refresh;
pub mod refs;
pub mod rewrite;
pub mod status;
pub mod store_id;
pub mod store_reconciler;
pub mod stores;
pub mod target;
pub mod templating;
pub mod triggers;

use std::sync::Arc;
use std::time::Duration;

use kube::Client;

use crate::flags::go_duration;
use crate::leader::Leadership;
use crate::metrics::Registry;
use crate::ratelimit::Gcra;
use crate::supervisor::Supervisor;

/// External Secrets Operator's controller flags that apply to sealbox (spec §5.1), same names
/// and defaults.
#[derive(clap::Args, Clone, Debug)]
#[group(id = "external")]
pub struct Args {
    /// Only stores whose `spec.controller` is empty or equals this class are used.
    #[arg(long, default_value = "default")]
    pub controller_class: String,
    /// Watch ExternalSecrets and SecretStores in this namespace only (empty: all).
    #[arg(long, default_value = "")]
    pub namespace: String,
    /// Use ClusterSecretStores (validate them, and sync the ExternalSecrets that use them).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub enable_cluster_store_reconciler: bool,
    /// Validate SecretStores and write their Ready condition.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub enable_secret_store_reconciler: bool,
    /// Sync an ExternalSecret only once its store says Ready=True.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub enable_flood_gate: bool,
    /// Create the ExternalSecrets of ClusterExternalSecrets in the namespaces they select.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub enable_cluster_external_secret_reconciler: bool,
    /// How often stores are validated when their spec sets no refreshInterval (Go duration).
    #[arg(long, default_value = "5m", value_parser = go_duration)]
    pub store_requeue_interval: Duration,
    /// How many ExternalSecrets sync at once (ESO's flag, whose default is 1); new and changed
    /// ones go before periodic refreshes.
    #[arg(long, default_value_t = 32)]
    pub concurrent: usize,
    /// The longest wait before a failing ExternalSecret is tried again (its backoff doubles
    /// from 1s; ESO's fixed cap is 7m).
    #[arg(long, default_value = "7m", value_parser = go_duration)]
    pub error_backoff_max: Duration,
    /// The longest pause of a store's provider calls after throttling or repeated failures
    /// (its circuit breaker; the pause doubles from 1s).
    #[arg(long, default_value = "5m", value_parser = go_duration)]
    pub store_backoff_max: Duration,
    /// Calls per second to each store's provider, reads and credential exchanges alike
    /// (0: no limit); calls over the limit wait for their turn.
    #[arg(long, default_value_t = 0)]
    pub store_qps: u32,
    /// How many calls to a store's provider may go at once before --store-qps spaces them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub store_burst: u32,
}

/// Starts the External Secrets controller's reconcilers into `tasks`, each to run while this
/// replica leads.
pub fn run(
    args: Args,
    client: Client,
    leadership: &Leadership,
    registry: &mut Registry,
    tasks: &mut Supervisor,
) {
    let metrics = metrics::Metrics::register(registry);
    let limit = (args.store_qps > 0).then(|| Gcra::new(args.store_qps, args.store_burst - 1));
    let clients = Arc::new(clients::Clients::new(
        client.clone(),
        metrics.clone(),
        args.store_backoff_max,
        limit,
    ));
    let namespace = Some(args.namespace.clone()).filter(|ns| !ns.is_empty());
    if args.enable_secret_store_reconciler || args.enable_cluster_store_reconciler {
        let ctx = Arc::new(store_reconciler::Context {
            events: crate::events::Recorder::new(client.clone(), "external-secrets"),
            client: client.clone(),
            metrics: metrics.clone(),
            clients: clients.clone(),
            class: args.controller_class.clone(),
            requeue: args.store_requeue_interval,
        });
        let kinds = store_reconciler::Kinds {
            namespaced: args.enable_secret_store_reconciler,
            cluster: args.enable_cluster_store_reconciler && namespace.is_none(),
        };
        let (ns, leadership) = (namespace.clone(), leadership.clone());
        tasks.spawn_draining("secret store reconciler", move |shutdown| {
            leadership.lead(
                shutdown.clone(),
                store_reconciler::run(ctx, ns, kinds, shutdown),
            )
        });
    }
    if args.enable_cluster_external_secret_reconciler && namespace.is_none() {
        let (client, leadership) = (client.clone(), leadership.clone());
        tasks.spawn_draining("clusterexternalsecret reconciler", move |shutdown| {
            leadership.lead(
                shutdown.clone(),
                cluster_external_secret::run(client, shutdown),
            )
        });
    }
    let settings = reconciler::Settings {
        class: args.controller_class,
        cluster_stores: args.enable_cluster_store_reconciler,
        flood_gate: args.enable_flood_gate,
        error_backoff_max: args.error_backoff_max,
        concurrent: args.concurrent,
    };
    let watch_cluster_stores = settings.cluster_stores && namespace.is_none();
    let (stores, watching) =
        stores::StoreCache::watch(&client, namespace.as_deref(), watch_cluster_stores);
    let ctx = Arc::new(reconciler::Context::new(
        client, clients, metrics, stores, settings,
    ));
    let leadership = leadership.clone();
    tasks.spawn_draining("externalsecret reconciler", move |shutdown| {
        leadership.lead(
            shutdown.clone(),
            reconciler::run(ctx, namespace, watching, shutdown),
        )
    });
}
