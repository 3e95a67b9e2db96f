//! Lock-free data structures written once over [`Smr`]: a Treiber stack, a Michael–Scott queue,
//! and three sets ([`Set`]): a Harris–Michael sorted list, a hash map of such lists, and a skip
//! list.
//!
//! Every operation pins once (one guard per operation). Protection follows hazard-pointer rules
//! so that every library is used correctly: a pointer is protected when it is loaded from a link
//! of a node that is itself protected, and then validated (the source still holds it, unmarked).
//! In particular the list restarts from its head whenever a validation or an unlinking CAS
//! fails, as in Michael's hazard-pointer version (kovan protects only nodes reachable at load
//! time).

use std::collections::HashSet;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::smr::{LiveCounter, Node, Smr, is_marked, marked, unmarked};

/// Free every node reachable from `head` through `next` (teardown with exclusive access).
fn free_chain<S: Smr>(g: &mut S::Guard<'_>, head: &S::Link<()>) {
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
    head: S::Link<()>,
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
    head: S::Link<()>,
    tail: S::Link<()>,
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

// ------------------------------------------------------------------------- sets

/// A set of `u64` keys, each with a payload: what the set workloads drive, for every structure
/// alike. Each call pins once.
pub trait Set<S: Smr>: Sync {
    /// The payload of `key`, if present.
    fn get(&self, local: &mut S::Local, key: u64) -> Option<u64>;
    /// Insert `key` if absent; returns whether it was inserted.
    fn insert(&self, local: &mut S::Local, key: u64, value: u64) -> bool;
    /// Remove `key`; returns whether this call removed it.
    fn remove(&self, local: &mut S::Local, key: u64) -> bool;
    /// Number of keys present (quiescent use only: tests and checks).
    fn len(&self) -> usize;
    /// Whether no key is present (quiescent use only).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// ------------------------------------------------------------------------- Harris–Michael list

/// Result of [`hm_find`]: `prev` is the link (list head or a protected node's `next`) that
/// pointed, unmarked, to `cur`; `cur` is the first node with key ≥ the searched key.
struct Position<S: Smr> {
    found: bool,
    prev: *const S::Link<()>,
    cur: *mut Node<S>,
}

/// Michael's `Find` in the Harris–Michael list rooted at `head`: hazard slots rotate between
/// `prev`, `cur` and `next`.
fn hm_find<S: Smr>(smr: &S, g: &mut S::Guard<'_>, head: &S::Link<()>, key: u64) -> Position<S> {
    'retry: loop {
        let mut prev: *const S::Link<()> = head;
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
            // SAFETY: `prev` is the list head or the `next` field of the node protected by slot
            // `s_prev`.
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
                    Ok(()) => unsafe { smr.retire(g, cur) },
                    Err(_) => continue 'retry,
                }
                (s_cur, s_next) = (s_next, s_cur);
            }
            cur = unmarked(next);
        }
    }
}

/// The payload of `key` in the list rooted at `head`.
fn hm_get<S: Smr>(smr: &S, local: &mut S::Local, head: &S::Link<()>, key: u64) -> Option<u64> {
    let mut g = smr.pin(local);
    let pos = hm_find(smr, &mut g, head, key);
    // SAFETY: `pos.cur` is protected while `g` lives.
    pos.found.then(|| unsafe { (*pos.cur).value })
}

/// Insert `key` into the list rooted at `head` if absent; new nodes are counted in `counter`.
fn hm_insert<S: Smr>(
    smr: &S,
    counter: &'static LiveCounter,
    local: &mut S::Local,
    head: &S::Link<()>,
    key: u64,
    value: u64,
) -> bool {
    let mut g = smr.pin(local);
    let mut node: *mut Node<S> = ptr::null_mut();
    loop {
        let pos = hm_find(smr, &mut g, head, key);
        if pos.found {
            if !node.is_null() {
                // SAFETY: `node` was never published.
                unsafe { Node::free(node) };
            }
            return false;
        }
        if node.is_null() {
            node = Node::alloc(counter, key, value);
        }
        // SAFETY: `node` is not published yet.
        S::store(unsafe { &(*node).next }, pos.cur);
        // SAFETY: `pos.prev` is protected (see `hm_find`).
        if S::cas(&mut g, unsafe { &*pos.prev }, pos.cur, node).is_ok() {
            return true;
        }
    }
}

