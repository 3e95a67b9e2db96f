//! Per-thread reservation slots and the pages that hold them.

use alloc::boxed::Box;
use core::ptr;

use crate::sync::{AtomicPtr, AtomicU64, Ordering};
use crate::word_pair::WordPair;

/// An object linked into a reservation list or a parked chain. Only the protocol crate knows
/// its layout; this crate stores and compares the pointers and never dereferences them.
#[repr(C)]
pub struct ListNode {
    _opaque: [u8; 0],
}

/// The `lo` word of an inactive reservation's list: an address that is never a node.
const INACTIVE_WORD: usize = usize::MAX;

/// Threads that can be registered with one domain at the same time.
#[cfg(not(kovan_loom))]
pub const MAX_THREADS: usize = 65_536;
/// Threads that can be registered with one domain at the same time (small under loom).
#[cfg(kovan_loom)]
pub const MAX_THREADS: usize = 8;

/// Thread slots per lazily allocated page.
#[cfg(not(kovan_loom))]
pub const SLOTS_PER_PAGE: usize = 64;
/// Thread slots per lazily allocated page (small under loom).
#[cfg(kovan_loom)]
pub const SLOTS_PER_PAGE: usize = 2;

/// Pages a registry can hold.
pub const MAX_PAGES: usize = MAX_THREADS / SLOTS_PER_PAGE;

static_assertions::const_assert_eq!(MAX_PAGES * SLOTS_PER_PAGE, MAX_THREADS);

/// The head of a reservation's retirement list, decoded from its pair's `lo` word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListHead {
    /// The reservation is not in use: retiring threads skip it.
    Inactive,
    /// In use, nothing inserted since the owner last captured the list.
    Empty,
    /// In use; the head of the inserted nodes.
    Nodes(*mut ListNode),
}

impl ListHead {
    /// The `lo` word that stores this head.
    #[inline]
    pub fn encode(self) -> u64 {
        match self {
            ListHead::Inactive => INACTIVE_WORD as u64,
            ListHead::Empty => 0,
            // Slot words are integers (they share a 16-byte CAS with a tag); exposing the
            // provenance here lets `decode` rebuild a usable pointer.
            ListHead::Nodes(node) => node.expose_provenance() as u64,
        }
    }

    /// The head stored in a `lo` word written by [`encode`](Self::encode).
    #[inline]
    pub fn decode(word: u64) -> Self {
        match word as usize {
            INACTIVE_WORD => ListHead::Inactive,
            0 => ListHead::Empty,
            addr => ListHead::Nodes(ptr::with_exposed_provenance_mut(addr)),
        }
    }
}

/// One reservation: a retirement list `(head, tag)` and an era `(era, tag)`, each a 16-byte pair.
///
/// Era 0 is never the domain's era (the clock starts at 1), so it means "nothing reserved".
#[derive(Debug)]
pub struct Reservation {
    list: WordPair,
    era: WordPair,
}

impl Reservation {
    fn new() -> Self {
        Self {
            list: WordPair::new(ListHead::Inactive.encode(), 0),
            era: WordPair::new(0, 0),
        }
    }

    /// The `(head, tag)` pair, for the protocol's double-width updates.
    #[inline]
    pub fn list(&self) -> &WordPair {
        &self.list
    }

    /// The `(era, tag)` pair, for the protocol's double-width updates.
    #[inline]
    pub fn era_pair(&self) -> &WordPair {
        &self.era
    }

    /// Loads the list head.
    #[inline]
    pub fn list_head(&self, order: Ordering) -> ListHead {
        ListHead::decode(self.list.load_lo(order))
    }

    /// Swaps the list head, keeping the tag; returns the previous head.
    #[inline]
    pub fn swap_list_head(&self, head: ListHead, order: Ordering) -> ListHead {
        ListHead::decode(self.list.exchange_lo(head.encode(), order))
    }

    /// Replaces the list head with `new` if it is `current`, keeping the tag.
    #[inline]
    pub fn compare_exchange_list_head(
        &self,
        current: ListHead,
        new: ListHead,
        order: Ordering,
    ) -> Result<ListHead, ListHead> {
        self.list
            .compare_exchange_lo(current.encode(), new.encode(), order)
            .map(ListHead::decode)
            .map_err(ListHead::decode)
    }

    /// Loads the reserved era.
    #[inline]
    pub fn reserved_era(&self, order: Ordering) -> u64 {
        self.era.load_lo(order)
    }

    /// Publishes a reserved era, keeping the tag.
    #[inline]
    pub fn store_reserved_era(&self, era: u64, order: Ordering) {
        self.era.store_lo(era, order);
    }
}

/// Everything a domain keeps for one registered thread: its reservation and its parked cell,
/// then its counters and owner cell on a second line (128 bytes: adjacent-line prefetch pairs
/// 64-byte lines). Other threads' placement scans read the first line; the counters, written by
/// the owner on every retire, stay off it.
#[derive(Debug)]
#[repr(align(128))]
pub struct ThreadSlots {
    reservation: Reservation,
    parked: AtomicPtr<ListNode>,
    owner: OwnerLine,
}

