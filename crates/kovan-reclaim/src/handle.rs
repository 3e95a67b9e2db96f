//! Thread handles and guards.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::fmt;
use core::marker::PhantomData;
#[cfg(all(feature = "std", not(kovan_loom)))]
use core::mem::ManuallyDrop;
use core::ptr::NonNull;

use kovan_core::RegistryFull;
use kovan_core::sync::{AtomicPtr, Ordering};

use crate::domain::Domain;
use crate::header::NodeHeader;
use crate::local::Local;
use crate::node::Node;
use crate::reclaim::{self, Destructor};

/// Owns a `Local` on the heap, together with what keeps its domain alive. Guards point at it;
/// whichever of the owner handle and the last guard goes second frees it.
pub(crate) struct HandleBox {
    local: Local,
    /// Keeps the domain alive; `None` for the process-wide default domain, which is `'static`
    /// (under shuttle it is per execution, and its handles own it too).
    #[allow(dead_code)]
    owned_domain: Option<Arc<Domain>>,
    /// Its exit publishes it for the thread (`default::run_exit`), so that destructors the exit
    /// runs and that pin its domain after the thread-local handle or cache is gone join this
    /// exit instead of registering handles whose exits would nest: the default domain's
    /// handles, and those `Domain::pin` registers.
    #[cfg(all(feature = "std", not(kovan_loom)))]
    joins_exit: JoinsExit,
}

/// How the exits of the handles `Domain::pin` registers are published.
#[cfg(all(
    feature = "std",
    not(kovan_loom),
    not(kovan_mutant = "cached_exit_not_joined")
))]
const CACHED_JOINS_EXIT: JoinsExit = JoinsExit::Cached;
/// Mutant: not published, so each destructor that pins registers a handle whose exit nests.
#[cfg(all(
    feature = "std",
    not(kovan_loom),
    kovan_mutant = "cached_exit_not_joined"
))]
const CACHED_JOINS_EXIT: JoinsExit = JoinsExit::No;

