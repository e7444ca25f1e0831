//! Draws a report as a chart of three panels over time: CPU demand per workload, replicas per
//! workload, and nodes per node group (with pods pending), as SVG or PNG.
//!
//! Text needs a TrueType font: plotters' `ab_glyph` renderer measures and draws with a font
//! registered at run time, so berth carries none. [`system_font`] finds DejaVu Sans (Debian
//! package `fonts-dejavu-core`) or Liberation Sans, or the file named by `BERTH_FONT`.
//! Long runs are thinned to at most [`MAX_POINTS`] points per line, keeping each bucket's
//! largest value so that peaks stay visible.

use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::report::Report;

/// Points drawn per line at most.
pub const MAX_POINTS: usize = 1500;
/// Lines drawn per panel at most (the workloads with the highest peaks).
pub const MAX_LINES: usize = 8;
/// Line colours (red is kept for pods pending and data loss).
const LINE_COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
    RGBColor(127, 127, 127),
];

/// Data-loss marks drawn at most.
pub const MAX_MARKS: usize = 200;
const SIZE: (u32, u32) = (1200, 900);

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// No font file was found.
    #[error(
        "no font for the chart's text: install a TrueType font (Debian: `apt-get install fonts-dejavu-core`) or set BERTH_FONT to a .ttf file"
    )]
    NoFont,
    /// The font file could not be parsed.
    #[error("the font file is not a usable TrueType/OpenType font")]
    BadFont,
    /// plotters or the PNG encoder failed.
    #[error("drawing the chart failed: {0}")]
    Draw(String),
}

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// A font for the chart: `BERTH_FONT`, else the first of the usual system paths. Read once
/// and kept for the life of the process (plotters needs `'static` font data).
pub fn system_font() -> Option<&'static [u8]> {
    static FONT: OnceLock<Option<&'static [u8]>> = OnceLock::new();
    *FONT.get_or_init(|| {
        let env = std::env::var_os("BERTH_FONT").map(std::path::PathBuf::from);
        let paths = env
            .into_iter()
            .chain(FONT_PATHS.iter().map(std::path::PathBuf::from));
        paths
            .filter_map(|p| std::fs::read(p).ok())
            .next()
            .map(|b| &*Box::leak(b.into_boxed_slice()))
    })
}

/// Registers `font` as the chart's font. Call once before [`svg()`] or [`png()`].
pub fn use_font(font: &'static [u8]) -> Result<(), PlotError> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| PlotError::BadFont)
}

fn draw_err<E: std::fmt::Debug>(e: E) -> PlotError {
    PlotError::Draw(format!("{e:?}"))
}

/// The chart as an SVG document.
pub fn svg(report: &Report) -> Result<String, PlotError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        draw(&root, report)?;
        root.present().map_err(draw_err)?;
    }
    Ok(out)
}

/// The chart as a PNG image.
pub fn png(report: &Report) -> Result<Vec<u8>, PlotError> {
    let mut rgb = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        draw(&root, report)?;
        root.present().map_err(draw_err)?;
    }
    let mut out = Vec::new();
    let mut enc = ::png::Encoder::new(&mut out, SIZE.0, SIZE.1);
    enc.set_color(::png::ColorType::Rgb);
    enc.set_depth(::png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(draw_err)?;
    writer.write_image_data(&rgb).map_err(draw_err)?;
    writer.finish().map_err(draw_err)?;
    Ok(out)
}

/// Thins `(x, y)` to at most MAX_POINTS, keeping each bucket's maximum.
fn thin(xs: &[f64], ys: impl Fn(usize) -> f64) -> Vec<(f64, f64)> {
    let n = xs.len();
    let bucket = n.div_ceil(MAX_POINTS).max(1);
    (0..n)
        .step_by(bucket)
        .map(|start| {
            let end = (start + bucket).min(n);
            let y = (start..end).map(&ys).fold(f64::MIN, f64::max);
            (xs[start], y)
        })
        .collect()
}

