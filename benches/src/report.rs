//! The markdown report, the JSON dump and the SVG charts.

use std::fmt::Write as _;
use std::path::Path;

use crate::driver::{Run, Sample};
use crate::workloads::Workload;

/// The reference library for ratios.
pub const REFERENCE: &str = "crossbeam-epoch";
/// The no-reclamation baseline.
pub const BASELINE: &str = "leak";

/// Median and spread of the repetitions of one cell.
#[derive(Clone, Copy, Debug)]
pub struct Stat {
    /// Median (mean of the two middle values for an even count).
    pub median: f64,
    /// Smallest repetition.
    pub min: f64,
    /// Largest repetition.
    pub max: f64,
}

/// Median, min and max of `v` (`None` when empty).
pub fn stat(v: &[f64]) -> Option<Stat> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    Some(Stat {
        median,
        min: s[0],
        max: s[n - 1],
    })
}

impl Run {
    fn cell_samples(&self, w: Workload, lib: &str, threads: usize) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.workload == w && s.lib == lib && s.threads == threads)
            .collect()
    }

    /// Statistic of `metric` over the repetitions of one cell.
    pub fn stat(&self, w: Workload, lib: &str, threads: usize, metric: &str) -> Option<Stat> {
        let v: Vec<f64> = self
            .cell_samples(w, lib, threads)
            .iter()
            .filter_map(|s| s.outcome.get(metric))
            .collect();
        stat(&v)
    }

    /// Median of `lib / reference` over the repetitions measured by both, pairing each
    /// repetition with the same repetition of the reference. The libraries of one repetition run
    /// back to back, so a stretch of host slowdown (this is a shared 2-core VM) that hits one
    /// repetition hits both sides of its ratio; a ratio of medians would mix repetitions.
    pub fn ratio(
        &self,
        w: Workload,
        lib: &str,
        reference: &str,
        threads: usize,
        metric: &str,
    ) -> Option<f64> {
        let refs = self.cell_samples(w, reference, threads);
        let v: Vec<f64> = self
            .cell_samples(w, lib, threads)
            .iter()
            .filter_map(|s| {
                let r = refs.iter().find(|r| r.rep == s.rep)?.outcome.get(metric)?;
                let x = s.outcome.get(metric)?;
                (r > 0.0).then_some(x / r)
            })
            .collect();
        stat(&v).map(|s| s.median)
    }

    fn threads_of(&self, w: Workload) -> Vec<usize> {
        crate::driver::thread_counts(w, &self.cfg, &self.threads)
    }
}

