//! Tables of the workloads whose layout the generic section code does not cover: the latency
//! workloads (a row per library and thread count, a column per percentile, and the measured
//! timing overhead) and the idle-threads workload (its sizes, both throughputs and their ratio).

use std::fmt::Write as _;

use super::format;
use super::markdown::cell;
use crate::driver::Run;
use crate::workloads::Workload;
use crate::{idle, latency};

/// The table of `w`, or `None` for a workload the generic code lays out.
pub fn table(run: &Run, w: Workload) -> Option<String> {
    match w {
        Workload::LatTreiber | Workload::LatMap => Some(latency_table(run, w)),
        Workload::IdleThreads => Some(idle_table(run, w)),
        _ => None,
    }
}

/// `median (min–max)` of `metric` over the repetitions of one cell, each figure printed by `fmt`.
fn spread(
    run: &Run,
    w: Workload,
    lib: &str,
    t: usize,
    metric: &str,
    fmt: fn(f64) -> String,
) -> String {
    run.stat(w, lib, t, metric).map_or_else(
        || "n/a".to_string(),
        |s| format!("{} ({}–{})", fmt(s.median), fmt(s.min), fmt(s.max)),
    )
}

/// Percentiles in nanoseconds per library and thread count, then the timing overhead.
fn latency_table(run: &Run, w: Workload) -> String {
    let mut md = String::from("| library | threads |");
    for (_, label, _) in latency::PERCENTILES {
        let _ = write!(md, " {label} (ns) |");
    }
    md.push_str(" max (ns) |\n|---|---|");
    md.push_str(&"---|".repeat(latency::PERCENTILES.len() + 1));
    md.push('\n');
    for l in &run.libs {
        for t in run.threads_of(w) {
            if run.cell_samples(w, l.name, t).is_empty() {
                continue;
            }
            let _ = write!(md, "| {} | {t} |", l.name);
            let metrics = latency::PERCENTILES
                .iter()
                .map(|p| p.0)
                .chain([latency::MAX]);
            for metric in metrics {
                let _ = write!(
                    md,
                    " {} |",
                    spread(run, w, l.name, t, metric, format::count)
                );
            }
            md.push('\n');
        }
    }
    let all = |metric: &str| {
        let v: Vec<f64> = run
            .samples
            .iter()
            .filter(|s| s.workload == w)
            .filter_map(|s| s.outcome.get(metric))
            .collect();
        super::stat(&v)
    };
    if let (Some(p50), Some(p99)) = (all(latency::OVERHEAD_P50), all(latency::OVERHEAD_P99)) {
        let _ = writeln!(
            md,
            "\nTiming overhead, included in every figure above and the same for every library: \
             two `Instant::now()` around an empty operation, timed by every worker before its \
             timed region, take p50 {} ns and p99 {} ns (medians over the measurements; p50 \
             ranges {}–{} ns).",
            format::count(p50.median),
            format::count(p99.median),
            format::count(p50.min),
            format::count(p50.max),
        );
    }
    md
}

/// Both throughputs and their paired ratio, per library.
fn idle_table(run: &Run, w: Workload) -> String {
    let t = idle::ACTIVE;
    let mut md = format!(
        "{} active threads; {} idle threads, each with a {} KiB stack.\n\n",
        t,
        format::count(idle::IDLE_THREADS as f64),
        idle::IDLE_STACK / 1024
    );
    let _ = writeln!(
        md,
        "| library | without idle threads (Mops/s) | with {} idle threads (Mops/s) | with / \
         without |\n|---|---|---|---|",
        format::count(idle::IDLE_THREADS as f64)
    );
    for l in &run.libs {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            l.name,
            cell(run, w, l.name, t, idle::WITHOUT),
            cell(run, w, l.name, t, idle::WITH),
            spread(run, w, l.name, t, idle::RATIO, format::ratio),
        );
    }
    md
}
