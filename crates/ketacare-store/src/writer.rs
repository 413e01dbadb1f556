//! Group commit. Every audited write is a job for the one writer task of its [`Store`](crate::Store):
//! the writer takes whatever jobs are queued when it is free (up to [`MAX_BATCH_JOBS`]), runs them in one
//! serialised transaction, commits once, and only then answers every job of the batch. A batch first
//! runs without savepoints (a round trip per job fewer); if a job fails, that transaction is rolled back
//! and the batch runs again with each job inside its own SAVEPOINT, so a failing job rolls back alone
//! and gets its own error (jobs are `Fn` so they can run twice; only the committed run counts). So one sync makes a whole
//! batch durable, and nothing is acknowledged before it is. The jobs append to the audit chain in
//! queue order inside the transaction, so the chain stays contiguous. A job that panics fails alone,
//! like a job that returns an error: its savepoint is rolled back, its caller gets an error, and the
//! writer goes on serving.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use sqlx::postgres::{PgConnection, PgPool, Postgres};
use sqlx::sqlite::{Sqlite, SqliteConnection, SqlitePool};
use sqlx::{Executor as _, Transaction};
use tokio::sync::{mpsc, oneshot};

use crate::StoreError;
use crate::audit::AuditKey;

/// The most jobs one transaction takes.
pub(crate) const MAX_BATCH_JOBS: usize = 256;

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

type Output = Result<Box<dyn Any + Send>, StoreError>;
/// A job's work: `Fn`, not `FnOnce`, because a batch in which a job fails is run again with savepoints.
type Work<C> = Box<dyn for<'c> Fn(JobTx<'c, C>) -> BoxFuture<'c, Output> + Send>;

/// What a job works with: the batch's connection, inside the job's savepoint, and the batch's audit
/// rows (the chain is read once per batch, and its new rows are written once, before the commit).
pub(crate) struct JobTx<'c, C> {
    pub(crate) conn: &'c mut C,
    pub(crate) audit: &'c mut crate::audit::PendingAudit,
}
type Reply = Box<dyn FnOnce(Output) + Send>;

/// The work of one request's transaction, and where its answer goes.
pub(crate) struct Job<C> {
    work: Work<C>,
    reply: Reply,
}

/// How many transactions the writer committed, and how many jobs they carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteStats {
    /// Batches committed.
    pub transactions: u64,
    /// Jobs answered after a commit, successful or not.
    pub jobs: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    transactions: AtomicU64,
    jobs: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> WriteStats {
        WriteStats { transactions: self.transactions.load(Ordering::Relaxed), jobs: self.jobs.load(Ordering::Relaxed) }
    }
}

/// The queue to the writer task of one backend's connection type.
#[derive(Debug)]
pub(crate) struct Queue<C> {
    sender: mpsc::UnboundedSender<Job<C>>,
}

impl<C> Clone for Queue<C> {
    fn clone(&self) -> Self {
        Queue { sender: self.sender.clone() }
    }
}

fn writer_gone() -> StoreError {
    StoreError::Database(sqlx::Error::WorkerCrashed)
}

/// The error every job of a batch gets when the batch's transaction fails as a whole.
fn batch_failed(error: &StoreError) -> StoreError {
    StoreError::Database(sqlx::Error::Io(std::io::Error::other(format!("the write transaction failed: {error}"))))
}

impl<C: Send + 'static> Queue<C> {
    /// Queues `work` and waits until its batch is committed (or has failed).
    pub(crate) async fn submit<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> Fn(JobTx<'c, C>) -> BoxFuture<'c, Result<T, StoreError>> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel::<Result<T, StoreError>>();
        let work: Work<C> = erase(work);
        let reply: Reply = Box::new(move |output: Output| {
            let typed = output.map(|value| *value.downcast::<T>().expect("a job's output has the job's type"));
            // The requester may have gone away (client disconnected); the write stands regardless.
            let _ = answer.send(typed);
        });
        self.sender.send(Job { work, reply }).map_err(|_| writer_gone())?;
        answered.await.map_err(|_| writer_gone())?
    }
}

