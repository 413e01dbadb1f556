//! Eligibility rules through the core's public API: the BP gate, C-SSRS, pregnancy, history codes,
//! overrides and status precedence (KNOWLEDGE §2.3, §2.4, §5.9; assess contract readings 1–3, 14).

use std::collections::BTreeSet;

use ketacare_core::eligibility::{
    ConcomitantMedicine, EligibilityFacts, EligibilityStatus, HistoryCondition, Override, StandardTreatmentWeeks,
    assess_eligibility,
};
use ketacare_core::patient::{AgeYears, BloodPressure, Modality, SexAtBirth};
use ketacare_core::protocol::Protocol;
use ketacare_core::scales::{ScreenedRisk, SuicideRisk};
use ketacare_core::trd::TrdStatus;
use rust_decimal::Decimal;

/// A 40-year-old man with normal BP, no history and no scales: eligible with no findings.
fn clean_facts() -> EligibilityFacts {
    EligibilityFacts {
        age: Some(AgeYears::parse(40).unwrap()),
        sex_at_birth: Some(SexAtBirth::Male),
        pregnant: None,
        breastfeeding: None,
        psychotic_features: Some(false),
        history: BTreeSet::new(),
        concomitant: BTreeSet::new(),
        bp_readings: vec![BloodPressure::parse(120, 80).unwrap()],
        suicide_item_screen_required: false,
        cssrs_risk: None,
        overrides: Vec::new(),
    }
}

const ENOUGH_WEEKS: StandardTreatmentWeeks =
    StandardTreatmentWeeks { known_weeks: Decimal::from_parts(30, 0, 0, false, 0), trials_without_weeks: 0 };

/// Edits the clean facts, then compares the status and the rule ids with their classes.
fn check(edit: impl Fn(&mut EligibilityFacts), status: EligibilityStatus, findings: &[(&str, &str)]) {
    check_with(edit, TrdStatus::Met, ENOUGH_WEEKS, status, findings);
}

fn check_with(
    edit: impl Fn(&mut EligibilityFacts),
    trd: TrdStatus,
    weeks: StandardTreatmentWeeks,
    status: EligibilityStatus,
    findings: &[(&str, &str)],
) {
    let mut facts = clean_facts();
    edit(&mut facts);
    let protocol = Protocol::shipped();
    for modality in Modality::ALL {
        let result = assess_eligibility(modality, &facts, trd, weeks, &protocol.eligibility);
        let got: Vec<(&str, &str)> = result.findings.iter().map(|f| (f.rule, f.class.as_str())).collect();
        assert_eq!((result.status, got.as_slice()), (status, findings), "{modality:?} {:?}", result.missing);
    }
}

fn bp(readings: &[(i64, i64)]) -> Vec<BloodPressure> {
    readings.iter().map(|(systolic, diastolic)| BloodPressure::parse(*systolic, *diastolic).unwrap()).collect()
}

#[test]
fn blood_pressure_gate_at_its_boundaries() {
    use EligibilityStatus::*;
    let elevated = [("BP_ELEVATED", "blocking_relative")];
    let severe = [("BP_SEVERE", "absolute")];
    check(|f| f.bp_readings = bp(&[(140, 90)]), Eligible, &[]);
    check(|f| f.bp_readings = bp(&[(141, 90)]), OverrideRequired, &elevated);
    check(|f| f.bp_readings = bp(&[(140, 91)]), OverrideRequired, &elevated);
    check(|f| f.bp_readings = bp(&[(179, 109)]), OverrideRequired, &elevated);
    check(|f| f.bp_readings = bp(&[(180, 100)]), Ineligible, &severe);
    check(|f| f.bp_readings = bp(&[(150, 110)]), Ineligible, &severe);
    // The less severe of the last two readings is classified (reading 3; VIGNETTES V7).
    check(|f| f.bp_readings = bp(&[(185, 112), (150, 95)]), OverrideRequired, &elevated);
    check(|f| f.bp_readings = bp(&[(150, 95), (138, 84)]), Eligible, &[]);
    check(|f| f.bp_readings = bp(&[(130, 80), (190, 100)]), Eligible, &[]);
    check(|f| f.bp_readings = bp(&[(200, 120), (130, 80), (190, 100)]), Eligible, &[]);
    check(|f| f.bp_readings = bp(&[(185, 100), (182, 100)]), Ineligible, &severe);
    // No reading: indeterminate.
    check(|f| f.bp_readings.clear(), Indeterminate, &[]);
}

