//! `ketacare session check` and `ketacare plan` through the built binary, on the example files in
//! docs/examples and on broken inputs.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples").join(name)
}

/// Runs the binary and returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_ketacare")).args(args).output().unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn run_json(args: &[&str]) -> Value {
    let (code, stdout, stderr) = run(args);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// Writes `text` to a temporary file named for this test and checks the command rejects it.
fn check_rejected(command: &[&str], name: &str, text: &str, expected_stderr: &str) {
    let path = std::env::temp_dir().join(format!("ketacare-{}-{name}.json", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let mut args = command.to_vec();
    let path_text = path.to_str().unwrap().to_owned();
    args.push(&path_text);
    let (code, stdout, stderr) = run(&args);
    std::fs::remove_file(&path).unwrap();
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (2, "", expected_stderr), "{name}");
}

fn alert_sequence(report: &Value) -> Vec<String> {
    report["alerts"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|change| {
            format!(
                "{} {} {} {}",
                &change["at"].as_str().unwrap()[11..16],
                change["change"].as_str().unwrap(),
                change["id"].as_str().unwrap(),
                change["level"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn esketamine_example_session() {
    let path = example("session-esketamine.json");
    let report = run_json(&["session", "check", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(report["gate"]["outcome"], "proceed");
    assert_eq!(
        alert_sequence(&report),
        [
            "09:40 raised SEDATION#1 warning",
            "09:50 raised BP_HIGH#1 warning",
            "09:50 raised DISSOCIATION#1 warning",
            "09:55 resolved SEDATION#1 warning",
            "10:10 resolved BP_HIGH#1 warning",
            "10:40 resolved DISSOCIATION#1 warning",
        ]
    );
    assert_eq!(report["discharge"]["status"], "ready");
    assert_eq!(report["discharge"]["earliest_at"], "2026-11-28T11:10:00-05:00");
    assert_eq!(report["discharge"]["clinically_ready_at"], "2026-11-28T10:40:00-05:00");
    assert_eq!(report["rems_form"]["missing"], serde_json::json!(["monitoring_hcp.email"]));
    assert_eq!(report["rems_form"]["submit_by"], "2026-12-05");
    assert_eq!(report["rems_form"]["fields"]["session.ready_to_leave_min"]["value"], "90");
    let (code, text, _) = run(&["session", "check", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(text.contains("Discharge: ready, earliest 11:10, clinically ready since 10:40\n"), "{text}");
}

#[test]
fn iv_example_session_with_a_bp_surge() {
    let path = example("session-iv.json");
    let report = run_json(&["session", "check", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(
        alert_sequence(&report),
        [
            "13:30 raised BP_RISE_FROM_BASELINE#1 warning",
            "13:30 raised BP_HIGH#1 warning",
            "13:45 escalated BP_HIGH#1 critical",
            "13:50 de_escalated BP_HIGH#1 warning",
            "13:50 raised DISSOCIATION#1 warning",
            "14:05 resolved BP_RISE_FROM_BASELINE#1 warning",
            "14:05 resolved BP_HIGH#1 warning",
            "14:20 resolved DISSOCIATION#1 warning",
        ]
    );
    let critical = &report["alerts"]["changes"][2];
    assert_eq!(critical["recommended_action"], "pause infusion, notify prescriber");
    assert_eq!(report["discharge"]["status"], "ready");
    assert_eq!(report["discharge"]["earliest_at"], "2026-11-28T14:20:00-05:00");
    assert_eq!(report["rems_form"]["required"], false);
}

#[test]
fn example_plans() {
    let path = example("plan-iv.json");
    let report = run_json(&["plan", path.to_str().unwrap(), "--format", "json"]);
    let sessions = report["sessions"].as_array().unwrap();
    assert_eq!(sessions[0]["at"], "2026-10-30T09:00:00-04:00");
    assert_eq!(sessions[1]["at"], "2026-11-02T09:00:00-05:00");
    assert_eq!(sessions[2]["status"], "missed");
    assert_eq!(
        sessions.iter().filter(|session| session["phase"] == "induction" && session["status"] != "missed").count(),
        6
    );
    let due: Vec<&str> = report["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|measurement| measurement["status"] == "due")
        .map(|measurement| measurement["reason"].as_str().unwrap())
        .collect();
    assert_eq!(due, ["before session 3"]);

    let path = example("plan-esketamine-relapse.json");
    let report = run_json(&["plan", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(report["course"]["status"], "relapse");
    assert_eq!(report["course"]["recommendation"], "return_to_more_frequent_schedule");
    // Decided on the protocol's primary scale, MADRS; the PHQ-9 series beside it relapses too (>=10 twice).
    assert_eq!(report["course"]["primary_scale"], "madrs");
    assert_eq!(report["course"]["decided_by"], "madrs");
    let scales: Vec<(&str, &str)> = report["course"]["scales"]
        .as_array()
        .unwrap()
        .iter()
        .map(|scale| (scale["scale"].as_str().unwrap(), scale["relapse"]["status"].as_str().unwrap()))
        .collect();
    assert_eq!(scales, [("madrs", "relapsed"), ("phq9", "relapsed")]);
    assert_eq!(report["measurement_adherence"]["missed"].as_u64().map(|missed| missed > 0), Some(true));
    let next = report["sessions"].as_array().unwrap().iter().find(|session| session["status"] == "planned").unwrap();
    assert_eq!(next["at"], "2026-12-19T10:00:00-05:00");
    assert_eq!(next["step"], "maintenance weeks 5-8 weekly");
}

#[test]
fn bad_session_files_name_the_field() {
    let check = |name: &str, text: &str, stderr: &str| check_rejected(&["session", "check"], name, text, stderr);
    let base = r#""modality": "esketamine", "time_zone": "America/New_York",
        "dose": { "planned_mg": 56, "planned_at": "2026-11-28T09:10" }"#;
    check(
        "moaas",
        &format!(r#"{{ {base}, "observations": [ {{ "at": "2026-11-28T09:00", "moaas": 7 }} ] }}"#),
        "error: observations[0].moaas: moaas must be between 0 and 5, got 7\n",
    );
    check(
        "unknown-key",
        &format!(r#"{{ {base}, "observations": [ {{ "at": "2026-11-28T09:00", "sbp": 120 }} ] }}"#),
        "error: observations[0].sbp: is not a known field\n",
    );
    check(
        "bp",
        &format!(
            r#"{{ {base}, "observations": [ {{ "at": "2026-11-28T09:00", "systolic_mmhg": 80, "diastolic_mmhg": 90 }} ] }}"#
        ),
        "error: observations[0].systolic_mmhg: blood pressure 80/90: systolic must be above diastolic\n",
    );
    check(
        "order",
        &format!(r#"{{ {base}, "observations": [ {{ "at": "2026-11-28T09:10" }}, {{ "at": "2026-11-28T09:00" }} ] }}"#),
        "error: observations[1].at: 2026-11-28T09:00 is earlier than the previous observation at 2026-11-28T09:10\n",
    );
    check(
        "dst-gap",
        &format!(r#"{{ {base}, "now": "2027-03-14T02:30" }}"#),
        "error: now: 2027-03-14T02:30:00 does not exist or is ambiguous in the clinic's time zone\n",
    );
    check(
        "zone",
        r#"{ "modality": "esketamine", "time_zone": "Mars/Olympus" }"#,
        "error: time_zone: unknown time zone \"Mars/Olympus\"\n",
    );
    check(
        "modality",
        r#"{ "modality": "oral" }"#,
        "error: modality: must be one of esketamine, iv_racemic_ketamine, got \"oral\"\n",
    );
}

#[test]
fn bad_plan_files_name_the_field() {
    let check = |name: &str, text: &str, stderr: &str| check_rejected(&["plan"], name, text, stderr);
    check(
        "template",
        r#"{ "template": "weekly", "time_zone": "America/New_York", "first_session": "2026-11-02T09:00" }"#,
        "error: template: must be one of induction_2x_week_3w, induction_3x_week_2w, esketamine_trd, got \"weekly\"\n",
    );
    check(
        "event",
        r#"{ "template": "esketamine_trd", "time_zone": "America/New_York", "first_session": "2026-11-02T09:00",
             "events": [ { "given": "2026-11-02T09:00", "missed": "2026-11-05T09:00" } ] }"#,
        "error: events[0]: must have exactly one of given, missed (local date-time) or relapse (date)\n",
    );
    check(
        "first",
        r#"{ "template": "esketamine_trd", "time_zone": "America/New_York", "first_session": "Monday" }"#,
        "error: first_session: must be a clinic-local date and time YYYY-MM-DDTHH:MM (no offset), got \"Monday\"\n",
    );
    let head = r#""template": "esketamine_trd", "time_zone": "America/New_York", "first_session": "2026-11-02T09:00""#;
    check(
        "course-twice",
        &format!(
            r#"{{ {head}, "course": {{ "phase": "induction", "scale": "phq9", "totals": [],
                 "series": [ {{ "scale": "phq9", "totals": [] }} ] }} }}"#
        ),
        "error: course.series[0].scale: phq9 is given twice; one series per scale\n",
    );
    check(
        "course-empty",
        &format!(r#"{{ {head}, "course": {{ "phase": "induction", "series": [] }} }}"#),
        "error: course.series: must list at least one scale\n",
    );
    check(
        "course-no-scale",
        &format!(r#"{{ {head}, "course": {{ "phase": "induction", "totals": [] }} }}"#),
        "error: course.scale: is required\n",
    );
    check(
        "not-applicable-due",
        &format!(
            r#"{{ {head}, "measurements_not_applicable": [ {{ "scale": "cognition", "reason": "done elsewhere" }} ] }}"#
        ),
        "error: measurements_not_applicable[0].due_at: is required\n",
    );
}

#[test]
fn the_documented_output_is_the_real_output() {
    let docs_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/sessions.md");
    let docs = std::fs::read_to_string(docs_path).unwrap();
    let commands: [&[&str]; 3] = [
        &["session", "check", "session-esketamine.json"],
        &["session", "check", "session-iv.json"],
        &["plan", "plan-iv.json"],
    ];
    for command in commands {
        let (file, words) = command.split_last().unwrap();
        let path = example(file);
        let mut args = words.to_vec();
        args.push(path.to_str().unwrap());
        let (code, stdout, _) = run(&args);
        assert_eq!(code, 0);
        assert!(docs.contains(&stdout), "docs/sessions.md is out of date for {command:?}");
    }
}

#[test]
fn session_and_plan_files_are_read_strictly() {
    let twice = "is given more than once; a key may appear only once in an object";
    check_rejected(
        &["session", "check"],
        "twice",
        r#"{"modality":"esketamine","modality":"iv_racemic_ketamine"}"#,
        &format!("error: modality: {twice}\n"),
    );
    check_rejected(
        &["plan"],
        "twice",
        r#"{"template":"induction_2x_week_3w","events":[{"given":"2026-11-02T09:00","given":"2026-11-03T09:00"}]}"#,
        &format!("error: events[0].given: {twice}\n"),
    );
    check_rejected(
        &["plan"],
        "trailing",
        "{}\n{}",
        "error: (file): has text after the JSON value: trailing characters at line 2 column 1\n",
    );
    for command in [&["session", "check"][..], &["plan"][..]] {
        let path = std::env::temp_dir().join(format!("ketacare-{}-not-utf8-{}.json", std::process::id(), command[0]));
        std::fs::write(&path, b"{\"time_zone\":\"\xff\"}").unwrap();
        let mut args = command.to_vec();
        args.push(path.to_str().unwrap());
        let (code, stdout, stderr) = run(&args);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            (code, stdout.as_str(), stderr.as_str()),
            (2, "", "error: (file): is not UTF-8: byte 14 (0xff) starts an invalid sequence\n"),
            "{command:?}"
        );
    }
}

/// A TZif file (RFC 8536, version 2, no transitions) for a zone that is always UTC+09:00, named "FAKE".
fn fixed_offset_tzif() -> Vec<u8> {
    let header = |bytes: &mut Vec<u8>| {
        bytes.extend_from_slice(b"TZif2");
        bytes.extend_from_slice(&[0; 15]);
        // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
        for count in [0u32, 0, 0, 0, 1, 5] {
            bytes.extend_from_slice(&count.to_be_bytes());
        }
    };
    let data = |bytes: &mut Vec<u8>| {
        bytes.extend_from_slice(&(9 * 3600i32).to_be_bytes()); // utoff
        bytes.extend_from_slice(&[0, 0]); // isdst, desigidx
        bytes.extend_from_slice(b"FAKE\0");
    };
    let mut bytes = Vec::new();
    header(&mut bytes);
    data(&mut bytes);
    header(&mut bytes);
    data(&mut bytes);
    bytes.extend_from_slice(b"\nFAKE-9\n");
    bytes
}

#[test]
fn the_clinics_time_zone_comes_from_the_bundled_database_not_the_hosts() {
    // A host tz database (TZDIR) whose America/New_York is always UTC+09:00 must change nothing.
    let host_database = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(host_database.path().join("America")).unwrap();
    std::fs::write(host_database.path().join("America/New_York"), fixed_offset_tzif()).unwrap();
    let plan = example("plan-iv.json");
    let mut failures = Vec::new();
    for format in ["text", "json"] {
        let args = ["plan", plan.to_str().unwrap(), "--format", format];
        let (_, expected, _) = run(&args);
        let output = Command::new(env!("CARGO_BIN_EXE_ketacare"))
            .args(args)
            .env("TZDIR", host_database.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        if stdout != expected {
            let first_difference = stdout.lines().zip(expected.lines()).find(|(got, wanted)| got != wanted);
            failures
                .push(format!("--format {format}: {first_difference:?} {}", String::from_utf8_lossy(&output.stderr)));
        }
    }
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}
