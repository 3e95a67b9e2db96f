//! Amortized freeing: how many destructors each operation runs, and the cap on waiting batches.
//!
//! Freed batches wait on the freeing thread's list; each retire, deferral and outermost pin
//! after the era moved runs `FREE_STEP` destructors, and whole batches while more than
//! `FREE_LIST_CAP` wait. Flush runs everything.

mod common;

use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Tally, alloc, leak_tally};
use kovan_reclaim::{Domain, FREE_LIST_CAP, FREE_STEP, LocalHandle, RETIRE_FREQ};

fn retire_new(handle: &LocalHandle, tally: &'static Tally, value: u64) {
    let node = alloc(handle, tally, value);
    // SAFETY: never published; retired once.
    unsafe { handle.retire_node(NonNull::new(node).unwrap()) };
}

/// The retire that places a batch no reservation holds frees it, and every retire runs only
/// its step of destructors, until the batch is gone.
#[test]
fn each_retire_runs_its_step_of_destructors() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let handle = domain.register().unwrap();
    let mut value = 0;
    for _ in 0..RETIRE_FREQ - 1 {
        retire_new(&handle, tally, value);
        value += 1;
    }
    assert_eq!(tally.live(), RETIRE_FREQ - 1, "the batch is still open");
    // The placing retire frees the batch (no reservation is active) and runs one step.
    let mut freed = 0;
    for _ in 0..RETIRE_FREQ / FREE_STEP {
        retire_new(&handle, tally, value);
        value += 1;
        freed += FREE_STEP;
        assert_eq!(
            tally.live(),
            value as usize - freed,
            "one step of {FREE_STEP} per retire"
        );
    }
    assert_eq!(freed, RETIRE_FREQ, "the first batch is gone");
    handle.flush();
    assert_eq!(tally.live(), 0, "flush runs every waiting destructor");
    assert_eq!(domain.stats().unfreed(), 0);
}

/// A thread that retires and is also the last releaser of many batches runs them down to the
/// cap at its next pin instead of keeping them: batches beyond `FREE_LIST_CAP` are destroyed
/// whole. (A thread that retired nothing since its last update runs them all: see
/// `review_issue14.rs`, finding 1.)
#[test]
fn a_retiring_reader_that_frees_many_batches_keeps_at_most_the_cap() {
    const BATCHES: usize = FREE_LIST_CAP + 3;
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let reader = domain.register().unwrap();
    let writer = domain.register().unwrap();
    // The reader's reservation is the only active one and every node is born in the era it
    // publishes: each placed batch gives it one node and is freed by its next capture.
    drop(reader.pin());
    let nodes: Vec<_> = (0..(BATCHES * RETIRE_FREQ) as u64)
        .map(|value| alloc(&writer, tally, value))
        .collect();
    for node in nodes {
        // SAFETY: never published; retired once.
        unsafe { writer.retire_node(NonNull::new(node).unwrap()) };
    }
    assert_eq!(tally.live(), BATCHES * RETIRE_FREQ, "the reader holds them");
    // One retirement of its own (it stays in the reader's open batch) makes the next update
    // amortize; the writer retired past an era advance, so this pin captures the list.
    retire_new(&reader, tally, u64::MAX);
    drop(reader.pin());
    assert_eq!(
        tally.live(),
        FREE_LIST_CAP * RETIRE_FREQ + 1,
        "all but the cap's batches are destroyed by the pin"
    );
    assert_eq!(
        domain.stats().unfreed(),
        (FREE_LIST_CAP * RETIRE_FREQ + 1) as u64
    );
    reader.flush();
    assert_eq!(tally.live(), 0);
}

/// Retires one batch that no reservation holds: the placing retire frees it and runs one step,
/// so `RETIRE_FREQ - FREE_STEP` nodes wait on the handle's free list.
fn leave_a_freed_batch_waiting(handle: &LocalHandle, tally: &'static Tally) {
    for value in 0..RETIRE_FREQ as u64 {
        retire_new(handle, tally, value);
    }
    assert_eq!(tally.live(), RETIRE_FREQ - FREE_STEP);
}

/// A flush runs every waiting destructor, also those a retire left for its next steps.
#[test]
fn flush_runs_what_the_steps_left() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let handle = domain.register().unwrap();
    leave_a_freed_batch_waiting(&handle, tally);
    handle.flush();
    assert_eq!(tally.live(), 0);
    assert_eq!(domain.stats().unfreed(), 0);
}

/// Thread exit runs every waiting destructor.
#[test]
fn exit_runs_what_the_steps_left() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let handle = domain.register().unwrap();
    leave_a_freed_batch_waiting(&handle, tally);
    drop(handle);
    assert_eq!(tally.live(), 0);
    assert_eq!(domain.stats().unfreed(), 0);
}

/// With many registered threads, a batch is first placed at as many nodes as the placement
/// scans ids, so the scan costs O(1) per retirement.
#[test]
fn batches_grow_with_the_registered_threads() {
    const IDLE: usize = 3 * RETIRE_FREQ;
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let idle: Vec<LocalHandle> = (0..IDLE).map(|_| domain.register().unwrap()).collect();
    let writer = domain.register().unwrap();
    let scanned = IDLE + 1;
    for value in 0..scanned as u64 - 1 {
        retire_new(&writer, tally, value);
    }
    assert_eq!(
        tally.live(),
        scanned - 1,
        "no placement before the batch covers the scan"
    );
    // No reservation is active: the placing retire frees the batch and runs one step.
    retire_new(&writer, tally, scanned as u64);
    assert_eq!(tally.live(), scanned - FREE_STEP);
    writer.flush();
    assert_eq!(tally.live(), 0);
    drop(idle);
}

/// A freed batch of deferred functions runs whole in the operation that frees it, even on a
/// thread whose free steps are amortized (it retired since its last update): a deferred
/// function often releases more than a node, and `Guard::defer` promises it runs once the
/// reservations holding it are released.
#[test]
fn a_freed_deferred_batch_runs_whole_in_the_step_that_frees_it() {
    let tally = leak_tally();
    let ran = Arc::new(AtomicUsize::new(0));
    let domain = Arc::new(Domain::new());
    let reader = domain.register().unwrap();
    let writer = domain.register().unwrap();
    drop(reader.pin());
    {
        let guard = writer.pin();
        for _ in 0..RETIRE_FREQ {
            let ran = Arc::clone(&ran);
            guard.defer(move || {
                ran.fetch_add(1, Ordering::SeqCst);
            });
        }
    }
    // The deferred batch was placed at its RETIRE_FREQ-th record; the flush releases the
    // writer's reservation, so only the reader's holds it.
    writer.flush();
    assert_eq!(ran.load(Ordering::SeqCst), 0, "the reader holds the batch");
    // A retirement makes the reader's next update amortize; the flush moved the era, so the
    // pin captures the list and frees the deferred batch.
    retire_new(&reader, tally, 0);
    drop(reader.pin());
    assert_eq!(
        ran.load(Ordering::SeqCst),
        RETIRE_FREQ,
        "the batch ran whole"
    );
    reader.flush();
    assert_eq!(tally.live(), 0);
}
