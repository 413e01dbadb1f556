//! The use cases on both backends: decisions stored with what they were made under, idempotent creates,
//! amendments under optimistic concurrency, de-identification for analysts, authentication, and an
//! audit row for every read and write of patient data.

use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use ketacare_app::{
    Actor, App, AppError, AssessmentStatusInput, NewAccount, PatientAmendmentInput, PatientInput, PatientListQuery,
    PatientView, Role,
};
use ketacare_core::protocol::Protocol;
use ketacare_store::test_support::each_backend;

fn vignette(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../vignettes/{name}.case.json"));
    std::fs::read_to_string(path).unwrap()
}

/// An application on `store` with a clock the test moves (fake only the clock), and one account per role.
struct Fixture {
    app: App,
    clock: Arc<Mutex<Timestamp>>,
}

impl Fixture {
    async fn new(store: ketacare_store::Store) -> Fixture {
        let clock = Arc::new(Mutex::new("2026-11-28T09:00:00Z".parse::<Timestamp>().unwrap()));
        let reading = clock.clone();
        // Time moves on by a microsecond at each reading, as it does between real requests.
        let app = App::new(store, Protocol::shipped()).with_clock(Arc::new(move || {
            let mut now = reading.lock().unwrap();
            *now += SignedDuration::from_micros(1);
            *now
        }));
        for role in Role::ALL {
            let account = NewAccount {
                username: role.as_str().to_owned(),
                password: password(role),
                role,
                must_change_password: false,
            };
            app.create_user(None, &account).await.unwrap();
        }
        Fixture { app, clock }
    }

    async fn actor(&self, role: Role) -> Actor {
        let signed_in = self.app.login(role.as_str(), &password(role), "10.0.0.1", "req-login").await.unwrap();
        signed_in.principal.actor(&format!("req-{}", role.as_str()))
    }

    fn advance(&self, by: SignedDuration) {
        let mut now = self.clock.lock().unwrap();
        *now += by;
    }
}

fn password(role: Role) -> String {
    format!("correct horse battery {}", role.as_str())
}

fn ada() -> PatientInput {
    PatientInput {
        mrn: Some("MRN-1".to_owned()),
        given_name: "Ada".to_owned(),
        family_name: "Lovelace".to_owned(),
        birth_date: "1984-05-02".to_owned(),
        sex_at_birth: "female".to_owned(),
    }
}

async fn audit_actions(app: &App, auditor: &Actor) -> Vec<(String, String, Option<String>)> {
    let records = app.audit_events(auditor, 0, 1000).await.unwrap();
    records.into_iter().map(|record| (record.action, record.outcome, record.actor_role)).collect()
}

#[tokio::test]
async fn every_vignette_is_stored_with_the_decision_the_engine_makes() {
    each_backend(|db| async move {
        let fixture = Fixture::new(db.store).await;
        let nurse = fixture.actor(Role::Nurse).await;
        let created = fixture.app.create_patient(&nurse, &ada(), None).await.unwrap();
        let protocol = Protocol::shipped();
        for name in ["V1", "V2", "V5", "V11-EU"] {
            let case = vignette(name);
            let recorded = fixture.app.record_assessment(&nurse, &created.resource_id, &case, None).await.unwrap();
            let facts = ketacare_case::parse_case_json(&case, jiff::civil::date(2026, 11, 28)).unwrap();
            let expected = ketacare_case::report_json(&ketacare_core::assess::assess_case(&facts, &protocol));
            assert_eq!(recorded.body["report"], expected, "{name}");
            assert_eq!(recorded.body["protocol_sha256"], protocol.sha256.as_str());
            assert_eq!(recorded.body["rules_version"], ketacare_core::RULES_VERSION);
        }
        let history = fixture.app.assessments(&nurse, &created.resource_id).await.unwrap();
        assert_eq!(history.len(), 4);
        assert_eq!(history[0].report["patient_id"], "V1");
    })
    .await;
}

