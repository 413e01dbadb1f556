//! The schema migrations of each backend, embedded in the binary and applied in order on open and by
//! `ketacare migrate`. A released migration is never edited: its SHA-256 is recorded when applied and
//! checked on every open.

use sha2::{Digest as _, Sha256};

use crate::audit::{AUDIT_HEAD_SQL, AuditEvent, INSERT_AUDIT_ROWS_POSTGRES, INSERT_AUDIT_ROWS_SQLITE, PendingAudit};
use crate::row_versions::{COVERED_TABLES, RowVersionSource as _, TABLES_CREATED_AFTER_ROW_VERSIONS};
use crate::{OpenStoreError, Pool, Store};

/// One embedded migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

const SQLITE_MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "foundation", sql: include_str!("../migrations/sqlite/0001_foundation.sql") },
    Migration { version: 2, name: "chart", sql: include_str!("../migrations/sqlite/0002_chart.sql") },
    Migration { version: 3, name: "treatment", sql: include_str!("../migrations/sqlite/0003_treatment.sql") },
    Migration { version: 4, name: "operations", sql: include_str!("../migrations/sqlite/0004_operations.sql") },
    Migration {
        version: 5,
        name: "session_enforcement",
        sql: include_str!("../migrations/sqlite/0005_session_enforcement.sql"),
    },
    Migration { version: 6, name: "login_throttle", sql: include_str!("../migrations/sqlite/0006_login_throttle.sql") },
    Migration { version: 7, name: "row_versions", sql: include_str!("../migrations/sqlite/0007_row_versions.sql") },
    Migration {
        version: 8,
        name: "idempotency_expiry",
        sql: include_str!("../migrations/sqlite/0008_idempotency_expiry.sql"),
    },
    Migration {
        version: 9,
        name: "patients_by_mrn",
        sql: include_str!("../migrations/sqlite/0009_patients_by_mrn.sql"),
    },
    Migration { version: 10, name: "consents", sql: include_str!("../migrations/sqlite/0010_consents.sql") },
    Migration {
        version: 11,
        name: "controlled_substances",
        sql: include_str!("../migrations/sqlite/0011_controlled_substances.sql"),
    },
    Migration { version: 12, name: "session_notes", sql: include_str!("../migrations/sqlite/0012_session_notes.sql") },
    Migration {
        version: 13,
        name: "measurements_not_applicable",
        sql: include_str!("../migrations/sqlite/0013_measurements_not_applicable.sql"),
    },
    Migration {
        version: 14,
        name: "self_report_links",
        sql: include_str!("../migrations/sqlite/0014_self_report_links.sql"),
    },
    Migration {
        version: 15,
        name: "clinic_calendar",
        sql: include_str!("../migrations/sqlite/0015_clinic_calendar.sql"),
    },
];

const POSTGRES_MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "foundation", sql: include_str!("../migrations/postgres/0001_foundation.sql") },
    Migration { version: 2, name: "chart", sql: include_str!("../migrations/postgres/0002_chart.sql") },
    Migration { version: 3, name: "treatment", sql: include_str!("../migrations/postgres/0003_treatment.sql") },
    Migration { version: 4, name: "operations", sql: include_str!("../migrations/postgres/0004_operations.sql") },
    Migration {
        version: 5,
        name: "session_enforcement",
        sql: include_str!("../migrations/postgres/0005_session_enforcement.sql"),
    },
    Migration {
        version: 6,
        name: "login_throttle",
        sql: include_str!("../migrations/postgres/0006_login_throttle.sql"),
    },
    Migration { version: 7, name: "row_versions", sql: include_str!("../migrations/postgres/0007_row_versions.sql") },
    Migration {
        version: 8,
        name: "idempotency_expiry",
        sql: include_str!("../migrations/postgres/0008_idempotency_expiry.sql"),
    },
    Migration {
        version: 9,
        name: "patients_by_mrn",
        sql: include_str!("../migrations/postgres/0009_patients_by_mrn.sql"),
    },
    Migration { version: 10, name: "consents", sql: include_str!("../migrations/postgres/0010_consents.sql") },
    Migration {
        version: 11,
        name: "controlled_substances",
        sql: include_str!("../migrations/postgres/0011_controlled_substances.sql"),
    },
    Migration {
        version: 12,
        name: "session_notes",
        sql: include_str!("../migrations/postgres/0012_session_notes.sql"),
    },
    Migration {
        version: 13,
        name: "measurements_not_applicable",
        sql: include_str!("../migrations/postgres/0013_measurements_not_applicable.sql"),
    },
    Migration {
        version: 14,
        name: "self_report_links",
        sql: include_str!("../migrations/postgres/0014_self_report_links.sql"),
    },
    Migration {
        version: 15,
        name: "clinic_calendar",
        sql: include_str!("../migrations/postgres/0015_clinic_calendar.sql"),
    },
];

/// The migration from which audit events carry row versions; applying it records the versions of the
/// rows already stored in one event, in the same transaction.
const ROW_VERSIONS_MIGRATION: i64 = 7;

