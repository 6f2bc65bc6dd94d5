//! The plot (`target/density/report.svg`): memory per tenant and cold start
//! p50 against the tenant count, one line per method, log-log scales.

use std::fmt::Write as _;

use crate::run::RunReport;

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 440.0;
const PANEL: f64 = 400.0;
const PLOT_H: f64 = 300.0;
const LEFT: f64 = 70.0;
const TOP: f64 = 50.0;
const COLOURS: &[&str] = &[
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];

/// One series: a method's points (tenants, value).
type Series<'a> = (&'a str, Vec<(f64, f64)>);

/// The SVG document for `runs`.
pub fn plot(runs: &[RunReport]) -> String {
    let mut methods: Vec<&str> = Vec::new();
    for run in runs {
        if !methods.contains(&run.method.as_str()) {
            methods.push(&run.method);
        }
    }
    let series = |pick: fn(&RunReport) -> Option<f64>| -> Vec<Series<'_>> {
        methods
            .iter()
            .map(|&method| {
                #[allow(clippy::cast_precision_loss)]
                let points = runs
                    .iter()
                    .filter(|run| run.method == method && run.tenants > 0)
                    .filter_map(|run| Some((run.tenants as f64, pick(run).filter(|v| *v > 0.0)?)))
                    .collect();
                (method, points)
            })
            .collect()
    };
    let memory = series(|run| run.charged_kib_per_tenant.or(run.pss_kib_per_tenant));
    let cold = series(|run| run.cold_start_us.map(|c| c.p50));
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    panel(
        &mut svg,
        LEFT,
        "memory per live tenant (KiB, charged; PSS if not)",
        &memory,
    );
    panel(&mut svg, LEFT + PANEL + 110.0, "cold start p50 (µs)", &cold);
    for (index, method) in methods.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let x = LEFT + index as f64 * 115.0;
        let colour = COLOURS[index % COLOURS.len()];
        let y = HEIGHT - 20.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">{method}</text>"#,
            x + 20.0,
            x + 24.0,
            y + 4.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Decades covering `values` (log10 bounds).
fn decades(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
    for value in values {
        low = low.min(value.log10().floor());
        high = high.max(value.log10().ceil());
    }
    if low.is_finite() && high.is_finite() {
        (low, high.max(low + 1.0))
    } else {
        (0.0, 1.0)
    }
}

fn panel(svg: &mut String, left: f64, title: &str, series: &[Series<'_>]) {
    let points = || series.iter().flat_map(|(_, points)| points.iter());
    let (x0, x1) = decades(points().map(|p| p.0));
    let (y0, y1) = decades(points().map(|p| p.1));
    let x = |v: f64| left + (v.log10() - x0) / (x1 - x0) * PANEL;
    let y = |v: f64| TOP + PLOT_H - (v.log10() - y0) / (y1 - y0) * PLOT_H;
    let _ = writeln!(
        svg,
        r#"<text x="{left}" y="{}" font-weight="bold">{title}</text>"#,
        TOP - 15.0
    );
    let _ = writeln!(
        svg,
        r##"<rect x="{left}" y="{TOP}" width="{PANEL}" height="{PLOT_H}" fill="none" stroke="#333"/>"##
    );
    let mut decade = x0;
    while decade <= x1 {
        let px = x(10f64.powf(decade));
        let _ = writeln!(
            svg,
            r##"<line x1="{px}" y1="{TOP}" x2="{px}" y2="{}" stroke="#ddd"/><text x="{px}" y="{}" text-anchor="middle">{}</text>"##,
            TOP + PLOT_H,
            TOP + PLOT_H + 16.0,
            label(decade)
        );
        decade += 1.0;
    }
    let mut decade = y0;
    while decade <= y1 {
        let py = y(10f64.powf(decade));
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" y1="{py}" x2="{}" y2="{py}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
            left + PANEL,
            left - 6.0,
            py + 4.0,
            label(decade)
        );
        decade += 1.0;
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">live tenants (N)</text>"#,
        left + PANEL / 2.0,
        TOP + PLOT_H + 34.0
    );
    for (index, (_, points)) in series.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let path: Vec<String> = points
            .iter()
            .map(|&(px, py)| format!("{:.1},{:.1}", x(px), y(py)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            path.join(" ")
        );
        for point in &path {
            let (cx, cy) = point.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(
                svg,
                r#"<circle cx="{cx}" cy="{cy}" r="3" fill="{colour}"/>"#
            );
        }
    }
}

/// `10^decade` as a short label.
fn label(decade: f64) -> String {
    let value = 10f64.powf(decade);
    if value >= 1.0 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_plot_is_valid_svg() {
        let svg = plot(&[]);
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn decades_cover_values() {
        assert_eq!(decades([3.0, 250.0].into_iter()), (0.0, 3.0));
        assert_eq!(decades(std::iter::empty()), (0.0, 1.0));
    }
}
