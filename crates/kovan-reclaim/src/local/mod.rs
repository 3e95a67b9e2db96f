//! One thread's side of the protocol: its reservation, open batch and free list.
//!
//! A `Local` lives behind a `LocalHandle` and its guards; only its thread touches it. The
//! protocol's steps, each in its own module with its bound and orderings:
//!
//! - [`pin`]: enter a critical section; the outermost pin after the era moved updates the
//!   reservation (capture, traverse, publish).
//! - [`protect`]: the protected load, its rounds and its escalation; `cover`.
//! - [`place`]: retire into the open batch, advance the era, place a batch in every eligible
//!   reservation.
//! - [`free`]: traverse a captured list, release batch references, run the destructors of
//!   batches that reached zero, a few per operation.
//! - [`flush`]: push the thread's garbage through to a fixpoint.
//! - [`exit`]: thread exit, parking and adoption, and the domain's final drain.
//!
//! `docs/protocol.md` collects the bounds with the safety argument (invariants I1–I6). Every
//! ordering that is not SeqCst says which operation it pairs with.

mod batch;
mod exit;
mod flush;
mod free;
mod pin;
mod place;
mod protect;

use core::cell::Cell;
use core::ptr;

use kovan_core::sync::Ordering;
use kovan_core::{Reservation, ThreadSlots};

use crate::config::RETIRE_FREQ;
use crate::domain::Domain;
use crate::header::NodeHeader;
use batch::Batch;

/// Where a thread's registration stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Life {
    /// The owner handle exists.
    Owned,
    /// The owner handle was dropped while a guard was live: the last guard's drop exits.
    OwnerGone,
    /// Thread exit is running (destructors it runs may pin and retire on this state).
    Exiting,
    /// The id is released; nothing may use this state any more.
    Exited,
}

/// The per-thread state behind a `LocalHandle` and its guards. Only its thread touches it.
pub(crate) struct Local {
    /// Re-pointed by a domain's drop before it exits a handle claimed from a thread's cache
    /// (`rebind_domain`): the pointer taken at registration does not outlive the drop's `&mut`.
    domain: Cell<*const Domain>,
    tid: usize,
    slots: *const ThreadSlots,
    pin_count: Cell<usize>,
    /// Mirror of the era published in the reservation; 0 (never an era) forces the next pin to
    /// republish, which is how every deactivation invalidates the fast path.
    cached_era: Cell<u64>,
    batch: Cell<Batch>,
    /// Batch length at which the next placement is tried.
    place_at: Cell<usize>,
    /// Deferred-function records: a batch of their own, so that the reservations they all hold
    /// (born at era 0, below every published era) do not also hold ordinary nodes.
    deferred: Cell<Batch>,
    /// Deferred batch length at which its next placement is tried.
    deferred_place_at: Cell<usize>,
    /// Retirements through this state (deferred records included).
    retired: Cell<u64>,
    /// The id's retired counter when this state claimed it; the slot counter is this plus
    /// `retired`.
    retired_base: u64,
    /// Shared by the threads of an owned guard: protected loads raise the reservation and never
    /// lower it, and everything else goes through the calling thread's own handle.
    shared: bool,
    /// Refs nodes of batches whose count reached zero, linked through `next`, not started yet.
    free_list: Cell<*mut NodeHeader>,
    /// The next node to destroy of the freed batch in progress (null between batches).
    freeing: Cell<*mut NodeHeader>,
    /// Freed batches whose destructors have not all run: the free list and the one in progress.
    freed_batches: Cell<usize>,
    /// A deferred batch was freed: the next free step runs everything.
    deferred_freed: Cell<bool>,
    /// `retired` at the last reservation update: equal at the next one for a thread that only
    /// read since, which then runs what it frees at once.
    retired_at_update: Cell<u64>,
    draining: Cell<bool>,
    life: Cell<Life>,
}

