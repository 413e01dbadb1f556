//! The clinical documents of ketacare-case: the assess case (single and `--batch`), chart records,
//! the session document and one observation, the plan document, and the site protocol's TOML. Each
//! check runs the document's real reader and then everything the CLI or the server does with what it
//! read, so a value that parses but breaks a rule engine is found too.

use std::sync::OnceLock;

use jiff::Timestamp;
use jiff::civil::Date;
use ketacare_case::session_format::{check_session, parse_observation, parse_session_json, session_report_json};
use ketacare_case::{
    assess_batch, parse_bp_entry, parse_case, parse_case_bytes, parse_concomitant_entry, parse_cssrs_section,
    parse_ect_section, parse_episode_section, parse_history_entry, parse_override_entry, parse_patient_section,
    parse_plan_json, parse_scales_section, parse_trial_entry, plan_report_json, read_json_document, report_text,
    write_report_json_pretty,
};
use ketacare_core::assess::assess_case as assess;
use ketacare_core::plan::plan;
use ketacare_core::protocol::{Protocol, protocol_entries};
use ketacare_core::session::alerts::evaluate;
use serde_json::{Value, json};

/// The date every case is assessed as of when it names none (fixed, so that a finding replays).
pub fn today() -> Date {
    Date::constant(2026, 12, 1)
}

/// The clock of a plan or session document that gives no `now`.
pub fn clock() -> Timestamp {
    "2026-12-01T12:00:00Z".parse().expect("a valid instant")
}

/// The shipped protocol, parsed once.
pub fn shipped() -> &'static Protocol {
    static SHIPPED: OnceLock<Protocol> = OnceLock::new();
    SHIPPED.get_or_init(Protocol::shipped)
}

/// The vignette cases (vignettes/*.case.json), the worked examples every protocol is tried on.
pub const VIGNETTE_CASES: &[&str] = &[
    include_str!("../../../vignettes/V1.case.json"),
    include_str!("../../../vignettes/V2.case.json"),
    include_str!("../../../vignettes/V3.case.json"),
    include_str!("../../../vignettes/V4.case.json"),
    include_str!("../../../vignettes/V5.case.json"),
    include_str!("../../../vignettes/V6.case.json"),
    include_str!("../../../vignettes/V7.case.json"),
    include_str!("../../../vignettes/V8.case.json"),
    include_str!("../../../vignettes/V9.case.json"),
    include_str!("../../../vignettes/V10.case.json"),
    include_str!("../../../vignettes/V11.case.json"),
    include_str!("../../../vignettes/V11-EU.case.json"),
    include_str!("../../../vignettes/V12.case.json"),
];

/// The session documents of docs/examples.
pub const EXAMPLE_SESSIONS: &[&str] = &[
    include_str!("../../../docs/examples/session-iv.json"),
    include_str!("../../../docs/examples/session-esketamine.json"),
];

/// The plan documents of docs/examples.
pub const EXAMPLE_PLANS: &[&str] = &[
    include_str!("../../../docs/examples/plan-iv.json"),
    include_str!("../../../docs/examples/plan-esketamine-relapse.json"),
];

/// A report is written as JSON that our own strict reader accepts back, and as text.
fn render_report(report: &ketacare_core::assess::AssessmentReport) -> Value {
    let mut json = Vec::new();
    write_report_json_pretty(report, &mut json).expect("a report serialises");
    let value = read_json_document(&json).unwrap_or_else(|error| panic!("the report JSON is not strict JSON: {error}"));
    let _ = report_text(report);
    value
}

/// `ketacare assess CASE.json`: the case reader, the assessment, both renderings.
pub fn assess_case(data: &[u8]) {
    if let Ok(case) = parse_case_bytes(data, today()) {
        render_report(&assess(&case, shipped()));
    }
}

