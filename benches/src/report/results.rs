//! The results file: every repetition, serialized with serde.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::driver::Run;
use crate::workloads::PeakStats;

/// Everything a run measured, as written to the results file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// The command line that produced it.
    pub command: String,
    /// When the run started (UTC).
    pub started: String,
    /// Total wall time.
    pub wall_secs: f64,
    /// The machine.
    pub machine: Machine,
    /// Sizes and durations.
    pub config: RunConfig,
    /// Libraries, in report order.
    pub libraries: Vec<Library>,
    /// Nodes never freed at the end of the run, per library.
    pub leftovers: BTreeMap<String, i64>,
    /// Every measurement.
    pub samples: Vec<SampleRecord>,
}

/// The machine the run measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Logical cores listed by the system.
    pub logical_cores: usize,
    /// Cores the process may use.
    pub usable_cores: usize,
    /// Work of `usable_cores` threads of an ALU loop relative to one thread.
    pub parallel_scaling: f64,
    /// Kernel.
    pub os: String,
    /// Compiler.
    pub rustc: String,
    /// The global allocator of the `compare` binary that made the run.
    #[serde(default)]
    pub allocator: String,
}

/// The run's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// `--quick`.
    pub quick: bool,
    /// Repetitions per measurement.
    pub reps: usize,
    /// Timed region of a throughput measurement.
    pub duration_ms: u64,
    /// Timed region of a set-workload measurement.
    pub set_duration_ms: u64,
    /// Thread counts of the scaled workloads.
    pub threads: Vec<usize>,
    /// Nodes retired in the stalled/idle-reader runs.
    pub stalled_nodes: u64,
    /// Threads of the oversubscription run.
    pub oversub_threads: usize,
    /// Threads of the churn run.
    pub churn_threads: usize,
    /// Churn threads alive at a time.
    pub churn_wave: usize,
    /// Retires per churn thread.
    pub churn_retires: u64,
    /// Hash-map key range.
    pub map_keys: u64,
    /// Hash-map buckets.
    pub map_buckets: u64,
    /// Skip-list key range.
    pub skip_keys: u64,
}

/// A compared library.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Library {
    /// Report name.
    pub name: String,
    /// Resolved version.
    pub version: String,
}

/// One measurement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    /// Workload key (as `--workloads` takes it).
    pub workload: String,
    /// Library name.
    pub library: String,
    /// Thread count.
    pub threads: usize,
    /// Repetition index.
    pub rep: usize,
    /// Wall time of the whole measurement.
    pub secs: f64,
    /// Figures.
    pub metrics: BTreeMap<String, f64>,
    /// `[ms since the writers started, unfreed nodes]`, for the memory workloads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unfreed_series_ms: Vec<(f64, f64)>,
    /// The library's own statistics at the monitor's highest sample (kovan, memory workloads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats_at_peak: Option<StatsAtPeak>,
}

/// A library's own statistics (kovan's `Stats`) at the monitor's highest sample of unfreed
/// nodes. The counters are its domain's, shared by every measurement of the process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatsAtPeak {
    /// Milliseconds since the writers started.
    pub ms: f64,
    /// Unfreed nodes by the live count at that sample.
    pub live_count_unfreed: i64,
    /// Nodes retired since the writers started.
    pub retired_in_run: u64,
    /// Nodes freed since the writers started.
    pub freed_in_run: u64,
    /// The statistics as the library prints them.
    pub line: String,
    /// Nodes retired in the domain.
    pub retired: u64,
    /// Nodes freed in the domain.
    pub freed: u64,
    /// Batches parked by exited threads.
    pub parked_batches: usize,
    /// Thread ids claimed.
    pub registered_threads: usize,
    /// The era clock.
    pub era: u64,
    /// The active reservation with the lowest era.
    pub oldest_reservation: Option<Reservation>,
}

/// A reservation in [`StatsAtPeak`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// Its era.
    pub era: u64,
    /// The thread id that holds it.
    pub thread_id: usize,
}

impl From<&PeakStats> for StatsAtPeak {
    fn from(p: &PeakStats) -> Self {
        let s = &p.stats;
        StatsAtPeak {
            ms: (p.ms * 1000.0).round() / 1000.0,
            live_count_unfreed: p.unfreed,
            retired_in_run: s.retired - p.before.retired,
            freed_in_run: s.freed - p.before.freed,
            line: s.to_string(),
            retired: s.retired,
            freed: s.freed,
            parked_batches: s.parked_batches,
            registered_threads: s.registered_threads,
            era: s.era,
            oldest_reservation: s.oldest_reservation.map(|o| Reservation {
                era: o.era,
                thread_id: o.thread_id,
            }),
        }
    }
}