#[tokio::test]
async fn a_malformed_case_names_the_field_and_stores_nothing() {
    each_backend(|db| async move {
        let fixture = Fixture::new(db.store).await;
        let nurse = fixture.actor(Role::Nurse).await;
        let patient = fixture.app.create_patient(&nurse, &ada(), None).await.unwrap().resource_id;
        let case = vignette("V1").replace("\"daily_dose_mg\": 150", "\"daily_dose_mg\": -5");
        let error = fixture.app.record_assessment(&nurse, &patient, &case, None).await.unwrap_err();
        assert!(matches!(&error, AppError::Invalid { field, .. } if field == "trials[0].daily_dose_mg"), "{error}");
        assert!(fixture.app.assessments(&nurse, &patient).await.unwrap().is_empty());
        let error = fixture.app.record_assessment(&nurse, "no-such-patient", &vignette("V1"), None).await.unwrap_err();
        assert!(matches!(error, AppError::NotFound { resource: "patient", .. }), "{error}");
    })
    .await;
}

#[tokio::test]
async fn a_retried_create_with_the_same_key_does_not_duplicate() {
    each_backend(|db| async move {
        let fixture = Fixture::new(db.store).await;
        let nurse = fixture.actor(Role::Nurse).await;
        let first = fixture.app.create_patient(&nurse, &ada(), Some("k-1")).await.unwrap();
        let retry = fixture.app.create_patient(&nurse, &ada(), Some("k-1")).await.unwrap();
        assert_eq!((retry.body.clone(), retry.replayed), (first.body.clone(), true));
        let other_body = PatientInput { given_name: "Grace".to_owned(), ..ada() };
        let error = fixture.app.create_patient(&nurse, &other_body, Some("k-1")).await.unwrap_err();
        assert!(matches!(error, AppError::IdempotencyKeyReused { .. }), "{error}");
        let page = fixture.app.list_patients(&nurse, &PatientListQuery::default()).await.unwrap();
        assert_eq!(page.total, 1);

        let case = vignette("V3");
        let first = fixture.app.record_assessment(&nurse, &first.resource_id, &case, Some("a-1")).await.unwrap();
        let patient_id = first.body["patient_id"].as_str().unwrap().to_owned();
        let retry = fixture.app.record_assessment(&nurse, &patient_id, &case, Some("a-1")).await.unwrap();
        assert_eq!((retry.resource_id, retry.replayed), (first.resource_id, true));
        assert_eq!(fixture.app.assessments(&nurse, &patient_id).await.unwrap().len(), 1);
        let error = fixture.app.create_patient(&nurse, &ada(), Some("bad key\n")).await.unwrap_err();
        assert!(matches!(&error, AppError::Invalid { field, .. } if field == "Idempotency-Key"), "{error}");
    })
    .await;
}

#[tokio::test]
async fn amendments_keep_history_and_a_stale_version_is_refused() {
    each_backend(|db| async move {
        let fixture = Fixture::new(db.store).await;
        let prescriber = fixture.actor(Role::Prescriber).await;
        let id = fixture.app.create_patient(&prescriber, &ada(), None).await.unwrap().resource_id;
        let change = PatientAmendmentInput {
            reason: Some("typo at intake".to_owned()),
            family_name: Some("King".to_owned()),
            ..PatientAmendmentInput::default()
        };
        let amended = fixture.app.amend_patient(&prescriber, &id, 1, &change).await.unwrap();
        assert_eq!(amended.version(), 2);
        let error = fixture.app.amend_patient(&prescriber, &id, 1, &change).await.unwrap_err();
        assert!(matches!(error, AppError::StaleVersion { current_version: 2, .. }), "{error}");
        let no_reason = PatientAmendmentInput { reason: None, ..change.clone() };
        let error = fixture.app.amend_patient(&prescriber, &id, 2, &no_reason).await.unwrap_err();
        assert!(matches!(&error, AppError::Invalid { field, .. } if field == "reason"), "{error}");
        let in_error = PatientAmendmentInput {
            reason: Some("wrong chart".to_owned()),
            status: Some("entered_in_error".to_owned()),
            ..PatientAmendmentInput::default()
        };
        fixture.app.amend_patient(&prescriber, &id, 2, &in_error).await.unwrap();
        let amendments = fixture.app.patient_amendments(&prescriber, &id).await.unwrap();
        assert_eq!(amendments.iter().map(|a| a.reason.as_str()).collect::<Vec<_>>(), ["typo at intake", "wrong chart"]);
        assert!(amendments[0].prior_json.contains("\"family_name\":\"Lovelace\""));
        let PatientView::Identified(patient) = fixture.app.get_patient(&prescriber, &id).await.unwrap() else {
            panic!("a prescriber sees the identified patient")
        };
        assert_eq!((patient.family_name.as_str(), patient.version), ("King", 3));
    })
    .await;
}

