//! One thread's side of the protocol: its reservation, open batch and free list.
//!
//! Every loop carries its bound in a comment; `docs/protocol.md` collects them with the safety
//! argument. Orderings that are not SeqCst say which operation they pair with.

use core::cell::Cell;
use core::mem;
use core::ptr;

use kovan_core::sync::{AtomicPtr, Ordering, fence};
use kovan_core::{ListHead, Reservation, ThreadSlots};

use crate::config::{EPOCH_FREQ, ESCALATED_ERA, PROTECT_ROUNDS, RETIRE_FREQ};
use crate::domain::Domain;
use crate::header::{
    Destructor, INVALID_ADDR, NodeHeader, REFS_BIAS, SlotRef, as_list_node, decode_slot_ref,
    encode_slot_ref, from_list_node, is_marked, mark, unmark,
};
use crate::stall::{Step, point};

/// The guard-wide reservation, the only one this protocol activates: the helper indices 1 and
/// 2 of `ThreadSlots` stay inactive (docs/protocol.md §8), so scans and sweeps skip them.
const GUARD_SLOT: usize = 0;

fn invalid_node() -> *mut NodeHeader {
    ptr::without_provenance_mut(INVALID_ADDR)
}

/// A thread's open batch: an unfinalised chain linked through `batch_next`, newest first.
/// The oldest node (`tail`) becomes the batch's refs node when the batch is placed.
#[derive(Clone, Copy)]
struct Batch {
    front: *mut NodeHeader,
    tail: *mut NodeHeader,
    len: usize,
    min_birth: u64,
}

impl Batch {
    const EMPTY: Batch = Batch {
        front: ptr::null_mut(),
        tail: ptr::null_mut(),
        len: 0,
        min_birth: u64::MAX,
    };

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `other` (older nodes) behind this batch.
    fn merge(self, other: Batch) -> Batch {
        if self.is_empty() {
            return other;
        }
        if other.is_empty() {
            return self;
        }
        // SAFETY: both chains are unpublished and owned by the merging thread.
        unsafe { (*self.tail).set_batch_next(other.front) };
        Batch {
            front: self.front,
            tail: other.tail,
            len: self.len + other.len,
            min_birth: self.min_birth.min(other.min_birth),
        }
    }

    /// Rebuilds the summary of a parked chain. Bound: the chain's length.
    ///
    /// # Safety
    /// `front` heads an unpublished chain that the caller owns.
    unsafe fn from_chain(front: *mut NodeHeader) -> Batch {
        let mut batch = Batch::EMPTY;
        let mut node = front;
        while !node.is_null() {
            // SAFETY: every member of an owned chain is a live, unpublished node.
            let header = unsafe { &*node };
            batch.len += 1;
            batch.min_birth = batch.min_birth.min(header.birth_era());
            batch.tail = node;
            node = header.batch_next();
        }
        batch.front = front;
        batch
    }
}

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
    domain: *const Domain,
    tid: usize,
    slots: *const ThreadSlots,
    pin_count: Cell<usize>,
    /// Mirror of the era published in the guard slot; 0 (never an era) forces the next pin to
    /// republish, which is how every deactivation invalidates the fast path.
    cached_era: Cell<u64>,
    batch: Cell<Batch>,
    /// Batch length at which the next placement is tried.
    submit_at: Cell<usize>,
    retired: Cell<u64>,
    /// Refs nodes of batches whose count reached zero, linked through `next`.
    free_list: Cell<*mut NodeHeader>,
    in_reclaim: Cell<bool>,
    life: Cell<Life>,
}

impl Local {
    /// State for `tid`, freshly claimed from `domain`, adopting the batch an earlier owner of the
    /// id parked.
    ///
    /// # Safety
    /// `domain` outlives the returned value and `tid` is claimed for it.
    pub(crate) unsafe fn new(domain: &Domain, tid: usize) -> Local {
        let slots = domain
            .state()
            .registry()
            .slots(tid)
            .expect("claimed ids have pages");
        let local = Local {
            domain,
            tid,
            slots,
            pin_count: Cell::new(0),
            cached_era: Cell::new(0),
            batch: Cell::new(Batch::EMPTY),
            submit_at: Cell::new(RETIRE_FREQ),
            retired: Cell::new(0),
            free_list: Cell::new(ptr::null_mut()),
            in_reclaim: Cell::new(false),
            life: Cell::new(Life::Owned),
        };
        local.adopt_from(slots);
        local
    }

    #[inline]
    pub(crate) fn domain(&self) -> &Domain {
        // SAFETY: the domain outlives every `Local` registered with it (constructor contract).
        unsafe { &*self.domain }
    }