/// `ketacare assess --batch`: one output line per non-blank input line, each a report or a refusal.
pub fn assess_batch_lines(data: &[u8]) {
    let mut out = Vec::new();
    let summary = assess_batch(data, shipped(), today(), &mut out).expect("a batch read from memory cannot fail");
    let lines: Vec<&[u8]> = out.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()).collect();
    assert_eq!(lines.len(), summary.assessed + summary.malformed, "one output line per case");
    let mut refusals = 0;
    for line in lines {
        let value = read_json_document(line).unwrap_or_else(|error| panic!("a batch line is not strict JSON: {error}"));
        if value.get("error").is_some() && value.get("line").is_some() {
            refusals += 1;
        }
    }
    assert_eq!(refusals, summary.malformed, "one refusal line per malformed case");
}

/// `assess` single vs `--batch`: the file as the single command reads it, and the same case on one
/// line (its line breaks, which valid JSON has only between tokens, made spaces) in a batch, must give
/// the same report; a case refused alone is refused in the batch too, with the same message when the
/// file was already one line.
pub fn assess_single_vs_batch(data: &[u8]) {
    if data.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    let single = parse_case_bytes(data, today()).map(|case| render_report(&assess(&case, shipped())));
    let one_line: Vec<u8> = data.iter().map(|&byte| if matches!(byte, b'\n' | b'\r') { b' ' } else { byte }).collect();
    let mut out = Vec::new();
    let mut batch_input = one_line.clone();
    batch_input.push(b'\n');
    let summary = assess_batch(batch_input.as_slice(), shipped(), today(), &mut out).expect("in memory");
    assert_eq!(summary.assessed + summary.malformed, 1, "one non-blank line in, one line out");
    let batch_line = serde_json::from_slice::<Value>(&out).expect("a batch line is JSON");
    match single {
        Ok(report) => assert_eq!(report, batch_line, "the single and the batch report differ"),
        Err(error) => {
            let single_line = !data.iter().any(|byte| matches!(byte, b'\n' | b'\r'));
            if single_line {
                assert_eq!(batch_line, json!({ "line": 1, "error": error.to_string() }), "the refusals differ");
            } else {
                // A line break inside a string is refused alone but is a space on one line; only an
                // accepted batch case must be what the single command accepts, checked above.
            }
        }
    }
}

/// The chart's record sections, and where the same value sits in a case.
const CHART_SECTIONS: [&str; 10] =
    ["patient", "episode", "ect", "history", "concomitant", "trials", "bp", "scales", "cssrs", "overrides"];

/// A chart record (first byte: the section; the rest: the record's JSON) through the section's reader,
/// which must accept it exactly when the case reader accepts the same value in a case, with the same
/// error; an accepted case is assessed.
pub fn chart_record(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else { return };
    // A record is a value; `null` in a case means the section is absent, which no record can be.
    let Some(value) = read_json_document(body).ok().filter(|value| !value.is_null()) else { return };
    let section = CHART_SECTIONS[usize::from(selector) % CHART_SECTIONS.len()];
    let as_of = today();
    let (in_case, record) = match section {
        "patient" => ("patient", parse_patient_section("patient", &value, as_of)),
        "episode" => ("episode", parse_episode_section("episode", &value, as_of)),
        "ect" => ("ect", parse_ect_section("ect", &value).map(drop)),
        "history" => ("history[0]", parse_history_entry("history[0]", &value).map(drop)),
        "concomitant" => ("concomitant[0]", parse_concomitant_entry("concomitant[0]", &value).map(drop)),
        "trials" => ("trials[0]", parse_trial_entry("trials[0]", &value).map(drop)),
        "bp" => ("bp[0]", parse_bp_entry("bp[0]", &value).map(drop)),
        "scales" => ("scales", parse_scales_section("scales", &value).map(drop)),
        "cssrs" => ("cssrs", parse_cssrs_section("cssrs", &value).map(drop)),
        _ => ("overrides[0]", parse_override_entry("overrides[0]", &value).map(drop)),
    };
    let placed = if in_case.ends_with("[0]") { json!([value]) } else { value };
    let mut case_value = serde_json::Map::new();
    case_value.insert("as_of".to_owned(), json!(as_of.to_string()));
    case_value.insert(section.to_owned(), placed);
    let case_value = Value::Object(case_value);
    let case = parse_case(&case_value, as_of);
    match (&record, &case) {
        (Ok(()), Ok(case)) => {
            render_report(&assess(case, shipped()));
        }
        (Err(record_error), Err(case_error)) => {
            assert_eq!(record_error, case_error, "the record and the case refuse the value differently")
        }
        _ => panic!("the record reader says {record:?} but the case reader says {:?}", case.as_ref().map(drop)),
    }
}

