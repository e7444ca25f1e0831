//! The model measured against a real cluster: a timeline sampled from the cluster while the
//! same load ran (`benches/autoscaling/run.sh` samples the local cluster), compared with the
//! simulated one — per workload the largest replica difference once both have settled and the
//! time offsets of scale events, and the node counts and node-hours — printed side by side
//! and drawn as a chart.
//!
//! The observed CSV has the simulated timeline's column names: `time_s`, then
//! `<workload>:replicas` per workload and `nodes_total` (seconds from the start of the load;
//! samples need not be regular). A point in time counts as *settled* when neither the
//! simulated nor the observed count changed in the `settle_s` before it.

use std::fmt::Write as _;

use plotters::prelude::*;
use serde::Serialize;

use crate::load::LoadError;
use crate::plot::PlotError;
use crate::report::Report;

/// Scale events further apart than this are not paired.
pub const MAX_OFFSET_S: i64 = 180;

/// A timeline sampled from a cluster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    pub time_s: Vec<u64>,
    /// (workload label, replicas at each sample).
    pub replicas: Vec<(String, Vec<u32>)>,
    /// Nodes at each sample, when the CSV has `nodes_total`.
    pub nodes: Option<Vec<u32>>,
}

impl Observed {
    /// Reads the CSV; `name` is the file name in errors.
    pub fn from_csv(name: &str, text: &str) -> Result<Observed, LoadError> {
        let err = |line: usize, message: String| LoadError {
            source_name: name.to_string(),
            line,
            column: 1,
            message,
        };
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let Some((_, header)) = lines.next() else {
            return Err(err(
                1,
                "empty file: expected a header `time_s,<workload>:replicas,...,nodes_total`".into(),
            ));
        };
        let cols: Vec<&str> = header.split(',').map(str::trim).collect();
        if cols.first() != Some(&"time_s") {
            return Err(err(
                1,
                format!("the first column must be `time_s`, found `{}`", cols[0]),
            ));
        }
        let mut obs = Observed::default();
        // Column index → (workload index) or nodes.
        let mut roles: Vec<Option<Option<usize>>> = vec![None];
        for c in &cols[1..] {
            if *c == "nodes_total" {
                obs.nodes = Some(Vec::new());
                roles.push(Some(None));
            } else if let Some(w) = c.strip_suffix(":replicas") {
                obs.replicas.push((w.to_string(), Vec::new()));
                roles.push(Some(Some(obs.replicas.len() - 1)));
            } else {
                roles.push(None); // another column: not compared
            }
        }
        for (i, line) in lines {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if fields.len() != cols.len() {
                return Err(err(
                    i + 1,
                    format!("{} fields, the header has {}", fields.len(), cols.len()),
                ));
            }
            let num = |k: usize| -> Result<u64, LoadError> {
                fields[k]
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .map(|v| v.round() as u64)
                    .ok_or_else(|| {
                        err(
                            i + 1,
                            format!(
                                "`{}` in column `{}` is not a non-negative number",
                                fields[k], cols[k]
                            ),
                        )
                    })
            };
            let t = num(0)?;
            if obs.time_s.last().is_some_and(|&last| t < last) {
                return Err(err(
                    i + 1,
                    format!("time {t} comes before the previous row's"),
                ));
            }
            obs.time_s.push(t);
            for (k, role) in roles.iter().enumerate().skip(1) {
                match role {
                    Some(Some(w)) => obs.replicas[*w].1.push(num(k)? as u32),
                    Some(None) => {
                        let v = num(k)? as u32;
                        if let Some(n) = obs.nodes.as_mut() {
                            n.push(v);
                        }
                    }
                    None => {}
                }
            }
        }
        if obs.time_s.is_empty() {
            return Err(err(2, "no samples".into()));
        }
        Ok(obs)
    }
}

/// One series (a workload's replicas, or nodes) simulated and observed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeriesAgreement {
    pub name: String,
    pub simulated_peak: u32,
    pub observed_peak: u32,
    /// Largest |simulated − observed| at settled samples, and when.
    pub max_settled_difference: u32,
    pub max_settled_difference_at_s: Option<u64>,
    /// Changes: (time, from, to).
    pub simulated_events: Vec<(u64, u32, u32)>,
    pub observed_events: Vec<(u64, u32, u32)>,
    /// Per simulated change that found a partner: observed minus simulated time of the
    /// nearest observed change reaching the same count in the same direction.
    pub event_offsets_s: Vec<i64>,
    /// Simulated changes without a partner within [`MAX_OFFSET_S`], and observed changes
    /// that were no simulated change's partner.
    pub unpaired_simulated: u32,
    pub unpaired_observed: u32,
}

