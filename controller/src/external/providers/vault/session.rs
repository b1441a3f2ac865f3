//! A Vault token kept alive across reconciles (spec §7.2, §14.1): once half of its TTL
//! has passed it is renewed (`auth/token/renew-self`), not replaced by a new login. When
//! Vault stops extending it (its max TTL is near) or renewal fails, the session is spent and
//! whoever holds the client logs in again. A token from `tokenSecretRef` is used as it is.
//!
//! [`step`] and [`renewed`] are the pure rules; [`Session`] applies them around the calls.

use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Mutex;
use zeroize::Zeroizing;

use super::http::{self, Call, Http};

/// How long a token from a login lives, as Vault said.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Lease {
    /// The TTL Vault gave at the last login or renewal.
    pub(super) ttl: Duration,
    /// When that TTL started (just before the call, so it errs early).
    pub(super) since: Instant,
    /// Whether Vault will extend it further.
    pub(super) renewable: bool,
    /// The TTL of the login: a renewal that grants less than a third of it means the max TTL
    /// is near.
    pub(super) period: Duration,
}

/// What to do with a token before using it.
#[derive(Debug, PartialEq)]
pub(super) enum Step {
    Use,
    Renew,
    /// Log in again: it cannot be renewed and most of its TTL is gone.
    Spent,
}

/// Renew after half of the TTL (the other half leaves room for a reconcile that comes late);
/// a token that cannot be renewed is spent then.
pub(super) fn step(lease: &Lease, now: Instant) -> Step {
    let age = now.saturating_duration_since(lease.since);
    if age < lease.ttl / 2 {
        Step::Use
    } else if lease.renewable && age < lease.ttl {
        Step::Renew
    } else {
        Step::Spent
    }
}

/// The lease after a renewal that granted `ttl`: Vault caps renewals at the token's max TTL,
/// so a short grant is the last one worth asking for.
pub(super) fn renewed(previous: &Lease, ttl: Duration, renewable: bool, since: Instant) -> Lease {
    Lease {
        ttl,
        since,
        renewable: renewable && ttl >= previous.period / 3,
        period: previous.period,
    }
}

/// The `auth` block of a login or renew-self reply.
#[derive(Deserialize)]
pub(super) struct ReplyAuth {
    pub(super) client_token: Zeroizing<String>,
    #[serde(default)]
    pub(super) lease_duration: u64,
    #[serde(default)]
    pub(super) renewable: bool,
}

impl ReplyAuth {
    /// The lease of a fresh login that started at `since` (`None`: it never expires).
    pub(super) fn lease(&self, since: Instant) -> Option<Lease> {
        let ttl = Duration::from_secs(self.lease_duration);
        (!ttl.is_zero()).then_some(Lease {
            ttl,
            since,
            renewable: self.renewable,
            period: ttl,
        })
    }
}

struct State {
    token: Zeroizing<String>,
    lease: Option<Lease>,
    spent: bool,
}

/// A token and its lease; one renewal at a time, other callers wait for it.
pub(super) struct Session {
    state: Mutex<State>,
    /// The namespace the token was made in (renewals and revocation go there).
    namespace: Option<String>,
    /// From a login (revoked when the client is dropped), not from `tokenSecretRef`.
    logged_in: bool,
}

impl Session {
    /// A token from `tokenSecretRef`: used as it is, never renewed or revoked.
    pub(super) fn given(token: Zeroizing<String>) -> Session {
        Session {
            state: Mutex::new(State {
                token,
                lease: None,
                spent: false,
            }),
            namespace: None,
            logged_in: false,
        }
    }

    /// A token a login returned in `namespace`.
    pub(super) fn logged_in(
        token: Zeroizing<String>,
        lease: Option<Lease>,
        namespace: Option<&str>,
    ) -> Session {
        Session {
            state: Mutex::new(State {
                token,
                lease,
                spent: false,
            }),
            namespace: namespace.map(str::to_owned),
            logged_in: true,
        }
    }

    /// The token to send, renewed first when it is due.
    pub(super) async fn token(&self, http: &Http) -> Zeroizing<String> {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        match state.lease.as_ref().map(|l| step(l, now)) {
            None | Some(Step::Use) => {}
            Some(Step::Spent) => state.spent = true,
            Some(Step::Renew) => {
                let previous = state.lease.expect("a lease to renew");
                match self.renew(http, &state.token).await {
                    Ok(auth) => {
                        let ttl = Duration::from_secs(auth.lease_duration);
                        state.lease = Some(renewed(&previous, ttl, auth.renewable, now));
                    }
                    Err(why) => {
                        tracing::warn!("Vault token renewal failed, logging in again: {why}");
                        state.spent = true;
                    }
                }
            }
        }
        state.token.clone()
    }

