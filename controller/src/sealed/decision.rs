//! What the SealedSecret reconciler decides, as pure functions of the objects it has read
//! (spec `sealed-secrets.md` §2.3–§2.6): the reconciler (`super::reconciler`) does the reads
//! and writes around them. In the order a reconcile uses them:
//!
//! - [`plan`]: is the Secret already in sync, may this SealedSecret write it, or must it be
//!   unsealed;
//! - [`write`] (through [`merge`]): after unsealing, create, replace or leave the Secret,
//!   stamped with its data MAC (`super::drift`);
//! - [`event`]: the Event to record for the outcome;
//! - [`status`]: the `status` to write, if it changes;
//! - [`retry_after`]: when to try again after an error, or give up (the `error_policy`);
//! - [`sealed_secret_of`]: which SealedSecret a Secret's change concerns (the Secret watch).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::ObjectMeta;
use kube::{Resource, ResourceExt};

use super::drift::{self, MacKey};

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

/// What the controller knows beside the objects it reads, for [`plan`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Known<'a> {
    /// The MAC keys of the key ring (`super::drift`), newest first.
    pub macs: &'a [MacKey],
    /// This process has written (and so stamped) this SealedSecret's Secret: if the stamp is
    /// gone now, someone removed it.
    pub stamped_here: bool,
}

