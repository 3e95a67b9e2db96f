//! Owned guards on a real multi-threaded async runtime (tokio): 10,000 reader tasks each pin an
//! `OwnedGuard`, load a slot, hold guard and pointer across an `.await` (where the task may move
//! to another worker thread), load again and check both values, while two writer threads
//! replace the slots and retire what they unlink. Every 4th reader lends its guard to a helper
//! task that reads under it at the same time (`OwnedGuard` is `Sync`).
//!
//! The oracle:
//! - every value read is intact (checksum) and not dropped yet (a per-node drop ledger kept
//!   outside the node), before and after the `.await`;
//! - every node is dropped exactly once (ledger entry 1 for every id; the allocated and dropped
//!   counts match; the domain's own `retired`/`freed` agree with the test's);
//! - the peak of `Domain::stats().unfreed()` stays under `garbage_bound` for the test's real
//!   thread count, although two owned guards stay parked across an `.await` while more nodes
//!   than the bound are retired: a scheme whose parked guard held back everything retired after
//!   it (epoch style) fails this;
//! - no id leaks: `registered_threads` is back to 0 once every guard and handle is gone.
//!
//! Not run under Miri (far too slow; its step does not run this crate's tests) or loom.
#![cfg(not(kovan_loom))]

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize};
use std::sync::{Arc, LazyLock};
use std::thread;
use std::time::{Duration, Instant};

use kovan::{Atomic, Domain, Guard, Node, NodeBox, Ordering, OwnedGuard, Shared, garbage_bound};
use tokio::sync::{Semaphore, oneshot};

/// Test bookkeeping is not what is under test: SeqCst everywhere keeps it simple.
const SEQ: std::sync::atomic::Ordering = std::sync::atomic::Ordering::SeqCst;

const READERS: usize = 10_000;
const WORKERS: usize = 4;
const WRITERS: usize = 2;
const SLOTS: usize = 8;
/// Owned guards live at once: readers take a permit before pinning.
const LIVE_GUARDS: usize = 6;
/// Of those, guards pinned before the writers start and parked until they stop.
const PARKED: usize = 2;
/// Every 4th reader shares its guard with a helper task (`OwnedGuard` is `Sync`).
const SHARED_EVERY: usize = 4;
const HELPERS: usize = READERS.div_ceil(SHARED_EVERY);
/// Every 16th reader sleeps instead of yielding: its wake-up comes from the timer, on
/// whichever worker drives it.
const SLEEPER_EVERY: usize = 16;

/// `garbage_bound` for this test:
/// - T: the ids registered at once are the live owned guards and the writers' handles (readers
///   never retire, so no worker thread registers a cached handle; the cleanup handle is
///   registered after all of them are gone);
/// - k: every one of them may lag: a parked owned guard by design, a reader guard while its
///   task waits to be polled, a writer preempted inside its guard;
/// - n: the slots' nodes, plus one per writer held between allocating (or unlinking) a node and
///   publishing (or retiring) it.
const THREADS: usize = LIVE_GUARDS + WRITERS;
const BOUND: usize = garbage_bound(THREADS, THREADS, SLOTS + WRITERS);
/// Writers retire at least this many nodes, all while the parked guards live, so that the bound
/// is not met just because little was retired.
const MIN_RETIRED: u64 = BOUND as u64 + 1;
/// Writers retire at most this many more per finished reader.
const RETIRED_PER_READER: u64 = 16;
/// Ledger size: every node the writers can allocate, with room to spare.
const MAX_NODES: usize = 1 << 19;
const _: () = assert!(
    MAX_NODES > SLOTS + WRITERS + MIN_RETIRED as usize + READERS * RETIRED_PER_READER as usize
);

// ----- values and the drop ledger ------------------------------------------------------------

