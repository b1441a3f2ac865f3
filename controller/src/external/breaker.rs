//! A circuit breaker per store (spec §11 #1 and #5, §14.4). ESO calls a provider that keeps
//! failing, or that says it is throttling, once per ExternalSecret per backoff step: thousands
//! of calls a minute into an outage or a rate limit, which prolongs both. sealbox stops calling
//! the store's provider for a while instead:
//! - a throttling answer (AWS `ThrottlingException`, HTTP 429) opens the breaker at once, for
//!   the provider's `Retry-After` if it gave one and it is longer than the backoff;
//! - other failed calls (5xx, timeouts, refused connections) open it after [`THRESHOLD`] in a
//!   row;
//! - while open, reconciles of the store's ExternalSecrets make no provider call: they fail
//!   with a message saying until when, keep their Secret as it is, and come back then;
//! - once the pause is over one reconcile makes a trial call while the others wait: success
//!   closes the breaker, failure opens it again for twice as long (up to
//!   `--store-backoff-max`).
//!
//! Answers that are not failures of the provider (a missing secret, a denied policy) count as
//! successes. [`State`] is the pure rule, tested without sleeping.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::providers::meter::Outcome;

/// Failed calls in a row that open the breaker.
pub const THRESHOLD: u32 = 3;
/// The first pause.
pub const BASE: Duration = Duration::from_secs(1);

/// How long the others wait for a trial call's outcome before one of them tries.
pub const TRIAL: Duration = Duration::from_secs(10);

/// One store's breaker.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    /// Failed calls in a row.
    failures: u32,
    /// Times opened since the last success.
    opened: u32,
    /// Closed to calls until then.
    until: Option<Instant>,
    /// When the trial call after a pause was let through.
    trial: Option<Instant>,
    /// Why it opened, for the message.
    throttled: bool,
}

impl State {
    /// Whether a call may be made at `now`; `Err(until)` while open, and while another
    /// caller's trial call is out. The first caller after a pause makes the trial.
    pub fn admit(&mut self, now: Instant) -> Result<(), Instant> {
        match (self.until, self.trial) {
            (Some(until), _) if now < until => Err(until),
            (None, _) => Ok(()),
            (Some(_), Some(trial)) if now < trial + TRIAL => Err(trial + TRIAL),
            (Some(_), _) => {
                self.trial = Some(now);
                Ok(())
            }
        }
    }

    /// Records a call's outcome at `now`; `max` caps the pause.
    pub fn record(&mut self, outcome: Outcome, now: Instant, max: Duration) {
        let pause = |opened: u32| BASE.saturating_mul(1 << opened.min(20)).min(max);
        match outcome {
            Outcome::Success | Outcome::Refused => *self = State::default(),
            Outcome::Throttled(retry_after) => {
                let wait = pause(self.opened).max(retry_after.unwrap_or_default().min(max));
                self.open(now, wait, true);
            }
            Outcome::Failed => {
                self.failures = self.failures.saturating_add(1);
                // A failed trial (the first call after a pause) reopens at once.
                if self.failures >= THRESHOLD || self.opened > 0 {
                    self.open(now, pause(self.opened), false);
                }
            }
        }
    }

    fn open(&mut self, now: Instant, wait: Duration, throttled: bool) {
        // Calls already in flight when it opened do not extend the pause.
        if self.until.is_some_and(|until| now < until) {
            return;
        }
        self.until = Some(now + wait);
        self.trial = None;
        self.opened = self.opened.saturating_add(1);
        self.failures = 0;
        self.throttled = throttled;
    }
}

/// The breakers of every store, by store key (kind, namespace, name).
pub struct Breakers {
    max: Duration,
    stores: Mutex<HashMap<String, State>>,
}

/// Why a store's provider is not called now.
#[derive(Clone, Debug, PartialEq)]
pub struct Paused {
    pub until: Instant,
    pub throttled: bool,
}

impl Paused {
    /// Why, and what it means for the Secret.
    pub fn why(&self) -> &'static str {
        if self.throttled {
            "after the provider throttled them; the Secret keeps its last value"
        } else {
            "after repeated failures; the Secret keeps its last value"
        }
    }
}

impl Breakers {
    /// Breakers whose pauses grow up to `max`.
    pub fn new(max: Duration) -> Breakers {
        Breakers {
            max,
            stores: Mutex::default(),
        }
    }

    /// Whether the provider of `store` may be called now.
    pub fn admit(&self, store: &str) -> Result<(), Paused> {
        let mut stores = self.stores.lock().expect("lock");
        let Some(state) = stores.get_mut(store) else {
            return Ok(());
        };
        state.admit(Instant::now()).map_err(|until| Paused {
            until,
            throttled: state.throttled,
        })
    }

