//! The load a simulation is driven by: for each workload, its total demand over time.
//!
//! Demand is what all of a workload's pods together use (CPU in millicores, optionally memory
//! in MiB); the simulator spreads it evenly over the ready pods, so a pod's utilisation is
//! `demand / (ready pods × request)`. Two inputs exist:
//!
//! - a CSV file with the header `time_s,workload,cpu_millicores[,memory_mib]`, one point per
//!   line, linear between points and flat before the first and after the last;
//! - built-in shapes (see [`Series::parse_shape`] for the syntax), one workload each.
//!
//! Several series for one workload add up (a daily curve plus a spike).

use std::f64::consts::PI;

/// Demand of one workload: the sum of the series the load gives for it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkloadLoad {
    pub curves: Vec<Curve>,
}

impl WorkloadLoad {
    /// The sum of the curves at `t`; memory only if every curve gives it (and there is one).
    pub fn at(&self, t: f64) -> Demand {
        let mut cpu = 0.0;
        let mut mem = Some(0.0);
        for c in &self.curves {
            let d = c.at(t);
            cpu += d.cpu_m;
            mem = match (mem, d.mem_mib) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
        }
        if self.curves.is_empty() {
            mem = None;
        }
        Demand {
            cpu_m: cpu,
            mem_mib: mem,
        }
    }

    /// When the demand stops changing: the last point of the curves (0 for constants), `None`
    /// when a curve never stops changing (daily).
    pub fn end_s(&self) -> Option<f64> {
        let mut end: Option<f64> = None;
        for c in &self.curves {
            match c {
                Curve::Points(p) => {
                    let last = p.last().map_or(0.0, |x| x.time_s);
                    end = Some(end.map_or(last, |e| e.max(last)));
                }
                Curve::Daily { .. } => return None,
            }
        }
        Some(end.unwrap_or(0.0))
    }
}

/// A load input that could not be read, with where: `file:line:column` (or `--load:1:col`
/// for a shape given on the command line).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{source_name}:{line}:{column}: {message}")]
pub struct LoadError {
    pub source_name: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Demand of one workload at one time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Demand {
    pub cpu_m: f64,
    /// None when the input gives no memory: memory metrics of that workload's HPA are then
    /// not simulated.
    pub mem_mib: Option<f64>,
}

impl Demand {
    fn lerp(a: Demand, b: Demand, f: f64) -> Demand {
        Demand {
            cpu_m: a.cpu_m + (b.cpu_m - a.cpu_m) * f,
            mem_mib: match (a.mem_mib, b.mem_mib) {
                (Some(x), Some(y)) => Some(x + (y - x) * f),
                _ => None,
            },
        }
    }
}

/// A point of a curve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub time_s: f64,
    pub demand: Demand,
}

/// How one workload's demand changes over time.
#[derive(Clone, Debug, PartialEq)]
pub enum Curve {
    /// Linear between points (sorted by time), flat outside them.
    Points(Vec<Point>),
    /// A day-long cosine: `high` at `peak_s` seconds after midnight, `low` twelve hours away.
    Daily {
        low: Demand,
        high: Demand,
        peak_s: f64,
    },
}

impl Curve {
    /// The demand at `t` seconds from the start.
    pub fn at(&self, t: f64) -> Demand {
        match self {
            Curve::Points(p) => {
                let Some(first) = p.first() else {
                    return Demand {
                        cpu_m: 0.0,
                        mem_mib: None,
                    };
                };
                // First index whose time is after t.
                let i = p.partition_point(|x| x.time_s <= t);
                if i == 0 {
                    first.demand
                } else if i == p.len() {
                    p[i - 1].demand
                } else {
                    let (a, b) = (p[i - 1], p[i]);
                    let f = if b.time_s > a.time_s {
                        (t - a.time_s) / (b.time_s - a.time_s)
                    } else {
                        1.0
                    };
                    Demand::lerp(a.demand, b.demand, f)
                }
            }
            Curve::Daily { low, high, peak_s } => {
                let f = (1.0 + (2.0 * PI * (t - peak_s) / 86400.0).cos()) / 2.0;
                Demand::lerp(*low, *high, f)
            }
        }
    }
}

/// The demand of one workload.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The workload, as `name` or `namespace/name`.
    pub workload: String,
    /// Where it was written, for messages (`load.csv:3`, `--load step:...`).
    pub origin: String,
    pub curve: Curve,
}

/// All the demand a simulation is driven by.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Load {
    pub series: Vec<Series>,
}

