//! `spec.target.creationPolicy` and `spec.target.deletionPolicy`: parsing, ESO's admission
//! rules (spec `external-secrets.md` §2.4) and the decisions they drive in a reconcile (§5.3
//! steps 10, 12, 13, 14; ESO `externalsecret_controller.go`).
//!
//! Which function when:
//! - reading the fields: [`CreationPolicy::from_spec`], [`DeletionPolicy::from_spec`] (absent or
//!   `""` is the CRD default: `Owner`, `Retain`);
//! - admission, and again in the reconciler in case the webhook is off: [`validate`];
//! - a provider says "no such secret": [`DeletionPolicy::skips_missing_provider_secret`];
//! - the provider returned no data at all: [`on_empty_data`];
//! - writing the target: [`write_action`], and whether to set the controller reference and the
//!   `created-by` label (and delete orphaned targets): [`CreationPolicy::owns_target`].
//!
//! ```
//! use sealbox_controller::external::policy::{self, CreationPolicy, DeletionPolicy, WriteAction};
//!
//! let creation = CreationPolicy::from_spec(Some("Merge"))?;
//! let deletion = DeletionPolicy::from_spec(None)?;
//! policy::validate(creation, deletion)?;
//! assert_eq!(policy::write_action(creation, false), WriteAction::WaitForTarget);
//! assert!(policy::validate(creation, DeletionPolicy::Delete).is_err());
//! # Ok::<(), String>(())
//! ```

use std::fmt;

/// `spec.target.creationPolicy`: who owns the target Secret and whether we create it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CreationPolicy {
    /// Create it, own it (controller reference + `created-by` label), delete renamed leftovers.
    #[default]
    Owner,
    /// Create it if missing, update it, never own it.
    Orphan,
    /// Only update an existing Secret; wait while it is missing.
    Merge,
    /// Never write a Secret.
    None,
    /// Create it if missing, else merge into it, without owning it (ESO v2.8.0+).
    CreateOrMerge,
}

impl CreationPolicy {
    /// Parses the field; absent or `""` is the CRD default `Owner`.
    pub fn from_spec(value: Option<&str>) -> Result<Self, String> {
        match value.unwrap_or("") {
            "" | "Owner" => Ok(Self::Owner),
            "Orphan" => Ok(Self::Orphan),
            "Merge" => Ok(Self::Merge),
            "None" => Ok(Self::None),
            "CreateOrMerge" => Ok(Self::CreateOrMerge),
            other => Err(format!(
                "spec.target.creationPolicy {other:?} is not supported: use Owner, Orphan, Merge, \
                 None or CreateOrMerge"
            )),
        }
    }

    /// Whether the ExternalSecret becomes the target's controller and labels it `created-by`,
    /// and deletes orphaned targets after a rename (ESO's `applyOwnership`,
    /// `deleteOrphanedSecrets`). Other policies remove our controller reference and label.
    pub fn owns_target(self) -> bool {
        self == Self::Owner
    }
}

impl fmt::Display for CreationPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Owner => "Owner",
            Self::Orphan => "Orphan",
            Self::Merge => "Merge",
            Self::None => "None",
            Self::CreateOrMerge => "CreateOrMerge",
        })
    }
}

/// `spec.target.deletionPolicy`: what happens to the target when the provider has no data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeletionPolicy {
    /// Keep the Secret as it is.
    #[default]
    Retain,
    /// Delete the Secret (only ever with `creationPolicy: Owner`).
    Delete,
    /// Keep the Secret but remove the keys this ExternalSecret wrote.
    Merge,
}

impl DeletionPolicy {
    /// Parses the field; absent or `""` is the CRD default `Retain`.
    pub fn from_spec(value: Option<&str>) -> Result<Self, String> {
        match value.unwrap_or("") {
            "" | "Retain" => Ok(Self::Retain),
            "Delete" => Ok(Self::Delete),
            "Merge" => Ok(Self::Merge),
            other => Err(format!(
                "spec.target.deletionPolicy {other:?} is not supported: use Retain, Delete or Merge"
            )),
        }
    }

    /// Whether a provider "secret does not exist" for one `data[]`/`dataFrom[]` entry skips
    /// that entry (with a Normal `MissingProviderSecret` event) instead of failing the sync:
    /// true unless `Retain` (§5.3 step 10).
    pub fn skips_missing_provider_secret(self) -> bool {
        self != Self::Retain
    }
}