/// Format a throughput with three significant digits.
fn fmt_rate(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Format a node count with thousands separators.
fn fmt_count(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn threads_label(t: usize) -> String {
    format!("{t} thread{}", if t == 1 { "" } else { "s" })
}

fn fmt_ratio(r: f64) -> String {
    if r == 0.0 {
        "0×".to_string()
    } else if r < 0.01 {
        format!("{r:.4}×")
    } else {
        format!("{r:.2}×")
    }
}

/// A ratio checked against `need`: two decimals, or as many more (up to six) as it takes for a
/// miss not to round up to the target.
fn fmt_target_ratio(got: f64, need: f64) -> String {
    let mut precision = 2;
    while got < need
        && precision < 6
        && format!("{got:.precision$}") == format!("{need:.precision$}")
    {
        precision += 1;
    }
    format!("{got:.precision$}×")
}

fn fmt_value(metric: &str, v: f64) -> String {
    if metric.ends_with("mops") {
        fmt_rate(v)
    } else {
        fmt_count(v)
    }
}

/// `median (min–max) · ratio×` for one cell.
fn cell(run: &Run, w: Workload, lib: &str, threads: usize, metric: &str) -> String {
    let Some(s) = run.stat(w, lib, threads, metric) else {
        return "n/a".to_string();
    };
    let mut out = format!(
        "{} ({}–{})",
        fmt_value(metric, s.median),
        fmt_value(metric, s.min),
        fmt_value(metric, s.max)
    );
    if let Some(r) = run.stat(w, REFERENCE, threads, metric) {
        if r.median > 0.0 {
            let ratio = run
                .ratio(w, lib, REFERENCE, threads, metric)
                .unwrap_or(s.median / r.median);
            let _ = write!(out, " · {}", fmt_ratio(ratio));
        } else if s.median == 0.0 {
            out.push_str(" · =");
        }
    }
    out
}

struct Section {
    w: Workload,
    title: &'static str,
    what: &'static str,
    /// (metric, column label) for the fixed-size workloads; the scaled ones use "mops" by thread.
    columns: &'static [(&'static str, &'static str)],
    chart: Option<&'static str>,
}

const SECTIONS: &[Section] = &[
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
        chart: Some("bench-read-mostly.svg"),
    },
    Section {
        w: Workload::Treiber,
        title: "Treiber stack (push then pop)",
        what: "Millions of operations per second; a push and a pop count as two (higher is better).",
        columns: &[],
        chart: Some("bench-treiber.svg"),
    },
    Section {
        w: Workload::Queue,
        title: "Michael–Scott queue (enqueue then dequeue)",
        what: "Millions of operations per second; an enqueue and a dequeue count as two \
               (higher is better).",
        columns: &[],
        chart: Some("bench-queue.svg"),
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
               on the main thread. `writer Mops/s` is the writers' rate while the reader stalls.",
        columns: &[
            ("peak_unfreed", "peak unfreed"),
            ("end_unfreed", "end (stalled)"),
            ("after_release", "after release"),
            ("after_flush", "after flush"),
            ("writer_mops", "writer Mops/s"),
        ],
        chart: Some("bench-stalled.svg"),
    },
    Section {
        w: Workload::Idle,
        title: "Idle reader",
        what: "One thread pinned once, unpinned and sleeps (still alive) while two writers swap + \
               retire the same number of nodes. `end`: writers joined; `after flush`: one flush on \
               the main thread, the idle thread still alive.",
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
];

/// The markdown report. `notes`, when given, is hand-written text (why a target is missed, ...)
/// inserted under "Notes" so that regenerating the report keeps it.
pub fn markdown(run: &Run, command: &str, notes: Option<&str>) -> String {
    let mut md = String::new();
    let cfg = &run.cfg;
    let (listed, usable) = crate::sysinfo::cores();
    let _ = writeln!(md, "# kovan benchmark report\n");
    let _ = writeln!(
        md,
        "Generated {} by `{command}` ({} mode, {:.0} s wall time). \
         How the numbers are made: [benchmarks-method.md](benchmarks-method.md).\n",
        run.started,
        if cfg.quick { "quick" } else { "full" },
        run.wall_secs
    );
    let _ = writeln!(md, "## Machine\n");
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(md, "| CPU | {} |", crate::sysinfo::cpu_model());
    let _ = writeln!(
        md,
        "| cores | {listed} logical ({usable} usable by this process) |"
    );
    let _ = writeln!(
        md,
        "| parallel capacity | {} threads of a pure ALU loop do {:.2}× the work of one thread \
         per unit time |",
        run.scaling.0, run.scaling.1
    );
    let _ = writeln!(md, "| OS | {} |", crate::sysinfo::kernel());
    let _ = writeln!(md, "| compiler | {} |", crate::sysinfo::rustc());
    let _ = writeln!(md, "| profile | release |\n");

    let _ = writeln!(md, "## Libraries\n");
    let _ = writeln!(md, "| name | version | how it is used |\n|---|---|---|");
    for l in &run.libs {
        let how = match l.name {
            "crossbeam-epoch" => {
                "global collector, `epoch::pin()` per operation, `Atomic`, `defer_destroy`"
            }
            "seize" => {
                "one `Collector` per structure, `collector.enter()` per operation, `protect`, `defer_retire(reclaim::boxed)`"
            }
            "haphazard" => {
                "global `Domain`, 3 `HazardPointer`s per thread created before the timed region, `try_protect_ptr`, `retire_ptr`"
            }
            "leak" => "no reclamation: retired nodes are kept until the measurement ends",
            _ if l.kovan_like => {
                "`pin()` per operation, `Atomic::load`, `retire` (node with `RetiredNode` first)"
            }
            _ => "",
        };
        let _ = writeln!(md, "| {} | {} | {how} |", l.name, l.version);
    }
    let _ = writeln!(
        md,
        "\nSettings: {} repetitions per measurement (libraries interleaved inside each \
         repetition), {} ms timed region per throughput measurement, thread counts {:?}, \
         {} nodes in the stalled/idle-reader runs, {} churn threads ({} at a time, {} retires \
         each). Cells read `median (min–max) · ratio to {REFERENCE}`, the ratio being the median over \
         the repetitions of this library's figure divided by {REFERENCE}'s in the same \
         repetition.\n",
        cfg.reps,
        cfg.duration.as_millis(),
        run.threads,
        fmt_count(cfg.stalled_nodes as f64),
        cfg.churn_threads,
        cfg.churn_wave,
        cfg.churn_retires,
    );

    for sec in SECTIONS {
        if !run.workloads.contains(&sec.w) {
            continue;
        }
        let _ = writeln!(md, "## {}\n\n{}\n", sec.title, sec.what);
        if sec.w.scaled() {
            let ts = run.threads_of(sec.w);
            let _ = write!(md, "| library |");
            for t in &ts {
                let _ = write!(md, " {} |", threads_label(*t));
            }
            let _ = write!(md, "\n|---|");
            for _ in &ts {
                let _ = write!(md, "---|");
            }
            md.push('\n');
            for l in &run.libs {
                let _ = write!(md, "| {} |", l.name);
                for &t in &ts {
                    let _ = write!(md, " {} |", cell(run, sec.w, l.name, t, "mops"));
                }
                md.push('\n');
            }
        } else {
            let t = run.threads_of(sec.w)[0];
            let _ = write!(md, "| library |");
            for (_, label) in sec.columns {
                let _ = write!(md, " {label} |");
            }
            let _ = write!(md, "\n|---|");
            for _ in sec.columns {
                let _ = write!(md, "---|");
            }
            md.push('\n');
            for l in &run.libs {
                let _ = write!(md, "| {} |", l.name);
                for (metric, _) in sec.columns {
                    let _ = write!(md, " {} |", cell(run, sec.w, l.name, t, metric));
                }
                md.push('\n');
            }
            if sec.w == Workload::Stalled {
                let bad: Vec<_> = run
                    .samples
                    .iter()
                    .filter(|s| s.workload == sec.w && s.outcome.get("reader_ok") == Some(0.0))
                    .map(|s| format!("{} (rep {})", s.lib, s.rep + 1))
                    .collect();
                if bad.is_empty() {
                    let _ = writeln!(
                        md,
                        "\nEvery stalled reader found its node intact after release."
                    );
                } else {
                    let _ = writeln!(
                        md,
                        "\n**Protection violated**: the stalled reader's node changed under its \
                         guard in {}.",
                        bad.join(", ")
                    );
                }
            }
        }
        if let Some(chart) = sec.chart {
            let _ = writeln!(md, "\n![{}]({chart})", sec.title);
        }
        md.push('\n');
    }

    let _ = writeln!(md, "## Leftovers at the end of the run\n");
    let _ = writeln!(
        md,
        "Nodes never freed, over every measurement of the library, after all structures were \
         dropped and one more flush ran on the main thread (exact).\n"
    );
    let _ = writeln!(md, "| library | never freed |\n|---|---|");
    for (lib, n) in &run.leftovers {
        let _ = writeln!(md, "| {lib} | {} |", fmt_count(*n as f64));
    }
    md.push('\n');

    md.push_str(&targets(run));
    if let Some(notes) = notes {
        let _ = writeln!(md, "## Notes\n\n{}", notes.trim());
    }
    md
}

/// The project's targets, checked for every kovan implementation in the run.
fn targets(run: &Run) -> String {
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
        let name = k.name;
        let _ = writeln!(
            md,
            "### {name} {}\n\n| target | measured | status |\n|---|---|---|",
            k.version
        );
        let mut row = |target: String, measured: String, status: String| {
            let _ = writeln!(md, "| {target} | {measured} | {status} |");
        };
        let ratio_check = |need: f64, got: f64| {
            if got >= need {
                "met".to_string()
            } else {
                let short = (1.0 - got / need) * 100.0;
                let by = if short < 1.0 {
                    format!("{short:.2}")
                } else {
                    format!("{short:.0}")
                };
                format!(
                    "**missed** by {by}% ({} < {need:.2}×)",
                    fmt_target_ratio(got, need)
                )
            }
        };
        // Pin: no slower than the fastest other library (the leak baseline is not a library).
        if run.workloads.contains(&Workload::Pin) {
            for &t in &run.threads_of(Workload::Pin) {
                let me = run.stat(Workload::Pin, name, t, "mops");
                let best = run
                    .libs
                    .iter()
                    .filter(|l| l.name != name && l.name != BASELINE)
                    .filter_map(|l| {
                        run.stat(Workload::Pin, l.name, t, "mops")
                            .map(|s| (l.name, s))
                    })
                    .max_by(|a, b| a.1.median.total_cmp(&b.1.median));
                if let (Some(me), Some((bn, b))) = (me, best) {
                    row(
                        format!("pin+unpin ≥ fastest other library, {}", threads_label(t)),
                        format!(
                            "{} vs {bn} {} Mops/s",
                            fmt_rate(me.median),
                            fmt_rate(b.median)
                        ),
                        ratio_check(1.0, me.median / b.median),
                    );
                }
            }
        }
        for (w, label, need_ref, need_leak) in [
            (Workload::ReadMostly, "read-mostly", 1.3, Some(0.85)),
            (Workload::Treiber, "Treiber stack", 1.3, None),
            (Workload::Queue, "MS queue", 1.3, None),
        ] {
            if !run.workloads.contains(&w) {
                continue;
            }
            for &t in &run.threads_of(w) {
                let Some(to_ref) = run.ratio(w, name, REFERENCE, t, "mops") else {
                    continue;
                };
                row(
                    format!("{label} ≥ {need_ref}× {REFERENCE}, {}", threads_label(t)),
                    fmt_target_ratio(to_ref, need_ref),
                    ratio_check(need_ref, to_ref),
                );
                if let (Some(need), Some(to_leak)) =
                    (need_leak, run.ratio(w, name, BASELINE, t, "mops"))
                {
                    row(
                        format!("{label} ≥ {need}× leak baseline, {}", threads_label(t)),
                        fmt_target_ratio(to_leak, need),
                        ratio_check(need, to_leak),
                    );
                }
            }
        }
        let count_check = |limit: f64, got: f64, strict: bool| {
            let ok = if strict { got < limit } else { got <= limit };
            if ok {
                "met".to_string()
            } else if limit == 0.0 {
                format!("**missed**: {} left", fmt_count(got))
            } else {
                format!("**missed**: {:.1}× the limit", got / limit)
            }
        };
        let max_of =
            |w: Workload, t: usize, metric: &str| run.stat(w, name, t, metric).map(|s| s.max);
        if run.workloads.contains(&Workload::Stalled) {
            let t = run.threads_of(Workload::Stalled)[0];
            if let Some(p) = max_of(Workload::Stalled, t, "peak_unfreed") {
                row(
                    "stalled reader: peak unfreed < 2,000 (worst repetition)".into(),
                    fmt_count(p),
                    count_check(2000.0, p, true),
                );
            }
            if let Some(p) = max_of(Workload::Stalled, t, "after_flush") {
                row(
                    "stalled reader: 0 unfreed after release + one flush".into(),
                    fmt_count(p),
                    count_check(0.0, p, false),
                );
            }
        }
        if run.workloads.contains(&Workload::Oversub) {
            let t = run.threads_of(Workload::Oversub)[0];
            if let Some(to_ref) = run.ratio(Workload::Oversub, name, REFERENCE, t, "mops") {
                row(
                    format!("oversubscription ≥ 1.3× {REFERENCE}"),
                    fmt_target_ratio(to_ref, 1.3),
                    ratio_check(1.3, to_ref),
                );
            }
            if let Some(p) = max_of(Workload::Oversub, t, "peak_unfreed") {
                row(
                    "oversubscription: peak unfreed < 5,000 (worst repetition)".into(),
                    fmt_count(p),
                    count_check(5000.0, p, true),
                );
            }
        }
        if run.workloads.contains(&Workload::Churn) {
            let t = run.threads_of(Workload::Churn)[0];
            if let Some(p) = max_of(Workload::Churn, t, "after_flush") {
                row(
                    "churn: 0 unfreed after one flush on the main thread".into(),
                    fmt_count(p),
                    count_check(0.0, p, false),
                );
            }
        }
        if let Some((_, n)) = run.leftovers.iter().find(|(l, _)| *l == name) {
            row(
                "no leftovers at the end of the whole run".into(),
                fmt_count(*n as f64),
                count_check(0.0, *n as f64, false),
            );
        }
        md.push('\n');
    }
    md
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".to_string()
    }
}