/// Decides from the SealedSecret and the Secret of its name (if any) whether decrypting is
/// needed at all.
///
/// A Secret this controller wrote carries a data MAC (`super::drift`): while it verifies,
/// the data is what the current generation unsealed to, so nothing is decrypted, after a
/// restart too; when it does not (the data was edited by hand), the SealedSecret is unsealed
/// again and the Secret restored. A Secret written by sealed-secrets has no MAC: it is
/// trusted, as upstream does, while the status says the current generation is synced.
pub fn plan(ss: &SealedSecret, existing: Option<&Secret>, known: Known<'_>) -> Result<Plan, Error> {
    let uid = ss.uid().unwrap_or_default();
    let ours = existing.is_some_and(|s| controlled_by(s, &uid));
    let generation = ss.meta().generation.unwrap_or_default();
    if let Some(secret) = existing.filter(|s| ours || annotated(s, PATCH)) {
        if drift::stamped(secret) {
            return Ok(if drift::verify(known.macs, &uid, generation, secret) {
                Plan::InSync
            } else {
                Plan::Unseal
            });
        }
        if ours && is_synced(ss) && !known.stamped_here {
            return Ok(Plan::InSync);
        }
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

/// How to stamp what [`write`] writes: generation `generation` of the SealedSecret `uid`,
/// under `key` (the newest key's).
#[derive(Clone, Copy, Debug)]
pub struct Stamp<'a> {
    pub key: &'a MacKey,
    pub uid: &'a str,
    pub generation: i64,
}

/// Given the current Secret (if any) and the unsealed one (with its owner reference); what
/// is written carries the data MAC `stamp` makes.
pub fn write(existing: Option<Secret>, desired: Secret, stamp: Option<Stamp<'_>>) -> Write {
    let sign = |mut secret: Secret| {
        if let Some(s) = stamp {
            drift::stamp(s.key, s.uid, s.generation, &mut secret);
        }
        secret
    };
    let Some(current) = existing else {
        return Write::Create(sign(desired));
    };
    let merged = sign(merge(current.clone(), desired));
    if merged == current {
        Write::Nothing
    } else {
        Write::Replace(merged)
    }
}

/// The SealedSecret a change to a Secret (its metadata) concerns, as `(namespace, name)`:
/// the one controlling it, or the one of its name when it is annotated `managed` or `patch`
/// (a take-over acts at once). Any other Secret concerns no SealedSecret: the controller
/// ignores Secrets it does not manage.
pub fn sealed_secret_of(secret: &ObjectMeta) -> Option<(String, String)> {
    let namespace = secret.namespace.clone()?;
    let owner = secret.owner_references.iter().flatten().find(|r| {
        r.controller == Some(true)
            && r.kind == "SealedSecret"
            && r.api_version.starts_with("bitnami.com/")
    });
    if let Some(owner) = owner {
        return Some((namespace, owner.name.clone()));
    }
    let annotations = secret.annotations.as_ref()?;
    let opted_in = [MANAGED, PATCH]
        .iter()
        .any(|a| annotations.get(*a).is_some_and(|v| v == "true"));
    opted_in.then(|| (namespace, secret.name.clone().unwrap_or_default()))
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

/// When to look at a SealedSecret again after its `failures`-th failure in a row (1 for
/// the first), or `None` to give up until something changes (spec `sealed-secrets.md` §3.2,
/// `processNextItem`): as client-go's work queue, a failing item is retried
/// `--max-unseal-retries` times with per-item exponential backoff (5 ms doubling, at most
/// 1000 s), then dropped ("giving up"); an error about an immutable Secret is not retried at
/// all. A later change to the SealedSecret, its Secret or the key ring tries again, with the
/// count started afresh.
///
/// Unlike upstream, an error the API server may well not give next time (a conflict,
/// throttling, a 5xx, no connection) is retried with the same backoff without a limit: an
/// API server restart must not leave SealedSecrets given up until someone edits them.
pub fn retry_after(error: &Error, failures: u32, max_retries: u32) -> Option<Duration> {
    if let Error::Stopping = error {
        // Not a failure: the next start looks at every object anyway.
        return Some(Duration::from_secs(1));
    }
    if is_immutable(error) || (failures > max_retries && !is_transient(error)) {
        return None;
    }
    let requeues = failures.saturating_sub(1).min(32);
    Some(Duration::from_millis(5 * (1u64 << requeues)).min(Duration::from_secs(1000)))
}

/// An API error that retrying may clear by itself.
fn is_transient(error: &Error) -> bool {
    match error {
        Error::Kube(kube::Error::Api(status)) => {
            status.code >= 500 || [409, 429].contains(&status.code)
        }
        Error::Kube(_) => true,
        _ => false,
    }
}

/// The API server's refusal to change an immutable Secret (upstream `isImmutableError`).
fn is_immutable(error: &Error) -> bool {
    matches!(error, Error::Kube(kube::Error::Api(status))
        if status.message.ends_with("field is immutable when `immutable` is set"))
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
        assert_eq!(plan(&ss, None, Known::default()).unwrap(), Plan::Unseal);
    }

    #[test]
    fn our_secret_and_a_synced_status_need_no_decrypt() {
        let ss = sealed_secret("web").generation(3).synced().build();
        let ours = secret("web").owned_by(&ss).build();
        assert_eq!(
            plan(&ss, Some(&ours), Known::default()).unwrap(),
            Plan::InSync
        );
    }

    fn mac_key(n: u8) -> MacKey {
        MacKey::derive(&format!("{n:02x}").repeat(32), &[n; 64])
    }

    /// `secret` as the reconciler writes it for `ss`: stamped under `key`.
    fn stamped(ss: &SealedSecret, secret: Secret, key: &MacKey) -> Secret {
        let stamp = Stamp {
            key,
            uid: &ss.uid().unwrap(),
            generation: ss.meta().generation.unwrap(),
        };
        match write(None, secret, Some(stamp)) {
            Write::Create(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_stamped_secret_in_sync_needs_no_decrypt_whatever_the_status_says() {
        let ss = sealed_secret("web").generation(3).build();
        let keys = [mac_key(1)];
        let known = Known {
            macs: &keys,
            stamped_here: false,
        };
        let ours = stamped(
            &ss,
            secret("web").owned_by(&ss).data("a", "1").build(),
            &keys[0],
        );
        assert_eq!(plan(&ss, Some(&ours), known).unwrap(), Plan::InSync);
        // After a restart the key ring is the same, so is the verdict.
        let known = Known {
            stamped_here: true,
            ..known
        };
        assert_eq!(plan(&ss, Some(&ours), known).unwrap(), Plan::InSync);
    }

    #[test]
    fn a_hand_edited_stamped_secret_is_unsealed_again_even_when_synced() {
        let ss = sealed_secret("web").generation(3).synced().build();
        let keys = [mac_key(1)];
        let known = Known {
            macs: &keys,
            stamped_here: false,
        };
        let mut edited = stamped(
            &ss,
            secret("web").owned_by(&ss).data("a", "1").build(),
            &keys[0],
        );
        edited.data.as_mut().unwrap().get_mut("a").unwrap().0 = b"2".to_vec();
        assert_eq!(plan(&ss, Some(&edited), known).unwrap(), Plan::Unseal);
        // A new generation, or a key no longer in the ring: unseal to know.
        let ours = stamped(
            &ss,
            secret("web").owned_by(&ss).data("a", "1").build(),
            &keys[0],
        );
        let next = sealed_secret("web").generation(4).synced().build();
        assert_eq!(plan(&next, Some(&ours), known).unwrap(), Plan::Unseal);
        let retired = Known {
            macs: &[],
            stamped_here: false,
        };
        assert_eq!(plan(&ss, Some(&ours), retired).unwrap(), Plan::Unseal);
    }

    #[test]
    fn a_stamp_removed_by_hand_is_noticed_by_the_process_that_wrote_it() {
        let ss = sealed_secret("web").synced().build();
        let unstamped = secret("web").owned_by(&ss).data("a", "x").build();
        let here = Known {
            macs: &[],
            stamped_here: true,
        };
        assert_eq!(plan(&ss, Some(&unstamped), here).unwrap(), Plan::Unseal);
    }

    #[test]
    fn a_patched_secret_with_its_stamp_intact_needs_no_decrypt() {
        let ss = sealed_secret("merged").build();
        let keys = [mac_key(1)];
        let known = Known {
            macs: &keys,
            stamped_here: false,
        };
        let patched = stamped(
            &ss,
            secret("merged")
                .annotation(PATCH, "true")
                .data("a", "1")
                .build(),
            &keys[0],
        );
        assert_eq!(plan(&ss, Some(&patched), known).unwrap(), Plan::InSync);
        // Not annotated patch and not ours: a stamp alone proves nothing about ownership.
        let mut unowned = patched.clone();
        unowned.metadata.annotations.as_mut().unwrap().remove(PATCH);
        assert!(plan(&ss, Some(&unowned), known).is_err());
    }

    #[test]
    fn what_is_written_is_stamped_and_a_stamped_match_is_not_written_again() {
        let ss = sealed_secret("web").build();
        let key = mac_key(1);
        let stamp = Stamp {
            key: &key,
            uid: "uid-web",
            generation: 1,
        };
        let desired = secret("web").owned_by(&ss).data("a", "1").build();
        let Write::Create(created) = write(None, desired.clone(), Some(stamp)) else {
            panic!("expected a create");
        };
        assert!(drift::verify(
            std::slice::from_ref(&key),
            "uid-web",
            1,
            &created
        ));
        assert_eq!(
            write(Some(created.clone()), desired.clone(), Some(stamp)),
            Write::Nothing
        );
        // The same data without the stamp (written by sealed-secrets) gets it.
        let unstamped = secret("web").owned_by(&ss).data("a", "1").build();
        assert!(matches!(
            write(Some(unstamped), desired, Some(stamp)),
            Write::Replace(s) if drift::verify(std::slice::from_ref(&key), "uid-web", 1, &s)
        ));
    }

    #[test]
    fn only_secrets_the_controller_manages_map_to_a_sealed_secret() {
        let ss = sealed_secret("web").build();
        let owned = secret("other-name").owned_by(&ss).build();
        assert_eq!(
            sealed_secret_of(&owned.metadata),
            Some(("default".into(), "web".into()))
        );
        for annotation in [MANAGED, PATCH] {
            let opted_in = secret("mine").annotation(annotation, "true").build();
            assert_eq!(
                sealed_secret_of(&opted_in.metadata),
                Some(("default".into(), "mine".into()))
            );
            let not_true = secret("mine").annotation(annotation, "false").build();
            assert_eq!(sealed_secret_of(&not_true.metadata), None);
        }
        assert_eq!(sealed_secret_of(&secret("plain").build().metadata), None);
        let mut other_owner = secret("web").owned_by(&ss).build();
        other_owner.metadata.owner_references.as_mut().unwrap()[0].kind = "Deployment".into();
        other_owner.metadata.owner_references.as_mut().unwrap()[0].api_version = "apps/v1".into();
        assert_eq!(sealed_secret_of(&other_owner.metadata), None);
    }

    #[test]
    fn an_edited_or_failed_sealed_secret_is_unsealed_again() {
        let edited = sealed_secret("web")
            .generation(2)
            .status(1, None, NOW)
            .build();
        let ours = secret("web").owned_by(&edited).build();
        assert_eq!(
            plan(&edited, Some(&ours), Known::default()).unwrap(),
            Plan::Unseal
        );
        let failed = sealed_secret("web").status(1, Some("Failed"), NOW).build();
        let ours = secret("web").owned_by(&failed).build();
        assert_eq!(
            plan(&failed, Some(&ours), Known::default()).unwrap(),
            Plan::Unseal
        );
    }

    #[test]
    fn a_deleted_secret_is_recreated_even_when_synced() {
        let ss = sealed_secret("web").synced().build();
        let here = Known {
            macs: &[],
            stamped_here: true,
        };
        assert_eq!(plan(&ss, None, here).unwrap(), Plan::Unseal);
    }

    #[test]
    fn a_secret_we_do_not_own_is_left_alone_unless_annotated() {
        let ss = sealed_secret("mine").build();
        let theirs = secret("mine").build();
        let err = plan(&ss, Some(&theirs), Known::default()).unwrap_err();
        assert!(matches!(&err, Error::Unmanaged(name) if name == "mine"));
        assert_eq!(err.metric_label(), "unmanaged");
        assert!(err.to_string().contains("not managed by SealedSecret"));
        let other = sealed_secret("other").build();
        let owned_by_other = secret("mine").owned_by(&other).build();
        assert!(plan(&ss, Some(&owned_by_other), Known::default()).is_err());
        for annotation in [MANAGED, PATCH] {
            let annotated = secret("mine").annotation(annotation, "true").build();
            assert_eq!(
                plan(&ss, Some(&annotated), Known::default()).unwrap(),
                Plan::Unseal
            );
            let not_true = secret("mine").annotation(annotation, "yes").build();
            assert!(plan(&ss, Some(&not_true), Known::default()).is_err());
        }
    }

    #[test]
    fn no_secret_means_create() {
        let desired = secret("web").data("password", "s3cret").build();
        assert_eq!(write(None, desired.clone(), None), Write::Create(desired));
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
        assert_eq!(write(Some(current), desired, None), Write::Nothing);
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
        let Write::Replace(written) = write(Some(current), desired.clone(), None) else {
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
        let Write::Replace(written) = write(Some(current), desired, None) else {
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
    fn a_failure_is_retried_max_unseal_retries_times_with_growing_delays() {
        for error in [
            Error::Unseal("x".into()),
            Error::Unmanaged("x".into()),
            api_error(403),
            api_error(422),
        ] {
            let delays: Vec<Option<Duration>> =
                (1..=4).map(|n| retry_after(&error, n, 3)).collect();
            assert_eq!(
                delays,
                [5, 10, 20]
                    .map(|ms| Some(Duration::from_millis(ms)))
                    .into_iter()
                    .chain([None])
                    .collect::<Vec<_>>(),
                "{error}"
            );
        }
        assert_eq!(
            retry_after(&Error::Unseal("x".into()), 1, 0),
            None,
            "no retries"
        );
        assert_eq!(
            retry_after(&api_error(409), 40, 100),
            Some(Duration::from_secs(1000)),
            "capped as client-go's"
        );
    }

    #[test]
    fn errors_the_api_server_may_not_give_next_time_are_retried_without_a_limit() {
        let io = Error::Kube(kube::Error::Service("connection refused".into()));
        for error in [
            api_error(409),
            api_error(429),
            api_error(500),
            api_error(503),
            io,
        ] {
            assert_eq!(
                retry_after(&error, 6, 5),
                Some(Duration::from_millis(160)),
                "{error}"
            );
            assert!(retry_after(&error, 1000, 0).is_some(), "{error}");
        }
    }

    #[test]
    fn an_immutable_secret_is_not_retried_and_stopping_does_not_count() {
        let immutable = Error::Kube(kube::Error::Api(Box::new(
            kube::core::Status::failure(
                "Secret \"web\" is invalid: data: Forbidden: field is immutable when `immutable` is set",
                "Invalid",
            )
            .with_code(422),
        )));
        assert_eq!(retry_after(&immutable, 1, 5), None);
        assert_eq!(
            retry_after(&Error::Stopping, 99, 0),
            Some(Duration::from_secs(1))
        );
        let io = Error::Kube(kube::Error::Service("connection refused".into()));
        assert_eq!(io.metric_label(), "update");
    }
}
