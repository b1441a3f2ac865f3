//! Leader election on a `coordination.k8s.io/v1` Lease, with client-go's `leaderelection`
//! semantics, so that with several replicas exactly one reconciles (every replica still serves
//! kubeseal's HTTP API from its key ring).
//!
//! The algorithm is client-go's `tryAcquireOrRenew` (the one controller-runtime, and so External
//! Secrets Operator, use): read the Lease; another holder's claim is valid until
//! `leaseDurationSeconds` after *this replica saw the record last change*, by its own clock, so
//! clock skew between nodes does not matter; a claim is written with the resourceVersion that
//! was read, so of two candidates only one wins. The leader renews every retry period; when it
//! cannot renew within the renew deadline, or sees another holder, it has lost: its reconcilers
//! are dropped at once and the process exits with an error (as controller-runtime does), to be
//! restarted as a candidate. On SIGTERM the leader lets its reconcilers finish, then releases
//! the Lease (client-go's `ReleaseOnCancel`) so that another replica takes over without waiting
//! for it to expire.
//!
//! Why not a crate: `kube-lease-manager` (the one maintained crate for kube 5) takes leases with
//! unconditional patches and relies on server-side-apply field conflicts, and judges expiry by
//! the holder's clock; client-go's resourceVersion-guarded updates and observed-time expiry are
//! what Kubernetes controllers share, and take a page of code. The decisions are in
//! [`Candidate`], without I/O.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::flags::{go_duration, own_namespace};
use crate::metrics::Registry;
use crate::supervisor::{Shutdown, Supervisor};

/// The leader election flags: controller-runtime's names (External Secrets Operator's, spec
/// `external-secrets.md` §5.1) and client-go's default timings.
#[derive(clap::Args, Clone, Debug)]
#[group(id = "leader")]
pub struct Args {
    /// Reconcile only while holding a Lease, so that several replicas can run (each serves
    /// kubeseal's API; one reconciles).
    #[arg(long, env = "SEALBOX_ENABLE_LEADER_ELECTION", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub enable_leader_election: bool,
    /// The Lease's name.
    #[arg(
        long,
        env = "SEALBOX_LEADER_ELECTION_ID",
        default_value = "sealbox-controller"
    )]
    pub leader_election_id: String,
    /// The Lease's namespace (empty: the controller's own).
    #[arg(long, env = "SEALBOX_LEADER_ELECTION_NAMESPACE", default_value = "")]
    pub leader_election_namespace: String,
    /// How long a leader's claim holds after its last renewal, as the others see it (Go duration).
    #[arg(long, env = "SEALBOX_LEADER_ELECTION_LEASE_DURATION", default_value = "15s", value_parser = go_duration)]
    pub leader_election_lease_duration: Duration,
    /// How long the leader keeps trying to renew before it gives up leading (Go duration).
    #[arg(long, env = "SEALBOX_LEADER_ELECTION_RENEW_DEADLINE", default_value = "10s", value_parser = go_duration)]
    pub leader_election_renew_deadline: Duration,
    /// How often candidates try to acquire, and the leader renews (Go duration).
    #[arg(long, env = "SEALBOX_LEADER_ELECTION_RETRY_PERIOD", default_value = "2s", value_parser = go_duration)]
    pub leader_election_retry_period: Duration,
}

/// client-go's `JitterFactor`: candidates wait between one and 2.2 retry periods.
const JITTER: f64 = 1.2;

impl Args {
    /// client-go's checks: the leader must give up before others may take over, and retry at
    /// least once before giving up.
    pub fn check(&self) -> anyhow::Result<()> {
        if !self.enable_leader_election {
            return Ok(());
        }
        let (lease, renew, retry) = (
            self.leader_election_lease_duration,
            self.leader_election_renew_deadline,
            self.leader_election_retry_period,
        );
        if lease.as_secs() < 1 || lease <= renew {
            anyhow::bail!(
                "--leader-election-lease-duration ({lease:?}) must be at least 1s and longer than --leader-election-renew-deadline ({renew:?})"
            );
        }
        if retry.is_zero() || renew.as_secs_f64() <= JITTER * retry.as_secs_f64() {
            anyhow::bail!(
                "--leader-election-renew-deadline ({renew:?}) must be longer than {JITTER} × --leader-election-retry-period ({retry:?}), which must not be 0"
            );
        }
        Ok(())
    }
}

/// This replica's part in the election, seen from the tasks that may only run on the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Candidate,
    Leading,
    Lost,
}

