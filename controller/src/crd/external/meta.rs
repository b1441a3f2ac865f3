//! The small types every `external-secrets.io` object shares (ESO's `apis/meta/v1`): Secret
//! key and ServiceAccount selectors, and status conditions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A key of a Secret (`esmeta.SecretKeySelector`). For a [`SecretStore`] the Secret is always
/// in the store's namespace; for a [`ClusterSecretStore`] `namespace` names it, and without one
/// it is read in the ExternalSecret's namespace ("referent" authentication, spec §3).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SecretKeySelector {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
}

/// A ServiceAccount whose token is requested (`esmeta.ServiceAccountSelector`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ServiceAccountSelector {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
}

/// One status condition as ESO writes them (`type`, `status`, `reason`, `message`,
/// `lastTransitionTime`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}