/// Remove `key` from the list rooted at `head`.
fn hm_remove<S: Smr>(smr: &S, local: &mut S::Local, head: &S::Link<()>, key: u64) -> bool {
    let mut g = smr.pin(local);
    loop {
        let pos = hm_find(smr, &mut g, head, key);
        if !pos.found {
            return false;
        }
        // SAFETY: `pos.cur` is protected.
        let cur_next = unsafe { &(*pos.cur).next };
        let next = S::load(&mut g, cur_next);
        if is_marked(next) {
            // Someone else is deleting it; `hm_find` will help and then report it absent.
            continue;
        }
        // Logical deletion: mark `cur.next`.
        if S::cas(&mut g, cur_next, next, marked(next)).is_err() {
            continue;
        }
        // Physical deletion, or leave it to a find (which restarts until it is unlinked).
        // SAFETY: `pos.prev` is protected.
        if S::cas(&mut g, unsafe { &*pos.prev }, pos.cur, next).is_ok() {
            // SAFETY: our CAS unlinked `cur`.
            unsafe { smr.retire(&mut g, pos.cur) };
        } else {
            let _ = hm_find(smr, &mut g, head, key);
        }
        return true;
    }
}

/// Unmarked nodes of the list rooted at `head` (quiescent use only).
fn hm_len<S: Smr>(g: &mut S::Guard<'_>, head: &S::Link<()>) -> usize {
    let mut n = 0;
    let mut p = unmarked(S::load(g, head));
    while !p.is_null() {
        // SAFETY: quiescent: nobody retires concurrently, and reachable nodes are live.
        let next = S::load(g, unsafe { &(*p).next });
        if !is_marked(next) {
            n += 1;
        }
        p = unmarked(next);
    }
    n
}

/// One Harris–Michael sorted list: the long-traversal workloads, where the cost of protecting
/// every visited node is what separates hazard-style schemes from epoch-style ones.
pub struct List<'s, S: Smr> {
    smr: &'s S,
    head: S::Link<()>,
    counter: &'static LiveCounter,
}

impl<'s, S: Smr> List<'s, S> {
    /// An empty list whose nodes are counted in `counter`.
    pub fn new(smr: &'s S, counter: &'static LiveCounter) -> Self {
        List {
            smr,
            head: S::link(ptr::null_mut()),
            counter,
        }
    }
}

impl<S: Smr> Set<S> for List<'_, S> {
    fn get(&self, local: &mut S::Local, key: u64) -> Option<u64> {
        hm_get(self.smr, local, &self.head, key)
    }
    fn insert(&self, local: &mut S::Local, key: u64, value: u64) -> bool {
        hm_insert(self.smr, self.counter, local, &self.head, key, value)
    }
    fn remove(&self, local: &mut S::Local, key: u64) -> bool {
        hm_remove(self.smr, local, &self.head, key)
    }
    fn len(&self) -> usize {
        let mut n = 0;
        with_guard(self.smr, |g| n = hm_len::<S>(g, &self.head));
        n
    }
}

impl<S: Smr> Drop for List<'_, S> {
    fn drop(&mut self) {
        with_guard(self.smr, |g| free_chain::<S>(g, &self.head));
    }
}

// ------------------------------------------------------------------------- hash map

/// A fixed-size hash map whose buckets are Harris–Michael sorted lists.
pub struct HashMap<'s, S: Smr> {
    smr: &'s S,
    buckets: Box<[S::Link<()>]>,
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

    fn bucket(&self, key: u64) -> &S::Link<()> {
        // Fibonacci hashing: the high bits of the product.
        &self.buckets[(key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize]
    }
}

