//! `ketacare plan PLAN.json [--format json|text]`: the generated schedule, the measurement plan with due and
//! overdue status, and (when the file gives scale totals) the course evaluation. This file owns the plan
//! file format (see docs/sessions.md) and the output; the scheduling is the core's.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use jiff::Timestamp;
use ketacare_core::course::{CourseEvaluation, CoursePhase, CourseStatus, evaluate_course};
use ketacare_core::outcomes::{Assessment, OutcomeScale, ScoreSeries};
use ketacare_core::plan::{PlanEvent, PlanRequest, PlannedScale, Schedule, Template, plan};
use ketacare_core::protocol::Protocol;
use serde_json::{Value, json};

use crate::input::{BadInput, Object, at, objects, parse_document, parse_local, place, time_zone};

/// Exit status for a plan file that cannot be used (the status clap uses for bad arguments).
const EXIT_BAD_INPUT: u8 = 2;

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The plan file (JSON; see docs/sessions.md)
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

/// Everything read from a plan file.
#[derive(Debug)]
struct PlanInput {
    request: PlanRequest,
    course: Option<(ScoreSeries, Option<jiff::civil::Date>, CoursePhase)>,
}

pub fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let PlanArgs { file, format, protocol: protocol_path } = args;
    let protocol = crate::protocol_file::load_protocol(protocol_path.as_deref())?;
    let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let bad_input = |error: BadInput| {
        eprintln!("error: {error}");
        ExitCode::from(EXIT_BAD_INPUT)
    };
    let input = match read_plan(&text, Timestamp::now()) {
        Ok(input) => input,
        Err(error) => return Ok(bad_input(error)),
    };
    let schedule = match plan(&input.request, &protocol) {
        Ok(schedule) => schedule,
        Err(error) => return Ok(bad_input(BadInput(error.to_string()))),
    };
    let course = input.course.as_ref().map(|(series, first, phase)| evaluate_course(series, *first, *phase, &protocol));
    match format {
        OutputFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&render_json(&input, &schedule, course.as_ref(), &protocol))?);
        }
        OutputFormat::Text => print!("{}", render_text(&input, &schedule, course.as_ref())),
    }
    Ok(ExitCode::SUCCESS)
}

fn read_events(items: Vec<Value>) -> Result<Vec<PlanEvent>, BadInput> {
    objects("events", items)?
        .into_iter()
        .map(|mut event| {
            let given = event.local_datetime("given")?;
            let missed = event.local_datetime("missed")?;
            let relapse = event.date("relapse")?;
            let path = event.path("");
            event.finish()?;
            match (given, missed, relapse) {
                (Some(at), None, None) => Ok(PlanEvent::Given(at)),
                (None, Some(at), None) => Ok(PlanEvent::Missed(at)),
                (None, None, Some(date)) => Ok(PlanEvent::Relapse(date)),
                _ => Err(BadInput::new(
                    path.trim_end_matches('.'),
                    "must have exactly one of given, missed (local date-time) or relapse (date)",
                )),
            }
        })
        .collect()
}

fn read_course(
    object: Option<Object>,
) -> Result<Option<(ScoreSeries, Option<jiff::civil::Date>, CoursePhase)>, BadInput> {
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
        .ok_or_else(|| BadInput::new("course.scale", "is required"))?;
    let phase = object
        .choice(
            "phase",
            &[
                ("induction", CoursePhase::Induction { complete: false }),
                ("induction_complete", CoursePhase::Induction { complete: true }),
                ("maintenance", CoursePhase::Maintenance),
            ],
        )?
        .ok_or_else(|| BadInput::new("course.phase", "is required"))?;
    let first_treatment_date = object.date("first_treatment_date")?;
    let totals = object.array("totals")?;
    let mut assessments = Vec::new();
    for mut total in objects("course.totals", totals)? {
        let date = total.date("date")?.ok_or_else(|| BadInput::new(&total.path("date"), "is required"))?;
        let path = total.path("total");
        let value = total.integer("total")?;
        let value = value
            .map(|value| u8::try_from(value).map_err(|_| BadInput::new(&path, format!("must be 0-255, got {value}"))))
            .transpose()?;
        total.finish()?;
        assessments.push(Assessment { date, total: value });
    }
    object.finish()?;
    let series = at("course.totals", ScoreSeries::new(scale, assessments))?;
    Ok(Some((series, first_treatment_date, phase)))
}