struct Panel<'a> {
    title: &'a str,
    unit: &'a str,
    lines: Vec<(String, Vec<(f64, f64)>)>,
    /// Times of vertical red marks (data-loss events).
    marks: Vec<f64>,
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, report: &Report) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(draw_err)?;
    let tl = &report.timeline;
    let days = report.summary.duration_s > 2 * 86400;
    let (scale, x_unit) = if days {
        (86400.0, "days")
    } else {
        (3600.0, "hours")
    };
    let xs: Vec<f64> = tl.time_s.iter().map(|&t| t as f64 / scale).collect();
    let x_max = xs.last().copied().unwrap_or(1.0).max(1e-9);

    // Workloads that move (an HPA or some demand), highest peak demand first.
    let mut shown: Vec<usize> = (0..report.workloads.len())
        .filter(|&w| {
            report.workloads[w].hpa.is_some() || report.workloads[w].peak_demand_cpu_m > 0.0
        })
        .collect();
    shown.sort_by(|&a, &b| {
        report.workloads[b]
            .peak_demand_cpu_m
            .total_cmp(&report.workloads[a].peak_demand_cpu_m)
    });
    shown.truncate(MAX_LINES);

    let demand = Panel {
        title: "CPU demand",
        unit: "cores",
        lines: shown
            .iter()
            .map(|&w| {
                (
                    report.workloads[w].name.clone(),
                    thin(&xs, |i| tl.demand_cpu_m[w][i] as f64 / 1000.0),
                )
            })
            .collect(),
        marks: Vec::new(),
    };
    let replicas = Panel {
        title: "Replicas",
        unit: "pods",
        lines: shown
            .iter()
            .map(|&w| {
                (
                    report.workloads[w].name.clone(),
                    thin(&xs, |i| tl.replicas[w][i] as f64),
                )
            })
            .collect(),
        marks: report
            .data_loss
            .iter()
            .take(MAX_MARKS)
            .map(|d| d.time_s as f64 / scale)
            .collect(),
    };
    let mut node_lines: Vec<(String, Vec<(f64, f64)>)> = report
        .node_groups
        .iter()
        .enumerate()
        .take(MAX_LINES - 1)
        .map(|(g, ng)| (ng.name.clone(), thin(&xs, |i| tl.nodes[g][i] as f64)))
        .collect();
    if report.node_groups.len() > 1 {
        node_lines.push((
            "all nodes".into(),
            thin(&xs, |i| tl.nodes.iter().map(|n| n[i] as f64).sum()),
        ));
    }
    let pending = thin(&xs, |i| tl.pending.iter().map(|p| p[i] as f64).sum());
    if pending.iter().any(|p| p.1 > 0.0) {
        node_lines.push(("pods pending".into(), pending));
    }
    let nodes = Panel {
        title: "Nodes (launched) and pods pending",
        unit: "count",
        lines: node_lines,
        marks: Vec::new(),
    };

    let title = format!(
        "berth simulate — {} node-hours, ${:.2}, {} pod-seconds pending, {} data-loss events",
        report.summary.node_hours.round(),
        report.summary.cost_usd,
        report.summary.pending_pod_seconds,
        report.summary.data_loss_events
    );
    let root = root.titled(&title, ("sans-serif", 20)).map_err(draw_err)?;
    let areas = root.split_evenly((3, 1));
    for (area, panel) in areas.iter().zip([demand, replicas, nodes]) {
        let y_max = panel
            .lines
            .iter()
            .flat_map(|l| l.1.iter().map(|p| p.1))
            .fold(0.0f64, f64::max)
            .max(1.0)
            * 1.1;
        let mut chart = ChartBuilder::on(area)
            .caption(panel.title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(52)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc(x_unit)
            .y_desc(panel.unit)
            .label_style(("sans-serif", 12))
            .light_line_style(TRANSPARENT)
            .draw()
            .map_err(draw_err)?;
        for (i, (name, points)) in panel.lines.into_iter().enumerate() {
            let color = if name == "pods pending" {
                RED.to_rgba()
            } else {
                LINE_COLORS[i % LINE_COLORS.len()].to_rgba()
            };
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(draw_err)?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
        }
        if !panel.marks.is_empty() {
            let red = RED.mix(0.6);
            chart
                .draw_series(
                    panel.marks.iter().map(|&x| {
                        PathElement::new(vec![(x, 0.0), (x, y_max)], red.stroke_width(1))
                    }),
                )
                .map_err(draw_err)?
                .label("data loss (holds-queue scale-down)")
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x + 8, y - 6), (x + 8, y + 6)], red.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 12))
            .draw()
            .map_err(draw_err)?;
    }
    Ok(())
}
