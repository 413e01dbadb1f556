//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`, written by hand here next to the
//! routes (a test checks that it documents exactly [`crate::ROUTES`]).

use serde_json::{Value, json};

mod chart;
mod controlled_substances;

fn problem_responses(statuses: &[u16]) -> serde_json::Map<String, Value> {
    let mut responses = serde_json::Map::new();
    for status in statuses {
        let description = match status {
            400 => "Bad request",
            401 => "Authentication required",
            403 => "Not allowed for this role, or CSRF token missing",
            404 => "Not found",
            409 => "Already exists",
            410 => "This link does not work: unknown, used already or expired (one answer for all three)",
            412 => "If-Match names a version that is no longer current",
            422 => "Invalid field (the problem's `field` names it)",
            428 => "If-Match required",
            429 => "Too many failed attempts (Retry-After)",
            503 => "Not ready, timed out, or too many password checks waiting (Retry-After)",
            _ => "Error",
        };
        responses.insert(
            status.to_string(),
            json!({ "description": description,
                    "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } }),
        );
    }
    responses
}

pub(crate) fn operation(summary: &str, success: (u16, &str, Value), errors: &[u16], extra: Value) -> Value {
    let mut responses = problem_responses(errors);
    let (status, description, schema) = success;
    let content = if schema.is_null() { json!({}) } else { json!({ "application/json": { "schema": schema } }) };
    responses.insert(status.to_string(), json!({ "description": description, "content": content }));
    let mut operation = json!({ "summary": summary, "responses": responses });
    if let Value::Object(extra) = extra {
        for (key, value) in extra {
            operation[key] = value;
        }
    }
    operation
}

pub(crate) fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

pub(crate) fn body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

pub(crate) fn public() -> Value {
    json!({ "security": [] })
}

/// The whole document.
pub fn document() -> Value {
    let mut document = foundation_document();
    chart::add_chart_paths(&mut document);
    controlled_substances::add_controlled_substance_paths(&mut document);
    add_fhir_paths(&mut document);
    add_statuses_every_route_may_answer(&mut document);
    document
}

/// What any route may answer besides its own statuses: 404 where the path names a record (no such
/// patient, session, …) and 503 when the request timed out. FHIR routes answer them as OperationOutcomes.
fn add_statuses_every_route_may_answer(document: &mut Value) {
    let Some(paths) = document["paths"].as_object_mut() else { return };
    for (path, item) in paths.iter_mut() {
        let fhir = path.starts_with("/fhir/");
        let Some(operations) = item.as_object_mut() else { continue };
        for operation in operations.values_mut() {
            let mut statuses = vec![503];
            if path.contains('{') {
                statuses.push(404);
            }
            for status in statuses {
                let key = status.to_string();
                if operation["responses"].get(&key).is_some() {
                    continue;
                }
                let response = if fhir {
                    json!({ "description": if status == 404 { "Not found" } else { "Timed out" },
                            "content": { "application/fhir+json": { "schema": { "type": "object",
                                "required": ["resourceType"], "properties": { "resourceType": { "const": "OperationOutcome" } } } } } })
                } else {
                    problem_responses(&[status]).remove(&key).unwrap_or(Value::Null)
                };
                operation["responses"][key] = response;
            }
        }
    }
}

/// The FHIR R4 paths: their bodies are FHIR resources (`application/fhir+json`), described in docs/fhir.md.
fn add_fhir_paths(document: &mut Value) {
    let fhir_success = |description: &str, resource_type: &str| {
        json!({ "description": description, "content": { "application/fhir+json": { "schema": {
            "type": "object", "required": ["resourceType"],
            "properties": { "resourceType": { "const": resource_type } },
            "description": "A FHIR R4 (4.0.1) resource; its profile is in docs/fhir.md" } } } })
    };
    let mut metadata = operation("The FHIR CapabilityStatement of this server", (200, "", Value::Null), &[], public());
    metadata["responses"]["200"] = fhir_success("The CapabilityStatement", "CapabilityStatement");
    let mut everything = operation(
        "The patient's whole record as a FHIR R4 searchset Bundle (admin, prescriber, nurse; audited as patient.read)",
        (200, "", Value::Null),
        &[],
        json!({ "parameters": [{ "name": "patient_id", "in": "path", "required": true, "schema": { "type": "string" } }] }),
    );
    everything["responses"]["200"] = fhir_success("The Bundle (type searchset)", "Bundle");
    let mut import = operation(
        "Import a FHIR R4 transaction, collection or searchset Bundle into patients' charts (prescriber, nurse): \
         validated strictly, each patient written whole or not at all, a re-import changes nothing; \
         answered with an OperationOutcome (docs/fhir.md)",
        (200, "", Value::Null),
        &[],
        json!({ "requestBody": { "required": true, "content": {
            "application/fhir+json": { "schema": { "type": "object", "description": "A FHIR R4 Bundle" } },
            "application/json": { "schema": { "type": "object", "description": "A FHIR R4 Bundle" } } } } }),
    );
    import["responses"]["200"] = fhir_success(
        "Imported (or unchanged): an information issue per patient with what was added and the decision on its chart",
        "OperationOutcome",
    );
    for (status, description) in [
        ("409", "A chart write overtook the import ten times; nothing of that patient was written"),
        ("413", "The Bundle is over 16 MiB"),
        ("415", "The body is not declared as application/fhir+json or application/json"),
        ("422", "Refused: every issue, each naming its element (FHIRPath); nothing was written"),
    ] {
        import["responses"][status] = fhir_success(description, "OperationOutcome");
    }
    // Every error of a FHIR route is an OperationOutcome, with the status the API would answer.
    for (status, description) in [("401", "Authentication required"), ("403", "Not allowed for this role")] {
        import["responses"][status] = fhir_success(description, "OperationOutcome");
        everything["responses"][status] = fhir_success(description, "OperationOutcome");
    }
    everything["responses"]["404"] = fhir_success("No such patient", "OperationOutcome");
    let job_id = json!({ "name": "job_id", "in": "path", "required": true, "schema": { "type": "string" } });
    let mut kick_off = operation(
        "Start a Bulk Data export of every patient's record as NDJSON (HL7 Bulk Data Access IG; admins in full, \
         analysts de-identified; each patient audited as patient.read); send Prefer: respond-async",
        (202, "Accepted: poll the URL in Content-Location", Value::Null),
        &[],
        json!({ "parameters": [
            { "name": "Prefer", "in": "header", "required": true, "schema": { "const": "respond-async" } },
            { "name": "_outputFormat", "in": "query", "schema": { "enum": ["application/fhir+ndjson", "application/ndjson", "ndjson"] } },
            { "name": "_type", "in": "query", "description": "Comma-separated resource types (default: all)",
              "schema": { "type": "string" } }] }),
    );
    kick_off["responses"]["202"]["headers"] =
        json!({ "Content-Location": { "schema": { "type": "string" }, "description": "The status URL" } });
    for (status, description) in [
        ("400", "No Prefer: respond-async, or a parameter this server does not take (named)"),
        ("401", "Authentication required"),
        ("403", "Not allowed for this role"),
        ("406", "Accept names neither FHIR JSON nor JSON"),
        ("422", "_type names a type this server does not export"),
        ("429", "Too many exports are running (Retry-After)"),
    ] {
        kick_off["responses"][status] = fhir_success(description, "OperationOutcome");
    }
    let mut status = operation(
        "The export's status: 202 while it runs (X-Progress, Retry-After), 200 with the manifest when complete",
        (
            200,
            "Complete: the manifest (its files' URLs need the same credentials)",
            json!({
            "type": "object", "additionalProperties": false,
            "required": ["transactionTime", "request", "requiresAccessToken", "output", "error"],
            "properties": {
                "transactionTime": { "type": "string", "format": "date-time" },
                "request": { "type": "string" },
                "requiresAccessToken": { "const": true },
                "output": { "type": "array", "items": { "type": "object", "additionalProperties": false,
                    "required": ["type", "url", "count"],
                    "properties": { "type": { "type": "string" }, "url": { "type": "string" },
                                    "count": { "type": "integer", "minimum": 1 } } } },
                "error": { "type": "array", "maxItems": 0 },
                "extension": { "type": "object" } } }),
        ),
        &[],
        json!({ "parameters": [job_id.clone()] }),
    );
    status["responses"]["202"] = json!({ "description": "In progress", "headers": {
        "X-Progress": { "schema": { "type": "string" } }, "Retry-After": { "schema": { "type": "integer" } } } });
    let mut cancel = operation(
        "Cancel the export and delete its files",
        (202, "Cancelled", Value::Null),
        &[],
        json!({ "parameters": [job_id.clone()] }),
    );
    let mut file = operation(
        "One NDJSON file of a complete export (application/fhir+ndjson)",
        (200, "", Value::Null),
        &[],
        json!({ "parameters": [job_id, { "name": "file_name", "in": "path", "required": true,
                                         "schema": { "type": "string" } }] }),
    );
    file["responses"]["200"] = json!({ "description": "The file: one resource per line",
        "content": { "application/fhir+ndjson": { "schema": { "type": "string" } } } });
    for operation in [&mut status, &mut cancel, &mut file] {
        for (code, description) in [
            ("401", "Authentication required"),
            ("403", "Not allowed for this role"),
            ("404", "No such export of this account (never started, cancelled or expired)"),
        ] {
            operation["responses"][code] = fhir_success(description, "OperationOutcome");
        }
    }
    status["responses"]["500"] = fhir_success("The export failed", "OperationOutcome");
    let paths = document["paths"].as_object_mut().expect("the document has paths");
    paths.insert("/fhir/r4/$export".to_owned(), json!({ "get": kick_off.clone() }));
    paths.insert("/fhir/r4/Patient/$export".to_owned(), json!({ "get": kick_off }));
    paths.insert("/fhir/r4/$export-status/{job_id}".to_owned(), json!({ "get": status, "delete": cancel }));
    paths.insert("/fhir/r4/$export-file/{job_id}/{file_name}".to_owned(), json!({ "get": file }));
    paths.insert("/fhir/r4".to_owned(), json!({ "post": import }));
    paths.insert("/fhir/r4/metadata".to_owned(), json!({ "get": metadata }));
    paths.insert("/fhir/r4/Patient/{patient_id}/$everything".to_owned(), json!({ "get": everything }));
}

/// The paths of the foundation (sessions, patients, assessments, audit).
fn foundation_document() -> Value {
    let patient_id = json!({ "name": "patient_id", "in": "path", "required": true, "schema": { "type": "string" } });
    let assessment_id =
        json!({ "name": "assessment_id", "in": "path", "required": true, "schema": { "type": "string" } });
    let idempotency_key = json!({ "$ref": "#/components/parameters/IdempotencyKey" });
    let auth_errors: &[u16] = &[401, 403];
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "ketacare API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Clinical decision support for ketamine and esketamine therapy. Errors are RFC 9457 problem details. Cookie-authenticated unsafe requests need X-CSRF-Token. See docs/api.md.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" }
        },
        "security": [ { "bearerAuth": [] }, { "cookieAuth": [] } ],
        "paths": {
            "/healthz": { "get": operation("The process is up", (200, "Up", json!({ "type": "object" })), &[], public()) },
            "/readyz": { "get": operation("The database answers", (200, "Ready", json!({ "type": "object" })), &[503], public()) },
            "/api/v1/openapi.json": { "get": operation("This document", (200, "OpenAPI 3.1", json!({ "type": "object" })), &[], public()) },
            "/api/v1/session": {
                "post": operation("Log in: sets the HttpOnly session cookie and returns the CSRF token",
                    (200, "Logged in", schema_ref("Session")), &[401, 422, 429, 503],
                    json!({ "security": [], "requestBody": body(schema_ref("LoginInput")) })),
                "get": operation("Who am I", (200, "The caller", schema_ref("Session")), &[401], json!({})),
                "delete": operation("Log out", (204, "Logged out", Value::Null), &[401, 403], json!({}))
            },
            "/api/v1/session/password": {
                "post": operation("Change the caller's password (required first for a one-time password); ends the caller's other sessions and revokes the caller's tokens. Wrong current passwords are throttled like logins",
                    (204, "Changed", Value::Null), &[401, 403, 422, 429, 503],
                    json!({ "requestBody": body(json!({ "type": "object", "required": ["current_password", "new_password"],
                        "properties": { "current_password": { "type": "string" }, "new_password": { "type": "string", "minLength": 12 } } })) }))
            },
            "/api/v1/tokens": {
                "get": operation("The caller's own tokens, revoked ones too (never a secret)",
                    (200, "Tokens", json!({ "type": "object", "properties": { "tokens": { "type": "array", "items": schema_ref("TokenSummary") } } })),
                    &[401, 403], json!({})),
                "post": operation("Create a bearer token scoped to the caller's role (shown once)",
                    (201, "Created", schema_ref("TokenCreated")), &[401, 403, 422],
                    json!({ "requestBody": body(json!({ "type": "object", "required": ["label"], "properties": { "label": { "type": "string" } } })) }))
            },
            "/api/v1/tokens/{token_id}": {
                "delete": operation("Revoke one of the caller's tokens (an admin: anyone's)", (204, "Revoked", Value::Null), &[401, 403, 404],
                    json!({ "parameters": [ { "name": "token_id", "in": "path", "required": true, "schema": { "type": "string" } } ] }))
            },
            "/api/v1/users": {
                "get": operation("Every account, by username (admin); never a password hash",
                    (200, "Accounts", json!({ "type": "object", "properties": { "users": { "type": "array", "items": { "type": "object",
                        "properties": { "user_id": { "type": "string" }, "username": { "type": "string" }, "role": { "type": "string" },
                            "active": { "type": "boolean" }, "must_change_password": { "type": "boolean" }, "created_at": { "type": "string" } } } } } })),
                    &[401, 403], json!({})),
                "post": operation("Create an account (admin)", (201, "Created", json!({ "type": "object" })), &[401, 403, 409, 422],
                    json!({ "requestBody": body(schema_ref("UserInput")) }))
            },
            "/api/v1/users/{user_id}": {
                "patch": operation("Change an account's role or (de)activate it (admin); ends its sessions and revokes its tokens. An admin may not deactivate or demote themself",
                    (200, "The account", json!({ "type": "object" })), &[401, 403, 404, 422],
                    json!({ "parameters": [ { "name": "user_id", "in": "path", "required": true, "schema": { "type": "string" } } ],
                            "requestBody": body(json!({ "type": "object", "additionalProperties": false,
                                "properties": { "role": { "type": "string", "enum": ["admin", "prescriber", "nurse", "analyst", "auditor"] }, "active": { "type": "boolean" } } })) }))
            },
            "/api/v1/users/{user_id}/password-reset": {
                "post": operation("Reset another account's password to a one-time password, returned once (admin); the account must change it at its next login, and its sessions and tokens end",
                    (200, "The one-time password", json!({ "type": "object", "properties": { "user_id": { "type": "string" },
                        "one_time_password": { "type": "string" }, "must_change_password": { "type": "boolean" } } })), &[401, 403, 404, 422],
                    json!({ "parameters": [ { "name": "user_id", "in": "path", "required": true, "schema": { "type": "string" } } ] }))
            },
            "/api/v1/users/{user_id}/tokens": {
                "get": operation("An account's tokens, revoked ones too (admin; never a secret)",
                    (200, "Tokens", json!({ "type": "object", "properties": { "tokens": { "type": "array", "items": schema_ref("TokenSummary") } } })),
                    &[401, 403, 404],
                    json!({ "parameters": [ { "name": "user_id", "in": "path", "required": true, "schema": { "type": "string" } } ] }))
            },
            "/api/v1/users/{user_id}/unlock": {
                "post": operation("End an account's login lockouts, at every address (admin; audited as user.unlock)",
                    (204, "Unlocked", Value::Null), &[401, 403, 404],
                    json!({ "parameters": [ { "name": "user_id", "in": "path", "required": true, "schema": { "type": "string" } } ] }))
            },
            "/api/v1/patients": {
                "get": operation("List and search patients in name order (analysts: de-identified, search by pseudonym, in pseudonym order)",
                    (200, "A page", schema_ref("PatientList")), &[401, 403, 422],
                    json!({ "parameters": [
                        { "name": "q", "in": "query", "schema": { "type": "string" }, "description": "Name prefix, MRN, pseudonym or birth date (YYYY-MM-DD)" },
                        { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 200, "default": 50 } },
                        { "name": "offset", "in": "query", "schema": { "type": "integer", "minimum": 0, "default": 0 } },
                        { "name": "cursor", "in": "query", "schema": { "type": "string" }, "description": "The next_cursor of the previous page (not with offset)" },
                        { "name": "include_entered_in_error", "in": "query", "schema": { "type": "boolean", "default": false } }
                    ] })),
                "post": operation("Create a patient", (201, "Created (Location, ETag)", schema_ref("Patient")), &[401, 403, 422],
                    json!({ "parameters": [idempotency_key], "requestBody": body(schema_ref("PatientInput")) }))
            },
            "/api/v1/patients/{patient_id}": {
                "get": operation("Read a patient (ETag)", (200, "The patient", json!({ "oneOf": [schema_ref("Patient"), schema_ref("DeIdentifiedPatient")] })),
                    &[401, 403, 404], json!({ "parameters": [patient_id] })),
                "patch": operation("Correct a patient: the prior record is kept as an amendment",
                    (200, "Amended (new ETag)", schema_ref("Patient")), &[401, 403, 404, 412, 422, 428],
                    json!({ "parameters": [patient_id, { "$ref": "#/components/parameters/IfMatch" }],
                            "requestBody": body(schema_ref("PatientAmendmentInput")) }))
            },
            "/api/v1/patients/{patient_id}/amendments": {
                "get": operation("A patient's amendments, oldest first", (200, "Amendments", json!({ "type": "object" })),
                    &[401, 403, 404], json!({ "parameters": [patient_id] }))
            },
            "/api/v1/patients/{patient_id}/assessments": {
                "get": operation("A patient's decisions, oldest first", (200, "Assessments", json!({ "type": "object",
                        "properties": { "assessments": { "type": "array", "items": schema_ref("Assessment") } } })),
                    auth_errors, json!({ "parameters": [patient_id] })),
                "post": operation("Assess a case (contracts/assess.md format) and store the decision",
                    (201, "The stored decision with the report", schema_ref("Assessment")), &[401, 403, 404, 422],
                    json!({ "parameters": [patient_id, idempotency_key],
                            "requestBody": body(json!({ "type": "object", "description": "A case as `ketacare assess` reads it" })) }))
            },
            "/api/v1/patients/{patient_id}/assessments/{assessment_id}": {
                "get": operation("One decision (ETag)", (200, "The assessment", schema_ref("Assessment")), &[401, 403, 404],
                    json!({ "parameters": [patient_id, assessment_id] })),
                "patch": operation("Mark a decision entered in error (or active again), with a reason; the decision itself never changes",
                    (200, "The assessment (new ETag)", schema_ref("Assessment")), &[401, 403, 404, 412, 422, 428],
                    json!({ "parameters": [patient_id, assessment_id, { "$ref": "#/components/parameters/IfMatch" }],
                            "requestBody": body(json!({ "type": "object", "required": ["reason", "status"], "additionalProperties": false,
                                "properties": { "reason": { "type": "string" },
                                                "status": { "type": "string", "enum": ["active", "entered_in_error"] } } })) }))
            },
            "/api/v1/audit/events": {
                "get": operation("A page of the audit log (admin, auditor), in chain order, filtered by any of patient, account, action and time",
                    (200, "The events, the usernames of the accounts that acted in them, and the next page's `after` when this page is full",
                        json!({ "type": "object", "properties": {
                            "events": { "type": "array", "items": { "type": "object" } },
                            "usernames": { "type": "object", "additionalProperties": { "type": "string" }, "description": "actor_id → username" },
                            "next_after": { "type": ["integer", "null"] } } })),
                    &[401, 403, 422],
                    json!({ "parameters": [
                        { "name": "after", "in": "query", "schema": { "type": "integer" }, "description": "The seq of the last event of the previous page" },
                        { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 1000 } },
                        { "name": "patient_id", "in": "query", "schema": { "type": "string", "maxLength": 100 }, "description": "Events about this patient, and list events that showed it" },
                        { "name": "username", "in": "query", "schema": { "type": "string" }, "description": "Events of this account" },
                        { "name": "action", "in": "query", "schema": { "type": "string" }, "description": "An action (session.login), or a prefix ending in * (user.*)" },
                        { "name": "occurred_from", "in": "query", "schema": { "type": "string", "format": "date-time" }, "description": "At or after this time" },
                        { "name": "occurred_before", "in": "query", "schema": { "type": "string", "format": "date-time" }, "description": "Before this time" }
                    ] }))
            },
            "/api/v1/audit/verify": {
                "get": operation("Verify the audit log's hash chain, every covered row against it, and the shipped triggers and migrations (admin, auditor)", (200, "The report", schema_ref("AuditChainReport")),
                    auth_errors, json!({}))
            }
        },
        "components": {
            "securitySchemes": {
                "bearerAuth": { "type": "http", "scheme": "bearer", "description": "An API token (kc_…) from POST /api/v1/tokens" },
                "cookieAuth": { "type": "apiKey", "in": "cookie", "name": "ketacare_session" }
            },
            "parameters": {
                "IdempotencyKey": { "name": "Idempotency-Key", "in": "header", "schema": { "type": "string", "maxLength": 255 },
                    "description": "A retry with the same key and body returns the first answer (Idempotent-Replayed: true)" },
                "IfMatch": { "name": "If-Match", "in": "header", "required": true, "schema": { "type": "string" },
                    "description": "The ETag read, e.g. \"v3\"" }
            },
            "schemas": {
                "Problem": { "type": "object", "required": ["type", "title", "status"], "properties": {
                    "type": { "type": "string" }, "title": { "type": "string" }, "status": { "type": "integer" },
                    "detail": { "type": "string" }, "field": { "type": "string", "description": "The offending field, header or parameter" } } },
                "LoginInput": { "type": "object", "required": ["username", "password"], "properties": {
                    "username": { "type": "string" }, "password": { "type": "string" } } },
                "Session": { "type": "object", "properties": {
                    "username": { "type": "string" }, "role": { "$ref": "#/components/schemas/Role" },
                    "csrf_token": { "type": ["string", "null"] }, "expires_at": { "type": "string" },
                    "password_change_required": { "type": "boolean" } } },
                "Role": { "type": "string", "enum": ["admin", "prescriber", "nurse", "analyst", "auditor"] },
                "TokenCreated": { "type": "object", "properties": { "token_id": { "type": "string" }, "token": { "type": "string" },
                    "role": { "$ref": "#/components/schemas/Role" }, "label": { "type": "string" } } },
                "TokenSummary": { "type": "object", "properties": { "token_id": { "type": "string" },
                    "role": { "$ref": "#/components/schemas/Role" }, "label": { "type": "string" },
                    "created_at": { "type": "string" }, "revoked_at": { "type": ["string", "null"] } } },
                "UserInput": { "type": "object", "required": ["username", "password", "role"], "properties": {
                    "username": { "type": "string" }, "password": { "type": "string", "minLength": 12 },
                    "role": { "$ref": "#/components/schemas/Role" } } },
                "PatientInput": { "type": "object", "required": ["given_name", "family_name", "birth_date", "sex_at_birth"],
                    "additionalProperties": false, "properties": {
                    "mrn": { "type": ["string", "null"] }, "given_name": { "type": "string" }, "family_name": { "type": "string" },
                    "birth_date": { "type": "string", "format": "date" }, "sex_at_birth": { "type": "string", "enum": ["female", "male"] } } },
                "PatientAmendmentInput": { "type": "object", "required": ["reason"], "additionalProperties": false, "properties": {
                    "reason": { "type": "string" }, "mrn": { "type": ["string", "null"] }, "given_name": { "type": "string" },
                    "family_name": { "type": "string" }, "birth_date": { "type": "string", "format": "date" },
                    "sex_at_birth": { "type": "string", "enum": ["female", "male"] },
                    "status": { "type": "string", "enum": ["active", "entered_in_error"] } } },
                "Patient": { "type": "object", "additionalProperties": false,
                    "required": ["patient_id", "pseudonym", "mrn", "given_name", "family_name", "birth_date", "birth_year",
                                 "sex_at_birth", "status", "version", "created_at", "created_by", "updated_at", "updated_by"],
                    "properties": {
                    "patient_id": { "type": "string" }, "pseudonym": { "type": "string" }, "mrn": { "type": ["string", "null"] },
                    "given_name": { "type": "string" }, "family_name": { "type": "string" }, "birth_date": { "type": "string" },
                    "birth_year": { "type": "integer" }, "sex_at_birth": { "type": "string" },
                    "status": { "type": "string", "enum": ["active", "entered_in_error"] }, "version": { "type": "integer" },
                    "created_at": { "type": "string" }, "created_by": { "type": "string" },
                    "updated_at": { "type": "string" }, "updated_by": { "type": "string" } } },
                "DeIdentifiedPatient": { "type": "object", "description": "What an analyst sees", "additionalProperties": false,
                    "required": ["patient_id", "pseudonym", "birth_year", "sex_at_birth", "status", "version"],
                    "properties": {
                    "patient_id": { "type": "string" }, "pseudonym": { "type": "string" }, "birth_year": { "type": ["integer", "null"] },
                    "sex_at_birth": { "type": "string" }, "status": { "type": "string" }, "version": { "type": "integer" } } },
                "PatientList": { "type": "object", "properties": {
                    "patients": { "type": "array", "items": { "oneOf": [ { "$ref": "#/components/schemas/Patient" }, { "$ref": "#/components/schemas/DeIdentifiedPatient" } ] } },
                    "total": { "type": "integer" }, "limit": { "type": "integer" }, "offset": { "type": "integer" },
                    "next_cursor": { "type": ["string", "null"], "description": "Opaque; pass as cursor for the next page, null on the last page" } } },
                "Assessment": { "type": "object", "properties": {
                    "assessment_id": { "type": "string" }, "patient_id": { "type": "string" }, "as_of": { "type": "string" },
                    "rules_version": { "type": "string" }, "protocol_sha256": { "type": "string" },
                    "status": { "type": "string", "enum": ["active", "entered_in_error"] }, "version": { "type": "integer" },
                    "created_at": { "type": "string" }, "created_by": { "type": "string" },
                    "report": { "type": "object", "description": "The report of contracts/assess.md, as `ketacare assess` prints it" } } },
                "AuditChainReport": {}
            }
        }
    });
    document["components"]["schemas"]["AuditChainReport"] = audit_chain_report_schema();
    crate::treatment_openapi::add_treatment_paths(&mut document);
    crate::outcomes_openapi::add_outcomes_paths(&mut document);
    crate::consent_openapi::add_consent_paths(&mut document);
    crate::note_openapi::add_note_paths(&mut document);
    crate::self_report_openapi::add_self_report_paths(&mut document);
    crate::clinic_calendar_openapi::add_clinic_calendar_paths(&mut document);
    document
}

