//! Dosing: IV racemic ketamine by weight (actual, Devine ideal, adjusted) with infusion arithmetic and
//! hard stops, and esketamine's fixed-step dose rules (KNOWLEDGE §3.1–§3.3, §3.5; assess contract 10–12).
//! All arithmetic is exact decimal.

use std::str::FromStr;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::patient::{AgeYears, HeightCm, Jurisdiction, SexAtBirth, WeightKg};

use crate::protocol::{InvalidProtocol, SectionReader, Setting};

/// Which weight the IV dose is computed on (KNOWLEDGE §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightBasisRule {
    /// BMI ≥ threshold → min(ideal, actual); else actual (PROJECT DEFAULT).
    IdealIfObese,
    Actual,
    Ideal,
    Adjusted,
}

impl FromStr for WeightBasisRule {
    type Err = ();
    fn from_str(word: &str) -> Result<Self, ()> {
        match word {
            "ideal_if_obese" => Ok(WeightBasisRule::IdealIfObese),
            "actual" => Ok(WeightBasisRule::Actual),
            "ideal" => Ok(WeightBasisRule::Ideal),
            "adjusted" => Ok(WeightBasisRule::Adjusted),
            _ => Err(()),
        }
    }
}

/// The `[dosing]` section of the site protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct DosingSettings {
    pub iv_mg_per_kg: Setting<Decimal>,
    pub iv_duration_min: Setting<i64>,
    pub iv_weight_basis: Setting<WeightBasisRule>,
    pub iv_obesity_bmi_from: Setting<Decimal>,
    pub iv_adjusted_weight_factor: Setting<Decimal>,
    pub iv_max_mg_per_kg: Setting<Decimal>,
    pub iv_min_duration_min: Setting<i64>,
    pub iv_double_check_tolerance_pct: Setting<Decimal>,
    pub iv_bag_volume_ml: Setting<Decimal>,
    pub esketamine_device_mg: Setting<i64>,
    pub esketamine_day1_mg: Setting<i64>,
    pub esketamine_day1_older_adult_eu_mg: Setting<i64>,
    pub esketamine_max_mg: Setting<i64>,
}

impl DosingSettings {
    pub(crate) fn read(mut section: SectionReader) -> Result<Self, InvalidProtocol> {
        let settings = DosingSettings {
            iv_mg_per_kg: section.take_decimal_in("iv_mg_per_kg", Decimal::new(1, 2), Decimal::from(2))?,
            iv_duration_min: section.take_integer_in("iv_duration_min", 1, 600)?,
            iv_weight_basis: section
                .take_choice("iv_weight_basis", &["ideal_if_obese", "actual", "ideal", "adjusted"])?,
            iv_obesity_bmi_from: section.take_decimal_in(
                "iv_obesity_bmi_from",
                Decimal::from(20),
                Decimal::from(60),
            )?,
            iv_adjusted_weight_factor: section.take_decimal_in(
                "iv_adjusted_weight_factor",
                Decimal::ZERO,
                Decimal::ONE,
            )?,
            iv_max_mg_per_kg: section.take_decimal_in("iv_max_mg_per_kg", Decimal::new(1, 2), Decimal::from(3))?,
            iv_min_duration_min: section.take_integer_in("iv_min_duration_min", 1, 600)?,
            iv_double_check_tolerance_pct: section.take_decimal_in(
                "iv_double_check_tolerance_pct",
                Decimal::ZERO,
                Decimal::from(20),
            )?,
            iv_bag_volume_ml: section.take_decimal_in("iv_bag_volume_ml", Decimal::from(10), Decimal::from(1000))?,
            esketamine_device_mg: section.take_integer_in("esketamine_device_mg", 1, 100)?,
            esketamine_day1_mg: section.take_integer_in("esketamine_day1_mg", 1, 200)?,
            esketamine_day1_older_adult_eu_mg: section.take_integer_in("esketamine_day1_older_adult_eu_mg", 1, 200)?,
            esketamine_max_mg: section.take_integer_in("esketamine_max_mg", 1, 300)?,
        };
        if settings.iv_mg_per_kg.value > settings.iv_max_mg_per_kg.value {
            return Err(InvalidProtocol::new("dosing.iv_mg_per_kg", "must not exceed dosing.iv_max_mg_per_kg"));
        }
        if settings.iv_duration_min.value < settings.iv_min_duration_min.value {
            return Err(InvalidProtocol::new(
                "dosing.iv_duration_min",
                "must not be shorter than dosing.iv_min_duration_min",
            ));
        }
        section.finish()?;
        Ok(settings)
    }
}