#[tokio::test]
async fn analysts_see_no_names_and_auditors_no_patients() {
    each_backend(|db| async move {
        let fixture = Fixture::new(db.store).await;
        let nurse = fixture.actor(Role::Nurse).await;
        let id = fixture.app.create_patient(&nurse, &ada(), None).await.unwrap().resource_id;
        let analyst = fixture.actor(Role::Analyst).await;
        let seen = serde_json::to_string(&fixture.app.get_patient(&analyst, &id).await.unwrap()).unwrap();
        for identifying in ["Ada", "Lovelace", "1984-05-02", "MRN-1", "given_name", "birth_date"] {
            assert!(!seen.contains(identifying), "analyst saw {identifying}: {seen}");
        }
        let list = fixture.app.list_patients(&analyst, &PatientListQuery::default()).await.unwrap();
        assert!(!serde_json::to_string(&list).unwrap().contains("Lovelace"));
        let by_name = PatientListQuery { q: Some("Love".to_owned()), ..PatientListQuery::default() };
        assert!(matches!(fixture.app.list_patients(&analyst, &by_name).await, Err(AppError::Invalid { .. })));
        assert!(matches!(fixture.app.assessments(&analyst, &id).await, Err(AppError::Forbidden { .. })));
        let auditor = fixture.actor(Role::Auditor).await;
        assert!(matches!(fixture.app.get_patient(&auditor, &id).await, Err(AppError::Forbidden { .. })));
    })
    .await;
}

#[tokio::test]
async fn every_read_and_write_of_patient_data_is_audited_with_its_outcome() {
    each_backend(|db| async move {
        let fixture = Fixture::new(db.store).await;
        let nurse = fixture.actor(Role::Nurse).await;
        let auditor = fixture.actor(Role::Auditor).await;
        let id = fixture.app.create_patient(&nurse, &ada(), None).await.unwrap().resource_id;
        fixture.app.get_patient(&nurse, &id).await.unwrap();
        fixture.app.list_patients(&nurse, &PatientListQuery::default()).await.unwrap();
        fixture.app.record_assessment(&nurse, &id, &vignette("V1"), None).await.unwrap();
        fixture.app.assessments(&nurse, &id).await.unwrap();
        fixture.app.get_patient(&auditor, &id).await.unwrap_err();
        fixture.app.get_patient(&nurse, "missing").await.unwrap_err();
        let actions = audit_actions(&fixture.app, &auditor).await;
        let nurse_role = Some("nurse".to_owned());
        let expected_tail = [
            ("patient.create", "success", nurse_role.clone()),
            ("patient.read", "success", nurse_role.clone()),
            ("patient.list", "success", nurse_role.clone()),
            ("assessment.create", "success", nurse_role.clone()),
            ("assessment.list", "success", nurse_role.clone()),
            ("patient.read", "denied", Some("auditor".to_owned())),
            ("patient.read", "not_found", nurse_role.clone()),
        ]
        .map(|(action, outcome, role)| (action.to_owned(), outcome.to_owned(), role));
        assert_eq!(actions[actions.len() - expected_tail.len()..], expected_tail);
        let records = fixture.app.audit_events(&auditor, 0, 1000).await.unwrap();
        let listed: Vec<_> = records.iter().filter(|record| record.action == "patient.list").collect();
        assert_eq!(listed.len(), 1, "one event per list request");
        assert_eq!((listed[0].patient_id.as_deref(), listed[0].patients_shown.clone()), (None, vec![id.clone()]));
        let create = records.iter().find(|record| record.action == "patient.create").unwrap();
        assert_eq!(
            (create.patient_id.as_deref(), create.request_id.as_deref()),
            (Some(id.as_str()), Some("req-nurse"))
        );
        let report = fixture.app.verify_audit_chain(None).await.unwrap();
        assert_eq!(report.first_broken, None);
    })
    .await;
}

