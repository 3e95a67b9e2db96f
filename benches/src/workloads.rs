//! The workloads, each written once over [`Smr`].
//!
//! Fair terms, for every library alike: worker threads are spawned and set up (per-thread state,
//! random generator) *before* the timed region; a barrier starts them; the timed region is measured
//! with `Instant` between that barrier and the barrier the workers reach after seeing the stop
//! flag. Every operation pins once. Every structure uses the same [`Node`] and the same allocation
//! pattern.

use std::hint::black_box;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicIsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use kovan::Stats;

use crate::ds::{HashMap, List, MsQueue, Set, SkipList, Treiber};
use crate::smr::{LiveCounter, Node, Padded, SHARDS, Smr, shard};

/// The workloads, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Workload {
    /// Pin and unpin, nothing else.
    Pin,
    /// 95% protected load of one shared pointer, 5% swap + retire.
    ReadMostly,
    /// Treiber stack: each iteration pushes then pops.
    Treiber,
    /// Michael–Scott queue: each iteration enqueues then dequeues.
    Queue,
    /// A set structure under an operation mix, keys uniform in its key range.
    Set(Structure, Mix),
    /// Read-mostly with 16 threads on the machine's cores.
    Oversub,
    /// One reader stalled inside a critical section while two writers retire N nodes.
    Stalled,
    /// One reader that pinned once and now sleeps outside any critical section.
    Idle,
    /// 64 short-lived threads retiring nodes.
    Churn,
    /// Latency of single Treiber pushes and pops ([`crate::latency`]).
    LatTreiber,
    /// Latency of single hash-map operations, 90% get, 5% insert, 5% remove, as
    /// `map-90-10` ([`crate::latency`]).
    LatMap,
    /// Treiber stack beside many registered idle threads ([`crate::idle`]). Last: libraries
    /// whose thread registry only grows keep scanning those slots in every later measurement of
    /// the same process, so it runs in a child process and after everything else.
    IdleThreads,
}

/// The set structures of the set workloads (setbench's and smr-benchmark's shapes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Structure {
    /// Hash map of Harris–Michael bucket lists, [`Config::map_keys`] keys.
    Map,
    /// One Harris–Michael list of 1,000 keys: a search visits about 250 nodes.
    List1k,
    /// One Harris–Michael list of 10,000 keys: a search visits about 2,500 nodes.
    List10k,
    /// Skip list of [`Config::skip_keys`] keys.
    SkipList,
}

impl Structure {
    /// In report order.
    pub const ALL: [Structure; 4] = [
        Structure::Map,
        Structure::List1k,
        Structure::List10k,
        Structure::SkipList,
    ];

    /// The key range of this structure in `cfg` (prefilled with a random half of it).
    pub fn keys(self, cfg: &Config) -> u64 {
        match self {
            Structure::Map => cfg.map_keys,
            Structure::List1k => 1_000,
            Structure::List10k => 10_000,
            Structure::SkipList => cfg.skip_keys,
        }
    }
}

/// The operation mixes of setbench: gets, and inserts and removes in equal shares (so the
/// structure stays about half full).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mix {
    /// 100% get.
    ReadOnly,
    /// 90% get, 5% insert, 5% remove.
    Read90,
    /// 50% get, 25% insert, 25% remove.
    Half,
    /// 50% insert, 50% remove.
    WriteOnly,
}

impl Mix {
    /// In report order.
    pub const ALL: [Mix; 4] = [Mix::ReadOnly, Mix::Read90, Mix::Half, Mix::WriteOnly];

    /// Percentage of gets; the rest is split evenly between inserts and removes.
    pub fn get_pct(self) -> u64 {
        match self {
            Mix::ReadOnly => 100,
            Mix::Read90 => 90,
            Mix::Half => 50,
            Mix::WriteOnly => 0,
        }
    }
}

