//! Issue 11.3: destructors that retire while a default-domain handle of the thread runs its
//! exit join that exit instead of registering a handle each (which recursed: one stack level
//! and one thread id per link, SIGSEGV at 100,000 links on a 256 KiB stack).
//!
//! Its own test binary, with one test: nothing else may hold a reservation in the default
//! domain while a chain is freed, so that every link is freed during the thread's teardown.
#![cfg(not(kovan_loom))]

use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use kovan_reclaim::{Node, default_domain, flush, pin, with_handle};

const LINKS: usize = if cfg!(miri) { 200 } else { 100_000 };
const STACK: usize = 256 * 1024;

static DROPS: AtomicUsize = AtomicUsize::new(0);

/// A link whose drop retires the next one on the default domain, as the teardown of a
/// lock-free list does.
struct Link {
    next: Option<NonNull<Node<Link>>>,
}

// SAFETY: a link is owned by whoever holds the previous one; the chain is never shared.
unsafe impl Send for Link {}

impl Drop for Link {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::SeqCst);
        if let Some(next) = self.next.take() {
            retire(next);
        }
    }
}

fn retire(link: NonNull<Node<Link>>) {
    // SAFETY: a link is reachable only from its predecessor (or the chain's owner), which
    // gives it up here; each link is retired once.
    with_handle(|handle| unsafe { handle.retire_node(link) });
}

fn chain() -> NonNull<Node<Link>> {
    let mut next = None;
    for _ in 0..LINKS {
        next = Some(Node::alloc(default_domain(), Link { next }));
    }
    next.unwrap()
}

std::thread_local! {
    /// A chain that a thread-local destructor retires, after the default handle is gone.
    static HELD: Cell<Option<NonNull<Node<Link>>>> = const { Cell::new(None) };
    static RETIRE_HELD_AT_EXIT: RetireHeld = const { RetireHeld };
}

struct RetireHeld;

impl Drop for RetireHeld {
    fn drop(&mut self) {
        if let Some(head) = HELD.take() {
            retire(head);
        }
    }
}

/// Runs `body` on a thread with a 256 KiB stack and checks that the whole chain was freed by
/// the time the thread was joined.
fn on_small_stack(body: fn()) {
    let before = DROPS.load(Ordering::SeqCst);
    thread::Builder::new()
        .stack_size(STACK)
        .spawn(body)
        .unwrap()
        .join()
        .expect("the teardown survived on a 256 KiB stack");
    assert_eq!(
        DROPS.load(Ordering::SeqCst) - before,
        LINKS,
        "every link was freed during the thread's teardown"
    );
}

#[test]
fn chains_retired_at_thread_exit_are_freed_flat() {
    // Retired just before the thread exits: freed by the default handle's teardown.
    on_small_stack(|| retire(chain()));
    // Retired by a thread-local destructor that runs after the default handle is gone (it
    // was registered first, so it is destroyed last): freed by the exit of the temporary
    // handle that the first retire registers.
    on_small_stack(|| {
        RETIRE_HELD_AT_EXIT.with(|_| ());
        HELD.set(Some(chain()));
        drop(pin()); // the default handle is registered after the destructor above
    });
    flush();
    assert_eq!(DROPS.load(Ordering::SeqCst), 2 * LINKS, "and none twice");
}
