//! Reading and verifying the audit log (admins and auditors). Reading the log is itself audited.

use ketacare_store::{AuditChainReport, AuditRecord};

use crate::policy::{Permission, require};
use crate::{Actor, App, AppError};

impl App {
    /// Verifies the whole chain; `actor` is `None` for `ketacare audit verify` at the console.
    pub async fn verify_audit_chain(&self, actor: Option<&Actor>) -> Result<AuditChainReport, AppError> {
        if let Some(actor) = actor {
            let event = self.audit_event(actor, "audit.verify", "audit".to_owned(), None);
            if let Err(error) = require(actor, Permission::ReadAudit) {
                return Err(self.audit_failure(event, error).await);
            }
            let report = self.store.verify_audit_chain().await?;
            self.store.append_audit(&event).await?;
            return Ok(report);
        }
        Ok(self.store.verify_audit_chain().await?)
    }

    /// A page of the log after `after_seq`, for `ketacare audit export` at the console (whose operator
    /// has the database itself, so no role applies).
    pub async fn export_audit_events(&self, after_seq: i64, limit: i64) -> Result<Vec<AuditRecord>, AppError> {
        Ok(self.store.audit_events(after_seq, limit).await?)
    }

    /// A page of the log after `after_seq`.
    pub async fn audit_events(&self, actor: &Actor, after_seq: i64, limit: i64) -> Result<Vec<AuditRecord>, AppError> {
        let event = self.audit_event(actor, "audit.read", "audit".to_owned(), None);
        if let Err(error) = require(actor, Permission::ReadAudit) {
            return Err(self.audit_failure(event, error).await);
        }
        if !(1..=1000).contains(&limit) {
            return Err(AppError::invalid("limit", format!("must be 1 to 1000, got {limit}")));
        }
        let records = self.store.audit_events(after_seq, limit).await?;
        self.store.append_audit(&event).await?;
        Ok(records)
    }
}
