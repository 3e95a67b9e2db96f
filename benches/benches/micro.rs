//! Criterion micro-benchmarks: the per-call cost of the reclamation primitives, kovan against the
//! schemes a user would otherwise pick. Every library is driven through its
//! [`Smr`](kovan_benches::smr::Smr) implementation in `kovan_benches::libs`, the one the
//! comparison (`compare`) uses, which calls the library's own documented API.
//!
//! Groups (results and method: `docs/benchmarks-micro.md`):
//!
//! - `pin_unpin`: enter and leave a critical section.
//! - `load_stable_era`: one protected load (and a read of the payload) under a guard pinned
//!   outside the timed loop, with nothing retiring anywhere; a plain `AtomicPtr` load (the leak
//!   baseline's) is the floor.
//! - `load_era_advancing`: pin + protected load + read + unpin per iteration, alone (`quiet`) and
//!   while a second thread, started before the measurement and stopped after it, retires fresh
//!   nodes as fast as it can (`retirer`), which keeps the era (epoch) moving.
//! - `retire_per_node`: allocate one node and retire it (default batching), with no guard where
//!   the API allows it ([`Smr::retire_unpinned`]).
//! - `retire_batch_64`, `retire_batch_1024`: retire a batch of nodes allocated outside the timed
//!   region, throughput in nodes (crossbeam-epoch twice: one pin per batch, one pin per node).
//! - `atom_load`: `kovan::Atom::load` (deref the guard) and `Atom::peek` against
//!   `arc_swap::ArcSwap::load` (deref the guard).
//! - `pin_owned`: create and drop a guard that owns its thread id (kovan `Domain::pin_owned` on a
//!   dedicated domain and `kovan::pin_owned` on the default one, seize `Collector::enter_owned`),
//!   with `kovan::pin` and seize `Collector::enter` for reference.
//! - `domain_pin`: `Domain::pin` on a dedicated domain (the thread-local handle cache) against
//!   `LocalHandle::pin` on a handle registered once, `kovan::pin` and `crossbeam_epoch::pin`.
//! - `defer`, `defer_batch_64`: `Guard::defer` of a closure that owns a fresh `Box<u64>`, kovan
//!   against crossbeam-epoch, one pin per closure or 64 closures per pin; every closure is
//!   counted when it runs, and the group asserts that all of them ran.
//!
//! Every node is the comparison's [`Node`] in one `Box`: 32 bytes, after the header a library
//! requires (kovan's `RetiredNode`, `#[repr(C)]`, header first), with no live-node counting.
//!
//! Run with `cargo bench -p kovan-benches --bench micro` (about 4.5 minutes on 2 cores).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main,
};
use kovan_benches::libs::{Crossbeam, Haphazard, Kovan, KovanOrig, Leak, Seize};
use kovan_benches::smr::{Node, Smr};

type Group<'a> = BenchmarkGroup<'a, WallTime>;

/// Per-group timing, chosen to keep the whole run under 5 minutes on 2 cores.
fn configure(group: &mut Group<'_>) {
    group
        .warm_up_time(Duration::from_millis(1000))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
}

/// Crossbeam-epoch collects at most 8 bags per flush: this many flushes free the backlog of
/// the pin-per-batch runs (up to about a million bags) before the next measurement.
const CROSSBEAM_FLUSHES: usize = 1 << 18;

/// Flushes `times` times so that one benchmark's garbage is not freed in the next one's timed
/// region.
fn drain<S: Smr>(smr: &S, local: &mut S::Local, times: usize) {
    let started = Instant::now();
    for _ in 0..times {
        smr.flush(local);
    }
    if times > 1 {
        eprintln!(
            "drained {} garbage in {:.2} s",
            S::NAME,
            started.elapsed().as_secs_f64()
        );
    }
}

/// One library's instance, the benchmark thread's state, and a link holding one node that is
/// never retired (freed on drop).
struct Slot<S: Smr> {
    smr: S,
    local: S::Local,
    link: S::Link<()>,
}

impl<S: Smr> Slot<S> {
    fn new() -> Self {
        let smr = S::new();
        let local = smr.local();
        let link = S::link(Node::alloc_uncounted(1, 1));
        Self { smr, local, link }
    }

