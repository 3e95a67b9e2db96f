//! `Atomic<T>`, the shared pointer cell, and `Shared<'g, T>`, a pointer loaded under a guard.

use core::fmt;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};
use kovan_core::sync::{AtomicPtr, Ordering};

use kovan_reclaim::{Guard, Node};

/// An atomic pointer to a `T` that readers load under a [`Guard`].
///
/// The pointer is stored as a pointer (an [`AtomicPtr`]), so it keeps its provenance. Loads go
/// through the reclamation protocol ([`Guard::protect`]); stores, swaps and compare-and-swaps are
/// plain atomic operations. `Atomic` never frees what it points to: whoever unlinks a pointee
/// retires it (see [`retire`](crate::retire) and [`Shared::retire`]).
///
/// ```
/// # use kovan_atom as kovan;
/// use kovan::{Atomic, Ordering, Shared, pin};
///
/// let cell = Atomic::new(Box::into_raw(Box::new(7)));
/// let guard = pin();
/// let seen = cell.load(Ordering::Acquire, &guard);
/// // SAFETY: loaded under `guard`; nothing retires the value meanwhile.
/// assert_eq!(unsafe { *seen.deref() }, 7);
/// # // SAFETY: never shared with another thread; freed once.
/// # drop(unsafe { Box::from_raw(seen.as_raw()) });
/// ```
pub struct Atomic<T> {
    ptr: AtomicPtr<T>,
    /// Opts out of `AtomicPtr`'s unconditional `Send` and `Sync` (the bounds are below).
    _marker: PhantomData<*mut T>,
}

// SAFETY: `Atomic<T>` hands out pointers to `T` on any thread that holds it, so it is shared and
// sent only when `T` itself may be (the same bounds as kovan 0.1.12).
unsafe impl<T: Send + Sync> Send for Atomic<T> {}
// SAFETY: as for `Send`.
unsafe impl<T: Send + Sync> Sync for Atomic<T> {}

impl<T> Atomic<T> {
    kovan_core::sync::const_fn! {
        /// An atomic pointer holding `ptr`.
        ///
        /// ```
        /// # use kovan_atom as kovan;
        /// use kovan::Atomic;
        ///
        /// let cell: Atomic<u32> = Atomic::new(std::ptr::null_mut());
        /// # drop(cell);
        /// ```
        #[inline]
        pub fn new(ptr: *mut T) -> Self {
            Self {
                ptr: AtomicPtr::new(ptr),
                _marker: PhantomData,
            }
        }
    }

    kovan_core::sync::const_fn! {
        /// A null atomic pointer.
        ///
        /// ```
        /// # use kovan_atom as kovan;
        /// use kovan::{Atomic, Ordering, pin};
        ///
        /// static HEAD: Atomic<u64> = Atomic::null();
        /// assert!(HEAD.load(Ordering::Acquire, &pin()).is_null());
        /// ```
        #[inline]
        pub fn null() -> Self {
            Self::new(ptr::null_mut())
        }
    }