/// Where a handle's exit is published for the destructors it runs (see `HandleBox`).
#[cfg(all(feature = "std", not(kovan_loom)))]
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinsExit {
    /// Not published.
    No,
    /// A default-domain handle: joined by `kovan_reclaim::pin` and the other free functions.
    Default,
    /// A handle `Domain::pin` registered: joined by `Domain::pin` of the same domain.
    Cached,
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
            owned_domain: Some(domain),
            #[cfg(all(feature = "std", not(kovan_loom)))]
            joins_exit: JoinsExit::No,
        }))
    }

    /// A handle `Domain::pin` registers during the thread's teardown, after its cache is gone:
    /// as `new_shared`, and its exit is joined by the destructors it runs.
    #[cfg(all(feature = "std", not(kovan_loom)))]
    pub(crate) fn new_temporary(domain: Arc<Domain>) -> Result<Self, RegistryFull> {
        let mut handle = Self::new_shared(domain)?;
        // SAFETY: just created: no guard or view refers to the box yet.
        unsafe { handle.inner.as_mut() }.joins_exit = CACHED_JOINS_EXIT;
        Ok(handle)
    }

    /// Registers with the default domain; `owned` keeps it alive when it is not there for the
    /// rest of the program (shuttle's per-execution domain).
    #[cfg(all(feature = "std", not(kovan_loom)))]
    pub(crate) fn new_default(
        domain: &'static Domain,
        owned: Option<Arc<Domain>>,
    ) -> Result<Self, RegistryFull> {
        let tid = domain.state().registry().claim()?;
        // SAFETY: `domain` lives as long as the program, or as long as `owned`, which the box
        // keeps as long as the `Local`; `tid` was just claimed.
        let local = unsafe { Local::new(domain, tid) };
        Ok(Self::from_box(HandleBox {
            local,
            owned_domain: owned,
            joins_exit: JoinsExit::Default,
        }))
    }

    /// Registers the state of an owned guard: shared by the threads the guard moves to (see
    /// `Local::shared`), keeping the domain alive through `owned` unless it is the default one.
    #[cfg(all(feature = "std", not(kovan_loom)))]
    pub(crate) fn new_owned(
        domain: &Domain,
        owned: Option<Arc<Domain>>,
    ) -> Result<Self, RegistryFull> {
        let tid = domain.state().registry().claim()?;
        // SAFETY: `domain` is the default domain (it lives as long as the program, or as long as
        // `owned` under shuttle) or `owned`'s, which the box keeps; `tid` was just claimed.
        let local = unsafe { Local::with_mode(domain, tid, true) };
        Ok(Self::from_box(HandleBox {
            local,
            owned_domain: owned,
            joins_exit: JoinsExit::No,
        }))
    }

    /// Registers a handle for a thread-local cache: it does not keep `domain` alive.
    ///
    /// # Safety
    /// The handle is dropped before `domain` is (the cache or the domain's drop does it).
    #[cfg(all(feature = "std", not(kovan_loom)))]
    pub(crate) unsafe fn new_cached(domain: &Domain) -> Result<Self, RegistryFull> {
        let tid = domain.state().registry().claim()?;
        // SAFETY: forwarded contract; `tid` was just claimed.
        let local = unsafe { Local::new(domain, tid) };
        Ok(Self::from_box(HandleBox {
            local,
            owned_domain: None,
            joins_exit: CACHED_JOINS_EXIT,
        }))
    }

    /// Re-points the handle at `domain`, its own domain, through a reference taken now.
    #[cfg(all(feature = "std", not(kovan_loom)))]
    pub(crate) fn rebind_domain(&self, domain: &Domain) {
        self.local().rebind_domain(domain);
    }

    /// Gives up ownership: the state is freed by [`from_raw`](Self::from_raw)'s handle.
    #[cfg(all(feature = "std", not(kovan_loom)))]
    pub(crate) fn into_raw(self) -> NonNull<HandleBox> {
        ManuallyDrop::new(self).inner
    }

    /// The owner handle of a state given up by [`into_raw`](Self::into_raw).
    ///
    /// # Safety
    /// `inner` came from `into_raw`, and this is its only owner handle.
    #[cfg(all(feature = "std", not(kovan_loom)))]
    pub(crate) unsafe fn from_raw(inner: NonNull<HandleBox>) -> Self {
        Self {
            inner,
            _not_send: PhantomData,
        }
    }

    /// The state this handle owns, for a [`view`](Self::view) of it.
    #[cfg(all(feature = "std", not(kovan_loom)))]
    #[inline]
    pub(crate) fn raw(&self) -> NonNull<HandleBox> {
        self.inner
    }

    fn from_box(handle: HandleBox) -> Self {
        let inner = NonNull::from(Box::leak(Box::new(handle)));
        Self {
            inner,
            _not_send: PhantomData,
        }
    }

    /// A handle on `inner` that does not own it (never dropped).
    ///
    /// # Safety
    /// `inner` is a live handle state of the current thread, and it stays alive while the view
    /// is used.
    #[cfg(all(feature = "std", not(kovan_loom)))]
    pub(crate) unsafe fn view(inner: NonNull<HandleBox>) -> ManuallyDrop<LocalHandle> {
        ManuallyDrop::new(Self {
            inner,
            _not_send: PhantomData,
        })
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
    ///   for new readers of this domain, and that is retired exactly once; it carries the
    ///   provenance the destructor needs (for [`reclaim::boxed`], that of the whole allocation:
    ///   a cast of the object pointer, not a reference to the header field);
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
        // SAFETY: `Node<T>` is repr(C) with its header first and Box-allocated by `Node::alloc`;
        // the rest of the contract is forwarded.
        unsafe { self.retire_raw(node.as_ptr().cast(), reclaim::boxed::<Node<T>>) }
    }

    /// Allocates a node holding `value`, stamped with the domain's current era.
    pub fn alloc_node<T>(&self, value: T) -> NonNull<Node<T>> {
        Node::alloc(self.local().domain(), value)
    }

    /// Pushes this thread's garbage through: places the open batch even if it is small, advances
    /// the era, and frees what no reservation holds, again for what the freed values'
    /// destructors retire meanwhile (a chain is freed by one call), and everything waiting on
    /// this thread's free list. Values a live guard of this thread can reach are kept, and so is
    /// what another thread's published reservation covers, and what waits on the free list of
    /// another thread that released it (that thread frees it over its next retirements and
    /// pins; at most [`FREE_LIST_CAP`](crate::FREE_LIST_CAP) batches per thread).
    /// A destructor that pins during the call publishes this thread's reservation again: what
    /// is retired after that and covered by it waits for the next pin or flush.
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
            // SAFETY: the owner handle is going and no guard is live.
            unsafe { exit_and_free(self.inner) };
        }
    }
}

