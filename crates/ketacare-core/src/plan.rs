//! The care plan: protocol schedule templates for IV ketamine and esketamine, minimum spacing, the
//! measurement plan, due and overdue computation, missed sessions, relapse step-back and long-term safety
//! screens, in clinic-local dates and times (KNOWLEDGE §3.4, §3.5, §5.10, §7; PRODUCT step 5).

use crate::protocol::{InvalidProtocol, SectionReader, Setting};

/// The `[schedule]` section of the site protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleSettings {
    pub min_hours_between_sessions: Setting<i64>,
    pub self_report_interval_days: Setting<i64>,
    pub urinary_screen_interval_months: Setting<i64>,
    pub cognition_screen_interval_months: Setting<i64>,
    pub madrs_after_session: Setting<i64>,
    pub esketamine_week9_interval_weeks: Setting<i64>,
    pub esketamine_week9_sessions: Setting<i64>,
    /// PROJECT DEFAULT (operational): days a measurement stays `overdue` after it was due before it is
    /// `missed`; a later measurement of the same scale opening its window closes it sooner, and a
    /// measurement "before session N" closes when the session starts.
    pub measurement_overdue_grace_days: Setting<i64>,
}

impl ScheduleSettings {
    pub(crate) fn read(mut section: SectionReader) -> Result<Self, InvalidProtocol> {
        let settings = ScheduleSettings {
            min_hours_between_sessions: section.take_integer_in("min_hours_between_sessions", 0, 24 * 14)?,
            self_report_interval_days: section.take_integer_in("self_report_interval_days", 1, 90)?,
            urinary_screen_interval_months: section.take_integer_in("urinary_screen_interval_months", 1, 12)?,
            cognition_screen_interval_months: section.take_integer_in("cognition_screen_interval_months", 1, 24)?,
            madrs_after_session: section.take_integer_in("madrs_after_session", 1, 12)?,
            // KNOWLEDGE §3.5: from week 9 every 2 weeks or weekly.
            esketamine_week9_interval_weeks: section.take_integer_in("esketamine_week9_interval_weeks", 1, 2)?,
            esketamine_week9_sessions: section.take_integer_in("esketamine_week9_sessions", 0, 104)?,
            measurement_overdue_grace_days: section.take_integer_in("measurement_overdue_grace_days", 0, 90)?,
        };
        section.finish()?;
        Ok(settings)
    }
}

use std::str::FromStr;

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp, ZonedDateTime};

use crate::protocol::Protocol;
use crate::session::Modality;

/// A protocol schedule template (KNOWLEDGE §3.4, §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// IV: 6 sessions twice weekly over 3 weeks, ≥48 h apart (ELEKT-D).
    IvInduction2xWeek3w,
    /// IV: 6 sessions on Monday, Wednesday and Friday over 2 weeks.
    IvInduction3xWeek2w,
    /// Esketamine for TRD: weeks 1–4 twice weekly, weeks 5–8 weekly, week 9 on weekly or every 2 weeks.
    EsketamineTrd,
}

impl Template {
    pub fn as_str(self) -> &'static str {
        match self {
            Template::IvInduction2xWeek3w => "induction_2x_week_3w",
            Template::IvInduction3xWeek2w => "induction_3x_week_2w",
            Template::EsketamineTrd => "esketamine_trd",
        }
    }

    pub fn modality(self) -> Modality {
        match self {
            Template::IvInduction2xWeek3w | Template::IvInduction3xWeek2w => Modality::IvRacemicKetamine,
            Template::EsketamineTrd => Modality::Esketamine,
        }
    }
}

impl FromStr for Template {
    type Err = ();
    fn from_str(word: &str) -> Result<Self, ()> {
        match word {
            "induction_2x_week_3w" => Ok(Template::IvInduction2xWeek3w),
            "induction_3x_week_2w" => Ok(Template::IvInduction3xWeek2w),
            "esketamine_trd" => Ok(Template::EsketamineTrd),
            _ => Err(()),
        }
    }
}

/// How often sessions of a step happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    /// Alternating gaps of 3 and 4 days (for example Monday and Thursday).
    TwiceWeekly,
    MondayWednesdayFriday,
    EveryWeeks(i64),
    Monthly,
}

impl Cadence {
    pub fn describe(self) -> String {
        match self {
            Cadence::TwiceWeekly => "twice weekly".to_owned(),
            Cadence::MondayWednesdayFriday => "Monday, Wednesday and Friday".to_owned(),
            Cadence::EveryWeeks(1) => "weekly".to_owned(),
            Cadence::EveryWeeks(weeks) => format!("every {weeks} weeks"),
            Cadence::Monthly => "monthly".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Induction,
    Maintenance,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Induction => "induction",
            Phase::Maintenance => "maintenance",
        }
    }
}

