//! The care-plan schedule: templates, spacing across a daylight-saving change in the clinic's time zone,
//! missed sessions, relapse step-back, and the measurement plan with due and overdue status
//! (KNOWLEDGE §3.4, §3.5, §7).

// Table rows read better with owned values.
#![allow(clippy::needless_pass_by_value)]

use jiff::civil::{DateTime, date};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use ketacare_core::plan::{PlanEvent, PlanRequest, PlannedScale, Schedule, Template, plan};
use ketacare_core::protocol::Protocol;

fn new_york() -> TimeZone {
    TimeZone::get("America/New_York").unwrap()
}

fn local(year: i16, month: i8, day: i8, hour: i8) -> DateTime {
    date(year, month, day).at(hour, 0, 0, 0)
}

fn instant(at: DateTime) -> Timestamp {
    new_york().to_timestamp(at).unwrap()
}

fn request(template: Template, taper: bool, first: DateTime, events: Vec<PlanEvent>) -> PlanRequest {
    PlanRequest {
        template,
        iv_maintenance_taper: taper,
        time_zone: new_york(),
        first_session: first,
        events,
        measurements_done: vec![],
        measurements_not_applicable: vec![],
        calendar: None,
        now: instant(first) - SignedDuration::from_hours(24 * 30),
    }
}

fn schedule(request: &PlanRequest) -> Schedule {
    plan(request, &Protocol::shipped()).unwrap()
}

/// Each session as "clinic-local date time offset status".
fn sessions(schedule: &Schedule) -> Vec<String> {
    schedule
        .sessions
        .iter()
        .map(|session| format!("{} {}", session.at.strftime("%a %Y-%m-%d %H:%M %:z"), session.status.as_str()))
        .collect()
}

fn check(request: PlanRequest, expected: &[&str]) {
    let schedule = schedule(&request);
    assert_eq!(sessions(&schedule), expected);
    // Never two counted sessions closer than 48 h in absolute time (KNOWLEDGE §3.4).
    let counted: Vec<Timestamp> = schedule
        .sessions
        .iter()
        .filter(|session| session.status.as_str() != "missed")
        .map(|session| session.at.timestamp())
        .collect();
    for pair in counted.windows(2) {
        assert!(pair[1].duration_since(pair[0]) >= SignedDuration::from_hours(48), "{pair:?}");
    }
}

#[test]
fn three_times_weekly_across_the_fall_daylight_saving_change() {
    // America/New_York leaves daylight time on Sunday 2026-11-01: the local time stays 09:00.
    check(
        request(Template::IvInduction3xWeek2w, false, local(2026, 10, 30, 9), vec![]),
        &[
            "Fri 2026-10-30 09:00 -04:00 planned",
            "Mon 2026-11-02 09:00 -05:00 planned",
            "Wed 2026-11-04 09:00 -05:00 planned",
            "Fri 2026-11-06 09:00 -05:00 planned",
            "Mon 2026-11-09 09:00 -05:00 planned",
            "Wed 2026-11-11 09:00 -05:00 planned",
        ],
    );
    let schedule = schedule(&request(Template::IvInduction3xWeek2w, false, local(2026, 10, 30, 9), vec![]));
    let gap = schedule.sessions[1].at.timestamp().duration_since(schedule.sessions[0].at.timestamp());
    assert_eq!(gap, SignedDuration::from_hours(73), "Friday to Monday spans the extra hour");
}

#[test]
fn three_times_weekly_starts_on_the_next_monday_wednesday_or_friday_after_a_gap() {
    check(
        request(Template::IvInduction2xWeek3w, false, local(2026, 10, 26, 10), vec![]),
        &[
            "Mon 2026-10-26 10:00 -04:00 planned",
            "Thu 2026-10-29 10:00 -04:00 planned",
            "Mon 2026-11-02 10:00 -05:00 planned",
            "Thu 2026-11-05 10:00 -05:00 planned",
            "Mon 2026-11-09 10:00 -05:00 planned",
            "Thu 2026-11-12 10:00 -05:00 planned",
        ],
    );
}

