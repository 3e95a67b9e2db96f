//! Traverse and free: releasing references and running destructors.
//!
//! A captured list is traversed once: per node, an AcqRel swap taints its `next` link (an
//! inserter that has not linked the old list behind it finds the taint and traverses that tail
//! itself) and an AcqRel decrement releases its batch reference. The decrement that reaches
//! zero acquires every other release, and the batch goes to the thread's free list. Destructors
//! run only from the outermost `drain_free_list` (I5); a destructor that panics propagates after
//! the drain's `Drop` has freed the rest. Bound: the list's length; the freed nodes.

use core::ptr;

use kovan_core::ListHead;
use kovan_core::sync::Ordering;

use super::Local;
use crate::header::{INVALID_ADDR, NodeHeader, from_list_node, is_marked, unmark};

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
        unsafe { &*refs }
            .next()
            .store(self.free_list.get(), Ordering::Relaxed);
        self.free_list.set(refs);
    }

    /// Runs the destructors of every freed batch. Re-entrant calls (from a destructor) return at
    /// once: the outermost call picks up what they queue. A panicking destructor propagates
    /// after the rest is reclaimed by [`FreeListDrain`]'s drop. Bound: the freed nodes, plus what
    /// their destructors free.
    pub(super) fn drain_free_list(&self) {
        if self.draining.get() || self.free_list.get().is_null() {
            return;
        }
        // Reached only from the outermost call, so clearing the flag afterwards restores it.
        self.draining.set(true);
        let mut reclaimer = FreeListDrain {
            local: self,
            refs: ptr::null_mut(),
            next: ptr::null_mut(),
            freed: 0,
        };
        reclaimer.run();
    }
}

/// Walks the free list, one batch at a time; its `Drop` finishes the walk when a destructor
/// panics, so the rest is still reclaimed before the panic goes on.
struct FreeListDrain<'a> {
    local: &'a Local,
    /// Refs node of the batch being freed (null between batches).
    refs: *mut NodeHeader,
    /// Next member of that batch to free.
    next: *mut NodeHeader,
    /// Destructors called so far, published in the slot when the walk ends.
    freed: u64,
}

impl FreeListDrain<'_> {
    fn run(&mut self) {
        loop {
            if self.refs.is_null() {
                let refs = self.local.free_list.replace(ptr::null_mut());
                if refs.is_null() {
                    break;
                }
                // Requeue the rest of the list; this batch is ours.
                // SAFETY: refs nodes on the free list are owned by this thread.
                let rest = unsafe { &*refs }.next().load(Ordering::Relaxed);
                self.local.free_list.set(rest);
                self.refs = refs;
                // SAFETY: as above.
                self.next = unmark(unsafe { &*refs }.batch_link().load(Ordering::Relaxed));
                continue;
            }
            let node = self.next;
            self.next = if node == self.refs {
                self.refs = ptr::null_mut();
                ptr::null_mut()
            } else {
                // SAFETY: members of an owned, freed batch stay alive until their destructor.
                unsafe { &*node }.batch_next()
            };
            #[cfg(not(kovan_mutant = "freed_counted_per_batch"))]
            {
                self.freed += 1;
            }
            #[cfg(kovan_mutant = "freed_counted_per_batch")]
            if self.refs.is_null() {
                self.freed += 1;
            }
            // SAFETY: the batch count reached zero (Acquire), so no slot list holds the batch
            // and no reader can reach the node; each member is destroyed once.
            unsafe {
                if let Some(destructor) = (*node).destructor() {
                    destructor(node);
                }
            }
        }
    }
}

impl Drop for FreeListDrain<'_> {
    fn drop(&mut self) {
        // Reached with work left only while unwinding from a destructor.
        if !self.refs.is_null() || !self.local.free_list.get().is_null() {
            self.run();
        }
        self.local.count_freed(self.freed);
        self.local.draining.set(false);
    }
}
