//! The patient's symptom course as a server-rendered SVG, in the style of `vital_signs_chart.rs`: one
//! panel per scale (PHQ-9, MADRS, QIDS-SR16) with its totals over time joined by a line, the baseline
//! ringed, the response line (dashed, "response −50 %") and the remission line (dotted, "remission ≤ N")
//! drawn and labelled, and each treatment session marked by a triangle on the time axis and a faint line
//! through the panels. It takes numbers and dates only and writes numbers, dates and fixed words, so no
//! patient text can reach the markup; the results table beside it is its text alternative.

use std::fmt::Write as _;

use jiff::civil::Date;
use ketacare_app::SymptomCourseView;

const WIDTH: f64 = 720.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 150.0;
/// Room above each panel for its title.
const TOP: f64 = 26.0;
const PANEL_HEIGHT: f64 = 130.0;
const PANEL_GAP: f64 = 40.0;
/// Points stay this far inside the panel, so their labels clear the axis.
const INSET: f64 = 24.0;
const AXIS: f64 = 40.0;

/// Days from `first` to `date` (negative before it).
fn days_between(first: Date, date: Date) -> i64 {
    first.until(date).map_or(0, |span| i64::from(span.get_days()))
}

/// The SVG of the course; empty when no scale has a result.
pub fn symptom_course_svg(course: &SymptomCourseView) -> String {
    if course.series.is_empty() {
        return String::new();
    }
    let dates = course.series.iter().flat_map(|series| series.points.iter().map(|(date, _)| *date));
    let all: Vec<Date> = dates.chain(course.session_dates.iter().copied()).collect();
    let (Some(first), Some(last)) = (all.iter().min().copied(), all.iter().max().copied()) else {
        return String::new();
    };
    let span_days = days_between(first, last).max(7) as f64;
    let plot_width = WIDTH - LEFT - RIGHT;
    let x = |date: Date| LEFT + INSET + (plot_width - 2.0 * INSET) * (days_between(first, date) as f64) / span_days;
    let panels = course.series.len() as f64;
    let bottom = TOP + panels * PANEL_HEIGHT + (panels - 1.0) * PANEL_GAP;
    let height = bottom + AXIS;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" class="symptom-chart" role="img" aria-labelledby="symptom-chart-title symptom-chart-desc"><title id="symptom-chart-title">Symptom scores over time</title><desc id="symptom-chart-desc">One panel per scale: each total as a point joined by a line, the baseline ringed, the response line dashed and the remission line dotted; treatment sessions as triangles on the time axis. The table of results lists every value.</desc>"##
    );
    // The sessions, behind everything: a faint line through the panels and a triangle under them.
    for date in &course.session_dates {
        let sx = x(*date);
        let _ = write!(
            svg,
            r##"<line x1="{sx:.1}" x2="{sx:.1}" y1="{TOP}" y2="{bottom}" stroke="#d9e4f2" stroke-width="2"/><path d="M{a:.1} {b1:.1} L{c:.1} {b1:.1} L{sx:.1} {b0:.1} Z" fill="#1d4f91"/>"##,
            a = sx - 5.0,
            c = sx + 5.0,
            b0 = bottom + 2.0,
            b1 = bottom + 10.0,
        );
    }
    for (index, series) in course.series.iter().enumerate() {
        let top = TOP + (index as f64) * (PANEL_HEIGHT + PANEL_GAP);
        let max = f64::from(series.max_total);
        let y = |value: f64| top + PANEL_HEIGHT * (max - value.clamp(0.0, max)) / max;
        let _ = write!(
            svg,
            r##"<rect x="{LEFT}" y="{top}" width="{plot_width}" height="{PANEL_HEIGHT}" fill="none" stroke="#505a5f" stroke-width="1"/><text x="{LEFT}" y="{ty:.1}" font-size="13" font-weight="bold" fill="#0b0c0c">{title} <tspan font-size="11" font-weight="normal">(total 0–{max_total})</tspan></text>"##,
            ty = top - 7.0,
            title = series.title,
            max_total = series.max_total,
        );
        for fraction in [0.0, 0.5, 1.0] {
            let value = (max * fraction).round();
            let gy = y(value);
            let _ = write!(
                svg,
                r##"<line x1="{LEFT}" x2="{x2}" y1="{gy:.1}" y2="{gy:.1}" stroke="#e5e6e7" stroke-width="1"/><text x="{tx}" y="{ly:.1}" font-size="11" text-anchor="end" fill="#0b0c0c">{value}</text>"##,
                x2 = LEFT + plot_width,
                tx = LEFT - 4.0,
                ly = gy + 4.0,
            );
        }
        // The remission and response lines, labelled at the right.
        let remission = f64::from(series.remission_at_most);
        let ry = y(remission);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{x2}" y1="{ry:.1}" y2="{ry:.1}" stroke="#00703c" stroke-width="2" stroke-dasharray="2 3"/><text x="{lx}" y="{ly:.1}" font-size="11" fill="#00703c">remission ≤ {remission_text}</text>"##,
            x2 = LEFT + plot_width,
            lx = LEFT + plot_width + 6.0,
            ly = ry + 4.0,
            remission_text = series.remission_at_most,
        );
        if let Some(response) = series.response_at_most {
            let py = y(response);
            let _ = write!(
                svg,
                r##"<line x1="{LEFT}" x2="{x2}" y1="{py:.1}" y2="{py:.1}" stroke="#1d4f91" stroke-width="2" stroke-dasharray="8 4"/><text x="{lx}" y="{ly:.1}" font-size="11" fill="#1d4f91">response −{pct}% ({response:.1})</text>"##,
                x2 = LEFT + plot_width,
                lx = LEFT + plot_width + 6.0,
                ly = py + 4.0 - if (py - ry).abs() < 12.0 { 10.0 } else { 0.0 },
                pct = course.response_reduction_pct.normalize(),
            );
        }
        let coordinates: Vec<String> =
            series.points.iter().map(|(date, total)| format!("{:.1},{:.1}", x(*date), y(f64::from(*total)))).collect();
        if coordinates.len() > 1 {
            let _ = write!(
                svg,
                r##"<polyline points="{}" fill="none" stroke="#0b0c0c" stroke-width="2"/>"##,
                coordinates.join(" ")
            );
        }
        for (date, total) in &series.points {
            let (px, py) = (x(*date), y(f64::from(*total)));
            let is_baseline = series.baseline == Some((*date, *total));
            let _ = write!(
                svg,
                r##"<circle cx="{px:.1}" cy="{py:.1}" r="4" fill="#0b0c0c"/><text x="{px:.1}" y="{ty:.1}" font-size="11" text-anchor="middle" fill="#0b0c0c">{total}</text>"##,
                ty = py - 8.0,
            );
            if is_baseline {
                let _ = write!(
                    svg,
                    r##"<circle cx="{px:.1}" cy="{py:.1}" r="8" fill="none" stroke="#0b0c0c" stroke-width="1.5"/><text x="{px:.1}" y="{by:.1}" font-size="10" text-anchor="middle" fill="#0b0c0c">baseline</text>"##,
                    by = (py + 20.0).min(top + PANEL_HEIGHT - 2.0),
                );
            }
        }
    }
    // The date axis: the first and last dates and a few between.
    let ticks = 4;
    for step in 0..=ticks {
        let offset = (span_days * f64::from(step) / f64::from(ticks)).round() as i64;
        let Ok(date) = first.checked_add(jiff::Span::new().days(offset)) else { continue };
        let _ = write!(
            svg,
            r##"<text x="{tx:.1}" y="{ty:.1}" font-size="11" text-anchor="middle" fill="#0b0c0c">{label}</text>"##,
            tx = x(date),
            ty = bottom + 26.0,
            label = date.strftime("%-d %b %Y"),
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use ketacare_app::SymptomSeries;
    use rust_decimal::Decimal;

    use super::*;

    fn date(text: &str) -> Date {
        text.parse().unwrap()
    }

    #[test]
    fn the_chart_draws_each_total_the_lines_and_the_sessions() {
        let course = SymptomCourseView {
            series: vec![SymptomSeries {
                scale: "madrs",
                title: "MADRS",
                max_total: 60,
                points: vec![(date("2026-11-01"), 34), (date("2026-11-15"), 20), (date("2026-11-29"), 9)],
                baseline: Some((date("2026-11-01"), 34)),
                response_at_most: Some(17.0),
                remission_at_most: 10,
            }],
            session_dates: vec![date("2026-11-02"), date("2026-11-05")],
            response_reduction_pct: Decimal::from(50),
        };
        let svg = symptom_course_svg(&course);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        for text in [">34<", ">20<", ">9<", "baseline", "response −50% (17.0)", "remission ≤ 10", "MADRS", "1 Nov 2026"]
        {
            assert!(svg.contains(text), "{text} in {svg}");
        }
        assert_eq!(svg.matches("<path").count(), 2, "one triangle per session");
        assert_eq!(symptom_course_svg(&SymptomCourseView { series: Vec::new(), ..course }), "");
    }
}