/// Runs the thread's exit and frees its state once the exit completed, also when a destructor
/// that the exit runs panics (the exit then completes during the unwind, and so does this).
///
/// # Safety
/// `inner` is a live box whose owner handle is gone and whose last guard (if any) is dropping:
/// nothing else will free it.
unsafe fn exit_and_free(inner: NonNull<HandleBox>) {
    /// Frees the box when its thread exited; a destructor may have left a guard alive, whose
    /// drop then finishes the exit and frees it.
    struct FreeIfExited(NonNull<HandleBox>);
    impl Drop for FreeIfExited {
        fn drop(&mut self) {
            // SAFETY: live until freed right here (function contract).
            if unsafe { self.0.as_ref() }.local.has_exited() {
                // SAFETY: exited, so no handle, guard or view refers to the box any more.
                drop(unsafe { Box::from_raw(self.0.as_ptr()) });
            }
        }
    }
    let free = FreeIfExited(inner);
    // SAFETY: live until `free` drops (function contract).
    let handle = unsafe { inner.as_ref() };
    let exit = || handle.local.exit();
    #[cfg(all(feature = "std", not(kovan_loom)))]
    match handle.joins_exit {
        JoinsExit::No => exit(),
        joins => crate::default::run_exit(inner, joins == JoinsExit::Cached, exit),
    }
    #[cfg(not(all(feature = "std", not(kovan_loom))))]
    exit();
    drop(free);
}

/// A handle found for a call off the thread-local fast paths: a view of one this thread owns
/// elsewhere (an exiting handle, the thread-local one), or a temporary one the call owns.
#[cfg(all(feature = "std", not(kovan_loom)))]
pub(crate) enum FoundHandle {
    View(ManuallyDrop<LocalHandle>),
    Temporary(LocalHandle),
}

#[cfg(all(feature = "std", not(kovan_loom)))]
impl core::ops::Deref for FoundHandle {
    type Target = LocalHandle;

