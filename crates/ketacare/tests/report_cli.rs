//! `ketacare report outcomes` over the demo database, through the real binary, on SQLite and (when
//! configured) PostgreSQL: the demo's esketamine plan (one session given, with its alerts; its REMS form
//! not yet due) and its IV plan (nothing given yet) in JSON and CSV, pseudonyms only, audited as
//! `report.outcomes` by `ketacare-cli`; a bad option names its field.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Output, Stdio};

use ketacare_store::test_support::each_backend;
use serde_json::Value;

fn ketacare(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ketacare"))
        .args(arguments)
        .env_remove("KETACARE_DATABASE_URL")
        .env_remove("KETACARE_AUDIT_KEY")
        .env_remove("KETACARE_AUDIT_KEY_FILE")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Seeds the demo into `database_url` (it serves once seeded; then it is stopped).
fn seed_demo(database_url: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ketacare"))
        .args(["demo", "--database", database_url, "--bind", "127.0.0.1:0", "--time-zone", "UTC"])
        .env_remove("KETACARE_AUDIT_KEY")
        .env_remove("KETACARE_AUDIT_KEY_FILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    loop {
        let mut line = String::new();
        assert_ne!(stdout.read_line(&mut line).unwrap(), 0, "demo exited early: {printed}");
        printed.push_str(&line);
        if line.starts_with("ketacare is serving on http://") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn the_outcomes_report_over_the_demo_data() {
    each_backend(|db| async move {
        let url = db.url.as_str();
        seed_demo(url);
        let json = ketacare(&["report", "outcomes", "--database", url]);
        assert_eq!(json.status.code(), Some(0), "{}", text(&json.stderr));
        let answer: Value = serde_json::from_slice(&json.stdout).unwrap();
        let reports = answer["reports"].as_array().unwrap();
        let report = |modality: &str| reports.iter().find(|one| one["modality"] == modality).unwrap().clone();
        let (iv, esketamine) = (report("iv_ketamine"), report("esketamine"));
        // The demo: one esketamine plan whose first session began 90 minutes ago and is still being
        // monitored (so not yet given), one IV plan whose first infusion is in an hour; both started this
        // week, so no week checkpoint is reached yet.
        assert_eq!((esketamine["patients"].as_u64(), iv["patients"].as_u64()), (Some(1), Some(1)));
        assert_eq!((esketamine["sessions"]["given"].as_u64(), iv["sessions"]["given"].as_u64()), (Some(0), Some(0)));
        assert_eq!((esketamine["sessions_monitored"].as_u64(), iv["sessions_monitored"].as_u64()), (Some(1), Some(0)));
        for checkpoint in esketamine["checkpoints"].as_array().unwrap() {
            assert_eq!(checkpoint["reached"], 0, "{checkpoint}");
            assert_eq!(checkpoint["response_rate_pct"], Value::Null, "{checkpoint}");
        }
        // Its session raised alerts (a BP of 162/92 from 128/78, CADSS 18); the REMS form is due in 7 days.
        let alerts: u64 =
            esketamine["alerts"].as_array().unwrap().iter().map(|one| one["alerts"].as_u64().unwrap()).sum();
        assert!(alerts >= 1, "{}", esketamine["alerts"]);
        let per_session = esketamine["alerts"].as_array().unwrap().iter().find(|one| one["alerts"] != 0).unwrap();
        assert_eq!(
            per_session["per_session"],
            format!("{}.00", per_session["alerts"]),
            "one session: alerts per session"
        );
        assert_eq!(esketamine["rems_forms"]["due"], 0);
        assert_eq!(iv["rems_forms"], Value::Null);
        let rows = esketamine["patient_rows"].to_string();
        assert!(rows.contains("\"pseudonym\":\"KC-"), "{rows}");
        assert!(!rows.contains("Vignette") && !rows.contains("Emery"), "{rows}");

        let csv = ketacare(&["report", "outcomes", "--database", url, "--modality", "esketamine", "--format", "csv"]);
        assert_eq!(csv.status.code(), Some(0), "{}", text(&csv.stderr));
        let csv = text(&csv.stdout);
        assert!(csv.starts_with("modality,esketamine\nsection,checkpoint,"), "{csv}");
        assert!(csv.contains("checkpoint,week_1,0,0,0,0,,\n"), "{csv}");

        let bad = ketacare(&["report", "outcomes", "--database", url, "--from", "2026-02-30"]);
        assert_eq!(bad.status.code(), Some(1));
        assert!(text(&bad.stderr).contains("from"), "{}", text(&bad.stderr));

        let audit = ketacare(&["audit", "export", "--database", url]);
        let audit = text(&audit.stdout);
        let events: Vec<&str> = audit.lines().filter(|line| line.contains("report.outcomes")).collect();
        assert_eq!(events.len(), 3, "{events:?}");
        assert!(events.iter().all(|line| line.contains("ketacare-cli")), "{events:?}");
    })
    .await;
}
