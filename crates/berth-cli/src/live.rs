//! What `up`, `down` and `rollback` show while they work.
//!
//! On a terminal, a table redrawn twice a second of every applied object that is not healthy
//! yet (and, for `down`, every object waiting for its finalizers): its state, how long it has
//! been waiting, and the latest reason (the health message, or why the wait goes on: "waiting
//! for a new node"). A component whose objects are all healthy collapses to one line. Without a terminal, one line per change, never a redraw, so
//! a CI log reads top to bottom. With `--format json`, one JSON object per event.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_apply::Event;
use berth_model::ObjectKey;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::deploy::Format;

/// The longest line of the table when the terminal's width is unknown; longer reasons are cut
/// (a wrapped line would break the redraw).
const WIDTH: usize = 110;

/// The table's width on the terminal berth draws on: its columns less one (a line that fills
/// the last column wraps on some terminals), at least 60.
fn terminal_width() -> usize {
    console::Term::stderr()
        .size_checked()
        .map(|(_, cols)| (cols as usize).saturating_sub(1).max(60))
        .unwrap_or(WIDTH)
}

/// How the view is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Json,
    Terminal,
    Lines,
}

/// Prints the events of one run.
pub struct Printer {
    mode: Mode,
    view: Arc<Mutex<View>>,
    bar: Option<ProgressBar>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Printer {
    /// A printer for `format`.
    pub fn new(format: Format) -> Printer {
        let mode = match format {
            Format::Json => Mode::Json,
            Format::Human if crate::term::redraws(crate::term::Stream::Stderr) => Mode::Terminal,
            Format::Human => Mode::Lines,
        };
        Printer::with_mode(mode)
    }

    fn with_mode(mode: Mode) -> Printer {
        let view = Arc::new(Mutex::new(View::new(Instant::now())));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let bar = (mode == Mode::Terminal).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            // The elapsed times move while nothing happens: redraw from the view twice a second.
            let (view, bar2, stop) = (view.clone(), bar.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Ok(v) = view.lock() {
                        bar2.set_message(v.table(Instant::now(), terminal_width()));
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
            });
            bar
        });
        Printer {
            mode,
            view,
            bar,
            stop,
        }
    }

    /// Handles one event.
    pub fn event(&self, e: Event) {
        if self.mode == Mode::Json {
            // Not `println!`: a reader that went away (a closed pipe) must not make berth
            // panic in the middle of a run; the run goes on and ends as it would.
            if let Ok(line) = serde_json::to_string(&e) {
                use std::io::Write;
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
            return;
        }
        let now = Instant::now();
        let Ok(mut view) = self.view.lock() else {
            return;
        };
        let lines = view.apply(&e, now, self.mode == Mode::Lines);
        match &self.bar {
            Some(bar) => {
                for l in lines {
                    bar.println(l);
                }
                bar.set_message(view.table(now, terminal_width()));
            }
            None => {
                for l in lines {
                    eprintln!("{l}");
                }
            }
        }
    }

    /// Stops the live table (after a failure: the error follows), leaving the last lines.
    pub fn finish(&self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            if let Ok(view) = self.view.lock() {
                let table = view.table(Instant::now(), terminal_width());
                if !table.is_empty() {
                    eprintln!("{table}");
                }
            }
        }
    }
}

impl Drop for Printer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// One object that is not healthy yet.
#[derive(Clone, Debug)]
struct Row {
    state: String,
    /// The health message (`Available: 1/2`).
    message: String,
    /// Why the wait goes on (`pod web-1: Unhealthy: Readiness probe failed`).
    reason: Option<String>,
    since: Instant,
    /// The last log lines of one of its pods that is not ready, with the pod's name.
    logs: Option<(String, Vec<String>)>,
}

/// How many log lines a row shows under it.
const LOG_ROWS: usize = 3;

/// At most this many rows in the table; the rest are counted in one line.
const ROWS: usize = 20;

/// What the run looks like: the model of the table, without any drawing.
#[derive(Debug)]
struct View {
    start: Instant,
    /// Objects of the run, and how many were applied so far.
    total: usize,
    applied: usize,
    /// Applied (or being deleted) and not done yet.
    pending: BTreeMap<ObjectKey, Row>,
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

fn cut(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {one}s")
    }
}

impl View {
    fn new(now: Instant) -> View {
        View {
            start: now,
            total: 0,
            applied: 0,
            pending: BTreeMap::new(),
        }
    }