/// `--workloads` keys of the set workloads, by [`Structure`] then [`Mix`] (in `ALL` order).
const SET_KEYS: [[&str; 4]; 4] = [
    ["map-read-only", "map-90-10", "map-50-50", "map-write-only"],
    [
        "list-1k-read-only",
        "list-1k-90-10",
        "list-1k-50-50",
        "list-1k-write-only",
    ],
    [
        "list-10k-read-only",
        "list-10k-90-10",
        "list-10k-50-50",
        "list-10k-write-only",
    ],
    [
        "skiplist-read-only",
        "skiplist-90-10",
        "skiplist-50-50",
        "skiplist-write-only",
    ],
];

impl Workload {
    /// Every workload, in report order.
    pub const ALL: [Workload; 27] = [
        Workload::Pin,
        Workload::ReadMostly,
        Workload::Treiber,
        Workload::Queue,
        Workload::Set(Structure::Map, Mix::ReadOnly),
        Workload::Set(Structure::Map, Mix::Read90),
        Workload::Set(Structure::Map, Mix::Half),
        Workload::Set(Structure::Map, Mix::WriteOnly),
        Workload::Set(Structure::List1k, Mix::ReadOnly),
        Workload::Set(Structure::List1k, Mix::Read90),
        Workload::Set(Structure::List1k, Mix::Half),
        Workload::Set(Structure::List1k, Mix::WriteOnly),
        Workload::Set(Structure::List10k, Mix::ReadOnly),
        Workload::Set(Structure::List10k, Mix::Read90),
        Workload::Set(Structure::List10k, Mix::Half),
        Workload::Set(Structure::List10k, Mix::WriteOnly),
        Workload::Set(Structure::SkipList, Mix::ReadOnly),
        Workload::Set(Structure::SkipList, Mix::Read90),
        Workload::Set(Structure::SkipList, Mix::Half),
        Workload::Set(Structure::SkipList, Mix::WriteOnly),
        Workload::Oversub,
        Workload::Stalled,
        Workload::Idle,
        Workload::Churn,
        Workload::LatTreiber,
        Workload::LatMap,
        Workload::IdleThreads,
    ];

    /// Identifier used in JSON, chart file names and `--workloads`.
    pub fn key(self) -> &'static str {
        match self {
            Workload::Pin => "pin",
            Workload::ReadMostly => "read-mostly",
            Workload::Treiber => "treiber",
            Workload::Queue => "queue",
            Workload::Set(s, m) => SET_KEYS[s as usize][m as usize],
            Workload::Oversub => "oversubscription",
            Workload::Stalled => "stalled-reader",
            Workload::Idle => "idle-reader",
            Workload::Churn => "thread-churn",
            Workload::LatTreiber => "latency-treiber",
            Workload::LatMap => "latency-map-90-10",
            Workload::IdleThreads => "idle-threads",
        }
    }

    /// Whether the workload is run at every thread count of `--threads`.
    pub fn scaled(self) -> bool {
        matches!(
            self,
            Workload::Pin
                | Workload::ReadMostly
                | Workload::Treiber
                | Workload::Queue
                | Workload::Set(..)
        )
    }
}

/// `--workloads` of `compare` takes the keys.
impl clap::ValueEnum for Workload {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.key()))
    }
}

/// Sizes and durations of a run.
#[derive(Clone, Debug)]
pub struct Config {
    /// `--quick`.
    pub quick: bool,
    /// Repetitions of every measurement.
    pub reps: usize,
    /// Length of the timed region of throughput workloads.
    pub duration: Duration,
    /// Length of the timed region of the set workloads: shorter, since there are sixteen of
    /// them (four structures × four mixes) and a measurement also pays for its prefill. At 250 ms
    /// a measurement takes 0.31 s on average on two cores, so the set workloads take about ten
    /// minutes of a full run (about eight more than the two hash-map workloads before them).
    pub set_duration: Duration,
    /// Nodes retired by the two writers in the stalled- and idle-reader runs.
    pub stalled_nodes: u64,
    /// Threads in the oversubscription run.
    pub oversub_threads: usize,
    /// Short-lived threads in the churn run.
    pub churn_threads: usize,
    /// How many of them run at once.
    pub churn_wave: usize,
    /// Retires per churn thread.
    pub churn_retires: u64,
    /// Key range of the hash map (prefilled with half of it).
    pub map_keys: u64,
    /// log2 of the number of buckets.
    pub map_bits: u32,
    /// Key range of the skip list (prefilled with half of it).
    pub skip_keys: u64,
    /// Interval of the monitor thread that samples unfreed nodes.
    pub sample_interval: Duration,
}