/// Hands the leader-only tasks their turn: [`Leadership::lead`] runs a task once this replica
/// leads and drops it the moment leadership is lost.
#[derive(Clone)]
pub struct Leadership {
    /// Shared with the elector, and kept here too: a closed channel would read as a verdict.
    phase: Arc<watch::Sender<Phase>>,
    /// How many leader-only tasks are running: the leader releases the Lease only once none is.
    running: Arc<watch::Sender<usize>>,
}

impl Leadership {
    /// Election off: this replica leads from the start.
    pub fn always() -> Leadership {
        Leadership {
            phase: Arc::new(watch::Sender::new(Phase::Leading)),
            running: Arc::new(watch::Sender::new(0)),
        }
    }

    /// Runs `task` while this replica leads: waits until it does (returning at once if the
    /// shutdown starts first), and drops the task mid-flight when leadership is lost, because
    /// another replica reconciles from then on.
    pub async fn lead(
        self,
        shutdown: Shutdown,
        task: impl std::future::Future<Output = anyhow::Result<()>>,
    ) -> anyhow::Result<()> {
        // `self.phase` keeps the channel open, so these waits end only on the phase sought.
        let mut phase = self.phase.subscribe();
        tokio::select! {
            _ = phase.wait_for(|p| *p == Phase::Leading) => {}
            () = shutdown.wait() => return Ok(()),
        }
        self.running.send_modify(|n| *n += 1);
        let _running = Running(self.running.clone());
        tokio::select! {
            ended = task => ended,
            _ = phase.wait_for(|p| *p == Phase::Lost) => Ok(()),
        }
    }
}

/// Counts a running leader-only task until dropped.
struct Running(Arc<watch::Sender<usize>>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LeaseName {
    name: String,
}

/// Starts the election into `tasks` when it is enabled (its flags already passed
/// [`Args::check`]), and returns what the leader-only
/// tasks wait on. Registers `leader_election_master_status{name}` (client-go's metric: 1 while
/// leading).
pub fn elect(
    args: Args,
    client: Client,
    registry: &mut Registry,
    tasks: &mut Supervisor,
) -> Leadership {
    if !args.enable_leader_election {
        return Leadership::always();
    }
    let namespace = Some(args.leader_election_namespace.clone())
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(own_namespace);
    let status = Family::<LeaseName, Gauge>::default();
    registry.with_prefix("leader_election").register(
        "master_status",
        "1 while this replica holds the leader election Lease, else 0",
        status.clone(),
    );
    let status = status
        .get_or_create(&LeaseName {
            name: args.leader_election_id.clone(),
        })
        .clone();
    let identity = identity();
    info!(
        lease = %format!("{namespace}/{}", args.leader_election_id),
        identity, "leader election: reconciling only while holding the Lease"
    );
    let leadership = Leadership {
        phase: Arc::new(watch::Sender::new(Phase::Candidate)),
        running: Arc::new(watch::Sender::new(0)),
    };
    let elector = Elector {
        api: Api::namespaced(client, &namespace),
        name: args.leader_election_id.clone(),
        candidate: Candidate::new(identity, args.leader_election_lease_duration),
        lease: None,
        renew_deadline: args.leader_election_renew_deadline,
        retry: args.leader_election_retry_period,
        phase: leadership.phase.clone(),
        running: leadership.running.subscribe(),
        status,
    };
    tasks.spawn_draining("leader election", |shutdown| elector.run(shutdown));
    leadership
}

/// The pod name (the hostname in a pod) and a random suffix, as client-go's callers use.
fn identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "sealbox-controller".into());
    format!("{host}_{:016x}", rand::random::<u64>())
}

struct Elector {
    api: Api<Lease>,
    name: String,
    candidate: Candidate,
    /// The Lease as last read or written: the leader renews with its resourceVersion.
    lease: Option<Lease>,
    renew_deadline: Duration,
    retry: Duration,
    phase: Arc<watch::Sender<Phase>>,
    running: watch::Receiver<usize>,
    status: Gauge,
}

