//! Assessment use cases: run the engine on a case posted in the assess contract's format (parsed and
//! rendered by `ketacare-case`, as the CLI does, so the two cannot drift) and store the decision with
//! the rules version and protocol SHA-256 it was made under; read a patient's decisions.

use ketacare_case::{parse_case_json, report_json};
use ketacare_core::assess::assess_case;
use ketacare_store::{AmendmentMeta, IdempotentResponse, NewAssessment, RecordStatus, StoreError, StoredAssessment};
use serde::{Deserialize, Serialize};

use crate::patients::idempotency_key;
use crate::policy::{Permission, require};
use crate::secrets::{new_id, sha256_hex};
use crate::{Actor, App, AppError, Created};

/// A change of an assessment's status, with its reason. The decision itself never changes: a wrong
/// one is marked `entered_in_error` and a new assessment recorded.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssessmentStatusInput {
    pub reason: Option<String>,
    /// `active` or `entered_in_error`.
    pub status: Option<String>,
}

/// A stored decision as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssessmentView {
    pub assessment_id: String,
    pub patient_id: String,
    pub as_of: String,
    pub rules_version: String,
    pub protocol_sha256: String,
    pub status: RecordStatus,
    /// For `If-Match` when marking the assessment entered in error.
    pub version: i64,
    pub created_at: String,
    pub created_by: String,
    /// The report of contracts/assess.md, exactly as `ketacare assess` prints it.
    pub report: serde_json::Value,
}

fn view(stored: StoredAssessment) -> Result<AssessmentView, AppError> {
    let report = serde_json::from_str(&stored.decision_json).map_err(|error| {
        AppError::Storage(StoreError::Corrupt(format!("decision of {}: {error}", stored.assessment_id)))
    })?;
    Ok(AssessmentView {
        assessment_id: stored.assessment_id,
        patient_id: stored.patient_id,
        as_of: stored.as_of,
        rules_version: stored.rules_version,
        protocol_sha256: stored.protocol_sha256,
        status: stored.status,
        version: stored.version,
        created_at: stored.created_at,
        created_by: stored.created_by,
        report,
    })
}

impl App {
    /// Assesses `case_json` for the patient and stores the decision. A malformed case is
    /// [`AppError::Invalid`] naming the field, and stores nothing.
    pub async fn record_assessment(
        &self,
        actor: &Actor,
        patient_id: &str,
        case_json: &str,
        key: Option<&str>,
    ) -> Result<Created, AppError> {
        let assessment_id = new_id();
        let resource = format!("patient/{patient_id}/assessment/{assessment_id}");
        let event = self
            .permitted_event(actor, Permission::RecordAssessments, "assessment.create", resource, Some(patient_id))
            .await?;
        let key = idempotency_key(key)?;
        let request_sha256 = sha256_hex(&format!("{patient_id}\n{case_json}"));
        if let Some(key) = key
            && let Some(replayed) = self.replay(actor, key, &request_sha256).await?
        {
            return Ok(replayed);
        }
        let case = match parse_case_json(case_json, self.today()) {
            Ok(case) => case,
            Err(invalid) => {
                let error = AppError::Invalid { field: invalid.path, problem: invalid.problem };
                return Err(self.audit_failure(event, error).await);
            }
        };
        let report = report_json(&assess_case(&case, &self.protocol));
        let now = self.now();
        let stored = StoredAssessment {
            patient_id: patient_id.to_owned(),
            assessment_id: assessment_id.clone(),
            as_of: report["as_of"].as_str().unwrap_or_default().to_owned(),
            case_json: case_json.to_owned(),
            decision_json: report.to_string(),
            rules_version: ketacare_core::RULES_VERSION.to_owned(),
            protocol_sha256: self.protocol.sha256.clone(),
            status: RecordStatus::Active,
            version: 1,
            created_at: ketacare_store::format_time(now),
            created_by: actor.user_id.clone(),
        };
        let new_assessment = NewAssessment {
            patient_id: stored.patient_id.clone(),
            assessment_id: assessment_id.clone(),
            as_of: stored.as_of.clone(),
            case_json: stored.case_json.clone(),
            decision_json: stored.decision_json.clone(),
            rules_version: stored.rules_version.clone(),
            protocol_sha256: stored.protocol_sha256.clone(),
            created_at: now,
            created_by: actor.user_id.clone(),
        };
        let body = serde_json::to_value(view(stored)?).expect("assessment view serializes");
        let idempotent = key.map(|key| IdempotentResponse {
            actor_id: actor.user_id.clone(),
            idempotency_key: key.to_owned(),
            request_sha256: request_sha256.clone(),
            status_code: 201,
            response_json: body.to_string(),
        });
        match self.store.insert_assessment(&new_assessment, &event, idempotent.as_ref()).await {
            Ok(()) => Ok(Created { resource_id: assessment_id, body, replayed: false }),
            Err(StoreError::Duplicate { what: "idempotency key" }) => {
                let key = key.expect("only keyed requests store a key");
                self.replay(actor, key, &request_sha256).await?.ok_or(AppError::Duplicate { what: "idempotency key" })
            }
            Err(error) => Err(self.audit_failure(event, error.into()).await),
        }
    }

