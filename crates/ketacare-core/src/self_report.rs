//! Patients' self-report links: how long a link works and the crisis text a patient sees when their
//! answers screen positive for suicidal thoughts (PHQ-9 item 9 from `scales.phq9_item9_screen_from`).

use crate::protocol::{InvalidProtocol, SectionReader, Setting};

/// The longest a link may be set to work: 30 days (a link is a bearer secret; a longer one is an
/// open door, PROJECT DEFAULT bound).
pub const LINK_LIFETIME_HOURS_MAX: i64 = 30 * 24;

/// The longest crisis text the page shows (characters).
pub const CRISIS_TEXT_MAX_CHARS: usize = 1000;

/// `[self_report]` of the site protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct SelfReportSettings {
    /// Hours a link works after it is made (PROJECT DEFAULT 72, clinical-reference §4).
    pub link_lifetime_hours: Setting<i64>,
    /// What a patient whose answers screen positive reads at once (PROJECT DEFAULT: the US 988 line).
    pub crisis_text: Setting<String>,
}

impl SelfReportSettings {
    pub(crate) fn read(mut section: SectionReader) -> Result<Self, InvalidProtocol> {
        let settings = SelfReportSettings {
            link_lifetime_hours: section.take_integer_in("link_lifetime_hours", 1, LINK_LIFETIME_HOURS_MAX)?,
            crisis_text: section.take_text("crisis_text", CRISIS_TEXT_MAX_CHARS)?,
        };
        section.finish()?;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::{Protocol, SHIPPED_PROTOCOL_TOML};

    #[test]
    fn shipped_defaults_and_bounds() {
        let shipped = Protocol::shipped();
        assert_eq!(shipped.self_report.link_lifetime_hours.value, 72);
        assert!(shipped.self_report.crisis_text.value.contains("988"));
        let cases = [
            (
                "link_lifetime_hours = { value = 72,",
                "link_lifetime_hours = { value = 0,",
                "self_report.link_lifetime_hours",
            ),
            (
                "link_lifetime_hours = { value = 72,",
                "link_lifetime_hours = { value = 721,",
                "self_report.link_lifetime_hours",
            ),
            (
                "crisis_text = { value = \"If you",
                "crisis_text = { value = \" \", unused = \"If you",
                "self_report.crisis_text",
            ),
        ];
        let mut failures = Vec::new();
        for (from, to, path) in cases {
            assert!(SHIPPED_PROTOCOL_TOML.contains(from), "{from}");
            match Protocol::parse(&SHIPPED_PROTOCOL_TOML.replacen(from, to, 1)) {
                Err(error) if error.path == path => {}
                other => failures.push(format!("{to}: expected an error at {path}, got {other:?}")),
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }
}
