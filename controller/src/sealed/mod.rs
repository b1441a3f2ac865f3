//! The Sealed Secrets controller: [`keyring`] (keys in Secrets, renewal, adoption of restored
//! backups), [`reconciler`] (SealedSecret → Secret), [`api`] (what kubeseal calls) and
//! [`metrics`].

pub mod api;
pub mod events;
pub mod keyring;
pub mod metrics;
pub mod reconciler;
