//! The repository suite: every store operation through the `Store` API, on SQLite always and on
//! PostgreSQL when `KETACARE_TEST_DATABASE_URL` is set (each test on a fresh database).

use jiff::Timestamp;
use ketacare_store::test_support::{TestDatabase, each_backend};
use ketacare_store::{
    AmendmentMeta, AttemptReservation, AuditEvent, IdempotentResponse, NewApiToken, NewAssessment, NewPatient,
    NewScaleResult, NewSession, NewUser, PatientChanges, PatientSearch, RecordStatus, Role, Store, StoreError,
    ThrottleCounter,
};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_795_000_000 + seconds).unwrap()
}

fn event(action: &str, patient_id: Option<&str>) -> AuditEvent {
    AuditEvent {
        occurred_at: at(0),
        actor_id: Some("u-admin".to_owned()),
        actor_role: Some("admin".to_owned()),
        action: action.to_owned(),
        resource: patient_id.map_or("system".to_owned(), |id| format!("patient/{id}")),
        patient_id: patient_id.map(str::to_owned),
        request_id: Some("req-1".to_owned()),
        outcome: "success".to_owned(),
    }
}

async fn add_user(store: &Store, user_id: &str, username: &str, role: Role) {
    let user = NewUser {
        user_id: user_id.to_owned(),
        username: username.to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        role,
        must_change_password: false,
        created_at: at(0),
    };
    store.insert_user(&user, &event("user.create", None)).await.unwrap();
}

fn new_patient(patient_id: &str, given_name: &str, family_name: &str) -> NewPatient {
    NewPatient {
        patient_id: patient_id.to_owned(),
        pseudonym: format!("P-{patient_id}"),
        mrn: Some(format!("MRN-{patient_id}")),
        given_name: given_name.to_owned(),
        family_name: family_name.to_owned(),
        birth_date: "1984-05-02".to_owned(),
        birth_year: 1984,
        sex_at_birth: "female".to_owned(),
        created_at: at(1),
        created_by: "u-admin".to_owned(),
    }
}

/// A database with an admin and the given patients (id, given name, family name).
async fn seeded(db: &TestDatabase, patients: &[(&str, &str, &str)]) {
    add_user(&db.store, "u-admin", "admin", Role::Admin).await;
    for (id, given, family) in patients {
        let patient = new_patient(id, given, family);
        db.store.insert_patient(&patient, &event("patient.create", Some(id)), None).await.unwrap();
    }
}

#[tokio::test]
async fn opening_again_applies_no_migration_and_keeps_the_data() {
    each_backend(|db| async move {
        seeded(&db, &[("p1", "Ada", "Lovelace")]).await;
        let again = Store::open(&db.url).await.unwrap();
        assert_eq!(again.migrate().await.unwrap(), Vec::<i64>::new());
        assert!(again.patient("p1").await.unwrap().is_some());
        again.ping().await.unwrap();
        again.close().await;
    })
    .await;
}

#[tokio::test]
async fn an_unsupported_url_is_refused_naming_it_without_its_password() {
    let error = Store::open("mysql://root:hunter2@localhost/db").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "database URL \"mysql://root:***@localhost/db\" is not supported: expected sqlite://FILE or postgres://…"
    );
}

