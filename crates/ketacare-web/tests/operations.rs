//! Server operations through the router: a request not answered within the request timeout gets a 503
//! problem (`timeout`) with its request id, and the server goes on answering.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use ketacare_app::{App, NewAccount, Role};
use ketacare_core::protocol::Protocol;
use ketacare_store::test_support::each_backend;
use ketacare_web::{WebConfig, router};
use serde_json::Value;
use tower::ServiceExt as _;

#[tokio::test]
async fn a_request_over_the_timeout_gets_a_503_problem() {
    each_backend(|db| async move {
        let app = App::new(db.store, Protocol::shipped());
        let account = NewAccount {
            username: "nurse".to_owned(),
            password: "correct horse battery staple".to_owned(),
            role: Role::Nurse,
            must_change_password: false,
        };
        app.create_user(None, &account).await.unwrap();
        // A login verifies an Argon2id hash (19 MiB, tens of milliseconds): far over a 1 ms limit.
        let config = WebConfig { request_timeout: Duration::from_millis(1), ..WebConfig::default() };
        let login = Request::post("/api/v1/session")
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-request-id", "slow-login-1")
            .body(Body::from(r#"{"username":"nurse","password":"correct horse battery staple"}"#))
            .unwrap();
        let response = router(app.clone(), config).oneshot(login).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(response.headers()["x-request-id"], "slow-login-1");
        let body: Value =
            serde_json::from_slice(&axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap()).unwrap();
        assert_eq!(body["type"], "urn:ketacare:problem:timeout");
        assert_eq!(body["status"], 503);

        // The default (30 s) leaves the same request alone.
        assert_eq!(WebConfig::default().request_timeout, Duration::from_secs(30));
        let login = Request::post("/api/v1/session")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"username":"nurse","password":"correct horse battery staple"}"#))
            .unwrap();
        let response = router(app, WebConfig::default()).oneshot(login).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    })
    .await;
}
