//! The session document of docs/sessions.md (what `ketacare session check` reads and what the clinic
//! server rebuilds from its stored rows) and the JSON of the engine's view of a session. The CLI and the
//! HTTP API both go through here, so the two cannot read or report a session differently.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use ketacare_core::protocol::Protocol;
use ketacare_core::session::alerts::{Alert, AlertChanges, replay};
use ketacare_core::session::discharge::{
    AldreteScore, CriterionStatus, DischargeFacts, DischargeReadiness, PadssScore, assess_discharge,
};
use ketacare_core::session::gate::{
    CssrsRisk, Gate, GateStatus, InformedConsent, PreDoseFacts, PregnancyTest, check_gate,
};
use ketacare_core::session::observation::*;
use ketacare_core::session::rems::{RemsContext, RemsFormEdition, RemsFormOutcome, assemble_rems_form};
use ketacare_core::session::{CareSetting, DoseMg, DoseRecord, Modality, Session};
use serde_json::{Value, json};

use crate::json_reader::{ObjectReader, at, objects};
use crate::parse::InvalidCase;
use crate::strict_json::read_json_document;

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

/// The engine's view of one session at one instant.
#[derive(Debug)]
pub struct SessionReport {
    pub gate: Gate,
    /// One entry per observation up to the instant checked, with the alert changes it caused.
    pub alerts: Vec<AlertChanges>,
    pub discharge: DischargeReadiness,
    pub rems: RemsFormOutcome,
}

/// Runs the gate, the alert engine over the timeline up to `now`, discharge readiness and the REMS form.
pub fn check_session(input: &SessionInput, protocol: &Protocol, now: Timestamp) -> SessionReport {
    let session = &input.session;
    let until_now = Timeline::new(session.timeline().until(now).to_vec()).expect("a prefix of a valid timeline");
    SessionReport {
        gate: check_gate(session, &input.pre_dose, protocol),
        alerts: replay(&until_now, &protocol.alerts),
        discharge: assess_discharge(session, &input.discharge, protocol, now),
        rems: assemble_rems_form(session, &input.rems, input.rems_edition, protocol, now),
    }
}

fn bounded<T>(
    object: &mut ObjectReader<'_>,
    key: &'static str,
    new: fn(i64) -> Result<T, InvalidObservation>,
) -> Result<Option<T>, InvalidCase> {
    let path = object.path_of(key);
    object.integer(key)?.map(|value| at(&path, new(value))).transpose()
}

fn words<T>(
    object: &mut ObjectReader<'_>,
    key: &'static str,
    parse: fn(&str) -> Option<T>,
    accepted: &[&str],
) -> Result<Option<Vec<T>>, InvalidCase> {
    let path = object.path_of(key);
    let Some(value) = object.get(key) else { return Ok(None) };
    let Value::Array(items) = value else { return Err(InvalidCase::new(&path, "must be an array of words")) };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            item.as_str().and_then(parse).ok_or_else(|| {
                InvalidCase::new(
                    &format!("{path}[{index}]"),
                    format!("must be one of {}, got {item}", accepted.join(", ")),
                )
            })
        })
        .collect::<Result<Vec<T>, InvalidCase>>()
        .map(Some)
}

/// Reads one observation on its own (as the API receives it), in the clinic's time zone; errors name the
/// field without a prefix (`moaas`, `at`).
pub fn parse_observation(value: &Value, zone: &TimeZone) -> Result<TimedObservation, InvalidCase> {
    read_observation(ObjectReader::new(String::new(), value)?, zone)
}

/// Reads one observation (an element of `observations`) in the clinic's time zone.
fn read_observation(mut object: ObjectReader<'_>, zone: &TimeZone) -> Result<TimedObservation, InvalidCase> {
    let taken_at = object.instant("at", zone)?.ok_or_else(|| InvalidCase::new(&object.path_of("at"), "is required"))?;
    let systolic = bounded(&mut object, "systolic_mmhg", SystolicMmhg::new)?;
    let diastolic = bounded(&mut object, "diastolic_mmhg", DiastolicMmhg::new)?;
    let blood_pressure = match (systolic, diastolic) {
        (Some(systolic), Some(diastolic)) => {
            Some(at(&object.path_of("systolic_mmhg"), BloodPressure::new(systolic, diastolic))?)
        }
        (None, None) => None,
        (Some(_), None) => {
            return Err(InvalidCase::new(&object.path_of("diastolic_mmhg"), "is required with systolic_mmhg"));
        }
        (None, Some(_)) => {
            return Err(InvalidCase::new(&object.path_of("systolic_mmhg"), "is required with diastolic_mmhg"));
        }
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
        cssrs_active_ideation: object.bool("cssrs_active_ideation")?,
    };
    object.finish()?;
    Ok(TimedObservation { at: taken_at, observation })
}

