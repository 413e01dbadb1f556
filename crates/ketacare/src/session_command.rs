//! `ketacare session check SESSION.json [--format json|text]`: the pre-dose gate, the alert sequence,
//! discharge readiness and REMS form completeness of one session. This file owns the session file format
//! (see docs/sessions.md) and the output; the decisions are the core's.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use ketacare_core::protocol::Protocol;
use ketacare_core::session::alerts::{Alert, AlertChanges, replay};
use ketacare_core::session::discharge::{
    AldreteScore, CriterionStatus, DischargeFacts, DischargeReadiness, PadssScore, assess_discharge,
};
use ketacare_core::session::gate::{CssrsRisk, Gate, GateStatus, PreDoseFacts, PregnancyTest, check_gate};
use ketacare_core::session::observation::*;
use ketacare_core::session::rems::{RemsContext, RemsForm, RemsFormEdition, RemsFormOutcome, assemble_rems_form};
use ketacare_core::session::{CareSetting, DoseMg, DoseRecord, Modality, Session};
use serde_json::{Value, json};

use crate::input::{BadInput, Object, at, objects, parse_document, time_zone};

/// Exit status for a session file that cannot be used (the status clap uses for bad arguments).
const EXIT_BAD_INPUT: u8 = 2;

#[derive(Debug, Args)]
pub struct SessionArgs {
    #[command(subcommand)]
    pub action: SessionAction,
}

#[derive(Debug, Subcommand)]
pub enum SessionAction {
    /// Check a session file: gate, alerts, discharge readiness and the REMS form
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The session file (JSON; see docs/sessions.md)
    pub file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// A site protocol file (default: the protocol shipped with this build).
    #[arg(long, value_name = "FILE")]
    pub protocol: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

pub fn run(args: SessionArgs) -> anyhow::Result<ExitCode> {
    let SessionAction::Check(args) = args.action;
    let protocol = crate::protocol_file::load_protocol(args.protocol.as_deref())?;
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let input = match read_session(&text) {
        Ok(input) => input,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    let now = input.now.unwrap_or_else(Timestamp::now);
    let report = check(&input, &protocol, now);
    match args.format {
        OutputFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&render_json(&input, &report, &protocol, now))?)
        }
        OutputFormat::Text => print!("{}", render_text(&input, &report, now)),
    }
    Ok(ExitCode::SUCCESS)
}

/// Everything read from a session file.
#[derive(Debug)]
pub struct SessionInput {
    pub session: Session,
    pub pre_dose: PreDoseFacts,
    pub discharge: DischargeFacts,
    pub rems: RemsContext,
    pub rems_edition: RemsFormEdition,
    pub now: Option<Timestamp>,
}

struct Report {
    gate: Gate,
    alerts: Vec<AlertChanges>,
    discharge: DischargeReadiness,
    rems: RemsFormOutcome,
}

fn check(input: &SessionInput, protocol: &Protocol, now: Timestamp) -> Report {
    let session = &input.session;
    let until_now = Timeline::new(session.timeline().until(now).to_vec()).expect("a prefix of a valid timeline");
    Report {
        gate: check_gate(session, &input.pre_dose, protocol),
        alerts: replay(&until_now, &protocol.alerts),
        discharge: assess_discharge(session, &input.discharge, protocol, now),
        rems: assemble_rems_form(session, &input.rems, input.rems_edition, protocol, now),
    }
}

fn bounded<T>(
    object: &mut Object,
    key: &str,
    new: fn(i64) -> Result<T, InvalidObservation>,
) -> Result<Option<T>, BadInput> {
    let path = object.path(key);
    object.integer(key)?.map(|value| at(&path, new(value))).transpose()
}

fn words<T>(
    object: &mut Object,
    key: &str,
    parse: fn(&str) -> Option<T>,
    accepted: &[&str],
) -> Result<Option<Vec<T>>, BadInput> {
    let path = object.path(key);
    let Some(value) = object.take(key) else { return Ok(None) };
    let Value::Array(items) = value else { return Err(BadInput::new(&path, "must be an array of words")) };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            item.as_str().and_then(parse).ok_or_else(|| {
                BadInput::new(
                    &format!("{path}[{index}]"),
                    format!("must be one of {}, got {item}", accepted.join(", ")),
                )
            })
        })
        .collect::<Result<Vec<T>, BadInput>>()
        .map(Some)
}

