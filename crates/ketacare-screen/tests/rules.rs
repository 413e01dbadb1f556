//! One test per rule of the contract, on hand-written patients screened through the crate's boundary
//! (NDJSON in a folder → rows). Dates are day offsets from 2020-01-01 (`at`).

mod common;

use common::*;
use ketacare_screen::dates::format_date;
use ketacare_screen::extract::{Diagnosis, DiagnosisKind, DrugEvent};
use ketacare_screen::rules::{PatientRecord, build_courses, episode_starts};

fn sertraline(date: i32, days: i32) -> DrugEvent {
    let drug = ketacare_core::drugs::drug_index(ketacare_core::drugs::drug_by_ingredient("sertraline").unwrap()) as u16;
    DrugEvent {
        date: base_day() + date,
        days_covered: Some(days),
        daily_dose_mg: Some(50.0),
        formulation_minimum_mg: None,
        drug,
    }
}

/// Course spans `(start offset, end offset)` built from dispenses at (offset, days).
fn check_courses(fills: &[(i32, i32)], expected: &[(i32, i32)]) {
    let events: Vec<DrugEvent> = fills.iter().map(|&(date, days)| sertraline(date, days)).collect();
    let courses = build_courses(&events, &parameters(&["label"]));
    let spans: Vec<(i32, i32)> =
        courses.iter().map(|course| (course.start - base_day(), course.end - base_day())).collect();
    assert_eq!(spans, expected, "fills {fills:?}");
}

#[test]
fn courses_continue_up_to_the_refill_gap_and_split_after_it() {
    check_courses(&[(0, 30), (60, 30)], &[(0, 90)]); // gap of exactly 30 days: same course
    check_courses(&[(0, 30), (61, 30)], &[(0, 30), (61, 91)]); // 31 days: new course
    check_courses(&[(0, 90), (30, 30)], &[(0, 90)]); // an early refill does not shorten coverage
    check_courses(&[(60, 30), (0, 30)], &[(0, 90)]); // order of the lines does not matter
}

#[test]
fn refill_gap_boundary_decides_adequacy_through_the_screen() {
    let patient = |second_fill: i32| {
        let mut lines = vec![condition("p", "F33.1", 0)];
        lines.push(dispense("p", "sertraline", 0, 30, Some(50.0)));
        lines.push(dispense("p", "sertraline", second_fill, 30, Some(50.0)));
        lines.extend(monthly_course("p", "escitalopram", 70, 3, Some(10.0)));
        lines.push(dispense("p", "bupropion", 130, 30, Some(300.0)));
        lines
    };
    check(&["label"], patient(60), &format!("p trd {} courses=2", at(130)));
    check(&["label"], patient(61), "p not_trd courses=1");
}

fn check_episodes(dates: &[i32], clean_gap: &str, expected: &[i32]) {
    let record = PatientRecord {
        diagnoses: dates
            .iter()
            .map(|date| Diagnosis { date: base_day() + date, kind: DiagnosisKind::MajorDepressiveDisorder })
            .collect(),
        ..PatientRecord::default()
    };
    let starts = episode_starts(&record, &parameters(&["label", clean_gap]));
    let expected: Vec<String> = expected.iter().map(|offset| at(*offset)).collect();
    assert_eq!(starts.into_iter().map(format_date).collect::<Vec<_>>(), expected, "{dates:?}");
}

#[test]
fn episodes_split_at_exactly_the_clean_gap() {
    check_episodes(&[0, 180], "episode_clean_gap_days=180", &[0, 180]);
    check_episodes(&[0, 179], "episode_clean_gap_days=180", &[0]);
    check_episodes(&[0, 100, 279], "episode_clean_gap_days=180", &[0]);
    check_episodes(&[0, 100, 280], "episode_clean_gap_days=180", &[0, 280]);
    check_episodes(&[0, 365], "episode_clean_gap_days=365", &[0, 365]);
}