impl<S: Smr> Set<S> for HashMap<'_, S> {
    fn get(&self, local: &mut S::Local, key: u64) -> Option<u64> {
        hm_get(self.smr, local, self.bucket(key), key)
    }
    fn insert(&self, local: &mut S::Local, key: u64, value: u64) -> bool {
        hm_insert(self.smr, self.counter, local, self.bucket(key), key, value)
    }
    fn remove(&self, local: &mut S::Local, key: u64) -> bool {
        hm_remove(self.smr, local, self.bucket(key), key)
    }
    fn len(&self) -> usize {
        let mut n = 0;
        with_guard(self.smr, |g| {
            n = self.buckets.iter().map(|head| hm_len::<S>(g, head)).sum();
        });
        n
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

// ------------------------------------------------------------------------- skip list

/// Levels of the skip list. Towers are drawn with one node in two promoted to the next level,
/// so a list of `2^SKIP_HEIGHT` keys has about one node at the top level; the skip-list
/// workloads hold about 50,000.
pub const SKIP_HEIGHT: usize = 16;

/// The skip-list node's extension of [`Node`]: its levels above 0 (level 0 is [`Node::next`]),
/// its height, and its reference count.
pub struct Tower<S: Smr> {
    height: usize,
    /// One reference per level (linked, or still to be linked by the inserting thread) plus one
    /// for the inserting thread until it is done with the tower. A level's reference is dropped
    /// by the thread whose CAS unlinks the node at that level, or by the inserting thread for
    /// the levels it gives up; whoever drops the last one retires the node, which is then
    /// unlinked at every level (the count of Fraser's skip list, crossbeam-skiplist and
    /// smr-benchmark).
    refs: AtomicUsize,
    up: [S::Link<Tower<S>>; SKIP_HEIGHT - 1],
}

// SAFETY: the fields are an integer, an atomic count and links, and every `Smr::Link` is `Send +
// Sync`. Stated by hand because the compiler cannot prove it: `Tower<S>` being `Send` would need
// `S::Link<Tower<S>>` to be, whose bound needs `Tower<S>` to be `Send` (a cycle it does not
// resolve through an associated type).
unsafe impl<S: Smr> Send for Tower<S> {}
// SAFETY: as for `Send`.
unsafe impl<S: Smr> Sync for Tower<S> {}

type SkipNode<S> = Node<S, Tower<S>>;
type SkipLink<S> = <S as Smr>::Link<Tower<S>>;

/// Where [`SkipList::find`] stopped at every level: the last node with a smaller key
/// (`preds`, null for the head) and the node after it (`succs`, the first one with a key ≥ the
/// searched key, or null). Both stay protected until the guard's next `find`.
struct Cursor<S: Smr> {
    preds: [*mut SkipNode<S>; SKIP_HEIGHT],
    succs: [*mut SkipNode<S>; SKIP_HEIGHT],
    /// `succs[0]` holds the key, unmarked.
    found: bool,
}

/// A lock-free skip list (Fraser's design, in the hazard-pointer form of smr-benchmark): a set
/// is its level 0, a Harris–Michael list; the levels above are shortcuts.
///
/// Why every library, hazard pointers included, is used correctly:
/// - A level is linked only after the one below it, and a node is unlinked from a level only
///   after that level's link is marked. So a node reached at a level (or at the level above)
///   whose link at this level is still unmarked is still linked at this level; `find`
///   protects each successor from such a predecessor's link and restarts from the head when
///   the word it protected is marked, so every protected node was linked, hence not retired,
///   when its protection was validated.
/// - A node is retired once: by the thread that drops the last reference of [`Tower::refs`],
///   when it is unlinked at every level and its inserting thread is done. An insertion that
///   links an upper level of a node being removed (the classic pitfall) keeps that level's
///   reference, so the node is not retired until a `find` unlinks it there too.
/// - `preds` and `succs` of every level stay protected (two slots per level) while an update
///   uses them.
pub struct SkipList<'s, S: Smr> {
    smr: &'s S,
    head: [SkipLink<S>; SKIP_HEIGHT],
    counter: &'static LiveCounter,
}

/// Height of the tower of `key`: a hash of the key, so the list has the same shape for every
/// library, with one node in two promoted to each next level.
fn height_of(key: u64) -> usize {
    // The splitmix64 finalizer: its low bits are uniform even for consecutive keys.
    let mut z = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    1 + (z.trailing_ones() as usize).min(SKIP_HEIGHT - 1)
}

/// Mark `link` (logical deletion at its level); returns whether this call set the mark.
fn mark<S: Smr>(g: &mut S::Guard<'_>, link: &SkipLink<S>) -> bool {
    let mut w = S::load(g, link);
    loop {
        if is_marked(w) {
            return false;
        }
        match S::cas(g, link, w, marked(w)) {
            Ok(()) => return true,
            Err(now) => w = now,
        }
    }
}

impl<'s, S: Smr> SkipList<'s, S> {
    /// An empty skip list whose nodes are counted in `counter`.
    pub fn new(smr: &'s S, counter: &'static LiveCounter) -> Self {
        SkipList {
            smr,
            head: std::array::from_fn(|_| S::link(ptr::null_mut())),
            counter,
        }
    }

    /// The link of `n` at `level`; the head's when `n` is null.
    ///
    /// # Safety
    ///
    /// `n` is null, or a node that stays allocated while the returned reference is used
    /// (protected, or held by a reference of [`Tower::refs`]), and `level` is below its height.
    unsafe fn link(&self, n: *mut SkipNode<S>, level: usize) -> &SkipLink<S> {
        if n.is_null() {
            &self.head[level]
        } else if level == 0 {
            // SAFETY: the caller's contract.
            unsafe { &(*n).next }
        } else {
            // SAFETY: the caller's contract.
            unsafe { &(*n).ext.up[level - 1] }
        }
    }

