//! The session's vital signs over time as a server-rendered SVG: blood pressure as a bar from
//! diastolic to systolic, heart rate and SpO2 each on its own axis below, the dose marked by a dashed
//! line. It takes only numbers and writes only numbers and fixed words, so no patient text can reach
//! the markup; the observation table on the page is its text alternative.

use std::fmt::Write as _;

use jiff::civil::Time;

/// One observation's values, `minute` minutes after the chart's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VitalSignsPoint {
    pub minute: i64,
    pub systolic_mmhg: Option<i64>,
    pub diastolic_mmhg: Option<i64>,
    pub heart_rate_bpm: Option<i64>,
    pub spo2_percent: Option<i64>,
}

const WIDTH: f64 = 720.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 20.0;
const PANEL_GAP: f64 = 26.0;
const TOP: f64 = 24.0;
const AXIS_LABELS: f64 = 30.0;

/// One panel: a value range drawn over a height, with its gridlines.
struct Panel {
    title: &'static str,
    unit: &'static str,
    low: f64,
    high: f64,
    top: f64,
    height: f64,
    gridlines: &'static [f64],
}

impl Panel {
    fn y(&self, value: f64) -> f64 {
        let clamped = value.clamp(self.low, self.high);
        self.top + self.height * (self.high - clamped) / (self.high - self.low)
    }
}