impl Elector {
    async fn run(mut self, shutdown: Shutdown) -> anyhow::Result<()> {
        let stop = shutdown.wait();
        tokio::pin!(stop);
        loop {
            if self.attempt().await {
                break;
            }
            let wait = self.retry.mul_f64(1.0 + rand::random::<f64>() * JITTER);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = &mut stop => return Ok(()),
            }
        }
        info!(
            identity = self.candidate.identity,
            lease = self.name,
            "became the leader"
        );
        self.status.set(1);
        self.phase.send_replace(Phase::Leading);
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.retry) => {}
                () = &mut stop => break,
            }
            let renewed = tokio::select! {
                renewed = self.renew() => renewed,
                () = &mut stop => break,
            };
            if let Err(why) = renewed {
                self.status.set(0);
                self.phase.send_replace(Phase::Lost);
                anyhow::bail!(
                    "lost the leader election Lease {:?} ({why}): stopping so that only the new leader reconciles",
                    self.name
                );
            }
        }
        // Shutting down: once the leader-only tasks have finished, hand the Lease over.
        let _ = self.running.wait_for(|n| *n == 0).await;
        self.release().await;
        Ok(())
    }

    /// One try, bounded by the renew deadline; false when not (or no longer) leading.
    async fn attempt(&mut self) -> bool {
        match tokio::time::timeout(self.renew_deadline, self.try_acquire_or_renew()).await {
            Ok(Ok(leading)) => leading,
            Ok(Err(e)) => {
                warn!(
                    lease = self.name,
                    "cannot read or write the leader election Lease: {e}"
                );
                false
            }
            Err(_) => {
                warn!(
                    lease = self.name,
                    "the leader election Lease request timed out"
                );
                false
            }
        }
    }

    /// client-go's renew: retries every retry period until renewed, or fails at the deadline
    /// or as soon as another replica holds the Lease.
    async fn renew(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + self.renew_deadline;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.try_acquire_or_renew()).await {
                Ok(Ok(true)) => return Ok(()),
                Ok(Ok(false)) if self.candidate.held_by_another() => {
                    return Err(format!(
                        "{} holds it now",
                        self.candidate.holder().unwrap_or_default()
                    ));
                }
                Ok(Ok(false)) => {}
                Ok(Err(e)) => warn!(
                    lease = self.name,
                    "cannot renew the leader election Lease: {e}"
                ),
                Err(_) => {}
            }
            if Instant::now() + self.retry >= deadline {
                return Err(format!("not renewed within {:?}", self.renew_deadline));
            }
            tokio::time::sleep(self.retry).await;
        }
    }

    /// client-go's `tryAcquireOrRenew`: true when this replica holds the Lease afterwards.
    async fn try_acquire_or_renew(&mut self) -> kube::Result<bool> {
        // The leader first renews optimistically with the Lease it last wrote.
        if let Some(mut lease) = self.lease.clone()
            && self.candidate.is_leader()
            && self.candidate.lease_valid(Instant::now())
        {
            let current = lease.spec.clone().unwrap_or_default();
            lease.spec = self.candidate.claim(&current, Instant::now(), now());
            match self
                .api
                .replace(&self.name, &PostParams::default(), &lease)
                .await
            {
                Ok(written) => return Ok(self.wrote(written)),
                Err(e) => debug!(
                    lease = self.name,
                    "optimistic renewal failed, reading the Lease: {e}"
                ),
            }
        }
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let spec = self
                .candidate
                .claim(&LeaseSpec::default(), Instant::now(), now());
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec,
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(written) => Ok(self.wrote(written)),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false), // another was faster
                Err(e) => Err(e),
            };
        };
        let current = lease.spec.clone().unwrap_or_default();
        self.candidate.observe(&current, Instant::now());
        self.lease = Some(lease.clone());
        let Some(claim) = self.candidate.claim(&current, Instant::now(), now()) else {
            return Ok(false);
        };
        lease.spec = Some(claim);
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(written) => Ok(self.wrote(written)),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false), // changed since read
            Err(e) => Err(e),
        }
    }

    fn wrote(&mut self, lease: Lease) -> bool {
        self.candidate
            .observe(&lease.spec.clone().unwrap_or_default(), Instant::now());
        self.lease = Some(lease);
        true
    }

    /// Hands the Lease over (client-go's `release`): no holder, a one-second duration.
    async fn release(&mut self) {
        let (Some(mut lease), Some(spec)) = (self.lease.clone(), self.candidate.released(now()))
        else {
            return;
        };
        lease.spec = Some(spec);
        let params = PostParams::default();
        let release = self.api.replace(&self.name, &params, &lease);
        match tokio::time::timeout(self.retry, release).await {
            Ok(Ok(_)) => info!(lease = self.name, "released the leader election Lease"),
            Ok(Err(e)) => warn!(
                lease = self.name,
                "cannot release the leader election Lease; another replica takes over once it expires: {e}"
            ),
            Err(_) => warn!(
                lease = self.name,
                "releasing the leader election Lease timed out; another replica takes over once it expires"
            ),
        }
        self.status.set(0);
    }
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

