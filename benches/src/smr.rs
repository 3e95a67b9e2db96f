//! The one interface every compared library is driven through.
//!
//! Every data structure and workload in this crate is written once, generically over [`Smr`].
//! Each library implements the trait with its own documented API (see [`crate::libs`]).
//! All libraries share the same node type, [`Node`], and the same allocation pattern (one
//! `Box` per node); the only per-library difference in the node is the header that a library
//! *requires* to be embedded (kovan's `RetiredNode`; a zero-sized `()` for everyone else).

use std::cell::Cell;
use std::ptr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

use kovan::Stats;

/// Number of protection slots a guard must offer: the skip list keeps its predecessor and
/// successor protected at every level ([`crate::ds::SKIP_HEIGHT`] levels) until its update is
/// done (Harris–Michael lists need three: `prev`, `cur` and `next`). Only hazard-pointer
/// libraries care about slots.
pub const SLOTS: usize = 2 * crate::ds::SKIP_HEIGHT;

/// The low pointer bit used as the Harris "marked for deletion" flag.
const MARK: usize = 1;

/// Whether the mark bit of a pointer word is set.
#[inline]
pub fn is_marked<T>(p: *mut T) -> bool {
    p.addr() & MARK != 0
}

/// The pointer with the mark bit cleared.
#[inline]
pub fn unmarked<T>(p: *mut T) -> *mut T {
    p.map_addr(|a| a & !MARK)
}

/// The pointer with the mark bit set.
#[inline]
pub fn marked<T>(p: *mut T) -> *mut T {
    p.map_addr(|a| a | MARK)
}

/// What a structure may append to [`Node`] (`()` for every structure but the skip list, whose
/// node carries its tower of upper-level links).
pub trait Ext: Send + Sync + 'static {}
impl<E: Send + Sync + 'static> Ext for E {}