/// The SVG of `points` (in time order), with the dose at `dose_minute`; `start` is the clinic-local
/// time of minute 0, for the time axis. Empty when there is nothing to draw.
pub fn vital_signs_svg(points: &[VitalSignsPoint], dose_minute: Option<i64>, start: Time) -> String {
    if points.is_empty() {
        return String::new();
    }
    let first = points.iter().map(|p| p.minute).chain(dose_minute).min().unwrap_or(0);
    let last = points.iter().map(|p| p.minute).chain(dose_minute).max().unwrap_or(0).max(first + 30);
    let span = (last - first) as f64;
    let x = |minute: i64| LEFT + (WIDTH - LEFT - RIGHT) * ((minute - first) as f64) / span;
    let bp = Panel {
        title: "BP",
        unit: "mmHg",
        low: 40.0,
        high: 200.0,
        top: TOP,
        height: 150.0,
        gridlines: &[60.0, 90.0, 120.0, 140.0, 160.0, 180.0],
    };
    let heart = Panel {
        title: "HR",
        unit: "bpm",
        low: 40.0,
        high: 160.0,
        top: TOP + 150.0 + PANEL_GAP,
        height: 80.0,
        gridlines: &[60.0, 100.0, 140.0],
    };
    let spo2 = Panel {
        title: "SpO2",
        unit: "%",
        low: 85.0,
        high: 100.0,
        top: heart.top + 80.0 + PANEL_GAP,
        height: 60.0,
        gridlines: &[90.0, 95.0, 100.0],
    };
    let bottom = spo2.top + spo2.height;
    let height = bottom + AXIS_LABELS;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" class="vitals-chart" role="img" aria-labelledby="vitals-chart-title vitals-chart-desc"><title id="vitals-chart-title">Vital signs over time</title><desc id="vitals-chart-desc">Blood pressure as bars from diastolic to systolic, heart rate and SpO2 on their own axes, the dose as a dashed line. The table of entries below lists every value.</desc>"##
    );
    for panel in [&bp, &heart, &spo2] {
        let _ = write!(
            svg,
            r##"<rect x="{LEFT}" y="{top}" width="{w}" height="{h}" fill="#ffffff" stroke="#505a5f" stroke-width="1"/><text x="6" y="{label_y:.1}" font-size="13" font-weight="bold" fill="#0b0c0c">{title}</text><text x="6" y="{unit_y:.1}" font-size="11" fill="#0b0c0c">{unit}</text>"##,
            top = panel.top,
            w = WIDTH - LEFT - RIGHT,
            h = panel.height,
            label_y = panel.top + 14.0,
            unit_y = panel.top + 28.0,
            title = panel.title,
            unit = panel.unit,
        );
        for &value in panel.gridlines {
            let y = panel.y(value);
            let _ = write!(
                svg,
                r##"<line x1="{LEFT}" x2="{x2}" y1="{y:.1}" y2="{y:.1}" stroke="#b1b4b6" stroke-width="1"/><text x="{tx}" y="{ty:.1}" font-size="11" text-anchor="end" fill="#0b0c0c">{value}</text>"##,
                x2 = WIDTH - RIGHT,
                tx = LEFT - 4.0,
                ty = y + 4.0,
            );
        }
    }
    // The time axis: a tick every 15 minutes (30 past two hours), labelled with the clinic-local time.
    let step = if span > 120.0 { 30 } else { 15 };
    let mut tick = first - first.rem_euclid(step);
    while tick <= last {
        if tick >= first {
            let tx = x(tick);
            let label = start
                .checked_add(jiff::SignedDuration::from_mins(tick))
                .map_or_else(|_| String::new(), |time| time.strftime("%H:%M").to_string());
            let _ = write!(
                svg,
                r##"<line x1="{tx:.1}" x2="{tx:.1}" y1="{TOP}" y2="{bottom}" stroke="#e5e6e7" stroke-width="1"/><text x="{tx:.1}" y="{ly:.1}" font-size="11" text-anchor="middle" fill="#0b0c0c">{label}</text>"##,
                ly = bottom + 16.0,
            );
        }
        tick += step;
    }
    if let Some(dose) = dose_minute {
        let dx = x(dose);
        let _ = write!(
            svg,
            r##"<line x1="{dx:.1}" x2="{dx:.1}" y1="{top:.1}" y2="{bottom}" stroke="#0b0c0c" stroke-width="2" stroke-dasharray="6 4"/><text x="{tx:.1}" y="{ty:.1}" font-size="12" font-weight="bold" fill="#0b0c0c">dose</text>"##,
            top = TOP - 6.0,
            tx = dx + 4.0,
            ty = TOP - 8.0,
        );
    }
    for point in points {
        if let (Some(systolic), Some(diastolic)) = (point.systolic_mmhg, point.diastolic_mmhg) {
            let px = x(point.minute);
            let (ys, yd) = (bp.y(systolic as f64), bp.y(diastolic as f64));
            let _ = write!(
                svg,
                r##"<line x1="{px:.1}" x2="{px:.1}" y1="{ys:.1}" y2="{yd:.1}" stroke="#1d4f91" stroke-width="4"/><line x1="{l:.1}" x2="{r:.1}" y1="{ys:.1}" y2="{ys:.1}" stroke="#1d4f91" stroke-width="2"/><line x1="{l:.1}" x2="{r:.1}" y1="{yd:.1}" y2="{yd:.1}" stroke="#1d4f91" stroke-width="2"/><text x="{px:.1}" y="{ty:.1}" font-size="10" text-anchor="middle" fill="#0b0c0c">{systolic}/{diastolic}</text>"##,
                l = px - 6.0,
                r = px + 6.0,
                ty = ys - 5.0,
            );
        }
    }
    let line = |svg: &mut String, panel: &Panel, values: Vec<(i64, i64)>, colour: &str, square: bool| {
        if values.is_empty() {
            return;
        }
        let path: Vec<String> =
            values.iter().map(|&(minute, value)| format!("{:.1},{:.1}", x(minute), panel.y(value as f64))).collect();
        let _ =
            write!(svg, r##"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"##, path.join(" "));
        for &(minute, value) in &values {
            let (px, py) = (x(minute), panel.y(value as f64));
            if square {
                let _ = write!(
                    svg,
                    r##"<rect x="{:.1}" y="{:.1}" width="7" height="7" fill="{colour}"/>"##,
                    px - 3.5,
                    py - 3.5
                );
            } else {
                let _ = write!(svg, r##"<circle cx="{px:.1}" cy="{py:.1}" r="4" fill="{colour}"/>"##);
            }
            let _ = write!(
                svg,
                r##"<text x="{px:.1}" y="{:.1}" font-size="10" text-anchor="middle" fill="#0b0c0c">{value}</text>"##,
                py - 7.0
            );
        }
    };
    let heart_values = points.iter().filter_map(|p| p.heart_rate_bpm.map(|v| (p.minute, v))).collect();
    line(&mut svg, &heart, heart_values, "#8a1538", false);
    let spo2_values = points.iter().filter_map(|p| p.spo2_percent.map(|v| (p.minute, v))).collect();
    line(&mut svg, &spo2, spo2_values, "#00703c", true);
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_draws_each_value_and_the_dose() {
        let points = [
            VitalSignsPoint {
                minute: 0,
                systolic_mmhg: Some(128),
                diastolic_mmhg: Some(78),
                heart_rate_bpm: Some(72),
                spo2_percent: Some(98),
            },
            VitalSignsPoint {
                minute: 50,
                systolic_mmhg: Some(162),
                diastolic_mmhg: Some(92),
                heart_rate_bpm: Some(88),
                spo2_percent: Some(97),
            },
        ];
        let svg = vital_signs_svg(&points, Some(10), Time::constant(17, 57, 0, 0));
        for expected in ["128/78", "162/92", ">88<", ">97<", ">dose<", ">17:57<", "<title id=\"vitals-chart-title\">"] {
            assert!(svg.contains(expected), "{expected} in {svg}");
        }
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(vital_signs_svg(&[], None, Time::midnight()), "");
    }
}
