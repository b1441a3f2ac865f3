//! The Kubernetes types the controller watches, one module per API group: [`sealed`]
//! (`bitnami.com`) and [`external`] (`external-secrets.io`). `crdgen` prints their CRDs.

pub mod external;
pub mod sealed;
