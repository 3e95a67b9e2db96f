//! The thread-local default handle: retire without ever pinning, and pins, loads and retires
//! from thread-local destructors after the handle is gone. One test per binary keeps the
//! process-wide domain free of other tests' guards.
#![cfg(not(kovan_loom))]
mod common;

use std::cell::RefCell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::thread;

use common::{Canary, Tally, leak_tally};
use kovan_reclaim::{Node, default_domain, flush, pin, with_handle};

fn alloc(tally: &'static Tally, value: u64) -> *mut Node<Canary> {
    Node::alloc(default_domain(), Canary::new(tally, value)).as_ptr()
}

fn retire(node: *mut Node<Canary>) {
    // SAFETY: every caller has unlinked the node (or never published it), retired once.
    with_handle(|handle| unsafe { handle.retire_node(NonNull::new(node).unwrap()) });
}

/// Runs in a thread-local destructor, after (or before) the default handle's own.
struct LateUser {
    tally: &'static Tally,
    shared: &'static AtomicPtr<Node<Canary>>,
}

impl Drop for LateUser {
    fn drop(&mut self) {
        let guard = pin();
        let node = guard.protect(self.shared, Ordering::Acquire);
        // SAFETY: protected by `guard`.
        unsafe { &*node }.value().check();
        let old = self.shared.swap(alloc(self.tally, 1_000), Ordering::AcqRel);
        retire(old);
        for i in 0..5 {
            retire(alloc(self.tally, 2_000 + i));
        }
        drop(guard);
    }
}

thread_local! {
    static LATE: RefCell<Option<LateUser>> = const { RefCell::new(None) };
}

#[test]
fn never_pinned_threads_and_tls_destructors_lose_nothing() {
    const THREADS: u64 = if cfg!(miri) { 3 } else { 64 };
    let tally = leak_tally();
    static SHARED: AtomicPtr<Node<Canary>> = AtomicPtr::new(std::ptr::null_mut());
    let shared = &SHARED;
    shared.store(alloc(tally, 0), Ordering::Release);
    // Joined through their handles: `join` returns after the thread-local destructors ran
    // (a scoped thread's join may return before them).
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            thread::spawn(move || {
                // Retire without ever pinning: the batch must still be placed at exit.
                for i in 0..(t % 5 + 1) {
                    retire(alloc(tally, t * 100 + i));
                }
                if t % 2 == 0 {
                    // Register the late user before the default handle exists, so its
                    // destructor runs after the handle's (TLS destructors run in reverse).
                    LATE.with(|late| *late.borrow_mut() = Some(LateUser { tally, shared }));
                    drop(pin());
                } else {
                    drop(pin());
                    LATE.with(|late| *late.borrow_mut() = Some(LateUser { tally, shared }));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let last = shared.swap(std::ptr::null_mut(), Ordering::AcqRel);
    retire(last);
    flush();
    flush();
    let created = tally.created.load(Ordering::SeqCst);
    assert_eq!(
        created as u64,
        1 + (0..THREADS).map(|t| t % 5 + 1 + 6).sum::<u64>()
    );
    assert_eq!(
        tally.dropped.load(Ordering::SeqCst),
        created,
        "nothing leaked"
    );
}