    /// A patient's decisions, oldest first.
    pub async fn assessments(&self, actor: &Actor, patient_id: &str) -> Result<Vec<AssessmentView>, AppError> {
        let event =
            self.audit_event(actor, "assessment.list", format!("patient/{patient_id}/assessments"), Some(patient_id));
        if let Err(error) = require(actor, Permission::ReadAssessments) {
            return Err(self.audit_failure(event, error).await);
        }
        if self.store.patient(patient_id).await?.is_none() {
            let error = AppError::NotFound { resource: "patient", id: patient_id.to_owned() };
            return Err(self.audit_failure(event, error).await);
        }
        let stored = self.store.assessments(patient_id).await?;
        self.store.append_audit(&event).await?;
        stored.into_iter().map(view).collect()
    }
}

impl App {
    /// One decision of a patient.
    pub async fn get_assessment(
        &self,
        actor: &Actor,
        patient_id: &str,
        assessment_id: &str,
    ) -> Result<AssessmentView, AppError> {
        let resource = format!("patient/{patient_id}/assessment/{assessment_id}");
        let event = self
            .permitted_event(actor, Permission::ReadAssessments, "assessment.read", resource, Some(patient_id))
            .await?;
        let Some(stored) = self.store.assessment(patient_id, assessment_id).await? else {
            let error = AppError::NotFound { resource: "assessment", id: assessment_id.to_owned() };
            return Err(self.audit_failure(event, error).await);
        };
        self.store.append_audit(&event).await?;
        view(stored)
    }

    /// Marks a decision entered in error (or active again), if still at `expected_version`; the prior
    /// record is kept as an amendment with the reason.
    pub async fn set_assessment_status(
        &self,
        actor: &Actor,
        patient_id: &str,
        assessment_id: &str,
        expected_version: i64,
        input: &AssessmentStatusInput,
    ) -> Result<AssessmentView, AppError> {
        let resource = format!("patient/{patient_id}/assessment/{assessment_id}");
        let event = self
            .permitted_event(actor, Permission::RecordAssessments, "assessment.amend", resource, Some(patient_id))
            .await?;
        let reason = match input.reason.as_deref().map(str::trim) {
            Some(reason) if !reason.is_empty() && reason.len() <= 1000 => reason.to_owned(),
            _ => return Err(AppError::invalid("reason", "a correction needs a reason (1 to 1000 characters)")),
        };
        let status = match input.status.as_deref() {
            Some("active") => RecordStatus::Active,
            Some("entered_in_error") => RecordStatus::EnteredInError,
            other => {
                let problem = format!("expected \"active\" or \"entered_in_error\", got {other:?}");
                return Err(AppError::invalid("status", problem));
            }
        };
        let meta =
            AmendmentMeta { amendment_id: new_id(), reason, amended_by: actor.user_id.clone(), amended_at: self.now() };
        match self.store.set_assessment_status(patient_id, assessment_id, expected_version, status, &meta, &event).await
        {
            Ok(stored) => view(stored),
            Err(error) => Err(self.audit_failure(event, error.into()).await),
        }
    }
}