/// One step of a plan: a number of sessions at one cadence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: &'static str,
    pub phase: Phase,
    pub cadence: Cadence,
    pub sessions: u32,
    pub source: &'static str,
}

/// The steps of a template, with the IV maintenance taper when asked for.
pub fn template_steps(template: Template, iv_maintenance_taper: bool, protocol: &Protocol) -> Vec<Step> {
    let iv_taper = [
        // KNOWLEDGE §3.4 [CAN-ECT-KET]: maintenance weekly ×1 month, every 2 weeks ×2 months, monthly ×3 months.
        Step {
            name: "maintenance weekly for 1 month",
            phase: Phase::Maintenance,
            cadence: Cadence::EveryWeeks(1),
            sessions: 4,
            source: "clinical-reference §3.4: maintenance weekly x1 month [CAN-ECT-KET]",
        },
        Step {
            name: "maintenance every 2 weeks for 2 months",
            phase: Phase::Maintenance,
            cadence: Cadence::EveryWeeks(2),
            sessions: 4,
            source: "clinical-reference §3.4: every 2 weeks x2 months [CAN-ECT-KET]",
        },
        Step {
            name: "maintenance monthly for 3 months",
            phase: Phase::Maintenance,
            cadence: Cadence::Monthly,
            sessions: 3,
            source: "clinical-reference §3.4: monthly x3 months [CAN-ECT-KET]",
        },
    ];
    let mut steps = match template {
        Template::IvInduction2xWeek3w => vec![Step {
            name: "induction twice weekly for 3 weeks",
            phase: Phase::Induction,
            cadence: Cadence::TwiceWeekly,
            sessions: 6,
            source: "clinical-reference §3.4 PROJECT DEFAULT induction_2x_week_3w: 6 sessions >=48 h apart [ELEKT-D]",
        }],
        Template::IvInduction3xWeek2w => vec![Step {
            name: "induction Monday/Wednesday/Friday for 2 weeks",
            phase: Phase::Induction,
            cadence: Cadence::MondayWednesdayFriday,
            sessions: 6,
            source: "clinical-reference §3.4 PROJECT DEFAULT induction_3x_week_2w: 6 sessions Mon/Wed/Fri [MURROUGH-2013b]",
        }],
        Template::EsketamineTrd => {
            let settings = &protocol.schedule;
            return vec![
                Step {
                    name: "induction weeks 1-4 twice weekly",
                    phase: Phase::Induction,
                    cadence: Cadence::TwiceWeekly,
                    sessions: 8,
                    source: "clinical-reference §3.5: weeks 1-4 twice weekly [ONA-SPR]",
                },
                Step {
                    name: "maintenance weeks 5-8 weekly",
                    phase: Phase::Maintenance,
                    cadence: Cadence::EveryWeeks(1),
                    sessions: 4,
                    source: "clinical-reference §3.5: weeks 5-8 once weekly [ONA-SPR]",
                },
                Step {
                    name: "maintenance week 9 onwards",
                    phase: Phase::Maintenance,
                    cadence: Cadence::EveryWeeks(settings.esketamine_week9_interval_weeks.value),
                    sessions: u32::try_from(settings.esketamine_week9_sessions.value).unwrap_or(0),
                    source: "clinical-reference §3.5: from week 9 every 2 weeks or weekly, least frequent that keeps response",
                },
            ];
        }
    };
    if iv_maintenance_taper {
        steps.extend(iv_taper);
    }
    steps
}

/// Something that happened to the plan, in clinic-local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanEvent {
    Given(DateTime),
    Missed(DateTime),
    /// The prescriber judged the patient to have relapsed (or to be worsening) on this date and returns
    /// the plan to the previous, more frequent step (KNOWLEDGE §3.5 missed sessions; course evaluation).
    Relapse(Date),
}

/// A rating scale or screen the plan schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PlannedScale {
    Phq9,
    Madrs,
    UrinarySymptoms,
    Cognition,
}

impl PlannedScale {
    pub fn as_str(self) -> &'static str {
        match self {
            PlannedScale::Phq9 => "phq9",
            PlannedScale::Madrs => "madrs",
            PlannedScale::UrinarySymptoms => "urinary_symptoms",
            PlannedScale::Cognition => "cognition",
        }
    }

    pub fn parse(word: &str) -> Option<PlannedScale> {
        [PlannedScale::Phq9, PlannedScale::Madrs, PlannedScale::UrinarySymptoms, PlannedScale::Cognition]
            .into_iter()
            .find(|scale| scale.as_str() == word)
    }
}

