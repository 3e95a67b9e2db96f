//! `OwnedGuard`: a guard with its own reservation that moves between threads and may be shared
//! by several at once.
#![cfg(not(kovan_loom))]
mod common;

use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;

use common::{Canary, Tally, alloc, leak_tally};
use kovan_core::MAX_THREADS;
use kovan_reclaim::stall::{self, Step};
use kovan_reclaim::{Domain, LocalHandle, Node, OwnedGuard, RETIRE_FREQ, RegistryFull};

fn retire_now(handle: &LocalHandle, node: *mut Node<Canary>) {
    // SAFETY: every caller has unlinked `node` (or never published it) and retires it once.
    unsafe { handle.retire_node(NonNull::new(node).unwrap()) };
}

/// Unlinks what `shared` holds, retires it with a batch of fresh companions and flushes.
fn replace_retire_and_flush(
    writer: &LocalHandle,
    tally: &'static Tally,
    shared: &AtomicPtr<Node<Canary>>,
) {
    let unlinked = shared.swap(alloc(writer, tally, 2), Ordering::AcqRel);
    retire_now(writer, unlinked);
    for value in 0..RETIRE_FREQ as u64 {
        retire_now(writer, alloc(writer, tally, 1_000 + value));
    }
    for _ in 0..4 {
        writer.flush();
    }
}

#[test]
fn a_node_loaded_on_one_thread_stays_valid_on_another() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let writer = domain.register().unwrap();
    let shared = AtomicPtr::new(alloc(&writer, tally, 1));
    let guard = domain.pin_owned().unwrap();
    let loaded = guard.protect(&shared, Ordering::Acquire) as usize;
    replace_retire_and_flush(&writer, tally, &shared);
    assert!(!tally.was_dropped(1), "held by the owned guard");
    let registered = domain.stats().registered_threads;
    thread::spawn(move || {
        // SAFETY: loaded under `guard`, which moved here with it and is still alive.
        let node = unsafe { &*(loaded as *const Node<Canary>) };
        node.value().check();
        assert_eq!(node.value().value, 1);
        drop(guard);
    })
    .join()
    .unwrap();
    assert_eq!(
        domain.stats().registered_threads,
        registered - 1,
        "its id is released"
    );
    writer.flush();
    assert!(tally.was_dropped(1));
    let last = shared.swap(std::ptr::null_mut(), Ordering::AcqRel);
    retire_now(&writer, last);
    writer.flush();
    assert_eq!(tally.live(), 0);
    assert_eq!(domain.stats().unfreed(), 0);
}

/// The interleaving that a sharer-unsafe owned guard gets wrong: sharer A reads era e and
/// stalls; the era moves to e + 1 and sharer B loads a node born at e + 1 through the same guard;
/// A then publishes its stale e. Had A lowered the reservation, a writer that retires the node
/// now would skip the guard and free it under B.
#[test]
fn a_stale_sharer_never_lowers_the_reservation() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let writer = domain.register().unwrap();
    let shared = AtomicPtr::new(alloc(&writer, tally, 0));
    let guard = domain.pin_owned().unwrap();
    // Move the era past the guard's, so that A's protect takes the publishing path however the
    // guard's state caches its era.
    writer.flush();
    let (read_tx, read_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (published_tx, published_rx) = mpsc::channel::<()>();
    let (finish_tx, finish_rx) = mpsc::channel::<()>();
    let older = thread::scope(|scope| {
        let (guard, shared): (&OwnedGuard, _) = (&guard, &shared);
        let (go_rx, finish_rx) = (go_rx, finish_rx);
        // Owned by this closure, so a failed assertion below drops them and the stalled
        // sharer's `recv` returns instead of waiting forever.
        let (go_tx, finish_tx) = (go_tx, finish_tx);
        scope.spawn(move || {
            let mut stops = 0;
            stall::set_hook(move |step| {
                if step == Step::ProtectEraRead && stops == 0 {
                    stops += 1;
                    read_tx.send(()).unwrap();
                    let _ = go_rx.recv();
                } else if step == Step::ProtectPublished && stops == 1 {
                    stops += 1;
                    published_tx.send(()).unwrap();
                    let _ = finish_rx.recv();
                }
            });
            let _ = guard.protect(shared, Ordering::Acquire);
            stall::clear_hook();
        });
        read_rx.recv().unwrap();
        // A holds a stale era. The era moves on and a node born in the new era is installed.
        writer.flush();
        let newer = alloc(&writer, tally, 1);
        // Retired only at the end: born earlier, it would make the batch of `newer` eligible
        // for the guard whatever era the guard reserves.
        let older = shared.swap(newer, Ordering::AcqRel);
        // B loads the newer node through the shared guard.
        let loaded = scope
            .spawn(move || guard.protect(shared, Ordering::Acquire) as usize)
            .join()
            .unwrap();
        assert_eq!(loaded, newer as usize);
        // A publishes its stale era and stalls right after.
        go_tx.send(()).unwrap();
        published_rx.recv().unwrap();
        replace_retire_and_flush(&writer, tally, shared);
        assert!(
            !tally.was_dropped(1),
            "the node B loaded was freed under the live owned guard"
        );
        // SAFETY: B's load is protected by `guard`, alive until the end of the test.
        unsafe { &*(loaded as *const Node<Canary>) }.value().check();
        finish_tx.send(()).unwrap();
        older
    });
    retire_now(&writer, older);
    drop(guard);
    let last = shared.swap(std::ptr::null_mut(), Ordering::AcqRel);
    retire_now(&writer, last);
    for _ in 0..2 {
        writer.flush();
    }
    assert_eq!(tally.live(), 0);
}

