//! Deterministic interleavings through stall injection, and memory bounds with a stalled reader.
#![cfg(not(kovan_loom))]
mod common;

use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;

use common::{Canary, Tally, alloc, leak_tally};
use kovan_reclaim::stall::{self, Step};
use kovan_reclaim::{Domain, LocalHandle, Node, RETIRE_FREQ, garbage_bound};

fn retire_now(handle: &LocalHandle, node: *mut Node<Canary>) {
    // SAFETY: every caller has unlinked `node` (or never published it) and retires it once.
    unsafe { handle.retire_node(NonNull::new(node).unwrap()) };
}

/// Unlinks `newer` (value 1, the node a parked reader loaded) from `shared`, retires it with
/// `RETIRE_FREQ` fresh companions and pushes everything through; returns whether it was freed.
fn unlink_retire_and_flush(
    writer: &LocalHandle,
    tally: &'static Tally,
    shared: &AtomicPtr<Node<Canary>>,
    newer: *mut Node<Canary>,
) -> bool {
    let replacement = alloc(writer, tally, 2);
    let unlinked = shared.swap(replacement, Ordering::AcqRel);
    assert_eq!(unlinked, newer);
    retire_now(writer, unlinked);
    for i in 0..RETIRE_FREQ as u64 {
        retire_now(writer, alloc(writer, tally, 1_000 + i));
    }
    for _ in 0..4 {
        writer.flush();
    }
    tally.was_dropped(1)
}

/// Retires the node still in `shared`, flushes, drops the handle and the domain, and checks
/// that every node of `tally` was dropped.
fn retire_last_and_drop(
    writer: LocalHandle,
    domain: Arc<Domain>,
    shared: &AtomicPtr<Node<Canary>>,
    tally: &'static Tally,
) {
    let last = shared.swap(std::ptr::null_mut(), Ordering::AcqRel);
    retire_now(&writer, last);
    writer.flush();
    drop(writer);
    drop(domain);
    assert_eq!(tally.live(), 0);
}

/// The 0.1.12 protected-load race: the reader publishes an era and stalls before its reload;
/// the era moves on, a newer node is installed, the reader loads it, and the writer unlinks and
/// retires it. The node must survive until the reader's guard drops.
#[test]
fn protect_race_newer_node_survives_while_the_guard_lives() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let writer = domain.register().unwrap();
    let shared = AtomicPtr::new(alloc(&writer, tally, 0));
    let (parked_tx, parked_rx) = mpsc::channel::<()>();
    let (resume_tx, resume_rx) = mpsc::channel::<()>();
    let (loaded_tx, loaded_rx) = mpsc::channel::<usize>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let (pinned_tx, pinned_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();

    thread::scope(|scope| {
        // Owned by this closure, so a failed assertion below drops them and the reader's
        // `recv` fails instead of waiting forever.
        let (resume_tx, done_tx, go_tx) = (resume_tx, done_tx, go_tx);
        let (domain, shared) = (&domain, &shared);
        scope.spawn(move || {
            let reader = domain.register().unwrap();
            let guard = reader.pin();
            pinned_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            let mut parked_once = false;
            stall::set_hook(move |step| {
                if step == Step::ProtectPublished && !parked_once {
                    parked_once = true;
                    parked_tx.send(()).unwrap();
                    resume_rx.recv().unwrap();
                }
            });
            let node = guard.protect(shared, Ordering::Acquire);
            stall::clear_hook();
            loaded_tx.send(node as usize).unwrap();
            done_rx.recv().unwrap();
            drop(guard);
        });

        // The reader pinned at era E0; move the era so its load takes the publish path.
        pinned_rx.recv().unwrap();
        writer.flush();
        go_tx.send(()).unwrap();
        parked_rx.recv().unwrap();
        // Reader published E1 and is parked. Advance again and install N (born after E1).
        writer.flush();
        let newer = alloc(&writer, tally, 1);
        // The oldest node is retired only at the end: its low birth era would make every batch
        // it joins eligible for the reader's slot and hide the bug this test is about.
        let oldest = shared.swap(newer, Ordering::AcqRel);
        writer.flush();
        resume_tx.send(()).unwrap();
        let loaded = loaded_rx.recv().unwrap();
        assert_eq!(loaded, newer as usize, "the reader loaded the newer node");
        let freed_under_guard = unlink_retire_and_flush(&writer, tally, shared, newer);
        done_tx.send(()).unwrap();
        retire_now(&writer, oldest);
        assert!(
            !freed_under_guard,
            "the node the reader holds was freed under its guard"
        );
    });
    retire_last_and_drop(writer, domain, &shared, tally);
}

