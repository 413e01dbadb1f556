//! Patients' self-report links on both backends: the token is shown once and stored only as its SHA-256,
//! works once, expires by the server's clock, lands in the chart scored, and a PHQ-9 item 9 at or above
//! the protocol's threshold puts a critical alert on the worklist and gives the patient the crisis text.
//! Every step is audited (the patient as `self_report:{link_id}`), and the audit chain stays intact
//! (checked by `each_backend` after each test).

use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use ketacare_app::{
    Actor, App, AppError, NewAccount, PatientAmendmentInput, PatientInput, Role, SelfReportLinkStatus, WorklistQuery,
    sha256_hex,
};
use ketacare_core::protocol::Protocol;
use ketacare_store::test_support::each_backend;

struct Fixture {
    app: App,
    clock: Arc<Mutex<Timestamp>>,
}

impl Fixture {
    async fn new(store: ketacare_store::Store) -> Fixture {
        let clock = Arc::new(Mutex::new("2026-11-28T09:00:00Z".parse::<Timestamp>().unwrap()));
        let reading = clock.clone();
        let app = App::new(store, Protocol::shipped()).with_clock(Arc::new(move || {
            let mut now = reading.lock().unwrap();
            *now += SignedDuration::from_micros(1);
            *now
        }));
        for role in Role::ALL {
            let account = NewAccount {
                username: role.as_str().to_owned(),
                password: format!("correct horse battery {}", role.as_str()),
                role,
                must_change_password: false,
            };
            app.create_user(None, &account).await.unwrap();
        }
        Fixture { app, clock }
    }

    async fn actor(&self, role: Role) -> Actor {
        let password = format!("correct horse battery {}", role.as_str());
        let signed_in = self.app.login(role.as_str(), &password, "10.0.0.1", "req-login").await.unwrap();
        signed_in.principal.actor(&format!("req-{}", role.as_str()))
    }

    fn advance(&self, by: SignedDuration) {
        *self.clock.lock().unwrap() += by;
    }

    async fn patient(&self, nurse: &Actor) -> String {
        let input = PatientInput {
            mrn: Some("MRN-7".to_owned()),
            given_name: "Grace".to_owned(),
            family_name: "Hopper".to_owned(),
            birth_date: "1980-12-09".to_owned(),
            sex_at_birth: "female".to_owned(),
        };
        self.app.create_patient(nurse, &input, None).await.unwrap().resource_id
    }

    /// (action, outcome, actor id) of every audit event, in order.
    async fn audit(&self) -> Vec<(String, String, Option<String>)> {
        let auditor = self.actor(Role::Auditor).await;
        let records = self.app.audit_events(&auditor, 0, 1000).await.unwrap();
        records.into_iter().map(|record| (record.action, record.outcome, record.actor_id)).collect()
    }
}

fn answers(values: &[u8]) -> Vec<Option<u8>> {
    values.iter().map(|value| Some(*value)).collect()
}

fn refused_rule(error: &AppError) -> Option<&str> {
    match error {
        AppError::Refused { rule_id, .. } => Some(rule_id),
        _ => None,
    }
}