    /// A protected load and a read of the node, under a guard pinned outside the timed loop.
    fn bench_stable_load(&mut self, group: &mut Group<'_>, id: &str) {
        let Self { smr, local, link } = self;
        group.bench_function(id, |b| {
            let mut guard = smr.pin(local);
            b.iter(|| {
                let p = S::protect(&mut guard, 0, black_box(&*link));
                // SAFETY: protected by `guard`; the node is never retired.
                black_box(unsafe { (*p).value })
            })
        });
    }

    /// Pin, protected load, read of the node and unpin, per iteration.
    fn bench_pinned_load(&mut self, group: &mut Group<'_>, id: &str) {
        let Self { smr, local, link } = self;
        group.bench_function(id, |b| {
            b.iter(|| {
                let mut guard = smr.pin(local);
                let p = S::protect(&mut guard, 0, black_box(&*link));
                // SAFETY: protected by `guard`; the node is never retired.
                let v = unsafe { (*p).value };
                drop(guard);
                black_box(v)
            })
        });
    }
}

impl<S: Smr> Drop for Slot<S> {
    fn drop(&mut self) {
        let p = S::load(&mut self.smr.pin(&mut self.local), &self.link);
        // SAFETY: Box-allocated, never retired, and no guard that could see it is left.
        unsafe { Node::free(p) };
        self.smr.flush(&mut self.local);
    }
}

// ------------------------------------------------------------------------------------ 1. pin

fn pin_unpin_of<S: Smr>(group: &mut Group<'_>) {
    let smr = S::new();
    let mut local = smr.local();
    group.bench_function(S::NAME, |b| {
        b.iter(|| {
            let guard = smr.pin(&mut local);
            black_box(&guard);
            drop(guard);
        })
    });
}

fn pin_unpin(c: &mut Criterion) {
    let mut group = c.benchmark_group("pin_unpin");
    configure(&mut group);
    pin_unpin_of::<Kovan>(&mut group);
    pin_unpin_of::<KovanOrig>(&mut group);
    pin_unpin_of::<Crossbeam>(&mut group);
    pin_unpin_of::<Seize>(&mut group);
    group.finish();
}

// ------------------------------------------------------------------------------------ 2. stable load

fn load_stable_era(c: &mut Criterion) {
    let mut group = c.benchmark_group("load_stable_era");
    configure(&mut group);
    Slot::<Leak>::new().bench_stable_load(&mut group, "plain_atomicptr");
    Slot::<Kovan>::new().bench_stable_load(&mut group, Kovan::NAME);
    Slot::<KovanOrig>::new().bench_stable_load(&mut group, KovanOrig::NAME);
    Slot::<Crossbeam>::new().bench_stable_load(&mut group, Crossbeam::NAME);
    Slot::<Seize>::new().bench_stable_load(&mut group, Seize::NAME);
    Slot::<Haphazard>::new().bench_stable_load(&mut group, Haphazard::NAME);
    group.finish();
}

// ------------------------------------------------------------------------------------ 3. advancing era

/// A background thread that retires fresh nodes in a loop until stopped.
struct Retirer {
    name: &'static str,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<u64>>,
    started: Instant,
}

impl Retirer {
    /// Spawns a thread that allocates and retires nodes of library `S`, and waits until it has
    /// retired its first one.
    fn spawn<S: Smr>() -> Self {
        let name = S::NAME;
        let stop = Arc::new(AtomicBool::new(false));
        let running = Arc::new(AtomicBool::new(false));
        let handle = {
            let stop = Arc::clone(&stop);
            let running = Arc::clone(&running);
            thread::Builder::new()
                .name(format!("retirer-{name}"))
                .spawn(move || {
                    let smr = S::new();
                    let mut local = smr.local();
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let p = Node::<S>::alloc_uncounted(n, n);
                        // SAFETY: Box-allocated, never published, retired once.
                        unsafe { smr.retire_unpinned(&mut local, p) };
                        n += 1;
                        if n == 1 {
                            running.store(true, Ordering::Release);
                        }
                    }
                    n
                })
                .expect("spawn the retirer thread")
        };
        while !running.load(Ordering::Acquire) {
            thread::yield_now();
        }
        Self {
            name,
            stop,
            handle: Some(handle),
            started: Instant::now(),
        }
    }

    /// Stops and joins the thread; reports how fast it retired.
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let n = self
            .handle
            .take()
            .map(|h| h.join().expect("retirer thread panicked"))
            .unwrap_or(0);
        let secs = self.started.elapsed().as_secs_f64();
        eprintln!(
            "retirer {}: {n} nodes retired in {secs:.1} s ({:.1} M/s)",
            self.name,
            n as f64 / secs / 1e6
        );
        n
    }
}