    #[inline]
    fn slots(&self) -> &ThreadSlots {
        // SAFETY: slot pages live as long as the domain.
        unsafe { &*self.slots }
    }

    #[inline]
    fn guard_slot(&self) -> &Reservation {
        self.slots().reservation(GUARD_SLOT)
    }

    pub(crate) fn is_pinned(&self) -> bool {
        self.pin_count.get() > 0
    }

    // ----- pin / unpin ------------------------------------------------------------------------

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
        mem::forget(unpin);
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

    /// Captures and releases the guard slot's list, then publishes the current era.
    /// Called only when no pointer of an earlier guard is still in use on this thread.
    /// Bound: the captured list's length, plus the destructors of what it frees.
    fn update_reservation(&self) {
        let slot = self.guard_slot();
        // AcqRel: Acquire pairs with inserters' Release swaps (their node fields are visible);
        // Release orders our earlier reads of protected nodes before the release of their refs.
        let captured = slot.swap_list_head(ListHead::Empty, Ordering::AcqRel);
        self.traverse(captured);
        let era = self.domain().state().era().load(Ordering::Relaxed);
        self.publish(era);
        self.reclaim();
    }

    /// Publishes `era` in the guard slot and makes it visible before any later pointer load.
    #[inline]
    fn publish(&self, era: u64) {
        self.guard_slot().store_reserved_era(era, Ordering::SeqCst);
        // I2: pairs with the fence in `try_retire` before its slot scan. A SeqCst store followed
        // by a load of another location is reorderable (store buffering) without it.
        #[cfg(not(kovan_mutant = "no_publish_fence"))]
        fence(Ordering::SeqCst);
        self.cached_era.set(era);
    }