const HEADER: [&str; 4] = ["time_s", "workload", "cpu_millicores", "memory_mib"];

impl Load {
    /// Reads a load CSV. `source_name` is the file name used in errors.
    pub fn from_csv(source_name: &str, text: &str) -> Result<Load, LoadError> {
        let err = |line: usize, column: usize, message: String| LoadError {
            source_name: source_name.to_string(),
            line,
            column,
            message,
        };
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        let Some((hi, header)) = lines.next() else {
            return Err(err(1, 1, "empty load file: expected the header `time_s,workload,cpu_millicores[,memory_mib]`".into()));
        };
        let names: Vec<&str> = header.split(',').map(str::trim).collect();
        let with_mem = names.len() == 4;
        if !(names.len() == 3 || with_mem) || names.iter().zip(HEADER).any(|(a, b)| *a != b) {
            return Err(err(
                hi + 1,
                1,
                format!(
                    "expected the header `time_s,workload,cpu_millicores[,memory_mib]`, found `{}`",
                    header.trim()
                ),
            ));
        }
        let mut series: Vec<(String, usize, Vec<Point>)> = Vec::new();
        for (i, raw) in lines {
            let line = i + 1;
            let fields: Vec<&str> = raw.split(',').collect();
            let col = |k: usize| {
                fields[..k]
                    .iter()
                    .map(|f| f.chars().count() + 1)
                    .sum::<usize>()
                    + 1
            };
            if fields.len() != names.len() {
                return Err(err(
                    line,
                    1,
                    format!(
                        "expected {} fields like the header, found {}",
                        names.len(),
                        fields.len()
                    ),
                ));
            }
            let num = |k: usize, what: &str, optional: bool| -> Result<Option<f64>, LoadError> {
                let f = fields[k].trim();
                if f.is_empty() && optional {
                    return Ok(None);
                }
                match f.parse::<f64>() {
                    Ok(v) if v.is_finite() && v >= 0.0 => Ok(Some(v)),
                    _ => Err(err(
                        line,
                        col(k),
                        format!("{what} `{f}` is not a non-negative number"),
                    )),
                }
            };
            let time_s = num(0, "time_s", false)?.unwrap_or(0.0);
            let workload = fields[1].trim();
            if workload.is_empty() {
                return Err(err(line, col(1), "empty workload name".into()));
            }
            let cpu_m = num(2, "cpu_millicores", false)?.unwrap_or(0.0);
            let mem_mib = if with_mem {
                num(3, "memory_mib", true)?
            } else {
                None
            };
            let point = Point {
                time_s,
                demand: Demand { cpu_m, mem_mib },
            };
            match series.iter_mut().find(|s| s.0 == workload) {
                Some((_, _, points)) => {
                    let last = points[points.len() - 1];
                    if time_s < last.time_s {
                        return Err(err(
                            line,
                            col(0),
                            format!(
                                "time {time_s} is before the previous point of `{workload}` ({})",
                                last.time_s
                            ),
                        ));
                    }
                    if last.demand.mem_mib.is_some() != mem_mib.is_some() {
                        return Err(err(
                            line,
                            col(3).min(raw.len() + 1),
                            format!("give memory_mib on every line of `{workload}` or on none"),
                        ));
                    }
                    points.push(point);
                }
                None => series.push((workload.to_string(), line, vec![point])),
            }
        }
        if series.is_empty() {
            return Err(err(
                hi + 1,
                1,
                "the load file has a header but no points".into(),
            ));
        }
        Ok(Load {
            series: series
                .into_iter()
                .map(|(workload, line, points)| Series {
                    workload,
                    origin: format!("{source_name}:{line}"),
                    curve: Curve::Points(points),
                })
                .collect(),
        })
    }

    /// Adds the series of `other`.
    pub fn extend(&mut self, other: Load) {
        self.series.extend(other.series);
    }
}

/// The `--load` shape syntax, for `--help`.
pub const SHAPE_HELP: &str = "\
Load shapes (`--load SHAPE`, repeatable; series of one workload add up). VALUE is CPU \
millicores, optionally `/MEMORY_MIB` (`4000` or `4000/8192`); times are durations (`90s`, `2h`, `1d`):
  const:WORKLOAD:VALUE                 the same demand all the time
  step:WORKLOAD:FROM:TO:AT             FROM until AT, then TO
  ramp:WORKLOAD:FROM:TO:START:END      FROM until START, linear to TO at END, then TO
  daily:WORKLOAD:LOW:HIGH[:PEAK]       daily cosine: HIGH at time of day PEAK (14h), LOW 12h off
