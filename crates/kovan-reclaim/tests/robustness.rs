//! The memory bound and the API contract in the cases the happy-path suites missed:
//! short-lived writer threads, destructors that panic on every path that runs them, flush
//! reaching a fixpoint, and nodes a thread publishes itself.
#![cfg(not(kovan_loom))]
mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use common::{Canary, Tally, alloc, leak_tally};
use kovan_reclaim::{Domain, LocalHandle, Node, RETIRE_FREQ, garbage_bound};

fn retire_now<T: Send + 'static>(handle: &LocalHandle, node: *mut Node<T>) {
    // SAFETY: every caller has unlinked `node` (or never published it) and retires it once.
    unsafe { handle.retire_node(NonNull::new(node).unwrap()) };
}

const WRITERS: u64 = if cfg!(miri) { 40 } else { 2_000 };

/// Issue 11.1: threads that each retire fewer than `EPOCH_FREQ` nodes and exit used to leave
/// the era where it was, so a live pinning thread kept every batch they placed (20,000 of
/// 20,000 unfreed). Each exit now advances the era after placing its batch.
#[test]
fn short_lived_writers_keep_the_garbage_under_the_bound() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let era_before = domain.era();
    let stop = AtomicBool::new(false);
    // Allocates the shared node and retires it at the end; it never pins, so its reservation
    // stays inactive.
    let main_handle = domain.register().unwrap();
    let shared = AtomicPtr::new(alloc(&main_handle, tally, 0));
    thread::scope(|s| {
        let (stop, shared) = (&stop, &shared);
        let pinner = {
            let domain = Arc::clone(&domain);
            s.spawn(move || {
                let handle = domain.register().unwrap();
                while !stop.load(Ordering::Relaxed) {
                    let guard = handle.pin();
                    let seen = guard.protect(shared, Ordering::Acquire);
                    // SAFETY: protected by `guard`, loaded from the live cell.
                    unsafe { &*seen }.value().check();
                }
            })
        };
        // Two writers at a time, each retiring 1..=10 nodes, so T = 3 registered at once
        // (plus the idle main handle: 4).
        for wave in 0..WRITERS / 2 {
            let writers: Vec<_> = (0..2)
                .map(|w| {
                    let domain = Arc::clone(&domain);
                    thread::spawn(move || {
                        let handle = domain.register().unwrap();
                        for i in 0..1 + (wave * 2 + w) % 10 {
                            retire_now(&handle, alloc(&handle, tally, 100 + i));
                        }
                    })
                })
                .collect();
            for writer in writers {
                writer.join().unwrap();
            }
        }
        stop.store(true, Ordering::Relaxed);
        pinner.join().unwrap();
    });
    let era_after = domain.era();
    // T = 4 (pinner, two writers, the main handle), k = 1 (only the pinner ever publishes a
    // reservation: the writers and the main handle retire without pinning, so theirs stay
    // inactive), n = 3 (the shared node and one node per writer in hand).
    let bound = garbage_bound(4, 1, 3);
    let peak = tally.peak.load(Ordering::SeqCst);
    println!(
        "short-lived writers: {WRITERS} threads, peak unfreed {peak} (bound {bound}), era {era_before} -> {era_after}"
    );
    assert!(peak <= bound, "peak {peak} over the bound {bound}");
    assert!(
        era_after - era_before >= WRITERS,
        "every exiting writer advances the era"
    );
    let last = shared.swap(std::ptr::null_mut(), Ordering::AcqRel);
    retire_now(&main_handle, last);
    main_handle.flush();
    drop(main_handle);
    drop(domain);
    assert_eq!(tally.live(), 0);
}

// ----- panicking destructors ------------------------------------------------------------------

/// A payload whose drop panics when armed; every drop, armed or not, is counted once.
struct Bomb {
    armed: bool,
    drops: &'static AtomicUsize,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        let previous = self.drops.fetch_add(1, Ordering::SeqCst);
        assert!(previous < usize::MAX / 2);
        if self.armed {
            panic!("bomb");
        }
    }
}

fn bomb(handle: &LocalHandle, armed: bool, drops: &'static AtomicUsize) -> *mut Node<Bomb> {
    handle.alloc_node(Bomb { armed, drops }).as_ptr()
}

/// A fresh drop counter, kept reachable from a static so that Miri's leak check ignores it.
fn leak_counter() -> &'static AtomicUsize {
    static COUNTERS: Mutex<Vec<&'static AtomicUsize>> = Mutex::new(Vec::new());
    let counter = Box::leak(Box::new(AtomicUsize::new(0)));
    COUNTERS.lock().unwrap().push(counter);
    counter
}