#[tokio::test]
async fn users_sessions_and_tokens() {
    each_backend(|db| async move {
        let store = db.store;
        add_user(&store, "u-1", "alice", Role::Nurse).await;
        let alice = store.user_by_username("alice").await.unwrap().unwrap();
        assert_eq!((alice.user_id.as_str(), alice.role, alice.active), ("u-1", Role::Nurse, true));
        assert!(store.user_by_username("bob").await.unwrap().is_none());
        let duplicate = NewUser {
            user_id: "u-2".to_owned(),
            username: "alice".to_owned(),
            password_hash: "x".to_owned(),
            role: Role::Admin,
            must_change_password: true,
            created_at: at(0),
        };
        let error = store.insert_user(&duplicate, &event("user.create", None)).await.unwrap_err();
        assert!(matches!(error, StoreError::Duplicate { what: "username" }), "{error}");
        assert_eq!(store.count_users().await.unwrap(), 1);

        let session = NewSession {
            session_sha256: "s".repeat(64),
            user_id: "u-1".to_owned(),
            csrf_token: "csrf".to_owned(),
            created_at: at(10),
            expires_at: at(10 + 12 * 3600),
        };
        store.insert_session(&session).await.unwrap();
        store.touch_session(&session.session_sha256, at(20)).await.unwrap();
        let read = store.session(&session.session_sha256).await.unwrap().unwrap();
        assert_eq!(read.user.username, "alice");
        assert_eq!(read.csrf_token, "csrf");
        assert_eq!(read.last_seen_at, ketacare_store::format_time(at(20)));
        let other = NewSession { session_sha256: "o".repeat(64), ..session.clone() };
        store.insert_session(&other).await.unwrap();
        store
            .set_password("u-1", "new hash", Some(&session.session_sha256), &event("user.password", None))
            .await
            .unwrap();
        assert!(store.session(&other.session_sha256).await.unwrap().is_none(), "other sessions end");
        let read = store.session(&session.session_sha256).await.unwrap().unwrap();
        assert_eq!((read.user.password_hash.as_str(), read.user.must_change_password), ("new hash", false));
        store.delete_session(&session.session_sha256).await.unwrap();
        assert!(store.session(&session.session_sha256).await.unwrap().is_none());

        let token = NewApiToken {
            token_id: "t-1".to_owned(),
            token_sha256: "t".repeat(64),
            user_id: "u-1".to_owned(),
            role: Role::Nurse,
            label: "ward tablet".to_owned(),
            created_at: at(30),
        };
        store.insert_api_token(&token, &event("token.create", None)).await.unwrap();
        let read = store.api_token(&token.token_sha256).await.unwrap().unwrap();
        assert_eq!((read.token_id.as_str(), read.role, read.revoked_at.is_none()), ("t-1", Role::Nurse, true));
        assert!(!store.revoke_api_token("t-1", Some("someone-else"), &event("token.revoke", None)).await.unwrap());
        assert!(store.revoke_api_token("t-1", Some("u-1"), &event("token.revoke", None)).await.unwrap());
        assert!(store.api_token(&token.token_sha256).await.unwrap().unwrap().revoked_at.is_some());
    })
    .await;
}

#[tokio::test]
async fn patients_are_searched_by_name_prefix_mrn_pseudonym_or_birth_date_a_page_at_a_time() {
    each_backend(|db| async move {
        let patients = [
            ("p1", "Ada", "Lovelace"),
            ("p2", "Grace", "Hopper"),
            ("p3", "Alan", "Turing"),
            ("p4", "Ann", "Love_joy"),
            ("p5", "Edsger", "Dijkstra"),
        ];
        seeded(&db, &patients).await;
        let check = |query: &str, limit: i64, offset: i64, expected_ids: &[&str], expected_total: i64| {
            let store = db.store.clone();
            let query = query.to_owned();
            let expected_ids: Vec<String> = expected_ids.iter().map(|id| id.to_string()).collect();
            async move {
                let search = PatientSearch {
                    query: Some(query.clone()),
                    include_entered_in_error: false,
                    limit,
                    offset,
                    ..Default::default()
                };
                let page = store.search_patients(&search).await.unwrap();
                let ids: Vec<String> = page.patients.iter().map(|patient| patient.patient_id.clone()).collect();
                assert_eq!((ids, page.total), (expected_ids, expected_total), "query {query:?} {limit}/{offset}");
            }
        };
        check("", 10, 0, &["p5", "p2", "p4", "p1", "p3"], 5).await;
        check("", 2, 0, &["p5", "p2"], 5).await;
        check("", 2, 4, &["p3"], 5).await;
        check("love", 10, 0, &["p4", "p1"], 2).await;
        check("LOVE_", 10, 0, &["p4"], 1).await; // `_` is a literal, not a wildcard
        check("a", 10, 0, &["p4", "p1", "p3"], 3).await; // given names Ann, Ada and Alan
        check("MRN-p2", 10, 0, &["p2"], 1).await;
        check("P-p3", 10, 0, &["p3"], 1).await;
        check("%", 10, 0, &[], 0).await;
        // Every seeded patient was born on 1984-05-02: the whole date matches, never a part of it.
        check("1984-05-02", 10, 0, &["p5", "p2", "p4", "p1", "p3"], 5).await;
        check("1984-05-03", 10, 0, &[], 0).await;
        check("1984", 10, 0, &[], 0).await;
    })
    .await;
}

