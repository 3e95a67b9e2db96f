//! `Atom<T>`: a cell holding one value that readers borrow and writers replace, with
//! reclamation handled inside. Also `AtomOption<T>`, the guards, projections and `Removed<T>`.

use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::Deref;
use core::ptr::{self, NonNull};
use kovan_core::sync::Ordering;
use kovan_reclaim::{Guard, Node};

use crate::default::{pin, with_handle};
use crate::{Atomic, NodeBox};

/// Retires a node that the caller unlinked from an `Atom` or `AtomOption`.
///
/// # Safety
/// `node` is a default-domain node that the caller unlinked (no new reader can reach it) and
/// that is retired exactly once.
unsafe fn retire_unlinked<T: Send + 'static>(node: NonNull<Node<T>>) {
    // SAFETY: forwarded contract; every `Atom` node is made by `NodeBox::new` (default domain).
    with_handle(|handle| unsafe { handle.retire_node(node) });
}

/// The node an `Atom` holds; an `Atom` is never empty.
fn held<T>(node: *mut Node<T>) -> NonNull<Node<T>> {
    NonNull::new(node).expect("an Atom always holds a value")
}

/// A cell holding one `T` that any thread can read and replace, without locks and without
/// `unsafe` at the call site: the kovan counterpart of `ArcSwap`, for any
/// `T: Send + Sync + 'static` (no `Arc` needed).
///
/// - [`load`](Self::load) pins and returns an [`AtomGuard`] that derefs to the value; the value
///   stays alive until the guard drops, whatever writers do meanwhile.
/// - [`store`](Self::store), [`swap`](Self::swap), [`compare_and_swap`](Self::compare_and_swap)
///   and [`rcu`](Self::rcu) publish a new value; the old one is retired and dropped, on some
///   thread, once no guard can reach it.
///
/// ```
/// # use kovan_atom as kovan;
/// use kovan::Atom;
///
/// let config = Atom::new(vec![1, 2, 3]);
/// let before = config.load();
/// config.store(vec![4, 5, 6, 7]);
/// assert_eq!(before.len(), 3); // the old value lives while its guard does
/// assert_eq!(config.load().len(), 4);
/// ```
pub struct Atom<T: Send + Sync + 'static> {
    /// Never null; always a node made by `NodeBox::new` (default domain).
    inner: Atomic<Node<T>>,
}