/// Checks what every panic test needs afterwards: the handle is unpinned and usable, and when
/// it is dropped its id goes to the next registrant.
fn assert_recovered(domain: &Arc<Domain>, handle: LocalHandle) {
    assert!(!handle.is_pinned(), "the panic left the handle pinned");
    drop(handle.pin());
    let id = handle.thread_id();
    drop(handle);
    let next = domain.register().unwrap();
    assert_eq!(
        next.thread_id(),
        id,
        "the id of the dropped handle is reused"
    );
}

/// Makes `holder`'s reservation hold a batch of `RETIRE_FREQ` nodes retired by `writer`, the
/// last one an armed bomb; the batch is freed when `holder` next captures its list, newest
/// node first, so the bomb is the first destructor that capture runs.
fn park_bomb_batch_in(holder: &LocalHandle, writer: &LocalHandle, drops: &'static AtomicUsize) {
    drop(holder.pin());
    for i in 0..RETIRE_FREQ {
        retire_now(writer, bomb(writer, i == RETIRE_FREQ - 1, drops));
    }
    // The batch went into `holder`'s list (the only active eligible reservation).
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    writer.flush();
    assert_eq!(drops.load(Ordering::SeqCst), 0, "held by the idle holder");
}

#[test]
fn destructor_panic_in_pin_leaves_the_handle_unpinned() {
    let drops = leak_counter();
    let domain = Arc::new(Domain::new());
    let holder = domain.register().unwrap();
    let writer = domain.register().unwrap();
    park_bomb_batch_in(&holder, &writer, drops);
    let outcome = catch_unwind(AssertUnwindSafe(|| drop(holder.pin())));
    assert!(outcome.is_err(), "the bomb went off inside pin");
    assert_eq!(
        drops.load(Ordering::SeqCst),
        RETIRE_FREQ,
        "every node dropped once"
    );
    assert_recovered(&domain, holder);
}

#[test]
fn destructor_panic_in_retire_reclaims_the_rest() {
    let drops = leak_counter();
    let domain = Arc::new(Domain::new());
    let handle = domain.register().unwrap();
    // Nobody reserves anything: the batch is freed by the retire that places it, which runs
    // the newest node's destructor first.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        for i in 0..RETIRE_FREQ {
            retire_now(&handle, bomb(&handle, i == RETIRE_FREQ - 1, drops));
        }
    }));
    assert!(outcome.is_err());
    assert_eq!(
        drops.load(Ordering::SeqCst),
        RETIRE_FREQ,
        "the panic propagates after the rest of its batch is dropped"
    );
    assert_recovered(&domain, handle);
}

#[test]
fn destructor_panic_in_flush_reclaims_the_rest() {
    let drops = leak_counter();
    let domain = Arc::new(Domain::new());
    let handle = domain.register().unwrap();
    for i in 0..5 {
        retire_now(&handle, bomb(&handle, i == 2, drops));
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| handle.flush()));
    assert!(outcome.is_err());
    assert_eq!(drops.load(Ordering::SeqCst), 5);
    assert_recovered(&domain, handle);
}

#[test]
fn destructor_panic_in_the_last_guard_drop_completes_the_exit() {
    let drops = leak_counter();
    let domain = Arc::new(Domain::new());
    let handle = domain.register().unwrap();
    let id = handle.thread_id();
    let guard = handle.pin();
    drop(handle); // exit deferred to the guard's drop
    for i in 0..5 {
        let node = guard.alloc_node(Bomb {
            armed: i == 1,
            drops,
        });
        // SAFETY: never published, retired once.
        unsafe { guard.retire_node(node) };
    }
    let outcome = catch_unwind(AssertUnwindSafe(move || drop(guard)));
    assert!(outcome.is_err());
    assert_eq!(drops.load(Ordering::SeqCst), 5);
    assert_exit_completed(&domain, id);
}

/// After an exit that a destructor's panic unwound through: the id went back to the registry
/// and the handle's state (which holds a reference on the domain) was freed.
fn assert_exit_completed(domain: &Arc<Domain>, id: usize) {
    let next = domain.register().unwrap();
    assert_eq!(next.thread_id(), id, "the exit released the id");
    drop(next);
    assert_eq!(Arc::strong_count(domain), 1, "the handle's box was freed");
}

#[test]
fn destructor_panic_in_thread_exit_completes_the_exit() {
    let drops = leak_counter();
    let domain = Arc::new(Domain::new());
    let handle = domain.register().unwrap();
    let id = handle.thread_id();
    for i in 0..5 {
        retire_now(&handle, bomb(&handle, i == 4, drops));
    }
    let outcome = catch_unwind(AssertUnwindSafe(move || drop(handle)));
    assert!(outcome.is_err());
    assert_eq!(drops.load(Ordering::SeqCst), 5);
    assert_exit_completed(&domain, id);
}