#[test]
fn only_courses_of_one_episode_count_together() {
    let patient = |second_drug_start: i32| {
        let mut lines = vec![condition("p", "F33.1", 0)];
        lines.extend(monthly_course("p", "sertraline", 0, 3, Some(50.0))); // last event at day 60
        lines.extend(monthly_course("p", "escitalopram", second_drug_start, 3, Some(10.0)));
        lines.push(dispense("p", "bupropion", second_drug_start + 60, 30, Some(300.0)));
        lines
    };
    check(&["label"], patient(239), &format!("p trd {} courses=2", at(299)));
    // 180 days after the last event: a new episode, with no MDD diagnosis and one failed course.
    check(&["label"], patient(240), "p not_trd courses=1");
}

#[test]
fn two_courses_of_one_ingredient_in_an_episode_are_one_failed_trial() {
    // Sertraline 0-90, switched to bupropion (one fill, too short to be adequate) at day 60; a second
    // course of `second` from day 150, switched to mirtazapine at day 220. Each sertraline course
    // "fails", but one ingredient is one trial (docs/screening.md, readings the code takes).
    let patient = |second: &str, dose: f64| {
        let mut lines = vec![condition("p", "F33.1", 0)];
        lines.extend(monthly_course("p", "sertraline", 0, 3, Some(50.0)));
        lines.push(dispense("p", "bupropion", 60, 30, Some(300.0)));
        lines.extend(monthly_course("p", second, 150, 3, Some(dose)));
        lines.push(dispense("p", "mirtazapine", 220, 30, Some(15.0)));
        lines
    };
    check(&["label"], patient("sertraline", 50.0), "p not_trd courses=1");
    check(&["label"], patient("escitalopram", 10.0), &format!("p trd {} courses=2", at(220)));
}

/// Sertraline from day 0 (dose, days), escitalopram switched in at day `switch`, bupropion 60 days later.
fn adequacy_patient(sertraline_days: i32, sertraline_dose: Option<f64>, switch: i32) -> Vec<String> {
    let mut lines = vec![condition("p", "F32.2", 0)];
    lines.push(dispense("p", "sertraline", 0, sertraline_days, sertraline_dose));
    lines.extend(monthly_course("p", "escitalopram", switch, 3, Some(10.0)));
    lines.push(dispense("p", "bupropion", switch + 60, 30, Some(300.0)));
    lines
}

#[test]
fn adequacy_at_the_minimum_duration_and_dose() {
    check(&["label"], adequacy_patient(42, Some(50.0), 42), &format!("p trd {} courses=2", at(102)));
    check(&["label"], adequacy_patient(41, Some(50.0), 42), "p not_trd courses=1");
    check(&["label"], adequacy_patient(60, Some(49.5), 42), "p not_trd courses=1");
    check(
        &["label", "min_course_days=56"],
        adequacy_patient(56, Some(50.0), 56),
        &format!("p trd {} courses=2", at(116)),
    );
    check(&["label", "min_course_days=56"], adequacy_patient(55, Some(50.0), 56), "p not_trd courses=1");
}

#[test]
fn formulation_minimums_apply_when_the_name_gives_them() {
    // KNOWLEDGE §1.3: paroxetine 20 mg, but paroxetine CR 25 mg.
    let patient = |name: &str, dose: f64| {
        let mut lines = vec![condition("p", "F32.2", 0)];
        lines.extend((0..3).map(|fill| dispense_named("p", name, fill * 30, 30, Some(dose))));
        lines.extend(monthly_course("p", "escitalopram", 60, 3, Some(10.0)));
        lines.push(dispense("p", "bupropion", 120, 30, Some(300.0)));
        lines
    };
    check(&["label"], patient("Paroxetine 20 MG Oral Tablet", 20.0), &format!("p trd {} courses=2", at(120)));
    check(&["label"], patient("Paxil CR 20 MG tablet", 20.0), "p not_trd courses=1");
    check(&["label"], patient("paroxetine CR 25 MG", 25.0), &format!("p trd {} courses=2", at(120)));
}

