//! Concurrent accounting: every retired node is dropped exactly once, readers never see a
//! poisoned node, and nothing is lost with many pinned threads or short-lived threads.
#![cfg(not(kovan_loom))]
mod common;

use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::thread;

use common::{Canary, alloc, leak_tally, retire};
use kovan_reclaim::{Domain, Node};

const WRITERS: usize = if cfg!(miri) { 2 } else { 8 };
const RETIRES_PER_WRITER: usize = if cfg!(miri) { 150 } else { 100_000 };
const READERS: usize = 2;
const CELLS: usize = 16;

#[test]
fn miri_seeds_writers_and_readers_drop_every_node_exactly_once() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let setup = domain.register().unwrap();
    let cells: Vec<AtomicPtr<Node<Canary>>> = (0..CELLS as u64)
        .map(|i| AtomicPtr::new(alloc(&setup, tally, i)))
        .collect();
    drop(setup);
    let writers_done = AtomicUsize::new(0);
    let reads = AtomicUsize::new(0);
    thread::scope(|scope| {
        for writer in 0..WRITERS {
            let (domain, cells, writers_done) = (&domain, &cells, &writers_done);
            scope.spawn(move || {
                let handle = domain.register().unwrap();
                for i in 0..RETIRES_PER_WRITER {
                    let guard = handle.pin();
                    let fresh = alloc(&handle, tally, (writer * RETIRES_PER_WRITER + i) as u64);
                    let old = cells[(writer + i) % CELLS].swap(fresh, Ordering::AcqRel);
                    // SAFETY: unlinked by the swap, retired once.
                    unsafe { retire(&guard, old) };
                }
                writers_done.fetch_add(1, Ordering::SeqCst);
            });
        }
        for reader in 0..READERS {
            let (domain, cells, writers_done, reads) = (&domain, &cells, &writers_done, &reads);
            scope.spawn(move || {
                let handle = domain.register().unwrap();
                let mut i = reader;
                while writers_done.load(Ordering::SeqCst) < WRITERS {
                    let guard = handle.pin();
                    for _ in 0..4 {
                        let node = guard.protect(&cells[i % CELLS], Ordering::Acquire);
                        // SAFETY: protected by `guard`, loaded from a live cell.
                        let canary = unsafe { &*node }.value();
                        canary.check();
                        i += 1;
                    }
                    drop(guard);
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert!(reads.load(Ordering::SeqCst) > 0, "readers never ran");
    let cleanup = domain.register().unwrap();
    for cell in &cells {
        let last = cell.swap(std::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: unlinked, retired once.
        unsafe { cleanup.retire_node(NonNull::new(last).unwrap()) };
    }
    cleanup.flush();
    drop(cleanup);
    let total = CELLS + WRITERS * RETIRES_PER_WRITER;
    assert_eq!(tally.created.load(Ordering::SeqCst), total);
    assert_eq!(
        tally.dropped.load(Ordering::SeqCst),
        total,
        "all threads exited: all freed"
    );
    drop(domain);
}

/// With more pinned threads than a batch has nodes, batches grow instead of being dropped.
#[test]
fn no_batch_is_lost_with_80_pinned_threads() {
    const PINNED: usize = if cfg!(miri) { 10 } else { 80 };
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let release = AtomicBool::new(false);
    let pinned = AtomicUsize::new(0);
    thread::scope(|scope| {
        for _ in 0..PINNED {
            let (domain, release, pinned) = (&domain, &release, &pinned);
            scope.spawn(move || {
                let handle = domain.register().unwrap();
                let guard = handle.pin();
                pinned.fetch_add(1, Ordering::SeqCst);
                while !release.load(Ordering::SeqCst) {
                    thread::yield_now();
                }
                drop(guard);
            });
        }
        while pinned.load(Ordering::SeqCst) < PINNED {
            thread::yield_now();
        }
        let writer = domain.register().unwrap();
        for i in 0..(PINNED as u64 * 3) {
            let node = alloc(&writer, tally, i);
            // SAFETY: never published, retired once.
            unsafe { writer.retire_node(NonNull::new(node).unwrap()) };
        }
        writer.flush();
        release.store(true, Ordering::SeqCst);
        drop(writer);
    });
    let last = domain.register().unwrap();
    last.flush();
    drop(last);
    assert_eq!(tally.dropped.load(Ordering::SeqCst), PINNED * 3);
}

/// 1,000 short-lived threads retire 1..=100 nodes each; a third never pin. Nothing leaks.
#[test]
fn short_lived_threads_leak_nothing() {
    const THREADS: usize = if cfg!(miri) { 12 } else { 1_000 };
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    for wave in 0..THREADS / 4 {
        thread::scope(|scope| {
            for lane in 0..4 {
                let domain = &domain;
                scope.spawn(move || {
                    let id = wave * 4 + lane;
                    let handle = domain.register().unwrap();
                    let guard = (id % 3 != 0).then(|| handle.pin());
                    for i in 0..(id % 100 + 1) as u64 {
                        let node = alloc(&handle, tally, i);
                        // SAFETY: never published, retired once.
                        unsafe { handle.retire_node(NonNull::new(node).unwrap()) };
                    }
                    drop(guard);
                });
            }
        });
    }
    let main = domain.register().unwrap();
    main.flush();
    drop(main);
    let expected: usize = (0..THREADS).map(|id| id % 100 + 1).sum();
    assert_eq!(tally.created.load(Ordering::SeqCst), expected);
    assert_eq!(tally.dropped.load(Ordering::SeqCst), expected);
    assert!(
        domain.register().unwrap().thread_id() < 8,
        "ids were recycled"
    );
}

/// 256 concurrent threads, then 256 more on recycled ids.
#[test]
fn two_waves_of_256_threads_recycle_ids() {
    const THREADS: usize = if cfg!(miri) { 6 } else { 256 };
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let highest = AtomicUsize::new(0);
    for _ in 0..2 {
        let barrier = std::sync::Barrier::new(THREADS);
        thread::scope(|scope| {
            for t in 0..THREADS {
                let (domain, barrier, highest) = (&domain, &barrier, &highest);
                scope.spawn(move || {
                    let handle = domain.register().unwrap();
                    highest.fetch_max(handle.thread_id(), Ordering::SeqCst);
                    barrier.wait();
                    let guard = handle.pin();
                    for i in 0..70u64 {
                        let node = alloc(&handle, tally, t as u64 * 100 + i);
                        // SAFETY: never published, retired once.
                        unsafe { retire(&guard, node) };
                    }
                });
            }
        });
    }
    assert!(
        highest.load(Ordering::SeqCst) < THREADS,
        "second wave reused ids"
    );
    let main = domain.register().unwrap();
    main.flush();
    drop(main);
    assert_eq!(tally.dropped.load(Ordering::SeqCst), 2 * THREADS * 70);
}