/// Simulation against observation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Agreement {
    pub settle_s: u64,
    /// Seconds both cover.
    pub span_s: u64,
    pub workloads: Vec<SeriesAgreement>,
    pub nodes: Option<SeriesAgreement>,
    pub simulated_node_hours: f64,
    pub observed_node_hours: Option<f64>,
    /// Workloads named on one side only.
    pub unmatched: Vec<String>,
    /// Side by side at each sample where something changed.
    #[serde(skip)]
    pub rows: Vec<Row>,
}

/// (simulated, observed) counts at one time.
pub type Pair = (u32, u32);

/// The timelines at one sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub time_s: u64,
    /// Per compared workload, in [`Agreement::workloads`] order.
    pub workloads: Vec<Pair>,
    pub nodes: Option<Pair>,
}

/// The simulated value of `series` at `t` (the last step at or before it).
fn at(times: &[u64], series: &[u32], t: u64) -> u32 {
    let i = times.partition_point(|&x| x <= t);
    series[i.saturating_sub(1)]
}

/// Changes of a sampled series: (time, from, to).
fn changes(times: &[u64], v: &[u32]) -> Vec<(u64, u32, u32)> {
    (1..v.len())
        .filter(|&i| v[i] != v[i - 1])
        .map(|i| (times[i], v[i - 1], v[i]))
        .collect()
}

/// Compares one series: `sim` on the simulated steps, `obs` on the samples.
fn agree(
    name: &str,
    sim_t: &[u64],
    sim: &[u32],
    obs_t: &[u64],
    obs: &[u32],
    settle_s: u64,
    span_s: u64,
) -> SeriesAgreement {
    let sim_events: Vec<_> = changes(sim_t, sim)
        .into_iter()
        .filter(|e| e.0 <= span_s)
        .collect();
    let obs_events: Vec<_> = changes(obs_t, obs)
        .into_iter()
        .filter(|e| e.0 <= span_s)
        .collect();
    let quiet =
        |events: &[(u64, u32, u32)], t: u64| !events.iter().any(|e| e.0 <= t && e.0 + settle_s > t);
    let mut max = (0, None);
    for (i, &t) in obs_t.iter().enumerate() {
        if t > span_s || t < settle_s {
            continue;
        }
        if quiet(&sim_events, t) && quiet(&obs_events, t) {
            let d = at(sim_t, sim, t).abs_diff(obs[i]);
            if d > max.0 || max.1.is_none() {
                max = (d, Some(t));
            }
        }
    }
    // Each simulated change to a count is paired with the nearest observed change that
    // reaches the same count in the same direction (a jump from 1 to 3 reaches 2 and 3), so
    // a controller that scales in fewer, larger steps is not counted as late.
    let mut offsets = Vec::new();
    let mut used = vec![false; obs_events.len()];
    for &(t, from, to) in &sim_events {
        let up = to > from;
        let reaches = |&(_, of, oto): &(u64, u32, u32)| {
            if up {
                of < to && oto >= to
            } else {
                of > to && oto <= to
            }
        };
        let best = obs_events
            .iter()
            .enumerate()
            .filter(|(_, e)| reaches(e) && (e.0 as i64 - t as i64).abs() <= MAX_OFFSET_S)
            .min_by_key(|(_, e)| (e.0 as i64 - t as i64).abs());
        if let Some((k, e)) = best {
            offsets.push(e.0 as i64 - t as i64);
            used[k] = true;
        }
    }
    let paired_obs = used.iter().filter(|&&u| u).count() as u32;
    SeriesAgreement {
        name: name.to_string(),
        simulated_peak: sim.iter().copied().max().unwrap_or(0),
        observed_peak: obs.iter().copied().max().unwrap_or(0),
        max_settled_difference: max.0,
        max_settled_difference_at_s: max.1,
        unpaired_simulated: (sim_events.len() - offsets.len()) as u32,
        unpaired_observed: obs_events.len() as u32 - paired_obs,
        simulated_events: sim_events,
        observed_events: obs_events,
        event_offsets_s: offsets,
    }
}