#[test]
fn unknown_dose_follows_the_preset() {
    check(&["label"], adequacy_patient(60, None, 42), &format!("p trd {} courses=2", at(102)));
    check(&["label", "unknown_dose=inadequate"], adequacy_patient(60, None, 42), "p not_trd courses=1");
}

#[test]
fn a_switch_after_adequacy_is_a_failure() {
    // Two drugs only: the first fails when the second starts on or after day 42 (reading 3).
    let two_drugs = |switch: i32| {
        let mut lines = vec![condition("p", "F33.1", 0)];
        lines.extend(monthly_course("p", "sertraline", 0, 3, Some(50.0)));
        lines.extend(monthly_course("p", "escitalopram", switch, 3, Some(10.0)));
        lines
    };
    check(&["label"], two_drugs(42), "p not_trd courses=1");
    check(&["label"], two_drugs(41), "p not_trd courses=0");
    // A cross-taper (escitalopram begun at day 50, sertraline covered to day 90) is a switch.
    check(&["label"], adequacy_patient(90, Some(50.0), 50), &format!("p trd {} courses=2", at(110)));
}

#[test]
fn the_switch_must_come_within_max_course_gap_days() {
    let patient = |switch: i32| {
        let mut lines = vec![condition("p", "F33.1", 0)];
        lines.extend(monthly_course("p", "sertraline", 0, 12, Some(50.0)));
        lines.extend(monthly_course("p", "escitalopram", switch, 3, Some(10.0)));
        lines.push(dispense("p", "bupropion", switch + 60, 30, Some(300.0)));
        lines
    };
    check(&["label"], patient(365), &format!("p trd {} courses=2", at(425)));
    check(&["label"], patient(366), "p not_trd courses=1");
    check(&["label", "max_course_gap_days=400"], patient(366), &format!("p trd {} courses=2", at(426)));
}

/// The standard TRD patient: sertraline at 0, escitalopram at 60, bupropion at 120 (TRD at 120).
fn trd_patient() -> Vec<String> {
    let mut lines = vec![condition("p", "F33.2", 0)];
    lines.extend(monthly_course("p", "sertraline", 0, 3, Some(100.0)));
    lines.extend(monthly_course("p", "escitalopram", 60, 3, Some(20.0)));
    lines.extend(monthly_course("p", "bupropion", 120, 3, Some(300.0)));
    lines
}

fn with(mut lines: Vec<String>, extra: &[String]) -> Vec<String> {
    lines.extend_from_slice(extra);
    lines
}

#[test]
fn exclusions_count_only_strictly_before_the_trd_date() {
    check(&["label"], trd_patient(), &format!("p trd {} courses=2", at(120)));
    check(&["label"], with(trd_patient(), &[condition("p", "F31.9", 119)]), "p excluded courses=2");
    check(&["label"], with(trd_patient(), &[condition("p", "F31.9", 120)]), &format!("p trd {} courses=2", at(120)));
    check(&["label"], with(trd_patient(), &[condition("p", "F20.9", -400)]), "p excluded courses=2");
    // Dementia is not a label exclusion, but is one for ohdsi.
    check(&["label"], with(trd_patient(), &[condition("p", "F03.90", 10)]), &format!("p trd {} courses=2", at(120)));
    check(&["ohdsi"], with(trd_patient(), &[condition("p", "G30.9", 10)]), "p excluded courses=2");
    // fabbri has no exclusions.
    check(&["fabbri"], with(trd_patient(), &[condition("p", "F31.9", 10)]), &format!("p trd {} courses=2", at(120)));
}

