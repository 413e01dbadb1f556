//! Dosing: IV racemic ketamine by weight (actual, Devine ideal, adjusted) with infusion arithmetic and
//! hard stops, and esketamine's fixed-step dose rules (KNOWLEDGE §3.1–§3.3, §3.5; assess contract 10–12).
//! All arithmetic is exact decimal.

use std::str::FromStr;

use rust_decimal::Decimal;

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
