//! Properties that must hold for every input, checked with proptest: more failures never lower the
//! stage, the IV dose is linear in its basis, overrides never make a patient ineligible.

use std::collections::BTreeSet;

use ketacare_core::dosing::{IvDoseFacts, IvDoseResult, IvPrescription, iv_ketamine_dose};
use ketacare_core::drugs::{DRUGS, DrugRole};
use ketacare_core::eligibility::{
    EligibilityFacts, EligibilityStatus, HistoryCondition, Override, RuleClass, StandardTreatmentWeeks,
    assess_eligibility,
};
use ketacare_core::patient::{AgeYears, BloodPressure, HeightCm, Modality, SexAtBirth, WeightKg};
use ketacare_core::protocol::Protocol;
use ketacare_core::staging::{EpisodeDurationMonths, EpisodeSeverity, MsmResult, StagingFacts, assess_staging};
use ketacare_core::trd::{Adherence, ImprovementPct, TrdStatus, TrialFacts, TrialQuantity, TrialRole, assess_trd};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// Antidepressants of the knowledge base that have a minimum dose.
fn dosed_antidepressants() -> Vec<(&'static str, Decimal)> {
    DRUGS
        .iter()
        .filter(|entry| entry.role == DrugRole::Antidepressant)
        .filter_map(|entry| entry.min_daily_dose_mg.map(|minimum| (entry.ingredient, minimum)))
        .collect()
}

/// A trial of knowledge-base drug `index`: `failed` picks an adequate failure, otherwise anything.
fn trial_strategy() -> impl Strategy<Value = TrialFacts> {
    let drugs = dosed_antidepressants();
    (0..drugs.len(), 0u32..300, 0u32..16, -50i64..=100, prop::bool::weighted(0.8), prop::bool::weighted(0.9)).prop_map(
        move |(index, dose_pct, weeks, improvement, adherent, in_episode)| {
            let (ingredient, minimum) = drugs[index];
            TrialFacts {
                drug_as_written: ingredient.to_owned(),
                daily_dose_mg: Some(
                    TrialQuantity::parse_daily_dose_mg(minimum * Decimal::from(dose_pct + 1) / Decimal::from(100))
                        .unwrap(),
                ),
                weeks_at_dose: Some(TrialQuantity::parse_weeks(Decimal::from(weeks)).unwrap()),
                improvement_pct: Some(ImprovementPct::parse(Decimal::from(improvement)).unwrap()),
                adherence: if adherent { Adherence::Adequate } else { Adherence::Unknown },
                role: TrialRole::Antidepressant,
                in_current_episode: in_episode,
                stop_reason: None,
            }
        },
    )
}

fn failed_trial_strategy() -> impl Strategy<Value = TrialFacts> {
    let drugs = dosed_antidepressants();
    (0..drugs.len()).prop_map(move |index| {
        let (ingredient, minimum) = drugs[index];
        TrialFacts {
            drug_as_written: ingredient.to_owned(),
            daily_dose_mg: Some(TrialQuantity::parse_daily_dose_mg(minimum).unwrap()),
            weeks_at_dose: Some(TrialQuantity::parse_weeks(Decimal::from(8)).unwrap()),
            improvement_pct: Some(ImprovementPct::parse(Decimal::from(10)).unwrap()),
            adherence: Adherence::Adequate,
            role: TrialRole::Antidepressant,
            in_current_episode: true,
            stop_reason: None,
        }
    })
}

fn msm_score(trials: &[TrialFacts], protocol: &Protocol) -> u32 {
    let trd = assess_trd(trials, &protocol.trd);
    let facts = StagingFacts {
        episode_duration: Some(EpisodeDurationMonths::parse(Decimal::from(10)).unwrap()),
        severity: Some(EpisodeSeverity::Moderate),
        psychotic_features: Some(false),
        madrs_total: None,
        ect_failed_courses: 0,
        ect_bilateral: false,
    };
    match assess_staging(&trd, &facts, &protocol.staging).msm {
        MsmResult::Scored { score, .. } => score,
        MsmResult::NotApplicable => 0,
        MsmResult::Indeterminate { missing } => panic!("complete trials are never indeterminate: {missing:?}"),
    }
}

