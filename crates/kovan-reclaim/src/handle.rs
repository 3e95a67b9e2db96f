//! Thread handles and guards.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;

use kovan_core::sync::{AtomicPtr, Ordering};
use kovan_core::{Destructor, NodeHeader, RegistryFull};

use crate::domain::Domain;
use crate::local::Local;
use crate::node::Node;

/// Owns a `Local` on the heap, together with what keeps its domain alive. Guards point at it;
/// whichever of the owner handle and the last guard goes second frees it.
pub(crate) struct HandleBox {
    local: Local,
    _domain: Option<Arc<Domain>>,
}

/// A thread's registration with a [`Domain`]: pins guards and retires nodes.
///
/// Not `Send`: it holds the thread's reservation. Dropping it retires the thread from the
/// domain (at once, or when the thread's last [`Guard`] drops): its slots are deactivated, its
/// open batch is placed or parked for adoption, and its id is recycled.
pub struct LocalHandle {
    inner: NonNull<HandleBox>,
    _not_send: PhantomData<*mut ()>,
}

impl LocalHandle {
    pub(crate) fn new_shared(domain: Arc<Domain>) -> Result<Self, RegistryFull> {
        let tid = domain.state().registry().claim()?;
        // SAFETY: the box keeps `domain` alive as long as the `Local`; `tid` was just claimed.
        let local = unsafe { Local::new(&domain, tid) };
        Ok(Self::from_box(HandleBox {
            local,
            _domain: Some(domain),
        }))
    }

    /// Registers with a domain that lives for the rest of the program.
    #[cfg(all(feature = "std", not(loom)))]
    pub(crate) fn new_static(domain: &'static Domain) -> Result<Self, RegistryFull> {
        let tid = domain.state().registry().claim()?;
        // SAFETY: `domain` is 'static; `tid` was just claimed.
        let local = unsafe { Local::new(domain, tid) };
        Ok(Self::from_box(HandleBox {
            local,
            _domain: None,
        }))
    }

    fn from_box(handle: HandleBox) -> Self {
        let inner = NonNull::from(Box::leak(Box::new(handle)));
        Self {
            inner,
            _not_send: PhantomData,
        }
    }

    #[inline]
    fn local(&self) -> &Local {
        // SAFETY: the box lives while the owner handle exists.
        unsafe { &self.inner.as_ref().local }
    }

    /// Enters a critical section. Pointers loaded through the guard stay valid until it drops.
    /// Nested guards only count; the outermost one carries the reservation.
    #[inline]
    pub fn pin(&self) -> Guard {
        self.local().pin();
        Guard {
            inner: self.inner,
            _not_send: PhantomData,
        }
    }

    /// Whether a guard of this handle is alive.
    pub fn is_pinned(&self) -> bool {
        self.local().is_pinned()
    }

    /// Hands `node` to the protocol; its `destructor` runs once no guard can reach it.
    ///
    /// # Safety
    /// - `node` points to the header at offset 0 of a live object that is no longer reachable
    ///   for new readers of this domain, and that is retired exactly once;
    /// - its birth era was stamped (from this domain's [`Domain::era`]) before the object was
    ///   first published;
    /// - `destructor` frees the object correctly, on any thread, at any later time.
    #[inline]
    pub unsafe fn retire_raw(&self, node: *mut NodeHeader, destructor: Destructor) {
        // SAFETY: forwarded contract.
        unsafe { self.local().retire(node, destructor) }
    }