/// The request for a schedule: template, clinic time zone, the first session's local date and time, what has
/// happened so far, the measurements already recorded, and `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRequest {
    pub template: Template,
    pub iv_maintenance_taper: bool,
    pub time_zone: TimeZone,
    pub first_session: DateTime,
    pub events: Vec<PlanEvent>,
    pub measurements_done: Vec<(PlannedScale, Timestamp)>,
    /// Measurements staff marked not applicable (with a reason, kept elsewhere): the scale and the time
    /// the measurement was due.
    pub measurements_not_applicable: Vec<(PlannedScale, Timestamp)>,
    pub now: Timestamp,
    /// The clinic calendar planned sessions must fit; `None` treats every day as open with a free chair
    /// (the plan of a CLI document, and of a clinic that has not set its calendar).
    pub calendar: Option<ClinicCalendar>,
}

/// The clinic calendar as the schedule generator sees it: the weekdays the clinic is open, its holidays,
/// its number of chairs, and how many sessions of other patients are already booked on each day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicCalendar {
    pub open_weekdays: Vec<Weekday>,
    pub holidays: Vec<Date>,
    pub chairs: u32,
    /// Sessions of other patients already booked, by clinic-local date (a date given twice adds up).
    pub booked: Vec<(Date, u32)>,
}

/// Why a day cannot take a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedBecause {
    Holiday,
    ClosedWeekday,
    NoFreeChair,
}

impl ClosedBecause {
    pub fn describe(self, date: Date) -> String {
        match self {
            ClosedBecause::Holiday => "holiday".to_owned(),
            ClosedBecause::ClosedWeekday => format!("the clinic is closed on {}s", weekday_name(date.weekday())),
            ClosedBecause::NoFreeChair => "no free chair".to_owned(),
        }
    }
}

fn weekday_name(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Monday => "Monday",
        Weekday::Tuesday => "Tuesday",
        Weekday::Wednesday => "Wednesday",
        Weekday::Thursday => "Thursday",
        Weekday::Friday => "Friday",
        Weekday::Saturday => "Saturday",
        Weekday::Sunday => "Sunday",
    }
}

/// Days searched for an open day with a free chair before the plan is refused: a year.
const CALENDAR_SEARCH_DAYS: i64 = 366;

impl ClinicCalendar {
    /// Refuses a calendar no session could ever fit, naming the field.
    pub fn check(&self) -> Result<(), InvalidPlan> {
        if self.open_weekdays.is_empty() {
            return Err(InvalidPlan {
                field: "calendar.open_weekdays",
                problem: "no day of the week is open".to_owned(),
            });
        }
        if self.chairs == 0 {
            return Err(InvalidPlan { field: "calendar.chairs", problem: "the clinic has no chair".to_owned() });
        }
        Ok(())
    }

    /// Sessions of other patients booked on `date`.
    pub fn booked_on(&self, date: Date) -> u32 {
        self.booked.iter().filter(|(day, _)| *day == date).map(|(_, count)| *count).fold(0, u32::saturating_add)
    }

    /// Why `date` cannot take one more session when `own` sessions of this plan are already on it, or `None`
    /// when it can.
    pub fn closed(&self, date: Date, own: u32) -> Option<ClosedBecause> {
        if self.holidays.contains(&date) {
            Some(ClosedBecause::Holiday)
        } else if !self.open_weekdays.contains(&date.weekday()) {
            Some(ClosedBecause::ClosedWeekday)
        } else if self.booked_on(date).saturating_add(own) >= self.chairs {
            Some(ClosedBecause::NoFreeChair)
        } else {
            None
        }
    }
}

