//! TRD rules through the core's public API: one `check` per rule family, one line per case
//! (KNOWLEDGE §1.1–§1.3, §1.6; assess contract readings 4–7).

use ketacare_core::assess::standard_treatment_weeks;
use ketacare_core::protocol::{Protocol, SHIPPED_PROTOCOL_TOML};
use ketacare_core::trd::{Adherence, ImprovementPct, TrdStatus, TrialFacts, TrialQuantity, TrialRole, assess_trd};
use rust_decimal::Decimal;

fn decimal(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// A trial in the current episode with adequate adherence; `None` writes a missing field.
fn trial(drug: &str, dose_mg: Option<&str>, weeks: Option<&str>, improvement_pct: Option<&str>) -> TrialFacts {
    TrialFacts {
        drug_as_written: drug.to_owned(),
        daily_dose_mg: dose_mg.map(|dose| TrialQuantity::parse_daily_dose_mg(decimal(dose)).unwrap()),
        weeks_at_dose: weeks.map(|weeks| TrialQuantity::parse_weeks(decimal(weeks)).unwrap()),
        improvement_pct: improvement_pct.map(|pct| ImprovementPct::parse(decimal(pct)).unwrap()),
        adherence: Adherence::Adequate,
        role: TrialRole::Antidepressant,
        in_current_episode: true,
        stop_reason: None,
    }
}

fn protocol(threshold: &str) -> Protocol {
    Protocol::parse(&SHIPPED_PROTOCOL_TOML.replacen("value = \"lt50\"", &format!("value = \"{threshold}\""), 1))
        .unwrap()
}

/// Judges one trial alone and compares adequate, failed and reason codes.
fn check_trial(threshold: &str, facts: TrialFacts, adequate: Option<bool>, failed: Option<bool>, reasons: &[&str]) {
    let label = format!("{} ({threshold})", facts.drug_as_written);
    let trd = assess_trd(&[facts], &protocol(threshold).trd);
    let judged = &trd.trials[0];
    let codes: Vec<&str> = judged.reasons.iter().map(|reason| reason.code()).collect();
    assert_eq!((judged.adequate, judged.failed, codes.as_slice()), (adequate, failed, reasons), "{label}");
}

#[test]
fn trial_adequacy_and_failure() {
    let y = Some(true);
    let n = Some(false);
    // Dose at the minimum, just below it, and the formulation minimums (reading 7).
    check_trial("lt50", trial("sertraline", Some("50"), Some("6"), Some("0")), y, y, &[]);
    check_trial("lt50", trial("sertraline", Some("49.9"), Some("6"), Some("0")), n, n, &["DOSE_BELOW_MIN"]);
    check_trial("lt50", trial("paroxetine CR", Some("20"), Some("8"), Some("0")), n, n, &["DOSE_BELOW_MIN"]);
    check_trial("lt50", trial("paroxetine CR", Some("25"), Some("8"), Some("0")), y, y, &[]);
    check_trial("lt50", trial("paroxetine", Some("20"), Some("8"), Some("0")), y, y, &[]);
    check_trial("lt50", trial("bupropion hydrobromide", Some("300"), Some("8"), Some("0")), n, n, &["DOSE_BELOW_MIN"]);
    check_trial("lt50", trial("Aplenzin", Some("348"), Some("8"), Some("0")), y, y, &[]);
    // Duration at 6 weeks and just below (KNOWLEDGE §1.3 PROJECT DEFAULT).
    check_trial("lt50", trial("fluoxetine", Some("20"), Some("5.9"), Some("0")), n, n, &["DURATION_SHORT"]);
    // The failure threshold at its boundaries (KNOWLEDGE §1.1 CONFLICT; VIGNETTES V2).
    check_trial("lt50", trial("fluoxetine", Some("20"), Some("6"), Some("49.9")), y, y, &[]);
    check_trial("lt50", trial("fluoxetine", Some("20"), Some("6"), Some("50")), y, n, &["RESPONDED"]);
    check_trial("le25", trial("fluoxetine", Some("20"), Some("6"), Some("25")), y, y, &[]);
    check_trial("le25", trial("fluoxetine", Some("20"), Some("6"), Some("25.1")), y, n, &["RESPONDED"]);
    check_trial("lt25", trial("fluoxetine", Some("20"), Some("6"), Some("25")), y, n, &["RESPONDED"]);
    check_trial("lt25", trial("fluoxetine", Some("20"), Some("6"), Some("-30")), y, y, &[]);
    // Every settling reason is listed (reading 4).
    check_trial(
        "lt50",
        trial("fluoxetine", Some("10"), Some("2"), Some("60")),
        n,
        n,
        &["DOSE_BELOW_MIN", "DURATION_SHORT", "RESPONDED"],
    );
    check_trial("lt50", trial("Zoloft", Some("10"), None, None), n, n, &["DOSE_BELOW_MIN"]);
    check_trial("lt50", trial("notadrug", Some("10"), Some("8"), Some("0")), n, n, &["UNKNOWN_DRUG"]);
    // Missing data leaves the trial open (reading 5): MISSING_DATA only without a settling reason.
    check_trial("lt50", trial("sertraline", None, Some("8"), Some("0")), None, None, &["MISSING_DATA"]);
    check_trial("lt50", trial("sertraline", Some("100"), None, Some("0")), None, None, &["MISSING_DATA"]);
    check_trial("lt50", trial("sertraline", Some("100"), Some("8"), None), y, None, &["MISSING_DATA"]);
    check_trial("lt50", trial("sertraline", None, None, Some("70")), None, n, &["RESPONDED"]);
    check_trial("lt50", trial("mianserin", Some("60"), Some("8"), Some("0")), None, None, &["MISSING_DATA"]);
}

#[test]
fn adherence_episode_and_role_settle_a_trial() {
    let check = |edit: &dyn Fn(&mut TrialFacts), reasons: &[&str]| {
        let mut facts = trial("sertraline", Some("100"), Some("8"), Some("0"));
        edit(&mut facts);
        check_trial("lt50", facts, Some(false), Some(false), reasons);
    };
    check(&|t| t.adherence = Adherence::Inadequate, &["ADHERENCE"]);
    check(&|t| t.adherence = Adherence::Unknown, &["ADHERENCE"]);
    check(&|t| t.in_current_episode = false, &["OUTSIDE_EPISODE"]);
    check(&|t| t.role = TrialRole::Augmentation, &["AUGMENTATION_ONLY"]);
    check(&|t| t.drug_as_written = "lithium".to_owned(), &["AUGMENTATION_ONLY"]);
    check(
        &|t| {
            t.in_current_episode = false;
            t.adherence = Adherence::Unknown;
        },
        &["OUTSIDE_EPISODE", "ADHERENCE"],
    );
}

/// Checks both TRD definitions over a list of trials.
fn check_trd(trials: &[TrialFacts], label: (TrdStatus, &[&str]), distinct: (TrdStatus, &[&str])) {
    let trd = assess_trd(trials, &Protocol::shipped().trd);
    assert_eq!((trd.label.status, trd.label.failed_agents.as_slice()), label, "label");
    assert_eq!((trd.distinct_classes.status, trd.distinct_classes.classes.as_slice()), distinct, "distinct");
}

#[test]
fn trd_definitions() {
    use TrdStatus::*;
    let failed = |drug: &str, dose: &str| trial(drug, Some(dose), Some("8"), Some("10"));
    check_trd(&[], (NotMet, &[]), (NotMet, &[]));
    check_trd(&[failed("sertraline", "100")], (NotMet, &["sertraline"]), (NotMet, &["SSRI"]));
    // Two courses of one ingredient (salt and brand) are one agent (KNOWLEDGE §1.2).
    check_trd(&[failed("sertraline", "100"), failed("Zoloft", "150")], (NotMet, &["sertraline"]), (NotMet, &["SSRI"]));
    // Two SSRIs: label met, distinct not.
    check_trd(
        &[failed("sertraline", "100"), failed("fluoxetine", "20")],
        (Met, &["fluoxetine", "sertraline"]),
        (NotMet, &["SSRI"]),
    );
    // TCA and TECA are one class for the distinct test (KNOWLEDGE §1.4).
    check_trd(
        &[failed("nortriptyline", "75"), failed("maprotiline", "150")],
        (Met, &["maprotiline", "nortriptyline"]),
        (NotMet, &["TCA"]),
    );
    // SMS and SPARI are classes apart from SSRI.
    check_trd(
        &[failed("vortioxetine", "10"), failed("sertraline", "100")],
        (Met, &["sertraline", "vortioxetine"]),
        (Met, &["SMS", "SSRI"]),
    );
    // One definite failure and one open trial: indeterminate; an open trial of the same class stays not_met.
    check_trd(
        &[failed("sertraline", "100"), trial("bupropion", None, Some("8"), Some("0"))],
        (Indeterminate, &["sertraline"]),
        (Indeterminate, &["SSRI"]),
    );
    check_trd(
        &[failed("sertraline", "100"), trial("fluoxetine", None, Some("8"), Some("0"))],
        (Indeterminate, &["sertraline"]),
        (NotMet, &["SSRI"]),
    );
    // An unknown drug never counts (reading 5).
    check_trd(
        &[failed("sertraline", "100"), failed("zzzpramine", "100")],
        (NotMet, &["sertraline"]),
        (NotMet, &["SSRI"]),
    );
}

#[test]
fn closely_related_pairs_are_flagged_and_still_count() {
    let trials =
        [trial("citalopram", Some("20"), Some("8"), Some("0")), trial("Lexapro", Some("10"), Some("8"), Some("0"))];
    let trd = assess_trd(&trials, &Protocol::shipped().trd);
    assert_eq!(trd.label.status, TrdStatus::Met);
    for judged in &trd.trials {
        assert_eq!(judged.reasons.iter().map(|reason| reason.code()).collect::<Vec<_>>(), ["CLOSELY_RELATED"]);
    }
    // Only when both failed.
    let trials = [
        trial("venlafaxine", Some("75"), Some("8"), Some("0")),
        trial("desvenlafaxine", Some("50"), Some("8"), Some("80")),
    ];
    let trd = assess_trd(&trials, &Protocol::shipped().trd);
    assert!(trd.trials[0].reasons.is_empty());
}

/// Checks the weeks of standard treatment over a list of trials (assess contract reading 14):
/// antidepressant trials of the current episode, unknown drugs included, augmentation not.
fn check_standard_weeks(trials: &[TrialFacts], known_weeks: i64, trials_without_weeks: usize) {
    let weeks = standard_treatment_weeks(trials);
    let names: Vec<&str> = trials.iter().map(|trial| trial.drug_as_written.as_str()).collect();
    assert_eq!(
        (weeks.known_weeks, weeks.trials_without_weeks),
        (Decimal::from(known_weeks), trials_without_weeks),
        "{names:?}"
    );
}

#[test]
fn augmentation_weeks_are_not_standard_treatment() {
    let weeks = |drug: &str, weeks: &str| trial(drug, Some("100"), Some(weeks), Some("10"));
    let augmenting =
        |drug: &str, weeks_held: &str| TrialFacts { role: TrialRole::Augmentation, ..weeks(drug, weeks_held) };
    let earlier = |drug: &str, weeks_held: &str| TrialFacts { in_current_episode: false, ..weeks(drug, weeks_held) };
    check_standard_weeks(&[weeks("sertraline", "8"), weeks("venlafaxine XR", "10")], 18, 0);
    // An augmentation agent without a role is augmentation-only, and its weeks do not count.
    check_standard_weeks(&[weeks("sertraline", "8"), weeks("lithium", "10")], 8, 0);
    check_standard_weeks(&[weeks("sertraline", "8"), weeks("lithium carbonate 300 mg caps", "10")], 8, 0);
    check_standard_weeks(&[weeks("sertraline", "8"), weeks("Seroquel XR", "20")], 8, 0);
    check_standard_weeks(&[weeks("sertraline", "8"), trial("Cytomel", Some("25"), None, None)], 8, 0);
    check_standard_weeks(&[weeks("sertraline", "8"), augmenting("aripiprazole", "10")], 8, 0);
    check_standard_weeks(&[weeks("sertraline", "8"), augmenting("bupropion", "10")], 8, 0);
    // Unknown drugs count; trials outside the episode do not; a trial without weeks is counted as unknown.
    check_standard_weeks(&[weeks("sertraline", "8"), weeks("notadrug", "4")], 12, 0);
    check_standard_weeks(&[weeks("sertraline", "8"), earlier("fluoxetine", "30")], 8, 0);
    check_standard_weeks(&[weeks("sertraline", "8"), trial("fluoxetine", Some("20"), None, None)], 8, 1);
}