/// One entry per node ever allocated: how often it was dropped.
static DROPS: LazyLock<Box<[AtomicU8]>> =
    LazyLock::new(|| (0..MAX_NODES).map(|_| AtomicU8::new(0)).collect());
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);
static DOUBLE_DROPS: AtomicU64 = AtomicU64::new(0);
static CORRUPT_DROPS: AtomicU64 = AtomicU64::new(0);
/// Reads that found a value corrupted or already dropped.
static BAD_READS: AtomicU64 = AtomicU64::new(0);
static GOOD_READS: AtomicU64 = AtomicU64::new(0);

fn checksum(id: usize) -> u64 {
    (id as u64).wrapping_mul(7919) ^ 0x5AFE_C0DE_5AFE_C0DE
}

struct Value {
    id: usize,
    check: u64,
}

impl Value {
    fn new() -> Self {
        let id = ALLOCATED.fetch_add(1, SEQ);
        assert!(id < MAX_NODES, "drop ledger full");
        Self {
            id,
            check: checksum(id),
        }
    }

    /// Counts the read as good (intact and not dropped) or bad.
    fn read(&self) {
        let ok = self.check == checksum(self.id) && DROPS[self.id].load(SEQ) == 0;
        if ok { &GOOD_READS } else { &BAD_READS }.fetch_add(1, SEQ);
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        if self.check != checksum(self.id) {
            CORRUPT_DROPS.fetch_add(1, SEQ);
        }
        self.check = !checksum(self.id);
        if DROPS[self.id].fetch_add(1, SEQ) != 0 {
            DOUBLE_DROPS.fetch_add(1, SEQ);
        }
        DROPPED.fetch_add(1, SEQ);
    }
}

// ----- the test ------------------------------------------------------------------------------

struct Table {
    domain: Arc<Domain>,
    slots: Vec<Atomic<Node<Value>>>,
    retired: AtomicU64,
    readers_finished: AtomicUsize,
}

/// Reads a slot under `guard`: the node is protected as long as the guard lives.
fn load<'g>(table: &Table, slot: usize, guard: &'g Guard) -> &'g Value {
    let node: Shared<'g, Node<Value>> = table.slots[slot % SLOTS].load(Ordering::Acquire, guard);
    // SAFETY: loaded under `guard` from a live slot; slots hold a node until the cleanup at the
    // end, after every reader is done.
    unsafe { node.deref() }.value()
}

/// Loads a slot under `guard`, awaits (maybe moving to another worker), loads another slot on
/// whatever thread it resumed on, awaits again, and checks both values at every step. Returns
/// whether it resumed elsewhere after the first `.await`.
async fn read_across_await(table: &Table, guard: &OwnedGuard, r: usize) -> bool {
    let first = load(table, r, guard);
    first.read();
    let before = thread::current().id();
    if r % SLEEPER_EVERY == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    } else {
        tokio::task::yield_now().await;
    }
    let migrated = thread::current().id() != before;
    // Born after the pin, most likely (the era moved during the await): only this load's
    // raise of the reservation keeps it alive, while `first` must stay covered too.
    let second = load(table, r + 1, guard);
    second.read();
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
    first.read();
    second.read();
    migrated
}

/// A reader task: pins an owned guard and reads across an `.await` under it; every
/// `SHARED_EVERY`th one also lends the guard to a helper task that does the same meanwhile.
/// Returns how many of them resumed on another thread.
async fn reader(table: Arc<Table>, permits: Arc<Semaphore>, r: usize) -> usize {
    let _permit = permits.acquire().await.expect("semaphore open");
    let guard = Arc::new(table.domain.pin_owned().expect("ids left"));
    let helper = (r % SHARED_EVERY == 0).then(|| {
        let (table, guard) = (Arc::clone(&table), Arc::clone(&guard));
        tokio::spawn(async move { read_across_await(&table, &guard, r + 1).await })
    });
    let mut migrated = usize::from(read_across_await(&table, &guard, r).await);
    if let Some(helper) = helper {
        migrated += usize::from(helper.await.expect("helper task"));
    }
    table.readers_finished.fetch_add(1, SEQ);
    migrated
}