impl fmt::Display for DeletionPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Retain => "Retain",
            Self::Delete => "Delete",
            Self::Merge => "Merge",
        })
    }
}

/// ESO's admission rules for the pair (`validatePolicies`, §2.4), with ESO's messages plus the
/// field path. Both violations are reported together, as ESO joins them.
pub fn validate(creation: CreationPolicy, deletion: DeletionPolicy) -> Result<(), String> {
    let mut errors = Vec::new();
    if deletion == DeletionPolicy::Delete
        && matches!(
            creation,
            CreationPolicy::Merge | CreationPolicy::None | CreationPolicy::CreateOrMerge
        )
    {
        errors.push(format!(
            "spec.target.deletionPolicy=Delete must not be used when the controller doesn't own \
             the secret (spec.target.creationPolicy={creation}). Please set creationPolicy=Owner"
        ));
    }
    if deletion == DeletionPolicy::Merge && creation == CreationPolicy::None {
        errors.push(
            "spec.target.deletionPolicy=Merge must not be used with \
             spec.target.creationPolicy=None. There is no Secret to merge with"
                .to_string(),
        );
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

/// What to do when the provider returned no data at all (§5.3 step 12).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmptyDataAction {
    /// Delete the target if it exists; then Ready=True `SecretDeleted`.
    DeleteTarget,
    /// `Delete` without `Owner`: Ready=False `SecretSyncedError` with this message, no requeue
    /// (retrying cannot fix it).
    Refuse(String),
    /// Keep the target untouched; Ready=True `SecretSynced` "secret retained due to
    /// DeletionPolicy=Retain".
    Retain,
    /// Go on with the write: the keys this ExternalSecret wrote are pruned (`Merge`).
    Continue,
}

/// The step-12 decision for a target named `secret_name` (the name only appears in the
/// refusal message, ESO's `errDeleteCreatePolicy`).
pub fn on_empty_data(
    creation: CreationPolicy,
    deletion: DeletionPolicy,
    secret_name: &str,
) -> EmptyDataAction {
    match deletion {
        DeletionPolicy::Delete if creation.owns_target() => EmptyDataAction::DeleteTarget,
        DeletionPolicy::Delete => EmptyDataAction::Refuse(format!(
            "unable to delete secret {secret_name}: creationPolicy={creation} is not Owner"
        )),
        DeletionPolicy::Retain => EmptyDataAction::Retain,
        DeletionPolicy::Merge => EmptyDataAction::Continue,
    }
}

/// How the target is written (§5.3 step 14).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteAction {
    /// `None`: write nothing (the sync still counts as done).
    Nothing,
    /// Create the target.
    Create,
    /// Update the existing target (skipped by the caller when nothing changed).
    Update,
    /// `Merge` and the target is missing: Ready=True `SecretMissing` "secret will not be
    /// created due to CreationPolicy=Merge", requeue at the refresh interval, no error.
    WaitForTarget,
}

