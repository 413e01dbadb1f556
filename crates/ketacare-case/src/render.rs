//! Rendering an [`AssessmentReport`] as the contract's JSON report, or as text for a person:
//! one line per decision, then the reasons, then the citations.

use std::fmt::Write as _;

use ketacare_core::assess::AssessmentReport;
use ketacare_core::dosing::{EsketamineStartResult, IvDoseResult, round_half_up};
use ketacare_core::eligibility::{Finding, ModalityEligibility};
use ketacare_core::staging::MsmResult;
use ketacare_core::trd::{TrdStatus, TrialAssessment};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};

/// A decimal as a JSON number (rounded values only; `35` prints as `35.0`).
fn number(value: Decimal) -> Value {
    value.to_f64().and_then(serde_json::Number::from_f64).map(Value::Number).unwrap_or(Value::Null)
}

fn optional_bool(value: Option<bool>) -> Value {
    value.map(Value::Bool).unwrap_or(Value::Null)
}

fn trial_json(trial: &TrialAssessment) -> Value {
    json!({
        "drug": trial.drug_as_written,
        "ingredient": trial.ingredient(),
        "class": trial.class().map(|class| class.label()),
        "adequate": optional_bool(trial.adequate),
        "failed": optional_bool(trial.failed),
        "reasons": trial.reasons.iter().map(|reason| reason.code()).collect::<Vec<_>>(),
        "missing": trial.missing,
    })
}

fn finding_json(finding: &Finding) -> Value {
    json!({
        "rule": finding.rule,
        "class": finding.class.as_str(),
        "summary": finding.summary,
        "source": finding.source,
        "overridden_by": finding.overridden_by.as_ref().map(|by| json!({ "by": by.by, "reason": by.reason })),
    })
}

fn eligibility_json(eligibility: &ModalityEligibility) -> Value {
    json!({
        "status": eligibility.status.as_str(),
        "findings": eligibility.findings.iter().map(finding_json).collect::<Vec<_>>(),
        "missing": eligibility.missing,
    })
}

fn not_applicable() -> Value {
    json!({ "status": "not_applicable" })
}

fn iv_dose_json(dose: Option<&IvDoseResult>) -> Value {
    match dose {
        None => not_applicable(),
        Some(IvDoseResult::Indeterminate { missing }) => json!({ "status": "indeterminate", "missing": missing }),
        Some(IvDoseResult::Computed(dose)) => json!({
            "status": if dose.hard_stops.is_empty() { "computed" } else { "hard_stop" },
            // Assess contract: BMI to 2 decimals for display only; thresholds used the unrounded value.
            "bmi": number(round_half_up(dose.bmi, 2)),
            "basis": dose.basis.as_str(),
            "basis_kg": number(round_half_up(dose.basis_kg, 2)),
            "mg_per_kg": number(dose.mg_per_kg),
            "dose_mg": number(round_half_up(dose.dose_mg, 1)),
            "duration_min": number(dose.duration_min),
            "rate_mg_per_min": number(round_half_up(dose.rate_mg_per_min, 3)),
            "rate_mg_per_kg_per_h": number(round_half_up(dose.rate_mg_per_kg_per_h, 3)),
            "bag_volume_ml": number(dose.bag_volume_ml),
            "concentration_mg_per_ml": number(round_half_up(dose.concentration_mg_per_ml, 3)),
            "pump_rate_ml_per_h": number(round_half_up(dose.pump_rate_ml_per_h, 1)),
            "ideal_kg": dose.ideal_kg.map(|kg| number(round_half_up(kg, 2))),
            "adjusted_kg": dose.adjusted_kg.map(|kg| number(round_half_up(kg, 2))),
            "hard_stops": dose.hard_stops,
            "warnings": dose.warnings,
        }),
    }
}

fn esketamine_dose_json(dose: Option<&EsketamineStartResult>) -> Value {
    match dose {
        None => not_applicable(),
        Some(EsketamineStartResult::Indeterminate { missing }) => {
            json!({ "status": "indeterminate", "missing": missing })
        }
        Some(EsketamineStartResult::Computed { day1_mg, warnings }) => {
            json!({ "status": "computed", "day1_mg": day1_mg, "warnings": warnings })
        }
    }
}

