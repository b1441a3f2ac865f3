//! What the SealedSecret reconciler decides, as pure functions of the objects it has read
//! (spec `sealed-secrets.md` §2.3–§2.6): the reconciler (`super::reconciler`) does the reads
//! and writes around them. In the order a reconcile uses them:
//!
//! - [`plan`]: is the Secret already in sync, may this SealedSecret write it, or must it be
//!   unsealed;
//! - [`write`] (through [`merge`]): after unsealing, create, replace or leave the Secret;
//! - [`event`]: the Event to record for the outcome;
//! - [`status`]: the `status` to write, if it changes;
//! - [`requeue_after`]: when to try again after an error (the `error_policy`).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Resource, ResourceExt};

use crate::crd::sealed::{SealedSecret, SealedSecretCondition, SealedSecretStatus};
use crate::events::Kind;

/// Annotation on an existing Secret: the controller may take it over (spec `sealed-secrets.md` §2.4).
pub const MANAGED: &str = "sealedsecrets.bitnami.com/managed";
/// Annotation on an existing Secret: merge into it instead of replacing it.
pub const PATCH: &str = "sealedsecrets.bitnami.com/patch";

/// Why a reconcile failed; the text goes into the status and the Event.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An item did not open (wrong key, wrong namespace or name, tampered ciphertext).
    #[error("Failed to unseal: {0}")]
    Unseal(String),
    /// A Secret of that name exists and this SealedSecret may not touch it.
    #[error(
        "Resource \"{0}\" already exists and is not managed by SealedSecret: delete it, or annotate it with sealedsecrets.bitnami.com/managed=\"true\" to let the SealedSecret take it over"
    )]
    Unmanaged(String),
    /// The API server refused a read or a write.
    #[error("{0}")]
    Kube(#[from] kube::Error),
    /// The controller began stopping before this SealedSecret's turn to decrypt came: it
    /// was left as it was (no Secret, status or Event written), for the next start.
    #[error("not unsealed: the controller is stopping; the next start unseals it")]
    Stopping,
}

impl Error {
    /// The `reason` label of `unseal_errors_total`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Unseal(_) => "unseal",
            Error::Unmanaged(_) => "unmanaged",
            Error::Kube(_) => "update",
            // Never recorded: nothing failed.
            Error::Stopping => "stopping",
        }
    }
}

/// What a successful reconcile did.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// The Secret was already what the SealedSecret says.
    Unchanged,
    Written,
}

/// The first step of a reconcile.
#[derive(Debug, PartialEq)]
pub enum Plan {
    /// Our Secret is in place and the SealedSecret has not changed since it was unsealed.
    InSync,
    /// Decrypt, then [`write`].
    Unseal,
}

/// Decides from the SealedSecret, the Secret of its name (if any) and the generation this
/// process last unsealed it at (if any) whether decrypting is needed at all.
pub fn plan(
    ss: &SealedSecret,
    existing: Option<&Secret>,
    unsealed_at: Option<i64>,
) -> Result<Plan, Error> {
    let uid = ss.uid().unwrap_or_default();
    let ours = existing.is_some_and(|s| controlled_by(s, &uid));
    let generation = ss.meta().generation.unwrap_or_default();
    // The Secret's own watch event can arrive before the status saying it is synced.
    if ours && (is_synced(ss) || unsealed_at == Some(generation)) {
        return Ok(Plan::InSync);
    }
    let unmanaged =
        existing.is_some_and(|s| !ours && !annotated(s, MANAGED) && !annotated(s, PATCH));
    if unmanaged {
        return Err(Error::Unmanaged(ss.name_any()));
    }
    Ok(Plan::Unseal)
}

/// The write that makes the Secret what the SealedSecret says.
#[derive(Debug, PartialEq)]
pub enum Write {
    Nothing,
    Create(Secret),
    Replace(Secret),
}

