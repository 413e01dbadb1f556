//! A bound on refused credentials (unknown, expired or revoked bearer tokens and session cookies) per
//! client address, so that a client spraying bad credentials cannot flood the audit log: the first
//! [`REFUSALS_PER_ADDRESS_PER_WINDOW`] refusals of an address in a window are audited one by one, the
//! crossing of the limit once more (`auth.throttled`), and later refusals in the window are answered 429
//! without an audit row. Valid credentials from the address are never held back: a clinic's staff may
//! share one address (a NAT or a reverse proxy), and one broken client must not lock them out. Kept in
//! memory: it bounds the audit log, not guesses at a password (a token has 128 random bits; logins have
//! their own persistent throttle), so a restart resetting it is harmless.

use std::collections::HashMap;
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

/// Refused credentials audited per client address per window.
pub(crate) const REFUSALS_PER_ADDRESS_PER_WINDOW: u32 = 30;

/// The window's length.
const WINDOW: SignedDuration = SignedDuration::from_mins(1);

/// Addresses kept at most; beyond it, windows that have ended are dropped first.
const ADDRESSES_KEPT: usize = 10_000;

/// What to do with a refused credential from an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Audit it as usual.
    Audit,
    /// Audit it, and the address's crossing of the limit.
    AuditAndMarkThrottled,
}

#[derive(Debug, Default)]
pub(crate) struct CredentialFlood {
    windows: Mutex<HashMap<String, (Timestamp, u32)>>,
}

impl CredentialFlood {
    /// Whether the address is over its limit now: `Some(seconds until the window ends)`.
    pub(crate) fn throttled(&self, address: &str, now: Timestamp) -> Option<u64> {
        let windows = self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (started, count) = windows.get(address)?;
        let ends = *started + WINDOW;
        (now < ends && *count >= REFUSALS_PER_ADDRESS_PER_WINDOW)
            .then(|| u64::try_from((ends - now).as_secs()).unwrap_or(1).max(1))
    }

    /// Counts a refusal from the address.
    pub(crate) fn refused(&self, address: &str, now: Timestamp) -> Refusal {
        let mut windows = self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if windows.len() >= ADDRESSES_KEPT && !windows.contains_key(address) {
            windows.retain(|_, (started, _)| now < *started + WINDOW);
        }
        let entry = windows.entry(address.to_owned()).or_insert((now, 0));
        if now >= entry.0 + WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
        if entry.1 == REFUSALS_PER_ADDRESS_PER_WINDOW { Refusal::AuditAndMarkThrottled } else { Refusal::Audit }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_throttled_after_the_limit_until_its_window_ends() {
        let flood = CredentialFlood::default();
        let start: Timestamp = "2026-11-28T10:00:00Z".parse().unwrap();
        for n in 1..REFUSALS_PER_ADDRESS_PER_WINDOW {
            assert_eq!(flood.refused("10.0.0.1", start), Refusal::Audit, "refusal {n}");
            assert_eq!(flood.throttled("10.0.0.1", start), None);
        }
        assert_eq!(flood.refused("10.0.0.1", start), Refusal::AuditAndMarkThrottled);
        assert_eq!(flood.throttled("10.0.0.1", start), Some(60));
        assert_eq!(flood.throttled("10.0.0.2", start), None, "other addresses are not affected");
        let later = start + SignedDuration::from_secs(61);
        assert_eq!(flood.throttled("10.0.0.1", later), None);
        assert_eq!(flood.refused("10.0.0.1", later), Refusal::Audit, "a new window counts afresh");
    }
}
