//! The refresh gate and the requeue delay of an ExternalSecret, exactly as ESO decides them
//! (spec `external-secrets.md` §5.3 steps 8 and 16; ESO `externalsecret_controller.go`
//! `shouldRefresh`, `shouldRefreshPeriodic`, `isSecretValid`, `getRequeueResult`).
//!
//! Which function when:
//! - before any provider call: skip the sync (and write nothing) when
//!   `!should_refresh(..) && is_secret_valid(..)`: [`should_refresh`], [`is_secret_valid`];
//! - after a reconcile that synced or skipped: when to come back: [`requeue_after`];
//! - when a periodic refresh is due: [`next_refresh`], on the ExternalSecret's own slot of
//!   the interval ([`phase`]).
//! - reading `spec.refreshPolicy`: [`RefreshPolicy::from_spec`] (absent or `""` is Periodic).
//!
//! `spec.syncWindows` are not evaluated here yet: the caller passes whether they allow a
//! periodic refresh now in [`RefreshInput::sync_windows_allow`] (`true` when there are none).
//! As in ESO they only gate periodic refreshes, never metadata changes, and never change the
//! requeue cadence.
//!
//! One departure from ESO, on purpose (spec §11 #2, §14.3): ESO refreshes at `refreshTime +
//! interval`, so objects created or restarted together refresh together for ever (and hit
//! provider rate limits). sealbox gives each ExternalSecret a fixed slot within the interval,
//! derived from what it reads ([`phase`]); a refresh is due at the first slot after the last
//! one, never later than ESO's time. Refreshes spread evenly over the interval, stay spread
//! across restarts, and ExternalSecrets reading the same secret share a slot (and one read).
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use sealbox_controller::external::refresh::{self, RefreshInput, RefreshPolicy};
//!
//! let now = SystemTime::now();
//! let synced_recently = RefreshInput {
//!     policy: RefreshPolicy::from_spec(None)?,
//!     interval: Duration::from_secs(3600),
//!     synced_resource_version: Some("1-f47fe3c0b255b6dd8047cdffa772587bb829efe7a1cb70febeda2eb2"),
//!     resource_version: "1-f47fe3c0b255b6dd8047cdffa772587bb829efe7a1cb70febeda2eb2",
//!     refresh_time: Some(now - Duration::from_secs(600)),
//!     sync_windows_allow: true,
//!     phase: 0,
//! };
//! assert!(!refresh::should_refresh(&synced_recently, now));
//! let wait = refresh::requeue_after(Duration::from_secs(3600), synced_recently.refresh_time, now, 0);
//! assert!(wait.is_some_and(|w| w <= Duration::from_secs(3000)));
//! # Ok::<(), String>(())
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::hash::{ANNOTATION_DATA_HASH, LABEL_MANAGED, LABEL_MANAGED_VALUE, object_hash_data};
use super::policy::CreationPolicy;

/// `spec.refreshPolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RefreshPolicy {
    /// Sync once; never again while the target stays valid.
    CreatedOnce,
    /// Sync every `refreshInterval`, and whenever the ExternalSecret changes.
    #[default]
    Periodic,
    /// Sync when the ExternalSecret changes (generation, labels, annotations).
    OnChange,
}

impl RefreshPolicy {
    /// Parses the field; absent or `""` is `Periodic` (ESO has no CRD default here and treats
    /// empty as Periodic).
    pub fn from_spec(value: Option<&str>) -> Result<Self, String> {
        match value.unwrap_or("") {
            "" | "Periodic" => Ok(Self::Periodic),
            "CreatedOnce" => Ok(Self::CreatedOnce),
            "OnChange" => Ok(Self::OnChange),
            other => Err(format!(
                "spec.refreshPolicy {other:?} is not supported: use CreatedOnce, Periodic or \
                 OnChange"
            )),
        }
    }
}