    fn deref(&self) -> &LocalHandle {
        match self {
            FoundHandle::View(view) => view,
            FoundHandle::Temporary(handle) => handle,
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

    /// Runs `f` on the state that retire, defer and flush go through: this guard's own thread's,
    /// or, for an owned guard (whose state other threads may share), the calling thread's handle
    /// of the same domain.
    #[inline]
    fn with_thread_local<R>(&self, f: impl FnOnce(&Local) -> R) -> R {
        #[cfg(all(feature = "std", not(kovan_loom)))]
        if self.local().is_shared() {
            // SAFETY: as in `local`.
            return match &unsafe { self.inner.as_ref() }.owned_domain {
                Some(domain) => crate::cache::with_handle(domain, |handle| f(handle.local())),
                None => crate::default::with_handle(|handle| f(handle.local())),
            };
        }
        f(self.local())
    }

    /// Loads `source` under this guard's protection.
    ///
    /// The result stays valid until the guard drops, provided it was reachable from a live
    /// structure when loaded: following a link out of a node that was already unlinked is not
    /// protected. The guard must belong to the domain that retires the pointee, and the pointer
    /// must have been published with `Release` or stronger (so that this load sees the birth
    /// era written before publication). The common case is one pointer load, one era load and
    /// one compare.
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

    /// Raises this guard's reservation to cover an object born at `birth_era` (see
    /// [`Node::birth_era`]), so that the object stays allocated until the guard drops even if
    /// another thread unlinks and retires it meanwhile. Call it before publishing a node this
    /// thread allocated, when the caller keeps using the node after publishing it; a pointer
    /// obtained through [`protect`](Self::protect) needs nothing. Costs a compare when the
    /// reservation covers the era already, otherwise one publication.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicPtr, Ordering};
    /// use kovan_reclaim::{Domain, Node};
    ///
    /// let domain = Arc::new(Domain::new());
    /// let handle = domain.register().unwrap();
    /// let shared = AtomicPtr::new(std::ptr::null_mut());
    /// let guard = handle.pin();
    /// let node = handle.alloc_node(5u32);
    /// // SAFETY: just allocated, not published.
    /// guard.cover(unsafe { node.as_ref() }.birth_era());
    /// shared.store(node.as_ptr(), Ordering::Release);
    /// // Another thread may unlink and retire `node` now; it stays valid under `guard`.
    /// // SAFETY: covered above.
    /// assert_eq!(*unsafe { node.as_ref() }.value(), 5);
    /// # drop(guard);
    /// # let last = shared.swap(std::ptr::null_mut(), Ordering::AcqRel);
    /// # // SAFETY: unlinked, retired once.
    /// # unsafe { handle.retire_node(std::ptr::NonNull::new(last).unwrap()) };
    /// ```
    #[inline]
    pub fn cover(&self, birth_era: u64) {
        self.local().cover(birth_era);
    }

    /// Retires `node` through this guard's thread (through an owned guard, the calling
    /// thread's); see [`LocalHandle::retire_raw`].
    ///
    /// # Safety
    /// As for [`LocalHandle::retire_raw`].
    ///
    /// # Panics
    /// Through an [`OwnedGuard`](crate::OwnedGuard), when the calling thread has no handle of
    /// the domain yet and every thread id is in use; `node` is then never freed (a reader may
    /// still hold it, so it cannot be freed at once).
    #[inline]
    pub unsafe fn retire_raw(&self, node: *mut NodeHeader, destructor: Destructor) {
        // SAFETY: forwarded contract.
        self.with_thread_local(|local| unsafe { local.retire(node, destructor) })
    }

    /// Runs `f` once every guard that is live now, on any thread, has dropped: for resources
    /// that are not nodes of this domain (a resized table's old bucket array, a buffer going
    /// back to a pool). Readers need no protected load for such a resource: loading its pointer
    /// under a guard is enough.
    ///
    /// `f` waits like a retired node born before the first era, so every reservation active when
    /// its batch is placed holds it, and it runs, on whichever thread frees that batch, after
    /// each of them was released (its thread pinned again after the era moved, flushed or
    /// exited). Deferred functions gather in a batch of their own, placed like a node batch
    /// (every [`RETIRE_FREQ`](crate::RETIRE_FREQ) calls, when the thread's node batch is
    /// placed, at [`flush`](Self::flush) and at thread exit): a stalled reader holds back the
    /// deferred functions, not the nodes retired beside them. [`flush`](Self::flush) and thread
    /// exit place a small deferred batch too (padded with empty records up to one per active
    /// reservation), so `f` runs once those reservations are released even if nothing else is
    /// deferred. A freed batch of deferred functions is run whole by the operation that frees
    /// it (never left on the free list for later operations). A panicking `f` propagates like a
    /// panicking destructor: the rest of its batch still runs.
    ///
    /// # Panics
    /// Through an [`OwnedGuard`](crate::OwnedGuard), when the calling thread has no handle of
    /// the domain yet and every thread id is in use (`f` is dropped without running).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use kovan_reclaim::Domain;
    ///
    /// let domain = Arc::new(Domain::new());
    /// let handle = domain.register().unwrap();
    /// let ran = Arc::new(AtomicUsize::new(0));
    /// let counter = Arc::clone(&ran);
    /// let guard = handle.pin();
    /// guard.defer(move || {
    ///     counter.fetch_add(1, Ordering::Relaxed);
    /// });
    /// drop(guard);
    /// handle.flush();
    /// assert_eq!(ran.load(Ordering::Relaxed), 1);
    /// ```
    pub fn defer<F: FnOnce() + Send + 'static>(&self, f: F) {
        self.with_thread_local(|local| {
            let record = crate::reclaim::deferred(f);
            // SAFETY: a fresh record that no reader can reach, handed over once, with its own
            // destructor.
            unsafe { local.defer(record, crate::reclaim::run_deferred::<F>) }
        });
    }

    /// Retires a node made by [`Node::alloc`]; see [`LocalHandle::retire_node`].
    ///
    /// # Safety
    /// As for [`LocalHandle::retire_node`].
    #[inline]
    pub unsafe fn retire_node<T: Send + 'static>(&self, node: NonNull<Node<T>>) {
        // SAFETY: `Node<T>` is repr(C) with its header first and Box-allocated by `Node::alloc`;
        // the rest of the contract is forwarded.
        unsafe { self.retire_raw(node.as_ptr().cast(), reclaim::boxed::<Node<T>>) }
    }

    /// Allocates a node holding `value`, stamped with the domain's current era.
    pub fn alloc_node<T>(&self, value: T) -> NonNull<Node<T>> {
        Node::alloc(self.local().domain(), value)
    }

    /// Pushes this thread's garbage through (through an owned guard, the calling thread's);
    /// what this guard can reach is kept.
    ///
    /// # Panics
    /// As [`retire_raw`](Self::retire_raw), through an owned guard.
    pub fn flush(&self) {
        self.with_thread_local(Local::flush);
    }

    /// The domain this guard protects against.
    pub fn domain(&self) -> &Domain {
        self.local().domain()
    }

    /// The id of the reservation this guard stands for, as named by
    /// [`Stats::oldest_reservation`](crate::Stats::oldest_reservation): its handle's id, or an
    /// owned guard's own.
    pub fn thread_id(&self) -> usize {
        self.local().tid()
    }
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        if self.local().unpin() {
            // SAFETY: the owner is gone and this was the last guard.
            unsafe { exit_and_free(self.inner) };
        }
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard").finish_non_exhaustive()
    }
}
