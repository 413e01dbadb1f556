//! ketacare's audit log as FHIR R4 `AuditEvent`s (docs/fhir.md "AuditEvent: the audit log"): who did
//! what to which patient's record, when, with what outcome, and the row's place in the hash chain.
//! Written for an admin's full `$export`, so that the trail leaves with the records. Pure: the app passes
//! each stored event as plain facts. Like the log itself, it carries no clinical value.

use serde::Serialize;

use crate::codes::{KETACARE_EXTENSION_BASE, KETACARE_USER};
use crate::resources::{Coding, Extension, ExtensionValue, Identifier};

/// DICOM's audit event types (DICOM PS3.16 CID 400, as FHIR's `audit-event-type` value set extends).
pub const DICOM: &str = "http://dicom.nema.org/resources/ontology/DCM";
/// ketacare's audit actions (`patient.read`, `chart.create`, …): `AuditEvent.subtype`.
pub const KETACARE_AUDIT_ACTION: &str = "https://ketacare.org/fhir/CodeSystem/audit-action";
/// ketacare's roles (`nurse`, `prescriber`, …): `AuditEvent.agent.role`.
pub const KETACARE_ROLE: &str = "https://ketacare.org/fhir/CodeSystem/role";
/// FHIR's audit-source types (`4`, application server).
pub const SECURITY_SOURCE_TYPE: &str = "http://terminology.hl7.org/CodeSystem/security-source-type";
/// FHIR's audit entity types (`1`, person; `2`, system object).
pub const AUDIT_ENTITY_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
/// FHIR's object roles (`1`, patient).
pub const OBJECT_ROLE: &str = "http://terminology.hl7.org/CodeSystem/object-role";

/// One stored audit event, as the app reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEventFacts {
    /// Its place in the log (1, 2, …).
    pub seq: i64,
    /// When it happened: an RFC 3339 instant (`2026-12-05T21:33:11.123456Z`).
    pub occurred_at: String,
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    /// `patient.read`, `chart.create`, `session.login`, …
    pub action: String,
    /// What it was done to (`patient/…/chart/trials/…`, `user/alice`).
    pub resource: String,
    pub patient_id: Option<String>,
    /// The patients a list request showed.
    pub patients_shown: Vec<String>,
    /// `success`, `denied`, `not_found`, `invalid`, `conflict`, `failure`.
    pub outcome: String,
    /// `sha256` or `hmac-sha256`.
    pub hash_algorithm: String,
    pub hash: String,
    pub prev_hash: String,
}

/// `AuditEvent` (R4).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "resourceType", rename = "AuditEvent", rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    #[serde(rename = "type")]
    pub event_type: Coding,
    pub subtype: Vec<Coding>,
    /// `C`, `R`, `U`, `D` or `E`.
    pub action: String,
    pub recorded: String,
    /// `0` success, `4` minor failure, `8` serious failure, `12` major failure.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome_desc: Option<String>,
    pub agent: Vec<AuditEventAgent>,
    pub source: AuditEventSource,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entity: Vec<AuditEventEntity>,
}

/// `AuditEvent.agent`: the account that acted (or ketacare itself).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEventAgent {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub role: Vec<ConceptOfCodings>,
    pub who: AuditReference,
    pub requestor: bool,
}

/// A CodeableConcept of codings only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConceptOfCodings {
    pub coding: Vec<Coding>,
}

/// A `Reference` by logical identifier or by literal reference, with a display.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditReference {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Identifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// `AuditEvent.source`: ketacare, the application server that recorded it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEventSource {
    pub observer: AuditReference,
    #[serde(rename = "type")]
    pub source_type: Vec<Coding>,
}

/// `AuditEvent.entity`: a patient the event was about, or the object it was done to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEventEntity {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub what: Option<AuditReference>,
    #[serde(rename = "type")]
    pub entity_type: Coding,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Coding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The FHIR action code of a ketacare action: reads (`.read`, `.list`, `.evaluate`, …) are `R`,
/// creations `C`, amendments and other changes of a record (`.amend`, `.sign`, `.discharge`, …) `U`;
/// logins, overrides, cancellations and the rest are executions `E` (ketacare deletes no record, so never
/// `D`).
pub fn audit_action_code(action: &str) -> &'static str {
    let verb = action.rsplit('.').next().unwrap_or(action);
    match verb {
        "read" | "list" | "evaluate" | "download" | "status" | "verify" | "watch" | "measurements" => "R",
        "create" | "import" | "start" => "C",
        "amend" | "update" | "password" | "password_reset" | "unlock" | "sign" | "discharge" | "acknowledge"
        | "submit" | "revoke" => "U",
        _ => "E",
    }
}

