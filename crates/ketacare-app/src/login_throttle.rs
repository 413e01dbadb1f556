//! Login throttling: an attempt to prove a password (a login, or the current password on a password
//! change) is counted against the account at the client's address, the client's address, and the account
//! from every address together (a slower bound), and refused while any of them is at its limit. The
//! check and the count are one step in the store (a reservation made before the password is verified),
//! so parallel attempts cannot all slip under a limit; an attempt that succeeds is taken back.
//!
//! Keys never hold a name as typed: a known account is keyed by the SHA-256 of its id, an address by the
//! SHA-256 of the address, and a name that is not an account by an HMAC under a key this process made at
//! start and keeps in memory only (so a password typed into the username field cannot be recovered from
//! the database by hashing guesses; such counters are per process and end with it).

use hmac::{Hmac, Mac as _};
use jiff::{SignedDuration, Timestamp};
use ketacare_store::{AttemptReservation, Store, ThrottleCounter};
use sha2::Sha256;

use crate::AppError;
use crate::secrets::{random_hex, sha256_hex};

/// When failed attempts lock an account at an address, an address, or an account everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures of one account from one address (OWASP Authentication Cheat Sheet: a lockout keyed by
    /// account and source, so that guessing from one place does not lock the owner out elsewhere).
    pub failures_per_account_and_address: u32,
    /// Failures from one address, whatever the accounts (password spraying).
    pub failures_per_address: u32,
    /// Failures older than this are forgotten by the two counters above; their lockout lasts this long
    /// after the last failure.
    pub window: SignedDuration,
    /// Failures of one account from every address together: the bound on guessing from many addresses.
    /// NIST SP 800-63B §5.2.2: no more than 100 consecutive failed attempts on one account.
    pub failures_per_account: u32,
    /// The window of `failures_per_account`; an admin can unlock the account before it ends.
    pub account_window: SignedDuration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            failures_per_account_and_address: 5,
            failures_per_address: 20,
            window: SignedDuration::from_mins(15),
            failures_per_account: 100,
            account_window: SignedDuration::from_hours(24),
        }
    }
}

/// Who an attempt claims to be.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Claimed<'a> {
    /// An account, by its id.
    Account(&'a str),
    /// A name that is not an account (it may be a password typed into the wrong field).
    UnknownName(&'a str),
}

/// An attempt counted in every counter of its claim; hand it back with [`LoginThrottle::succeeded`]
/// when the password was right (or never checked), or drop it when it was wrong: it stays a failure.
#[derive(Debug)]
#[must_use]
pub(crate) struct ReservedAttempt {
    pair_key: String,
    other_keys: Vec<String>,
}

impl ReservedAttempt {
    /// The attempt's password was wrong: it stays counted, as a failure.
    pub(crate) fn failed(self) {}
}

/// The throttle: its policy, and the key for names that are not accounts.
#[derive(Debug)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    /// Keys the counters of names that are not accounts; never leaves this process.
    unknown_name_key: String,
}

/// The key of an account's counters, by which an unlock finds them all.
pub(crate) fn account_throttle_key(user_id: &str) -> String {
    sha256_hex(&format!("account:{user_id}"))
}

impl LoginThrottle {
    pub fn new(policy: ThrottlePolicy) -> LoginThrottle {
        LoginThrottle { policy, unknown_name_key: random_hex(32) }
    }

    pub fn policy(&self) -> ThrottlePolicy {
        self.policy
    }

    fn unknown_name_hmac(&self, text: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.unknown_name_key.as_bytes()).expect("HMAC takes a key of any length");
        mac.update(text.as_bytes());
        mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// The counters of an attempt, with their windows: the account at the address, the address, and
    /// the account everywhere.
    fn counters(&self, claimed: Claimed<'_>, address: &str, now: Timestamp) -> [(ThrottleCounter, SignedDuration); 3] {
        let (account_key, pair_key) = match claimed {
            Claimed::Account(user_id) => {
                (account_throttle_key(user_id), sha256_hex(&format!("account:{user_id}|address:{address}")))
            }
            Claimed::UnknownName(name) => (
                self.unknown_name_hmac(&format!("name:{name}")),
                self.unknown_name_hmac(&format!("name:{name}|address:{address}")),
            ),
        };
        let policy = self.policy;
        let counter = |throttle_key: String, account_key: Option<&String>, limit: u32, window: SignedDuration| {
            let counter = ThrottleCounter {
                throttle_key,
                account_key: account_key.cloned(),
                limit: i64::from(limit),
                window_start: now - window,
            };
            (counter, window)
        };
        [
            counter(pair_key, Some(&account_key), policy.failures_per_account_and_address, policy.window),
            counter(sha256_hex(&format!("address:{address}")), None, policy.failures_per_address, policy.window),
            counter(account_key.clone(), Some(&account_key), policy.failures_per_account, policy.account_window),
        ]
    }

    /// Counts an attempt before its password is verified, or refuses it ([`AppError::Throttled`]) when
    /// a counter is at its limit; in one step, so parallel attempts are counted one by one.
    pub(crate) async fn reserve(
        &self,
        store: &Store,
        claimed: Claimed<'_>,
        address: &str,
        now: Timestamp,
    ) -> Result<ReservedAttempt, AppError> {
        let counters = self.counters(claimed, address, now);
        let windows = counters.each_ref().map(|(_, window)| *window);
        let counters = counters.map(|(counter, _)| counter);
        let longest_window = self.policy.window.max(self.policy.account_window);
        match store.reserve_login_attempt(&counters, now, now - longest_window).await? {
            AttemptReservation::Reserved => {
                let [pair, address, account] = counters;
                Ok(ReservedAttempt {
                    pair_key: pair.throttle_key,
                    other_keys: vec![address.throttle_key, account.throttle_key],
                })
            }
            AttemptReservation::Refused { counter_index, last_attempt_at } => {
                let last: Timestamp = last_attempt_at.parse().map_err(|_| {
                    AppError::Storage(ketacare_store::StoreError::Corrupt(format!(
                        "unreadable time {last_attempt_at:?}"
                    )))
                })?;
                let until = last + windows[counter_index];
                let retry_after_seconds = u64::try_from((until - now).as_secs()).unwrap_or(1).max(1);
                Err(AppError::Throttled { retry_after_seconds })
            }
        }
    }

    /// The attempt's password was right: it is not a failure, and the account's counter at this
    /// address starts again.
    pub(crate) async fn succeeded(&self, store: &Store, attempt: ReservedAttempt) -> Result<(), AppError> {
        Ok(store.release_login_attempt(&attempt.other_keys, &[attempt.pair_key]).await?)
    }

    /// The attempt's password was never checked (the server was too busy): take it back whole.
    pub(crate) async fn not_checked(&self, store: &Store, attempt: ReservedAttempt) -> Result<(), AppError> {
        let mut keys = attempt.other_keys;
        keys.push(attempt.pair_key);
        Ok(store.release_login_attempt(&keys, &[]).await?)
    }
}
