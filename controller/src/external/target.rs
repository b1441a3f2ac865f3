//! The Secret an ExternalSecret asks for, decided without I/O: ESO's mutation function and
//! `ApplyTemplate` (spec §5.3 step 13, §8.3), applied to the existing Secret or a new one.
//!
//! Which function when: [`desired`] builds the Secret to write from the existing one (if
//! any), the provider data and the rendered template; [`needs_write`] tells whether that
//! differs from what is there (ESO skips the update when nothing changed, which is what lets
//! sealbox adopt ESO's Secrets without a single write); [`managed_keys`] reads which data
//! keys, labels and annotations this ExternalSecret's field manager wrote before.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::hash::{
    ANNOTATION_DATA_HASH, LABEL_CREATED_BY, LABEL_MANAGED, LABEL_MANAGED_VALUE, created_by,
    object_hash_data,
};
use super::policy::CreationPolicy;

/// The ExternalSecret as far as its Secret is concerned.
pub struct Owner<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub uid: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub annotations: &'a BTreeMap<String, String>,
    /// ESO's field manager name for this ExternalSecret (`hash::field_manager`): writes and
    /// the data keys written before.
    pub field_manager: &'a str,
    /// The manager ESO looks up for labels and annotations (`hash::metadata_field_manager`).
    pub metadata_manager: &'a str,
}

/// What the template produced (empty when the ExternalSecret has no template).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rendered {
    /// `template.type`.
    pub type_: Option<String>,
    /// Whether the provider data is copied in too (`mergePolicy: Merge`, or a template with
    /// neither `data` nor `templateFrom`).
    pub keep_provider_data: bool,
    pub data: BTreeMap<String, Vec<u8>>,
    /// `template.metadata` as written, then rendered (rendered values win).
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub finalizers: Vec<String>,
}

/// The spec of the write.
pub struct Spec<'a> {
    pub target_name: &'a str,
    pub creation: CreationPolicy,
    pub immutable: bool,
    /// `None` when the ExternalSecret has no `target.template`.
    pub template: Option<&'a Rendered>,
}

/// Why the Secret cannot be made as asked.
#[derive(Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// Another ExternalSecret controls the Secret (ESO's `ErrSecretIsOwned`).
    #[error("target is owned by another ExternalSecret: {0}")]
    OwnedByAnother(String),
    /// Another kind of object controls the Secret, so this ExternalSecret cannot own it
    /// (ESO's `ErrSecretSetCtrlRef`).
    #[error("failed to take ownership of target secret: it is controlled by {0}")]
    ControlledByOther(String),
    /// The Secret is immutable and its data would change.
    #[error("could not update secret, target is immutable")]
    Immutable,
}

/// Data keys, labels and annotations a field manager set with an `Update` (from
/// `metadata.managedFields`, as ESO's `getManagedFieldKeys`).
#[derive(Debug, Default, PartialEq)]
pub struct ManagedKeys {
    pub data: BTreeSet<String>,
    pub labels: BTreeSet<String>,
    pub annotations: BTreeSet<String>,
}

