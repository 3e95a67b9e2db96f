//! Adversarial review of issue 14 (32-byte node header, amortized freeing, batch size scaled by
//! the scan bound).
//!
//! Tests named `finding_N_*` reproduce a defect the review found: each fails on the reviewed
//! code (branch `review14`) and states the behaviour the documentation promises. `held_*`
//! tests are attacks that the code withstood.
#![cfg(not(kovan_loom))]
mod common;

use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::{Canary, Tally, alloc, leak_tally};
use kovan_reclaim::{
    Domain, FREE_LIST_CAP, FREE_STEP, LocalHandle, NodeHeader, RETIRE_FREQ, garbage_bound,
};

fn retire_new(handle: &LocalHandle, tally: &'static Tally, value: u64) {
    let node = alloc(handle, tally, value);
    // SAFETY: never published; retired once.
    unsafe { handle.retire_node(NonNull::new(node).unwrap()) };
}

// ---------------------------------------------------------------------------------------------
// Finding 1: `flush` no longer frees what no reservation covers.
// ---------------------------------------------------------------------------------------------

/// `LocalHandle::flush` "frees what no reservation holds", and the kovan crate docs promise:
/// "When `flush` returns, everything the thread retired before or during the call is freed,
/// unless a reservation still covers it: a live guard, or a thread that pinned and has not
/// pinned or flushed since the era moved".
///
/// Here the reader pinned *after* the era moved, so its reservation covers nothing any more;
/// no guard is live; the writer flushes. Before amortized freeing the reader's pin ran the whole
/// freed batch. Now the reader's pin runs `FREE_STEP` destructors and keeps the rest of the
/// batch on its own free list, which only the reader's next retire/defer/pin-after-an-era-move,
/// flush or exit touches: the writer's flush cannot free it, and an idle reader keeps it for
/// ever (`Domain::stats().unfreed()` never returns to 0 at quiescence).
#[test]
fn finding_1_flush_leaves_the_batch_a_reader_released_on_the_readers_free_list() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let reader = domain.register().unwrap();
    let writer = domain.register().unwrap();
    // The reader's reservation is the only active one (the writer never pins).
    drop(reader.pin());
    for value in 0..RETIRE_FREQ as u64 {
        retire_new(&writer, tally, value);
    }
    assert_eq!(
        tally.live(),
        RETIRE_FREQ,
        "the reader's reservation holds the batch"
    );
    // Move the era, so the reader's next pin releases its reservation's list.
    writer.flush();
    // The reader pins after the era moved: its reservation no longer covers the batch.
    drop(reader.pin());
    // No guard is live anywhere and no reservation covers the writer's batch.
    writer.flush();
    let stats = domain.stats();
    assert_eq!(
        (tally.live(), stats.unfreed()),
        (0, 0),
        "after the writer's flush, nothing it retired is covered by a reservation, so \
         everything is freed ({stats}); the reader ran only {FREE_STEP} destructors and keeps \
         the rest on its free list"
    );
    reader.flush();
}

/// The same in the shape a program has: a reader thread that pins now and then and is otherwise
/// idle, writer threads that retire, exit and are joined. At quiescence, after every writer has
/// exited (exit flushes) and the main thread flushed, the documentation says only live guards
/// and stale reservations hold memory. The idle reader has neither, yet it keeps a freed batch.
#[test]
fn finding_1_an_idle_reader_keeps_freed_batches_at_quiescence() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let (to_reader, reader_rx) = std::sync::mpsc::channel::<()>();
    let (reader_done, done_rx) = std::sync::mpsc::channel::<()>();
    let reader_domain = Arc::clone(&domain);
    let reader = std::thread::spawn(move || {
        let handle = reader_domain.register().unwrap();
        // Each message: pin once (as a reader between operations would), report, go idle.
        for () in reader_rx {
            drop(handle.pin());
            reader_done.send(()).unwrap();
        }
    });
    // The reader publishes its reservation.
    to_reader.send(()).unwrap();
    done_rx.recv().unwrap();
    // A writer thread retires one batch (placed in the reader's reservation) and exits.
    let writer_domain = Arc::clone(&domain);
    std::thread::spawn(move || {
        let writer = writer_domain.register().unwrap();
        for value in 0..RETIRE_FREQ as u64 {
            retire_new(&writer, tally, value);
        }
        // Its exit advances the era (it retired since its last advance).
    })
    .join()
    .unwrap();
    // The reader pins once after the era moved: it releases the batch, then goes idle.
    to_reader.send(()).unwrap();
    done_rx.recv().unwrap();
    // Quiescent: no guard is live, the reader's reservation is at the current era.
    domain.register().unwrap().flush();
    let stats = domain.stats();
    assert_eq!(
        stats.unfreed(),
        0,
        "at quiescence nothing is covered by a reservation, yet the idle reader keeps \
         {} freed nodes ({stats})",
        stats.unfreed()
    );
    drop(to_reader);
    reader.join().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Finding 2: a panicking destructor propagates before the rest of its batch is dropped.
