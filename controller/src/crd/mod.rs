//! The Kubernetes types the controller watches, one file per API group: [`sealed`]
//! (`bitnami.com`). `crdgen` prints their CRDs.

pub mod sealed;
