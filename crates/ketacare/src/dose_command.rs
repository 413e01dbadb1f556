//! `ketacare dose iv …` and `ketacare dose esketamine …`: bedside dose arithmetic with the hard stops
//! of KNOWLEDGE §3.3 and the esketamine step rules of §3.5. Exit 0 when the dose may be given,
//! 2 for bad input (the flag is named), 3 for a hard stop or a dose that breaks a rule.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use ketacare_core::dosing::{
    EsketamineStartResult, IvDoseFacts, IvDoseResult, IvPrescription, check_esketamine_dose, esketamine_start_dose,
    iv_ketamine_dose, round_half_up,
};
use ketacare_core::patient::{AgeYears, HeightCm, Jurisdiction, SexAtBirth, WeightKg};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};

use crate::assess_command::OutputFormat;
use crate::protocol_file::load_protocol;

#[derive(Debug, Args)]
pub struct DoseArgs {
    #[command(subcommand)]
    modality: DoseModality,
    /// Site protocol TOML (default: the shipped protocol).
    #[arg(long, global = true)]
    protocol: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text, global = true)]
    format: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Sex {
    Female,
    Male,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum JurisdictionArg {
    #[value(name = "US")]
    Us,
    #[value(name = "EU")]
    Eu,
}

#[derive(Debug, Subcommand)]
enum DoseModality {
    /// IV racemic ketamine by weight (KNOWLEDGE §3.1-§3.3).
    Iv {
        #[arg(long)]
        weight_kg: Decimal,
        #[arg(long)]
        height_cm: Decimal,
        /// Sex at birth; needed only when ideal or adjusted body weight is used.
        #[arg(long, value_enum)]
        sex: Option<Sex>,
        /// Default: the protocol's dose (0.5 mg/kg).
        #[arg(long)]
        mg_per_kg: Option<Decimal>,
        /// Default: the protocol's duration (40 min).
        #[arg(long)]
        duration_min: Option<Decimal>,
        /// Default: the protocol's bag volume (100 mL).
        #[arg(long)]
        bag_ml: Option<Decimal>,
        /// A dose entered by hand, checked against mg/kg x basis (double-entry rule).
        #[arg(long)]
        entered_dose_mg: Option<Decimal>,
    },
    /// Esketamine nasal spray: the day 1 dose, or a check of a requested dose (KNOWLEDGE §3.5).
    Esketamine {
        /// Check this session dose (28 mg steps; 84 mg only after a prior 56 mg).
        #[arg(long)]
        requested_mg: Option<u32>,
        /// The highest dose the patient has had before.
        #[arg(long)]
        prior_mg: Option<u32>,
        /// Age in years, for the day 1 dose.
        #[arg(long)]
        age: Option<i64>,
        #[arg(long, value_enum, default_value_t = JurisdictionArg::Us)]
        jurisdiction: JurisdictionArg,
    },
}

const EXIT_BAD_INPUT: u8 = 2;
const EXIT_DO_NOT_GIVE: u8 = 3;

fn bad_input(flag: &str, problem: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    eprintln!("error: {flag}: {problem}");
    Ok(ExitCode::from(EXIT_BAD_INPUT))
}

fn number(value: Decimal) -> Value {
    value.to_f64().and_then(serde_json::Number::from_f64).map(Value::Number).unwrap_or(Value::Null)
}

pub fn run(args: DoseArgs) -> anyhow::Result<ExitCode> {
    let protocol = load_protocol(args.protocol.as_deref())?;
    let settings = &protocol.dosing;
    let mut stdout = std::io::stdout().lock();
    match args.modality {
        DoseModality::Iv { weight_kg, height_cm, sex, mg_per_kg, duration_min, bag_ml, entered_dose_mg } => {
            let weight = match WeightKg::parse(weight_kg) {
                Ok(weight) => weight,
                Err(error) => return bad_input("--weight-kg", error),
            };
            let height = match HeightCm::parse(height_cm) {
                Ok(height) => height,
                Err(error) => return bad_input("--height-cm", error),
            };
            let mut prescription = IvPrescription::standard(settings);
            if let Some(mg_per_kg) = mg_per_kg {
                if mg_per_kg <= Decimal::ZERO {
                    return bad_input("--mg-per-kg", format!("must be a positive number, got {mg_per_kg}"));
                }
                prescription.mg_per_kg = mg_per_kg;
            }
            if let Some(duration_min) = duration_min {
                if duration_min <= Decimal::ZERO {
                    return bad_input("--duration-min", format!("must be a positive number, got {duration_min}"));
                }
                prescription.duration_min = duration_min;
            }
            if let Some(bag_ml) = bag_ml {
                if bag_ml <= Decimal::ZERO {
                    return bad_input("--bag-ml", format!("must be a positive number, got {bag_ml}"));
                }
                prescription.bag_volume_ml = bag_ml;
            }
            if let Some(entered) = entered_dose_mg
                && entered <= Decimal::ZERO
            {
                return bad_input("--entered-dose-mg", format!("must be a positive number, got {entered}"));
            }
            prescription.entered_dose_mg = entered_dose_mg;
            let sex_at_birth = sex.map(|sex| match sex {
                Sex::Female => SexAtBirth::Female,
                Sex::Male => SexAtBirth::Male,
            });
            let facts = IvDoseFacts { height: Some(height), weight: Some(weight), sex_at_birth };
            let dose = match iv_ketamine_dose(facts, prescription, settings) {
                IvDoseResult::Computed(dose) => dose,
                IvDoseResult::Indeterminate { missing } => {
                    let flags: Vec<&str> = missing
                        .iter()
                        .map(|field| if *field == "patient.sex_at_birth" { "--sex" } else { field })
                        .collect();
                    return bad_input(
                        &flags.join(", "),
                        "is needed for this patient's weight basis (BMI at or above the obesity threshold)",
                    );
                }
            };
            match args.format {
                OutputFormat::Json => {
                    let report = json!({
                        "status": if dose.hard_stops.is_empty() { "computed" } else { "hard_stop" },
                        "bmi": number(round_half_up(dose.bmi, 2)),
                        "basis": dose.basis.as_str(),
                        "basis_kg": number(round_half_up(dose.basis_kg, 2)),
                        "mg_per_kg": number(dose.mg_per_kg),
                        "dose_mg": number(round_half_up(dose.dose_mg, 1)),
                        "duration_min": number(dose.duration_min),
                        "rate_mg_per_min": number(round_half_up(dose.rate_mg_per_min, 3)),
                        "rate_mg_per_kg_per_h": number(round_half_up(dose.rate_mg_per_kg_per_h, 3)),
                        "concentration_mg_per_ml": number(round_half_up(dose.concentration_mg_per_ml, 3)),
                        "pump_rate_ml_per_h": number(round_half_up(dose.pump_rate_ml_per_h, 1)),
                        "hard_stops": dose.hard_stops,
                        "warnings": dose.warnings,
                        "protocol_sha256": protocol.sha256,
                    });
                    serde_json::to_writer_pretty(&mut stdout, &report)?;
                    writeln!(stdout)?;
                }
                OutputFormat::Text => {
                    writeln!(
                        stdout,
                        "IV ketamine: {:.1} mg over {} min ({} mg/kg x {:.2} kg, {} weight; BMI {:.2})",
                        round_half_up(dose.dose_mg, 1),
                        dose.duration_min.normalize(),
                        dose.mg_per_kg.normalize(),
                        round_half_up(dose.basis_kg, 2),
                        dose.basis.as_str(),
                        round_half_up(dose.bmi, 2)
                    )?;
                    writeln!(
                        stdout,
                        "  rate {:.3} mg/min ({:.3} mg/kg/h); {} mL bag at {:.3} mg/mL, pump {:.1} mL/h",
                        round_half_up(dose.rate_mg_per_min, 3),
                        round_half_up(dose.rate_mg_per_kg_per_h, 3),
                        dose.bag_volume_ml.normalize(),
                        round_half_up(dose.concentration_mg_per_ml, 3),
                        round_half_up(dose.pump_rate_ml_per_h, 1)
                    )?;
                    for stop in &dose.hard_stops {
                        writeln!(stdout, "  HARD STOP: {stop}")?;
                    }
                    for warning in &dose.warnings {
                        writeln!(stdout, "  warning: {warning}")?;
                    }
                    writeln!(stdout, "  source: clinical-reference §3.1-§3.3; protocol sha256 {}", protocol.sha256)?;
                }
            }
            Ok(if dose.hard_stops.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_DO_NOT_GIVE) })
        }
        DoseModality::Esketamine { requested_mg, prior_mg, age, jurisdiction } => {
            let age = match age.map(AgeYears::parse).transpose() {
                Ok(age) => age,
                Err(error) => return bad_input("--age", error),
            };
            let jurisdiction = match jurisdiction {
                JurisdictionArg::Us => Jurisdiction::Us,
                JurisdictionArg::Eu => Jurisdiction::Eu,
            };
            if let Some(requested_mg) = requested_mg {
                let checked = check_esketamine_dose(requested_mg, prior_mg, settings);
                let (ok, lines, value) = match &checked {
                    Ok(dose) => (
                        true,
                        vec![format!(
                            "esketamine {} mg: {} device(s) of {} mg, {} min of rest between devices",
                            dose.dose_mg,
                            dose.devices,
                            settings.esketamine_device_mg.value,
                            dose.minutes_of_rest_between_devices
                        )],
                        json!({ "status": "allowed", "dose_mg": dose.dose_mg, "devices": dose.devices,
                                "minutes_of_rest_between_devices": dose.minutes_of_rest_between_devices }),
                    ),
                    Err(problems) => {
                        let texts: Vec<String> = problems.iter().map(ToString::to_string).collect();
                        (
                            false,
                            texts.iter().map(|text| format!("NOT ALLOWED: {text}")).collect(),
                            json!({ "status": "not_allowed", "problems": texts }),
                        )
                    }
                };
                match args.format {
                    OutputFormat::Json => {
                        serde_json::to_writer_pretty(&mut stdout, &value)?;
                        writeln!(stdout)?;
                    }
                    OutputFormat::Text => {
                        for line in lines {
                            writeln!(stdout, "{line}")?;
                        }
                        writeln!(stdout, "  source: clinical-reference §3.5")?;
                    }
                }
                return Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(EXIT_DO_NOT_GIVE) });
            }
            match esketamine_start_dose(age, jurisdiction, protocol.eligibility.older_adult_age_years.value, settings) {
                EsketamineStartResult::Computed { day1_mg, warnings } => {
                    match args.format {
                        OutputFormat::Json => {
                            serde_json::to_writer_pretty(
                                &mut stdout,
                                &json!({ "status": "computed", "day1_mg": day1_mg, "warnings": warnings }),
                            )?;
                            writeln!(stdout)?;
                        }
                        OutputFormat::Text => {
                            writeln!(stdout, "esketamine day 1: {day1_mg} mg")?;
                            for warning in warnings {
                                writeln!(stdout, "  warning: {warning}")?;
                            }
                            writeln!(stdout, "  source: clinical-reference §3.5")?;
                        }
                    }
                    Ok(ExitCode::SUCCESS)
                }
                EsketamineStartResult::Indeterminate { .. } => bad_input("--age", "is needed for the EU day 1 dose"),
            }
        }
    }
}
