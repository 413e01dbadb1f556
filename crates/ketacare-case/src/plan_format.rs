//! The plan document of docs/sessions.md (what `ketacare plan` reads and what the clinic server stores
//! for a treatment plan) and the JSON of the generated schedule, measurement plan and course evaluation.
//! The CLI and the HTTP API both go through here.

use jiff::Timestamp;
use ketacare_core::course::{CourseEvaluation, CoursePhase, CourseStatus};
use ketacare_core::outcomes::{Assessment, OutcomeScale, ScoreSeries};
use ketacare_core::plan::{PlanEvent, PlanRequest, PlannedScale, Schedule, Template};
use ketacare_core::protocol::Protocol;
use serde_json::{Value, json};

use crate::json_reader::{ObjectReader, at, objects, parse_local, place};
use crate::parse::InvalidCase;
use crate::strict_json::read_json_document;

/// Everything read from a plan file.
#[derive(Debug)]
pub struct PlanInput {
    pub request: PlanRequest,
    pub course: Option<(ScoreSeries, Option<jiff::civil::Date>, CoursePhase)>,
}

fn read_events(items: &[Value]) -> Result<Vec<PlanEvent>, InvalidCase> {
    objects("events", items)?
        .into_iter()
        .map(|mut event| {
            let given = event.local_datetime("given")?;
            let missed = event.local_datetime("missed")?;
            let relapse = event.date("relapse")?;
            let path = event.path_of("");
            event.finish()?;
            match (given, missed, relapse) {
                (Some(at), None, None) => Ok(PlanEvent::Given(at)),
                (None, Some(at), None) => Ok(PlanEvent::Missed(at)),
                (None, None, Some(date)) => Ok(PlanEvent::Relapse(date)),
                _ => Err(InvalidCase::new(
                    path.trim_end_matches('.'),
                    "must have exactly one of given, missed (local date-time) or relapse (date)",
                )),
            }
        })
        .collect()
}

fn read_course(
    object: Option<ObjectReader<'_>>,
) -> Result<Option<(ScoreSeries, Option<jiff::civil::Date>, CoursePhase)>, InvalidCase> {
    let Some(mut object) = object else { return Ok(None) };
    let scale = object
        .choice(
            "scale",
            &[
                ("madrs", OutcomeScale::Madrs),
                ("phq9", OutcomeScale::Phq9),
                ("qids_sr16", OutcomeScale::QidsSr16),
                ("hamd17", OutcomeScale::Hamd17),
            ],
        )?
        .ok_or_else(|| InvalidCase::new("course.scale", "is required"))?;
    let phase = object
        .choice(
            "phase",
            &[
                ("induction", CoursePhase::Induction { complete: false }),
                ("induction_complete", CoursePhase::Induction { complete: true }),
                ("maintenance", CoursePhase::Maintenance),
            ],
        )?
        .ok_or_else(|| InvalidCase::new("course.phase", "is required"))?;
    let first_treatment_date = object.date("first_treatment_date")?;
    let totals = object.array("totals")?;
    let mut assessments = Vec::new();
    for mut total in objects("course.totals", totals.map(Vec::as_slice).unwrap_or_default())? {
        let date = total.date("date")?.ok_or_else(|| InvalidCase::new(&total.path_of("date"), "is required"))?;
        let path = total.path_of("total");
        let value = total.integer("total")?;
        let value = value
            .map(|value| {
                u8::try_from(value).map_err(|_| InvalidCase::new(&path, format!("must be 0-255, got {value}")))
            })
            .transpose()?;
        total.finish()?;
        assessments.push(Assessment { date, total: value });
    }
    object.finish()?;
    let series = at("course.totals", ScoreSeries::new(scale, assessments))?;
    Ok(Some((series, first_treatment_date, phase)))
}

/// Reads a plan file's bytes (docs/sessions.md) with the strict reader; `clock` is `now` when the file
/// gives none.
pub fn parse_plan_json(bytes: &[u8], clock: Timestamp) -> Result<PlanInput, InvalidCase> {
    let value = read_json_document(bytes).map_err(|error| error.into_invalid_case("(file)"))?;
    parse_plan(&value, clock)
}