/// What [`should_refresh`] looks at.
#[derive(Clone, Copy, Debug)]
pub struct RefreshInput<'a> {
    /// `spec.refreshPolicy`.
    pub policy: RefreshPolicy,
    /// `spec.refreshInterval`; zero means "never periodically". Go also treats a negative
    /// duration as zero: map one to `Duration::ZERO`.
    pub interval: Duration,
    /// `status.syncedResourceVersion`; `None` and `Some("")` both mean "never synced".
    pub synced_resource_version: Option<&'a str>,
    /// The ExternalSecret's current version as
    /// [`synced_resource_version`](super::hash::synced_resource_version) computes it.
    pub resource_version: &'a str,
    /// `status.refreshTime`; `None` when unset (Go's zero time).
    pub refresh_time: Option<SystemTime>,
    /// Whether `spec.syncWindows` allow a periodic refresh now; `true` when there are none.
    pub sync_windows_allow: bool,
    /// The ExternalSecret's slot within the interval ([`phase`]).
    pub phase: u64,
}

/// ESO's `shouldRefresh`: whether the provider must be read now. Rules, in order:
/// - `CreatedOnce`: only if never synced (no `syncedResourceVersion` or no `refreshTime`);
/// - `OnChange`: the same, or the ExternalSecret's version changed;
/// - `Periodic`: never again once synced if the interval is zero, *even if the spec changed*;
///   else if the version changed, if `refreshTime` is unset or in the future, or if the
///   [`next_refresh`] after `refreshTime` has come and sync windows allow it (ESO: when
///   `refreshTime + interval` is strictly before `now`).
pub fn should_refresh(input: &RefreshInput<'_>, now: SystemTime) -> bool {
    let synced = input.synced_resource_version.unwrap_or("");
    let never_synced = synced.is_empty() || input.refresh_time.is_none();
    match input.policy {
        RefreshPolicy::CreatedOnce => never_synced,
        RefreshPolicy::OnChange => never_synced || synced != input.resource_version,
        RefreshPolicy::Periodic => {
            if input.interval.is_zero() && !synced.is_empty() {
                return false;
            }
            if synced != input.resource_version {
                return true;
            }
            let Some(refreshed) = input.refresh_time else {
                return true;
            };
            if refreshed > now {
                return true;
            }
            let due = next_refresh(refreshed, input.interval, input.phase) <= now;
            due && input.sync_windows_allow
        }
    }
}

/// The part of the existing target [`is_secret_valid`] checks.
#[derive(Clone, Copy, Debug)]
pub struct ExistingTarget<'a> {
    /// The target's labels.
    pub labels: &'a BTreeMap<String, String>,
    /// The target's annotations.
    pub annotations: &'a BTreeMap<String, String>,
    /// The target's `data`.
    pub data: &'a BTreeMap<String, Vec<u8>>,
}

/// ESO's `isSecretValid`: `creationPolicy: Orphan` targets are always valid; otherwise the
/// target must exist, carry `reconcile.external-secrets.io/managed: "true"` and a
/// `reconcile.external-secrets.io/data-hash` annotation equal to the hash of its data (so an
/// edited or deleted target forces a sync).
pub fn is_secret_valid(creation: CreationPolicy, existing: Option<&ExistingTarget<'_>>) -> bool {
    if creation == CreationPolicy::Orphan {
        return true;
    }
    let Some(target) = existing else {
        return false;
    };
    if target.labels.get(LABEL_MANAGED).map(String::as_str) != Some(LABEL_MANAGED_VALUE) {
        return false;
    }
    target
        .annotations
        .get(ANNOTATION_DATA_HASH)
        .is_some_and(|hash| *hash == object_hash_data(target.data))
}

/// ESO's `getRequeueResult`: `None` = do not requeue (interval zero); `Some(Duration::ZERO)` =
/// requeue now; otherwise the time left until the [`next_refresh`] after `refresh_time` (after
/// `now` if it is unset).
pub fn requeue_after(
    interval: Duration,
    refresh_time: Option<SystemTime>,
    now: SystemTime,
    phase: u64,
) -> Option<Duration> {
    if interval.is_zero() {
        return None;
    }
    let refreshed = refresh_time.unwrap_or(now);
    if refreshed > now {
        // refreshTime in the future: refresh now, as ESO does.
        return Some(Duration::ZERO);
    }
    let next = next_refresh(refreshed, interval, phase);
    Some(next.duration_since(now).unwrap_or(Duration::ZERO))
}

