//! The results file: every repetition, serialized with serde.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::driver::Run;

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
            },
            config: RunConfig {
                quick: cfg.quick,
                reps: cfg.reps,
                duration_ms: u64::try_from(cfg.duration.as_millis()).unwrap_or(u64::MAX),
                threads: run.threads.clone(),
                stalled_nodes: cfg.stalled_nodes,
                oversub_threads: cfg.oversub_threads,
                churn_threads: cfg.churn_threads,
                churn_wave: cfg.churn_wave,
                churn_retires: cfg.churn_retires,
                map_keys: cfg.map_keys,
                map_buckets: 1 << cfg.map_bits,
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
    use crate::workloads::{Config, Outcome, Workload};

    #[test]
    fn the_results_file_reads_back_as_written() {
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
    }
}