impl Drop for Retirer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn load_era_advancing(c: &mut Criterion) {
    let mut group = c.benchmark_group("load_era_advancing");
    configure(&mut group);

    let mut kovan = Slot::<Kovan>::new();
    let mut plain = Slot::<Leak>::new();
    kovan.bench_pinned_load(&mut group, "kovan/quiet");
    let era_before = kovan::default_domain().era();
    let retirer = Retirer::spawn::<Kovan>();
    kovan.bench_pinned_load(&mut group, "kovan/retirer");
    plain.bench_pinned_load(&mut group, "plain_atomicptr/retirer");
    let retired = retirer.stop();
    let eras = kovan::default_domain().era() - era_before;
    eprintln!(
        "kovan era advanced {eras} times during the retirer run ({} retires per advance)",
        retired / eras.max(1)
    );

    let mut crossbeam = Slot::<Crossbeam>::new();
    crossbeam.bench_pinned_load(&mut group, "crossbeam-epoch/quiet");
    let retirer = Retirer::spawn::<Crossbeam>();
    crossbeam.bench_pinned_load(&mut group, "crossbeam-epoch/retirer");
    retirer.stop();
    group.finish();
}

// ------------------------------------------------------------------------------------ 4. retire

/// Allocate one node and retire it, per iteration; then `flushes` flushes.
fn retire_one_of<S: Smr>(group: &mut Group<'_>, flushes: usize) {
    let smr = S::new();
    let mut local = smr.local();
    group.bench_function(S::NAME, |b| {
        b.iter(|| {
            let p = Node::<S>::alloc_uncounted(black_box(7), 7);
            // SAFETY: Box-allocated, never published, retired once.
            unsafe { smr.retire_unpinned(&mut local, p) };
        })
    });
    drain(&smr, &mut local, flushes);
}

fn retire_per_node(c: &mut Criterion) {
    let mut group = c.benchmark_group("retire_per_node");
    configure(&mut group);
    group.throughput(Throughput::Elements(1));

    group.bench_function("box_alloc_free", |b| {
        b.iter(|| {
            let p = Node::<Leak>::alloc_uncounted(black_box(7), 7);
            // SAFETY: just allocated with Box, never published, freed once.
            unsafe { Node::free(black_box(p)) };
        })
    });
    retire_one_of::<Kovan>(&mut group, 1);
    retire_one_of::<KovanOrig>(&mut group, 1);
    // The API takes a guard for `defer_destroy`: one pin per node is part of the cost.
    retire_one_of::<Crossbeam>(&mut group, CROSSBEAM_FLUSHES);
    retire_one_of::<Seize>(&mut group, 1);
    retire_one_of::<Haphazard>(&mut group, 1);
    group.finish();
}

/// Whether a batch is retired under one guard or node by node with no guard held.
#[derive(Clone, Copy, PartialEq)]
enum Pins {
    PerBatch,
    Unpinned,
}

/// Retire a batch of `n` nodes allocated outside the timed region; then `flushes` flushes.
fn retire_batch_of<S: Smr>(group: &mut Group<'_>, id: &str, n: usize, pins: Pins, flushes: usize) {
    let smr = S::new();
    let mut local = smr.local();
    group.bench_function(id, |b| {
        b.iter_batched(
            || {
                (0..n as u64)
                    .map(|v| Node::<S>::alloc_uncounted(v, v))
                    .collect::<Vec<_>>()
            },
            |mut batch| {
                if pins == Pins::PerBatch {
                    let mut guard = smr.pin(&mut local);
                    for p in batch.drain(..) {
                        // SAFETY: Box-allocated, never published, retired once.
                        unsafe { smr.retire(&mut guard, p) };
                    }
                } else {
                    for p in batch.drain(..) {
                        // SAFETY: Box-allocated, never published, retired once.
                        unsafe { smr.retire_unpinned(&mut local, p) };
                    }
                }
                batch
            },
            BatchSize::NumIterations(64),
        )
    });
    drain(&smr, &mut local, flushes);
}

