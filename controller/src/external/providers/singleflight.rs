//! Identical reads made once (spec §14.2): a caller asking for a key is given the read of it
//! that started at or after the instant it names (e.g. when its reconcile started), in flight
//! or finished, so the entries of one ExternalSecret and the ExternalSecrets refreshed
//! together that read one remote secret cost one provider call, and no caller gets a value
//! older than one it would have read itself. A failure is shared only with the callers
//! already waiting for it; the next caller tries again. Values are kept for [`KEEP`].
//!
//! A call that reads several keys at once (AWS `BatchGetSecretValue`) [`Singleflight::put`]s
//! each value it read, for the callers that [`Singleflight::has`] said would take it.
//!
//! Each provider client holds one [`Singleflight`]; a client belongs to one store version and
//! one set of credentials, so nothing is shared across stores or credentials.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use super::request::ProviderError;

/// How long a value read is kept for later callers (whose bound still decides whether they
/// may take it).
pub const KEEP: Duration = Duration::from_secs(60);

struct Slot<V> {
    value: OnceCell<Result<Arc<V>, ProviderError>>,
    /// When the read started.
    started: Instant,
    /// When the read finished (`None` while in flight).
    done: Mutex<Option<Instant>>,
}

impl<V> Slot<V> {
    fn kept(&self, now: Instant, keep: Duration) -> bool {
        match *self.done.lock().expect("lock") {
            None => true,
            Some(at) => now.saturating_duration_since(at) < keep,
        }
    }
}

/// The reads of one client, by key (e.g. `secret#version#SECRET`).
pub struct Singleflight<V> {
    keep: Duration,
    slots: Mutex<HashMap<String, Arc<Slot<V>>>>,
}

impl<V> Default for Singleflight<V> {
    fn default() -> Singleflight<V> {
        Singleflight::new(KEEP)
    }
}

impl<V> Singleflight<V> {
    pub fn new(keep: Duration) -> Singleflight<V> {
        Singleflight {
            keep,
            slots: Mutex::default(),
        }
    }

    /// Whether a read of `key` that started at or after `since` is in flight or kept: a
    /// caller asking with `since` would be given it.
    pub fn has(&self, key: &str, since: Instant) -> bool {
        let slots = self.slots.lock().expect("lock");
        slots
            .get(key)
            .is_some_and(|slot| slot.started >= since && slot.kept(Instant::now(), self.keep))
    }

    /// Keeps `value` of `key`, read by a call that started at `started` (e.g. one call that
    /// read several keys), unless a read of `key` started since.
    pub fn put(&self, key: &str, started: Instant, value: V) {
        let mut slots = self.slots.lock().expect("lock");
        let now = Instant::now();
        if slots
            .get(key)
            .is_some_and(|slot| slot.started >= started && slot.kept(now, self.keep))
        {
            return;
        }
        let slot = Slot {
            value: OnceCell::new_with(Some(Ok(Arc::new(value)))),
            started,
            done: Mutex::new(Some(now)),
        };
        slots.insert(key.to_owned(), Arc::new(slot));
    }

    /// The value of `key`: from a read that started at or after `since` (`None`: now), in
    /// flight or kept, else read by `fetch`.
    pub async fn get<F, Fut>(
        &self,
        key: &str,
        since: Option<Instant>,
        fetch: F,
    ) -> Result<Arc<V>, ProviderError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, ProviderError>>,
    {
        let slot = {
            let mut slots = self.slots.lock().expect("lock");
            let now = Instant::now();
            let since = since.unwrap_or(now);
            slots.retain(|_, slot| slot.kept(now, self.keep));
            match slots.get(key) {
                Some(slot) if slot.started >= since => slot.clone(),
                _ => {
                    let slot = Arc::new(Slot {
                        value: OnceCell::new(),
                        started: now,
                        done: Mutex::new(None),
                    });
                    slots.insert(key.to_owned(), slot.clone());
                    slot
                }
            }
        };
        let result = slot
            .value
            .get_or_init(|| async {
                let result = fetch().await.map(Arc::new);
                *slot.done.lock().expect("lock") = Some(Instant::now());
                result
            })
            .await
            .clone();
        if result.is_err() {
            let mut slots = self.slots.lock().expect("lock");
            if slots.get(key).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                slots.remove(key);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn reads_that_started_after_the_bound_are_shared() {
        let flight = Singleflight::new(Duration::from_secs(60));
        let calls = AtomicUsize::new(0);
        let read = |v: u32| {
            let calls = &calls;
            move || async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                Ok(v)
            }
        };
        let since = Some(Instant::now());
        let (a, b) = tokio::join!(
            flight.get("k", since, read(1)),
            flight.get("k", since, read(2))
        );
        assert_eq!((*a.unwrap(), *b.unwrap()), (1, 1));
        assert_eq!(*flight.get("k", since, read(3)).await.unwrap(), 1);
        assert_eq!(*flight.get("other", since, read(4)).await.unwrap(), 4);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_caller_bound_after_a_read_started_reads_again() {
        let flight = Singleflight::new(Duration::from_secs(60));
        assert_eq!(*flight.get("k", None, || async { Ok(1) }).await.unwrap(), 1);
        let later = Some(Instant::now() + Duration::from_millis(1));
        assert_eq!(
            *flight.get("k", later, || async { Ok(2) }).await.unwrap(),
            2
        );
        assert_eq!(*flight.get("k", None, || async { Ok(3) }).await.unwrap(), 3);
    }

    #[tokio::test]
    async fn a_value_older_than_keep_is_read_again() {
        let flight = Singleflight::new(Duration::ZERO);
        let t0 = Some(Instant::now());
        assert_eq!(*flight.get("k", t0, || async { Ok(1) }).await.unwrap(), 1);
        assert_eq!(*flight.get("k", t0, || async { Ok(2) }).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn a_failure_is_not_kept_for_later_callers() {
        let flight = Singleflight::new(Duration::from_secs(60));
        let t0 = Some(Instant::now());
        let failed = flight
            .get("k", t0, || async {
                Err::<u32, _>(ProviderError::Failed("down".into()))
            })
            .await;
        assert_eq!(failed, Err(ProviderError::Failed("down".into())));
        assert_eq!(*flight.get("k", t0, || async { Ok(7) }).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_value_put_is_taken_by_callers_bound_before_its_read_started() {
        let flight = Singleflight::new(Duration::from_secs(60));
        let t0 = Instant::now().checked_sub(Duration::from_secs(1)).unwrap();
        assert!(!flight.has("k", t0));
        flight.put("k", t0, 1);
        assert!(flight.has("k", t0));
        assert_eq!(
            *flight.get("k", Some(t0), || async { Ok(2) }).await.unwrap(),
            1
        );
        // Too old for a caller bound after it started: read again.
        assert!(!flight.has("k", t0 + Duration::from_nanos(1)));
        assert_eq!(*flight.get("k", None, || async { Ok(3) }).await.unwrap(), 3);
        // The fresher read is not replaced by an older one.
        flight.put("k", t0, 4);
        assert_eq!(
            *flight.get("k", Some(t0), || async { Ok(5) }).await.unwrap(),
            3
        );
    }
}
