//! Patients' self-report links: a nurse or prescriber makes a one-time link for a questionnaire (PHQ-9,
//! GAD-7); the patient opens it without an account, answers, and the answers land in the
//! chart's scales, scored by the core and evaluated like a clinician's entry. The token is 128 random
//! bits from the OS (`secrets.rs`), shown once and stored only as its SHA-256; a link works once and
//! until `self_report.link_lifetime_hours` after it was made (the server's clock). A PHQ-9 whose item 9
//! reaches `scales.phq9_item9_screen_from` raises a critical alert on the worklist until a clinician
//! acknowledges it, and the patient reads the protocol's `self_report.crisis_text` at once.
//!
//! Audit: staff actions as the staff member; what the patient does as actor `self_report:{link_id}`
//! with role `patient` (the link is the only identity the patient has here). The scale result's
//! `created_by` (a user, by the schema) is the staff member who made the link. An unknown token is
//! audited with no actor and no patient; a used or expired one as the link, outcome `refused`.

use jiff::{SignedDuration, Timestamp};
use ketacare_store::{AuditEvent, Patient, Role, SelfReportLink, SelfReportUse, StoreError};
use serde::Serialize;
use serde_json::{Value, json};

use crate::chart::{CHART_WRITE_ATTEMPTS, overtaken};
use crate::live_updates::SessionChangeKind;
use crate::policy::{Permission, require};
use crate::secrets::{new_id, random_hex, sha256_hex};
use crate::{Actor, App, AppError};

/// The questionnaires a link may ask, as (chart scale code, number of items). The QIDS-SR16 (allowed by
/// the schema) waits for its patient wording: each of its answers has its own words.
pub const SELF_REPORT_SCALES: [(&str, usize); 2] = [("phq9", 9), ("gad7", 7)];

/// Random bytes of a token: 128 bits (the brief's floor; the same as session secrets).
const TOKEN_BYTES: usize = 16;

/// The rule a used link's refusal names.
pub const SELF_REPORT_LINK_USED: &str = "SELF_REPORT_LINK_USED";
/// The rule an expired link's refusal names.
pub const SELF_REPORT_LINK_EXPIRED: &str = "SELF_REPORT_LINK_EXPIRED";

/// Where a link stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SelfReportLinkStatus {
    Open,
    Used,
    Expired,
}

impl SelfReportLinkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SelfReportLinkStatus::Open => "open",
            SelfReportLinkStatus::Used => "used",
            SelfReportLinkStatus::Expired => "expired",
        }
    }

    fn of(link: &SelfReportLink, now: Timestamp) -> SelfReportLinkStatus {
        if link.used_at.is_some() {
            SelfReportLinkStatus::Used
        } else if now >= link.expires_at {
            SelfReportLinkStatus::Expired
        } else {
            SelfReportLinkStatus::Open
        }
    }
}

/// A link as staff see it (never its token).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelfReportLinkView {
    pub link_id: String,
    pub patient_id: String,
    pub scale: String,
    pub status: SelfReportLinkStatus,
    pub created_at: String,
    pub created_by: String,
    pub expires_at: String,
    pub used_at: Option<String>,
    /// The chart's scale result the answers made.
    pub scale_result_id: Option<String>,
    /// The answers screened positive (PHQ-9 item 9 at or above `scales.phq9_item9_screen_from`).
    pub suicidality_alert: bool,
    pub alert_acknowledged_at: Option<String>,
    pub alert_acknowledged_by: Option<String>,
}

/// A new link: the only time its token is shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelfReportLinkCreated {
    pub link: SelfReportLinkView,
    pub token: String,
    /// The patient's page, relative to the server (`/r/{token}`).
    pub path: String,
}

/// What the patient's page needs: the first name only, and the questionnaire.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelfReportForm {
    pub given_name: String,
    pub scale: String,
    pub item_count: usize,
    pub expires_at: String,
}

/// What the patient is told after answering.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelfReportReceipt {
    pub given_name: String,
    pub scale: String,
    /// The protocol's crisis text, when the answers screened positive.
    pub crisis_text: Option<String>,
}

fn view(link: &SelfReportLink, now: Timestamp) -> SelfReportLinkView {
    SelfReportLinkView {
        link_id: link.link_id.clone(),
        patient_id: link.patient_id.clone(),
        scale: link.scale.clone(),
        status: SelfReportLinkStatus::of(link, now),
        created_at: link.created_at.to_string(),
        created_by: link.created_by.clone(),
        expires_at: link.expires_at.to_string(),
        used_at: link.used_at.map(|at| at.to_string()),
        scale_result_id: link.scale_result_id.clone(),
        suicidality_alert: link.suicidality_alert,
        alert_acknowledged_at: link.alert_acknowledged_at.map(|at| at.to_string()),
        alert_acknowledged_by: link.alert_acknowledged_by.clone(),
    }
}