/// Node-hours of a step series over `[0, span_s]`.
fn node_hours(times: &[u64], v: &[u32], span_s: u64) -> f64 {
    let mut s = 0.0;
    for i in 0..times.len() {
        if times[i] >= span_s {
            break;
        }
        let end = times.get(i + 1).copied().unwrap_or(span_s).min(span_s);
        s += f64::from(v[i]) * (end - times[i]) as f64;
    }
    s / 3600.0
}

/// Compares `report` with `obs`.
pub fn compare(report: &Report, obs: &Observed, settle_s: u64) -> Agreement {
    let tl = &report.timeline;
    let span_s = (*tl.time_s.last().unwrap_or(&0)).min(*obs.time_s.last().unwrap_or(&0));
    let mut unmatched = Vec::new();
    let mut workloads = Vec::new();
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for (o, (name, series)) in obs.replicas.iter().enumerate() {
        match report.workloads.iter().position(|w| &w.name == name) {
            Some(w) => {
                pairs.push((w, o));
                workloads.push(agree(
                    name,
                    &tl.time_s,
                    &tl.replicas[w],
                    &obs.time_s,
                    series,
                    settle_s,
                    span_s,
                ));
            }
            None => unmatched.push(name.clone()),
        }
    }
    let sim_nodes: Vec<u32> = (0..tl.time_s.len())
        .map(|i| tl.nodes.iter().map(|g| g[i]).sum())
        .collect();
    let nodes = obs.nodes.as_ref().map(|n| {
        agree(
            "nodes",
            &tl.time_s,
            &sim_nodes,
            &obs.time_s,
            n,
            settle_s,
            span_s,
        )
    });
    let mut rows = Vec::new();
    let mut last: Option<Row> = None;
    for (i, &t) in obs.time_s.iter().enumerate().filter(|(_, t)| **t <= span_s) {
        let w: Vec<(u32, u32)> = pairs
            .iter()
            .map(|&(w, o)| (at(&tl.time_s, &tl.replicas[w], t), obs.replicas[o].1[i]))
            .collect();
        let n = obs
            .nodes
            .as_ref()
            .map(|n| (at(&tl.time_s, &sim_nodes, t), n[i]));
        let row = Row {
            time_s: t,
            workloads: w,
            nodes: n,
        };
        if last
            .as_ref()
            .is_none_or(|l| l.workloads != row.workloads || l.nodes != row.nodes)
        {
            rows.push(row.clone());
            last = Some(row);
        }
    }
    Agreement {
        settle_s,
        span_s,
        workloads,
        nodes,
        simulated_node_hours: node_hours(&tl.time_s, &sim_nodes, span_s),
        observed_node_hours: obs
            .nodes
            .as_ref()
            .map(|n| node_hours(&obs.time_s, n, span_s)),
        unmatched,
        rows,
    }
}

