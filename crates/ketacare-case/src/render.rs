//! Rendering an [`AssessmentReport`] as the contract's JSON report, or as text for a person:
//! one line per decision, then the reasons, then the citations.

use std::fmt::Write as _;

use ketacare_core::assess::AssessmentReport;
use ketacare_core::dosing::{EsketamineStartResult, IvDoseResult, round_half_up};
use ketacare_core::eligibility::{Finding, ModalityEligibility};
use ketacare_core::scales::{ScreenedRisk, SuicideItemFlag};
use ketacare_core::staging::MsmResult;
use ketacare_core::trd::{TrdStatus, TrialAssessment};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;
use serde_json::Value;

/// A rounded decimal written as a JSON number (`35` prints as `35.0`).
#[derive(Debug, Clone, Copy)]
struct Number(Decimal);

impl Serialize for Number {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.0.to_f64().unwrap_or(f64::NAN))
    }
}

#[derive(Serialize)]
struct ReportView<'a> {
    rules_version: &'a str,
    protocol_sha256: &'a str,
    patient_id: Option<&'a str>,
    as_of: String,
    scales: Vec<ScaleView>,
    cssrs: Option<CssrsView>,
    trd: TrdView<'a>,
    staging: StagingView<'a>,
    /// Keyed by modality, in the order asked.
    eligibility: BTreeMapInOrder<'a>,
    dose: DoseView<'a>,
}

#[derive(Serialize)]
struct ScaleView {
    scale: &'static str,
    total: Option<u8>,
    severity: Option<&'static str>,
    prorated: bool,
    /// `screen_required`, `clear` or `missing` for PHQ-9 item 9 and QIDS-SR16 item 12.
    suicide_item: Option<&'static str>,
    error: Option<String>,
}

#[derive(Serialize)]
struct CssrsView {
    /// The level, or `indeterminate` when unanswered questions could change it.
    risk: &'static str,
    /// For an indeterminate screen: the level the given answers reach and the highest still possible.
    #[serde(skip_serializing_if = "Option::is_none")]
    at_least: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at_most: Option<&'static str>,
    /// The unanswered questions that could change the level, as case paths (`cssrs.q6_within_3_months`).
    missing: Vec<String>,
    decided_by: Option<&'static str>,
    action: &'static str,
}

#[derive(Serialize)]
struct TrdView<'a> {
    failure_threshold: &'static str,
    label: LabelView<'a>,
    distinct_classes: DistinctView<'a>,
    trials: Vec<TrialView<'a>>,
}

#[derive(Serialize)]
struct LabelView<'a> {
    status: &'static str,
    failed_agents: &'a [&'static str],
    open_agents: &'a [&'static str],
}

#[derive(Serialize)]
struct DistinctView<'a> {
    status: &'static str,
    classes: &'a [&'static str],
    open_classes: &'a [&'static str],
}

#[derive(Serialize)]
struct TrialView<'a> {
    drug: &'a str,
    ingredient: Option<&'static str>,
    class: Option<&'static str>,
    adequate: Option<bool>,
    failed: Option<bool>,
    reasons: Vec<&'static str>,
    missing: &'a [&'static str],
}

#[derive(Serialize)]
struct StagingView<'a> {
    msm: MsmView<'a>,
    thase_rush: ThaseRushView,
    mgh_s: MghView,
}

#[derive(Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum MsmView<'a> {
    Scored { score: u32, band: &'static str, points: PointsView, severity_from_madrs: bool },
    NotApplicable,
    Indeterminate { missing: &'a [String] },
}

#[derive(Serialize)]
struct PointsView {
    duration: u32,
    severity: u32,
    failures: u32,
    augmentation: u32,
    ect: u32,
}

#[derive(Serialize)]
struct ThaseRushView {
    stage: u32,
    provisional: bool,
}

#[derive(Serialize)]
struct MghView {
    score: Number,
    provisional: bool,
}

/// The eligibility object: one key per modality asked for, in [`ketacare_core::patient::Modality::ALL`] order.
struct BTreeMapInOrder<'a>(&'a [ModalityEligibility]);

