//! Per-operation latency: the distribution of single operations, not their average.
//!
//! Throughput hides how reclamation work is spread out: a scheme that frees a whole batch inside
//! one operation has the same mean cost as one that spreads the frees over many operations, but
//! its slowest operations are far slower. These workloads time every operation on its own and
//! report p50 / p99 / p99.9 / max.
//!
//! Fair terms, on top of [`crate::workloads`]': every operation is timed the same way for every
//! library, with one [`Instant::now`] before and one after it, and recorded into the thread's own
//! [`Histogram`] outside the timed pair (no shared cache line, no allocation: the histograms are
//! sized before the start barrier). The histograms are merged after the workers are joined. The
//! clock reads themselves cost something; each worker measures that cost before the start barrier
//! by timing empty operations, and the report prints it beside the figures (it is included in
//! every figure, equally for every library).

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::ds::{HashMap, Treiber};
use crate::smr::{LiveCounter, Smr};
use crate::workloads::{Config, Mix, Outcome, Rng, Structure, prefill, set_op};

/// Thread counts of the latency workloads, whatever `--threads` says: one thread shows the
/// reclamation work an operation does itself, two add contention and cross-thread frees, and
/// more would measure preemption of the 2-core machine rather than the libraries.
pub const THREADS: [usize; 2] = [1, 2];

/// The largest latency recorded as itself; longer operations (a thread descheduled for that
/// long) are recorded as this, so one pathological value cannot fail a run.
const HIGHEST_NS: u64 = 10_000_000_000;

/// Significant decimal digits kept: every recorded value is within 0.1% of the measured one.
const SIGNIFICANT_DIGITS: u8 = 3;

/// Empty operations timed per worker to measure the clock-read overhead.
const OVERHEAD_SAMPLES: usize = 100_000;

/// Percentiles reported, as (metric, label, quantile).
pub const PERCENTILES: [(&str, &str, f64); 3] = [
    ("p50_ns", "p50", 0.5),
    ("p99_ns", "p99", 0.99),
    (P999, "p99.9", 0.999),
];

/// The 99.9th percentile, which the project's latency target is about.
pub const P999: &str = "p999_ns";

/// The slowest operation of a measurement.
pub const MAX: &str = "max_ns";

/// Median of the clock-read overhead (two `Instant::now` around nothing), all workers together.
pub const OVERHEAD_P50: &str = "overhead_p50_ns";

/// 99th percentile of the clock-read overhead.
pub const OVERHEAD_P99: &str = "overhead_p99_ns";

/// A histogram that covers 1 ns to [`HIGHEST_NS`] without resizing while it records.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_NS, SIGNIFICANT_DIGITS)
        .expect("1 ns to HIGHEST_NS at 3 significant digits are valid bounds")
}

/// A duration in whole nanoseconds.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Run `threads` workers doing `op` one at a time for about `cfg.duration`, each operation timed
/// on its own; `op` gets the worker's state and the index of the operation in the worker.
///
/// Workers create their per-thread state, their generator and their histograms, and measure the
/// timing overhead, before the start barrier. The stop flag is checked between two operations,
/// outside the timed pair.
fn record<S, F>(smr: &S, threads: usize, cfg: &Config, op: F) -> Outcome
where
    S: Smr,
    F: Fn(&mut S::Local, &mut Rng, u64) + Sync,
{
    let start = Barrier::new(threads + 1);
    let stop = AtomicBool::new(false);
    let (mut ops, mut overhead) = (histogram(), histogram());
    thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (start, stop, op) = (&start, &stop, &op);
                s.spawn(move || {
                    let mut local = smr.local();
                    let mut rng = Rng::new(t as u64);
                    let (mut ops, mut overhead) = (histogram(), histogram());
                    for _ in 0..OVERHEAD_SAMPLES {
                        let t0 = Instant::now();
                        let t1 = Instant::now();
                        overhead.saturating_record(nanos(t1 - t0));
                    }
                    start.wait();
                    let mut i = 0;
                    // Relaxed: the flag only ends the loop; the results travel through `join`.
                    while !stop.load(Ordering::Relaxed) {
                        let t0 = Instant::now();
                        op(&mut local, &mut rng, i);
                        let t1 = Instant::now();
                        ops.saturating_record(nanos(t1 - t0));
                        i += 1;
                    }
                    (ops, overhead)
                })
            })
            .collect();
        start.wait();
        thread::sleep(cfg.duration);
        // Relaxed: see the load.
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            let (o, h) = w.join().expect("latency worker panicked");
            ops.add(&o).expect("histograms with the same bounds merge");
            overhead
                .add(&h)
                .expect("histograms with the same bounds merge");
        }
    });
    let mut metrics: Vec<(&'static str, f64)> = PERCENTILES
        .iter()
        .map(|&(name, _, q)| (name, ops.value_at_quantile(q) as f64))
        .collect();
    metrics.extend([
        (MAX, ops.max() as f64),
        ("ops", ops.len() as f64),
        (OVERHEAD_P50, overhead.value_at_quantile(0.5) as f64),
        (OVERHEAD_P99, overhead.value_at_quantile(0.99) as f64),
    ]);
    Outcome {
        metrics,
        ..Outcome::default()
    }
}

/// Treiber stack; an operation is one push or one pop, alternately, so a worker's pop follows
/// its own push and the stack does not run empty.
pub fn treiber<S: Smr>(threads: usize, cfg: &Config) -> Outcome {
    let counter = LiveCounter::new(S::NAME);
    let smr = S::new();
    let stack = Treiber::new(&smr, counter);
    let outcome = record(&smr, threads, cfg, |local, rng, i| {
        if i.is_multiple_of(2) {
            stack.push(local, rng.bits());
        } else {
            std::hint::black_box(stack.pop(local));
        }
    });
    drop(stack);
    outcome
}

/// The hash map of the `map-90-10` set workload ([`Structure::Map`]: same buckets, same key
/// range, prefilled with the same random half); an operation is one of its [`Mix::Read90`] mix
/// (90% get, 5% insert, 5% remove), through the same [`set_op`].
pub fn map<S: Smr>(threads: usize, cfg: &Config) -> Outcome {
    let counter = LiveCounter::new(S::NAME);
    let smr = S::new();
    let m = HashMap::new(&smr, counter, cfg.map_bits);
    let keys = Structure::Map.keys(cfg);
    prefill(&smr, &m, keys);
    let get_pct = Mix::Read90.get_pct();
    let outcome = record(&smr, threads, cfg, |local, rng, _| {
        std::hint::black_box(set_op(&m, local, rng, keys, get_pct));
    });
    drop(m);
    outcome
}
