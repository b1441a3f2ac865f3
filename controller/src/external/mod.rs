//! The ExternalSecret reconciler (External Secrets Operator compatible).

pub mod providers;
pub mod refs;
