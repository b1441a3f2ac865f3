//! Prometheus metrics with sealed-secrets' names (spec `sealed-secrets.md` §3.6), so existing
//! dashboards and alerts keep working. Labels never carry secret values.

use crate::crd::sealed::SealedSecret;
use crate::metrics::Registry;
use kube::ResourceExt;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    reason: String,
    namespace: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConditionLabels {
    namespace: String,
    name: String,
    condition: String,
    ss_app_kubernetes_io_instance: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub path: String,
    pub code: String,
    pub method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    revision: String,
}

/// The Sealed Secrets metrics, registered under `sealed_secrets_controller` in the process's
/// one registry. Made only by [`Metrics::register`], so none records into nothing.
#[derive(Clone)]
pub struct Metrics {
    unseal_requests: Counter,
    unseal_errors: Family<ErrorLabels, Counter>,
    condition_info: Family<ConditionLabels, Gauge>,
    pub http_requests: Family<HttpLabels, Counter>,
}

impl Metrics {
    /// Creates the metrics and registers them, with sealed-secrets' names, into `registry`.
    pub fn register(registry: &mut Registry) -> Metrics {
        let registry = registry.with_prefix("sealed_secrets_controller");
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                revision: env!("CARGO_PKG_VERSION").into(),
            })
            .set(1);
        registry.register("build_info", "Build information", build_info);
        let m = Metrics {
            unseal_requests: Counter::default(),
            unseal_errors: Family::default(),
            condition_info: Family::default(),
            http_requests: Family::default(),
        };
        registry.register(
            "unseal_requests",
            "Total number of sealed secret unseal requests",
            m.unseal_requests.clone(),
        );
        registry.register(
            "unseal_errors",
            "Total number of sealed secret unseal errors by reason",
            m.unseal_errors.clone(),
        );
        registry.register(
            "condition_info",
            "Current SealedSecret condition status: -1 False, 0 Unknown, 1 True",
            m.condition_info.clone(),
        );
        registry.register(
            "http_requests",
            "Total number of HTTP requests by path, code and method",
            m.http_requests.clone(),
        );
        m
    }
}

fn condition_labels(ss: &impl ResourceExt) -> ConditionLabels {
    ConditionLabels {
        namespace: ss.namespace().unwrap_or_default(),
        name: ss.name_any(),
        condition: "Synced".into(),
        ss_app_kubernetes_io_instance: ss
            .labels()
            .get("app.kubernetes.io/instance")
            .cloned()
            .unwrap_or_default(),
    }
}

impl Metrics {
    pub fn unseal_request(&self) {
        self.unseal_requests.inc();
    }

    pub fn unseal_error(&self, reason: &str, namespace: &str) {
        self.unseal_errors
            .get_or_create(&ErrorLabels {
                reason: reason.into(),
                namespace: namespace.into(),
            })
            .inc();
    }

    pub fn condition(&self, ss: &SealedSecret, synced: bool) {
        self.condition_info
            .get_or_create(&condition_labels(ss))
            .set(if synced { 1 } else { -1 });
    }

    /// Drops the series of a deleted SealedSecret, as upstream does.
    pub fn forget(&self, ss: &impl ResourceExt) {
        self.condition_info.remove(&condition_labels(ss));
    }
}