/// One replica's view of the Lease and its claims, without I/O (client-go's `LeaderElector`
/// state: the observed record and when it was observed, by this replica's clock).
#[derive(Debug)]
pub struct Candidate {
    identity: String,
    duration: Duration,
    observed: Option<(LeaseSpec, Instant)>,
}

impl Candidate {
    pub fn new(identity: String, duration: Duration) -> Candidate {
        Candidate {
            identity,
            duration,
            observed: None,
        }
    }

    /// Records what the Lease says; the clock of its claim restarts only when it changed.
    pub fn observe(&mut self, spec: &LeaseSpec, now: Instant) {
        if self.observed.as_ref().is_none_or(|(seen, _)| seen != spec) {
            self.observed = Some((spec.clone(), now));
        }
    }

    /// Who holds the Lease, as last observed (none when released).
    pub fn holder(&self) -> Option<&str> {
        self.observed
            .as_ref()
            .and_then(|(spec, _)| spec.holder_identity.as_deref())
            .filter(|h| !h.is_empty())
    }

    pub fn is_leader(&self) -> bool {
        self.holder() == Some(self.identity.as_str())
    }

    pub fn held_by_another(&self) -> bool {
        self.holder().is_some_and(|h| h != self.identity)
    }

    /// Whether the last observed claim still holds: its duration has not passed since this
    /// replica saw it change.
    pub fn lease_valid(&self, now: Instant) -> bool {
        self.observed.as_ref().is_some_and(|(spec, at)| {
            let seconds = spec.lease_duration_seconds.unwrap_or(0).max(0) as u64;
            *at + Duration::from_secs(seconds) > now
        })
    }