fn read_plan(text: &str, clock: Timestamp) -> Result<PlanInput, BadInput> {
    let mut root = parse_document(text)?;
    let template = root
        .choice(
            "template",
            &[
                ("induction_2x_week_3w", Template::IvInduction2xWeek3w),
                ("induction_3x_week_2w", Template::IvInduction3xWeek2w),
                ("esketamine_trd", Template::EsketamineTrd),
            ],
        )?
        .ok_or_else(|| BadInput::new("template", "is required"))?;
    let iv_maintenance_taper = root.boolean("maintenance_taper")?.unwrap_or(false);
    if iv_maintenance_taper && template == Template::EsketamineTrd {
        return Err(BadInput::new("maintenance_taper", "applies to the IV templates only"));
    }
    let zone = time_zone(&mut root)?;
    let first_text = root.required_string("first_session")?;
    let first_session = parse_local("first_session", &first_text)?;
    place("first_session", first_session, &zone)?;
    let now = root.instant("now", &zone)?.unwrap_or(clock);
    let events = read_events(root.array("events")?)?;
    let mut measurements_done = Vec::new();
    for mut done in objects("measurements_done", root.array("measurements_done")?)? {
        let scale_path = done.path("scale");
        let word = done.required_string("scale")?;
        let scale = PlannedScale::parse(&word).ok_or_else(|| {
            BadInput::new(
                &scale_path,
                format!("must be one of phq9, madrs, urinary_symptoms, cognition, got \"{word}\""),
            )
        })?;
        let taken = done.instant("at", &zone)?.ok_or_else(|| BadInput::new(&done.path("at"), "is required"))?;
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

fn render_json(
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

fn render_text(input: &PlanInput, schedule: &Schedule, course: Option<&CourseEvaluation>) -> String {
    let request = &input.request;
    let mut text = format!(
        "Plan {} ({}), {} sessions\n",
        request.template.as_str(),
        request.time_zone.iana_name().unwrap_or("clinic time"),
        schedule.sessions.iter().filter(|session| session.number.is_some()).count()
    );
    for session in &schedule.sessions {
        let number = session.number.map(|number| format!("#{number}")).unwrap_or_else(|| "-".to_owned());
        text.push_str(&format!(
            "  {:>3} {} {:<7} {}\n",
            number,
            session.at.strftime("%a %Y-%m-%d %H:%M %Z"),
            session.status.as_str(),
            session.step
        ));
    }
    text.push_str(&format!("\nMeasurements ({} planned)\n", schedule.measurements.len()));
    for measurement in &schedule.measurements {
        text.push_str(&format!(
            "  {} {:<16} {:<8} {}\n",
            measurement.due_at.strftime("%Y-%m-%d %H:%M"),
            measurement.scale.as_str(),
            measurement.status.as_str(),
            measurement.reason
        ));
    }
    if !schedule.notes.is_empty() {
        text.push_str("\nNotes\n");
        for note in &schedule.notes {
            text.push_str(&format!("  {} [{}]\n", note.text, note.source));
        }
    }
    if let Some(course) = course {
        text.push_str(&format!("\nCourse: {} -> {}\n", course.status.as_str(), course.recommendation.as_str()));
        for reason in &course.reasons {
            text.push_str(&format!("  {reason}\n"));
        }
        text.push_str(&format!("  [{}]\n", course.source));
    }
    text
}
