//! The OpenAPI paths and schemas of the treatment routes (plans, sessions, observations, administrations,
//! alert acknowledgements, REMS forms), added to the document of `openapi.rs`; apart to ease merging.

use serde_json::{Value, json};

use crate::openapi::{body, operation, schema_ref};

fn path_parameter(name: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } })
}

/// Adds the treatment paths and their schemas to `document`.
pub(crate) fn add_treatment_paths(document: &mut Value) {
    let patient_id = path_parameter("patient_id");
    let plan_id = path_parameter("plan_id");
    let session_id = path_parameter("session_id");
    let alert_id = json!({ "name": "alert_id", "in": "path", "required": true, "schema": { "type": "string" },
        "description": "The alert's rule and episode, e.g. BP_HIGH#1 (written BP_HIGH%231 in the path)" });
    let idempotency_key = json!({ "$ref": "#/components/parameters/IdempotencyKey" });
    let if_match = json!({ "$ref": "#/components/parameters/IfMatch" });
    let document_body = |description: &str| body(json!({ "type": "object", "description": description }));
    let paths = json!({
        "/api/v1/worklist": {
            "get": operation("The clinic's worklist for a day: sessions scheduled, alerts not acknowledged since their last change (most severe first), self-reports overdue on active plans, REMS forms not submitted due within 7 days or overdue; every patient listed is audited as read",
                (200, "The worklist", json!({ "type": "object", "required": ["date", "time_zone", "sessions_today", "open_alerts", "overdue_self_reports", "rems_forms_due"],
                    "properties": { "date": { "type": "string", "format": "date" }, "time_zone": { "type": "string" },
                        "sessions_today": { "type": "array", "items": { "type": "object" } },
                        "open_alerts": { "type": "array", "items": { "type": "object" } },
                        "self_report_alerts": { "type": "array", "items": { "type": "object" },
                            "description": "Patients' self-reports whose PHQ-9 item 9 reached scales.phq9_item9_screen_from, not yet acknowledged (level critical; docs/self-report.md)" },
                        "overdue_self_reports": { "type": "array", "items": { "type": "object" } },
                        "rems_forms_due": { "type": "array", "items": { "type": "object" } },
                        "open_stock_discrepancies": { "type": "integer", "minimum": 0,
                            "description": "Controlled-substance count discrepancies awaiting an admin (0 for other roles)" } } })),
                &[401, 403, 422],
                json!({ "parameters": [
                    { "name": "date", "in": "query", "schema": { "type": "string", "format": "date" }, "description": "The clinic's local date; default today in time_zone" },
                    { "name": "time_zone", "in": "query", "schema": { "type": "string", "default": "UTC" }, "description": "The clinic's IANA time zone" }
                ] }))
        },
        "/api/v1/patients/{patient_id}/plans": {
            "get": operation("A patient's plans, oldest first, each with its schedule and report now",
                (200, "Plans", json!({ "type": "object", "properties": { "plans": { "type": "array", "items": schema_ref("TreatmentPlan") } } })),
                &[401, 403, 404], json!({ "parameters": [patient_id] })),
            "post": operation("Prescribe a treatment plan (prescriber): a plan document of docs/sessions.md without `now`; generates the scheduled sessions",
                (201, "The plan with its schedule (Location, ETag)", schema_ref("TreatmentPlan")), &[401, 403, 404, 422],
                json!({ "parameters": [patient_id, idempotency_key],
                        "requestBody": document_body("A plan document as `ketacare plan` reads it, without `now`") }))
        },
        "/api/v1/patients/{patient_id}/plans/{plan_id}": {
            "get": operation("A plan with its scheduled sessions and measurement plan status now (ETag)",
                (200, "The plan", schema_ref("TreatmentPlan")), &[401, 403, 404], json!({ "parameters": [patient_id, plan_id] })),
            "patch": operation("Amend or cancel a plan with a reason; the prior plan is kept as an amendment",
                (200, "The plan (new ETag)", schema_ref("TreatmentPlan")), &[401, 403, 404, 412, 422, 428],
                json!({ "parameters": [patient_id, plan_id, if_match],
                        "requestBody": body(json!({ "type": "object", "required": ["reason"], "additionalProperties": false, "properties": {
                            "reason": { "type": "string" }, "plan": { "type": "object", "description": "A new plan document" },
                            "status": { "type": "string", "enum": ["active", "cancelled", "entered_in_error"] } } })) }))
        },
        "/api/v1/patients/{patient_id}/plans/{plan_id}/measurements-not-applicable/{marking_id}": {
            "patch": operation("Correct a not-applicable marking made in error (nurse, prescriber): kept, with the reason, who and when; the measurement counts again",
                (200, "The marking (new ETag)", schema_ref("MeasurementNotApplicable")), &[401, 403, 404, 412, 422, 428],
                json!({ "parameters": [patient_id, plan_id, { "name": "marking_id", "in": "path", "required": true, "schema": { "type": "string" } }, if_match],
                        "requestBody": body(json!({ "type": "object", "required": ["status", "reason"], "additionalProperties": false, "properties": {
                            "status": { "type": "string", "enum": ["entered_in_error"] }, "reason": { "type": "string", "maxLength": 1000 } } })) }))
        },
        "/api/v1/patients/{patient_id}/plans/{plan_id}/measurements-not-applicable": {
            "get": operation("A plan's not-applicable markings, active and entered in error, oldest first",
                (200, "Markings", json!({ "type": "object", "properties": { "markings": { "type": "array", "items": schema_ref("MeasurementNotApplicable") } } })),
                &[401, 403, 404], json!({ "parameters": [patient_id, plan_id] })),
            "post": operation("Mark one measurement of the plan's measurement plan not applicable, with a reason (nurse, prescriber); kept for good, audited; the measurement becomes `not_applicable` in the report (off the worklist, not counted in adherence)",
                (201, "The marking", schema_ref("MeasurementNotApplicable")), &[401, 403, 404, 409, 422],
                json!({ "parameters": [patient_id, plan_id],
                        "requestBody": body(json!({ "type": "object", "required": ["scale", "due_at", "reason"], "additionalProperties": false, "properties": {
                            "scale": { "type": "string", "enum": ["phq9", "madrs", "urinary_symptoms", "cognition"] },
                            "due_at": { "type": "string", "description": "The measurement's `due_at` as the report gives it (an instant with its offset)" },
                            "reason": { "type": "string", "maxLength": 1000 } } })) }))
        },
        "/api/v1/patients/{patient_id}/sessions": {
            "get": operation("A patient's treatment sessions, oldest first, as summaries (session id, modality, planned time, status, observation count, REMS submission)",
                (200, "Sessions", json!({ "type": "object", "properties": { "sessions": { "type": "array", "items": { "type": "object" } } } })),
                &[401, 403, 404], json!({ "parameters": [patient_id] })),
            "post": operation("Start a treatment session: a session document of docs/sessions.md without observations or `now`, optionally `fulfils: { plan_id, position }`",
                (201, "The session with the engine's view (Location, ETag)", schema_ref("TreatmentSession")), &[401, 403, 404, 422],
                json!({ "parameters": [patient_id, idempotency_key],
                        "requestBody": document_body("modality, care_setting, time_zone, dose, pre_dose, discharge, rems, monitoring_ended_at, fulfils") }))
        },
        "/api/v1/patients/{patient_id}/sessions/{session_id}": {
            "get": operation("A session with the engine's view now: pre-dose gate, alerts, discharge readiness, REMS form (ETag)",
                (200, "The session", schema_ref("TreatmentSession")), &[401, 403, 404], json!({ "parameters": [patient_id, session_id] })),
            "patch": operation("Update pre-dose, discharge, REMS or dose facts, or mark entered in error; replacing a recorded value needs a reason",
                (200, "The session (new ETag)", schema_ref("TreatmentSession")), &[401, 403, 404, 412, 422, 428],
                json!({ "parameters": [patient_id, session_id, if_match],
                        "requestBody": body(json!({ "type": "object", "additionalProperties": false, "properties": {
                            "reason": { "type": "string" }, "status": { "type": "string", "enum": ["active", "entered_in_error"] },
                            "slot_status": { "type": "string", "enum": ["scheduled", "missed"] },
                            "pre_dose": { "type": "object" }, "discharge": { "type": "object" }, "rems": { "type": "object" },
                            "dose": { "type": "object" }, "monitoring_ended_at": { "type": "string" } } })) }))
        },
        "/api/v1/patients/{patient_id}/sessions/{session_id}/observations": {
            "post": operation("Record one vital-sign set; runs the alert engine and returns the alerts it raised, escalated, de-escalated or resolved",
                (201, "The observation with its alert changes", schema_ref("ObservationRecorded")), &[401, 403, 404, 409, 422],
                json!({ "parameters": [patient_id, session_id, idempotency_key],
                        "requestBody": document_body("One element of a session document's `observations` (docs/sessions.md)") }))
        },
        "/api/v1/patients/{patient_id}/sessions/{session_id}/administrations": {
            "post": operation("Record a drug administration (lot number required)",
                (201, "The administration", json!({ "type": "object" })), &[401, 403, 404, 422],
                json!({ "parameters": [patient_id, session_id, idempotency_key],
                        "requestBody": body(json!({ "type": "object", "required": ["drug", "dose_mg", "lot_number", "started_at"],
                            "additionalProperties": false, "properties": {
                            "drug": { "type": "string", "enum": ["esketamine", "ketamine"] }, "dose_mg": { "type": "number" },
                            "device_count": { "type": "integer", "minimum": 1 },
                            "started_at": { "type": "string", "description": "clinic-local YYYY-MM-DDTHH:MM" },
                            "ended_at": { "type": "string" }, "lot_number": { "type": "string" } } })) }))
        },
        "/api/v1/patients/{patient_id}/sessions/{session_id}/administrations/{administration_id}": {
            "patch": operation("Mark an administration entered in error (or active again) with a reason; the prior record is kept as an amendment",
                (200, "The session (new ETag)", schema_ref("TreatmentSession")), &[401, 403, 404, 412, 422, 428],
                json!({ "parameters": [patient_id, session_id, path_parameter("administration_id"), if_match],
                        "requestBody": body(json!({ "type": "object", "required": ["reason", "status"], "additionalProperties": false,
                            "properties": { "reason": { "type": "string" },
                                            "status": { "type": "string", "enum": ["active", "entered_in_error"] } } })) }))
        },
        "/api/v1/patients/{patient_id}/sessions/{session_id}/alerts/{alert_id}/acknowledgement": {
            "post": operation("Acknowledge an alert (who is the caller); it stays active until the engine resolves it",
                (201, "The acknowledgement", json!({ "type": "object" })), &[401, 403, 404, 422],
                json!({ "parameters": [patient_id, session_id, alert_id, idempotency_key],
                        "requestBody": body(json!({ "type": "object", "additionalProperties": false, "properties": {
                            "acknowledged_at": { "type": "string", "description": "clinic-local; default now" },
                            "note": { "type": "string" } } })) }))
        },
        "/api/v1/patients/{patient_id}/sessions/{session_id}/rems-form": {
            "get": operation("The session's REMS Patient Monitoring Form: edition, fields, status (draft, complete, submitted), due date (ETag of the session)",
                (200, "The form", json!({ "type": "object" })), &[401, 403, 404], json!({ "parameters": [patient_id, session_id] }))
        },
        "/api/v1/patients/{patient_id}/sessions/{session_id}/rems-form/submission": {
            "post": operation("Mark the REMS form submitted: only a complete form (the error names the missing fields), after the monitoring it attests ended (not after now) and with the REMS minimum met",
                (200, "The form, submitted", json!({ "type": "object" })), &[401, 403, 404, 409, 412, 422, 428],
                json!({ "parameters": [patient_id, session_id, if_match] }))
        },
        "/api/v1/patients/{patient_id}/orders": {
            "get": operation("A patient's dose orders, oldest first",
                (200, "Orders", json!({ "type": "object", "properties": { "orders": { "type": "array", "items": schema_ref("DoseOrder") } } })),
                &[401, 403, 404], json!({ "parameters": [patient_id] })),
            "post": operation("Sign a dose order (prescriber): IV from mg/kg and infusion minutes on the chart's height, weight and sex at birth, or an esketamine dose; refused at a hard stop (422 clinical-refusal with rule_id)",
                (201, "The order (Location)", schema_ref("DoseOrder")), &[401, 403, 404, 422],
                json!({ "parameters": [patient_id, idempotency_key],
                        "requestBody": body(json!({ "type": "object", "required": ["modality"], "additionalProperties": false, "properties": {
                            "modality": { "type": "string", "enum": ["iv_racemic_ketamine", "esketamine"] },
                            "mg_per_kg": { "type": "number", "description": "IV; protocol default 0.5" },
                            "infusion_min": { "type": "number", "description": "IV; protocol default 40" },
                            "dose_mg": { "type": "number", "description": "esketamine: whole devices" },
                            "plan_id": { "type": "string" } } })) }))
        },
        "/api/v1/patients/{patient_id}/orders/{order_id}": {
            "patch": operation("Discontinue an order or mark it entered in error (prescriber), with a reason",
                (200, "The order (new ETag)", schema_ref("DoseOrder")), &[401, 403, 404, 412, 422, 428],
                json!({ "parameters": [patient_id, path_parameter("order_id"), if_match],
                        "requestBody": body(json!({ "type": "object", "required": ["reason", "status"], "additionalProperties": false,
                            "properties": { "reason": { "type": "string" },
                                            "status": { "type": "string", "enum": ["discontinued", "entered_in_error"] } } })) }))
        },
        "/api/v1/patients/{patient_id}/sessions/{session_id}/overrides": {
            "post": operation("Override one overridable hold of the pre-dose gate, or a dose that differs from its order (prescriber), with a reason; a hold that cannot be overridden is refused",
                (200, "The session (new ETag)", schema_ref("TreatmentSession")), &[401, 403, 404, 412, 422, 428],
                json!({ "parameters": [patient_id, session_id, if_match],
                        "requestBody": body(json!({ "type": "object", "required": ["item", "reason"], "additionalProperties": false,
                            "properties": { "item": { "type": "string", "description": "a gate item (BP, PREGNANCY, FASTING, SUICIDALITY_SCREEN) or DOSE_DIFFERS_FROM_ORDER" },
                                            "reason": { "type": "string" } } })) }))
        },
        "/api/v1/patients/{patient_id}/sessions/{session_id}/observations/{sequence}": {
            "patch": operation("Mark an observation entered in error with a reason (its recorder or a prescriber); the alerts are replayed from the remaining observations as a new revision",
                (200, "The session (new ETag)", schema_ref("TreatmentSession")), &[401, 403, 404, 412, 422, 428],
                json!({ "parameters": [patient_id, session_id, path_parameter("sequence"), if_match],
                        "requestBody": body(json!({ "type": "object", "required": ["reason", "status"], "additionalProperties": false,
                            "properties": { "reason": { "type": "string" },
                                            "status": { "type": "string", "enum": ["entered_in_error"] } } })) }))
        },
        "/api/v1/patients/{patient_id}/sessions/{session_id}/discharge": {
            "post": operation("Discharge a session in monitoring once the engine says the patient is ready; records the end of monitoring and completes its scheduled session",
                (200, "The session (new ETag)", schema_ref("TreatmentSession")), &[401, 403, 404, 412, 422, 428],
                json!({ "parameters": [patient_id, session_id, if_match] }))
        },
        "/api/v1/patients/{patient_id}/sessions/{session_id}/signature": {
            "post": operation("Sign a discharged session (prescriber), which locks it: later changes are amendments with a reason",
                (200, "The session (new ETag)", schema_ref("TreatmentSession")), &[401, 403, 404, 412, 422, 428],
                json!({ "parameters": [patient_id, session_id, if_match] }))
        }
    });
    let schemas = json!({
        "TreatmentPlan": { "type": "object", "properties": {
            "plan_id": { "type": "string" }, "patient_id": { "type": "string" },
            "status": { "type": "string", "enum": ["active", "cancelled", "entered_in_error"] }, "version": { "type": "integer" },
            "plan": { "type": "object" },
            "scheduled_sessions": { "type": "array", "items": { "type": "object", "properties": {
                "position": { "type": "integer" }, "session_number": { "type": ["integer", "null"] }, "step": { "type": "string" },
                "phase": { "type": "string" }, "planned_at": { "type": "string" },
                "status": { "type": "string", "enum": ["scheduled", "completed", "missed", "cancelled"] },
                "treatment_session_id": { "type": ["string", "null"] } } } },
            "report": schema_ref("PlanReport") } },
        "DoseOrder": { "type": "object", "properties": {
            "order_id": { "type": "string" }, "patient_id": { "type": "string" }, "plan_id": { "type": ["string", "null"] },
            "modality": { "type": "string", "enum": ["iv_racemic_ketamine", "esketamine"] },
            "status": { "type": "string", "enum": ["active", "discontinued", "entered_in_error"] },
            "version": { "type": "integer" }, "signed_by": { "type": "string" }, "signed_at": { "type": "string" },
            "order": { "type": "object", "description": "dose_mg; IV: mg_per_kg, infusion_min, basis, basis_kg, bmi, pump_rate_ml_per_h; esketamine: device_mg, device_count" } } },
        "TreatmentSession": { "type": "object", "properties": {
            "session_id": { "type": "string" }, "patient_id": { "type": "string" }, "status": { "type": "string" },
            "stage": { "type": "string", "enum": ["in_progress", "monitoring", "discharged", "locked"] },
            "order": { "type": ["object", "null"] }, "overrides": { "type": "array", "items": { "type": "object" } },
            "pre_dose_sources": { "type": "array", "items": { "type": "object" } },
            "observation_log": { "type": "array", "items": { "type": "object" } },
            "version": { "type": "integer" }, "document": { "type": "object" },
            "report": { "type": "object", "description": "`ketacare session check --format json` now" },
            "alert_log": { "type": "array", "items": { "type": "object" } },
            "acknowledgements": { "type": "array", "items": { "type": "object" } },
            "administrations": { "type": "array", "items": { "type": "object" } },
            "rems_form": { "type": "object" } } },
        "ObservationRecorded": { "type": "object", "properties": {
            "observation_id": { "type": "string" }, "sequence": { "type": "integer" }, "at": { "type": "string" },
            "alerts": { "type": "object", "properties": {
                "changes": { "type": "array", "items": { "type": "object" } },
                "active": { "type": "array", "items": { "type": "object" } } } },
            "session_version": { "type": "integer" } } }
    });
    if let (Some(target), Value::Object(paths)) = (document["paths"].as_object_mut(), paths) {
        target.extend(paths);
    }
    if let (Some(target), Value::Object(schemas)) = (document["components"]["schemas"].as_object_mut(), schemas) {
        target.extend(schemas);
    }
    add_plan_report_schemas(document);
}

