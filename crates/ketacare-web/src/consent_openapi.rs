//! The OpenAPI paths and schemas of the consent routes (consent forms, a patient's consents), added to the
//! document of `openapi.rs`; apart to ease merging.

use serde_json::{Value, json};

use crate::openapi::{body, operation, schema_ref};

/// Adds the consent paths and their schemas to `document`.
pub(crate) fn add_consent_paths(document: &mut Value) {
    let patient_id = json!({ "name": "patient_id", "in": "path", "required": true, "schema": { "type": "string" } });
    let consent_id = json!({ "name": "consent_id", "in": "path", "required": true, "schema": { "type": "string" } });
    let idempotency_key = json!({ "$ref": "#/components/parameters/IdempotencyKey" });
    let if_match = json!({ "$ref": "#/components/parameters/IfMatch" });
    let modality = json!({ "type": "string", "enum": ["esketamine", "iv_racemic_ketamine"] });
    let date = json!({ "type": "string", "format": "date" });
    let optional_date = json!({ "type": ["string", "null"], "format": "date" });
    let paths = json!({
        "/api/v1/consent-forms": {
            "get": operation("Every version of every consent form (admins, prescribers, nurses)",
                (200, "Consent forms", json!({ "type": "object", "required": ["consent_forms"], "additionalProperties": false,
                    "properties": { "consent_forms": { "type": "array", "items": schema_ref("ConsentForm") } } })),
                &[401, 403], json!({})),
            "post": operation("Store a consent form's next version (admins); a new form_id starts at version 1 and keeps its modality",
                (201, "The stored version", schema_ref("ConsentForm")), &[401, 403, 409, 422],
                json!({ "requestBody": body(json!({ "type": "object", "required": ["form_id", "modality", "title", "body_text"],
                    "additionalProperties": false, "properties": {
                        "form_id": { "type": "string", "pattern": "^[a-z0-9-]{1,64}$" }, "modality": modality,
                        "title": { "type": "string", "maxLength": 200 }, "body_text": { "type": "string", "maxLength": 20000 },
                        "valid_for_days": { "type": ["integer", "null"], "minimum": 1, "maximum": 3650,
                            "description": "How long a consent on this version holds from its signature; absent: until withdrawn" } } })) }))
        },
        "/api/v1/patients/{patient_id}/consents": {
            "get": operation("A patient's consents, and whether each modality has a current one today (what the pre-dose gate's INFORMED_CONSENT reads)",
                (200, "Consents", schema_ref("PatientConsents")), &[401, 403, 404], json!({ "parameters": [patient_id] })),
            "post": operation("Record a patient's signed consent on a form version (nurses, prescribers); signed_on not after today",
                (201, "The consent (Location, ETag)", schema_ref("Consent")), &[401, 403, 404, 409, 422],
                json!({ "parameters": [patient_id, idempotency_key],
                    "requestBody": body(json!({ "type": "object", "additionalProperties": false,
                        "required": ["form_id", "signed_on", "signer_name", "signer_relationship", "witness_username"], "properties": {
                        "form_id": { "type": "string" }, "form_version": { "type": ["integer", "null"], "description": "absent: the latest" },
                        "signed_on": date, "signer_name": { "type": "string" },
                        "signer_relationship": { "type": "string", "enum": ["patient", "legal_representative"] },
                        "witness_username": { "type": "string", "description": "an active admin, prescriber or nurse account" },
                        "valid_until": optional_date.clone() } })) }))
        },
        "/api/v1/patients/{patient_id}/consents/{consent_id}": {
            "patch": operation("Withdraw a consent or mark it entered in error, with a reason; the prior row is kept as an amendment",
                (200, "The consent (new ETag)", schema_ref("Consent")), &[401, 403, 404, 412, 422, 428],
                json!({ "parameters": [patient_id, consent_id, if_match],
                    "requestBody": body(json!({ "type": "object", "additionalProperties": false, "required": ["status", "reason"], "properties": {
                        "status": { "type": "string", "enum": ["withdrawn", "entered_in_error"] }, "reason": { "type": "string" },
                        "withdrawn_on": optional_date.clone() } })) }))
        }
    });
    let schemas = json!({
        "ConsentForm": { "type": "object", "additionalProperties": false,
            "required": ["form_id", "version", "modality", "title", "body_text", "body_sha256", "valid_for_days", "created_at", "created_by"],
            "properties": { "form_id": { "type": "string" }, "version": { "type": "integer" }, "modality": modality,
                "title": { "type": "string" }, "body_text": { "type": "string" }, "body_sha256": { "type": "string" },
                "valid_for_days": { "type": ["integer", "null"] }, "created_at": { "type": "string" }, "created_by": { "type": "string" } } },
        "Consent": { "type": "object", "additionalProperties": false,
            "required": ["consent_id", "patient_id", "form_id", "form_version", "form_title", "modality", "signed_on", "valid_until",
                "signer_name", "signer_relationship", "witnessed_by", "withdrawn_on", "withdrawal_reason", "status", "version", "created_at", "created_by"],
            "properties": { "consent_id": { "type": "string" }, "patient_id": { "type": "string" }, "form_id": { "type": "string" },
                "form_version": { "type": "integer" }, "form_title": { "type": "string" }, "modality": modality, "signed_on": date,
                "valid_until": optional_date, "signer_name": { "type": "string" },
                "signer_relationship": { "type": "string", "enum": ["patient", "legal_representative"] },
                "witnessed_by": { "type": "string", "description": "user id" }, "withdrawn_on": optional_date,
                "withdrawal_reason": { "type": ["string", "null"] }, "status": { "type": "string", "enum": ["active", "entered_in_error"] },
                "version": { "type": "integer" }, "created_at": { "type": "string" }, "created_by": { "type": "string" } } },
        "PatientConsents": { "type": "object", "additionalProperties": false, "required": ["patient_id", "as_of", "by_modality", "consents"],
            "properties": { "patient_id": { "type": "string" }, "as_of": date,
                "by_modality": { "type": "array", "items": { "type": "object", "additionalProperties": false, "required": ["modality", "informed_consent"],
                    "properties": { "modality": modality,
                        "informed_consent": { "type": "string", "enum": ["current", "expired", "withdrawn", "not_on_file"] } } } },
                "consents": { "type": "array", "items": schema_ref("Consent") } } }
    });
    if let (Some(target), Value::Object(paths)) = (document["paths"].as_object_mut(), paths) {
        target.extend(paths);
    }
    if let (Some(target), Value::Object(schemas)) = (document["components"]["schemas"].as_object_mut(), schemas) {
        target.extend(schemas);
    }
}