/// What `manager` wrote into `meta` before.
pub fn managed_keys(meta: &ObjectMeta, manager: &str) -> ManagedKeys {
    let mut keys = ManagedKeys::default();
    for entry in meta.managed_fields.iter().flatten() {
        if entry.manager.as_deref() != Some(manager) {
            continue;
        }
        let Some(fields) = entry.fields_v1.as_ref().map(|f| &f.0) else {
            continue;
        };
        let names = |v: Option<&serde_json::Value>| -> Vec<String> {
            v.and_then(|v| v.as_object())
                .map(|o| {
                    o.keys()
                        .filter_map(|k| k.strip_prefix("f:"))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        keys.data.extend(names(fields.get("f:data")));
        let meta = fields.get("f:metadata");
        keys.labels
            .extend(names(meta.and_then(|m| m.get("f:labels"))));
        keys.annotations
            .extend(names(meta.and_then(|m| m.get("f:annotations"))));
    }
    keys
}

/// The Secret to write: `existing` (or a new Secret named `spec.target_name`) changed as ESO
/// changes it.
pub fn desired(
    existing: Option<&Secret>,
    owner: &Owner,
    spec: &Spec,
    provider_data: &BTreeMap<String, Vec<u8>>,
) -> Result<Secret, TargetError> {
    let mut secret = existing.cloned().unwrap_or_else(|| Secret {
        metadata: ObjectMeta {
            name: Some(spec.target_name.to_owned()),
            namespace: Some(owner.namespace.to_owned()),
            ..ObjectMeta::default()
        },
        ..Secret::default()
    });
    if spec.immutable {
        secret.immutable = Some(true);
    }
    let exists = existing.is_some_and(|s| s.metadata.uid.is_some());
    if !exists || !spec.immutable {
        apply_template(&mut secret, owner, spec, provider_data);
    }
    apply_ownership(&mut secret, owner, spec.creation)?;
    let data = plain_data(&secret);
    secret
        .metadata
        .labels
        .get_or_insert_default()
        .insert(LABEL_MANAGED.into(), LABEL_MANAGED_VALUE.into());
    secret
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(ANNOTATION_DATA_HASH.into(), object_hash_data(&data));
    if let Some(before) = existing.filter(|s| s.immutable == Some(true))
        && plain_data(before) != data
    {
        return Err(TargetError::Immutable);
    }
    Ok(secret)
}

/// A Secret's `data` as plain bytes.
pub fn plain_data(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect()
}

/// ESO's pruning of what this ExternalSecret wrote before, then `ApplyTemplate` (§8.3).
fn apply_template(
    secret: &mut Secret,
    owner: &Owner,
    spec: &Spec,
    provider_data: &BTreeMap<String, Vec<u8>>,
) {
    let before = managed_keys(&secret.metadata, owner.field_manager);
    let before_meta = managed_keys(&secret.metadata, owner.metadata_manager);
    let data = secret.data.get_or_insert_default();
    for key in &before.data {
        data.remove(key);
    }
    let labels = secret.metadata.labels.get_or_insert_default();
    for key in &before_meta.labels {
        labels.remove(key);
    }
    let annotations = secret.metadata.annotations.get_or_insert_default();
    for key in &before_meta.annotations {
        annotations.remove(key);
    }
    match spec.template {
        None => {
            labels.extend(owner.labels.clone());
            annotations.extend(owner.annotations.clone());
        }
        Some(t) => {
            labels.extend(t.labels.clone());
            annotations.extend(t.annotations.clone());
            if secret.metadata.deletion_timestamp.is_none() {
                let finalizers = secret.metadata.finalizers.get_or_insert_default();
                for f in &t.finalizers {
                    if !finalizers.contains(f) {
                        finalizers.push(f.clone());
                    }
                }
            }
        }
    }
    if !matches!(
        spec.creation,
        CreationPolicy::Merge | CreationPolicy::CreateOrMerge
    ) {
        data.clear();
    }
    let bytes = |m: &BTreeMap<String, Vec<u8>>| {
        m.iter()
            .map(|(k, v)| (k.clone(), ByteString(v.clone())))
            .collect::<Vec<_>>()
    };
    match spec.template {
        None => data.extend(bytes(provider_data)),
        Some(t) => {
            if let Some(type_) = &t.type_ {
                secret.type_ = Some(type_.clone());
            }
            if t.keep_provider_data {
                data.extend(bytes(provider_data));
            }
            data.extend(bytes(&t.data));
        }
    }
}

/// ESO's `applyOwnership`: `Owner` sets the controller reference and `created-by`; every
/// other policy removes this ExternalSecret's reference and the label.
fn apply_ownership(
    secret: &mut Secret,
    owner: &Owner,
    creation: CreationPolicy,
) -> Result<(), TargetError> {
    let refs = secret.metadata.owner_references.get_or_insert_default();
    if let Some(other) = refs
        .iter()
        .find(|r| r.controller == Some(true) && r.uid != owner.uid)
    {
        if other.kind == "ExternalSecret" {
            return Err(TargetError::OwnedByAnother(other.name.clone()));
        }
        if creation == CreationPolicy::Owner {
            return Err(TargetError::ControlledByOther(format!(
                "{} {}",
                other.kind, other.name
            )));
        }
    }
    let labels = secret.metadata.labels.get_or_insert_default();
    if creation == CreationPolicy::Owner {
        let ours = OwnerReference {
            api_version: "external-secrets.io/v1".into(),
            kind: "ExternalSecret".into(),
            name: owner.name.into(),
            uid: owner.uid.into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        // Updated where it is (as controller-runtime does), so the list's order is kept.
        match refs.iter_mut().find(|r| r.uid == owner.uid) {
            Some(existing) => *existing = ours,
            None => refs.push(ours),
        }
        labels.insert(
            LABEL_CREATED_BY.into(),
            created_by(owner.namespace, owner.name),
        );
    } else {
        refs.retain(|r| !(r.kind == "ExternalSecret" && r.uid == owner.uid));
        labels.remove(LABEL_CREATED_BY);
    }
    if refs.is_empty() {
        secret.metadata.owner_references = None;
    }
    Ok(())
}

/// Whether writing `desired` would change `existing` (ESO's `DeepEqual` check, over what
/// sealbox writes: data, type, immutability, labels, annotations, finalizers, owners).
/// Empty and absent maps count as equal, as they do once stored.
pub fn needs_write(existing: &Secret, desired: &Secret) -> bool {
    fn map<V: Clone>(m: &Option<BTreeMap<String, V>>) -> BTreeMap<String, V> {
        m.clone().unwrap_or_default()
    }
    fn list<V: Clone>(v: &Option<Vec<V>>) -> Vec<V> {
        v.clone().unwrap_or_default()
    }
    let (a, b) = (&existing.metadata, &desired.metadata);
    map(&existing.data) != map(&desired.data)
        || existing.type_.as_deref().unwrap_or("Opaque")
            != desired.type_.as_deref().unwrap_or("Opaque")
        || existing.immutable.unwrap_or(false) != desired.immutable.unwrap_or(false)
        || map(&a.labels) != map(&b.labels)
        || map(&a.annotations) != map(&b.annotations)
        || list(&a.finalizers) != list(&b.finalizers)
        || list(&a.owner_references) != list(&b.owner_references)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};

    use super::*;

    fn owner<'a>(
        labels: &'a BTreeMap<String, String>,
        annotations: &'a BTreeMap<String, String>,
    ) -> Owner<'a> {
        Owner {
            name: "my-es",
            namespace: "default",
            uid: "uid-1",
            labels,
            annotations,
            field_manager: "externalsecrets.external-secrets.io/my-es",
            metadata_manager: "externalsecrets.external-secrets.io/my-es",
        }
    }

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    fn spec(creation: CreationPolicy) -> Spec<'static> {
        Spec {
            target_name: "target",
            creation,
            immutable: false,
            template: None,
        }
    }

    #[test]
    fn a_new_owned_secret_carries_esos_labels_annotations_and_owner() {
        let labels = BTreeMap::from([("app".to_owned(), "web".to_owned())]);
        let none = BTreeMap::new();
        let secret = desired(
            None,
            &owner(&labels, &none),
            &spec(CreationPolicy::Owner),
            &data(&[("foo", "value1"), ("bar", "value2")]),
        )
        .unwrap();
        let meta = &secret.metadata;
        assert_eq!(meta.name.as_deref(), Some("target"));
        let l = meta.labels.as_ref().unwrap();
        assert_eq!(l[LABEL_MANAGED], "true");
        assert_eq!(l["app"], "web");
        // spec §13: created-by of default/my-es, data-hash of {foo: value1, bar: value2}.
        assert_eq!(
            l[LABEL_CREATED_BY],
            "b8464376b5fe3535e690594280bfe59b60be2603cb6cbb6d6c8bcbb4"
        );
        assert_eq!(
            meta.annotations.as_ref().unwrap()[ANNOTATION_DATA_HASH],
            "1bed8bcbcb4547ffe19a19cd47d9078e84aa6598266d86b99f992d64"
        );
        let r = &meta.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (
                r.kind.as_str(),
                r.uid.as_str(),
                r.controller,
                r.block_owner_deletion
            ),
            ("ExternalSecret", "uid-1", Some(true), Some(true))
        );
    }

    #[test]
    fn an_unchanged_secret_needs_no_write_and_a_changed_one_does() {
        let none = BTreeMap::new();
        let o = owner(&none, &none);
        let first = desired(None, &o, &spec(CreationPolicy::Owner), &data(&[("k", "v")])).unwrap();
        let again = desired(
            Some(&first),
            &o,
            &spec(CreationPolicy::Owner),
            &data(&[("k", "v")]),
        )
        .unwrap();
        assert!(!needs_write(&first, &again));
        let changed = desired(
            Some(&first),
            &o,
            &spec(CreationPolicy::Owner),
            &data(&[("k", "v2")]),
        )
        .unwrap();
        assert!(needs_write(&first, &changed));
    }

    #[test]
    fn merge_keeps_foreign_keys_and_prunes_what_this_manager_wrote() {
        let none = BTreeMap::new();
        let mut existing = Secret {
            metadata: ObjectMeta {
                name: Some("target".into()),
                uid: Some("s-1".into()),
                managed_fields: Some(vec![ManagedFieldsEntry {
                    manager: Some("externalsecrets.external-secrets.io/my-es".into()),
                    operation: Some("Update".into()),
                    fields_v1: Some(FieldsV1(serde_json::json!({"f:data": {"f:old": {}}}))),
                    ..ManagedFieldsEntry::default()
                }]),
                ..ObjectMeta::default()
            },
            ..Secret::default()
        };
        existing.data = Some(BTreeMap::from([
            ("old".to_owned(), ByteString(b"x".to_vec())),
            ("theirs".to_owned(), ByteString(b"y".to_vec())),
        ]));
        let secret = desired(
            Some(&existing),
            &owner(&none, &none),
            &spec(CreationPolicy::Merge),
            &data(&[("new", "z")]),
        )
        .unwrap();
        let keys: Vec<_> = secret.data.as_ref().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["new", "theirs"]);
        assert!(
            secret.metadata.owner_references.is_none(),
            "Merge does not own"
        );
        assert!(
            !secret
                .metadata
                .labels
                .unwrap()
                .contains_key(LABEL_CREATED_BY)
        );
    }

    #[test]
    fn a_secret_controlled_by_another_external_secret_is_refused() {
        let none = BTreeMap::new();
        let existing = Secret {
            metadata: ObjectMeta {
                uid: Some("s-1".into()),
                owner_references: Some(vec![OwnerReference {
                    kind: "ExternalSecret".into(),
                    name: "other".into(),
                    uid: "uid-2".into(),
                    controller: Some(true),
                    ..OwnerReference::default()
                }]),
                ..ObjectMeta::default()
            },
            ..Secret::default()
        };
        let err = desired(
            Some(&existing),
            &owner(&none, &none),
            &spec(CreationPolicy::Owner),
            &data(&[("k", "v")]),
        )
        .unwrap_err();
        assert_eq!(err, TargetError::OwnedByAnother("other".into()));
    }

    #[test]
    fn a_secret_controlled_by_another_kind_cannot_be_owned_but_can_be_merged() {
        let none = BTreeMap::new();
        let existing = Secret {
            metadata: ObjectMeta {
                uid: Some("s-1".into()),
                owner_references: Some(vec![OwnerReference {
                    kind: "SealedSecret".into(),
                    name: "sealed".into(),
                    uid: "uid-9".into(),
                    controller: Some(true),
                    ..OwnerReference::default()
                }]),
                ..ObjectMeta::default()
            },
            ..Secret::default()
        };
        let o = owner(&none, &none);
        let err = desired(
            Some(&existing),
            &o,
            &spec(CreationPolicy::Owner),
            &data(&[("k", "v")]),
        )
        .unwrap_err();
        assert_eq!(
            err,
            TargetError::ControlledByOther("SealedSecret sealed".into())
        );
        let merged = desired(
            Some(&existing),
            &o,
            &spec(CreationPolicy::Merge),
            &data(&[("k", "v")]),
        )
        .unwrap();
        assert_eq!(merged.metadata.owner_references.unwrap().len(), 1);
    }

    #[test]
    fn our_owner_reference_keeps_its_place() {
        let none = BTreeMap::new();
        let o = owner(&none, &none);
        let mut first =
            desired(None, &o, &spec(CreationPolicy::Owner), &data(&[("k", "v")])).unwrap();
        first
            .metadata
            .owner_references
            .as_mut()
            .unwrap()
            .push(OwnerReference {
                kind: "Application".into(),
                name: "argo".into(),
                uid: "uid-7".into(),
                ..OwnerReference::default()
            });
        let again = desired(
            Some(&first),
            &o,
            &spec(CreationPolicy::Owner),
            &data(&[("k", "v")]),
        )
        .unwrap();
        assert!(!needs_write(&first, &again));
    }

    #[test]
    fn an_immutable_secret_refuses_new_data_but_not_the_same_data() {
        let none = BTreeMap::new();
        let o = owner(&none, &none);
        let mut immutable = spec(CreationPolicy::Owner);
        immutable.immutable = true;
        let mut first = desired(None, &o, &immutable, &data(&[("k", "v")])).unwrap();
        first.metadata.uid = Some("s-1".into());
        assert!(desired(Some(&first), &o, &immutable, &data(&[("k", "v")])).is_ok());
        let mut stored = first.clone();
        stored.data = Some(BTreeMap::from([(
            "k".to_owned(),
            ByteString(b"other".to_vec()),
        )]));
        let mut mutable = spec(CreationPolicy::Owner);
        mutable.immutable = false;
        assert_eq!(
            desired(Some(&stored), &o, &mutable, &data(&[("k", "v")])).unwrap_err(),
            TargetError::Immutable
        );
    }

    #[test]
    fn a_template_sets_type_metadata_and_data_over_provider_keys() {
        let es_labels = BTreeMap::from([("from-es".to_owned(), "x".to_owned())]);
        let none = BTreeMap::new();
        let rendered = Rendered {
            type_: Some("kubernetes.io/dockerconfigjson".into()),
            keep_provider_data: false,
            data: data(&[(".dockerconfigjson", "{}")]),
            labels: BTreeMap::from([("tpl".to_owned(), "y".to_owned())]),
            ..Rendered::default()
        };
        let mut s = spec(CreationPolicy::Orphan);
        s.template = Some(&rendered);
        let secret = desired(None, &owner(&es_labels, &none), &s, &data(&[("user", "u")])).unwrap();
        assert_eq!(
            secret.type_.as_deref(),
            Some("kubernetes.io/dockerconfigjson")
        );
        assert_eq!(
            secret.data.unwrap().keys().collect::<Vec<_>>(),
            [".dockerconfigjson"]
        );
        let labels = secret.metadata.labels.unwrap();
        assert!(
            labels.contains_key("tpl") && !labels.contains_key("from-es"),
            "{labels:?}"
        );
    }
}
