//! The schedule generator with a clinic calendar (issue 14): sessions on open days at a free chair, the
//! protocol's spacing kept (KNOWLEDGE §3.4: at least 48 h apart) and every shift reported with its reason;
//! property tests over random calendars, templates, missed sessions and relapses.

use jiff::civil::{Date, DateTime, Weekday, date};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use ketacare_core::plan::{ClinicCalendar, PlanEvent, PlanRequest, Schedule, SessionStatus, Template, plan};
use ketacare_core::protocol::Protocol;
use proptest::prelude::*;

fn new_york() -> TimeZone {
    TimeZone::get("America/New_York").unwrap()
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
        now: new_york().to_timestamp(first).unwrap() - SignedDuration::from_hours(24 * 30),
        calendar: None,
    }
}

const WEEKDAYS: [Weekday; 7] = [
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
    Weekday::Saturday,
    Weekday::Sunday,
];

fn weekdays_mon_to_fri() -> Vec<Weekday> {
    WEEKDAYS[..5].to_vec()
}

fn moved_notes(schedule: &Schedule) -> Vec<String> {
    schedule.notes.iter().filter(|note| note.text.contains(" moved from ")).map(|note| note.text.clone()).collect()
}

#[test]
fn a_plan_over_christmas_and_new_year_skips_the_holidays_and_says_so() {
    let mut over_christmas = request(Template::IvInduction2xWeek3w, false, date(2025, 12, 22).at(9, 0, 0, 0), vec![]);
    over_christmas.calendar = Some(ClinicCalendar {
        open_weekdays: weekdays_mon_to_fri(),
        holidays: vec![date(2025, 12, 25), date(2026, 1, 1)],
        chairs: 2,
        booked: vec![],
    });
    let schedule = plan(&over_christmas, &Protocol::shipped()).unwrap();
    let dates: Vec<String> = schedule.sessions.iter().map(|session| session.at.date().to_string()).collect();
    assert_eq!(
        dates,
        ["2025-12-22", "2025-12-26", "2025-12-29", "2026-01-02", "2026-01-05", "2026-01-08"],
        "{schedule:#?}"
    );
    assert_eq!(
        moved_notes(&schedule),
        [
            "session 2 moved from Thu 25 Dec 2025 (holiday) to Fri 26 Dec 2025",
            "session 4 moved from Thu 1 Jan 2026 (holiday) to Fri 2 Jan 2026",
        ]
    );
}

#[test]
fn a_relapse_before_a_weekend_does_not_put_every_later_session_on_a_saturday() {
    let first = date(2026, 1, 5).at(9, 0, 0, 0);
    let mut events: Vec<PlanEvent> =
        plan(&request(Template::EsketamineTrd, false, first, vec![]), &Protocol::shipped())
            .unwrap()
            .sessions
            .iter()
            .take(9)
            .map(|session| PlanEvent::Given(session.at.datetime()))
            .collect();
    // Relapse on a Thursday: the step restarts on Friday and, weekly, fell on Fridays; on a Friday relapse,
    // on Saturdays.
    events.push(PlanEvent::Relapse(date(2026, 2, 13)));
    let mut with_calendar = request(Template::EsketamineTrd, false, first, events);
    with_calendar.calendar =
        Some(ClinicCalendar { open_weekdays: weekdays_mon_to_fri(), holidays: vec![], chairs: 1, booked: vec![] });
    let schedule = plan(&with_calendar, &Protocol::shipped()).unwrap();
    let weekend: Vec<String> = schedule
        .sessions
        .iter()
        .filter(|session| matches!(session.at.weekday(), Weekday::Saturday | Weekday::Sunday))
        .map(|session| session.at.to_string())
        .collect();
    assert!(weekend.is_empty(), "sessions at a weekend: {weekend:?}");
    assert!(!moved_notes(&schedule).is_empty(), "the Saturday shift is reported: {:#?}", schedule.notes);
}

