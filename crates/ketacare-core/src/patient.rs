//! Validated patient facts shared by the rules: modality, jurisdiction, age, sex, height, weight and
//! blood pressure. Each type is built only through a constructor that checks its range.

use jiff::civil::Date;
use rust_decimal::Decimal;

/// A treatment modality ketacare manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Modality {
    IvKetamine,
    Esketamine,
}

impl Modality {
    pub const ALL: [Modality; 2] = [Modality::IvKetamine, Modality::Esketamine];

    pub fn as_str(self) -> &'static str {
        match self {
            Modality::IvKetamine => "iv_ketamine",
            Modality::Esketamine => "esketamine",
        }
    }
}

/// Where the clinic practises: changes the esketamine start dose at ≥65 (KNOWLEDGE §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jurisdiction {
    Us,
    Eu,
}

/// Sex assigned at birth, used only for ideal body weight; never inferred (KNOWLEDGE §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SexAtBirth {
    Female,
    Male,
}

/// A value outside its plausible range; the message names what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be {expected}, got {got}")]
pub struct InvalidMeasurement {
    pub expected: &'static str,
    pub got: String,
}

fn check_range(
    value: Decimal,
    min: Decimal,
    max: Decimal,
    expected: &'static str,
) -> Result<Decimal, InvalidMeasurement> {
    if value < min || value > max {
        return Err(InvalidMeasurement { expected, got: value.normalize().to_string() });
    }
    Ok(value)
}

/// Age in completed years.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AgeYears(u32);

impl AgeYears {
    pub fn parse(years: i64) -> Result<Self, InvalidMeasurement> {
        if !(0..=130).contains(&years) {
            return Err(InvalidMeasurement {
                expected: "a whole number of years from 0 to 130",
                got: years.to_string(),
            });
        }
        Ok(AgeYears(years as u32))
    }

    /// Completed years between `birth_date` and `as_of`; a birth date after `as_of` is invalid.
    pub fn from_birth_date(birth_date: Date, as_of: Date) -> Result<Self, InvalidMeasurement> {
        if birth_date > as_of {
            return Err(InvalidMeasurement { expected: "a date on or before as_of", got: birth_date.to_string() });
        }
        let span = birth_date
            .until((jiff::Unit::Year, as_of))
            .map_err(|_| InvalidMeasurement { expected: "a date on or before as_of", got: birth_date.to_string() })?;
        AgeYears::parse(i64::from(span.get_years()))
    }

    pub fn years(self) -> u32 {
        self.0
    }
}

/// Height in centimetres, 50–250.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HeightCm(Decimal);

impl HeightCm {
    pub fn parse(cm: Decimal) -> Result<Self, InvalidMeasurement> {
        check_range(cm, Decimal::from(50), Decimal::from(250), "a height from 50 to 250 cm").map(HeightCm)
    }

    pub fn cm(self) -> Decimal {
        self.0
    }
}

/// Body weight in kilograms, 20–400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WeightKg(Decimal);

impl WeightKg {
    pub fn parse(kg: Decimal) -> Result<Self, InvalidMeasurement> {
        check_range(kg, Decimal::from(20), Decimal::from(400), "a weight from 20 to 400 kg").map(WeightKg)
    }

    pub fn kg(self) -> Decimal {
        self.0
    }
}

/// One seated blood-pressure reading in mmHg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BloodPressure {
    systolic_mmhg: u32,
    diastolic_mmhg: u32,
}

impl BloodPressure {
    /// Systolic 50–300, diastolic 20–200, and systolic above diastolic.
    pub fn parse(systolic_mmhg: i64, diastolic_mmhg: i64) -> Result<Self, InvalidBloodPressure> {
        if !(50..=300).contains(&systolic_mmhg) {
            return Err(InvalidBloodPressure::Systolic { got: systolic_mmhg });
        }
        if !(20..=200).contains(&diastolic_mmhg) {
            return Err(InvalidBloodPressure::Diastolic { got: diastolic_mmhg });
        }
        if systolic_mmhg <= diastolic_mmhg {
            return Err(InvalidBloodPressure::NotAboveDiastolic { systolic_mmhg, diastolic_mmhg });
        }
        Ok(BloodPressure { systolic_mmhg: systolic_mmhg as u32, diastolic_mmhg: diastolic_mmhg as u32 })
    }

    pub fn systolic_mmhg(self) -> u32 {
        self.systolic_mmhg
    }

    pub fn diastolic_mmhg(self) -> u32 {
        self.diastolic_mmhg
    }
}

/// A blood-pressure reading that cannot be real.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidBloodPressure {
    #[error("systolic must be 50-300 mmHg, got {got}")]
    Systolic { got: i64 },
    #[error("diastolic must be 20-200 mmHg, got {got}")]
    Diastolic { got: i64 },
    #[error("systolic must be above diastolic, got {systolic_mmhg}/{diastolic_mmhg}")]
    NotAboveDiastolic { systolic_mmhg: i64, diastolic_mmhg: i64 },
}