    /// Loads the pointer under `guard`'s protection.
    ///
    /// The pointee stays allocated until `guard` drops, provided it was **reachable from the
    /// live structure when loaded**. This is hazard-pointer scope, not epoch scope: following a
    /// link out of a node that another thread had already unlinked is not protected, because
    /// the node behind that link may have been retired (and freed) before this load.
    ///
    /// Two more conditions: `guard` must belong to the domain that retires the pointee (a
    /// guard of another domain reserves nothing there), and the pointer must have been
    /// published with `Release` or stronger (a store, swap or compare-and-swap of this cell),
    /// so that this load sees the pointee's birth era, written before publication.
    ///
    /// The load is at least `Acquire` whatever `order` says. Its common case is one pointer
    /// load, one load of the era clock and one compare.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// use kovan::{Atomic, Ordering, pin};
    ///
    /// let cell = Atomic::new(Box::into_raw(Box::new(String::from("kovan"))));
    /// let guard = pin();
    /// let name = cell.load(Ordering::Acquire, &guard);
    /// // SAFETY: loaded under `guard` from a live cell.
    /// assert_eq!(unsafe { name.as_ref() }.map(String::len), Some(5));
    /// # // SAFETY: never shared; freed once.
    /// # drop(unsafe { Box::from_raw(name.as_raw()) });
    /// ```
    #[inline]
    pub fn load<'g>(&self, order: Ordering, guard: &'g Guard) -> Shared<'g, T> {
        Shared::from_ptr(self.load_raw(order, guard))
    }

    /// Stores `ptr`. No guard is needed: nothing is returned that could be dereferenced. The
    /// pointer previously held is not retired; the caller does that if it unlinked it.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// use kovan::{Atomic, Ordering, Shared};
    ///
    /// let cell: Atomic<u8> = Atomic::null();
    /// let value = Box::into_raw(Box::new(1u8));
    /// // SAFETY: `value` is a live allocation that outlives every guard that can see it.
    /// cell.store(unsafe { Shared::from_raw(value) }, Ordering::Release);
    /// # // SAFETY: never shared; freed once.
    /// # drop(unsafe { Box::from_raw(value) });
    /// ```
    #[inline]
    pub fn store(&self, ptr: Shared<'_, T>, order: Ordering) {
        self.ptr.store(ptr.as_raw(), order);
    }

    /// Stores `new` and returns the pointer it replaced. The caller unlinked the returned
    /// pointee, so it may read it until it retires it (longer only if a live guard protects
    /// it: see [`Shared::retire`]).
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// use kovan::{Atomic, Ordering, Shared, pin};
    ///
    /// let cell = Atomic::new(Box::into_raw(Box::new(1)));
    /// let guard = pin();
    /// // SAFETY: a fresh allocation.
    /// let fresh = unsafe { Shared::from_raw(Box::into_raw(Box::new(2))) };
    /// let old = cell.swap(fresh, Ordering::AcqRel, &guard);
    /// // SAFETY: unlinked by this swap, so nobody else retires it.
    /// assert_eq!(unsafe { *old.deref() }, 1);
    /// # // SAFETY: neither was shared with another thread; each is freed once.
    /// # unsafe { drop(Box::from_raw(old.as_raw())); drop(Box::from_raw(fresh.as_raw())) };
    /// ```
    #[inline]
    pub fn swap<'g>(
        &self,
        new: Shared<'_, T>,
        order: Ordering,
        _guard: &'g Guard,
    ) -> Shared<'g, T> {
        Shared::from_ptr(self.swap_raw(new.as_raw(), order))
    }

    /// Stores `new` if the cell holds `current`.
    ///
    /// `Ok` carries the replaced pointer (which the caller unlinked). `Err` carries a pointer
    /// validated under `guard`: the value that made the exchange fail, or a newer one if the
    /// era moved since the guard's reservation was published. `new` is not handed back; the
    /// caller still owns it. The failure load is at least `Acquire`.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// use kovan::{Atomic, Ordering, Shared, pin};
    ///
    /// let cell = Atomic::new(Box::into_raw(Box::new(1)));
    /// let guard = pin();
    /// let current = cell.load(Ordering::Acquire, &guard);
    /// // SAFETY: a fresh allocation.
    /// let fresh = unsafe { Shared::from_raw(Box::into_raw(Box::new(2))) };
    /// let old = cell
    ///     .compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire, &guard)
    ///     .expect("nobody else writes");
    /// assert_eq!(old, current);
    /// # // SAFETY: neither was shared with another thread; each is freed once.
    /// # unsafe { drop(Box::from_raw(old.as_raw())); drop(Box::from_raw(fresh.as_raw())) };
    /// ```
    #[inline]
    pub fn compare_exchange<'g>(
        &self,
        current: Shared<'_, T>,
        new: Shared<'_, T>,
        success: Ordering,
        failure: Ordering,
        guard: &'g Guard,
    ) -> Result<Shared<'g, T>, Shared<'g, T>> {
        let result = self.ptr.compare_exchange(
            current.as_raw(),
            new.as_raw(),
            success,
            at_least_acquire(failure),
        );
        self.validate_exchange(result, failure, guard)
    }

    /// As [`compare_exchange`](Self::compare_exchange), but may fail spuriously; meant for
    /// retry loops.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// use kovan::{Atomic, Ordering, Shared, pin};
    ///
    /// let cell = Atomic::new(Box::into_raw(Box::new(1)));
    /// let guard = pin();
    /// // SAFETY: a fresh allocation.
    /// let fresh = unsafe { Shared::from_raw(Box::into_raw(Box::new(2))) };
    /// let mut current = cell.load(Ordering::Acquire, &guard);
    /// let old = loop {
    ///     match cell.compare_exchange_weak(current, fresh, Ordering::AcqRel, Ordering::Acquire, &guard) {
    ///         Ok(old) => break old,
    ///         Err(seen) => current = seen,
    ///     }
    /// };
    /// # // SAFETY: neither was shared with another thread; each is freed once.
    /// # unsafe { drop(Box::from_raw(old.as_raw())); drop(Box::from_raw(fresh.as_raw())) };
    /// ```
    #[inline]
    pub fn compare_exchange_weak<'g>(
        &self,
        current: Shared<'_, T>,
        new: Shared<'_, T>,
        success: Ordering,
        failure: Ordering,
        guard: &'g Guard,
    ) -> Result<Shared<'g, T>, Shared<'g, T>> {
        let result = self.ptr.compare_exchange_weak(
            current.as_raw(),
            new.as_raw(),
            success,
            at_least_acquire(failure),
        );
        self.validate_exchange(result, failure, guard)
    }

    /// The pointer, through exclusive access (no guard needed: no other thread can reach the
    /// cell). Meant for `Drop` implementations.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// use kovan::Atomic;
    ///
    /// let mut cell = Atomic::new(Box::into_raw(Box::new(3)));
    /// let raw = *cell.get_mut();
    /// // SAFETY: never shared; freed once.
    /// assert_eq!(*unsafe { Box::from_raw(raw) }, 3);
    /// ```
    // Loom's atomics lend no `&mut` to their value.
    #[cfg(not(kovan_loom))]
    #[inline]
    pub fn get_mut(&mut self) -> &mut *mut T {
        self.ptr.get_mut()
    }

    /// The pointer, through exclusive access: [`get_mut`](Self::get_mut) on every backend.
    #[inline]
    pub(crate) fn load_exclusive(&mut self) -> *mut T {
        // Relaxed: `&mut self` rules out any concurrent access to order against.
        self.ptr.load(Ordering::Relaxed)
    }

    /// The protected load, as a raw pointer.
    #[inline]
    pub(crate) fn load_raw(&self, order: Ordering, guard: &Guard) -> *mut T {
        guard.protect(&self.ptr, order)
    }

    /// Swap without a guard (the result is owned by the caller, who unlinked it).
    #[inline]
    pub(crate) fn swap_raw(&self, new: *mut T, order: Ordering) -> *mut T {
        self.ptr.swap(new, order)
    }

    /// Strong compare-and-swap on raw pointers, failure load at least `Acquire`.
    #[cfg(feature = "std")]
    #[inline]
    pub(crate) fn compare_exchange_raw(
        &self,
        current: *mut T,
        new: *mut T,
        success: Ordering,
        failure: Ordering,
    ) -> Result<*mut T, *mut T> {
        self.ptr
            .compare_exchange(current, new, success, at_least_acquire(failure))
    }

    /// Protects `observed`, which another (at least `Acquire`) access of this cell returned.
    #[inline]
    pub(crate) fn revalidate_raw(
        &self,
        observed: *mut T,
        order: Ordering,
        guard: &Guard,
    ) -> *mut T {
        guard.revalidate(&self.ptr, observed, order)
    }

    /// A plain load that is only compared, never dereferenced.
    #[cfg(feature = "std")]
    #[inline]
    pub(crate) fn peek_raw(&self, order: Ordering) -> *mut T {
        self.ptr.load(order)
    }

    fn validate_exchange<'g>(
        &self,
        result: Result<*mut T, *mut T>,
        failure: Ordering,
        guard: &'g Guard,
    ) -> Result<Shared<'g, T>, Shared<'g, T>> {
        match result {
            Ok(replaced) => Ok(Shared::from_ptr(replaced)),
            Err(seen) => {
                let seen = self.revalidate_raw(seen, at_least_acquire(failure), guard);
                Err(Shared::from_ptr(seen))
            }
        }
    }
}