/// Rounds half-up (away from zero) to `places` decimals: KNOWLEDGE §3.3 display rounding.
pub fn round_half_up(value: Decimal, places: u32) -> Decimal {
    value.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero)
}

/// The weight the IV dose was computed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightBasis {
    Actual,
    Ideal,
    Adjusted,
}

impl WeightBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            WeightBasis::Actual => "actual",
            WeightBasis::Ideal => "ideal",
            WeightBasis::Adjusted => "adjusted",
        }
    }
}

/// What an IV dose needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IvDoseFacts {
    pub height: Option<HeightCm>,
    pub weight: Option<WeightKg>,
    pub sex_at_birth: Option<SexAtBirth>,
}

/// A prescription to check against the hard stops of KNOWLEDGE §3.3 (the protocol's plan when absent).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IvPrescription {
    pub mg_per_kg: Decimal,
    pub duration_min: Decimal,
    pub bag_volume_ml: Decimal,
    /// A dose the prescriber entered by hand, checked against mg/kg × basis.
    pub entered_dose_mg: Option<Decimal>,
}

impl IvPrescription {
    /// The protocol's standard plan (0.5 mg/kg over 40 min in a 100 mL bag by default).
    pub fn standard(settings: &DosingSettings) -> IvPrescription {
        IvPrescription {
            mg_per_kg: settings.iv_mg_per_kg.value,
            duration_min: Decimal::from(settings.iv_duration_min.value),
            bag_volume_ml: settings.iv_bag_volume_ml.value,
            entered_dose_mg: None,
        }
    }
}

/// An IV dose, unrounded; round only for display with [`round_half_up`] (reading 10).
#[derive(Debug, Clone, PartialEq)]
pub struct IvDose {
    pub bmi: Decimal,
    pub basis: WeightBasis,
    pub basis_kg: Decimal,
    pub ideal_kg: Option<Decimal>,
    pub adjusted_kg: Option<Decimal>,
    pub mg_per_kg: Decimal,
    pub dose_mg: Decimal,
    pub duration_min: Decimal,
    pub rate_mg_per_min: Decimal,
    pub rate_mg_per_kg_per_h: Decimal,
    pub bag_volume_ml: Decimal,
    pub concentration_mg_per_ml: Decimal,
    pub pump_rate_ml_per_h: Decimal,
    /// Reasons the prescription must not be given (KNOWLEDGE §3.3 hard stops).
    pub hard_stops: Vec<String>,
    /// Advisories (short stature, double-entry confirmation needed).
    pub warnings: Vec<String>,
}