fn item_count(scale: &str) -> Option<usize> {
    SELF_REPORT_SCALES.iter().find(|(code, _)| *code == scale).map(|(_, count)| *count)
}

/// The patient's own actor id in the audit log.
fn patient_actor_id(link_id: &str) -> String {
    format!("self_report:{link_id}")
}

/// A link no one may use any more, as one error whatever the reason (the caller shows one plain page).
fn unusable(link: &SelfReportLink, status: SelfReportLinkStatus) -> AppError {
    let (rule_id, problem) = match status {
        SelfReportLinkStatus::Used => (SELF_REPORT_LINK_USED, "this link was used already"),
        _ => (SELF_REPORT_LINK_EXPIRED, "this link has expired"),
    };
    let _ = link;
    AppError::Refused { field: "token".to_owned(), rule_id: rule_id.to_owned(), problem: problem.to_owned() }
}

impl App {
    /// Makes a one-time link for the patient to answer `scale` (`RecordChart`: nurses and prescribers).
    /// Audited as `self_report_link.create`; the token is in the answer and nowhere else.
    pub async fn create_self_report_link(
        &self,
        actor: &Actor,
        patient_id: &str,
        scale: &str,
    ) -> Result<SelfReportLinkCreated, AppError> {
        let link_id = new_id();
        let resource = format!("patient/{patient_id}/self-report-link/{link_id}");
        let event = self.audit_event(actor, "self_report_link.create", resource, Some(patient_id));
        let checked = async {
            require(actor, Permission::RecordChart)?;
            if item_count(scale).is_none() {
                return Err(AppError::invalid("scale", format!("must be one of phq9, gad7, got {scale:?}")));
            }
            let patient = self.existing_patient(patient_id).await?;
            // A record entered in error is nobody's: its alerts would reach no worklist.
            if patient.status != ketacare_store::RecordStatus::Active {
                return Err(AppError::Refused {
                    field: "patient_id".to_owned(),
                    rule_id: "SELF_REPORT_PATIENT_NOT_ACTIVE".to_owned(),
                    problem: "the patient record is entered in error".to_owned(),
                });
            }
            Ok(patient)
        };
        if let Err(error) = checked.await {
            return Err(self.audit_failure(event, error).await);
        }
        let token = random_hex(TOKEN_BYTES);
        let now = self.now();
        let lifetime = SignedDuration::from_hours(self.protocol.self_report.link_lifetime_hours.value);
        let link = SelfReportLink {
            patient_id: patient_id.to_owned(),
            link_id: link_id.clone(),
            scale: scale.to_owned(),
            token_sha256: sha256_hex(&token),
            created_at: now,
            created_by: actor.user_id.clone(),
            expires_at: now.checked_add(lifetime).map_err(|_| AppError::invalid("scale", "lifetime overflows"))?,
            used_at: None,
            scale_result_id: None,
            suicidality_alert: false,
            alert_acknowledged_at: None,
            alert_acknowledged_by: None,
        };
        if let Err(error) = self.store.insert_self_report_link(&link, &event).await {
            return Err(self.audit_failure(event, error.into()).await);
        }
        Ok(SelfReportLinkCreated { link: view(&link, now), path: format!("/r/{token}"), token })
    }

