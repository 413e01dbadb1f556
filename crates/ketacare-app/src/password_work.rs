//! Argon2id work (hashing and verifying passwords) off the async worker threads: each runs on tokio's
//! blocking pool, at most [`PasswordWorkLimits::concurrent`] at once (one per core by default), so that a
//! flood of logins, which anyone can send, cannot stall the requests of staff already signed in. A
//! password check that cannot start within [`PasswordWorkLimits::queue_wait`] is refused as
//! [`AppError::Busy`] (503 with Retry-After).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use tokio::sync::Semaphore;

use crate::AppError;

/// How much Argon2id work runs at once, and how long a password check may wait for its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordWorkLimits {
    /// Hashes or verifications running at once. Each takes one core for tens of milliseconds and
    /// 19 MiB of memory.
    pub concurrent: usize,
    /// A check waiting longer than this for its turn is refused with [`AppError::Busy`].
    pub queue_wait: Duration,
}

impl Default for PasswordWorkLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        PasswordWorkLimits { concurrent: cores, queue_wait: Duration::from_secs(2) }
    }
}

/// What the password work is doing, for tests and monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordWorkStats {
    /// [`PasswordWorkLimits::concurrent`].
    pub limit: usize,
    /// Hashes or verifications holding a turn now.
    pub running: usize,
    /// Password verifications run since start (the dummy ones for unknown or inactive accounts included).
    pub verifications_run: u64,
}

#[derive(Debug)]
pub(crate) struct PasswordWork {
    limits: PasswordWorkLimits,
    turns: Arc<Semaphore>,
    verifications_run: Arc<AtomicU64>,
}

impl PasswordWork {
    pub(crate) fn new(limits: PasswordWorkLimits) -> PasswordWork {
        let limits = PasswordWorkLimits { concurrent: limits.concurrent.max(1), ..limits };
        PasswordWork { limits, turns: Arc::new(Semaphore::new(limits.concurrent)), verifications_run: Arc::default() }
    }

    pub(crate) fn stats(&self) -> PasswordWorkStats {
        PasswordWorkStats {
            limit: self.limits.concurrent,
            running: self.limits.concurrent - self.turns.available_permits(),
            verifications_run: self.verifications_run.load(Ordering::Relaxed),
        }
    }

    /// Runs `work` on the blocking pool once a turn is free. The turn is held until the work ends, even
    /// when the caller stops waiting (a request past its deadline), so the bound always holds.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, AppError> {
        let turn = tokio::time::timeout(self.limits.queue_wait, Arc::clone(&self.turns).acquire_owned()).await;
        let Ok(Ok(turn)) = turn else {
            let retry_after_seconds = self.limits.queue_wait.as_secs().max(1);
            return Err(AppError::Busy { retry_after_seconds });
        };
        let outcome = tokio::task::spawn_blocking(move || {
            let value = work();
            drop(turn);
            value
        })
        .await;
        match outcome {
            Ok(value) => Ok(value),
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            // The runtime is shutting down.
            Err(_) => Err(AppError::Busy { retry_after_seconds: 1 }),
        }
    }

    /// An Argon2id PHC string of `password` (OWASP parameters: the argon2 crate's defaults).
    pub(crate) async fn hash(&self, password: &str) -> Result<String, AppError> {
        let password = password.to_owned();
        self.run(move || hash_password(&password)).await?
    }

    /// Whether `password` matches `phc`; with `None` (no such account) a dummy hash is verified instead,
    /// so that the answer takes as long either way.
    pub(crate) async fn verify(&self, password: &str, phc: Option<String>) -> Result<bool, AppError> {
        let password = password.to_owned();
        let verifications_run = Arc::clone(&self.verifications_run);
        self.run(move || {
            verifications_run.fetch_add(1, Ordering::Relaxed);
            match phc {
                Some(phc) => password_matches(&password, &phc),
                None => {
                    password_matches(&password, dummy_hash());
                    false
                }
            }
        })
        .await
    }
}

fn hash_password(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| AppError::invalid("password", error))
}

fn password_matches(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

/// A hash to verify against when there is no account's hash to verify, so both cases take as long.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("ketacare dummy password").unwrap_or_default())
}
