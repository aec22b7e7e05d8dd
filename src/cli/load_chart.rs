//! `cashier load --chart FILE.svg`: throughput and `start_payment` latency over the run, one
//! point per batch, as a plain SVG (two panels, polylines, axis labels). Written by hand rather
//! than with a plotting crate: plotters needs a font file to lay text out, while SVG text is
//! laid out by the viewer, so the chart needs nothing installed.

use std::fmt::Write as _;

/// One batch of the run.
#[derive(Clone, Copy, Debug)]
pub struct Point {
    /// Seconds since the start when the batch finished.
    pub at_s: f64,
    /// Orders per second over the batch.
    pub orders_per_second: f64,
    /// The batch's `start_payment` p50 and p99, in milliseconds.
    pub start_p50_ms: f64,
    /// See `start_p50_ms`.
    pub start_p99_ms: f64,
}

/// One line of a panel: its name, colour and (seconds, value) points.
type Series<'a> = (&'a str, &'a str, Vec<(f64, f64)>);

const WIDTH: f64 = 800.0;
const PANEL: f64 = 220.0;
const LEFT: f64 = 110.0;
const RIGHT: f64 = 20.0;

fn polyline(points: &[(f64, f64)], colour: &str) -> String {
    let path: Vec<String> = points
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect();
    format!(
        r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>"#,
        path.join(" ")
    )
}

/// One panel: a frame, y labels at 0 and the maximum, the series, a title.
fn panel(out: &mut String, top: f64, title: &str, unit: &str, series: &[Series<'_>], end_s: f64) {
    let max = series
        .iter()
        .flat_map(|(_, _, values)| values.iter().map(|(_, value)| *value))
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let x = |at_s: f64| LEFT + (WIDTH - LEFT - RIGHT) * at_s / end_s.max(1e-9);
    let y = |value: f64| top + PANEL - PANEL * value / max;
    let _ = write!(
        out,
        r#"<rect x="{LEFT}" y="{top}" width="{}" height="{PANEL}" fill="none" stroke="gray"/>"#,
        WIDTH - LEFT - RIGHT
    );
    let _ = write!(
        out,
        r#"<text x="{LEFT}" y="{}" font-size="13">{title}</text>"#,
        top - 6.0
    );
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" font-size="11" text-anchor="end">{max:.1} {unit}</text>"#,
        LEFT - 4.0,
        top + 10.0
    );
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" font-size="11" text-anchor="end">0</text>"#,
        LEFT - 4.0,
        top + PANEL
    );
    for (index, (name, colour, values)) in series.iter().enumerate() {
        let scaled: Vec<(f64, f64)> = values
            .iter()
            .map(|(at_s, value)| (x(*at_s), y(*value)))
            .collect();
        out.push_str(&polyline(&scaled, colour));
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" font-size="11" fill="{colour}">{name}</text>"#,
            WIDTH - RIGHT - 120.0,
            top + 14.0 + 14.0 * index as f64
        );
    }
}

/// The chart of a run.
pub fn svg(points: &[Point], title: &str) -> String {
    let end_s = points.last().map_or(1.0, |point| point.at_s);
    let height = 2.0 * PANEL + 110.0;
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/><text x="{LEFT}" y="18" font-size="15">{title}</text>"#
    );
    let throughput: Vec<(f64, f64)> = points
        .iter()
        .map(|point| (point.at_s, point.orders_per_second))
        .collect();
    panel(
        &mut out,
        45.0,
        "throughput",
        "orders/s",
        &[("orders/s", "#07c160", throughput)],
        end_s,
    );
    let p50: Vec<(f64, f64)> = points
        .iter()
        .map(|point| (point.at_s, point.start_p50_ms))
        .collect();
    let p99: Vec<(f64, f64)> = points
        .iter()
        .map(|point| (point.at_s, point.start_p99_ms))
        .collect();
    panel(
        &mut out,
        45.0 + PANEL + 40.0,
        "start_payment latency",
        "ms",
        &[("p50", "#1a73e8", p50), ("p99", "#d93025", p99)],
        end_s,
    );
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" font-size="11" text-anchor="end">{end_s:.1} s</text></svg>"#,
        WIDTH - RIGHT,
        height - 10.0
    );
    out
}
