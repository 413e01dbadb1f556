//! The treatment tables through the `Store` API on SQLite and, when configured, PostgreSQL: a stale
//! observation writes nothing, every write of a session raises its version, a scheduled session is
//! fulfilled once, and no treatment row can be deleted.

use jiff::Timestamp;
use ketacare_store::test_support::each_backend;
use ketacare_store::{
    AuditEvent, NewPatient, NewTreatmentPlan, NewTreatmentSession, NewUser, ObservationWrite, Role,
    ScheduledSessionRow, StoreError, StoredAdministration, StoredAlertChange, StoredObservation,
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
        resource: "patient/p1".to_owned(),
        patient_id: Some("p1".to_owned()),
        request_id: Some("req-1".to_owned()),
        outcome: "success".to_owned(),
    }
}

async fn seeded(store: &ketacare_store::Store) {
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
        pseudonym: "P-p1".to_owned(),
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
    let plan = NewTreatmentPlan {
        patient_id: "p1".to_owned(),
        plan_id: "plan-1".to_owned(),
        plan_json: "{}".to_owned(),
        concurrent_plan_reason: None,
        scheduled: vec![ScheduledSessionRow {
            position: 0,
            session_number: Some(1),
            step: "induction".to_owned(),
            phase: "induction".to_owned(),
            planned_at: "2026-11-30T09:00:00-05:00".to_owned(),
            status: "scheduled".to_owned(),
            treatment_session_id: None,
        }],
        created_at: at(2),
        created_by: "u-nurse".to_owned(),
    };
    store.insert_treatment_plan(&plan, &event("plan.create"), None).await.unwrap();
}

fn new_session(session_id: &str) -> NewTreatmentSession {
    NewTreatmentSession {
        patient_id: "p1".to_owned(),
        session_id: session_id.to_owned(),
        fulfils: Some(("plan-1".to_owned(), 0)),
        order_id: None,
        modality: "esketamine".to_owned(),
        facts_json: r#"{"modality":"esketamine"}"#.to_owned(),
        created_at: at(3),
        created_by: "u-nurse".to_owned(),
    }
}

fn observation_write(expected_version: i64, sequence: i64) -> ObservationWrite {
    ObservationWrite {
        expected_version,
        observation: StoredObservation {
            sequence,
            observation_json: r#"{"at":"2026-11-30T09:40","moaas":3}"#.to_owned(),
            recorded_at: "2026-11-30T14:40:00.000000Z".to_owned(),
            recorded_by: "u-nurse".to_owned(),
            late_entry_reason: None,
            correction: None,
        },
        replaces_alert_log: false,
        changes: vec![StoredAlertChange {
            sequence,
            change_index: 0,
            alert_id: "SEDATION#1".to_owned(),
            change_kind: "raised".to_owned(),
            level: "warning".to_owned(),
            alert_json: "{}".to_owned(),
            changed_at: "2026-11-30T14:40:00.000000Z".to_owned(),
        }],
    }
}

#[tokio::test]
async fn observations_are_written_only_on_the_version_they_were_judged_against() {
    each_backend(|db| async move {
        let store = db.store;
        seeded(&store).await;
        store.insert_treatment_session(&new_session("s1"), &event("session.create"), None).await.unwrap();
        // Starting a session claims its slot; the slot is completed only when the session is discharged.
        let claimed = store.treatment_plan("p1", "plan-1").await.unwrap().unwrap();
        assert_eq!(
            (claimed.scheduled[0].status.as_str(), claimed.scheduled[0].treatment_session_id.as_deref()),
            ("scheduled", Some("s1"))
        );
        let again = store.insert_treatment_session(&new_session("s2"), &event("session.create"), None).await;
        assert!(matches!(again, Err(StoreError::NotFound { .. })), "{again:?}");
        assert!(store.treatment_session("p1", "s2").await.unwrap().is_none(), "the failed start wrote nothing");

        assert_eq!(store.append_observation("p1", "s1", &observation_write(1, 1), &event("o"), None).await.unwrap(), 2);
        let stale = store.append_observation("p1", "s1", &observation_write(1, 2), &event("o"), None).await;
        assert!(matches!(stale, Err(StoreError::StaleVersion { current: 2, .. })), "{stale:?}");
        let administration = StoredAdministration {
            administration_id: "a1".to_owned(),
            administration_json: "{}".to_owned(),
            lot_number: "ESK-1".to_owned(),
            status: "active".to_owned(),
            recorded_at: "2026-11-30T14:41:00.000000Z".to_owned(),
            recorded_by: "u-nurse".to_owned(),
        };
        store
            .insert_administration("p1", "s1", Some(2), &administration, &event("administration.create"), None)
            .await
            .unwrap();
        let record = store.treatment_session_record("p1", "s1", true).await.unwrap().unwrap();
        assert_eq!((record.session.version, record.session.observation_count), (3, 1));
        assert_eq!((record.observations.len(), record.alert_changes.len(), record.administrations.len()), (1, 1, 1));
        let missing = store.append_observation("p1", "nope", &observation_write(1, 1), &event("o"), None).await;
        assert!(matches!(missing, Err(StoreError::NotFound { .. })), "{missing:?}");
    })
    .await;
}

#[tokio::test]
async fn treatment_rows_are_never_deleted() {
    each_backend(|db| async move {
        let store = db.store;
        seeded(&store).await;
        store.insert_treatment_session(&new_session("s1"), &event("session.create"), None).await.unwrap();
        store.append_observation("p1", "s1", &observation_write(1, 1), &event("o"), None).await.unwrap();
        for sql in [
            "DELETE FROM treatment_plans",
            "DELETE FROM scheduled_sessions",
            "DELETE FROM treatment_sessions",
            "DELETE FROM session_observations",
            "UPDATE session_observations SET observation_json = '{}'",
            "DELETE FROM session_alert_log",
            "UPDATE session_alert_log SET level = 'info'",
        ] {
            assert!(store.execute_raw(sql).await.is_err(), "{sql} was not refused");
        }
        assert_eq!(store.treatment_session_record("p1", "s1", true).await.unwrap().unwrap().observations.len(), 1);
    })
    .await;
}
