//! The one Prometheus registry of the process. Each reconciler registers its metrics into
//! [`Registry::with_prefix`] while it starts (the Sealed Secrets ones under
//! `sealed_secrets_controller`, so upstream's names are kept); [`Registry::freeze`] then
//! gives the read-only [`Exposition`] `/metrics` serves.
//!
//! ```
//! use prometheus_client::metrics::counter::Counter;
//! use sealbox_controller::metrics::Registry;
//! let mut registry = Registry::default();
//! let hits = Counter::<u64>::default();
//! registry.with_prefix("demo").register("hits", "Hits", hits.clone());
//! hits.inc();
//! assert!(registry.freeze().encode().contains("demo_hits_total 1"));
//! ```

use std::sync::Arc;

/// Where metrics are registered while the reconcilers start.
#[derive(Default)]
pub struct Registry {
    inner: prometheus_client::registry::Registry,
}

impl Registry {
    /// The part of the registry whose metric names start with `prefix_`.
    pub fn with_prefix(&mut self, prefix: &str) -> &mut prometheus_client::registry::Registry {
        self.inner.sub_registry_with_prefix(prefix)
    }

    /// Ends registration: what `/metrics` serves.
    pub fn freeze(self) -> Exposition {
        Exposition(Arc::new(self.inner))
    }
}

/// Every registered metric, for `/metrics`.
#[derive(Clone)]
pub struct Exposition(Arc<prometheus_client::registry::Registry>);

impl Exposition {
    /// The OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.0)
            .expect("writing to a String does not fail");
        out
    }
}