// ---------------------------------------------------------------------------------------------

/// Panics in `Drop` when its flag says so.
struct Bomb {
    armed: bool,
    canary: Canary,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        self.canary.check();
        if self.armed {
            panic!("bomb");
        }
    }
}

/// README: "a destructor that panics (pin, retire, flush, guard or handle drop, domain drop)
/// propagates after the rest of its batch is freed"; kovan crate docs: "the rest of its batch is
/// still dropped, the panic then propagates". On the retire path the freeing is now one step:
/// the panic propagates after `FREE_STEP` destructors, and the rest of the batch waits on the
/// free list.
#[test]
fn finding_2_a_panicking_destructor_in_a_retire_step_propagates_before_the_rest_of_its_batch() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let handle = domain.register().unwrap();
    let bomb = |armed: bool, value: u64| {
        handle
            .alloc_node(Bomb {
                armed,
                canary: Canary::new(tally, value),
            })
            .as_ptr()
    };
    // Nodes are destroyed newest first: the placing retire's node is the first destructor run.
    for value in 0..RETIRE_FREQ as u64 - 1 {
        let node = bomb(false, value);
        // SAFETY: never published; retired once.
        unsafe { handle.retire_node(NonNull::new(node).unwrap()) };
    }
    let last = bomb(true, 1_000);
    // No reservation is active: the placing retire frees the batch, and its step runs the bomb.
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: never published; retired once.
        unsafe { handle.retire_node(NonNull::new(last).unwrap()) };
    }));
    assert!(result.is_err(), "the bomb's panic propagates");
    let live = tally.live();
    handle.flush();
    assert_eq!(
        live, 0,
        "the rest of the panicking destructor's batch is dropped before the panic propagates \
         ({live} of its {RETIRE_FREQ} nodes were still alive)"
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 3: statements the changes made false in the docs.
// ---------------------------------------------------------------------------------------------

const README: &str = include_str!("../../../README.md");
const PROTOCOL: &str = include_str!("../../../docs/protocol.md");
const KOVAN_LIB: &str = include_str!("../../kovan/src/lib.rs");

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The kovan crate's front page still says "Each node carries a 40-byte header (32 bytes on
/// 32-bit targets)"; the header is 32 bytes (24 on 32-bit targets) now.
#[test]
fn finding_3_kovan_docs_state_the_header_size() {
    let size = size_of::<NodeHeader>();
    assert!(
        KOVAN_LIB.contains(&format!("Each node carries a {size}-byte header")),
        "crates/kovan/src/lib.rs states the {size}-byte header (it says 40)"
    );
}

/// README and docs/protocol.md §5 quote `garbage_bound(4, 1, 3)` = 3,868 and
/// `garbage_bound(3, 3, 3)` = 5,976, the figures of the formula without the free-list term.
#[test]
fn finding_3_docs_quote_the_current_garbage_bound() {
    let short_lived = thousands(garbage_bound(4, 1, 3));
    let stalled = thousands(garbage_bound(3, 3, 3));
    assert!(
        README.contains(&format!("bound {short_lived}")),
        "README quotes garbage_bound(4, 1, 3) = {short_lived} (it says 3,868)"
    );
    assert!(
        PROTOCOL.contains(&format!("| 4, 1, 3 | {short_lived} |")),
        "docs/protocol.md §5 quotes garbage_bound(4, 1, 3) = {short_lived}"
    );
    assert!(
        PROTOCOL.contains(&format!("| 3, 3, 3 | {stalled} |")),
        "docs/protocol.md §5 quotes garbage_bound(3, 3, 3) = {stalled}"
    );
}

/// docs/protocol.md §6 still lists "Freeing is not amortised over several operations: batches
/// are freed at the end of the operation that released them".
#[test]
fn finding_3_protocol_no_longer_claims_freeing_is_not_amortised() {
    assert!(
        !PROTOCOL.contains("Freeing is not amortised"),
        "docs/protocol.md §6 describes the amortized freeing (FREE_STEP = {FREE_STEP}, \
         FREE_LIST_CAP = {FREE_LIST_CAP})"
    );
}

// Finding 4 (`Node::birth_era` read by a protected reader after the node's batch is placed
// returns a link) is a contract change of the 32-byte header: `NodeHeader`, `Node` and
// `RetiredNode::birth_era` document that the value is valid until the node is retired.

/// The kovan crate's front page: "Each thread gathers up to [`RETIRE_FREQ`] (64) retired nodes
/// in a batch before placing it". Since `first_try_len`, the first try is at
/// max(`RETIRE_FREQ`, scan bound) nodes: with 1,000 ids ever registered, 1,000.
#[test]
fn finding_3_kovan_docs_state_when_a_batch_is_first_placed() {
    assert!(
        !KOVAN_LIB.contains("Each thread gathers up to [`RETIRE_FREQ`] (64) retired nodes"),
        "crates/kovan/src/lib.rs says a batch is placed at RETIRE_FREQ nodes; it is placed at \
         max(RETIRE_FREQ, ids the registry ever handed out)"
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 5: deferred resources wait for max(RETIRE_FREQ, scan bound) calls, not RETIRE_FREQ.
// ---------------------------------------------------------------------------------------------

/// `Guard::defer`: "Deferred functions gather in a batch of their own, placed like a node batch
/// (every `RETIRE_FREQ` calls, ...)". The deferred batch's first try is now at the scan bound
/// when it is larger, and the scan bound is a high-water mark: once a program has had many
/// threads (a burst, a pool that grew once, the benchmark's 1,000 idle threads), every thread
/// keeps up to that many deferred resources (old bucket arrays, buffers) before any can run,
/// for good. The memory bound counts records, not the bytes they hold, so this multiplies the
/// bytes a thread holds back by scan_bound / RETIRE_FREQ with no bound in the docs saying so.
#[test]
fn finding_5_deferred_functions_wait_for_scan_bound_calls_not_retire_freq() {
    use std::sync::atomic::AtomicUsize;
    let domain = Arc::new(Domain::new());
    // Threads that registered once and are idle now (inactive reservations: no eligibility).
    let idle: Vec<LocalHandle> = (0..2 * RETIRE_FREQ)
        .map(|_| domain.register().unwrap())
        .collect();
    drop(idle);
    let handle = domain.register().unwrap();
    let other = domain.register().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..RETIRE_FREQ {
        let guard = handle.pin();
        let ran = Arc::clone(&ran);
        guard.defer(move || {
            ran.fetch_add(1, Ordering::SeqCst);
        });
    }
    // Every guard live at the calls has dropped; release the only reservation that could hold
    // the batch: move the era, then pin again (no flush on `handle`, which places any batch).
    other.flush();
    drop(handle.pin());
    let ran_before_flush = ran.load(Ordering::SeqCst);
    handle.flush();
    assert!(
        ran_before_flush > 0,
        "after RETIRE_FREQ = {RETIRE_FREQ} deferrals the batch is placed, and once the \
         reservations live at the calls are released its functions start running (ran \
         {ran_before_flush}: the batch waits for {} deferrals)",
        2 * RETIRE_FREQ + 2
    );
}

/// The same root cause through `Guard::defer`, whose docs promise that `f` "runs, on whichever
/// thread frees that batch, after each of them was released (its thread pinned again after the
/// era moved, flushed or exited)", and that flush pads the batch "so `f` runs once those
/// reservations are released". A `synchronize()` built on it (defer a signal, flush until it
/// arrives) hangs: the reader released its reservation, so the deferred batch is freed, but it
/// waits on the reader's free list behind the step's two destructors, and nothing the waiting
/// thread does (flush, pin, defer) reaches another thread's free list.
#[test]
fn finding_1_a_deferred_signal_waits_on_an_idle_readers_free_list() {
    use std::sync::atomic::AtomicBool;
    let domain = Arc::new(Domain::new());
    let reader = domain.register().unwrap();
    let writer = domain.register().unwrap();
    drop(reader.pin());
    let signalled = Arc::new(AtomicBool::new(false));
    {
        let guard = writer.pin();
        let signal = Arc::clone(&signalled);
        // The signal, then the writer's other deferred work of the same moment.
        guard.defer(move || signal.store(true, Ordering::SeqCst));
        guard.defer(|| ());
        guard.defer(|| ());
    }
    // Places the deferred batch (padded) in the reader's reservation, the only active one.
    writer.flush();
    assert!(
        !signalled.load(Ordering::SeqCst),
        "the reader still holds it"
    );
    // The era moved (the flush advanced it): the reader pins once and releases the batch.
    drop(reader.pin());
    // The reader goes idle. The writer waits for its signal the only way it can.
    for _ in 0..100 {
        if signalled.load(Ordering::SeqCst) {
            break;
        }
        writer.flush();
        drop(writer.pin());
    }
    let stats = domain.stats();
    let signalled_in_time = signalled.load(Ordering::SeqCst);
    reader.flush();
    assert!(
        signalled_in_time,
        "every reservation live at the deferral was released, so the deferred function runs \
         ({stats}); it waits on the idle reader's free list instead"
    );
}

// ---------------------------------------------------------------------------------------------
// Held attacks.
// ---------------------------------------------------------------------------------------------

mod requeued_records {
    use super::*;
    use std::sync::OnceLock;
    use std::sync::atomic::AtomicUsize;

    pub static DOMAIN: OnceLock<Arc<Domain>> = OnceLock::new();
    pub static RAN: AtomicUsize = AtomicUsize::new(0);
    pub const RECORDS: usize = 3;

    /// Dropped by the exiting thread's drain: pins (reactivating the exiting reservation), then
    /// has another handle defer records and place them in that reservation, so that the exit's
    /// last release frees a batch of records that it requeues (birth era = current era) and
    /// parks for adoption.
    pub struct Feeder;

    impl Drop for Feeder {
        fn drop(&mut self) {
            let domain = DOMAIN.get().unwrap();
            let guard = domain.pin();
            let other = domain.register().unwrap();
            {
                let other_guard = other.pin();
                for _ in 0..RECORDS {
                    other_guard.defer(|| {
                        RAN.fetch_add(1, Ordering::SeqCst);
                    });
                }
            }
            other.flush();
            drop(other);
            drop(guard);
        }
    }
}

/// A freed batch of deferred records requeued by a thread exit (its members' link words are
/// rebuilt by `unplace` and every birth era becomes the current era, so the records join the
/// node batch), parked, adopted by another thread (`split_chain` on the requeued members) and
/// placed again: every record runs exactly once and nothing is left. Also under Miri (exposed
/// provenance through `era_or_link`).
#[test]
fn held_requeued_records_are_adopted_and_run_once() {
    use requeued_records::*;
    let domain = Arc::clone(DOMAIN.get_or_init(|| Arc::new(Domain::new())));
    std::thread::spawn(|| {
        let domain = DOMAIN.get().unwrap();
        let guard = domain.pin();
        let node = guard.alloc_node(Feeder);
        // SAFETY: never published, retired once.
        unsafe { guard.retire_node(node) };
    })
    .join()
    .unwrap();
    let after_exit = domain.stats();
    assert_eq!(
        (after_exit.parked_batches, RAN.load(Ordering::SeqCst)),
        (1, 0),
        "the exit requeued the freed records and parked them ({after_exit})"
    );
    let handle = domain.register().unwrap();
    handle.flush();
    assert_eq!(RAN.load(Ordering::SeqCst), RECORDS, "each record runs once");
    let stats = domain.stats();
    assert_eq!(stats.unfreed(), 0, "{stats}");
}

mod reentrant {
    use super::*;
    use std::sync::OnceLock;
    use std::sync::atomic::AtomicUsize;

    pub static DOMAIN: OnceLock<Arc<Domain>> = OnceLock::new();
    pub static CREATED: AtomicUsize = AtomicUsize::new(0);
    pub static DROPPED: AtomicUsize = AtomicUsize::new(0);
    pub static DEFERRED: AtomicUsize = AtomicUsize::new(0);
    pub static RAN: AtomicUsize = AtomicUsize::new(0);

    /// Its drop (run by a free step of the same thread's handle) pins, retires a child, defers,
    /// unpins and flushes: every re-entrant path into the freeing.
    pub struct Reentrant(pub u32);

    impl Reentrant {
        pub fn new(depth: u32) -> Self {
            CREATED.fetch_add(1, Ordering::SeqCst);
            Reentrant(depth)
        }
    }

    impl Drop for Reentrant {
        fn drop(&mut self) {
            DROPPED.fetch_add(1, Ordering::SeqCst);
            if self.0 == 0 {
                return;
            }
            let domain = DOMAIN.get().unwrap();
            let guard = domain.pin();
            let child = guard.alloc_node(Reentrant::new(self.0 - 1));
            // SAFETY: never published, retired once.
            unsafe { guard.retire_node(child) };
            DEFERRED.fetch_add(1, Ordering::SeqCst);
            guard.defer(|| {
                RAN.fetch_add(1, Ordering::SeqCst);
            });
            drop(guard);
            if self.0 % 2 == 0 {
                domain.flush();
            }
        }
    }
}

/// Destructors run by free steps (retire, pin) re-enter the same handle: pin, retire, defer,
/// flush. Every node is dropped once, every deferred function runs once, and a flush leaves
/// nothing (`freed_batches` and the cursor stay consistent).
#[test]
fn held_reentrant_destructors_in_free_steps() {
    use reentrant::*;
    let domain = Arc::clone(DOMAIN.get_or_init(|| Arc::new(Domain::new())));
    let iterations = if cfg!(miri) { 40 } else { 2_000 };
    std::thread::spawn(move || {
        let domain = DOMAIN.get().unwrap();
        for _ in 0..iterations {
            let guard = domain.pin();
            let node = guard.alloc_node(Reentrant::new(3));
            // SAFETY: never published, retired once.
            unsafe { guard.retire_node(node) };
        }
        // A destructor that pins during a flush republishes this thread's reservation, and
        // what is retired after that waits for the next flush (documented on `flush`, and so
        // before amortized freeing): the chains are three deep, so a few flushes end it.
        for _ in 0..8 {
            domain.flush();
        }
        let stats = domain.stats();
        assert_eq!(stats.unfreed(), 0, "{stats}");
    })
    .join()
    .unwrap();
    assert_eq!(
        DROPPED.load(Ordering::SeqCst),
        CREATED.load(Ordering::SeqCst)
    );
    assert_eq!(RAN.load(Ordering::SeqCst), DEFERRED.load(Ordering::SeqCst));
    assert_eq!(domain.stats().unfreed(), 0);
}

/// A destructor that panics inside the free step of an outermost pin (past the cap, so the
/// step runs whole batches): the pin count is lowered again, no node is dropped twice (the
/// canary), and a flush frees the rest exactly once.
#[test]
fn held_a_panic_in_a_pin_step_leaves_the_free_list_consistent() {
    const BATCHES: usize = FREE_LIST_CAP + 3;
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let reader = domain.register().unwrap();
    let writer = domain.register().unwrap();
    drop(reader.pin());
    let total = BATCHES * RETIRE_FREQ;
    // All born in the era the reader publishes, so it holds every batch.
    let nodes: Vec<_> = (0..total as u64)
        .map(|value| {
            // One bomb in the middle of the batches the step destroys whole.
            let armed = value == (RETIRE_FREQ + RETIRE_FREQ / 2) as u64;
            writer
                .alloc_node(Bomb {
                    armed,
                    canary: Canary::new(tally, value),
                })
                .as_ptr()
        })
        .collect();
    for node in nodes {
        // SAFETY: never published; retired once.
        unsafe { writer.retire_node(NonNull::new(node).unwrap()) };
    }
    assert_eq!(tally.live(), total);
    writer.flush();
    let result = panic::catch_unwind(AssertUnwindSafe(|| drop(reader.pin())));
    assert!(result.is_err(), "the bomb went off in the pin's step");
    assert!(!reader.is_pinned(), "the pin count is lowered again");
    assert!(
        tally.live() <= FREE_LIST_CAP * RETIRE_FREQ,
        "the step finished its cap"
    );
    reader.flush();
    assert_eq!(tally.live(), 0);
    let stats = domain.stats();
    assert_eq!(stats.unfreed(), 0, "{stats}");
}
