//! The C-SSRS screener with unanswered questions, through the core's public API (KNOWLEDGE §5.9): an
//! unanswered question is missing data, never a malformed screen. The risk is the level every way of
//! answering it gives, or indeterminate naming the questions that could change it; eligibility then
//! raises the finding the given answers already reach and is indeterminate only when the unanswered
//! questions could raise another finding.

use std::collections::BTreeSet;

use ketacare_core::eligibility::{EligibilityFacts, StandardTreatmentWeeks, assess_eligibility};
use ketacare_core::patient::{AgeYears, BloodPressure, Modality, SexAtBirth};
use ketacare_core::protocol::Protocol;
use ketacare_core::scales::{CssrsAnswers, CssrsResponses, ScreenedRisk, assess_cssrs};
use ketacare_core::trd::TrdStatus;
use rust_decimal::Decimal;

/// `answers` as `q1=y q2=n q6=y` (unlisted questions unanswered); `screen` as `high by q4`,
/// `none`, or `moderate..high missing q6_within_3_months`; `eligibility` as the status, then the rule ids,
/// then `missing` and the missing fields, for a patient who is otherwise eligible.
fn check(answers: &str, screen: &str, eligibility: &str) {
    let mut responses = CssrsResponses::default();
    for answer in answers.split_whitespace() {
        let (question, value) = answer.split_once('=').unwrap();
        let value = Some(value == "y");
        match question {
            "q1" => responses.q1 = value,
            "q2" => responses.q2 = value,
            "q3" => responses.q3 = value,
            "q4" => responses.q4 = value,
            "q5" => responses.q5 = value,
            "q6" => responses.q6 = value,
            "q6_within_3_months" => responses.q6_within_3_months = value,
            other => panic!("no question {other}"),
        }
    }
    let read = assess_cssrs(&CssrsAnswers::new(responses).unwrap());
    let got_screen = match (&read.risk, read.decided_by) {
        (ScreenedRisk::Indeterminate { at_least, at_most, missing }, _) => {
            format!("{}..{} missing {}", at_least.as_str(), at_most.as_str(), missing.join(" "))
        }
        (risk, Some(question)) => format!("{} by {question}", risk.as_str()),
        (risk, None) => risk.as_str().to_owned(),
    };
    let facts = EligibilityFacts {
        age: Some(AgeYears::parse(40).unwrap()),
        sex_at_birth: Some(SexAtBirth::Male),
        pregnant: None,
        breastfeeding: None,
        psychotic_features: Some(false),
        history: BTreeSet::new(),
        concomitant: BTreeSet::new(),
        bp_readings: vec![BloodPressure::parse(120, 80).unwrap()],
        suicide_item_screen_required: true,
        cssrs_risk: Some(read.risk.clone()),
        overrides: Vec::new(),
    };
    let weeks = StandardTreatmentWeeks { known_weeks: Decimal::from(30), trials_without_weeks: 0 };
    let result =
        assess_eligibility(Modality::IvKetamine, &facts, TrdStatus::Met, weeks, &Protocol::shipped().eligibility);
    let mut got_eligibility = vec![result.status.as_str().to_owned()];
    got_eligibility.extend(result.findings.iter().map(|finding| finding.rule.to_owned()));
    if !result.missing.is_empty() {
        got_eligibility.push("missing".to_owned());
        got_eligibility.extend(result.missing.iter().cloned());
    }
    assert_eq!((got_screen.as_str(), got_eligibility.join(" ").as_str()), (screen, eligibility), "{answers}");
}

#[test]
fn complete_screens_read_as_before() {
    check("q1=n q2=n q6=n", "none", "eligible");
    check("q1=y q2=n q6=n", "low by q1", "eligible");
    check("q1=y q2=y q3=y q4=n q5=n q6=n", "moderate by q3", "override_required SUICIDE_RISK_MODERATE");
    check("q1=y q2=y q3=n q4=y q5=n q6=n", "high by q4", "ineligible SUICIDE_RISK_HIGH");
    check("q1=n q2=n q6=y q6_within_3_months=y", "high by q6 within 3 months", "ineligible SUICIDE_RISK_HIGH");
}

#[test]
fn an_empty_or_partial_screen_is_indeterminate_naming_what_could_change_it() {
    check("", "none..high missing q1 q2 q6", "indeterminate missing cssrs.q1 cssrs.q2 cssrs.q6");
    check("q1=y q2=y q6=n", "low..high missing q3 q4 q5", "indeterminate missing cssrs.q3 cssrs.q4 cssrs.q5");
    check("q1=n q2=n", "none..high missing q6", "indeterminate missing cssrs.q6");
    check(
        "q1=y q2=n q6=y",
        "moderate..high missing q6_within_3_months",
        "override_required SUICIDE_RISK_MODERATE missing cssrs.q6_within_3_months",
    );
    check(
        "q1=y q2=y q3=y q4=n q5=n q6=y",
        "moderate..high missing q6_within_3_months",
        "override_required SUICIDE_RISK_MODERATE missing cssrs.q6_within_3_months",
    );
}

#[test]
fn a_yes_that_means_high_risk_stays_high_whatever_is_unanswered() {
    check("q1=y q2=y q4=y q6=y", "high by q4", "ineligible SUICIDE_RISK_HIGH");
    check("q2=y q5=y", "high by q5", "ineligible SUICIDE_RISK_HIGH");
    check("q6=y q6_within_3_months=y", "high by q6 within 3 months", "ineligible SUICIDE_RISK_HIGH");
}

#[test]
fn an_unanswered_question_that_cannot_change_the_finding_leaves_eligibility_decided() {
    // Only Q1 is open: none or low, neither of which raises a finding.
    check("q2=n q6=n", "none..low missing q1", "eligible");
    // Q3 yes makes it moderate whatever Q1 says.
    check("q2=y q3=y q4=n q5=n q6=n", "moderate by q3", "override_required SUICIDE_RISK_MODERATE");
}