impl<T: Send + Sync + 'static> Atom<T> {
    /// A cell holding `val`.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// let atom = kovan::Atom::new(42);
    /// assert_eq!(*atom.load(), 42);
    /// ```
    #[inline]
    pub fn new(val: T) -> Self {
        Self {
            inner: Atomic::new(NodeBox::new(val).into_raw()),
        }
    }

    /// Consumes the cell and returns its value (no reader can exist: they borrow the cell).
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// let atom = kovan::Atom::new(String::from("hello"));
    /// assert_eq!(atom.into_inner(), "hello");
    /// ```
    #[inline]
    pub fn into_inner(self) -> T {
        let mut this = ManuallyDrop::new(self);
        let node = held(this.inner.load_exclusive());
        // SAFETY: the cell is consumed, and every reader borrows it, so nobody can reach the node;
        // it was never retired (only unlinked nodes are).
        unsafe { Node::into_value(node) }
    }

    /// Pins the current thread and returns a guard to the current value.
    ///
    /// Hold the guard for a consistent snapshot: two loads may see different values if a writer
    /// runs in between. While any guard of a thread is alive, garbage that thread could reach
    /// is kept, so do not hold guards for long.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// let atom = kovan::Atom::new((1, 2));
    /// let pair = atom.load();
    /// assert_eq!(pair.0 + pair.1, 3);
    /// ```
    #[inline]
    pub fn load(&self) -> AtomGuard<'_, T> {
        let guard = pin();
        // Acquire: pairs with the Release of the write that published the node.
        let node = self.inner.load_raw(Ordering::Acquire, &guard);
        AtomGuard::new(guard, held(node))
    }

    /// Clones the current value.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// let atom = kovan::Atom::new(vec![1, 2, 3]);
    /// let owned: Vec<i32> = atom.load_clone();
    /// assert_eq!(owned, [1, 2, 3]);
    /// ```
    #[inline]
    pub fn load_clone(&self) -> T
    where
        T: Clone,
    {
        T::clone(&self.load())
    }

    /// Runs `f` on the current value inside one pinned section and returns its result.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// let atom = kovan::Atom::new(vec![1, 2, 3]);
    /// assert_eq!(atom.peek(|v| v.len()), 3);
    /// ```
    #[inline]
    pub fn peek<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.load())
    }

    /// Replaces the value; the old one is retired and dropped once no guard can reach it.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// let atom = kovan::Atom::new(1);
    /// atom.store(2);
    /// assert_eq!(*atom.load(), 2);
    /// ```
    #[inline]
    pub fn store(&self, val: T) {
        // AcqRel: Release publishes the new node; Acquire orders the old node's contents before
        // its destructor, which the retirement hands to some thread.
        let old = self
            .inner
            .swap_raw(NodeBox::new(val).into_raw(), Ordering::AcqRel);
        // SAFETY: unlinked by the swap above; only this call retires it.
        unsafe { retire_unlinked(held(old)) };
    }

    /// Replaces the value and returns the old one as a [`Removed`]: the very node readers may
    /// still hold, so both sides see one object. Dropping the `Removed` retires it.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// let atom = kovan::Atom::new(String::from("hello"));
    /// let old = atom.swap(String::from("world"));
    /// assert_eq!(*old, "hello");
    /// assert_eq!(*atom.load(), "world");
    /// ```
    #[inline]
    pub fn swap(&self, val: T) -> Removed<T> {
        // AcqRel: Release publishes the new node; Acquire lets the `Removed` holder read the old.
        let old = self
            .inner
            .swap_raw(NodeBox::new(val).into_raw(), Ordering::AcqRel);
        Removed { node: held(old) }
    }

    /// Stores `new` if the cell still holds the value `current` guards (compared by identity,
    /// not by `==`).
    ///
    /// `Ok` carries a guard for the value just stored (it stays alive while the guard does,
    /// even if another writer replaces it at once). `Err` hands `new` back when the cell held
    /// something else.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// let atom = kovan::Atom::new(1);
    /// let current = atom.load();
    /// assert_eq!(*atom.compare_and_swap(&current, 2).unwrap(), 2);
    /// assert_eq!(atom.compare_and_swap(&current, 3).unwrap_err(), 3); // stale guard
    /// ```
    pub fn compare_and_swap<'a>(
        &'a self,
        current: &AtomGuard<'_, T>,
        new: T,
    ) -> Result<AtomGuard<'a, T>, T> {
        let expected = current.node.as_ptr();
        // Relaxed: a hint that spares an allocation when the exchange must fail; the
        // compare-and-swap below decides.
        if self.inner.peek_raw(Ordering::Relaxed) != expected {
            return Err(new);
        }
        let guard = pin();
        let fresh = NodeBox::new(new);
        // Before publishing: once published, another writer may unlink and retire the node,
        // and the `Ok` guard must keep it.
        guard.cover(fresh.birth_era());
        // AcqRel: as in `store`. Acquire on failure: nothing is read, but the cell's failure load
        // is at least Acquire anyway.
        match self.inner.compare_exchange_raw(
            expected,
            fresh.as_ptr(),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(old) => {
                let published = fresh.into_raw();
                // SAFETY: unlinked by the exchange above; only this call retires it.
                unsafe { retire_unlinked(held(old)) };
                // Mutant: the pre-fix code, which may show a later writer's value.
                #[cfg(kovan_mutant = "atom_cas_revalidates")]
                // Acquire: the reload (if any) pairs with the Release of the write it reads.
                let published = self
                    .inner
                    .revalidate_raw(published, Ordering::Acquire, &guard);
                Ok(AtomGuard::new(guard, held(published)))
            }
            Err(_) => Err(fresh.into_inner()),
        }
    }

    /// Read-copy-update: replaces the value with `f(&current)`, retrying with the newer value
    /// when another writer got in first. `f` may run several times; keep it cheap and free of
    /// side effects.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// let counter = kovan::Atom::new(0u64);
    /// counter.rcu(|n| n + 1);
    /// assert_eq!(*counter.load(), 1);
    /// ```
    pub fn rcu<F>(&self, mut f: F)
    where
        F: FnMut(&T) -> T,
    {
        let guard = pin();
        // Acquire: pairs with the Release of the write that published the node.
        let mut current = held(self.inner.load_raw(Ordering::Acquire, &guard));
        // A node that lost a race is reused (it was never published; its birth era is older,
        // which is the safe direction).
        let mut spare: Option<NodeBox<T>> = None;
        loop {
            // SAFETY: protected by `guard` (loaded or revalidated under it).
            let next = f(unsafe { current.as_ref() }.value());
            let fresh = match spare.take() {
                Some(mut node) => {
                    *node = next;
                    node
                }
                None => NodeBox::new(next),
            };
            // AcqRel: as in `store`. Acquire on failure: the observed node is read next round.
            match self.inner.compare_exchange_raw(
                current.as_ptr(),
                fresh.as_ptr(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(old) => {
                    let _published = fresh.into_raw();
                    // SAFETY: unlinked by the exchange above; only this call retires it.
                    unsafe { retire_unlinked(held(old)) };
                    return;
                }
                Err(seen) => {
                    spare = Some(fresh);
                    // Acquire: the reload (if any) pairs with the Release of the write it reads.
                    current = held(self.inner.revalidate_raw(seen, Ordering::Acquire, &guard));
                }
            }
        }
    }

    /// A view that projects each loaded value through `f` (keep `f` cheap: it runs on every
    /// load). The target may be unsized (`|s: &String| s.as_str()`).
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// struct Config {
    ///     port: u16,
    ///     workers: usize,
    /// }
    /// let config = kovan::Atom::new(Config { port: 5432, workers: 4 });
    /// let port = config.map(|c| &c.port);
    /// assert_eq!(*port.load(), 5432);
    /// # assert_eq!(config.load().workers, 4);
    /// ```
    pub fn map<'a, R: ?Sized + 'a, F>(&'a self, f: F) -> AtomMap<'a, T, R, F>
    where
        F: Fn(&T) -> &R,
    {
        AtomMap {
            atom: self,
            project: f,
            _target: PhantomData,
        }
    }
}

impl<T: Send + Sync + 'static> Drop for Atom<T> {
    /// Drops the current value here and now, as a `Box` (and 0.1.12, and `ArcSwap`) would:
    /// a value holding a file, a socket or a lock releases it at this drop, not at a later
    /// flush. A value that owns further `Atom`s drops them in turn, recursively, like nested
    /// `Box`es. Values replaced earlier were retired then and are dropped once no guard can
    /// reach them.
    fn drop(&mut self) {
        let node = held(self.inner.load_exclusive());
        // SAFETY: every `AtomGuard` and `AtomMapGuard` borrows this cell, so `&mut self` means
        // none is alive on any thread (whatever handed us exclusive access, a join or the last
        // `Arc`, orders their end before this); the current value is never retired (only
        // unlinked nodes are), and came from `NodeBox::new`.
        unsafe { Node::dealloc(node) };
    }
}

