//! Course evaluation over a dated series of scale totals: response, partial response, remission,
//! sustained remission and relapse, and the recommendation the protocol implies (KNOWLEDGE §3.4, §3.5,
//! §5.1–§5.3, §5.10).

use crate::protocol::{InvalidProtocol, SectionReader, Setting};

/// The `[course]` section of the site protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct CourseSettings {
    pub response_reduction_percent: Setting<i64>,
    pub partial_response_reduction_percent: Setting<i64>,
    pub madrs_remission_at_or_below: Setting<i64>,
    pub phq9_remission_below: Setting<i64>,
    pub qids_remission_at_or_below: Setting<i64>,
    pub madrs_relapse_from: Setting<i64>,
    pub relapse_min_days_apart: Setting<i64>,
    pub relapse_max_days_apart: Setting<i64>,
    pub sustained_remission_of_last: Setting<i64>,
    pub sustained_remission_needed: Setting<i64>,
}

impl CourseSettings {
    pub(crate) fn read(mut section: SectionReader) -> Result<Self, InvalidProtocol> {
        let settings = CourseSettings {
            response_reduction_percent: section.take_integer_in("response_reduction_percent", 1, 100)?,
            partial_response_reduction_percent: section.take_integer_in(
                "partial_response_reduction_percent",
                1,
                100,
            )?,
            // KNOWLEDGE §5.2 CONFLICT: ≤10 or ≤12.
            madrs_remission_at_or_below: section.take_integer_in("madrs_remission_at_or_below", 10, 12)?,
            phq9_remission_below: section.take_integer_in("phq9_remission_below", 1, 27)?,
            qids_remission_at_or_below: section.take_integer_in("qids_remission_at_or_below", 0, 27)?,
            madrs_relapse_from: section.take_integer_in("madrs_relapse_from", 1, 60)?,
            relapse_min_days_apart: section.take_integer_in("relapse_min_days_apart", 0, 60)?,
            relapse_max_days_apart: section.take_integer_in("relapse_max_days_apart", 1, 90)?,
            sustained_remission_of_last: section.take_integer_in("sustained_remission_of_last", 1, 12)?,
            sustained_remission_needed: section.take_integer_in("sustained_remission_needed", 1, 12)?,
        };
        section.finish()?;
        if settings.partial_response_reduction_percent.value >= settings.response_reduction_percent.value {
            return Err(InvalidProtocol::new(
                "course.partial_response_reduction_percent",
                "must be below course.response_reduction_percent",
            ));
        }
        if settings.relapse_min_days_apart.value > settings.relapse_max_days_apart.value
            || settings.sustained_remission_needed.value > settings.sustained_remission_of_last.value
        {
            return Err(InvalidProtocol::new("course", "relapse window or sustained-remission counts are inverted"));
        }
        Ok(settings)
    }
}
