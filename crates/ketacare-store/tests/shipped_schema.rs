//! What `audit verify` holds the database to besides the chain: the shipped triggers and migrations (a
//! dropped, disabled, altered or added trigger, or an edited ledger, is named), the row versions of every
//! covered table (which must hash every column the schema has), the row baseline written with schema 7,
//! and the HMAC-keyed chain. On SQLite always and on PostgreSQL when `KETACARE_TEST_DATABASE_URL` is set.

use jiff::Timestamp;
use ketacare_store::row_versions::COVERED_TABLES;
use ketacare_store::test_support::each_backend;
use ketacare_store::{
    AuditEvent, AuditKey, Backend, HashAlgorithm, NewPatient, NewUser, Role, RowProblemKind, SHIPPED_TRIGGERS_POSTGRES,
    SHIPPED_TRIGGERS_SQLITE, Store, trigger_fingerprints,
};

/// Set to rewrite the shipped trigger lists from a freshly migrated database (after adding a migration).
const BLESS_VARIABLE: &str = "KETACARE_BLESS_SHIPPED_TRIGGERS";

fn event(action: &str) -> AuditEvent {
    AuditEvent {
        occurred_at: Timestamp::from_second(1_795_000_000).unwrap(),
        actor_id: Some("u-admin".to_owned()),
        actor_role: Some("admin".to_owned()),
        action: action.to_owned(),
        resource: "system".to_owned(),
        patient_id: None,
        request_id: None,
        outcome: "success".to_owned(),
    }
}

async fn add_admin_and_patient(store: &Store) {
    let user = NewUser {
        user_id: "u-admin".to_owned(),
        username: "admin".to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        role: Role::Admin,
        must_change_password: false,
        created_at: Timestamp::from_second(1_795_000_000).unwrap(),
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
        created_at: Timestamp::from_second(1_795_000_001).unwrap(),
        created_by: "u-admin".to_owned(),
    };
    store.insert_patient(&patient, &event("patient.create"), None).await.unwrap();
}

#[tokio::test]
async fn the_shipped_trigger_lists_are_those_of_a_freshly_migrated_database() {
    each_backend(|db| async move {
        let (shipped, file) = match db.store.backend() {
            Backend::Sqlite => (SHIPPED_TRIGGERS_SQLITE, "sqlite.txt"),
            Backend::Postgres => (SHIPPED_TRIGGERS_POSTGRES, "postgres.txt"),
        };
        let actual = trigger_fingerprints(&db.store).await.unwrap();
        if std::env::var_os(BLESS_VARIABLE).is_some() {
            let path = format!("{}/src/shipped_triggers/{file}", env!("CARGO_MANIFEST_DIR"));
            std::fs::write(path, actual.join("\n") + "\n").unwrap();
            return;
        }
        let shipped: Vec<&str> = shipped.lines().collect();
        assert_eq!(actual, shipped, "the shipped trigger list is stale: run this test with {BLESS_VARIABLE}=1");
        assert!(actual.len() >= 18, "{actual:?}");
    })
    .await;
}

#[tokio::test]
async fn every_covered_table_hashes_every_column_of_the_migrated_schema() {
    each_backend(|db| async move {
        let mut missing = Vec::new();
        for table in COVERED_TABLES {
            let sql = match db.store.backend() {
                Backend::Sqlite => format!("SELECT name FROM pragma_table_info('{}')", table.name),
                Backend::Postgres => format!(
                    "SELECT column_name::text FROM information_schema.columns WHERE table_schema = current_schema() \
                     AND table_name = '{}'",
                    table.name
                ),
            };
            let columns = db.store.query_texts(&sql).await.unwrap();
            assert!(!columns.is_empty(), "{} has no columns: is it a table?", table.name);
            for column in &columns {
                if !table.columns.contains(&column.as_str()) {
                    missing.push(format!("{}.{column}", table.name));
                }
            }
            for column in table.columns {
                if !columns.iter().any(|found| found == column) {
                    missing.push(format!("{}.{column} (listed, not in the schema)", table.name));
                }
            }
        }
        assert!(missing.is_empty(), "columns not hashed by row versions: {missing:?}");
    })
    .await;
}

#[tokio::test]
async fn a_dropped_disabled_altered_or_added_trigger_and_an_edited_ledger_are_named() {
    let cases: &[(&str, &str, &str, &str)] = &[
        // (SQLite tamper, PostgreSQL tamper, what the problem names, how)
        (
            "DROP TRIGGER patients_never_deleted",
            "DROP TRIGGER patients_never_deleted ON patients",
            "patients_never_deleted",
            "missing",
        ),
        (
            "DROP TRIGGER audit_events_no_update; CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events \
             WHEN 0 BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
            "audit_events",
            "differs",
        ),
        (
            "CREATE TRIGGER patients_rewrite AFTER INSERT ON patients BEGIN SELECT 1; END",
            "CREATE TRIGGER patients_rewrite AFTER INSERT ON patients FOR EACH ROW EXECUTE FUNCTION ketacare_count_observation()",
            "patients_rewrite",
            "never shipped",
        ),
        (
            "UPDATE ketacare_migrations SET sha256 = 'edited' WHERE version = 3",
            "UPDATE ketacare_migrations SET sha256 = 'edited' WHERE version = 3",
            "migration 3",
            "not the shipped one",
        ),
    ];
    for &(sqlite, postgres, names, how) in cases {
        each_backend(move |db| async move {
            assert!(db.store.verify_audit_chain().await.unwrap().intact());
            db.expect_tampering();
            let tamper = if db.store.backend() == Backend::Sqlite { sqlite } else { postgres };
            db.store.execute_raw(tamper).await.unwrap();
            let report = db.store.verify_audit_chain().await.unwrap();
            assert!(!report.intact(), "{tamper}: not found");
            assert!(
                report.schema_problems.iter().any(|problem| problem.contains(names) && problem.contains(how)),
                "{tamper}: {:?}",
                report.schema_problems
            );
        })
        .await;
    }
}

