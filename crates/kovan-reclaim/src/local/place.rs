//! Retire and place a batch.
//!
//! `retire` links a node into the open batch (O(1)); every `EPOCH_FREQ`-th retirement of the thread
//! advances the era. At `RETIRE_FREQ` nodes, or as many as the scan visits ids if more (or the
//! grown target after a failed try), the batch is placed: a SeqCst fence (I2, pairs with the fence
//! after every publication), one scan of the registered reservations assigning a node to each
//! eligible one, then one unconditional AcqRel swap per assigned node into that reservation's list.
//! A batch with too few nodes for the eligible reservations stays open and grows. The batch's
//! reference count starts biased, so traversals racing the insertions cannot free it early. Bound:
//! one pass over the registered ids plus one pass over the batch, with at most one docked-tail
//! traversal per inserted node.

use core::cell::Cell;
use core::ptr;

use kovan_core::sync::{Ordering, fence};
use kovan_core::{ListHead, Reservation};

use super::Local;
use super::batch::Batch;
use crate::config::{DEFERRED_BIRTH_ERA, EPOCH_FREQ, RETIRE_FREQ};
use crate::domain::Domain;
use crate::header::{
    DEFERRED_BATCH_ADDR, NodeHeader, REFS_BIAS, as_list_node, decode_assignee, encode_assignee,
    from_list_node, mark,
};
use crate::reclaim::Destructor;
use crate::stall::{Step, point};

impl Local {
    /// Adds `node` to the open batch; may advance the era and place the batch.
    ///
    /// # Safety
    /// `node` heads a live object that no thread can newly reach, retired once, whose
    /// `destructor` frees it correctly on any thread.
    pub(crate) unsafe fn retire(&self, node: *mut NodeHeader, destructor: Destructor) {
        // SAFETY: forwarded contract.
        unsafe { self.push_open(&self.batch, node, destructor) };
        if self.batch.get().len >= self.place_at.get() {
            self.place_open_batch(false);
        }
        self.free_step();
    }

    /// Adds a deferred-function record to the deferred batch; places it when it is due. The
    /// record is born at era 0, below every published era, so every active reservation is eligible for it.
    ///
    /// # Safety
    /// As for [`retire`](Self::retire), for a record that no reader can reach at all.
    pub(crate) unsafe fn defer(&self, node: *mut NodeHeader, destructor: Destructor) {
        // Mutant: records join the node batch, which every reservation then holds.
        #[cfg(kovan_mutant = "deferred_in_node_batch")]
        // SAFETY: forwarded contract.
        return unsafe { self.retire(node, destructor) };
        // SAFETY: forwarded contract.
        unsafe { self.push_open(&self.deferred, node, destructor) };
        if self.deferred.get().len >= self.deferred_place_at.get() {
            self.place_deferred_batch(false);
        }
        self.free_step();
    }

    /// Links `node` into the open batch `open` and counts the retirement; may advance the era.
    ///
    /// # Safety
    /// As for [`retire`](Self::retire).
    unsafe fn push_open(&self, open: &Cell<Batch>, node: *mut NodeHeader, destructor: Destructor) {
        // SAFETY: the node is unreachable for new readers and not yet in any batch, so this
        // thread has exclusive access to its header words.
        let header = unsafe { &*node };
        // SAFETY: as above: nobody else can read the destructor word yet.
        unsafe { header.set_destructor(destructor) };
        let batch = open.get();
        header.set_chain_next(batch.front);
        open.set(Batch {
            front: node,
            tail: if batch.is_empty() { node } else { batch.tail },
            len: batch.len + 1,
            min_birth: batch.min_birth.min(header.birth_era()),
        });
        self.count_retired();
        if self.retired.get() % EPOCH_FREQ == 0 {
            self.advance_era();
        }
    }

    /// Adopts parked batches, if any, and advances the era. No thread ever waits for a stable
    /// era here (pins publish once and protected loads escalate), so there is no slow-path
    /// request to help first.
    pub(super) fn advance_era(&self) {
        // Relaxed: a hint; the adoption below synchronises through the parked cells themselves.
        if self.domain().state().parked_count().load(Ordering::Relaxed) != 0 {
            self.adopt_parked();
        }
        self.tick_era();
    }

    pub(super) fn tick_era(&self) {
        // SeqCst: the era clock is part of the Dekker pairs of I2.
        self.domain().state().era().fetch_add(1, Ordering::SeqCst);
    }

