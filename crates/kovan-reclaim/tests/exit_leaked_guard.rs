//! A guard that a destructor pins during the default handle's teardown (through the exiting
//! handle) and keeps alive in a thread-local keeps its reservation: the exit does not deactivate
//! the slot under it, and the guard's drop finishes the exit. Found by the adversarial review
//! of issue 11: the exit's next round deactivated the slot, and a node the guard protected was
//! freed while the guard lived (mutant `exit_deactivates_under_guard`).
//!
//! Own binary: nothing else in the default domain may hold a reservation.
#![cfg(not(kovan_loom))]
mod common;

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, Ordering};
use std::thread;
use std::time::Duration;

use common::{Canary, Tally, leak_tally};
use kovan_reclaim::{Guard, Node, default_domain, flush, with_handle};
use std::ptr::NonNull;
use std::sync::OnceLock;

static SHARED: AtomicPtr<Node<Canary>> = AtomicPtr::new(std::ptr::null_mut());
static TALLY: OnceLock<&'static Tally> = OnceLock::new();
/// 0: idle, 1: the worker's kept guard holds the node, 2: the main thread retired and flushed.
static PHASE: AtomicU8 = AtomicU8::new(0);
static FREED_UNDER_GUARD: AtomicBool = AtomicBool::new(false);
static CHECKED: AtomicBool = AtomicBool::new(false);

/// A thread-local that keeps a guard (and the pointer it protected) past the default
/// handle's teardown, and checks the pointer in its own destructor.
struct Keeper(RefCell<Option<(Guard, *mut Node<Canary>)>>);

impl Drop for Keeper {
    fn drop(&mut self) {
        let Some((guard, seen)) = self.0.borrow_mut().take() else {
            return;
        };
        PHASE.store(1, Ordering::SeqCst);
        while PHASE.load(Ordering::SeqCst) != 2 {
            thread::sleep(Duration::from_millis(1));
        }
        // The node is still protected by `guard` (loaded from the live cell under it).
        let freed = TALLY.get().unwrap().was_dropped(1);
        FREED_UNDER_GUARD.store(freed, Ordering::SeqCst);
        if !freed {
            // SAFETY: protected by `guard`, which is alive.
            unsafe { &*seen }.value().check();
        }
        CHECKED.store(true, Ordering::SeqCst);
        drop(guard);
    }
}

thread_local! {
    static KEEP: Keeper = const { Keeper(RefCell::new(None)) };
}

/// Freed by the worker's exit; its drop pins (getting the exiting handle's view), loads the
/// shared node under that guard and keeps both in `KEEP`.
struct Leaker;

impl Drop for Leaker {
    fn drop(&mut self) {
        let guard = kovan_reclaim::pin();
        let seen = guard.protect(&SHARED, Ordering::Acquire);
        assert!(!seen.is_null());
        KEEP.with(|keep| *keep.0.borrow_mut() = Some((guard, seen)));
    }
}

#[test]
fn a_guard_kept_by_a_teardown_destructor_keeps_its_reservation() {
    let tally = leak_tally();
    assert!(TALLY.set(tally).is_ok());
    let domain = default_domain();
    SHARED.store(
        Node::alloc(domain, Canary::new(tally, 1)).as_ptr(),
        Ordering::Release,
    );
    let worker = thread::spawn(|| {
        // Registered before the default handle, so destroyed after it.
        KEEP.with(|_| {});
        let node = Node::alloc(default_domain(), Leaker);
        // SAFETY: never published, retired once.
        with_handle(|handle| unsafe { handle.retire_node(node) });
    });
    while PHASE.load(Ordering::SeqCst) != 1 {
        thread::sleep(Duration::from_millis(1));
    }
    // The worker holds a guard that loaded node 1 from the live cell. Unlink and retire it.
    let unlinked = SHARED.swap(std::ptr::null_mut(), Ordering::AcqRel);
    // SAFETY: unlinked above, retired once.
    with_handle(|handle| unsafe { handle.retire_node(NonNull::new(unlinked).unwrap()) });
    for _ in 0..4 {
        flush();
    }
    PHASE.store(2, Ordering::SeqCst);
    worker.join().unwrap();
    assert!(CHECKED.load(Ordering::SeqCst), "the keeper ran");
    assert!(
        !FREED_UNDER_GUARD.load(Ordering::SeqCst),
        "node freed while the guard that loaded it is alive"
    );
}