/// The plan report (measurement plan with missed and not applicable, adherence, the course on every
/// scale) and the not-applicable marking; apart from the others to stay within `json!`'s recursion.
fn add_plan_report_schemas(document: &mut Value) {
    let course = json!({ "type": ["object", "null"], "properties": {
        "status": { "type": "string", "enum": ["relapse", "lost_response", "sustained_remission", "remission", "response", "partial_response", "non_response", "indeterminate"] },
        "missing": { "type": "array", "items": { "type": "string" } },
        "recommendation": { "type": "string", "enum": ["continue", "taper", "reassess", "return_to_more_frequent_schedule", "none"] },
        "reasons": { "type": "array", "items": { "type": "string" } }, "source": { "type": "string" },
        "primary_scale": { "type": "string", "enum": ["madrs", "phq9", "qids_sr16", "hamd17"] },
        "decided_by": { "type": ["string", "null"], "enum": ["madrs", "phq9", "qids_sr16", "hamd17", null] },
        "scales": { "type": "array", "description": "Each scale's own evaluation, the primary first", "items": { "type": "object", "properties": {
            "scale": { "type": "string" }, "status": { "type": "string" }, "missing": { "type": "array", "items": { "type": "string" } },
            "recommendation": { "type": "string" }, "baseline": { "type": ["object", "null"] }, "latest": { "type": ["object", "null"] },
            "first_response": { "type": ["object", "null"] }, "first_remission": { "type": ["object", "null"] },
            "relapse": { "type": "object", "properties": { "status": { "type": "string", "enum": ["not_defined_for_scale", "no_response_or_remission_yet", "no_relapse", "relapsed", "indeterminate"] } } } } } } } });
    let measurement = json!({ "type": "object", "properties": {
        "scale": { "type": "string", "enum": ["phq9", "madrs", "urinary_symptoms", "cognition"] },
        "reason": { "type": "string" }, "window_opens": { "type": "string" }, "due_at": { "type": "string" },
        "closes_at": { "type": "string", "description": "After this, not done means missed" },
        "status": { "type": "string", "enum": ["done", "due", "overdue", "missed", "not_applicable", "upcoming"] },
        "source": { "type": "string" } } });
    let schemas = json!({
        "PlanReport": { "type": "object", "description": "`ketacare plan --format json` now (docs/sessions.md)", "properties": {
            "template": { "type": "string" }, "time_zone": { "type": ["string", "null"] },
            "sessions": { "type": "array", "items": { "type": "object" } },
            "measurements": { "type": "array", "items": measurement },
            "measurement_adherence": { "type": "object", "properties": {
                "done": { "type": "integer" }, "missed": { "type": "integer" }, "not_applicable": { "type": "integer" },
                "percent": { "type": ["integer", "null"], "description": "done / (done + missed), rounded" } } },
            "notes": { "type": "array", "items": { "type": "object" } },
            "course": course,
            "rules_version": { "type": "string" }, "protocol": { "type": "object" } } },
        "MeasurementNotApplicable": { "type": "object", "properties": {
            "marking_id": { "type": "string" }, "patient_id": { "type": "string" }, "plan_id": { "type": "string" },
            "scale": { "type": "string" }, "due_at": { "type": "string" }, "reason": { "type": "string" },
            "status": { "type": "string", "enum": ["active", "entered_in_error"] },
            "marked_by": { "type": "string" }, "marked_role": { "type": "string" }, "marked_at": { "type": "string" },
            "version": { "type": "integer" }, "entered_in_error_reason": { "type": ["string", "null"] },
            "entered_in_error_by": { "type": ["string", "null"] }, "entered_in_error_at": { "type": ["string", "null"] } } }
    });
    if let (Some(target), Value::Object(schemas)) = (document["components"]["schemas"].as_object_mut(), schemas) {
        target.extend(schemas);
    }
}