impl Config {
    /// The full or the quick configuration.
    pub fn new(quick: bool) -> Self {
        Config {
            quick,
            reps: if quick { 3 } else { 5 },
            duration: Duration::from_millis(if quick { 150 } else { 400 }),
            set_duration: Duration::from_millis(if quick { 30 } else { 250 }),
            stalled_nodes: if quick { 200_000 } else { 2_000_000 },
            oversub_threads: 16,
            churn_threads: 64,
            churn_wave: 8,
            churn_retires: if quick { 500 } else { 2_000 },
            map_keys: 100_000,
            map_bits: 15,
            skip_keys: 100_000,
            sample_interval: Duration::from_micros(500),
        }
    }
}

/// What one measurement produced.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Named figures (see the report for their meaning).
    pub metrics: Vec<(&'static str, f64)>,
    /// Unfreed nodes over time (milliseconds since the writers started, nodes).
    pub series: Vec<(f64, f64)>,
    /// The library's own statistics at the monitor's highest sample (stalled- and idle-reader
    /// runs of a library with [`Smr::stats`]).
    pub peak_stats: Option<PeakStats>,
}

/// A library's own statistics ([`Smr::stats`]) at the monitor's highest sample of unfreed nodes.
#[derive(Clone, Copy, Debug)]
pub struct PeakStats {
    /// Milliseconds since the writers started.
    pub ms: f64,
    /// Unfreed nodes by the live count at that sample.
    pub unfreed: i64,
    /// The statistics at that sample.
    pub stats: Stats,
    /// The statistics before the writers started: the counters are the domain's, which every
    /// measurement of the process shares.
    pub before: Stats,
}

impl Outcome {
    /// The figure named `key`.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }
}

/// Run one measurement of `workload` for library `S`.
pub fn run<S: Smr>(workload: Workload, threads: usize, cfg: &Config) -> Outcome {
    match workload {
        Workload::Pin => pin::<S>(threads, cfg),
        Workload::ReadMostly => read_mostly::<S>(threads, cfg, false),
        Workload::Treiber => treiber::<S>(threads, cfg),
        Workload::Queue => queue::<S>(threads, cfg),
        Workload::Set(s, m) => set::<S>(s, m, threads, cfg),
        Workload::Oversub => read_mostly::<S>(cfg.oversub_threads, cfg, true),
        Workload::Stalled => reader_vs_writers::<S>(cfg, true),
        Workload::Idle => reader_vs_writers::<S>(cfg, false),
        Workload::Churn => churn::<S>(cfg),
        Workload::LatTreiber => crate::latency::treiber::<S>(threads, cfg),
        Workload::LatMap => crate::latency::map::<S>(threads, cfg),
        Workload::IdleThreads => crate::idle::run::<S>(cfg),
    }
}

/// xorshift64*: cheap, per thread, identical for every library.
pub struct Rng(u64);