impl<T> Default for Atomic<T> {
    /// A null atomic pointer.
    fn default() -> Self {
        Self::null()
    }
}

impl<T> From<crate::NodeBox<T>> for Atomic<Node<T>> {
    /// An atomic pointer holding the node (publishing it is now the cell's business).
    fn from(node: crate::NodeBox<T>) -> Self {
        Self::new(node.into_raw())
    }
}

impl<T> fmt::Debug for Atomic<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: the address is only printed, never dereferenced.
        f.debug_tuple("Atomic")
            .field(&self.ptr.load(Ordering::Relaxed))
            .finish()
    }
}

/// The order a load must have to be protected: at least `Acquire`.
#[inline]
fn at_least_acquire(order: Ordering) -> Ordering {
    match order {
        Ordering::SeqCst => Ordering::SeqCst,
        _ => Ordering::Acquire,
    }
}

/// A pointer loaded under a [`Guard`], usable for the guard's lifetime `'g`.
///
/// It is a plain pointer (`Copy`, compared by address). Dereferencing is `unsafe`: the
/// pointer may be null, and it is valid only if it was protected (loaded from a live structure
/// through [`Atomic::load`], returned by [`Atomic::compare_exchange`], or unlinked by the
/// caller itself).
pub struct Shared<'g, T> {
    ptr: *mut T,
    _marker: PhantomData<(&'g Guard, *mut T)>,
}