#[tokio::test]
async fn logins_sessions_tokens_and_throttling() {
    each_backend(|db| async move {
        let fixture = Fixture::new(db.store).await;
        let app = &fixture.app;
        let nurse_password = password(Role::Nurse);
        assert!(matches!(app.login("nurse", "wrong password!", "10.0.0.9", "r").await, Err(AppError::Unauthenticated)));
        assert!(matches!(
            app.login("hunter2-typed-here", &nurse_password, "10.0.0.9", "r").await,
            Err(AppError::Unauthenticated)
        ));
        let admin = fixture.actor(Role::Admin).await;
        let logins: Vec<(String, String)> = app
            .audit_events(&admin, 0, 1000)
            .await
            .unwrap()
            .into_iter()
            .filter(|record| record.action == "session.login" && record.outcome == "denied")
            .map(|record| (record.resource, record.outcome))
            .collect();
        let denied = |resource: &str| (resource.to_owned(), "denied".to_owned());
        assert_eq!(logins, [denied("user/nurse"), denied("user/(unknown)")], "unknown names stay out of the log");

        let signed_in = app.login("nurse", &nurse_password, "10.0.0.9", "r").await.unwrap();
        assert_eq!(app.authenticate_session(&signed_in.session_token, "r", "test").await.unwrap().role, Role::Nurse);
        fixture.advance(SignedDuration::from_mins(29));
        assert!(
            app.authenticate_session(&signed_in.session_token, "r", "test").await.is_ok(),
            "active within the idle limit"
        );
        fixture.advance(SignedDuration::from_mins(31));
        let idle = app.authenticate_session(&signed_in.session_token, "r", "test").await;
        assert!(matches!(idle, Err(AppError::Unauthenticated)), "idle expiry");

        let signed_in = app.login("nurse", &nurse_password, "10.0.0.9", "r").await.unwrap();
        for _ in 0..47 {
            fixture.advance(SignedDuration::from_mins(15));
            app.authenticate_session(&signed_in.session_token, "r", "test").await.unwrap();
        }
        fixture.advance(SignedDuration::from_mins(15));
        let absolute = app.authenticate_session(&signed_in.session_token, "r", "test").await;
        assert!(matches!(absolute, Err(AppError::Unauthenticated)), "absolute expiry after 12 h");

        let actor = fixture.actor(Role::Nurse).await;
        let token = app.create_api_token(&actor, "ward tablet").await.unwrap();
        assert_eq!(app.authenticate_token(&token.token, "r", "test").await.unwrap().role, Role::Nurse);
        app.revoke_api_token(&actor, &token.token_id).await.unwrap();
        assert!(matches!(app.authenticate_token(&token.token, "r", "test").await, Err(AppError::Unauthenticated)));

        for _ in 0..5 {
            let _ = app.login("prescriber", "wrong password!", "10.0.0.7", "r").await;
        }
        let throttled = app.login("prescriber", &password(Role::Prescriber), "10.0.0.7", "r").await;
        assert!(matches!(throttled, Err(AppError::Throttled { .. })), "{throttled:?}");
        fixture.advance(SignedDuration::from_mins(16));
        assert!(app.login("prescriber", &password(Role::Prescriber), "10.0.0.7", "r").await.is_ok());

        let short = NewAccount {
            username: "x".to_owned(),
            password: "short".to_owned(),
            role: Role::Nurse,
            must_change_password: false,
        };
        let error = app.create_user(Some(&fixture.actor(Role::Admin).await), &short).await.unwrap_err();
        assert!(matches!(&error, AppError::Invalid { field, .. } if field == "password"), "{error}");
        let nurse = fixture.actor(Role::Nurse).await;
        assert!(matches!(app.create_user(Some(&nurse), &short).await, Err(AppError::Forbidden { .. })));
    })
    .await;
}

