//! SVG charts with plotters (text is SVG text, so no font files are needed).

use std::path::Path;

use plotters::prelude::*;

use super::table::{RowKind, Summary};
use common_weakness_bench::{Error, Result};

fn plot_error(e: impl std::fmt::Display) -> Error {
    Error::Io(std::io::Error::other(format!("chart: {e}")))
}

/// A palette of distinguishable colours.
pub const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Grouped bars: one group per attack, one bar per held-out target, height = success over all
/// images (the mean over seeds).
pub fn bars(path: &Path, budget: &str, summaries: &[Summary]) -> Result<()> {
    let mut attacks: Vec<&str> = Vec::new();
    let mut targets: Vec<&str> = Vec::new();
    for s in summaries {
        if !attacks.contains(&s.attack) {
            attacks.push(s.attack);
        }
        if s.kind != RowKind::WhiteBox && !targets.contains(&s.row) {
            targets.push(s.row);
        }
    }
    let width = 140 + 70 * attacks.len() as u32;
    let root = SVGBackend::new(path, (width.max(700), 520)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let groups = attacks.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("Transfer success on held-out Fashion-MNIST targets, L∞ {budget}"), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(70)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..groups, 0.0..100.0)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc("success rate over all images (%)")
        .draw()
        .map_err(plot_error)?;
    let slot = 0.8 / targets.len() as f64;
    for (t, target) in targets.iter().enumerate() {
        let colour = COLOURS[t % COLOURS.len()];
        let bars = attacks.iter().enumerate().filter_map(|(a, attack)| {
            let summary = summaries.iter().find(|s| s.row == *target && s.attack == *attack)?;
            let left = a as f64 + 0.1 + t as f64 * slot;
            Some(Rectangle::new([(left, 0.0), (left + slot, 100.0 * summary.rate())], colour.filled()))
        });
        chart
            .draw_series(bars)
            .map_err(plot_error)?
            .label(*target)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
    }
    for (a, attack) in attacks.iter().enumerate() {
        let label = Text::new(attack.to_string(), (a as f64 + 0.5, -4.0), ("sans-serif", 12).into_font().color(&BLACK));
        chart.draw_series(std::iter::once(label)).map_err(plot_error)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)?;
    root.present().map_err(plot_error)
}

/// A panel: a method's name and, per target, the loss at each offset.
pub type Panel = (String, Vec<(String, Vec<f64>)>);

/// One panel per method: the loss along the direction to each target's optimum.
pub fn curves(path: &Path, offsets: &[f64], panels: &[Panel]) -> Result<()> {
    let root = SVGBackend::new(path, (360 * panels.len().max(1) as u32, 360)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let low =
        panels.iter().flat_map(|(_, c)| c.iter().flat_map(|(_, v)| v.iter().copied())).fold(f64::INFINITY, f64::min);
    let high = panels
        .iter()
        .flat_map(|(_, c)| c.iter().flat_map(|(_, v)| v.iter().copied()))
        .fold(f64::NEG_INFINITY, f64::max);
    let margin = 0.05 * (high - low).max(1e-6);
    let (first, last) = (offsets[0] * 255.0, offsets[offsets.len() - 1] * 255.0);
    for (area, (method, curves)) in root.split_evenly((1, panels.len().max(1))).iter().zip(panels) {
        let mut chart = ChartBuilder::on(area)
            .caption(method.as_str(), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(45)
            .build_cartesian_2d(first..last, (low - margin)..(high + margin))
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc("t (L∞ distance × 255)")
            .y_desc("objective (log p_y)")
            .draw()
            .map_err(plot_error)?;
        for (i, (target, values)) in curves.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let points = offsets.iter().map(|t| t * 255.0).zip(values.iter().copied());
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(2)))
                .map_err(plot_error)?
                .label(target.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], colour.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 10))
            .draw()
            .map_err(plot_error)?;
    }
    root.present().map_err(plot_error)
}
