//! `NodeBox<T>`: an owned, not yet published [`Node<T>`].

use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;

use kovan_reclaim::{Domain, Guard, Node};

use crate::Shared;

/// An owned node that nobody else can reach yet: a `T` behind the protocol header, with its
/// birth era stamped at allocation.
///
/// This is the typed way to build retirable objects. The header layout and the birth era are
/// the allocation's business, so safe code never meets the "header at offset 0" or "stamp the
/// era before publishing" rules of [`retire`](crate::retire). Publish a node with
/// [`into_shared`](Self::into_shared) (or [`into_raw`](Self::into_raw), or
/// `Atomic::from`), read it through `Shared<Node<T>>` and [`Node::value`], and retire it with
/// [`Shared::retire`]. Dropping an unpublished `NodeBox` frees it at once.
///
/// ```
/// # use kovan_atom as kovan;
/// use kovan::{Atomic, NodeBox, Ordering, pin};
///
/// let mut node = NodeBox::new(vec![1, 2]);
/// node.push(3); // still private: plain mutable access
/// let cell = Atomic::from(node);
///
/// let guard = pin();
/// let seen = cell.load(Ordering::Acquire, &guard);
/// // SAFETY: loaded under `guard` from a live cell.
/// assert_eq!(unsafe { seen.deref() }.value(), &[1, 2, 3]);
///
/// let old = cell.swap(kovan::Shared::null(), Ordering::AcqRel, &guard);
/// // SAFETY: a default-domain node, unlinked above, retired once.
/// unsafe { old.retire(&guard) };
/// ```
pub struct NodeBox<T> {
    node: NonNull<Node<T>>,
    _owns: PhantomData<Node<T>>,
}

// SAFETY: a `NodeBox` owns its node exclusively, like `Box<Node<T>>`.
unsafe impl<T: Send> Send for NodeBox<T> {}
// SAFETY: shared access hands out only `&T`, like `Box<Node<T>>`.
unsafe impl<T: Sync> Sync for NodeBox<T> {}

impl<T> NodeBox<T> {
    /// A node holding `value`, stamped with the default domain's current era.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// use kovan::NodeBox;
    ///
    /// let node = NodeBox::new(5);
    /// assert_eq!(*node, 5);
    /// ```
    #[cfg(feature = "std")]
    pub fn new(value: T) -> Self {
        Self::new_in(crate::default::default_domain(), value)
    }

    /// A node holding `value`, stamped with `domain`'s current era. Retire it only through a
    /// handle or guard of the same domain.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// use std::sync::Arc;
    /// use kovan::{Domain, NodeBox};
    ///
    /// let domain = Arc::new(Domain::new());
    /// let node = NodeBox::new_in(&domain, 'k');
    /// assert_eq!(node.birth_era(), domain.era());
    /// ```
    pub fn new_in(domain: &Domain, value: T) -> Self {
        Self {
            node: Node::alloc(domain, value),
            _owns: PhantomData,
        }
    }

    /// The era stamped at allocation.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// let node = kovan::NodeBox::new(());
    /// assert!(node.birth_era() <= kovan_reclaim::default_domain().era());
    /// ```
    pub fn birth_era(&self) -> u64 {
        self.node().birth_era()
    }

    /// Gives up ownership: the node is now the caller's to publish, retire or free.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// use kovan::NodeBox;
    ///
    /// let raw = NodeBox::new(1u8).into_raw();
    /// // SAFETY: from `into_raw`, never published.
    /// let back = unsafe { NodeBox::from_raw(raw) };
    /// assert_eq!(back.into_inner(), 1);
    /// ```
    pub fn into_raw(self) -> *mut Node<T> {
        ManuallyDrop::new(self).node.as_ptr()
    }

    /// Takes ownership of a node again.
    ///
    /// # Safety
    /// `node` came from [`into_raw`](Self::into_raw) (or [`Node::alloc`]), is not retired, and
    /// no other thread can reach it any more: it was never published, or every reader that
    /// could have loaded it is provably gone.
    pub unsafe fn from_raw(node: *mut Node<T>) -> Self {
        debug_assert!(!node.is_null(), "NodeBox::from_raw(null)");
        // SAFETY: non-null per the contract (a live node from `Node::alloc`).
        let node = unsafe { NonNull::new_unchecked(node) };
        Self {
            node,
            _owns: PhantomData,
        }
    }

    /// Gives up ownership, as a [`Shared`] for storing into an [`Atomic`](crate::Atomic).
    ///
    /// The node stays valid for `'g`, also after the caller publishes it and another thread
    /// unlinks and retires it: `guard`'s reservation is raised to cover the node's birth era
    /// ([`Guard::cover`]) before the node can be published. `guard` must belong to the domain
    /// the node was allocated for.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// use kovan::{Atomic, NodeBox, Ordering, pin};
    ///
    /// let cell = Atomic::null();
    /// let guard = pin();
    /// cell.store(NodeBox::new("hi").into_shared(&guard), Ordering::Release);
    /// let last = cell.swap(kovan::Shared::null(), Ordering::AcqRel, &guard);
    /// // SAFETY: unlinked above, retired once.
    /// unsafe { last.retire(&guard) };
    /// ```
    pub fn into_shared<'g>(self, guard: &'g Guard) -> Shared<'g, Node<T>> {
        guard.cover(self.birth_era());
        // SAFETY: a live node that stays allocated for 'g: nobody can retire it before it is
        // published, and from then on `guard`'s reservation covers its birth era.
        unsafe { Shared::from_raw(self.into_raw()) }
    }

    /// Frees the node and returns its value.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// assert_eq!(kovan::NodeBox::new(String::from("v")).into_inner(), "v");
    /// ```
    pub fn into_inner(self) -> T {
        // SAFETY: owned and unpublished, so nobody else can reach it.
        unsafe { Node::into_value(NonNull::new_unchecked(self.into_raw())) }
    }

    /// The node, still owned. Comparing it with a loaded pointer is fine; dereferencing it
    /// after publication is the caller's business.
    #[cfg(feature = "std")]
    pub(crate) fn as_ptr(&self) -> *mut Node<T> {
        self.node.as_ptr()
    }

    fn node(&self) -> &Node<T> {
        // SAFETY: owned and live.
        unsafe { self.node.as_ref() }
    }
}

impl<T> Deref for NodeBox<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.node().value()
    }
}

impl<T> DerefMut for NodeBox<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: owned and unpublished; `&mut self` makes the access exclusive.
        unsafe { self.node.as_mut() }.value_mut()
    }
}

#[cfg(feature = "std")]
impl<T> From<T> for NodeBox<T> {
    /// A node in the default domain, as [`NodeBox::new`].
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for NodeBox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("NodeBox").field(&**self).finish()
    }
}

impl<T> Drop for NodeBox<T> {
    fn drop(&mut self) {
        // SAFETY: owned and unpublished; freed once, here.
        unsafe { Node::dealloc(self.node) };
    }
}
