//! The header every retirable object starts with, and the bit encodings stored in it.

use core::ptr;

use kovan_core::sync::{AtomicPtr, AtomicU64, Ordering, UnsafeCell};
use kovan_core::{ListNode, MAX_THREADS};

use crate::reclaim::Destructor;

/// An address that is never a node: "already traversed" as a `next` link.
pub(crate) const INVALID_ADDR: usize = usize::MAX;

/// The `next` word of a placed deferred batch's refs node (never inserted in a list, so the
/// word is free until the batch is freed): its destructors run as soon as it is freed.
pub(crate) const DEFERRED_BATCH_ADDR: usize = usize::MAX - 1;

/// Added to a batch's reference count while its insertions are in flight, so that concurrent
/// traversals cannot drive the count to zero before every insertion has been counted.
pub(crate) const REFS_BIAS: u64 = 1 << (u64::BITS - 1);

/// The header that starts every object handed to the reclamation protocol.
///
/// A retirable type puts it first in a `#[repr(C)]` struct. Four words on 64-bit targets; each
/// has several uses over the object's life, defined by this crate's protocol (docs/protocol.md
/// §1, "The node header"). Safe code outside the crate can create a header and read its birth
/// era, nothing else, so it cannot rewrite a word the protocol relies on:
///
/// ```compile_fail,E0624
/// // The link word that slot lists and batches run through is private to the protocol.
/// let header = kovan_reclaim::NodeHeader::new(1);
/// let _ = header.next();
/// ```
///
/// ```compile_fail,E0624
/// // So is the batch reference count.
/// let header = kovan_reclaim::NodeHeader::new(1);
/// header.refs().store(0, core::sync::atomic::Ordering::Relaxed);
/// ```
///
/// ```compile_fail,E0616
/// // The birth era can be read, never written.
/// let header = kovan_reclaim::NodeHeader::new(1);
/// header.era_or_link.store(0, core::sync::atomic::Ordering::Relaxed);
/// ```
#[repr(C, align(8))]
pub struct NodeHeader {
    /// Slot-list link; during a batch scan, the id of the thread it is assigned to;
    /// [`INVALID_ADDR`] once traversed; on a placed refs node, null or [`DEFERRED_BATCH_ADDR`],
    /// and the free-list link once its count hit zero.
    next: AtomicPtr<NodeHeader>,
    /// Until the batch is placed, the next member of the unplaced chain; then, on ordinary
    /// members, the batch's refs node, and on the refs node itself its front [`mark`]ed.
    batch_link: AtomicPtr<NodeHeader>,
    /// Until the batch is placed, the birth era (the batch has taken its minimum by then); then,
    /// on ordinary members, the next member's address, and on the refs node the reference count.
    era_or_link: AtomicU64,
    /// Installed at retire by the retiring thread, read by the freeing thread.
    destructor: UnsafeCell<Option<Destructor>>,
}

// SAFETY: every field but `destructor` is atomic. `destructor` is written only by the retiring
// thread before the node is published to any slot list, and read only by the thread that
// observed the batch count reach zero, which happens-after every insertion (AcqRel counting).
unsafe impl Sync for NodeHeader {}
// SAFETY: the header holds no thread-affine state; see the `Sync` argument for `destructor`.
unsafe impl Send for NodeHeader {}

// Four words on 64-bit targets (three 8-byte words and a 4-byte pointer pair on 32-bit ones):
// docs/protocol.md §1 argues why a per-node destructor keeps it from Crystalline's three.
#[cfg(all(not(any(kovan_loom, feature = "shuttle")), target_pointer_width = "64"))]
static_assertions::assert_eq_size!(NodeHeader, [u64; 4]);
#[cfg(all(not(any(kovan_loom, feature = "shuttle")), target_pointer_width = "32"))]
static_assertions::assert_eq_size!(NodeHeader, [u64; 3]);
#[cfg(not(kovan_loom))]
static_assertions::const_assert_eq!(core::mem::align_of::<NodeHeader>(), 8);