impl Serialize for BTreeMapInOrder<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for entry in self.0 {
            map.serialize_entry(
                entry.modality.as_str(),
                &EligibilityView {
                    status: entry.status.as_str(),
                    findings: entry.findings.iter().map(FindingView::of).collect(),
                    missing: &entry.missing,
                },
            )?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct EligibilityView<'a> {
    status: &'static str,
    findings: Vec<FindingView<'a>>,
    missing: &'a [String],
}

#[derive(Serialize)]
struct FindingView<'a> {
    rule: &'static str,
    class: &'static str,
    summary: &'a str,
    source: &'static str,
    overridden_by: Option<OverrideView<'a>>,
}

impl<'a> FindingView<'a> {
    fn of(finding: &'a Finding) -> Self {
        FindingView {
            rule: finding.rule,
            class: finding.class.as_str(),
            summary: &finding.summary,
            source: finding.source,
            overridden_by: finding.overridden_by.as_ref().map(|by| OverrideView { by: &by.by, reason: &by.reason }),
        }
    }
}

#[derive(Serialize)]
struct OverrideView<'a> {
    by: &'a str,
    reason: &'a str,
}

#[derive(Serialize)]
struct DoseView<'a> {
    iv_ketamine: IvDoseView<'a>,
    esketamine: EsketamineDoseView<'a>,
}

#[derive(Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum IvDoseView<'a> {
    NotApplicable,
    Indeterminate { missing: &'a [&'static str] },
    Computed(Box<IvComputedView<'a>>),
    HardStop(Box<IvComputedView<'a>>),
}

#[derive(Serialize)]
struct IvComputedView<'a> {
    bmi: Number,
    basis: &'static str,
    basis_kg: Number,
    mg_per_kg: Number,
    dose_mg: Number,
    duration_min: Number,
    rate_mg_per_min: Number,
    rate_mg_per_kg_per_h: Number,
    bag_volume_ml: Number,
    concentration_mg_per_ml: Number,
    pump_rate_ml_per_h: Number,
    ideal_kg: Option<Number>,
    adjusted_kg: Option<Number>,
    hard_stops: &'a [String],
    warnings: &'a [String],
}

#[derive(Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum EsketamineDoseView<'a> {
    NotApplicable,
    Indeterminate { missing: &'a [&'static str] },
    Computed { day1_mg: u32, warnings: &'a [String] },
}

fn iv_dose_view(dose: Option<&IvDoseResult>) -> IvDoseView<'_> {
    match dose {
        None => IvDoseView::NotApplicable,
        Some(IvDoseResult::Indeterminate { missing }) => IvDoseView::Indeterminate { missing },
        Some(IvDoseResult::Computed(dose)) => {
            // Assess contract: BMI to 2 decimals for display only (thresholds used the unrounded value),
            // basis to 2, dose to 1 (half-up), rate to 3.
            let view = Box::new(IvComputedView {
                bmi: Number(round_half_up(dose.bmi, 2)),
                basis: dose.basis.as_str(),
                basis_kg: Number(round_half_up(dose.basis_kg, 2)),
                mg_per_kg: Number(dose.mg_per_kg),
                dose_mg: Number(round_half_up(dose.dose_mg, 1)),
                duration_min: Number(dose.duration_min),
                rate_mg_per_min: Number(round_half_up(dose.rate_mg_per_min, 3)),
                rate_mg_per_kg_per_h: Number(round_half_up(dose.rate_mg_per_kg_per_h, 3)),
                bag_volume_ml: Number(dose.bag_volume_ml),
                concentration_mg_per_ml: Number(round_half_up(dose.concentration_mg_per_ml, 3)),
                pump_rate_ml_per_h: Number(round_half_up(dose.pump_rate_ml_per_h, 1)),
                ideal_kg: dose.ideal_kg.map(|kg| Number(round_half_up(kg, 2))),
                adjusted_kg: dose.adjusted_kg.map(|kg| Number(round_half_up(kg, 2))),
                hard_stops: &dose.hard_stops,
                warnings: &dose.warnings,
            });
            if dose.hard_stops.is_empty() { IvDoseView::Computed(view) } else { IvDoseView::HardStop(view) }
        }
    }
}

