//! Guard nesting, flush under a live guard, re-entrant and panicking destructors.
#![cfg(not(kovan_loom))]
mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use common::{alloc, leak_tally};
use kovan_reclaim::{Domain, Node};

const CYCLES: u64 = if cfg!(miri) { 300 } else { 100_000 };

/// Inner guards come and go while the outer one holds a pointer: only the outermost pin may
/// release the reservation's list.
#[test]
fn nested_guards_keep_the_outer_guards_pointer() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let handle = domain.register().unwrap();
    let shared = AtomicPtr::new(alloc(&handle, tally, 0));
    let outer = handle.pin();
    let held = outer.protect(&shared, Ordering::Acquire);
    for i in 1..=CYCLES {
        let inner = handle.pin();
        let old = shared.swap(alloc(&handle, tally, i), Ordering::AcqRel);
        // SAFETY: unlinked by the swap, retired once.
        unsafe { inner.retire_node(NonNull::new(old).unwrap()) };
        drop(inner);
        if i % 1_000 == 0 {
            // SAFETY: `outer` protects it.
            unsafe { &*held }.value().check();
        }
    }
    // SAFETY: `outer` protects it.
    unsafe { &*held }.value().check();
    assert!(
        tally.dropped.load(Ordering::SeqCst) > 0 || cfg!(miri),
        "other nodes were freed"
    );
    drop(outer);
    let last = shared.swap(std::ptr::null_mut(), Ordering::AcqRel);
    // SAFETY: unlinked, retired once.
    unsafe { handle.retire_node(NonNull::new(last).unwrap()) };
    handle.flush();
    assert_eq!(tally.live(), 0);
}

/// `flush` while a guard is live keeps what the guard loaded (the 0.1.12 flush freed it).
#[test]
fn flush_under_a_live_guard_keeps_the_guarded_value() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let handle = domain.register().unwrap();
    let shared = AtomicPtr::new(alloc(&handle, tally, 0));
    let guard = handle.pin();
    let held = guard.protect(&shared, Ordering::Acquire);
    let old = shared.swap(alloc(&handle, tally, 1), Ordering::AcqRel);
    // SAFETY: unlinked, retired once.
    unsafe { guard.retire_node(NonNull::new(old).unwrap()) };
    for _ in 0..8 {
        handle.flush();
        guard.flush();
    }
    assert_eq!(
        tally.dropped.load(Ordering::SeqCst),
        0,
        "the guarded node survived"
    );
    // SAFETY: protected by `guard`.
    unsafe { &*held }.value().check();
    drop(guard);
    handle.flush();
    assert_eq!(
        tally.dropped.load(Ordering::SeqCst),
        1,
        "freed once the guard dropped"
    );
    let last = shared.swap(std::ptr::null_mut(), Ordering::AcqRel);
    // SAFETY: unlinked, retired once.
    unsafe { handle.retire_node(NonNull::new(last).unwrap()) };
    handle.flush();
    assert_eq!(tally.live(), 0);
}

/// A value whose drop retires its child through the same handle: chains 200 deep.
struct Link {
    child: Option<NonNull<Node<Link>>>,
    handle: *const kovan_reclaim::LocalHandle,
    drops: &'static AtomicUsize,
}

// SAFETY: the test drives every handle from the thread that owns it.
unsafe impl Send for Link {}

impl Drop for Link {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if let Some(child) = self.child.take() {
            // SAFETY: the handle outlives every node of the chain (the test flushes before
            // dropping it); destructors run on the handle's own thread here.
            let handle = unsafe { &*self.handle };
            let guard = handle.pin();
            // SAFETY: the child was reachable only from this value, which is being dropped.
            unsafe { guard.retire_node(child) };
        }
    }
}

#[test]
fn destructor_chains_200_deep_drop_every_link_once() {
    const DEPTH: usize = 200;
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let drops = &DROPS;
    let domain = Arc::new(Domain::new());
    let handle = domain.register().unwrap();
    let mut child = None;
    for _ in 0..DEPTH {
        child = Some(handle.alloc_node(Link {
            child,
            handle: &handle,
            drops,
        }));
    }
    // SAFETY: never published, retired once.
    unsafe { handle.retire_node(child.unwrap()) };
    for _ in 0..DEPTH + 2 {
        handle.flush();
    }
    assert_eq!(drops.load(Ordering::SeqCst), DEPTH);
}

struct Bomb {
    explode: bool,
    drops: &'static AtomicUsize,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        assert!(!self.explode, "bomb destructor");
    }
}

/// Policy: a panicking destructor propagates to the caller after the rest of its batch (and
/// the rest of the free list) has been reclaimed.
#[test]
fn a_panicking_destructor_does_not_stop_the_batch() {
    const NODES: usize = 100;
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let drops = &DROPS;
    let domain = Arc::new(Domain::new());
    let handle = domain.register().unwrap();
    let mut panics = 0;
    for i in 0..NODES {
        let node = handle.alloc_node(Bomb {
            explode: i == 10,
            drops,
        });
        // SAFETY: never published, retired once.
        panics += usize::from(
            catch_unwind(AssertUnwindSafe(|| unsafe { handle.retire_node(node) })).is_err(),
        );
    }
    panics += usize::from(catch_unwind(AssertUnwindSafe(|| handle.flush())).is_err());
    assert_eq!(panics, 1, "the panic reached exactly one caller");
    assert_eq!(
        drops.load(Ordering::SeqCst),
        NODES,
        "every destructor ran once"
    );
    drop(handle);
}
