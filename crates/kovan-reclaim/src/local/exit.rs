//! Thread exit, parking and adoption.
//!
//! An exiting thread releases its reservation, places its open batch (or parks it in its own
//! cell when too few nodes remain for the eligible reservations), frees what became free,
//! advances the era if it retired since its last advance, and releases its id. Parked batches
//! are adopted by the next owner of the id, by every era advance while any are parked, and by
//! flush; a parked cell holds at most one chain (Release swap to park, Acquire swap to adopt).
//! Bound: one round per generation of garbage that its destructors create, each O(T) plus the
//! batch.

use core::ptr;

use kovan_core::sync::Ordering;
use kovan_core::{ListHead, ThreadSlots};

use super::batch::Batch;
use super::{Life, Local};

use crate::header::{NodeHeader, as_list_node, from_list_node, unmark};
use crate::stall::{Step, point};

impl Local {
    /// Merges every parked batch into the open batch. Bound: `scan_bound()` cells.
    pub(super) fn adopt_parked(&self) {
        let registry = self.domain().state().registry();
        for tid in 0..registry.scan_bound() {
            if let Some(slots) = registry.slots(tid) {
                self.adopt_from(slots);
            }
        }
    }

    pub(super) fn adopt_from(&self, slots: &ThreadSlots) {
        // Relaxed pre-check, then Acquire swap pairing with the parker's Release swap.
        if slots.parked().load(Ordering::Relaxed).is_null() {
            return;
        }
        let front = slots.parked().swap(ptr::null_mut(), Ordering::Acquire);
        if front.is_null() {
            return;
        }
        self.domain()
            .state()
            .parked_count()
            .fetch_sub(1, Ordering::Relaxed);
        // SAFETY: the swap handed the parked chain to this thread alone.
        let (nodes, records) = unsafe { Batch::split_chain(from_list_node(front)) };
        self.batch.set(self.batch.get().merge(nodes));
        self.deferred.set(self.deferred.get().merge(records));
    }

    /// Parks the open batch, with the deferred records that could not be placed, in this
    /// thread's own cell for another thread to adopt.
    fn park(&self) {
        let batch = self
            .batch
            .replace(Batch::EMPTY)
            .merge(self.deferred.replace(Batch::EMPTY));
        if batch.is_empty() {
            return;
        }
        // Release: publishes the chain to the adopter's Acquire swap.
        let previous = self
            .slots()
            .parked()
            .swap(as_list_node(batch.front), Ordering::Release);
        debug_assert!(
            previous.is_null(),
            "own parked cell is adopted before parking again"
        );
        // Relaxed: a hint for adopters; the cell is the synchronisation.
        self.domain()
            .state()
            .parked_count()
            .fetch_add(1, Ordering::Relaxed);
    }

    /// The owner handle is being dropped. Returns `true` when the thread must exit now (the
    /// caller runs [`exit`](Self::exit)); otherwise the last guard's drop does.
    pub(crate) fn release_owner(&self) -> bool {
        debug_assert_eq!(self.life.get(), Life::Owned);
        if self.is_pinned() {
            self.life.set(Life::OwnerGone);
            return false;
        }
        true
    }

    /// Takes every reservation list and parked batch of the domain, then exits, freeing all of
    /// it. Only when no other handle of the domain exists (the domain is being dropped).
    pub(crate) fn drain_domain(&self) {
        let registry = self.domain().state().registry();
        for tid in 0..registry.scan_bound() {
            let Some(slots) = registry.slots(tid) else {
                continue;
            };
            // AcqRel: as in `update_reservation`.
            let captured = slots
                .reservation()
                .swap_list_head(ListHead::Inactive, Ordering::AcqRel);
            self.traverse(captured);
            self.adopt_from(slots);
        }
        self.exit();
    }

    /// Thread exit: deactivate, adopt the own parked cell, place and free to a fixpoint of
    /// this thread's own retirements (destructors may pin and retire on this state), release
    /// the reservation again and requeue what that frees, park what is left, then advance the
    /// era if this thread retired since its last advance, and return the id. A destructor that panics does not stop the exit: it
    /// completes while the panic unwinds. If a destructor left a guard alive, the exit is
    /// finished by that guard's drop instead. Bound: one placement per generation of garbage
    /// that its destructors retire, each O(T) plus the batch.
    pub(crate) fn exit(&self) {
        self.life.set(Life::Exiting);
        #[cfg(not(kovan_mutant = "exit_stops_on_panic"))]
        let finish = FinishExitOnUnwind(self);
        self.exit_rounds();
        #[cfg(not(kovan_mutant = "exit_stops_on_panic"))]
        core::mem::forget(finish);
        self.finish_exit();
    }

    /// Mutant: the exit rounds before the review, which release the reservation and free
    /// again for as long as a round frees anything, whoever placed it.
    #[cfg(kovan_mutant = "exit_loops_while_fed")]
    fn exit_rounds(&self) {
        loop {
            if !self.is_pinned() {
                self.deactivate();
            }
            point(Step::ExitDeactivated);
            self.adopt_from(self.slots());
            self.place_open_batch(true);
            self.park();
            if !self.has_freed_batches() {
                break;
            }
            self.drain_free_list();
        }
    }

