//! The kovan 0.1.12 way to retire hand-built nodes: a `RetiredNode` header first in a
//! `#[repr(C)]` type, and `retire` / `Reclaimable`.

use alloc::boxed::Box;
use core::fmt;

use kovan_reclaim::{Domain, NodeHeader};

/// The header a hand-built retirable type puts **first** in a `#[repr(C)]` struct.
///
/// It is the protocol's [`NodeHeader`] (same size and layout: `#[repr(transparent)]`), stamped
/// with the era at construction. Build it when the object is allocated, never later than the
/// object's first publication: a birth era newer than the publication would let a reader that
/// loaded the object go unnoticed when it is retired.
///
/// New code can use [`NodeBox`](crate::NodeBox) instead, which needs none of this.
///
/// ```
/// # use kovan_atom as kovan;
/// use kovan::RetiredNode;
///
/// #[repr(C)]
/// struct Entry {
///     header: RetiredNode, // first field, at offset 0
///     key: u64,
/// }
///
/// let entry = Box::into_raw(Box::new(Entry { header: RetiredNode::new(), key: 7 }));
/// // ... publish `entry`, later unlink it ...
/// // SAFETY: repr(C) with the header first, Box-allocated, unreachable, retired once.
/// unsafe { kovan::retire(entry) };
/// ```
#[repr(transparent)]
pub struct RetiredNode {
    header: NodeHeader,
}

const _: () = assert!(size_of::<RetiredNode>() == size_of::<NodeHeader>());
const _: () = assert!(align_of::<RetiredNode>() == align_of::<NodeHeader>());

impl RetiredNode {
    /// A header stamped with the default domain's current era.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// let header = kovan::RetiredNode::new();
    /// assert!(header.birth_era() <= kovan_reclaim::default_domain().era());
    /// ```
    #[cfg(feature = "std")]
    pub fn new() -> Self {
        Self::new_in(crate::default::default_domain())
    }

    /// A header stamped with `domain`'s current era (for objects retired through that
    /// domain's handles with `retire_raw`).
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// use kovan::{Domain, RetiredNode};
    ///
    /// let domain = Domain::new();
    /// assert_eq!(RetiredNode::new_in(&domain).birth_era(), domain.era());
    /// ```
    pub fn new_in(domain: &Domain) -> Self {
        Self {
            header: NodeHeader::new(domain.era()),
        }
    }

    /// The era stamped at construction.
    ///
    /// Valid until the node is retired: the protocol reuses the word once the node's batch is
    /// placed, and a reader that still holds the node then reads an unrelated value.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// let header = kovan::RetiredNode::default();
    /// assert!(header.birth_era() >= 1);
    /// ```
    pub fn birth_era(&self) -> u64 {
        self.header.birth_era()
    }
}

#[cfg(feature = "std")]
impl Default for RetiredNode {
    /// As [`RetiredNode::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RetiredNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetiredNode")
            .field("birth_era", &self.birth_era())
            .finish()
    }
}

/// A type that knows its [`RetiredNode`] and how to free itself; retired with
/// [`retire_reclaimable`].
///
/// # Safety
/// Implementors guarantee:
/// - the type is `#[repr(C)]` with a [`RetiredNode`] as its **first** field (offset 0), and
///   [`retired_node`](Self::retired_node) / [`retired_node_mut`](Self::retired_node_mut) return
///   that field;
/// - [`dealloc`](Self::dealloc) frees a pointer produced by the type's allocation, on any thread
///   (the default, `drop(Box::from_raw(ptr))`, matches `Box` allocation).
///
/// ```
/// # use kovan_atom as kovan;
/// use kovan::{Reclaimable, RetiredNode};
///
/// #[repr(C)]
/// struct Entry {
///     header: RetiredNode,
///     key: u64,
/// }
///
/// // SAFETY: repr(C), header first, Box-allocated (the default `dealloc`).
/// unsafe impl Reclaimable for Entry {
///     fn retired_node(&self) -> &RetiredNode {
///         &self.header
///     }
///     fn retired_node_mut(&mut self) -> &mut RetiredNode {
///         &mut self.header
///     }
/// }
///
/// let entry = Box::into_raw(Box::new(Entry { header: RetiredNode::new(), key: 1 }));
/// // SAFETY: unreachable (never published), retired once.
/// unsafe { kovan::retire_reclaimable(entry) };
/// ```
pub unsafe trait Reclaimable: Sized {
    /// The embedded header.
    fn retired_node(&self) -> &RetiredNode;

