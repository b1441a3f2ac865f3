//! Counting provider calls (spec §5.5, §14.6): every call a provider client makes, reads and
//! credential exchanges alike (STS, Vault logins and renewals), is reported to the client's
//! [`Meter`] with the provider and the call's name as ESO's metric names them, and how it
//! ended ([`Outcome`]). The controller's meters feed `externalsecret_provider_api_calls_count`
//! and the store's circuit breaker; tests and tools that count nothing use
//! `Meter::default()`.

use std::sync::Arc;
use std::time::Duration;

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

/// Where a client reports its calls.
#[derive(Clone, Default)]
pub struct Meter(Option<Arc<Sink>>);

impl Meter {
    /// A meter calling `sink(provider, call, outcome)` for each call.
    pub fn new(
        sink: impl Fn(&'static str, &'static str, Outcome) + Send + Sync + 'static,
    ) -> Meter {
        Meter(Some(Arc::new(sink)))
    }

    /// Reports one call.
    pub fn count(&self, provider: &'static str, call: &'static str, outcome: Outcome) {
        if let Some(sink) = &self.0 {
            sink(provider, call, outcome);
        }
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

    #[test]
    fn a_meter_reports_each_call_and_the_default_counts_nothing() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let meter = Meter::new(move |p, c, o| sink.lock().unwrap().push((p, c, o.status())));
        meter.count(VAULT, "Login", Outcome::Success);
        meter
            .clone()
            .count(AWS_STS, "AssumeRole", Outcome::Throttled(None));
        Meter::default().count(VAULT, "Login", Outcome::Success);
        assert_eq!(
            *seen.lock().unwrap(),
            [
                (VAULT, "Login", "success"),
                (AWS_STS, "AssumeRole", "error")
            ]
        );
    }
}