impl Rng {
    /// A generator for thread `seed`.
    pub fn new(seed: u64) -> Self {
        Rng((seed + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// The next 32 random bits.
    #[inline]
    pub fn bits(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32
    }
    /// A value below `n`.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        self.bits() % n
    }
}

/// Nodes counted live minus the `reachable` ones that the structure still links: retired but not
/// yet freed (plus at most one node per writer that is allocated and about to be published).
fn unfreed(counter: &LiveCounter, reachable: i64) -> i64 {
    counter.live() - reachable
}

/// Cross-checks the live count with the library's own statistics, where it has them (kovan).
/// Call with every thread of the measurement joined (or outside any operation) and after a
/// flush: every figure is then exact. The domain is shared by every measurement of the library
/// so far, so its unfreed nodes are those still counted live by any of them (the structures of
/// the others are dropped: their live nodes are retired ones) less the `reachable` nodes this
/// one still links.
fn check_against_stats<S: Smr>(smr: &S, reachable: i64) {
    if let Some(stats) = smr.stats() {
        let counted = crate::smr::leftovers(S::NAME) - reachable;
        assert_eq!(
            i64::try_from(stats.unfreed()).ok(),
            Some(counted),
            "{}: its statistics ({stats}) disagree with the live count of {counted} unfreed nodes",
            S::NAME
        );
    }
}

/// Operations between two checks of the stop flag.
const BATCH: u64 = 32;

/// Run `threads` workers doing `op` for about `duration`, optionally with a sampling thread that
/// calls `sampler` every `cfg.sample_interval` from the start barrier until the stop flag.
///
/// Workers create their per-thread state (`S::local`, generator) before the start barrier. Each
/// worker reads the clock right after the barrier and again when it sees the stop flag; the timed
/// region runs from the earliest start to the latest stop, so a late wake-up of the main thread
/// (likely with more threads than cores) cannot shrink it. `op` returns how many operations it
/// performed. Returns total operations per second, in millions.
pub(crate) fn throughput<S, F>(
    smr: &S,
    threads: usize,
    cfg: &Config,
    duration: Duration,
    sampler: Option<&(dyn Fn() + Sync)>,
    op: F,
) -> f64
where
    S: Smr,
    F: Fn(&mut S::Local, &mut Rng) -> u64 + Sync,
{
    let start = Barrier::new(threads + 1 + usize::from(sampler.is_some()));
    let end = Barrier::new(threads + 1);
    let stop = AtomicBool::new(false);
    let mut runs = Vec::with_capacity(threads);
    thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (start, end, stop, op) = (&start, &end, &stop, &op);
                s.spawn(move || {
                    let mut local = smr.local();
                    let mut rng = Rng::new(t as u64);
                    let mut ops = 0u64;
                    start.wait();
                    let t0 = Instant::now();
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..BATCH {
                            ops += op(&mut local, &mut rng);
                        }
                    }
                    let t1 = Instant::now();
                    end.wait();
                    (ops, t0, t1)
                })
            })
            .collect();
        let monitor = sampler.map(|f| {
            let (start, stop) = (&start, &stop);
            s.spawn(move || {
                start.wait();
                while !stop.load(Ordering::Relaxed) {
                    f();
                    thread::sleep(cfg.sample_interval);
                }
            })
        });
        start.wait();
        thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        end.wait();
        runs.extend(handles.into_iter().map(|h| h.join().unwrap()));
        if let Some(m) = monitor {
            m.join().unwrap();
        }
    });
    let total: u64 = runs.iter().map(|r| r.0).sum();
    let first = runs.iter().map(|r| r.1).min().expect("at least one thread");
    let last = runs.iter().map(|r| r.2).max().expect("at least one thread");
    total as f64 / (last - first).as_secs_f64() / 1e6
}

fn pin<S: Smr>(threads: usize, cfg: &Config) -> Outcome {
    let smr = S::new();
    let mops = throughput(&smr, threads, cfg, cfg.duration, None, |local, _| {
        let g = smr.pin(local);
        black_box(&g);
        drop(g);
        1
    });
    Outcome {
        metrics: vec![("mops", mops)],
        ..Outcome::default()
    }
}

