//! The report's sections and library descriptions: text, kept as data.

use std::borrow::Cow;

use crate::workloads::{Config, Mix, Structure, Workload};

/// One workload's part of the report, as [`sections`] lists it.
pub struct Section {
    /// The workload.
    pub w: Workload,
    /// Heading.
    pub title: Cow<'static, str>,
    /// What the figures are.
    pub what: Cow<'static, str>,
    /// (metric, column label) for the fixed-size workloads; the scaled ones use "mops" by thread.
    pub columns: &'static [(&'static str, &'static str)],
    /// The chart shown under the table (written by [`super::charts`]).
    pub chart: Option<Chart>,
}

/// A chart: throughput by thread count for a scaled workload, unfreed nodes over time otherwise.
pub struct Chart {
    /// SVG file name, next to the report.
    pub file: Cow<'static, str>,
    /// Caption drawn in the chart.
    pub title: Cow<'static, str>,
}

impl Chart {
    /// The SVG file: [`Chart::file`], with `-mimalloc` before the extension in a mimalloc build,
    /// so that its charts never replace those of the system-allocator report in the same folder.
    pub fn file_name(&self) -> String {
        if cfg!(feature = "mimalloc") {
            self.file.replace(".svg", "-mimalloc.svg")
        } else {
            self.file.to_string()
        }
    }
}

/// A section whose text is fixed ([`SECTIONS`]).
struct Fixed {
    w: Workload,
    title: &'static str,
    what: &'static str,
    columns: &'static [(&'static str, &'static str)],
    chart: Option<FixedChart>,
}

/// The chart of a [`Fixed`] section.
struct FixedChart {
    file: &'static str,
    title: &'static str,
}

/// Every section, in report order: [`SECTIONS`], with the set workloads' after the queue's.
pub fn sections(cfg: &Config) -> Vec<Section> {
    let mut out = Vec::new();
    for sec in SECTIONS {
        out.push(Section {
            w: sec.w,
            title: sec.title.into(),
            what: sec.what.into(),
            columns: sec.columns,
            chart: sec.chart.as_ref().map(|c| Chart {
                file: c.file.into(),
                title: c.title.into(),
            }),
        });
        if sec.w == Workload::Queue {
            for s in Structure::ALL {
                out.extend(Mix::ALL.iter().map(|&m| set_section(cfg, s, m)));
            }
        }
    }
    out
}

/// The section of a set workload.
fn set_section(cfg: &Config, s: Structure, m: Mix) -> Section {
    let keys = super::format::count(s.keys(cfg) as f64);
    let (name, structure) = match s {
        Structure::Map => (
            "Hash map",
            format!("Harris–Michael bucket lists, 2^{} buckets", cfg.map_bits),
        ),
        Structure::List1k | Structure::List10k => (
            "Harris–Michael list",
            "One sorted list: a search visits about a quarter of the keys, each protected and \
             validated"
                .to_string(),
        ),
        Structure::SkipList => (
            "Skip list",
            format!(
                "Lock-free skip list (Fraser's design; predecessor and successor protected at each \
                 of {} levels)",
                crate::ds::SKIP_HEIGHT
            ),
        ),
    };
    let mix = match m {
        Mix::ReadOnly => "read-only (100% get)",
        Mix::Read90 => "90/10 (90% get, 5% insert, 5% remove)",
        Mix::Half => "50/50 (50% get, 25% insert, 25% remove)",
        Mix::WriteOnly => "write-only (50% insert, 50% remove)",
    };
    Section {
        w: Workload::Set(s, m),
        title: format!("{name}, {keys} keys, {mix}").into(),
        what: format!(
            "{structure}, {keys} keys prefilled with a random half, keys uniform over the range; \
             {} ms timed region. Millions of operations per second (higher is better), then \
             removed-but-unfreed nodes sampled during the run, peak / average (lower is better).",
            cfg.set_duration.as_millis()
        )
        .into(),
        columns: &[],
        // One throughput chart per structure, for the mix that papers headline.
        chart: (m == Mix::Read90).then(|| Chart {
            file: format!("bench-{}.svg", Workload::Set(s, m).key()).into(),
            title: format!("{name}, {keys} keys, 90/10: throughput vs threads").into(),
        }),
    }
}