#[tokio::test]
async fn a_link_works_once_lands_in_the_chart_and_its_token_is_stored_only_hashed() {
    each_backend(|db| async move {
        let fixture = Fixture::new(db.store.clone()).await;
        let nurse = fixture.actor(Role::Nurse).await;
        let patient_id = fixture.patient(&nurse).await;
        let created = fixture.app.create_self_report_link(&nurse, &patient_id, "phq9").await.unwrap();
        assert_eq!(created.token.len(), 32, "128 bits as hex");
        assert_eq!(created.path, format!("/r/{}", created.token));
        assert_eq!(created.link.status, SelfReportLinkStatus::Open);
        let stored = db.store.query_texts("SELECT token_sha256 FROM self_report_links").await.unwrap();
        assert_eq!(stored, vec![sha256_hex(&created.token)]);
        let anywhere = db
            .store
            .query_texts(
                "SELECT patient_id || link_id || scale || token_sha256 || created_at || created_by || expires_at \
                 FROM self_report_links",
            )
            .await
            .unwrap();
        assert!(!anywhere[0].contains(&created.token), "the token itself is not stored");
        let audit_text = db.store.query_texts("SELECT resource FROM audit_events").await.unwrap().join("\n");
        assert!(!audit_text.contains(&created.token), "nor audited");

        let form = fixture.app.open_self_report(&created.token, "req-p1").await.unwrap();
        assert_eq!((form.given_name.as_str(), form.scale.as_str(), form.item_count), ("Grace", "phq9", 9));
        let receipt = fixture
            .app
            .submit_self_report(&created.token, &answers(&[2, 2, 1, 1, 0, 1, 0, 0, 0]), "req-p2")
            .await
            .unwrap();
        assert_eq!(receipt.crisis_text, None);

        let scales = fixture.app.chart_section(&nurse, &patient_id, "scales").await.unwrap();
        assert_eq!(scales.len(), 1);
        assert_eq!(scales[0].data["scale"], "phq9");
        assert_eq!(scales[0].data["items"], serde_json::json!([2, 2, 1, 1, 0, 1, 0, 0, 0]));
        let totals = db.store.query_texts("SELECT CAST(total AS TEXT) FROM scale_results").await.unwrap();
        assert_eq!(totals, vec!["7".to_owned()], "scored by the core");

        let again = fixture.app.submit_self_report(&created.token, &answers(&[0; 9]), "req-p3").await.unwrap_err();
        assert_eq!(refused_rule(&again), Some("SELF_REPORT_LINK_USED"), "{again}");
        let reopened = fixture.app.open_self_report(&created.token, "req-p4").await.unwrap_err();
        assert_eq!(refused_rule(&reopened), Some("SELF_REPORT_LINK_USED"), "{reopened}");
        assert_eq!(fixture.app.chart_section(&nurse, &patient_id, "scales").await.unwrap().len(), 1);

        let links = fixture.app.self_report_links(&nurse, &patient_id).await.unwrap();
        assert_eq!(links[0].status, SelfReportLinkStatus::Used);
        assert_eq!(links[0].scale_result_id.as_deref(), scales[0].record_id.as_str().into());

        let unknown = fixture.app.open_self_report(&"0".repeat(32), "req-p5").await.unwrap_err();
        assert!(matches!(unknown, AppError::NotFound { .. }), "{unknown}");

        let patient_actor = Some(format!("self_report:{}", created.link.link_id));
        let audit = fixture.audit().await;
        let expected = [
            ("self_report_link.create", "success", Some(nurse.user_id.clone())),
            ("self_report.open", "success", patient_actor.clone()),
            ("self_report.submit", "success", patient_actor.clone()),
            ("chart.evaluate", "success", patient_actor.clone()),
            ("self_report.submit", "refused", patient_actor.clone()),
            ("self_report.open", "refused", patient_actor.clone()),
            ("self_report.open", "not_found", None),
        ];
        let mut missing = Vec::new();
        let mut from = 0;
        for (action, outcome, actor) in expected {
            match audit[from..].iter().position(|(a, o, who)| a == action && o == outcome && *who == actor) {
                Some(at) => from += at + 1,
                None => missing.push(format!("{action} {outcome} {actor:?}")),
            }
        }
        assert!(missing.is_empty(), "missing in order: {missing:#?}\n{audit:#?}");
    })
    .await;
}

