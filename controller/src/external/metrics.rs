//! ExternalSecret metrics with ESO's names (spec §5.5), so existing dashboards and alerts keep
//! working: `externalsecret_sync_calls_total`, `externalsecret_sync_calls_error`,
//! `externalsecret_status_condition`, `externalsecret_reconcile_duration` (nanoseconds, as
//! ESO), `externalsecret_provider_api_calls_count`, and the stores'
//! `secretstore_status_condition` / `clustersecretstore_status_condition`.
//! `externalsecret_sync_calls_error` and `externalsecret_provider_api_calls_count` are counters
//! in ESO without the `_total` suffix that the OpenMetrics encoder adds to counters; sealbox
//! keeps the names and exposes them as gauges that only go up. Provider calls carry ESO's
//! labels (`provider`, `call`, `status`) plus the store's (`store_kind`, `store_namespace`,
//! `store_name`), and count the credential exchanges too (`AWS/STS`, Vault `Login`,
//! `RenewSelf`). Labels are object names, never values.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use super::providers::meter::Outcome;
use super::store_id::StoreId;
use crate::metrics::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ObjectLabels {
    name: String,
    namespace: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderCallLabels {
    provider: String,
    call: String,
    status: String,
    store_kind: String,
    store_namespace: String,
    store_name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConditionLabels {
    name: String,
    namespace: String,
    condition: String,
    status: String,
}

/// The ExternalSecret and store metrics. Made only by [`Metrics::register`].
#[derive(Clone)]
pub struct Metrics {
    sync_calls: Family<ObjectLabels, Counter>,
    sync_errors: Family<ObjectLabels, Gauge>,
    condition: Family<ConditionLabels, Gauge>,
    duration: Family<ObjectLabels, Gauge>,
    store_condition: Family<ConditionLabels, Gauge>,
    cluster_store_condition: Family<ConditionLabels, Gauge>,
    provider_calls: Family<ProviderCallLabels, Gauge>,
}

impl Metrics {
    /// Creates the metrics and registers them under ESO's names.
    pub fn register(registry: &mut Registry) -> Metrics {
        let m = Metrics {
            sync_calls: Family::default(),
            sync_errors: Family::default(),
            condition: Family::default(),
            duration: Family::default(),
            store_condition: Family::default(),
            cluster_store_condition: Family::default(),
            provider_calls: Family::default(),
        };
        let es = registry.with_prefix("externalsecret");
        es.register(
            "sync_calls",
            "Total number of the External Secret sync calls",
            m.sync_calls.clone(),
        );
        es.register(
            "sync_calls_error",
            "Total number of the External Secret sync errors",
            m.sync_errors.clone(),
        );
        es.register(
            "status_condition",
            "The status condition of a specific External Secret",
            m.condition.clone(),
        );
        es.register(
            "provider_api_calls_count",
            "Number of API calls towards the secret provider",
            m.provider_calls.clone(),
        );
        es.register(
            "reconcile_duration",
            "The duration time to reconcile the External Secret (ns)",
            m.duration.clone(),
        );
        registry.with_prefix("secretstore").register(
            "status_condition",
            "The status condition of a specific Secret Store",
            m.store_condition.clone(),
        );
        registry.with_prefix("clustersecretstore").register(
            "status_condition",
            "The status condition of a specific Cluster Secret Store",
            m.cluster_store_condition.clone(),
        );
        m
    }

    fn labels(namespace: &str, name: &str) -> ObjectLabels {
        ObjectLabels {
            name: name.into(),
            namespace: namespace.into(),
        }
    }

    /// One reconcile of an ExternalSecret ended, after `nanos`, failed or not.
    pub fn reconciled(&self, namespace: &str, name: &str, nanos: u128, failed: bool) {
        let labels = Self::labels(namespace, name);
        self.sync_calls.get_or_create(&labels).inc();
        self.duration
            .get_or_create(&labels)
            .set(i64::try_from(nanos).unwrap_or(i64::MAX));
        if failed {
            self.sync_errors.get_or_create(&labels).inc();
        }
    }

    /// ESO's `status_condition`: 1 for the condition's status, 0 for the other.
    pub fn condition(&self, namespace: &str, name: &str, ready: bool) {
        set_condition(&self.condition, namespace, name, ready);
    }

    /// The store's `Ready` condition (`cluster` for a ClusterSecretStore).
    pub fn store_condition(&self, cluster: bool, namespace: &str, name: &str, ready: bool) {
        let family = if cluster {
            &self.cluster_store_condition
        } else {
            &self.store_condition
        };
        set_condition(family, namespace, name, ready);
    }

    /// One call of the provider client of `store`.
    pub fn provider_call(
        &self,
        store: &StoreId,
        provider: &'static str,
        call: &'static str,
        outcome: Outcome,
    ) {
        self.provider_calls
            .get_or_create(&ProviderCallLabels {
                provider: provider.into(),
                call: call.into(),
                status: outcome.status().into(),
                store_kind: store.kind.name().into(),
                store_namespace: store.namespace.clone(),
                store_name: store.name.clone(),
            })
            .inc();
    }

    /// Drops the series of a deleted ExternalSecret.
    pub fn forget(&self, namespace: &str, name: &str) {
        let labels = Self::labels(namespace, name);
        self.sync_calls.remove(&labels);
        self.sync_errors.remove(&labels);
        self.duration.remove(&labels);
        for status in ["True", "False"] {
            self.condition.remove(&ConditionLabels {
                name: name.into(),
                namespace: namespace.into(),
                condition: "Ready".into(),
                status: status.into(),
            });
        }
    }
}

fn set_condition(
    family: &Family<ConditionLabels, Gauge>,
    namespace: &str,
    name: &str,
    ready: bool,
) {
    for (status, on) in [("True", ready), ("False", !ready)] {
        family
            .get_or_create(&ConditionLabels {
                name: name.into(),
                namespace: namespace.into(),
                condition: "Ready".into(),
                status: status.into(),
            })
            .set(i64::from(on));
    }
}