fn read_observation(mut object: Object, zone: &TimeZone) -> Result<TimedObservation, BadInput> {
    let taken_at = object.instant("at", zone)?.ok_or_else(|| BadInput::new(&object.path("at"), "is required"))?;
    let systolic = bounded(&mut object, "systolic_mmhg", SystolicMmhg::new)?;
    let diastolic = bounded(&mut object, "diastolic_mmhg", DiastolicMmhg::new)?;
    let blood_pressure = match (systolic, diastolic) {
        (Some(systolic), Some(diastolic)) => {
            Some(at(&object.path("systolic_mmhg"), BloodPressure::new(systolic, diastolic))?)
        }
        (None, None) => None,
        (Some(_), None) => return Err(BadInput::new(&object.path("diastolic_mmhg"), "is required with systolic_mmhg")),
        (None, Some(_)) => return Err(BadInput::new(&object.path("systolic_mmhg"), "is required with diastolic_mmhg")),
    };
    let adverse_names: Vec<&str> = AdverseEvent::ALL.iter().map(|event| event.as_str()).collect();
    let crisis_names: Vec<&str> = CrisisSymptom::ALL.iter().map(|symptom| symptom.as_str()).collect();
    let observation = Observation {
        blood_pressure,
        heart_rate: bounded(&mut object, "heart_rate_bpm", HeartRateBpm::new)?,
        spo2: bounded(&mut object, "spo2_percent", Spo2Percent::new)?,
        respiratory_rate: bounded(&mut object, "respiratory_rate_per_min", RespiratoryRatePerMin::new)?,
        moaas: bounded(&mut object, "moaas", Moaas::new)?,
        cadss_total: bounded(&mut object, "cadss_total", CadssTotal::new)?,
        bprs_positive_total: bounded(&mut object, "bprs_positive_total", BprsPositiveTotal::new)?,
        adverse_events: words(&mut object, "adverse_events", AdverseEvent::parse, &adverse_names)?.unwrap_or_default(),
        crisis_symptoms: words(&mut object, "crisis_symptoms", CrisisSymptom::parse, &crisis_names)?,
        phq9_item9: bounded(&mut object, "phq9_item9", Phq9Item9::new)?,
        cssrs_active_ideation: object.boolean("cssrs_active_ideation")?,
    };
    object.finish()?;
    Ok(TimedObservation { at: taken_at, observation })
}

fn read_dose(mut object: Object, zone: &TimeZone) -> Result<DoseRecord, BadInput> {
    let dose_mg = |object: &mut Object, key: &'static str| -> Result<Option<DoseMg>, BadInput> {
        let path = object.path(key);
        object.decimal(key)?.map(|value| at(&path, DoseMg::new(key, value))).transpose()
    };
    let planned_mg =
        dose_mg(&mut object, "planned_mg")?.ok_or_else(|| BadInput::new(&object.path("planned_mg"), "is required"))?;
    let planned_at =
        object.instant("planned_at", zone)?.ok_or_else(|| BadInput::new(&object.path("planned_at"), "is required"))?;
    let dose = DoseRecord {
        planned_mg,
        planned_at,
        given_mg: dose_mg(&mut object, "given_mg")?,
        lot_number: object.string("lot_number")?,
        started_at: object.instant("started_at", zone)?,
        ended_at: object.instant("ended_at", zone)?,
    };
    object.finish()?;
    Ok(dose)
}