#[test]
fn exclusions_without_trd_count_at_any_time() {
    let mut not_trd = vec![condition("p", "F33.1", 0)];
    not_trd.extend(monthly_course("p", "sertraline", 0, 3, Some(50.0)));
    check(&["label"], not_trd.clone(), "p not_trd courses=0");
    check(&["label"], with(not_trd, &[condition("p", "F31.0", 2000)]), "p excluded courses=0");
    // No antidepressant: excluded with an exclusion diagnosis, otherwise insufficient data.
    check(&["label"], vec![condition("p", "F25.0", 5)], "p excluded courses=0");
    check(&["label"], vec![condition("p", "F33.1", 5)], "p insufficient_data courses=0");
    check(&["label"], vec![], "p insufficient_data courses=0");
}

#[test]
fn entered_in_error_and_void_resources_are_ignored() {
    let without_bupropion = {
        let mut lines = vec![condition("p", "F33.2", 0)];
        lines.extend(monthly_course("p", "sertraline", 0, 3, Some(100.0)));
        lines.extend(monthly_course("p", "escitalopram", 60, 3, Some(20.0)));
        lines
    };
    let ignored = [
        request("p", "bupropion", 120, 30, Some(300.0), "entered-in-error"),
        request("p", "bupropion", 121, 30, Some(300.0), "cancelled"),
        dispense_with_status("p", "bupropion", 122, 30, Some(300.0), "declined"),
        dispense_with_status("p", "bupropion", 123, 30, Some(300.0), "entered-in-error"),
        dispense_with_status("p", "bupropion", 124, 30, Some(300.0), "cancelled"),
    ];
    check(&["label"], with(without_bupropion.clone(), &ignored), "p not_trd courses=1");
    check(
        &["label"],
        with(without_bupropion, &[request("p", "bupropion", 120, 30, Some(300.0), "active")]),
        &format!("p trd {} courses=2", at(120)),
    );
    // An exclusion entered in error does not exclude; an MDD diagnosis entered in error does not count.
    let bipolar_in_error = condition_with_verification("p", "F31.9", 10, "entered-in-error");
    check(&["label"], with(trd_patient(), &[bipolar_in_error]), &format!("p trd {} courses=2", at(120)));
    let mut no_real_mdd = trd_patient();
    no_real_mdd[0] = condition_with_verification("p", "F33.2", 0, "entered-in-error");
    check(&["label"], no_real_mdd, "p not_trd courses=2");
}

#[test]
fn non_mdd_depression_codes_do_not_satisfy_the_diagnosis_requirement() {
    for code in ["F32.A", "F34.1", "F32.89"] {
        let mut lines = trd_patient();
        lines[0] = condition("p", code, 0);
        check(&["label"], lines, "p not_trd courses=2");
    }
}

#[test]
fn medication_statements_cover_their_period_without_dose() {
    let mut lines = vec![condition("p", "F33.1", 0)];
    lines.push(statement("p", "sertraline", 0, 42));
    lines.extend(monthly_course("p", "escitalopram", 42, 3, Some(10.0)));
    lines.push(dispense("p", "bupropion", 102, 30, Some(300.0)));
    check(&["label"], lines.clone(), &format!("p trd {} courses=2", at(102)));
    lines[1] = statement("p", "sertraline", 0, 41);
    check(&["label"], lines, "p not_trd courses=1");
}

#[test]
fn label_trd_date_is_the_next_course_even_an_augmentation() {
    check(
        &["label"],
        with(trd_patient(), &[dispense("p", "lithium", 100, 30, None)]),
        &format!("p trd {} courses=2", at(100)),
    );
}

/// Sertraline at 0, aripiprazole augmentation at 60, escitalopram at 130.
fn augmented_patient(agent: &str) -> Vec<String> {
    let mut lines = vec![condition("p", "F33.1", 0)];
    lines.extend(monthly_course("p", "sertraline", 0, 3, Some(50.0)));
    lines.extend(monthly_course("p", agent, 60, 3, None));
    lines.extend(monthly_course("p", "escitalopram", 130, 3, Some(10.0)));
    lines
}

