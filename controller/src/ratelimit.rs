//! Generic cell rate algorithm limits, one cell per key, and the two places they apply:
//! - `POST /v1/verify` (`--rate-limit` requests per second, `--rate-limit-burst`; spec
//!   `sealed-secrets.md` §3.4): sealed-secrets' throttled `GCRARateLimiter`, keyed by path and
//!   `X-Forwarded-For`, answering 429 with the same headers ([`Gcra::check`]). Every verify
//!   costs RSA decrypts, so an unauthenticated caller (the service proxy is open to
//!   `system:authenticated`) must not be able to keep the controller's cores busy.
//! - each store's provider calls (`--store-qps`, `--store-burst`; spec `external-secrets.md`
//!   §14.4): a call waits for its turn instead of being refused ([`Gcra::reserve`]), turns
//!   given in the order asked.
//!
//! Both are pure functions of the time they are given, so their decisions are tested without
//! sleeping.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sealbox_controller::ratelimit::Gcra;
//! let limit = Gcra::new(2, 2);
//! let now = Instant::now();
//! // burst + 1 requests at once, then one per 1/rate seconds.
//! assert!((0..3).all(|_| limit.check("k", now).is_ok()));
//! assert!(limit.check("k", now).is_err());
//! assert!(limit.check("k", now + Duration::from_millis(500)).is_ok());
//! ```

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Above this many callers remembered, those whose state has expired (equivalent to never
/// seen) are dropped, so a flood of distinct `X-Forwarded-For` values cannot grow the map
/// without bound.
const PRUNE_ABOVE: usize = 10_000;

/// A generic cell rate algorithm limiter, one cell per key (throttled's semantics: `MaxBurst`
/// requests may exceed the rate, so `burst + 1` pass at once).
pub struct Gcra {
    /// Time between two requests at the steady rate.
    emission: Duration,
    /// How far ahead of now the theoretical arrival time may run: `emission × (burst + 1)`.
    tolerance: Duration,
    limit: u32,
    /// Theoretical arrival time of the next request, per key.
    cells: Mutex<HashMap<String, Instant>>,
}

/// What a caller is told (throttled's `RateLimitResult`).
#[derive(Debug, PartialEq, Eq)]
pub struct Quota {
    /// Requests allowed in a burst (`X-RateLimit-Limit`).
    pub limit: u32,
    /// Requests still allowed right now (`X-RateLimit-Remaining`).
    pub remaining: u32,
    /// Until the limit is whole again (`X-RateLimit-Reset`).
    pub reset_after: Duration,
    /// Until this request would have been allowed (`Retry-After`); zero when allowed.
    pub retry_after: Duration,
}

impl Gcra {
    /// `rate` requests per second (at least 1), `burst` more at once.
    pub fn new(rate: u32, burst: u32) -> Gcra {
        let emission = Duration::from_secs(1) / rate.max(1);
        let limit = burst.saturating_add(1);
        Gcra {
            emission,
            tolerance: emission * limit,
            limit,
            cells: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request from `key` at `now`: `Ok` when allowed, `Err` when limited.
    pub fn check(&self, key: &str, now: Instant) -> Result<Quota, Quota> {
        let mut cells = self.cells.lock().expect("rate limit lock");
        let tat = arrival(&mut cells, key, now);
        let new_tat = tat + self.emission;
        // The request is allowed from `new_tat - tolerance` on.
        let allowed_from = new_tat.checked_sub(self.tolerance);
        if let Some(allowed_from) = allowed_from.filter(|at| now < *at) {
            let ttl = tat - now;
            return Err(Quota {
                limit: self.limit,
                remaining: 0,
                reset_after: ttl,
                retry_after: allowed_from - now,
            });
        }
        cells.insert(key.to_owned(), new_tat);
        let ttl = new_tat - now;
        let left = self.tolerance.saturating_sub(ttl);
        Ok(Quota {
            limit: self.limit,
            remaining: (left.as_nanos() / self.emission.as_nanos().max(1)) as u32,
            reset_after: ttl,
            retry_after: Duration::ZERO,
        })
    }

    /// Books the next turn of `key` at or after `now` and returns when it is: `now` while
    /// the burst lasts, then one turn per 1/rate seconds in the order asked. Unlike
    /// [`Gcra::check`], a caller is never refused, only told to wait.
    pub fn reserve(&self, key: &str, now: Instant) -> Instant {
        let mut cells = self.cells.lock().expect("rate limit lock");
        let tat = arrival(&mut cells, key, now);
        let new_tat = tat + self.emission;
        cells.insert(key.to_owned(), new_tat);
        new_tat
            .checked_sub(self.tolerance)
            .map_or(now, |at| at.max(now))
    }
}

/// The theoretical arrival time of `key`'s next request (`now` for a cell that has expired or
/// was never seen), after dropping expired cells when there are many.
fn arrival(cells: &mut HashMap<String, Instant>, key: &str, now: Instant) -> Instant {
    if cells.len() > PRUNE_ABOVE {
        cells.retain(|_, tat| *tat > now);
    }
    cells.get(key).copied().filter(|t| *t > now).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn burst_plus_one_pass_at_once_then_the_rate_applies() {
        // sealed-secrets' defaults: 2 per second, burst 2.
        let limit = Gcra::new(2, 2);
        let t0 = Instant::now();
        let remaining: Vec<u32> = (0..3)
            .map(|_| limit.check("verify", t0).unwrap().remaining)
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let denied = limit.check("verify", t0).unwrap_err();
        assert_eq!(denied.limit, 3);
        assert_eq!(denied.retry_after, ms(500));
        // A denied request does not use up the cell: after 1/rate seconds one more passes.
        assert!(limit.check("verify", t0 + ms(499)).is_err());
        assert!(limit.check("verify", t0 + ms(500)).is_ok());
        assert!(limit.check("verify", t0 + ms(500)).is_err());
        // Idle long enough, the whole burst is back.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(limit.check("verify", later).unwrap().remaining, 2);
    }

    #[test]
    fn each_key_has_its_own_cell() {
        let limit = Gcra::new(1, 0);
        let t0 = Instant::now();
        assert!(limit.check("/v1/verify 10.0.0.1", t0).is_ok());
        assert!(limit.check("/v1/verify 10.0.0.1", t0).is_err());
        assert!(limit.check("/v1/verify 10.0.0.2", t0).is_ok());
    }

    #[test]
    fn steady_traffic_at_the_rate_is_never_limited() {
        let limit = Gcra::new(4, 0);
        let t0 = Instant::now();
        for i in 0..100 {
            assert!(limit.check("k", t0 + ms(250 * i)).is_ok(), "request {i}");
        }
    }

    #[test]
    fn expired_cells_are_pruned_when_many_callers_were_seen() {
        let limit = Gcra::new(1, 0);
        let t0 = Instant::now();
        for i in 0..=PRUNE_ABOVE {
            limit.check(&i.to_string(), t0).unwrap();
        }
        limit.check("late", t0 + Duration::from_secs(5)).unwrap();
        assert_eq!(limit.cells.lock().unwrap().len(), 1);
    }

    #[test]
    fn reserved_turns_come_in_order_one_per_emission_after_the_burst() {
        // A bucket of 2: Gcra::new(rate, burst - 1).
        let limit = Gcra::new(4, 1);
        let t0 = Instant::now();
        let turns: Vec<Duration> = (0..5).map(|_| limit.reserve("store", t0) - t0).collect();
        assert_eq!(turns, [ms(0), ms(0), ms(250), ms(500), ms(750)]);
        // Another store is not held up by this one.
        assert_eq!(limit.reserve("other", t0), t0);
        // Once the booked turns have passed and the bucket refilled, calls go at once again.
        let later = t0 + Duration::from_secs(2);
        assert_eq!(limit.reserve("store", later), later);
    }
}