fn read_pre_dose(object: Option<Object>, zone: &TimeZone) -> Result<PreDoseFacts, BadInput> {
    let Some(mut object) = object else { return Ok(PreDoseFacts::default()) };
    let facts = PreDoseFacts {
        phq9_item9: bounded(&mut object, "phq9_item9", Phq9Item9::new)?,
        qids_item12: bounded(&mut object, "qids_item12", QidsItem12::new)?,
        cssrs_risk: object.choice(
            "cssrs_risk",
            &[
                ("none", CssrsRisk::None),
                ("low", CssrsRisk::Low),
                ("moderate", CssrsRisk::Moderate),
                ("high", CssrsRisk::High),
            ],
        )?,
        can_become_pregnant: object.boolean("can_become_pregnant")?,
        pregnancy_test: object.choice(
            "pregnancy_test",
            &[("negative", PregnancyTest::Negative), ("positive", PregnancyTest::Positive)],
        )?,
        last_food_at: object.instant("last_food_at", zone)?,
        last_liquid_at: object.instant("last_liquid_at", zone)?,
        escort_arranged: object.boolean("escort_arranged")?,
        rems_patient_enrolled: object.boolean("rems_patient_enrolled")?,
    };
    object.finish()?;
    Ok(facts)
}

fn score_items(object: &mut Object, keys: [&str; 5]) -> Result<[i64; 5], BadInput> {
    let mut items = [0; 5];
    for (slot, key) in items.iter_mut().zip(keys) {
        *slot = object.integer(key)?.ok_or_else(|| BadInput::new(&object.path(key), "is required"))?;
    }
    Ok(items)
}

fn read_discharge(object: Option<Object>, zone: &TimeZone) -> Result<DischargeFacts, BadInput> {
    let Some(mut object) = object else { return Ok(DischargeFacts::default()) };
    let aldrete = read_recovery_score(
        &mut object,
        "aldrete",
        zone,
        ["activity", "respiration", "circulation", "consciousness", "spo2"],
        |[activity, respiration, circulation, consciousness, spo2]| {
            AldreteScore::new(activity, respiration, circulation, consciousness, spo2)
        },
    )?;
    let padss = read_recovery_score(
        &mut object,
        "padss",
        zone,
        ["vital_signs", "ambulation", "nausea_vomiting", "pain", "bleeding"],
        |[vital_signs, ambulation, nausea_vomiting, pain, bleeding]| {
            PadssScore::new(vital_signs, ambulation, nausea_vomiting, pain, bleeding)
        },
    )?;
    let facts = DischargeFacts { escort_present: object.boolean("escort_present")?, aldrete, padss };
    object.finish()?;
    Ok(facts)
}

/// A five-item recovery score (modified Aldrete or PADSS, KNOWLEDGE §4.5) taken at a clinic-local time.
fn read_recovery_score<T, E: std::fmt::Display>(
    object: &mut Object,
    key: &str,
    zone: &TimeZone,
    item_names: [&str; 5],
    build: impl FnOnce([i64; 5]) -> Result<T, E>,
) -> Result<Option<(Timestamp, T)>, BadInput> {
    let Some(mut score) = object.object(key)? else { return Ok(None) };
    let taken = score.instant("at", zone)?.ok_or_else(|| BadInput::new(&score.path("at"), "is required"))?;
    let items = score_items(&mut score, item_names)?;
    let path = score.path("");
    score.finish()?;
    Ok(Some((taken, at(path.trim_end_matches('.'), build(items))?)))
}

