//! The OpenAPI paths and schemas of the self-report routes (docs/self-report.md), added to the document
//! of `openapi.rs`; apart to ease merging.

use serde_json::{Value, json};

use crate::openapi::{body, operation, public, schema_ref};

/// Adds the self-report paths and their schemas to `document`.
pub(crate) fn add_self_report_paths(document: &mut Value) {
    let patient_id = json!({ "name": "patient_id", "in": "path", "required": true, "schema": { "type": "string" } });
    let link_id = json!({ "name": "link_id", "in": "path", "required": true, "schema": { "type": "string" } });
    let token = json!({ "name": "token", "in": "path", "required": true, "schema": { "type": "string" },
        "description": "The link's secret (128 random bits as hex), shown once when the link was made" });
    let scale = json!({ "type": "string", "enum": ["phq9", "gad7"] });
    let public_extra = |parameters: Value, extra: Value| {
        let mut operation = public();
        operation["parameters"] = parameters;
        if let Value::Object(extra) = extra {
            for (key, value) in extra {
                operation[key] = value;
            }
        }
        operation
    };
    let paths = json!({
        "/api/v1/patients/{patient_id}/self-report-links": {
            "get": operation("A patient's self-report links, newest first, each with its status now (open, used, expired); never the tokens",
                (200, "Links", json!({ "type": "object", "required": ["self_report_links"], "additionalProperties": false,
                    "properties": { "self_report_links": { "type": "array", "items": schema_ref("SelfReportLink") } } })),
                &[401, 403, 404], json!({ "parameters": [patient_id.clone()] })),
            "post": operation("Make a one-time link for the patient to answer a questionnaire (nurses, prescribers); the answer holds the token, shown this once; the link works until self_report.link_lifetime_hours from now",
                (201, "The link and its token", schema_ref("SelfReportLinkCreated")), &[401, 403, 404, 422],
                json!({ "parameters": [patient_id.clone()],
                    "requestBody": body(json!({ "type": "object", "required": ["scale"], "additionalProperties": false,
                        "properties": { "scale": scale.clone() } })) }))
        },
        "/api/v1/patients/{patient_id}/self-report-links/{link_id}/acknowledgement": {
            "post": operation("Acknowledge a self-report's suicidality alert (nurses, prescribers): it leaves the worklist",
                (200, "The link", schema_ref("SelfReportLink")), &[401, 403, 404], json!({ "parameters": [patient_id, link_id] }))
        },
        "/api/v1/self-reports/{token}": {
            "get": operation("The patient's questionnaire, without an account: the first name, the scale and its number of items",
                (200, "The questionnaire", json!({ "type": "object", "additionalProperties": false,
                    "required": ["given_name", "scale", "item_count", "expires_at"],
                    "properties": { "given_name": { "type": "string" }, "scale": scale.clone(), "item_count": { "type": "integer" },
                        "expires_at": { "type": "string" } } })),
                &[410], public_extra(json!([token.clone()]), json!({}))),
            "post": operation("The patient's answers, without an account: every item 0 to 3 in order; stored in the chart's scales, scored, and the link used; a PHQ-9 item 9 at or above scales.phq9_item9_screen_from raises a critical worklist alert and the answer carries the protocol's crisis text",
                (201, "Sent", json!({ "type": "object", "additionalProperties": false, "required": ["given_name", "scale", "crisis_text"],
                    "properties": { "given_name": { "type": "string" }, "scale": scale.clone(),
                        "crisis_text": { "type": ["string", "null"], "description": "self_report.crisis_text, when item 9 screened positive" } } })),
                &[410, 422],
                public_extra(json!([token]), json!({ "requestBody": body(json!({ "type": "object", "required": ["answers"],
                    "additionalProperties": false, "properties": { "answers": { "type": "array",
                        "items": { "type": "integer", "minimum": 0, "maximum": 3 } } } })) })))
        }
    });
    let link = json!({ "type": "object", "additionalProperties": false,
        "required": ["link_id", "patient_id", "scale", "status", "created_at", "created_by", "expires_at", "used_at",
            "scale_result_id", "suicidality_alert", "alert_acknowledged_at", "alert_acknowledged_by"],
        "properties": { "link_id": { "type": "string" }, "patient_id": { "type": "string" }, "scale": scale,
            "status": { "type": "string", "enum": ["open", "used", "expired"] },
            "created_at": { "type": "string" }, "created_by": { "type": "string" }, "expires_at": { "type": "string" },
            "used_at": { "type": ["string", "null"] }, "scale_result_id": { "type": ["string", "null"] },
            "suicidality_alert": { "type": "boolean" }, "alert_acknowledged_at": { "type": ["string", "null"] },
            "alert_acknowledged_by": { "type": ["string", "null"] } } });
    let schemas = json!({
        "SelfReportLink": link,
        "SelfReportLinkCreated": { "type": "object", "additionalProperties": false, "required": ["link", "token", "path"],
            "properties": { "link": schema_ref("SelfReportLink"), "token": { "type": "string" },
                "path": { "type": "string", "description": "The patient's page, /r/{token}" } } }
    });
    if let (Some(target), Value::Object(paths)) = (document["paths"].as_object_mut(), paths) {
        target.extend(paths);
    }
    if let (Some(target), Value::Object(schemas)) = (document["components"]["schemas"].as_object_mut(), schemas) {
        target.extend(schemas);
    }
}