impl<T: Send + Sync + 'static + Default> Default for Atom<T> {
    /// A cell holding `T::default()`.
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: Send + Sync + 'static> From<T> for Atom<T> {
    /// A cell holding `val`.
    fn from(val: T) -> Self {
        Self::new(val)
    }
}

impl<T: Send + Sync + 'static + fmt::Debug> fmt::Debug for Atom<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Atom")
            .field("value", &*self.load())
            .finish()
    }
}

/// A pinned borrow of the value an [`Atom`] or [`AtomOption`] held when it was loaded; derefs to
/// `T`. The value stays alive until the guard drops.
///
/// Not `Send`: it holds the current thread's pin.
pub struct AtomGuard<'a, T> {
    node: NonNull<Node<T>>,
    _guard: Guard,
    _cell: PhantomData<&'a T>,
}

impl<T> AtomGuard<'_, T> {
    /// `node` was protected under `guard`.
    fn new(guard: Guard, node: NonNull<Node<T>>) -> Self {
        Self {
            node,
            _guard: guard,
            _cell: PhantomData,
        }
    }
}

impl<T> Deref for AtomGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the node was protected under `_guard`, which keeps it allocated until it drops.
        unsafe { self.node.as_ref() }.value()
    }
}

impl<T: fmt::Debug> fmt::Debug for AtomGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for AtomGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// A value taken out of an [`Atom`] ([`swap`](Atom::swap)) or an [`AtomOption`]
/// ([`take`](AtomOption::take)).
///
/// It owns the unlinked node itself, so readers that loaded the value before it was taken and
/// the holder see one object (interior mutability included). Dropping it retires the node: the
/// value's destructor runs once no guard can reach it.
///
/// ```
/// # use kovan_atom as kovan;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use kovan::Atom;
///
/// let atom = Atom::new(AtomicUsize::new(0));
/// let reader = atom.load();
/// let removed = atom.swap(AtomicUsize::new(100));
/// reader.fetch_add(5, Ordering::Relaxed);
/// assert_eq!(removed.load(Ordering::Relaxed), 5); // the same object
/// ```
pub struct Removed<T: Send + Sync + 'static> {
    /// Unlinked by this thread; not retired until the drop.
    node: NonNull<Node<T>>,
}