#[test]
fn a_full_day_moves_the_session_to_the_next_day_with_a_free_chair() {
    let mut full_day = request(Template::IvInduction3xWeek2w, false, date(2026, 3, 2).at(9, 0, 0, 0), vec![]);
    full_day.calendar = Some(ClinicCalendar {
        open_weekdays: weekdays_mon_to_fri(),
        holidays: vec![],
        chairs: 3,
        booked: vec![(date(2026, 3, 4), 2), (date(2026, 3, 4), 1)],
    });
    let schedule = plan(&full_day, &Protocol::shipped()).unwrap();
    let dates: Vec<String> = schedule.sessions.iter().map(|session| session.at.date().to_string()).collect();
    assert_eq!(dates, ["2026-03-02", "2026-03-05", "2026-03-09", "2026-03-11", "2026-03-13", "2026-03-16"]);
    assert_eq!(
        moved_notes(&schedule),
        [
            "session 2 moved from Wed 4 Mar 2026 (no free chair) to Thu 5 Mar 2026",
            "session 3 moved from Fri 6 Mar 2026 (less than 48 h after session 2; the clinic is closed on Saturdays) \
             to Mon 9 Mar 2026",
            "session 4 moved from Mon 9 Mar 2026 (less than 48 h after session 3) to Wed 11 Mar 2026",
        ]
    );
}