#[tokio::test]
async fn a_wrong_decision_is_marked_entered_in_error_never_changed() {
    each_backend(|db| async move {
        let fixture = Fixture::new(db.store).await;
        let nurse = fixture.actor(Role::Nurse).await;
        let patient = fixture.app.create_patient(&nurse, &ada(), None).await.unwrap().resource_id;
        let recorded = fixture.app.record_assessment(&nurse, &patient, &vignette("V1"), None).await.unwrap();
        let id = recorded.resource_id;
        let input = |reason: Option<&str>, status: &str| AssessmentStatusInput {
            reason: reason.map(str::to_owned),
            status: Some(status.to_owned()),
        };
        let error = fixture.app.set_assessment_status(&nurse, &patient, &id, 1, &input(None, "entered_in_error")).await;
        assert!(matches!(&error, Err(AppError::Invalid { field, .. }) if field == "reason"), "{error:?}");
        let error = fixture.app.set_assessment_status(&nurse, &patient, &id, 1, &input(Some("x"), "deleted")).await;
        assert!(matches!(&error, Err(AppError::Invalid { field, .. }) if field == "status"), "{error:?}");
        let marked = fixture
            .app
            .set_assessment_status(
                &nurse,
                &patient,
                &id,
                1,
                &input(Some("case of another patient"), "entered_in_error"),
            )
            .await
            .unwrap();
        assert_eq!((marked.version, marked.report.clone()), (2, recorded.body["report"].clone()));
        let stale = fixture.app.set_assessment_status(&nurse, &patient, &id, 1, &input(Some("again"), "active")).await;
        assert!(matches!(stale, Err(AppError::StaleVersion { current_version: 2, .. })), "{stale:?}");
        let read = fixture.app.get_assessment(&nurse, &patient, &id).await.unwrap();
        assert_eq!(read.status, ketacare_store::RecordStatus::EnteredInError);
        let amendments = fixture.app.patient_amendments(&nurse, &patient).await.unwrap();
        assert_eq!(amendments[0].reason, "case of another patient");
        let analyst = fixture.actor(Role::Analyst).await;
        assert!(matches!(fixture.app.get_assessment(&analyst, &patient, &id).await, Err(AppError::Forbidden { .. })));
    })
    .await;
}

#[tokio::test]
async fn a_one_time_password_must_be_changed_and_the_change_ends_other_sessions() {
    each_backend(|db| async move {
        let fixture = Fixture::new(db.store).await;
        let app = &fixture.app;
        let one_time = app.bootstrap_admin("root").await.unwrap();
        let first = app.login("root", &one_time, "10.0.0.1", "r").await.unwrap();
        let second = app.login("root", &one_time, "10.0.0.1", "r").await.unwrap();
        assert!(first.principal.must_change_password);
        let wrong = app
            .change_password(&first.principal, "r", Some(&first.session_token), "10.0.0.1", "nope", "a new passphrase")
            .await;
        assert!(matches!(&wrong, Err(AppError::Invalid { field, .. }) if field == "current_password"), "{wrong:?}");
        let short = app
            .change_password(&first.principal, "r", Some(&first.session_token), "10.0.0.1", &one_time, "short")
            .await;
        assert!(matches!(&short, Err(AppError::Invalid { field, .. }) if field == "new_password"), "{short:?}");
        app.change_password(
            &first.principal,
            "r",
            Some(&first.session_token),
            "10.0.0.1",
            &one_time,
            "a new passphrase",
        )
        .await
        .unwrap();
        let kept = app.authenticate_session(&first.session_token, "r", "test").await.unwrap();
        assert!(!kept.must_change_password);
        assert!(matches!(
            app.authenticate_session(&second.session_token, "r", "test").await,
            Err(AppError::Unauthenticated)
        ));
        assert!(app.login("root", &one_time, "10.0.0.2", "r").await.is_err());
        assert!(app.login("root", "a new passphrase", "10.0.0.2", "r").await.is_ok());
    })
    .await;
}

