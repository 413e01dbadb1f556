//! Failed authentication on both backends: every refused login (unknown user, wrong password, inactive
//! account, throttled) and every refused session cookie or bearer token leaves a `denied` audit event
//! with the request id and, when known, the claimed account, never the password, the secret or a name
//! that is not an account; the login throttle's counters live in the database, so a second App on it (a
//! restart) still throttles; they lock an account at one address, not everywhere, until a slower bound
//! for the account as a whole, which an admin can lift; a password is verified for inactive accounts
//! too; the current password of a password change is throttled like a login; new passwords are neither
//! blank nor common; and tokens end with a password change or a role change.

use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use ketacare_app::sha256_hex;
use ketacare_app::{Actor, App, AppError, AuditRecord, NewAccount, Role, ThrottlePolicy};
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
        db.expect_tampering();
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
        for attempt in 0..5 {
            let _ = app.login("nurse", "wrong password", "10.0.0.3", &format!("r-more-{attempt}")).await;
        }
        let throttled = app.login("nurse", PASSWORD, "10.0.0.3", "r-throttled").await;
        assert!(matches!(throttled, Err(AppError::Throttled { .. })), "{throttled:?}");
        // A password typed into the username field, until throttled: never written down.
        const TYPED_AS_NAME: &str = "MySecretPassphrase2026";
        for attempt in 0..6 {
            let _ = app.login(TYPED_AS_NAME, "", "10.0.0.4", &format!("r-name-{attempt}")).await;
        }
        let throttled = app.login(TYPED_AS_NAME, "", "10.0.0.4", "r-name-throttled").await;
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
        for attempt in 0..5 {
            expected.push(event("session.login", "user/nurse", some(&nurse_id), &format!("r-more-{attempt}")));
        }
        expected.push(event("session.login", "user/nurse", some(&nurse_id), "r-throttled"));
        for attempt in 0..5 {
            expected.push(event("session.login", "user/(unknown)", None, &format!("r-name-{attempt}")));
        }
        // The sixth of one name at one address, and the seventh, are refused unverified.
        expected.push(event("session.login", "user/(unknown)", None, "r-name-5"));
        expected.push(event("session.login", "user/(unknown)", None, "r-name-throttled"));
        assert_eq!(denied_events(&db.store).await, expected);

        // Nothing secret reached the log, nor the throttle's table (not even hashed without a key).
        let everything = serde_json::to_string(&db.store.audit_events(0, 10_000).await.unwrap()).unwrap();
        let secrets = [
            PASSWORD,
            "wrong password",
            token.token.as_str(),
            session.session_token.as_str(),
            "feedface",
            TYPED_AS_NAME,
        ];
        for secret in secrets {
            assert!(!everything.contains(secret), "{secret} is in the audit log");
        }
        let counters = format!("{:?}", db.store.login_failure_keys().await.unwrap());
        for text in
            [TYPED_AS_NAME.to_owned(), sha256_hex(&format!("account:{TYPED_AS_NAME}")), sha256_hex(TYPED_AS_NAME)]
        {
            assert!(!counters.contains(&text), "{text} is in login_failures");
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
        let throttled = second.login("nurse", PASSWORD, "10.0.0.7", "r").await;
        assert!(
            matches!(throttled, Err(AppError::Throttled { retry_after_seconds: 899..=900 })),
            "the account stays locked at that address: {throttled:?}"
        );
        // Per address: 20 failures from one address lock it for every account, in either process.
        for attempt in 0..20 {
            let app = if attempt % 2 == 0 { &first } else { &second };
            let _ = app.login(&format!("user{attempt}"), "wrong password", "10.0.0.66", "r").await;
        }
        let throttled = first.login("nurse", PASSWORD, "10.0.0.66", "r").await;
        assert!(matches!(throttled, Err(AppError::Throttled { .. })), "{throttled:?}");

        // The lockout ends 15 minutes after the last failure, and a success clears the account's count there.
        *clock.lock().unwrap() += SignedDuration::from_mins(16);
        second.login("nurse", PASSWORD, "10.0.0.7", "r").await.unwrap();
        for _ in 0..4 {
            let _ = first.login("nurse", "wrong password", "10.0.0.9", "r").await;
        }
        second.login("nurse", PASSWORD, "10.0.0.9", "r").await.unwrap();
        second.login("nurse", "wrong password", "10.0.0.9", "r").await.unwrap_err();
        second.login("nurse", PASSWORD, "10.0.0.9", "r").await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn guessing_from_one_address_does_not_lock_the_owner_out_elsewhere_and_an_admin_can_unlock() {
    each_backend(|db| async move {
        let clock = Arc::new(Mutex::new("2026-11-28T09:00:00Z".parse::<Timestamp>().unwrap()));
        let policy = ThrottlePolicy { failures_per_account: 12, ..ThrottlePolicy::default() };
        let app = app_with_clock(db.store.clone(), &clock).with_throttle_policy(policy);
        let nurse_id = add_account(&app, "nurse").await;
        let admin_id = app
            .create_user(
                None,
                &NewAccount {
                    username: "admin".to_owned(),
                    password: PASSWORD.to_owned(),
                    role: Role::Admin,
                    must_change_password: false,
                },
            )
            .await
            .unwrap();
        let admin = Actor { user_id: admin_id, role: Role::Admin, request_id: "r-admin".to_owned() };
        for _ in 0..5 {
            let _ = app.login("nurse", "wrong password", "203.0.113.66", "r").await;
        }
        let attacker = app.login("nurse", PASSWORD, "203.0.113.66", "r").await;
        assert!(matches!(attacker, Err(AppError::Throttled { .. })), "locked at the attacker's address: {attacker:?}");
        app.login("nurse", PASSWORD, "10.0.0.5", "r").await.expect("the owner logs in from the clinic");

        // From many addresses the account's own bound (12 here, 100 by default, over 24 hours) locks it
        // everywhere, the owner's address included.
        for attempt in 0..12 {
            let _ = app.login("nurse", "wrong password", &format!("198.51.100.{attempt}"), "r").await;
        }
        let owner = app.login("nurse", PASSWORD, "10.0.0.5", "r").await;
        assert!(
            matches!(owner, Err(AppError::Throttled { retry_after_seconds: 86_399..=86_400 })),
            "locked everywhere for a day: {owner:?}"
        );
        let nurse = Actor { user_id: nurse_id.clone(), role: Role::Nurse, request_id: "r".to_owned() };
        assert!(matches!(app.unlock_account(&nurse, &nurse_id).await, Err(AppError::Forbidden { .. })));
        assert!(matches!(app.unlock_account(&admin, "no-such-user").await, Err(AppError::NotFound { .. })));
        app.unlock_account(&admin, &nurse_id).await.unwrap();
        app.login("nurse", PASSWORD, "10.0.0.5", "r").await.expect("unlocked by the admin");
        app.login("nurse", PASSWORD, "203.0.113.66", "r").await.expect("at every address");
        let events = db.store.audit_events(0, 10_000).await.unwrap();
        let unlocks: Vec<(&str, &str)> = events
            .iter()
            .filter(|event| event.action == "user.unlock")
            .map(|event| (event.resource.as_str(), event.outcome.as_str()))
            .collect();
        let resource = format!("user/{nurse_id}");
        assert_eq!(
            unlocks,
            [(resource.as_str(), "denied"), ("user/no-such-user", "not_found"), (resource.as_str(), "success")]
        );
    })
    .await;
}

#[tokio::test]
async fn a_password_is_verified_for_every_login_whatever_the_account() {
    each_backend(|db| async move {
        let clock = Arc::new(Mutex::new("2026-11-28T09:00:00Z".parse::<Timestamp>().unwrap()));
        let app = app_with_clock(db.store.clone(), &clock);
        add_account(&app, "nurse").await;
        add_account(&app, "retired").await;
        db.expect_tampering();
        db.store.execute_raw("UPDATE users SET active = 0 WHERE username = 'retired'").await.unwrap();
        // Timing must not tell an inactive account from any other: each login verifies one hash.
        let attempts = [
            ("nurse", PASSWORD),
            ("nurse", "wrong password"),
            ("nobody", PASSWORD),
            ("retired", PASSWORD),
            ("retired", "wrong password"),
        ];
        for (number, (username, password)) in attempts.into_iter().enumerate() {
            let before = app.password_work_stats().verifications_run;
            let _ = app.login(username, password, &format!("10.0.1.{number}"), "r").await;
            assert_eq!(app.password_work_stats().verifications_run, before + 1, "{username} with {password:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_password_change_throttles_guesses_of_the_current_password() {
    each_backend(|db| async move {
        let clock = Arc::new(Mutex::new("2026-11-28T09:00:00Z".parse::<Timestamp>().unwrap()));
        let app = app_with_clock(db.store.clone(), &clock);
        add_account(&app, "nurse").await;
        let signed_in = app.login("nurse", PASSWORD, "10.0.0.1", "r").await.unwrap();
        let principal = &signed_in.principal;
        let change = |address: &'static str, current: &'static str| {
            let app = app.clone();
            let principal = principal.clone();
            async move {
                app.change_password(&principal, "r", None, address, current, "a fresh passphrase of mine").await
            }
        };
        for _ in 0..5 {
            let wrong = change("203.0.113.5", "guess number n").await;
            assert!(matches!(&wrong, Err(AppError::Invalid { field, .. }) if field == "current_password"), "{wrong:?}");
        }
        let throttled = change("203.0.113.5", PASSWORD).await;
        assert!(matches!(throttled, Err(AppError::Throttled { .. })), "{throttled:?}");
        let login = app.login("nurse", PASSWORD, "203.0.113.5", "r").await;
        assert!(matches!(login, Err(AppError::Throttled { .. })), "one throttle for logins and changes: {login:?}");
        change("10.0.0.1", PASSWORD).await.expect("the owner, elsewhere, is not locked out");
    })
    .await;
}

#[tokio::test]
async fn a_new_password_is_neither_blank_nor_common() {
    each_backend(|db| async move {
        let clock = Arc::new(Mutex::new("2026-11-28T09:00:00Z".parse::<Timestamp>().unwrap()));
        let app = app_with_clock(db.store.clone(), &clock);
        add_account(&app, "nurse").await;
        let principal = app.login("nurse", PASSWORD, "10.0.0.1", "r").await.unwrap().principal;
        // ASVS 2.1: twelve spaces are not twelve characters; a list of breached passwords is refused.
        for refused in
            ["            ", "\t\t\t\t\t\t\t\t\t\t\t\t", "x          y", "qwertyuiop12", "1qaz2wsx3edc", "Password1234"]
        {
            let account = NewAccount {
                username: "newcomer".to_owned(),
                password: refused.to_owned(),
                role: Role::Nurse,
                must_change_password: true,
            };
            let created = app.create_user(None, &account).await;
            assert!(
                matches!(&created, Err(AppError::Invalid { field, .. }) if field == "password"),
                "{refused:?}: {created:?}"
            );
            let changed = app.change_password(&principal, "r", None, "10.0.0.1", PASSWORD, refused).await;
            assert!(
                matches!(&changed, Err(AppError::Invalid { field, .. }) if field == "new_password"),
                "{refused:?}: {changed:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn tokens_end_with_a_password_change_or_a_role_change_and_an_admin_revokes_anyones() {
    each_backend(|db| async move {
        let clock = Arc::new(Mutex::new("2026-11-28T09:00:00Z".parse::<Timestamp>().unwrap()));
        let app = app_with_clock(db.store.clone(), &clock);
        let nurse_id = add_account(&app, "nurse").await;
        let other_id = add_account(&app, "other").await;
        let nurse = Actor { user_id: nurse_id.clone(), role: Role::Nurse, request_id: "r".to_owned() };
        let other = Actor { user_id: other_id, role: Role::Nurse, request_id: "r".to_owned() };
        let kept = app.create_api_token(&nurse, "script").await.unwrap();
        let listed = app.list_api_tokens(&nurse).await.unwrap();
        assert_eq!(listed.iter().map(|token| token.token_id.as_str()).collect::<Vec<_>>(), [kept.token_id.as_str()]);
        assert!(!format!("{listed:?}").contains(&kept.token), "a list never shows a secret");
        assert!(app.list_api_tokens(&other).await.unwrap().is_empty(), "each sees their own");
        assert!(matches!(app.revoke_api_token(&other, &kept.token_id).await, Err(AppError::NotFound { .. })));
        assert!(matches!(app.list_user_api_tokens(&other, &nurse_id).await, Err(AppError::Forbidden { .. })));

        // A password change revokes every token: whoever learnt the old password may have made one.
        let principal = app.authenticate_token(&kept.token, "r", "test").await.unwrap();
        app.change_password(&principal, "r", None, "10.0.0.1", PASSWORD, "a fresh passphrase of mine").await.unwrap();
        assert!(unauthenticated(app.authenticate_token(&kept.token, "r", "test").await), "after a password change");
        let revoked = app.list_api_tokens(&nurse).await.unwrap();
        assert!(revoked[0].revoked_at.is_some(), "{revoked:?}");

        // A token is void once its account's role differs from the role it was made under, whatever
        // changed the role.
        let token = app.create_api_token(&nurse, "script").await.unwrap();
        db.expect_tampering();
        db.store
            .execute_raw(&format!("UPDATE users SET role = 'prescriber' WHERE user_id = '{nurse_id}'"))
            .await
            .unwrap();
        assert!(unauthenticated(app.authenticate_token(&token.token, "r", "test").await), "after a role change");
        db.store.execute_raw(&format!("UPDATE users SET role = 'nurse' WHERE user_id = '{nurse_id}'")).await.unwrap();

        // An admin lists an account's tokens and revokes one by its id.
        let token = app.create_api_token(&nurse, "tablet").await.unwrap();
        let admin_id = app
            .create_user(
                None,
                &NewAccount {
                    username: "admin".to_owned(),
                    password: PASSWORD.to_owned(),
                    role: Role::Admin,
                    must_change_password: false,
                },
            )
            .await
            .unwrap();
        let admin = Actor { user_id: admin_id, role: Role::Admin, request_id: "r".to_owned() };
        let of_nurse = app.list_user_api_tokens(&admin, &nurse_id).await.unwrap();
        assert_eq!(of_nurse.len(), 3);
        app.revoke_api_token(&admin, &token.token_id).await.unwrap();
        assert!(unauthenticated(app.authenticate_token(&token.token, "r", "test").await), "revoked by an admin");
        let revocations = db.store.audit_events(0, 10_000).await.unwrap();
        let by_admin = revocations
            .iter()
            .filter(|event| event.action == "token.revoke" && event.outcome == "success")
            .map(|event| (event.actor_id.clone().unwrap(), event.resource.clone()))
            .collect::<Vec<_>>();
        assert_eq!(by_admin, [(admin.user_id.clone(), format!("token/{}", token.token_id))]);
    })
    .await;
}
