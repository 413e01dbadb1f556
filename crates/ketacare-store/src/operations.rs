//! Operations on the database as a whole: an online, consistent backup of a SQLite store (`VACUUM INTO`),
//! and the checks a backup file must pass before anyone relies on it (SQLite's integrity check and the
//! audit chain). PostgreSQL is backed up with its own tools (`pg_dump`), documented in docs/operations.md.
//!
//! Why `VACUUM INTO` rather than the SQLite online backup API: sqlx does not expose the backup API, and
//! reaching it through `libsqlite3-sys` would need `unsafe`, which the workspace forbids. `VACUUM INTO`
//! runs as one read transaction, so the copy is a consistent snapshot of the last commit before it began,
//! while the writer keeps committing (WAL readers do not block writers); it also writes a compact file
//! with no `-wal` beside it, which is what a backup should be.

use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::Arc;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::{AuditChainReport, AuditKey, Pool, Store, StoreError, Writer, writer};

/// A backup (or any SQLite file) as checked by [`check_sqlite_file`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteFileCheck {
    /// `ok`, or the first problem `PRAGMA integrity_check` reported.
    pub integrity: String,
    pub audit: AuditChainReport,
}

impl SqliteFileCheck {
    /// The file is sound and its audit chain holds.
    pub fn passed(&self) -> bool {
        self.integrity == "ok" && self.audit.intact()
    }
}

/// The file of a `sqlite://FILE` (or `sqlite:FILE`) URL, without its query; `None` for other URLs.
pub fn sqlite_path_of_url(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

impl Store {
    /// Writes a consistent copy of this SQLite store to `output`, which must not exist yet, while other
    /// connections keep writing. Refused on PostgreSQL.
    pub async fn backup_sqlite_into(&self, output: &Path) -> Result<(), StoreError> {
        let Pool::Sqlite(pool) = &self.pool else {
            return Err(StoreError::Unsupported("online backup is for SQLite; back up PostgreSQL with pg_dump"));
        };
        let target = output.to_str().ok_or_else(|| StoreError::Corrupt("the backup path is not UTF-8".to_owned()))?;
        sqlx::query("VACUUM INTO $1").bind(target).execute(pool).await?;
        Ok(())
    }

    /// Runs `PRAGMA integrity_check` (SQLite) and returns its first line, `ok` when sound. PostgreSQL has
    /// no equivalent; it answers `ok`.
    pub async fn integrity_check(&self) -> Result<String, StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => {
                let first: Option<(String,)> = sqlx::query_as("PRAGMA integrity_check").fetch_optional(pool).await?;
                Ok(first.map_or_else(|| "no answer".to_owned(), |(line,)| line))
            }
            Pool::Postgres(_) => Ok("ok".to_owned()),
        }
    }
}

/// Opens the SQLite file at `path` read-only (nothing is created or migrated) and checks it: the integrity
/// check, then the audit chain. A file that is not a database is an error.
pub async fn check_sqlite_file(path: &Path, audit_key: Option<AuditKey>) -> Result<SqliteFileCheck, StoreError> {
    if !path.is_file() {
        return Err(StoreError::NotFound { resource: "file", id: path.display().to_string() });
    }
    let options = SqliteConnectOptions::from_str("sqlite://")?.filename(path).read_only(true);
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
    let counters = Arc::new(writer::Counters::default());
    let store = Store {
        writer: Writer::Sqlite(writer::spawn_sqlite(pool.clone(), Arc::clone(&counters), audit_key.clone())),
        pool: Pool::Sqlite(pool),
        counters,
        audit_key,
    };
    let result = async {
        let integrity = store.integrity_check().await?;
        let audit = store.verify_audit_chain().await?;
        Ok(SqliteFileCheck { integrity, audit })
    }
    .await;
    store.close().await;
    result
}

#[cfg(test)]
mod tests {
    use super::sqlite_path_of_url;

    #[test]
    fn sqlite_urls_name_their_file() {
        let check = |url: &str, expected: Option<&str>| {
            assert_eq!(sqlite_path_of_url(url), expected.map(std::path::PathBuf::from), "{url}");
        };
        check("sqlite://ketacare.db", Some("ketacare.db"));
        check("sqlite:///var/lib/ketacare/k.db?mode=rwc", Some("/var/lib/ketacare/k.db"));
        check("sqlite:k.db", Some("k.db"));
        check("sqlite::memory:", None);
        check("postgres://u@h/db", None);
    }
}
