//! `Guard::defer`: epoch semantics for resources that are not nodes.
#![cfg(not(kovan_loom))]
mod common;

use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

use std::thread;

use common::{alloc, leak_tally};
use kovan_reclaim::{Domain, RETIRE_FREQ};

const INTACT: u64 = 0x1CE_C0DE;
const FREED: u64 = 0xF4EE;

/// A resource that is not a node: a buffer whose "free" poisons it and counts.
struct Buffer {
    word: AtomicU64,
}

#[test]
fn a_reader_pinned_at_the_call_sees_the_resource_until_its_guard_drops() {
    let domain = Arc::new(Domain::new());
    let writer = domain.register().unwrap();
    // The deferred function poisons the buffer instead of freeing it (the test frees it), so
    // a read after the "free" is observable rather than undefined.
    let old = Arc::new(Buffer {
        word: AtomicU64::new(INTACT),
    });
    let replacement = Arc::new(Buffer {
        word: AtomicU64::new(INTACT),
    });
    let current = AtomicPtr::new(Arc::as_ptr(&old).cast_mut());
    let ran = Arc::new(AtomicUsize::new(0));
    let (loaded_tx, loaded_rx) = mpsc::channel::<()>();
    let (check_tx, check_rx) = mpsc::channel::<()>();
    let (checked_tx, checked_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    thread::scope(|scope| {
        // Owned by this closure, so a failed assertion below drops them and the reader's
        // `recv` fails instead of waiting forever.
        let (check_tx, release_tx) = (check_tx, release_tx);
        let (domain, current) = (&domain, &current);
        scope.spawn(move || {
            let reader = domain.register().unwrap();
            let guard = reader.pin();
            let seen = guard.protect(current, Ordering::Acquire);
            loaded_tx.send(()).unwrap();
            check_rx.recv().unwrap();
            // SAFETY: the test owns both buffers until the end; only the word is checked.
            assert_eq!(unsafe { &*seen }.word.load(Ordering::SeqCst), INTACT);
            checked_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            drop(guard);
            // Pinning again after the era moved releases what the old reservation held.
            drop(reader.pin());
        });
        loaded_rx.recv().unwrap();
        current.store(Arc::as_ptr(&replacement).cast_mut(), Ordering::Release);
        let guard = writer.pin();
        let counter = Arc::clone(&ran);
        let unlinked = Arc::clone(&old);
        guard.defer(move || {
            unlinked.word.store(FREED, Ordering::SeqCst);
            counter.fetch_add(1, Ordering::SeqCst);
        });
        drop(guard);
        // Plenty of unrelated garbage and flushes: nothing may run the function yet.
        let tally = leak_tally();
        for round in 0..20 {
            for value in 0..RETIRE_FREQ as u64 {
                let node = alloc(&writer, tally, 100 + round * 100 + value);
                // SAFETY: never published, retired once.
                unsafe { writer.retire_node(NonNull::new(node).unwrap()) };
            }
            writer.flush();
        }
        assert_eq!(
            ran.load(Ordering::SeqCst),
            0,
            "ran while a reader could use it"
        );
        check_tx.send(()).unwrap();
        checked_rx.recv().unwrap();
        release_tx.send(()).unwrap();
    });
    writer.flush();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(old.word.load(Ordering::SeqCst), FREED);
    writer.flush();
    drop(writer);
    drop(domain);
    assert_eq!(ran.load(Ordering::SeqCst), 1, "ran exactly once");
}

#[test]
fn every_deferred_function_runs_exactly_once() {
    let per_thread = if cfg!(miri) { 100 } else { 5_000 };
    let domain = Arc::new(Domain::new());
    let runs: Arc<Vec<AtomicUsize>> =
        Arc::new((0..4 * per_thread).map(|_| AtomicUsize::new(0)).collect());
    thread::scope(|scope| {
        for thread_index in 0..4 {
            let (domain, runs) = (&domain, &runs);
            scope.spawn(move || {
                let handle = domain.register().unwrap();
                for call in 0..per_thread {
                    let guard = handle.pin();
                    let runs = Arc::clone(runs);
                    let index = thread_index * per_thread + call;
                    guard.defer(move || {
                        runs[index].fetch_add(1, Ordering::SeqCst);
                    });
                }
            });
        }
    });
    // Exits placed or parked the rest; a flush adopts and frees what no reservation holds.
    domain.register().unwrap().flush();
    let stats = domain.stats();
    assert_eq!(stats.retired, 4 * per_thread as u64);
    assert_eq!(stats.freed, stats.retired);
    drop(domain);
    assert!(runs.iter().all(|count| count.load(Ordering::SeqCst) == 1));
}

#[test]
fn a_panicking_deferred_function_propagates_and_the_rest_still_run() {
    let domain = Arc::new(Domain::new());
    let handle = domain.register().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let guard = handle.pin();
    for index in 0..10 {
        let ran = Arc::clone(&ran);
        guard.defer(move || {
            ran.fetch_add(1, Ordering::SeqCst);
            assert_ne!(index, 3, "deferred function 3 fails");
        });
    }
    drop(guard);
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| handle.flush()));
    assert!(outcome.is_err(), "the panic propagates");
    assert_eq!(ran.load(Ordering::SeqCst), 10, "the other nine ran too");
    assert!(!handle.is_pinned(), "the handle stays consistent");
    // And it keeps working.
    let guard = handle.pin();
    let again = Arc::clone(&ran);
    guard.defer(move || {
        again.fetch_add(1, Ordering::SeqCst);
    });
    drop(guard);
    handle.flush();
    assert_eq!(ran.load(Ordering::SeqCst), 11);
    assert_eq!(domain.stats().unfreed(), 0);
}

/// Deferred records wait for every reservation, so they gather in a batch of their own: a
/// stalled reader holds them back, not the nodes retired beside them.
#[test]
fn a_stalled_reader_holds_back_deferred_functions_not_nodes() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let writer = domain.register().unwrap();
    let reader = domain.register().unwrap();
    let stalled = reader.pin();
    // Move the era past the reader's, so the nodes below are born after it.
    writer.flush();
    assert!(domain.era() > domain.stats().oldest_reservation.unwrap().era);
    let ran = Arc::new(AtomicUsize::new(0));
    let guard = writer.pin();
    for value in 0..10 * RETIRE_FREQ as u64 {
        if value % RETIRE_FREQ as u64 == 0 {
            let ran = Arc::clone(&ran);
            guard.defer(move || {
                ran.fetch_add(1, Ordering::SeqCst);
            });
        }
        let node = alloc(&writer, tally, 1_000 + value);
        // SAFETY: never published, retired once.
        unsafe { guard.retire_node(NonNull::new(node).unwrap()) };
    }
    drop(guard);
    writer.flush();
    assert_eq!(tally.live(), 0, "every node was freed");
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "the stalled reader holds the deferred ones"
    );
    // The ten records, and at most one empty record that the flush added to place the last
    // of them (one per eligible reservation, the reader's, plus one).
    let unfreed = domain.stats().unfreed();
    assert!((10..=11).contains(&unfreed), "{unfreed} unfreed");
    drop(stalled);
    reader.flush();
    writer.flush();
    assert_eq!(ran.load(Ordering::SeqCst), 10);
    assert_eq!(domain.stats().unfreed(), 0);
}