impl Agreement {
    /// The comparison for a person: per series its peaks, largest settled difference and
    /// event offsets, node-hours, then the timelines side by side where they change.
    pub fn to_human(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "\nSimulated vs observed over {} (settled: no change on either side for {}s):",
            berth_model::duration::format_seconds(self.span_s),
            self.settle_s
        );
        let _ = writeln!(
            o,
            "  {:16}  {:>9}  {:>15}  {:>13}  offsets of paired events (s)",
            "series", "peak s/o", "max settled diff", "events s/o"
        );
        for s in self.workloads.iter().chain(&self.nodes) {
            let offsets: Vec<String> = s.event_offsets_s.iter().map(|d| format!("{d:+}")).collect();
            let _ = writeln!(
                o,
                "  {:16}  {:>9}  {:>15}  {:>13}  {}",
                s.name,
                format!("{}/{}", s.simulated_peak, s.observed_peak),
                match s.max_settled_difference_at_s {
                    Some(t) => format!("{} at {t}s", s.max_settled_difference),
                    None => "-".into(),
                },
                format!("{}/{}", s.simulated_events.len(), s.observed_events.len()),
                if offsets.is_empty() {
                    "-".into()
                } else {
                    offsets.join(" ")
                }
            );
        }
        if let Some(obs) = self.observed_node_hours {
            let sim = self.simulated_node_hours;
            let pct = if obs > 0.0 {
                (sim - obs) / obs * 100.0
            } else {
                0.0
            };
            let _ = writeln!(
                o,
                "  node-hours: simulated {sim:.3}, observed {obs:.3} ({pct:+.1}%)"
            );
        }
        for u in &self.unmatched {
            let _ = writeln!(o, "  `{u}` is observed but not a workload of the stack");
        }
        let _ = write!(o, "\n  {:>6}", "time s");
        for s in &self.workloads {
            let _ = write!(o, "  {:>16}", format!("{} sim/obs", s.name));
        }
        if self.nodes.is_some() {
            let _ = write!(o, "  {:>14}", "nodes sim/obs");
        }
        o.push('\n');
        for Row {
            time_s: t,
            workloads: w,
            nodes: n,
        } in &self.rows
        {
            let _ = write!(o, "  {t:>6}");
            for &(s, ob) in w {
                let mark = if s == ob { " " } else { "*" };
                let _ = write!(o, "  {:>16}", format!("{s}/{ob}{mark}"));
            }
            if let Some((s, ob)) = n {
                let _ = write!(o, "  {:>14}", format!("{s}/{ob}"));
            }
            o.push('\n');
        }
        o
    }
}

