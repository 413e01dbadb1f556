//! The API's body readers (ketacare-web's `input`, on ketacare-case's strict reader): any body is
//! either read into the route's input type or refused as a client error naming a field, never a
//! server error or a panic.

use axum::http::StatusCode;
use axum::response::IntoResponse;
use ketacare_app::{AssessmentStatusInput, PatientAmendmentInput, PatientInput, UserChangeInput};
use ketacare_web::ApiError;
use ketacare_web::input::{json_body, text_body};
use serde_json::Value;

/// A refusal is a 422 problem document naming a field.
fn check_refusal(error: ApiError) {
    let response = error.into_response();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "a body was refused with {}", response.status());
}

fn read<T: serde::de::DeserializeOwned>(body: &[u8]) {
    if let Err(error) = json_body::<T>(body) {
        check_refusal(error);
    }
}

/// First byte: which route's reader; the rest: the body.
pub fn api_body(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else { return };
    match selector % 6 {
        0 => read::<PatientInput>(body),
        1 => read::<PatientAmendmentInput>(body),
        2 => read::<AssessmentStatusInput>(body),
        3 => read::<UserChangeInput>(body),
        4 => read::<Value>(body),
        _ => match text_body(body) {
            Ok(text) => assert_eq!(text.as_bytes(), body, "a text body is passed on as sent"),
            Err(error) => {
                assert!(std::str::from_utf8(body).is_err(), "a UTF-8 body was refused");
                check_refusal(error);
            }
        },
    }
}