impl Local {
    /// State for `tid`, freshly claimed from `domain`, adopting the batch an earlier owner of the
    /// id parked.
    ///
    /// # Safety
    /// `domain` outlives the returned value and `tid` is claimed for it.
    pub(crate) unsafe fn new(domain: &Domain, tid: usize) -> Local {
        // SAFETY: forwarded contract.
        unsafe { Self::with_mode(domain, tid, false) }
    }

    /// As [`new`](Self::new); `shared` makes the state an owned guard's (see `shared`).
    ///
    /// # Safety
    /// As for [`new`](Self::new).
    pub(crate) unsafe fn with_mode(domain: &Domain, tid: usize, shared: bool) -> Local {
        let slots = domain
            .state()
            .registry()
            .slots(tid)
            .expect("claimed ids have pages");
        let local = Local {
            domain: Cell::new(domain),
            tid,
            slots,
            pin_count: Cell::new(0),
            cached_era: Cell::new(0),
            batch: Cell::new(Batch::EMPTY),
            place_at: Cell::new(place::first_try_len(domain)),
            deferred: Cell::new(Batch::EMPTY),
            deferred_place_at: Cell::new(RETIRE_FREQ),
            retired: Cell::new(0),
            // Relaxed: only holders of the id write it, and this claim synchronised with the
            // previous holder's release of the id.
            retired_base: slots.retired().load(Ordering::Relaxed),
            #[cfg(not(kovan_mutant = "owned_guard_not_shared"))]
            shared,
            #[cfg(kovan_mutant = "owned_guard_not_shared")]
            shared: shared && false,
            free_list: Cell::new(ptr::null_mut()),
            freeing: Cell::new(ptr::null_mut()),
            freed_batches: Cell::new(0),
            deferred_freed: Cell::new(false),
            retired_at_update: Cell::new(0),
            draining: Cell::new(false),
            life: Cell::new(Life::Owned),
        };
        local.adopt_from(slots);
        local
    }

    #[inline]
    pub(crate) fn domain(&self) -> &Domain {
        // SAFETY: the domain outlives every `Local` registered with it (constructor contract).
        unsafe { &*self.domain.get() }
    }

    /// Points this state at `domain`, the domain it is registered with, through a reference
    /// taken now (a domain's drop passes its own `&mut self`).
    #[cfg(all(feature = "std", not(kovan_loom)))]
    pub(crate) fn rebind_domain(&self, domain: &Domain) {
        debug_assert!(core::ptr::eq(self.domain.get(), domain));
        self.domain.set(domain);
    }

    #[inline]
    fn slots(&self) -> &ThreadSlots {
        // SAFETY: slot pages live as long as the domain.
        unsafe { &*self.slots }
    }

    /// The thread's reservation.
    #[inline]
    fn reservation(&self) -> &Reservation {
        self.slots().reservation()
    }

    pub(crate) fn is_pinned(&self) -> bool {
        self.pin_count.get() > 0
    }

    pub(crate) fn tid(&self) -> usize {
        self.tid
    }

    /// Whether this is an owned guard's state, shared by the threads the guard moves to.
    #[cfg(all(feature = "std", not(kovan_loom)))]
    #[inline]
    pub(crate) fn is_shared(&self) -> bool {
        self.shared
    }

    /// Publishes the retired count in the slot for statistics.
    #[inline]
    fn count_retired(&self) {
        let retired = self.retired.get() + 1;
        self.retired.set(retired);
        // Relaxed: a statistic; only this thread writes it (a plain store, no read-modify-write).
        self.slots()
            .retired()
            .store(self.retired_base + retired, Ordering::Relaxed);
    }

    /// Adds `freed` to the slot's freed counter.
    fn count_freed(&self, freed: u64) {
        let counter = self.slots().freed();
        // Relaxed load: only the id's holder (this thread) writes it. Release store: pairs with
        // the Acquire load in `Domain::stats`, so that the retirements counted are visible.
        counter.store(counter.load(Ordering::Relaxed) + freed, Ordering::Release);
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        debug_assert!(
            self.has_exited(),
            "a Local is dropped only after its thread exited"
        );
    }
}
