//! Parsers for the flag values every reconciler shares, in the forms sealed-secrets' Go flags
//! accept (spec `sealed-secrets.md` §3.4): [`go_duration`] (`720h`, `1h30m`, `0`),
//! [`rfc1123z`] (`date -R`), [`listen_addr`] (`:8080`). Use them as clap `value_parser`s;
//! [`own_namespace`] is where the controller runs.
//!
//! ```
//! use std::time::Duration;
//! use sealbox_controller::flags::{go_duration, listen_addr};
//! assert_eq!(go_duration("1h30m"), Ok(Duration::from_secs(5400)));
//! assert_eq!(listen_addr(":8080").unwrap().to_string(), "0.0.0.0:8080");
//! ```

use std::net::SocketAddr;
use std::time::SystemTime;

/// Go's `time.ParseDuration` for the forms flags use: `720h`, `1h30m`, `90s`, `0` (the one
/// parser, shared with the CLI's key flags).
pub use sealbox_crypto::sealed::keysecret::go_duration;

/// RFC 1123 with a numeric zone, as `date -R` prints (Go's `time.RFC1123Z`).
pub fn rfc1123z(text: &str) -> Result<SystemTime, String> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc2822)
        .map(SystemTime::from)
        .map_err(|e| format!("{text:?} is not an RFC 1123 time like `date -R` prints: {e}"))
}

/// A Go listen address: `:8080` listens on every interface, `127.0.0.1:8080` on one.
pub fn listen_addr(addr: &str) -> Result<SocketAddr, String> {
    let full = if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_owned()
    };
    full.parse()
        .map_err(|_| format!("{addr:?} is not an address like :8080 or 127.0.0.1:8080"))
}

/// The namespace the controller runs in (`POD_NAMESPACE`, else the service account's), where
/// its own Secrets (the Sealed Secrets keys) live; `default` outside a pod.
pub fn own_namespace() -> String {
    std::env::var("POD_NAMESPACE")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace").ok()
        })
        .map(|ns| ns.trim().to_owned())
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(|| "default".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1123z_times() {
        let t = rfc1123z("Mon, 30 Nov 2026 15:47:34 +0000").unwrap();
        let unix = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(unix, 1_796_053_654);
        let shifted = rfc1123z("Mon, 30 Nov 2026 16:47:34 +0100").unwrap();
        assert_eq!(shifted, t, "the numeric zone is honoured");
        let err = rfc1123z("2026-11-30T15:47:34Z").unwrap_err();
        assert!(err.contains("date -R"), "{err}");
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(listen_addr(":8080").unwrap().to_string(), "0.0.0.0:8080");
        assert_eq!(
            listen_addr("127.0.0.1:8081").unwrap().to_string(),
            "127.0.0.1:8081"
        );
        assert_eq!(listen_addr("[::1]:80").unwrap().to_string(), "[::1]:80");
        let err = listen_addr("localhost").unwrap_err();
        assert!(err.contains(":8080 or 127.0.0.1:8080"), "{err}");
        assert!(listen_addr("8080").is_err());
    }
}
