//! Failed-login counters for login throttling, kept in the database so that they survive a restart and
//! are shared by every server process on it. Keys are hashed by the caller; the policy (limits, window)
//! is the caller's too: the store only counts failures within a window and forgets them on request.

use crate::rows::RowExt;
use crate::{Store, StoreError, format_time, on_pool};

/// The failures counted for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginFailures {
    pub failures: i64,
    /// Stored time text (RFC 3339 UTC).
    pub last_failure_at: String,
}

impl Store {
    /// The failures counted for `throttle_key_sha256`, if any.
    pub async fn login_failures(&self, throttle_key_sha256: &str) -> Result<Option<LoginFailures>, StoreError> {
        let sql = "SELECT failures, last_failure_at FROM login_failures WHERE throttle_key_sha256 = $1";
        on_pool!(self, pool => {
            let row = sqlx::query(sql).bind(throttle_key_sha256).fetch_optional(pool).await?;
            Ok(row
                .map(|row| Ok::<_, sqlx::Error>(LoginFailures { failures: row.int("failures")?, last_failure_at: row.text("last_failure_at")? }))
                .transpose()?)
        })
    }

    /// Counts one failure at `at` for the key: one more if the last one was at or after `window_start`,
    /// else the count starts again at one. One statement, so concurrent failures are all counted.
    pub async fn record_login_failure(
        &self,
        throttle_key_sha256: &str,
        at: jiff::Timestamp,
        window_start: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO login_failures (throttle_key_sha256, failures, last_failure_at) VALUES ($1, 1, $2) \
                   ON CONFLICT (throttle_key_sha256) DO UPDATE SET \
                   failures = CASE WHEN login_failures.last_failure_at < $3 THEN 1 ELSE login_failures.failures + 1 END, \
                   last_failure_at = $2";
        on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(throttle_key_sha256)
                .bind(format_time(at))
                .bind(format_time(window_start))
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Forgets the failures of a key (after a successful login).
    pub async fn forget_login_failures(&self, throttle_key_sha256: &str) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM login_failures WHERE throttle_key_sha256 = $1")
                .bind(throttle_key_sha256)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