fn erase<C, T, F>(work: F) -> Work<C>
where
    C: Send + 'static,
    T: Send + 'static,
    F: for<'c> Fn(JobTx<'c, C>) -> BoxFuture<'c, Result<T, StoreError>> + Send + 'static,
{
    Box::new(move |tx: JobTx<'_, C>| -> BoxFuture<'_, Output> {
        let future = work(tx);
        Box::pin(async move { future.await.map(|value| Box::new(value) as Box<dyn Any + Send>) })
    })
}

/// The error a job gets when it panicked.
fn job_panicked(panic: &(dyn Any + Send)) -> StoreError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned());
    StoreError::Database(sqlx::Error::Io(std::io::Error::other(format!("the write job panicked: {message}"))))
}

/// A future that turns a panic while it is polled into [`Err`] with the panic's payload, so one
/// job's bug cannot take the writer task, and with it every later write, down.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        // Unwind safety: after a panic the job's future is dropped unpolled, and the state it shares
        // with the writer (the connection, the audit head) is reset by rolling back its savepoint.
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(context))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// Runs one job's work, catching a panic in building or polling its future.
async fn run_job<C>(work: &mut Work<C>, tx: JobTx<'_, C>) -> Output {
    CatchUnwind(Box::pin(async move { work(tx).await })).await.unwrap_or_else(|panic| Err(job_panicked(&*panic)))
}