/// A date as the plan's notes write it, e.g. "Thu 25 Dec 2025".
fn note_date(date: Date) -> String {
    date.strftime("%a %-d %b %Y").to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    Given,
    Missed,
    Planned,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Given => "given",
            SessionStatus::Missed => "missed",
            SessionStatus::Planned => "planned",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedSession {
    /// 1-based count of sessions given or planned (missed ones are not counted).
    pub number: Option<u32>,
    pub step: &'static str,
    pub phase: Phase,
    pub at: ZonedDateTime,
    pub status: SessionStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeasurementStatus {
    Done,
    Due,
    /// Past due, and it can still be done: its window has not closed.
    Overdue,
    /// Its window closed without a result; counted against adherence.
    Missed,
    /// Staff marked it not applicable, with a reason; not counted in adherence.
    NotApplicable,
    Upcoming,
}

impl MeasurementStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MeasurementStatus::Done => "done",
            MeasurementStatus::Due => "due",
            MeasurementStatus::Overdue => "overdue",
            MeasurementStatus::Missed => "missed",
            MeasurementStatus::NotApplicable => "not_applicable",
            MeasurementStatus::Upcoming => "upcoming",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedMeasurement {
    pub scale: PlannedScale,
    pub reason: String,
    pub window_opens: ZonedDateTime,
    pub due_at: ZonedDateTime,
    /// After this the measurement is `missed` if not done: `due_at` plus the protocol's grace for
    /// measurements that may be late, `due_at` for those "before session N", and never after the next
    /// measurement of the same scale opens its window.
    pub closes_at: ZonedDateTime,
    pub status: MeasurementStatus,
    pub source: &'static str,
}

/// How well the measurement plan was kept: done against done plus missed (those not applicable, and
/// those whose window is still open, are not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeasurementAdherence {
    pub done: usize,
    pub missed: usize,
    pub not_applicable: usize,
    /// Whole percent, rounded half up; `None` when nothing was done or missed yet.
    pub percent: Option<u32>,
}

/// The adherence of a measurement plan.
pub fn measurement_adherence(measurements: &[PlannedMeasurement]) -> MeasurementAdherence {
    let count = |status: MeasurementStatus| measurements.iter().filter(|item| item.status == status).count();
    let (done, missed) = (count(MeasurementStatus::Done), count(MeasurementStatus::Missed));
    let percent = (done + missed > 0).then(|| {
        let (done, counted) = (done as u64, (done + missed) as u64);
        u32::try_from((200 * done + counted) / (2 * counted)).unwrap_or(100)
    });
    MeasurementAdherence { done, missed, not_applicable: count(MeasurementStatus::NotApplicable), percent }
}

/// A remark on the plan with its source (missed sessions, relapse step-back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanNote {
    pub text: String,
    pub source: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub sessions: Vec<PlannedSession>,
    pub measurements: Vec<PlannedMeasurement>,
    pub notes: Vec<PlanNote>,
}

/// A plan request that cannot be scheduled; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct InvalidPlan {
    pub field: &'static str,
    pub problem: String,
}

/// Dates a plan cannot hold: jiff's calendar ends on 9999-12-31 (its instants late on 9999-12-30 UTC) and
/// starts in the year -9999. `field` is the input that led there: `first_session` for the planned sessions,
/// `events` for a session or relapse given on such a date.
fn out_of_range(field: &'static str, at: DateTime) -> InvalidPlan {
    InvalidPlan {
        field,
        problem: format!("the schedule from {at} runs past the dates a plan can hold (years -9999 to 9999)"),
    }
}

/// Places a clinic-local time in the clinic's zone (a time in a daylight-saving gap moves forward, one in a
/// fold takes the earlier instant); fails only outside the supported range.
fn local(zone: &TimeZone, at: DateTime, field: &'static str) -> Result<ZonedDateTime, InvalidPlan> {
    at.to_zoned_datetime(zone.clone()).map_err(|_| out_of_range(field, at))
}

fn add_days(at: DateTime, days: i64, field: &'static str) -> Result<DateTime, InvalidPlan> {
    at.checked_add(Span::new().days(days)).map_err(|_| out_of_range(field, at))
}

/// The next slot after `previous` for the `index`-th slot (0-based, missed ones included) of a step with
/// `cadence`.
fn next_slot(previous: DateTime, cadence: Cadence, index: u32) -> Result<DateTime, InvalidPlan> {
    let field = "first_session";
    match cadence {
        // Two sessions a week: gaps of 3 then 4 days keep the weekly pattern and ≥48 h apart. The gap follows
        // the slot's place in the week, so a missed slot keeps the weekdays of the slots after it.
        Cadence::TwiceWeekly => add_days(previous, if index % 2 == 1 { 3 } else { 4 }, field),
        Cadence::MondayWednesdayFriday => {
            let mut next = add_days(previous, 1, field)?;
            while !matches!(next.weekday(), Weekday::Monday | Weekday::Wednesday | Weekday::Friday) {
                next = add_days(next, 1, field)?;
            }
            Ok(next)
        }
        Cadence::EveryWeeks(weeks) => add_days(previous, 7 * weeks, field),
        Cadence::Monthly => previous.checked_add(Span::new().months(1)).map_err(|_| out_of_range(field, previous)),
    }
}

struct Walker<'a> {
    steps: Vec<Step>,
    esketamine: bool,
    step: usize,
    /// Sessions of the current step that count towards its number (given or planned; for esketamine, missed
    /// ones too, since a missed session uses up its slot).
    done_in_step: u32,
    /// Slots of the current step used so far, missed ones included: the weekly rhythm follows slots, not
    /// sessions, so a made-up IV infusion takes the next slot of the rhythm.
    slots_in_step: u32,
    count: u32,
    last_slot: Option<DateTime>,
    restart_at: Option<DateTime>,
    /// The last session given or planned (missed ones do not count for spacing).
    last_session_at: Option<Timestamp>,
    zone: &'a TimeZone,
    min_gap: SignedDuration,
    sessions: Vec<PlannedSession>,
    notes: Vec<PlanNote>,
}

