//! Criterion micro-benchmarks: the per-call cost of the reclamation primitives, kovan against the
//! schemes a user would otherwise pick, each driven through its own documented API.
//!
//! Groups (results and method: `docs/benchmarks-micro.md`):
//!
//! - `pin_unpin`: enter and leave a critical section.
//! - `load_stable_era`: one protected load (and a read of the payload) under a guard pinned
//!   outside the timed loop, with nothing retiring anywhere; a plain `AtomicPtr` load is the floor.
//! - `load_era_advancing`: pin + protected load + read + unpin per iteration, alone (`quiet`) and
//!   while a second thread, started before the measurement and stopped after it, retires fresh
//!   nodes as fast as it can (`retirer`), which keeps the era (epoch) moving.
//! - `retire_per_node`: allocate one node and retire it (default batching).
//! - `retire_batch_64`, `retire_batch_1024`: retire a batch of nodes allocated outside the timed
//!   region, throughput in nodes (crossbeam-epoch twice: one pin per batch, one pin per node).
//! - `atom_load`: `kovan::Atom::load` (deref the guard) and `Atom::peek` against
//!   `arc_swap::ArcSwap::load` (deref the guard).
//!
//! Every library's node carries the same [`Payload`] in one `Box`; kovan's nodes put the
//! `RetiredNode` header the library requires in front of it (`#[repr(C)]`, header first).
//!
//! Run with `cargo bench -p kovan-benches --bench micro` (about 3.5 minutes on 2 cores).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main,
};
use crossbeam_epoch::{self as epoch, Owned};
use seize::Guard as _;

// ------------------------------------------------------------------------------------ nodes

/// What every node carries, whatever the library: 32 bytes, the first word read by readers.
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

/// A hand-built node of the workspace facade: the 0.1.12 way, header first.
#[repr(C)]
struct KovanNode {
    header: kovan::RetiredNode,
    payload: Payload,
}

impl KovanNode {
    /// A Box-allocated node, its birth era stamped now.
    fn alloc(value: u64) -> *mut Self {
        Box::into_raw(Box::new(Self {
            header: kovan::RetiredNode::new(),
            payload: Payload::new(value),
        }))
    }
}

/// The same node for the crates.io original, kovan 0.1.12.
#[repr(C)]
struct OrigNode {
    header: kovan_orig::RetiredNode,
    payload: Payload,
}

impl OrigNode {
    fn alloc(value: u64) -> *mut Self {
        Box::into_raw(Box::new(Self {
            header: kovan_orig::RetiredNode::new(),
            payload: Payload::new(value),
        }))
    }
}

/// The node of the libraries that need no header (crossbeam-epoch, seize, haphazard, plain).
#[derive(Debug)]
struct PlainNode {
    payload: Payload,
}

impl PlainNode {
    fn alloc(value: u64) -> *mut Self {
        Box::into_raw(Box::new(Self {
            payload: Payload::new(value),
        }))
    }

    /// `n` nodes as crossbeam-epoch `Owned` boxes.
    fn owned_batch(n: usize) -> Vec<Owned<PlainNode>> {
        (0..n as u64)
            .map(|v| {
                Owned::new(PlainNode {
                    payload: Payload::new(v),
                })
            })
            .collect()
    }
}

// ------------------------------------------------------------------------------------ timing

/// Per-group timing, chosen to keep the whole run under 4 minutes on 2 cores.
fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .warm_up_time(Duration::from_millis(1000))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
}

// ------------------------------------------------------------------------------------ 1. pin

fn pin_unpin(c: &mut Criterion) {
    let mut group = c.benchmark_group("pin_unpin");
    configure(&mut group);

    group.bench_function("kovan", |b| {
        b.iter(|| {
            let guard = kovan::pin();
            black_box(&guard);
            drop(guard);
        })
    });
    group.bench_function("kovan_orig", |b| {
        b.iter(|| {
            let guard = kovan_orig::pin();
            black_box(&guard);
            drop(guard);
        })
    });
    group.bench_function("crossbeam-epoch", |b| {
        b.iter(|| {
            let guard = epoch::pin();
            black_box(&guard);
            drop(guard);
        })
    });
    let collector = seize::Collector::new();
    group.bench_function("seize", |b| {
        b.iter(|| {
            let guard = collector.enter();
            black_box(&guard);
            drop(guard);
        })
    });
    group.finish();
}

// ------------------------------------------------------------------------------------ 2. stable load

