//! Login-attempt counters for login throttling, kept in the database so that they survive a restart and
//! are shared by every server process on it. Keys are hashed by the caller, and the policy (limits,
//! windows) is the caller's too: the store reserves an attempt against several counters in one serialised
//! transaction (so that parallel attempts cannot all slip under a limit), releases a reservation whose
//! attempt succeeded, and forgets the counters of an account on an admin's unlock.

use crate::audit::{AuditEvent, append_audit};
use crate::rows::RowExt;
use crate::{Store, StoreError, format_time, on_pool, write_tx};

/// One counter an attempt is checked against and counted in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleCounter {
    /// The counter's key, hashed by the caller (never a name as typed).
    pub throttle_key: String,
    /// The key of the account the counter belongs to, so that unlocking the account finds it; `None`
    /// for a counter of an address alone.
    pub account_key: Option<String>,
    /// Attempts counted within the window that refuse the next one.
    pub limit: i64,
    /// Attempts before this are forgotten: the counter starts again at the next one.
    pub window_start: jiff::Timestamp,
}

/// The outcome of [`Store::reserve_login_attempt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptReservation {
    /// The attempt is counted in every counter: verify the password now, then release the reservation
    /// if it succeeded.
    Reserved,
    /// A counter is at its limit; nothing was counted.
    Refused {
        /// Which of the counters passed in refused.
        counter_index: usize,
        /// Its last counted attempt (stored time text), from which its lockout runs.
        last_attempt_at: String,
    },
}

/// The attempts counted for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginFailures {
    pub attempts: i64,
    /// Stored time text (RFC 3339 UTC).
    pub last_attempt_at: String,
}

impl Store {
    /// Checks every counter against its limit and, only if none refuses, counts the attempt in each, at
    /// `at`; in one job of the serialised writer, so the decision and the count are one step even across
    /// server processes. Counters whose last attempt is before `forget_before` are deleted on the way.
    pub async fn reserve_login_attempt(
        &self,
        counters: &[ThrottleCounter],
        at: jiff::Timestamp,
        forget_before: jiff::Timestamp,
    ) -> Result<AttemptReservation, StoreError> {
        let at = format_time(at);
        let forget_before = format_time(forget_before);
        let reservation = write_tx!(self, [counters, at, forget_before], tx => {
            sqlx::query("DELETE FROM login_failures WHERE last_attempt_at < $1")
                .bind(&forget_before)
                .execute(&mut *tx.conn)
                .await?;
            for (counter_index, counter) in counters.iter().enumerate() {
                let row = sqlx::query("SELECT attempts, last_attempt_at FROM login_failures WHERE throttle_key = $1")
                    .bind(&counter.throttle_key)
                    .fetch_optional(&mut *tx.conn)
                    .await?;
                if let Some(row) = row {
                    let attempts = row.int("attempts")?;
                    let last_attempt_at = row.text("last_attempt_at")?;
                    if last_attempt_at >= format_time(counter.window_start) && attempts >= counter.limit {
                        return Ok(AttemptReservation::Refused { counter_index, last_attempt_at });
                    }
                }
            }
            for counter in &counters {
                sqlx::query(
                    "INSERT INTO login_failures (throttle_key, account_key, attempts, last_attempt_at) VALUES ($1, $2, 1, $3) \
                     ON CONFLICT (throttle_key) DO UPDATE SET \
                     attempts = CASE WHEN login_failures.last_attempt_at < $4 THEN 1 ELSE login_failures.attempts + 1 END, \
                     last_attempt_at = $3",
                )
                .bind(&counter.throttle_key)
                .bind(&counter.account_key)
                .bind(&at)
                .bind(format_time(counter.window_start))
                .execute(&mut *tx.conn)
                .await?;
            }
            AttemptReservation::Reserved
        });
        Ok(reservation)
    }

    /// Takes back an attempt reserved by [`Store::reserve_login_attempt`] that did not fail (it
    /// succeeded, or was never verified): one attempt less in each of `release_keys`, and the counters
    /// of `forget_keys` deleted (a success clears its account's counter at its address).
    pub async fn release_login_attempt(
        &self,
        release_keys: &[String],
        forget_keys: &[String],
    ) -> Result<(), StoreError> {
        write_tx!(self, [release_keys, forget_keys], tx => {
            for key in &release_keys {
                sqlx::query("UPDATE login_failures SET attempts = attempts - 1 WHERE throttle_key = $1 AND attempts > 0")
                    .bind(key)
                    .execute(&mut *tx.conn)
                    .await?;
            }
            for key in &forget_keys {
                sqlx::query("DELETE FROM login_failures WHERE throttle_key = $1").bind(key).execute(&mut *tx.conn).await?;
            }
        });
        Ok(())
    }

    /// Forgets every counter of the account with `account_key` (its own and those at each address), with
    /// the audit event of the unlock, in one transaction; returns how many counters there were.
    pub async fn unlock_account(&self, account_key: &str, audit: &AuditEvent) -> Result<u64, StoreError> {
        let forgotten = write_tx!(self, [account_key, audit], tx => {
            let result = sqlx::query("DELETE FROM login_failures WHERE throttle_key = $1 OR account_key = $1")
                .bind(&account_key)
                .execute(&mut *tx.conn)
                .await?;
            append_audit!(tx, &audit);
            result.rows_affected()
        });
        Ok(forgotten)
    }

    /// The attempts counted for `throttle_key`, if any.
    pub async fn login_failures(&self, throttle_key: &str) -> Result<Option<LoginFailures>, StoreError> {
        let sql = "SELECT attempts, last_attempt_at FROM login_failures WHERE throttle_key = $1";
        on_pool!(self, pool => {
            let row = sqlx::query(sql).bind(throttle_key).fetch_optional(pool).await?;
            Ok(row
                .map(|row| Ok::<_, sqlx::Error>(LoginFailures { attempts: row.int("attempts")?, last_attempt_at: row.text("last_attempt_at")? }))
                .transpose()?)
        })
    }

    /// Every counter's key and account key, for tests that check what the table holds (never a name typed).
    pub async fn login_failure_keys(&self) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let sql = "SELECT throttle_key, account_key FROM login_failures ORDER BY throttle_key";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql).fetch_all(pool).await?;
            rows.iter().map(|row| Ok((row.text("throttle_key")?, row.opt_text("account_key")?))).collect()
        })
    }
}
