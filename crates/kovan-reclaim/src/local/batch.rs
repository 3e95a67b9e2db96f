//! The open batch: retired nodes not placed yet, chained through `chain_next`.
//!
//! Only the owning thread touches an open batch, so no ordering matters here; the placement
//! publishes it with Release (see `place`). Adopted parked chains and requeued freed batches
//! are rebuilt into the same summaries (nodes and deferred records apart), so one merge serves
//! all of them.

use core::ptr;

use crate::config::DEFERRED_BIRTH_ERA;
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
        unsafe { (*self.tail).set_chain_next(other.front) };
        Batch {
            front: self.front,
            tail: other.tail,
            len: self.len + other.len,
            min_birth: self.min_birth.min(other.min_birth),
        }
    }

    /// Rebuilds the summaries of a parked or requeued chain: its nodes, and its deferred-function
    /// records (born at [`DEFERRED_BIRTH_ERA`], which no node has), each into a chain of its own
    /// so that the records go back to the deferred batch. Bound: the chain's length.
    ///
    /// # Safety
    /// `front` heads an unpublished chain that the caller owns.
    pub(super) unsafe fn split_chain(front: *mut NodeHeader) -> (Batch, Batch) {
        let (mut nodes, mut records) = (Batch::EMPTY, Batch::EMPTY);
        let mut node = front;
        while !node.is_null() {
            // SAFETY: every member of an owned chain is a live, unpublished node.
            let header = unsafe { &*node };
            let next = header.chain_next();
            let birth = header.birth_era();
            // Mutant: records stay with the nodes, whose batch then waits for every reservation.
            #[cfg(kovan_mutant = "adopted_records_join_node_batch")]
            let birth_is_record = false;
            #[cfg(not(kovan_mutant = "adopted_records_join_node_batch"))]
            let birth_is_record = birth == DEFERRED_BIRTH_ERA;
            let batch = if birth_is_record {
                &mut records
            } else {
                &mut nodes
            };
            // Appended at the tail: each chain keeps the order it had.
            header.set_chain_next(ptr::null_mut());
            if batch.is_empty() {
                batch.front = node;
            } else {
                // SAFETY: the tail is a member of the same owned chain.
                unsafe { &*batch.tail }.set_chain_next(node);
            }
            batch.tail = node;
            batch.len += 1;
            batch.min_birth = batch.min_birth.min(birth);
            node = next;
        }
        (nodes, records)
    }
}

#[cfg(all(test, not(kovan_loom)))]
mod tests {
    use super::*;
    use alloc::boxed::Box;
    use alloc::vec::Vec;

    #[test]
    fn split_chain_sends_records_to_their_own_batch() {
        let births = [5, DEFERRED_BIRTH_ERA, 3, DEFERRED_BIRTH_ERA, 7];
        let headers: Vec<*mut NodeHeader> = births
            .iter()
            .map(|&birth| Box::into_raw(Box::new(NodeHeader::new(birth))))
            .collect();
        for pair in headers.windows(2) {
            // SAFETY: fresh headers owned by this test.
            unsafe { &*pair[0] }.set_chain_next(pair[1]);
        }
        // SAFETY: an unpublished chain owned by this test.
        let (nodes, records) = unsafe { Batch::split_chain(headers[0]) };
        assert_eq!((nodes.len, nodes.min_birth), (3, 3));
        assert_eq!((records.len, records.min_birth), (2, DEFERRED_BIRTH_ERA));
        let members = |batch: Batch| {
            let mut births = Vec::new();
            let mut node = batch.front;
            while !node.is_null() {
                // SAFETY: members of the chains built above.
                let header = unsafe { &*node };
                births.push(header.birth_era());
                node = header.chain_next();
            }
            births
        };
        assert_eq!(members(nodes), [5, 3, 7]);
        assert_eq!(members(records), [DEFERRED_BIRTH_ERA, DEFERRED_BIRTH_ERA]);
        for header in headers {
            // SAFETY: allocated above, freed once.
            drop(unsafe { Box::from_raw(header) });
        }
    }
}