fn read_rems(object: Option<Object>) -> Result<(RemsContext, RemsFormEdition), BadInput> {
    let Some(mut object) = object else { return Ok((RemsContext::default(), RemsFormEdition::November2021)) };
    let edition = object
        .choice(
            "edition",
            &[("2021-11", RemsFormEdition::November2021), ("respiratory", RemsFormEdition::WithRespiratoryItems)],
        )?
        .unwrap_or(RemsFormEdition::November2021);
    let mut context = RemsContext::default();
    if let Some(mut patient) = object.object("patient")? {
        context.patient_first_name = patient.string("first_name")?;
        context.patient_last_name = patient.string("last_name")?;
        context.patient_birth_date = patient.date("birth_date")?;
        context.patient_sex = patient.string("sex")?;
        context.first_treatment = patient.boolean("first_treatment")?;
        context.patient_enrolled = patient.boolean("enrolled")?;
        patient.finish()?;
    }
    if let Some(mut medication) = object.object("medication")? {
        context.takes_benzodiazepines = medication.boolean("benzodiazepines")?;
        context.takes_non_benzodiazepine_sedative_hypnotics =
            medication.boolean("non_benzodiazepine_sedative_hypnotics")?;
        context.takes_psychostimulants = medication.boolean("psychostimulants")?;
        context.takes_maois = medication.boolean("maois")?;
        context.takes_opioids = medication.boolean("opioids")?;
        context.takes_other_sedating_drugs = medication.boolean("other_sedating_drugs")?;
        medication.finish()?;
    }
    if let Some(mut hcp) = object.object("monitoring_hcp")? {
        context.monitoring_hcp_name = hcp.string("name")?;
        context.monitoring_hcp_phone = hcp.string("phone")?;
        context.monitoring_hcp_email = hcp.string("email")?;
        hcp.finish()?;
    }
    if let Some(mut setting) = object.object("setting")? {
        context.setting_name = setting.string("name")?;
        context.setting_address = setting.string("address")?;
        setting.finish()?;
    }
    if let Some(mut answers) = object.object("answers")? {
        context.vitals_acceptable_before_administration = answers.boolean("vitals_acceptable_before_administration")?;
        context.vitals_acceptable_before_completion = answers.boolean("vitals_acceptable_before_completion")?;
        context.sedation_occurred = answers.boolean("sedation")?;
        context.dissociation_occurred = answers.boolean("dissociation")?;
        context.respiratory_depression_occurred = answers.boolean("respiratory_depression")?;
        answers.finish()?;
    }
    context.serious_adverse_events = object.string("serious_adverse_events")?;
    context.submitted_on = object.date("submitted_on")?;
    object.finish()?;
    Ok((context, edition))
}

/// Reads a session file (docs/sessions.md).
pub fn read_session(text: &str) -> Result<SessionInput, BadInput> {
    let mut root = parse_document(text)?;
    let modality = root
        .choice(
            "modality",
            &[("esketamine", Modality::Esketamine), ("iv_racemic_ketamine", Modality::IvRacemicKetamine)],
        )?
        .ok_or_else(|| BadInput::new("modality", "is required"))?;
    let care_setting = root
        .choice("care_setting", &[("outpatient", CareSetting::Outpatient), ("inpatient", CareSetting::Inpatient)])?
        .unwrap_or(CareSetting::Outpatient);
    let zone = time_zone(&mut root)?;
    let now = root.instant("now", &zone)?;
    let dose_object = root.object("dose")?.ok_or_else(|| BadInput::new("dose", "is required"))?;
    let dose = read_dose(dose_object, &zone)?;
    let monitoring_ended_at = root.instant("monitoring_ended_at", &zone)?;
    let observations = root.array("observations")?;
    let mut timeline = Timeline::default();
    for (index, object) in objects("observations", observations)?.into_iter().enumerate() {
        let entry = read_observation(object, &zone)?;
        if let Some(previous) = timeline.entries().last() {
            if entry.at < previous.at {
                let shown =
                    |instant: Timestamp| instant.to_zoned_datetime(zone.clone()).strftime("%Y-%m-%dT%H:%M").to_string();
                return Err(BadInput::new(
                    &format!("observations[{index}].at"),
                    format!("{} is earlier than the previous observation at {}", shown(entry.at), shown(previous.at)),
                ));
            }
        }
        at(&format!("observations[{index}].at"), timeline.push(entry))?;
    }
    let pre_dose = read_pre_dose(root.object("pre_dose")?, &zone)?;
    let discharge = read_discharge(root.object("discharge")?, &zone)?;
    let (rems, rems_edition) = read_rems(root.object("rems")?)?;
    root.finish()?;
    let session = at("session", Session::new(modality, care_setting, zone, dose, timeline, monitoring_ended_at))?;
    Ok(SessionInput { session, pre_dose, discharge, rems, rems_edition, now })
}