    /// Drop one reference of `n`; the last one retires it.
    ///
    /// # Safety
    ///
    /// The caller owns one reference of `n` (see [`Tower::refs`]) and `n` is allocated.
    unsafe fn release(&self, g: &mut S::Guard<'_>, n: *mut SkipNode<S>) {
        // AcqRel: every thread's use of the node happens before the retire by the last one.
        // SAFETY: the caller's contract.
        if unsafe { &(*n).ext.refs }.fetch_sub(1, Ordering::AcqRel) == 1 {
            // SAFETY: no level links `n` any more and its inserting thread is done: it is
            // unreachable, and only the thread that dropped the last reference retires it.
            unsafe { self.smr.retire(g, n) };
        }
    }

    /// Find `key` at every level, unlinking the marked nodes met on the way. The predecessor
    /// and successor of level `l` are protected by slots `2l` and `2l + 1` (which is which
    /// alternates as the search moves forward), so the levels below never reuse them.
    fn find(&self, g: &mut S::Guard<'_>, key: u64) -> Cursor<S> {
        'retry: loop {
            let mut c = Cursor {
                preds: [ptr::null_mut(); SKIP_HEIGHT],
                succs: [ptr::null_mut(); SKIP_HEIGHT],
                found: false,
            };
            let mut pred: *mut SkipNode<S> = ptr::null_mut();
            for level in (0..SKIP_HEIGHT).rev() {
                if pred.is_null() && S::load(g, &self.head[level]).is_null() {
                    // An empty level: nothing to protect (and no fence to pay for a null).
                    continue;
                }
                let mut slot = 2 * level;
                loop {
                    // SAFETY: `pred` is the head, or protected by a slot of this level or of a
                    // level above (never reused below), and reached at this level or the one
                    // above.
                    let link = unsafe { self.link(pred, level) };
                    let cur = S::protect(g, slot, link);
                    if is_marked(cur) {
                        // `pred` is being removed at this level: `cur` may be unlinked already.
                        continue 'retry;
                    }
                    // `pred`'s link was unmarked when `cur` was protected: `pred` was still
                    // linked at this level, so `cur` was too (see the type's docs).
                    if cur.is_null() {
                        break;
                    }
                    // SAFETY: `cur` is protected; its tower reaches this level since it is
                    // linked here.
                    let next = S::load(g, unsafe { self.link(cur, level) });
                    if is_marked(next) {
                        // `cur` is being removed: unlink it here, then read `pred`'s link again.
                        if S::cas(g, link, cur, unmarked(next)).is_ok() {
                            // SAFETY: our CAS unlinked `cur` at this level: its reference is
                            // ours. `cur` is protected.
                            unsafe { self.release(g, cur) };
                        }
                        continue;
                    }
                    // SAFETY: `cur` is protected.
                    let ckey = unsafe { (*cur).key };
                    if ckey < key {
                        pred = cur;
                        slot ^= 1;
                        continue;
                    }
                    c.succs[level] = cur;
                    if level == 0 {
                        c.found = ckey == key;
                    }
                    break;
                }
                c.preds[level] = pred;
            }
            return c;
        }
    }

    /// Remove levels `level..height` of `n` from its count of references: the inserting thread
    /// gives up linking them.
    ///
    /// # Safety
    ///
    /// The caller is `n`'s inserting thread, before it drops its own reference.
    unsafe fn give_up(n: *mut SkipNode<S>, level: usize) {
        // SAFETY: the caller's reference keeps `n` allocated.
        let t = unsafe { &(*n).ext };
        // Relaxed: the count cannot reach zero here (the caller still holds its reference); the
        // caller's own `release` orders it with the retire.
        t.refs.fetch_sub(t.height - level, Ordering::Relaxed);
    }
}