#[test]
fn spacing_is_measured_in_absolute_hours_across_the_spring_change() {
    // Saturday 09:00 to Monday 09:00 across 2027-03-14 is only 47 h, so the restart moves to Tuesday.
    let events = vec![PlanEvent::Given(local(2027, 3, 13, 9)), PlanEvent::Relapse(date(2027, 3, 14))];
    let schedule = schedule(&request(Template::IvInduction2xWeek3w, false, local(2027, 3, 13, 9), events));
    assert_eq!(sessions(&schedule)[..2], ["Sat 2027-03-13 09:00 -05:00 given", "Tue 2027-03-16 09:00 -04:00 planned"]);
}

#[test]
fn a_missed_infusion_is_made_up_and_the_series_keeps_six_sessions() {
    let events = vec![PlanEvent::Given(local(2026, 11, 2, 9)), PlanEvent::Missed(local(2026, 11, 4, 9))];
    check(
        request(Template::IvInduction3xWeek2w, false, local(2026, 11, 2, 9), events),
        &[
            "Mon 2026-11-02 09:00 -05:00 given",
            "Wed 2026-11-04 09:00 -05:00 missed",
            "Fri 2026-11-06 09:00 -05:00 planned",
            "Mon 2026-11-09 09:00 -05:00 planned",
            "Wed 2026-11-11 09:00 -05:00 planned",
            "Fri 2026-11-13 09:00 -05:00 planned",
            "Mon 2026-11-16 09:00 -05:00 planned",
        ],
    );
    let schedule = schedule(&request(
        Template::IvInduction3xWeek2w,
        false,
        local(2026, 11, 2, 9),
        vec![PlanEvent::Given(local(2026, 11, 2, 9)), PlanEvent::Missed(local(2026, 11, 4, 9))],
    ));
    assert!(schedule.notes[0].text.contains("missed"), "{:?}", schedule.notes);
}

#[test]
fn a_missed_esketamine_session_in_weeks_1_to_4_keeps_the_schedule() {
    let first = local(2026, 11, 2, 9);
    let without = schedule(&request(Template::EsketamineTrd, false, first, vec![]));
    let with = schedule(&request(
        Template::EsketamineTrd,
        false,
        first,
        vec![PlanEvent::Given(first), PlanEvent::Missed(local(2026, 11, 5, 9))],
    ));
    let dates = |schedule: &Schedule| schedule.sessions.iter().map(|session| session.at.date()).collect::<Vec<_>>();
    assert_eq!(dates(&with), dates(&without), "the calendar does not move");
    assert_eq!(with.sessions.iter().filter(|session| session.status.as_str() == "planned").count(), 8 + 4 + 6 - 2);
    assert_eq!(with.notes[0].source, "clinical-reference §3.5 missed sessions [JNJ-MISSED]");
}

#[test]
fn esketamine_template_weeks() {
    let schedule = schedule(&request(Template::EsketamineTrd, false, local(2026, 11, 2, 9), vec![]));
    let gaps: Vec<i64> =
        schedule.sessions.windows(2).map(|pair| (pair[1].at.date() - pair[0].at.date()).get_days().into()).collect();
    // Weeks 1-4 twice weekly, weeks 5-8 weekly, then every 2 weeks (shipped default) for 6 sessions.
    assert_eq!(gaps, [3, 4, 3, 4, 3, 4, 3, 4, 7, 7, 7, 14, 14, 14, 14, 14, 14]);
    assert_eq!(schedule.sessions[8].at.date(), date(2026, 11, 30), "week 5 starts on day 29");
}

