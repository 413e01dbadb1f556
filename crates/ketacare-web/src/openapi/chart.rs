//! The chart's part of the OpenAPI document (`/patients/{patient_id}/chart…`, `…/evaluation`), kept
//! apart from the foundation's paths so the two grow without touching each other.

use serde_json::{Value, json};

use super::{body, operation, schema_ref};

/// Adds the chart's paths and schemas to `document`.
pub(super) fn add_chart_paths(document: &mut Value) {
    let patient_id = json!({ "name": "patient_id", "in": "path", "required": true, "schema": { "type": "string" } });
    let section = json!({ "name": "section", "in": "path", "required": true, "schema": { "$ref": "#/components/schemas/ChartSection" } });
    let record_id = json!({ "name": "record_id", "in": "path", "required": true, "schema": { "type": "string" } });
    let idempotency_key = json!({ "$ref": "#/components/parameters/IdempotencyKey" });
    let if_match = json!({ "$ref": "#/components/parameters/IfMatch" });
    let evaluation_parameters = json!([
        patient_id,
        { "name": "as_of", "in": "query", "schema": { "type": "string", "format": "date" }, "description": "Default today" },
        { "name": "modality", "in": "query", "schema": { "type": "string", "enum": ["both", "iv_ketamine", "esketamine"], "default": "both" } },
        { "name": "jurisdiction", "in": "query", "schema": { "type": "string", "enum": ["US", "EU"], "default": "US" } }
    ]);
    let paths = json!({
        "/api/v1/patients/{patient_id}/chart": {
            "get": operation("The case assembled from the patient's chart (docs/api.md, assembly rules)",
                (200, "A case in the contracts/assess.md format", json!({ "type": "object" })), &[401, 403, 404, 422],
                json!({ "parameters": evaluation_parameters }))
        },
        "/api/v1/patients/{patient_id}/chart/{section}": {
            "get": operation("The records of one section of the chart, in the order recorded (entered-in-error ones too)",
                (200, "Records", json!({ "type": "object", "properties": { "records": { "type": "array", "items": schema_ref("ChartRecord") } } })),
                &[401, 403, 404], json!({ "parameters": [patient_id, section] })),
            "post": operation("Record a chart entry (overrides: prescribers only); the chart is re-evaluated and the decision stored",
                (201, "The record and the new evaluation (Location, ETag)", schema_ref("ChartWrite")), &[401, 403, 404, 422],
                json!({ "parameters": [patient_id, section, idempotency_key],
                        "requestBody": body(json!({ "type": "object", "description": "The section's fields: see docs/api.md" })) }))
        },
        "/api/v1/patients/{patient_id}/chart/{section}/{record_id}": {
            "get": operation("One chart record (ETag)", (200, "The record", schema_ref("ChartRecord")), &[401, 403, 404],
                json!({ "parameters": [patient_id, section, record_id] })),
            "patch": operation("Correct a chart record (the prior one is kept as an amendment); the chart is re-evaluated",
                (200, "The record and the new evaluation (new ETag)", schema_ref("ChartWrite")), &[401, 403, 404, 412, 422, 428],
                json!({ "parameters": [patient_id, section, record_id, if_match],
                        "requestBody": body(json!({ "type": "object", "required": ["reason"], "properties": {
                            "reason": { "type": "string" },
                            "status": { "type": "string", "enum": ["active", "entered_in_error"] } },
                            "description": "Plus the fields to change; null removes one" })) }))
        },
        "/api/v1/patients/{patient_id}/evaluation": {
            "get": operation("The decision on the chart, computed now (not stored); analysts get the case and report de-identified",
                (200, "The assembled case and its report", schema_ref("ChartEvaluation")), &[401, 403, 404, 422],
                json!({ "parameters": evaluation_parameters }))
        }
    });
    let schemas = json!({
        "ChartSection": { "type": "string",
            "enum": ["episodes", "history", "concomitant", "trials", "scales", "measurements", "blood_pressures", "overrides"] },
        "ChartRecord": { "type": "object", "properties": {
            "record_id": { "type": "string" }, "patient_id": { "type": "string" }, "section": schema_ref("ChartSection"),
            "data": { "type": "object", "description": "The record's fields as entered" },
            "total": { "type": "integer", "description": "Scales: the computed total" },
            "status": { "type": "string", "enum": ["active", "entered_in_error"] }, "version": { "type": "integer" },
            "created_at": { "type": "string" }, "created_by": { "type": "string" },
            "updated_at": { "type": "string" }, "updated_by": { "type": "string" } } },
        "ChartWrite": { "type": "object", "properties": {
            "record": schema_ref("ChartRecord"), "evaluation": schema_ref("Assessment") } },
        "ChartEvaluation": { "type": "object", "properties": {
            "patient_id": { "type": "string" }, "as_of": { "type": "string" }, "rules_version": { "type": "string" },
            "protocol_sha256": { "type": "string" }, "de_identified": { "type": "boolean" },
            "case": { "type": "object" }, "report": { "type": "object" } } }
    });
    for (path, item) in paths.as_object().expect("paths is an object") {
        document["paths"][path] = item.clone();
    }
    for (name, schema) in schemas.as_object().expect("schemas is an object") {
        document["components"]["schemas"][name] = schema.clone();
    }
}