#[tokio::test]
async fn an_amendment_keeps_the_prior_record_and_a_stale_version_is_refused() {
    each_backend(|db| async move {
        seeded(&db, &[("p1", "Ada", "Lovelace")]).await;
        let store = db.store;
        let meta = |id: &str, reason: &str| AmendmentMeta {
            amendment_id: id.to_owned(),
            reason: reason.to_owned(),
            amended_by: "u-admin".to_owned(),
            amended_at: at(100),
        };
        let changes = PatientChanges { family_name: Some("King".to_owned()), ..PatientChanges::default() };
        let amended = store
            .amend_patient("p1", 1, &changes, &meta("a1", "married name"), &event("patient.amend", Some("p1")))
            .await;
        let amended = amended.unwrap();
        assert_eq!((amended.family_name.as_str(), amended.version), ("King", 2));
        assert_eq!(store.patient("p1").await.unwrap().unwrap(), amended);

        let stale =
            store.amend_patient("p1", 1, &changes, &meta("a2", "again"), &event("patient.amend", Some("p1"))).await;
        assert!(matches!(stale, Err(StoreError::StaleVersion { expected: 1, current: 2, .. })), "{stale:?}");
        let missing =
            store.amend_patient("p9", 1, &changes, &meta("a3", "x"), &event("patient.amend", Some("p9"))).await;
        assert!(matches!(missing, Err(StoreError::NotFound { resource: "patient", .. })), "{missing:?}");

        let in_error = PatientChanges { status: Some(RecordStatus::EnteredInError), ..PatientChanges::default() };
        store
            .amend_patient("p1", 2, &in_error, &meta("a4", "wrong person"), &event("patient.amend", Some("p1")))
            .await
            .unwrap();
        let amendments = store.amendments("p1").await.unwrap();
        assert_eq!(amendments.len(), 2);
        let prior: serde_json::Value = serde_json::from_str(&amendments[0].prior_json).unwrap();
        assert_eq!((prior["family_name"].as_str(), amendments[0].reason.as_str()), (Some("Lovelace"), "married name"));
        assert_eq!(amendments[1].new_json, r#"{"status":"entered_in_error"}"#);

        let mut search =
            PatientSearch { query: None, include_entered_in_error: false, limit: 10, offset: 0, ..Default::default() };
        assert_eq!(store.search_patients(&search).await.unwrap().total, 0);
        search.include_entered_in_error = true;
        assert_eq!(store.search_patients(&search).await.unwrap().total, 1);
    })
    .await;
}

#[tokio::test]
async fn the_database_refuses_to_delete_clinical_rows_or_to_change_the_audit_log() {
    each_backend(|db| async move {
        seeded(&db, &[("p1", "Ada", "Lovelace")]).await;
        // SQLite's row triggers fire only for rows that exist, so give every table one (behind the
        // application's back, which is what audit verify then finds).
        db.expect_tampering();
        db.store
            .execute_raw(
                "INSERT INTO assessments (patient_id, assessment_id, as_of, case_json, decision_json, rules_version, \
                 protocol_sha256, created_at, created_by) VALUES ('p1', 'a1', '2026-11-28', '{}', '{}', 'r', 's', 't', 'u-admin'); \
                 INSERT INTO scale_results (patient_id, scale_result_id, scale, administered_on, created_at, created_by) \
                 VALUES ('p1', 's1', 'phq9', '2026-11-28', 't', 'u-admin'); \
                 INSERT INTO amendments (patient_id, amendment_id, resource_type, resource_id, from_version, prior_json, \
                 new_json, reason, amended_by, amended_at) VALUES ('p1', 'm1', 'patient', 'p1', 1, '{}', '{}', 'r', 'u-admin', 't')",
            )
            .await
            .unwrap();
        for sql in [
            "DELETE FROM patients",
            "DELETE FROM assessments",
            "DELETE FROM scale_results",
            "UPDATE amendments SET reason = 'x'",
            "DELETE FROM amendments",
            "UPDATE audit_events SET outcome = 'denied'",
            "DELETE FROM audit_events",
            "DELETE FROM audit_events WHERE seq = 1",
        ] {
            assert!(db.store.execute_raw(sql).await.is_err(), "{sql} was not refused");
        }
        assert!(db.store.patient("p1").await.unwrap().is_some());
        assert_eq!(db.store.verify_audit_chain().await.unwrap().events_checked, 2);
    })
    .await;
}

#[tokio::test]
async fn assessments_scale_results_and_idempotent_creates() {
    each_backend(|db| async move {
        seeded(&db, &[("p1", "Ada", "Lovelace")]).await;
        let store = db.store;
        let assessment = |patient_id: &str, assessment_id: &str| NewAssessment {
            patient_id: patient_id.to_owned(),
            assessment_id: assessment_id.to_owned(),
            as_of: "2026-11-28".to_owned(),
            case_json: "{}".to_owned(),
            decision_json: r#"{"trd":{}}"#.to_owned(),
            rules_version: "ketacare-rules/0.1.0".to_owned(),
            protocol_sha256: "ab".repeat(32),
            created_at: at(50),
            created_by: "u-admin".to_owned(),
        };
        let response = IdempotentResponse {
            actor_id: "u-admin".to_owned(),
            idempotency_key: "key-1".to_owned(),
            request_sha256: "cd".repeat(32),
            status_code: 201,
            response_json: r#"{"assessment_id":"a1"}"#.to_owned(),
        };
        let audit = event("assessment.create", Some("p1"));
        store.insert_assessment(&assessment("p1", "a1"), &audit, Some(&response)).await.unwrap();
        let retry = store.insert_assessment(&assessment("p1", "a2"), &audit, Some(&response)).await;
        assert!(matches!(retry, Err(StoreError::Duplicate { what: "idempotency key" })), "{retry:?}");
        assert_eq!(store.idempotent_response("u-admin", "key-1", at(60)).await.unwrap(), Some(response.clone()));
        assert_eq!(store.idempotent_response("u-other", "key-1", at(60)).await.unwrap(), None);
        // After its lifetime the key is neither replayed nor refused: a new request takes it over.
        let a_day_later = at(50 + 24 * 3600 + 1);
        assert_eq!(store.idempotent_response("u-admin", "key-1", a_day_later).await.unwrap(), None);
        let mut later = assessment("p1", "a4");
        later.created_at = a_day_later;
        store.insert_assessment(&later, &audit, Some(&response)).await.unwrap();
        assert_eq!(store.idempotent_response("u-admin", "key-1", a_day_later).await.unwrap(), Some(response.clone()));
        assert_eq!(store.prune_idempotency_keys(a_day_later).await.unwrap(), 0, "the taken-over key is fresh");
        assert_eq!(store.prune_idempotency_keys(at(50 + 48 * 3600 + 2)).await.unwrap(), 1);
        let missing = store.insert_assessment(&assessment("p9", "a3"), &audit, None).await;
        assert!(matches!(missing, Err(StoreError::NotFound { resource: "patient", .. })), "{missing:?}");
        let stored = store.assessments("p1").await.unwrap();
        assert_eq!(stored.len(), 2, "the failed retry left nothing behind");
        assert_eq!(store.assessment("p1", "a1").await.unwrap().as_ref(), stored.first());
        let meta = AmendmentMeta {
            amendment_id: "m1".to_owned(),
            reason: "wrong patient".to_owned(),
            amended_by: "u-admin".to_owned(),
            amended_at: at(70),
        };
        let marked = store
            .set_assessment_status(
                "p1",
                "a1",
                1,
                RecordStatus::EnteredInError,
                &meta,
                &event("assessment.amend", Some("p1")),
            )
            .await
            .unwrap();
        assert_eq!(
            (marked.status, marked.version, marked.decision_json.as_str()),
            (RecordStatus::EnteredInError, 2, r#"{"trd":{}}"#)
        );
        let stale = store
            .set_assessment_status("p1", "a1", 1, RecordStatus::Active, &meta, &event("assessment.amend", Some("p1")))
            .await;
        assert!(matches!(stale, Err(StoreError::StaleVersion { current: 2, .. })), "{stale:?}");
        let amendment = &store.amendments("p1").await.unwrap()[0];
        assert_eq!((amendment.resource_type.as_str(), amendment.resource_id.as_str()), ("assessment", "a1"));
        assert!(amendment.prior_json.contains(r#""status":"active""#));
        let stored = store.assessments("p1").await.unwrap();
        assert_eq!((stored[0].assessment_id.as_str(), stored[0].status), ("a1", RecordStatus::EnteredInError));
        assert_eq!(stored[0].protocol_sha256, "ab".repeat(32));

        let result = NewScaleResult {
            patient_id: "p1".to_owned(),
            scale_result_id: "s1".to_owned(),
            scale: "phq9".to_owned(),
            answers_json: Some("[2,2,3,2,2,2,2,3,1]".to_owned()),
            total: Some(19),
            administered_on: "2026-11-28".to_owned(),
            created_at: at(60),
            created_by: "u-admin".to_owned(),
        };
        store.insert_scale_result(&result, &event("scale_result.create", Some("p1"))).await.unwrap();
        let results = store.scale_results("p1").await.unwrap();
        assert_eq!((results.len(), results[0].total), (1, Some(19)));
        // user, patient, assessment, the assessment that took over the expired key, the amendment, the
        // scale result; the refused writes left no audit row.
        let report = store.verify_audit_chain().await.unwrap();
        assert_eq!((report.events_checked, report.first_broken), (6, None));
    })
    .await;
}

#[tokio::test]
async fn concurrent_appends_keep_one_unbroken_chain() {
    each_backend(|db| async move {
        let mut tasks = Vec::new();
        for task in 0..8 {
            let store = db.store.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..5 {
                    store.append_audit(&event(&format!("patient.read.{task}"), Some("p1"))).await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let report = db.store.verify_audit_chain().await.unwrap();
        assert_eq!((report.events_checked, report.head_seq, report.first_broken), (40, 40, None));
    })
    .await;
}

/// Six events, then `tamper` (with the triggers dropped); verification must break first at `seq`.
async fn check_tampering(
    tamper: &'static str,
    first_broken_seq: i64,
    events_checked: u64,
    problem_starts: &'static str,
) {
    each_backend(move |db| async move {
        for index in 0..6 {
            db.store.append_audit(&event(&format!("patient.read.{index}"), Some("p1"))).await.unwrap();
        }
        assert_eq!(db.store.verify_audit_chain().await.unwrap().first_broken, None);
        db.expect_tampering();
        db.store.drop_audit_triggers().await.unwrap();
        db.store.execute_raw(tamper).await.unwrap();
        let report = db.store.verify_audit_chain().await.unwrap();
        let broken = report.first_broken.unwrap_or_else(|| panic!("{tamper}: not detected"));
        assert_eq!(broken.seq, first_broken_seq, "{tamper}: {}", broken.problem);
        assert!(broken.problem.starts_with(problem_starts), "{tamper}: {}", broken.problem);
        assert_eq!(report.events_checked, events_checked, "{tamper}");
    })
    .await;
}

#[tokio::test]
async fn editing_an_audit_row_is_detected() {
    check_tampering("UPDATE audit_events SET outcome = 'denied' WHERE seq = 3", 3, 2, "hash does not match").await;
    check_tampering("UPDATE audit_events SET actor_id = NULL WHERE seq = 1", 1, 0, "hash does not match").await;
    check_tampering("UPDATE audit_events SET occurred_at = '2020-01-01T00:00:00.000000Z' WHERE seq = 6", 6, 5, "hash")
        .await;
}

#[tokio::test]
async fn deleting_an_audit_row_is_detected() {
    check_tampering("DELETE FROM audit_events WHERE seq = 4", 5, 3, "expected seq 4").await;
    check_tampering("DELETE FROM audit_events WHERE seq = 1", 2, 0, "expected seq 1").await;
}

#[tokio::test]
async fn inserting_an_audit_row_is_detected() {
    // Renumber the tail to make room, then forge a row that links to its predecessor.
    check_tampering(
        "UPDATE audit_events SET seq = seq + 100 WHERE seq >= 3; \
         INSERT INTO audit_events (seq, occurred_at, action, resource, outcome, prev_hash, hash) \
         SELECT 3, occurred_at, 'patient.read', 'patient/p1', 'success', hash, hash FROM audit_events WHERE seq = 2",
        3,
        2,
        "hash does not match",
    )
    .await;
    // Or squeeze a row in with a seq of its own, leaving the chain's numbers alone.
    check_tampering(
        "INSERT INTO audit_events (seq, occurred_at, action, resource, outcome, prev_hash, hash) \
         VALUES (0, '2026-01-01T00:00:00.000000Z', 'patient.read', 'patient/p1', 'success', 'x', 'y')",
        0,
        0,
        "expected seq 1",
    )
    .await;
}

#[tokio::test]
async fn reordering_audit_rows_is_detected() {
    check_tampering(
        "UPDATE audit_events SET seq = -2 WHERE seq = 2; UPDATE audit_events SET seq = 2 WHERE seq = 3; \
         UPDATE audit_events SET seq = 3 WHERE seq = -2",
        2,
        1,
        "prev_hash does not match",
    )
    .await;
}

#[tokio::test]
async fn every_configured_backend_runs() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    each_backend(move |db| {
        let record = record.clone();
        async move { record.lock().unwrap().push(db.store.backend()) }
    })
    .await;
    let mut expected = vec![ketacare_store::Backend::Sqlite];
    if std::env::var(ketacare_store::test_support::TEST_DATABASE_URL_VARIABLE).is_ok() {
        expected.push(ketacare_store::Backend::Postgres);
    }
    assert_eq!(*seen.lock().unwrap(), expected);
}

fn scale_result(patient_id: &str, scale_result_id: &str) -> NewScaleResult {
    NewScaleResult {
        patient_id: patient_id.to_owned(),
        scale_result_id: scale_result_id.to_owned(),
        scale: "phq9".to_owned(),
        answers_json: None,
        total: Some(12),
        administered_on: "2026-11-28".to_owned(),
        created_at: at(2),
        created_by: "u-admin".to_owned(),
    }
}

#[tokio::test]
async fn concurrent_writes_share_transactions_and_a_failing_one_fails_alone() {
    each_backend(|db| async move {
        seeded(&db, &[("p1", "Ada", "Lovelace")]).await;
        let store = db.store;
        let before = store.write_stats();
        let writes = 100;
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..writes {
            let store = store.clone();
            tasks.spawn(async move {
                // Every tenth write names a patient that does not exist: it fails, and only it.
                let patient_id = if n % 10 == 5 { "nobody" } else { "p1" };
                let outcome = store
                    .insert_scale_result(
                        &scale_result(patient_id, &format!("s{n}")),
                        &event("scale.create", Some(patient_id)),
                    )
                    .await;
                (n, outcome)
            });
        }
        let mut failed = 0;
        while let Some(joined) = tasks.join_next().await {
            let (n, outcome) = joined.unwrap();
            if n % 10 == 5 {
                assert!(matches!(outcome, Err(StoreError::NotFound { resource: "patient", .. })), "{n}: {outcome:?}");
                failed += 1;
            } else {
                outcome.unwrap();
            }
        }
        let after = store.write_stats();
        let jobs = after.jobs - before.jobs;
        let transactions = after.transactions - before.transactions;
        assert_eq!(jobs, writes);
        assert!(transactions < jobs, "{transactions} transactions for {jobs} writes");
        assert_eq!(store.scale_results("p1").await.unwrap().len() as u64, writes - failed);
        // The failed jobs left no audit row and no gap: 1 user + 1 patient + the successful writes.
        let report = store.verify_audit_chain().await.unwrap();
        assert_eq!(report.first_broken, None);
        assert_eq!(report.events_checked, 2 + writes - failed);
    })
    .await;
}

fn counter(key: &str, account: Option<&str>, limit: i64, window_start: Timestamp) -> ThrottleCounter {
    ThrottleCounter { throttle_key: key.to_owned(), account_key: account.map(str::to_owned), limit, window_start }
}

#[tokio::test]
async fn login_attempts_are_reserved_against_every_counter_at_once_released_and_unlocked() {
    each_backend(|db| async move {
        let store = &db.store;
        let counters =
            |now: i64| [counter("pair", Some("acct"), 2, at(now - 900)), counter("address", None, 3, at(now - 900))];
        let reserve = |now: i64| async move {
            store.reserve_login_attempt(&counters(now), at(now), at(now - 86_400)).await.unwrap()
        };
        assert_eq!(reserve(10).await, AttemptReservation::Reserved);
        assert_eq!(reserve(11).await, AttemptReservation::Reserved);
        // The pair is at its limit: refused, and the address counts nothing more for it.
        let refused = reserve(12).await;
        assert!(matches!(&refused, AttemptReservation::Refused { counter_index: 0, .. }), "{refused:?}");
        assert_eq!(store.login_failures("address").await.unwrap().unwrap().attempts, 2);
        // A success takes its attempt back and forgets the pair.
        store.release_login_attempt(&["address".to_owned()], &["pair".to_owned()]).await.unwrap();
        assert_eq!(store.login_failures("address").await.unwrap().unwrap().attempts, 1);
        assert_eq!(store.login_failures("pair").await.unwrap(), None);
        assert_eq!(reserve(13).await, AttemptReservation::Reserved);
        assert_eq!(reserve(14).await, AttemptReservation::Reserved);
        let refused = reserve(15).await;
        assert!(matches!(&refused, AttemptReservation::Refused { counter_index: 0, .. }), "{refused:?}");
        // After the window the counters start again.
        assert_eq!(reserve(1_000).await, AttemptReservation::Reserved);
        assert_eq!(store.login_failures("pair").await.unwrap().unwrap().attempts, 1);

        // Parallel reservations never pass a limit.
        let mut tries = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let store = store.clone();
            tries.spawn(async move {
                store.reserve_login_attempt(&[counter("busy", None, 7, at(0))], at(2_000), at(0)).await.unwrap()
            });
        }
        let outcomes = tries.join_all().await;
        assert_eq!(outcomes.iter().filter(|outcome| **outcome == AttemptReservation::Reserved).count(), 7);

        // An unlock forgets every counter of the account, with its audit event; others stay.
        assert_eq!(store.unlock_account("acct", &event("user.unlock", None)).await.unwrap(), 1);
        assert_eq!(store.login_failures("pair").await.unwrap(), None);
        assert!(store.login_failures("address").await.unwrap().is_some());
        let audited = store.audit_events(0, 1_000).await.unwrap();
        assert_eq!(audited.last().unwrap().action, "user.unlock");
        // Counters idle for longer than the longest window are deleted on the way.
        store
            .reserve_login_attempt(&[counter("late", None, 5, at(200_000))], at(200_000), at(200_000 - 86_400))
            .await
            .unwrap();
        assert_eq!(store.login_failures("address").await.unwrap(), None);
    })
    .await;
}