fn read_dose(mut object: ObjectReader<'_>, zone: &TimeZone) -> Result<DoseRecord, InvalidCase> {
    let dose_mg = |object: &mut ObjectReader<'_>, key: &'static str| -> Result<Option<DoseMg>, InvalidCase> {
        let path = object.path_of(key);
        object.decimal(key)?.map(|value| at(&path, DoseMg::new(key, value))).transpose()
    };
    let planned_mg = dose_mg(&mut object, "planned_mg")?
        .ok_or_else(|| InvalidCase::new(&object.path_of("planned_mg"), "is required"))?;
    let planned_at = object
        .instant("planned_at", zone)?
        .ok_or_else(|| InvalidCase::new(&object.path_of("planned_at"), "is required"))?;
    let dose = DoseRecord {
        planned_mg,
        planned_at,
        given_mg: dose_mg(&mut object, "given_mg")?,
        lot_number: object.non_empty_string("lot_number")?.map(str::to_owned),
        started_at: object.instant("started_at", zone)?,
        ended_at: object.instant("ended_at", zone)?,
    };
    object.finish()?;
    Ok(dose)
}

fn read_pre_dose(object: Option<ObjectReader<'_>>, zone: &TimeZone) -> Result<PreDoseFacts, InvalidCase> {
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
        can_become_pregnant: object.bool("can_become_pregnant")?,
        pregnancy_test: object.choice(
            "pregnancy_test",
            &[("negative", PregnancyTest::Negative), ("positive", PregnancyTest::Positive)],
        )?,
        last_food_at: object.instant("last_food_at", zone)?,
        last_liquid_at: object.instant("last_liquid_at", zone)?,
        escort_arranged: object.bool("escort_arranged")?,
        rems_patient_enrolled: object.bool("rems_patient_enrolled")?,
        informed_consent: object
            .choice("informed_consent", &InformedConsent::ALL.map(|consent| (consent.as_str(), consent)))?,
    };
    object.finish()?;
    Ok(facts)
}

fn score_items(object: &mut ObjectReader<'_>, keys: [&'static str; 5]) -> Result<[i64; 5], InvalidCase> {
    let mut items = [0; 5];
    for (slot, key) in items.iter_mut().zip(keys) {
        *slot = object.integer(key)?.ok_or_else(|| InvalidCase::new(&object.path_of(key), "is required"))?;
    }
    Ok(items)
}

fn read_discharge(object: Option<ObjectReader<'_>>, zone: &TimeZone) -> Result<DischargeFacts, InvalidCase> {
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
    let facts = DischargeFacts { escort_present: object.bool("escort_present")?, aldrete, padss };
    object.finish()?;
    Ok(facts)
}

