//! The ExternalSecret reconciler (External Secrets Operator compatible, spec
//! `external-secrets.md`).
//!
//! Which piece when (all pure: no I/O, no kube types, no async):
//! - the hashes and names ESO writes on targets and in status: [`hash`] (data-hash annotation,
//!   `created-by` label, `syncedResourceVersion`, field manager);
//! - the key pipeline of `data[]`/`dataFrom[]` results: [`keys`] (conversion, validation,
//!   decoding, null-byte policy);
//! - picking a value out of a provider's JSON and turning it into bytes like ESO's providers:
//!   [`property`] (gjson paths, AWS and Vault value rules, Go `json.Marshal`);
//! - whether to call the provider at all, and when to come back: [`refresh`];
//! - `target.creationPolicy` / `target.deletionPolicy` parsing and admission rules: [`policy`].
//!
//! ```
//! use std::collections::BTreeMap;
//! use sealbox_controller::external::hash;
//!
//! let mut data = BTreeMap::new();
//! data.insert("foo".to_string(), b"value1".to_vec());
//! data.insert("bar".to_string(), b"value2".to_vec());
//! assert_eq!(
//!     hash::object_hash_data(&data),
//!     "1bed8bcbcb4547ffe19a19cd47d9078e84aa6598266d86b99f992d64"
//! );
//! ```

pub mod hash;
pub mod keys;
pub mod policy;
pub mod property;
pub mod refresh;
