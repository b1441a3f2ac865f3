//! sealbox-controller: the in-cluster SealedSecret and ExternalSecret reconcilers. Not built yet
//! (see the open issues); the crate exists so the workspace layout is final.
#![forbid(unsafe_code)]
