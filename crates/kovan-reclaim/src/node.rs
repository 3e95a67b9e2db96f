//! The typed node: a value behind a protocol header, stamped with its birth era at allocation.

use alloc::boxed::Box;
use core::ptr::NonNull;

use crate::header::NodeHeader;

use crate::domain::Domain;

/// A heap node holding a `T` behind the header the protocol needs.
///
/// [`Node::alloc`] stamps the birth era at allocation, before anyone can reach the node, so safe
/// code never deals with the "header at offset 0" contract of raw retirement.
#[repr(C)]
pub struct Node<T> {
    header: NodeHeader,
    value: T,
}

impl<T> Node<T> {
    /// Allocates a node holding `value`, stamped with `domain`'s current era.
    pub fn alloc(domain: &Domain, value: T) -> NonNull<Node<T>> {
        let node = Box::new(Node {
            header: NodeHeader::new(domain.era()),
            value,
        });
        NonNull::from(Box::leak(node))
    }

    /// The value.
    #[inline]
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The value, mutably.
    #[inline]
    pub fn value_mut(&mut self) -> &mut T {
        &mut self.value
    }

    /// The era stamped at allocation.
    ///
    /// Valid until the node is retired: the protocol reuses the word once the node's batch is
    /// placed, and a reader that still holds the node then reads an unrelated value (an address
    /// or a count). Read it before publishing, as [`Guard::cover`](crate::Guard::cover) needs.
    #[inline]
    pub fn birth_era(&self) -> u64 {
        self.header.birth_era()
    }

    /// Frees a node that was never published (or whose last reader is provably gone) and
    /// returns its value.
    ///
    /// # Safety
    /// `node` came from [`Node::alloc`], is not retired, and no other thread can reach it.
    pub unsafe fn into_value(node: NonNull<Node<T>>) -> T {
        // SAFETY: allocated by `alloc` with Box; exclusive per the contract.
        unsafe { Box::from_raw(node.as_ptr()) }.value
    }

    /// Frees a node that was never published.
    ///
    /// # Safety
    /// As for [`into_value`](Self::into_value).
    pub unsafe fn dealloc(node: NonNull<Node<T>>) {
        // SAFETY: forwarded contract.
        drop(unsafe { Self::into_value(node) });
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for Node<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Node")
            .field("value", &self.value)
            .finish_non_exhaustive()
    }
}