/// 95% reads / 5% writes on one shared pointer. With `sample`, also the peak of unfreed nodes
/// (oversubscription run).
fn read_mostly<S: Smr>(threads: usize, cfg: &Config, sample: bool) -> Outcome {
    let counter = LiveCounter::new(S::NAME);
    let smr = S::new();
    let shared = S::link(Node::alloc(counter, 0, 0));
    let peak = AtomicI64::new(0);
    let sampler = || {
        peak.fetch_max(unfreed(counter, 1), Ordering::Relaxed);
    };
    let mops = throughput(
        &smr,
        threads,
        cfg,
        cfg.duration,
        sample.then_some(&sampler as &(dyn Fn() + Sync)),
        |local, rng| {
            let r = rng.bits();
            if sample && (r >> 16) % 1024 == 0 {
                // On average every 1024 operations of each thread.
                sampler();
            }
            if r % 100 < 5 {
                let n = Node::alloc(counter, r, r);
                let mut g = smr.pin(local);
                let old = S::swap(&mut g, &shared, n);
                // SAFETY: the swap unlinked `old`; only this thread retires it.
                unsafe { smr.retire(&mut g, old) };
            } else {
                let mut g = smr.pin(local);
                let p = S::protect(&mut g, 0, &shared);
                // SAFETY: `p` is protected by the guard.
                black_box(unsafe { (*p).value });
            }
            1
        },
    );
    let mut metrics = vec![("mops", mops)];
    if sample {
        sampler();
        metrics.push(("peak_unfreed", peak.load(Ordering::Relaxed) as f64));
    }
    free_shared(&smr, &shared);
    Outcome {
        metrics,
        ..Outcome::default()
    }
}

/// Free the node a single-pointer workload still links (exclusive access at teardown).
fn free_shared<S: Smr>(smr: &S, link: &S::Link<()>) {
    let mut local = smr.local();
    let mut g = smr.pin(&mut local);
    let p = S::swap(&mut g, link, ptr::null_mut());
    drop(g);
    if !p.is_null() {
        // SAFETY: every worker is joined; the node is unlinked and was never retired.
        unsafe { Node::free(p) };
    }
}

fn treiber<S: Smr>(threads: usize, cfg: &Config) -> Outcome {
    let counter = LiveCounter::new(S::NAME);
    let smr = S::new();
    let stack = Treiber::new(&smr, counter);
    let mops = throughput(&smr, threads, cfg, cfg.duration, None, |local, rng| {
        stack.push(local, rng.bits());
        black_box(stack.pop(local));
        2
    });
    drop(stack);
    Outcome {
        metrics: vec![("mops", mops)],
        ..Outcome::default()
    }
}

fn queue<S: Smr>(threads: usize, cfg: &Config) -> Outcome {
    let counter = LiveCounter::new(S::NAME);
    let smr = S::new();
    let q = MsQueue::new(&smr, counter);
    let mops = throughput(&smr, threads, cfg, cfg.duration, None, |local, rng| {
        q.enqueue(local, rng.bits());
        black_box(q.dequeue(local));
        2
    });
    drop(q);
    Outcome {
        metrics: vec![("mops", mops)],
        ..Outcome::default()
    }
}

/// Keys in a set while its workload runs: the prefill plus the inserts less the removes that
/// succeeded, sharded per thread like [`LiveCounter`] so that counting adds no contended line.
struct Population {
    prefill: i64,
    shards: [Padded; SHARDS],
}

impl Population {
    fn new(prefill: u64) -> Self {
        Population {
            prefill: prefill as i64,
            shards: std::array::from_fn(|_| Padded(AtomicIsize::new(0))),
        }
    }

    #[inline]
    fn add(&self, delta: isize) {
        // Relaxed: only summed by the sampler, which tolerates in-flight operations (see `set`).
        self.shards[shard()].0.fetch_add(delta, Ordering::Relaxed);
    }

    fn get(&self) -> i64 {
        self.prefill
            + self
                .shards
                .iter()
                // Relaxed: a sample, as above.
                .map(|s| s.0.load(Ordering::Relaxed) as i64)
                .sum::<i64>()
    }
}

