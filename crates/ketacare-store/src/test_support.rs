//! A harness for tests that need a real database: [`each_backend`] runs a test against a fresh SQLite
//! file always, and against a fresh schema of the PostgreSQL database when `KETACARE_TEST_DATABASE_URL` is set; each
//! is removed afterwards, also when the test fails. After every test that passes, `audit verify` must find
//! the database intact (the chain, every covered row against its row version, the shipped triggers), so
//! each test of every suite also checks that its write paths carry the versions of the rows they wrote;
//! a test that tampers on purpose says so with [`TestDatabase::expect_tampering`]. Also raw SQL, for
//! tests that tamper with the database.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sqlx::Connection as _;

use crate::{Backend, Pool, Store};

/// The environment variable naming a PostgreSQL server (any database on it) for the test suites.
pub const TEST_DATABASE_URL_VARIABLE: &str = "KETACARE_TEST_DATABASE_URL";

/// A fresh, migrated database for one test.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    pub store: Store,
    /// Where it is, to open it again.
    pub url: String,
    tampering_expected: Arc<AtomicBool>,
}

impl TestDatabase {
    /// Says the test tampers with the database on purpose, so that the harness does not require `audit
    /// verify` to find it intact afterwards.
    pub fn expect_tampering(&self) {
        self.tampering_expected.store(true, Ordering::Relaxed);
    }
}

/// Panics naming what `audit verify` found, unless the test said it tampers.
async fn require_intact(store: &Store, tampering_expected: &AtomicBool, backend: &str) {
    if tampering_expected.load(Ordering::Relaxed) {
        return;
    }
    let report = match store.verify_audit_chain().await {
        Ok(report) => report,
        // The test closed the store itself.
        Err(crate::StoreError::Database(sqlx::Error::PoolClosed)) => return,
        Err(error) => panic!("verify the audit chain after the test on {backend}: {error}"),
    };
    assert!(
        report.intact(),
        "after the test on {backend}, audit verify does not find the database intact (a write path that does \
         not touch! the rows it writes, or a test that tampers without expect_tampering): {report:#?}"
    );
}

fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("ketacare_test_{}_{}_{}", std::process::id(), nanos, COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// The URL of the server of `server_url` with schema `name` first on the search path.
fn with_schema(server_url: &str, name: &str) -> String {
    let separator = if server_url.contains('?') { '&' } else { '?' };
    format!("{server_url}{separator}options[search_path]={name}")
}

/// Runs `test` once per available backend, each time on a fresh database, and cleans up.
pub async fn each_backend<F, Fut>(test: F)
where
    F: Fn(TestDatabase) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let name = unique_name();
    let path = std::env::temp_dir().join(format!("{name}.db"));
    let url = format!("sqlite://{}", path.display());
    let store = Store::open(&url).await.expect("open a fresh SQLite database");
    let tampering_expected = Arc::new(AtomicBool::new(false));
    let database = TestDatabase { store: store.clone(), url, tampering_expected: Arc::clone(&tampering_expected) };
    let outcome = match tokio::spawn(test(database)).await {
        Ok(()) => {
            let store = store.clone();
            tokio::spawn(async move { require_intact(&store, &tampering_expected, "SQLite").await }).await
        }
        Err(error) => Err(error),
    };
    store.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }

    let Ok(server_url) = std::env::var(TEST_DATABASE_URL_VARIABLE) else { return };
    let mut admin = sqlx::PgConnection::connect(&server_url).await.expect("connect to KETACARE_TEST_DATABASE_URL");
    // A schema per test is far cheaper than a database (no checkpoint) and as isolated for our tables.
    sqlx::raw_sql(&format!("CREATE SCHEMA {name}")).execute(&mut admin).await.expect("create a test schema");
    let url = with_schema(&server_url, &name);
    let outcome = match Store::open(&url).await {
        Ok(store) => {
            let tampering_expected = Arc::new(AtomicBool::new(false));
            let database =
                TestDatabase { store: store.clone(), url, tampering_expected: Arc::clone(&tampering_expected) };
            let outcome = tokio::spawn(test(database)).await;
            let outcome = match outcome {
                Ok(()) => {
                    let check = {
                        let store = store.clone();
                        let tampering_expected = Arc::clone(&tampering_expected);
                        tokio::spawn(async move { require_intact(&store, &tampering_expected, "PostgreSQL").await })
                    };
                    check.await
                }
                Err(error) => Err(error),
            };
            store.close().await;
            outcome.map_err(|error| error.into_panic())
        }
        Err(error) => {
            Err(Box::new(format!("open the PostgreSQL test schema: {error}")) as Box<dyn std::any::Any + Send>)
        }
    };
    sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
        .execute(&mut admin)
        .await
        .expect("drop the test schema");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Panics; a function returning `()` (not `!`), so the code after its call is not unreachable to the compiler.
fn deliberate_panic() {
    panic!("a deliberate panic inside a writer job");
}

impl Store {
    /// A writer job that appends `event` to the audit chain and then panics, as a bug in a job would:
    /// for the test that the writer survives it and rolls the job back alone.
    pub async fn append_audit_then_panic(&self, event: &crate::AuditEvent) -> Result<(), crate::StoreError> {
        crate::write_tx!(self, [event], tx => {
            crate::audit::append_audit!(tx, &event);
            deliberate_panic();
        });
        Ok(())
    }

    /// Runs SQL as it is, bypassing the repository: for tests that tamper with the database.
    pub async fn execute_raw(&self, sql: &str) -> Result<(), sqlx::Error> {
        match &self.pool {
            Pool::Sqlite(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
            Pool::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
        }
    }

    /// The first column of every row `sql` answers, as text.
    pub async fn query_texts(&self, sql: &str) -> Result<Vec<String>, sqlx::Error> {
        let rows: Vec<(String,)> = match &self.pool {
            Pool::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await?,
            Pool::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await?,
        };
        Ok(rows.into_iter().map(|(text,)| text).collect())
    }

    /// Drops the triggers that keep the audit log append-only, as an attacker with database access would.
    pub async fn drop_audit_triggers(&self) -> Result<(), sqlx::Error> {
        match self.backend() {
            Backend::Sqlite => {
                self.execute_raw("DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete").await
            }
            Backend::Postgres => self.execute_raw("DROP TRIGGER audit_events_append_only ON audit_events").await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_schema;

    #[test]
    fn test_schemas_go_first_on_the_search_path() {
        let check = |server: &str, expected: &str| assert_eq!(with_schema(server, "t1"), expected, "{server}");
        check(
            "postgres://postgres@127.0.0.1:5432/test",
            "postgres://postgres@127.0.0.1:5432/test?options[search_path]=t1",
        );
        check("postgres://u:p@h/test?sslmode=disable", "postgres://u:p@h/test?sslmode=disable&options[search_path]=t1");
    }
}
