//! A lock-free stack (Treiber) built on `Atomic` and `NodeBox`, exercised by several threads.
//!
//! Run with `cargo run --release -p kovan --example treiber_stack`.

use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering as Counter};
use std::thread;

use kovan::{Atomic, Guard, Node, NodeBox, Ordering, pin};

/// A stack node. The value is `ManuallyDrop` because the popper moves it out; the node's own
/// drop (run by the reclaimer) must then not drop it again.
struct Entry<T> {
    value: ManuallyDrop<T>,
    next: Atomic<Node<Entry<T>>>,
}

/// A Treiber stack: a single atomic head, pushed and popped with compare-and-swap.
pub struct Stack<T: Send + Sync + 'static> {
    head: Atomic<Node<Entry<T>>>,
}

impl<T: Send + Sync + 'static> Stack<T> {
    pub fn new() -> Self {
        Self {
            head: Atomic::null(),
        }
    }

    pub fn push(&self, value: T, guard: &Guard) {
        let entry = Entry {
            value: ManuallyDrop::new(value),
            next: Atomic::null(),
        };
        let node = NodeBox::new(entry).into_shared(guard);
        // Relaxed: only the expected value of the exchange (a protected load is Acquire anyway).
        let mut head = self.head.load(Ordering::Relaxed, guard);
        loop {
            // SAFETY: `node` is not published until the exchange succeeds, so this thread is
            // the only one that can reach it.
            unsafe { node.deref() }
                .value()
                .next
                .store(head, Ordering::Relaxed); // Relaxed: published by the Release below.
            // Release: publishes the node's contents to the popper's Acquire. Relaxed on
            // failure: the value is only retried (kovan makes it Acquire to protect it).
            match self.head.compare_exchange_weak(
                head,
                node,
                Ordering::Release,
                Ordering::Relaxed,
                guard,
            ) {
                Ok(_) => return,
                Err(current) => head = current,
            }
        }
    }

    pub fn pop(&self, guard: &Guard) -> Option<T> {
        // Acquire: pairs with the pusher's Release; the entry is read next.
        let mut head = self.head.load(Ordering::Acquire, guard);
        loop {
            // SAFETY: `head` was loaded (or revalidated) under `guard` from the live head, so
            // it stays allocated while `guard` lives.
            let entry = unsafe { head.as_ref() }?.value();
            // The successor is only used if the exchange below proves `head` was still the
            // top, hence still linked to it. Relaxed: written before `head` was published.
            let next = entry.next.load(Ordering::Relaxed, guard);
            // AcqRel: Acquire reads the next entry; Release orders our read of the value before
            // the node's retirement. Acquire on failure: the new head is read next round.
            match self
                .head
                .compare_exchange(head, next, Ordering::AcqRel, Ordering::Acquire, guard)
            {
                Ok(_) => {
                    // SAFETY: this thread unlinked `head`, so it alone moves the value out.
                    let value = unsafe { std::ptr::read(&*entry.value) };
                    // SAFETY: default-domain node, unlinked above, retired once.
                    unsafe { head.retire(guard) };
                    return Some(value);
                }
                Err(current) => head = current,
            }
        }
    }
}

impl<T: Send + Sync + 'static> Default for Stack<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Send + Sync + 'static> Drop for Stack<T> {
    fn drop(&mut self) {
        let guard = pin();
        while self.pop(&guard).is_some() {}
    }
}

/// A value that counts its drops, to show that every pushed value is dropped exactly once.
struct Counted(u64, Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, Counter::SeqCst);
    }
}

fn main() {
    const THREADS: u64 = 4;
    const OPS: u64 = 100_000;
    let dropped = Arc::new(AtomicUsize::new(0));
    let stack = Arc::new(Stack::new());

    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (stack, dropped) = (Arc::clone(&stack), Arc::clone(&dropped));
            thread::spawn(move || {
                let mut sum = 0;
                for i in 0..OPS {
                    let guard = pin();
                    stack.push(Counted(t * OPS + i, Arc::clone(&dropped)), &guard);
                    if i % 2 == 1 {
                        sum += stack.pop(&guard).map_or(0, |c| c.0);
                    }
                }
                kovan::flush();
                sum
            })
        })
        .collect();
    let popped: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();

    let guard = pin();
    let mut rest = 0;
    while let Some(c) = stack.pop(&guard) {
        rest += c.0;
    }
    drop(guard);
    let n = THREADS * OPS;
    assert_eq!(
        popped + rest,
        n * (n - 1) / 2,
        "every value popped exactly once"
    );
    assert_eq!(
        dropped.load(Counter::SeqCst),
        n as usize,
        "every value dropped exactly once"
    );
    println!("{THREADS} threads pushed {n} values; all popped and dropped exactly once");
}
