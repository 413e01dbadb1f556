//! The OpenAPI paths and schemas of the session-note routes (docs/notes.md), added to the document of
//! `openapi.rs`; apart to ease merging.

use serde_json::{Value, json};

use crate::openapi::{body, operation, schema_ref};

fn path_parameter(name: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } })
}

/// Adds the session-note paths and their schemas to `document`.
pub(crate) fn add_note_paths(document: &mut Value) {
    let patient_id = path_parameter("patient_id");
    let session_id = path_parameter("session_id");
    let note_id = path_parameter("note_id");
    let if_match = json!({ "$ref": "#/components/parameters/IfMatch" });
    let signing_body = body(json!({ "type": "object", "required": ["text_sha256"], "additionalProperties": false,
        "properties": { "text_sha256": { "type": "string", "description": "SHA-256 (hex) of the note's text as the signer read it; must equal the text's now" } } }));
    let notes = "/api/v1/patients/{patient_id}/sessions/{session_id}/notes";
    let paths = json!({
        notes: {
            "get": operation("A session's note and addenda with their signatures, and the note generated from the session now (gate, dose with lots and times, vital-sign summary, alerts and acknowledgements, scores, discharge)",
                (200, "The notes", schema_ref("SessionNotes")), &[401, 403, 404], json!({ "parameters": [patient_id, session_id] })),
            "post": operation("Write the session's note (without `text`, the generated note) once the session is discharged, or an addendum to a signed note (`addendum_to` and `text`); unsigned, by the caller",
                (201, "The note (Location, ETag)", schema_ref("SessionNote")), &[401, 403, 404, 409, 422],
                json!({ "parameters": [patient_id, session_id],
                        "requestBody": body(json!({ "type": "object", "additionalProperties": false, "properties": {
                            "text": { "type": "string", "description": "Kept exactly as sent; at most 65,536 bytes" },
                            "addendum_to": { "type": "string", "description": "A signed note or addendum of this session" } } })) }))
        },
        format!("{notes}/{{note_id}}"): {
            "get": operation("One note or addendum with its signatures (ETag)",
                (200, "The note", schema_ref("SessionNote")), &[401, 403, 404], json!({ "parameters": [patient_id, session_id, note_id] })),
            "patch": operation("Replace an unsigned note's text (its author); a signed note is refused (422, rule SIGNED_NOTE_LOCKED): add a signed addendum",
                (200, "The note (new ETag)", schema_ref("SessionNote")), &[401, 403, 404, 412, 422, 428],
                json!({ "parameters": [patient_id, session_id, note_id, if_match],
                        "requestBody": body(json!({ "type": "object", "required": ["text"], "additionalProperties": false,
                            "properties": { "text": { "type": "string" } } })) }))
        },
        format!("{notes}/{{note_id}}/signature"): {
            "post": operation("The author signs the note, which locks it: records who, when (the server's clock) and the SHA-256 of the text, and whether the protocol asks for a prescriber's co-signature (`notes.cosignature_required_for_roles`)",
                (200, "The note (new ETag)", schema_ref("SessionNote")), &[401, 403, 404, 409, 412, 422, 428],
                json!({ "parameters": [patient_id, session_id, note_id, if_match], "requestBody": signing_body.clone() }))
        },
        format!("{notes}/{{note_id}}/cosignature"): {
            "post": operation("A prescriber co-signs a signed note that asks for it; never their own (422, rule COSIGNER_IS_AUTHOR)",
                (200, "The note (new ETag)", schema_ref("SessionNote")), &[401, 403, 404, 409, 412, 422, 428],
                json!({ "parameters": [patient_id, session_id, note_id, if_match], "requestBody": signing_body }))
        },
        "/api/v1/notes/awaiting-cosignature": {
            "get": operation("Signed notes awaiting a prescriber's co-signature, oldest first (prescribers); every patient listed is audited as read",
                (200, "The notes", json!({ "type": "object", "properties": { "notes": { "type": "array", "items": { "type": "object", "properties": {
                    "patient_id": { "type": "string" }, "patient_label": { "type": "string" }, "session_id": { "type": "string" },
                    "note_id": { "type": "string" }, "kind": { "type": "string", "enum": ["note", "addendum"] }, "author_id": { "type": "string" },
                    "signed_at": { "type": "string" } } } } } })),
                &[401, 403], json!({}))
        }
    });
    let signature = json!({ "type": "object", "properties": {
        "kind": { "type": "string", "enum": ["author", "cosignature"] }, "signed_by": { "type": "string" },
        "signer_role": { "type": "string" }, "signed_at": { "type": "string" }, "text_sha256": { "type": "string" } } });
    let schemas = json!({
        "SessionNote": { "type": "object", "properties": {
            "note_id": { "type": "string" }, "patient_id": { "type": "string" }, "session_id": { "type": "string" },
            "kind": { "type": "string", "enum": ["note", "addendum"] }, "addendum_to": { "type": ["string", "null"] },
            "text": { "type": "string" }, "text_sha256": { "type": "string", "description": "SHA-256 (hex) of `text` now" },
            "author_id": { "type": "string" }, "author_role": { "type": "string" },
            "status": { "type": "string", "enum": ["draft", "signed", "awaiting_cosignature", "cosigned"] },
            "cosignature_required": { "type": "boolean" }, "version": { "type": "integer" },
            "created_at": { "type": "string" }, "updated_at": { "type": "string" },
            "signatures": { "type": "array", "items": signature } } },
        "SessionNotes": { "type": "object", "properties": {
            "patient_id": { "type": "string" }, "session_id": { "type": "string" },
            "stage": { "type": "string", "enum": ["in_progress", "monitoring", "discharged", "locked"] },
            "note_allowed": { "type": "boolean" },
            "notes": { "type": "array", "items": schema_ref("SessionNote") },
            "generated_text": { "type": "string" } } }
    });
    if let (Some(target), Value::Object(paths)) = (document["paths"].as_object_mut(), paths) {
        target.extend(paths);
    }
    if let (Some(target), Value::Object(schemas)) = (document["components"]["schemas"].as_object_mut(), schemas) {
        target.extend(schemas);
    }
}