/// The FHIR outcome code of a ketacare outcome.
fn outcome_code(outcome: &str) -> &'static str {
    match outcome {
        "success" => "0",
        "not_found" | "invalid" | "conflict" => "4",
        "denied" => "8",
        _ => "12",
    }
}

/// The event as an `AuditEvent` with id `audit-{seq}`.
pub fn audit_event_resource(facts: &AuditEventFacts) -> AuditEvent {
    let about_patients = facts.patient_id.is_some() || !facts.patients_shown.is_empty();
    // DICOM CID 400: 110110 Patient Record, 110114 User Authentication, 110112 Query, 110100 Application
    // Activity.
    let (code, display) = if matches!(facts.action.as_str(), "session.login" | "session.logout") {
        ("110114", "User Authentication")
    } else if !facts.patients_shown.is_empty() {
        ("110112", "Query")
    } else if about_patients {
        ("110110", "Patient Record")
    } else {
        ("110100", "Application Activity")
    };
    let agent = match &facts.actor_id {
        Some(user_id) => AuditEventAgent {
            role: facts
                .actor_role
                .iter()
                .map(|role| ConceptOfCodings {
                    coding: vec![Coding { system: KETACARE_ROLE.to_owned(), code: role.clone(), display: None }],
                })
                .collect(),
            who: AuditReference {
                reference: None,
                identifier: Some(Identifier { system: KETACARE_USER.to_owned(), value: user_id.clone() }),
                display: None,
            },
            requestor: true,
        },
        None => AuditEventAgent {
            role: Vec::new(),
            who: AuditReference { reference: None, identifier: None, display: Some("ketacare".to_owned()) },
            requestor: false,
        },
    };
    let patient_entity = |patient_id: &String| AuditEventEntity {
        what: Some(AuditReference {
            reference: Some(format!("Patient/{patient_id}")),
            identifier: None,
            display: None,
        }),
        entity_type: Coding {
            system: AUDIT_ENTITY_TYPE.to_owned(),
            code: "1".to_owned(),
            display: Some("Person".to_owned()),
        },
        role: Some(Coding {
            system: OBJECT_ROLE.to_owned(),
            code: "1".to_owned(),
            display: Some("Patient".to_owned()),
        }),
        name: None,
    };
    let mut entity: Vec<AuditEventEntity> = facts.patient_id.iter().map(patient_entity).collect();
    entity.extend(
        facts.patients_shown.iter().filter(|shown| Some(*shown) != facts.patient_id.as_ref()).map(patient_entity),
    );
    entity.push(AuditEventEntity {
        what: None,
        entity_type: Coding {
            system: AUDIT_ENTITY_TYPE.to_owned(),
            code: "2".to_owned(),
            display: Some("System Object".to_owned()),
        },
        role: None,
        name: Some(facts.resource.clone()),
    });
    AuditEvent {
        id: format!("audit-{}", facts.seq),
        extension: vec![
            Extension {
                url: format!("{KETACARE_EXTENSION_BASE}/audit-chain-hash"),
                value: ExtensionValue::String(format!("{}:{}", facts.hash_algorithm, facts.hash)),
            },
            Extension {
                url: format!("{KETACARE_EXTENSION_BASE}/audit-chain-previous-hash"),
                value: ExtensionValue::String(facts.prev_hash.clone()),
            },
        ],
        event_type: Coding { system: DICOM.to_owned(), code: code.to_owned(), display: Some(display.to_owned()) },
        subtype: vec![Coding { system: KETACARE_AUDIT_ACTION.to_owned(), code: facts.action.clone(), display: None }],
        action: audit_action_code(&facts.action).to_owned(),
        recorded: facts.occurred_at.clone(),
        outcome: outcome_code(&facts.outcome).to_owned(),
        outcome_desc: (facts.outcome != "success").then(|| facts.outcome.clone()),
        agent: vec![agent],
        source: AuditEventSource {
            observer: AuditReference { reference: None, identifier: None, display: Some("ketacare".to_owned()) },
            source_type: vec![Coding {
                system: SECURITY_SOURCE_TYPE.to_owned(),
                code: "4".to_owned(),
                display: Some("Application Server".to_owned()),
            }],
        },
        entity,
    }
}