impl NodeHeader {
    /// A header for an object allocated while the domain's era was `birth_era`.
    ///
    /// ```
    /// let header = kovan_reclaim::NodeHeader::new(3);
    /// assert_eq!(header.birth_era(), 3);
    /// ```
    pub fn new(birth_era: u64) -> Self {
        Self {
            next: AtomicPtr::new(ptr::null_mut()),
            batch_link: AtomicPtr::new(ptr::null_mut()),
            era_or_link: AtomicU64::new(birth_era),
            destructor: UnsafeCell::new(None),
        }
    }

    /// The era stamped at allocation.
    ///
    /// Valid until the object is retired: the protocol reuses the word once the object's batch
    /// is placed, and a reader that still holds the object then reads an unrelated value (an
    /// address or a count).
    #[inline]
    pub fn birth_era(&self) -> u64 {
        // Relaxed: written once, before the object could be shared.
        self.era_or_link.load(Ordering::Relaxed)
    }

    /// Overwrites the birth era of a node in an unplaced chain (a requeued batch's members).
    #[inline]
    pub(crate) fn set_birth_era(&self, era: u64) {
        // Relaxed: the chain is owned by this thread until a Release publication.
        self.era_or_link.store(era, Ordering::Relaxed);
    }

    /// The slot-list / scan / free-list link word.
    #[cfg(not(kovan_mutant = "header_words_public"))]
    #[inline]
    pub(crate) fn next(&self) -> &AtomicPtr<NodeHeader> {
        &self.next
    }

    /// Mutant: the link word reachable from safe code outside the crate.
    #[cfg(kovan_mutant = "header_words_public")]
    #[inline]
    pub fn next(&self) -> &AtomicPtr<NodeHeader> {
        &self.next
    }

    /// The batch link word of a placed batch (refs node, or the refs node's marked front).
    #[inline]
    pub(crate) fn batch_link(&self) -> &AtomicPtr<NodeHeader> {
        &self.batch_link
    }

    /// The reference count of a placed batch's refs node.
    #[inline]
    pub(crate) fn refs(&self) -> &AtomicU64 {
        &self.era_or_link
    }

    /// The next member of an unplaced chain (open, parked or requeued).
    #[inline]
    pub(crate) fn chain_next(&self) -> *mut NodeHeader {
        // Relaxed: an unplaced chain is read only by the thread that owns it, after the
        // Acquire that handed it over (adoption) if any.
        self.batch_link.load(Ordering::Relaxed)
    }

    /// Links the next member of an unplaced chain (Relaxed: only the chain's owner reads it
    /// before the chain is published, and publication is a release operation).
    #[inline]
    pub(crate) fn set_chain_next(&self, next: *mut NodeHeader) {
        self.batch_link.store(next, Ordering::Relaxed);
    }

    /// The next member of a placed batch (not valid on the refs node, whose word is its count).
    #[inline]
    pub(crate) fn member_next(&self) -> *mut NodeHeader {
        // The count/link union forces an integer here; exposed provenance keeps the pointer
        // valid. Relaxed: written by the placing thread before the Release insertions that the
        // freeing thread's final Acquire decrement synchronises with.
        ptr::with_exposed_provenance_mut(self.era_or_link.load(Ordering::Relaxed) as usize)
    }

    /// Links the next member of a batch being placed, over the birth era (Relaxed: published
    /// by the Release insertions that follow).
    #[inline]
    pub(crate) fn set_member_next(&self, next: *mut NodeHeader) {
        self.era_or_link
            .store(next.expose_provenance() as u64, Ordering::Relaxed);
    }

    /// Installs the destructor.
    ///
    /// # Safety
    /// The caller is the only thread that can reach the node (it has not been published to any
    /// slot list yet).
    #[inline]
    pub(crate) unsafe fn set_destructor(&self, destructor: Destructor) {
        self.destructor.with_mut(|slot| {
            // SAFETY: exclusive access per the caller's contract.
            unsafe { *slot = Some(destructor) }
        });
    }

    /// The installed destructor.
    ///
    /// # Safety
    /// The caller happens-after [`set_destructor`](Self::set_destructor) and no thread writes it
    /// concurrently.
    #[inline]
    pub(crate) unsafe fn destructor(&self) -> Option<Destructor> {
        self.destructor.with(|slot| {
            // SAFETY: no concurrent writer per the caller's contract.
            unsafe { *slot }
        })
    }
}