/// A safe-memory-reclamation scheme, as seen by the benchmark.
///
/// Pointer words handled through this trait may carry the mark bit ([`marked`]); every
/// implementation stores and returns the full word and protects the *unmarked* node.
///
/// Operations are always performed inside a guard obtained with [`Smr::pin`]; every workload
/// pins once per operation.
pub trait Smr: Sized + Send + Sync + 'static {
    /// Name shown in the report.
    const NAME: &'static str;
    /// Whether the library has a critical section whose cost the `pin` workload can measure.
    /// Hazard pointers have none (protection is per pointer), so `pin` is not reported for them.
    const HAS_PIN: bool = true;
    /// Whether this is a kovan implementation (the report checks the project's targets for them).
    const KOVAN_LIKE: bool = false;

    /// Header a node must embed at offset 0 for this library (`()` when none is needed).
    type Header: Send + Sync;
    /// Atomic pointer to a [`Node`] with extension `E`, in the library's own atomic-pointer type.
    type Link<E: Ext>: Send + Sync;
    /// Per-thread state, created outside the timed region and reused for every operation.
    type Local;
    /// A critical section; dropping it ends the operation.
    type Guard<'a>
    where
        Self: 'a;

    /// One instance per data structure (seize: one `Collector` per structure).
    fn new() -> Self;
    /// The resolved version of the crate, from `Cargo.lock`.
    fn version() -> String;
    /// A fresh header for a node being allocated now.
    fn header() -> Self::Header;
    /// A new link holding `p`.
    fn link<E: Ext>(p: *mut Node<Self, E>) -> Self::Link<E>;
    /// Per-thread state for the calling thread.
    fn local(&self) -> Self::Local;
    /// Enter a critical section.
    fn pin<'a>(&'a self, local: &'a mut Self::Local) -> Self::Guard<'a>;
    /// Protected load: the returned node (unmarked) stays allocated until the guard is dropped or
    /// `slot` is reused. Returns the full word, mark bit included.
    fn protect<E: Ext>(
        g: &mut Self::Guard<'_>,
        slot: usize,
        link: &Self::Link<E>,
    ) -> *mut Node<Self, E>;
    /// A load through the library's API that does not need protection (the value is only
    /// compared, or read out of a node that is already protected and then validated).
    fn load<E: Ext>(g: &mut Self::Guard<'_>, link: &Self::Link<E>) -> *mut Node<Self, E>;
    /// Store into a link of a node that is not yet published.
    fn store<E: Ext>(link: &Self::Link<E>, p: *mut Node<Self, E>);
    /// Atomically replace the link's value, returning the previous word.
    fn swap<E: Ext>(
        g: &mut Self::Guard<'_>,
        link: &Self::Link<E>,
        p: *mut Node<Self, E>,
    ) -> *mut Node<Self, E>;
    /// Compare-and-swap; on failure returns the current word.
    fn cas<E: Ext>(
        g: &mut Self::Guard<'_>,
        link: &Self::Link<E>,
        current: *mut Node<Self, E>,
        new: *mut Node<Self, E>,
    ) -> Result<(), *mut Node<Self, E>>;
    /// Retire an unlinked node; it is freed (dropped as `Box<Node<Self>>`) once no guard can see it.
    ///
    /// # Safety
    ///
    /// `p` is unmarked, was allocated by [`Node::alloc`], is no longer reachable from any link, and
    /// is retired exactly once.
    unsafe fn retire<E: Ext>(&self, g: &mut Self::Guard<'_>, p: *mut Node<Self, E>);
    /// Retire a node with no critical section open, the way the library's API allows it: kovan,
    /// seize and haphazard retire without a guard; by default, one `pin` around one `retire`
    /// (crossbeam-epoch's `defer_destroy` takes a guard). The micro-benchmarks time this call.
    ///
    /// # Safety
    ///
    /// As for [`Smr::retire`].
    unsafe fn retire_unpinned<E: Ext>(&self, local: &mut Self::Local, p: *mut Node<Self, E>) {
        let mut g = self.pin(local);
        // SAFETY: the caller's contract is `retire`'s.
        unsafe { self.retire(&mut g, p) }
    }
    /// One flush on the calling thread, with the library's documented flush / eager-reclaim call.
    fn flush(&self, local: &mut Self::Local);
    /// The library's own statistics of the domain this instance uses, where it has them
    /// (kovan's [`Stats`]); `None` otherwise. Only the monitor thread reads them, outside the
    /// timed loops, so every library is measured alike.
    fn stats(&self) -> Option<Stats> {
        None
    }
}

/// The node type used by every data structure and workload, for every library.
///
/// `#[repr(C)]` with the library header first: kovan requires its `RetiredNode` at offset 0.
/// The extension `E` comes last, so that `Node<S>` (`E = ()`) is the same node for every
/// workload that needs no more than one link.
#[repr(C)]
pub struct Node<S: Smr, E: Ext = ()> {
    hdr: S::Header,
    /// Successor link (stack, queue, list; level 0 of the skip list); unused by the
    /// single-pointer workloads.
    pub next: S::Link<E>,
    /// Key (sets) or sequence number.
    pub key: u64,
    /// Payload read by readers.
    pub value: u64,
    /// `None` for the micro-benchmarks, which time single calls and count nothing.
    counter: Option<&'static LiveCounter>,
    /// What the structure appends (the skip list's tower).
    pub ext: E,
}

impl<S: Smr> Node<S> {
    /// Allocate a node (one `Box`) and count it as live in `counter`.
    pub fn alloc(counter: &'static LiveCounter, key: u64, value: u64) -> *mut Self {
        Self::alloc_ext(counter, key, value, ())
    }

    /// Allocate a node that no counter tracks.
    pub fn alloc_uncounted(key: u64, value: u64) -> *mut Self {
        Self::boxed(None, key, value, ())
    }
}

impl<S: Smr, E: Ext> Node<S, E> {
    /// Allocate a node with extension `ext` (one `Box`) and count it as live in `counter`.
    pub fn alloc_ext(counter: &'static LiveCounter, key: u64, value: u64, ext: E) -> *mut Self {
        counter.inc();
        Self::boxed(Some(counter), key, value, ext)
    }

    fn boxed(counter: Option<&'static LiveCounter>, key: u64, value: u64, ext: E) -> *mut Self {
        Box::into_raw(Box::new(Node {
            hdr: S::header(),
            next: S::link(ptr::null_mut()),
            key,
            value,
            counter,
            ext,
        }))
    }

    /// Free a node directly (never published, or owned exclusively at teardown).
    ///
    /// # Safety
    ///
    /// `p` came from [`Node::alloc`], is not reachable by any other thread and is not retired.
    pub unsafe fn free(p: *mut Self) {
        // SAFETY: the caller guarantees exclusive ownership of a `Box`-allocated node.
        drop(unsafe { Box::from_raw(p) });
    }
}

impl<S: Smr, E: Ext> Drop for Node<S, E> {
    fn drop(&mut self) {
        if let Some(c) = self.counter {
            c.dec();
        }
    }
}

/// Shards of a per-thread counter ([`LiveCounter`]; the set workloads' population).
pub(crate) const SHARDS: usize = 16;

/// One shard of a per-thread counter, alone on its cache lines.
#[repr(align(128))]
pub(crate) struct Padded(pub(crate) AtomicIsize);

/// Exact count of live nodes of one measurement: incremented at allocation, decremented in
/// `Node::drop`. Sharded per thread (one cache line per shard) so that counting does not add a
/// contended cache line to the workloads; the sum of the shards is the live count.
pub struct LiveCounter {
    shards: [Padded; SHARDS],
}

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    // `const` and without drop glue: usable from TLS destructors of the libraries.
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The calling thread's shard of every per-thread counter.
#[inline]
pub(crate) fn shard() -> usize {
    SHARD.with(|s| {
        let v = s.get();
        if v != usize::MAX {
            v
        } else {
            let n = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
            s.set(n);
            n
        }
    })
}

/// Every counter created, by library name, for the end-of-run leftover check.
static REGISTRY: Mutex<Vec<(&'static str, &'static LiveCounter)>> = Mutex::new(Vec::new());

impl LiveCounter {
    /// A fresh counter for one measurement of library `lib`. It lives for the rest of the process
    /// (nodes still waiting for reclamation keep a reference to it) and is registered for
    /// [`leftovers`].
    pub fn new(lib: &'static str) -> &'static LiveCounter {
        let c: &'static LiveCounter = Box::leak(Box::new(LiveCounter {
            shards: std::array::from_fn(|_| Padded(AtomicIsize::new(0))),
        }));
        REGISTRY
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((lib, c));
        c
    }

    #[inline]
    fn inc(&self) {
        self.shards[shard()].0.fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    fn dec(&self) {
        self.shards[shard()].0.fetch_sub(1, Ordering::Relaxed);
    }

    /// Nodes allocated and not yet dropped. Exact when the threads that touched the counter are
    /// joined; while they run, it is the sum of per-shard values read one after another.
    pub fn live(&self) -> i64 {
        self.shards
            .iter()
            .map(|s| s.0.load(Ordering::Acquire) as i64)
            .sum()
    }
}

/// Sum of live nodes over every counter ever created for `lib`: nodes that were never freed.
/// Meaningful once every structure of that library has been dropped.
pub fn leftovers(lib: &str) -> i64 {
    REGISTRY
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(l, _)| *l == lib)
        .map(|(_, c)| c.live())
        .sum()
}
