//! Per-domain pinning without handles: each thread's handles for the domains it pins through
//! [`Domain::pin`], in a thread-local cache (feature `std`).
//!
//! A cached handle does not keep its domain alive. It is released by whichever comes first:
//! the thread's exit (the cache's destructor, while the domain is alive) or the domain's drop
//! (which takes it from the slot's cell). The slot cell is the claim: whoever swaps it from the
//! handle to null owns the handle. The cache keeps a `Weak` per domain: it tells a dropped
//! domain apart, and it keeps the domain's allocation, and so its address, from being reused
//! while the entry exists, so an address compare never mistakes a new domain for a dropped one.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::marker::PhantomData;
use core::mem;
use core::ops::Deref;
use core::ptr::{self, NonNull};

use kovan_core::sync::{AtomicPtr, Ordering};

use crate::domain::Domain;
use crate::handle::{FoundHandle, Guard, HandleBox, LocalHandle};

#[cfg(feature = "shuttle")]
use kovan_core::sync::thread_local;
#[cfg(not(feature = "shuttle"))]
use std::thread_local;

/// One cached handle: its domain, and its state (owned by whoever claims the slot cell).
struct Entry {
    domain: Weak<Domain>,
    handle: NonNull<HandleBox>,
    tid: usize,
}

/// The thread's cached handles; its destructor releases those whose domain is alive.
struct Cache(RefCell<Vec<Entry>>);

thread_local! {
    static CACHE: Cache = const { Cache(RefCell::new(Vec::new())) };
    /// The entry used last, for a lookup without the cache's borrow: the domain's address and
    /// the handle. Reset whenever entries are dropped, so it never names a pruned entry.
    static LAST: Cell<(*const Domain, Option<NonNull<HandleBox>>)> =
        const { Cell::new((ptr::null(), None)) };
}

impl Drop for Cache {
    fn drop(&mut self) {
        forget_last();
        for entry in self.0.take() {
            // A failed upgrade: the domain is dropped or dropping, and releases the handle.
            if let Some(domain) = entry.domain.upgrade() {
                let slots = domain.state().registry().slots(entry.tid);
                drop(claim(
                    slots.expect("claimed ids have pages").cached_handle(),
                ));
            }
        }
    }
}

/// Clears `LAST` (`try_with`: shuttle's thread-locals can be gone during teardown).
fn forget_last() {
    let _ = LAST.try_with(|last| last.set((ptr::null(), None)));
}

/// Claims the cached handle in `cell` (`None` when there is none or it is claimed already).
fn claim(cell: &AtomicPtr<()>) -> Option<LocalHandle> {
    // AcqRel: Acquire pairs with the registering thread's Release store, Release with nothing
    // (the claim only hands the handle to this thread).
    let claimed = cell.swap(ptr::null_mut(), Ordering::AcqRel);
    // SAFETY: the cell held the handle given up by `into_raw` in `lookup`, and the swap made
    // this its only owner.
    NonNull::new(claimed.cast::<HandleBox>()).map(|inner| unsafe { LocalHandle::from_raw(inner) })
}

/// The cached handles of threads that have not released them, claimed by `domain`'s drop and
/// re-pointed at its `&mut self` (the pointer a handle took at registration does not outlive
/// that borrow). No thread can use one any more: that takes a reference to the domain.
pub(crate) fn claim_all(domain: &Domain) -> Vec<LocalHandle> {
    let registry = domain.state().registry();
    let mut claimed = Vec::new();
    // Highest id first, so that popping exits them in id order.
    #[cfg(not(kovan_mutant = "domain_drop_keeps_cached_handles"))]
    for tid in (0..registry.scan_bound()).rev() {
        if let Some(handle) = registry
            .slots(tid)
            .and_then(|slots| claim(slots.cached_handle()))
        {
            handle.rebind_domain(domain);
            claimed.push(handle);
        }
    }
    claimed
}

/// Exits `claimed` (see [`claim_all`]), then drains `domain`. A destructor that panics in one
/// of these exits does not stop the rest: the remaining handles are exited and the domain is
/// drained while the panic unwinds (a second panic aborts, as Rust does).
pub(crate) fn release_claimed_then_drain(domain: &Domain, mut claimed: Vec<LocalHandle>) {
    /// The rest of the work, done by its drop if an exit unwinds.
    struct Rest<'a> {
        domain: &'a Domain,
        claimed: Vec<LocalHandle>,
        armed: bool,
    }
    impl Drop for Rest<'_> {
        fn drop(&mut self) {
            if self.armed {
                release_claimed_then_drain(self.domain, mem::take(&mut self.claimed));
            }
        }
    }
    // Mutant: a panicking exit unwinds past the other handles (left unexited, as when the drop
    // claimed and exited them one at a time) and the drain.
    #[cfg(kovan_mutant = "domain_drop_stops_on_panic")]
    {
        let mut claimed = mem::ManuallyDrop::new(claimed);
        while let Some(handle) = claimed.pop() {
            drop(handle);
        }
        return domain.drain();
    }
    #[cfg(not(kovan_mutant = "domain_drop_stops_on_panic"))]
    while let Some(handle) = claimed.pop() {
        let mut rest = Rest {
            domain,
            claimed: mem::take(&mut claimed),
            armed: true,
        };
        drop(handle);
        rest.armed = false;
        claimed = mem::take(&mut rest.claimed);
    }
    domain.drain();
}

