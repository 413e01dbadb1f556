//! The OpenAPI paths and schemas of the clinic-calendar routes (docs/sessions.md "The clinic calendar"),
//! added to the document of `openapi.rs`; apart to ease merging.

use serde_json::{Value, json};

use crate::openapi::{body, operation, schema_ref};

/// Adds the clinic-calendar paths and their schemas to `document`.
pub(crate) fn add_clinic_calendar_paths(document: &mut Value) {
    let holiday_id = json!({ "name": "holiday_id", "in": "path", "required": true, "schema": { "type": "string" } });
    let if_match = json!({ "name": "If-Match", "in": "header", "required": false, "schema": { "type": "string" },
        "description": "The calendar's ETag (\"v3\") once it is set; none the first time" });
    let weekday = json!({ "type": "string", "enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] });
    let paths = json!({
        "/api/v1/clinic-calendar": {
            "get": operation("The clinic calendar (admins, prescribers, nurses): open weekdays, chairs and every holiday; `set` is false until an admin sets it (every day open)",
                (200, "The calendar", schema_ref("ClinicCalendar")), &[401, 403], json!({})),
            "put": operation("Set the open weekdays and the number of chairs (admins); plans made or shown from then on place sessions on open days with a free chair",
                (200, "The calendar", schema_ref("ClinicCalendar")), &[401, 403, 409, 422],
                json!({ "parameters": [if_match],
                    "requestBody": body(json!({ "type": "object", "required": ["open_weekdays", "chairs"], "additionalProperties": false,
                        "properties": { "open_weekdays": { "type": "array", "minItems": 1, "items": weekday.clone() },
                            "chairs": { "type": "integer", "minimum": 1, "maximum": 1000 } } })) }))
        },
        "/api/v1/clinic-calendar/holidays": {
            "post": operation("Add a holiday (admins): a clinic-local date the clinic is closed; one active holiday per date",
                (201, "The holiday", schema_ref("ClinicHoliday")), &[401, 403, 409, 422],
                json!({ "requestBody": body(json!({ "type": "object", "required": ["date", "label"], "additionalProperties": false,
                    "properties": { "date": { "type": "string", "format": "date" }, "label": { "type": "string" } } })) }))
        },
        "/api/v1/clinic-calendar/holidays/{holiday_id}": {
            "patch": operation("Mark a holiday entered in error, with a reason (admins); it is kept",
                (200, "The holiday", schema_ref("ClinicHoliday")), &[401, 403, 404, 409, 412, 422, 428],
                json!({ "parameters": [holiday_id],
                    "requestBody": body(json!({ "type": "object", "required": ["status", "reason"], "additionalProperties": false,
                        "properties": { "status": { "type": "string", "enum": ["entered_in_error"] }, "reason": { "type": "string" } } })) }))
        }
    });
    let holiday = json!({ "type": "object", "additionalProperties": false,
        "required": ["holiday_id", "date", "label", "status", "added_by", "added_at", "version", "entered_in_error_reason",
            "entered_in_error_by", "entered_in_error_at"],
        "properties": { "holiday_id": { "type": "string" }, "date": { "type": "string", "format": "date" },
            "label": { "type": "string" }, "status": { "type": "string", "enum": ["active", "entered_in_error"] },
            "added_by": { "type": "string" }, "added_at": { "type": "string" }, "version": { "type": "integer" },
            "entered_in_error_reason": { "type": ["string", "null"] }, "entered_in_error_by": { "type": ["string", "null"] },
            "entered_in_error_at": { "type": ["string", "null"] } } });
    let calendar = json!({ "type": "object", "additionalProperties": false,
        "required": ["set", "open_weekdays", "chairs", "version", "updated_by", "updated_at", "holidays"],
        "properties": { "set": { "type": "boolean" }, "open_weekdays": { "type": "array", "items": weekday },
            "chairs": { "type": ["integer", "null"] }, "version": { "type": ["integer", "null"] },
            "updated_by": { "type": ["string", "null"] }, "updated_at": { "type": ["string", "null"] },
            "holidays": { "type": "array", "items": schema_ref("ClinicHoliday") } } });
    let schemas = json!({ "ClinicCalendar": calendar, "ClinicHoliday": holiday });
    if let (Some(target), Value::Object(paths)) = (document["paths"].as_object_mut(), paths) {
        target.extend(paths);
    }
    if let (Some(target), Value::Object(schemas)) = (document["components"]["schemas"].as_object_mut(), schemas) {
        target.extend(schemas);
    }
}