#[test]
fn optum_counts_augmentation_as_a_course() {
    check(&["optum"], augmented_patient("aripiprazole"), &format!("p trd {} courses=2", at(130)));
    check(&["label"], augmented_patient("aripiprazole"), "p not_trd courses=1");
    check(&["optum", "augmentation_counts_as_course=no"], augmented_patient("aripiprazole"), "p not_trd courses=1");
}

#[test]
fn optum_switch_window_is_180_days() {
    let patient = |switch: i32| {
        let mut lines = vec![condition("p", "F33.1", 0)];
        lines.extend(monthly_course("p", "sertraline", 0, 7, Some(50.0)));
        lines.extend(monthly_course("p", "escitalopram", switch, 3, Some(10.0)));
        lines.push(dispense("p", "bupropion", switch + 60, 30, Some(300.0)));
        lines
    };
    check(&["optum"], patient(180), &format!("p trd {} courses=2", at(240)));
    check(&["optum"], patient(181), "p not_trd courses=1");
    check(&["label"], patient(181), &format!("p trd {} courses=2", at(241)));
}

#[test]
fn fabbri_needs_a_third_drug_within_14_weeks_and_no_diagnosis() {
    let patient = |third: i32| {
        let mut lines = Vec::new();
        lines.extend(monthly_course("p", "sertraline", 0, 3, Some(50.0)));
        lines.extend(monthly_course("p", "escitalopram", 60, 3, Some(10.0)));
        lines.push(dispense("p", "lithium", 100, 30, None));
        lines.extend(monthly_course("p", "bupropion", third, 2, Some(300.0)));
        lines
    };
    check(&["fabbri"], patient(120), &format!("p trd {} courses=2", at(120)));
    check(&["fabbri"], patient(158), &format!("p trd {} courses=2", at(158)));
    check(&["fabbri"], patient(159), "p not_trd courses=1");
    // label needs the MDD diagnosis.
    check(&["label"], patient(120), "p not_trd courses=2");
    check(&["label"], with(patient(120), &[condition("p", "F32.1", 0)]), &format!("p trd {} courses=2", at(100)));
}

#[test]
fn fabbri_refill_gap_is_14_weeks() {
    // Escitalopram's second fill 98 days after its coverage ends keeps one adequate course.
    let patient = |refill: i32| {
        vec![
            dispense("p", "sertraline", 0, 90, Some(50.0)),
            dispense("p", "escitalopram", 60, 28, Some(10.0)),
            dispense("p", "escitalopram", refill, 28, Some(10.0)),
            dispense("p", "bupropion", 150, 28, Some(300.0)),
        ]
    };
    check(&["fabbri"], patient(88 + 98), &format!("p trd {} courses=2", at(150)));
    check(&["fabbri"], patient(88 + 99), "p not_trd courses=1");
}

#[test]
fn ohdsi_needs_mdd_within_365_days_before_the_index_era() {
    let patient = || {
        let mut lines = vec![condition("p", "F33.1", 0)];
        lines.extend(monthly_course("p", "sertraline", 0, 12, Some(50.0)));
        lines.extend(monthly_course("p", "escitalopram", 340, 3, Some(10.0)));
        lines.extend(monthly_course("p", "bupropion", 400, 2, Some(300.0)));
        lines
    };
    check(&["ohdsi"], patient(), "p not_trd courses=2");
    check(&["label"], patient(), &format!("p trd {} courses=2", at(400)));
    check(&["ohdsi"], with(patient(), &[condition("p", "F33.1", 35)]), &format!("p trd {} courses=2", at(400)));
    check(&["ohdsi"], with(patient(), &[condition("p", "F33.1", 34)]), "p not_trd courses=2");
    // An atypical antipsychotic counts for ohdsi; lithium does not.
    check(&["ohdsi"], augmented_patient("aripiprazole"), &format!("p trd {} courses=2", at(130)));
    check(&["ohdsi"], augmented_patient("lithium"), "p not_trd courses=1");
}

