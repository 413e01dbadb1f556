//! `ketacare protocol show` through the built binary: the protocol text, and the settings whose source
//! says UNCONFIRMED, with their values and sources, for a medical director's sign-off.

use std::process::Command;

use ketacare_core::protocol::{Protocol, SHIPPED_PROTOCOL_TOML};

/// Runs `ketacare ARGS…`; returns the exit status, stdout and stderr.
fn ketacare(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_ketacare")).args(args).output().unwrap();
    (output.status.code(), String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap())
}

/// The settings of the shipped protocol whose source says UNCONFIRMED (clinical-reference §10).
const SHIPPED_UNCONFIRMED: [(&str, &str); 13] = [
    ("dosing.esketamine_day1_mg", "56"),
    ("alerts.cadss_warning_from", "5"),
    ("alerts.bprs_positive_rise_warning_from", "1"),
    ("discharge.iv_min_after_infusion_end_min", "30"),
    ("scales.phq9_missing_item_rule", "\"prorate_one\""),
    ("scales.moaas_sedated_below", "5"),
    ("outcomes.relapse_madrs_from", "22"),
    ("outcomes.relapse_phq9_from", "10"),
    ("outcomes.relapse_qids_sr16_from", "11"),
    ("outcomes.relapse_min_days_apart", "5"),
    ("outcomes.relapse_max_days_apart", "15"),
    ("outcomes.sustained_remission_window", "4"),
    ("outcomes.sustained_remission_min_remitted", "3"),
];

/// The `path = value` lines of a sign-off list, in order.
fn listed_settings(list: &str) -> Vec<String> {
    list.lines()
        .filter_map(|line| line.strip_prefix("#   "))
        .filter(|setting| !setting.starts_with(' '))
        .map(str::to_owned)
        .collect()
}

#[test]
fn show_prints_the_protocol_and_the_unconfirmed_settings_for_sign_off() {
    let (status, stdout, stderr) = ketacare(&["protocol", "show"]);
    assert_eq!(status, Some(0), "{stderr}");
    // Standard output stays the shipped file byte for byte, so a saved copy keeps the shipped SHA-256.
    assert_eq!(stdout, SHIPPED_PROTOCOL_TOML);
    let shipped = Protocol::shipped();
    assert!(
        stderr.starts_with(&format!(
            "# Sign-off: 13 setting(s) of protocol \"{}\" (sha256 {}) rest on UNCONFIRMED sources.\n",
            shipped.name, shipped.sha256
        )),
        "{stderr}"
    );
    let expected: Vec<String> = SHIPPED_UNCONFIRMED.iter().map(|(path, value)| format!("{path} = {value}")).collect();
    assert_eq!(listed_settings(&stderr), expected);
    // Each setting comes with its source, which says UNCONFIRMED and cites the shipped reference.
    let sources: Vec<&str> = stderr.lines().filter_map(|line| line.strip_prefix("#       source: ")).collect();
    assert_eq!(sources.len(), 13);
    for source in &sources {
        assert!(source.contains("UNCONFIRMED") && source.starts_with("clinical-reference §"), "{source}");
    }
    assert!(stderr.contains("relapse_madrs_from = 22\n#       source: clinical-reference §5.10 UNCONFIRMED"));
    assert!(stderr.ends_with("clinical-reference §10 (docs/clinical-reference.md#s10).\n"), "{stderr}");
    // Every line of the list is a TOML comment: both streams in one file still make a valid protocol.
    assert!(stderr.lines().all(|line| line.starts_with('#')), "{stderr}");
    assert!(Protocol::parse(&format!("{stdout}{stderr}")).is_ok());
}

#[test]
fn show_unconfirmed_prints_only_the_list() {
    let (status, stdout, stderr) = ketacare(&["protocol", "show", "--unconfirmed"]);
    assert_eq!((status, stderr.as_str()), (Some(0), ""));
    let (_, _, list_on_stderr) = ketacare(&["protocol", "show"]);
    assert_eq!(stdout, list_on_stderr);
    assert!(!stdout.contains("failure_threshold"), "a confirmed setting is listed:\n{stdout}");
}

#[test]
fn a_site_protocol_lists_what_is_still_unconfirmed_in_it() {
    let directory = std::env::temp_dir().join(format!("ketacare-protocol-show-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let site = directory.join("site.toml");
    // The medical director signed off the IV observation time and set the relapse threshold from the
    // clinic's own protocol: their sources no longer say UNCONFIRMED.
    let edits = [
        (
            "source = \"clinical-reference §4.5 UNCONFIRMED minimum",
            "source = \"signed off by Dr Ada Example 2026-12-01, clinical-reference §4.5: minimum",
        ),
        (
            "relapse_madrs_from = { value = 22, source = \"clinical-reference §5.10 UNCONFIRMED",
            "relapse_madrs_from = { value = 20, source = \"clinic protocol 2026-12, clinical-reference §5.10",
        ),
    ];
    let mut text = SHIPPED_PROTOCOL_TOML.to_owned();
    for (from, to) in edits {
        assert!(text.contains(from), "test edit does not apply: {from}");
        text = text.replacen(from, to, 1);
    }
    std::fs::write(&site, &text).unwrap();
    let (status, stdout, stderr) =
        ketacare(&["protocol", "show", "--unconfirmed", "--protocol", site.to_str().unwrap()]);
    assert_eq!(status, Some(0), "{stderr}");
    let site_protocol = Protocol::parse(&text).unwrap();
    assert!(stdout.starts_with(&format!(
        "# Sign-off: 11 setting(s) of protocol \"ketacare shipped defaults 2026.11\" (sha256 {}) rest on UNCONFIRMED sources.\n",
        site_protocol.sha256
    )));
    let listed = listed_settings(&stdout);
    assert_eq!(listed.len(), 11);
    assert!(!listed.iter().any(|line| line.starts_with("discharge.iv_min_after_infusion_end_min")), "{stdout}");
    assert!(!listed.iter().any(|line| line.starts_with("outcomes.relapse_madrs_from")), "{stdout}");
    assert!(listed.contains(&"outcomes.relapse_min_days_apart = 5".to_owned()), "{stdout}");

    // Without --unconfirmed the site's own file is printed back, and the list goes to standard error.
    let (status, stdout, stderr) = ketacare(&["protocol", "show", "--protocol", site.to_str().unwrap()]);
    assert_eq!((status, stdout.as_str()), (Some(0), text.as_str()));
    assert_eq!(listed_settings(&stderr).len(), 11);

    // An invalid file is refused like `protocol check` refuses it, naming the key.
    std::fs::write(&site, text.replacen("value = 0.5,", "value = 5,", 1)).unwrap();
    let (status, stdout, stderr) =
        ketacare(&["protocol", "show", "--unconfirmed", "--protocol", site.to_str().unwrap()]);
    assert_eq!((status, stdout.as_str()), (Some(2), ""));
    assert_eq!(stderr, format!("error: {}: dosing.iv_mg_per_kg: must be between 0.01 and 2, got 5\n", site.display()));
    std::fs::remove_dir_all(&directory).unwrap();
}