fn load_stable_era(c: &mut Criterion) {
    let mut group = c.benchmark_group("load_stable_era");
    configure(&mut group);

    let plain = AtomicPtr::new(PlainNode::alloc(1));
    group.bench_function("plain_atomicptr", |b| {
        b.iter(|| {
            let p = black_box(&plain).load(Ordering::Acquire);
            // SAFETY: the node is live until the end of this function and never written.
            black_box(unsafe { (*p).payload.value })
        })
    });

    let cell = kovan::Atomic::new(KovanNode::alloc(1));
    group.bench_function("kovan", |b| {
        let guard = kovan::pin();
        b.iter(|| {
            let s = black_box(&cell).load(Ordering::Acquire, &guard);
            // SAFETY: loaded under `guard`; the node is never retired while the group runs.
            black_box(unsafe { s.deref() }.payload.value)
        })
    });

    let orig = kovan_orig::Atomic::new(OrigNode::alloc(1));
    group.bench_function("kovan_orig", |b| {
        let guard = kovan_orig::pin();
        b.iter(|| {
            let s = black_box(&orig).load(Ordering::Acquire, &guard);
            // SAFETY: loaded under `guard`; the node is never retired while the group runs.
            black_box(unsafe { s.deref() }.payload.value)
        })
    });

    let cb = epoch::Atomic::new(PlainNode {
        payload: Payload::new(1),
    });
    group.bench_function("crossbeam-epoch", |b| {
        let guard = epoch::pin();
        b.iter(|| {
            let s = black_box(&cb).load(Ordering::Acquire, &guard);
            // SAFETY: loaded under `guard`; the node is never retired while the group runs.
            black_box(unsafe { s.deref() }.payload.value)
        })
    });

    let collector = seize::Collector::new();
    let sz = AtomicPtr::new(PlainNode::alloc(1));
    group.bench_function("seize", |b| {
        let guard = collector.enter();
        b.iter(|| {
            let p = guard.protect(black_box(&sz), Ordering::Acquire);
            // SAFETY: protected by `guard`; the node is never retired while the group runs.
            black_box(unsafe { (*p).payload.value })
        })
    });

    let hz = AtomicPtr::new(PlainNode::alloc(1));
    group.bench_function("haphazard", |b| {
        let mut hp = haphazard::HazardPointer::new();
        b.iter(|| {
            // SAFETY: the cell always holds a live node, which is never retired (it is freed
            // directly at the end of the group, after the hazard pointer is gone).
            let node = unsafe { hp.protect(black_box(&hz)) };
            black_box(node.map(|n| n.payload.value))
        })
    });
    group.finish();

    // SAFETY: every node above was Box-allocated, never retired, and no guard or hazard pointer
    // that could see it is alive any more; each is freed once.
    unsafe {
        drop(Box::from_raw(plain.load(Ordering::Relaxed)));
        drop(Box::from_raw(kovan_teardown(&cell)));
        drop(Box::from_raw(orig_teardown(&orig)));
        drop(cb.into_owned());
        drop(Box::from_raw(sz.load(Ordering::Relaxed)));
        drop(Box::from_raw(hz.load(Ordering::Relaxed)));
    }
}

/// The pointer held by a facade cell, read under a fresh guard (for teardown).
fn kovan_teardown<T>(cell: &kovan::Atomic<T>) -> *mut T {
    cell.load(Ordering::Acquire, &kovan::pin()).as_raw()
}

