//! Two lanes for the ExternalSecrets' sync work (spec §11 #3, §14.3). ESO queues a new
//! ExternalSecret behind every periodic refresh already queued, so at scale a first sync waits
//! minutes. sealbox runs at most `--concurrent` syncs at once and serves the urgent lane (new
//! and changed ExternalSecrets, Secrets to repair) before the periodic one: a new object waits
//! at most for one sync to end, however many refreshes are waiting.
//!
//! [`Lanes::acquire`] waits for a turn; the [`Turn`] it returns gives the turn to the next
//! waiter when dropped (urgent first, then periodic, each in arrival order).

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::oneshot;

/// Which lane a sync waits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Never synced, changed since, or its Secret needs repair.
    Urgent,
    /// Due by its refresh interval only.
    Periodic,
}

struct State {
    free: usize,
    urgent: VecDeque<oneshot::Sender<()>>,
    periodic: VecDeque<oneshot::Sender<()>>,
}

/// At most `concurrent` turns at a time.
pub struct Lanes {
    state: Mutex<State>,
}

/// A turn to sync; the next waiter's when dropped.
pub struct Turn<'a> {
    lanes: &'a Lanes,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.lanes.release();
    }
}

impl Lanes {
    pub fn new(concurrent: usize) -> Lanes {
        Lanes {
            state: Mutex::new(State {
                free: concurrent.max(1),
                urgent: VecDeque::new(),
                periodic: VecDeque::new(),
            }),
        }
    }

    /// Waits for a turn in `lane`.
    pub async fn acquire(&self, lane: Lane) -> Turn<'_> {
        let waiting = {
            let mut state = self.state.lock().expect("lock");
            // A periodic sync does not overtake urgent ones already waiting.
            if state.free > 0 && (lane == Lane::Urgent || state.urgent.is_empty()) {
                state.free -= 1;
                None
            } else {
                let (tx, rx) = oneshot::channel();
                match lane {
                    Lane::Urgent => state.urgent.push_back(tx),
                    Lane::Periodic => state.periodic.push_back(tx),
                }
                Some(rx)
            }
        };
        if let Some(rx) = waiting {
            // The sender is only dropped after sending (or with `self`, which outlives us).
            let _ = rx.await;
        }
        Turn { lanes: self }
    }

    /// Gives a turn back: to the first urgent waiter still waiting, else the first periodic
    /// one, else to the pool.
    fn release(&self) {
        let mut state = self.state.lock().expect("lock");
        loop {
            let next = match state.urgent.pop_front() {
                Some(tx) => tx,
                None => match state.periodic.pop_front() {
                    Some(tx) => tx,
                    None => {
                        state.free += 1;
                        return;
                    }
                },
            };
            // A waiter that gave up (its reconcile was cancelled) is skipped.
            if next.send(()).is_ok() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn urgent_syncs_overtake_the_periodic_ones_waiting() {
        let lanes = Arc::new(Lanes::new(1));
        let order = Arc::new(Mutex::new(Vec::new()));
        let first = lanes.acquire(Lane::Periodic).await;
        let mut waiters = Vec::new();
        for (name, lane) in [
            ("p1", Lane::Periodic),
            ("p2", Lane::Periodic),
            ("u1", Lane::Urgent),
            ("p3", Lane::Periodic),
            ("u2", Lane::Urgent),
        ] {
            let (mine, order) = (lanes.clone(), order.clone());
            waiters.push(tokio::spawn(async move {
                let _turn = mine.acquire(lane).await;
                order.lock().unwrap().push(name);
            }));
            // Each waiter is queued before the next is spawned.
            let queued = || {
                let state = lanes.state.lock().unwrap();
                state.urgent.len() + state.periodic.len()
            };
            while queued() < waiters.len() {
                tokio::task::yield_now().await;
            }
        }
        drop(first);
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["u1", "u2", "p1", "p2", "p3"]);
        assert_eq!(lanes.state.lock().unwrap().free, 1);
    }

    #[tokio::test]
    async fn a_cancelled_waiter_does_not_lose_the_turn() {
        let lanes = Lanes::new(1);
        let held = lanes.acquire(Lane::Urgent).await;
        {
            let gave_up = lanes.acquire(Lane::Urgent);
            let timed_out =
                tokio::time::timeout(std::time::Duration::from_millis(10), gave_up).await;
            assert!(timed_out.is_err());
        }
        drop(held);
        let _again = lanes.acquire(Lane::Periodic).await;
        assert_eq!(lanes.state.lock().unwrap().free, 0);
    }

    #[tokio::test]
    async fn up_to_concurrent_turns_at_once() {
        let lanes = Lanes::new(2);
        let a = lanes.acquire(Lane::Periodic).await;
        let _b = lanes.acquire(Lane::Urgent).await;
        assert_eq!(lanes.state.lock().unwrap().free, 0);
        drop(a);
        assert_eq!(lanes.state.lock().unwrap().free, 1);
    }
}
