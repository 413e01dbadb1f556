//! TRD staging: Maudsley (MSM), Thase–Rush and MGH-s (KNOWLEDGE §1.5; assess contract readings 8, 9, 15).

use crate::protocol::{InvalidProtocol, SectionReader, Setting};

/// The `[staging]` section of the site protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct StagingSettings {
    pub msm_madrs_mild_from: Setting<i64>,
    pub msm_madrs_moderate_from: Setting<i64>,
    pub msm_madrs_severe_from: Setting<i64>,
}

impl StagingSettings {
    pub(crate) fn read(mut section: SectionReader) -> Result<Self, InvalidProtocol> {
        let settings = StagingSettings {
            msm_madrs_mild_from: section.take_integer_in("msm_madrs_mild_from", 0, 60)?,
            msm_madrs_moderate_from: section.take_integer_in("msm_madrs_moderate_from", 0, 60)?,
            msm_madrs_severe_from: section.take_integer_in("msm_madrs_severe_from", 0, 60)?,
        };
        if !(settings.msm_madrs_mild_from.value < settings.msm_madrs_moderate_from.value
            && settings.msm_madrs_moderate_from.value < settings.msm_madrs_severe_from.value)
        {
            return Err(InvalidProtocol::new(
                "staging.msm_madrs_moderate_from",
                "MADRS bands must increase: mild < moderate < severe",
            ));
        }
        section.finish()?;
        Ok(settings)
    }
}