#[test]
fn cardinal_follows_its_documentation() {
    // A (sertraline) at 0 and 27, B (escitalopram) at 30 and 57: TRD at b1 = 30.
    let lines = vec![
        dispense("p", "sertraline", 0, 30, None),
        dispense("p", "sertraline", 27, 30, None),
        dispense("p", "escitalopram", 30, 30, None),
        dispense("p", "escitalopram", 57, 30, None),
    ];
    check(&["cardinal"], lines.clone(), &format!("p trd {} courses=2", at(30)));
    // a2 one day short of the course length: no A.
    let mut short = lines.clone();
    short[1] = dispense("p", "sertraline", 26, 30, None);
    check(&["cardinal"], short, "p not_trd courses=0");
    // B mentioned inside A's course [a1, a2): that A does not qualify.
    check(&["cardinal"], with(lines, &[dispense("p", "escitalopram", 10, 30, None)]), "p not_trd courses=0");
    check(&["cardinal"], vec![condition("p", "F31.9", 0)], "p insufficient_data courses=0");
}

#[test]
fn cardinal_finds_a_when_b_was_mentioned_before_a() {
    // Mentions by date: B0 B1 A10 A50 B60 B100. The documented algorithm takes b1 = B60 with
    // A = (A10, A50): TRD at day 60. Cardinal's library indexes the unfiltered table for its A
    // candidates (rows 0 and 1, both B) and so misses this patient; the contract follows the documentation.
    let lines = vec![
        dispense("p", "bupropion", 0, 30, None),
        dispense("p", "bupropion", 1, 30, None),
        dispense("p", "mirtazapine", 10, 30, None),
        dispense("p", "mirtazapine", 50, 30, None),
        dispense("p", "bupropion", 60, 30, None),
        dispense("p", "bupropion", 100, 30, None),
    ];
    let mut all = vec![patient("p", "1980-01-01")];
    all.extend(lines);
    let rows = screen_lines(&["cardinal"], &all);
    let evidence = rows[0].result.cardinal.as_ref().expect("cardinal evidence");
    assert_eq!(summary(&rows[0]), format!("p trd {} courses=2", at(60)));
    assert_eq!((evidence.drug_a, evidence.drug_b), ("mirtazapine", "bupropion"));
    assert_eq!(
        [evidence.a1, evidence.a2, evidence.b1, evidence.b2].map(format_date),
        [at(10), at(50), at(60), at(100)]
    );
    assert_eq!(format_date(evidence.expect_response_by), at(116));
}

#[test]
fn latest_phq9_and_age_are_reported() {
    let lines = vec![
        patient("teen", "2010-06-01"),
        phq9("teen", 10, 12),
        phq9("teen", 400, 7),
        phq9("teen", 3000, 27), // after as_of 2025-12-31: ignored
    ];
    let rows = screen_lines(&["label"], &lines);
    let result = &rows[0].result;
    assert_eq!(result.latest_phq9.map(|(date, total)| (format_date(date), total)), Some((at(400), 7.0)));
    assert_eq!(result.exclusions, vec!["age_under_18"]);
}

#[test]
fn only_patients_with_a_patient_resource_get_rows_sorted_by_id() {
    let lines = vec![
        patient("b", "1970-01-01"),
        patient("a", "1970-01-01"),
        dispense("orphan", "sertraline", 0, 30, Some(50.0)),
        dispense("a", "sertraline", 0, 30, Some(50.0)),
    ];
    let rows = screen_lines(&["label"], &lines);
    let summaries: Vec<String> = rows.iter().map(summary).collect();
    assert_eq!(summaries, ["a not_trd courses=0", "b insufficient_data courses=0"]);
}
