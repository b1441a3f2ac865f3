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

/// The objects of `api`, passed on only when their generation, labels, annotations,
/// finalizers or deletion change (and once when first seen).
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