/// Given the current Secret (if any) and the unsealed one (with its owner reference).
pub fn write(existing: Option<Secret>, desired: Secret) -> Write {
    let Some(current) = existing else {
        return Write::Create(desired);
    };
    let merged = merge(current.clone(), desired);
    if merged == current {
        Write::Nothing
    } else {
        Write::Replace(merged)
    }
}

/// The status says the current generation is synced.
pub fn is_synced(ss: &SealedSecret) -> bool {
    ss.status.as_ref().is_some_and(|s| {
        s.observed_generation == ss.meta().generation
            && s.conditions
                .first()
                .is_some_and(|c| c.type_ == "Synced" && c.status == "True")
    })
}

fn controlled_by(secret: &Secret, uid: &str) -> bool {
    secret
        .owner_references()
        .iter()
        .any(|r| r.controller == Some(true) && r.uid == uid)
}

fn annotated(secret: &Secret, annotation: &str) -> bool {
    secret
        .annotations()
        .get(annotation)
        .is_some_and(|v| v == "true")
}

/// The Secret to write over `current` (spec `sealed-secrets.md` §2.5): replaced wholesale (data, labels,
/// annotations, owners; other metadata kept), or merged into when it carries `patch`, keeping
/// its owners unless it is also `managed`.
pub fn merge(mut current: Secret, desired: Secret) -> Secret {
    let patch = annotated(&current, PATCH);
    let managed = annotated(&current, MANAGED);
    if patch {
        let data = current.data.get_or_insert_with(BTreeMap::new);
        data.extend(desired.data.unwrap_or_default());
        let meta = &mut current.metadata;
        meta.labels
            .get_or_insert_with(BTreeMap::new)
            .extend(desired.metadata.labels.unwrap_or_default());
        meta.annotations
            .get_or_insert_with(BTreeMap::new)
            .extend(desired.metadata.annotations.unwrap_or_default());
        if managed {
            meta.owner_references = desired.metadata.owner_references;
        }
    } else {
        current.data = desired.data;
        let meta = &mut current.metadata;
        meta.labels = desired.metadata.labels;
        meta.annotations = desired.metadata.annotations;
        meta.owner_references = desired
            .metadata
            .owner_references
            .or_else(|| Some(Vec::<OwnerReference>::new()));
    }
    // The API server defaults an empty type to Opaque; compare like with like.
    current.type_ = desired.type_.or_else(|| Some("Opaque".into()));
    current.immutable = desired.immutable.or(current.immutable);
    current
}

/// The Event for a reconcile's result (upstream's reasons), if any.
pub fn event(result: &Result<Outcome, Error>) -> Option<(Kind, &'static str, String)> {
    match result {
        Ok(Outcome::Unchanged) | Err(Error::Stopping) => None,
        Ok(Outcome::Written) => Some((
            Kind::Normal,
            "Unsealed",
            "SealedSecret unsealed successfully".into(),
        )),
        Err(error @ Error::Unseal(_)) => {
            Some((Kind::Warning, "ErrUnsealFailed", error.to_string()))
        }
        Err(error) => Some((Kind::Warning, "ErrUpdateFailed", error.to_string())),
    }
}

/// The status after a reconcile that failed with `error` (or succeeded), at `now` (RFC
/// 3339); `None` when the current status already says so (spec `sealed-secrets.md` §2.6: one `Synced`
/// condition, its transition time kept while the status does not flip).
pub fn status(ss: &SealedSecret, error: Option<String>, now: &str) -> Option<SealedSecretStatus> {
    let status = if error.is_none() { "True" } else { "False" };
    let previous = ss.status.as_ref().and_then(|s| s.conditions.first());
    let flipped = previous.is_none_or(|c| c.status != status);
    if !flipped
        && ss.status.as_ref().and_then(|s| s.observed_generation) == ss.meta().generation
        && previous.and_then(|c| c.message.clone()) == error
    {
        return None;
    }
    let condition = SealedSecretCondition {
        type_: "Synced".into(),
        status: status.into(),
        last_update_time: Some(now.to_owned()),
        last_transition_time: if flipped {
            Some(now.to_owned())
        } else {
            previous.and_then(|c| c.last_transition_time.clone())
        },
        reason: None,
        message: error,
    };
    Some(SealedSecretStatus {
        observed_generation: ss.meta().generation,
        conditions: vec![condition],
    })
}