#[test]
fn suicide_screen_rules() {
    use EligibilityStatus::*;
    check(
        |f| f.suicide_item_screen_required = true,
        OverrideRequired,
        &[("SUICIDE_SCREEN_REQUIRED", "blocking_relative")],
    );
    check(
        |f| {
            f.suicide_item_screen_required = true;
            f.cssrs_risk = Some(ScreenedRisk::Level(SuicideRisk::Low));
        },
        Eligible,
        &[],
    );
    check(
        |f| f.cssrs_risk = Some(ScreenedRisk::Level(SuicideRisk::Moderate)),
        OverrideRequired,
        &[("SUICIDE_RISK_MODERATE", "blocking_relative")],
    );
    check(
        |f| f.cssrs_risk = Some(ScreenedRisk::Level(SuicideRisk::High)),
        Ineligible,
        &[("SUICIDE_RISK_HIGH", "absolute")],
    );
}

#[test]
fn pregnancy_age_and_psychosis() {
    use EligibilityStatus::*;
    check(|f| f.sex_at_birth = Some(SexAtBirth::Female), Eligible, &[("PREGNANCY_UNKNOWN", "warning")]);
    check(|f| f.sex_at_birth = None, Eligible, &[("PREGNANCY_UNKNOWN", "warning")]);
    check(
        |f| {
            f.sex_at_birth = Some(SexAtBirth::Female);
            f.pregnant = Some(false);
        },
        Eligible,
        &[],
    );
    check(|f| f.pregnant = Some(true), OverrideRequired, &[("PREGNANCY", "blocking_relative")]);
    check(|f| f.breastfeeding = Some(true), OverrideRequired, &[("BREASTFEEDING", "blocking_relative")]);
    check(|f| f.age = Some(AgeYears::parse(17).unwrap()), Ineligible, &[("AGE_UNDER_18", "absolute")]);
    check(|f| f.age = Some(AgeYears::parse(18).unwrap()), Eligible, &[]);
    check(|f| f.age = Some(AgeYears::parse(64).unwrap()), Eligible, &[]);
    check(|f| f.age = Some(AgeYears::parse(65).unwrap()), Eligible, &[("AGE_65_PLUS", "warning")]);
    check(|f| f.age = None, Indeterminate, &[]);
    check(|f| f.psychotic_features = Some(true), OverrideRequired, &[("PSYCHOTIC_FEATURES", "blocking_relative")]);
    check(|f| f.psychotic_features = None, Indeterminate, &[]);
}

#[test]
fn history_codes_carry_their_classes() {
    use EligibilityStatus::*;
    let check_history = |condition: HistoryCondition, rule: &str, class: &str, status: EligibilityStatus| {
        check(
            |f| {
                f.history.insert(condition);
            },
            status,
            &[(rule, class)],
        );
    };
    use HistoryCondition::*;
    check_history(AneurysmalVascularDisease, "ANEURYSMAL_VASCULAR_DISEASE", "absolute", Ineligible);
    check_history(ArteriovenousMalformation, "ARTERIOVENOUS_MALFORMATION", "absolute", Ineligible);
    check_history(IntracerebralHemorrhage, "INTRACEREBRAL_HEMORRHAGE", "absolute", Ineligible);
    check_history(KetamineHypersensitivity, "KETAMINE_HYPERSENSITIVITY", "absolute", Ineligible);
    check_history(BipolarDisorder, "BIPOLAR_DISORDER", "blocking_relative", OverrideRequired);
    check_history(PrimaryPsychoticDisorder, "PRIMARY_PSYCHOTIC_DISORDER", "blocking_relative", OverrideRequired);
    check_history(SubstanceUseDisorderCurrent, "SUBSTANCE_USE_DISORDER", "blocking_relative", OverrideRequired);
    check_history(KetamineMisuse, "KETAMINE_MISUSE", "blocking_relative", OverrideRequired);
    check_history(RecentCardiovascularEvent, "RECENT_CARDIOVASCULAR_EVENT", "blocking_relative", OverrideRequired);
    check_history(HypertensiveEncephalopathy, "HYPERTENSIVE_ENCEPHALOPATHY", "warning", Eligible);
    check_history(RaisedIntracranialPressure, "RAISED_INTRACRANIAL_PRESSURE", "blocking_relative", OverrideRequired);
    check_history(HepaticImpairmentModerate, "HEPATIC_IMPAIRMENT_MODERATE", "warning", Eligible);
    check_history(HepaticImpairmentSevere, "HEPATIC_IMPAIRMENT_SEVERE", "blocking_relative", OverrideRequired);
    check_history(UnstableRespiratoryDisease, "UNSTABLE_RESPIRATORY_DISEASE", "blocking_relative", OverrideRequired);
}

