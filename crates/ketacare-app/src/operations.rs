//! Operating the clinic's database: online backups of a SQLite store, the checks a backup must pass,
//! and the audit events of backups and restores (actor `ketacare-cli`, as for accounts made at the console).

use std::path::Path;

use ketacare_store::{AuditEvent, AuditKey, Backend, SqliteFileCheck, StoreError};

use crate::{App, AppError};

/// The actor id of operations run from the command line.
pub(crate) const CLI_ACTOR: &str = "ketacare-cli";

/// Checks a SQLite file without changing it: the integrity check and `audit verify` (keyed hashes
/// with `audit_key`, when given).
pub async fn check_sqlite_backup(path: &Path, audit_key: Option<AuditKey>) -> Result<SqliteFileCheck, AppError> {
    Ok(ketacare_store::check_sqlite_file(path, audit_key).await?)
}

impl App {
    /// Deletes the idempotency keys that expired (`IDEMPOTENCY_KEY_LIFETIME_HOURS`) by the server's clock.
    pub async fn prune_idempotency_keys(&self) -> Result<u64, AppError> {
        Ok(self.store.prune_idempotency_keys(self.now()).await?)
    }

    /// Writes a consistent copy of the (SQLite) database to `output`, which must not exist, while the
    /// server may keep writing; then checks the copy. The outcome is audited in this database as
    /// `backup.create`. On PostgreSQL it is refused: use `pg_dump` (docs/operations.md).
    pub async fn backup_sqlite(&self, output: &Path, request_id: &str) -> Result<SqliteFileCheck, AppError> {
        if self.backend() != Backend::Sqlite {
            return Err(AppError::Storage(StoreError::Unsupported(
                "ketacare backup copies SQLite databases; back up PostgreSQL with pg_dump (docs/operations.md)",
            )));
        }
        let result = async {
            self.store.backup_sqlite_into(output).await?;
            let check = check_sqlite_backup(output, self.store.audit_key()).await?;
            Ok::<_, AppError>(check)
        }
        .await;
        let outcome = match &result {
            Ok(check) if check.passed() => "success",
            _ => "failure",
        };
        self.audit_operation("backup.create", output, outcome, request_id).await?;
        result
    }

    /// Audits a restore into this database (called once the restored file is in place).
    pub async fn audit_restore(&self, input: &Path, request_id: &str) -> Result<(), AppError> {
        self.audit_operation("backup.restore", input, "success", request_id).await
    }

    async fn audit_operation(
        &self,
        action: &str,
        file: &Path,
        outcome: &str,
        request_id: &str,
    ) -> Result<(), AppError> {
        // The file's name only: a directory path may carry a person's name.
        let name = file.file_name().map_or_else(|| "(unnamed)".into(), |name| name.to_string_lossy());
        let event = AuditEvent {
            occurred_at: self.now(),
            actor_id: Some(CLI_ACTOR.to_owned()),
            actor_role: None,
            action: action.to_owned(),
            resource: format!("backup/{name}"),
            patient_id: None,
            request_id: Some(request_id.to_owned()),
            outcome: outcome.to_owned(),
        };
        self.store.append_audit(&event).await?;
        Ok(())
    }
}