/// The pointer held by a kovan 0.1.12 cell, read under a fresh guard (for teardown).
fn orig_teardown<T>(cell: &kovan_orig::Atomic<T>) -> *mut T {
    cell.load(Ordering::Acquire, &kovan_orig::pin()).as_raw()
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
    /// Spawns the thread and waits until it has retired its first node.
    fn spawn(name: &'static str, retire_one: fn(u64)) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let running = Arc::new(AtomicBool::new(false));
        let handle = {
            let stop = Arc::clone(&stop);
            let running = Arc::clone(&running);
            thread::Builder::new()
                .name(format!("retirer-{name}"))
                .spawn(move || {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        retire_one(n);
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

fn kovan_retire_one(n: u64) {
    let p = KovanNode::alloc(n);
    // SAFETY: repr(C) with the RetiredNode first, Box-allocated, never published, retired once.
    unsafe { kovan::retire(p) };
}

fn crossbeam_retire_one(n: u64) {
    let guard = epoch::pin();
    let s = Owned::new(PlainNode {
        payload: Payload::new(n),
    })
    .into_shared(&guard);
    // SAFETY: never published, so no other thread can reach it; destroyed once.
    unsafe { guard.defer_destroy(s) };
}

fn load_era_advancing(c: &mut Criterion) {
    let mut group = c.benchmark_group("load_era_advancing");
    configure(&mut group);

    let cell = kovan::Atomic::new(KovanNode::alloc(1));
    let kovan_op = |b: &mut criterion::Bencher<'_>| {
        b.iter(|| {
            let guard = kovan::pin();
            let s = black_box(&cell).load(Ordering::Acquire, &guard);
            // SAFETY: loaded under `guard`; the cell's node is never retired while the group runs.
            let v = unsafe { s.deref() }.payload.value;
            drop(guard);
            black_box(v)
        })
    };
    let cb = epoch::Atomic::new(PlainNode {
        payload: Payload::new(1),
    });
    let crossbeam_op = |b: &mut criterion::Bencher<'_>| {
        b.iter(|| {
            let guard = epoch::pin();
            let s = black_box(&cb).load(Ordering::Acquire, &guard);
            // SAFETY: loaded under `guard`; the cell's node is never retired while the group runs.
            let v = unsafe { s.deref() }.payload.value;
            drop(guard);
            black_box(v)
        })
    };
    let plain = AtomicPtr::new(PlainNode::alloc(1));
    let plain_op = |b: &mut criterion::Bencher<'_>| {
        b.iter(|| {
            let p = black_box(&plain).load(Ordering::Acquire);
            // SAFETY: the node is live until the end of this function and never written.
            black_box(unsafe { (*p).payload.value })
        })
    };

    group.bench_function("kovan/quiet", kovan_op);
    let era_before = kovan::default_domain().era();
    let retirer = Retirer::spawn("kovan", kovan_retire_one);
    group.bench_function("kovan/retirer", kovan_op);
    group.bench_function("plain_atomicptr/retirer", plain_op);
    let retired = retirer.stop();
    let eras = kovan::default_domain().era() - era_before;
    eprintln!(
        "kovan era advanced {eras} times during the retirer run ({} retires per advance)",
        retired / eras.max(1)
    );

    group.bench_function("crossbeam-epoch/quiet", crossbeam_op);
    let retirer = Retirer::spawn("crossbeam-epoch", crossbeam_retire_one);
    group.bench_function("crossbeam-epoch/retirer", crossbeam_op);
    retirer.stop();
    group.finish();

    // SAFETY: Box-allocated, never retired, no reader left; each freed once.
    unsafe {
        drop(Box::from_raw(kovan_teardown(&cell)));
        drop(cb.into_owned());
        drop(Box::from_raw(plain.load(Ordering::Relaxed)));
    }
    kovan::flush();
    epoch::pin().flush();
}

// ------------------------------------------------------------------------------------ 4. retire

fn retire_per_node(c: &mut Criterion) {
    let mut group = c.benchmark_group("retire_per_node");
    configure(&mut group);
    group.throughput(Throughput::Elements(1));

    group.bench_function("box_alloc_free", |b| {
        b.iter(|| {
            let p = PlainNode::alloc(black_box(7));
            // SAFETY: just allocated with Box, freed once.
            drop(unsafe { Box::from_raw(black_box(p)) });
        })
    });
    group.bench_function("kovan", |b| {
        b.iter(|| kovan_retire_one(black_box(7)));
    });
    group.bench_function("kovan_orig", |b| {
        b.iter(|| {
            let p = OrigNode::alloc(black_box(7));
            // SAFETY: repr(C) with the RetiredNode first, Box-allocated, never published,
            // retired once.
            unsafe { kovan_orig::retire(p) };
        })
    });
    group.bench_function("crossbeam-epoch", |b| {
        // The API takes a guard for `defer_destroy`: one pin per node is part of the cost.
        b.iter(|| crossbeam_retire_one(black_box(7)));
    });
    let collector = seize::Collector::new();
    group.bench_function("seize", |b| {
        b.iter(|| {
            let p = PlainNode::alloc(black_box(7));
            // SAFETY: Box-allocated (what `reclaim::boxed` frees), never published, retired once.
            unsafe { collector.retire(p, seize::reclaim::boxed::<PlainNode>) };
        })
    });
    group.bench_function("haphazard", |b| {
        b.iter(|| {
            let p = PlainNode::alloc(black_box(7));
            // SAFETY: Box-allocated (`P = Box`), never published so no hazard pointer can guard
            // it, valid until reclaimed, retired once.
            unsafe { haphazard::Domain::global().retire_ptr::<PlainNode, Box<PlainNode>>(p) };
        })
    });
    group.finish();
    drain_all(&collector);
}

/// Runs every library's flush so that one group's garbage is not freed in the next group's
/// timed region.
fn drain_all(collector: &seize::Collector) {
    kovan::flush();
    drop(kovan_orig::pin());
    kovan_orig::flush();
    // Each crossbeam flush collects at most 8 bags; repeat it so that a backlog left by the
    // pin-per-batch runs (up to about a million bags) is freed before the next measurement.
    let started = Instant::now();
    for _ in 0..(1 << 18) {
        epoch::pin().flush();
    }
    eprintln!(
        "drained crossbeam-epoch garbage in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    collector.enter().flush();
    haphazard::Domain::global().eager_reclaim();
}

fn retire_batch(c: &mut Criterion, n: usize) {
    let mut group = c.benchmark_group(format!("retire_batch_{n}"));
    configure(&mut group);
    group.throughput(Throughput::Elements(n as u64));
    let size = BatchSize::NumIterations(64);

    group.bench_function("kovan", |b| {
        b.iter_batched(
            || (0..n as u64).map(KovanNode::alloc).collect::<Vec<_>>(),
            |mut batch| {
                for p in batch.drain(..) {
                    // SAFETY: repr(C) with the RetiredNode first, Box-allocated, never
                    // published, retired once.
                    unsafe { kovan::retire(p) };
                }
                batch
            },
            size,
        )
    });
    group.bench_function("kovan_orig", |b| {
        b.iter_batched(
            || (0..n as u64).map(OrigNode::alloc).collect::<Vec<_>>(),
            |mut batch| {
                for p in batch.drain(..) {
                    // SAFETY: repr(C) with the RetiredNode first, Box-allocated, never
                    // published, retired once.
                    unsafe { kovan_orig::retire(p) };
                }
                batch
            },
            size,
        )
    });
    group.bench_function("crossbeam-epoch/pin-per-node", |b| {
        b.iter_batched(
            || PlainNode::owned_batch(n),
            |mut batch| {
                for o in batch.drain(..) {
                    let guard = epoch::pin();
                    // SAFETY: never published, so no other thread can reach it; destroyed once.
                    unsafe { guard.defer_destroy(o.into_shared(&guard)) };
                }
                batch
            },
            size,
        )
    });
    let collector = seize::Collector::new();
    group.bench_function("seize", |b| {
        b.iter_batched(
            || (0..n as u64).map(PlainNode::alloc).collect::<Vec<_>>(),
            |mut batch| {
                for p in batch.drain(..) {
                    // SAFETY: Box-allocated (what `reclaim::boxed` frees), never published,
                    // retired once.
                    unsafe { collector.retire(p, seize::reclaim::boxed::<PlainNode>) };
                }
                batch
            },
            size,
        )
    });
    group.bench_function("haphazard", |b| {
        b.iter_batched(
            || (0..n as u64).map(PlainNode::alloc).collect::<Vec<_>>(),
            |mut batch| {
                let domain = haphazard::Domain::global();
                for p in batch.drain(..) {
                    // SAFETY: Box-allocated (`P = Box`), never published so no hazard pointer
                    // can guard it, valid until reclaimed, retired once.
                    unsafe { domain.retire_ptr::<PlainNode, Box<PlainNode>>(p) };
                }
                batch
            },
            size,
        )
    });
    // With one pin per batch, crossbeam pushes a 64-node bag per 64 retires but collects at most
    // 8 bags per 128 pins, so its garbage grows for the whole measurement (gigabytes). One pin
    // per node keeps it bounded; both are shown. This one runs last in the group, and
    // `drain_all` then frees its backlog.
    group.bench_function("crossbeam-epoch/pin-per-batch", |b| {
        b.iter_batched(
            || PlainNode::owned_batch(n),
            |mut batch| {
                // One pin for the whole batch.
                let guard = epoch::pin();
                for o in batch.drain(..) {
                    // SAFETY: never published, so no other thread can reach it; destroyed once.
                    unsafe { guard.defer_destroy(o.into_shared(&guard)) };
                }
                drop(guard);
                batch
            },
            size,
        )
    });
    group.finish();
    drain_all(&collector);
}

fn retire_batches(c: &mut Criterion) {
    retire_batch(c, 64);
    retire_batch(c, 1024);
}

// ------------------------------------------------------------------------------------ 5. Atom

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

criterion_group!(
    micro,
    pin_unpin,
    load_stable_era,
    load_era_advancing,
    retire_per_node,
    retire_batches,
    atom_load
);
criterion_main!(micro);