/// The next batch: waits for one job, then takes whatever else is queued, up to the cap.
async fn next_batch<C>(receiver: &mut mpsc::UnboundedReceiver<Job<C>>) -> Option<Vec<Job<C>>> {
    let first = receiver.recv().await?;
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH_JOBS {
        match receiver.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// Answers every job of a batch: after its commit, each with its own outcome; after a failed batch,
/// each with the batch's error (nothing of it was committed).
fn answer_all<C>(batch: Vec<Job<C>>, result: Result<Vec<Output>, StoreError>, counters: &Counters) {
    match result {
        Ok(outputs) => {
            counters.transactions.fetch_add(1, Ordering::Relaxed);
            counters.jobs.fetch_add(outputs.len() as u64, Ordering::Relaxed);
            for (job, output) in batch.into_iter().zip(outputs) {
                (job.reply)(output);
            }
        }
        Err(error) => {
            for job in batch {
                (job.reply)(Err(batch_failed(&error)));
            }
        }
    }
}

/// Opens a batch's transaction on SQLite: `BEGIN IMMEDIATE` takes the write lock at once.
async fn begin_sqlite(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// Opens a batch's transaction on PostgreSQL, serialised with every other writer by the advisory lock.
async fn begin_postgres(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(crate::WRITE_LOCK_KEY).execute(&mut *tx).await?;
    Ok(tx)
}

/// The writer loop and the running of one batch, once per backend.
macro_rules! writer_loop {
    ($name:ident, $fast:ident, $safe:ident, $pool_type:ty, $db:ty, $connection:ty, $begin:ident, $insert_audit_rows:expr) => {
        /// Runs every job of the batch in one transaction with no savepoints (one round trip per job
        /// fewer), and commits: `Ok(Some(outputs))`. If a job fails, the transaction is rolled back and
        /// nothing is answered yet: `Ok(None)`, and the batch is run again by the savepoint path. An error
        /// here is the whole batch's.
        async fn $fast(
            pool: &$pool_type,
            jobs: &mut [Job<$connection>],
            key: &Option<AuditKey>,
        ) -> Result<Option<Vec<Output>>, StoreError> {
            let mut tx: Transaction<'static, $db> = $begin(pool).await?;
            let connection: &mut $connection = &mut tx;
            // The chain's head, read under the write lock: no other writer moves it until the commit.
            let head: Option<(i64, String)> =
                sqlx::query_as(crate::audit::AUDIT_HEAD_SQL).fetch_optional(&mut *connection).await?;
            let mut audit = crate::audit::PendingAudit::after(head, key.clone());
            let mut outputs = Vec::with_capacity(jobs.len());
            for job in jobs.iter_mut() {
                let output = run_job(&mut job.work, JobTx { conn: &mut *connection, audit: &mut audit }).await;
                let output = audit.finish_job(output);
                if output.is_err() {
                    break;
                }
                outputs.push(output);
            }
            if outputs.len() < jobs.len() {
                tx.rollback().await?;
                return Ok(None);
            }
            if let Some(rows_json) = audit.rows_json() {
                sqlx::query($insert_audit_rows).bind(rows_json).execute(&mut *connection).await?;
            }
            tx.commit().await?;
            Ok(Some(outputs))
        }

        /// Runs the jobs of the batch in one transaction, each in its own savepoint, so that a failing
        /// job is rolled back alone and gets its own error; commits, and returns every job's outcome. An
        /// error here is the whole batch's.
        async fn $safe(
            pool: &$pool_type,
            jobs: &mut [Job<$connection>],
            key: &Option<AuditKey>,
        ) -> Result<Vec<Output>, StoreError> {
            let mut tx: Transaction<'static, $db> = $begin(pool).await?;
            let connection: &mut $connection = &mut tx;
            let head: Option<(i64, String)> =
                sqlx::query_as(crate::audit::AUDIT_HEAD_SQL).fetch_optional(&mut *connection).await?;
            let mut audit = crate::audit::PendingAudit::after(head, key.clone());
            let mut outputs = Vec::with_capacity(jobs.len());
            // One round trip per job boundary: the end of one job's savepoint and the start of the
            // next go together; the last job's savepoint ends with the commit.
            (&mut *connection).execute("SAVEPOINT job").await?;
            let job_count = jobs.len();
            for (index, job) in jobs.iter_mut().enumerate() {
                let audit_before = audit.mark();
                let output = run_job(&mut job.work, JobTx { conn: &mut *connection, audit: &mut audit }).await;
                let output = audit.finish_job(output);
                let failed = output.is_err();
                if failed {
                    // The job's audit rows go with its savepoint.
                    audit.undo_to(audit_before);
                }
                outputs.push(output);
                let boundary = match (failed, index + 1 < job_count) {
                    (false, false) => None,
                    (false, true) => Some("RELEASE SAVEPOINT job; SAVEPOINT job"),
                    (true, false) => Some("ROLLBACK TO SAVEPOINT job"),
                    (true, true) => Some("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job; SAVEPOINT job"),
                };
                if let Some(sql) = boundary {
                    // A query text without arguments: several statements in one round trip on both backends.
                    (&mut *connection).execute(sql).await?;
                }
            }
            if let Some(rows_json) = audit.rows_json() {
                sqlx::query($insert_audit_rows).bind(rows_json).execute(&mut *connection).await?;
            }
            tx.commit().await?;
            Ok(outputs)
        }

        async fn $name(
            pool: $pool_type,
            mut receiver: mpsc::UnboundedReceiver<Job<$connection>>,
            counters: Arc<Counters>,
            key: Option<AuditKey>,
        ) {
            while let Some(mut batch) = next_batch(&mut receiver).await {
                let result = match $fast(&pool, &mut batch, &key).await {
                    Ok(Some(outputs)) => Ok(outputs),
                    Ok(None) => $safe(&pool, &mut batch, &key).await,
                    Err(error) => Err(error),
                };
                answer_all(batch, result, &counters);
            }
        }
    };
}

writer_loop!(
    run_sqlite,
    batch_sqlite_fast,
    batch_sqlite,
    SqlitePool,
    Sqlite,
    SqliteConnection,
    begin_sqlite,
    crate::audit::INSERT_AUDIT_ROWS_SQLITE
);
writer_loop!(
    run_postgres,
    batch_postgres_fast,
    batch_postgres,
    PgPool,
    Postgres,
    PgConnection,
    begin_postgres,
    crate::audit::INSERT_AUDIT_ROWS_POSTGRES
);

/// Starts the writer task of a SQLite store.
pub(crate) fn spawn_sqlite(
    pool: SqlitePool,
    counters: Arc<Counters>,
    key: Option<AuditKey>,
) -> Queue<SqliteConnection> {
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(run_sqlite(pool, receiver, counters, key));
    Queue { sender }
}

/// Starts the writer task of a PostgreSQL store.
pub(crate) fn spawn_postgres(pool: PgPool, counters: Arc<Counters>, key: Option<AuditKey>) -> Queue<PgConnection> {
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(run_postgres(pool, receiver, counters, key));
    Queue { sender }
}