/// Every repetition, as JSON.
pub fn json(run: &Run, command: &str) -> String {
    let cfg = &run.cfg;
    let (listed, usable) = crate::sysinfo::cores();
    let mut j = String::new();
    j.push_str("{\n");
    let _ = writeln!(j, "  \"command\": {},", json_str(command));
    let _ = writeln!(j, "  \"started\": {},", json_str(&run.started));
    let _ = writeln!(j, "  \"wall_secs\": {},", json_num(run.wall_secs));
    let _ = writeln!(
        j,
        "  \"machine\": {{\"cpu\": {}, \"logical_cores\": {listed}, \"usable_cores\": {usable}, \
         \"parallel_scaling\": {}, \"os\": {}, \"rustc\": {}}},",
        json_str(&crate::sysinfo::cpu_model()),
        json_num(run.scaling.1),
        json_str(&crate::sysinfo::kernel()),
        json_str(crate::sysinfo::rustc())
    );
    let _ = writeln!(
        j,
        "  \"config\": {{\"quick\": {}, \"reps\": {}, \"duration_ms\": {}, \"threads\": {:?}, \
         \"stalled_nodes\": {}, \"oversub_threads\": {}, \"churn_threads\": {}, \
         \"churn_wave\": {}, \"churn_retires\": {}, \"map_keys\": {}, \"map_buckets\": {}}},",
        cfg.quick,
        cfg.reps,
        cfg.duration.as_millis(),
        run.threads,
        cfg.stalled_nodes,
        cfg.oversub_threads,
        cfg.churn_threads,
        cfg.churn_wave,
        cfg.churn_retires,
        cfg.map_keys,
        1u64 << cfg.map_bits
    );
    let libs: Vec<String> = run
        .libs
        .iter()
        .map(|l| {
            format!(
                "{{\"name\": {}, \"version\": {}}}",
                json_str(l.name),
                json_str(&l.version)
            )
        })
        .collect();
    let _ = writeln!(j, "  \"libraries\": [{}],", libs.join(", "));
    let left: Vec<String> = run
        .leftovers
        .iter()
        .map(|(l, n)| format!("{}: {n}", json_str(l)))
        .collect();
    let _ = writeln!(j, "  \"leftovers\": {{{}}},", left.join(", "));
    j.push_str("  \"samples\": [\n");
    for (i, s) in run.samples.iter().enumerate() {
        let metrics: Vec<String> = s
            .outcome
            .metrics
            .iter()
            .map(|(k, v)| format!("{}: {}", json_str(k), json_num(*v)))
            .collect();
        let _ = write!(
            j,
            "    {{\"workload\": {}, \"library\": {}, \"threads\": {}, \"rep\": {}, \
             \"secs\": {}, \"metrics\": {{{}}}",
            json_str(s.workload.key()),
            json_str(s.lib),
            s.threads,
            s.rep,
            json_num(s.secs),
            metrics.join(", ")
        );
        if !s.outcome.series.is_empty() {
            let pts: Vec<String> = s
                .outcome
                .series
                .iter()
                .map(|(t, v)| format!("[{}, {}]", json_num((t * 1000.0).round() / 1000.0), v))
                .collect();
            let _ = write!(j, ", \"unfreed_series_ms\": [{}]", pts.join(", "));
        }
        j.push('}');
        j.push_str(if i + 1 < run.samples.len() {
            ",\n"
        } else {
            "\n"
        });
    }
    j.push_str("  ]\n}\n");
    j
}