#[test]
fn a_relapse_returns_the_plan_to_a_more_frequent_schedule() {
    let first = local(2026, 10, 5, 9);
    let mut events: Vec<PlanEvent> = Vec::new();
    let taper = schedule(&request(Template::IvInduction3xWeek2w, true, first, vec![]));
    // Induction (6), weekly (4) and two fortnightly sessions are given as planned; then a relapse.
    for session in &taper.sessions[..12] {
        events.push(PlanEvent::Given(session.at.datetime()));
    }
    let last_given = taper.sessions[11].at.date();
    events.push(PlanEvent::Relapse(last_given.checked_add(jiff::Span::new().days(10)).unwrap()));
    let schedule = schedule(&request(Template::IvInduction3xWeek2w, true, first, events));
    let after: Vec<(&str, i64)> = schedule.sessions[12..]
        .windows(2)
        .map(|pair| (pair[0].step, (pair[1].at.date() - pair[0].at.date()).get_days().into()))
        .collect();
    assert_eq!(after[0], ("maintenance weekly for 1 month", 7), "back from every 2 weeks to weekly");
    assert_eq!(after.len(), 4 + 4 + 3 - 1, "weekly x4, then the taper resumes");
    assert!(schedule.notes.last().unwrap().text.contains("back to \"maintenance weekly for 1 month\" (weekly)"));
}

#[test]
fn measurement_plan_with_due_and_overdue() {
    let first = local(2026, 11, 2, 9);
    let events =
        vec![PlanEvent::Given(first), PlanEvent::Given(local(2026, 11, 4, 9)), PlanEvent::Given(local(2026, 11, 6, 9))];
    let mut plan_request = request(Template::IvInduction3xWeek2w, true, first, events);
    plan_request.now = instant(local(2026, 11, 9, 12));
    plan_request.measurements_done = vec![
        (PlannedScale::Madrs, instant(local(2026, 11, 1, 15))),
        (PlannedScale::Phq9, instant(local(2026, 11, 2, 8))),
        (PlannedScale::Phq9, instant(local(2026, 11, 4, 8))),
    ];
    let schedule = schedule(&plan_request);
    let rows: Vec<String> = schedule
        .measurements
        .iter()
        .filter(|measurement| measurement.due_at.timestamp() <= instant(local(2026, 11, 12, 0)))
        .map(|measurement| {
            format!(
                "{} {} {} [{}]",
                measurement.due_at.strftime("%m-%d %H:%M"),
                measurement.scale.as_str(),
                measurement.status.as_str(),
                measurement.reason
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            "11-02 09:00 phq9 done [before session 1]",
            "11-02 09:00 madrs done [baseline, before session 1]",
            // Session 1 was given: a baseline before it can no longer be taken.
            "11-02 09:00 cognition missed [baseline, before session 1]",
            "11-04 09:00 phq9 done [before session 2]",
            "11-06 09:00 phq9 missed [before session 3]",
            // Session 4 is not given yet: the PHQ-9 before it can still be done.
            "11-09 09:00 phq9 overdue [before session 4]",
            "11-09 09:00 madrs overdue [after session 3]",
            "11-11 09:00 phq9 upcoming [before session 5]",
        ]
    );
}

#[test]
fn the_self_report_clock_and_maintenance_safety_screens() {
    let schedule = schedule(&request(Template::IvInduction3xWeek2w, true, local(2026, 11, 2, 9), vec![]));
    let count = |scale: PlannedScale, reason: &str| {
        schedule
            .measurements
            .iter()
            .filter(|measurement| measurement.scale == scale && measurement.reason.contains(reason))
            .count()
    };
    // Weekly sessions leave no room for a self-report; each 14-day gap holds one (4 gaps), each monthly gap
    // one every 7 days until the day before the next session (3 in February, 4 in March and April), and one
    // follows the last session.
    assert_eq!(count(PlannedScale::Phq9, "self-report"), 4 + 3 + 4 + 4 + 1);
    assert_eq!(count(PlannedScale::Phq9, "before session"), 17);
    // Maintenance runs from 2026-11-20 to 2027-05-05: urinary monthly (5 times), cognition at 3 months.
    assert_eq!(count(PlannedScale::UrinarySymptoms, "month"), 5);
    assert_eq!(count(PlannedScale::Cognition, "month"), 1);
    assert_eq!(count(PlannedScale::Madrs, ""), 3);
}

#[test]
fn out_of_order_events_are_rejected_with_the_field_named() {
    let events = vec![PlanEvent::Given(local(2026, 11, 4, 9)), PlanEvent::Given(local(2026, 11, 2, 9))];
    let error =
        plan(&request(Template::IvInduction3xWeek2w, false, local(2026, 11, 2, 9), events), &Protocol::shipped())
            .unwrap_err();
    assert_eq!(error.to_string(), "events: event at 2026-11-02T09:00:00 is out of order");
}

/// One schedule whose sessions should fall on the listed days: `expected` holds each session as
/// "weekday month-day status".
struct RhythmCase {
    name: &'static str,
    template: Template,
    taper: bool,
    first_session: DateTime,
    events: Vec<PlanEvent>,
    expected: &'static [&'static str],
}