/// Sends the release signal when dropped.
struct ReleaseOnDrop(mpsc::Sender<()>);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        // The reader may be gone already (it panicked); nothing to release then.
        let _ = self.0.send(());
    }
}

/// Where the reader of [`stalled_reader_peak`] stops.
#[derive(Clone, Copy, PartialEq)]
enum Stop {
    /// In its guard, after a protected load that took the fast path.
    InGuard,
    /// In its guard, after a protected load that escalated and returned.
    AfterEscalatedLoad,
    /// Inside an escalated load, between publishing the infinite era and the load.
    InsideEscalatedLoad,
}

/// Two writers swap and retire `total` nodes through one shared cell while a reader holds a
/// guard and stops at `stop`. To make its load escalate, the era is moved on every round of
/// the load (from the stall hook). Returns the peak of retired-but-unfreed nodes.
fn stalled_reader_peak(total: usize, stop: Stop) -> usize {
    let tally: &'static Tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let setup = domain.register().unwrap();
    let shared = AtomicPtr::new(alloc(&setup, tally, 0));
    drop(setup);
    let peak = AtomicUsize::new(0);
    let (parked_tx, parked_rx) = mpsc::channel::<()>();
    let (resume_tx, resume_rx) = mpsc::channel::<()>();
    let mut park = Some(move || {
        parked_tx.send(()).unwrap();
        resume_rx.recv().unwrap();
    });
    thread::scope(|scope| {
        let (domain, shared, peak) = (&domain, &shared, &peak);
        scope.spawn(move || {
            let reader = domain.register().unwrap();
            let guard = reader.pin();
            let escalated = Arc::new(AtomicUsize::new(0));
            if stop != Stop::InGuard {
                let nudger = domain.register().unwrap();
                let escalated = Arc::clone(&escalated);
                let mut park_inside = if stop == Stop::InsideEscalatedLoad {
                    park.take()
                } else {
                    None
                };
                stall::set_hook(move |at| match at {
                    Step::ProtectPublished => nudger.flush(),
                    Step::ProtectEscalated => {
                        escalated.fetch_add(1, Ordering::SeqCst);
                        if let Some(park) = park_inside.take() {
                            park();
                        }
                    }
                    _ => {}
                });
                domain.register().unwrap().flush();
            }
            let node = guard.protect(shared, Ordering::Acquire);
            stall::clear_hook();
            assert_eq!(
                escalated.load(Ordering::SeqCst),
                usize::from(stop != Stop::InGuard)
            );
            if let Some(park) = park.take() {
                park();
            }
            // SAFETY: protected by `guard`.
            unsafe { &*node }.value().check();
            drop(guard);
        });
        parked_rx.recv().unwrap();
        // Releases the reader also when a writer's assertion unwinds through here, so that the
        // test fails instead of waiting for the reader forever.
        let release = ReleaseOnDrop(resume_tx);
        thread::scope(|inner| {
            for w in 0..2 {
                inner.spawn(move || {
                    let handle = domain.register().unwrap();
                    for i in 0..total / 2 {
                        let guard = handle.pin();
                        let fresh = alloc(&handle, tally, (w * total + i) as u64);
                        let old = shared.swap(fresh, Ordering::AcqRel);
                        // SAFETY: unlinked by the swap, retired once.
                        unsafe { guard.retire_node(NonNull::new(old).unwrap()) };
                        drop(guard);
                        if i % 256 == 0 {
                            peak.fetch_max(tally.live(), Ordering::SeqCst);
                        }
                    }
                    peak.fetch_max(tally.live(), Ordering::SeqCst);
                });
            }
        });
        drop(release);
    });
    let last = domain.register().unwrap();
    let node = shared.swap(std::ptr::null_mut(), Ordering::AcqRel);
    retire_now(&last, node);
    last.flush();
    drop(last);
    assert_eq!(tally.live(), 0, "everything freed once the reader let go");
    peak.load(Ordering::SeqCst)
}

const STALLED_TOTAL: usize = if cfg!(miri) { 400 } else { 1_000_000 };
/// docs/protocol.md §5 for this setup: T = 3 (the reader and two writers are registered at
/// once), k = 3 (the reader, and each writer whenever the OS deschedules it with its
/// reservation published: libtest runs these tests side by side on two cores, and a CI run
/// measured 3,203 with both writers lagging), n = 3 (the shared node and the node each writer
/// holds before its swap).
const PEAK_BOUND: usize = garbage_bound(3, 3, 3);