/// The step-14 decision, given whether the target exists. With `Owner` the caller first deletes
/// orphaned targets (see [`CreationPolicy::owns_target`]).
pub fn write_action(creation: CreationPolicy, target_exists: bool) -> WriteAction {
    match (creation, target_exists) {
        (CreationPolicy::None, _) => WriteAction::Nothing,
        (CreationPolicy::Merge, false) => WriteAction::WaitForTarget,
        (_, true) => WriteAction::Update,
        (CreationPolicy::Owner | CreationPolicy::Orphan | CreationPolicy::CreateOrMerge, false) => {
            WriteAction::Create
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATION: [CreationPolicy; 5] = [
        CreationPolicy::Owner,
        CreationPolicy::Orphan,
        CreationPolicy::Merge,
        CreationPolicy::None,
        CreationPolicy::CreateOrMerge,
    ];
    const DELETION: [DeletionPolicy; 3] = [
        DeletionPolicy::Retain,
        DeletionPolicy::Delete,
        DeletionPolicy::Merge,
    ];

    #[test]
    fn parse_defaults_and_every_value() {
        assert_eq!(CreationPolicy::from_spec(None), Ok(CreationPolicy::Owner));
        assert_eq!(
            CreationPolicy::from_spec(Some("")),
            Ok(CreationPolicy::Owner)
        );
        for c in CREATION {
            assert_eq!(CreationPolicy::from_spec(Some(&c.to_string())), Ok(c));
        }
        assert_eq!(DeletionPolicy::from_spec(None), Ok(DeletionPolicy::Retain));
        assert_eq!(
            DeletionPolicy::from_spec(Some("")),
            Ok(DeletionPolicy::Retain)
        );
        for d in DELETION {
            assert_eq!(DeletionPolicy::from_spec(Some(&d.to_string())), Ok(d));
        }
    }

    #[test]
    fn parse_errors_name_field_and_accepted_values() {
        let e = CreationPolicy::from_spec(Some("owner")).unwrap_err();
        assert!(e.contains("spec.target.creationPolicy \"owner\""), "{e}");
        assert!(
            e.contains("Owner, Orphan, Merge, None or CreateOrMerge"),
            "{e}"
        );
        let e = DeletionPolicy::from_spec(Some("Keep")).unwrap_err();
        assert!(e.contains("spec.target.deletionPolicy \"Keep\""), "{e}");
        assert!(e.contains("Retain, Delete or Merge"), "{e}");
    }

    #[test]
    fn validate_full_matrix() {
        for c in CREATION {
            for d in DELETION {
                let forbidden = matches!(
                    (c, d),
                    (
                        CreationPolicy::Merge
                            | CreationPolicy::None
                            | CreationPolicy::CreateOrMerge,
                        DeletionPolicy::Delete
                    ) | (CreationPolicy::None, DeletionPolicy::Merge)
                );
                let allowed = !forbidden;
                assert_eq!(validate(c, d).is_ok(), allowed, "{c} / {d}");
            }
        }
    }

    #[test]
    fn validate_messages_say_what_to_do() {
        let e = validate(CreationPolicy::Merge, DeletionPolicy::Delete).unwrap_err();
        assert!(e.contains("deletionPolicy=Delete"), "{e}");
        assert!(e.contains("creationPolicy=Merge"), "{e}");
        assert!(e.contains("Please set creationPolicy=Owner"), "{e}");
        let e = validate(CreationPolicy::None, DeletionPolicy::Merge).unwrap_err();
        assert!(e.contains("There is no Secret to merge with"), "{e}");
    }

    #[test]
    fn missing_provider_secret_is_skipped_unless_retain() {
        assert!(!DeletionPolicy::Retain.skips_missing_provider_secret());
        assert!(DeletionPolicy::Delete.skips_missing_provider_secret());
        assert!(DeletionPolicy::Merge.skips_missing_provider_secret());
    }

    #[test]
    fn empty_data_decisions() {
        assert_eq!(
            on_empty_data(CreationPolicy::Owner, DeletionPolicy::Delete, "db"),
            EmptyDataAction::DeleteTarget
        );
        // Orphan+Delete passes admission but the controller still refuses to delete.
        assert_eq!(
            on_empty_data(CreationPolicy::Orphan, DeletionPolicy::Delete, "db"),
            EmptyDataAction::Refuse(
                "unable to delete secret db: creationPolicy=Orphan is not Owner".into()
            )
        );
        for c in CREATION {
            assert_eq!(
                on_empty_data(c, DeletionPolicy::Retain, "db"),
                EmptyDataAction::Retain
            );
            assert_eq!(
                on_empty_data(c, DeletionPolicy::Merge, "db"),
                EmptyDataAction::Continue
            );
        }
    }

    #[test]
    fn write_actions() {
        use WriteAction::*;
        let table = [
            (CreationPolicy::Owner, false, Create),
            (CreationPolicy::Owner, true, Update),
            (CreationPolicy::Orphan, false, Create),
            (CreationPolicy::Orphan, true, Update),
            (CreationPolicy::CreateOrMerge, false, Create),
            (CreationPolicy::CreateOrMerge, true, Update),
            (CreationPolicy::Merge, false, WaitForTarget),
            (CreationPolicy::Merge, true, Update),
            (CreationPolicy::None, false, Nothing),
            (CreationPolicy::None, true, Nothing),
        ];
        for (c, exists, want) in table {
            assert_eq!(write_action(c, exists), want, "{c} exists={exists}");
        }
        assert!(CreationPolicy::Owner.owns_target());
        assert!(
            CREATION
                .iter()
                .filter(|c| **c != CreationPolicy::Owner)
                .all(|c| !c.owns_target())
        );
    }
}
