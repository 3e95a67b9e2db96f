//! The project's targets (from the benchmark issue), as data, and their check against a run.

use std::fmt::Write as _;

use super::{BASELINE, REFERENCE, format};
use crate::driver::Run;
use crate::workloads::{Mix, Structure, Workload};

/// The thread counts a target is stated for (a run checks those it measured).
#[derive(Clone, Copy, Debug)]
pub enum Threads {
    /// Every thread count.
    All,
    /// Thread counts up to this one.
    UpTo(usize),
}

impl Threads {
    fn includes(self, t: usize) -> bool {
        match self {
            Threads::All => true,
            Threads::UpTo(max) => t <= max,
        }
    }
}

/// At least the leak baseline's throughput at one and two threads: what the basic workloads
/// (read-mostly, Treiber, queue, hash map 90/10 and 50/50) must reach where the cores are not
/// oversubscribed.
const LEAK_AT_1_2: Check = Check::Ratio {
    against: BASELINE,
    need: 1.0,
    at: Threads::UpTo(2),
};

/// At least 1.3× crossbeam-epoch at 1–8 threads (issue 14's target for the hash map).
const REFERENCE_1_3_UP_TO_8: Check = Check::Ratio {
    against: REFERENCE,
    need: 1.3,
    at: Threads::UpTo(8),
};

/// One figure a kovan implementation must reach.
#[derive(Clone, Copy, Debug)]
pub enum Check {
    /// Median throughput at least that of the fastest other library (the leak baseline is not
    /// a library).
    FastestOther,
    /// Paired throughput ratio to library `against` at least `need`, at the thread counts of
    /// the run that `at` selects.
    Ratio {
        /// The library divided by.
        against: &'static str,
        /// Smallest ratio that meets the target.
        need: f64,
        /// The thread counts the target is stated for.
        at: Threads,
    },
    /// Median `metric` no higher than that of any other library (the leak baseline is not a
    /// library): for latencies, where lower is better.
    LowestOther {
        /// The metric.
        metric: &'static str,
        /// How the row names it.
        what: &'static str,
    },
    /// Median `metric` (a paired ratio the workload computes itself) at least `need`.
    AtLeast {
        /// The metric.
        metric: &'static str,
        /// How the row names it.
        what: &'static str,
        /// Smallest value that meets the target.
        need: f64,
    },
    /// The worst repetition's `metric` below `limit`.
    Below {
        /// The metric.
        metric: &'static str,
        /// How the row names it.
        what: &'static str,
        /// Exclusive bound.
        limit: f64,
    },
    /// The worst repetition's `metric` is zero.
    Zero {
        /// The metric.
        metric: &'static str,
        /// How the row names it.
        what: &'static str,
    },
    /// No node of the library is left unfreed at the end of the whole run.
    NoLeftovers,
}

/// The checks of one workload, in row order at each thread count.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// The workload measured (`None`: the whole run).
    pub workload: Option<Workload>,
    /// How the rows name it.
    pub label: &'static str,
    /// What it must reach.
    pub checks: &'static [Check],
}