/// When to look at a SealedSecret again after `error`.
pub fn requeue_after(error: &Error) -> Duration {
    match error {
        // Nothing changes until the SealedSecret, the Secret or the key ring does, and each of
        // those triggers a reconcile by itself.
        Error::Unseal(_) | Error::Unmanaged(_) => Duration::from_secs(300),
        // Refused for good (immutable, invalid, forbidden): retrying soon only burns RSA work.
        Error::Kube(kube::Error::Api(status))
            if (400..500).contains(&status.code) && ![409, 429].contains(&status.code) =>
        {
            Duration::from_secs(300)
        }
        Error::Kube(_) => Duration::from_secs(5),
        // Only seen while the controller stops; the next start looks at every object anyway.
        Error::Stopping => Duration::from_secs(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{sealed_secret, secret};

    const NOW: &str = "2026-11-30T16:00:00Z";

    fn api_error(code: u16) -> Error {
        Error::Kube(kube::Error::Api(Box::new(
            kube::core::Status::failure("refused", "Refused").with_code(code),
        )))
    }

    #[test]
    fn a_new_sealed_secret_is_unsealed() {
        let ss = sealed_secret("web").build();
        assert_eq!(plan(&ss, None, None).unwrap(), Plan::Unseal);
    }

    #[test]
    fn our_secret_and_a_synced_status_need_no_decrypt() {
        let ss = sealed_secret("web").generation(3).synced().build();
        let ours = secret("web").owned_by(&ss).build();
        assert_eq!(plan(&ss, Some(&ours), None).unwrap(), Plan::InSync);
    }

    #[test]
    fn the_generation_unsealed_here_counts_before_the_status_says_so() {
        let ss = sealed_secret("web").generation(3).build();
        let ours = secret("web").owned_by(&ss).build();
        assert_eq!(plan(&ss, Some(&ours), Some(3)).unwrap(), Plan::InSync);
        assert_eq!(plan(&ss, Some(&ours), Some(2)).unwrap(), Plan::Unseal);
    }

    #[test]
    fn an_edited_or_failed_sealed_secret_is_unsealed_again() {
        let edited = sealed_secret("web")
            .generation(2)
            .status(1, None, NOW)
            .build();
        let ours = secret("web").owned_by(&edited).build();
        assert_eq!(plan(&edited, Some(&ours), None).unwrap(), Plan::Unseal);
        let failed = sealed_secret("web").status(1, Some("Failed"), NOW).build();
        let ours = secret("web").owned_by(&failed).build();
        assert_eq!(plan(&failed, Some(&ours), None).unwrap(), Plan::Unseal);
    }

    #[test]
    fn a_deleted_secret_is_recreated_even_when_synced() {
        let ss = sealed_secret("web").synced().build();
        assert_eq!(plan(&ss, None, Some(1)).unwrap(), Plan::Unseal);
    }

    #[test]
    fn a_secret_we_do_not_own_is_left_alone_unless_annotated() {
        let ss = sealed_secret("mine").build();
        let theirs = secret("mine").build();
        let err = plan(&ss, Some(&theirs), None).unwrap_err();
        assert!(matches!(&err, Error::Unmanaged(name) if name == "mine"));
        assert_eq!(err.metric_label(), "unmanaged");
        assert!(err.to_string().contains("not managed by SealedSecret"));
        let other = sealed_secret("other").build();
        let owned_by_other = secret("mine").owned_by(&other).build();
        assert!(plan(&ss, Some(&owned_by_other), None).is_err());
        for annotation in [MANAGED, PATCH] {
            let annotated = secret("mine").annotation(annotation, "true").build();
            assert_eq!(plan(&ss, Some(&annotated), None).unwrap(), Plan::Unseal);
            let not_true = secret("mine").annotation(annotation, "yes").build();
            assert!(plan(&ss, Some(&not_true), None).is_err());
        }
    }

    #[test]
    fn no_secret_means_create() {
        let desired = secret("web").data("password", "s3cret").build();
        assert_eq!(write(None, desired.clone()), Write::Create(desired));
    }

    #[test]
    fn a_secret_that_already_matches_is_not_written() {
        let ss = sealed_secret("web").build();
        let current = secret("web")
            .owned_by(&ss)
            .data("password", "s3cret")
            .build();
        let desired = secret("web")
            .owned_by(&ss)
            .data("password", "s3cret")
            .type_(None)
            .build();
        assert_eq!(write(Some(current), desired), Write::Nothing);
    }

    #[test]
    fn a_replaced_secret_takes_data_labels_annotations_owner_and_type() {
        let ss = sealed_secret("web").build();
        let mut current = secret("web")
            .annotation(MANAGED, "true")
            .label("old", "1")
            .data("stale", "x")
            .build();
        current.metadata.resource_version = Some("42".into());
        let desired = secret("web")
            .owned_by(&ss)
            .label("app", "web")
            .data("password", "n3w")
            .type_(Some("kubernetes.io/basic-auth"))
            .build();
        let Write::Replace(written) = write(Some(current), desired.clone()) else {
            panic!("expected a replace");
        };
        assert_eq!(written.data, desired.data);
        assert_eq!(written.metadata.labels, desired.metadata.labels);
        assert_eq!(written.metadata.annotations, None, "managed is dropped");
        assert_eq!(
            written.metadata.owner_references,
            desired.metadata.owner_references
        );
        assert_eq!(written.type_.as_deref(), Some("kubernetes.io/basic-auth"));
        assert_eq!(written.metadata.resource_version.as_deref(), Some("42"));
    }

    #[test]
    fn without_owner_references_a_replaced_secret_has_none() {
        let ss = sealed_secret("web").build();
        let current = secret("web").owned_by(&ss).data("a", "1").build();
        let desired = secret("web").data("a", "2").build();
        let Write::Replace(written) = write(Some(current), desired) else {
            panic!("expected a replace");
        };
        assert_eq!(written.metadata.owner_references, Some(vec![]));
    }

    #[test]
    fn patch_merges_and_keeps_owners_unless_also_managed() {
        let ss = sealed_secret("merged").build();
        let current = secret("merged")
            .annotation(PATCH, "true")
            .label("team", "a")
            .data("extra", "kept")
            .build();
        let desired = secret("merged")
            .owned_by(&ss)
            .label("app", "web")
            .data("password", "p")
            .build();
        let merged = merge(current.clone(), desired.clone());
        let data = merged.data.as_ref().unwrap();
        assert_eq!(data["extra"].0, b"kept");
        assert_eq!(data["password"].0, b"p");
        let labels = merged.metadata.labels.as_ref().unwrap();
        assert_eq!(
            (labels["team"].as_str(), labels["app"].as_str()),
            ("a", "web")
        );
        assert_eq!(merged.metadata.annotations.as_ref().unwrap()[PATCH], "true");
        assert_eq!(
            merged.metadata.owner_references, None,
            "patch takes no ownership"
        );

        let managed = secret("merged")
            .annotation(PATCH, "true")
            .annotation(MANAGED, "true")
            .build();
        let merged = merge(managed, desired.clone());
        assert_eq!(
            merged.metadata.owner_references,
            desired.metadata.owner_references
        );
    }

    #[test]
    fn events_use_upstream_reasons() {
        assert_eq!(event(&Ok(Outcome::Unchanged)), None);
        let (kind, reason, message) = event(&Ok(Outcome::Written)).unwrap();
        assert!(matches!(kind, Kind::Normal));
        assert_eq!(
            (reason, message.as_str()),
            ("Unsealed", "SealedSecret unsealed successfully")
        );
        let unseal = Err(Error::Unseal("no key could decrypt secret".into()));
        let (kind, reason, message) = event(&unseal).unwrap();
        assert!(matches!(kind, Kind::Warning));
        assert_eq!(reason, "ErrUnsealFailed");
        assert_eq!(message, "Failed to unseal: no key could decrypt secret");
        for error in [Error::Unmanaged("x".into()), api_error(422)] {
            assert_eq!(event(&Err(error)).unwrap().1, "ErrUpdateFailed");
        }
    }

    #[test]
    fn a_reconcile_given_up_for_the_shutdown_records_no_event() {
        assert_eq!(event(&Err(Error::Stopping)), None);
    }

    #[test]
    fn the_first_status_is_synced_at_the_current_generation() {
        let ss = sealed_secret("web").generation(4).build();
        let status = status(&ss, None, NOW).unwrap();
        assert_eq!(status.observed_generation, Some(4));
        let c = &status.conditions[0];
        assert_eq!((c.type_.as_str(), c.status.as_str()), ("Synced", "True"));
        assert_eq!(c.last_update_time.as_deref(), Some(NOW));
        assert_eq!(c.last_transition_time.as_deref(), Some(NOW));
        assert_eq!((c.reason.as_ref(), c.message.as_ref()), (None, None));
    }

    #[test]
    fn an_unchanged_status_is_not_written_again() {
        let ss = sealed_secret("web").synced().build();
        assert_eq!(status(&ss, None, NOW), None);
        let failed = sealed_secret("web").status(1, Some("Failed"), NOW).build();
        assert_eq!(status(&failed, Some("Failed".into()), NOW), None);
    }

    #[test]
    fn the_transition_time_moves_only_when_the_status_flips() {
        let before = "2026-01-01T00:00:00Z";
        let failed = sealed_secret("web")
            .status(1, Some("Failed: a"), before)
            .build();
        let again = status(&failed, Some("Failed: b".into()), NOW).unwrap();
        let c = &again.conditions[0];
        assert_eq!(c.status, "False");
        assert_eq!(c.message.as_deref(), Some("Failed: b"));
        assert_eq!(c.last_transition_time.as_deref(), Some(before));
        assert_eq!(c.last_update_time.as_deref(), Some(NOW));
        let fixed = status(&failed, None, NOW).unwrap();
        assert_eq!(fixed.conditions[0].status, "True");
        assert_eq!(
            fixed.conditions[0].last_transition_time.as_deref(),
            Some(NOW)
        );
        // A new generation is recorded even when the condition stays the same.
        let edited = sealed_secret("web")
            .generation(2)
            .status(1, None, before)
            .build();
        let moved = status(&edited, None, NOW).unwrap();
        assert_eq!(moved.observed_generation, Some(2));
        assert_eq!(
            moved.conditions[0].last_transition_time.as_deref(),
            Some(before)
        );
    }

    #[test]
    fn errors_that_retrying_cannot_fix_wait_for_a_change() {
        let long = Duration::from_secs(300);
        assert_eq!(requeue_after(&Error::Unseal("x".into())), long);
        assert_eq!(requeue_after(&Error::Unmanaged("x".into())), long);
        for code in [400, 403, 404, 422] {
            assert_eq!(requeue_after(&api_error(code)), long, "{code}");
        }
    }

    #[test]
    fn conflicts_throttling_and_server_errors_retry_soon() {
        let soon = Duration::from_secs(5);
        for code in [409, 429, 500, 503] {
            assert_eq!(requeue_after(&api_error(code)), soon, "{code}");
        }
        let io = Error::Kube(kube::Error::Service("connection refused".into()));
        assert_eq!(requeue_after(&io), soon);
        assert_eq!(io.metric_label(), "update");
    }
}