/// A writer thread: replaces slots round-robin and retires what it unlinks, until the readers
/// are done and at least `MIN_RETIRED` nodes were retired in all. Past `MIN_RETIRED` it keeps
/// pace with the readers, so the churn spans the whole read phase in any build.
fn writer(table: &Table, w: usize) {
    let handle = table.domain.register().expect("ids left");
    let mut slot = w;
    loop {
        let retired = table.retired.load(SEQ);
        let finished = table.readers_finished.load(SEQ) as u64;
        if retired >= MIN_RETIRED + RETIRED_PER_READER * finished {
            if finished == READERS as u64 {
                return;
            }
            thread::sleep(Duration::from_micros(20));
            continue;
        }
        let guard = handle.pin();
        let node = NodeBox::new_in(&table.domain, Value::new()).into_shared(&guard);
        let old = table.slots[slot % SLOTS].swap(node, Ordering::AcqRel, &guard);
        // SAFETY: allocated for this handle's domain, unlinked by the swap, retired once.
        unsafe { old.retire(&guard) };
        table.retired.fetch_add(1, SEQ);
        slot += WRITERS;
    }
}

/// What the monitor saw: peaks of `unfreed` and `registered_threads`, and how many samples.
#[derive(Default)]
struct Peaks {
    unfreed: u64,
    registered: usize,
    samples: u64,
}

fn monitor(domain: &Domain, stop: &AtomicBool) -> Peaks {
    let mut peaks = Peaks::default();
    while !stop.load(SEQ) {
        let stats = domain.stats();
        peaks.unfreed = peaks.unfreed.max(stats.unfreed());
        peaks.registered = peaks.registered.max(stats.registered_threads);
        peaks.samples += 1;
        thread::sleep(Duration::from_micros(50));
    }
    peaks
}

