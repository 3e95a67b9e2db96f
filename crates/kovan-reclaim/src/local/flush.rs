//! Flush: push this thread's garbage through, to a fixpoint.
//!
//! Releases the thread's reservation when no guard is live, sweeps the lists of released ids,
//! adopts parked batches, advances the era, then places the open batch even if small and frees
//! what became free, again for as long as those destructors retire more. Bound: O(T) plus the
//! lists and batches it touches, plus one placement per generation of garbage that the
//! destructors it runs retire.

use kovan_core::ListHead;
use kovan_core::sync::Ordering;

use super::Local;

impl Local {
    /// Pushes this thread's garbage through, to a fixpoint: releases its own reservation when
    /// no guard is live, sweeps released ids, adopts parked batches, advances the era, then
    /// places the open batch even if small and runs what became free, again for whatever
    /// those destructors retire (see [`place_and_free`](Self::place_and_free)). What is left
    /// is covered by a reservation. Bound: O(T) plus the lists and batches it touches, plus
    /// one placement per generation of garbage that the destructors it runs retire.
    pub(crate) fn flush(&self) {
        #[cfg(not(kovan_mutant = "flush_drains_under_guard"))]
        let may_release_own = !self.is_pinned();
        #[cfg(kovan_mutant = "flush_drains_under_guard")]
        let may_release_own = true;
        if may_release_own {
            self.deactivate();
        }
        self.sweep_released_ids();
        self.adopt_parked();
        self.advance_era();
        self.place_and_free();
    }

    /// Places the open batch (and the deferred batch, padded if it is too small) and runs what
    /// became free; while those destructors retire more
    /// (the next link of a chain), places and frees that too. Only this thread's own
    /// retirements start another round: its reservation is not captured again, so batches
    /// that other threads place meanwhile cannot keep it going. Called from a destructor, it
    /// places once and leaves the freeing to the running destructor loop. Bound: one placement per
    /// generation of garbage that the destructors retire.
    pub(super) fn place_and_free(&self) {
        loop {
            self.place_open_batch(true);
            if !self.has_freed_batches() || self.draining.get() {
                return;
            }
            let retired = self.retired.get();
            self.drain_free_list();
            #[cfg(not(kovan_mutant = "flush_single_pass"))]
            if self.retired.get() == retired {
                return;
            }
            #[cfg(kovan_mutant = "flush_single_pass")]
            return;
        }
    }

    /// Deactivates the reservation and releases its list. Only when no guard is live.
    pub(super) fn deactivate(&self) {
        // AcqRel: as in `update_reservation`.
        let captured = self
            .reservation()
            .swap_list_head(ListHead::Inactive, Ordering::AcqRel);
        self.cached_era.set(0);
        self.traverse(captured);
    }

    /// Takes over the reservation lists of ids that are released and unclaimed, where an
    /// insertion that raced the owner's exit may have left nodes. Bound: `scan_bound()` ids.
    fn sweep_released_ids(&self) {
        let registry = self.domain().state().registry();
        for tid in registry.released_ids() {
            if !registry.claim_id(tid) {
                continue;
            }
            let slots = registry.slots(tid).expect("released ids have pages");
            let reservation = slots.reservation();
            // Relaxed: a pre-check; the swap below acquires the list.
            if let ListHead::Nodes(_) = reservation.list_head(Ordering::Relaxed) {
                let captured = reservation.swap_list_head(ListHead::Inactive, Ordering::AcqRel);
                self.traverse(captured);
            }
            self.adopt_from(slots);
            registry.release(tid);
        }
    }
}