    /// Tries to place the open batch, and the deferred batch if it has records; on failure a
    /// batch stays open and grows. With `pad`, a deferred batch too small for the eligible
    /// reservations is padded with filler records first (see `place_deferred_batch`).
    pub(super) fn place_open_batch(&self, pad: bool) {
        // A node batch that is too small stays open and grows: as its nodes age, fewer
        // reservations are eligible for it.
        let _ = self.place_batch(&self.batch, &self.place_at, first_try_len(self.domain()));
        self.place_deferred_batch(pad);
    }

    /// Places the deferred batch. Every active reservation is eligible for its records, so
    /// unlike a node batch it does not get smaller eligibility as its nodes age: a batch with
    /// no more records than there are active reservations would wait for more deferrals. With
    /// `pad` (flush and exit) it is padded with filler records up to one per eligible
    /// reservation plus one, and placed; a reservation activated meanwhile can make the try
    /// fail once more, so it is padded twice at most. Bound: two placements and the fillers,
    /// at most T + 1 each.
    fn place_deferred_batch(&self, pad: bool) {
        #[cfg(kovan_mutant = "deferred_batch_not_padded")]
        let pad = false;
        let mut tries = if pad { 3 } else { 1 };
        // Records are placed every RETIRE_FREQ calls whatever the scan bound: each may hold a
        // resource far larger than a node.
        while let Err(eligible) =
            self.place_batch(&self.deferred, &self.deferred_place_at, RETIRE_FREQ)
        {
            tries -= 1;
            if tries == 0 {
                return;
            }
            for _ in self.deferred.get().len..=eligible {
                // SAFETY: a fresh record, handed over once, freed by its own destructor.
                unsafe {
                    self.push_open(
                        &self.deferred,
                        crate::reclaim::filler(),
                        crate::reclaim::boxed::<NodeHeader>,
                    )
                };
            }
        }
    }

    /// Tries to place the batch in `open`; on success the next batch is first tried at
    /// `first_try` nodes; on failure it stays open, grows, and the error tells how many
    /// reservations were eligible.
    fn place_batch(
        &self,
        open: &Cell<Batch>,
        place_at: &Cell<usize>,
        first_try: usize,
    ) -> Result<(), usize> {
        let batch = open.replace(Batch::EMPTY);
        if batch.is_empty() {
            return Ok(());
        }
        // SAFETY: the batch was detached above, so this thread owns the chain.
        match unsafe { self.try_place(batch) } {
            Ok(()) => {
                place_at.set(first_try);
                Ok(())
            }
            Err(eligible) => {
                #[cfg(kovan_mutant = "drop_unplaced_batch")]
                return Err(eligible);
                let merged = open.get().merge(batch);
                open.set(merged);
                place_at.set(merged.len + RETIRE_FREQ);
                Err(eligible)
            }
        }
    }