impl core::fmt::Debug for NodeHeader {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NodeHeader")
            .field("birth_era", &self.birth_era())
            .finish_non_exhaustive()
    }
}

/// The header as the slot lists of kovan-core store it.
#[inline]
pub(crate) fn as_list_node(node: *mut NodeHeader) -> *mut ListNode {
    node.cast()
}

/// A pointer stored by kovan-core's slot lists, back as the header it was stored as.
#[inline]
pub(crate) fn from_list_node(node: *mut ListNode) -> *mut NodeHeader {
    node.cast()
}

/// Sets the low bit: a refs node's self-mark, or a terminal reference in a slot list.
#[inline]
pub(crate) fn mark(node: *mut NodeHeader) -> *mut NodeHeader {
    node.map_addr(|addr| addr | 1)
}

/// Clears the low bit set by [`mark`].
#[inline]
pub(crate) fn unmark(node: *mut NodeHeader) -> *mut NodeHeader {
    node.map_addr(|addr| addr & !1)
}

/// Whether the low bit set by [`mark`] is present.
#[inline]
pub(crate) fn is_marked(node: *const NodeHeader) -> bool {
    node.addr() & 1 == 1
}

// A thread id stored in a `next` word during a scan never equals INVALID_ADDR.
static_assertions::const_assert!(MAX_THREADS < INVALID_ADDR);

/// Stores the id of the thread whose reservation a node is assigned to, in the node's `next`
/// word for the duration of a batch scan.
#[inline]
pub(crate) fn encode_assignee(tid: usize) -> *mut NodeHeader {
    debug_assert!(tid < MAX_THREADS);
    ptr::without_provenance_mut(tid)
}

/// The thread id written by [`encode_assignee`].
#[inline]
pub(crate) fn decode_assignee(word: *mut NodeHeader) -> usize {
    word.addr()
}

#[cfg(all(test, not(kovan_loom)))]
mod tests {
    use super::*;
    use alloc::boxed::Box;

    #[test]
    fn assignees_round_trip() {
        for tid in [0, 1, 127, 128, MAX_THREADS - 1] {
            let word = encode_assignee(tid);
            assert_ne!(word.addr(), INVALID_ADDR);
            assert_eq!(decode_assignee(word), tid);
        }
    }

    #[test]
    fn marks_round_trip_and_keep_the_pointer_usable() {
        let node = Box::into_raw(Box::new(NodeHeader::new(7)));
        assert!(!is_marked(node));
        let marked = mark(node);
        assert!(is_marked(marked));
        assert_ne!(marked, node);
        let back = unmark(marked);
        assert_eq!(back, node);
        // SAFETY: `back` is `node` with its provenance kept by map_addr.
        assert_eq!(unsafe { &*back }.birth_era(), 7);
        // SAFETY: allocated above with Box, freed once.
        drop(unsafe { Box::from_raw(node) });
    }

    #[test]
    fn bias_is_the_top_bit() {
        assert_eq!(REFS_BIAS.count_ones(), 1);
        assert_eq!(REFS_BIAS.leading_zeros(), 0);
        const { assert!(REFS_BIAS > MAX_THREADS as u64) };
    }

    #[test]
    fn member_next_keeps_provenance() {
        let a = Box::into_raw(Box::new(NodeHeader::new(1)));
        let b = Box::into_raw(Box::new(NodeHeader::new(2)));
        // SAFETY: both are live allocations made above.
        unsafe {
            (*a).set_member_next(b);
            assert_eq!((*(*a).member_next()).birth_era(), 2);
            drop(Box::from_raw(a));
            drop(Box::from_raw(b));
        }
    }

    #[test]
    fn destructor_slot_round_trips() {
        unsafe fn noop(_: *mut NodeHeader) {}
        let header = NodeHeader::new(0);
        // SAFETY: single-threaded test; the header is not shared.
        unsafe {
            assert!(header.destructor().is_none());
            header.set_destructor(noop);
            assert!(header.destructor().is_some());
        }
    }
}
