//! `ketacare score` through the built binary: what a clinician types and what they see.

use std::process::Command;

/// Runs `ketacare score ARGS…` and compares exit status, stdout and stderr exactly.
fn check(args: &[&str], expected_status: i32, expected_stdout: &str, expected_stderr: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_ketacare")).arg("score").args(args).output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        (output.status.code(), stdout.as_str(), stderr.as_str()),
        (Some(expected_status), expected_stdout, expected_stderr),
        "ketacare score {}",
        args.join(" ")
    );
}

#[test]
fn valid_answers_print_the_score() {
    // VIGNETTES V1: PHQ-9 19 with item 9 = 1.
    check(
        &["phq9", "3", "3", "3", "3", "2", "2", "2", "0", "1"],
        0,
        "PHQ-9 total 19 (moderately severe)\nitem 9: 1 -> C-SSRS suicide screen required before dosing\n",
        "",
    );
    check(&["phq9", "1,1,1,1,-,0,0,0,0", "?"], 0, "PHQ-9 total 5 (mild), prorated: item 5 missing\nitem 9: 0\n", "");
    check(
        &["phq9", "-", "?", "1", "1", "1", "1", "1", "1", "0"],
        0,
        "PHQ-9: no total, 2 items missing (1, 2)\nitem 9: 0\n",
        "",
    );
    check(&["gad7", "1", "2", "3", "0", "1", "2", "3"], 0, "GAD-7 total 12 (moderate)\n", "");
    check(&["madrs", "4", "4", "3", "4", "2", "3", "3", "4", "3", "2"], 0, "MADRS total 32 (moderate)\n", "");
    check(
        &["qids_sr16", "1,2,0,0,2,3,0,1,1,2,1,0,2,2,1,0"],
        0,
        "QIDS-SR16 total 15 (moderate)\ndomains: sleep 2, sad_mood 2, appetite_weight 3, concentration 2, \
         self_view 1, suicidal_ideation 0, interest 2, energy 2, psychomotor 1\nitem 12: 0\n",
        "",
    );
    check(
        &["hamd17", "2,1,0,1,1,1,2,1,1,2,1,1,1,0,1,1,0"],
        0,
        "HAM-D17 total 17 (moderate) [zimmerman_2013 bands]\n",
        "",
    );
    check(&["cadss6", "1", "0", "2", "0", "3", "1"], 0, "CADSS-6 total 7 (6 answers)\n", "");
    check(&["bprs_positive", "1", "2", "1", "3"], 0, "BPRS positive subscale total 7\n", "");
    check(
        &["moaas", "0"],
        0,
        "MOAA/S 0: no response to a painful trapezius squeeze: loss of consciousness, sedated\n",
        "",
    );
    // VIGNETTES V1: Q1 yes, Q2 no, Q6 no → low risk → proceed.
    check(&["cssrs", "y", "n", "-", "-", "-", "n"], 0, "C-SSRS screener: risk low (by q1)\naction: proceed\n", "");
    // An unanswered question is missing data, named when it could change the level.
    check(
        &["cssrs", "y", "n", "-", "-", "-", "y"],
        0,
        "C-SSRS screener: risk indeterminate: at least moderate (by q6), could be high (unanswered: q6_within_3_months)\naction: complete the screener; prescriber review before dosing\n",
        "",
    );
    check(
        &["cssrs", "y", "y", "n", "y", "-", "-"],
        0,
        "C-SSRS screener: risk high (by q4)\naction: block session start, page the prescriber, follow the local crisis protocol\n",
        "",
    );
}

#[test]
fn json_output_is_machine_readable() {
    let output = Command::new(env!("CARGO_BIN_EXE_ketacare"))
        .args(["score", "phq9", "3", "3", "3", "3", "2", "2", "2", "0", "1", "2", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["scale"], "phq9");
    assert_eq!(report["total"], 19);
    assert_eq!(report["severity"], "moderately_severe");
    assert_eq!(report["item9"]["suicide_screen_required"], true);
    assert_eq!(report["difficulty"], 2);
    assert_eq!(report["protocol"]["sha256"].as_str().map(str::len), Some(64));

    let output = Command::new(env!("CARGO_BIN_EXE_ketacare"))
        .args(["score", "cssrs", "--format", "json", "y", "y", "n", "y", "n", "n"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((report["risk"].as_str(), report["decided_by"].as_str()), (Some("high"), Some("q4")));
}

#[test]
fn malformed_input_exits_2_naming_the_item() {
    check(&["phq9", "1", "1", "1", "5", "0", "0", "0", "0", "0"], 2, "", "error: item 4: must be 0-3, got 5\n");
    check(
        &["phq9", "1", "1", "x", "1", "0", "0", "0", "0", "0"],
        2,
        "",
        "error: item 3: must be a whole number (or - or ? when missing), got \"x\"\n",
    );
    check(
        &["phq9", "1", "1", "-1", "1", "0", "0", "0", "0", "0"],
        2,
        "",
        "error: item 3: must be a whole number (or - or ? when missing), got \"-1\"\n",
    );
    check(&["phq9", "1", "1", "1"], 2, "", "error: phq9: expected 9 or 10 answers, got 3\n");
    check(&["cadss6", "1", "0", "2", "0", "9", "1"], 2, "", "error: item 15: must be 0-4, got 9\n");
    check(
        &["cssrs", "y", "n", "y", "-", "-", "n"],
        2,
        "",
        "error: q3: answered yes but q2 is no; the screener skips q3-q5 when q2 is no\n",
    );
    check(
        &["cssrs", "y", "maybe", "-", "-", "-", "n"],
        2,
        "",
        "error: q2: must be y, n, 1, 0, - or ?, got \"maybe\"\n",
    );
    check(
        &["madrs", "1", "1", "1", "1", "1", "1", "1", "1", "1", "-"],
        2,
        "",
        "error: item 10: is missing; every madrs item is needed for a total\n",
    );
}

#[test]
fn an_unknown_scale_exits_2_listing_the_scales() {
    let output = Command::new(env!("CARGO_BIN_EXE_ketacare")).args(["score", "phq-9", "1"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("scale \"phq-9\": must be one of phq9, gad7, madrs"), "{stderr}");
}