/// A set workload: `s` over its key range, prefilled with a random half before the timed region,
/// then `m`'s mix with keys uniform in the range, for `cfg.set_duration`.
///
/// Unfreed nodes = nodes counted live − keys in the set ([`Population`]): removed nodes not yet
/// freed (retired, or marked and still to be unlinked), plus at most one node per worker that is
/// allocated and not yet linked, or linked and not yet counted. The monitor thread samples it
/// every `cfg.sample_interval` during the timed region, and once more after the workers are
/// joined (exact then); `peak_unfreed` is the highest sample, `avg_unfreed` their mean.
fn set<S: Smr>(s: Structure, m: Mix, threads: usize, cfg: &Config) -> Outcome {
    let counter = LiveCounter::new(S::NAME);
    let smr = S::new();
    match s {
        Structure::Map => {
            let map = HashMap::new(&smr, counter, cfg.map_bits);
            run_set(&smr, &map, counter, s.keys(cfg), m, threads, cfg)
        }
        Structure::List1k | Structure::List10k => {
            let list = List::new(&smr, counter);
            run_set(&smr, &list, counter, s.keys(cfg), m, threads, cfg)
        }
        Structure::SkipList => {
            let skip = SkipList::new(&smr, counter);
            run_set(&smr, &skip, counter, s.keys(cfg), m, threads, cfg)
        }
    }
}

/// The body of [`set`] for one structure; `d` is dropped by the caller.
fn run_set<S: Smr, D: Set<S>>(
    smr: &S,
    d: &D,
    counter: &LiveCounter,
    keys: u64,
    m: Mix,
    threads: usize,
    cfg: &Config,
) -> Outcome {
    let population = Population::new(prefill(smr, d, keys));
    let get_pct = m.get_pct();
    let peak = AtomicI64::new(i64::MIN);
    let (sum, samples) = (AtomicI64::new(0), AtomicI64::new(0));
    // Relaxed: only the monitor thread (then the main thread, after joining it) updates these.
    let sampler = || {
        let u = counter.live() - population.get();
        peak.fetch_max(u, Ordering::Relaxed);
        sum.fetch_add(u, Ordering::Relaxed);
        samples.fetch_add(1, Ordering::Relaxed);
    };
    let mops = throughput(
        smr,
        threads,
        cfg,
        cfg.set_duration,
        Some(&sampler),
        |local, rng| {
            let delta = set_op(d, local, rng, keys, get_pct);
            if delta != 0 {
                population.add(delta);
            }
            1
        },
    );
    sampler();
    // Relaxed: the monitor is joined.
    let n = samples.load(Ordering::Relaxed);
    Outcome {
        metrics: vec![
            ("mops", mops),
            ("peak_unfreed", peak.load(Ordering::Relaxed) as f64),
            ("avg_unfreed", sum.load(Ordering::Relaxed) as f64 / n as f64),
        ],
        ..Outcome::default()
    }
}

/// One operation of a set workload over keys `0..keys`: `get_pct`% gets, the rest split evenly
/// between insert and remove (so the set stays about half full). Returns the change in the number
/// of keys present (+1 for an insert that inserted, -1 for a remove that removed, 0 otherwise).
/// Shared with the latency workload ([`crate::latency::map`]), so that both time the same mix.
#[inline]
pub(crate) fn set_op<S: Smr, D: Set<S>>(
    d: &D,
    local: &mut S::Local,
    rng: &mut Rng,
    keys: u64,
    get_pct: u64,
) -> isize {
    let r = rng.below(100);
    let k = rng.below(keys);
    if r < get_pct {
        black_box(d.get(local, k));
        0
    } else if (r - get_pct).is_multiple_of(2) {
        isize::from(d.insert(local, k, k))
    } else {
        -isize::from(d.remove(local, k))
    }
}