    /// A patient's links, newest first, with their status now (`ReadChart`), audited as `self_report_link.read`.
    pub async fn self_report_links(
        &self,
        actor: &Actor,
        patient_id: &str,
    ) -> Result<Vec<SelfReportLinkView>, AppError> {
        let resource = format!("patient/{patient_id}/self-report-links");
        let event = self.audit_event(actor, "self_report_link.read", resource, Some(patient_id));
        let read = async {
            require(actor, Permission::ReadChart)?;
            self.existing_patient(patient_id).await?;
            Ok::<_, AppError>(self.store.self_report_links(patient_id).await?)
        };
        match read.await {
            Ok(links) => {
                self.store.append_audit(&event).await?;
                let now = self.now();
                Ok(links.iter().map(|link| view(link, now)).collect())
            }
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    /// A clinician acknowledges a self-report's suicidality alert (`RecordChart`), which takes it off the
    /// worklist; audited as `self_report_alert.acknowledge`.
    pub async fn acknowledge_self_report_alert(
        &self,
        actor: &Actor,
        patient_id: &str,
        link_id: &str,
    ) -> Result<SelfReportLinkView, AppError> {
        let resource = format!("patient/{patient_id}/self-report-link/{link_id}/acknowledgement");
        let event = self
            .permitted_event(
                actor,
                Permission::RecordChart,
                "self_report_alert.acknowledge",
                resource,
                Some(patient_id),
            )
            .await?;
        let now = self.now();
        if let Err(error) =
            self.store.acknowledge_self_report_alert(patient_id, link_id, now, &actor.user_id, &event).await
        {
            return Err(self.audit_failure(event, error.into()).await);
        }
        self.publish_session_change(patient_id, link_id, SessionChangeKind::SelfReportAlert, true);
        let links = self.store.self_report_links(patient_id).await?;
        let link = links
            .iter()
            .find(|link| link.link_id == link_id)
            .ok_or_else(|| AppError::NotFound { resource: "self-report link", id: link_id.to_owned() })?;
        Ok(view(link, now))
    }

    /// The link of `token` if it can still be used, with its patient; audits any refusal as `action`.
    async fn usable_link(
        &self,
        token: &str,
        action: &str,
        request_id: &str,
    ) -> Result<(SelfReportLink, Patient), AppError> {
        let found = self.store.self_report_link_by_token(&sha256_hex(token)).await?;
        let Some(link) = found else {
            let event = AuditEvent {
                occurred_at: self.now(),
                actor_id: None,
                actor_role: Some("patient".to_owned()),
                action: action.to_owned(),
                resource: "self-report-link/unknown".to_owned(),
                patient_id: None,
                request_id: Some(request_id.to_owned()),
                outcome: "success".to_owned(),
            };
            let error = AppError::NotFound { resource: "self-report link", id: "(token)".to_owned() };
            return Err(self.audit_failure(event, error).await);
        };
        let event = self.patient_event(&link, action, request_id);
        let status = SelfReportLinkStatus::of(&link, self.now());
        if status != SelfReportLinkStatus::Open {
            let error = unusable(&link, status);
            return Err(self.audit_failure(event, error).await);
        }
        match self.existing_patient(&link.patient_id).await {
            Ok(patient) => Ok((link, patient)),
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    fn patient_event(&self, link: &SelfReportLink, action: &str, request_id: &str) -> AuditEvent {
        AuditEvent {
            occurred_at: self.now(),
            actor_id: Some(patient_actor_id(&link.link_id)),
            actor_role: Some("patient".to_owned()),
            action: action.to_owned(),
            resource: format!("patient/{}/self-report-link/{}", link.patient_id, link.link_id),
            patient_id: Some(link.patient_id.clone()),
            request_id: Some(request_id.to_owned()),
            outcome: "success".to_owned(),
        }
    }

    /// The patient opens the link (no account): the questionnaire and the first name, audited as
    /// `self_report.open`. An unknown token is [`AppError::NotFound`]; a used or expired link is
    /// [`AppError::Refused`] (`SELF_REPORT_LINK_USED`, `SELF_REPORT_LINK_EXPIRED`).
    pub async fn open_self_report(&self, token: &str, request_id: &str) -> Result<SelfReportForm, AppError> {
        let (link, patient) = self.usable_link(token, "self_report.open", request_id).await?;
        self.store.append_audit(&self.patient_event(&link, "self_report.open", request_id)).await?;
        Ok(SelfReportForm {
            given_name: patient.given_name,
            item_count: item_count(&link.scale).unwrap_or_default(),
            scale: link.scale,
            expires_at: link.expires_at.to_string(),
        })
    }

    /// The patient's answers (every item, each 0–3): scored and stored in the chart's scales with the
    /// evaluation they cause, the link marked used in the same transaction (`self_report.submit`). A
    /// PHQ-9 item 9 at or above `scales.phq9_item9_screen_from` flags the link's alert (a
    /// `self_report.alert` audit event in the same transaction) and the receipt carries the crisis text.
    pub async fn submit_self_report(
        &self,
        token: &str,
        answers: &[Option<u8>],
        request_id: &str,
    ) -> Result<SelfReportReceipt, AppError> {
        let (link, patient) = self.usable_link(token, "self_report.submit", request_id).await?;
        let event = self.patient_event(&link, "self_report.submit", request_id);
        let count = item_count(&link.scale).unwrap_or_default();
        let checked = (|| {
            if answers.len() != count {
                return Err(AppError::invalid("answers", format!("must have {count} answers, got {}", answers.len())));
            }
            for (index, answer) in answers.iter().enumerate() {
                match answer {
                    Some(0..=3) => {}
                    Some(other) => {
                        return Err(AppError::invalid(
                            &format!("answers[{index}]"),
                            format!("must be 0 to 3, got {other}"),
                        ));
                    }
                    None => return Err(AppError::invalid(&format!("answers[{index}]"), "is required")),
                }
            }
            Ok(())
        })();
        if let Err(error) = checked {
            return Err(self.audit_failure(event, error).await);
        }
        // PHQ-9 item 9 (thoughts of being better off dead or of self-harm): scales.phq9_item9_screen_from
        // (clinical-reference §5.1 PROJECT DEFAULT 1).
        let screen_from = self.protocol.scales.phq9_item9_screen_from.value;
        let suicidality_alert = link.scale == "phq9"
            && answers.get(8).copied().flatten().is_some_and(|item9| i64::from(item9) >= screen_from);
        let mut attempt = 1;
        loop {
            match self.try_submit_self_report(&link, &patient, answers, suicidality_alert, event.clone()).await {
                Ok(()) => break,
                Err(error) if overtaken(&error) && attempt < CHART_WRITE_ATTEMPTS => attempt += 1,
                Err(error) => return Err(self.audit_failure(event, error).await),
            }
        }
        if suicidality_alert {
            // Open worklists read themselves again at once (ids only).
            self.publish_session_change(&link.patient_id, &link.link_id, SessionChangeKind::SelfReportAlert, true);
            // Ids only: no patient data in logs.
            tracing::warn!(link_id = %link.link_id, "a self-report screened positive for suicidality: critical alert raised");
        }
        Ok(SelfReportReceipt {
            given_name: patient.given_name,
            scale: link.scale,
            crisis_text: suicidality_alert.then(|| self.protocol.self_report.crisis_text.value.clone()),
        })
    }

    async fn try_submit_self_report(
        &self,
        link: &SelfReportLink,
        patient: &Patient,
        answers: &[Option<u8>],
        suicidality_alert: bool,
        event: AuditEvent,
    ) -> Result<(), AppError> {
        let body = json!({
            "scale": link.scale,
            "administered_on": self.today().to_string(),
            "items": answers.iter().map(|answer| json!(answer)).collect::<Vec<Value>>(),
        });
        let body = body.as_object().expect("an object").clone();
        let valid = self.validate_scale(&body)?;
        let now = self.now();
        let scale_result_id = new_id();
        let new_result = ketacare_store::NewScaleResult {
            patient_id: link.patient_id.clone(),
            scale_result_id: scale_result_id.clone(),
            scale: valid.scale_key,
            answers_json: valid.answers_json,
            total: valid.total,
            administered_on: valid.administered_on,
            created_at: now,
            created_by: link.created_by.clone(),
        };
        let mut rows = self.chart_rows(patient).await?;
        rows.scales.push(ketacare_store::StoredScaleResult {
            patient_id: new_result.patient_id.clone(),
            scale_result_id: scale_result_id.clone(),
            scale: new_result.scale.clone(),
            answers_json: new_result.answers_json.clone(),
            total: new_result.total,
            administered_on: new_result.administered_on.clone(),
            status: ketacare_store::RecordStatus::Active,
            version: 1,
            created_at: ketacare_store::format_time(now),
            created_by: link.created_by.clone(),
        });
        // The evaluation is computed as the link's maker would have (the decision's `created_by` is a
        // user); its audit events are then the patient's.
        let maker = Actor { user_id: link.created_by.clone(), role: Role::Nurse, request_id: String::new() };
        let latest = self.store.latest_assessment(&patient.patient_id).await?;
        let (mut write, _) = self.evaluation_write(&maker, patient, &rows, event.clone(), latest.as_ref())?;
        for audit in &mut write.audit_events {
            audit.actor_id = event.actor_id.clone();
            audit.actor_role = event.actor_role.clone();
            audit.request_id = event.request_id.clone();
        }
        if suicidality_alert {
            let mut alert = event.clone();
            alert.action = "self_report.alert".to_owned();
            write.audit_events.push(alert);
        }
        let link_use = SelfReportUse {
            patient_id: link.patient_id.clone(),
            link_id: link.link_id.clone(),
            used_at: now,
            suicidality_alert,
        };
        match self.store.insert_self_report_result(&link_use, &new_result, &write).await {
            Ok(_) => Ok(()),
            Err(StoreError::Duplicate { what: "self-report answer" }) => {
                Err(unusable(link, SelfReportLinkStatus::Used))
            }
            Err(error) => Err(error.into()),
        }
    }
}
