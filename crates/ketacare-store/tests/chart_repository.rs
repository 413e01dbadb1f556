//! The chart's repository operations on SQLite always and on PostgreSQL when configured: records are
//! stored with the evaluation they caused in one transaction, amended under optimistic concurrency
//! with the prior record kept, and never deleted.

use jiff::Timestamp;
use ketacare_store::test_support::each_backend;
use ketacare_store::{
    AmendmentMeta, AuditEvent, ChartEvaluation, ChartRecordChanges, ChartWrite, NewAssessment, NewChartRecord,
    NewPatient, NewScaleResult, NewUser, RecordStatus, Role, ScaleResultChanges, Store, StoreError,
};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_795_000_000 + seconds).unwrap()
}

fn event(action: &str) -> AuditEvent {
    AuditEvent {
        occurred_at: at(0),
        actor_id: Some("u-nurse".to_owned()),
        actor_role: Some("nurse".to_owned()),
        action: action.to_owned(),
        resource: "patient/p1/chart".to_owned(),
        patient_id: Some("p1".to_owned()),
        request_id: Some("req-1".to_owned()),
        outcome: "success".to_owned(),
    }
}

/// The evaluation a write stores (computed from the chart at `chart_stamp`), with the record's and the evaluation's audit events.
fn chart_write(assessment_id: &str, chart_stamp: i64) -> ChartWrite {
    ChartWrite {
        evaluation: ChartEvaluation::Changed(NewAssessment {
            patient_id: "p1".to_owned(),
            assessment_id: assessment_id.to_owned(),
            as_of: "2026-11-28".to_owned(),
            case_json: "{}".to_owned(),
            decision_json: "{}".to_owned(),
            rules_version: "r".to_owned(),
            protocol_sha256: "s".to_owned(),
            created_at: at(2),
            created_by: "u-nurse".to_owned(),
        }),
        audit_events: vec![event("chart.create"), event("chart.evaluate")],
        chart_stamp,
    }
}

/// A write whose decision is that of the patient's latest stored assessment `assessment_id`.
fn unchanged_write(assessment_id: &str, chart_stamp: i64) -> ChartWrite {
    ChartWrite {
        evaluation: ChartEvaluation::Unchanged { patient_id: "p1".to_owned(), assessment_id: assessment_id.to_owned() },
        audit_events: vec![event("chart.create"), event("chart.evaluate")],
        chart_stamp,
    }
}

fn meta(amendment_id: &str) -> AmendmentMeta {
    AmendmentMeta {
        amendment_id: amendment_id.to_owned(),
        reason: "misread".to_owned(),
        amended_by: "u-nurse".to_owned(),
        amended_at: at(3),
    }
}

async fn seeded(store: &Store) {
    let user = NewUser {
        user_id: "u-nurse".to_owned(),
        username: "nurse".to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        role: Role::Nurse,
        must_change_password: false,
        created_at: at(0),
    };
    store.insert_user(&user, &event("user.create")).await.unwrap();
    let patient = NewPatient {
        patient_id: "p1".to_owned(),
        pseudonym: "P-1".to_owned(),
        mrn: None,
        given_name: "Ada".to_owned(),
        family_name: "Lovelace".to_owned(),
        birth_date: "1984-05-02".to_owned(),
        birth_year: 1984,
        sex_at_birth: "female".to_owned(),
        created_at: at(1),
        created_by: "u-nurse".to_owned(),
    };
    store.insert_patient(&patient, &event("patient.create"), None).await.unwrap();
}

fn trial(record_id: &str) -> NewChartRecord {
    NewChartRecord {
        patient_id: "p1".to_owned(),
        record_id: record_id.to_owned(),
        section: "trials".to_owned(),
        episode_id: Some("e1".to_owned()),
        recorded_on: None,
        body_json: r#"{"drug":"sertraline","weeks":8}"#.to_owned(),
        created_at: at(2),
        created_by: "u-nurse".to_owned(),
    }
}