#[test]
#[cfg_attr(
    miri,
    ignore = "10,000 tasks and over 200,000 retirements: far too slow under Miri"
)]
fn owned_guards_held_across_awaits_on_a_multi_threaded_runtime() {
    let start = Instant::now();
    let domain = Arc::new(Domain::new());
    let table = Arc::new(Table {
        slots: (0..SLOTS)
            .map(|_| Atomic::from(NodeBox::new_in(&domain, Value::new())))
            .collect(),
        domain: Arc::clone(&domain),
        retired: AtomicU64::new(0),
        readers_finished: AtomicUsize::new(0),
    });
    let stop_monitor = Arc::new(AtomicBool::new(false));
    let monitor = {
        let (domain, stop) = (Arc::clone(&domain), Arc::clone(&stop_monitor));
        thread::spawn(move || monitor(&domain, &stop))
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_time()
        .build()
        .expect("runtime");
    let permits = Arc::new(Semaphore::new(LIVE_GUARDS));

    // Parked guards: pinned and loaded before any retirement, released after the last one.
    let mut parked = Vec::new();
    rt.block_on(async {
        for p in 0..PARKED {
            let (loaded_tx, loaded_rx) = oneshot::channel();
            let (release_tx, release_rx) = oneshot::channel::<()>();
            let (table, permits) = (Arc::clone(&table), Arc::clone(&permits));
            let task = tokio::spawn(async move {
                let _permit = permits.acquire().await.expect("semaphore open");
                let guard = table.domain.pin_owned().expect("ids left");
                let value = load(&table, p, &guard);
                value.read();
                loaded_tx.send(()).expect("test waits");
                release_rx.await.expect("test releases");
                value.read();
            });
            loaded_rx.await.expect("parked task loads");
            parked.push((release_tx, task));
        }
    });

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let table = Arc::clone(&table);
            thread::spawn(move || writer(&table, w))
        })
        .collect();

    let migrated = rt.block_on(async {
        let tasks: Vec<_> = (0..READERS)
            .map(|r| tokio::spawn(reader(Arc::clone(&table), Arc::clone(&permits), r)))
            .collect();
        let mut migrated = 0;
        for task in tasks {
            migrated += task.await.expect("reader task");
        }
        migrated
    });
    for w in writers {
        w.join().expect("writer thread");
    }
    rt.block_on(async {
        for (release, task) in parked {
            release.send(()).expect("parked task waits");
            task.await.expect("parked task");
        }
    });
    drop(rt);
    stop_monitor.store(true, SEQ);
    let peaks = monitor.join().expect("monitor thread");

    // Every guard and handle is gone: retire the slots' last nodes and push everything through.
    let cleanup = domain.register().expect("ids left");
    let guard = cleanup.pin();
    for slot in &table.slots {
        let last = slot.swap(Shared::null(), Ordering::AcqRel, &guard);
        // SAFETY: allocated for `domain`, unlinked by the swap, retired once.
        unsafe { last.retire(&guard) };
    }
    drop(guard);
    cleanup.flush();
    drop(cleanup);
    let end = domain.stats();

    let retired = table.retired.load(SEQ);
    let allocated = ALLOCATED.load(SEQ);
    let elapsed = start.elapsed();
    println!(
        "{READERS} readers on {WORKERS} workers, {WRITERS} writers: {retired} retired while \
         {PARKED} guards were parked, peak unfreed {} (bound {BOUND}, T = k = {THREADS}), peak \
         registered {}, {} samples, {migrated} tasks migrated across the await, {} good reads, \
         {elapsed:?}",
        peaks.unfreed,
        peaks.registered,
        peaks.samples,
        GOOD_READS.load(SEQ),
    );
    println!("final stats: {end}");

    assert_eq!(
        BAD_READS.load(SEQ),
        0,
        "reads of corrupted or dropped values"
    );
    assert_eq!(
        GOOD_READS.load(SEQ),
        4 * (READERS + HELPERS) as u64 + 2 * PARKED as u64
    );
    assert_eq!(DOUBLE_DROPS.load(SEQ), 0, "nodes dropped twice");
    assert_eq!(
        CORRUPT_DROPS.load(SEQ),
        0,
        "nodes corrupted before their drop"
    );
    assert_eq!(DROPPED.load(SEQ), allocated as u64, "every node dropped");
    let not_once: Vec<usize> = (0..allocated)
        .filter(|&id| DROPS[id].load(SEQ) != 1)
        .collect();
    assert!(
        not_once.is_empty(),
        "nodes not dropped exactly once: {not_once:?}"
    );
    assert_eq!(allocated as u64, retired + SLOTS as u64);
    assert_eq!(
        end.retired,
        retired + SLOTS as u64,
        "the domain's retired count"
    );
    assert_eq!(end.freed, end.retired, "the domain's freed count");
    assert_eq!(end.unfreed(), 0);
    assert_eq!(end.parked_batches, 0);
    assert_eq!(end.registered_threads, 0, "an id was not released");
    assert_eq!(end.oldest_reservation, None);

    assert!(
        retired > BOUND as u64,
        "{retired} retired: the bound {BOUND} is met trivially"
    );
    assert!(
        peaks.unfreed <= BOUND as u64,
        "peak unfreed {} over the bound {BOUND}",
        peaks.unfreed
    );
    assert!(
        peaks.registered <= THREADS,
        "{} ids registered at once: the bound's T = {THREADS} is wrong",
        peaks.registered
    );
    // Tasks spawned from outside the runtime start on whichever worker takes them, and idle
    // workers steal queued tasks; 10,000 of them on 4 workers, none ever resuming elsewhere,
    // would mean the await did not suspend.
    assert!(
        migrated > 0,
        "no reader task resumed on another worker thread"
    );

    drop(table);
    drop(domain);
    assert_eq!(
        DROPPED.load(SEQ),
        allocated as u64,
        "nothing left for the domain's drop"
    );
}