/// Insert a random half of `0..keys` (outside the timed region); returns how many.
pub fn prefill<S: Smr, D: Set<S>>(smr: &S, d: &D, keys: u64) -> u64 {
    let mut all: Vec<u64> = (0..keys).collect();
    let mut rng = Rng::new(0xF111);
    for i in (1..all.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        all.swap(i, j);
    }
    let mut local = smr.local();
    let half = &all[..all.len() / 2];
    for &k in half {
        d.insert(&mut local, k, k);
    }
    half.len() as u64
}

/// Key and payload of the node the reader holds; writers use keys ≥ 1.
const READER_VALUE: u64 = 0x5EED_F00D;

/// Stalled reader (`stalled`) or idle reader: one reader thread and two writers that swap and
/// retire `cfg.stalled_nodes` nodes in total on one shared pointer.
fn reader_vs_writers<S: Smr>(cfg: &Config, stalled: bool) -> Outcome {
    const WRITERS: u64 = 2;
    let counter = LiveCounter::new(S::NAME);
    let smr = S::new();
    let shared = S::link(Node::alloc(counter, 0, READER_VALUE));
    let peak = AtomicI64::new(0);
    let sample = || {
        let u = unfreed(counter, 1);
        peak.fetch_max(u, Ordering::Relaxed);
        u
    };
    let ready = Barrier::new(2);
    let start = Barrier::new(WRITERS as usize + 2);
    let writers_done = AtomicBool::new(false);
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let per_writer = cfg.stalled_nodes / WRITERS;
    let mut metrics = Vec::new();
    let (mut series, mut peak_stats) = (Vec::new(), None);
    thread::scope(|s| {
        let reader = s.spawn(|| {
            let release_rx = release_rx; // moved in: a `Receiver` is not `Sync`
            let mut local = smr.local();
            if stalled {
                let mut g = smr.pin(&mut local);
                let p = S::protect(&mut g, 0, &shared);
                // SAFETY: `p` is protected by `g`.
                let before = unsafe { ((*p).key, (*p).value) };
                ready.wait();
                // Blocked inside the critical section until released.
                let _ = release_rx.recv();
                // SAFETY: still protected: the node must not have been freed.
                let after = unsafe { ((*p).key, (*p).value) };
                drop(g);
                before == (0, READER_VALUE) && after == before
            } else {
                let mut g = smr.pin(&mut local);
                let p = S::protect(&mut g, 0, &shared);
                // SAFETY: `p` is protected by `g`.
                black_box(unsafe { (*p).value });
                drop(g);
                ready.wait();
                // Idle (registered, outside any critical section) until released.
                let _ = release_rx.recv();
                true
            }
        });
        ready.wait();
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (smr, shared, start, sample) = (&smr, &shared, &start, &sample);
                s.spawn(move || {
                    let mut local = smr.local();
                    start.wait();
                    let t0 = Instant::now();
                    for i in 0..per_writer {
                        let seq = 1 + w * per_writer + i;
                        let n = Node::alloc(counter, seq, seq);
                        let mut g = smr.pin(&mut local);
                        let old = S::swap(&mut g, shared, n);
                        // SAFETY: the swap unlinked `old`; only this thread retires it.
                        unsafe { smr.retire(&mut g, old) };
                        drop(g);
                        if i % 1024 == 0 {
                            sample();
                        }
                    }
                    (t0, Instant::now())
                })
            })
            .collect();
        let monitor = s.spawn(|| {
            let mut points = Vec::new();
            // Before the barrier: no writer has retired anything yet.
            let before = smr.stats();
            let mut at_peak: Option<PeakStats> = None;
            start.wait();
            let t0 = Instant::now();
            loop {
                let done = writers_done.load(Ordering::Acquire);
                let u = sample();
                let ms = t0.elapsed().as_secs_f64() * 1e3;
                points.push((ms, u as f64));
                if at_peak.is_none_or(|p| u > p.unfreed)
                    && let (Some(before), Some(stats)) = (before, smr.stats())
                {
                    at_peak = Some(PeakStats {
                        ms,
                        unfreed: u,
                        stats,
                        before,
                    });
                }
                if done {
                    break;
                }
                thread::sleep(cfg.sample_interval);
            }
            (points, at_peak)
        });
        start.wait();
        let spans: Vec<(Instant, Instant)> =
            writers.into_iter().map(|w| w.join().unwrap()).collect();
        let first = spans.iter().map(|s| s.0).min().expect("two writers");
        let last = spans.iter().map(|s| s.1).max().expect("two writers");
        let secs = (last - first).as_secs_f64();
        writers_done.store(true, Ordering::Release);
        (series, peak_stats) = monitor.join().unwrap();
        let mut main_local = smr.local();
        if stalled {
            metrics.push(("peak_unfreed", peak.load(Ordering::Relaxed) as f64));
            metrics.push(("end_unfreed", unfreed(counter, 1) as f64));
            release_tx.send(()).unwrap();
            let ok = reader.join().unwrap();
            metrics.push(("after_release", unfreed(counter, 1) as f64));
            smr.flush(&mut main_local);
            metrics.push(("after_flush", unfreed(counter, 1) as f64));
            metrics.push(("reader_ok", if ok { 1.0 } else { 0.0 }));
        } else {
            metrics.push(("peak_unfreed", peak.load(Ordering::Relaxed) as f64));
            metrics.push(("end_unfreed", unfreed(counter, 1) as f64));
            smr.flush(&mut main_local);
            metrics.push(("after_flush", unfreed(counter, 1) as f64));
            release_tx.send(()).unwrap();
            reader.join().unwrap();
        }
        check_against_stats(&smr, 1);
        metrics.push(("writer_mops", (per_writer * WRITERS) as f64 / secs / 1e6));
    });
    free_shared(&smr, &shared);
    Outcome {
        metrics,
        series,
        peak_stats,
    }
}

