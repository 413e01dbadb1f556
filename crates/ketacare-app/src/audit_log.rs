//! Reading and verifying the audit log (admins and auditors). Reading the log is itself audited.

use std::collections::BTreeMap;

use jiff::Timestamp;
use ketacare_store::{AuditActionMatch, AuditChainReport, AuditEventFilter, AuditRecord};

use crate::policy::Permission;
use crate::{Actor, App, AppError};

/// A page of the audit log a reader asks for: keyset paging by `seq` (the events after `after_seq`, at
/// most `limit`), narrowed by any of the filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    pub after_seq: i64,
    pub limit: i64,
    /// Events about this patient (by id), and list events that showed it.
    pub patient_id: Option<String>,
    /// Events of the account with this username.
    pub username: Option<String>,
    /// An action (`session.login`), or every action with a prefix when it ends in `*` (`user.*`).
    pub action: Option<String>,
    /// At or after this time.
    pub occurred_from: Option<Timestamp>,
    /// Before this time.
    pub occurred_before: Option<Timestamp>,
}

impl Default for AuditQuery {
    fn default() -> Self {
        AuditQuery {
            after_seq: 0,
            limit: 100,
            patient_id: None,
            username: None,
            action: None,
            occurred_from: None,
            occurred_before: None,
        }
    }
}

/// A page of the audit log, with the usernames of the accounts that acted in it (so a reader sees who,
/// not an id) and where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditLogPage {
    pub events: Vec<AuditRecord>,
    /// `actor_id` → username, for the actors of these events that are accounts.
    pub usernames: BTreeMap<String, String>,
    /// The `after` of the next page, when this one is full (there may be more).
    pub next_after: Option<i64>,
}

/// The action filter as the store matches it: lower-case letters, digits, `.` and `_`, with an optional
/// `*` at the end for a prefix.
fn action_match(text: &str) -> Result<AuditActionMatch, AppError> {
    let action = text.trim().to_lowercase();
    let (stem, prefix) = match action.strip_suffix('*') {
        Some(stem) => (stem.to_owned(), true),
        None => (action.clone(), false),
    };
    let valid = !stem.is_empty()
        && stem.len() <= 100
        && stem.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_'));
    if !valid {
        return Err(AppError::invalid(
            "action",
            format!("must be an action such as session.login, or a prefix ending in * such as user.*, got {text:?}"),
        ));
    }
    Ok(if prefix { AuditActionMatch::Prefix(stem) } else { AuditActionMatch::Exact(stem) })
}

impl App {
    /// Verifies the whole chain; `actor` is `None` for `ketacare audit verify` at the console.
    pub async fn verify_audit_chain(&self, actor: Option<&Actor>) -> Result<AuditChainReport, AppError> {
        if let Some(actor) = actor {
            let event =
                self.permitted_event(actor, Permission::ReadAudit, "audit.verify", "audit".to_owned(), None).await?;
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

    /// A page of the log after `after_seq`, unfiltered.
    pub async fn audit_events(&self, actor: &Actor, after_seq: i64, limit: i64) -> Result<Vec<AuditRecord>, AppError> {
        let query = AuditQuery { after_seq, limit, ..AuditQuery::default() };
        Ok(self.audit_log(actor, &query).await?.events)
    }

    /// A page of the log (`GET /api/v1/audit/events` and the audit log page), filtered by patient,
    /// account, action and time, with the acting accounts' usernames. A filter that cannot match (a
    /// username that is no account, a malformed action, a range that ends before it starts) is refused
    /// naming its field.
    pub async fn audit_log(&self, actor: &Actor, query: &AuditQuery) -> Result<AuditLogPage, AppError> {
        let event = self.permitted_event(actor, Permission::ReadAudit, "audit.read", "audit".to_owned(), None).await?;
        if !(1..=1000).contains(&query.limit) {
            return Err(AppError::invalid("limit", format!("must be 1 to 1000, got {}", query.limit)));
        }
        let action = query.action.as_deref().map(str::trim).filter(|text| !text.is_empty()).map(action_match);
        let action = action.transpose()?;
        let patient_id = query.patient_id.as_deref().map(str::trim).filter(|text| !text.is_empty());
        if patient_id.is_some_and(|id| id.len() > 100) {
            return Err(AppError::invalid("patient_id", "must be at most 100 characters"));
        }
        if let (Some(from), Some(before)) = (query.occurred_from, query.occurred_before)
            && before <= from
        {
            return Err(AppError::invalid("occurred_before", "must be after the start of the range"));
        }
        let users = self.store.users().await?;
        let actor_id = match query.username.as_deref().map(str::trim).filter(|text| !text.is_empty()) {
            None => None,
            Some(username) => match users.iter().find(|user| user.username == username) {
                Some(user) => Some(user.user_id.clone()),
                None => return Err(AppError::invalid("username", format!("no account is named {username:?}"))),
            },
        };
        let filter = AuditEventFilter {
            after_seq: query.after_seq,
            limit: query.limit,
            patient_id: patient_id.map(str::to_owned),
            actor_id,
            action,
            occurred_from: query.occurred_from,
            occurred_before: query.occurred_before,
        };
        let events = self.store.audit_events_matching(&filter).await?;
        self.store.append_audit(&event).await?;
        let usernames = users
            .into_iter()
            .filter(|user| events.iter().any(|event| event.actor_id.as_deref() == Some(user.user_id.as_str())))
            .map(|user| (user.user_id, user.username))
            .collect();
        let full = i64::try_from(events.len()).unwrap_or(i64::MAX) == query.limit;
        let next_after = if full { events.last().map(|event| event.seq) } else { None };
        Ok(AuditLogPage { events, usernames, next_after })
    }
}