/// The report of `audit verify` (a separate `json!`, beyond the recursion limit of the document's).
fn audit_chain_report_schema() -> Value {
    json!({ "type": "object", "properties": {
                    "events_checked": { "type": "integer" }, "head_seq": { "type": "integer" }, "head_hash": { "type": "string" },
                    "first_broken": { "type": ["object", "null"], "properties": { "seq": { "type": "integer" }, "problem": { "type": "string" } } },
                    "keyed_from_seq": { "type": ["integer", "null"], "description": "The first event hashed with the audit key (HMAC-SHA-256)" },
                    "keyed_events_unchecked": { "type": "integer", "description": "Keyed events whose hash was not checked: the server has no audit key" },
                    "rows_checked": { "type": "integer", "description": "Covered rows compared with the row versions the chain carries (0 when the chain is broken)" },
                    "row_problem_count": { "type": "integer" },
                    "row_problems": { "type": "array", "description": "The first 100 covered rows not as the chain says", "items": { "type": "object",
                        "properties": { "table": { "type": "string" }, "key": { "type": "string", "description": "JSON array of the row's key columns as text" },
                                        "problem": { "type": "string", "enum": ["edited", "deleted", "inserted"] } } } },
                    "schema_problems": { "type": "array", "items": { "type": "string" }, "description": "Triggers or migrations that are not the shipped ones" } } })
}