/// `cfg.churn_threads` short-lived threads, `cfg.churn_wave` at a time, each swapping and retiring
/// `cfg.churn_retires` nodes and exiting.
///
/// The threads are spawned and joined with `JoinHandle::join`, which returns only after the
/// thread's thread-local destructors ran (where the libraries hand over a dying thread's
/// garbage); `thread::scope` returns when the closures finish, before that teardown.
fn churn<S: Smr>(cfg: &Config) -> Outcome {
    let counter = LiveCounter::new(S::NAME);
    let state = Arc::new((S::new(), S::link(Node::alloc(counter, 0, 0))));
    let waves = cfg.churn_threads.div_ceil(cfg.churn_wave);
    let retires = cfg.churn_retires;
    for wave in 0..waves {
        let handles: Vec<_> = (0..cfg.churn_wave)
            .map(|t| {
                let state = Arc::clone(&state);
                let first = ((wave * cfg.churn_wave + t) as u64) << 32;
                thread::spawn(move || {
                    let (smr, shared) = &*state;
                    let mut local = smr.local();
                    for i in 0..retires {
                        let n = Node::alloc(counter, first | i, first | i);
                        let mut g = smr.pin(&mut local);
                        let old = S::swap(&mut g, shared, n);
                        // SAFETY: the swap unlinked `old`; only this thread retires it.
                        unsafe { smr.retire(&mut g, old) };
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("churn thread panicked");
        }
    }
    let (smr, shared) = &*state;
    let after_join = unfreed(counter, 1);
    let mut local = smr.local();
    smr.flush(&mut local);
    let after_flush = unfreed(counter, 1);
    check_against_stats(smr, 1);
    drop(local);
    free_shared(smr, shared);
    Outcome {
        metrics: vec![
            ("after_join", after_join as f64),
            ("after_flush", after_flush as f64),
        ],
        ..Outcome::default()
    }
}