/// Each session as "weekday month-day status".
fn weekdays(schedule: &Schedule) -> Vec<String> {
    schedule
        .sessions
        .iter()
        .map(|session| format!("{} {}", session.at.strftime("%a %m-%d"), session.status.as_str()))
        .collect()
}

/// Checks every case and reports all that fail: the days, the number of counted sessions of each step kept,
/// and never two counted sessions closer than 48 h (KNOWLEDGE §3.4).
fn check_rhythm(cases: Vec<RhythmCase>) {
    let mut failures = Vec::new();
    for case in cases {
        let schedule = schedule(&request(case.template, case.taper, case.first_session, case.events));
        let days = weekdays(&schedule);
        if days != case.expected {
            failures.push(format!("{}:\n  expected {:?}\n  got      {:?}", case.name, case.expected, days));
        }
        let counted: Vec<_> = schedule.sessions.iter().filter(|session| session.number.is_some()).collect();
        let planned_without_events =
            plan(&request(case.template, case.taper, case.first_session, vec![]), &Protocol::shipped()).unwrap();
        if counted.len() != planned_without_events.sessions.len() {
            failures.push(format!(
                "{}: {} counted sessions, the plan holds {}",
                case.name,
                counted.len(),
                planned_without_events.sessions.len()
            ));
        }
        for pair in counted.windows(2) {
            if pair[1].at.timestamp().duration_since(pair[0].at.timestamp()) < SignedDuration::from_hours(48) {
                failures.push(format!("{}: {} and {} are less than 48 h apart", case.name, pair[0].at, pair[1].at));
            }
        }
    }
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn a_made_up_infusion_keeps_the_weekdays_of_the_twice_weekly_rhythm() {
    let monday = local(2026, 11, 2, 9);
    check_rhythm(vec![
        RhythmCase {
            name: "the first Monday missed",
            template: Template::IvInduction2xWeek3w,
            taper: false,
            first_session: monday,
            events: vec![PlanEvent::Missed(monday)],
            expected: &[
                "Mon 11-02 missed",
                "Thu 11-05 planned",
                "Mon 11-09 planned",
                "Thu 11-12 planned",
                "Mon 11-16 planned",
                "Thu 11-19 planned",
                "Mon 11-23 planned",
            ],
        },
        RhythmCase {
            name: "a Monday missed after a week given",
            template: Template::IvInduction2xWeek3w,
            taper: false,
            first_session: monday,
            events: vec![
                PlanEvent::Given(monday),
                PlanEvent::Given(local(2026, 11, 5, 9)),
                PlanEvent::Missed(local(2026, 11, 9, 9)),
            ],
            expected: &[
                "Mon 11-02 given",
                "Thu 11-05 given",
                "Mon 11-09 missed",
                "Thu 11-12 planned",
                "Mon 11-16 planned",
                "Thu 11-19 planned",
                "Mon 11-23 planned",
            ],
        },
        RhythmCase {
            name: "a Thursday missed",
            template: Template::IvInduction2xWeek3w,
            taper: false,
            first_session: monday,
            events: vec![PlanEvent::Given(monday), PlanEvent::Missed(local(2026, 11, 5, 9))],
            expected: &[
                "Mon 11-02 given",
                "Thu 11-05 missed",
                "Mon 11-09 planned",
                "Thu 11-12 planned",
                "Mon 11-16 planned",
                "Thu 11-19 planned",
                "Mon 11-23 planned",
            ],
        },
        RhythmCase {
            name: "a Monday and the Thursday after it missed",
            template: Template::IvInduction2xWeek3w,
            taper: false,
            first_session: monday,
            events: vec![
                PlanEvent::Given(monday),
                PlanEvent::Given(local(2026, 11, 5, 9)),
                PlanEvent::Missed(local(2026, 11, 9, 9)),
                PlanEvent::Missed(local(2026, 11, 12, 9)),
            ],
            expected: &[
                "Mon 11-02 given",
                "Thu 11-05 given",
                "Mon 11-09 missed",
                "Thu 11-12 missed",
                "Mon 11-16 planned",
                "Thu 11-19 planned",
                "Mon 11-23 planned",
                "Thu 11-26 planned",
            ],
        },
        RhythmCase {
            // The series ends on a Monday; the weekly taper keeps the calendar week and follows on Mondays.
            name: "a Monday missed, then the maintenance taper",
            template: Template::IvInduction2xWeek3w,
            taper: true,
            first_session: monday,
            events: vec![PlanEvent::Given(monday), PlanEvent::Missed(local(2026, 11, 5, 9))],
            expected: &[
                "Mon 11-02 given",
                "Thu 11-05 missed",
                "Mon 11-09 planned",
                "Thu 11-12 planned",
                "Mon 11-16 planned",
                "Thu 11-19 planned",
                "Mon 11-23 planned",
                "Mon 11-30 planned",
                "Mon 12-07 planned",
                "Mon 12-14 planned",
                "Mon 12-21 planned",
                "Mon 01-04 planned",
                "Mon 01-18 planned",
                "Mon 02-01 planned",
                "Mon 02-15 planned",
                "Mon 03-15 planned",
                "Thu 04-15 planned",
                "Sat 05-15 planned",
            ],
        },
        RhythmCase {
            name: "without a missed infusion the taper follows the week of the last Thursday",
            template: Template::IvInduction2xWeek3w,
            taper: true,
            first_session: monday,
            events: vec![],
            expected: &[
                "Mon 11-02 planned",
                "Thu 11-05 planned",
                "Mon 11-09 planned",
                "Thu 11-12 planned",
                "Mon 11-16 planned",
                "Thu 11-19 planned",
                "Mon 11-23 planned",
                "Mon 11-30 planned",
                "Mon 12-07 planned",
                "Mon 12-14 planned",
                "Mon 12-28 planned",
                "Mon 01-11 planned",
                "Mon 01-25 planned",
                "Mon 02-08 planned",
                "Mon 03-08 planned",
                "Thu 04-08 planned",
                "Sat 05-08 planned",
            ],
        },
        RhythmCase {
            name: "Monday/Wednesday/Friday: a Wednesday missed",
            template: Template::IvInduction3xWeek2w,
            taper: false,
            first_session: monday,
            events: vec![PlanEvent::Given(monday), PlanEvent::Missed(local(2026, 11, 4, 9))],
            expected: &[
                "Mon 11-02 given",
                "Wed 11-04 missed",
                "Fri 11-06 planned",
                "Mon 11-09 planned",
                "Wed 11-11 planned",
                "Fri 11-13 planned",
                "Mon 11-16 planned",
            ],
        },
    ]);
}

#[test]
fn a_schedule_that_runs_past_the_supported_dates_is_refused_with_the_field_named() {
    // jiff's calendar ends on 9999-12-31 (and its instants late on 9999-12-30 UTC); no input may panic.
    let request = |template, taper, first_session, events| PlanRequest {
        template,
        iv_maintenance_taper: taper,
        time_zone: new_york(),
        first_session,
        events,
        measurements_done: vec![],
        measurements_not_applicable: vec![],
        now: instant(local(2026, 11, 2, 9)),
        calendar: None,
    };
    let cases: Vec<(&str, PlanRequest, &str)> = vec![
        (
            "twice weekly starting ten days before the end of the calendar",
            request(Template::IvInduction2xWeek3w, false, local(9999, 12, 20, 9), vec![]),
            "first_session",
        ),
        (
            "the monthly taper runs past the end",
            request(Template::IvInduction3xWeek2w, true, local(9999, 8, 1, 9), vec![]),
            "first_session",
        ),
        (
            "esketamine maintenance runs past the end",
            request(Template::EsketamineTrd, false, local(9999, 10, 1, 9), vec![]),
            "first_session",
        ),
        (
            "the first session cannot be placed in the clinic's zone",
            request(Template::IvInduction3xWeek2w, false, local(9999, 12, 31, 9), vec![]),
            "first_session",
        ),
        (
            "the baseline screens fall before the start of the calendar",
            request(Template::IvInduction3xWeek2w, false, local(-9999, 1, 5, 9), vec![]),
            "first_session",
        ),
        (
            "a relapse on the last day of the calendar",
            request(
                Template::IvInduction3xWeek2w,
                true,
                local(2026, 11, 2, 9),
                vec![PlanEvent::Given(local(2026, 11, 2, 9)), PlanEvent::Relapse(date(9999, 12, 31))],
            ),
            "events",
        ),
        (
            "a session given on the last day of the calendar",
            request(
                Template::IvInduction3xWeek2w,
                false,
                local(2026, 11, 2, 9),
                vec![PlanEvent::Given(local(9999, 12, 31, 9))],
            ),
            "events",
        ),
    ];
    let mut failures = Vec::new();
    for (name, plan_request, field) in cases {
        match std::panic::catch_unwind(|| plan(&plan_request, &Protocol::shipped())) {
            Err(_) => failures.push(format!("{name}: panicked")),
            Ok(Ok(_)) => failures.push(format!("{name}: scheduled")),
            Ok(Err(error)) if error.field != field => {
                failures.push(format!("{name}: names {} ({error}), expected {field}", error.field));
            }
            Ok(Err(_)) => {}
        }
    }
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn a_step_the_protocol_gives_no_sessions_plans_none() {
    // `esketamine_week9_sessions` may be 0 (plan no week-9 sessions ahead): weeks 1-8 only.
    let protocol = Protocol::parse(&ketacare_core::protocol::SHIPPED_PROTOCOL_TOML.replacen(
        "esketamine_week9_sessions = { value = 6",
        "esketamine_week9_sessions = { value = 0",
        1,
    ))
    .unwrap();
    assert_eq!(protocol.schedule.esketamine_week9_sessions.value, 0);
    let schedule = plan(&request(Template::EsketamineTrd, false, local(2026, 11, 2, 9), vec![]), &protocol).unwrap();
    let steps: Vec<&str> = schedule.sessions.iter().map(|session| session.step).collect();
    assert_eq!(steps.len(), 8 + 4, "{steps:?}");
    assert!(!steps.contains(&"maintenance week 9 onwards"), "{steps:?}");
}

/// Overdue that means something: each row is `(now, results, not applicable, expected statuses of the
/// measurements due by 11-20, expected adherence)`; every failing case is reported.
#[test]
fn windows_close_into_missed_and_adherence_counts_them() {
    let first = local(2026, 11, 2, 9);
    // Session 1 given, then nothing recorded: the later sessions stay planned (twice weekly).
    let at = |day: i8, hour: i8| instant(local(2026, 11, day, hour));
    type Case = (
        &'static str,
        Timestamp,
        Vec<(PlannedScale, Timestamp)>,
        Vec<(PlannedScale, Timestamp)>,
        &'static str,
        (usize, usize, usize, Option<u32>),
    );
    let cases: Vec<Case> = vec![
        (
            "now 11-10: before session 2 (11-05, not given) closed when the next PHQ-9 window opened; 11-09 overdue",
            at(10, 12),
            vec![(PlannedScale::Phq9, at(2, 8)), (PlannedScale::Madrs, at(1, 8))],
            vec![],
            "11-02 phq9 done|11-02 madrs done|11-02 cognition missed|11-05 phq9 missed|11-09 phq9 overdue|11-12 phq9 upcoming|11-12 madrs due|11-16 phq9 upcoming|11-19 phq9 upcoming",
            (2, 2, 0, Some(50)),
        ),
        (
            "now 11-13: 11-09 closed when the 11-12 window opened (11-11): missed",
            at(13, 12),
            vec![(PlannedScale::Phq9, at(2, 8)), (PlannedScale::Madrs, at(1, 8))],
            vec![],
            "11-02 phq9 done|11-02 madrs done|11-02 cognition missed|11-05 phq9 missed|11-09 phq9 missed|11-12 phq9 overdue|11-12 madrs overdue|11-16 phq9 upcoming|11-19 phq9 upcoming",
            (2, 3, 0, Some(40)),
        ),
        (
            "a late result within the grace counts as done (11-10, before the next PHQ-9 window opens 11-11)",
            at(13, 12),
            vec![(PlannedScale::Phq9, at(2, 8)), (PlannedScale::Madrs, at(1, 8)), (PlannedScale::Phq9, at(10, 10))],
            vec![],
            "11-02 phq9 done|11-02 madrs done|11-02 cognition missed|11-05 phq9 missed|11-09 phq9 done|11-12 phq9 overdue|11-12 madrs overdue|11-16 phq9 upcoming|11-19 phq9 upcoming",
            (3, 2, 0, Some(60)),
        ),
        (
            "marked not applicable: neither overdue nor missed, not counted",
            at(13, 12),
            vec![(PlannedScale::Phq9, at(2, 8)), (PlannedScale::Madrs, at(1, 8))],
            vec![(PlannedScale::Cognition, at(2, 9)), (PlannedScale::Phq9, at(9, 9))],
            "11-02 phq9 done|11-02 madrs done|11-02 cognition not_applicable|11-05 phq9 missed|11-09 phq9 not_applicable|11-12 phq9 overdue|11-12 madrs overdue|11-16 phq9 upcoming|11-19 phq9 upcoming",
            (2, 1, 2, Some(67)),
        ),
        (
            "nothing done or missed yet: no adherence",
            at(1, 12),
            vec![],
            vec![],
            "11-02 phq9 due|11-02 madrs due|11-02 cognition due|11-05 phq9 upcoming|11-09 phq9 upcoming|11-12 phq9 upcoming|11-12 madrs upcoming|11-16 phq9 upcoming|11-19 phq9 upcoming",
            (0, 0, 0, None),
        ),
    ];
    let mut failures = Vec::new();
    for (name, now, done, not_applicable, expected, adherence) in cases {
        let mut plan_request = request(Template::IvInduction2xWeek3w, false, first, vec![PlanEvent::Given(first)]);
        plan_request.now = now;
        plan_request.measurements_done = done;
        plan_request.measurements_not_applicable = not_applicable;
        let schedule = schedule(&plan_request);
        let got: Vec<String> = schedule
            .measurements
            .iter()
            .filter(|measurement| measurement.due_at.timestamp() <= at(20, 0))
            .map(|measurement| {
                format!(
                    "{} {} {}",
                    measurement.due_at.strftime("%m-%d"),
                    measurement.scale.as_str(),
                    measurement.status.as_str()
                )
            })
            .collect();
        let got = got.join("|");
        if got != expected {
            failures.push(format!("{name}:\n  got      {got}\n  expected {expected}"));
        }
        let counted = ketacare_core::plan::measurement_adherence(&schedule.measurements);
        let got_adherence = (counted.done, counted.missed, counted.not_applicable, counted.percent);
        if got_adherence != adherence {
            failures.push(format!("{name}: adherence {got_adherence:?}, expected {adherence:?}"));
        }
    }
    assert!(failures.is_empty(), "{} failing case(s):\n{}", failures.len(), failures.join("\n"));
}