// SAFETY: a `Removed` owns its node like a `Box`; other threads may still read the value through
// guards, which `T: Sync` allows, and the destructor may run anywhere, which `T: Send` allows.
unsafe impl<T: Send + Sync + 'static> Send for Removed<T> {}
// SAFETY: shared access hands out only `&T`; `T: Sync`.
unsafe impl<T: Send + Sync + 'static> Sync for Removed<T> {}

impl<T: Send + Sync + 'static> Removed<T> {
    /// Takes the value out and frees the node now, without waiting for readers.
    ///
    /// # Safety
    /// No other thread can still read the value: no guard obtained before the swap or take is
    /// alive (for example, every reader thread has been joined).
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// let atom = kovan::Atom::new(vec![1]);
    /// let old = atom.swap(vec![2]);
    /// // SAFETY: single-threaded; no guard of the old value is alive.
    /// assert_eq!(unsafe { old.into_inner_unchecked() }, [1]);
    /// ```
    pub unsafe fn into_inner_unchecked(self) -> T {
        let this = ManuallyDrop::new(self);
        // SAFETY: unlinked, not retired, and no reader is left per the caller's contract.
        unsafe { Node::into_value(this.node) }
    }
}

impl<T: Send + Sync + 'static> Deref for Removed<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the node stays allocated until this `Removed` retires it.
        unsafe { self.node.as_ref() }.value()
    }
}

impl<T: Send + Sync + 'static> Drop for Removed<T> {
    fn drop(&mut self) {
        // SAFETY: unlinked when this `Removed` was made; retired only here.
        unsafe { retire_unlinked(self.node) };
    }
}

impl<T: Send + Sync + 'static + PartialEq> PartialEq for Removed<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Send + Sync + 'static + PartialEq> PartialEq<T> for Removed<T> {
    fn eq(&self, other: &T) -> bool {
        **self == *other
    }
}

impl<T: Send + Sync + 'static + fmt::Debug> fmt::Debug for Removed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: Send + Sync + 'static + fmt::Display> fmt::Display for Removed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// An [`Atom`] that may be empty.
///
/// ```
/// # use kovan_atom as kovan;
/// use kovan::AtomOption;
///
/// let slot: AtomOption<String> = AtomOption::none();
/// assert!(slot.load().is_none());
/// slot.store_some(String::from("hello"));
/// assert_eq!(&*slot.load().unwrap(), "hello");
/// assert_eq!(*slot.take().unwrap(), "hello");
/// assert!(slot.is_none());
/// ```
pub struct AtomOption<T: Send + Sync + 'static> {
    /// Null when empty; otherwise a node made by `NodeBox::new` (default domain).
    inner: Atomic<Node<T>>,
}

impl<T: Send + Sync + 'static> AtomOption<T> {
    /// An empty cell.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// assert!(kovan::AtomOption::<u8>::none().is_none());
    /// ```
    #[inline]
    pub fn none() -> Self {
        Self {
            inner: Atomic::null(),
        }
    }

    /// A cell holding `val`.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// assert!(kovan::AtomOption::some(1).is_some());
    /// ```
    #[inline]
    pub fn some(val: T) -> Self {
        Self {
            inner: Atomic::new(NodeBox::new(val).into_raw()),
        }
    }

    /// Pins the current thread and returns a guard to the current value, if any.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// let slot = kovan::AtomOption::some(7);
    /// assert_eq!(slot.load().map(|v| *v), Some(7));
    /// ```
    #[inline]
    pub fn load(&self) -> Option<AtomGuard<'_, T>> {
        let guard = pin();
        // Acquire: pairs with the Release of the write that published the node.
        let node = self.inner.load_raw(Ordering::Acquire, &guard);
        NonNull::new(node).map(|node| AtomGuard::new(guard, node))
    }

    /// Whether the cell is empty.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// assert!(kovan::AtomOption::<()>::default().is_none());
    /// ```
    #[inline]
    pub fn is_none(&self) -> bool {
        // Acquire: a caller that sees a value also sees what its writer did before storing it.
        self.inner.peek_raw(Ordering::Acquire).is_null()
    }

    /// Whether the cell holds a value.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// assert!(!kovan::AtomOption::<()>::none().is_some());
    /// ```
    #[inline]
    pub fn is_some(&self) -> bool {
        !self.is_none()
    }

    /// Stores `val`, retiring the previous value if there was one.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// let slot = kovan::AtomOption::none();
    /// slot.store_some(3);
    /// slot.store_some(4);
    /// assert_eq!(*slot.load().unwrap(), 4);
    /// ```
    #[inline]
    pub fn store_some(&self, val: T) {
        // AcqRel: as in `Atom::store`.
        let old = self
            .inner
            .swap_raw(NodeBox::new(val).into_raw(), Ordering::AcqRel);
        if let Some(old) = NonNull::new(old) {
            // SAFETY: unlinked by the swap above; only this call retires it.
            unsafe { retire_unlinked(old) };
        }
    }

    /// Empties the cell, retiring the value if there was one.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// let slot = kovan::AtomOption::some(3);
    /// slot.store_none();
    /// assert!(slot.is_none());
    /// ```
    #[inline]
    pub fn store_none(&self) {
        if let Some(old) = self.unlink() {
            // SAFETY: unlinked by `unlink`; only this call retires it.
            unsafe { retire_unlinked(old) };
        }
    }

    /// Empties the cell and returns the value, if there was one, as a [`Removed`].
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// let slot = kovan::AtomOption::some(String::from("x"));
    /// assert_eq!(*slot.take().unwrap(), "x");
    /// assert!(slot.take().is_none());
    /// ```
    pub fn take(&self) -> Option<Removed<T>> {
        self.unlink().map(|node| Removed { node })
    }

    fn unlink(&self) -> Option<NonNull<Node<T>>> {
        // Acquire: the old node's contents are read by its new owner or its destructor; storing
        // null publishes nothing.
        NonNull::new(self.inner.swap_raw(ptr::null_mut(), Ordering::Acquire))
    }
}