/// Several threads load through one owned guard while writers replace and retire: every value
/// read is intact (ASan and TSan see what a canary cannot), every node dropped once.
#[test]
fn many_threads_share_one_owned_guard() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let shared = AtomicPtr::new(std::ptr::null_mut::<Node<Canary>>());
    let rounds = if cfg!(miri) { 50 } else { 5_000 };
    let reads = AtomicUsize::new(0);
    for _ in 0..if cfg!(miri) { 1 } else { 10 } {
        let guard = domain.pin_owned().unwrap();
        thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| {
                    for _ in 0..rounds {
                        let loaded = guard.protect(&shared, Ordering::Acquire);
                        if !loaded.is_null() {
                            // SAFETY: loaded under the shared guard from the live cell.
                            unsafe { &*loaded }.value().check();
                            reads.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
            scope.spawn(|| {
                let writer = domain.register().unwrap();
                for value in 0..rounds as u64 {
                    let old = shared.swap(alloc(&writer, tally, 100 + value), Ordering::AcqRel);
                    if !old.is_null() {
                        retire_now(&writer, old);
                    }
                }
            });
        });
        drop(guard);
    }
    assert!(reads.load(Ordering::Relaxed) > 0);
    let writer = domain.register().unwrap();
    retire_now(&writer, shared.swap(std::ptr::null_mut(), Ordering::AcqRel));
    writer.flush();
    assert_eq!(tally.live(), 0);
    assert_eq!(domain.stats().unfreed(), 0);
}

/// Retire, defer and flush through an owned guard go through the calling thread's handle of
/// the domain, so two threads retiring through one shared guard never share an open batch.
#[test]
fn retiring_through_a_shared_owned_guard_uses_each_threads_handle() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let guard = domain.pin_owned().unwrap();
    let per_thread = if cfg!(miri) { 100 } else { 10_000 };
    let deferred = AtomicUsize::new(0);
    thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                for value in 0..per_thread {
                    let node = guard.alloc_node(Canary::new(tally, 100 + value));
                    // SAFETY: never published, retired once.
                    unsafe { guard.retire_node(node) };
                }
                let deferred = &deferred as *const AtomicUsize as usize;
                guard.defer(move || {
                    // SAFETY: the counter outlives the domain, which runs this before it drops.
                    unsafe { &*(deferred as *const AtomicUsize) }.fetch_add(1, Ordering::SeqCst);
                });
                guard.flush();
            });
        }
    });
    let owned_id = guard.thread_id();
    drop(guard);
    let stats = domain.stats();
    // Each flush may add empty records to place its deferred batch: at most one per eligible
    // reservation (the owned guard's and the other thread's) plus one.
    let fillers = stats.retired - (2 * per_thread + 2);
    assert!(fillers <= 2 * 3, "{stats}");
    assert!(
        stats
            .oldest_reservation
            .is_none_or(|oldest| oldest.thread_id != owned_id),
        "the owned guard's reservation is released"
    );
    drop(domain);
    assert_eq!(tally.live(), 0);
    assert_eq!(deferred.load(Ordering::SeqCst), 2);
}

#[test]
#[cfg_attr(miri, ignore = "claims all 65,536 ids: minutes under Miri")]
fn ids_run_out_as_a_typed_error() {
    let domain = Arc::new(Domain::new());
    let mut guards = Vec::new();
    let error = loop {
        match domain.pin_owned() {
            Ok(guard) => guards.push(guard),
            Err(error) => break error,
        }
        assert!(
            guards.len() <= MAX_THREADS,
            "more owned guards than thread ids"
        );
    };
    assert_eq!(guards.len(), MAX_THREADS);
    assert_eq!(error, RegistryFull);
    guards.clear();
    assert_eq!(domain.stats().registered_threads, 0);
    assert!(domain.pin_owned().is_ok());
}
