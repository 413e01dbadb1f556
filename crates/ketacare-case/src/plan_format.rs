//! The plan document of docs/sessions.md (what `ketacare plan` reads and what the clinic server stores
//! for a treatment plan) and the JSON of the generated schedule, measurement plan and course evaluation.
//! The CLI and the HTTP API both go through here.

use jiff::Timestamp;
use ketacare_core::course::{
    CourseEvaluation, CourseOnScales, CoursePhase, CourseStatus, evaluate_course_on_scales, milestone_of,
};
use ketacare_core::outcomes::{Assessment, OutcomeScale, ScoreSeries};
use ketacare_core::outcomes::{Determination, RelapseStatus};
use ketacare_core::plan::{PlanEvent, PlanRequest, PlannedScale, Schedule, Template, measurement_adherence};
use ketacare_core::protocol::Protocol;
use serde_json::{Value, json};

use crate::json_reader::{ObjectReader, at, objects, parse_local, place};
use crate::parse::InvalidCase;
use crate::strict_json::read_json_document;

/// Everything read from a plan file.
#[derive(Debug)]
pub struct PlanInput {
    pub request: PlanRequest,
    pub course: Option<CourseInput>,
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

/// The `course` of a plan document: one series per scale, the first treatment date and the phase.
#[derive(Debug)]
pub struct CourseInput {
    pub series: Vec<ScoreSeries>,
    pub first_treatment_date: Option<jiff::civil::Date>,
    pub phase: CoursePhase,
}

impl CourseInput {
    /// The course on every scale given, the protocol's primary scale deciding when it can.
    pub fn evaluate(&self, protocol: &Protocol) -> CourseOnScales {
        evaluate_course_on_scales(&self.series, self.first_treatment_date, self.phase, protocol)
    }
}

const COURSE_SCALES: [(&str, OutcomeScale); 4] = [
    ("madrs", OutcomeScale::Madrs),
    ("phq9", OutcomeScale::Phq9),
    ("qids_sr16", OutcomeScale::QidsSr16),
    ("hamd17", OutcomeScale::Hamd17),
];

/// One scale's dated totals: `{scale, totals: [{date, total}]}` (the course object itself, or an item of
/// its `series`); the scale is required when `required` holds.
fn read_scale_totals(
    object: &mut ObjectReader<'_>,
    totals_path: &str,
    required: bool,
) -> Result<Option<ScoreSeries>, InvalidCase> {
    let scale_path = object.path_of("scale");
    let scale = object.choice("scale", &COURSE_SCALES)?;
    let totals = object.array("totals")?;
    let Some(scale) = scale else {
        return match (required, totals) {
            (false, None) => Ok(None),
            _ => Err(InvalidCase::new(&scale_path, "is required")),
        };
    };
    let mut assessments = Vec::new();
    for mut total in objects(totals_path, totals.map(Vec::as_slice).unwrap_or_default())? {
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
    Ok(Some(at(totals_path, ScoreSeries::new(scale, assessments))?))
}

/// `course`: `scale` and `totals` (one scale, as before) and/or `series`, a list of `{scale, totals}`
/// (every scale the patient is followed on); each scale at most once, at least one given.
fn read_course(object: Option<ObjectReader<'_>>) -> Result<Option<CourseInput>, InvalidCase> {
    let Some(mut object) = object else { return Ok(None) };
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
    let listed = object.array("series")?;
    let mut series: Vec<ScoreSeries> = Vec::new();
    if let Some(one) = read_scale_totals(&mut object, "course.totals", listed.is_none())? {
        series.push(one);
    }
    for (index, mut item) in
        objects("course.series", listed.map(Vec::as_slice).unwrap_or_default())?.into_iter().enumerate()
    {
        let path = format!("course.series[{index}].totals");
        let one = read_scale_totals(&mut item, &path, true)?.expect("required");
        if series.iter().any(|known| known.scale() == one.scale()) {
            return Err(InvalidCase::new(
                &item.path_of("scale"),
                format!("{} is given twice; one series per scale", one.scale().code()),
            ));
        }
        item.finish()?;
        series.push(one);
    }
    if series.is_empty() {
        return Err(InvalidCase::new("course.series", "must list at least one scale"));
    }
    object.finish()?;
    Ok(Some(CourseInput { series, first_treatment_date, phase }))
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
    let mut measurements_not_applicable = Vec::new();
    for mut item in objects(
        "measurements_not_applicable",
        root.array("measurements_not_applicable")?.map(Vec::as_slice).unwrap_or_default(),
    )? {
        let scale_path = item.path_of("scale");
        let word = item.required_string("scale")?;
        let scale = PlannedScale::parse(word).ok_or_else(|| {
            InvalidCase::new(
                &scale_path,
                format!("must be one of phq9, madrs, urinary_symptoms, cognition, got \"{word}\""),
            )
        })?;
        // The instant the measurement was due: with its offset (as the report writes it, or UTC), or a
        // clinic-local date-time.
        let due_path = item.path_of("due_at");
        let due_text = item.required_string("due_at")?;
        let due_at = match due_text.parse::<Timestamp>() {
            Ok(at) => at,
            Err(_) => place(&due_path, parse_local(&due_path, due_text)?, &zone)?,
        };
        // The reason is kept with the record (the server's); the plan needs only which measurement.
        let _reason = item.string("reason")?;
        item.finish()?;
        measurements_not_applicable.push((scale, due_at));
    }
    let course = read_course(root.object("course")?)?;
    root.finish()?;
    let request = PlanRequest {
        template,
        iv_maintenance_taper,
        time_zone: zone,
        first_session,
        events,
        measurements_done,
        measurements_not_applicable,
        now,
        calendar: None,
    };
    Ok(PlanInput { request, course })
}

fn local(at: &jiff::ZonedDateTime) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

fn missing_of(status: &CourseStatus) -> Vec<String> {
    match status {
        CourseStatus::Indeterminate { missing } => missing.clone(),
        _ => Vec::new(),
    }
}

/// One scale's evaluation: its status and recommendation, baseline, latest total, first response and
/// remission, and relapse.
fn scale_course_json(evaluation: &CourseEvaluation) -> Value {
    let outcomes = &evaluation.outcomes;
    let baseline = outcomes
        .baseline
        .determined()
        .map(|baseline| json!({ "date": baseline.date.to_string(), "total": baseline.total }));
    let latest = outcomes.latest.determined().map(|latest| {
        json!({
            "date": latest.date.to_string(),
            "total": latest.total,
            "percent_change": latest.percent_change.determined().map(|change| change.round_dp(1).to_string()),
            "response": latest.response.determined().map(|response| response.as_str()),
            "remitted": latest.remission.remitted,
            "remission_at_most": latest.remission.threshold_at_most,
        })
    });
    let milestone = |found| {
        milestone_of(found).map(|milestone| json!({ "date": milestone.date.to_string(), "days": milestone.days }))
    };
    let relapse = match &outcomes.relapse {
        Determination::Determined(RelapseStatus::NotDefinedForScale) => json!({ "status": "not_defined_for_scale" }),
        Determination::Determined(RelapseStatus::NoResponseOrRemissionYet) => {
            json!({ "status": "no_response_or_remission_yet" })
        }
        Determination::Determined(RelapseStatus::NoRelapse) => json!({ "status": "no_relapse" }),
        Determination::Determined(RelapseStatus::Relapsed { first_date, confirming_date }) => json!({
            "status": "relapsed",
            "first_date": first_date.to_string(),
            "confirming_date": confirming_date.to_string(),
        }),
        Determination::Indeterminate { missing } => json!({ "status": "indeterminate", "missing": missing }),
    };
    json!({
        "scale": outcomes.scale.code(),
        "status": evaluation.status.as_str(),
        "missing": missing_of(&evaluation.status),
        "recommendation": evaluation.recommendation.as_str(),
        "baseline": baseline,
        "latest": latest,
        "first_response": milestone(&outcomes.first_response),
        "first_remission": milestone(&outcomes.first_remission),
        "relapse": relapse,
    })
}

fn course_json(course: &CourseOnScales) -> Value {
    json!({
        "status": course.status.as_str(),
        "missing": missing_of(&course.status),
        "recommendation": course.recommendation.as_str(),
        "reasons": course.reasons,
        "source": course.source,
        "primary_scale": course.primary_scale.code(),
        "decided_by": course.decided_by.map(|scale| scale.code()),
        "scales": course.scales.iter().map(scale_course_json).collect::<Vec<Value>>(),
    })
}

/// The plan report JSON (`ketacare plan --format json`).
pub fn plan_report_json(
    input: &PlanInput,
    schedule: &Schedule,
    course: Option<&CourseOnScales>,
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
                "closes_at": local(&measurement.closes_at),
                "status": measurement.status.as_str(),
                "source": measurement.source,
            })
        })
        .collect();
    let adherence = measurement_adherence(&schedule.measurements);
    let notes: Vec<Value> =
        schedule.notes.iter().map(|note| json!({ "text": note.text, "source": note.source })).collect();
    json!({
        "template": input.request.template.as_str(),
        "time_zone": input.request.time_zone.iana_name(),
        "sessions": sessions,
        "measurements": measurements,
        "measurement_adherence": {
            "done": adherence.done,
            "missed": adherence.missed,
            "not_applicable": adherence.not_applicable,
            "percent": adherence.percent,
        },
        "notes": notes,
        "course": course.map(course_json),
        "rules_version": ketacare_core::RULES_VERSION,
        "protocol": { "name": protocol.name, "sha256": protocol.sha256 },
    })
}