#[test]
fn a_calendar_no_session_can_fit_is_refused_naming_the_field() {
    let first = date(2026, 3, 2).at(9, 0, 0, 0);
    let cases = [
        (
            ClinicCalendar { open_weekdays: vec![], holidays: vec![], chairs: 1, booked: vec![] },
            "calendar.open_weekdays",
        ),
        (
            ClinicCalendar { open_weekdays: weekdays_mon_to_fri(), holidays: vec![], chairs: 0, booked: vec![] },
            "calendar.chairs",
        ),
        (
            ClinicCalendar {
                open_weekdays: vec![Weekday::Monday],
                holidays: (0..400)
                    .map(|days| date(2026, 3, 2).checked_add(jiff::Span::new().days(days)).unwrap())
                    .collect(),
                chairs: 1,
                booked: vec![],
            },
            "calendar",
        ),
    ];
    let mut failures = Vec::new();
    for (calendar, field) in cases {
        let mut refused = request(Template::IvInduction2xWeek3w, false, first, vec![]);
        refused.calendar = Some(calendar);
        match plan(&refused, &Protocol::shipped()) {
            Err(error) if error.field == field => {}
            other => failures.push(format!("{field}: {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

fn template_strategy() -> impl Strategy<Value = (Template, bool)> {
    prop_oneof![
        Just((Template::IvInduction2xWeek3w, false)),
        Just((Template::IvInduction2xWeek3w, true)),
        Just((Template::IvInduction3xWeek2w, false)),
        Just((Template::IvInduction3xWeek2w, true)),
        Just((Template::EsketamineTrd, false)),
    ]
}

fn start() -> Date {
    date(2025, 11, 3)
}

fn day(offset: i64) -> Date {
    start().checked_add(jiff::Span::new().days(offset)).unwrap()
}

/// A random calendar over the year and a half after `start()`.
fn calendar_strategy() -> impl Strategy<Value = ClinicCalendar> {
    (
        prop::collection::vec(any::<bool>(), 7).prop_filter("some day open", |open| open.iter().any(|day| *day)),
        prop::collection::vec(0_i64..540, 0..40),
        1_u32..4,
        prop::collection::vec((0_i64..540, 0_u32..4), 0..120),
    )
        .prop_map(|(open, holidays, chairs, booked)| ClinicCalendar {
            open_weekdays: WEEKDAYS.iter().zip(open).filter(|(_, open)| *open).map(|(weekday, _)| *weekday).collect(),
            holidays: holidays.into_iter().map(day).collect(),
            chairs,
            booked: booked.into_iter().map(|(offset, count)| (day(offset), count)).collect(),
        })
}

/// The first sessions as events: each given or missed, then maybe a relapse some days after the last.
fn history_strategy() -> impl Strategy<Value = (Vec<bool>, Option<i64>)> {
    (prop::collection::vec(any::<bool>(), 0..8), prop::option::of(1_i64..10))
}

fn history(
    template: Template,
    taper: bool,
    first: DateTime,
    given: &[bool],
    relapse_after: Option<i64>,
) -> Vec<PlanEvent> {
    let mut events = Vec::new();
    let mut planned = Vec::new();
    // Missed IV infusions are made up later: walk the plan event by event so every event fits the plan.
    for is_given in given {
        let so_far = plan(&request(template, taper, first, events.clone()), &Protocol::shipped()).unwrap();
        let Some(next) = so_far.sessions.iter().find(|session| session.status == SessionStatus::Planned) else { break };
        let at = next.at.datetime();
        events.push(if *is_given { PlanEvent::Given(at) } else { PlanEvent::Missed(at) });
        planned.push(at);
    }
    if let (Some(days), Some(last)) = (relapse_after, planned.last()) {
        events.push(PlanEvent::Relapse(last.date().checked_add(jiff::Span::new().days(days)).unwrap()));
    }
    events
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn planned_sessions_fall_on_open_days_at_free_chairs_spaced_and_every_shift_reported(
        (template, taper) in template_strategy(),
        calendar in calendar_strategy(),
        first_offset in 0_i64..60,
        hour in 7_i8..18,
        (given, relapse_after) in history_strategy(),
    ) {
        let protocol = Protocol::shipped();
        let first = day(first_offset).at(hour, 0, 0, 0);
        let events = history(template, taper, first, &given, relapse_after);
        let without_calendar = plan(&request(template, taper, first, events.clone()), &protocol).unwrap();
        let mut with_calendar = request(template, taper, first, events);
        with_calendar.calendar = Some(calendar.clone());
        let schedule = match plan(&with_calendar, &protocol) {
            Ok(schedule) => schedule,
            // A calendar so full that no day within a year fits is refused, naming the calendar.
            Err(error) => {
                prop_assert_eq!(error.field, "calendar");
                return Ok(());
            }
        };
        let min_gap = SignedDuration::from_hours(protocol.schedule.min_hours_between_sessions.value);
        let mut last_counted: Option<Timestamp> = None;
        let moved = moved_notes(&schedule);
        let mut first_difference_reported = true;
        for (index, session) in schedule.sessions.iter().enumerate() {
            let date = session.at.date();
            if session.status == SessionStatus::Planned {
                prop_assert!(!calendar.holidays.contains(&date), "session on holiday {}", date);
                prop_assert!(calendar.open_weekdays.contains(&date.weekday()), "session on closed {}", date);
                let own = schedule.sessions.iter()
                    .filter(|other| other.status != SessionStatus::Missed && other.at.date() == date)
                    .count() as u32;
                prop_assert!(calendar.booked_on(date) + own <= calendar.chairs, "over-booked {}", date);
                if let Some(last) = last_counted {
                    prop_assert!(session.at.timestamp().duration_since(last) >= min_gap,
                        "session {:?} at {} less than {:?} after the one before", session.number, session.at, min_gap);
                }
                // The template's cadence holds (the same dates as without a calendar) until a shift is reported.
                let same = without_calendar.sessions.get(index).is_some_and(|plain| plain.at == session.at);
                if !same && first_difference_reported {
                    let number = session.number.unwrap();
                    first_difference_reported = moved.iter().any(|note| {
                        note.strip_prefix("session ")
                            .and_then(|rest| rest.split(' ').next())
                            .and_then(|word| word.parse::<u32>().ok())
                            .is_some_and(|moved_number| moved_number <= number)
                    });
                    prop_assert!(first_difference_reported,
                        "session {} differs from the template's date with no shift reported: {:#?}", number, schedule.notes);
                }
            }
            if session.status != SessionStatus::Missed {
                last_counted = Some(session.at.timestamp());
            }
        }
        // Each reported shift lands where the session is.
        for note in &moved {
            let number: u32 = note["session ".len()..].split(' ').next().unwrap().parse().unwrap();
            let session = schedule.sessions.iter().find(|session| session.number == Some(number)).unwrap();
            let to = session.at.date().strftime("%a %-d %b %Y").to_string();
            prop_assert!(note.ends_with(&format!("to {to}")), "{} but the session is on {}", note, to);
        }
    }
}