/// The outcome of an IV dose computation.
#[derive(Debug, Clone, PartialEq)]
pub enum IvDoseResult {
    Computed(Box<IvDose>),
    Indeterminate { missing: Vec<&'static str> },
}

/// Devine ideal body weight (KNOWLEDGE §3.2), clamped at the base for heights ≤ 60 in; the flag says it clamped.
pub fn devine_ideal_weight_kg(height: HeightCm, sex: SexAtBirth) -> (Decimal, bool) {
    // KNOWLEDGE §3.2: male 50, female 45.5 kg + 2.3 kg per inch over 60 in; inches = cm / 2.54.
    let base_kg = match sex {
        SexAtBirth::Male => Decimal::from(50),
        SexAtBirth::Female => Decimal::new(455, 1),
    };
    let height_in = height.cm() / Decimal::new(254, 2);
    let inches_over_60 = height_in - Decimal::from(60);
    if inches_over_60 <= Decimal::ZERO {
        return (base_kg, true);
    }
    (base_kg + Decimal::new(23, 1) * inches_over_60, false)
}

/// Computes the IV racemic ketamine dose (KNOWLEDGE §3.1–§3.3; assess contract readings 10, 11).
pub fn iv_ketamine_dose(facts: IvDoseFacts, prescription: IvPrescription, settings: &DosingSettings) -> IvDoseResult {
    let mut missing = Vec::new();
    if facts.height.is_none() {
        missing.push("patient.height_cm");
    }
    if facts.weight.is_none() {
        missing.push("patient.weight_kg");
    }
    let (Some(height), Some(weight)) = (facts.height, facts.weight) else {
        return IvDoseResult::Indeterminate { missing };
    };
    let height_m = height.cm() / Decimal::ONE_HUNDRED;
    let bmi = weight.kg() / (height_m * height_m);
    let obese = bmi >= settings.iv_obesity_bmi_from.value;
    let rule = settings.iv_weight_basis.value;
    let needs_sex = match rule {
        WeightBasisRule::Actual => false,
        WeightBasisRule::IdealIfObese => obese,
        WeightBasisRule::Ideal | WeightBasisRule::Adjusted => true,
    };
    let mut warnings = Vec::new();
    let ideal = facts.sex_at_birth.map(|sex| devine_ideal_weight_kg(height, sex));
    if needs_sex && ideal.is_none() {
        return IvDoseResult::Indeterminate { missing: vec!["patient.sex_at_birth"] };
    }
    let ideal_kg = ideal.map(|(kg, _)| kg);
    if let Some((_, true)) = ideal
        && needs_sex
    {
        // KNOWLEDGE §3.2 PROJECT DEFAULT: clamp at the base and warn.
        warnings.push("height 60 in (152.4 cm) or less: ideal body weight clamped at the Devine base; the formula is not validated for short stature".to_owned());
    }
    let adjusted_kg = ideal_kg.map(|ideal| {
        if weight.kg() > ideal {
            ideal + settings.iv_adjusted_weight_factor.value * (weight.kg() - ideal)
        } else {
            weight.kg()
        }
    });
    let (basis, basis_kg) = match rule {
        WeightBasisRule::Actual => (WeightBasis::Actual, weight.kg()),
        WeightBasisRule::IdealIfObese => match ideal_kg {
            // KNOWLEDGE §3.2: BMI ≥30 → min(IBW, actual); reading 11: `actual` when IBW is not below it.
            Some(ideal) if obese && ideal < weight.kg() => (WeightBasis::Ideal, ideal),
            _ => (WeightBasis::Actual, weight.kg()),
        },
        WeightBasisRule::Ideal => (WeightBasis::Ideal, ideal_kg.expect("sex checked above")),
        WeightBasisRule::Adjusted => (WeightBasis::Adjusted, adjusted_kg.expect("sex checked above")),
    };
    let dose_mg = prescription.mg_per_kg * basis_kg;
    let mut hard_stops: Vec<String> = iv_hard_stops(prescription.mg_per_kg, prescription.duration_min, settings)
        .into_iter()
        .map(|stop| stop.problem)
        .collect();
    if let Some(entered) = prescription.entered_dose_mg {
        let tolerance = dose_mg * settings.iv_double_check_tolerance_pct.value / Decimal::ONE_HUNDRED;
        if (entered - dose_mg).abs() > tolerance {
            warnings.push(format!(
                "entered dose {} mg differs from {} mg/kg x {} kg = {} mg by more than {} %: confirm by double entry",
                entered.normalize(),
                prescription.mg_per_kg.normalize(),
                round_half_up(basis_kg, 2),
                round_half_up(dose_mg, 1),
                settings.iv_double_check_tolerance_pct.value.normalize()
            ));
        }
        if entered / basis_kg > settings.iv_max_mg_per_kg.value {
            hard_stops.push(format!(
                "entered dose {} mg is above {} mg/kg of the {} kg basis",
                entered.normalize(),
                settings.iv_max_mg_per_kg.value.normalize(),
                round_half_up(basis_kg, 2)
            ));
        }
    }
    let minutes_per_hour = Decimal::from(60);
    IvDoseResult::Computed(Box::new(IvDose {
        bmi,
        basis,
        basis_kg,
        ideal_kg,
        adjusted_kg,
        mg_per_kg: prescription.mg_per_kg,
        dose_mg,
        duration_min: prescription.duration_min,
        rate_mg_per_min: dose_mg / prescription.duration_min,
        rate_mg_per_kg_per_h: prescription.mg_per_kg * minutes_per_hour / prescription.duration_min,
        bag_volume_ml: prescription.bag_volume_ml,
        concentration_mg_per_ml: dose_mg / prescription.bag_volume_ml,
        pump_rate_ml_per_h: prescription.bag_volume_ml * minutes_per_hour / prescription.duration_min,
        hard_stops,
        warnings,
    }))
}

/// Every rule id a dose hard stop can carry ([`iv_hard_stops`], [`esketamine_hard_stops`]).
pub const DOSE_HARD_STOP_RULE_IDS: &[&str] = &[
    "IV_MAX_MG_PER_KG",
    "IV_MIN_INFUSION_MIN",
    "ESKETAMINE_DEVICE_MULTIPLE",
    "ESKETAMINE_DEVICE_COUNT",
    "ESKETAMINE_MAX_MG",
    "ESKETAMINE_MAX_AFTER_LOWER_DOSE",
];

/// A dose that must not be given: the rule, the field of the dose it concerns, and why. The CLI's
/// `ketacare dose` and the server's orders and administrations go through the same checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoseHardStop {
    pub rule_id: &'static str,
    pub field: &'static str,
    pub problem: String,
}