    fn row(&mut self, object: &ObjectKey, now: Instant) -> &mut Row {
        self.pending.entry(object.clone()).or_insert_with(|| Row {
            state: String::new(),
            message: String::new(),
            reason: None,
            since: now,
            logs: None,
        })
    }

    /// Takes in one event; returns the lines to print for good (above the table). `changes`:
    /// also a line per state change (the view without a terminal).
    fn apply(&mut self, e: &Event, now: Instant, changes: bool) -> Vec<String> {
        let start = self.start;
        let at = |t: Instant| format!("[{:>6}]", secs(t - start));
        let mut out = Vec::new();
        match e {
            Event::Started { objects, levels } => {
                self.total = *objects;
                if changes {
                    out.push(format!(
                        "{} applying {} in {} (each as soon as what it needs is healthy)",
                        at(now),
                        plural(*objects, "object"),
                        plural(*levels, "level")
                    ));
                }
            }
            Event::Applied { object, action } => {
                self.applied += 1;
                let row = self.row(object, now);
                row.state = "Applied".into();
                row.message = format!("{action:?}").to_lowercase();
            }
            Event::Health {
                object,
                state,
                message,
            } => {
                if *state == "Current" {
                    self.pending.remove(object);
                } else {
                    let row = self.row(object, now);
                    row.state = state.to_string();
                    row.message = message.clone();
                }
                if changes {
                    out.push(cut(
                        &format!("{} {object}: {state} {message}", at(now)),
                        WIDTH * 2,
                    ));
                }
            }
            Event::Waiting { object, message } => {
                if let Some(row) = self.pending.get_mut(object) {
                    row.reason = Some(message.clone());
                }
                if changes {
                    out.push(format!("{} {object}: {message}", at(now)));
                }
            }
            Event::Logs { object, pod, lines } => {
                if let Some(row) = self.pending.get_mut(object) {
                    row.logs = Some((pod.clone(), lines.clone()));
                }
                if changes {
                    out.push(format!(
                        "{} {object}: last log lines of pod {pod}:",
                        at(now)
                    ));
                    out.extend(lines.iter().map(|l| cut(&format!("    {l}"), WIDTH * 2)));
                }
            }
            Event::ComponentHealthy {
                component,
                objects,
                millis,
            } => {
                let name = if component.is_empty() {
                    "namespaces".to_string()
                } else {
                    format!("component {component}")
                };
                out.push(format!(
                    "{}{name}: {} healthy in {}",
                    if changes {
                        format!("{} ", at(now))
                    } else {
                        String::new()
                    },
                    plural(*objects, "object"),
                    secs(Duration::from_millis(*millis as u64))
                ));
            }
            Event::Unreachable {
                server, seconds, ..
            } => out.push(format!(
                "API server {server} unreachable for {seconds}s, retrying"
            )),
            Event::Pruned { object } => out.push(format!("pruned {object}")),
            Event::Kept { object, reason } => out.push(format!("kept {object} ({reason})")),
            Event::Deleting { object } => {
                let row = self.row(object, now);
                row.state = "Deleting".into();
                row.reason = Some("waiting for its finalizers".into());
                if changes {
                    out.push(format!(
                        "{} deleting {object} (waiting for finalizers)",
                        at(now)
                    ));
                }
            }
            Event::Deleted { object } => {
                self.pending.remove(object);
                out.push(format!("deleted {object}"));
            }
            Event::WaitingForLock { holder } => {
                out.push(format!("waiting for the lock held by {holder}"))
            }
            Event::Revision { revision, outcome } => {
                out.push(format!("revision {revision}: {outcome}"))
            }
        }
        out
    }

