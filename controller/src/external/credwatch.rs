//! Following the objects a store's credentials came from (its Secrets and ServiceAccounts),
//! so a cached client is dropped as soon as one of them changes (spec §14.1): one
//! metadata-only watch per object, selected by name, started the first time a client reads
//! it. Nothing else in the cluster is watched, and only metadata (the `resourceVersion`) is
//! received, never a value.
//!
//! A client subscribes with the versions it read and a flag; the flag is raised when the
//! object's version differs from the one read, or the object is gone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Client};

use super::refs::{Source, SourceKind};

/// What is known of one followed object.
#[derive(Default)]
struct Followed {
    /// Its latest `resourceVersion` (`Some("")`: it does not exist; `None`: not known yet).
    latest: Option<String>,
    subscribers: Vec<(String, Weak<AtomicBool>)>,
    watching: bool,
}

impl Followed {
    /// Raises the flag of every subscriber that read another version than `latest`, and
    /// forgets them and the subscribers that are gone.
    fn notify(&mut self) {
        let Some(latest) = &self.latest else {
            return;
        };
        self.subscribers.retain(|(read, flag)| {
            let Some(flag) = flag.upgrade() else {
                return false;
            };
            if read != latest {
                flag.store(true, Ordering::SeqCst);
                return false;
            }
            true
        });
    }
}

/// The followed objects, and their watch tasks (stopped when this is dropped).
pub struct CredentialWatch {
    kube: Client,
    followed: Arc<Mutex<HashMap<Source, Followed>>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for CredentialWatch {
    fn drop(&mut self) {
        for task in self.tasks.lock().expect("lock").drain(..) {
            task.abort();
        }
    }
}

impl CredentialWatch {
    pub fn new(kube: Client) -> CredentialWatch {
        CredentialWatch {
            kube,
            followed: Arc::default(),
            tasks: Mutex::default(),
        }
    }

    /// Raises `stale` when any of `sources` changes from the version read.
    pub fn follow(&self, sources: &[(Source, String)], stale: &Arc<AtomicBool>) {
        let mut followed = self.followed.lock().expect("lock");
        for (source, read) in sources {
            let entry = followed.entry(source.clone()).or_default();
            entry
                .subscribers
                .push((read.clone(), Arc::downgrade(stale)));
            entry.notify();
            if !entry.watching {
                entry.watching = true;
                let task = tokio::spawn(watch(
                    self.kube.clone(),
                    source.clone(),
                    self.followed.clone(),
                ));
                self.tasks.lock().expect("lock").push(task);
            }
        }
    }
}

/// An event with only the object's `resourceVersion`.
fn versions<K>(event: Event<PartialObjectMeta<K>>) -> Event<Option<String>> {
    let version = |o: PartialObjectMeta<K>| o.metadata.resource_version;
    match event {
        Event::Apply(o) => Event::Apply(version(o)),
        Event::Delete(o) => Event::Delete(version(o)),
        Event::Init => Event::Init,
        Event::InitApply(o) => Event::InitApply(version(o)),
        Event::InitDone => Event::InitDone,
    }
}

/// Watches one object's metadata by name until aborted.
async fn watch(kube: Client, source: Source, followed: Arc<Mutex<HashMap<Source, Followed>>>) {
    let config = watcher::Config::default().fields(&format!("metadata.name={}", source.name));
    let mut events = match source.kind {
        SourceKind::Secret => {
            let api: Api<PartialObjectMeta<Secret>> = Api::namespaced(kube, &source.namespace);
            watcher(api, config)
                .default_backoff()
                .map(|e| e.map(versions))
                .boxed()
        }
        SourceKind::ServiceAccount => {
            let api: Api<PartialObjectMeta<ServiceAccount>> =
                Api::namespaced(kube, &source.namespace);
            watcher(api, config)
                .default_backoff()
                .map(|e| e.map(versions))
                .boxed()
        }
    };
    // During a (re)list: whether the object was listed.
    let mut listed = false;
    while let Some(event) = events.next().await {
        let latest = match event {
            Err(e) => {
                tracing::debug!(
                    "watching {:?} {}/{}: {e}",
                    source.kind,
                    source.namespace,
                    source.name
                );
                continue;
            }
            Ok(Event::Init) => {
                listed = false;
                continue;
            }
            Ok(Event::InitApply(version)) => {
                listed = true;
                version.unwrap_or_default()
            }
            Ok(Event::Apply(version)) => version.unwrap_or_default(),
            Ok(Event::InitDone) if listed => continue,
            Ok(Event::InitDone | Event::Delete(_)) => String::new(),
        };
        let mut followed = followed.lock().expect("lock");
        let entry = followed.entry(source.clone()).or_default();
        entry.latest = Some(latest);
        entry.notify();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_subscribers_that_read_another_version_are_told() {
        let (same, other) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let mut f = Followed {
            latest: None,
            subscribers: vec![
                ("5".into(), Arc::downgrade(&same)),
                ("4".into(), Arc::downgrade(&other)),
            ],
            watching: true,
        };
        f.notify();
        assert!(!same.load(Ordering::SeqCst) && !other.load(Ordering::SeqCst));
        f.latest = Some("5".into());
        f.notify();
        assert!(!same.load(Ordering::SeqCst));
        assert!(other.load(Ordering::SeqCst));
        assert_eq!(f.subscribers.len(), 1);
        // Deleted: everyone who read it is told.
        f.latest = Some(String::new());
        f.notify();
        assert!(same.load(Ordering::SeqCst));
        assert!(f.subscribers.is_empty());
    }

    #[test]
    fn subscribers_that_are_gone_are_forgotten() {
        let gone = Arc::new(AtomicBool::new(false));
        let mut f = Followed {
            latest: Some("1".into()),
            subscribers: vec![("1".into(), Arc::downgrade(&gone))],
            watching: true,
        };
        drop(gone);
        f.notify();
        assert!(f.subscribers.is_empty());
    }
}