impl<T: Send + Sync + 'static> Drop for AtomOption<T> {
    /// Drops the current value, if any, here and now, as for [`Atom`].
    fn drop(&mut self) {
        if let Some(node) = NonNull::new(self.inner.load_exclusive()) {
            // SAFETY: as for `Atom`: the guards borrow this cell, so none is alive; the current
            // value is never retired, and came from `NodeBox::new`.
            unsafe { Node::dealloc(node) };
        }
    }
}

impl<T: Send + Sync + 'static> Default for AtomOption<T> {
    /// An empty cell.
    fn default() -> Self {
        Self::none()
    }
}

impl<T: Send + Sync + 'static + fmt::Debug> fmt::Debug for AtomOption<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.load() {
            Some(value) => f.debug_tuple("AtomOption::Some").field(&*value).finish(),
            None => f.write_str("AtomOption::None"),
        }
    }
}

/// A projected view of an [`Atom`], made by [`Atom::map`]: each load borrows the whole value and
/// derefs to the part `F` selects.
pub struct AtomMap<'a, T: Send + Sync + 'static, R: ?Sized, F> {
    atom: &'a Atom<T>,
    project: F,
    _target: PhantomData<R>,
}

impl<'a, T: Send + Sync + 'static, R: ?Sized, F> AtomMap<'a, T, R, F>
where
    F: Fn(&T) -> &R,
{
    /// Loads the value and projects it.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// let atom = kovan::Atom::new((String::from("name"), 3));
    /// let name = atom.map(|pair| &pair.0);
    /// assert_eq!(&*name.load(), "name");
    /// ```
    #[inline]
    pub fn load(&self) -> AtomMapGuard<'a, T, R, F> {
        let inner = self.atom.load();
        let projected = NonNull::from((self.project)(&inner));
        AtomMapGuard {
            projected,
            _inner: inner,
            _project: PhantomData,
        }
    }
}

/// The guard of an [`AtomMap`] load: keeps the whole value alive and derefs to the projection.
pub struct AtomMapGuard<'a, T, R: ?Sized, F>
where
    T: Send + Sync + 'static,
    F: Fn(&T) -> &R,
{
    /// Borrowed from the value `_inner` keeps alive (or `'static`: `F` can return nothing else).
    projected: NonNull<R>,
    _inner: AtomGuard<'a, T>,
    _project: PhantomData<F>,
}

impl<T, R: ?Sized, F> Deref for AtomMapGuard<'_, T, R, F>
where
    T: Send + Sync + 'static,
    F: Fn(&T) -> &R,
{
    type Target = R;

    #[inline]
    fn deref(&self) -> &R {
        // SAFETY: points into the value `_inner` keeps alive, or to 'static data.
        unsafe { self.projected.as_ref() }
    }
}

impl<T, R: ?Sized + fmt::Debug, F> fmt::Debug for AtomMapGuard<'_, T, R, F>
where
    T: Send + Sync + 'static,
    F: Fn(&T) -> &R,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T, R: ?Sized + fmt::Display, F> fmt::Display for AtomMapGuard<'_, T, R, F>
where
    T: Send + Sync + 'static,
    F: Fn(&T) -> &R,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