// SAFETY: a `Shared` is an address valid for `'g` under a guard that lives at least that long;
// dereferencing it is `unsafe` and yields `&T` (or, by `as_mut`, `&mut T`), so another thread
// may hold it when `T` may be shared and sent, as for `Atomic<T>`. This is what lets an async
// task keep a pointer loaded under an `OwnedGuard` across an `.await`.
unsafe impl<T: Send + Sync> Send for Shared<'_, T> {}
// SAFETY: as for `Send`.
unsafe impl<T: Send + Sync> Sync for Shared<'_, T> {}

impl<'g, T> Shared<'g, T> {
    #[inline]
    fn from_ptr(ptr: *mut T) -> Self {
        Self {
            ptr,
            _marker: PhantomData,
        }
    }

    /// Wraps a raw pointer.
    ///
    /// # Safety
    /// `ptr` is null or points to a live, aligned `T` that stays allocated for `'g`: in
    /// practice it is freed only through the reclamation protocol, after every guard that can
    /// reach it has dropped.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// use kovan::Shared;
    ///
    /// let raw = Box::into_raw(Box::new(5));
    /// // SAFETY: a live allocation, freed below after the last use.
    /// let shared = unsafe { Shared::from_raw(raw) };
    /// assert_eq!(shared.as_raw(), raw);
    /// # // SAFETY: freed once.
    /// # drop(unsafe { Box::from_raw(raw) });
    /// ```
    #[inline]
    pub unsafe fn from_raw(ptr: *mut T) -> Self {
        Self::from_ptr(ptr)
    }

    /// A null pointer.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// use kovan::Shared;
    ///
    /// assert!(Shared::<u8>::null().is_null());
    /// ```
    #[inline]
    pub fn null() -> Self {
        Self::from_ptr(ptr::null_mut())
    }

    /// The raw pointer.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// use kovan::Shared;
    ///
    /// assert!(Shared::<u8>::null().as_raw().is_null());
    /// ```
    #[inline]
    pub fn as_raw(&self) -> *mut T {
        self.ptr
    }

    /// Whether the pointer is null.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// use kovan::{Atomic, Ordering, pin};
    ///
    /// let cell: Atomic<u8> = Atomic::null();
    /// assert!(cell.load(Ordering::Acquire, &pin()).is_null());
    /// ```
    #[inline]
    pub fn is_null(&self) -> bool {
        self.ptr.is_null()
    }