const COLORS: [(u8, u8, u8); 8] = [
    (0xd6, 0x27, 0x28),
    (0x1f, 0x77, 0xb4),
    (0x2c, 0xa0, 0x2c),
    (0xff, 0x7f, 0x0e),
    (0x94, 0x67, 0xbd),
    (0x7f, 0x7f, 0x7f),
    (0x8c, 0x56, 0x4b),
    (0xe3, 0x77, 0xc2),
];

type ChartResult = Result<(), Box<dyn std::error::Error>>;

fn throughput_chart(run: &Run, w: Workload, title: &str, path: &Path) -> ChartResult {
    use plotters::prelude::*;
    let ts = run.threads_of(w);
    let max_t = ts.iter().copied().max().unwrap_or(1) as f64;
    let ymax = run
        .libs
        .iter()
        .flat_map(|l| ts.iter().filter_map(|&t| run.stat(w, l.name, t, "mops")))
        .map(|s| s.median)
        .fold(0.0, f64::max)
        * 1.1;
    let root = SVGBackend::new(path, (760, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.5f64..max_t + 0.5, 0f64..ymax.max(1e-3))?;
    chart
        .configure_mesh()
        .x_desc("threads")
        .y_desc("Mops/s (median)")
        .x_labels(max_t as usize + 1)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| fmt_rate(*y))
        .draw()?;
    for (i, l) in run.libs.iter().enumerate() {
        let pts: Vec<(f64, f64)> = ts
            .iter()
            .filter_map(|&t| run.stat(w, l.name, t, "mops").map(|s| (t as f64, s.median)))
            .collect();
        if pts.is_empty() {
            continue;
        }
        let (r, g, b) = COLORS[i % COLORS.len()];
        let color = RGBColor(r, g, b);
        chart.draw_series(
            pts.iter()
                .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
        )?;
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))?
            .label(l.name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(())
}

