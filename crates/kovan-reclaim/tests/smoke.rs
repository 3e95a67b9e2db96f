//! Single-threaded behaviour of pin, protect, retire and flush with exact accounting.
#![cfg(not(kovan_loom))]
mod common;

use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, Ordering};

use common::{Canary, alloc, leak_tally};
use kovan_reclaim::{Domain, Node, RETIRE_FREQ};

#[test]
fn retired_nodes_are_dropped_exactly_once_after_flush() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let handle = domain.register().unwrap();
    for i in 0..(3 * RETIRE_FREQ as u64 + 5) {
        let node = alloc(&handle, tally, i);
        // SAFETY: never published, retired once.
        unsafe { handle.retire_node(NonNull::new(node).unwrap()) };
    }
    handle.flush();
    assert_eq!(tally.dropped.load(Ordering::SeqCst), 3 * RETIRE_FREQ + 5);
    drop(handle);
    drop(domain);
    assert_eq!(tally.live(), 0);
}

#[test]
fn guard_keeps_the_loaded_node_through_flushes_and_repins() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let handle = domain.register().unwrap();
    let shared = AtomicPtr::new(alloc(&handle, tally, 0));
    let outer = handle.pin();
    let held = outer.protect(&shared, Ordering::Acquire);
    let old = shared.swap(alloc(&handle, tally, 1), Ordering::AcqRel);
    assert_eq!(old, held);
    // SAFETY: unlinked above, retired once.
    unsafe { outer.retire_node(NonNull::new(old).unwrap()) };
    for round in 0..1_000u64 {
        let inner = handle.pin();
        let fresh = alloc(&handle, tally, round + 2);
        let prev = shared.swap(fresh, Ordering::AcqRel);
        // SAFETY: unlinked above, retired once.
        unsafe { inner.retire_node(NonNull::new(prev).unwrap()) };
        drop(inner);
        if round % 100 == 0 {
            handle.flush();
        }
        // SAFETY: protected by `outer`.
        unsafe { &*held }.value().check();
    }
    drop(outer);
    handle.flush();
    let last = shared.swap(std::ptr::null_mut(), Ordering::AcqRel);
    // SAFETY: unlinked, retired once.
    unsafe { handle.retire_node(NonNull::new(last).unwrap()) };
    handle.flush();
    assert_eq!(tally.live(), 0);
}

#[test]
fn dropping_the_domain_frees_parked_and_listed_garbage() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    {
        let reader = domain.register().unwrap();
        let writer = domain.register().unwrap();
        let _guard = reader.pin();
        for i in 0..10 {
            let node: NonNull<Node<Canary>> = writer.alloc_node(Canary::new(tally, i));
            // SAFETY: never published, retired once.
            unsafe { writer.retire_node(node) };
        }
        drop(writer);
    }
    drop(domain);
    assert_eq!(tally.live(), 0);
}