impl Walker<'_> {
    fn finished(&self) -> bool {
        self.step >= self.steps.len()
    }

    fn current(&self) -> &Step {
        &self.steps[self.step.min(self.steps.len() - 1)]
    }

    /// The next planned slot: by cadence from the last slot, pushed on by whole days until it is at least the
    /// minimum spacing after the last session (KNOWLEDGE §3.4: ≥48 h, measured on absolute time so a
    /// daylight-saving change cannot shorten it).
    fn next(&self, first: DateTime) -> Result<DateTime, InvalidPlan> {
        self.spaced(self.rhythm(first)?)
    }

    /// The next slot of the template's rhythm, before the minimum spacing is applied.
    fn rhythm(&self, first: DateTime) -> Result<DateTime, InvalidPlan> {
        match (self.restart_at, self.last_slot) {
            (Some(restart), _) => Ok(restart),
            (None, None) => Ok(first),
            (None, Some(previous)) => next_slot(previous, self.current().cadence, self.slots_in_step),
        }
    }

    /// `slot` pushed on by whole days until it is at least the minimum spacing after the last session.
    fn spaced(&self, mut slot: DateTime) -> Result<DateTime, InvalidPlan> {
        if let Some(last) = self.last_session_at {
            while local(self.zone, slot, "first_session")?.timestamp().duration_since(last) < self.min_gap {
                slot = add_days(slot, 1, "first_session")?;
            }
        }
        Ok(slot)
    }

    /// Records a session at `at`; `field` names the input it comes from (`events` or `first_session`).
    fn record(&mut self, at: DateTime, status: SessionStatus, field: &'static str) -> Result<(), InvalidPlan> {
        self.record_in_rhythm(at, at, status, field)
    }

    /// Records a session at `at` that the rhythm placed at `rhythm_at` (the same unless the clinic calendar
    /// moved it): the following slots keep the template's rhythm from `rhythm_at`.
    fn record_in_rhythm(
        &mut self,
        at: DateTime,
        rhythm_at: DateTime,
        status: SessionStatus,
        field: &'static str,
    ) -> Result<(), InvalidPlan> {
        let step = self.current().clone();
        let counts = status != SessionStatus::Missed;
        let zoned = local(self.zone, at, field)?;
        if counts {
            self.count += 1;
            self.last_session_at = Some(zoned.timestamp());
        }
        self.sessions.push(PlannedSession {
            number: counts.then_some(self.count),
            step: step.name,
            phase: step.phase,
            at: zoned,
            status,
        });
        self.last_slot = Some(rhythm_at);
        self.restart_at = None;
        self.slots_in_step += 1;
        // KNOWLEDGE §3.5: a missed esketamine session does not move the schedule, so it uses up its slot;
        // a missed IV infusion is made up in the next slot of the rhythm, so the series keeps its number of
        // infusions (§3.4).
        if counts || self.esketamine {
            self.done_in_step += 1;
            if self.done_in_step >= step.sessions {
                self.step += 1;
                self.done_in_step = 0;
                // A twice-weekly step that ends on the second slot of its week: the next step keeps the
                // calendar week, counting from that week's first slot (3 days earlier). One that ends on the
                // first slot (after a made-up infusion) counts from that slot.
                if step.cadence == Cadence::TwiceWeekly && self.slots_in_step.is_multiple_of(2) {
                    self.last_slot = Some(add_days(rhythm_at, -3, field)?);
                }
                self.slots_in_step = 0;
            }
        }
        Ok(())
    }

    fn missed(&mut self, at: DateTime) -> Result<(), InvalidPlan> {
        let phase = self.current().phase;
        self.record(at, SessionStatus::Missed, "events")?;
        let date = at.date();
        let (text, source) = match (self.esketamine, phase) {
            (true, Phase::Induction) => (
                format!("session on {date} missed during weeks 1-4: continue the current schedule"),
                "clinical-reference §3.5 missed sessions [JNJ-MISSED]",
            ),
            (true, Phase::Maintenance) => (
                format!(
                    "session on {date} missed during maintenance: if depression is worsening, consider returning \
                     to the previous, more frequent schedule"
                ),
                "clinical-reference §3.5 missed sessions [JNJ-MISSED]",
            ),
            (false, _) => (
                format!("infusion on {date} missed: made up, the step keeps its number of infusions"),
                "clinical-reference §3.4 PROJECT DEFAULT: the series keeps its number of infusions",
            ),
        };
        self.notes.push(PlanNote { text, source });
        Ok(())
    }

    /// Returns the plan to the step before the current one and restarts it the day after `date`.
    fn relapse(&mut self, date: Date, time_of_day: DateTime) -> Result<(), InvalidPlan> {
        let current = self.step.min(self.steps.len() - 1);
        let from = self.steps[current].name;
        self.step = current.saturating_sub(1);
        self.done_in_step = 0;
        self.slots_in_step = 0;
        let to = self.current().clone();
        self.restart_at = Some(add_days(date.to_datetime(time_of_day.time()), 1, "events")?);
        self.notes.push(PlanNote {
            text: format!("relapse on {date}: from \"{from}\" back to \"{}\" ({})", to.name, to.cadence.describe()),
            source: "clinical-reference §3.5: with worsening, return to the previous (more frequent) schedule [JNJ-MISSED]",
        });
        Ok(())
    }
}

