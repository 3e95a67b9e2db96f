//! The protected load: a pointer load validated against the reserved era.
//!
//! Fast path: the pointer load (at least Acquire) and one Relaxed era load, equal to the era
//! this thread published. Otherwise up to `PROTECT_ROUNDS` rounds publish the era read, fence
//! and reload; if the era moved on every round, one escalated load reserves every era for a
//! single pointer load and then lowers the reservation to an era read after it. Bound:
//! `PROTECT_ROUNDS` + 2 publications. `cover` raises the reservation for a node this thread
//! allocated and publishes itself.

use kovan_core::sync::{AtomicPtr, Ordering};

use super::Local;
use crate::config::{ESCALATED_ERA, PROTECT_ROUNDS};
use crate::stall::{Step, point};

impl Local {
    /// Loads `source` so that the returned pointer stays valid while the current guard lives.
    #[inline]
    pub(crate) fn protect<T>(&self, source: &AtomicPtr<T>, order: Ordering) -> *mut T {
        // At least Acquire: the era load below must not move before this load (I1).
        let loaded = source.load(at_least_acquire(order));
        // Relaxed: ordered after the Acquire load above, which happens-after the birth-era read
        // of whatever it returned, so coherence makes this era at least that birth era.
        if self.domain().state().era().load(Ordering::Relaxed) == self.cached_era.get() {
            return loaded;
        }
        self.protect_slow(source, order)
    }

    /// Validates a pointer `observed` in `source` by another access (a failed CAS): returns it
    /// if the reservation still covers it, or reloads under protection.
    #[inline]
    pub(crate) fn revalidate<T>(
        &self,
        source: &AtomicPtr<T>,
        observed: *mut T,
        order: Ordering,
    ) -> *mut T {
        // Relaxed: the caller's access that observed the pointer was at least Acquire.
        if self.domain().state().era().load(Ordering::Relaxed) == self.cached_era.get() {
            return observed;
        }
        self.protect_slow(source, order)
    }

    /// Raises the live guard's reservation to cover an object born at `birth_era` (no-op when
    /// it does already), so that the object stays allocated until the guard drops even if
    /// another thread unlinks and retires it. Only raises: every earlier load stays covered.
    #[inline]
    pub(crate) fn cover(&self, birth_era: u64) {
        debug_assert!(self.is_pinned(), "cover outside a guard");
        #[cfg(not(kovan_mutant = "cover_is_noop"))]
        if self.shared {
            self.raise_shared(birth_era);
        } else if birth_era > self.cached_era.get() {
            // Relaxed: the caller read `birth_era` from this clock (or from an object it reached
            // through an Acquire access), so coherence makes this load at least `birth_era`.
            let era = self.domain().state().era().load(Ordering::Relaxed);
            self.publish(era);
        }
    }

    /// Era changed since the last publication. Bound: `PROTECT_ROUNDS` rounds, then one
    /// escalated load.
    #[cold]
    #[inline(never)]
    fn protect_slow<T>(&self, source: &AtomicPtr<T>, order: Ordering) -> *mut T {
        if self.shared {
            return self.protect_shared(source, order);
        }
        let era_clock = self.domain().state().era();
        for _ in 0..PROTECT_ROUNDS {
            // Relaxed: the value is only published; the fence in `publish` orders what follows.
            let era = era_clock.load(Ordering::Relaxed);
            point(Step::ProtectEraRead);
            self.publish(era);
            point(Step::ProtectPublished);
            let reloaded = source.load(at_least_acquire(order));
            #[cfg(kovan_mutant = "protect_no_recheck")]
            return reloaded;
            // Relaxed: ordered after the Acquire reload (see `protect`).
            #[cfg(not(kovan_mutant = "protect_no_recheck"))]
            if era_clock.load(Ordering::Relaxed) == era {
                return reloaded;
            }
        }
        self.escalated_load(source, order)
    }

    /// One load covered by the infinite era, which every batch placed meanwhile must honour;
    /// then the reservation drops to an era read after the load, which is at least the loaded
    /// node's birth era (so it stays covered) and at least every earlier publication of this
    /// guard (so they stay covered). Only a thread stalled between the two publications holds
    /// back every younger batch. Bound: two publications and two loads.
    fn escalated_load<T>(&self, source: &AtomicPtr<T>, order: Ordering) -> *mut T {
        // Relaxed (mutant only): deliberately read before the load below.
        #[cfg(kovan_mutant = "escalation_lowers_to_stale_era")]
        let era = self.domain().state().era().load(Ordering::Relaxed);
        self.publish(ESCALATED_ERA);
        point(Step::ProtectEscalated);
        let loaded = source.load(at_least_acquire(order));
        // Relaxed: ordered after the Acquire load above, which happens-after the birth-era read
        // of whatever it returned, so coherence makes this era at least that birth era.
        #[cfg(not(kovan_mutant = "escalation_lowers_to_stale_era"))]
        let era = self.domain().state().era().load(Ordering::Relaxed);
        // `publish` stores SeqCst (release): the load above cannot move past the lowering.
        self.publish(era);
        loaded
    }
}

impl Local {
    /// The protected load of an owned guard, which threads may share: its cached era stays 0,
    /// so every load comes here. The rounds only ever raise the reservation (a sharer's stale
    /// era must not uncover another sharer's load), and the escalation raises it to the
    /// infinite era for the rest of the guard's life. Bound: `PROTECT_ROUNDS` rounds of one
    /// raise each (a raise retries only when a sharer raised the reservation meanwhile).
    fn protect_shared<T>(&self, source: &AtomicPtr<T>, order: Ordering) -> *mut T {
        let era_clock = self.domain().state().era();
        for _ in 0..PROTECT_ROUNDS {
            // Relaxed: the value is only published; `raise_shared`'s fence orders what follows.
            let era = era_clock.load(Ordering::Relaxed);
            point(Step::ProtectEraRead);
            let reserved = self.raise_shared(era);
            point(Step::ProtectPublished);
            let reloaded = source.load(at_least_acquire(order));
            // Relaxed: ordered after the Acquire reload (see `protect`); the reservation is
            // `reserved` or higher from now on.
            #[cfg(not(kovan_mutant = "protect_no_recheck"))]
            if era_clock.load(Ordering::Relaxed) <= reserved {
                return reloaded;
            }
            #[cfg(kovan_mutant = "protect_no_recheck")]
            return reloaded;
        }
        self.raise_shared(ESCALATED_ERA);
        point(Step::ProtectEscalated);
        source.load(at_least_acquire(order))
    }

    /// Raises the reservation to at least `era` and fences, like a publication; returns the
    /// reservation it left. Never lowers it: other sharers' loads rely on every value it had.
    pub(super) fn raise_shared(&self, era: u64) -> u64 {
        let reservation = self.reservation();
        // SeqCst: reading the latest publication (a sharer's) stands in for our own: it
        // precedes the fence below in the single total order, as our store would (I2).
        let mut current = reservation.reserved_era(Ordering::SeqCst);
        while current < era {
            match reservation
                .era_pair()
                .compare_exchange_lo(current, era, Ordering::SeqCst)
            {
                Ok(_) => current = era,
                // Another sharer raised it: take its value (and retry only if still lower).
                Err(seen) => current = seen,
            }
        }
        // I2: pairs with the fence in `try_place` before its slot scan, as in `publish`.
        kovan_core::sync::fence(Ordering::SeqCst);
        current
    }
}

#[inline]
fn at_least_acquire(order: Ordering) -> Ordering {
    match order {
        Ordering::SeqCst => Ordering::SeqCst,
        _ => Ordering::Acquire,
    }
}
