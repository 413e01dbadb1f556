//! The OpenAPI path of the cohort outcomes report (`GET /api/v1/reports/outcomes`), added to the document
//! of `openapi.rs`; apart to ease merging.

use serde_json::{Value, json};

use crate::openapi::operation;

/// Adds the outcomes report path to `document`.
pub(crate) fn add_outcomes_paths(document: &mut Value) {
    let rate = json!({ "type": ["string", "null"], "description": "Percent, one decimal, as a decimal string; null without a denominator" });
    let report = json!({ "type": "object", "properties": {
        "modality": { "type": "string", "enum": ["iv_ketamine", "esketamine"] },
        "from": { "type": "string", "format": "date" }, "to": { "type": "string", "format": "date" },
        "patients": { "type": "integer", "description": "Plans of the modality started in the period" },
        "checkpoints": { "type": "array", "items": { "type": "object", "properties": {
            "checkpoint": { "type": "string", "enum": ["week_1", "week_4", "week_8", "end_of_induction"] },
            "reached": { "type": "integer" }, "measured": { "type": "integer" },
            "responders": { "type": "integer" }, "remitters": { "type": "integer" },
            "response_rate_pct": rate, "remission_rate_pct": rate,
            "decided_by": { "type": "array", "items": { "type": "object", "properties": {
                "scale": { "type": "string" }, "patients": { "type": "integer" } } } } } } },
        "time_to_response": { "type": "object", "properties": { "responders": { "type": "integer" }, "median_days": { "type": ["string", "null"] } } },
        "sessions": { "type": "object", "properties": { "given": { "type": "integer" }, "median_per_patient": { "type": ["string", "null"] } } },
        "measurement_adherence": { "type": "object", "properties": { "due": { "type": "integer" }, "done": { "type": "integer" }, "percent": rate } },
        "alerts": { "type": "array", "items": { "type": "object", "properties": {
            "level": { "type": "string", "enum": ["info", "warning", "critical", "emergency"] },
            "alerts": { "type": "integer" }, "per_session": { "type": ["string", "null"] } } } },
        "rems_forms": { "type": ["object", "null"], "description": "Esketamine only: forms due, submitted within 7 days of the treatment, percent",
            "properties": { "due": { "type": "integer" }, "on_time": { "type": "integer" }, "percent": rate } },
        "patient_rows": { "type": "array", "description": "One per plan: pseudonym and ISO week only (no names, no dates finer than the week)",
            "items": { "type": "object", "properties": {
                "pseudonym": { "type": "string" }, "plan_started_week": { "type": "string", "example": "2026-W10" },
                "checkpoints": { "type": "object" }, "days_to_response": { "type": ["integer", "null"] },
                "sessions_given": { "type": "integer" } } } } } });
    let mut get = operation(
        "The clinic's cohort outcomes report (docs/outcomes.md) over the plans started in the period: response and remission at weeks 1, 4, 8 and the end of induction on the scale that decides (clinical-reference §5.10), time to response, sessions, measurement adherence, alerts per session by level, REMS forms on time; patients by pseudonym and week only; one report.outcomes audit event",
        (
            200,
            "The reports, one per modality",
            json!({ "type": "object", "properties": {
            "as_of": { "type": "string", "format": "date" }, "reports": { "type": "array", "items": report } } }),
        ),
        &[401, 403, 422],
        json!({ "parameters": [
            { "name": "modality", "in": "query", "schema": { "type": "string", "enum": ["iv_ketamine", "esketamine"] }, "description": "Default both" },
            { "name": "from", "in": "query", "schema": { "type": "string", "format": "date" }, "description": "First plan start counted; default a year before to" },
            { "name": "to", "in": "query", "schema": { "type": "string", "format": "date" }, "description": "Last plan start counted; default today" },
            { "name": "format", "in": "query", "schema": { "type": "string", "enum": ["json", "csv"] }, "description": "csv: the same as Accept: text/csv" }
        ] }),
    );
    get["responses"]["200"]["content"]["text/csv"] = json!({ "schema": { "type": "string" } });
    document["paths"]["/api/v1/reports/outcomes"] = json!({ "get": get });
}
