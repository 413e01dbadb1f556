//! The cohort's response and remission rates by checkpoint as a server-rendered SVG, in the style of
//! `symptom_chart.rs`: for each checkpoint (week 1, 4, 8, end of induction) a pair of bars, response
//! (blue, solid) and remission (green, hatched), each labelled with its percent and "n = measured"; a
//! checkpoint nobody was measured at says so. It takes counts only and writes numbers and fixed words,
//! so no patient text can reach the markup; the table beside it is its text alternative.

use std::fmt::Write as _;

use ketacare_app::{Checkpoint, CohortReport};

const WIDTH: f64 = 720.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 40.0;
const PLOT_HEIGHT: f64 = 220.0;
const AXIS: f64 = 56.0;
const BAR_WIDTH: f64 = 40.0;

/// The label a clinician reads for a checkpoint.
pub fn checkpoint_label(checkpoint: Checkpoint) -> String {
    match checkpoint {
        Checkpoint::Week(weeks) => format!("Week {weeks}"),
        Checkpoint::EndOfInduction => "End of induction".to_owned(),
    }
}

/// The SVG of one report's rates; `id` keeps the title ids unique when a page shows several.
pub fn outcomes_rates_svg(report: &CohortReport, id: &str) -> String {
    let height = TOP + PLOT_HEIGHT + AXIS;
    let plot_width = WIDTH - LEFT - RIGHT;
    let y = |percent: f64| TOP + PLOT_HEIGHT * (100.0 - percent.clamp(0.0, 100.0)) / 100.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" class="outcomes-chart" role="img" aria-labelledby="{id}-title {id}-desc"><title id="{id}-title">Response and remission rates by week</title><desc id="{id}-desc">For each checkpoint, the percent of the patients measured there who responded (solid bar) and who remitted (hatched bar), with the number measured. The table below lists every count.</desc><defs><pattern id="{id}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#cce2d8"/><line x1="0" y1="0" x2="0" y2="6" stroke="#00703c" stroke-width="3"/></pattern></defs>"##
    );
    for percent in [0.0, 25.0, 50.0, 75.0, 100.0] {
        let gy = y(percent);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{x2}" y1="{gy:.1}" y2="{gy:.1}" stroke="#e5e6e7" stroke-width="1"/><text x="{tx}" y="{ly:.1}" font-size="11" text-anchor="end" fill="#0b0c0c">{percent}%</text>"##,
            x2 = LEFT + plot_width,
            tx = LEFT - 4.0,
            ly = gy + 4.0,
        );
    }
    let _ = write!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_width}" height="{PLOT_HEIGHT}" fill="none" stroke="#505a5f" stroke-width="1"/><rect x="{LEFT}" y="8" width="14" height="14" fill="#1d4f91"/><text x="{l1}" y="19" font-size="12" fill="#0b0c0c">Response</text><rect x="{l2}" y="8" width="14" height="14" fill="url(#{id}-hatch)" stroke="#00703c"/><text x="{l3}" y="19" font-size="12" fill="#0b0c0c">Remission</text>"##,
        l1 = LEFT + 20.0,
        l2 = LEFT + 110.0,
        l3 = LEFT + 130.0,
    );
    let slots = report.checkpoints.len().max(1) as f64;
    let slot_width = plot_width / slots;
    for (index, summary) in report.checkpoints.iter().enumerate() {
        let centre = LEFT + slot_width * (index as f64 + 0.5);
        let bottom = TOP + PLOT_HEIGHT;
        let _ = write!(
            svg,
            r##"<text x="{centre:.1}" y="{ty:.1}" font-size="12" font-weight="bold" text-anchor="middle" fill="#0b0c0c">{label}</text><text x="{centre:.1}" y="{ny:.1}" font-size="11" text-anchor="middle" fill="#0b0c0c">n = {measured}</text>"##,
            ty = bottom + 20.0,
            ny = bottom + 38.0,
            label = checkpoint_label(summary.checkpoint),
            measured = summary.measured,
        );
        let (Some(response), Some(remission)) = (summary.response_rate_pct, summary.remission_rate_pct) else {
            let _ = write!(
                svg,
                r##"<text x="{centre:.1}" y="{my:.1}" font-size="11" text-anchor="middle" fill="#505a5f">none measured</text>"##,
                my = bottom - 12.0,
            );
            continue;
        };
        for (offset, percent, fill, stroke) in [
            (-BAR_WIDTH - 2.0, response, "#1d4f91".to_owned(), "#1d4f91"),
            (2.0, remission, format!("url(#{id}-hatch)"), "#00703c"),
        ] {
            let value: f64 = percent.to_string().parse().unwrap_or(0.0);
            let top = y(value);
            let _ = write!(
                svg,
                r##"<rect x="{bx:.1}" y="{top:.1}" width="{BAR_WIDTH}" height="{bh:.1}" fill="{fill}" stroke="{stroke}" stroke-width="1"/><text x="{lx:.1}" y="{ly:.1}" font-size="11" text-anchor="middle" fill="#0b0c0c">{percent}%</text>"##,
                bx = centre + offset,
                bh = bottom - top,
                lx = centre + offset + BAR_WIDTH / 2.0,
                ly = top - 4.0,
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use jiff::civil::Date;
    use ketacare_core::cohort::{CohortPatient, cohort_report};
    use ketacare_core::outcomes::{Assessment, OutcomeScale, ScoreSeries};
    use ketacare_core::patient::Modality;
    use ketacare_core::protocol::Protocol;

    use super::*;

    fn date(text: &str) -> Date {
        text.parse().unwrap()
    }

    #[test]
    fn the_chart_draws_a_pair_of_bars_per_measured_checkpoint() {
        let series = ScoreSeries::new(
            OutcomeScale::Madrs,
            vec![
                Assessment { date: date("2026-03-01"), total: Some(30) },
                Assessment { date: date("2026-03-08"), total: Some(9) },
            ],
        )
        .unwrap();
        let patient = CohortPatient {
            pseudonym: "KC-1".to_owned(),
            modality: Modality::IvKetamine,
            plan_started_on: date("2026-03-01"),
            first_treatment_date: Some(date("2026-03-01")),
            induction_ended_on: None,
            series: vec![series],
            sessions_given: 2,
            sessions_monitored: 2,
            measurements_due: 0,
            measurements_done: 0,
            alert_levels: Vec::new(),
            rems_forms_due: 0,
            rems_forms_on_time: 0,
        };
        let report = cohort_report(
            Modality::IvKetamine,
            date("2026-01-01"),
            date("2026-12-31"),
            date("2026-12-01"),
            &[patient],
            &Protocol::shipped(),
        );
        let svg = outcomes_rates_svg(&report, "iv");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        for text in ["Week 1", "Week 4", "Week 8", "End of induction", "100.0%", "n = 1", "none measured", "Response"] {
            assert!(svg.contains(text), "{text} in {svg}");
        }
        assert_eq!(svg.matches("none measured").count(), 3, "weeks 4 and 8 unmeasured, induction not ended");
    }
}