    /// Places `batch` in every eligible reservation, or returns the number of eligible
    /// reservations (batch untouched) when it has fewer than one node per eligible reservation
    /// plus the refs node.
    ///
    /// Bound: one pass over `scan_bound()` reservations, one pass over the
    /// batch, and at most one docked-tail traversal per inserted node.
    ///
    /// # Safety
    /// The caller owns the unfinalised chain of `batch`.
    unsafe fn try_place(&self, batch: Batch) -> Result<(), usize> {
        // I2: pairs with the fence after every publication; our unlinks (sequenced before the
        // retire) are ordered before the scan below.
        fence(Ordering::SeqCst);
        let registry = self.domain().state().registry();
        let refs = batch.tail;
        let mut cursor = batch.front;
        let mut eligible_count = 0;
        let bound = registry.scan_bound();
        for tid in 0..bound {
            let Some(slots) = registry.slots(tid) else {
                continue;
            };
            if !eligible(slots.reservation(), batch.min_birth) {
                continue;
            }
            eligible_count += 1;
            if cursor == refs {
                // Too few nodes: count the rest of the eligible reservations for the caller.
                for tid in tid + 1..bound {
                    if registry
                        .slots(tid)
                        .is_some_and(|slots| eligible(slots.reservation(), batch.min_birth))
                    {
                        eligible_count += 1;
                    }
                }
                return Err(eligible_count);
            }
            // SAFETY: `cursor` is a non-refs member of the owned chain.
            let node = unsafe { &*cursor };
            // Relaxed: read back only by this thread below.
            node.next().store(encode_assignee(tid), Ordering::Relaxed);
            cursor = node.chain_next();
        }
        let assigned_end = cursor;
        // Finalise: every member names the refs node and keeps its successor over its birth
        // era (the batch's minimum is taken), the refs node names the front and holds the count.
        // SAFETY: members of the owned chain.
        unsafe {
            let mut node = batch.front;
            while node != refs {
                let next = (*node).chain_next();
                // Relaxed: published by the Release insertion of the node.
                (*node).batch_link().store(refs, Ordering::Relaxed);
                (*node).set_member_next(next);
                node = next;
            }
            (*refs)
                .batch_link()
                .store(mark(batch.front), Ordering::Relaxed);
            (*refs).refs().store(REFS_BIAS, Ordering::Relaxed);
            // Only a deferred batch holds records, the nodes born at era 0.
            let kind = if batch.min_birth == DEFERRED_BIRTH_ERA {
                DEFERRED_BATCH_ADDR
            } else {
                0
            };
            // Relaxed: read by the thread that frees the batch, after the final decrement.
            (*refs)
                .next()
                .store(ptr::without_provenance_mut(kind), Ordering::Relaxed);
        }
        point(Step::PlaceScanned);
        let mut inserted = 0u64;
        let mut node = batch.front;
        while node != assigned_end {
            // SAFETY: the bias keeps the batch alive until the final count below.
            let header = unsafe { &*node };
            let next_member = header.member_next();
            let tid = decode_assignee(header.next().load(Ordering::Relaxed));
            // Relaxed: published by the Release swap below.
            header.next().store(ptr::null_mut(), Ordering::Relaxed);
            let reservation = registry
                .slots(tid)
                .expect("assigned slots have pages")
                .reservation();
            if self.insert(reservation, node) {
                inserted += 1;
            }
            node = next_member;
        }
        // AcqRel: Release publishes our use of the batch; Acquire, when we reach zero, makes
        // every traverser's decrement happen-before the free.
        // SAFETY: the refs node lives until its count reaches zero, which only this add or a
        // later decrement can observe.
        let previous = unsafe { &*refs }
            .refs()
            .fetch_add(inserted.wrapping_sub(REFS_BIAS), Ordering::AcqRel);
        if previous.wrapping_add(inserted).wrapping_sub(REFS_BIAS) == 0 {
            self.push_free(refs);
        }
        Ok(())
    }

    /// Inserts `node` at the head of `reservation`'s list; returns whether it stayed there
    /// (and so holds a reference on its batch).
    fn insert(&self, reservation: &Reservation, node: *mut NodeHeader) -> bool {
        // AcqRel: Release publishes the node's header words to the list owner's Acquire swap;
        // Acquire lets us read the previous list's nodes if we must traverse them.
        let head = ListHead::Nodes(as_list_node(node));
        match reservation.swap_list_head(head, Ordering::AcqRel) {
            ListHead::Empty => true,
            // The owner deactivated after our scan. Undo; if the head moved on, somebody already
            // holds the node, so it counts as inserted.
            ListHead::Inactive => reservation
                .compare_exchange_list_head(head, ListHead::Inactive, Ordering::AcqRel)
                .is_err(),
            ListHead::Nodes(previous) => {
                point(Step::PlaceInserted);
                // SAFETY: our node is alive: the batch bias is still held.
                let linked = unsafe { &*node }.next().compare_exchange(
                    ptr::null_mut(),
                    from_list_node(previous),
                    // AcqRel: Release hands `previous` to the owner's traversal (its AcqRel swap).
                    Ordering::AcqRel,
                    // Acquire: pairs with the owner's tainting swap.
                    Ordering::Acquire,
                );
                if linked.is_err() {
                    // The owner already tainted our node's link: the docked tail is ours.
                    self.traverse(ListHead::Nodes(previous));
                }
                true
            }
        }
    }
}

/// Whether a batch whose oldest node was born at `min_birth` must give `reservation` a node.
#[inline]
fn eligible(reservation: &Reservation, min_birth: u64) -> bool {
    // Acquire (both): ordered after the fence that starts the scan; pairs with the owner's
    // publication fence per I2.
    reservation.list_head(Ordering::Acquire) != ListHead::Inactive
        && reservation.reserved_era(Ordering::Acquire) >= min_birth
}

/// The batch length at which a placement is first tried: `RETIRE_FREQ`, or the number of ids a
/// scan visits if larger, so that the scan costs O(1) per retirement however many threads ever
/// registered (docs/protocol.md §5 counts the larger batches).
pub(super) fn first_try_len(domain: &Domain) -> usize {
    #[cfg(kovan_mutant = "batch_ignores_scan_bound")]
    return RETIRE_FREQ;
    #[cfg(not(kovan_mutant = "batch_ignores_scan_bound"))]
    RETIRE_FREQ.max(domain.state().registry().scan_bound())
}