/// The owner-written line of a thread's slots.
#[derive(Debug)]
#[repr(align(64))]
struct OwnerLine {
    retired: AtomicU64,
    freed: AtomicU64,
    cached_handle: AtomicPtr<()>,
}

#[cfg(all(not(any(kovan_loom, feature = "shuttle")), target_pointer_width = "64"))]
static_assertions::const_assert_eq!(core::mem::size_of::<ThreadSlots>(), 128);

impl ThreadSlots {
    fn new() -> Self {
        Self {
            reservation: Reservation::new(),
            parked: AtomicPtr::new(ptr::null_mut()),
            owner: OwnerLine {
                retired: AtomicU64::new(0),
                freed: AtomicU64::new(0),
                cached_handle: AtomicPtr::new(ptr::null_mut()),
            },
        }
    }

    /// The thread's reservation.
    #[inline]
    pub fn reservation(&self) -> &Reservation {
        &self.reservation
    }

    /// A batch parked by an exiting owner of this id, waiting for adoption (null when none).
    #[inline]
    pub fn parked(&self) -> &AtomicPtr<ListNode> {
        &self.parked
    }

    /// Nodes retired through this id, by every thread that held it. Written only by the id's
    /// current holder; other threads read it for statistics.
    #[inline]
    pub fn retired(&self) -> &AtomicU64 {
        &self.owner.retired
    }

    /// Nodes freed by the holders of this id (whoever retired them). Written only by the id's
    /// current holder; other threads read it for statistics.
    #[inline]
    pub fn freed(&self) -> &AtomicU64 {
        &self.owner.freed
    }

    /// The state of a handle that a thread-local cache registered on this id and that the
    /// domain releases if it is dropped first (null when none). Opaque to this crate.
    #[inline]
    pub fn cached_handle(&self) -> &AtomicPtr<()> {
        &self.owner.cached_handle
    }
}

/// A page of [`SLOTS_PER_PAGE`] thread slots, allocated the first time one of its ids is claimed.
#[derive(Debug)]
pub struct SlotPage {
    slots: [ThreadSlots; SLOTS_PER_PAGE],
}

impl SlotPage {
    /// A page initialised in place on the heap: built on the stack first, it would need the
    /// whole page there (8 KiB here, far more with shuttle's larger atomics, whose threads have
    /// small stacks).
    #[cfg(not(kovan_mutant = "page_built_on_stack"))]
    pub(crate) fn new_boxed() -> Box<Self> {
        let mut page = Box::<Self>::new_uninit();
        // SAFETY: a field projection of the allocation made above; no reference to uninitialised
        // memory is created.
        let first = unsafe { &raw mut (*page.as_mut_ptr()).slots }.cast::<ThreadSlots>();
        for offset in 0..SLOTS_PER_PAGE {
            // SAFETY: `offset` is within the array, and each element is written once.
            unsafe { first.add(offset).write(ThreadSlots::new()) };
        }
        // SAFETY: every slot, the page's only field, was initialised above.
        unsafe { page.assume_init() }
    }

    /// Mutant: the page built on the stack and moved to the heap.
    #[cfg(kovan_mutant = "page_built_on_stack")]
    pub(crate) fn new_boxed() -> Box<Self> {
        Box::new(Self {
            slots: core::array::from_fn(|_| ThreadSlots::new()),
        })
    }

    /// The slots of the `offset`-th thread of this page.
    #[inline]
    pub fn slots(&self, offset: usize) -> &ThreadSlots {
        &self.slots[offset]
    }
}

#[cfg(all(test, not(kovan_loom)))]
mod tests {
    use super::*;
    use crate::sync::Ordering::SeqCst;

    #[test]
    fn list_heads_round_trip() {
        let mut node = 0u64;
        let ptr: *mut ListNode = (&raw mut node).cast();
        for head in [ListHead::Inactive, ListHead::Empty, ListHead::Nodes(ptr)] {
            assert_eq!(ListHead::decode(head.encode()), head);
        }
    }

    #[test]
    fn fresh_reservation_is_inactive_with_no_era() {
        let slots = ThreadSlots::new();
        assert_eq!(slots.reservation().list_head(SeqCst), ListHead::Inactive);
        assert_eq!(slots.reservation().reserved_era(SeqCst), 0);
        assert!(slots.parked().load(SeqCst).is_null());
    }

    #[test]
    fn list_head_operations_keep_the_tag() {
        let reservation = Reservation::new();
        reservation.list().store_hi(6, SeqCst);
        assert_eq!(
            reservation.swap_list_head(ListHead::Empty, SeqCst),
            ListHead::Inactive
        );
        assert_eq!(
            reservation.compare_exchange_list_head(ListHead::Empty, ListHead::Inactive, SeqCst),
            Ok(ListHead::Empty)
        );
        reservation.store_reserved_era(9, SeqCst);
        assert_eq!(reservation.list().load(SeqCst), (INACTIVE_WORD as u64, 6));
        assert_eq!(reservation.era_pair().load(SeqCst), (9, 0));
    }

    #[test]
    fn slots_are_cache_line_aligned() {
        assert_eq!(core::mem::align_of::<ThreadSlots>(), 128);
    }
}