#[tokio::test]
async fn a_chart_record_is_stored_with_its_evaluation_and_amended_with_history() {
    each_backend(|db| async move {
        let store = db.store;
        seeded(&store).await;
        // The patient alone: stamp 1. A write computed from an older chart is refused and stores nothing.
        let overtaken = store.insert_chart_record(&trial("t0"), &chart_write("a0", 0), None).await;
        assert!(
            matches!(overtaken, Err(StoreError::StaleVersion { resource: "chart", current: 1, .. })),
            "{overtaken:?}"
        );
        assert_eq!(store.assessments("p1").await.unwrap().len(), 0);
        let stored = store.insert_chart_record(&trial("t1"), &chart_write("a1", 1), None).await.unwrap();
        assert_eq!((stored.version, stored.status), (1, RecordStatus::Active));
        assert_eq!(store.chart_records("p1").await.unwrap(), vec![stored.clone()]);
        assert_eq!(store.assessments("p1").await.unwrap().len(), 1);
        let changes = ChartRecordChanges {
            episode_id: Some("e1".to_owned()),
            recorded_on: None,
            body_json: r#"{"drug":"sertraline","weeks":3}"#.to_owned(),
            status: RecordStatus::Active,
        };
        let amended =
            store.amend_chart_record("p1", "t1", 1, &changes, &meta("m1"), &chart_write("a2", 2)).await.unwrap();
        assert_eq!((amended.version, amended.body_json.as_str()), (2, changes.body_json.as_str()));
        assert_eq!(store.chart_record("p1", "t1").await.unwrap(), Some(amended));
        let amendments = store.amendments("p1").await.unwrap();
        assert_eq!((amendments[0].resource_type.as_str(), amendments[0].from_version), ("trials", 1));
        assert!(amendments[0].prior_json.contains(r#"\"weeks\":8"#), "{}", amendments[0].prior_json);

        // A stale change stores nothing: no record change, no amendment, no evaluation.
        let stale = store.amend_chart_record("p1", "t1", 1, &changes, &meta("m2"), &chart_write("a3", 3)).await;
        assert!(matches!(stale, Err(StoreError::StaleVersion { current: 2, .. })), "{stale:?}");
        assert_eq!(store.amendments("p1").await.unwrap().len(), 1);
        assert_eq!(store.assessments("p1").await.unwrap().len(), 2);
        let missing = store.amend_chart_record("p1", "nope", 1, &changes, &meta("m3"), &chart_write("a4", 3)).await;
        assert!(matches!(missing, Err(StoreError::NotFound { .. })), "{missing:?}");
        let mut other = trial("t2");
        other.patient_id = "no-such-patient".to_owned();
        let orphan = store.insert_chart_record(&other, &chart_write("a5", 0), None).await;
        assert!(matches!(orphan, Err(StoreError::NotFound { resource: "patient", .. })), "{orphan:?}");
        assert_eq!(store.verify_audit_chain().await.unwrap().first_broken, None);
    })
    .await;
}

#[tokio::test]
async fn chart_scale_results_are_amended_with_history() {
    each_backend(|db| async move {
        let store = db.store;
        seeded(&store).await;
        let result = NewScaleResult {
            patient_id: "p1".to_owned(),
            scale_result_id: "s1".to_owned(),
            scale: "phq9".to_owned(),
            answers_json: Some("[1,1,1,1,1,1,1,1,0]".to_owned()),
            total: Some(8),
            administered_on: "2026-11-20".to_owned(),
            created_at: at(2),
            created_by: "u-nurse".to_owned(),
        };
        store.insert_chart_scale_result(&result, &chart_write("a1", 1), None).await.unwrap();
        let changes = ScaleResultChanges {
            answers_json: None,
            total: Some(12),
            administered_on: "2026-11-21".to_owned(),
            status: RecordStatus::EnteredInError,
        };
        let amended =
            store.amend_scale_result("p1", "s1", 1, &changes, &meta("m1"), &chart_write("a2", 2)).await.unwrap();
        assert_eq!((amended.version, amended.total, amended.status), (2, Some(12), RecordStatus::EnteredInError));
        assert_eq!(store.scale_result("p1", "s1").await.unwrap(), Some(amended));
        let amendments = store.amendments("p1").await.unwrap();
        assert_eq!(amendments[0].resource_type, "scale_result");
        assert!(amendments[0].prior_json.contains("[1,1,1,1,1,1,1,1,0]"));
    })
    .await;
}

#[tokio::test]
async fn chart_records_are_never_deleted() {
    each_backend(|db| async move {
        let store = db.store;
        seeded(&store).await;
        store.insert_chart_record(&trial("t1"), &chart_write("a1", 1), None).await.unwrap();
        assert!(store.execute_raw("DELETE FROM chart_records").await.is_err(), "the delete was not refused");
        assert_eq!(store.chart_records("p1").await.unwrap().len(), 1);
        let bad_section = "INSERT INTO chart_records (patient_id, record_id, section, body_json, created_at, created_by, \
                           updated_at, updated_by) VALUES ('p1', 'x', 'allergies', '{}', 't', 'u-nurse', 't', 'u-nurse')";
        assert!(store.execute_raw(bad_section).await.is_err(), "an unknown section was stored");
    })
    .await;
}

#[tokio::test]
async fn an_unchanged_decision_is_not_stored_again_and_must_still_be_the_latest() {
    each_backend(|db| async move {
        let store = db.store;
        seeded(&store).await;
        store.insert_chart_record(&trial("t1"), &chart_write("a1", 1), None).await.unwrap();
        // The same decision again: the record and both audit events are stored, the assessment is not.
        store.insert_chart_record(&trial("t2"), &unchanged_write("a1", 2), None).await.unwrap();
        let ids: Vec<String> =
            store.assessments("p1").await.unwrap().into_iter().map(|assessment| assessment.assessment_id).collect();
        assert_eq!(ids, ["a1"]);
        assert_eq!(store.chart_records("p1").await.unwrap().len(), 2);
        assert_eq!(
            store.latest_assessment("p1").await.unwrap().map(|latest| latest.assessment_id).as_deref(),
            Some("a1")
        );
        // Another decision became the latest (a posted assessment, which changes no chart stamp): a write
        // naming the older one as unchanged is refused and stores nothing.
        let mut posted = match chart_write("a2", 0).evaluation {
            ChartEvaluation::Changed(assessment) => assessment,
            ChartEvaluation::Unchanged { .. } => unreachable!("chart_write makes a new decision"),
        };
        posted.created_at = at(5);
        store.insert_assessment(&posted, &event("assessment.create"), None).await.unwrap();
        assert_eq!(
            store.latest_assessment("p1").await.unwrap().map(|latest| latest.assessment_id).as_deref(),
            Some("a2")
        );
        let overtaken = store.insert_chart_record(&trial("t3"), &unchanged_write("a1", 3), None).await;
        assert!(matches!(overtaken, Err(StoreError::StaleVersion { resource: "chart", .. })), "{overtaken:?}");
        assert_eq!(store.chart_records("p1").await.unwrap().len(), 2);
        assert_eq!(store.assessments("p1").await.unwrap().len(), 2);
        // An amendment with the latest decision unchanged keeps its history and stores no assessment.
        let changes = ChartRecordChanges {
            episode_id: Some("e1".to_owned()),
            recorded_on: None,
            body_json: r#"{"drug":"sertraline","weeks":9}"#.to_owned(),
            status: RecordStatus::Active,
        };
        store.amend_chart_record("p1", "t1", 1, &changes, &meta("m1"), &unchanged_write("a2", 3)).await.unwrap();
        assert_eq!(store.amendments("p1").await.unwrap().len(), 1);
        assert_eq!(store.assessments("p1").await.unwrap().len(), 2);
        assert_eq!(store.verify_audit_chain().await.unwrap().first_broken, None);
    })
    .await;
}
