//! Pin: entering and leaving a critical section.
//!
//! A nested or same-era pin is a counter increment, one Relaxed era load and a compare. The
//! outermost pin after the era moved updates the reservation: it captures the list that
//! placements filled since the last update (one AcqRel swap that acquires their insertions),
//! releases a reference per node, publishes the current era with a SeqCst store and a SeqCst
//! fence (I2: pairs with the fence that starts every placement scan), then runs its share of
//! the freed destructors: the free step if it retired since its last update, else everything
//! (a reader). Bound: the captured list, plus those destructors.

use kovan_core::ListHead;
use kovan_core::sync::Ordering;

use super::{Life, Local};

impl Local {
    /// Enters a critical section. Nested pins only count.
    #[inline]
    pub(crate) fn pin(&self) {
        let count = self.pin_count.get();
        self.pin_count.set(count + 1);
        // Relaxed: pin only decides whether to republish; every pointer obtained under the
        // guard is validated by `protect`, which orders its own loads.
        if count == 0
            && self.domain().state().era().load(Ordering::Relaxed) != self.cached_era.get()
        {
            self.pin_slow();
        }
    }

    /// The outermost pin after the era moved. The count is raised first so that pins made by
    /// the destructors it runs nest (I5); no `Guard` exists yet to lower it if one panics, so
    /// an unwind guard does.
    #[cold]
    fn pin_slow(&self) {
        #[cfg(not(kovan_mutant = "pin_panic_keeps_count"))]
        let unpin = UnpinOnUnwind(self);
        self.update_reservation();
        #[cfg(not(kovan_mutant = "pin_panic_keeps_count"))]
        core::mem::forget(unpin);
    }

    /// Leaves a critical section. Returns `true` when the owner handle is gone and this was the
    /// last guard: the caller then runs [`exit`](Self::exit).
    #[inline]
    pub(crate) fn unpin(&self) -> bool {
        let count = self.pin_count.get();
        debug_assert!(count > 0, "unpin without pin");
        self.pin_count.set(count - 1);
        count == 1 && self.life.get() == Life::OwnerGone
    }

    /// Captures and releases the reservation's list, then publishes the current era.
    /// Called only when no pointer of an earlier guard is still in use on this thread.
    /// Bound: the captured list's length, plus its share of the freeing (`free_step`).
    fn update_reservation(&self) {
        let slot = self.reservation();
        // AcqRel: Acquire pairs with inserters' Release swaps (their node fields are visible);
        // Release orders our earlier reads of protected nodes before the release of their refs.
        let captured = slot.swap_list_head(ListHead::Empty, Ordering::AcqRel);
        self.traverse(captured);
        let era = self.domain().state().era().load(Ordering::Relaxed);
        self.publish(era);
        let retired = self.retired.get();
        #[cfg(not(kovan_mutant = "reader_keeps_freed_batches"))]
        if self.retired_at_update.replace(retired) == retired {
            // A reader since its last update: no retire will come to run the rest, and it
            // allocates little, so the allocator's cache gains nothing from waiting.
            self.drain_free_list();
            return;
        }
        self.free_step();
    }

    /// Publishes `era` in the reservation and makes it visible before any later pointer load.
    #[inline]
    pub(super) fn publish(&self, era: u64) {
        self.reservation().store_reserved_era(era, Ordering::SeqCst);
        // I2: pairs with the fence in `try_place` before its slot scan. A SeqCst store followed
        // by a load of another location is reorderable (store buffering) without it.
        #[cfg(not(kovan_mutant = "no_publish_fence"))]
        kovan_core::sync::fence(Ordering::SeqCst);
        // A shared state keeps 0, so that its loads always take the sharer-safe path.
        if !self.shared {
            self.cached_era.set(era);
        }
    }
}

/// Lowers the pin count raised by an outermost pin whose update unwound.
struct UnpinOnUnwind<'a>(&'a Local);

impl Drop for UnpinOnUnwind<'_> {
    fn drop(&mut self) {
        let local = self.0;
        local.pin_count.set(local.pin_count.get() - 1);
    }
}