/// Reads an already-decoded plan document.
pub fn parse_plan(value: &Value, clock: Timestamp) -> Result<PlanInput, InvalidCase> {
    let mut root = ObjectReader::new(String::new(), value)?;
    let template = root
        .choice(
            "template",
            &[
                ("induction_2x_week_3w", Template::IvInduction2xWeek3w),
                ("induction_3x_week_2w", Template::IvInduction3xWeek2w),
                ("esketamine_trd", Template::EsketamineTrd),
            ],
        )?
        .ok_or_else(|| InvalidCase::new("template", "is required"))?;
    let iv_maintenance_taper = root.bool("maintenance_taper")?.unwrap_or(false);
    if iv_maintenance_taper && template == Template::EsketamineTrd {
        return Err(InvalidCase::new("maintenance_taper", "applies to the IV templates only"));
    }
    let zone = root.time_zone()?;
    let first_text = root.required_string("first_session")?;
    let first_session = parse_local("first_session", first_text)?;
    place("first_session", first_session, &zone)?;
    let now = root.instant("now", &zone)?.unwrap_or(clock);
    let events = read_events(root.array("events")?.map(Vec::as_slice).unwrap_or_default())?;
    let mut measurements_done = Vec::new();
    for mut done in
        objects("measurements_done", root.array("measurements_done")?.map(Vec::as_slice).unwrap_or_default())?
    {
        let scale_path = done.path_of("scale");
        let word = done.required_string("scale")?;
        let scale = PlannedScale::parse(word).ok_or_else(|| {
            InvalidCase::new(
                &scale_path,
                format!("must be one of phq9, madrs, urinary_symptoms, cognition, got \"{word}\""),
            )
        })?;
        let taken = done.instant("at", &zone)?.ok_or_else(|| InvalidCase::new(&done.path_of("at"), "is required"))?;
        done.finish()?;
        measurements_done.push((scale, taken));
    }
    let course = read_course(root.object("course")?)?;
    root.finish()?;
    let request =
        PlanRequest { template, iv_maintenance_taper, time_zone: zone, first_session, events, measurements_done, now };
    Ok(PlanInput { request, course })
}

fn local(at: &jiff::ZonedDateTime) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

fn course_json(course: &CourseEvaluation) -> Value {
    let missing = match &course.status {
        CourseStatus::Indeterminate { missing } => missing.clone(),
        _ => Vec::new(),
    };
    json!({
        "status": course.status.as_str(),
        "missing": missing,
        "recommendation": course.recommendation.as_str(),
        "reasons": course.reasons,
        "source": course.source,
    })
}

/// The plan report JSON (`ketacare plan --format json`).
pub fn plan_report_json(
    input: &PlanInput,
    schedule: &Schedule,
    course: Option<&CourseEvaluation>,
    protocol: &Protocol,
) -> Value {
    let sessions: Vec<Value> = schedule
        .sessions
        .iter()
        .map(|session| {
            json!({
                "number": session.number,
                "at": local(&session.at),
                "status": session.status.as_str(),
                "phase": session.phase.as_str(),
                "step": session.step,
            })
        })
        .collect();
    let measurements: Vec<Value> = schedule
        .measurements
        .iter()
        .map(|measurement| {
            json!({
                "scale": measurement.scale.as_str(),
                "reason": measurement.reason,
                "window_opens": local(&measurement.window_opens),
                "due_at": local(&measurement.due_at),
                "status": measurement.status.as_str(),
                "source": measurement.source,
            })
        })
        .collect();
    let notes: Vec<Value> =
        schedule.notes.iter().map(|note| json!({ "text": note.text, "source": note.source })).collect();
    json!({
        "template": input.request.template.as_str(),
        "time_zone": input.request.time_zone.iana_name(),
        "sessions": sessions,
        "measurements": measurements,
        "notes": notes,
        "course": course.map(course_json),
        "rules_version": ketacare_core::RULES_VERSION,
        "protocol": { "name": protocol.name, "sha256": protocol.sha256 },
    })
}