/// Builds the schedule and measurement plan for `request`.
pub fn plan(request: &PlanRequest, protocol: &Protocol) -> Result<Schedule, InvalidPlan> {
    let settings = &protocol.schedule;
    let mut walker = Walker {
        // A step the protocol gives no sessions (`esketamine_week9_sessions = 0`) is left out: the walker
        // records at least one session in each step it enters.
        steps: template_steps(request.template, request.iv_maintenance_taper, protocol)
            .into_iter()
            .filter(|step| step.sessions > 0)
            .collect(),
        esketamine: request.template.modality() == Modality::Esketamine,
        step: 0,
        done_in_step: 0,
        slots_in_step: 0,
        count: 0,
        last_slot: None,
        restart_at: None,
        last_session_at: None,
        zone: &request.time_zone,
        min_gap: SignedDuration::from_hours(settings.min_hours_between_sessions.value),
        sessions: Vec::new(),
        notes: Vec::new(),
    };
    let mut previous_event_at: Option<DateTime> = None;
    for event in &request.events {
        let event_at = match *event {
            PlanEvent::Given(at) | PlanEvent::Missed(at) => at,
            PlanEvent::Relapse(date) => date.to_datetime(request.first_session.time()),
        };
        if previous_event_at.is_some_and(|previous| event_at < previous) {
            return Err(InvalidPlan { field: "events", problem: format!("event at {event_at} is out of order") });
        }
        previous_event_at = Some(event_at);
        match *event {
            PlanEvent::Relapse(date) => walker.relapse(date, request.first_session)?,
            _ if walker.finished() => {
                return Err(InvalidPlan { field: "events", problem: "more sessions than the plan holds".to_owned() });
            }
            PlanEvent::Given(at) => walker.record(at, SessionStatus::Given, "events")?,
            PlanEvent::Missed(at) => walker.missed(at)?,
        }
    }
    if let Some(calendar) = &request.calendar {
        calendar.check()?;
    }
    while !walker.finished() {
        let Some(calendar) = &request.calendar else {
            let slot = walker.next(request.first_session)?;
            walker.record(slot, SessionStatus::Planned, "first_session")?;
            continue;
        };
        let rhythm = walker.rhythm(request.first_session)?;
        let slot = walker.spaced(rhythm)?;
        let own_on = |walker: &Walker, date: Date| {
            let count = walker
                .sessions
                .iter()
                .filter(|session| session.status != SessionStatus::Missed && session.at.date() == date)
                .count();
            u32::try_from(count).unwrap_or(u32::MAX)
        };
        let first_reason = calendar.closed(slot.date(), own_on(&walker, slot.date()));
        let mut placed = slot;
        let mut searched_days = 0;
        while calendar.closed(placed.date(), own_on(&walker, placed.date())).is_some() {
            searched_days += 1;
            if searched_days > CALENDAR_SEARCH_DAYS {
                return Err(InvalidPlan {
                    field: "calendar",
                    problem: format!(
                        "no open day with a free chair within {CALENDAR_SEARCH_DAYS} days after {}",
                        slot.date()
                    ),
                });
            }
            placed = add_days(placed, 1, "first_session")?;
        }
        if placed.date() != rhythm.date() {
            let mut reasons = Vec::new();
            if slot.date() != rhythm.date() {
                reasons.push(format!(
                    "less than {} h after session {}",
                    settings.min_hours_between_sessions.value, walker.count
                ));
            }
            if let Some(reason) = first_reason {
                reasons.push(reason.describe(slot.date()));
            }
            walker.notes.push(PlanNote {
                text: format!(
                    "session {} moved from {} ({}) to {}",
                    walker.count + 1,
                    note_date(rhythm.date()),
                    reasons.join("; "),
                    note_date(placed.date())
                ),
                source: "clinic calendar: a session goes to the next open day with a free chair, at least the \
                         protocol's minimum spacing after the one before (clinical-reference §3.4)",
            });
        }
        walker.record_in_rhythm(placed, slot, SessionStatus::Planned, "first_session")?;
    }
    let measurements = measurement_plan(&walker.sessions, &walker.steps, request, protocol)?;
    Ok(Schedule { sessions: walker.sessions, measurements, notes: walker.notes })
}

/// A measurement's time `span` from `at`; the measurement plan follows the sessions, so a time outside the
/// supported dates names `first_session`.
fn shift(at: &ZonedDateTime, span: Span) -> Result<ZonedDateTime, InvalidPlan> {
    at.checked_add(span).map_err(|_| out_of_range("first_session", at.datetime()))
}

