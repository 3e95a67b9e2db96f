//! Lock-free data structures written once over [`Smr`]: a Treiber stack, a Michael–Scott queue
//! and a hash map of Harris–Michael bucket lists.
//!
//! Every operation pins once (one guard per operation). Protection follows hazard-pointer rules
//! so that every library is used correctly: a pointer is protected when it is loaded from a link
//! of a node that is itself protected, and then validated (the source still holds it). In
//! particular the list restarts from the bucket head whenever a validation or an unlinking CAS
//! fails, as in Michael's hazard-pointer version (kovan protects only nodes reachable at load
//! time).

use std::ptr;

use crate::smr::{LiveCounter, Node, Smr, is_marked, marked, unmarked};

/// Free every node reachable from `head` through `next` (teardown with exclusive access).
fn free_chain<S: Smr>(g: &mut S::Guard<'_>, head: &S::Link) {
    let mut p = unmarked(S::load(g, head));
    while !p.is_null() {
        // SAFETY: the structure is being dropped (exclusive access); `p` is reachable, so it was
        // never retired, and it is freed exactly once.
        let next = unmarked(S::load(g, unsafe { &(*p).next }));
        // SAFETY: as above.
        unsafe { Node::free(p) };
        p = next;
    }
}

/// Teardown helper: run `f` with a guard of `smr` on the calling thread.
fn with_guard<S: Smr>(smr: &S, f: impl FnOnce(&mut S::Guard<'_>)) {
    let mut local = smr.local();
    let mut g = smr.pin(&mut local);
    f(&mut g);
}

// ------------------------------------------------------------------------- Treiber stack

/// Treiber's lock-free stack.
pub struct Treiber<'s, S: Smr> {
    smr: &'s S,
    head: S::Link,
    counter: &'static LiveCounter,
}

impl<'s, S: Smr> Treiber<'s, S> {
    /// An empty stack whose nodes are counted in `counter`.
    pub fn new(smr: &'s S, counter: &'static LiveCounter) -> Self {
        Treiber {
            smr,
            head: S::link(ptr::null_mut()),
            counter,
        }
    }

    /// Push `v`.
    pub fn push(&self, local: &mut S::Local, v: u64) {
        let n = Node::<S>::alloc(self.counter, v, v);
        let mut g = self.smr.pin(local);
        let mut h = S::load(&mut g, &self.head);
        loop {
            // SAFETY: `n` is not published yet; we own it.
            S::store(unsafe { &(*n).next }, h);
            match S::cas(&mut g, &self.head, h, n) {
                Ok(()) => return,
                Err(now) => h = now,
            }
        }
    }

    /// Pop the top value.
    pub fn pop(&self, local: &mut S::Local) -> Option<u64> {
        let mut g = self.smr.pin(local);
        loop {
            let h = S::protect(&mut g, 0, &self.head);
            if h.is_null() {
                return None;
            }
            // SAFETY: `h` is protected by slot 0 for the life of the guard.
            let next = S::load(&mut g, unsafe { &(*h).next });
            if S::cas(&mut g, &self.head, h, next).is_ok() {
                // SAFETY: `h` is protected.
                let v = unsafe { (*h).value };
                // SAFETY: our CAS unlinked `h`; only this thread retires it.
                unsafe { self.smr.retire(&mut g, h) };
                return Some(v);
            }
        }
    }
}

impl<S: Smr> Drop for Treiber<'_, S> {
    fn drop(&mut self) {
        with_guard(self.smr, |g| free_chain::<S>(g, &self.head));
    }
}

// ------------------------------------------------------------------------- MS queue

/// The Michael–Scott lock-free queue (with a dummy node), in its hazard-pointer form.
pub struct MsQueue<'s, S: Smr> {
    smr: &'s S,
    head: S::Link,
    tail: S::Link,
    counter: &'static LiveCounter,
}

impl<'s, S: Smr> MsQueue<'s, S> {
    /// An empty queue whose nodes are counted in `counter`.
    pub fn new(smr: &'s S, counter: &'static LiveCounter) -> Self {
        let dummy = Node::<S>::alloc(counter, 0, 0);
        MsQueue {
            smr,
            head: S::link(dummy),
            tail: S::link(dummy),
            counter,
        }
    }

