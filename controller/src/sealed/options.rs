//! How this controller unseals: the flags upstream applies inside `Unseal` itself. Set once
//! at startup by [`super::run`], read by every unseal (the reconciler, `/v1/verify` and
//! `/v1/rotate`), as upstream's package-level `AcceptDeprecatedV1Data`.

use std::sync::atomic::{AtomicBool, Ordering};

use sealbox_crypto::sealed::UnsealOptions;

/// `--accept-deprecated-v1-data` (spec `sealed-secrets.md` §1.6, §3.4; default true).
static ACCEPT_DEPRECATED_V1_DATA: AtomicBool = AtomicBool::new(true);

/// Records `--accept-deprecated-v1-data`.
pub fn set_accept_deprecated_v1_data(accept: bool) {
    ACCEPT_DEPRECATED_V1_DATA.store(accept, Ordering::Relaxed);
}

/// The options every unseal of this controller uses.
pub fn unseal_options() -> UnsealOptions {
    UnsealOptions {
        accept_deprecated_v1_data: ACCEPT_DEPRECATED_V1_DATA.load(Ordering::Relaxed),
    }
}
