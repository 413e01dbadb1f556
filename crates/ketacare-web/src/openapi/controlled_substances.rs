//! The controlled-substance record's part of the OpenAPI document (`/controlled-substances/…`,
//! docs/controlled-substances.md), kept apart so it grows without touching the other paths.

use serde_json::{Value, json};

use super::{body, operation, schema_ref};

/// Adds the controlled-substance paths and schemas to `document`.
pub(super) fn add_controlled_substance_paths(document: &mut Value) {
    let entry_id = json!({ "name": "entry_id", "in": "path", "required": true, "schema": { "type": "string" } });
    let idempotency_key = json!({ "$ref": "#/components/parameters/IdempotencyKey" });
    let report_parameters = json!([
        { "name": "from", "in": "query", "schema": { "type": "string", "format": "date" },
          "description": "First clinic-local date of the period (default: the log's start)" },
        { "name": "to", "in": "query", "schema": { "type": "string", "format": "date" },
          "description": "Last clinic-local date of the period, included (default: now)" },
        { "name": "lot_id", "in": "query", "schema": { "type": "string" }, "description": "One lot (default: every lot)" }
    ]);
    let reason_body = body(json!({ "type": "object", "required": ["reason"], "additionalProperties": false,
        "properties": { "reason": { "type": "string", "minLength": 1, "maxLength": 1000 } } }));
    let quantity = json!({ "oneOf": [{ "type": "number", "minimum": 0 }, { "type": "string" }],
        "description": "mg, exact decimal, at most 3 decimals; esketamine in whole 28 mg devices" });
    let paths = json!({
        "/api/v1/controlled-substances/lots": {
            "get": operation("Every lot at every location with its running balance, and the count discrepancies awaiting an admin (admin, prescriber, nurse, auditor)",
                (200, "The stock", schema_ref("StockOverview")), &[401, 403], json!({}))
        },
        "/api/v1/controlled-substances/entries": {
            "get": operation("The log over a period, per lot: each lot's opening and closing balance and what moved, and every entry with the balance after it (admin, prescriber, nurse, auditor); the patients it names are audited as read",
                (200, "The report", schema_ref("StockReport")), &[401, 403, 404, 422],
                json!({ "parameters": report_parameters })),
            "post": operation("Record an entry: received (admin), withdrawn for an administration or wasted before a second witness who signs with their own password (prescriber, nurse), returned (admin), or a count (admin, prescriber, nurse); refused, naming the field and rule, when the lot's balance would go below zero, the lot has expired, the administration is not this patient's standing dose from this lot, or the witness is not another clinician with that password",
                (201, "The entry (Location)", schema_ref("StockEntry")), &[401, 403, 409, 412, 422, 429],
                json!({ "parameters": [idempotency_key],
                        "requestBody": body(json!({ "type": "object", "required": ["kind"], "additionalProperties": false, "properties": {
                            "kind": { "type": "string", "enum": ["received", "withdrawn", "wasted", "returned", "count"] },
                            "quantity_mg": quantity, "counted_mg": quantity,
                            "drug": { "type": "string", "enum": ["ketamine", "esketamine"] },
                            "ndc": { "type": "string" }, "lot_number": { "type": "string" },
                            "expiry_date": { "type": "string", "format": "date" }, "location": { "type": "string" },
                            "supplier": { "type": "string" }, "party": { "type": "string" }, "lot_id": { "type": "string" },
                            "patient_id": { "type": "string" }, "administration_id": { "type": "string" },
                            "witness_username": { "type": "string" }, "witness_password": { "type": "string", "format": "password" },
                            "note": { "type": "string", "maxLength": 200 } } })) }))
        },
        "/api/v1/controlled-substances/entries/{entry_id}": {
            "get": operation("One entry with the lot's balance after it", (200, "The entry", schema_ref("StockEntry")),
                &[401, 403, 404], json!({ "parameters": [entry_id] }))
        },
        "/api/v1/controlled-substances/entries/{entry_id}/entered-in-error": {
            "post": operation("Mark an entry entered in error with a reason (by the permission of its kind); it stays in the log and counts for nothing; refused if the lot's balance would go below zero",
                (200, "The entry", schema_ref("StockEntry")), &[401, 403, 404, 412, 422],
                json!({ "parameters": [entry_id], "requestBody": reason_body }))
        },
        "/api/v1/controlled-substances/entries/{entry_id}/resolution": {
            "post": operation("Resolve a count's discrepancy with a reason (admin)",
                (200, "The count", schema_ref("StockEntry")), &[401, 403, 404, 422],
                json!({ "parameters": [entry_id], "requestBody": reason_body }))
        },
        "/api/v1/controlled-substances/report.csv": {
            "get": operation("The report's entries as CSV (one row per entry of the period with its lot and the balance after it)",
                (200, "", Value::Null), &[401, 403, 404, 422], json!({ "parameters": report_parameters }))
        }
    });
    let text = json!({ "type": "string" });
    let optional_text = json!({ "type": ["string", "null"] });
    let schemas = json!({
        "StockLot": { "type": "object", "properties": {
            "lot_id": text, "drug": { "type": "string", "enum": ["ketamine", "esketamine"] }, "ndc": text, "lot_number": text,
            "expiry_date": { "type": "string", "format": "date" }, "location": text, "version": { "type": "integer" },
            "balance_mg": text, "expired": { "type": "boolean" }, "created_at": text, "created_by": text } },
        "StockEntry": { "type": "object", "properties": {
            "entry_id": text, "lot_id": text,
            "kind": { "type": "string", "enum": ["received", "withdrawn", "wasted", "returned", "count"] },
            "quantity_mg": text, "balance_after_mg": text, "supplier": optional_text, "party": optional_text,
            "patient_id": optional_text, "session_id": optional_text, "administration_id": optional_text,
            "witness_id": optional_text, "witness_username": optional_text, "note": optional_text,
            "expected_mg": optional_text, "discrepancy_mg": optional_text,
            "status": { "type": "string", "enum": ["active", "entered_in_error"] },
            "recorded_at": text, "recorded_by": text } },
        "StockOverview": { "type": "object", "properties": {
            "lots": { "type": "array", "items": schema_ref("StockLot") },
            "open_discrepancies": { "type": "array", "items": schema_ref("StockEntry") } } },
        "StockReport": { "type": "object", "properties": {
            "from": optional_text, "to": optional_text, "lot_id": optional_text, "generated_at": text,
            "lots": { "type": "array", "items": { "type": "object", "properties": {
                "lot": schema_ref("StockLot"), "opening_balance_mg": text, "received_mg": text, "withdrawn_mg": text,
                "wasted_mg": text, "returned_mg": text, "closing_balance_mg": text,
                "counts": { "type": "integer" }, "open_discrepancies": { "type": "integer" } } } },
            "entries": { "type": "array", "items": schema_ref("StockEntry") } } }
    });
    for (path, item) in paths.as_object().expect("paths is an object") {
        document["paths"][path] = item.clone();
    }
    document["paths"]["/api/v1/controlled-substances/report.csv"]["get"]["responses"]["200"] =
        json!({ "description": "The report as CSV", "content": { "text/csv": { "schema": { "type": "string" } } } });
    for (name, schema) in schemas.as_object().expect("schemas is an object") {
        document["components"]["schemas"][name] = schema.clone();
    }
}
