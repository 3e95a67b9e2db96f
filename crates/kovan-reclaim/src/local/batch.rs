//! The open batch: retired nodes not placed yet, chained through `batch_next`.
//!
//! Only the owning thread touches an open batch, so no ordering matters here; the placement
//! publishes it with Release (see `place`). Adopted parked chains and requeued freed batches
//! are rebuilt into the same summary, so one merge serves all three.

use core::ptr;

use crate::header::NodeHeader;

/// A thread's open batch: an unfinalised chain linked through `batch_next`, newest first.
/// The oldest node (`tail`) becomes the batch's refs node when the batch is placed.
#[derive(Clone, Copy)]
pub(super) struct Batch {
    pub(super) front: *mut NodeHeader,
    pub(super) tail: *mut NodeHeader,
    pub(super) len: usize,
    pub(super) min_birth: u64,
}

impl Batch {
    pub(super) const EMPTY: Batch = Batch {
        front: ptr::null_mut(),
        tail: ptr::null_mut(),
        len: 0,
        min_birth: u64::MAX,
    };

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `other` (older nodes) behind this batch.
    pub(super) fn merge(self, other: Batch) -> Batch {
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
    pub(super) unsafe fn from_chain(front: *mut NodeHeader) -> Batch {
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
