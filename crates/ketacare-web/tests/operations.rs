//! Server operations through the router: a request not answered within the request timeout gets a 503
//! problem (`timeout`) with its request id, a request whose handler panics gets a 500 problem (`internal`)
//! without internals, and the server goes on answering.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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

#[tokio::test]
async fn a_panicking_handler_gets_a_500_problem_without_internals() {
    each_backend(|db| async move {
        // The only fake: a clock that panics while `clock_broken` is set, so the login handler panics
        // inside the real router.
        let clock_broken = Arc::new(AtomicBool::new(false));
        let broken = Arc::clone(&clock_broken);
        let app = App::new(db.store, Protocol::shipped()).with_clock(Arc::new(move || {
            assert!(!broken.load(Ordering::SeqCst), "the clock broke: internal detail 7f3a");
            "2026-11-28T15:00:00Z".parse().unwrap()
        }));
        let account = NewAccount {
            username: "nurse".to_owned(),
            password: "correct horse battery staple".to_owned(),
            role: Role::Nurse,
            must_change_password: false,
        };
        app.create_user(None, &account).await.unwrap();
        let router = router(app, WebConfig::default());
        let login = || {
            Request::post("/api/v1/session")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"username":"nurse","password":"correct horse battery staple"}"#))
                .unwrap()
        };

        clock_broken.store(true, Ordering::SeqCst);
        let response = router.clone().oneshot(login()).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(response.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(!text.contains("7f3a") && !text.contains("clock"), "no internals in the answer: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (body["type"].as_str(), body["status"].as_u64(), body["title"].as_str()),
            (Some("urn:ketacare:problem:internal"), Some(500), Some("Internal error"))
        );

        // The server goes on answering.
        clock_broken.store(false, Ordering::SeqCst);
        let response = router.oneshot(login()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    })
    .await;
}