/// Every target, in report order.
pub const TARGETS: &[Target] = &[
    Target {
        workload: Some(Workload::Pin),
        label: "pin+unpin",
        checks: &[Check::FastestOther],
    },
    Target {
        workload: Some(Workload::ReadMostly),
        label: "read-mostly",
        checks: &[
            Check::Ratio {
                against: REFERENCE,
                need: 1.3,
                at: Threads::All,
            },
            Check::Ratio {
                against: BASELINE,
                need: 0.85,
                at: Threads::All,
            },
            LEAK_AT_1_2,
        ],
    },
    Target {
        workload: Some(Workload::Treiber),
        label: "Treiber stack",
        checks: &[
            Check::Ratio {
                against: REFERENCE,
                need: 1.3,
                at: Threads::All,
            },
            LEAK_AT_1_2,
        ],
    },
    Target {
        workload: Some(Workload::Queue),
        label: "MS queue",
        checks: &[
            Check::Ratio {
                against: REFERENCE,
                need: 1.3,
                at: Threads::All,
            },
            LEAK_AT_1_2,
        ],
    },
    Target {
        workload: Some(Workload::Set(Structure::Map, Mix::Read90)),
        label: "hash map 90/10",
        checks: &[LEAK_AT_1_2, REFERENCE_1_3_UP_TO_8],
    },
    Target {
        workload: Some(Workload::Set(Structure::Map, Mix::Half)),
        label: "hash map 50/50",
        checks: &[LEAK_AT_1_2, REFERENCE_1_3_UP_TO_8],
    },
    Target {
        workload: Some(Workload::Set(Structure::List1k, Mix::Read90)),
        label: "1,000-key list 90/10",
        checks: &[Check::Ratio {
            against: REFERENCE,
            need: 1.0,
            at: Threads::All,
        }],
    },
    Target {
        workload: Some(Workload::Stalled),
        label: "stalled reader",
        checks: &[
            Check::Below {
                metric: "peak_unfreed",
                what: "peak unfreed",
                limit: 1000.0,
            },
            Check::Zero {
                metric: "after_flush",
                what: "unfreed after release + one flush",
            },
        ],
    },
    Target {
        workload: Some(Workload::Oversub),
        label: "oversubscription",
        checks: &[
            Check::Ratio {
                against: REFERENCE,
                need: 1.3,
                at: Threads::All,
            },
            Check::Below {
                metric: "peak_unfreed",
                what: "peak unfreed",
                limit: 5000.0,
            },
        ],
    },
    Target {
        workload: Some(Workload::Churn),
        label: "churn",
        checks: &[Check::Zero {
            metric: "after_flush",
            what: "unfreed after one flush on the main thread",
        }],
    },
    Target {
        workload: Some(Workload::LatTreiber),
        label: "Treiber latency",
        checks: &[Check::LowestOther {
            metric: crate::latency::P999,
            what: "p99.9",
        }],
    },
    Target {
        workload: Some(Workload::LatMap),
        label: "map 90/10 latency",
        checks: &[Check::LowestOther {
            metric: crate::latency::P999,
            what: "p99.9",
        }],
    },
    Target {
        workload: Some(Workload::IdleThreads),
        label: "Treiber beside idle registered threads",
        checks: &[
            Check::AtLeast {
                metric: crate::idle::RATIO,
                what: "throughput with / without them",
                need: 0.8,
            },
            Check::FastestOther,
        ],
    },
    Target {
        workload: None,
        label: "leftovers",
        checks: &[Check::NoLeftovers],
    },
];

/// One row of a library's table.
struct Row {
    target: String,
    measured: String,
    status: String,
}

fn ratio_status(need: f64, got: f64) -> String {
    if got >= need {
        return "met".to_string();
    }
    let short = (1.0 - got / need) * 100.0;
    let by = if short < 1.0 {
        format!("{short:.2}")
    } else {
        format!("{short:.0}")
    };
    format!(
        "**missed** by {by}% ({} < {need:.2}×)",
        format::target_ratio(got, need)
    )
}

fn count_status(got: f64, limit: f64, strict: bool) -> String {
    let ok = if strict { got < limit } else { got <= limit };
    if ok {
        "met".to_string()
    } else if limit == 0.0 {
        format!("**missed**: {} left", format::count(got))
    } else {
        format!("**missed**: {:.1}× the limit", got / limit)
    }
}

/// How a ratio row names the library divided by.
fn against_label(lib: &str) -> String {
    if lib == BASELINE {
        format!("{lib} baseline")
    } else {
        lib.to_string()
    }
}

/// `, 2 threads` for a workload run at several thread counts; nothing for one run at one.
fn at(run: &Run, w: Workload, t: usize) -> String {
    if w.scaled() || run.threads_of(w).len() > 1 {
        format!(", {}", format::threads(t))
    } else {
        String::new()
    }
}