impl<S: Smr> Set<S> for SkipList<'_, S> {
    fn get(&self, local: &mut S::Local, key: u64) -> Option<u64> {
        let mut g = self.smr.pin(local);
        let c = self.find(&mut g, key);
        // SAFETY: `succs[0]` is protected while `g` lives.
        c.found.then(|| unsafe { (*c.succs[0]).value })
    }

    fn insert(&self, local: &mut S::Local, key: u64, value: u64) -> bool {
        let mut g = self.smr.pin(local);
        let mut c = self.find(&mut g, key);
        if c.found {
            return false;
        }
        let height = height_of(key);
        let n = SkipNode::<S>::alloc_ext(
            self.counter,
            key,
            value,
            Tower {
                height,
                refs: AtomicUsize::new(height + 1),
                up: std::array::from_fn(|_| S::link(ptr::null_mut())),
            },
        );
        // Level 0: the insertion itself.
        loop {
            // SAFETY: `n` is not published yet.
            S::store(unsafe { &(*n).next }, c.succs[0]);
            // SAFETY: `preds[0]` is protected (or the head).
            if S::cas(&mut g, unsafe { self.link(c.preds[0], 0) }, c.succs[0], n).is_ok() {
                break;
            }
            c = self.find(&mut g, key);
            if c.found {
                // SAFETY: `n` was never published.
                unsafe { Node::free(n) };
                return false;
            }
        }
        // The levels above, bottom up. From here on `n` is reachable; this thread's reference
        // keeps it allocated.
        'build: for level in 1..height {
            // SAFETY: `n` is held by this thread's reference; `level` < its height.
            let own = unsafe { self.link(n, level) };
            loop {
                let next = S::load(&mut g, own);
                let succ = c.succs[level];
                if is_marked(next) || (next != succ && S::cas(&mut g, own, next, succ).is_err()) {
                    // A remover marked this level: the levels from here stay unlinked.
                    // SAFETY: this thread inserted `n` and still holds its reference.
                    unsafe { Self::give_up(n, level) };
                    break 'build;
                }
                // SAFETY: `preds[level]` is protected (or the head).
                let at = unsafe { self.link(c.preds[level], level) };
                if S::cas(&mut g, at, succ, n).is_ok() {
                    break;
                }
                c = self.find(&mut g, key);
            }
        }
        // A remover may have marked a level after it was linked here; a search unlinks the node
        // where it still is, rather than leaving it to the next search that passes.
        // SAFETY: as above.
        if is_marked(S::load(&mut g, unsafe { self.link(n, height - 1) })) {
            let _ = self.find(&mut g, key);
        }
        // SAFETY: this thread's own reference.
        unsafe { self.release(&mut g, n) };
        true
    }

    fn remove(&self, local: &mut S::Local, key: u64) -> bool {
        let mut g = self.smr.pin(local);
        let c = self.find(&mut g, key);
        if !c.found {
            return false;
        }
        // `n` stays protected (a slot of level 0) until the next `find`.
        let n = c.succs[0];
        // SAFETY: `n` is protected.
        let height = unsafe { (*n).ext.height };
        // Logical deletion: mark every level from the top; marking level 0 decides which
        // remover removed the key.
        for level in (1..height).rev() {
            // SAFETY: `n` is protected.
            let _ = mark::<S>(&mut g, unsafe { self.link(n, level) });
        }
        // SAFETY: `n` is protected.
        if !mark::<S>(&mut g, unsafe { self.link(n, 0) }) {
            return false;
        }
        // Physical deletion, top down, with the predecessors found above; where one is stale,
        // a search unlinks `n` wherever it is still linked (`n` is not used after it).
        for level in (0..height).rev() {
            // SAFETY: `n` is protected.
            let next = unmarked(S::load(&mut g, unsafe { self.link(n, level) }));
            // SAFETY: `preds[level]` is protected (or the head).
            let at = unsafe { self.link(c.preds[level], level) };
            if S::cas(&mut g, at, n, next).is_ok() {
                // SAFETY: our CAS unlinked `n` at this level; `n` is protected.
                unsafe { self.release(&mut g, n) };
            } else {
                let _ = self.find(&mut g, key);
                break;
            }
        }
        true
    }

    fn len(&self) -> usize {
        let mut n = 0;
        with_guard(self.smr, |g| {
            let mut p = unmarked(S::load(g, &self.head[0]));
            while !p.is_null() {
                // SAFETY: quiescent: nobody retires concurrently, and linked nodes are live.
                let next = S::load(g, unsafe { &(*p).next });
                if !is_marked(next) {
                    n += 1;
                }
                p = unmarked(next);
            }
        });
        n
    }
}

impl<S: Smr> Drop for SkipList<'_, S> {
    fn drop(&mut self) {
        // Every node still linked at some level: a node removed from level 0 may still be linked
        // above (not retired yet); a node linked at several levels is freed once.
        let mut nodes = HashSet::new();
        with_guard(self.smr, |g| {
            for level in 0..SKIP_HEIGHT {
                let mut p = unmarked(S::load(g, &self.head[level]));
                while !p.is_null() {
                    nodes.insert(p);
                    // SAFETY: the list is being dropped (exclusive access); `p` is linked at
                    // `level`, so it is allocated and its tower reaches `level`.
                    p = unmarked(S::load(g, unsafe { self.link(p, level) }));
                }
            }
        });
        for p in nodes {
            // SAFETY: exclusive access; a linked node was never retired (its count keeps one
            // reference per linked level), and the set frees each node once.
            unsafe { Node::free(p) };
        }
    }
}