/// `ketacare session check`: the session document, the gate, alert replay, discharge, REMS form, report JSON.
pub fn session_document(data: &[u8]) {
    let Ok(input) = parse_session_json(data) else { return };
    let now = input.now.unwrap_or_else(clock);
    let report = check_session(&input, shipped(), now);
    let json = session_report_json(&input, &report, shipped(), now);
    serde_json::to_string(&json).expect("a session report serialises");
}

/// One observation as the API receives it (first byte: which example session it joins; the rest:
/// the observation's JSON), read in the session's time zone and judged by the alert engine after the
/// session's timeline when it is not earlier than the last entry (the server's rule for a live entry).
pub fn session_observation(data: &[u8]) {
    static SESSIONS: OnceLock<Vec<ketacare_case::session_format::SessionInput>> = OnceLock::new();
    let sessions = SESSIONS.get_or_init(|| {
        EXAMPLE_SESSIONS
            .iter()
            .map(|text| parse_session_json(text.as_bytes()).expect("the example sessions parse"))
            .collect()
    });
    let Some((&selector, body)) = data.split_first() else { return };
    let Ok(value) = read_json_document(body) else { return };
    let input = &sessions[usize::from(selector) % sessions.len()];
    let Ok(observation) = parse_observation(&value, input.session.time_zone()) else { return };
    let timeline = input.session.timeline();
    if timeline.entries().last().is_some_and(|last| observation.at < last.at) {
        return;
    }
    evaluate(timeline, &observation, &shipped().alerts);
    let mut extended = timeline.clone();
    extended.push(observation).expect("an observation not earlier than the last one extends the timeline");
}

/// `ketacare plan`: the plan document, the schedule, the course evaluation and the report JSON.
pub fn plan_document(data: &[u8]) {
    run_plan(data, shipped());
}

fn run_plan(data: &[u8], protocol: &Protocol) {
    let Ok(input) = parse_plan_json(data, clock()) else { return };
    let Ok(schedule) = plan(&input.request, protocol) else { return };
    let course = input.course.as_ref().map(|course| course.evaluate(protocol));
    let json = plan_report_json(&input, &schedule, course.as_ref(), protocol);
    serde_json::to_string(&json).expect("a plan report serialises");
}

/// A site protocol file: a protocol that is accepted lists its settings, and every vignette, example
/// session and example plan runs under it without a panic.
pub fn protocol_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(protocol) = Protocol::parse(text) else { return };
    protocol_entries(text).expect("an accepted protocol lists its settings");
    for case in VIGNETTE_CASES {
        let case = parse_case_bytes(case.as_bytes(), today()).expect("the vignettes parse");
        render_report(&assess(&case, &protocol));
    }
    for session in EXAMPLE_SESSIONS {
        let input = parse_session_json(session.as_bytes()).expect("the example sessions parse");
        let now = input.now.unwrap_or_else(clock);
        let report = check_session(&input, &protocol, now);
        serde_json::to_string(&session_report_json(&input, &report, &protocol, now)).expect("serialises");
    }
    for plan_text in EXAMPLE_PLANS {
        run_plan(plan_text.as_bytes(), &protocol);
    }
}