A FILE is CSV with the header `time_s,workload,cpu_millicores[,memory_mib]`: the total demand of that \
workload at that time, linear between points.";

impl Series {
    /// Parses a built-in shape (syntax in [`SHAPE_HELP`]).
    pub fn parse_shape(spec: &str) -> Result<Series, LoadError> {
        let parts: Vec<&str> = spec.split(':').collect();
        let col = |k: usize| {
            parts[..k]
                .iter()
                .map(|p| p.chars().count() + 1)
                .sum::<usize>()
                + 1
        };
        let err = |k: usize, message: String| LoadError {
            source_name: "--load".into(),
            line: 1,
            column: col(k.min(parts.len())),
            message,
        };
        let value = |k: usize| -> Result<Demand, LoadError> {
            let p = parts.get(k).copied().unwrap_or("").trim();
            let (c, m) = match p.split_once('/') {
                Some((c, m)) => (c, Some(m)),
                None => (p, None),
            };
            let cpu_m = c
                .trim_end_matches('m')
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0);
            let mem = m.map(|m| {
                m.trim_end_matches("Mi")
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
            });
            match (cpu_m, mem) {
                (Some(cpu_m), None) => Ok(Demand {
                    cpu_m,
                    mem_mib: None,
                }),
                (Some(cpu_m), Some(Some(mib))) => Ok(Demand {
                    cpu_m,
                    mem_mib: Some(mib),
                }),
                _ => Err(err(
                    k,
                    format!(
                        "`{p}` is not a demand: CPU millicores, optionally /MEMORY_MIB (`4000/8192`)"
                    ),
                )),
            }
        };
        let time = |k: usize| -> Result<f64, LoadError> {
            let p = parts.get(k).copied().unwrap_or("").trim();
            berth_model::duration::parse(p)
                .map(|d| berth_model::duration::whole_seconds(d) as f64)
                .map_err(|e| err(k, e.to_string()))
        };
        let kind = parts[0];
        let arity = match kind {
            "const" => 3..=3,
            "step" => 5..=5,
            "ramp" => 6..=6,
            "daily" => 4..=5,
            _ => {
                return Err(err(
                    0,
                    format!(
                        "unknown load shape `{kind}` (expected const, step, ramp or daily, or a CSV file that exists)"
                    ),
                ));
            }
        };
        if !arity.contains(&parts.len()) {
            let usage = SHAPE_HELP
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{kind}:")))
                .unwrap_or("")
                .trim();
            return Err(err(
                parts.len(),
                format!("wrong number of fields for `{kind}`: {usage}"),
            ));
        }
        let workload = parts[1].trim();
        if workload.is_empty() {
            return Err(err(1, "empty workload name".into()));
        }
        let pt = |time_s: f64, demand: Demand| Point { time_s, demand };
        let curve = match kind {
            "const" => Curve::Points(vec![pt(0.0, value(2)?)]),
            "step" => {
                let (from, to, at) = (value(2)?, value(3)?, time(4)?);
                Curve::Points(vec![pt(at, from), pt(at, to)])
            }
            "ramp" => {
                let (from, to, start, end) = (value(2)?, value(3)?, time(4)?, time(5)?);
                if end < start {
                    return Err(err(5, "the ramp ends before it starts".into()));
                }
                Curve::Points(vec![pt(start, from), pt(end, to)])
            }
            _ => {
                let peak_s = if parts.len() == 5 {
                    time(4)?
                } else {
                    14.0 * 3600.0
                };
                Curve::Daily {
                    low: value(2)?,
                    high: value(3)?,
                    peak_s,
                }
            }
        };
        let mems: Vec<bool> = match &curve {
            Curve::Points(p) => p.iter().map(|x| x.demand.mem_mib.is_some()).collect(),
            Curve::Daily { low, high, .. } => vec![low.mem_mib.is_some(), high.mem_mib.is_some()],
        };
        if mems.iter().any(|m| *m != mems[0]) {
            return Err(err(
                2,
                "give memory on every value of the shape or on none".into(),
            ));
        }
        Ok(Series {
            workload: workload.to_string(),
            origin: format!("--load {spec}"),
            curve,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_ends_at_its_last_point_and_never_with_a_daily_curve() {
        let shape = |s: &str| Series::parse_shape(s).unwrap().curve;
        let w = |c: Vec<Curve>| WorkloadLoad { curves: c };
        assert_eq!(
            w(vec![
                shape("step:web:1:2:1m"),
                shape("ramp:web:0:1:10s:90s")
            ])
            .end_s(),
            Some(90.0)
        );
        assert_eq!(w(vec![shape("const:web:5")]).end_s(), Some(0.0));
        assert_eq!(
            w(vec![shape("step:web:1:2:1m"), shape("daily:web:1:2")]).end_s(),
            None
        );
    }

    #[test]
    fn csv_interpolates_linearly() {
        let l = Load::from_csv(
            "l.csv",
            "time_s,workload,cpu_millicores\n0,web,100\n100,web,300\n",
        )
        .unwrap();
        let c = &l.series[0].curve;
        assert_eq!(c.at(0.0).cpu_m, 100.0);
        assert_eq!(c.at(50.0).cpu_m, 200.0);
        assert_eq!(c.at(500.0).cpu_m, 300.0);
        assert_eq!(c.at(50.0).mem_mib, None);
    }

    #[test]
    fn csv_errors_point_at_line_and_column() {
        let e = Load::from_csv(
            "l.csv",
            "time_s,workload,cpu_millicores\n0,web,100\n10,web,lots\n",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "l.csv:3:8: cpu_millicores `lots` is not a non-negative number"
        );
        let e = Load::from_csv("l.csv", "time,workload,cpu\n").unwrap_err();
        assert_eq!((e.line, e.column), (1, 1));
        let e = Load::from_csv(
            "l.csv",
            "time_s,workload,cpu_millicores\n10,web,1\n5,web,2\n",
        )
        .unwrap_err();
        assert_eq!((e.line, e.column), (3, 1));
        let e = Load::from_csv("l.csv", "time_s,workload,cpu_millicores\n10,web\n").unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let h = "time_s,workload,cpu_millicores,memory_mib\n";
        for body in [
            "",
            "\n\n",
            "0,w,NaN,1\n",
            "0,w,inf,1\n",
            "-1,w,1,1\n",
            "0,,1,1\n",
            "0,w,1\n",
            "0,w,1,1,1\n",
            "0,wé,1,\n0,wé,2,3\n",
            "1e400,w,1,1\n",
        ] {
            assert!(
                Load::from_csv("x", &format!("{h}{body}")).is_err(),
                "{body:?}"
            );
        }
        for spec in [
            "",
            ":",
            "step",
            "step:::::",
            "ramp:w:1:2:1h:0s",
            "daily:w:1:2:3:4:5",
            "const:w:1/",
            "const:w:/1",
            "const:w:-1",
        ] {
            assert!(Series::parse_shape(spec).is_err(), "{spec:?}");
        }
        assert!(Load::from_csv("x", &format!("{h}0,wé,1,\n5,wé,2,\n")).is_ok());
    }

    #[test]
    fn shapes() {
        let s = Series::parse_shape("step:web:1000/1024:4000/2048:10m").unwrap();
        assert_eq!(s.curve.at(599.0).cpu_m, 1000.0);
        assert_eq!(s.curve.at(600.0).cpu_m, 4000.0);
        assert!(Series::parse_shape("step:web:1000/10:4000:10m").is_err());
        assert_eq!(s.curve.at(600.0).mem_mib, Some(2048.0));
        let r = Series::parse_shape("ramp:web:0:1000:0s:100s").unwrap();
        assert_eq!(r.curve.at(25.0).cpu_m, 250.0);
        let d = Series::parse_shape("daily:web:100:300").unwrap();
        assert!((d.curve.at(14.0 * 3600.0).cpu_m - 300.0).abs() < 1e-9);
        assert!((d.curve.at(2.0 * 3600.0).cpu_m - 100.0).abs() < 1e-9);
        // Times are read by `berth_model::duration`, as the CLI reads `--duration`: `1d`, and
        // `1.5s` rounded up to the next whole second.
        let s = Series::parse_shape("step:web:1:2:1d").unwrap();
        assert_eq!(s.curve.at(86_399.0).cpu_m, 1.0);
        assert_eq!(s.curve.at(86_400.0).cpu_m, 2.0);
        let s = Series::parse_shape("step:web:1:2:1.5s").unwrap();
        assert_eq!(s.curve.at(1.0).cpu_m, 1.0);
        assert_eq!(s.curve.at(2.0).cpu_m, 2.0);
        let e = Series::parse_shape("step:web:1000:x:10m").unwrap_err();
        assert_eq!(e.column, 15);
        let e = Series::parse_shape("wave:web:1").unwrap_err();
        assert_eq!(e.column, 1);
        assert!(
            Series::parse_shape("step:web:1")
                .unwrap_err()
                .message
                .contains("step:WORKLOAD")
        );
    }
}
