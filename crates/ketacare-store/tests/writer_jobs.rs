//! The group-commit writer's jobs: one that panics fails alone (its savepoint rolled back, its caller
//! answered with an error) while the jobs batched with it commit and later writes are served; and a
//! job whose caller stops waiting (a request timed out, a client went away) still commits whole.

use ketacare_store::AuditEvent;
use ketacare_store::test_support::each_backend;

fn event(resource: String) -> AuditEvent {
    AuditEvent {
        occurred_at: jiff::Timestamp::from_second(1_795_000_000).unwrap(),
        actor_id: Some("u-nurse".to_owned()),
        actor_role: Some("nurse".to_owned()),
        action: "test.write".to_owned(),
        resource,
        patient_id: None,
        request_id: Some("req-1".to_owned()),
        outcome: "success".to_owned(),
    }
}

#[tokio::test]
async fn a_panicking_job_fails_alone_and_the_writer_keeps_serving() {
    each_backend(|db| async move {
        let store = db.store;
        let writes = 60u64;
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..writes {
            let store = store.clone();
            tasks.spawn(async move {
                let event = event(format!("write/{n}"));
                // Every tenth job panics after appending its audit row; the rest are ordinary writes.
                let outcome = if n % 10 == 3 {
                    store.append_audit_then_panic(&event).await
                } else {
                    store.append_audit(&event).await.map(drop)
                };
                (n, outcome)
            });
        }
        let mut panicked = 0;
        while let Some(joined) = tasks.join_next().await {
            let (n, outcome) = joined.expect("the caller's task does not panic");
            if n % 10 == 3 {
                let error = outcome.expect_err("a panicking job gets an error").to_string();
                assert!(error.contains("the write job panicked: a deliberate panic"), "{error}");
                panicked += 1;
            } else {
                outcome.unwrap();
            }
        }
        // The writer still serves, and nothing of the panicking jobs was kept.
        store.append_audit(&event("write/after".to_owned())).await.unwrap();
        let events = store.audit_events(0, 1000).await.unwrap();
        assert_eq!(events.len() as u64, writes - panicked + 1);
        assert!(events.iter().all(|event| !event.resource.ends_with('3') || event.resource == "write/after"));
        let report = store.verify_audit_chain().await.unwrap();
        assert_eq!(report.first_broken, None);
        assert_eq!(report.events_checked, writes - panicked + 1);
    })
    .await;
}

#[tokio::test]
async fn a_queued_write_commits_though_its_caller_stopped_waiting() {
    each_backend(|db| async move {
        let store = db.store;
        // A zero timeout polls the write once (which queues it) and then gives up on it, as the
        // request timeout does with a handler.
        let gave_up =
            tokio::time::timeout(std::time::Duration::ZERO, store.append_audit(&event("write/abandoned".to_owned())))
                .await;
        assert!(gave_up.is_err(), "the caller stopped waiting");
        // The next write is queued behind it, so once it is answered the abandoned one has been committed.
        store.append_audit(&event("write/next".to_owned())).await.unwrap();
        let resources: Vec<String> =
            store.audit_events(0, 10).await.unwrap().into_iter().map(|event| event.resource).collect();
        assert_eq!(resources, ["write/abandoned", "write/next"]);
    })
    .await;
}