    /// The table of what is applied and not done yet, `width` columns wide at most; empty
    /// when nothing is.
    fn table(&self, now: Instant, width: usize) -> String {
        if self.pending.is_empty() {
            return String::new();
        }
        let mut head = vec![];
        if self.total > 0 {
            head.push(format!("{}/{} applied", self.applied, self.total));
        }
        head.push(format!("{} not done", self.pending.len()));
        head.push(secs(now - self.start));
        let mut lines = vec![head.join(", ")];
        let name_width = self
            .pending
            .keys()
            .take(ROWS)
            .map(|k| k.to_string().len())
            .max()
            .unwrap_or(0)
            .min(60);
        for (k, row) in self.pending.iter().take(ROWS) {
            let why = match (&row.message, &row.reason) {
                (m, Some(r)) if !m.is_empty() => format!("{m} · {r}"),
                (_, Some(r)) => r.clone(),
                (m, None) => m.clone(),
            };
            let line = format!(
                "  {:name_width$}  {:10}  {:>6}  {why}",
                cut(&k.to_string(), 60),
                row.state,
                secs(now - row.since),
            );
            lines.push(cut(&line, width));
            if let Some((pod, logs)) = &row.logs {
                lines.push(cut(&format!("    log of {pod}:"), width));
                let from = logs.len().saturating_sub(LOG_ROWS);
                lines.extend(
                    logs[from..]
                        .iter()
                        .map(|l| cut(&format!("    │ {l}"), width)),
                );
            }
        }
        if self.pending.len() > ROWS {
            lines.push(format!("  … and {} more", self.pending.len() - ROWS));
        }
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_apply::Action;

    fn key(kind: &str, name: &str) -> ObjectKey {
        ObjectKey {
            group: if kind == "Deployment" { "apps" } else { "" }.into(),
            kind: kind.into(),
            namespace: Some("shop".into()),
            name: name.into(),
        }
    }

    fn started(objects: usize) -> Event {
        Event::Started { objects, levels: 2 }
    }

    fn applied(k: ObjectKey) -> Event {
        Event::Applied {
            object: k,
            action: Action::Created,
        }
    }

    #[test]
    fn the_table_lists_what_is_not_healthy_with_its_reason() {
        let t0 = Instant::now();
        let mut v = View::new(t0);
        v.apply(&started(4), t0, false);
        for k in [
            key("Service", "web"),
            key("Deployment", "web"),
            key("Deployment", "db"),
        ] {
            v.apply(&applied(k), t0, false);
        }
        v.apply(
            &Event::Health {
                object: key("Service", "web"),
                state: "Current",
                message: String::new(),
            },
            t0,
            false,
        );
        v.apply(
            &Event::Health {
                object: key("Deployment", "web"),
                state: "InProgress",
                message: "0/2 replicas ready".into(),
            },
            t0,
            false,
        );
        v.apply(
            &Event::Waiting {
                object: key("Deployment", "db"),
                message: "waiting for a new node: pod db-0 is unschedulable".into(),
            },
            t0,
            false,
        );
        let table = v.table(t0 + Duration::from_secs(12), WIDTH);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "3/4 applied, 2 not done, 12.0s", "{table}");
        assert_eq!(lines.len(), 3, "the healthy Service is not listed: {table}");
        assert!(
            lines[1].contains("Deployment/shop/db") && lines[1].contains("waiting for a new node"),
            "{table}"
        );
        assert!(
            lines[2].contains("InProgress") && lines[2].contains("0/2 replicas ready"),
            "{table}"
        );
        assert!(lines[2].contains("12.0s"), "{table}");
        assert!(lines.iter().all(|l| l.chars().count() <= WIDTH), "{table}");
    }

    #[test]
    fn a_healthy_component_collapses_to_one_line() {
        let t0 = Instant::now();
        let mut v = View::new(t0);
        v.apply(&started(2), t0, false);
        v.apply(&applied(key("Deployment", "web")), t0, false);
        let lines = v.apply(
            &Event::Health {
                object: key("Deployment", "web"),
                state: "Current",
                message: String::new(),
            },
            t0,
            false,
        );
        assert!(lines.is_empty(), "a terminal shows no line per change");
        let lines = v.apply(
            &Event::ComponentHealthy {
                component: "web".into(),
                objects: 2,
                millis: 3400,
            },
            t0,
            false,
        );
        assert_eq!(lines, ["component web: 2 objects healthy in 3.4s"]);
        assert_eq!(v.table(t0, WIDTH), "", "nothing is left to draw");
    }

    #[test]
    fn a_long_table_shows_the_first_rows_and_counts_the_rest() {
        let t0 = Instant::now();
        let mut v = View::new(t0);
        v.apply(&started(30), t0, false);
        for i in 0..25 {
            v.apply(&applied(key("ConfigMap", &format!("c{i:02}"))), t0, false);
        }
        let table = v.table(t0, WIDTH);
        assert_eq!(table.lines().count(), 1 + ROWS + 1, "{table}");
        assert!(table.ends_with("  … and 5 more"), "{table}");
    }