fn report_view(report: &AssessmentReport) -> ReportView<'_> {
    let trd = &report.trd;
    ReportView {
        rules_version: report.rules_version,
        protocol_sha256: &report.protocol_sha256,
        patient_id: report.patient_id.as_deref(),
        as_of: report.as_of.to_string(),
        scales: report
            .scales
            .iter()
            .map(|result| ScaleView {
                scale: result.scale.name(),
                total: result.total,
                severity: result.severity.map(|severity| severity.as_str()),
                prorated: result.prorated,
                suicide_item: result.suicide_item.map(|flag| match flag {
                    SuicideItemFlag::ScreenRequired { .. } => "screen_required",
                    SuicideItemFlag::Clear { .. } => "clear",
                    SuicideItemFlag::Missing => "missing",
                }),
                error: result.error.as_ref().map(ToString::to_string),
            })
            .collect(),
        cssrs: report.cssrs.as_ref().map(|screen| {
            let (at_least, at_most) = match &screen.risk {
                ScreenedRisk::Level(_) => (None, None),
                ScreenedRisk::Indeterminate { at_least, at_most, .. } => {
                    (Some(at_least.as_str()), Some(at_most.as_str()))
                }
            };
            CssrsView {
                risk: screen.risk.as_str(),
                at_least,
                at_most,
                missing: screen.risk.missing().iter().map(|question| format!("cssrs.{question}")).collect(),
                decided_by: screen.decided_by,
                action: screen.risk.action(),
            }
        }),
        trd: TrdView {
            failure_threshold: trd.failure_threshold.as_str(),
            label: LabelView {
                status: trd.label.status.as_str(),
                failed_agents: &trd.label.failed_agents,
                open_agents: &trd.label.open_agents,
            },
            distinct_classes: DistinctView {
                status: trd.distinct_classes.status.as_str(),
                classes: &trd.distinct_classes.classes,
                open_classes: &trd.distinct_classes.open_classes,
            },
            trials: trd.trials.iter().map(trial_view).collect(),
        },
        staging: StagingView {
            msm: match &report.staging.msm {
                MsmResult::Scored { score, band, points, severity_from_madrs } => MsmView::Scored {
                    score: *score,
                    band: band.as_str(),
                    points: PointsView {
                        duration: points.duration,
                        severity: points.severity,
                        failures: points.failures,
                        augmentation: points.augmentation,
                        ect: points.ect,
                    },
                    severity_from_madrs: *severity_from_madrs,
                },
                MsmResult::NotApplicable => MsmView::NotApplicable,
                MsmResult::Indeterminate { missing } => MsmView::Indeterminate { missing },
            },
            thase_rush: ThaseRushView {
                stage: report.staging.thase_rush.stage,
                provisional: report.staging.thase_rush.provisional,
            },
            mgh_s: MghView {
                score: Number(report.staging.mgh_s.score.round_dp(1)),
                provisional: report.staging.mgh_s.provisional,
            },
        },
        eligibility: BTreeMapInOrder(&report.eligibility),
        dose: DoseView {
            iv_ketamine: iv_dose_view(report.iv_dose.as_ref()),
            esketamine: match report.esketamine_dose.as_ref() {
                None => EsketamineDoseView::NotApplicable,
                Some(EsketamineStartResult::Indeterminate { missing }) => EsketamineDoseView::Indeterminate { missing },
                Some(EsketamineStartResult::Computed { day1_mg, warnings }) => {
                    EsketamineDoseView::Computed { day1_mg: *day1_mg, warnings }
                }
            },
        },
    }
}

