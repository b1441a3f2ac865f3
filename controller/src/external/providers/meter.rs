//! Counting and pacing provider calls (spec §5.5, §14.4, §14.6): every call a provider client
//! makes, reads and credential exchanges alike (STS, Vault logins and renewals), goes through
//! its [`Meter`] ([`Meter::call`]), which
//! - first waits for the store's turn when the store has a client-side rate limit
//!   (`--store-qps`, `--store-burst`, one limit per store shared by all its clients);
//! - then reports the call with the provider and the call's name as ESO's metric names them,
//!   and how it ended ([`Outcome`]).
//!
//! The controller's meters feed `externalsecret_provider_api_calls_count` and the store's
//! circuit breaker; tests and tools that count nothing use `Meter::default()`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::ratelimit::Gcra;

/// How a provider call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Answered (a secret that does not exist is an answer too).
    Success,
    /// Refused as a wrong request (denied, invalid): the provider itself is fine.
    Refused,
    /// The provider is down, unreachable or failing (5xx, timeouts).
    Failed,
    /// Refused as too many calls (HTTP 429, AWS `ThrottlingException`), possibly saying when
    /// to come back.
    Throttled(Option<Duration>),
}

impl Outcome {
    /// ESO's `status` label.
    pub fn status(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            _ => "error",
        }
    }
}

/// ESO's provider label for Secrets Manager calls.
pub const AWS_SECRETS_MANAGER: &str = "AWS/SecretsManager";
/// The provider label of the STS calls that resolve a store's role or web identity.
pub const AWS_STS: &str = "AWS/STS";
/// ESO's provider label for Vault calls.
pub const VAULT: &str = "HashiCorp/Vault";

type Sink = dyn Fn(&'static str, &'static str, Outcome) + Send + Sync;

/// Where a client reports its calls, and the rate limit it waits on.
#[derive(Clone, Default)]
pub struct Meter {
    sink: Option<Arc<Sink>>,
    /// The limit and the store's key in it.
    limit: Option<(Arc<Gcra>, String)>,
}

impl Meter {
    /// A meter calling `sink(provider, call, outcome)` for each call.
    pub fn new(
        sink: impl Fn(&'static str, &'static str, Outcome) + Send + Sync + 'static,
    ) -> Meter {
        Meter {
            sink: Some(Arc::new(sink)),
            limit: None,
        }
    }

    /// This meter, its calls also waiting for turns of `key` in `limit`.
    pub fn limited(self, limit: Arc<Gcra>, key: String) -> Meter {
        Meter {
            limit: Some((limit, key)),
            ..self
        }
    }

    /// Makes one call: waits for its turn, awaits `call`, reports how it ended (`outcome` of
    /// its result) as `provider`'s call `name`, and returns the result.
    pub async fn call<T>(
        &self,
        provider: &'static str,
        name: &'static str,
        call: impl Future<Output = T>,
        outcome: impl FnOnce(&T) -> Outcome,
    ) -> T {
        if let Some((limit, key)) = &self.limit {
            let now = tokio::time::Instant::now();
            let turn = limit.reserve(key, now.into_std());
            tokio::time::sleep_until(turn.into()).await;
        }
        let result = call.await;
        if let Some(sink) = &self.sink {
            sink(provider, name, outcome(&result));
        }
        result
    }
}

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Meter")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn a_meter_reports_each_call_and_the_default_counts_nothing() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let meter = Meter::new(move |p, c, o| sink.lock().unwrap().push((p, c, o.status())));
        let ok = |_: &u32| Outcome::Success;
        assert_eq!(meter.call(VAULT, "Login", async { 7 }, ok).await, 7);
        let throttled = |_: &u32| Outcome::Throttled(None);
        meter
            .clone()
            .call(AWS_STS, "AssumeRole", async { 0 }, throttled)
            .await;
        Meter::default().call(VAULT, "Login", async { 0 }, ok).await;
        assert_eq!(
            *seen.lock().unwrap(),
            [
                (VAULT, "Login", "success"),
                (AWS_STS, "AssumeRole", "error")
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_limited_meter_spaces_its_calls_and_the_store_s_clients_share_its_limit() {
        // 2 per second, a bucket of 1: Gcra::new(rate, bucket - 1).
        let limit = Arc::new(Gcra::new(2, 0));
        let meter = |store: &str| Meter::default().limited(limit.clone(), store.into());
        // Two clients of store a (e.g. two namespaces of a referent store), one of store b.
        let (a1, a2, b) = (meter("a"), meter("a"), meter("b"));
        let t0 = tokio::time::Instant::now();
        let started = |m: &Meter| {
            let m = m.clone();
            async move {
                let at = m.call(
                    VAULT,
                    "ReadSecretData",
                    async { tokio::time::Instant::now() },
                    |_| Outcome::Success,
                );
                at.await.duration_since(t0)
            }
        };
        let (x, y, z, w, other) = tokio::join!(
            started(&a1),
            started(&a2),
            started(&a1),
            started(&a2),
            started(&b)
        );
        let ms = Duration::from_millis;
        let mut a = [x, y, z, w];
        a.sort();
        assert_eq!(a, [ms(0), ms(500), ms(1000), ms(1500)]);
        assert_eq!(other, ms(0));
        // Without a limit nothing waits.
        let now = t0.elapsed();
        assert_eq!(started(&Meter::default()).await, now);
    }
}
