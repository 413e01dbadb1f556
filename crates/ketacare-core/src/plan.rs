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
        };
        section.finish()?;
        Ok(settings)
    }
}