    /// Append `v`.
    pub fn enqueue(&self, local: &mut S::Local, v: u64) {
        let n = Node::<S>::alloc(self.counter, v, v);
        let mut g = self.smr.pin(local);
        loop {
            let t = S::protect(&mut g, 0, &self.tail);
            // SAFETY: `t` is protected by slot 0.
            let next = S::load(&mut g, unsafe { &(*t).next });
            if S::load(&mut g, &self.tail) != t {
                continue;
            }
            if !next.is_null() {
                // Tail is lagging: help it forward.
                let _ = S::cas(&mut g, &self.tail, t, next);
                continue;
            }
            // SAFETY: `t` is protected.
            if S::cas(&mut g, unsafe { &(*t).next }, ptr::null_mut(), n).is_ok() {
                let _ = S::cas(&mut g, &self.tail, t, n);
                return;
            }
        }
    }

    /// Remove the oldest value.
    pub fn dequeue(&self, local: &mut S::Local) -> Option<u64> {
        let mut g = self.smr.pin(local);
        loop {
            let h = S::protect(&mut g, 0, &self.head);
            let t = S::load(&mut g, &self.tail);
            // SAFETY: `h` is protected by slot 0.
            let next = S::protect(&mut g, 1, unsafe { &(*h).next });
            if S::load(&mut g, &self.head) != h {
                // `h` left the queue: `next` may not have been reachable when protected.
                continue;
            }
            if next.is_null() {
                return None;
            }
            if h == t {
                let _ = S::cas(&mut g, &self.tail, t, next);
                continue;
            }
            // SAFETY: `next` is protected by slot 1 and was reachable (validated above).
            let v = unsafe { (*next).value };
            if S::cas(&mut g, &self.head, h, next).is_ok() {
                // SAFETY: our CAS unlinked the old dummy `h`, and the tail is past it.
                unsafe { self.smr.retire(&mut g, h) };
                return Some(v);
            }
        }
    }
}

impl<S: Smr> Drop for MsQueue<'_, S> {
    fn drop(&mut self) {
        with_guard(self.smr, |g| free_chain::<S>(g, &self.head));
    }
}

// ------------------------------------------------------------------------- hash map

/// Result of [`HashMap::find`]: `prev` is the link (bucket head or a protected node's `next`)
/// that pointed, unmarked, to `cur`; `cur` is the first node with key ≥ the searched key.
struct Position<S: Smr> {
    found: bool,
    prev: *const S::Link,
    cur: *mut Node<S>,
}

/// A fixed-size hash map (a set of `u64` keys with a payload) whose buckets are Harris–Michael
/// sorted lists.
pub struct HashMap<'s, S: Smr> {
    smr: &'s S,
    buckets: Box<[S::Link]>,
    shift: u32,
    counter: &'static LiveCounter,
}

impl<'s, S: Smr> HashMap<'s, S> {
    /// A map with `2^bits` buckets.
    pub fn new(smr: &'s S, counter: &'static LiveCounter, bits: u32) -> Self {
        assert!((1..=30).contains(&bits));
        HashMap {
            smr,
            buckets: (0..1usize << bits)
                .map(|_| S::link(ptr::null_mut()))
                .collect(),
            shift: 64 - bits,
            counter,
        }
    }

    fn bucket(&self, key: u64) -> &S::Link {
        // Fibonacci hashing: the high bits of the product.
        &self.buckets[(key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize]
    }

    /// Michael's `Find`: hazard slots rotate between `prev`, `cur` and `next`.
    fn find(&self, g: &mut S::Guard<'_>, head: &S::Link, key: u64) -> Position<S> {
        'retry: loop {
            let mut prev: *const S::Link = head;
            let (mut s_prev, mut s_cur, mut s_next) = (0, 1, 2);
            let mut cur = S::protect(g, s_cur, head);
            loop {
                if cur.is_null() {
                    return Position {
                        found: false,
                        prev,
                        cur,
                    };
                }
                // SAFETY: `cur` is protected (slot `s_cur`) and was validated as reachable.
                let next = S::protect(g, s_next, unsafe { &(*cur).next });
                // SAFETY: `prev` is the bucket head or the `next` field of the node protected by
                // slot `s_prev`.
                if S::load(g, unsafe { &*prev }) != cur {
                    // `prev` changed or got marked: `cur` may be unlinked. Restart from the head.
                    continue 'retry;
                }
                if !is_marked(next) {
                    // SAFETY: `cur` is protected.
                    let ckey = unsafe { (*cur).key };
                    if ckey >= key {
                        return Position {
                            found: ckey == key,
                            prev,
                            cur,
                        };
                    }
                    // SAFETY: `cur` is protected; its `next` field lives as long as it does.
                    prev = unsafe { &(*cur).next };
                    (s_prev, s_cur, s_next) = (s_cur, s_next, s_prev);
                } else {
                    // `cur` is logically deleted: unlink it, or restart from the head.
                    // SAFETY: as for the load of `prev` above.
                    match S::cas(g, unsafe { &*prev }, cur, unmarked(next)) {
                        // SAFETY: our CAS unlinked `cur`; only the unlinking thread retires it.
                        Ok(()) => unsafe { self.smr.retire(g, cur) },
                        Err(_) => continue 'retry,
                    }
                    (s_cur, s_next) = (s_next, s_cur);
                }
                cur = unmarked(next);
            }
        }
    }