/// The comparison chart as PNG: one panel per workload (at most four) with its simulated and
/// observed replicas, and one with the nodes. Needs [`crate::plot::use_font`] first.
pub fn png(report: &Report, obs: &Observed) -> Result<Vec<u8>, PlotError> {
    const SIZE: (u32, u32) = (1200, 900);
    let draw = |e: &dyn std::fmt::Debug| PlotError::Draw(format!("{e:?}"));
    let mut rgb = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw(&e))?;
        let tl = &report.timeline;
        let span = (*tl.time_s.last().unwrap_or(&0)).min(*obs.time_s.last().unwrap_or(&0));
        let minutes = |t: u64| t as f64 / 60.0;
        let step = |times: &[u64], v: &[u32]| -> Vec<(f64, f64)> {
            let mut out = Vec::new();
            for i in 0..times.len() {
                if times[i] > span {
                    break;
                }
                if i > 0 {
                    out.push((minutes(times[i]), f64::from(v[i - 1])));
                }
                out.push((minutes(times[i]), f64::from(v[i])));
            }
            out
        };
        let sim_nodes: Vec<u32> = (0..tl.time_s.len())
            .map(|i| tl.nodes.iter().map(|g| g[i]).sum())
            .collect();
        // (title, simulated, observed) per panel.
        type Line = Vec<(f64, f64)>;
        let mut panels: Vec<(String, Line, Line)> = obs
            .replicas
            .iter()
            .filter_map(|(name, series)| {
                let w = report.workloads.iter().position(|w| &w.name == name)?;
                Some((
                    format!("{name}: replicas"),
                    step(&tl.time_s, &tl.replicas[w]),
                    step(&obs.time_s, series),
                ))
            })
            .take(4)
            .collect();
        if let Some(n) = &obs.nodes {
            panels.push((
                "nodes".into(),
                step(&tl.time_s, &sim_nodes),
                step(&obs.time_s, n),
            ));
        }
        let root = root
            .titled("berth simulate vs the local cluster", ("sans-serif", 20))
            .map_err(|e| draw(&e))?;
        let areas = root.split_evenly((panels.len().max(1), 1));
        for (area, (title, sim, real)) in areas.iter().zip(panels) {
            let y_max = sim.iter().chain(&real).map(|p| p.1).fold(1.0f64, f64::max) * 1.15;
            let mut chart = ChartBuilder::on(area)
                .caption(&title, ("sans-serif", 16))
                .margin(8)
                .x_label_area_size(28)
                .y_label_area_size(44)
                .build_cartesian_2d(0.0..minutes(span).max(1.0), 0.0..y_max)
                .map_err(|e| draw(&e))?;
            chart
                .configure_mesh()
                .x_desc("minutes")
                .label_style(("sans-serif", 12))
                .light_line_style(TRANSPARENT)
                .draw()
                .map_err(|e| draw(&e))?;
            let blue = RGBColor(31, 119, 180).to_rgba();
            let orange = RGBColor(255, 127, 14).to_rgba();
            chart
                .draw_series(LineSeries::new(sim, blue.stroke_width(3)))
                .map_err(|e| draw(&e))?
                .label("simulated")
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], blue.stroke_width(3))
                });
            chart
                .draw_series(LineSeries::new(real, orange.stroke_width(2)))
                .map_err(|e| draw(&e))?
                .label("observed")
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], orange.stroke_width(2))
                });
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK.mix(0.3))
                .label_font(("sans-serif", 12))
                .draw()
                .map_err(|e| draw(&e))?;
        }
        root.present().map_err(|e| draw(&e))?;
    }
    let mut out = Vec::new();
    let mut enc = ::png::Encoder::new(&mut out, SIZE.0, SIZE.1);
    enc.set_color(::png::ColorType::Rgb);
    enc.set_depth(::png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| draw(&e))?;
    writer.write_image_data(&rgb).map_err(|e| draw(&e))?;
    writer.finish().map_err(|e| draw(&e))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_sampled_csv_and_refuses_what_is_not_one() {
        let o = Observed::from_csv(
            "obs.csv",
            "time_s,web:replicas,other,nodes_total\n0,1,x,3\n5,2,y,3\n",
        )
        .unwrap();
        assert_eq!(o.time_s, [0, 5]);
        assert_eq!(o.replicas, [("web".to_string(), vec![1, 2])]);
        assert_eq!(o.nodes, Some(vec![3, 3]));
        let e = Observed::from_csv("obs.csv", "time_s,web:replicas\n0,1\n5,two\n").unwrap_err();
        assert_eq!((e.line, e.to_string().contains("`two`")), (3, true));
        let e = Observed::from_csv("obs.csv", "t,web:replicas\n").unwrap_err();
        assert!(e.message.contains("time_s"), "{e}");
        let e = Observed::from_csv("obs.csv", "time_s,web:replicas\n5,1\n0,1\n").unwrap_err();
        assert!(e.message.contains("before"), "{e}");
    }

    #[test]
    fn settled_differences_and_event_offsets() {
        // Simulated: 1 → 4 at 30 s, 4 → 2 at 300 s (steps of 15 s up to 360 s).
        let sim_t: Vec<u64> = (0..=24).map(|i| i * 15).collect();
        let sim: Vec<u32> = sim_t
            .iter()
            .map(|&t| {
                if t < 30 {
                    1
                } else if t < 300 {
                    4
                } else {
                    2
                }
            })
            .collect();
        // Observed every 10 s: up at 40 s to 3, to 5 at 60 s (one above), down at 310 s.
        let obs_t: Vec<u64> = (0..=36).map(|i| i * 10).collect();
        let obs: Vec<u32> = obs_t
            .iter()
            .map(|&t| {
                if t < 40 {
                    1
                } else if t < 60 {
                    3
                } else if t < 310 {
                    5
                } else {
                    2
                }
            })
            .collect();
        let a = agree("web", &sim_t, &sim, &obs_t, &obs, 30, 360);
        assert_eq!(a.max_settled_difference, 1, "5 against 4 once both held");
        assert_eq!(
            a.event_offsets_s,
            [30, 10],
            "4 reached at 30 s against 60 s; 2 at 300 s against 310 s"
        );
        assert_eq!(
            (a.unpaired_simulated, a.unpaired_observed),
            (0, 1),
            "the observed 1 → 3 reaches no simulated count"
        );
        // Simulated 1 → 2 → 3 against an observed jump 1 → 3: both reach their count then.
        let b = agree("w", &[0, 10, 20], &[1, 2, 3], &[0, 15], &[1, 3], 30, 20);
        assert_eq!(b.event_offsets_s, [5, -5]);
        assert_eq!((b.unpaired_simulated, b.unpaired_observed), (0, 0));
        // While either side is still changing, differences do not count: 3 against 4 at 40 s.
        assert!(a.max_settled_difference_at_s.unwrap() >= 90);
        assert_eq!(node_hours(&[0, 1800], &[2, 4], 3600), 3.0);
    }
}