struct MeasurementBuilder<'a> {
    done: &'a [(PlannedScale, Timestamp)],
    not_applicable: &'a [(PlannedScale, Timestamp)],
    now: Timestamp,
    grace: Span,
    planned: Vec<PlannedMeasurement>,
}

impl MeasurementBuilder<'_> {
    /// A measurement that may be done late, within the protocol's grace.
    fn add(
        &mut self,
        scale: PlannedScale,
        reason: String,
        window_opens: ZonedDateTime,
        due_at: ZonedDateTime,
        source: &'static str,
    ) {
        let closes_at = due_at.checked_add(self.grace).unwrap_or_else(|_| due_at.clone());
        self.add_closing(scale, reason, window_opens, due_at, closes_at, source);
    }

    /// A measurement due before `session`: once the session was given it can no longer be done and
    /// closes at the session's time; a session not (yet) given leaves it the grace.
    fn add_before(
        &mut self,
        session: &PlannedSession,
        scale: PlannedScale,
        reason: String,
        window_opens: ZonedDateTime,
        source: &'static str,
    ) {
        if session.status == SessionStatus::Given {
            self.add_closing(scale, reason, window_opens, session.at.clone(), session.at.clone(), source);
        } else {
            self.add(scale, reason, window_opens, session.at.clone(), source);
        }
    }

    fn add_closing(
        &mut self,
        scale: PlannedScale,
        reason: String,
        window_opens: ZonedDateTime,
        due_at: ZonedDateTime,
        closes_at: ZonedDateTime,
        source: &'static str,
    ) {
        let status = MeasurementStatus::Upcoming;
        self.planned.push(PlannedMeasurement { scale, reason, window_opens, due_at, closes_at, status, source });
    }

    /// Sorts the plan, closes each measurement no later than the next one of its scale opens, and gives
    /// each its status: done (a result between its window's opening and its closing), not applicable,
    /// upcoming, due, overdue (past due, not closed) or missed (closed without a result).
    fn finish(mut self) -> Vec<PlannedMeasurement> {
        self.planned.sort_by_key(|measurement| measurement.due_at.timestamp());
        let opens: Vec<(PlannedScale, ZonedDateTime)> =
            self.planned.iter().map(|measurement| (measurement.scale, measurement.window_opens.clone())).collect();
        for measurement in &mut self.planned {
            let next_opening = opens
                .iter()
                .filter(|(scale, opens)| {
                    *scale == measurement.scale && opens.timestamp() >= measurement.due_at.timestamp()
                })
                .map(|(_, opens)| opens)
                .min_by_key(|opens| opens.timestamp());
            if let Some(next_opening) = next_opening
                && next_opening.timestamp() < measurement.closes_at.timestamp()
            {
                measurement.closes_at = next_opening.clone().max(measurement.due_at.clone());
            }
            let (opens_at, due_at, closes_at) = (
                measurement.window_opens.timestamp(),
                measurement.due_at.timestamp(),
                measurement.closes_at.timestamp(),
            );
            let done =
                self.done.iter().any(|(scale, at)| *scale == measurement.scale && *at >= opens_at && *at <= closes_at);
            let not_applicable =
                self.not_applicable.iter().any(|(scale, at)| *scale == measurement.scale && *at == due_at);
            measurement.status = if done {
                MeasurementStatus::Done
            } else if not_applicable {
                MeasurementStatus::NotApplicable
            } else if self.now < opens_at {
                MeasurementStatus::Upcoming
            } else if self.now <= due_at {
                MeasurementStatus::Due
            } else if self.now <= closes_at {
                MeasurementStatus::Overdue
            } else {
                MeasurementStatus::Missed
            };
        }
        self.planned
    }
}

