//! ExternalSecret, SecretStore, ClusterSecretStore and ClusterExternalSecret objects as the
//! controller's watches decode them (JSON), and the policy fields it parses from them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealbox_controller::crd::external::{
    ClusterExternalSecret, ClusterSecretStore, ExternalSecret, SecretStore,
};
use sealbox_controller::external::refresh::RefreshPolicy;

fuzz_target!(|data: &[u8]| {
    if let Ok(es) = serde_json::from_slice::<ExternalSecret>(data) {
        let _ = RefreshPolicy::from_spec(es.spec.refresh_policy.as_deref());
    }
    let _ = serde_json::from_slice::<SecretStore>(data);
    let _ = serde_json::from_slice::<ClusterSecretStore>(data);
    let _ = serde_json::from_slice::<ClusterExternalSecret>(data);
});