/// A five-item recovery score (modified Aldrete or PADSS, KNOWLEDGE §4.5) taken at a clinic-local time.
fn read_recovery_score<T, E: std::fmt::Display>(
    object: &mut ObjectReader<'_>,
    key: &'static str,
    zone: &TimeZone,
    item_names: [&'static str; 5],
    build: impl FnOnce([i64; 5]) -> Result<T, E>,
) -> Result<Option<(Timestamp, T)>, InvalidCase> {
    let Some(mut score) = object.object(key)? else { return Ok(None) };
    let taken = score.instant("at", zone)?.ok_or_else(|| InvalidCase::new(&score.path_of("at"), "is required"))?;
    let items = score_items(&mut score, item_names)?;
    let path = score.path_of("");
    score.finish()?;
    Ok(Some((taken, at(path.trim_end_matches('.'), build(items))?)))
}

fn read_rems(object: Option<ObjectReader<'_>>) -> Result<(RemsContext, RemsFormEdition), InvalidCase> {
    let Some(mut object) = object else { return Ok((RemsContext::default(), RemsFormEdition::November2021)) };
    let edition = object
        .choice(
            "edition",
            &[("2021-11", RemsFormEdition::November2021), ("respiratory", RemsFormEdition::WithRespiratoryItems)],
        )?
        .unwrap_or(RemsFormEdition::November2021);
    let mut context = RemsContext::default();
    if let Some(mut patient) = object.object("patient")? {
        context.patient_first_name = patient.non_empty_string("first_name")?.map(str::to_owned);
        context.patient_last_name = patient.non_empty_string("last_name")?.map(str::to_owned);
        context.patient_birth_date = patient.date("birth_date")?;
        context.patient_sex = patient.non_empty_string("sex")?.map(str::to_owned);
        context.first_treatment = patient.bool("first_treatment")?;
        context.patient_enrolled = patient.bool("enrolled")?;
        patient.finish()?;
    }
    if let Some(mut medication) = object.object("medication")? {
        context.takes_benzodiazepines = medication.bool("benzodiazepines")?;
        context.takes_non_benzodiazepine_sedative_hypnotics =
            medication.bool("non_benzodiazepine_sedative_hypnotics")?;
        context.takes_psychostimulants = medication.bool("psychostimulants")?;
        context.takes_maois = medication.bool("maois")?;
        context.takes_opioids = medication.bool("opioids")?;
        context.takes_other_sedating_drugs = medication.bool("other_sedating_drugs")?;
        medication.finish()?;
    }
    if let Some(mut hcp) = object.object("monitoring_hcp")? {
        context.monitoring_hcp_name = hcp.non_empty_string("name")?.map(str::to_owned);
        context.monitoring_hcp_phone = hcp.non_empty_string("phone")?.map(str::to_owned);
        context.monitoring_hcp_email = hcp.non_empty_string("email")?.map(str::to_owned);
        hcp.finish()?;
    }
    if let Some(mut setting) = object.object("setting")? {
        context.setting_name = setting.non_empty_string("name")?.map(str::to_owned);
        context.setting_address = setting.non_empty_string("address")?.map(str::to_owned);
        setting.finish()?;
    }
    if let Some(mut answers) = object.object("answers")? {
        context.vitals_acceptable_before_administration = answers.bool("vitals_acceptable_before_administration")?;
        context.vitals_acceptable_before_completion = answers.bool("vitals_acceptable_before_completion")?;
        context.sedation_occurred = answers.bool("sedation")?;
        context.dissociation_occurred = answers.bool("dissociation")?;
        context.respiratory_depression_occurred = answers.bool("respiratory_depression")?;
        answers.finish()?;
    }
    context.serious_adverse_events = object.non_empty_string("serious_adverse_events")?.map(str::to_owned);
    context.submitted_on = object.date("submitted_on")?;
    object.finish()?;
    Ok((context, edition))
}

/// Reads a session file's bytes (docs/sessions.md) with the strict reader.
pub fn parse_session_json(bytes: &[u8]) -> Result<SessionInput, InvalidCase> {
    let value = read_json_document(bytes).map_err(|error| error.into_invalid_case("(file)"))?;
    parse_session(&value)
}

/// Reads an already-decoded session document (docs/sessions.md).
pub fn parse_session(value: &Value) -> Result<SessionInput, InvalidCase> {
    let mut root = ObjectReader::new(String::new(), value)?;
    let modality = root
        .choice(
            "modality",
            &[("esketamine", Modality::Esketamine), ("iv_racemic_ketamine", Modality::IvRacemicKetamine)],
        )?
        .ok_or_else(|| InvalidCase::new("modality", "is required"))?;
    let care_setting = root
        .choice("care_setting", &[("outpatient", CareSetting::Outpatient), ("inpatient", CareSetting::Inpatient)])?
        .unwrap_or(CareSetting::Outpatient);
    let zone = root.time_zone()?;
    let now = root.instant("now", &zone)?;
    let dose_object = root.object("dose")?.ok_or_else(|| InvalidCase::new("dose", "is required"))?;
    let dose = read_dose(dose_object, &zone)?;
    let monitoring_ended_at = root.instant("monitoring_ended_at", &zone)?;
    let observations = root.array("observations")?;
    let mut timeline = Timeline::default();
    for (index, object) in
        objects("observations", observations.map(Vec::as_slice).unwrap_or_default())?.into_iter().enumerate()
    {
        let entry = read_observation(object, &zone)?;
        if let Some(previous) = timeline.entries().last()
            && entry.at < previous.at
        {
            let shown =
                |instant: Timestamp| instant.to_zoned_datetime(zone.clone()).strftime("%Y-%m-%dT%H:%M").to_string();
            return Err(InvalidCase::new(
                &format!("observations[{index}].at"),
                format!("{} is earlier than the previous observation at {}", shown(entry.at), shown(previous.at)),
            ));
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

/// An instant as clinic-local date-time with its UTC offset.
pub fn local(input: &SessionInput, instant: Timestamp) -> String {
    instant.to_zoned_datetime(input.session.time_zone().clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

fn gate_status_json(status: &GateStatus) -> Value {
    match status {
        GateStatus::Pass => json!({ "status": "pass" }),
        GateStatus::Hold { overridable } => json!({ "status": "hold", "overridable": overridable }),
        GateStatus::Indeterminate { missing } => json!({ "status": "indeterminate", "missing": missing }),
    }
}

/// One alert as JSON: id, rule, episode, level, summary, detail, action, source, times.
pub fn alert_json(input: &SessionInput, alert: &Alert) -> Value {
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

/// The changes one observation made, each an alert with its `change` and the observation's `at`, as
/// `ketacare session check --format json` lists them.
pub fn alert_changes_json(input: &SessionInput, step: &AlertChanges) -> Vec<Value> {
    step.changes
        .iter()
        .map(|change| {
            let mut value = alert_json(input, &change.alert);
            let object = value.as_object_mut().expect("an object");
            object.insert("change".to_owned(), json!(change.kind.as_str()));
            object.insert("at".to_owned(), json!(local(input, step.at)));
            value
        })
        .collect()
}

/// The engine's view of a session as JSON (`ketacare session check --format json`).
pub fn session_report_json(input: &SessionInput, report: &SessionReport, protocol: &Protocol, now: Timestamp) -> Value {
    let changes: Vec<Value> = report.alerts.iter().flat_map(|step| alert_changes_json(input, step)).collect();
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
