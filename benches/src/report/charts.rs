//! The SVG charts: throughput by thread count, and unfreed nodes over time.

use std::ops::Range;
use std::path::Path;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use super::format;
use super::sections::{Chart, sections};
use crate::driver::Run;
use crate::workloads::Workload;

const COLORS: [(u8, u8, u8); 8] = [
    (0xd6, 0x27, 0x28),
    (0x1f, 0x77, 0xb4),
    (0x2c, 0xa0, 0x2c),
    (0xff, 0x7f, 0x0e),
    (0x94, 0x67, 0xbd),
    (0x7f, 0x7f, 0x7f),
    (0x8c, 0x56, 0x4b),
    (0xe3, 0x77, 0xc2),
];

type ChartResult = Result<(), Box<dyn std::error::Error>>;

/// One library's line; its colour follows the library's place in the run, in every chart.
struct Line {
    name: &'static str,
    lib_index: usize,
    points: Vec<(f64, f64)>,
}

/// What differs between the two kinds of chart.
struct Axes {
    x_desc: &'static str,
    y_desc: &'static str,
    x_labels: usize,
    y_label_area: u32,
    y_label: fn(f64) -> String,
    /// A dot on every point (few points per line).
    markers: bool,
    legend: SeriesLabelPosition,
}

fn line_chart<Y>(
    path: &Path,
    title: &str,
    axes: Axes,
    x: Range<f64>,
    y: Y,
    lines: Vec<Line>,
) -> ChartResult
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let root = SVGBackend::new(path, (760, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(axes.y_label_area)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_desc(axes.x_desc)
        .y_desc(axes.y_desc)
        .x_labels(axes.x_labels)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| (axes.y_label)(*y))
        .draw()?;
    for line in lines.into_iter().filter(|l| !l.points.is_empty()) {
        let (r, g, b) = COLORS[line.lib_index % COLORS.len()];
        let color = RGBColor(r, g, b);
        if axes.markers {
            chart.draw_series(
                line.points
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
            )?;
        }
        chart
            .draw_series(LineSeries::new(line.points, color.stroke_width(2)))?
            .label(line.name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(axes.legend)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Median throughput of every library at every thread count of `w`.
fn throughput_chart(run: &Run, w: Workload, chart: &Chart, path: &Path) -> ChartResult {
    let ts = run.threads_of(w);
    let max_t = ts.iter().copied().max().unwrap_or(1) as f64;
    let lines: Vec<Line> = run
        .libs
        .iter()
        .enumerate()
        .map(|(lib_index, l)| Line {
            name: l.name,
            lib_index,
            points: ts
                .iter()
                .filter_map(|&t| run.stat(w, l.name, t, "mops").map(|s| (t as f64, s.median)))
                .collect(),
        })
        .collect();
    let ymax = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0, f64::max)
        * 1.1;
    let axes = Axes {
        x_desc: "threads",
        y_desc: "Mops/s (median)",
        x_labels: max_t as usize + 1,
        y_label_area: 60,
        y_label: format::rate,
        markers: true,
        legend: SeriesLabelPosition::UpperRight,
    };
    let x = 0.5..max_t + 0.5;
    line_chart(path, &chart.title, axes, x, 0.0..ymax.max(1e-3), lines)
}

/// Unfreed nodes over time of every library's repetition with the median peak.
fn timeline_chart(run: &Run, w: Workload, chart: &Chart, path: &Path) -> ChartResult {
    let t = run.threads_of(w)[0];
    let mut lines = Vec::new();
    for (lib_index, l) in run.libs.iter().enumerate() {
        let mut reps = run.cell_samples(w, l.name, t);
        reps.sort_by(|a, b| {
            let pa = a.outcome.get("peak_unfreed").unwrap_or(0.0);
            let pb = b.outcome.get("peak_unfreed").unwrap_or(0.0);
            pa.total_cmp(&pb)
        });
        if let Some(s) = reps.get(reps.len() / 2) {
            lines.push(Line {
                name: l.name,
                lib_index,
                // A log axis cannot show 0.
                points: s
                    .outcome
                    .series
                    .iter()
                    .map(|&(x, y)| (x, y.max(1.0)))
                    .collect(),
            });
        }
    }
    let points = || lines.iter().flat_map(|l| l.points.iter());
    let xmax = points().map(|p| p.0).fold(1.0, f64::max);
    let ymax = points().map(|p| p.1).fold(10.0, f64::max) * 2.0;
    let axes = Axes {
        x_desc: "ms since the writers started",
        y_desc: "unfreed nodes (log; 0 drawn as 1)",
        x_labels: 11,
        y_label_area: 70,
        y_label: format::count,
        markers: false,
        legend: SeriesLabelPosition::LowerRight,
    };
    let y = (1.0..ymax).log_scale();
    line_chart(path, &chart.title, axes, 0.0..xmax, y, lines)
}

/// Write the charts of the sections that were run into `dir`; returns the files written.
pub fn charts(run: &Run, dir: &Path) -> Vec<String> {
    let mut written = Vec::new();
    for sec in sections(&run.cfg)
        .iter()
        .filter(|s| run.workloads.contains(&s.w))
    {
        let Some(chart) = &sec.chart else { continue };
        let p = dir.join(chart.file_name());
        let drawn = if sec.w.scaled() {
            throughput_chart(run, sec.w, chart, &p)
        } else {
            timeline_chart(run, sec.w, chart, &p)
        };
        match drawn {
            Ok(()) => written.push(p.display().to_string()),
            Err(e) => eprintln!("chart {}: {e}", p.display()),
        }
    }
    written
}