impl Cache {
    /// The handle for `domain`, registering one on first use. Bound: the cache's entries.
    fn lookup(&self, domain: &Arc<Domain>) -> NonNull<HandleBox> {
        let mut entries = self.0.borrow_mut();
        let wanted = Arc::as_ptr(domain);
        let handle = match entries.iter().find(|entry| entry.domain.as_ptr() == wanted) {
            Some(entry) => entry.handle,
            None => {
                // Before anything that may drop a `Weak` (and so free a domain's allocation,
                // whose address `LAST` may hold) or panic (a full registry).
                #[cfg(not(kovan_mutant = "last_kept_on_miss"))]
                forget_last();
                // Entries of dropped domains: their handles were released by the drop.
                entries.retain(|entry| entry.domain.strong_count() > 0);
                // SAFETY: the handle is dropped before the domain: by the cache's destructor
                // while the domain is alive, or by the domain's drop.
                let handle = unsafe { LocalHandle::new_cached(domain) }
                    .unwrap_or_else(|full| panic!("kovan: {full}"));
                let tid = handle.thread_id();
                let inner = handle.into_raw();
                // Mutant: `LAST` cleared only once the new entry exists.
                #[cfg(kovan_mutant = "last_kept_on_miss")]
                forget_last();
                domain
                    .state()
                    .registry()
                    .slots(tid)
                    .expect("claimed ids have pages")
                    .cached_handle()
                    // Release: pairs with the claimer's Acquire swap.
                    .store(inner.as_ptr().cast(), Ordering::Release);
                entries.push(Entry {
                    domain: Arc::downgrade(domain),
                    handle: inner,
                    tid,
                });
                inner
            }
        };
        let _ = LAST.try_with(|last| last.set((wanted, Some(handle))));
        handle
    }
}

/// Runs `f` with the calling thread's cached handle for `domain`. During the thread's
/// teardown, after the cache is gone, `f` gets a temporary handle.
#[inline]
pub(crate) fn with_handle<R>(domain: &Arc<Domain>, f: impl FnOnce(&LocalHandle) -> R) -> R {
    // The common case inline (the entry used last: an address compare); the rest out of line.
    let handle = match LAST.try_with(Cell::get) {
        Ok((last, Some(handle))) if ptr::eq(last, Arc::as_ptr(domain)) => Some(handle),
        _ => lookup(domain),
    };
    match handle {
        Some(handle) => {
            // SAFETY: a cached handle of this thread, alive while `domain` is (the caller
            // holds it) and the cache is.
            let view = unsafe { LocalHandle::view(handle) };
            f(&view)
        }
        None => f(&teardown_handle(domain)),
    }
}

/// The cache's handle for `domain`, or `None` once the cache is torn down.
#[cold]
#[inline(never)]
fn lookup(domain: &Arc<Domain>) -> Option<NonNull<HandleBox>> {
    CACHE.try_with(|cache| cache.lookup(domain)).ok()
}

/// The handle for a call after this thread's cache is gone: the exiting cached handle of
/// `domain` if its exit is running (a destructor it runs pins again), else a temporary one.
#[cold]
#[inline(never)]
fn teardown_handle(domain: &Arc<Domain>) -> FoundHandle {
    if let Some(exiting) = crate::default::exiting_cached_handle(domain) {
        // SAFETY: that handle's exit runs on this thread and outlives the caller's use.
        return FoundHandle::View(unsafe { LocalHandle::view(exiting) });
    }
    FoundHandle::Temporary(
        LocalHandle::new_temporary(Arc::clone(domain))
            .unwrap_or_else(|full| panic!("kovan: {full}")),
    )
}

/// A guard pinned through [`Domain::pin`]: a [`Guard`] that cannot outlive its domain.
///
/// Derefs to [`Guard`], so every API that takes `&Guard` takes `&DomainGuard` too.
pub struct DomainGuard<'d> {
    guard: Guard,
    _domain: PhantomData<&'d Domain>,
}

impl Deref for DomainGuard<'_> {
    type Target = Guard;

    #[inline]
    fn deref(&self) -> &Guard {
        &self.guard
    }
}

impl core::fmt::Debug for DomainGuard<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DomainGuard").finish_non_exhaustive()
    }
}

impl Domain {
    /// Pins the calling thread on this domain through its cached handle: the first call on a
    /// thread registers one, later calls reuse it (a thread-local lookup and an address
    /// compare). The handle is released when the thread exits or when the domain is dropped,
    /// whichever comes first, so a structure with its own domain needs no handle plumbing.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicPtr, Ordering};
    /// use kovan_reclaim::Domain;
    ///
    /// let domain = Arc::new(Domain::new());
    /// let shared = Arc::new(AtomicPtr::new(std::ptr::null_mut::<u32>()));
    /// let threads: Vec<_> = (0..2)
    ///     .map(|_| {
    ///         let (domain, shared) = (Arc::clone(&domain), Arc::clone(&shared));
    ///         std::thread::spawn(move || {
    ///             let guard = domain.pin();
    ///             assert!(guard.protect(&shared, Ordering::Acquire).is_null());
    ///         })
    ///     })
    ///     .collect();
    /// for thread in threads {
    ///     // `join`, not a scope: a scope may return before a thread's thread-local
    ///     // destructors, where its cached handle is released, have run.
    ///     thread.join().unwrap();
    /// }
    /// // Both threads exited: their cached handles are released.
    /// assert_eq!(domain.stats().registered_threads, 0);
    /// ```
    ///
    /// # Panics
    /// When the thread needs a new handle and [`kovan_core::MAX_THREADS`] ids are in use.
    #[inline]
    pub fn pin(self: &Arc<Self>) -> DomainGuard<'_> {
        DomainGuard {
            guard: with_handle(self, LocalHandle::pin),
            _domain: PhantomData,
        }
    }

    /// Pushes the calling thread's garbage on this domain through its cached handle (see
    /// [`LocalHandle::flush`]), registering one on first use.
    ///
    /// # Panics
    /// As [`pin`](Self::pin).
    pub fn flush(self: &Arc<Self>) {
        with_handle(self, LocalHandle::flush);
    }
}