/// The event that carries the versions of the rows stored before [`ROW_VERSIONS_MIGRATION`].
fn row_baseline_event() -> AuditEvent {
    AuditEvent {
        occurred_at: jiff::Timestamp::now(),
        actor_id: None,
        actor_role: None,
        action: "audit.row_baseline".to_owned(),
        resource: "database".to_owned(),
        patient_id: None,
        request_id: None,
        outcome: "success".to_owned(),
    }
}

const CREATE_LEDGER: &str = "CREATE TABLE IF NOT EXISTS ketacare_migrations (
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, sha256 TEXT NOT NULL, applied_at TEXT NOT NULL)";

pub(crate) fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

impl Store {
    /// The migrations this build knows for this store's backend.
    pub fn known_migrations(&self) -> &'static [Migration] {
        match self.pool {
            Pool::Sqlite(_) => SQLITE_MIGRATIONS,
            Pool::Postgres(_) => POSTGRES_MIGRATIONS,
        }
    }

    /// Applies the migrations the database lacks, each in its own transaction, and returns their versions.
    /// Concurrent callers are serialised (SQLite `BEGIN IMMEDIATE`, PostgreSQL advisory lock).
    pub async fn migrate(&self) -> Result<Vec<i64>, OpenStoreError> {
        let migrations = self.known_migrations();
        let mut applied_now = Vec::new();
        for migration in migrations {
            let fail = |source| OpenStoreError::Migrate { version: migration.version, name: migration.name, source };
            let sha256 = sha256_hex(migration.sql);
            let applied = crate::on_pool!(self, pool => {
                let begin = match self.pool {
                    Pool::Sqlite(_) => "BEGIN IMMEDIATE",
                    Pool::Postgres(_) => "BEGIN",
                };
                let mut tx = pool.begin_with(begin).await.map_err(fail)?;
                sqlx::Executor::execute(&mut *tx, sqlx::raw_sql(CREATE_LEDGER)).await.map_err(fail)?;
                if matches!(self.pool, Pool::Postgres(_)) {
                    sqlx::query("SELECT pg_advisory_xact_lock($1)")
                        .bind(crate::WRITE_LOCK_KEY)
                        .execute(&mut *tx)
                        .await
                        .map_err(fail)?;
                }
                let known: Option<(String,)> = sqlx::query_as("SELECT sha256 FROM ketacare_migrations WHERE version = $1")
                    .bind(migration.version)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(fail)?;
                match known {
                    Some((applied,)) if applied == sha256 => false,
                    Some((applied,)) => {
                        return Err(OpenStoreError::MigrationEdited { version: migration.version, name: migration.name, applied });
                    }
                    None => {
                        sqlx::Executor::execute(&mut *tx, sqlx::raw_sql(migration.sql)).await.map_err(fail)?;
                        if migration.version == ROW_VERSIONS_MIGRATION {
                            let mut versions = Vec::new();
                            let existing = COVERED_TABLES
                                .iter()
                                .filter(|table| !TABLES_CREATED_AFTER_ROW_VERSIONS.contains(&table.name));
                            for table in existing {
                                (*tx).scan_row_versions(table, |version| versions.push(version)).await.map_err(fail)?;
                            }
                            if !versions.is_empty() {
                                versions.sort();
                                let head: Option<(i64, String)> =
                                    sqlx::query_as(AUDIT_HEAD_SQL).fetch_optional(&mut *tx).await.map_err(fail)?;
                                let mut baseline = PendingAudit::after(head, self.audit_key.clone());
                                baseline.append(&row_baseline_event(), versions);
                                let insert = match self.pool {
                                    Pool::Sqlite(_) => INSERT_AUDIT_ROWS_SQLITE,
                                    Pool::Postgres(_) => INSERT_AUDIT_ROWS_POSTGRES,
                                };
                                sqlx::query(insert).bind(baseline.rows_json()).execute(&mut *tx).await.map_err(fail)?;
                            }
                        }
                        sqlx::query("INSERT INTO ketacare_migrations (version, name, sha256, applied_at) VALUES ($1, $2, $3, $4)")
                            .bind(migration.version)
                            .bind(migration.name)
                            .bind(&sha256)
                            .bind(crate::format_time(jiff::Timestamp::now()))
                            .execute(&mut *tx)
                            .await
                            .map_err(fail)?;
                        tx.commit().await.map_err(fail)?;
                        true
                    }
                }
            });
            if applied {
                applied_now.push(migration.version);
            }
        }
        let newest_known = migrations.last().map_or(0, |migration| migration.version);
        let (newest_applied,): (Option<i64>,) = crate::on_pool!(self, pool =>
            sqlx::query_as("SELECT MAX(version) FROM ketacare_migrations").fetch_one(pool).await.map_err(OpenStoreError::Connect)?);
        if let Some(version) = newest_applied
            && version > newest_known
        {
            return Err(OpenStoreError::UnknownMigration { version });
        }
        Ok(applied_now)
    }
}