proptest! {
    #[test]
    fn more_failed_adequate_trials_never_lower_the_msm_score(
        trials in prop::collection::vec(trial_strategy(), 0..8),
        extra in failed_trial_strategy(),
    ) {
        let protocol = Protocol::shipped();
        let before = msm_score(&trials, &protocol);
        let mut more = trials.clone();
        more.push(extra);
        prop_assert!(msm_score(&more, &protocol) >= before);
    }

    #[test]
    fn another_failure_never_takes_trd_away(
        trials in prop::collection::vec(trial_strategy(), 0..8),
        extra in failed_trial_strategy(),
    ) {
        let protocol = Protocol::shipped();
        let before = assess_trd(&trials, &protocol.trd);
        let mut more = trials.clone();
        more.push(extra);
        let after = assess_trd(&more, &protocol.trd);
        prop_assert!(!(before.label.status == TrdStatus::Met && after.label.status != TrdStatus::Met));
        prop_assert!(after.label.failed_agents.len() >= before.label.failed_agents.len());
        prop_assert!(after.distinct_classes.classes.len() >= before.distinct_classes.classes.len());
    }

    #[test]
    fn the_iv_dose_is_linear_in_its_basis(
        height_mm in 1400i64..2100,
        weight_hg in 400i64..2000,
        female in any::<bool>(),
        mg_per_kg_hundredths in 1i64..=100,
    ) {
        let protocol = Protocol::shipped();
        let facts = IvDoseFacts {
            height: Some(HeightCm::parse(Decimal::new(height_mm, 1)).unwrap()),
            weight: Some(WeightKg::parse(Decimal::new(weight_hg, 1)).unwrap()),
            sex_at_birth: Some(if female { SexAtBirth::Female } else { SexAtBirth::Male }),
        };
        let mut prescription = IvPrescription::standard(&protocol.dosing);
        prescription.mg_per_kg = Decimal::new(mg_per_kg_hundredths, 2);
        let IvDoseResult::Computed(dose) = iv_ketamine_dose(facts, prescription, &protocol.dosing) else {
            panic!("height and weight and sex are known");
        };
        prop_assert_eq!(dose.dose_mg, dose.mg_per_kg * dose.basis_kg);
        prop_assert!(dose.basis_kg <= facts.weight.unwrap().kg());
        // Division keeps 28 significant digits: the rate reconstructs the dose to far below display precision.
        prop_assert!((dose.rate_mg_per_min * dose.duration_min - dose.dose_mg).abs() < Decimal::new(1, 20));
        prop_assert!(dose.hard_stops.is_empty());
    }

    #[test]
    fn a_blocking_finding_with_an_override_is_never_ineligible(
        history_mask in 0u32..(1 << 14),
        pregnant in any::<bool>(),
        systolic in 100i64..179,
        overridden in any::<bool>(),
    ) {
        let protocol = Protocol::shipped();
        // Only the blocking-relative and warning history conditions: no absolute finding can arise.
        let history: BTreeSet<HistoryCondition> = HistoryCondition::ALL
            .into_iter()
            .enumerate()
            .filter(|(bit, _)| history_mask & (1 << bit) != 0)
            .map(|(_, condition)| condition)
            .filter(|condition| !matches!(condition,
                HistoryCondition::AneurysmalVascularDisease
                | HistoryCondition::ArteriovenousMalformation
                | HistoryCondition::IntracerebralHemorrhage
                | HistoryCondition::KetamineHypersensitivity))
            .collect();
        let mut facts = EligibilityFacts {
            age: Some(AgeYears::parse(40).unwrap()),
            sex_at_birth: Some(SexAtBirth::Female),
            pregnant: Some(pregnant),
            breastfeeding: Some(false),
            psychotic_features: Some(false),
            history,
            concomitant: BTreeSet::new(),
            bp_readings: vec![BloodPressure::parse(systolic, 80).unwrap()],
            suicide_item_screen_required: false,
            cssrs_risk: None,
            overrides: Vec::new(),
        };
        let weeks = StandardTreatmentWeeks { known_weeks: Decimal::from(30), trials_without_weeks: 0 };
        let without = assess_eligibility(Modality::Esketamine, &facts, TrdStatus::Met, weeks, &protocol.eligibility);
        if overridden {
            facts.overrides = without
                .findings
                .iter()
                .filter(|finding| finding.class == RuleClass::BlockingRelative)
                .map(|finding| Override { rule: finding.rule, by: "Dr A".to_owned(), reason: "reviewed".to_owned() })
                .collect();
        }
        let with = assess_eligibility(Modality::Esketamine, &facts, TrdStatus::Met, weeks, &protocol.eligibility);
        prop_assert_ne!(with.status, EligibilityStatus::Ineligible);
        prop_assert!(with.status <= without.status, "an override never makes the status worse");
        if overridden {
            prop_assert_eq!(with.status, EligibilityStatus::Eligible);
        }
    }
}