fn retire_batch(c: &mut Criterion, n: usize) {
    let mut group = c.benchmark_group(format!("retire_batch_{n}"));
    configure(&mut group);
    group.throughput(Throughput::Elements(n as u64));
    retire_batch_of::<Kovan>(&mut group, Kovan::NAME, n, Pins::Unpinned, 1);
    retire_batch_of::<KovanOrig>(&mut group, KovanOrig::NAME, n, Pins::Unpinned, 1);
    // crossbeam's unpinned retire pins per node.
    let id = "crossbeam-epoch/pin-per-node";
    retire_batch_of::<Crossbeam>(&mut group, id, n, Pins::Unpinned, CROSSBEAM_FLUSHES);
    retire_batch_of::<Seize>(&mut group, Seize::NAME, n, Pins::Unpinned, 1);
    retire_batch_of::<Haphazard>(&mut group, Haphazard::NAME, n, Pins::Unpinned, 1);
    // With one pin per batch, crossbeam pushes a 64-node bag per 64 retires but collects at most
    // 8 bags per 128 pins, so its garbage grows for the whole measurement (gigabytes). One pin
    // per node keeps it bounded; both are shown. This one runs last in the group, and its
    // flushes then free the backlog.
    let id = "crossbeam-epoch/pin-per-batch";
    retire_batch_of::<Crossbeam>(&mut group, id, n, Pins::PerBatch, CROSSBEAM_FLUSHES);
    group.finish();
}

fn retire_batches(c: &mut Criterion) {
    retire_batch(c, 64);
    retire_batch(c, 1024);
}

// ------------------------------------------------------------------------------------ 5. Atom

/// The value behind every `Atom`: 32 bytes, the first word read.
#[derive(Clone, Copy, Debug, Default)]
struct Payload {
    value: u64,
    _pad: [u64; 3],
}

impl Payload {
    fn new(value: u64) -> Self {
        Self {
            value,
            _pad: [0; 3],
        }
    }
}

fn atom_load(c: &mut Criterion) {
    let mut group = c.benchmark_group("atom_load");
    configure(&mut group);

    let atom = kovan::Atom::new(Payload::new(1));
    group.bench_function("kovan Atom::load", |b| {
        b.iter(|| {
            let g = black_box(&atom).load();
            black_box(g.value)
        })
    });
    group.bench_function("kovan Atom::peek", |b| {
        b.iter(|| black_box(&atom).peek(|p| black_box(p.value)))
    });
    let orig = kovan_orig::Atom::new(Payload::new(1));
    group.bench_function("kovan_orig Atom::load", |b| {
        b.iter(|| {
            let g = black_box(&orig).load();
            black_box(g.value)
        })
    });
    let swap = ArcSwap::from_pointee(Payload::new(1));
    group.bench_function("arc_swap ArcSwap::load", |b| {
        b.iter(|| {
            let g = black_box(&swap).load();
            black_box(g.value)
        })
    });
    group.finish();
}

// ------------------------------------------------------------------------------------ 6. owned guards

/// Creates a guard with `pin` and drops it, per iteration.
fn bench_pin<G>(group: &mut Group<'_>, id: &str, mut pin: impl FnMut() -> G) {
    group.bench_function(id, |b| {
        b.iter(|| {
            let guard = pin();
            black_box(&guard);
            drop(guard);
        })
    });
}

fn pin_owned(c: &mut Criterion) {
    let mut group = c.benchmark_group("pin_owned");
    configure(&mut group);
    let domain = Arc::new(kovan::Domain::new());
    bench_pin(&mut group, "kovan Domain::pin_owned", || {
        domain.pin_owned().expect("a free thread id")
    });
    bench_pin(&mut group, "kovan pin_owned", || {
        kovan::pin_owned().expect("a free thread id")
    });
    bench_pin(&mut group, "kovan pin", kovan::pin);
    let collector = seize::Collector::new();
    bench_pin(&mut group, "seize enter_owned", || collector.enter_owned());
    bench_pin(&mut group, "seize enter", || collector.enter());
    group.finish();
}

// ------------------------------------------------------------------------------------ 7. Domain::pin

