//! Traverse and free: releasing references and running destructors.
//!
//! A captured list is traversed once: per node, an AcqRel swap taints its `next` link (an
//! inserter that has not linked the old list behind it finds the taint and traverses that tail
//! itself) and an AcqRel decrement releases its batch reference. The decrement that reaches
//! zero acquires every other release, and the batch goes to the thread's free list.
//!
//! Freeing is amortized: each retire, deferral and reservation update runs [`FREE_STEP`]
//! destructors, and as many more as it takes to bring the list back to [`FREE_LIST_CAP`]
//! batches, so that freed memory goes back to the allocator's thread cache a few blocks at a
//! time, where the thread's next allocations find it. A freed deferred batch makes the step run
//! everything, and so does a reservation update of a thread that retired nothing since the
//! previous one (see `pin`). Flush, thread exit and a domain's drop run everything.
//! Destructors run only from the outermost freeing call (I5); a destructor that panics
//! propagates after the call's `Drop` has finished its share and the batch in progress. Bound:
//! the list's length; the step plus the batches above the cap.

use core::ptr;

use kovan_core::ListHead;
use kovan_core::sync::Ordering;

use super::Local;
use crate::config::{FREE_LIST_CAP, FREE_STEP};
use crate::header::{
    DEFERRED_BATCH_ADDR, INVALID_ADDR, NodeHeader, from_list_node, is_marked, unmark,
};

fn invalid_node() -> *mut NodeHeader {
    ptr::without_provenance_mut(INVALID_ADDR)
}

impl Local {
    /// Releases one reference per node of a captured list; batches reaching zero go to the free
    /// list. Bound: the list's length.
    pub(super) fn traverse(&self, captured: ListHead) {
        let ListHead::Nodes(head) = captured else {
            return;
        };
        let mut node = from_list_node(head);
        while !node.is_null() {
            debug_assert!(!is_marked(node) && node != invalid_node());
            // SAFETY: the node holds a reference on its batch until the decrement below.
            let header = unsafe { &*node };
            // AcqRel: Acquire sees an inserter's link; Release makes the taint visible to its CAS.
            let next = header.next().swap(invalid_node(), Ordering::AcqRel);
            // Relaxed: published by the Release insertion we acquired from.
            let refs = header.batch_link().load(Ordering::Relaxed);
            self.release_ref(refs);
            node = if next == invalid_node() {
                ptr::null_mut()
            } else {
                next
            };
        }
    }

    fn release_ref(&self, refs: *mut NodeHeader) {
        // AcqRel: Release orders our reads of the batch before its free; Acquire, for the last
        // decrement, makes all other releases happen-before the free.
        // SAFETY: we hold one of the batch's references, so the refs node is alive.
        if unsafe { &*refs }.refs().fetch_sub(1, Ordering::AcqRel) == 1 {
            self.push_free(refs);
        }
    }

    pub(super) fn push_free(&self, refs: *mut NodeHeader) {
        // SAFETY: the batch count reached zero: this thread now owns the whole batch.
        let next = unsafe { &*refs }.next();
        // Relaxed: written at placement, before the Release insertions this thread's final
        // decrement acquired.
        #[cfg(not(kovan_mutant = "deferred_batch_waits"))]
        if next.load(Ordering::Relaxed).addr() == DEFERRED_BATCH_ADDR {
            self.deferred_freed.set(true);
        }
        next.store(self.free_list.get(), Ordering::Relaxed);
        self.free_list.set(refs);
        self.freed_batches.set(self.freed_batches.get() + 1);
    }

    /// Whether batches whose count reached zero still have destructors to run.
    #[inline]
    pub(super) fn has_freed_batches(&self) -> bool {
        self.freed_batches.get() != 0
    }

    /// The amortized share of freeing that one operation does: [`FREE_STEP`] destructors, and
    /// more while over [`FREE_LIST_CAP`] batches wait; everything once a deferred batch is
    /// among them, so that deferred functions run when their batch is released.
    #[inline]
    pub(super) fn free_step(&self) {
        if self.has_freed_batches() {
            let budget = if self.deferred_freed.get() {
                usize::MAX
            } else {
                FREE_STEP
            };
            self.run_destructors(budget);
        }
    }