/// "Today" is the clinic's date (its time zone), not UTC's: a clinic ahead of UTC charts today's date in
/// its morning, and one behind UTC cannot chart tomorrow's in its evening.
#[tokio::test]
async fn chart_dates_are_judged_against_the_clinics_today() {
    each_backend(|db| async move {
        let fixture = Fixture::new(db.store).await;
        let nurse = fixture.actor(Role::Nurse).await;
        let patient = fixture.app.create_patient(&nurse, &ada(), None).await.unwrap().resource_id;
        // 2026-11-28T20:00Z: 09:00 on the 29th in Auckland (UTC+13), 12:00 on the 28th in Los Angeles.
        fixture.advance(
            "2026-11-28T20:00:00Z"
                .parse::<Timestamp>()
                .unwrap()
                .duration_since("2026-11-28T09:00:00Z".parse().unwrap()),
        );
        let reading = |day: &str| serde_json::json!({ "measured_on": day, "systolic": 128, "diastolic": 82 });
        let auckland = fixture.app.clone().with_clinic_time_zone("Pacific/Auckland").unwrap();
        let los_angeles = fixture.app.clone().with_clinic_time_zone("America/Los_Angeles").unwrap();
        let mut failures = Vec::new();
        for (app, zone, day, accepted) in [
            (&auckland, "Auckland", "2026-11-29", true),
            (&auckland, "Auckland", "2026-11-30", false),
            (&los_angeles, "Los Angeles", "2026-11-28", true),
            (&los_angeles, "Los Angeles", "2026-11-29", false),
        ] {
            let result = app.create_chart_record(&nurse, &patient, "blood_pressures", &reading(day), None).await;
            if result.is_ok() != accepted {
                failures.push(format!("{zone} {day}: expected accepted={accepted}, got {:?}", result.err()));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        // The refused dates stored nothing: the chart holds the two accepted readings only.
        let stored = fixture.app.chart_section(&nurse, &patient, "blood_pressures").await.unwrap();
        assert_eq!(stored.len(), 2, "{stored:?}");
    })
    .await;
}

/// `user_names` names people for the pages that say who did something: the roles that read the chart or
/// sessions get the usernames of the ids asked for (an id that names no account is left out); the
/// others are refused; each call is audited as `user.names`.
#[tokio::test]
async fn user_names_name_the_accounts_asked_for_to_the_roles_that_read_the_chart() {
    each_backend(|db| async move {
        let app = App::new(db.store.clone(), Protocol::shipped());
        let roles = [Role::Admin, Role::Prescriber, Role::Nurse, Role::Analyst, Role::Auditor];
        let mut actors = Vec::new();
        for role in roles {
            let account = NewAccount {
                username: format!("the.{}", role.as_str()),
                password: "correct horse battery staple".to_owned(),
                role,
                must_change_password: false,
            };
            let user_id = app.create_user(None, &account).await.unwrap();
            actors.push(Actor { user_id, role, request_id: format!("r-{}", role.as_str()) });
        }
        let asked = [actors[1].user_id.clone(), actors[2].user_id.clone(), "no-such-account".to_owned()];
        let mut failures = Vec::new();
        for actor in &actors {
            let answer = app.user_names(actor, &asked).await;
            let allowed = matches!(actor.role, Role::Admin | Role::Prescriber | Role::Nurse);
            match (allowed, answer) {
                (true, Ok(names)) => {
                    let mut expected = vec![
                        (actors[1].user_id.clone(), "the.prescriber".to_owned()),
                        (actors[2].user_id.clone(), "the.nurse".to_owned()),
                    ];
                    expected.sort();
                    let got: Vec<(String, String)> = names.into_iter().collect();
                    if got != expected {
                        failures.push(format!("{}: {got:?}", actor.role.as_str()));
                    }
                }
                (false, Err(AppError::Forbidden { .. })) => {}
                (_, other) => failures.push(format!("{}: {other:?}", actor.role.as_str())),
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
        let events = db.store.audit_events(0, 10_000).await.unwrap();
        let audited: Vec<(String, String)> = events
            .into_iter()
            .filter(|event| event.action == "user.names")
            .map(|event| (event.actor_role.unwrap_or_default(), event.outcome))
            .collect();
        let expected: Vec<(String, String)> = ["admin", "prescriber", "nurse", "analyst", "auditor"]
            .iter()
            .map(|role| {
                let outcome = if ["analyst", "auditor"].contains(role) { "denied" } else { "success" };
                ((*role).to_owned(), outcome.to_owned())
            })
            .collect();
        assert_eq!(audited, expected);
    })
    .await;
}

/// A chart write whose decision is the patient's latest stored one does not store it again (issue 12's soak:
/// one full evaluation per write made the assessments the largest table); its `chart.evaluate` audit event
/// and its answer name the assessment that holds the decision, so what was decided when stays known. A
/// write that changes the decision (a first height and weight) stores the new one.
#[tokio::test]
async fn a_chart_write_stores_its_decision_only_when_the_decision_changed() {
    each_backend(|db| async move {
        let fixture = Fixture::new(db.store).await;
        let nurse = fixture.actor(Role::Nurse).await;
        let auditor = fixture.actor(Role::Auditor).await;
        let patient = fixture.app.create_patient(&nurse, &ada(), None).await.unwrap().resource_id;
        let reading = |systolic: i64, diastolic: i64| {
            serde_json::json!({ "measured_on": "2026-11-27", "systolic": systolic, "diastolic": diastolic })
        };
        let weighed = serde_json::json!({ "measured_on": "2026-11-27", "height_cm": 165, "weight_kg": 70 });
        let writes =
            [("blood_pressures", reading(128, 82)), ("blood_pressures", reading(128, 82)), ("blood_pressures", reading(126, 80)), ("measurements", weighed)];
        let mut decided = Vec::new();
        for (section, body) in &writes {
            let created = fixture.app.create_chart_record(&nurse, &patient, section, body, None).await.unwrap();
            let evaluation = &created.body["evaluation"];
            decided.push((evaluation["assessment_id"].as_str().unwrap().to_owned(), evaluation["report"].to_string()));
        }
        let stored: Vec<(String, String)> = fixture
            .app
            .assessments(&nurse, &patient)
            .await
            .unwrap()
            .into_iter()
            .map(|assessment| (assessment.assessment_id, assessment.report.to_string()))
            .collect();
        let mut failures = Vec::new();
        // Every answer's decision is stored once, under the id the answer names, with the report it gave.
        for (index, answer) in decided.iter().enumerate() {
            if !stored.contains(answer) {
                failures.push(format!("write {index}: its decision {} is not stored as answered", answer.0));
            }
        }
        let mut distinct: Vec<&String> = decided.iter().map(|(_, report)| report).collect();
        distinct.dedup();
        if stored.len() != distinct.len() {
            let ids: Vec<&String> = stored.iter().map(|(id, _)| id).collect();
            failures.push(format!("{} decisions stored for {} distinct ones: {ids:?}", stored.len(), distinct.len()));
        }
        if decided[0].0 != decided[1].0 {
            failures.push("the same reading twice stored its decision twice".to_owned());
        }
        if decided[2].1 == decided[3].1 {
            failures.push("the height and weight decided as before: the test needs a write that changes the decision".to_owned());
        }
        // Each write's evaluation event names the assessment that holds its decision.
        let named: Vec<String> = fixture
            .app
            .audit_events(&auditor, 0, 1000)
            .await
            .unwrap()
            .into_iter()
            .filter(|event| event.action == "chart.evaluate")
            .map(|event| event.resource)
            .collect();
        let expected: Vec<String> =
            decided.iter().map(|(id, _)| format!("patient/{patient}/assessment/{id}")).collect();
        if named != expected {
            failures.push(format!("chart.evaluate events name {named:?}, expected {expected:?}"));
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    })
    .await;
}