/// When the periodic refresh after one at `refreshed` is due: the first of the ExternalSecret's
/// slots strictly after it, its slots being `phase` seconds (modulo the interval) after each
/// multiple of `interval` since the Unix epoch. So it is never later than ESO's
/// `refreshed + interval`. An interval that is not a whole number of seconds has no slots:
/// ESO's time.
pub fn next_refresh(refreshed: SystemTime, interval: Duration, phase: u64) -> SystemTime {
    let esos = refreshed + interval;
    if interval.subsec_nanos() != 0 || interval.is_zero() {
        return esos;
    }
    let Ok(since_epoch) = refreshed.duration_since(SystemTime::UNIX_EPOCH) else {
        return esos;
    };
    let period = interval.as_secs();
    let offset = Duration::from_secs(phase % period);
    // The slot at or before `refreshed`, then the one after it.
    let base = since_epoch.saturating_sub(offset);
    let slots = base.as_secs() / period;
    let next = SystemTime::UNIX_EPOCH + offset + Duration::from_secs((slots + 1) * period);
    next.min(esos)
}

/// How long before `now` a read this sync takes may have started (the singleflight's
/// freshness bound), so that its value is never older than one it would read itself:
/// - a periodic refresh, due only because its slot `due` came: reads made since that slot,
///   by the ExternalSecrets sharing it;
/// - any other sync (new, changed, its Secret edited), asked for `waited` ago: reads made
///   since it was asked for;
/// - never a read from before the slot at or before `start`, the refreshTime this sync
///   records. ExternalSecrets sharing a slot whose first syncs fall on both sides of it would
///   otherwise share one read yet record different periods, and read again at two slots.
pub fn read_window(
    now: SystemTime,
    start: SystemTime,
    waited: Duration,
    due: Option<SystemTime>,
    interval: Duration,
    phase: u64,
) -> Duration {
    let since = |t: SystemTime| now.duration_since(t).unwrap_or(Duration::ZERO);
    let window = due.map_or(waited, since);
    match slot_at_or_before(start, interval, phase) {
        Some(slot) => window.min(since(slot)),
        None => window,
    }
}

/// The slot at or before `t` (`None` for an interval without slots).
fn slot_at_or_before(t: SystemTime, interval: Duration, phase: u64) -> Option<SystemTime> {
    if interval.subsec_nanos() != 0 || interval.is_zero() {
        return None;
    }
    next_refresh(t, interval, phase).checked_sub(interval)
}

