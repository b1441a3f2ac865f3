//! What wakes a reconciler: changes a user makes, never the controller's own status writes
//! (ESO's `shouldEnqueueExternalSecretUpdate` and `GenerationChangedPredicate`). Without this,
//! every status write would start another reconcile, and one whose target can never be valid
//! (`creationPolicy: None`, a `Merge` target still missing) would call its provider again
//! each time.
//!
//! [`watch`] gives the filtered stream and the store a `Controller::for_stream` needs.

use std::fmt::Debug;
use std::hash::{DefaultHasher, Hash, Hasher};

use futures::Stream;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, predicates, watcher};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

fn deleting<K: Resource>(obj: &K) -> Option<u64> {
    let mut h = DefaultHasher::new();
    obj.meta().deletion_timestamp.is_some().hash(&mut h);
    Some(h.finish())
}

/// Drops what the store need not keep of `obj` (see [`watch`]).
pub(super) fn slim<K: Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
}

/// The objects of `api`, passed on only when their generation, labels, annotations,
/// finalizers or deletion change (and once when first seen). The store keeps them without
/// their `managedFields`, which no reconcile reads and the API server makes large (a few KiB
/// per object once its status has been written: two fifths of the controller's heap at 1,000
/// ExternalSecrets). Annotations stay whole, kubectl's last-applied copy included: ESO's
/// `syncedResourceVersion` hashes them.
pub fn watch<K>(
    api: Api<K>,
) -> (
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
    Store<K>,
)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    use kube::runtime::Predicate as _;
    let (reader, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(slim)
        .reflect(writer)
        .applied_objects()
        .predicate_filter(
            predicates::generation
                .combine(predicates::labels)
                .combine(predicates::annotations)
                .combine(predicates::finalizers)
                .combine(deleting),
            Default::default(),
        );
    (stream, reader)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    use super::*;

    #[test]
    fn the_store_keeps_no_managed_fields_and_every_annotation() {
        let mut obj = ConfigMap::default();
        obj.metadata.managed_fields = Some(vec![ManagedFieldsEntry::default()]);
        obj.metadata.annotations = Some(
            [
                (
                    "kubectl.kubernetes.io/last-applied-configuration".to_owned(),
                    "{…the whole object…}".to_owned(),
                ),
                ("team".to_owned(), "payments".to_owned()),
            ]
            .into(),
        );
        slim(&mut obj);
        assert_eq!(obj.metadata.managed_fields, None);
        let annotations = obj.metadata.annotations.expect("annotations kept");
        assert_eq!(annotations.len(), 2);
        assert_eq!(annotations["team"], "payments");
    }
}