    /// The embedded header, mutably.
    fn retired_node_mut(&mut self) -> &mut RetiredNode;

    /// Frees the object once nothing can reach it.
    ///
    /// # Safety
    /// Called once, with a pointer to a live object allocated the way this implementation
    /// frees it, when no thread can reach the object any more.
    unsafe fn dealloc(ptr: *mut Self) {
        // SAFETY: Box-allocated and unreachable, per the contract of this default.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

/// Retires `ptr` on the default domain: its destructor (`drop(Box::from_raw(ptr))`) runs, on
/// some thread, once no guard can reach it. This is the kovan 0.1.12 entry point;
/// [`NodeBox`](crate::NodeBox) with [`Shared::retire`](crate::Shared::retire) needs none of its
/// rules.
///
/// # Safety
/// - `ptr` points to a live `T` allocated with `Box` (`Box::into_raw`);
/// - `T` is `#[repr(C)]` with a [`RetiredNode`] as its first field, created (stamped) no later
///   than the object's first publication;
/// - no new reader can reach the object (it was unlinked), and it is retired exactly once;
/// - `T` can be dropped on any thread (`Send` in spirit; the bound is not required here only
///   because kovan 0.1.12 did not require it).
///
/// ```
/// # use kovan_atom as kovan;
/// use kovan::{Atomic, Ordering, RetiredNode, pin, retire};
///
/// #[repr(C)]
/// struct Node {
///     header: RetiredNode,
///     value: u32,
/// }
///
/// let new = |value| Box::into_raw(Box::new(Node { header: RetiredNode::new(), value }));
/// let cell = Atomic::new(new(1));
/// let guard = pin();
/// // SAFETY: a fresh allocation.
/// let old = cell.swap(unsafe { kovan::Shared::from_raw(new(2)) }, Ordering::AcqRel, &guard);
/// // SAFETY: header first, Box-allocated, unlinked by the swap, retired once.
/// unsafe { retire(old.as_raw()) };
/// # let last = cell.swap(kovan::Shared::null(), Ordering::AcqRel, &guard);
/// # // SAFETY: as above.
/// # unsafe { retire(last.as_raw()) };
/// ```
#[cfg(feature = "std")]
pub unsafe fn retire<T: 'static>(ptr: *mut T) {
    debug_assert!(!ptr.is_null(), "retire(null)");
    // SAFETY: the header is at offset 0 of a Box-allocated `T` and `ptr` is the object pointer
    // (whole-allocation provenance), which is what `reclaim::boxed::<T>` frees; the caller
    // guarantees unreachability and a single retirement.
    unsafe { crate::default::retire_raw(ptr.cast(), kovan_reclaim::reclaim::boxed::<T>) };
}

/// Retires `ptr` on the default domain; [`Reclaimable::dealloc`] frees it once no guard can
/// reach it.
///
/// # Safety
/// - `ptr` points to a live `T` that `T::dealloc` can free, whose [`RetiredNode`] was created no
///   later than the object's first publication;
/// - no new reader can reach the object, and it is retired exactly once.
///
/// See [`Reclaimable`] for an example.
#[cfg(feature = "std")]
pub unsafe fn retire_reclaimable<T: Reclaimable + Send + 'static>(ptr: *mut T) {
    debug_assert!(
        // SAFETY: `ptr` is live per the contract.
        core::ptr::eq(unsafe { &*ptr }.retired_node(), ptr.cast::<RetiredNode>()),
        "Reclaimable: the RetiredNode is not at offset 0"
    );
    // SAFETY: `Reclaimable` puts the header at offset 0; `dealloc_reclaimable::<T>` frees it with
    // `T::dealloc`; the caller guarantees unreachability and a single retirement.
    unsafe { crate::default::retire_raw(ptr.cast(), dealloc_reclaimable::<T>) };
}

/// The destructor `retire_reclaimable` installs.
///
/// # Safety
/// `header` is offset 0 of a live `T` that nothing can reach; called once.
#[cfg(feature = "std")]
unsafe fn dealloc_reclaimable<T: Reclaimable>(header: *mut NodeHeader) {
    // SAFETY: per the contract; `T::dealloc` frees what the implementation allocated.
    unsafe { T::dealloc(header.cast::<T>()) };
}
