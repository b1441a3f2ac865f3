//! ExternalSecret and store status as ESO writes it (spec §2.2, §3): one `Ready` condition
//! whose `lastTransitionTime` moves only when its status flips, ESO's reasons and messages.
//!
//! Which function when: [`set_ready`] to record an outcome on a condition list;
//! [`ready`] to read it back (the flood gate of §3 needs `Ready=True` on a store).

use crate::crd::external::Condition;

/// ESO's reasons (`apis/externalsecrets/v1/externalsecret_types.go`).
pub mod reason {
    pub const SYNCED: &str = "SecretSynced";
    pub const SYNCED_ERROR: &str = "SecretSyncedError";
    pub const DELETED: &str = "SecretDeleted";
    pub const MISSING: &str = "SecretMissing";
    pub const STORE_VALID: &str = "Valid";
    pub const STORE_INVALID: &str = "InvalidProviderConfig";
    pub const STORE_UNKNOWN: &str = "ValidationUnknown";
}

/// ESO's generic condition messages; the error itself goes into a Warning Event.
pub mod message {
    pub const SYNCED: &str = "secret synced";
    pub const RETAINED: &str = "secret retained due to DeletionPolicy=Retain";
    pub const DELETED: &str = "secret deleted due to DeletionPolicy=Delete";
    pub const MISSING: &str = "secret will not be created due to CreationPolicy=Merge";
    pub const PROVIDER: &str = "could not get secret data from provider";
    pub const UPDATE: &str = "could not update secret";
    pub const IMMUTABLE: &str = "could not update secret, target is immutable";
    pub const OWNED: &str = "target is owned by another ExternalSecret";
    pub const OWNERSHIP: &str = "failed to take ownership of target secret";
    pub const DELETE: &str = "could not delete secret";
    pub const ORPHANS: &str = "could not delete orphaned secrets";
    pub const STORE_VALID: &str = "store validated";
    pub const STORE_CLIENT: &str = "unable to create client";
    pub const STORE_VALIDATE: &str = "unable to validate store";
    pub const STORE_UNKNOWN: &str = "could not determine validation status";
}

/// Sets the `Ready` condition; `now` (RFC 3339) becomes its `lastTransitionTime` only when
/// the status changes.
pub fn set_ready(
    conditions: &mut Vec<Condition>,
    ok: bool,
    reason: &str,
    message: &str,
    now: &str,
) {
    let status = if ok { "True" } else { "False" };
    let previous = conditions.iter().position(|c| c.type_ == "Ready");
    let transition = previous
        .map(|i| &conditions[i])
        .filter(|c| c.status == status)
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| now.to_owned());
    let condition = Condition {
        type_: "Ready".into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_transition_time: Some(transition),
    };
    match previous {
        Some(i) => conditions[i] = condition,
        None => conditions.push(condition),
    }
}

/// Whether the conditions say `Ready=True`.
pub fn ready(conditions: &[Condition]) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transition_time_moves_only_when_the_status_flips() {
        let mut conditions = Vec::new();
        set_ready(&mut conditions, true, reason::SYNCED, message::SYNCED, "t1");
        set_ready(
            &mut conditions,
            true,
            reason::SYNCED,
            message::RETAINED,
            "t2",
        );
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].last_transition_time.as_deref(), Some("t1"));
        assert_eq!(conditions[0].message.as_deref(), Some(message::RETAINED));
        set_ready(
            &mut conditions,
            false,
            reason::SYNCED_ERROR,
            message::PROVIDER,
            "t3",
        );
        assert_eq!(conditions[0].last_transition_time.as_deref(), Some("t3"));
        assert_eq!(conditions[0].status, "False");
        assert!(!ready(&conditions));
        set_ready(&mut conditions, true, reason::SYNCED, message::SYNCED, "t4");
        assert!(ready(&conditions));
        assert_eq!(conditions[0].last_transition_time.as_deref(), Some("t4"));
    }

    #[test]
    fn other_conditions_are_kept() {
        let mut conditions = vec![Condition {
            type_: "Deleted".into(),
            status: "False".into(),
            ..Condition::default()
        }];
        set_ready(&mut conditions, true, reason::SYNCED, message::SYNCED, "t1");
        assert_eq!(conditions.len(), 2);
        assert!(!ready(&conditions[..1]));
    }
}
