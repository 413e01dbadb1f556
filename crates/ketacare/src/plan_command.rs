//! `ketacare plan PLAN.json [--format json|text]`: the generated schedule, the measurement plan with due and
//! overdue status, and (when the file gives scale totals) the course evaluation. The plan file format and
//! the JSON output are ketacare-case's (`plan_format`, shared with the HTTP API); this file owns the text.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use jiff::Timestamp;
use ketacare_case::{PlanInput, parse_plan_json, plan_report_json};
use ketacare_core::course::CourseOnScales;
use ketacare_core::plan::{Schedule, plan};

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

pub fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let PlanArgs { file, format, protocol: protocol_path } = args;
    let protocol = crate::protocol_file::load_protocol(protocol_path.as_deref())?;
    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let bad_input = |error: &dyn std::fmt::Display| {
        eprintln!("error: {error}");
        ExitCode::from(EXIT_BAD_INPUT)
    };
    let input = match parse_plan_json(&bytes, Timestamp::now()) {
        Ok(input) => input,
        Err(error) => return Ok(bad_input(&error)),
    };
    let schedule = match plan(&input.request, &protocol) {
        Ok(schedule) => schedule,
        Err(error) => return Ok(bad_input(&error)),
    };
    let course = input.course.as_ref().map(|course| course.evaluate(&protocol));
    match format {
        OutputFormat::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&plan_report_json(&input, &schedule, course.as_ref(), &protocol))?
            );
        }
        OutputFormat::Text => print!("{}", render_text(&input, &schedule, course.as_ref())),
    }
    Ok(ExitCode::SUCCESS)
}

fn render_text(input: &PlanInput, schedule: &Schedule, course: Option<&CourseOnScales>) -> String {
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
    let adherence = ketacare_core::plan::measurement_adherence(&schedule.measurements);
    let percent = adherence.percent.map_or_else(|| "not yet counted".to_owned(), |percent| format!("{percent} %"));
    text.push_str(&format!(
        "\nMeasurements ({} planned; adherence {percent}: {} done, {} missed, {} not applicable)\n",
        schedule.measurements.len(),
        adherence.done,
        adherence.missed,
        adherence.not_applicable
    ));
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