#[tokio::test]
async fn rows_written_outside_the_application_are_named_edited_deleted_or_inserted() {
    each_backend(|db| async move {
        add_admin_and_patient(&db.store).await;
        let report = db.store.verify_audit_chain().await.unwrap();
        assert!(report.intact(), "{report:#?}");
        assert_eq!(report.rows_checked, 2);
        db.expect_tampering();
        db.store.execute_raw("UPDATE users SET role = 'auditor' WHERE user_id = 'u-admin'").await.unwrap();
        db.store
            .execute_raw(
                "INSERT INTO users (user_id, username, password_hash, role, active, must_change_password, created_at) \
                 VALUES ('u-mallory', 'mallory', 'x', 'admin', 1, 0, 't')",
            )
            .await
            .unwrap();
        let report = db.store.verify_audit_chain().await.unwrap();
        let named: Vec<(String, String, RowProblemKind)> = report
            .row_problems
            .iter()
            .map(|problem| (problem.table.clone(), problem.key.clone(), problem.problem))
            .collect();
        assert_eq!(
            named,
            vec![
                ("users".to_owned(), r#"["u-admin"]"#.to_owned(), RowProblemKind::Edited),
                ("users".to_owned(), r#"["u-mallory"]"#.to_owned(), RowProblemKind::Inserted),
            ]
        );
        assert_eq!(report.first_broken, None, "the chain itself holds");
    })
    .await;
}

const KEY: &[u8] = b"a test audit key of thirty-two bytes or more";

#[tokio::test]
async fn a_keyed_chain_is_checked_with_its_key_and_a_rewrite_without_it_is_found() {
    each_backend(|db| async move {
        db.store.append_audit(&event("before.keying")).await.unwrap();
        let keyed = Store::open_with_audit_key(&db.url, Some(AuditKey::new(KEY).unwrap())).await.unwrap();
        add_admin_and_patient(&keyed).await;
        let events = keyed.audit_events(0, 100).await.unwrap();
        let algorithms: Vec<HashAlgorithm> = events.iter().map(|event| event.hash_algorithm).collect();
        assert_eq!(algorithms, [HashAlgorithm::Sha256, HashAlgorithm::HmacSha256, HashAlgorithm::HmacSha256]);
        let report = keyed.verify_audit_chain().await.unwrap();
        assert!(report.intact(), "{report:#?}");
        assert_eq!((report.keyed_from_seq, report.keyed_events_unchecked), (Some(2), 0));

        // Without the key, the links are checked and the keyed hashes are reported as not checked.
        let report = db.store.verify_audit_chain().await.unwrap();
        assert!(report.intact(), "{report:#?}");
        assert_eq!(report.keyed_events_unchecked, 2);

        // With another key, the first keyed row does not hold.
        let other = Store::open_with_audit_key(&db.url, Some(AuditKey::new(&[7; 32]).unwrap())).await.unwrap();
        let report = other.verify_audit_chain().await.unwrap();
        assert_eq!(report.first_broken.map(|broken| broken.seq), Some(2));
        other.close().await;

        // Someone without the key appends an unkeyed row after keyed ones.
        db.expect_tampering();
        db.store.append_audit(&event("after.keying")).await.unwrap();
        let report = keyed.verify_audit_chain().await.unwrap();
        let broken = report.first_broken.expect("an unkeyed row after keyed ones");
        assert_eq!(broken.seq, 4);
        assert!(broken.problem.contains("without the audit key"), "{}", broken.problem);
        keyed.close().await;
        assert!(AuditKey::new(b"short").is_err());
    })
    .await;
}

#[tokio::test]
async fn rows_stored_before_schema_7_get_their_versions_in_one_baseline_event() {
    let directory = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", directory.path().join("old.db").display());
    // A database at schema 6 with rows in it, as an earlier ketacare left it.
    let old = Store::connect(&url).await.unwrap();
    old.execute_raw(
        "CREATE TABLE ketacare_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, sha256 TEXT NOT NULL, \
         applied_at TEXT NOT NULL)",
    )
    .await
    .unwrap();
    for migration in old.known_migrations().iter().filter(|migration| migration.version < 7) {
        old.execute_raw(migration.sql).await.unwrap();
        old.execute_raw(&format!(
            "INSERT INTO ketacare_migrations VALUES ({}, '{}', '{}', 't')",
            migration.version,
            migration.name,
            sha256_hex(migration.sql)
        ))
        .await
        .unwrap();
    }
    old.execute_raw(
        "INSERT INTO users (user_id, username, password_hash, role, active, must_change_password, created_at) \
         VALUES ('u-admin', 'admin', 'x', 'admin', 1, 0, 't'); \
         INSERT INTO patients (patient_id, pseudonym, given_name, family_name, birth_date, birth_year, sex_at_birth, \
         created_at, created_by, updated_at, updated_by) VALUES ('p1', 'P1', 'Ada', 'Lovelace', '1984-05-02', 1984, \
         'female', 't', 'u-admin', 't', 'u-admin')",
    )
    .await
    .unwrap();
    old.close().await;

    let store = Store::open(&url).await.unwrap();
    let events = store.audit_events(0, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, "audit.row_baseline");
    assert_eq!(events[0].row_versions.len(), 2);
    let report = store.verify_audit_chain().await.unwrap();
    assert!(report.intact(), "{report:#?}");
    assert_eq!(report.rows_checked, 2);
    store.close().await;
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(text.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}