/// The IV hard stops of KNOWLEDGE §3.3 (PROJECT DEFAULT): more than `iv_max_mg_per_kg` (1.0 mg/kg, the
/// highest studied dose [FAVA-2018-DOSE]) or an infusion shorter than `iv_min_duration_min` (40 min).
pub fn iv_hard_stops(mg_per_kg: Decimal, duration_min: Decimal, settings: &DosingSettings) -> Vec<DoseHardStop> {
    let mut stops = Vec::new();
    if mg_per_kg > settings.iv_max_mg_per_kg.value {
        stops.push(DoseHardStop {
            rule_id: "IV_MAX_MG_PER_KG",
            field: "dose_mg",
            problem: format!(
                "{} mg/kg is above the maximum of {} mg/kg",
                round_half_up(mg_per_kg, 3).normalize(),
                settings.iv_max_mg_per_kg.value.normalize()
            ),
        });
    }
    if duration_min < Decimal::from(settings.iv_min_duration_min.value) {
        stops.push(DoseHardStop {
            rule_id: "IV_MIN_INFUSION_MIN",
            field: "infusion_min",
            problem: format!(
                "an infusion over {} min is shorter than the minimum of {} min",
                round_half_up(duration_min, 1).normalize(),
                settings.iv_min_duration_min.value
            ),
        });
    }
    stops
}

/// The esketamine hard stops of KNOWLEDGE §3.5: whole devices of the protocol's device size, the device
/// count matching the dose, at most the protocol maximum, and the maximum only after a prior lower dose.
pub fn esketamine_hard_stops(
    dose_mg: Decimal,
    device_count: Option<u32>,
    highest_prior_dose_mg: Option<u32>,
    settings: &DosingSettings,
) -> Vec<DoseHardStop> {
    let device_mg = Decimal::from(settings.esketamine_device_mg.value);
    let mut stops = Vec::new();
    let whole_mg = if dose_mg.fract().is_zero() && dose_mg > Decimal::ZERO { dose_mg.to_u32() } else { None };
    match whole_mg {
        None => stops.push(DoseHardStop {
            rule_id: "ESKETAMINE_DEVICE_MULTIPLE",
            field: "dose_mg",
            problem: format!("{} mg is not a whole number of {} mg devices", dose_mg.normalize(), device_mg),
        }),
        Some(mg) => {
            if let Err(problems) = check_esketamine_dose(mg, highest_prior_dose_mg, settings) {
                for problem in problems {
                    let rule_id = match problem {
                        EsketamineDoseProblem::NotADeviceMultiple { .. } => "ESKETAMINE_DEVICE_MULTIPLE",
                        EsketamineDoseProblem::AboveMaximum { .. } => "ESKETAMINE_MAX_MG",
                        EsketamineDoseProblem::MaximumBeforePriorLowerDose { .. } => "ESKETAMINE_MAX_AFTER_LOWER_DOSE",
                    };
                    stops.push(DoseHardStop { rule_id, field: "dose_mg", problem: problem.to_string() });
                }
            }
        }
    }
    if let Some(count) = device_count
        && Decimal::from(count) * device_mg != dose_mg
    {
        stops.push(DoseHardStop {
            rule_id: "ESKETAMINE_DEVICE_COUNT",
            field: "device_count",
            problem: format!(
                "{count} device(s) of {device_mg} mg give {} mg, not {} mg",
                Decimal::from(count) * device_mg,
                dose_mg.normalize()
            ),
        });
    }
    stops
}