#[test]
fn reader_stalled_in_a_guard_holds_back_a_bounded_number_of_nodes() {
    let peak = stalled_reader_peak(STALLED_TOTAL, Stop::InGuard);
    println!("stalled reader (plain guard): peak unfreed = {peak} of {STALLED_TOTAL} retired");
    assert!(
        peak <= PEAK_BOUND,
        "peak {peak} over the bound {PEAK_BOUND}"
    );
}

/// An escalated load lowers its reservation before it returns, so a reader that stalls later
/// in the same guard is bounded like any other.
#[test]
fn reader_stalled_after_an_escalated_load_holds_back_a_bounded_number_of_nodes() {
    let peak = stalled_reader_peak(STALLED_TOTAL, Stop::AfterEscalatedLoad);
    println!(
        "stalled reader (after an escalated load): peak unfreed = {peak} of {STALLED_TOTAL} retired"
    );
    assert!(
        peak <= PEAK_BOUND,
        "peak {peak} over the bound {PEAK_BOUND}"
    );
}

/// The one unbounded state: stalled between publishing the infinite era and lowering it, a
/// reader holds back every batch placed meanwhile; afterwards all is freed.
#[test]
fn reader_stalled_inside_an_escalated_load_holds_everything_until_released() {
    let total = STALLED_TOTAL / 10;
    let peak = stalled_reader_peak(total, Stop::InsideEscalatedLoad);
    println!("stalled reader (inside an escalated load): peak unfreed = {peak} of {total} retired");
    assert!(
        peak >= total / 2,
        "the infinite era holds every batch placed while it is published"
    );
}

/// An escalated load returns a node born after the load began; the reservation it lowers to
/// must still cover that node's birth era, or the node is freed under the guard.
#[test]
fn escalated_load_keeps_a_node_born_during_the_escalation() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let writer = domain.register().unwrap();
    let shared = AtomicPtr::new(alloc(&writer, tally, 0));
    let (parked_tx, parked_rx) = mpsc::channel::<()>();
    let (resume_tx, resume_rx) = mpsc::channel::<()>();
    let (loaded_tx, loaded_rx) = mpsc::channel::<usize>();
    let (done_tx, done_rx) = mpsc::channel::<()>();

    thread::scope(|scope| {
        // Owned by this closure, as in the test above.
        let (resume_tx, done_tx) = (resume_tx, done_tx);
        let (domain, shared) = (&domain, &shared);
        scope.spawn(move || {
            let reader = domain.register().unwrap();
            let guard = reader.pin();
            let nudger = domain.register().unwrap();
            let mut parked_tx = Some(parked_tx);
            stall::set_hook(move |step| match step {
                // Move the era on every round so that the load escalates.
                Step::ProtectPublished => nudger.flush(),
                Step::ProtectEscalated => {
                    if let Some(parked_tx) = parked_tx.take() {
                        parked_tx.send(()).unwrap();
                        resume_rx.recv().unwrap();
                    }
                }
                _ => {}
            });
            domain.register().unwrap().flush();
            let node = guard.protect(shared, Ordering::Acquire);
            stall::clear_hook();
            loaded_tx.send(node as usize).unwrap();
            done_rx.recv().unwrap();
            // SAFETY: protected by `guard`.
            unsafe { &*(node as *const Node<Canary>) }.value().check();
            drop(guard);
        });

        // The reader published the infinite era and is parked before its load. Advance the era
        // and install N, born after everything the reader published before.
        parked_rx.recv().unwrap();
        writer.flush();
        let newer = alloc(&writer, tally, 1);
        let oldest = shared.swap(newer, Ordering::AcqRel);
        resume_tx.send(()).unwrap();
        let loaded = loaded_rx.recv().unwrap();
        assert_eq!(loaded, newer as usize, "the reader loaded the newer node");
        // The reader lowered its reservation. Move the era on so that N's companions are born
        // after it (the batch's oldest birth era is then N's).
        writer.flush();
        let freed_under_guard = unlink_retire_and_flush(&writer, tally, shared, newer);
        done_tx.send(()).unwrap();
        retire_now(&writer, oldest);
        assert!(
            !freed_under_guard,
            "the node the reader holds was freed under its guard"
        );
    });
    retire_last_and_drop(writer, domain, &shared, tally);
}
