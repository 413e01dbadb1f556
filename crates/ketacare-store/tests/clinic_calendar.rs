//! The clinic calendar tables (schema 15) through the `Store` API on SQLite and, when configured,
//! PostgreSQL: the settings row is set once and then changed at its version, a second active holiday on
//! a date is refused, a holiday is set aside by marking it entered in error (kept), and nothing can be deleted.

use jiff::Timestamp;
use ketacare_store::test_support::each_backend;
use ketacare_store::{AuditEvent, ClinicHoliday, NewUser, Role, StoreError};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_795_000_000 + seconds).unwrap()
}

fn event(action: &str) -> AuditEvent {
    AuditEvent {
        occurred_at: at(0),
        actor_id: Some("u-admin".to_owned()),
        actor_role: Some("admin".to_owned()),
        action: action.to_owned(),
        resource: "clinic-calendar".to_owned(),
        patient_id: None,
        request_id: Some("req-1".to_owned()),
        outcome: "success".to_owned(),
    }
}

async fn seeded(store: &ketacare_store::Store) {
    let user = NewUser {
        user_id: "u-admin".to_owned(),
        username: "admin".to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        role: Role::Admin,
        must_change_password: false,
        created_at: at(0),
    };
    store.insert_user(&user, &event("user.create")).await.unwrap();
}

fn holiday(id: &str, date: &str) -> ClinicHoliday {
    ClinicHoliday {
        holiday_id: id.to_owned(),
        holiday_date: date.to_owned(),
        label: "Christmas Day".to_owned(),
        status: "active".to_owned(),
        added_by: "u-admin".to_owned(),
        added_at: at(5),
        entered_in_error_reason: None,
        entered_in_error_by: None,
        entered_in_error_at: None,
        version: 1,
    }
}

#[tokio::test]
async fn the_settings_are_set_once_then_changed_at_their_version() {
    each_backend(|db| async move {
        let store = &db.store;
        seeded(store).await;
        assert_eq!(store.clinic_calendar_settings().await.unwrap(), None);
        let audit = event("clinic_calendar.update");
        store.save_clinic_calendar_settings("mon,tue,wed,thu,fri", 4, None, "u-admin", at(1), &audit).await.unwrap();
        let again = store.save_clinic_calendar_settings("mon", 1, None, "u-admin", at(2), &audit).await;
        assert!(matches!(again, Err(StoreError::Duplicate { .. })), "{again:?}");
        let stale = store.save_clinic_calendar_settings("mon", 1, Some(7), "u-admin", at(2), &audit).await;
        assert!(matches!(stale, Err(StoreError::StaleVersion { current: 1, .. })), "{stale:?}");
        store.save_clinic_calendar_settings("mon,thu", 2, Some(1), "u-admin", at(3), &audit).await.unwrap();
        let settings = store.clinic_calendar_settings().await.unwrap().unwrap();
        assert_eq!((settings.open_weekdays.as_str(), settings.chairs, settings.version), ("mon,thu", 2, 2));
        assert_eq!(settings.updated_at, at(3));
        db.expect_tampering();
        assert!(db.store.execute_raw("DELETE FROM clinic_calendar").await.is_err());
    })
    .await;
}

#[tokio::test]
async fn a_holiday_is_kept_and_set_aside_only_as_entered_in_error() {
    each_backend(|db| async move {
        let store = &db.store;
        seeded(store).await;
        let audit = event("clinic_holiday.add");
        store.insert_clinic_holiday(&holiday("h1", "2025-12-25"), &audit).await.unwrap();
        let twice = store.insert_clinic_holiday(&holiday("h2", "2025-12-25"), &audit).await;
        assert!(matches!(twice, Err(StoreError::Duplicate { .. })), "{twice:?}");
        let stale = store.mark_clinic_holiday_in_error("h1", 9, "wrong day", "u-admin", at(6), &audit).await;
        assert!(matches!(stale, Err(StoreError::StaleVersion { current: 1, .. })), "{stale:?}");
        store.mark_clinic_holiday_in_error("h1", 1, "wrong day", "u-admin", at(6), &audit).await.unwrap();
        let kept = store.clinic_holiday("h1").await.unwrap().unwrap();
        assert_eq!(kept.status, "entered_in_error");
        assert_eq!(kept.entered_in_error_reason.as_deref(), Some("wrong day"));
        // The date is free again for the right entry.
        store.insert_clinic_holiday(&holiday("h2", "2025-12-25"), &audit).await.unwrap();
        assert_eq!(store.clinic_holidays().await.unwrap().len(), 2);
        let missing = store.mark_clinic_holiday_in_error("h9", 1, "x", "u-admin", at(7), &audit).await;
        assert!(matches!(missing, Err(StoreError::NotFound { .. })), "{missing:?}");
        assert!(db.store.verify_audit_chain().await.unwrap().intact());
        db.expect_tampering();
        assert!(db.store.execute_raw("DELETE FROM clinic_holidays").await.is_err());
    })
    .await;
}