    /// A reference to the pointee, or `None` when null.
    ///
    /// # Safety
    /// The pointer is null or valid (protected) for `'g`, and nobody writes the pointee
    /// through a non-atomic path meanwhile.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// use kovan::Shared;
    ///
    /// // SAFETY: null is always allowed.
    /// assert!(unsafe { Shared::<u8>::null().as_ref() }.is_none());
    /// ```
    #[inline]
    pub unsafe fn as_ref(&self) -> Option<&'g T> {
        // SAFETY: null or valid for 'g, per the caller's contract.
        unsafe { self.ptr.as_ref() }
    }

    /// A reference to the pointee, without a null check.
    ///
    /// # Safety
    /// The pointer is non-null and valid (protected) for `'g`, and nobody writes the pointee
    /// through a non-atomic path meanwhile.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// use kovan::Shared;
    ///
    /// let raw = Box::into_raw(Box::new(9));
    /// // SAFETY: a live allocation, freed after the last use.
    /// let shared = unsafe { Shared::from_raw(raw) };
    /// // SAFETY: non-null and live.
    /// assert_eq!(unsafe { *shared.deref() }, 9);
    /// # // SAFETY: freed once.
    /// # drop(unsafe { Box::from_raw(raw) });
    /// ```
    #[inline]
    pub unsafe fn deref(&self) -> &'g T {
        // SAFETY: non-null and valid for 'g, per the caller's contract.
        unsafe { &*self.ptr }
    }

    /// A mutable reference to the pointee, or `None` when null.
    ///
    /// # Safety
    /// The pointer is null or valid for `'g`, and the caller has exclusive access to the
    /// pointee for `'g` (no other thread or reference can reach it).
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// use kovan::Shared;
    ///
    /// let raw = Box::into_raw(Box::new(1));
    /// // SAFETY: a live allocation nobody else can reach.
    /// let mut shared = unsafe { Shared::from_raw(raw) };
    /// // SAFETY: exclusive: never published.
    /// *unsafe { shared.as_mut() }.unwrap() += 1;
    /// // SAFETY: freed once.
    /// assert_eq!(*unsafe { Box::from_raw(raw) }, 2);
    /// ```
    #[inline]
    pub unsafe fn as_mut(&mut self) -> Option<&'g mut T> {
        // SAFETY: null or valid and exclusive for 'g, per the caller's contract.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T: Send + 'static> Shared<'_, Node<T>> {
    /// Retires a node made by [`NodeBox`](crate::NodeBox) (or [`Node::alloc`]) through
    /// `guard`'s thread: its value drops, on some thread, once no guard can reach it. A null
    /// pointer is ignored.
    ///
    /// After this call the caller may still read the node only through a pointer that a live
    /// guard protects: one loaded with [`Atomic::load`] (or returned by a failed
    /// compare-and-swap) from the live structure, or published by this thread through
    /// [`NodeBox::into_shared`](crate::NodeBox::into_shared), for as long as that guard lives.
    /// A node known only from the value a swap or a successful compare-and-swap returned is
    /// not protected once retired: it may be freed even while `guard` lives. (Covering every
    /// retired node until the guard drops would make a writer's long guard hold back all that
    /// it retires meanwhile, the unbounded garbage this crate avoids.)
    ///
    /// # Safety
    /// - the node was allocated for the domain `guard` belongs to;
    /// - the caller unlinked it: no new reader can reach it from a live structure;
    /// - it is retired exactly once, and the caller uses it afterwards only as said above.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// use kovan::{Atomic, NodeBox, Ordering, pin};
    ///
    /// let cell = Atomic::from(NodeBox::new(1u64));
    /// let guard = pin();
    /// let old = cell.swap(NodeBox::new(2u64).into_shared(&guard), Ordering::AcqRel, &guard);
    /// // SAFETY: default-domain node, unlinked by the swap above, retired once.
    /// unsafe { old.retire(&guard) };
    /// # let last = cell.swap(kovan::Shared::null(), Ordering::AcqRel, &guard);
    /// # // SAFETY: unlinked, retired once.
    /// # unsafe { last.retire(&guard) };
    /// ```
    #[inline]
    pub unsafe fn retire(self, guard: &Guard) {
        if let Some(node) = NonNull::new(self.ptr) {
            // SAFETY: forwarded contract; `Node<T>` made by `Node::alloc` in the guard's domain.
            unsafe { guard.retire_node(node) };
        }
    }
}

impl<T> Clone for Shared<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Shared<'_, T> {}

impl<T> PartialEq for Shared<'_, T> {
    fn eq(&self, other: &Self) -> bool {
        self.ptr == other.ptr
    }
}

impl<T> Eq for Shared<'_, T> {}

impl<T> fmt::Debug for Shared<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Shared({:p})", self.ptr)
    }
}

impl<T> fmt::Pointer for Shared<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Pointer::fmt(&self.ptr, f)
    }
}