fn domain_pin(c: &mut Criterion) {
    let mut group = c.benchmark_group("domain_pin");
    configure(&mut group);
    let domain = Arc::new(kovan::Domain::new());
    bench_pin(&mut group, "kovan Domain::pin", || domain.pin());
    let handle = domain.register().expect("a free thread id");
    bench_pin(&mut group, "kovan LocalHandle::pin", || handle.pin());
    bench_pin(&mut group, "kovan pin", kovan::pin);
    bench_pin(&mut group, "crossbeam-epoch pin", crossbeam_epoch::pin);
    group.finish();
}

// ------------------------------------------------------------------------------------ 8. defer

/// Deferred closures of the current `defer` row that have run.
static DEFERRED_RAN: AtomicU64 = AtomicU64::new(0);

/// A library whose guard runs deferred closures.
trait Defer: Smr {
    fn defer(guard: &Self::Guard<'_>, f: impl FnOnce() + Send + 'static);
    /// Called after each batch of deferrals under one guard: what keeps the backlog bounded.
    fn end_batch(guard: &Self::Guard<'_>);
}

impl Defer for Kovan {
    fn defer(guard: &kovan::Guard, f: impl FnOnce() + Send + 'static) {
        guard.defer(f);
    }
    // kovan places the deferred batch every `RETIRE_FREQ` deferrals by itself.
    fn end_batch(_guard: &kovan::Guard) {}
}

impl Defer for Crossbeam {
    fn defer(guard: &crossbeam_epoch::Guard, f: impl FnOnce() + Send + 'static) {
        guard.defer(f);
    }
    // One bag per pin and 8 bags collected per 128 pins would grow for the whole measurement;
    // `flush` pushes the bag and collects (the documented call for "executed soon").
    fn end_batch(guard: &crossbeam_epoch::Guard) {
        guard.flush();
    }
}

/// Pins, defers `per_pin` closures that each own a fresh `Box<u64>` (counted in
/// `DEFERRED_RAN` and dropped when the closure runs) and unpins, per iteration. Afterwards
/// flushes until every closure has run, and asserts it.
fn defer_of<S: Defer>(group: &mut Group<'_>, id: &str, per_pin: u64) {
    let smr = S::new();
    let mut local = smr.local();
    let mut deferred = 0u64;
    DEFERRED_RAN.store(0, Ordering::Relaxed);
    group.bench_function(id, |b| {
        b.iter(|| {
            let guard = smr.pin(&mut local);
            for _ in 0..per_pin {
                let value = Box::new(black_box(1u64));
                S::defer(&guard, move || {
                    DEFERRED_RAN.fetch_add(*value, Ordering::Relaxed);
                });
            }
            if per_pin > 1 {
                S::end_batch(&guard);
            }
            drop(guard);
            deferred += per_pin;
        })
    });
    // Relaxed: the closures run on this thread, the only one of either library here.
    let pending = deferred - DEFERRED_RAN.load(Ordering::Relaxed);
    let mut flushes = 0;
    while DEFERRED_RAN.load(Ordering::Relaxed) < deferred && flushes < CROSSBEAM_FLUSHES {
        smr.flush(&mut local);
        flushes += 1;
    }
    let ran = DEFERRED_RAN.load(Ordering::Relaxed);
    eprintln!(
        "defer {id}: {deferred} closures deferred, {pending} not run at the end of the \
         measurement, all {ran} run after {flushes} flushes"
    );
    assert_eq!(ran, deferred, "defer {id}: every deferred closure runs");
}

fn defer(c: &mut Criterion) {
    let mut group = c.benchmark_group("defer");
    configure(&mut group);
    group.throughput(Throughput::Elements(1));
    defer_of::<Kovan>(&mut group, Kovan::NAME, 1);
    defer_of::<Crossbeam>(&mut group, Crossbeam::NAME, 1);
    group.finish();

    let mut group = c.benchmark_group("defer_batch_64");
    configure(&mut group);
    group.throughput(Throughput::Elements(64));
    defer_of::<Kovan>(&mut group, Kovan::NAME, 64);
    defer_of::<Crossbeam>(&mut group, "crossbeam-epoch/flush", 64);
    group.finish();
}

criterion_group!(
    micro,
    pin_unpin,
    load_stable_era,
    load_era_advancing,
    retire_per_node,
    retire_batches,
    atom_load,
    pin_owned,
    domain_pin,
    defer
);
criterion_main!(micro);