/// The measurement plan around the sessions: PHQ-9 before each session and on the self-report clock,
/// MADRS at baseline, after session 3 and after the series, and the long-term safety screens.
fn measurement_plan(
    sessions: &[PlannedSession],
    steps: &[Step],
    request: &PlanRequest,
    protocol: &Protocol,
) -> Result<Vec<PlannedMeasurement>, InvalidPlan> {
    let settings = &protocol.schedule;
    let mut builder = MeasurementBuilder {
        done: &request.measurements_done,
        not_applicable: &request.measurements_not_applicable,
        now: request.now,
        grace: Span::new().days(settings.measurement_overdue_grace_days.value),
        planned: Vec::new(),
    };
    let counted: Vec<&PlannedSession> =
        sessions.iter().filter(|session| session.status != SessionStatus::Missed).collect();
    let Some(first) = counted.first() else { return Ok(Vec::new()) };
    let day = Span::new().days(1);
    let interval_days = settings.self_report_interval_days.value;

    // PHQ-9 before each session, and on the self-report clock that each treatment resets (PRODUCT step 5).
    for (index, session) in counted.iter().enumerate() {
        let number = session.number.unwrap_or(0);
        // Before the session, or not at all: it closes once the session was given (until then, the grace).
        builder.add_before(
            session,
            PlannedScale::Phq9,
            format!("before session {number}"),
            shift(&session.at, -day)?,
            "clinical-reference §7: PHQ-9 item 9 / C-SSRS every session; PROJECT DEFAULT: PHQ-9 before each session",
        );
        let next = counted.get(index + 1).map(|next| shift(&next.at, -day)).transpose()?;
        let mut due = shift(&session.at, Span::new().days(interval_days))?;
        loop {
            if next.as_ref().is_some_and(|window| due.timestamp() >= window.timestamp()) {
                break;
            }
            builder.add(
                PlannedScale::Phq9,
                format!("self-report {interval_days} days after session {number} (each treatment resets the clock)"),
                shift(&due, -day)?,
                due.clone(),
                "clinical-reference §5.10 PROJECT DEFAULT: self-report clock reset by each treatment",
            );
            if next.is_none() {
                break;
            }
            due = shift(&due, Span::new().days(interval_days))?;
        }
    }

    // MADRS: before session 1, after session 3 and after the series (KNOWLEDGE §3.4); esketamine at the end
    // of week 4 (KNOWLEDGE §3.5).
    builder.add_before(
        first,
        PlannedScale::Madrs,
        "baseline, before session 1".to_owned(),
        shift(&first.at, Span::new().days(-7))?,
        "clinical-reference §3.4 PROJECT DEFAULT: re-assessment before session 1",
    );
    let after = |number: usize| -> Result<(ZonedDateTime, ZonedDateTime), InvalidPlan> {
        let session = counted[number - 1];
        let due = match counted.get(number) {
            Some(next) => next.at.clone(),
            None => shift(&session.at, Span::new().days(7))?,
        };
        Ok((session.at.clone(), due))
    };
    let induction_sessions = usize::try_from(steps.first().map_or(0, |step| step.sessions)).unwrap_or(0);
    let after_session = usize::try_from(settings.madrs_after_session.value).unwrap_or(3);
    if request.template.modality() == Modality::IvRacemicKetamine
        && after_session < induction_sessions
        && counted.len() >= after_session
    {
        let (opens, due) = after(after_session)?;
        builder.add(
            PlannedScale::Madrs,
            format!("after session {after_session}"),
            opens,
            due,
            "clinical-reference §3.4 PROJECT DEFAULT: re-assessment after session 3",
        );
    }
    if counted.len() >= induction_sessions && induction_sessions > 0 {
        let (opens, due) = after(induction_sessions)?;
        builder.add(
            PlannedScale::Madrs,
            format!("after the induction series (session {induction_sessions})"),
            opens,
            due,
            if request.template.modality() == Modality::Esketamine {
                "clinical-reference §3.5: evaluate therapeutic benefit at the end of week 4 [ONA-SPR]"
            } else {
                "clinical-reference §3.4 PROJECT DEFAULT: re-assessment after the series"
            },
        );
    }

    // Long-term safety screens (KNOWLEDGE §7): cognition at baseline and every 3 months of maintenance;
    // urinary symptoms each month of maintenance.
    builder.add_before(
        first,
        PlannedScale::Cognition,
        "baseline, before session 1".to_owned(),
        shift(&first.at, Span::new().days(-14))?,
        "clinical-reference §7 PROJECT DEFAULT: cognitive screen at baseline",
    );
    let maintenance: Vec<&&PlannedSession> =
        counted.iter().filter(|session| session.phase == Phase::Maintenance).collect();
    if let (Some(start), Some(end)) = (maintenance.first(), maintenance.last()) {
        let screens = [
            (
                PlannedScale::UrinarySymptoms,
                settings.urinary_screen_interval_months.value,
                "urinary symptoms",
                "clinical-reference §7: LUTS questionnaire each month of maintenance",
            ),
            (
                PlannedScale::Cognition,
                settings.cognition_screen_interval_months.value,
                "cognitive screen",
                "clinical-reference §7 PROJECT DEFAULT: cognitive screen every 3 months of maintenance",
            ),
        ];
        for (scale, months, what, source) in screens {
            let mut count = 1;
            loop {
                let due = shift(&start.at, Span::new().months(months * count))?;
                if due.timestamp() > end.at.timestamp() {
                    break;
                }
                builder.add(
                    scale,
                    format!("{what}, month {} of maintenance", months * count),
                    shift(&due, Span::new().days(-7))?,
                    due,
                    source,
                );
                count += 1;
            }
        }
    }
    Ok(builder.finish())
}
