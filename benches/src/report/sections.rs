//! The report's sections and library descriptions: text, kept as data.

use crate::workloads::Workload;

/// One workload's part of the report.
pub struct Section {
    /// The workload.
    pub w: Workload,
    /// Heading.
    pub title: &'static str,
    /// What the figures are.
    pub what: &'static str,
    /// (metric, column label) for the fixed-size workloads; the scaled ones use "mops" by thread.
    pub columns: &'static [(&'static str, &'static str)],
    /// The chart shown under the table (written by [`super::charts`]).
    pub chart: Option<Chart>,
}

/// A chart: throughput by thread count for a scaled workload, unfreed nodes over time otherwise.
pub struct Chart {
    /// SVG file name, next to the report.
    pub file: &'static str,
    /// Caption drawn in the chart.
    pub title: &'static str,
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

/// The sections, in report order.
pub const SECTIONS: &[Section] = &[
    Section {
        w: Workload::Pin,
        title: "Pin + unpin",
        what: "Millions of pin+unpin pairs per second, all threads together (higher is better). \
               haphazard has no critical section (protection is per pointer), so it is not listed; \
               `leak` pins nothing and shows the loop overhead.",
        columns: &[],
        chart: None,
    },
    Section {
        w: Workload::ReadMostly,
        title: "Read-mostly (95% protected load / 5% swap + retire, one shared pointer)",
        what: "Millions of operations per second (higher is better).",
        columns: &[],
        chart: Some(Chart {
            file: "bench-read-mostly.svg",
            title: "Read-mostly (95/5): throughput vs threads",
        }),
    },
    Section {
        w: Workload::Treiber,
        title: "Treiber stack (push then pop)",
        what: "Millions of operations per second; a push and a pop count as two (higher is better).",
        columns: &[],
        chart: Some(Chart {
            file: "bench-treiber.svg",
            title: "Treiber stack: throughput vs threads",
        }),
    },
    Section {
        w: Workload::Queue,
        title: "Michael–Scott queue (enqueue then dequeue)",
        what: "Millions of operations per second; an enqueue and a dequeue count as two \
               (higher is better).",
        columns: &[],
        chart: Some(Chart {
            file: "bench-queue.svg",
            title: "Michael-Scott queue: throughput vs threads",
        }),
    },
    Section {
        w: Workload::Map90,
        title: "Hash map, 90% get / 10% put",
        what: "Harris–Michael bucket lists, 2^15 buckets, 100,000 keys prefilled to half; a put is \
               an insert or a remove (half each) so the map stays half full. Millions of \
               operations per second (higher is better).",
        columns: &[],
        chart: None,
    },
    Section {
        w: Workload::Map50,
        title: "Hash map, 50% insert / 50% remove",
        what: "Same map. Millions of operations per second (higher is better).",
        columns: &[],
        chart: None,
    },
    Section {
        w: Workload::Oversub,
        title: "Oversubscription (read-mostly with 16 threads)",
        what: "Throughput in millions of operations per second (higher is better) and the peak of \
               retired-but-unfreed nodes, sampled by a monitor thread and by the workers (lower is \
               better).",
        columns: &[("mops", "Mops/s"), ("peak_unfreed", "peak unfreed")],
        chart: None,
    },
    Section {
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
        chart: Some(Chart {
            file: "bench-stalled.svg",
            title: "Stalled reader: retired-but-unfreed nodes over time",
        }),
    },
    Section {
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
    Section {
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
    Section {
        w: Workload::LatTreiber,
        title: "Latency: Treiber stack (one push or one pop)",
        what: "Every single push and pop timed on its own (two `Instant::now()` around it), at 1 \
               and 2 threads whatever `--threads` says: percentiles in nanoseconds over every \
               operation of a measurement, median (min–max) over the repetitions (lower is \
               better). Freeing a whole batch inside one operation shows in p99.9 and max.",
        columns: &[],
        chart: None,
    },
    Section {
        w: Workload::LatMap,
        title: "Latency: hash map (one operation of the 90% get / 10% put mix)",
        what: "The map of the 90/10 throughput workload, every operation timed on its own, as for \
               the Treiber stack (lower is better).",
        columns: &[],
        chart: None,
    },
    Section {
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
        "global `Domain`, 3 `HazardPointer`s per thread created before the timed region, `try_protect_ptr`, `retire_ptr`",
    ),
    (
        "leak",
        "no reclamation: retired nodes are kept until the measurement ends",
    ),
];

/// How every kovan implementation is driven.
pub const KOVAN_USAGE: &str =
    "`pin()` per operation, `Atomic::load`, `retire` (node with `RetiredNode` first)";