    /// The Lease spec that claims (or renews) it for this replica given what it says now, or
    /// `None` while another holder's claim is valid.
    pub fn claim(&self, current: &LeaseSpec, now: Instant, time: MicroTime) -> Option<LeaseSpec> {
        if self.held_by_another() && self.lease_valid(now) {
            return None;
        }
        let renewing = current.holder_identity.as_deref() == Some(self.identity.as_str());
        let transitions = current.lease_transitions.unwrap_or(0);
        Some(LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.duration.as_secs().max(1) as i32),
            acquire_time: if renewing {
                current.acquire_time.clone()
            } else {
                Some(time.clone())
            },
            renew_time: Some(time),
            lease_transitions: Some(if renewing {
                transitions
            } else {
                transitions + 1
            }),
            ..current.clone()
        })
    }

    /// The spec that hands the Lease over, when this replica holds it.
    pub fn released(&self, time: MicroTime) -> Option<LeaseSpec> {
        let (spec, _) = self.observed.as_ref().filter(|_| self.is_leader())?;
        Some(LeaseSpec {
            holder_identity: None,
            lease_duration_seconds: Some(1),
            acquire_time: Some(time.clone()),
            renew_time: Some(time),
            ..spec.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time() -> MicroTime {
        MicroTime(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
    }

    fn held_by(holder: &str, seconds: i32, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(seconds),
            lease_transitions: Some(transitions),
            renew_time: Some(time()),
            ..LeaseSpec::default()
        }
    }

    const FIFTEEN: Duration = Duration::from_secs(15);

    #[test]
    fn a_free_lease_is_claimed_with_one_more_transition() {
        let me = Candidate::new("a".into(), FIFTEEN);
        let claim = me
            .claim(&LeaseSpec::default(), Instant::now(), time())
            .expect("free");
        assert_eq!(claim.holder_identity.as_deref(), Some("a"));
        assert_eq!(claim.lease_duration_seconds, Some(15));
        assert_eq!(claim.lease_transitions, Some(1));
        assert_eq!(claim.acquire_time, Some(time()));
    }

    #[test]
    fn another_holders_claim_holds_for_its_duration_from_when_it_was_seen_to_change() {
        let start = Instant::now();
        let mut me = Candidate::new("b".into(), FIFTEEN);
        let theirs = held_by("a", 10, 3);
        me.observe(&theirs, start);
        assert!(me.held_by_another() && !me.is_leader());
        assert_eq!(
            me.claim(&theirs, start + Duration::from_secs(9), time()),
            None
        );
        // Seeing the same record again does not restart its clock…
        me.observe(&theirs, start + Duration::from_secs(9));
        let claim = me
            .claim(&theirs, start + Duration::from_secs(10), time())
            .expect("expired");
        assert_eq!(claim.holder_identity.as_deref(), Some("b"));
        assert_eq!(claim.lease_transitions, Some(4));
        // …a renewal does.
        let mut renewed = theirs.clone();
        renewed.renew_time = Some(MicroTime(
            k8s_openapi::jiff::Timestamp::from_second(5).expect("time"),
        ));
        me.observe(&renewed, start + Duration::from_secs(9));
        assert_eq!(
            me.claim(&renewed, start + Duration::from_secs(18), time()),
            None
        );
        assert!(
            me.claim(&renewed, start + Duration::from_secs(19), time())
                .is_some()
        );
    }

    #[test]
    fn the_holder_renews_keeping_acquire_time_and_transitions() {
        let start = Instant::now();
        let mut me = Candidate::new("a".into(), FIFTEEN);
        let mut mine = held_by("a", 15, 2);
        mine.acquire_time = Some(MicroTime(
            k8s_openapi::jiff::Timestamp::from_second(100).expect("time"),
        ));
        me.observe(&mine, start);
        assert!(me.is_leader() && me.lease_valid(start));
        let later = MicroTime(k8s_openapi::jiff::Timestamp::from_second(200).expect("time"));
        let renewal = me.claim(&mine, start, later.clone()).expect("mine");
        assert_eq!(renewal.acquire_time, mine.acquire_time);
        assert_eq!(renewal.renew_time, Some(later));
        assert_eq!(renewal.lease_transitions, Some(2));
    }

    #[test]
    fn a_released_lease_is_free_at_once() {
        let start = Instant::now();
        let mut leader = Candidate::new("a".into(), FIFTEEN);
        leader.observe(&held_by("a", 15, 1), start);
        let released = leader.released(time()).expect("leader");
        assert_eq!(released.holder_identity, None);
        assert_eq!(released.lease_duration_seconds, Some(1));
        assert_eq!(released.lease_transitions, Some(1));
        let mut other = Candidate::new("b".into(), FIFTEEN);
        other.observe(&released, start);
        assert!(!other.held_by_another());
        assert!(other.claim(&released, start, time()).is_some());
        assert_eq!(
            Candidate::new("c".into(), FIFTEEN).released(time()),
            None,
            "only the holder releases"
        );
    }

    #[test]
    fn timings_are_checked_as_client_go_does() {
        let args = |lease: u64, renew: u64, retry: u64| Args {
            enable_leader_election: true,
            leader_election_id: "x".into(),
            leader_election_namespace: String::new(),
            leader_election_lease_duration: Duration::from_secs(lease),
            leader_election_renew_deadline: Duration::from_secs(renew),
            leader_election_retry_period: Duration::from_secs(retry),
        };
        assert!(args(15, 10, 2).check().is_ok());
        assert!(args(10, 10, 2).check().is_err());
        assert!(args(15, 10, 9).check().is_err());
        assert!(args(15, 10, 0).check().is_err());
        let off = Args {
            enable_leader_election: false,
            ..args(0, 0, 0)
        };
        assert!(off.check().is_ok(), "unused timings are not checked");
    }

    #[tokio::test]
    async fn without_election_tasks_run_at_once_and_for_good() {
        let supervisor = Supervisor::new();
        let (done_tx, done) = tokio::sync::oneshot::channel();
        let task = Leadership::always().lead(supervisor.shutdown(), async move {
            tokio::task::yield_now().await;
            done_tx.send(()).expect("test alive");
            std::future::pending::<anyhow::Result<()>>().await
        });
        let task = tokio::spawn(task);
        done.await.expect("the task ran");
        tokio::task::yield_now().await;
        assert!(!task.is_finished(), "the task was dropped");
        task.abort();
    }

    #[tokio::test]
    async fn leader_only_tasks_wait_for_leadership_and_stop_when_it_is_lost() {
        let leadership = Leadership {
            phase: Arc::new(watch::Sender::new(Phase::Candidate)),
            running: Arc::new(watch::Sender::new(0)),
        };
        let phase_tx = leadership.phase.clone();
        let running = leadership.running.subscribe();
        let supervisor = Supervisor::new();
        let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(leadership.clone().lead(supervisor.shutdown(), async move {
            started_tx.send(()).expect("test alive");
            std::future::pending::<anyhow::Result<()>>().await
        }));
        tokio::task::yield_now().await;
        assert!(started.try_recv().is_err(), "a candidate runs nothing");
        phase_tx.send_replace(Phase::Leading);
        started.recv().await.expect("runs once leading");
        assert_eq!(*running.borrow(), 1);
        phase_tx.send_replace(Phase::Lost);
        task.await.expect("joined").expect("stops quietly");
        assert_eq!(*running.borrow(), 0);
    }
}
