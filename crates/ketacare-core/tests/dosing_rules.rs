//! Dosing through the core's public API (KNOWLEDGE §3.1–§3.3, §3.5; assess contract readings 10–12).

use ketacare_core::dosing::{
    EsketamineStartResult, IvDoseFacts, IvDoseResult, IvPrescription, check_esketamine_dose, esketamine_start_dose,
    iv_ketamine_dose, round_half_up,
};
use ketacare_core::patient::{AgeYears, HeightCm, Jurisdiction, SexAtBirth, WeightKg};
use ketacare_core::protocol::{Protocol, SHIPPED_PROTOCOL_TOML};
use rust_decimal::Decimal;

fn decimal(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn facts(height_cm: &str, weight_kg: &str, sex: Option<SexAtBirth>) -> IvDoseFacts {
    IvDoseFacts {
        height: Some(HeightCm::parse(decimal(height_cm)).unwrap()),
        weight: Some(WeightKg::parse(decimal(weight_kg)).unwrap()),
        sex_at_birth: sex,
    }
}

/// Computes the standard dose and compares the displayed values: bmi, basis, basis_kg, dose_mg, rate.
fn check(protocol: &Protocol, dose_facts: IvDoseFacts, expected: (&str, &str, &str, &str, &str)) {
    let IvDoseResult::Computed(dose) =
        iv_ketamine_dose(dose_facts, IvPrescription::standard(&protocol.dosing), &protocol.dosing)
    else {
        panic!("dose not computed for {dose_facts:?}");
    };
    let got = (
        round_half_up(dose.bmi, 2).to_string(),
        dose.basis.as_str(),
        round_half_up(dose.basis_kg, 2).to_string(),
        round_half_up(dose.dose_mg, 1).to_string(),
        round_half_up(dose.rate_mg_per_min, 3).to_string(),
    );
    let expected =
        (expected.0.to_owned(), expected.1, expected.2.to_owned(), expected.3.to_owned(), expected.4.to_owned());
    assert_eq!(got, expected, "{dose_facts:?}");
}

#[test]
fn weight_basis_and_exact_arithmetic() {
    let shipped = Protocol::shipped();
    let female = Some(SexAtBirth::Female);
    let male = Some(SexAtBirth::Male);
    // BMI exactly 30 (76.8 kg at 160 cm) is obese (reading 10).
    check(&shipped, facts("160", "76.8", female), ("30", "ideal", "52.38", "26.2", "0.655"));
    // BMI 29.98 rounds to 30.0 for display but uses actual weight (VIGNETTES V7).
    check(&shipped, facts("178", "95", male), ("29.98", "actual", "95", "47.5", "1.188"));
    // 59.98 mg over 40 min = 1.4995 mg/min rounds half-up to 1.500 (reading 10).
    check(&shipped, facts("200", "119.96", male), ("29.99", "actual", "119.96", "60.0", "1.500"));
    // Obese but the ideal weight is not below the actual weight: actual (reading 11).
    check(&shipped, facts("190", "84", male), ("23.27", "actual", "84", "42.0", "1.050"));
    // Sex is needed only when ideal or adjusted weight is used.
    check(&shipped, facts("165", "70", None), ("25.71", "actual", "70", "35.0", "0.875"));
    assert_eq!(
        iv_ketamine_dose(facts("165", "90", None), IvPrescription::standard(&shipped.dosing), &shipped.dosing),
        IvDoseResult::Indeterminate { missing: vec!["patient.sex_at_birth"] }
    );
    // The adjusted and always-ideal rules (KNOWLEDGE §3.2).
    let adjusted =
        Protocol::parse(&SHIPPED_PROTOCOL_TOML.replacen("value = \"ideal_if_obese\"", "value = \"adjusted\"", 1))
            .unwrap();
    check(&adjusted, facts("163", "112", female), ("42.15", "adjusted", "77.86", "38.9", "0.973"));
    let ideal =
        Protocol::parse(&SHIPPED_PROTOCOL_TOML.replacen("value = \"ideal_if_obese\"", "value = \"ideal\"", 1)).unwrap();
    check(&ideal, facts("172", "64", male), ("21.63", "ideal", "67.75", "33.9", "0.847"));
}

#[test]
fn missing_height_or_weight_is_indeterminate() {
    let shipped = Protocol::shipped();
    let result = iv_ketamine_dose(
        IvDoseFacts { height: None, weight: None, sex_at_birth: None },
        IvPrescription::standard(&shipped.dosing),
        &shipped.dosing,
    );
    assert_eq!(result, IvDoseResult::Indeterminate { missing: vec!["patient.height_cm", "patient.weight_kg"] });
}

#[test]
fn short_stature_clamps_the_ideal_weight_with_a_warning() {
    let shipped = Protocol::shipped();
    let IvDoseResult::Computed(dose) = iv_ketamine_dose(
        facts("150", "80", Some(SexAtBirth::Female)),
        IvPrescription::standard(&shipped.dosing),
        &shipped.dosing,
    ) else {
        panic!()
    };
    assert_eq!(dose.basis_kg, decimal("45.5"));
    assert_eq!(dose.warnings.len(), 1);
}

#[test]
fn hard_stops_and_double_entry() {
    let shipped = Protocol::shipped();
    let dose_with = |mg_per_kg: &str, duration_min: &str, entered: Option<&str>| {
        let prescription = IvPrescription {
            mg_per_kg: decimal(mg_per_kg),
            duration_min: decimal(duration_min),
            bag_volume_ml: Decimal::from(100),
            entered_dose_mg: entered.map(decimal),
        };
        match iv_ketamine_dose(facts("165", "70", None), prescription, &shipped.dosing) {
            IvDoseResult::Computed(dose) => (dose.hard_stops.len(), dose.warnings.len()),
            IvDoseResult::Indeterminate { .. } => panic!(),
        }
    };
    assert_eq!(dose_with("1.0", "40", None), (0, 0));
    assert_eq!(dose_with("1.01", "40", None), (1, 0));
    assert_eq!(dose_with("0.5", "39", None), (1, 0));
    assert_eq!(dose_with("0.5", "100", None), (0, 0));
    // 35 mg ± 1 % is accepted; 35.4 mg is not.
    assert_eq!(dose_with("0.5", "40", Some("35.35")), (0, 0));
    assert_eq!(dose_with("0.5", "40", Some("35.4")), (0, 1));
    // An entered dose above 1 mg/kg of the basis is a hard stop whatever the mg/kg says.
    assert_eq!(dose_with("0.5", "40", Some("75")), (1, 1));
}

#[test]
fn pump_arithmetic_matches_knowledge() {
    let shipped = Protocol::shipped();
    let IvDoseResult::Computed(dose) =
        iv_ketamine_dose(facts("165", "70", None), IvPrescription::standard(&shipped.dosing), &shipped.dosing)
    else {
        panic!()
    };
    // KNOWLEDGE §3.3 example: 35 mg, 0.875 mg/min, 0.75 mg/kg/h, 0.35 mg/mL, 150 mL/h.
    assert_eq!(
        (
            dose.dose_mg,
            dose.rate_mg_per_min,
            dose.rate_mg_per_kg_per_h,
            dose.concentration_mg_per_ml,
            dose.pump_rate_ml_per_h
        ),
        (decimal("35"), decimal("0.875"), decimal("0.75"), decimal("0.35"), decimal("150"))
    );
}

#[test]
fn esketamine_start_and_step_rules() {
    let shipped = Protocol::shipped();
    let start = |age: Option<i64>, jurisdiction| {
        esketamine_start_dose(age.map(|years| AgeYears::parse(years).unwrap()), jurisdiction, 65, &shipped.dosing)
    };
    let computed = |day1_mg: u32, warnings: usize| (day1_mg, warnings);
    let summary = |result: EsketamineStartResult| match result {
        EsketamineStartResult::Computed { day1_mg, warnings } => Some((day1_mg, warnings.len())),
        EsketamineStartResult::Indeterminate { .. } => None,
    };
    assert_eq!(summary(start(Some(64), Jurisdiction::Us)), Some(computed(56, 0)));
    assert_eq!(summary(start(Some(65), Jurisdiction::Us)), Some(computed(56, 1)));
    assert_eq!(summary(start(None, Jurisdiction::Us)), Some(computed(56, 0)));
    assert_eq!(summary(start(Some(64), Jurisdiction::Eu)), Some(computed(56, 0)));
    assert_eq!(summary(start(Some(65), Jurisdiction::Eu)), Some(computed(28, 0)));
    assert_eq!(summary(start(None, Jurisdiction::Eu)), None);

    let allowed = |requested: u32, prior: Option<u32>| {
        check_esketamine_dose(requested, prior, &shipped.dosing).map(|dose| dose.devices)
    };
    assert_eq!(allowed(28, None), Ok(1));
    assert_eq!(allowed(56, None), Ok(2));
    assert_eq!(allowed(84, Some(56)), Ok(3));
    assert!(allowed(84, Some(28)).is_err());
    assert!(allowed(84, None).is_err());
    assert!(allowed(70, Some(56)).is_err());
    assert!(allowed(112, Some(84)).is_err());
    assert!(allowed(0, None).is_err());
    assert_eq!(check_esketamine_dose(84, Some(56), &shipped.dosing).unwrap().minutes_of_rest_between_devices, 10);
}