    /// Runs the destructors of every freed batch. Bound: the freed nodes, plus what their
    /// destructors free.
    pub(super) fn drain_free_list(&self) {
        #[cfg(not(kovan_mutant = "amortized_flush"))]
        if self.has_freed_batches() {
            self.run_destructors(usize::MAX);
        }
        #[cfg(kovan_mutant = "amortized_flush")]
        self.free_step();
    }

    /// Runs `budget` destructors (fewer if the list empties), then more until no more than
    /// [`FREE_LIST_CAP`] batches wait. Re-entrant calls (from a destructor) return at once: the
    /// outermost call's loop sees what they queue. A panicking destructor propagates after
    /// [`Destroyer`]'s drop finished the call's share.
    #[inline(never)]
    fn run_destructors(&self, budget: usize) {
        if self.draining.get() {
            return;
        }
        // Reached only from the outermost call, so clearing the flag afterwards restores it.
        self.draining.set(true);
        let mut destroyer = Destroyer {
            local: self,
            budget,
            freed: 0,
            returned: false,
        };
        destroyer.run();
        destroyer.returned = true;
    }

    /// The next node whose destructor is due, taken off the free list; null when none is.
    fn next_freed_node(&self) -> *mut NodeHeader {
        let mut node = self.freeing.get();
        if node.is_null() {
            let refs = self.free_list.get();
            if refs.is_null() {
                return ptr::null_mut();
            }
            // SAFETY: refs nodes on the free list are owned by this thread.
            let header = unsafe { &*refs };
            // Relaxed: free-list links are written and read by this thread only.
            self.free_list.set(header.next().load(Ordering::Relaxed));
            // Relaxed: published before the final decrement, which this thread acquired.
            node = unmark(header.batch_link().load(Ordering::Relaxed));
        }
        // SAFETY: members of an owned, freed batch stay alive until their destructor.
        let header = unsafe { &*node };
        // The refs node, last of its batch, is the one whose link is its marked front.
        if is_marked(header.batch_link().load(Ordering::Relaxed)) {
            self.freeing.set(ptr::null_mut());
            self.freed_batches.set(self.freed_batches.get() - 1);
        } else {
            self.freeing.set(header.member_next());
        }
        node
    }
}

/// One call's share of the freeing; its `Drop` finishes that share when a destructor panics,
/// so the state stays consistent and the call's work is done before the panic goes on.
struct Destroyer<'a> {
    local: &'a Local,
    /// Destructors still to run before only the cap drives the loop.
    budget: usize,
    /// Destructors called so far, published in the slot when the call ends.
    freed: u64,
    /// Set when `run` returned; still false in `Drop` while a destructor's panic unwinds.
    returned: bool,
}

impl Destroyer<'_> {
    fn run(&mut self) {
        // Mutant: no cap, so a reader that frees others' batches keeps all of them.
        #[cfg(kovan_mutant = "free_list_uncapped")]
        let cap = usize::MAX;
        #[cfg(not(kovan_mutant = "free_list_uncapped"))]
        let cap = FREE_LIST_CAP;
        while self.budget > 0 || self.local.freed_batches.get() > cap {
            let node = self.local.next_freed_node();
            if node.is_null() {
                self.local.deferred_freed.set(false);
                break;
            }
            self.budget = self.budget.saturating_sub(1);
            #[cfg(not(kovan_mutant = "freed_counted_per_batch"))]
            {
                self.freed += 1;
            }
            #[cfg(kovan_mutant = "freed_counted_per_batch")]
            if self.local.freeing.get().is_null() {
                self.freed += 1;
            }
            // SAFETY: the batch count reached zero (Acquire), so no slot list holds the batch
            // and no reader can reach the node; each member is taken off the list once.
            unsafe {
                if let Some(destructor) = (*node).destructor() {
                    destructor(node);
                }
            }
        }
    }
}

impl Drop for Destroyer<'_> {
    fn drop(&mut self) {
        if !self.returned {
            // A destructor panicked: finish the call's share and the rest of the batch in
            // progress (as a panic in a whole-batch free always did), then let it propagate.
            self.run();
            #[cfg(not(kovan_mutant = "panic_leaves_batch_in_progress"))]
            while !self.local.freeing.get().is_null() {
                self.budget = 1;
                self.run();
            }
        }
        self.local.count_freed(self.freed);
        self.local.draining.set(false);
    }
}
