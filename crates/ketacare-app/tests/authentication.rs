//! Failed authentication on both backends: every refused login (unknown user, wrong password, inactive
//! account, throttled) and every refused session cookie or bearer token leaves a `denied` audit event
//! with the request id and, when known, the claimed account, never the password or the secret; and the
//! login throttle's counters live in the database, so a second App on it (a restart) still throttles.

use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use ketacare_app::{App, AppError, AuditRecord, NewAccount, Role};
use ketacare_core::protocol::Protocol;
use ketacare_store::Store;
use ketacare_store::test_support::each_backend;

const PASSWORD: &str = "correct horse battery staple";

/// An App on `store` with a clock the test moves.
fn app_with_clock(store: Store, clock: &Arc<Mutex<Timestamp>>) -> App {
    let reading = Arc::clone(clock);
    App::new(store, Protocol::shipped()).with_clock(Arc::new(move || {
        let mut now = reading.lock().unwrap();
        *now += SignedDuration::from_micros(1);
        *now
    }))
}

async fn add_account(app: &App, username: &str) -> String {
    let account = NewAccount {
        username: username.to_owned(),
        password: PASSWORD.to_owned(),
        role: Role::Nurse,
        must_change_password: false,
    };
    app.create_user(None, &account).await.unwrap()
}

/// The events of the log after the account set-up, as (action, resource, actor, request id, outcome).
async fn denied_events(store: &Store) -> Vec<(String, String, Option<String>, Option<String>)> {
    let records: Vec<AuditRecord> = store.audit_events(0, 10_000).await.unwrap();
    records
        .into_iter()
        .filter(|record| record.outcome == "denied")
        .map(|record| (record.action, record.resource, record.actor_id, record.request_id))
        .collect()
}

fn unauthenticated<T>(result: Result<T, AppError>) -> bool {
    matches!(result, Err(AppError::Unauthenticated))
}

#[tokio::test]
async fn every_refused_login_cookie_and_token_is_audited() {
    each_backend(|db| async move {
        let clock = Arc::new(Mutex::new("2026-11-28T09:00:00Z".parse::<Timestamp>().unwrap()));
        let app = app_with_clock(db.store.clone(), &clock);
        let nurse_id = add_account(&app, "nurse").await;
        let retired_id = add_account(&app, "retired").await;
        let token = {
            let signed_in = app.login("nurse", PASSWORD, "10.0.0.1", "r-setup").await.unwrap();
            app.create_api_token(&signed_in.principal.actor("r-setup"), "tablet").await.unwrap()
        };
        let session = app.login("retired", PASSWORD, "10.0.0.1", "r-setup").await.unwrap();
        db.store.execute_raw("UPDATE users SET active = 0 WHERE username = 'retired'").await.unwrap();

        assert!(unauthenticated(app.login("nobody", PASSWORD, "10.0.0.2", "r-unknown").await));
        assert!(unauthenticated(app.login("nurse", "wrong password", "10.0.0.2", "r-wrong").await));
        assert!(unauthenticated(app.login("retired", PASSWORD, "10.0.0.2", "r-inactive").await));
        assert!(unauthenticated(app.authenticate_token("kc_0000", "r-bad-token", "test").await));
        assert!(unauthenticated(app.authenticate_token("not-a-token", "r-garbage-token", "test").await));
        assert!(unauthenticated(app.authenticate_session(&session.session_token, "r-inactive-session", "test").await));
        assert!(unauthenticated(app.authenticate_session("feedface", "r-bad-cookie", "test").await));
        let nurse = app.authenticate_token(&token.token, "r-ok", "test").await.unwrap();
        app.revoke_api_token(&nurse.actor("r-revoke"), &token.token_id).await.unwrap();
        assert!(unauthenticated(app.authenticate_token(&token.token, "r-revoked", "test").await));
        for attempt in 0..4 {
            let _ = app.login("nurse", "wrong password", "10.0.0.3", &format!("r-more-{attempt}")).await;
        }
        let throttled = app.login("nurse", PASSWORD, "10.0.0.3", "r-throttled").await;
        assert!(matches!(throttled, Err(AppError::Throttled { .. })), "{throttled:?}");

        let some = |text: &str| Some(text.to_owned());
        let event = |action: &str, resource: &str, actor: Option<String>, request: &str| {
            (action.to_owned(), resource.to_owned(), actor, some(request))
        };
        let mut expected = vec![
            event("session.login", "user/(unknown)", None, "r-unknown"),
            event("session.login", "user/nurse", some(&nurse_id), "r-wrong"),
            event("session.login", "user/retired", some(&retired_id), "r-inactive"),
            event("auth.token", "token/(unknown)", None, "r-bad-token"),
            event("auth.token", "token/(unknown)", None, "r-garbage-token"),
            event("auth.session", "user/retired", some(&retired_id), "r-inactive-session"),
            event("auth.session", "session/(unknown)", None, "r-bad-cookie"),
            event("auth.token", &format!("token/{}", token.token_id), some(&nurse_id), "r-revoked"),
        ];
        for attempt in 0..4 {
            expected.push(event("session.login", "user/nurse", some(&nurse_id), &format!("r-more-{attempt}")));
        }
        expected.push(event("session.login", "user/nurse", None, "r-throttled"));
        assert_eq!(denied_events(&db.store).await, expected);

        // Nothing secret reached the log.
        let everything = serde_json::to_string(&db.store.audit_events(0, 10_000).await.unwrap()).unwrap();
        for secret in [PASSWORD, "wrong password", token.token.as_str(), session.session_token.as_str(), "feedface"] {
            assert!(!everything.contains(secret), "{secret} is in the audit log");
        }
        assert_eq!(db.store.verify_audit_chain().await.unwrap().first_broken, None);
    })
    .await;
}

#[tokio::test]
async fn login_throttling_survives_a_restart_and_is_shared_by_processes() {
    each_backend(|db| async move {
        let clock = Arc::new(Mutex::new("2026-11-28T09:00:00Z".parse::<Timestamp>().unwrap()));
        let first = app_with_clock(db.store.clone(), &clock);
        add_account(&first, "nurse").await;
        for _ in 0..5 {
            let _ = first.login("nurse", "wrong password", "10.0.0.7", "r").await;
        }
        // A second App on its own connection to the same database: a restarted or a second server.
        let second = app_with_clock(Store::open(&db.url).await.unwrap(), &clock);
        let throttled = second.login("nurse", PASSWORD, "10.0.0.8", "r").await;
        assert!(
            matches!(throttled, Err(AppError::Throttled { retry_after_seconds: 899..=900 })),
            "the account stays locked from another address: {throttled:?}"
        );
        // Per address: 20 failures from one address lock it for every account, in either process.
        for attempt in 0..20 {
            let app = if attempt % 2 == 0 { &first } else { &second };
            let _ = app.login(&format!("user{attempt}"), "wrong password", "10.0.0.66", "r").await;
        }
        let throttled = first.login("someone", PASSWORD, "10.0.0.66", "r").await;
        assert!(matches!(throttled, Err(AppError::Throttled { .. })), "{throttled:?}");

        // The lockout ends 15 minutes after the last failure, and a success clears the account's count.
        *clock.lock().unwrap() += SignedDuration::from_mins(16);
        second.login("nurse", PASSWORD, "10.0.0.8", "r").await.unwrap();
        for _ in 0..4 {
            let _ = first.login("nurse", "wrong password", "10.0.0.9", "r").await;
        }
        second.login("nurse", PASSWORD, "10.0.0.9", "r").await.unwrap();
    })
    .await;
}