/// The sections of the workloads other than the set workloads, in report order.
const SECTIONS: &[Fixed] = &[
    Fixed {
        w: Workload::Pin,
        title: "Pin + unpin",
        what: "Millions of pin+unpin pairs per second, all threads together (higher is better). \
               haphazard has no critical section (protection is per pointer), so it is not listed; \
               `leak` pins nothing and shows the loop overhead.",
        columns: &[],
        chart: None,
    },
    Fixed {
        w: Workload::ReadMostly,
        title: "Read-mostly (95% protected load / 5% swap + retire, one shared pointer)",
        what: "Millions of operations per second (higher is better).",
        columns: &[],
        chart: Some(FixedChart {
            file: "bench-read-mostly.svg",
            title: "Read-mostly (95/5): throughput vs threads",
        }),
    },
    Fixed {
        w: Workload::Treiber,
        title: "Treiber stack (push then pop)",
        what: "Millions of operations per second; a push and a pop count as two (higher is better).",
        columns: &[],
        chart: Some(FixedChart {
            file: "bench-treiber.svg",
            title: "Treiber stack: throughput vs threads",
        }),
    },
    Fixed {
        w: Workload::Queue,
        title: "Michael–Scott queue (enqueue then dequeue)",
        what: "Millions of operations per second; an enqueue and a dequeue count as two \
               (higher is better).",
        columns: &[],
        chart: Some(FixedChart {
            file: "bench-queue.svg",
            title: "Michael-Scott queue: throughput vs threads",
        }),
    },
    Fixed {
        w: Workload::Oversub,
        title: "Oversubscription (read-mostly with 16 threads)",
        what: "Throughput in millions of operations per second (higher is better) and the peak of \
               retired-but-unfreed nodes, sampled by a monitor thread and by the workers (lower is \
               better).",
        columns: &[("mops", "Mops/s"), ("peak_unfreed", "peak unfreed")],
        chart: None,
    },
    Fixed {
        w: Workload::Stalled,
        title: "Stalled reader",
        what: "One reader pins, loads the shared node and blocks inside its critical section while \
               two writers swap + retire the configured number of nodes. Unfreed = live nodes − the \
               one still linked (exact count from the nodes' `Drop`). `end`: writers joined, reader \
               still stalled; `after release`: reader unpinned and joined; `after flush`: one flush \
               on the main thread. `writer Mops/s` is the writers' rate while the reader stalls. \
               A library with statistics of its own (kovan's `Stats`) has them shown at the \
               monitor's highest sample, and checked against this count at the end of every run.",
        columns: &[
            ("peak_unfreed", "peak unfreed"),
            ("end_unfreed", "end (stalled)"),
            ("after_release", "after release"),
            ("after_flush", "after flush"),
            ("writer_mops", "writer Mops/s"),
        ],
        chart: Some(FixedChart {
            file: "bench-stalled.svg",
            title: "Stalled reader: retired-but-unfreed nodes over time",
        }),
    },
    Fixed {
        w: Workload::Idle,
        title: "Idle reader",
        what: "One thread pinned once, unpinned and sleeps (still alive) while two writers swap + \
               retire the same number of nodes. `end`: writers joined; `after flush`: one flush on \
               the main thread, the idle thread still alive. Statistics as for the stalled reader.",
        columns: &[
            ("peak_unfreed", "peak unfreed"),
            ("end_unfreed", "end"),
            ("after_flush", "after flush"),
            ("writer_mops", "writer Mops/s"),
        ],
        chart: None,
    },
    Fixed {
        w: Workload::Churn,
        title: "Thread churn",
        what: "Short-lived threads (started in waves) each swap + retire nodes and exit. Unfreed \
               nodes after all are joined, and after one flush on the main thread.",
        columns: &[
            ("after_join", "unfreed after join"),
            ("after_flush", "after one flush"),
        ],
        chart: None,
    },
    Fixed {
        w: Workload::LatTreiber,
        title: "Latency: Treiber stack (one push or one pop)",
        what: "Every single push and pop timed on its own (two `Instant::now()` around it), at 1 \
               and 2 threads whatever `--threads` says: percentiles in nanoseconds over every \
               operation of a measurement, median (min–max) over the repetitions (lower is \
               better). Freeing a whole batch inside one operation shows in p99.9 and max.",
        columns: &[],
        chart: None,
    },
    Fixed {
        w: Workload::LatMap,
        title: "Latency: hash map, 90/10 (one operation of the `map-90-10` mix)",
        what: "The hash map of the `map-90-10` set workload (same buckets, key range and prefill; \
               90% get, 5% insert, 5% remove), every operation timed on its own, as for the \
               Treiber stack (lower is better).",
        columns: &[],
        chart: None,
    },
    Fixed {
        w: Workload::IdleThreads,
        title: "Many registered idle threads (Treiber stack beside idle threads)",
        what: "Treiber push + pop on the active threads, first alone, then with the idle threads \
               registered (each created its per-thread state, pinned once, and blocks with that \
               state alive). Both runs are made in one child process per measurement, so the \
               registered slots never outlive the measurement. Millions of operations per second \
               (higher is better) and their paired ratio, with / without (1 = no cost).",
        columns: &[],
        chart: None,
    },
];

/// How each library is driven, for the "Libraries" table (kovan implementations: [`KOVAN_USAGE`]).
pub const USAGE: &[(&str, &str)] = &[
    (
        "crossbeam-epoch",
        "global collector, `epoch::pin()` per operation, `Atomic`, `defer_destroy`",
    ),
    (
        "seize",
        "one `Collector` per structure, `collector.enter()` per operation, `protect`, `defer_retire(reclaim::boxed)`",
    ),
    (
        "haphazard",
        "global `Domain`, one `HazardPointer` per protection slot (two per skip-list level) per thread, created before the timed region, `try_protect_ptr`, `retire_ptr`",
    ),
    (
        "leak",
        "no reclamation: retired nodes are kept until the measurement ends",
    ),
];

/// How every kovan implementation is driven.
pub const KOVAN_USAGE: &str =
    "`pin()` per operation, `Atomic::load`, `retire` (node with `RetiredNode` first)";