/// The row of `check` for library `name`, at `cell` (workload and thread count) if it has one;
/// `None` when it was not measured, or the check is not stated for that thread count.
fn row(
    run: &Run,
    name: &str,
    label: &str,
    cell: Option<(Workload, usize)>,
    check: Check,
) -> Option<Row> {
    let worst =
        |(w, t): (Workload, usize), metric: &str| run.stat(w, name, t, metric).map(|s| s.max);
    Some(match (check, cell) {
        (Check::FastestOther, Some((w, t))) => {
            let me = run.stat(w, name, t, "mops")?;
            let (other, best) = run
                .libs
                .iter()
                .filter(|l| l.name != name && l.name != BASELINE)
                .filter_map(|l| run.stat(w, l.name, t, "mops").map(|s| (l.name, s)))
                .max_by(|a, b| a.1.median.total_cmp(&b.1.median))?;
            Row {
                target: format!("{label} ≥ fastest other library{}", at(run, w, t)),
                measured: format!(
                    "{} vs {other} {} Mops/s",
                    format::rate(me.median),
                    format::rate(best.median)
                ),
                status: ratio_status(1.0, me.median / best.median),
            }
        }
        (Check::Ratio { at, .. }, Some((_, t))) if !at.includes(t) => return None,
        (Check::Ratio { against, need, .. }, Some((w, t))) => {
            let got = run.ratio(w, name, against, t, "mops")?;
            Row {
                target: format!(
                    "{label} ≥ {need}× {}{}",
                    against_label(against),
                    at(run, w, t)
                ),
                measured: format::target_ratio(got, need),
                status: ratio_status(need, got),
            }
        }
        (Check::LowestOther { metric, what }, Some((w, t))) => {
            let me = run.stat(w, name, t, metric)?;
            let (other, best) = run
                .libs
                .iter()
                .filter(|l| l.name != name && l.name != BASELINE)
                .filter_map(|l| run.stat(w, l.name, t, metric).map(|s| (l.name, s)))
                .min_by(|a, b| a.1.median.total_cmp(&b.1.median))?;
            Row {
                target: format!("{label}: {what} ≤ every other library's{}", at(run, w, t)),
                measured: format!(
                    "{} ns vs {other} {} ns",
                    format::count(me.median),
                    format::count(best.median)
                ),
                // As a speed ratio: the other library's latency over this one's.
                status: ratio_status(1.0, best.median / me.median),
            }
        }
        (Check::AtLeast { metric, what, need }, Some((w, t))) => {
            let got = run.stat(w, name, t, metric)?.median;
            Row {
                target: format!("{label}: {what} ≥ {need}×{}", at(run, w, t)),
                measured: format::target_ratio(got, need),
                status: ratio_status(need, got),
            }
        }
        (
            Check::Below {
                metric,
                what,
                limit,
            },
            Some(c),
        ) => {
            let got = worst(c, metric)?;
            Row {
                target: format!(
                    "{label}: {what} < {} (worst repetition)",
                    format::count(limit)
                ),
                measured: format::count(got),
                status: count_status(got, limit, true),
            }
        }
        (Check::Zero { metric, what }, Some(c)) => {
            let got = worst(c, metric)?;
            Row {
                target: format!("{label}: 0 {what}"),
                measured: format::count(got),
                status: count_status(got, 0.0, false),
            }
        }
        (Check::NoLeftovers, _) => {
            let n = run.leftovers.iter().find(|(l, _)| *l == name)?.1 as f64;
            Row {
                target: format!("no {label} at the end of the whole run"),
                measured: format::count(n),
                status: count_status(n, 0.0, false),
            }
        }
        (_, None) => return None,
    })
}

/// The rows for library `name`, in [`TARGETS`] order.
fn rows(run: &Run, name: &str) -> Vec<Row> {
    let mut out = Vec::new();
    for target in TARGETS {
        let cells = match target.workload {
            None => vec![None],
            Some(w) if run.workloads.contains(&w) => run
                .threads_of(w)
                .into_iter()
                .map(|t| Some((w, t)))
                .collect(),
            Some(_) => Vec::new(),
        };
        for cell in cells {
            out.extend(
                target
                    .checks
                    .iter()
                    .filter_map(|&check| row(run, name, target.label, cell, check)),
            );
        }
    }
    out
}

/// The "Targets" section: every target, checked for every kovan implementation in the run.
pub fn markdown(run: &Run) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "## Targets\n");
    let kovans: Vec<_> = run.libs.iter().filter(|l| l.kovan_like).collect();
    if kovans.is_empty() {
        let _ = writeln!(md, "No kovan implementation in this run.");
        return md;
    }
    let _ = writeln!(
        md,
        "The targets are stated for the workspace facade (`kovan`); they are checked here for \
         every kovan implementation in the run. A figure marked *missed* says by how much.\n"
    );
    for k in kovans {
        let _ = writeln!(
            md,
            "### {} {}\n\n| target | measured | status |\n|---|---|---|",
            k.name, k.version
        );
        for r in rows(run, k.name) {
            let _ = writeln!(md, "| {} | {} | {} |", r.target, r.measured, r.status);
        }
        md.push('\n');
    }
    md
}
