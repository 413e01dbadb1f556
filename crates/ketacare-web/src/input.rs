//! Reading request bodies, query strings and headers into app types, with errors that name the field
//! (a JSON path such as `trials[1].weeks`, a query parameter, or a header).

use axum::http::HeaderMap;
use ketacare_app::{InvalidJson, read_json_document, read_utf8_text};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Decodes a JSON body. It is read first by the strict reader (ketacare-case's, through ketacare-app), like every clinical
/// document: not UTF-8, text after the value, or a key given twice anywhere is refused, naming the
/// repeated key's path. A bad field names its path.
pub fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value = read_json_document(body).map_err(invalid_json)?;
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        ApiError::invalid(field_of(&path, &message), message)
    })
}

/// A body that is passed on as text (a clinical document the use case reads with ketacare-case).
pub fn text_body(body: &[u8]) -> Result<&str, ApiError> {
    read_utf8_text(body).map_err(invalid_json)
}

/// A strict-reader refusal as a 422 naming the field, or `(body)` for the body as a whole.
fn invalid_json(error: InvalidJson) -> ApiError {
    let error = error.into_invalid_case("(body)");
    ApiError::invalid(error.path, error.problem)
}

/// Decodes a query string; a bad one names the parameter.
pub fn query<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.unwrap_or_default().as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        ApiError::invalid(field_of(&path, &message), message)
    })
}

/// The field a deserialisation error is about: its path, or the field a "missing field" names.
fn field_of(path: &str, message: &str) -> String {
    // A missing field's path is its parent's; an unknown field's path is already its own.
    let missing = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next());
    let unknown = message.strip_prefix("unknown field `").and_then(|rest| rest.split('`').next());
    match (missing, unknown) {
        (Some(field), _) if path == "." => field.to_owned(),
        (Some(field), _) => format!("{path}.{field}"),
        (None, Some(field)) if path == "." => field.to_owned(),
        _ if path == "." => "(body)".to_owned(),
        _ => path.to_owned(),
    }
}

/// The `Idempotency-Key` header, if any.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(value) => {
            value.to_str().map(Some).map_err(|_| ApiError::invalid("Idempotency-Key", "must be visible ASCII"))
        }
    }
}

/// The version an `If-Match: "vN"` header names; a missing header is 428, a malformed one 422.
pub fn if_match_version(headers: &HeaderMap) -> Result<i64, ApiError> {
    let Some(value) = headers.get("if-match") else { return Err(ApiError::PreconditionRequired) };
    let text = value.to_str().unwrap_or_default().trim();
    text.strip_prefix("\"v")
        .and_then(|rest| rest.strip_suffix('"'))
        .and_then(|number| number.parse::<i64>().ok())
        .ok_or_else(|| ApiError::invalid("If-Match", format!("expected an ETag like \"v3\", got {text}")))
}

/// The ETag of a record at `version`.
pub fn etag(version: i64) -> String {
    format!("\"v{version}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field() {
        let check = |path: &str, message: &str, expected: &str| assert_eq!(field_of(path, message), expected);
        check(".", "missing field `given_name` at line 1 column 2", "given_name");
        check(".", "unknown field `nickname`, expected one of …", "nickname");
        check("nickname", "unknown field `nickname`, expected one of …", "nickname");
        check("birth_date", "invalid type: integer `3`, expected a string", "birth_date");
        check(".", "expected value at line 1 column 1", "(body)");
        check("trials[1]", "missing field `weeks`", "trials[1].weeks");
    }

    #[test]
    fn if_match_reads_our_etags() {
        let mut headers = HeaderMap::new();
        assert!(matches!(if_match_version(&headers), Err(ApiError::PreconditionRequired)));
        headers.insert("if-match", etag(3).parse().unwrap());
        assert_eq!(if_match_version(&headers).unwrap(), 3);
        headers.insert("if-match", "W/\"v3\"".parse().unwrap());
        assert!(matches!(if_match_version(&headers), Err(ApiError::Invalid { .. })));
    }
}