#[tokio::test]
async fn a_link_expires_by_the_server_clock_after_the_protocol_lifetime() {
    each_backend(|db| async move {
        let fixture = Fixture::new(db.store).await;
        let prescriber = fixture.actor(Role::Prescriber).await;
        let patient_id = fixture.patient(&prescriber).await;
        let created = fixture.app.create_self_report_link(&prescriber, &patient_id, "gad7").await.unwrap();
        fixture.advance(SignedDuration::from_hours(72) - SignedDuration::from_secs(1));
        assert!(fixture.app.open_self_report(&created.token, "req-1").await.is_ok(), "open just before 72 h");
        fixture.advance(SignedDuration::from_secs(1));
        let expired = fixture.app.submit_self_report(&created.token, &answers(&[1; 7]), "req-2").await.unwrap_err();
        assert_eq!(refused_rule(&expired), Some("SELF_REPORT_LINK_EXPIRED"), "{expired}");
        let links = fixture.app.self_report_links(&prescriber, &patient_id).await.unwrap();
        assert_eq!(links[0].status, SelfReportLinkStatus::Expired);
        assert!(fixture.app.chart_section(&prescriber, &patient_id, "scales").await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn item_9_raises_a_critical_worklist_alert_and_shows_the_crisis_text_until_acknowledged() {
    each_backend(|db| async move {
        let fixture = Fixture::new(db.store).await;
        let nurse = fixture.actor(Role::Nurse).await;
        let patient_id = fixture.patient(&nurse).await;
        let created = fixture.app.create_self_report_link(&nurse, &patient_id, "phq9").await.unwrap();
        let receipt = fixture
            .app
            .submit_self_report(&created.token, &answers(&[1, 1, 1, 1, 1, 1, 1, 1, 1]), "req-p")
            .await
            .unwrap();
        let crisis = receipt.crisis_text.expect("item 9 = 1 shows the crisis text");
        assert!(crisis.contains("988"), "{crisis}");
        let worklist = fixture.app.worklist(&nurse, &WorklistQuery::default()).await.unwrap();
        assert_eq!(worklist.self_report_alerts.len(), 1);
        let alert = &worklist.self_report_alerts[0];
        assert_eq!((alert.level.as_str(), alert.patient.given_name.as_str()), ("critical", "Grace"));
        assert_eq!(alert.link_id, created.link.link_id);

        let analyst = fixture.actor(Role::Analyst).await;
        let denied = fixture.app.acknowledge_self_report_alert(&analyst, &patient_id, &alert.link_id).await;
        assert!(matches!(denied, Err(AppError::Forbidden { .. })), "{denied:?}");
        let acknowledged =
            fixture.app.acknowledge_self_report_alert(&nurse, &patient_id, &alert.link_id).await.unwrap();
        assert_eq!(acknowledged.alert_acknowledged_by.as_deref(), Some(nurse.user_id.as_str()));
        assert!(fixture.app.worklist(&nurse, &WorklistQuery::default()).await.unwrap().self_report_alerts.is_empty());
        let twice = fixture.app.acknowledge_self_report_alert(&nurse, &patient_id, &alert.link_id).await;
        assert!(matches!(twice, Err(AppError::NotFound { .. })), "{twice:?}");

        // A GAD-7 has no item 9 to screen; a PHQ-9 with item 9 = 0 raises nothing.
        for (scale, values) in [("gad7", vec![3u8; 7]), ("phq9", vec![3, 3, 3, 3, 3, 3, 3, 3, 0])] {
            let link = fixture.app.create_self_report_link(&nurse, &patient_id, scale).await.unwrap();
            let receipt = fixture.app.submit_self_report(&link.token, &answers(&values), "req-q").await.unwrap();
            assert_eq!(receipt.crisis_text, None, "{scale}");
        }
        assert!(fixture.app.worklist(&nurse, &WorklistQuery::default()).await.unwrap().self_report_alerts.is_empty());
        let audit = fixture.audit().await;
        assert!(audit.iter().any(|(action, outcome, _)| action == "self_report.alert" && outcome == "success"));
        assert!(audit.iter().any(|(action, _, _)| action == "self_report_alert.acknowledge"));
    })
    .await;
}

#[tokio::test]
async fn bad_requests_name_their_field_and_change_nothing() {
    each_backend(|db| async move {
        let fixture = Fixture::new(db.store).await;
        let nurse = fixture.actor(Role::Nurse).await;
        let patient_id = fixture.patient(&nurse).await;
        let mut failures = Vec::new();
        let scale = fixture.app.create_self_report_link(&nurse, &patient_id, "madrs").await;
        if !matches!(&scale, Err(AppError::Invalid { field, .. }) if field == "scale") {
            failures.push(format!("madrs: {scale:?}"));
        }
        let analyst = fixture.actor(Role::Analyst).await;
        let forbidden = fixture.app.create_self_report_link(&analyst, &patient_id, "phq9").await;
        if !matches!(forbidden, Err(AppError::Forbidden { .. })) {
            failures.push(format!("analyst: {forbidden:?}"));
        }
        let missing = fixture.app.create_self_report_link(&nurse, "no-such-patient", "phq9").await;
        if !matches!(missing, Err(AppError::NotFound { .. })) {
            failures.push(format!("no patient: {missing:?}"));
        }
        let link = fixture.app.create_self_report_link(&nurse, &patient_id, "phq9").await.unwrap();
        let cases: [(Vec<Option<u8>>, &str); 3] = [
            (answers(&[0; 8]), "answers"),
            (vec![Some(0), Some(0), None, Some(0), Some(0), Some(0), Some(0), Some(0), Some(0)], "answers[2]"),
            (answers(&[0, 0, 0, 0, 4, 0, 0, 0, 0]), "answers[4]"),
        ];
        for (values, expected) in cases {
            match fixture.app.submit_self_report(&link.token, &values, "req").await {
                Err(AppError::Invalid { field, .. }) if field == expected => {}
                other => failures.push(format!("{expected}: {other:?}")),
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
        let links = fixture.app.self_report_links(&nurse, &patient_id).await.unwrap();
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].status, SelfReportLinkStatus::Open, "a refused answer does not use the link");
        assert!(fixture.app.chart_section(&nurse, &patient_id, "scales").await.unwrap().is_empty());

        // A patient record entered in error gets no new link: its alerts would reach no worklist.
        let mistake = PatientAmendmentInput {
            reason: Some("duplicate record".to_owned()),
            status: Some("entered_in_error".to_owned()),
            ..PatientAmendmentInput::default()
        };
        fixture.app.amend_patient(&nurse, &patient_id, 1, &mistake).await.unwrap();
        let refused = fixture.app.create_self_report_link(&nurse, &patient_id, "phq9").await.unwrap_err();
        assert_eq!(refused_rule(&refused), Some("SELF_REPORT_PATIENT_NOT_ACTIVE"), "{refused}");
    })
    .await;
}

#[tokio::test]
async fn submissions_racing_for_one_link_store_one_result() {
    each_backend(|db| async move {
        let fixture = Fixture::new(db.store).await;
        let nurse = fixture.actor(Role::Nurse).await;
        let patient_id = fixture.patient(&nurse).await;
        let created = fixture.app.create_self_report_link(&nurse, &patient_id, "phq9").await.unwrap();
        let racers: Vec<_> = (0..6u8)
            .map(|racer| {
                let app = fixture.app.clone();
                let token = created.token.clone();
                tokio::spawn(async move {
                    app.submit_self_report(&token, &answers(&[racer % 4; 9]), &format!("req-race-{racer}")).await
                })
            })
            .collect();
        let mut stored = 0;
        let mut refused = Vec::new();
        for racer in racers {
            match racer.await.unwrap() {
                Ok(_) => stored += 1,
                Err(error) => {
                    refused.push(refused_rule(&error).map(str::to_owned).unwrap_or_else(|| error.to_string()))
                }
            }
        }
        assert_eq!(stored, 1, "one result per link: {refused:?}");
        assert!(refused.iter().all(|rule| rule == "SELF_REPORT_LINK_USED"), "{refused:?}");
        assert_eq!(fixture.app.chart_section(&nurse, &patient_id, "scales").await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn the_protocol_sets_the_item_9_threshold_and_the_link_lifetime() {
    each_backend(|db| async move {
        let shipped = ketacare_core::protocol::SHIPPED_PROTOCOL_TOML;
        let text = shipped
            .replacen("phq9_item9_screen_from = { value = 1,", "phq9_item9_screen_from = { value = 2,", 1)
            .replacen("link_lifetime_hours = { value = 72,", "link_lifetime_hours = { value = 1,", 1);
        assert_ne!(text, shipped);
        let mut fixture = Fixture::new(db.store.clone()).await;
        let clock = fixture.clock.clone();
        fixture.app = App::new(db.store, Protocol::parse(&text).unwrap()).with_clock(Arc::new(move || {
            let mut now = clock.lock().unwrap();
            *now += SignedDuration::from_micros(1);
            *now
        }));
        let nurse = fixture.actor(Role::Nurse).await;
        let patient_id = fixture.patient(&nurse).await;
        let mut failures = Vec::new();
        for (item9, alert) in [(1u8, false), (2, true), (3, true)] {
            let link = fixture.app.create_self_report_link(&nurse, &patient_id, "phq9").await.unwrap();
            let expected_expiry = link.link.created_at.parse::<Timestamp>().unwrap() + SignedDuration::from_hours(1);
            if link.link.expires_at.parse::<Timestamp>().unwrap() != expected_expiry {
                failures.push(format!("lifetime: {} → {}", link.link.created_at, link.link.expires_at));
            }
            let mut values = [0u8; 9];
            values[8] = item9;
            let receipt = fixture.app.submit_self_report(&link.token, &answers(&values), "req").await.unwrap();
            if receipt.crisis_text.is_some() != alert {
                failures.push(format!("item 9 = {item9}: crisis text {:?}", receipt.crisis_text));
            }
        }
        let alerts = fixture.app.worklist(&nurse, &WorklistQuery::default()).await.unwrap().self_report_alerts;
        if alerts.len() != 2 {
            failures.push(format!("two alerts from a threshold of 2, got {}", alerts.len()));
        }
        assert!(failures.is_empty(), "{failures:#?}");
    })
    .await;
}