    /// Whether the token is still good for the next calls (renewing it if due).
    pub(super) async fn alive(&self, http: &Http) -> bool {
        drop(self.token(http).await);
        !self.state.lock().await.spent
    }

    /// The token and its namespace, to revoke it, when it came from a login.
    pub(super) fn revocable(&mut self) -> Option<(Zeroizing<String>, Option<String>)> {
        self.logged_in
            .then(|| (self.state.get_mut().token.clone(), self.namespace.clone()))
    }

    async fn renew(&self, http: &Http, token: &str) -> Result<ReplyAuth, String> {
        #[derive(Deserialize)]
        struct Reply {
            auth: Option<ReplyAuth>,
        }
        let call = Call {
            name: "RenewSelf",
            method: ::http::Method::POST,
            path: "auth/token/renew-self",
            query: &[],
            body: Some(Zeroizing::new(b"{}".to_vec())),
            token: Some(token),
            namespace: self.namespace.as_deref(),
        };
        let reply = http.send(call).await?;
        if !(200..400).contains(&reply.status) {
            return Err(http::status_error(&reply));
        }
        let body = Zeroizing::new(Vec::from(reply.body));
        let parsed: Reply = serde_json::from_slice(&body)
            .map_err(|_| "Vault's reply could not be decoded".to_owned())?;
        parsed
            .auth
            .ok_or_else(|| "Vault's reply holds no auth block".to_owned())
    }
}

/// `auth/token/revoke-self`, so a client that is gone leaves no lease behind (failures are
/// only logged: the token expires with its TTL anyway).
pub(super) async fn revoke(http: &Http, token: &str, namespace: Option<&str>) {
    let call = Call {
        name: "RevokeSelf",
        method: ::http::Method::POST,
        path: "auth/token/revoke-self",
        query: &[],
        body: None,
        token: Some(token),
        namespace,
    };
    match http.send(call).await {
        Ok(reply) if (200..400).contains(&reply.status) => {}
        Ok(reply) => tracing::debug!("Vault token revocation: {}", http::status_error(&reply)),
        Err(e) => tracing::debug!("Vault token revocation: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(ttl: u64, renewable: bool, since: Instant) -> Lease {
        Lease {
            ttl: Duration::from_secs(ttl),
            since,
            renewable,
            period: Duration::from_secs(ttl),
        }
    }

    #[test]
    fn a_token_is_renewed_after_half_its_ttl_and_spent_at_its_end() {
        let t0 = Instant::now();
        let l = lease(60, true, t0);
        assert_eq!(step(&l, t0), Step::Use);
        assert_eq!(step(&l, t0 + Duration::from_secs(29)), Step::Use);
        assert_eq!(step(&l, t0 + Duration::from_secs(30)), Step::Renew);
        assert_eq!(step(&l, t0 + Duration::from_secs(59)), Step::Renew);
        assert_eq!(step(&l, t0 + Duration::from_secs(60)), Step::Spent);
    }

    #[test]
    fn a_token_that_cannot_be_renewed_is_spent_after_half() {
        let t0 = Instant::now();
        let l = lease(60, false, t0);
        assert_eq!(step(&l, t0 + Duration::from_secs(29)), Step::Use);
        assert_eq!(step(&l, t0 + Duration::from_secs(30)), Step::Spent);
    }

    #[test]
    fn a_renewal_capped_by_the_max_ttl_is_the_last() {
        let t0 = Instant::now();
        let l = lease(60, true, t0);
        let later = t0 + Duration::from_secs(45);
        let full = renewed(&l, Duration::from_secs(60), true, later);
        assert!(full.renewable);
        assert_eq!(full.since, later);
        assert_eq!(step(&full, later + Duration::from_secs(29)), Step::Use);
        let capped = renewed(&full, Duration::from_secs(19), true, later);
        assert!(!capped.renewable);
        assert_eq!(step(&capped, later + Duration::from_secs(10)), Step::Spent);
    }

    #[test]
    fn a_login_without_ttl_never_expires() {
        let auth = ReplyAuth {
            client_token: Zeroizing::new("t".into()),
            lease_duration: 0,
            renewable: false,
        };
        assert_eq!(auth.lease(Instant::now()), None);
    }
}
