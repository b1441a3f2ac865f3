//! Kubernetes Events about any object, written as `core/v1` Events like sealed-secrets' (its
//! RBAC grants `events` create/patch in the core group only, so an existing installation's
//! ClusterRole keeps working). Each reconciler holds a [`Recorder`] and calls
//! [`Recorder::publish`] with the object's reference (`Resource::object_ref`).

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tracing::warn;

/// `Normal` or `Warning`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Normal,
    Warning,
}

/// Writes Events as `component` (their `source.component` and `reportingComponent`).
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    component: &'static str,
}

impl Recorder {
    pub fn new(client: Client, component: &'static str) -> Recorder {
        Recorder { client, component }
    }

    /// Records `reason` and `message` about `object`. A failure is logged, never fatal:
    /// events are for people, the status carries the state.
    pub async fn publish(&self, object: &ObjectReference, kind: Kind, reason: &str, message: &str) {
        publish(&self.client, self.component, object, kind, reason, message).await;
    }
}

async fn publish(
    client: &Client,
    component: &str,
    object: &ObjectReference,
    kind: Kind,
    reason: &str,
    message: &str,
) {
    let namespace = object.namespace.clone().unwrap_or_else(|| "default".into());
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let unique = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let event = Event {
        metadata: ObjectMeta {
            name: Some(format!(
                "{}.{unique:x}",
                object.name.clone().unwrap_or_else(|| object
                    .kind
                    .clone()
                    .unwrap_or_default()
                    .to_lowercase())
            )),
            namespace: Some(namespace.clone()),
            ..Default::default()
        },
        involved_object: object.clone(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        type_: Some(
            match kind {
                Kind::Normal => "Normal",
                Kind::Warning => "Warning",
            }
            .into(),
        ),
        source: Some(EventSource {
            component: Some(component.into()),
            host: None,
        }),
        reporting_component: Some(component.into()),
        reporting_instance: std::env::var("POD_NAME").ok(),
        first_timestamp: Some(now.clone()),
        last_timestamp: Some(now),
        count: Some(1),
        ..Default::default()
    };
    let api: Api<Event> = Api::namespaced(client.clone(), &namespace);
    if let Err(e) = api.create(&PostParams::default(), &event).await {
        warn!("cannot record event {reason}: {e}");
    }
}