#[test]
fn destructor_panic_in_domain_drop_reclaims_the_rest() {
    let drops = leak_counter();
    let domain = Arc::new(Domain::new());
    // Five idle reservations make a four-node batch unplaceable, so the exit below parks it.
    let idle: Vec<LocalHandle> = (0..5).map(|_| domain.register().unwrap()).collect();
    for handle in &idle {
        drop(handle.pin());
    }
    let writer = domain.register().unwrap();
    for i in 0..4 {
        retire_now(&writer, bomb(&writer, i == 0, drops));
    }
    drop(writer);
    drop(idle);
    assert_eq!(drops.load(Ordering::SeqCst), 0, "the batch is parked");
    let outcome = catch_unwind(AssertUnwindSafe(move || drop(domain)));
    assert!(outcome.is_err());
    assert_eq!(drops.load(Ordering::SeqCst), 4);
}

// ----- flush reaches a fixpoint, publication under a guard ------------------------------------

/// A value whose drop retires its successor through the same handle.
struct Chain {
    next: Option<NonNull<Node<Chain>>>,
    handle: *const LocalHandle,
    drops: &'static AtomicUsize,
}

// SAFETY: every handle is used only on the thread that owns it.
unsafe impl Send for Chain {}

impl Drop for Chain {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if let Some(next) = self.next.take() {
            // SAFETY: the handle outlives the chain (the test drops it last) and destructors
            // run on its thread here.
            let handle = unsafe { &*self.handle };
            // SAFETY: `next` was reachable only from this value.
            unsafe { handle.retire_node(next) };
        }
    }
}

/// Issue 11.6: one `flush` frees everything the thread retired before or during the call,
/// including what destructors retire while it runs.
#[test]
fn one_flush_frees_what_destructors_retire_during_it() {
    const DEPTH: usize = if cfg!(miri) { 30 } else { 1_000 };
    let drops = leak_counter();
    let domain = Arc::new(Domain::new());
    let handle = domain.register().unwrap();
    let mut next = None;
    for _ in 0..DEPTH {
        next = Some(handle.alloc_node(Chain {
            next,
            handle: &handle,
            drops,
        }));
    }
    retire_now(&handle, next.unwrap().as_ptr());
    handle.flush();
    assert_eq!(drops.load(Ordering::SeqCst), DEPTH);
}

/// A destructor that flushes leaves the freeing to the reclaim that runs it (no endless loop).
#[test]
fn flush_from_a_destructor_returns() {
    struct Flusher(*const LocalHandle, &'static AtomicUsize);
    // SAFETY: used on the owning thread only.
    unsafe impl Send for Flusher {}
    impl Drop for Flusher {
        fn drop(&mut self) {
            self.1.fetch_add(1, Ordering::SeqCst);
            // SAFETY: the handle outlives every node (dropped last).
            unsafe { &*self.0 }.flush();
        }
    }
    let drops = leak_counter();
    let domain = Arc::new(Domain::new());
    let handle = domain.register().unwrap();
    for _ in 0..3 {
        retire_now(&handle, handle.alloc_node(Flusher(&handle, drops)).as_ptr());
    }
    handle.flush();
    assert_eq!(drops.load(Ordering::SeqCst), 3);
}

/// Issue 11.5: a node this thread publishes under a guard, that another thread then unlinks,
/// retires and flushes, stays valid until the guard drops, even though it was born after the
/// guard's reservation.
#[test]
fn a_node_published_under_a_guard_outlives_its_retirement_until_the_guard_drops() {
    let tally: &'static Tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let publisher = domain.register().unwrap();
    let shared = AtomicPtr::new(std::ptr::null_mut::<Node<Canary>>());
    let guard = publisher.pin();
    // The era moves after the guard's reservation, so the node is younger than it.
    for _ in 0..3 {
        publisher.flush();
    }
    let node = alloc(&publisher, tally, 1);
    // SAFETY: allocated above, not published yet.
    guard.cover(unsafe { &*node }.birth_era());
    shared.store(node, Ordering::Release);
    thread::scope(|s| {
        s.spawn(|| {
            let writer = domain.register().unwrap();
            let unlinked = shared.swap(std::ptr::null_mut(), Ordering::AcqRel);
            retire_now(&writer, unlinked);
            for i in 0..RETIRE_FREQ as u64 {
                retire_now(&writer, alloc(&writer, tally, 1_000 + i));
            }
            for _ in 0..4 {
                writer.flush();
            }
        });
    });
    assert!(!tally.was_dropped(1), "freed under the publishing guard");
    // SAFETY: covered by `guard`.
    unsafe { &*node }.value().check();
    drop(guard);
    publisher.flush();
    assert!(tally.was_dropped(1));
    drop(publisher);
    drop(domain);
    assert_eq!(tally.live(), 0);
}