    // ----- protected load ---------------------------------------------------------------------

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
        if birth_era > self.cached_era.get() {
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
        let era_clock = self.domain().state().era();
        for _ in 0..PROTECT_ROUNDS {
            // Relaxed: the value is only published; the fence in `publish` orders what follows.
            let era = era_clock.load(Ordering::Relaxed);
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

    // ----- retire -----------------------------------------------------------------------------

    /// Adds `node` to the open batch; may advance the era and place the batch.
    ///
    /// # Safety
    /// `node` heads a live object that no thread can newly reach, retired once, whose
    /// `destructor` frees it correctly on any thread.
    pub(crate) unsafe fn retire(&self, node: *mut NodeHeader, destructor: Destructor) {
        // SAFETY: the node is unreachable for new readers and not yet in any batch, so this
        // thread has exclusive access to its header words.
        let header = unsafe { &*node };
        // SAFETY: as above: nobody else can read the destructor word yet.
        unsafe { header.set_destructor(destructor) };
        let birth = header.birth_era();
        let batch = self.batch.get();
        header.set_batch_next(batch.front);
        self.batch.set(Batch {
            front: node,
            tail: if batch.is_empty() { node } else { batch.tail },
            len: batch.len + 1,
            min_birth: batch.min_birth.min(birth),
        });
        let retired = self.retired.get() + 1;
        self.retired.set(retired);
        if retired % EPOCH_FREQ == 0 {
            self.advance_era();
        }
        if self.batch.get().len >= self.submit_at.get() {
            self.submit();
            self.reclaim();
        }
    }

    /// Adopts parked batches, if any, and advances the era. No thread ever waits for a stable
    /// era here (pins publish once and protected loads escalate), so there is no slow-path
    /// request to help first.
    fn advance_era(&self) {
        // Relaxed: a hint; the adoption below synchronises through the parked cells themselves.
        if self.domain().state().parked_count().load(Ordering::Relaxed) != 0 {
            self.adopt_parked();
        }
        self.tick_era();
    }

    fn tick_era(&self) {
        // SeqCst: the era clock is part of the Dekker pairs of I2.
        self.domain().state().era().fetch_add(1, Ordering::SeqCst);
    }

    /// Tries to place the open batch; on failure it stays open and grows.
    fn submit(&self) {
        let batch = self.batch.replace(Batch::EMPTY);
        if batch.is_empty() {
            return;
        }
        // SAFETY: the batch was detached above, so this thread owns the chain.
        if unsafe { self.try_retire(batch) } {
            self.submit_at.set(RETIRE_FREQ);
        } else {
            #[cfg(kovan_mutant = "drop_unplaced_batch")]
            return;
            let merged = self.batch.get().merge(batch);
            self.batch.set(merged);
            self.submit_at.set(merged.len + RETIRE_FREQ);
        }
    }

    /// Places `batch` in every eligible reservation, or returns `false` (batch untouched) when
    /// it has fewer than one node per eligible reservation plus the refs node.
    ///
    /// Bound: one pass over `scan_bound()` guard reservations, one pass over the
    /// batch, and at most one docked-tail traversal per inserted node.
    ///
    /// # Safety
    /// The caller owns the unfinalised chain of `batch`.
    unsafe fn try_retire(&self, batch: Batch) -> bool {
        // I2: pairs with the fence after every publication; our unlinks (sequenced before the
        // retire) are ordered before the scan below.
        fence(Ordering::SeqCst);
        let registry = self.domain().state().registry();
        let refs = batch.tail;
        let mut cursor = batch.front;
        for tid in 0..registry.scan_bound() {
            let Some(slots) = registry.slots(tid) else {
                continue;
            };
            if !eligible(slots.reservation(GUARD_SLOT), batch.min_birth) {
                continue;
            }
            if cursor == refs {
                return false;
            }
            // SAFETY: `cursor` is a non-refs member of the owned chain.
            let node = unsafe { &*cursor };
            let slot = SlotRef {
                tid,
                index: GUARD_SLOT,
            };
            // Relaxed: read back only by this thread below.
            node.next().store(encode_slot_ref(slot), Ordering::Relaxed);
            cursor = node.batch_next();
        }
        let assigned_end = cursor;
        // Finalise: every member names the refs node, the refs node names the front.
        // SAFETY: members of the owned chain; the refs node's link word becomes its count.
        unsafe {
            let mut node = batch.front;
            while node != refs {
                let next = (*node).batch_next();
                // Relaxed: published by the Release insertion of the node.
                (*node).batch_link().store(refs, Ordering::Relaxed);
                node = next;
            }
            (*refs)
                .batch_link()
                .store(mark(batch.front), Ordering::Relaxed);
            (*refs).refs().store(REFS_BIAS, Ordering::Relaxed);
        }
        point(Step::RetireScanned);
        let mut inserted = 0usize;
        let mut node = batch.front;
        while node != assigned_end {
            // SAFETY: the bias keeps the batch alive until the final count below.
            let header = unsafe { &*node };
            let next_member = header.batch_next();
            let slot = decode_slot_ref(header.next().load(Ordering::Relaxed));
            // Relaxed: published by the Release swap below.
            header.next().store(ptr::null_mut(), Ordering::Relaxed);
            let reservation = registry
                .slots(slot.tid)
                .expect("assigned slots have pages")
                .reservation(slot.index);
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
        true
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
                point(Step::RetireInserted);
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

    /// Releases one reference per node of a captured list; batches reaching zero go to the free
    /// list. Bound: the list's length.
    fn traverse(&self, captured: ListHead) {
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

    fn push_free(&self, refs: *mut NodeHeader) {
        // SAFETY: the batch count reached zero: this thread now owns the whole batch.
        unsafe { &*refs }
            .next()
            .store(self.free_list.get(), Ordering::Relaxed);
        self.free_list.set(refs);
    }

    /// Runs the destructors of every freed batch. Re-entrant calls (from a destructor) return at
    /// once: the outermost call picks up what they queue. A panicking destructor propagates
    /// after the rest is reclaimed by [`Reclaimer`]'s drop. Bound: the freed nodes, plus what
    /// their destructors free.
    fn reclaim(&self) {
        if self.in_reclaim.get() || self.free_list.get().is_null() {
            return;
        }
        // Reached only from the outermost call, so clearing the flag afterwards restores it.
        self.in_reclaim.set(true);
        let mut reclaimer = Reclaimer {
            local: self,
            refs: ptr::null_mut(),
            next: ptr::null_mut(),
        };
        reclaimer.run();
    }

    // ----- flush, parking, exit ---------------------------------------------------------------

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

    /// Places the open batch and runs what became free; while those destructors retire more
    /// (the next link of a chain), places and frees that too. Only this thread's own
    /// retirements start another round: its reservation is not captured again, so batches
    /// that other threads place meanwhile cannot keep it going. Called from a destructor, it
    /// places once and leaves the freeing to the running `reclaim`. Bound: one placement per
    /// generation of garbage that the destructors retire.
    fn place_and_free(&self) {
        loop {
            self.submit();
            if self.free_list.get().is_null() || self.in_reclaim.get() {
                return;
            }
            let retired = self.retired.get();
            self.reclaim();
            #[cfg(not(kovan_mutant = "flush_single_pass"))]
            if self.retired.get() == retired {
                return;
            }
            #[cfg(kovan_mutant = "flush_single_pass")]
            return;
        }
    }

    /// Deactivates the guard slot and releases its list. Only when no guard is live.
    fn deactivate(&self) {
        // AcqRel: as in `update_reservation`.
        let captured = self
            .guard_slot()
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
            let reservation = slots.reservation(GUARD_SLOT);
            // Relaxed: a pre-check; the swap below acquires the list.
            if let ListHead::Nodes(_) = reservation.list_head(Ordering::Relaxed) {
                let captured = reservation.swap_list_head(ListHead::Inactive, Ordering::AcqRel);
                self.traverse(captured);
            }
            self.adopt_from(slots);
            registry.release(tid);
        }
    }

    /// Merges every parked batch into the open batch. Bound: `scan_bound()` cells.
    fn adopt_parked(&self) {
        let registry = self.domain().state().registry();
        for tid in 0..registry.scan_bound() {
            if let Some(slots) = registry.slots(tid) {
                self.adopt_from(slots);
            }
        }
    }

    fn adopt_from(&self, slots: &ThreadSlots) {
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
        let adopted = unsafe { Batch::from_chain(from_list_node(front)) };
        let merged = self.batch.get().merge(adopted);
        self.batch.set(merged);
    }

    /// Parks the open batch in this thread's own cell for another thread to adopt.
    fn park(&self) {
        let batch = self.batch.replace(Batch::EMPTY);
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
                .reservation(GUARD_SLOT)
                .swap_list_head(ListHead::Inactive, Ordering::AcqRel);
            self.traverse(captured);
            self.adopt_from(slots);
        }
        self.exit();
    }

    /// Thread exit: rounds of deactivate, place or park the open batch, run what became free
    /// (destructors may pin and retire on this state: the next round takes that), until a
    /// round frees nothing; then advance the era if this thread retired since its last
    /// advance, and return the id. A destructor that panics does not stop the exit: it
    /// completes while the panic unwinds. If a destructor left a guard alive, the exit is
    /// finished by that guard's drop instead. Bound: one round per generation of garbage that
    /// destructors create, each O(T) plus the batch.
    pub(crate) fn exit(&self) {
        self.life.set(Life::Exiting);
        #[cfg(not(kovan_mutant = "exit_stops_on_panic"))]
        let finish = FinishExitOnUnwind(self);
        self.exit_rounds();
        #[cfg(not(kovan_mutant = "exit_stops_on_panic"))]
        mem::forget(finish);
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
            self.submit();
            if !self.batch.get().is_empty() {
                self.park();
            }
            if self.free_list.get().is_null() {
                break;
            }
            self.reclaim();
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
        if !self.batch.get().is_empty() {
            self.park();
        }
    }

    /// Turns the batches on the free list back into unplaced chains in the open batch. A
    /// freed batch is unreachable for every reader, so placing it again only delays it.
    /// Bound: the nodes of those batches.
    fn requeue_freed(&self) {
        let mut refs = self.free_list.replace(ptr::null_mut());
        while !refs.is_null() {
            // SAFETY: the batch count reached zero: this thread owns the whole batch.
            let header = unsafe { &*refs };
            // Relaxed: free-list links are written and read by this thread only.
            let rest = header.next().load(Ordering::Relaxed);
            // Members run from the front to the refs node through `batch_next`; the refs
            // node's count word (zero) ends the chain as a null link.
            let front = unmark(header.batch_link().load(Ordering::Relaxed));
            header.set_batch_next(ptr::null_mut());
            // SAFETY: as above; the chain is owned and no longer placed anywhere.
            let chain = unsafe { Batch::from_chain(front) };
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
        if self.retired.get() % EPOCH_FREQ != 0 {
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
                let next = (*node).batch_next();
                if let Some(destructor) = (*node).destructor() {
                    destructor(node);
                }
                node = next;
            }
        }
    }

    pub(crate) fn tid(&self) -> usize {
        self.tid
    }
}

/// Walks the free list, one batch at a time; its `Drop` finishes the walk when a destructor
/// panics, so the rest is still reclaimed before the panic goes on.
struct Reclaimer<'a> {
    local: &'a Local,
    /// Refs node of the batch being freed (null between batches).
    refs: *mut NodeHeader,
    /// Next member of that batch to free.
    next: *mut NodeHeader,
}

impl Reclaimer<'_> {
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

impl Drop for Reclaimer<'_> {
    fn drop(&mut self) {
        // Reached with work left only while unwinding from a destructor.
        if !self.refs.is_null() || !self.local.free_list.get().is_null() {
            self.run();
        }
        self.local.in_reclaim.set(false);
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

#[inline]
fn at_least_acquire(order: Ordering) -> Ordering {
    match order {
        Ordering::SeqCst => Ordering::SeqCst,
        _ => Ordering::Acquire,
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

/// Completes a thread exit whose destructor unwound: the remaining rounds run (a second panic
/// aborts, as Rust does for a panic during unwinding) and the id is released.
struct FinishExitOnUnwind<'a>(&'a Local);

impl Drop for FinishExitOnUnwind<'_> {
    fn drop(&mut self) {
        self.0.exit_rounds();
        self.0.finish_exit();
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