    /// Retires a node made by [`Node::alloc`]; its value drops once no guard can reach it.
    ///
    /// # Safety
    /// `node` was allocated by [`Node::alloc`] for this handle's domain, is no longer reachable
    /// for new readers, and is retired exactly once.
    #[inline]
    pub unsafe fn retire_node<T: Send + 'static>(&self, node: NonNull<Node<T>>) {
        // SAFETY: `Node<T>` starts with its header; the contract is forwarded.
        unsafe { self.retire_raw(node.as_ptr().cast(), Node::<T>::destroy) }
    }

    /// Allocates a node holding `value`, stamped with the domain's current era.
    pub fn alloc_node<T>(&self, value: T) -> NonNull<Node<T>> {
        Node::alloc(self.local().domain(), value)
    }

    /// Pushes this thread's garbage through: places the open batch even if it is small, advances
    /// the era, and frees what no reservation holds. Values a live guard of this thread can
    /// reach are kept.
    pub fn flush(&self) {
        self.local().flush();
    }

    /// The domain this handle is registered with.
    pub fn domain(&self) -> &Domain {
        self.local().domain()
    }

    /// The thread id this handle holds in its domain's registry.
    pub fn thread_id(&self) -> usize {
        self.local().tid()
    }
}

impl Drop for LocalHandle {
    fn drop(&mut self) {
        if self.local().release_owner() {
            // SAFETY: the thread exited and no guard refers to the box any more.
            drop(unsafe { Box::from_raw(self.inner.as_ptr()) });
        }
    }
}

impl fmt::Debug for LocalHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalHandle")
            .field("thread_id", &self.thread_id())
            .finish_non_exhaustive()
    }
}

/// A critical section: every pointer obtained through it stays valid until it drops.
///
/// Not `Send`: it stands for the current thread's reservation.
pub struct Guard {
    inner: NonNull<HandleBox>,
    _not_send: PhantomData<*mut ()>,
}

impl Guard {
    #[inline]
    fn local(&self) -> &Local {
        // SAFETY: the box lives while a guard refers to it (freed only at pin count zero).
        unsafe { &self.inner.as_ref().local }
    }

    /// Loads `source` under this guard's protection.
    ///
    /// The result stays valid until the guard drops, provided it was reachable from a live
    /// structure when loaded: following a link out of a node that was already unlinked is not
    /// protected. The common case is one pointer load, one era load and one compare.
    #[inline]
    pub fn protect<T>(&self, source: &AtomicPtr<T>, order: Ordering) -> *mut T {
        self.local().protect(source, order)
    }

    /// Protects a pointer that another access of `source` (a failed compare-and-swap) observed:
    /// returns it while the reservation covers it, otherwise reloads `source` under protection.
    #[inline]
    pub fn revalidate<T>(
        &self,
        source: &AtomicPtr<T>,
        observed: *mut T,
        order: Ordering,
    ) -> *mut T {
        self.local().revalidate(source, observed, order)
    }

    /// Retires `node` through this guard's thread; see [`LocalHandle::retire_raw`].
    ///
    /// # Safety
    /// As for [`LocalHandle::retire_raw`].
    #[inline]
    pub unsafe fn retire_raw(&self, node: *mut NodeHeader, destructor: Destructor) {
        // SAFETY: forwarded contract.
        unsafe { self.local().retire(node, destructor) }
    }

    /// Retires a node made by [`Node::alloc`]; see [`LocalHandle::retire_node`].
    ///
    /// # Safety
    /// As for [`LocalHandle::retire_node`].
    #[inline]
    pub unsafe fn retire_node<T: Send + 'static>(&self, node: NonNull<Node<T>>) {
        // SAFETY: `Node<T>` starts with its header; the contract is forwarded.
        unsafe { self.retire_raw(node.as_ptr().cast(), Node::<T>::destroy) }
    }

    /// Allocates a node holding `value`, stamped with the domain's current era.
    pub fn alloc_node<T>(&self, value: T) -> NonNull<Node<T>> {
        Node::alloc(self.local().domain(), value)
    }

    /// Pushes this thread's garbage through; what this guard can reach is kept.
    pub fn flush(&self) {
        self.local().flush();
    }

    /// The domain this guard protects against.
    pub fn domain(&self) -> &Domain {
        self.local().domain()
    }
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        if self.local().unpin() {
            // SAFETY: the owner is gone and this was the last guard: nothing refers to the box.
            drop(unsafe { Box::from_raw(self.inner.as_ptr()) });
        }
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard").finish_non_exhaustive()
    }
}