fn msm_json(msm: &MsmResult) -> Value {
    match msm {
        MsmResult::Scored { score, band, points, severity_from_madrs } => json!({
            "status": "scored",
            "score": score,
            "band": band.as_str(),
            "points": {
                "duration": points.duration,
                "severity": points.severity,
                "failures": points.failures,
                "augmentation": points.augmentation,
                "ect": points.ect,
            },
            "severity_from_madrs": severity_from_madrs,
        }),
        MsmResult::NotApplicable => json!({ "status": "not_applicable" }),
        MsmResult::Indeterminate { missing } => json!({ "status": "indeterminate", "missing": missing }),
    }
}

/// The contract's JSON report.
pub fn report_json(report: &AssessmentReport) -> Value {
    let mut eligibility = serde_json::Map::new();
    for entry in &report.eligibility {
        eligibility.insert(entry.modality.as_str().to_owned(), eligibility_json(entry));
    }
    json!({
        "rules_version": report.rules_version,
        "protocol_sha256": report.protocol_sha256,
        "patient_id": report.patient_id,
        "as_of": report.as_of.to_string(),
        "trd": {
            "failure_threshold": report.trd.failure_threshold.as_str(),
            "label": {
                "status": report.trd.label.status.as_str(),
                "failed_agents": report.trd.label.failed_agents,
                "open_agents": report.trd.label.open_agents,
            },
            "distinct_classes": {
                "status": report.trd.distinct_classes.status.as_str(),
                "classes": report.trd.distinct_classes.classes,
                "open_classes": report.trd.distinct_classes.open_classes,
            },
            "trials": report.trd.trials.iter().map(trial_json).collect::<Vec<_>>(),
        },
        "staging": {
            "msm": msm_json(&report.staging.msm),
            "thase_rush": { "stage": report.staging.thase_rush.stage, "provisional": report.staging.thase_rush.provisional },
            "mgh_s": { "score": number(report.staging.mgh_s.score.round_dp(1)), "provisional": report.staging.mgh_s.provisional },
        },
        "eligibility": eligibility,
        "dose": {
            "iv_ketamine": iv_dose_json(report.iv_dose.as_ref()),
            "esketamine": esketamine_dose_json(report.esketamine_dose.as_ref()),
        },
    })
}

fn status_word(status: TrdStatus) -> &'static str {
    match status {
        TrdStatus::Met => "MET",
        TrdStatus::NotMet => "NOT MET",
        TrdStatus::Indeterminate => "INDETERMINATE",
    }
}