#[test]
fn concomitant_medicines_warn() {
    use EligibilityStatus::*;
    check(
        |f| {
            f.concomitant.insert(ConcomitantMedicine::Psychostimulant);
        },
        Eligible,
        &[("MAOI_OR_PSYCHOSTIMULANT", "warning")],
    );
    check(
        |f| {
            f.concomitant.insert(ConcomitantMedicine::Opioid);
            f.concomitant.insert(ConcomitantMedicine::Benzodiazepine);
        },
        Eligible,
        &[("CNS_DEPRESSANT", "warning")],
    );
}

#[test]
fn trd_status_and_treatment_weeks() {
    use EligibilityStatus::*;
    check_with(|_| {}, TrdStatus::NotMet, ENOUGH_WEEKS, Ineligible, &[("TRD_NOT_MET", "absolute")]);
    check_with(|_| {}, TrdStatus::Indeterminate, ENOUGH_WEEKS, Indeterminate, &[("TRD_INDETERMINATE", "warning")]);
    let weeks = |known: i64, without: usize| StandardTreatmentWeeks {
        known_weeks: Decimal::from(known),
        trials_without_weeks: without,
    };
    check_with(|_| {}, TrdStatus::Met, weeks(26, 0), Eligible, &[]);
    check_with(|_| {}, TrdStatus::Met, weeks(25, 0), Eligible, &[("STANDARD_TREATMENT_UNDER_6_MONTHS", "warning")]);
    let facts = clean_facts();
    let result = assess_eligibility(
        Modality::IvKetamine,
        &facts,
        TrdStatus::Met,
        weeks(16, 1),
        &Protocol::shipped().eligibility,
    );
    assert_eq!(
        result.findings[0].summary,
        "16 weeks of antidepressant treatment in this episode (< 26); weeks unknown for 1 trial"
    );
}

#[test]
fn status_precedence_and_overrides() {
    use EligibilityStatus::*;
    let override_of = |rule: &'static str| Override { rule, by: "Dr A".to_owned(), reason: "reviewed".to_owned() };
    // Ineligible over override_required over indeterminate (reading 1).
    check(
        |f| {
            f.pregnant = Some(true);
            f.history.insert(HistoryCondition::IntracerebralHemorrhage);
        },
        Ineligible,
        &[("INTRACEREBRAL_HEMORRHAGE", "absolute"), ("PREGNANCY", "blocking_relative")],
    );
    check(
        |f| {
            f.pregnant = Some(true);
            f.age = None;
        },
        OverrideRequired,
        &[("PREGNANCY", "blocking_relative")],
    );
    // An override resolves its blocking-relative finding; the finding stays, marked.
    check(
        |f| {
            f.pregnant = Some(true);
            f.overrides.push(override_of("PREGNANCY"));
        },
        Eligible,
        &[("PREGNANCY", "blocking_relative")],
    );
    // An override of an absolute rule does nothing.
    check(
        |f| {
            f.history.insert(HistoryCondition::ArteriovenousMalformation);
            f.overrides.push(override_of("ARTERIOVENOUS_MALFORMATION"));
        },
        Ineligible,
        &[("ARTERIOVENOUS_MALFORMATION", "absolute")],
    );
    // An override of another rule does not resolve this one.
    check(
        |f| {
            f.pregnant = Some(true);
            f.overrides.push(override_of("BREASTFEEDING"));
        },
        OverrideRequired,
        &[("PREGNANCY", "blocking_relative")],
    );
}
