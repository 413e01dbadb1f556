//! `ketacare backup` and `ketacare restore` through the real binary: a backup of a SQLite store taken
//! while writes keep committing holds every write acknowledged before it began and a verifiable audit
//! chain; restore refuses a corrupt file and a non-empty target without `--force`; PostgreSQL is
//! refused with a pointer to pg_dump.

use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ketacare_store::test_support::each_backend;
use ketacare_store::{AuditEvent, Backend, Store};

fn ketacare(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ketacare")).args(arguments).env_remove("KETACARE_DATABASE_URL").output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn event(number: u64) -> AuditEvent {
    AuditEvent {
        occurred_at: jiff::Timestamp::now(),
        actor_id: Some("writer".to_owned()),
        actor_role: Some("nurse".to_owned()),
        action: "test.write".to_owned(),
        resource: format!("write/{number}"),
        patient_id: None,
        request_id: Some(format!("w{number}")),
        outcome: "success".to_owned(),
    }
}

/// Every `resource` of the `test.write` events in the database at `url`.
async fn written(url: &str) -> Vec<String> {
    let store = Store::connect(url).await.unwrap();
    let events = store.audit_events(0, 1_000_000).await.unwrap();
    store.close().await;
    events.into_iter().filter(|event| event.action == "test.write").map(|event| event.resource).collect()
}

#[tokio::test]
async fn a_backup_taken_under_writes_restores_every_acknowledged_write() {
    each_backend(|db| async move {
        let directory = tempfile::tempdir().unwrap();
        let backup = directory.path().join("backup.db");
        let backup_path = backup.to_str().unwrap();
        if db.store.backend() == Backend::Postgres {
            let refused = ketacare(&["backup", "--database", &db.url, "--output", backup_path]);
            assert_eq!(refused.status.code(), Some(1));
            assert!(text(&refused.stderr).contains("pg_dump"), "{}", text(&refused.stderr));
            let refused = ketacare(&["restore", "--input", backup_path, "--database", &db.url]);
            assert!(text(&refused.stderr).contains("docs/operations.md"), "{}", text(&refused.stderr));
            return;
        }
        // Writers keep committing while the backup runs.
        let stop = Arc::new(AtomicBool::new(false));
        let mut writers = Vec::new();
        for writer in 0..4u64 {
            let (store, stop) = (db.store.clone(), Arc::clone(&stop));
            writers.push(tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                let mut number = writer * 1_000_000;
                while !stop.load(Ordering::Relaxed) {
                    store.append_audit(&event(number)).await.unwrap();
                    acknowledged.push(format!("write/{number}"));
                    number += 1;
                }
                acknowledged
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let before_backup = written(&db.url).await;
        assert!(!before_backup.is_empty());
        let url = db.url.clone();
        let output = backup_path.to_owned();
        let backed_up =
            tokio::task::spawn_blocking(move || ketacare(&["backup", "--database", &url, "--output", &output]))
                .await
                .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        stop.store(true, Ordering::Relaxed);
        for writer in writers {
            assert!(!writer.await.unwrap().is_empty());
        }
        assert_eq!(backed_up.status.code(), Some(0), "{}", text(&backed_up.stderr));
        assert!(text(&backed_up.stdout).contains("integrity ok, audit chain intact"), "{}", text(&backed_up.stdout));

        let restored = directory.path().join("restored.db");
        let restored_url = format!("sqlite://{}", restored.display());
        let restore = ketacare(&["restore", "--input", backup_path, "--database", &restored_url]);
        assert_eq!(restore.status.code(), Some(0), "{}", text(&restore.stderr));
        let in_backup = written(&restored_url).await;
        for write in &before_backup {
            assert!(in_backup.contains(write), "{write} was acknowledged before the backup and is missing");
        }
        let verify = ketacare(&["audit", "verify", "--database", &restored_url]);
        assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr));
        // The source records the backup, the restored database the restore.
        let source_events = db.store.audit_events(0, 1_000_000).await.unwrap();
        assert!(source_events.iter().any(|event| event.action == "backup.create" && event.outcome == "success"));
        let store = Store::connect(&restored_url).await.unwrap();
        let last = store.audit_events(0, 1_000_000).await.unwrap().pop().unwrap();
        store.close().await;
        assert_eq!((last.action.as_str(), last.resource.as_str()), ("backup.restore", "backup/backup.db"));

        // A non-empty target needs --force.
        let again = ketacare(&["restore", "--input", backup_path, "--database", &restored_url]);
        assert_eq!(again.status.code(), Some(1));
        assert!(text(&again.stderr).contains("pass --force"), "{}", text(&again.stderr));
        let forced = ketacare(&["restore", "--input", backup_path, "--database", &restored_url, "--force"]);
        assert_eq!(forced.status.code(), Some(0), "{}", text(&forced.stderr));
        assert_eq!(written(&restored_url).await.len(), in_backup.len());

        // A database whose audit log was edited: its backup is reported as failing (exit 3), and restoring
        // that backup is refused.
        let edited = directory.path().join("edited.db");
        std::fs::copy(&backup, &edited).unwrap();
        let edited_url = format!("sqlite://{}", edited.display());
        let store = Store::connect(&edited_url).await.unwrap();
        store.drop_audit_triggers().await.unwrap();
        store.execute_raw("UPDATE audit_events SET outcome = 'denied' WHERE seq = 2").await.unwrap();
        store.close().await;
        let tampered = directory.path().join("tampered.db");
        let tampered_path = tampered.to_str().unwrap();
        let reported = ketacare(&["backup", "--database", &edited_url, "--output", tampered_path]);
        assert_eq!(reported.status.code(), Some(3), "{}", text(&reported.stderr));
        assert!(text(&reported.stderr).contains("audit chain broken at seq 2"), "{}", text(&reported.stderr));
        let refused = ketacare(&["restore", "--input", tampered_path, "--database", &restored_url, "--force"]);
        assert_eq!(refused.status.code(), Some(3), "{}", text(&refused.stderr));
        assert!(text(&refused.stderr).contains("audit chain broken at seq 2"), "{}", text(&refused.stderr));

        // A corrupt backup is refused and nothing is written.
        let corrupt = directory.path().join("corrupt.db");
        let mut bytes = std::fs::read(&backup).unwrap();
        bytes.truncate(bytes.len() / 2);
        bytes[0] ^= 0xff; // not even a SQLite header
        std::fs::write(&corrupt, &bytes).unwrap();
        let fresh = directory.path().join("fresh.db");
        let refused = ketacare(&[
            "restore",
            "--input",
            corrupt.to_str().unwrap(),
            "--database",
            &format!("sqlite://{}", fresh.display()),
        ]);
        assert_eq!(refused.status.code(), Some(3), "{}", text(&refused.stderr));
        assert!(text(&refused.stderr).contains("refusing to restore"), "{}", text(&refused.stderr));
        assert!(!fresh.exists());

        // An existing output file is never overwritten by a backup.
        let overwrite = ketacare(&["backup", "--database", &db.url, "--output", backup_path]);
        assert_eq!(overwrite.status.code(), Some(1));
    })
    .await;
}
