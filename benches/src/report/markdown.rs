//! The markdown report.

use std::fmt::Write as _;

use super::sections::{KOVAN_USAGE, USAGE, sections};
use super::{REFERENCE, format};
use crate::driver::Run;
use crate::workloads::Workload;

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
    let _ = writeln!(md, "| allocator | {} |", crate::sysinfo::allocator());
    let _ = writeln!(md, "| profile | release |\n");

    let _ = writeln!(md, "## Libraries\n");
    let _ = writeln!(md, "| name | version | how it is used |\n|---|---|---|");
    for l in &run.libs {
        let how = if l.kovan_like {
            KOVAN_USAGE
        } else {
            USAGE
                .iter()
                .find(|(name, _)| *name == l.name)
                .map_or("", |(_, how)| how)
        };
        let _ = writeln!(md, "| {} | {} | {how} |", l.name, l.version);
    }
    let _ = writeln!(
        md,
        "\nSettings: {} repetitions per measurement (libraries interleaved inside each \
         repetition), {} ms timed region per throughput measurement ({} ms for the set \
         workloads), thread counts {:?}, \
         {} nodes in the stalled/idle-reader runs, {} churn threads ({} at a time, {} retires \
         each). Cells read `median (min–max) · ratio to {REFERENCE}`, the ratio being the median over \
         the repetitions of this library's figure divided by {REFERENCE}'s in the same \
         repetition.\n",
        cfg.reps,
        cfg.duration.as_millis(),
        cfg.set_duration.as_millis(),
        run.threads,
        format::count(cfg.stalled_nodes as f64),
        cfg.churn_threads,
        cfg.churn_wave,
        cfg.churn_retires,
    );

    for sec in sections(cfg) {
        if !run.workloads.contains(&sec.w) {
            continue;
        }
        let _ = writeln!(md, "## {}\n\n{}\n", sec.title, sec.what);
        if let Some(table) = super::extra::table(run, sec.w) {
            md.push_str(&table);
        } else if sec.w.scaled() {
            let ts = run.threads_of(sec.w);
            let _ = write!(md, "| library |");
            for t in &ts {
                let _ = write!(md, " {} |", format::threads(*t));
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
            if matches!(sec.w, Workload::Set(..)) {
                md.push_str(&unfreed_table(run, sec.w, &ts));
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
            md.push_str(&peak_stats(run, sec.w));
        }
        if let Some(chart) = &sec.chart {
            let _ = writeln!(md, "\n![{}]({})", sec.title, chart.file_name());
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
        let _ = writeln!(md, "| {lib} | {} |", format::count(*n as f64));
    }
    md.push('\n');

    md.push_str(&super::targets::markdown(run));
    if let Some(notes) = notes {
        let _ = writeln!(md, "## Notes\n\n{}", notes.trim());
    }
    md
}

/// For each library with statistics of its own (kovan), its figures at the highest sample of
/// the memory monitor over the repetitions of `w`; empty when there are none.
fn peak_stats(run: &Run, w: Workload) -> String {
    let mut out = String::new();
    for l in &run.libs {
        let peak = run
            .samples
            .iter()
            .filter(|s| s.workload == w && s.lib == l.name)
            .filter_map(|s| s.outcome.peak_stats.map(|p| (s.rep, p)))
            .max_by_key(|(_, p)| p.unfreed);
        let Some((rep, p)) = peak else { continue };
        let _ = writeln!(
            out,
            "\n{} at its peak (rep {}, {:.1} ms after the writers started, {} unfreed by the live \
             count; {} retired and {} freed since the writers started), its domain's `Stats`: \
             `{}`",
            l.name,
            rep + 1,
            p.ms,
            format::count(p.unfreed as f64),
            format::count((p.stats.retired - p.before.retired) as f64),
            format::count((p.stats.freed - p.before.freed) as f64),
            p.stats
        );
    }
    out
}

/// The unfreed-nodes table of a set workload: `peak / average`, medians over the repetitions.
fn unfreed_table(run: &Run, w: Workload, ts: &[usize]) -> String {
    let mut out = String::from("\n| unfreed nodes, peak / average |");
    for t in ts {
        let _ = write!(out, " {} |", format::threads(*t));
    }
    out.push_str("\n|---|");
    for _ in ts {
        out.push_str("---|");
    }
    out.push('\n');
    for l in &run.libs {
        let _ = write!(out, "| {} |", l.name);
        for &t in ts {
            let median = |metric| run.stat(w, l.name, t, metric).map(|s| s.median);
            match (median("peak_unfreed"), median("avg_unfreed")) {
                (Some(peak), Some(avg)) => {
                    let _ = write!(out, " {} / {} |", format::count(peak), format::count(avg));
                }
                _ => out.push_str(" n/a |"),
            }
        }
        out.push('\n');
    }
    out
}

/// `median (min–max) · ratio×` for one cell.
pub(super) fn cell(run: &Run, w: Workload, lib: &str, threads: usize, metric: &str) -> String {
    let Some(s) = run.stat(w, lib, threads, metric) else {
        return "n/a".to_string();
    };
    let mut out = format!(
        "{} ({}–{})",
        format::value(metric, s.median),
        format::value(metric, s.min),
        format::value(metric, s.max)
    );
    if let Some(r) = run.stat(w, REFERENCE, threads, metric) {
        if r.median > 0.0 {
            let ratio = run
                .ratio(w, lib, REFERENCE, threads, metric)
                .unwrap_or(s.median / r.median);
            let _ = write!(out, " · {}", format::ratio(ratio));
        } else if s.median == 0.0 {
            out.push_str(" · =");
        }
    }
    out
}