    #[cfg(not(kovan_mutant = "exit_loops_while_fed"))]
    fn exit_rounds(&self) {
        // A destructor may have pinned and kept its guard (an earlier try of this exit, or the
        // rounds below): its reservation stays, and that guard's drop finishes the exit.
        if !self.is_pinned() {
            self.deactivate();
        }
        point(Step::ExitDeactivated);
        self.adopt_from(self.slots());
        #[cfg(kovan_mutant = "exit_frees_open_batch")]
        self.free_open_batch_directly();
        self.place_and_free();
        // Destructors that pinned reactivated the reservation, and other threads may have
        // placed batches in it since. Releasing it frees those, but their destructors are not
        // run here (they could pin again, and so on for as long as others place batches):
        // they go back into the open batch, parked below for another thread to place.
        #[cfg(not(kovan_mutant = "exit_deactivates_under_guard"))]
        let release_own = !self.is_pinned();
        #[cfg(kovan_mutant = "exit_deactivates_under_guard")]
        let release_own = true;
        if release_own {
            self.deactivate();
            self.requeue_freed();
        }
        self.park();
    }

    /// Turns the batches on the free list back into unplaced chains in the open batch. A
    /// freed batch is unreachable for every reader, so placing it again only delays it.
    /// Bound: the nodes of those batches.
    fn requeue_freed(&self) {
        let mut refs = self.free_list.replace(ptr::null_mut());
        while !refs.is_null() {
            self.freed_batches.set(self.freed_batches.get() - 1);
            // SAFETY: the batch count reached zero: this thread owns the whole batch.
            let header = unsafe { &*refs };
            // Relaxed: free-list links are written and read by this thread only.
            let rest = header.next().load(Ordering::Relaxed);
            let front = unmark(header.batch_link().load(Ordering::Relaxed));
            // SAFETY: as above; the chain is owned and no longer placed anywhere.
            let chain = unsafe { unplace(front, refs, self.domain().era()) };
            self.batch.set(self.batch.get().merge(chain));
            refs = rest;
        }
    }

    fn finish_exit(&self) {
        if self.is_pinned() {
            self.life.set(Life::OwnerGone);
            return;
        }
        // A thread that retired fewer than EPOCH_FREQ nodes since its last advance would
        // otherwise never move the era, and a run of such short-lived threads would leave the
        // batches they placed in every reservation for good (docs/protocol.md §5). The batch
        // is placed above, so the reservations that got its nodes release them at their next
        // update.
        #[cfg(not(kovan_mutant = "exit_skips_era_advance"))]
        if self.retired.get() % crate::config::EPOCH_FREQ != 0 {
            self.tick_era();
        }
        self.life.set(Life::Exited);
        self.domain().state().registry().release(self.tid);
    }

    /// Whether the thread exited (its id is released): its state may be freed.
    pub(crate) fn has_exited(&self) -> bool {
        self.life.get() == Life::Exited
    }

    /// Mutant: runs the open batch's destructors at once (a use-after-free for readers).
    #[cfg(kovan_mutant = "exit_frees_open_batch")]
    fn free_open_batch_directly(&self) {
        let batch = self.batch.replace(Batch::EMPTY);
        let mut node = batch.front;
        while !node.is_null() {
            // SAFETY: mutant only; deliberately wrong.
            unsafe {
                let next = (*node).chain_next();
                if let Some(destructor) = (*node).destructor() {
                    destructor(node);
                }
                node = next;
            }
        }
    }
}

/// Rebuilds a freed batch, placed with members `front..=refs`, as an unplaced chain. The
/// birth eras were overwritten at placement; the batch is unreachable for every reader, so any
/// era is safe, and `era` (the current one) makes the fewest reservations eligible when it is
/// placed again (deferred records among the members lose their mark and join the node batch,
/// which no reservation holds longer on their account). Bound: the batch's length.
///
/// # Safety
/// The caller owns the batch (its count reached zero).
unsafe fn unplace(front: *mut NodeHeader, refs: *mut NodeHeader, era: u64) -> Batch {
    let mut len = 1;
    let mut node = front;
    while node != refs {
        // SAFETY: members of an owned batch are alive.
        let header = unsafe { &*node };
        let next = header.member_next();
        header.set_chain_next(next);
        header.set_birth_era(era);
        len += 1;
        node = next;
    }
    // SAFETY: as above.
    let header = unsafe { &*refs };
    header.set_chain_next(ptr::null_mut());
    header.set_birth_era(era);
    Batch {
        front,
        tail: refs,
        len,
        min_birth: era,
    }
}

/// Completes a thread exit whose destructor unwound: the remaining rounds run (a second panic
/// aborts, as Rust does for a panic during unwinding) and the id is released.
struct FinishExitOnUnwind<'a>(&'a Local);

impl Drop for FinishExitOnUnwind<'_> {
    fn drop(&mut self) {
        self.0.exit_rounds();
        self.0.finish_exit();
    }
}