/// An ExternalSecret's slot seed: a stable hash of what it reads (stores and remote keys, in
/// order), so ExternalSecrets reading the same secrets refresh at the same moment and share
/// the reads, and different ones spread over the interval.
pub fn phase(reads: &[String]) -> u64 {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for read in reads {
        hash.update(read.as_bytes());
        hash.update([0]);
    }
    let digest = hash.finalize();
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "1-f47fe3c0b255b6dd8047cdffa772587bb829efe7a1cb70febeda2eb2";
    const V2: &str = "2-f47fe3c0b255b6dd8047cdffa772587bb829efe7a1cb70febeda2eb2";
    const HOUR: Duration = Duration::from_secs(3600);

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    /// Synced at `now - 10 min` with version V1, interval 1 h, Periodic: not due.
    fn synced() -> RefreshInput<'static> {
        RefreshInput {
            policy: RefreshPolicy::Periodic,
            interval: HOUR,
            synced_resource_version: Some(V1),
            resource_version: V1,
            refresh_time: Some(now() - Duration::from_secs(600)),
            sync_windows_allow: true,
            phase: 0,
        }
    }

    #[test]
    fn refresh_policy_parse() {
        assert_eq!(RefreshPolicy::from_spec(None), Ok(RefreshPolicy::Periodic));
        assert_eq!(
            RefreshPolicy::from_spec(Some("")),
            Ok(RefreshPolicy::Periodic)
        );
        assert_eq!(
            RefreshPolicy::from_spec(Some("CreatedOnce")),
            Ok(RefreshPolicy::CreatedOnce)
        );
        assert_eq!(
            RefreshPolicy::from_spec(Some("OnChange")),
            Ok(RefreshPolicy::OnChange)
        );
        let e = RefreshPolicy::from_spec(Some("Always")).unwrap_err();
        assert!(e.contains("spec.refreshPolicy \"Always\""), "{e}");
        assert!(e.contains("CreatedOnce, Periodic or OnChange"), "{e}");
    }

    #[test]
    fn periodic_not_due_does_not_refresh() {
        assert!(!should_refresh(&synced(), now()));
    }

    #[test]
    fn periodic_never_synced_refreshes() {
        let input = RefreshInput {
            synced_resource_version: None,
            refresh_time: None,
            ..synced()
        };
        assert!(should_refresh(&input, now()));
        let input = RefreshInput {
            synced_resource_version: Some(""),
            ..synced()
        };
        assert!(should_refresh(&input, now()));
    }

    #[test]
    fn periodic_interval_zero_never_refreshes_after_first_sync_even_if_spec_changes() {
        let input = RefreshInput {
            interval: Duration::ZERO,
            resource_version: V2,
            refresh_time: Some(now() - 10 * HOUR),
            ..synced()
        };
        assert!(!should_refresh(&input, now()));
        // Not even with refreshTime unset or in the future.
        let input = RefreshInput {
            refresh_time: None,
            ..input
        };
        assert!(!should_refresh(&input, now()));
    }

    #[test]
    fn periodic_interval_zero_refreshes_until_first_sync() {
        let input = RefreshInput {
            interval: Duration::ZERO,
            synced_resource_version: None,
            refresh_time: None,
            ..synced()
        };
        assert!(should_refresh(&input, now()));
    }

    #[test]
    fn periodic_metadata_change_refreshes_even_when_not_due_or_windows_deny() {
        // generation, labels or annotations changed (kubectl annotate force-sync=...).
        let input = RefreshInput {
            resource_version: V2,
            sync_windows_allow: false,
            ..synced()
        };
        assert!(should_refresh(&input, now()));
    }

    #[test]
    fn periodic_refresh_time_unset_refreshes() {
        let input = RefreshInput {
            refresh_time: None,
            ..synced()
        };
        assert!(should_refresh(&input, now()));
    }

    #[test]
    fn periodic_refresh_time_in_future_refreshes() {
        let input = RefreshInput {
            refresh_time: Some(now() + Duration::from_secs(1)),
            ..synced()
        };
        assert!(should_refresh(&input, now()));
    }

    #[test]
    fn periodic_due_at_the_slot_never_later_than_eso() {
        // Phase 0: the slots are the whole hours; `now()` is 800 s past one.
        let at = |ago: u64| RefreshInput {
            refresh_time: Some(now() - Duration::from_secs(ago)),
            ..synced()
        };
        // Synced after the last slot: the next is 2,800 s ahead.
        assert!(!should_refresh(&at(600), now()));
        // Synced on the slot itself: the next is an hour after it.
        assert!(!should_refresh(&at(800), now()));
        // Synced before the last slot: due.
        assert!(should_refresh(&at(801), now()));
        // ESO's time (an interval after the sync) never passes unrefreshed.
        assert!(should_refresh(&at(3600), now()));
        let eso_would = RefreshInput {
            phase: 1_000_000,
            ..at(3601)
        };
        assert!(should_refresh(&eso_would, now()));
    }

    #[test]
    fn periodic_due_but_sync_windows_deny() {
        let input = RefreshInput {
            refresh_time: Some(now() - 2 * HOUR),
            sync_windows_allow: false,
            ..synced()
        };
        assert!(!should_refresh(&input, now()));
    }

    #[test]
    fn created_once_refreshes_only_before_first_sync() {
        let base = RefreshInput {
            policy: RefreshPolicy::CreatedOnce,
            ..synced()
        };
        assert!(should_refresh(
            &RefreshInput {
                synced_resource_version: None,
                ..base
            },
            now()
        ));
        assert!(should_refresh(
            &RefreshInput {
                refresh_time: None,
                ..base
            },
            now()
        ));
        // Spec changed and long overdue: still no.
        assert!(!should_refresh(
            &RefreshInput {
                resource_version: V2,
                refresh_time: Some(now() - 100 * HOUR),
                ..base
            },
            now()
        ));
    }

    #[test]
    fn on_change_refreshes_on_first_sync_and_on_version_change_only() {
        let base = RefreshInput {
            policy: RefreshPolicy::OnChange,
            ..synced()
        };
        assert!(should_refresh(
            &RefreshInput {
                synced_resource_version: None,
                ..base
            },
            now()
        ));
        assert!(should_refresh(
            &RefreshInput {
                refresh_time: None,
                ..base
            },
            now()
        ));
        assert!(should_refresh(
            &RefreshInput {
                resource_version: V2,
                ..base
            },
            now()
        ));
        // Overdue by the interval but unchanged: no.
        assert!(!should_refresh(
            &RefreshInput {
                refresh_time: Some(now() - 100 * HOUR),
                ..base
            },
            now()
        ));
    }

    type Maps = (
        BTreeMap<String, String>,
        BTreeMap<String, String>,
        BTreeMap<String, Vec<u8>>,
    );

    fn target_maps(managed: Option<&str>, hash: Option<String>) -> Maps {
        let data: BTreeMap<String, Vec<u8>> = [("k".to_string(), b"v".to_vec())].into();
        let mut labels = BTreeMap::new();
        if let Some(m) = managed {
            labels.insert(LABEL_MANAGED.to_string(), m.to_string());
        }
        let mut annotations = BTreeMap::new();
        if let Some(h) = hash {
            annotations.insert(ANNOTATION_DATA_HASH.to_string(), h);
        }
        (labels, annotations, data)
    }

    #[test]
    fn secret_validity() {
        let good_hash = object_hash_data(&[("k".to_string(), b"v".to_vec())].into());
        let check = |creation, managed, hash: Option<String>| {
            let (labels, annotations, data) = target_maps(managed, hash);
            let target = ExistingTarget {
                labels: &labels,
                annotations: &annotations,
                data: &data,
            };
            is_secret_valid(creation, Some(&target))
        };
        assert!(check(
            CreationPolicy::Owner,
            Some("true"),
            Some(good_hash.clone())
        ));
        assert!(check(
            CreationPolicy::Merge,
            Some("true"),
            Some(good_hash.clone())
        ));
        assert!(!check(CreationPolicy::Owner, None, Some(good_hash.clone())));
        assert!(!check(
            CreationPolicy::Owner,
            Some("false"),
            Some(good_hash.clone())
        ));
        assert!(!check(CreationPolicy::Owner, Some("true"), None));
        assert!(!check(
            CreationPolicy::Owner,
            Some("true"),
            Some("0".repeat(56))
        ));
        // Orphan: always valid, even edited or missing.
        assert!(check(CreationPolicy::Orphan, None, None));
        assert!(is_secret_valid(CreationPolicy::Orphan, None));
        for c in [
            CreationPolicy::Owner,
            CreationPolicy::Merge,
            CreationPolicy::None,
            CreationPolicy::CreateOrMerge,
        ] {
            assert!(!is_secret_valid(c, None), "{c}");
        }
    }

    /// `now()` is a whole multiple of an hour plus 1,600 s (1,700,000,000 = 472,222 h + 800 s).
    #[test]
    fn requeue_delays() {
        let n = now();
        assert_eq!(requeue_after(Duration::ZERO, Some(n), n, 0), None);
        // Slot 0 of the hour: the next whole hour, 2,800 s away.
        let to_hour = Duration::from_secs(3600 - 800);
        assert_eq!(requeue_after(HOUR, None, n, 0), Some(to_hour));
        assert_eq!(
            requeue_after(HOUR, Some(n - Duration::from_secs(600)), n, 0),
            Some(to_hour)
        );
        // The slot 1,000 s into the hour: 200 s away.
        assert_eq!(
            requeue_after(HOUR, Some(n - Duration::from_secs(600)), n, 1000),
            Some(Duration::from_secs(200))
        );
        assert_eq!(
            requeue_after(HOUR, Some(n - HOUR), n, 0),
            Some(Duration::ZERO)
        );
        assert_eq!(
            requeue_after(HOUR, Some(n - 2 * HOUR), n, 0),
            Some(Duration::ZERO)
        );
        assert_eq!(
            requeue_after(HOUR, Some(n + Duration::from_secs(5)), n, 0),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn the_next_refresh_is_the_first_slot_after_the_last_never_later_than_esos() {
        let n = now();
        let slot = |phase| next_refresh(n, HOUR, phase);
        assert_eq!(slot(0), n + Duration::from_secs(2800));
        assert_eq!(slot(1000), n + Duration::from_secs(200));
        // The slot falls exactly at `refreshed`: the next one, a whole interval later.
        assert_eq!(slot(800), n + HOUR);
        assert_eq!(slot(800 + 3600 * 7), n + HOUR);
        for phase in [0, 1, 799, 801, 3599, 123_456_789] {
            let next = slot(phase);
            assert!(next > n && next <= n + HOUR, "phase {phase}");
        }
        // Not whole seconds: ESO's time.
        let odd = Duration::from_millis(1500);
        assert_eq!(next_refresh(n, odd, 7), n + odd);
        // Second by second: every second.
        assert_eq!(
            next_refresh(n, Duration::from_secs(1), 5),
            n + Duration::from_secs(1)
        );
    }

    #[test]
    fn a_sync_takes_reads_since_its_slot_or_its_ask_never_from_an_earlier_period() {
        let minute = Duration::from_secs(60);
        let secs = Duration::from_secs;
        // Slots at every whole minute (phase 0); `now()` is 20 s past one.
        let slot = now() - secs(20);
        // A periodic refresh that waited 15 s for its turn: reads since its slot, not since
        // its slot minus the wait.
        assert_eq!(
            read_window(now(), now(), secs(15), Some(slot), minute, 0),
            secs(20)
        );
        // A first sync asked 30 s ago, before the slot it now runs after: not a read from
        // before that slot (the ExternalSecrets of the slot refresh next a minute later).
        assert_eq!(
            read_window(now(), now(), secs(30), None, minute, 0),
            secs(20)
        );
        // Asked after the slot: since it was asked.
        assert_eq!(read_window(now(), now(), secs(5), None, minute, 0), secs(5));
        // An interval without slots: the wait, or ESO's due time.
        let odd = Duration::from_millis(60_500);
        assert_eq!(read_window(now(), now(), secs(30), None, odd, 0), secs(30));
        assert_eq!(
            read_window(now(), now(), secs(1), Some(slot), odd, 0),
            secs(20)
        );
        assert_eq!(slot_at_or_before(now(), minute, 0), Some(slot));
        assert_eq!(slot_at_or_before(slot, minute, 0), Some(slot));
    }

    #[test]
    fn slots_spread_evenly_over_the_interval() {
        let minute = Duration::from_secs(60);
        let mut per_second = [0u32; 60];
        for i in 0..6000 {
            let p = phase(&[format!("SecretStore/aws/team/app-{i}")]);
            let next = next_refresh(now(), minute, p);
            let at = next.duration_since(now()).unwrap().as_secs();
            per_second[usize::try_from(at % 60).unwrap()] += 1;
        }
        let (min, max) = (per_second.iter().min(), per_second.iter().max());
        assert!(*min.unwrap() > 60 && *max.unwrap() < 140, "{per_second:?}");
        assert_eq!(
            phase(&["a".into(), "b".into()]),
            phase(&["a".into(), "b".into()])
        );
        assert_ne!(phase(&["ab".into()]), phase(&["a".into(), "b".into()]));
    }
}