fn trial_view(trial: &TrialAssessment) -> TrialView<'_> {
    TrialView {
        drug: &trial.drug_as_written,
        ingredient: trial.ingredient(),
        class: trial.class().map(|class| class.label()),
        adequate: trial.adequate,
        failed: trial.failed,
        reasons: trial.reasons.iter().map(|reason| reason.code()).collect(),
        missing: &trial.missing,
    }
}

/// Writes the contract's JSON report (compact) to `writer`: the fast path for batch output.
pub fn write_report_json(report: &AssessmentReport, writer: impl std::io::Write) -> serde_json::Result<()> {
    serde_json::to_writer(writer, &report_view(report))
}

/// Writes the contract's JSON report, indented for reading.
pub fn write_report_json_pretty(report: &AssessmentReport, writer: impl std::io::Write) -> serde_json::Result<()> {
    serde_json::to_writer_pretty(writer, &report_view(report))
}

/// The contract's JSON report as a value (for tests and callers that edit it further).
pub fn report_json(report: &AssessmentReport) -> Value {
    serde_json::to_value(report_view(report)).expect("the report view always serializes")
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
    citations.push("TRD: clinical-reference §1.1-§1.3, §1.6");
    let msm = match &report.staging.msm {
        MsmResult::Scored { score, band, .. } => format!("{score} ({})", band.as_str()),
        MsmResult::NotApplicable => "not applicable (no antidepressant failure)".to_owned(),
        MsmResult::Indeterminate { missing } => format!("indeterminate (missing: {})", missing.join("; ")),
    };
    for scale in &report.scales {
        let reading = match (scale.total, scale.severity, &scale.error) {
            (_, _, Some(error)) => format!("cannot be scored ({error})"),
            (Some(total), Some(severity), None) => format!("{total} ({})", severity.label()),
            (Some(total), None, None) => total.to_string(),
            (None, _, None) => "no total (too many missing items)".to_owned(),
        };
        let prorated = if scale.prorated { ", one missing item prorated" } else { "" };
        let _ = writeln!(out, "  {:<24} {reading}{prorated}", format!("{}:", scale.scale.title()));
    }
    if let Some(screen) = &report.cssrs {
        let reading = match &screen.risk {
            ScreenedRisk::Level(level) => format!("{} risk", level.as_str()),
            ScreenedRisk::Indeterminate { at_least, at_most, missing } => format!(
                "indeterminate risk ({} to {}; unanswered: {})",
                at_least.as_str(),
                at_most.as_str(),
                missing.join(", ")
            ),
        };
        let _ = writeln!(out, "  C-SSRS screener:         {reading}: {}", screen.risk.action());
        citations.push("Scales: clinical-reference §5.1-§5.5, C-SSRS §5.9");
    } else if !report.scales.is_empty() {
        citations.push("Scales: clinical-reference §5.1-§5.5");
    }
    let _ = writeln!(out, "  Maudsley staging (MSM):  {msm}");
    let _ = writeln!(out, "  Thase-Rush stage:        {}", report.staging.thase_rush.stage);
    let _ = writeln!(out, "  MGH-s score:             {:.1}", report.staging.mgh_s.score.round_dp(1));
    citations.push("Staging: clinical-reference §1.5.1 (MSM), §1.5.2 (Thase-Rush), §1.5.4 (MGH-s)");
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
                "  IV ketamine dose: {:.1} mg ({} mg/kg x {:.2} kg {} weight, BMI {:.2}) over {} min = {:.3} mg/min; pump {:.1} mL/h for a {} mL bag",
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
            citations.push("IV dose: clinical-reference §3.1-§3.3");
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
            citations.push("Esketamine dose: clinical-reference §3.5");
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