/// The esketamine Day 1 dose (KNOWLEDGE §3.5; assess contract reading 12).
#[derive(Debug, Clone, PartialEq)]
pub enum EsketamineStartResult {
    Computed { day1_mg: u32, warnings: Vec<String> },
    Indeterminate { missing: Vec<&'static str> },
}

/// Day 1 esketamine dose: US 56 mg at any age (a warning at ≥65), EU 28 mg at ≥65.
pub fn esketamine_start_dose(
    age: Option<AgeYears>,
    jurisdiction: Jurisdiction,
    older_adult_age_years: i64,
    settings: &DosingSettings,
) -> EsketamineStartResult {
    let day1_mg = settings.esketamine_day1_mg.value as u32;
    let older_day1_mg = settings.esketamine_day1_older_adult_eu_mg.value as u32;
    let is_older = age.map(|age| i64::from(age.years()) >= older_adult_age_years);
    match (jurisdiction, is_older) {
        (Jurisdiction::Us, Some(true)) => EsketamineStartResult::Computed {
            day1_mg,
            warnings: vec![format!(
                "age {older_adult_age_years} or over: consider {older_day1_mg} mg (as studied in TRANSFORM-3)"
            )],
        },
        (Jurisdiction::Us, _) => EsketamineStartResult::Computed { day1_mg, warnings: vec![] },
        (Jurisdiction::Eu, Some(true)) => EsketamineStartResult::Computed { day1_mg: older_day1_mg, warnings: vec![] },
        (Jurisdiction::Eu, Some(false)) => EsketamineStartResult::Computed { day1_mg, warnings: vec![] },
        (Jurisdiction::Eu, None) => {
            EsketamineStartResult::Indeterminate { missing: vec!["patient.birth_date or patient.age_years"] }
        }
    }
}

/// Why a requested esketamine dose cannot be given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EsketamineDoseProblem {
    NotADeviceMultiple { requested_mg: u32, device_mg: u32 },
    AboveMaximum { requested_mg: u32, max_mg: u32 },
    MaximumBeforePriorLowerDose { requested_mg: u32, needed_prior_mg: u32 },
}

impl std::fmt::Display for EsketamineDoseProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EsketamineDoseProblem::NotADeviceMultiple { requested_mg, device_mg } => {
                write!(f, "{requested_mg} mg is not a whole number of {device_mg} mg devices")
            }
            EsketamineDoseProblem::AboveMaximum { requested_mg, max_mg } => {
                write!(f, "{requested_mg} mg is above the maximum of {max_mg} mg")
            }
            EsketamineDoseProblem::MaximumBeforePriorLowerDose { requested_mg, needed_prior_mg } => {
                write!(f, "{requested_mg} mg may only follow a prior dose of {needed_prior_mg} mg")
            }
        }
    }
}

/// A checked esketamine session dose: devices and the 5-minute rests between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsketamineSessionDose {
    pub dose_mg: u32,
    pub devices: u32,
    pub minutes_of_rest_between_devices: u32,
}

/// Checks a requested esketamine dose: 28 mg steps, at most 84 mg, 84 mg only after a prior 56 mg
/// (KNOWLEDGE §3.5 [MIMS-HK], [HCP-SPR]).
pub fn check_esketamine_dose(
    requested_mg: u32,
    highest_prior_dose_mg: Option<u32>,
    settings: &DosingSettings,
) -> Result<EsketamineSessionDose, Vec<EsketamineDoseProblem>> {
    let device_mg = settings.esketamine_device_mg.value as u32;
    let max_mg = settings.esketamine_max_mg.value as u32;
    let mut problems = Vec::new();
    if requested_mg == 0 || !requested_mg.is_multiple_of(device_mg) {
        problems.push(EsketamineDoseProblem::NotADeviceMultiple { requested_mg, device_mg });
    }
    if requested_mg > max_mg {
        problems.push(EsketamineDoseProblem::AboveMaximum { requested_mg, max_mg });
    }
    let needed_prior_mg = max_mg.saturating_sub(device_mg);
    if requested_mg == max_mg && highest_prior_dose_mg.is_none_or(|prior| prior < needed_prior_mg) {
        problems.push(EsketamineDoseProblem::MaximumBeforePriorLowerDose { requested_mg, needed_prior_mg });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let devices = requested_mg / device_mg;
    // KNOWLEDGE §3.5: 5 min rest between devices.
    Ok(EsketamineSessionDose { dose_mg: requested_mg, devices, minutes_of_rest_between_devices: 5 * (devices - 1) })
}
