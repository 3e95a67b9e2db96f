//! Runs the plan: every workload × thread count × repetition, with the libraries interleaved
//! inside each repetition (the starting library rotates from one repetition to the next).

use std::time::Instant;

use crate::libs::Library;
use crate::workloads::{Config, Outcome, Workload};

/// One measurement.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Workload.
    pub workload: Workload,
    /// Library name.
    pub lib: &'static str,
    /// Thread count (for the fixed-size workloads: writers, or all threads for oversubscription
    /// and churn).
    pub threads: usize,
    /// Repetition index.
    pub rep: usize,
    /// Figures.
    pub outcome: Outcome,
    /// Wall time of the whole measurement (setup and teardown included).
    pub secs: f64,
}

/// A library as listed in the report.
#[derive(Clone, Debug)]
pub struct LibInfo {
    /// Report name.
    pub name: &'static str,
    /// Resolved version.
    pub version: String,
    /// Whether the project's targets are checked for it.
    pub kovan_like: bool,
}

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct Run {
    /// Sizes and durations.
    pub cfg: Config,
    /// Thread counts of the scaled workloads.
    pub threads: Vec<usize>,
    /// Libraries, in report order.
    pub libs: Vec<LibInfo>,
    /// Workloads that were run.
    pub workloads: Vec<Workload>,
    /// Every measurement.
    pub samples: Vec<Sample>,
    /// Nodes never freed, per library, after everything was dropped and one final flush.
    pub leftovers: Vec<(&'static str, i64)>,
    /// When the run started.
    pub started: String,
    /// Total wall time.
    pub wall_secs: f64,
    /// Usable cores and [`crate::sysinfo::parallel_scaling`] at that many threads.
    pub scaling: (usize, f64),
}

/// Thread count used for a workload.
pub fn thread_counts(w: Workload, cfg: &Config, threads: &[usize]) -> Vec<usize> {
    match w {
        _ if w.scaled() => threads.to_vec(),
        Workload::Oversub => vec![cfg.oversub_threads],
        Workload::Churn => vec![cfg.churn_threads],
        Workload::LatTreiber | Workload::LatMap => crate::latency::THREADS.to_vec(),
        Workload::IdleThreads => vec![crate::idle::ACTIVE],
        _ => vec![2],
    }
}

fn short(o: &Outcome) -> String {
    o.metrics
        .iter()
        .filter(|(k, _)| *k != "reader_ok" || o.get("reader_ok") != Some(1.0))
        .map(|(k, v)| {
            if *k == "mops" || k.ends_with("mops") || k.ends_with("ratio") {
                format!("{k}={v:.2}")
            } else {
                format!("{k}={v:.0}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run every measurement, printing one progress line per measurement on stderr.
pub fn run_all(
    cfg: &Config,
    libs: &[Box<dyn Library>],
    threads: &[usize],
    workloads: &[Workload],
) -> Run {
    let started = crate::sysinfo::utc_now();
    let t0 = Instant::now();
    let usable = crate::sysinfo::cores().1.max(1);
    let scaling = (usable, crate::sysinfo::parallel_scaling(usable));
    let applies = |w: Workload, lib: &dyn Library| w != Workload::Pin || lib.has_pin();

    // Warm-up (not recorded): fault in allocator arenas and library globals.
    let mut warm = cfg.clone();
    warm.duration = cfg.duration / 4;
    for lib in libs {
        lib.run(Workload::ReadMostly, 1, &warm);
        lib.flush_main();
    }

    let total: usize = workloads
        .iter()
        .map(|&w| {
            thread_counts(w, cfg, threads).len()
                * cfg.reps
                * libs.iter().filter(|l| applies(w, l.as_ref())).count()
        })
        .sum();
    let mut samples = Vec::with_capacity(total);
    for &w in workloads {
        for t in thread_counts(w, cfg, threads) {
            for rep in 0..cfg.reps {
                for k in 0..libs.len() {
                    let lib = &libs[(k + rep) % libs.len()];
                    if !applies(w, lib.as_ref()) {
                        continue;
                    }
                    let m0 = Instant::now();
                    let outcome = lib.run(w, t, cfg);
                    let secs = m0.elapsed().as_secs_f64();
                    // Settle: one flush on the main thread so that the next library starts clean.
                    lib.flush_main();
                    eprintln!(
                        "[{:>4}/{total}] {:<16} t={:<2} rep {}/{} {:<16} {}  ({secs:.2}s)",
                        samples.len() + 1,
                        w.key(),
                        t,
                        rep + 1,
                        cfg.reps,
                        lib.name(),
                        short(&outcome),
                    );
                    samples.push(Sample {
                        workload: w,
                        lib: lib.name(),
                        threads: t,
                        rep,
                        outcome,
                        secs,
                    });
                }
            }
        }
    }

    let leftovers = libs
        .iter()
        .map(|l| {
            l.flush_main();
            (l.name(), crate::smr::leftovers(l.name()))
        })
        .collect();
    Run {
        cfg: cfg.clone(),
        threads: threads.to_vec(),
        libs: libs
            .iter()
            .map(|l| LibInfo {
                name: l.name(),
                version: l.version(),
                kovan_like: l.kovan_like(),
            })
            .collect(),
        workloads: workloads.to_vec(),
        samples,
        leftovers,
        started,
        wall_secs: t0.elapsed().as_secs_f64(),
        scaling,
    }
}