impl Results {
    /// The results of `run`, made by `command`.
    pub fn new(run: &Run, command: &str) -> Self {
        let cfg = &run.cfg;
        let (logical_cores, usable_cores) = crate::sysinfo::cores();
        Results {
            command: command.to_string(),
            started: run.started.clone(),
            wall_secs: run.wall_secs,
            machine: Machine {
                cpu: crate::sysinfo::cpu_model(),
                logical_cores,
                usable_cores,
                parallel_scaling: run.scaling.1,
                os: crate::sysinfo::kernel(),
                rustc: crate::sysinfo::rustc().to_string(),
                allocator: crate::sysinfo::allocator().to_string(),
            },
            config: RunConfig {
                quick: cfg.quick,
                reps: cfg.reps,
                duration_ms: u64::try_from(cfg.duration.as_millis()).unwrap_or(u64::MAX),
                set_duration_ms: u64::try_from(cfg.set_duration.as_millis()).unwrap_or(u64::MAX),
                threads: run.threads.clone(),
                stalled_nodes: cfg.stalled_nodes,
                oversub_threads: cfg.oversub_threads,
                churn_threads: cfg.churn_threads,
                churn_wave: cfg.churn_wave,
                churn_retires: cfg.churn_retires,
                map_keys: cfg.map_keys,
                map_buckets: 1 << cfg.map_bits,
                skip_keys: cfg.skip_keys,
            },
            libraries: run
                .libs
                .iter()
                .map(|l| Library {
                    name: l.name.to_string(),
                    version: l.version.clone(),
                })
                .collect(),
            leftovers: run
                .leftovers
                .iter()
                .map(|&(l, n)| (l.to_string(), n))
                .collect(),
            samples: run
                .samples
                .iter()
                .map(|s| SampleRecord {
                    workload: s.workload.key().to_string(),
                    library: s.lib.to_string(),
                    threads: s.threads,
                    rep: s.rep,
                    secs: s.secs,
                    metrics: s
                        .outcome
                        .metrics
                        .iter()
                        .map(|&(k, v)| (k.to_string(), v))
                        .collect(),
                    // Microseconds are below the monitor's resolution.
                    unfreed_series_ms: s
                        .outcome
                        .series
                        .iter()
                        .map(|&(t, v)| ((t * 1000.0).round() / 1000.0, v))
                        .collect(),
                    stats_at_peak: s.outcome.peak_stats.as_ref().map(StatsAtPeak::from),
                })
                .collect(),
        }
    }
}

/// Every repetition of `run`, as pretty-printed JSON.
pub fn json(run: &Run, command: &str) -> String {
    let mut text = serde_json::to_string_pretty(&Results::new(run, command))
        .expect("the results hold only strings, numbers and maps with string keys");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::{Results, json};
    use crate::driver::{LibInfo, Run, Sample};
    use crate::workloads::{Config, Outcome, PeakStats, Workload};

    #[test]
    fn the_results_file_reads_back_as_written() {
        // Real statistics: `kovan::Stats` is non-exhaustive. One node retired and unfreed.
        let domain = std::sync::Arc::new(kovan::Domain::new());
        let before = domain.stats();
        let handle = domain.register().unwrap();
        let node = handle.alloc_node(1u8);
        // SAFETY: never published, retired once.
        unsafe { handle.retire_node(node) };
        let stats = domain.stats();
        let run = Run {
            cfg: Config::new(true),
            threads: vec![1, 2],
            libs: vec![LibInfo {
                name: "seize",
                version: "0.5.1".into(),
                kovan_like: false,
            }],
            workloads: vec![Workload::Stalled],
            samples: vec![Sample {
                workload: Workload::Stalled,
                lib: "seize",
                threads: 2,
                rep: 0,
                outcome: Outcome {
                    metrics: vec![("peak_unfreed", 1234.0), ("writer_mops", 1.5)],
                    series: vec![(0.12345, 10.0), (1.0, 0.0)],
                    peak_stats: Some(PeakStats {
                        ms: 0.12345,
                        unfreed: 10,
                        stats,
                        before,
                    }),
                },
                secs: 0.25,
            }],
            leftovers: vec![("seize", 0)],
            started: "2026-01-02 03:04 UTC".into(),
            wall_secs: 1.0,
            scaling: (2, 1.9),
        };
        let text = json(&run, "compare \"--quick\"");
        let back: Results = serde_json::from_str(&text).unwrap();
        assert_eq!(back, Results::new(&run, "compare \"--quick\""));
        assert_eq!(back.samples[0].unfreed_series_ms[0], (0.123, 10.0));
        assert_eq!(back.config.map_buckets, 1 << run.cfg.map_bits);
        let peak = back.samples[0].stats_at_peak.as_ref().unwrap();
        assert_eq!(
            (peak.ms, peak.retired_in_run, peak.freed_in_run),
            (0.123, 1, 0)
        );
        assert_eq!(peak.line, stats.to_string());
    }
}
