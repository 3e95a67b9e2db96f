//! Owned guards: a guard with a reservation of its own, which may move between threads and be
//! held across an `.await` (feature `std`).

use alloc::sync::Arc;
use core::fmt;
use core::ops::Deref;

use kovan_core::RegistryFull;

use crate::domain::Domain;
use crate::handle::{Guard, LocalHandle};

/// A guard that owns a thread id of its own for its whole life, so it is `Send` and `Sync`: it
/// can move between threads, for example with an async task across an `.await`.
///
/// It derefs to [`Guard`], so [`Guard::protect`] and every API that takes `&Guard` accept it,
/// with the same protection. What differs, because threads may share it:
///
/// - A protected load raises the guard's reservation and never lowers it: each load publishes
///   (a read-modify-write when the era moved, and a fence), where a thread's guard loads with a
///   load and a compare. A load that saw the era move on all of its
///   [`PROTECT_ROUNDS`](crate::PROTECT_ROUNDS) rounds leaves the reservation at the infinite
///   era until the guard drops (a thread's guard lowers it right after the load).
/// - [`Guard::retire_raw`], [`Guard::defer`] and [`Guard::flush`] go through the calling
///   thread's own handle of the domain (the default handle, or [`Domain::pin`]'s cached one).
///
/// Its reservation holds back what any guard's does: the batches with a node born no later
/// than its era, bounded per reservation as in [`garbage_bound`](crate::garbage_bound), where
/// every live owned guard counts as a registered thread (and as a lagging one while it is
/// parked).
///
/// Creating one claims an id from the domain's registry (so ids bound how many can be live at
/// once: [`RegistryFull`] beyond that); dropping it releases the reservation and the id, on
/// whichever thread drops it.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicPtr, Ordering};
/// use kovan_reclaim::{Domain, OwnedGuard};
///
/// let domain = Arc::new(Domain::new());
/// let handle = domain.register().unwrap();
/// let shared = AtomicPtr::new(handle.alloc_node(3u32).as_ptr());
///
/// let guard: OwnedGuard = domain.pin_owned().unwrap();
/// std::thread::scope(|scope| {
///     scope.spawn(|| {
///         // Pinned on the main thread, loading on this one.
///         let loaded = guard.protect(&shared, Ordering::Acquire);
///         // SAFETY: loaded under `guard` from a live structure.
///         assert_eq!(*unsafe { &*loaded }.value(), 3);
///     });
/// });
/// drop(guard);
/// # let last = shared.swap(std::ptr::null_mut(), Ordering::AcqRel);
/// # // SAFETY: unlinked, retired once.
/// # unsafe { handle.retire_node(std::ptr::NonNull::new(last).unwrap()) };
/// ```
pub struct OwnedGuard {
    // Declared first: dropped before the handle, whose drop then exits.
    guard: Guard,
    _handle: LocalHandle,
}

// SAFETY: the guard's state is reached from other threads only through `&Guard`, whose methods
// on an owned guard's (shared) state touch atomics only: protected loads and `cover` raise the
// reservation with read-modify-writes and read plain fields that no shared method writes, and
// retire, defer and flush go to the calling thread's handle. Creating and dropping the guard
// (pin, unpin, exit) need ownership, so one thread does them at a time, and moving the guard
// between threads orders them (a move is synchronised by whatever sends it).
unsafe impl Send for OwnedGuard {}
// SAFETY: see `Send`: every method reachable through `&OwnedGuard` is safe to run from several
// threads at once.
unsafe impl Sync for OwnedGuard {}

impl OwnedGuard {
    pub(crate) fn new(domain: &Domain, owned: Option<Arc<Domain>>) -> Result<Self, RegistryFull> {
        let handle = LocalHandle::new_owned(domain, owned)?;
        Ok(Self {
            guard: handle.pin(),
            _handle: handle,
        })
    }
}

impl Deref for OwnedGuard {
    type Target = Guard;

    #[inline]
    fn deref(&self) -> &Guard {
        &self.guard
    }
}

impl fmt::Debug for OwnedGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedGuard")
            .field("thread_id", &self.guard.thread_id())
            .finish_non_exhaustive()
    }
}

impl Domain {
    /// A guard that owns a reservation of its own and may move between threads (see
    /// [`OwnedGuard`]). Bound: an id claim and one pin.
    ///
    /// # Errors
    /// [`RegistryFull`] when [`kovan_core::MAX_THREADS`] ids are in use.
    pub fn pin_owned(self: &Arc<Self>) -> Result<OwnedGuard, RegistryFull> {
        OwnedGuard::new(self, Some(Arc::clone(self)))
    }
}