    #[test]
    fn log_lines_show_under_their_row_and_once_without_a_terminal() {
        let t0 = Instant::now();
        let mut v = View::new(t0);
        v.apply(&started(1), t0, false);
        v.apply(&applied(key("Deployment", "db")), t0, false);
        let logs = Event::Logs {
            object: key("Deployment", "db"),
            pod: "db-7f9c".into(),
            lines: (1..=5).map(|i| format!("line {i}")).collect(),
        };
        assert!(v.apply(&logs, t0, false).is_empty());
        let table = v.table(t0, WIDTH);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[2..],
            [
                "    log of db-7f9c:",
                "    │ line 3",
                "    │ line 4",
                "    │ line 5"
            ],
            "{table}"
        );
        let mut plain = View::new(t0);
        let printed = plain.apply(&logs, t0 + Duration::from_secs(10), true);
        assert_eq!(printed.len(), 6, "{printed:?}");
        assert!(printed[0].ends_with("Deployment/shop/db: last log lines of pod db-7f9c:"));
    }

    #[test]
    fn the_table_uses_the_width_it_is_given() {
        let t0 = Instant::now();
        let mut v = View::new(t0);
        v.apply(&started(1), t0, false);
        v.apply(&applied(key("Deployment", "web")), t0, false);
        v.apply(
            &Event::Waiting {
                object: key("Deployment", "web"),
                message: format!(
                    "pod web-1: Unhealthy: Readiness probe failed: {}",
                    "x".repeat(200)
                ),
            },
            t0,
            false,
        );
        let longest = |w: usize| v.table(t0, w).lines().map(|l| l.chars().count()).max();
        assert_eq!(longest(80), Some(80));
        assert_eq!(
            longest(200),
            Some(200),
            "a wide terminal shows more of the reason"
        );
    }

    #[test]
    fn objects_waiting_for_finalizers_are_listed_until_deleted() {
        let t0 = Instant::now();
        let mut v = View::new(t0);
        v.apply(
            &Event::Deleting {
                object: key("ConfigMap", "held"),
            },
            t0,
            false,
        );
        let table = v.table(t0 + Duration::from_secs(4), WIDTH);
        assert!(
            table.contains("ConfigMap/shop/held")
                && table.contains("Deleting")
                && table.contains("finalizers"),
            "{table}"
        );
        let lines = v.apply(
            &Event::Deleted {
                object: key("ConfigMap", "held"),
            },
            t0,
            false,
        );
        assert_eq!(lines, ["deleted ConfigMap/shop/held"]);
        assert_eq!(v.table(t0, WIDTH), "");
    }

    #[test]
    fn without_a_terminal_each_change_is_one_line_and_nothing_else() {
        let t0 = Instant::now();
        let mut v = View::new(t0);
        let mut all = Vec::new();
        all.extend(v.apply(&started(1), t0, true));
        // Applying is not a change of health: no line.
        all.extend(v.apply(
            &Event::Applied {
                object: key("Deployment", "web"),
                action: Action::Configured,
            },
            t0,
            true,
        ));
        all.extend(v.apply(
            &Event::Health {
                object: key("Deployment", "web"),
                state: "InProgress",
                message: "1/2 replicas ready".into(),
            },
            t0 + Duration::from_millis(1500),
            true,
        ));
        all.extend(v.apply(
            &Event::Health {
                object: key("Deployment", "web"),
                state: "Current",
                message: "2/2 replicas ready".into(),
            },
            t0 + Duration::from_secs(3),
            true,
        ));
        assert_eq!(
            all,
            [
                "[  0.0s] applying 1 object in 2 levels (each as soon as what it needs is healthy)",
                "[  1.5s] Deployment/shop/web: InProgress 1/2 replicas ready",
                "[  3.0s] Deployment/shop/web: Current 2/2 replicas ready",
            ]
        );
    }

    #[test]
    fn long_reasons_are_cut_to_the_width() {
        let t0 = Instant::now();
        let mut v = View::new(t0);
        v.apply(&started(1), t0, false);
        v.apply(&applied(key("Deployment", "web")), t0, false);
        v.apply(
            &Event::Health {
                object: key("Deployment", "web"),
                state: "Failed",
                message: "x".repeat(500),
            },
            t0,
            false,
        );
        let table = v.table(t0, WIDTH);
        assert!(table.lines().all(|l| l.chars().count() <= WIDTH), "{table}");
        assert!(table.ends_with('…'));
    }
}