    /// Records the outcome of one call to the provider of `store`.
    pub fn record(&self, store: &str, outcome: Outcome) {
        let mut stores = self.stores.lock().expect("lock");
        let fine = matches!(outcome, Outcome::Success | Outcome::Refused);
        if fine && !stores.contains_key(store) {
            return;
        }
        let state = stores.entry(store.to_owned()).or_default();
        state.record(outcome, Instant::now(), self.max);
        if *state == State::default() {
            stores.remove(store);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Duration = Duration::from_secs(60);

    #[test]
    fn failures_in_a_row_open_it_and_the_pause_doubles_until_a_success() {
        let t0 = Instant::now();
        let mut s = State::default();
        s.record(Outcome::Failed, t0, MAX);
        s.record(Outcome::Failed, t0, MAX);
        assert_eq!(s.admit(t0), Ok(()));
        s.record(Outcome::Failed, t0, MAX);
        assert_eq!(s.admit(t0), Err(t0 + BASE));
        // The trial after the pause fails: twice as long, at once.
        let t1 = t0 + BASE;
        assert_eq!(s.admit(t1), Ok(()));
        // Only one trial at a time.
        assert_eq!(s.admit(t1), Err(t1 + TRIAL));
        s.record(Outcome::Failed, t1, MAX);
        assert_eq!(s.admit(t1), Err(t1 + 2 * BASE));
        let t2 = t1 + 2 * BASE;
        s.record(Outcome::Failed, t2, MAX);
        assert_eq!(s.admit(t2), Err(t2 + 4 * BASE));
        // A success closes it and forgets.
        s.record(Outcome::Success, t2 + 4 * BASE, MAX);
        assert_eq!(s, State::default());
    }

    #[test]
    fn a_trial_that_never_reports_lets_another_caller_try() {
        let t0 = Instant::now();
        let mut s = State::default();
        s.record(Outcome::Throttled(None), t0, MAX);
        let t1 = t0 + BASE;
        assert_eq!(s.admit(t1), Ok(()));
        assert_eq!(s.admit(t1 + TRIAL), Ok(()));
    }

    #[test]
    fn refused_requests_are_answers_not_failures() {
        let t0 = Instant::now();
        let mut s = State::default();
        s.record(Outcome::Failed, t0, MAX);
        s.record(Outcome::Failed, t0, MAX);
        s.record(Outcome::Refused, t0, MAX);
        s.record(Outcome::Failed, t0, MAX);
        assert_eq!(s.admit(t0), Ok(()));
    }

    #[test]
    fn throttling_opens_it_at_once_for_the_longer_of_retry_after_and_the_backoff() {
        let t0 = Instant::now();
        let mut s = State::default();
        s.record(Outcome::Throttled(None), t0, MAX);
        assert_eq!(s.admit(t0), Err(t0 + BASE));
        assert!(s.throttled);
        let t1 = t0 + BASE;
        s.record(Outcome::Throttled(Some(Duration::from_secs(30))), t1, MAX);
        assert_eq!(s.admit(t1), Err(t1 + Duration::from_secs(30)));
        // Capped by the maximum, whatever the provider asks.
        let t2 = t1 + Duration::from_secs(30);
        s.record(Outcome::Throttled(Some(Duration::from_secs(3600))), t2, MAX);
        assert_eq!(s.admit(t2), Err(t2 + MAX));
    }

    #[test]
    fn calls_in_flight_when_it_opened_do_not_extend_the_pause() {
        let t0 = Instant::now();
        let mut s = State::default();
        s.record(Outcome::Throttled(None), t0, MAX);
        s.record(Outcome::Throttled(None), t0, MAX);
        s.record(Outcome::Failed, t0, MAX);
        assert_eq!(s.admit(t0), Err(t0 + BASE));
    }

    #[test]
    fn the_pause_never_exceeds_the_maximum() {
        let t0 = Instant::now();
        let mut s = State::default();
        let mut now = t0;
        for _ in 0..40 {
            s.record(Outcome::Throttled(None), now, MAX);
            let until = s.admit(now).unwrap_err();
            assert!(until - now <= MAX);
            now = until;
            assert_eq!(s.admit(now), Ok(()));
        }
    }

    #[test]
    fn the_breakers_forget_a_store_that_recovered() {
        let b = Breakers::new(MAX);
        b.record("SecretStore/ns/a", Outcome::Success);
        b.record("SecretStore/ns/a", Outcome::Throttled(None));
        let paused = b.admit("SecretStore/ns/a").unwrap_err();
        assert!(paused.throttled);
        assert_eq!(b.admit("SecretStore/ns/b"), Ok(()));
        b.record("SecretStore/ns/a", Outcome::Success);
        assert!(b.stores.lock().unwrap().is_empty());
    }
}