    /// Whether `key` is present (and its payload).
    pub fn get(&self, local: &mut S::Local, key: u64) -> Option<u64> {
        let mut g = self.smr.pin(local);
        let pos = self.find(&mut g, self.bucket(key), key);
        // SAFETY: `pos.cur` is protected while `g` lives.
        pos.found.then(|| unsafe { (*pos.cur).value })
    }

    /// Insert `key` if absent; returns whether it was inserted.
    pub fn insert(&self, local: &mut S::Local, key: u64, value: u64) -> bool {
        let mut g = self.smr.pin(local);
        let head = self.bucket(key);
        let mut node: *mut Node<S> = ptr::null_mut();
        loop {
            let pos = self.find(&mut g, head, key);
            if pos.found {
                if !node.is_null() {
                    // SAFETY: `node` was never published.
                    unsafe { Node::free(node) };
                }
                return false;
            }
            if node.is_null() {
                node = Node::alloc(self.counter, key, value);
            }
            // SAFETY: `node` is not published yet.
            S::store(unsafe { &(*node).next }, pos.cur);
            // SAFETY: `pos.prev` is protected (see `find`).
            if S::cas(&mut g, unsafe { &*pos.prev }, pos.cur, node).is_ok() {
                return true;
            }
        }
    }

    /// Remove `key`; returns whether this call removed it.
    pub fn remove(&self, local: &mut S::Local, key: u64) -> bool {
        let mut g = self.smr.pin(local);
        let head = self.bucket(key);
        loop {
            let pos = self.find(&mut g, head, key);
            if !pos.found {
                return false;
            }
            // SAFETY: `pos.cur` is protected.
            let cur_next = unsafe { &(*pos.cur).next };
            let next = S::load(&mut g, cur_next);
            if is_marked(next) {
                // Someone else is deleting it; `find` will help and then report it absent.
                continue;
            }
            // Logical deletion: mark `cur.next`.
            if S::cas(&mut g, cur_next, next, marked(next)).is_err() {
                continue;
            }
            // Physical deletion, or leave it to a `find` (which restarts until it is unlinked).
            // SAFETY: `pos.prev` is protected.
            if S::cas(&mut g, unsafe { &*pos.prev }, pos.cur, next).is_ok() {
                // SAFETY: our CAS unlinked `cur`.
                unsafe { self.smr.retire(&mut g, pos.cur) };
            } else {
                let _ = self.find(&mut g, head, key);
            }
            return true;
        }
    }

    /// Number of unmarked nodes (quiescent use only: tests and checks).
    pub fn len(&self) -> usize {
        let mut local = self.smr.local();
        let mut g = self.smr.pin(&mut local);
        let mut n = 0;
        for head in self.buckets.iter() {
            let mut p = unmarked(S::load(&mut g, head));
            while !p.is_null() {
                // SAFETY: quiescent: nobody retires concurrently, and reachable nodes are live.
                let next = S::load(&mut g, unsafe { &(*p).next });
                if !is_marked(next) {
                    n += 1;
                }
                p = unmarked(next);
            }
        }
        n
    }

    /// Whether the map is empty (quiescent use only).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<S: Smr> Drop for HashMap<'_, S> {
    fn drop(&mut self) {
        with_guard(self.smr, |g| {
            for head in self.buckets.iter() {
                free_chain::<S>(g, head);
            }
        });
    }
}