/// The report for a person: decisions first, then reasons, then citations.
pub fn report_text(report: &AssessmentReport) -> String {
    let mut out = String::new();
    let mut citations: Vec<&str> = Vec::new();
    let patient = report.patient_id.as_deref().unwrap_or("(no id)");
    let _ = writeln!(out, "ketacare assessment of patient {patient} as of {}", report.as_of);
    let _ = writeln!(out);
    let _ = writeln!(out, "Decisions");
    let trd = &report.trd;
    let _ = writeln!(
        out,
        "  TRD, label definition (>=2 failed agents):     {} ({})",
        status_word(trd.label.status),
        if trd.label.failed_agents.is_empty() { "none failed".to_owned() } else { trd.label.failed_agents.join(", ") }
    );
    let _ = writeln!(
        out,
        "  TRD, distinct classes (failures in >=2 classes): {} ({})",
        status_word(trd.distinct_classes.status),
        if trd.distinct_classes.classes.is_empty() {
            "none failed".to_owned()
        } else {
            trd.distinct_classes.classes.join(", ")
        }
    );
    citations.push("TRD: KNOWLEDGE §1.1-§1.3, §1.6");
    let msm = match &report.staging.msm {
        MsmResult::Scored { score, band, .. } => format!("{score} ({})", band.as_str()),
        MsmResult::NotApplicable => "not applicable (no antidepressant failure)".to_owned(),
        MsmResult::Indeterminate { missing } => format!("indeterminate (missing: {})", missing.join("; ")),
    };
    let _ = writeln!(out, "  Maudsley staging (MSM):  {msm}");
    let _ = writeln!(out, "  Thase-Rush stage:        {}", report.staging.thase_rush.stage);
    let _ = writeln!(out, "  MGH-s score:             {}", report.staging.mgh_s.score.round_dp(1));
    citations.push("Staging: KNOWLEDGE §1.5.1 (MSM), §1.5.2 (Thase-Rush), §1.5.4 (MGH-s)");
    for eligibility in &report.eligibility {
        let _ = writeln!(
            out,
            "  Eligibility, {}: {}",
            eligibility.modality.as_str(),
            eligibility.status.as_str().to_uppercase()
        );
    }
    match &report.iv_dose {
        Some(IvDoseResult::Computed(dose)) => {
            let _ = writeln!(
                out,
                "  IV ketamine dose: {} mg ({} mg/kg x {} kg {} weight, BMI {}) over {} min = {} mg/min; pump {} mL/h for a {} mL bag",
                round_half_up(dose.dose_mg, 1),
                dose.mg_per_kg.normalize(),
                round_half_up(dose.basis_kg, 2),
                dose.basis.as_str(),
                round_half_up(dose.bmi, 2),
                dose.duration_min.normalize(),
                round_half_up(dose.rate_mg_per_min, 3),
                round_half_up(dose.pump_rate_ml_per_h, 1),
                dose.bag_volume_ml.normalize()
            );
            for stop in &dose.hard_stops {
                let _ = writeln!(out, "    HARD STOP: {stop}");
            }
            for warning in &dose.warnings {
                let _ = writeln!(out, "    warning: {warning}");
            }
            citations.push("IV dose: KNOWLEDGE §3.1-§3.3");
        }
        Some(IvDoseResult::Indeterminate { missing }) => {
            let _ = writeln!(out, "  IV ketamine dose: indeterminate (missing: {})", missing.join(", "));
        }
        None => {}
    }
    match &report.esketamine_dose {
        Some(EsketamineStartResult::Computed { day1_mg, warnings }) => {
            let _ = writeln!(out, "  Esketamine day 1: {day1_mg} mg");
            for warning in warnings {
                let _ = writeln!(out, "    warning: {warning}");
            }
            citations.push("Esketamine dose: KNOWLEDGE §3.5");
        }
        Some(EsketamineStartResult::Indeterminate { missing }) => {
            let _ = writeln!(out, "  Esketamine day 1: indeterminate (missing: {})", missing.join(", "));
        }
        None => {}
    }

    let _ = writeln!(out);
    let _ = writeln!(out, "Reasons");
    for trial in &trd.trials {
        let adequate = match trial.adequate {
            Some(true) => "adequate",
            Some(false) => "not adequate",
            None => "adequacy open",
        };
        let failed = match trial.failed {
            Some(true) => "failed",
            Some(false) => "not a failure",
            None => "failure open",
        };
        let reasons: Vec<&str> = trial.reasons.iter().map(|reason| reason.code()).collect();
        let _ = writeln!(
            out,
            "  trial {} -> {} [{}]: {adequate}, {failed}{}",
            trial.drug_as_written,
            trial.ingredient().unwrap_or("unknown drug"),
            trial.class().map(|class| class.label()).unwrap_or("-"),
            if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join(", ")) }
        );
    }
    for eligibility in &report.eligibility {
        for finding in &eligibility.findings {
            let overridden = match &finding.overridden_by {
                Some(by) => format!(" - overridden by {}: {}", by.by, by.reason),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "  {} {} ({}): {}{overridden}",
                eligibility.modality.as_str(),
                finding.rule,
                finding.class.as_str(),
                finding.summary
            );
            if !citations.contains(&finding.source) {
                citations.push(finding.source);
            }
        }
        if !eligibility.missing.is_empty() {
            let _ = writeln!(out, "  {} missing: {}", eligibility.modality.as_str(), eligibility.missing.join("; "));
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Citations");
    for citation in citations {
        let _ = writeln!(out, "  {citation}");
    }
    let _ = writeln!(out, "  rules {}, protocol sha256 {}", report.rules_version, report.protocol_sha256);
    out
}