fn local(input: &SessionInput, instant: Timestamp) -> String {
    instant.to_zoned_datetime(input.session.time_zone().clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

fn hhmm(input: &SessionInput, instant: Timestamp) -> String {
    instant.to_zoned_datetime(input.session.time_zone().clone()).strftime("%H:%M").to_string()
}

fn gate_status_json(status: &GateStatus) -> Value {
    match status {
        GateStatus::Pass => json!({ "status": "pass" }),
        GateStatus::Hold { overridable } => json!({ "status": "hold", "overridable": overridable }),
        GateStatus::Indeterminate { missing } => json!({ "status": "indeterminate", "missing": missing }),
    }
}

fn alert_json(input: &SessionInput, alert: &Alert) -> Value {
    json!({
        "id": alert.id.to_string(),
        "rule": alert.id.rule.id(),
        "episode": alert.id.episode,
        "level": alert.level.as_str(),
        "summary": alert.summary,
        "detail": alert.detail,
        "recommended_action": alert.recommended_action,
        "source": alert.source,
        "raised_at": local(input, alert.raised_at),
        "updated_at": local(input, alert.updated_at),
    })
}

fn rems_json(outcome: &RemsFormOutcome) -> Value {
    match outcome {
        RemsFormOutcome::NotRequired { reason } => json!({ "required": false, "reason": reason }),
        RemsFormOutcome::Required(form) => {
            let fields: serde_json::Map<String, Value> = form
                .fields
                .iter()
                .map(|field| {
                    let origin = match field.origin {
                        ketacare_core::session::rems::FieldOrigin::Recorded => "recorded",
                        ketacare_core::session::rems::FieldOrigin::Derived => "derived",
                    };
                    (field.name.to_owned(), json!({ "value": field.value, "origin": origin }))
                })
                .collect();
            json!({
                "required": true,
                "edition": form.edition.as_str(),
                "complete": form.is_complete(),
                "missing": form.missing,
                "problems": form.problems,
                "submit_by": form.submit_by.map(|date| date.to_string()),
                "submission": form.submission.as_str(),
                "source": form.source,
                "fields": fields,
            })
        }
    }
}

fn render_json(input: &SessionInput, report: &Report, protocol: &Protocol, now: Timestamp) -> Value {
    let changes: Vec<Value> = report
        .alerts
        .iter()
        .flat_map(|step| {
            step.changes.iter().map(|change| {
                let mut value = alert_json(input, &change.alert);
                let object = value.as_object_mut().expect("an object");
                object.insert("change".to_owned(), json!(change.kind.as_str()));
                object.insert("at".to_owned(), json!(local(input, step.at)));
                value
            })
        })
        .collect();
    let active: Vec<Value> = report
        .alerts
        .last()
        .map(|step| step.active.iter().map(|alert| alert_json(input, alert)).collect())
        .unwrap_or_default();
    let criteria: Vec<Value> = report
        .discharge
        .criteria
        .iter()
        .map(|criterion| {
            let mut value = json!({
                "criterion": criterion.id.as_str(),
                "status": criterion.status.as_str(),
                "reason": criterion.reason,
                "source": criterion.source,
                "met_at": criterion.met_at.map(|instant| local(input, instant)),
            });
            if let CriterionStatus::Indeterminate { missing } = &criterion.status {
                value.as_object_mut().expect("an object").insert("missing".to_owned(), json!(missing));
            }
            value
        })
        .collect();
    let items: Vec<Value> = report
        .gate
        .items
        .iter()
        .map(|item| {
            let mut value = gate_status_json(&item.status);
            let object = value.as_object_mut().expect("an object");
            object.insert("item".to_owned(), json!(item.item.as_str()));
            object.insert("reason".to_owned(), json!(item.reason));
            object.insert("source".to_owned(), json!(item.source));
            value
        })
        .collect();
    json!({
        "modality": input.session.modality().as_str(),
        "checked_at": local(input, now),
        "gate": { "outcome": report.gate.outcome().as_str(), "items": items },
        "alerts": { "changes": changes, "active": active },
        "discharge": {
            "status": report.discharge.status.as_str(),
            "earliest_at": report.discharge.earliest_at.map(|instant| local(input, instant)),
            "clinically_ready_at": report.discharge.clinically_ready_at.map(|instant| local(input, instant)),
            "criteria": criteria,
        },
        "rems_form": rems_json(&report.rems),
        "rules_version": ketacare_core::RULES_VERSION,
        "protocol": { "name": protocol.name, "sha256": protocol.sha256 },
    })
}

fn render_text(input: &SessionInput, report: &Report, now: Timestamp) -> String {
    let mut text = String::new();
    let zone_name = input.session.time_zone().iana_name().unwrap_or("clinic time");
    text.push_str(&format!(
        "{} session, checked at {} ({zone_name})\n\n",
        input.session.modality().as_str(),
        local(input, now)
    ));
    text.push_str(&format!("Pre-dose gate: {}\n", report.gate.outcome().as_str()));
    for item in &report.gate.items {
        let status = match &item.status {
            GateStatus::Pass => "pass".to_owned(),
            GateStatus::Hold { overridable: true } => "hold (prescriber may override)".to_owned(),
            GateStatus::Hold { overridable: false } => "hold".to_owned(),
            GateStatus::Indeterminate { missing } => format!("missing {}", missing.join(", ")),
        };
        text.push_str(&format!("  {:<20} {status}: {}\n", item.item.as_str(), item.reason));
    }
    let change_count: usize = report.alerts.iter().map(|step| step.changes.len()).sum();
    let active = report.alerts.last().map(|step| step.active.as_slice()).unwrap_or_default();
    text.push_str(&format!("\nAlerts: {change_count} changes, {} active\n", active.len()));
    for step in &report.alerts {
        for change in &step.changes {
            let alert = &change.alert;
            text.push_str(&format!(
                "  {} {:<12} {} {}: {}",
                hhmm(input, step.at),
                change.kind.as_str(),
                alert.id,
                alert.level.as_str(),
                alert.summary
            ));
            if change.kind != ketacare_core::session::alerts::AlertChangeKind::Resolved {
                text.push_str(&format!(" -> {}", alert.recommended_action));
            }
            text.push('\n');
        }
    }
    for alert in active {
        text.push_str(&format!(
            "  ACTIVE {} {}: {} ({})\n",
            alert.id,
            alert.level.as_str(),
            alert.summary,
            alert.detail
        ));
    }
    let discharge = &report.discharge;
    text.push_str(&format!("\nDischarge: {}", discharge.status.as_str()));
    if let Some(earliest) = discharge.earliest_at {
        text.push_str(&format!(", earliest {}", hhmm(input, earliest)));
    }
    if let Some(ready) = discharge.clinically_ready_at {
        text.push_str(&format!(", clinically ready since {}", hhmm(input, ready)));
    }
    text.push('\n');
    for criterion in &discharge.criteria {
        let status = match &criterion.status {
            CriterionStatus::Indeterminate { missing } => format!("missing {}", missing.join(", ")),
            other => other.as_str().to_owned(),
        };
        text.push_str(&format!("  {:<32} {status}: {}\n", criterion.id.as_str(), criterion.reason));
    }
    match &report.rems {
        RemsFormOutcome::NotRequired { reason } => text.push_str(&format!("\nREMS form: not required ({reason})\n")),
        RemsFormOutcome::Required(form) => text.push_str(&rems_text(form)),
    }
    text
}

fn rems_text(form: &RemsForm) -> String {
    let mut text = format!(
        "\nREMS Patient Monitoring Form ({} edition): {}, submit by {} ({})\n",
        form.edition.as_str(),
        if form.is_complete() { "complete" } else { "incomplete" },
        form.submit_by.map(|date| date.to_string()).unwrap_or_else(|| "unknown".to_owned()),
        form.submission.as_str()
    );
    if !form.missing.is_empty() {
        text.push_str(&format!("  missing: {}\n", form.missing.join(", ")));
    }
    for problem in &form.problems {
        text.push_str(&format!("  problem: {problem}\n"));
    }
    for name in [
        "session.duration_min",
        "session.ready_to_leave_min",
        "bp.before_administration",
        "bp.post_administration_40_min",
        "bp.before_completion",
    ] {
        text.push_str(&format!("  {name}: {}\n", form.value(name).unwrap_or("-")));
    }
    text
}