fn stalled_chart(run: &Run, path: &Path) -> ChartResult {
    use plotters::prelude::*;
    let w = Workload::Stalled;
    let t = run.threads_of(w)[0];
    // Per library, the repetition whose peak is the median one.
    let mut series = Vec::new();
    for l in &run.libs {
        let mut reps = run.cell_samples(w, l.name, t);
        reps.sort_by(|a, b| {
            let pa = a.outcome.get("peak_unfreed").unwrap_or(0.0);
            let pb = b.outcome.get("peak_unfreed").unwrap_or(0.0);
            pa.total_cmp(&pb)
        });
        if let Some(s) = reps.get(reps.len() / 2) {
            series.push((l.name, s.outcome.series.clone()));
        }
    }
    let xmax = series
        .iter()
        .flat_map(|(_, s)| s.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let ymax = series
        .iter()
        .flat_map(|(_, s)| s.iter().map(|p| p.1))
        .fold(10.0, f64::max)
        * 2.0;
    let root = SVGBackend::new(path, (760, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Stalled reader: retired-but-unfreed nodes over time",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..xmax, (1f64..ymax).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("ms since the writers started")
        .y_desc("unfreed nodes (log; 0 drawn as 1)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| fmt_count(*y))
        .draw()?;
    for (i, (name, pts)) in series.into_iter().enumerate() {
        if pts.is_empty() {
            continue;
        }
        let idx = run.libs.iter().position(|l| l.name == name).unwrap_or(i);
        let (r, g, b) = COLORS[idx % COLORS.len()];
        let color = RGBColor(r, g, b);
        chart
            .draw_series(LineSeries::new(
                pts.into_iter().map(|(x, y)| (x, y.max(1.0))),
                color.stroke_width(2),
            ))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Write the charts into `dir`; returns the files written.
pub fn charts(run: &Run, dir: &Path) -> Vec<String> {
    let mut written = Vec::new();
    for (w, file, title) in [
        (
            Workload::ReadMostly,
            "bench-read-mostly.svg",
            "Read-mostly (95/5): throughput vs threads",
        ),
        (
            Workload::Treiber,
            "bench-treiber.svg",
            "Treiber stack: throughput vs threads",
        ),
        (
            Workload::Queue,
            "bench-queue.svg",
            "Michael-Scott queue: throughput vs threads",
        ),
    ] {
        if run.workloads.contains(&w) {
            let p = dir.join(file);
            match throughput_chart(run, w, title, &p) {
                Ok(()) => written.push(p.display().to_string()),
                Err(e) => eprintln!("chart {file}: {e}"),
            }
        }
    }
    if run.workloads.contains(&Workload::Stalled) {
        let p = dir.join("bench-stalled.svg");
        match stalled_chart(run, &p) {
            Ok(()) => written.push(p.display().to_string()),
            Err(e) => eprintln!("chart bench-stalled.svg: {e}"),
        }
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::Run;
    use crate::workloads::{Config, Outcome};

    fn sample(lib: &'static str, rep: usize, mops: f64) -> Sample {
        Sample {
            workload: Workload::Queue,
            lib,
            threads: 2,
            rep,
            outcome: Outcome {
                metrics: vec![("mops", mops)],
                series: Vec::new(),
            },
            secs: 0.0,
        }
    }

    #[test]
    fn a_missed_ratio_never_prints_as_the_target() {
        assert_eq!(fmt_target_ratio(1.2994, 1.3), "1.299×");
        assert_eq!(fmt_target_ratio(1.29993, 1.3), "1.2999×");
        assert_eq!(fmt_target_ratio(1.2, 1.3), "1.20×");
        assert_eq!(fmt_target_ratio(1.3004, 1.3), "1.30×");
    }

    #[test]
    fn ratios_pair_each_repetition_with_the_same_repetition_of_the_reference() {
        // Repetition 1 ran during a host slowdown that hit both libraries, and repetition 3 has
        // no reference figure: the paired ratios are all 1.2, the ratio of the medians 9 / 10.
        let samples = vec![
            sample("kovan", 0, 12.0),
            sample(REFERENCE, 0, 10.0),
            sample("kovan", 1, 3.0),
            sample(REFERENCE, 1, 2.5),
            sample("kovan", 2, 24.0),
            sample(REFERENCE, 2, 20.0),
            sample("kovan", 3, 6.0),
        ];
        let run = Run {
            cfg: Config::new(true),
            threads: vec![2],
            libs: Vec::new(),
            workloads: vec![Workload::Queue],
            samples,
            leftovers: Vec::new(),
            started: String::new(),
            wall_secs: 0.0,
            scaling: (2, 2.0),
        };
        let r = run
            .ratio(Workload::Queue, "kovan", REFERENCE, 2, "mops")
            .unwrap();
        assert!((r - 1.2).abs() < 1e-12, "paired ratio {r}");
        assert_eq!(
            run.ratio(Workload::Queue, "kovan", "seize", 2, "mops"),
            None
        );
    }
}
