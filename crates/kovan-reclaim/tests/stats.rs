//! `Domain::stats`: exact counts once quiescent, the thread that holds memory back, parked
//! batches, and snapshots that stay consistent while threads retire.
#![cfg(not(kovan_loom))]
mod common;

use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::thread;

use common::{alloc, leak_tally};
use kovan_reclaim::{Domain, LocalHandle, OldestReservation, RETIRE_FREQ};

fn retire_fresh(handle: &LocalHandle, tally: &'static common::Tally, count: u64) {
    for value in 0..count {
        let node = alloc(handle, tally, 1_000 + value);
        // SAFETY: never published, retired once.
        unsafe { handle.retire_node(NonNull::new(node).unwrap()) };
    }
}

#[test]
fn counts_are_exact_once_quiescent() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                let handle = domain.register().unwrap();
                retire_fresh(&handle, tally, 1_000);
                // Exit parks or places what is left; the domain frees the rest when dropped.
            });
        }
    });
    let stats = domain.stats();
    assert_eq!(stats.retired, 3_000);
    assert_eq!(stats.freed, tally.dropped.load(Ordering::SeqCst) as u64);
    assert_eq!(stats.unfreed(), tally.live() as u64);
    assert_eq!(stats.registered_threads, 0);
    assert_eq!(stats.oldest_reservation, None);

    let handle = domain.register().unwrap();
    handle.flush();
    let stats = domain.stats();
    assert_eq!(
        (stats.retired, stats.freed, stats.unfreed()),
        (3_000, 3_000, 0)
    );
    assert_eq!(stats.parked_batches, 0);
    assert_eq!(stats.registered_threads, 1);
    assert_eq!(tally.live(), 0);
}

#[test]
fn freed_counts_every_node_of_a_batch() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let handle = domain.register().unwrap();
    retire_fresh(&handle, tally, RETIRE_FREQ as u64 * 3 + 5);
    handle.flush();
    let stats = domain.stats();
    assert_eq!(tally.live(), 0);
    assert_eq!(stats.freed, RETIRE_FREQ as u64 * 3 + 5);
    assert_eq!(stats.retired, stats.freed);
}

#[test]
fn oldest_reservation_names_the_reader_that_holds_memory_back() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let writer = domain.register().unwrap();
    let reader = domain.register().unwrap();
    let guard = reader.pin();
    let reader_era = domain.era();
    // Born at the reader's era: the reader's reservation holds their batches.
    retire_fresh(&writer, tally, 10 * RETIRE_FREQ as u64);
    writer.flush();
    let stats = domain.stats();
    assert!(stats.era > reader_era, "the writer moved the era");
    assert_eq!(
        stats.oldest_reservation,
        Some(OldestReservation {
            era: reader_era,
            thread_id: reader.thread_id(),
        })
    );
    assert_eq!(stats.unfreed(), tally.live() as u64);
    assert!(
        stats.unfreed() > 0,
        "the reader holds the batches it could reach"
    );

    drop(guard);
    reader.flush();
    writer.flush();
    let stats = domain.stats();
    assert_eq!(stats.unfreed(), 0);
    assert_eq!(tally.live(), 0);
    // The reader flushed without a guard (released), the writer never pinned.
    assert_eq!(stats.oldest_reservation, None);
}

#[test]
fn a_batch_parked_at_exit_is_counted_until_adopted() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let reader = domain.register().unwrap();
    let guard = reader.pin();
    thread::scope(|scope| {
        scope.spawn(|| {
            let handle = domain.register().unwrap();
            // One node, one eligible reservation (the reader's): too few to place, so the
            // exit parks it.
            retire_fresh(&handle, tally, 1);
        });
    });
    let stats = domain.stats();
    assert_eq!(stats.parked_batches, 1);
    assert_eq!((stats.retired, stats.unfreed()), (1, 1));
    assert_eq!(stats.registered_threads, 1);
    drop(guard);
    reader.flush();
    let stats = domain.stats();
    assert_eq!(stats.parked_batches, 0);
    assert_eq!(stats.unfreed(), 0);
    assert_eq!(tally.live(), 0);
}

#[test]
fn display_is_one_line_with_every_figure() {
    let domain = Arc::new(Domain::new());
    assert_eq!(
        domain.stats().to_string(),
        "retired 0, freed 0, unfreed 0, parked 0, threads 0, era 1, no active reservation"
    );
    let handle = domain.register().unwrap();
    let guard = handle.pin();
    let line = domain.stats().to_string();
    assert_eq!(
        line,
        format!(
            "retired 0, freed 0, unfreed 0, parked 0, threads 1, era 1, oldest reservation era 1 \
             (thread {})",
            handle.thread_id()
        )
    );
    assert!(!line.contains('\n'));
    drop(guard);
}

/// Snapshots taken while threads retire and free: freed never exceeds retired, and both only
/// grow (the order of the sums in `stats` is what makes this hold).
#[test]
fn snapshots_under_load_stay_consistent() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let shared = AtomicPtr::new(std::ptr::null_mut());
    let stop = AtomicBool::new(false);
    let rounds = if cfg!(miri) { 200 } else { 20_000 };
    thread::scope(|scope| {
        scope.spawn(|| {
            let mut last = domain.stats();
            while !stop.load(Ordering::Relaxed) {
                let now = domain.stats();
                assert!(now.freed <= now.retired, "{now}");
                assert!(now.retired >= last.retired && now.freed >= last.freed);
                assert!(now.era >= last.era);
                last = now;
                thread::yield_now();
            }
        });
        thread::scope(|writers| {
            for _ in 0..2 {
                writers.spawn(|| {
                    let handle = domain.register().unwrap();
                    for round in 0..rounds {
                        let guard = handle.pin();
                        let fresh = alloc(&handle, tally, 100 + round % 7);
                        let old = shared.swap(fresh, Ordering::AcqRel);
                        if let Some(old) = NonNull::new(old) {
                            // SAFETY: unlinked by the swap, retired once.
                            unsafe { guard.retire_node(old) };
                        }
                    }
                });
            }
        });
        stop.store(true, Ordering::Relaxed);
    });
    let handle = domain.register().unwrap();
    let last = shared.swap(std::ptr::null_mut(), Ordering::AcqRel);
    // SAFETY: unlinked, retired once.
    unsafe { handle.retire_node(NonNull::new(last).unwrap()) };
    handle.flush();
    let stats = domain.stats();
    // Every swap but the first unlinked a node, and the last one is retired above.
    assert_eq!(stats.retired, 2 * rounds);
    assert_eq!(stats.unfreed(), 0);
    assert_eq!(tally.live(), 0);
}
