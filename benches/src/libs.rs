//! [`Smr`] implementations, one per compared library, each using that library's documented API,
//! and THE LIBRARY LIST ([`libraries`]).

use std::marker::PhantomData;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering, fence};
use std::sync::{Arc, Mutex};

use crate::smr::{Ext, Node, SLOTS, Smr, is_marked, unmarked};
use crate::workloads::{Config, Outcome, Workload};

// =====================================================================================
// THE LIBRARY LIST — the single place to edit when adding a library.
//
// The workspace facade has the 0.1.12 API, so the same macro implements `Smr` for it; it also
// has statistics.
// =====================================================================================

impl_kovan_like!(Kovan, kovan, stats);
impl_kovan_like!(KovanOrig, kovan_orig);

/// Every library in the comparison, in report order (interleaved within each repetition).
pub fn libraries() -> Vec<Box<dyn Library>> {
    vec![
        lib::<Kovan>(),
        lib::<KovanOrig>(),
        lib::<Crossbeam>(),
        lib::<Seize>(),
        lib::<Haphazard>(),
        lib::<Leak>(),
    ]
}

// =====================================================================================

/// A library with its type erased, so that the driver can loop over a list.
pub trait Library: Sync {
    /// Report name.
    fn name(&self) -> &'static str;
    /// Resolved crate version.
    fn version(&self) -> String;
    /// Whether the `pin` workload applies.
    fn has_pin(&self) -> bool;
    /// Whether the project's targets are checked for this library.
    fn kovan_like(&self) -> bool;
    /// Run one measurement.
    fn run(&self, workload: Workload, threads: usize, cfg: &Config) -> Outcome;
    /// One flush on the calling (main) thread.
    fn flush_main(&self);
}

struct Lib<S>(PhantomData<fn() -> S>);

/// The type-erased entry for library `S`.
pub fn lib<S: Smr>() -> Box<dyn Library> {
    Box::new(Lib::<S>(PhantomData))
}

impl<S: Smr> Library for Lib<S> {
    fn name(&self) -> &'static str {
        S::NAME
    }
    fn version(&self) -> String {
        S::version()
    }
    fn has_pin(&self) -> bool {
        S::HAS_PIN
    }
    fn kovan_like(&self) -> bool {
        S::KOVAN_LIKE
    }
    fn run(&self, workload: Workload, threads: usize, cfg: &Config) -> Outcome {
        crate::workloads::run::<S>(workload, threads, cfg)
    }
    fn flush_main(&self) {
        let smr = S::new();
        let mut local = smr.local();
        smr.flush(&mut local);
    }
}

// ---------------------------------------------------------------- crossbeam-epoch

/// crossbeam-epoch 0.9: the global default collector, `epoch::pin()` per operation, `Atomic`
/// links with tag bits, `Guard::defer_destroy`.
pub struct Crossbeam;

fn cb_shared<'g, E: Ext>(
    p: *mut Node<Crossbeam, E>,
) -> crossbeam_epoch::Shared<'g, Node<Crossbeam, E>> {
    crossbeam_epoch::Shared::from(unmarked(p) as *const Node<Crossbeam, E>)
        .with_tag(usize::from(is_marked(p)))
}

fn cb_raw<E: Ext>(s: crossbeam_epoch::Shared<'_, Node<Crossbeam, E>>) -> *mut Node<Crossbeam, E> {
    let p = s.as_raw().cast_mut();
    if s.tag() != 0 {
        crate::smr::marked(p)
    } else {
        p
    }
}

impl Smr for Crossbeam {
    const NAME: &'static str = "crossbeam-epoch";
    type Header = ();
    type Link<E: Ext> = crossbeam_epoch::Atomic<Node<Self, E>>;
    type Local = ();
    type Guard<'a> = crossbeam_epoch::Guard;

    fn new() -> Self {
        Crossbeam
    }
    fn version() -> String {
        crate::sysinfo::dependency_version("crossbeam-epoch")
    }
    fn header() {}
    fn link<E: Ext>(p: *mut Node<Self, E>) -> Self::Link<E> {
        let a = crossbeam_epoch::Atomic::null();
        a.store(cb_shared(p), Ordering::Relaxed);
        a
    }
    fn local(&self) {}
    fn pin<'a>(&'a self, _local: &'a mut ()) -> Self::Guard<'a> {
        crossbeam_epoch::pin()
    }
    #[inline]
    fn protect<E: Ext>(
        g: &mut Self::Guard<'_>,
        _slot: usize,
        link: &Self::Link<E>,
    ) -> *mut Node<Self, E> {
        cb_raw(link.load(Ordering::Acquire, g))
    }
    #[inline]
    fn load<E: Ext>(g: &mut Self::Guard<'_>, link: &Self::Link<E>) -> *mut Node<Self, E> {
        cb_raw(link.load(Ordering::Acquire, g))
    }
    #[inline]
    fn store<E: Ext>(link: &Self::Link<E>, p: *mut Node<Self, E>) {
        link.store(cb_shared(p), Ordering::Release);
    }
    #[inline]
    fn swap<E: Ext>(
        g: &mut Self::Guard<'_>,
        link: &Self::Link<E>,
        p: *mut Node<Self, E>,
    ) -> *mut Node<Self, E> {
        cb_raw(link.swap(cb_shared(p), Ordering::AcqRel, g))
    }
    #[inline]
    fn cas<E: Ext>(
        g: &mut Self::Guard<'_>,
        link: &Self::Link<E>,
        current: *mut Node<Self, E>,
        new: *mut Node<Self, E>,
    ) -> Result<(), *mut Node<Self, E>> {
        link.compare_exchange(
            cb_shared(current),
            cb_shared(new),
            Ordering::AcqRel,
            Ordering::Acquire,
            g,
        )
        .map(|_| ())
        .map_err(|e| cb_raw(e.current))
    }
    #[inline]
    unsafe fn retire<E: Ext>(&self, g: &mut Self::Guard<'_>, p: *mut Node<Self, E>) {
        // SAFETY: `p` is unlinked and retired once; it was allocated as a `Box`, which is what
        // `Owned` uses, so `defer_destroy` may drop it once no pinned thread can see it.
        unsafe { g.defer_destroy(cb_shared(p)) }
    }
    fn flush(&self, _local: &mut ()) {
        crossbeam_epoch::pin().flush();
    }
}

// ---------------------------------------------------------------- seize

/// seize 0.5: one `Collector` per data structure, `collector.enter()` per operation,
/// `Guard::protect` / `swap` / `compare_exchange` on std `AtomicPtr`, `defer_retire` with
/// `reclaim::boxed`.
pub struct Seize {
    collector: seize::Collector,
}

impl Smr for Seize {
    const NAME: &'static str = "seize";
    type Header = ();
    type Link<E: Ext> = AtomicPtr<Node<Self, E>>;
    type Local = ();
    type Guard<'a> = seize::LocalGuard<'a>;

    fn new() -> Self {
        Seize {
            collector: seize::Collector::new(),
        }
    }
    fn version() -> String {
        crate::sysinfo::dependency_version("seize")
    }
    fn header() {}
    fn link<E: Ext>(p: *mut Node<Self, E>) -> Self::Link<E> {
        AtomicPtr::new(p)
    }
    fn local(&self) {}
    fn pin<'a>(&'a self, _local: &'a mut ()) -> Self::Guard<'a> {
        self.collector.enter()
    }
    #[inline]
    fn protect<E: Ext>(
        g: &mut Self::Guard<'_>,
        _slot: usize,
        link: &Self::Link<E>,
    ) -> *mut Node<Self, E> {
        seize::Guard::protect(g, link, Ordering::Acquire)
    }
    #[inline]
    fn load<E: Ext>(g: &mut Self::Guard<'_>, link: &Self::Link<E>) -> *mut Node<Self, E> {
        seize::Guard::protect(g, link, Ordering::Acquire)
    }
    #[inline]
    fn store<E: Ext>(link: &Self::Link<E>, p: *mut Node<Self, E>) {
        link.store(p, Ordering::Release);
    }
    #[inline]
    fn swap<E: Ext>(
        g: &mut Self::Guard<'_>,
        link: &Self::Link<E>,
        p: *mut Node<Self, E>,
    ) -> *mut Node<Self, E> {
        seize::Guard::swap(g, link, p, Ordering::AcqRel)
    }
    #[inline]
    fn cas<E: Ext>(
        g: &mut Self::Guard<'_>,
        link: &Self::Link<E>,
        current: *mut Node<Self, E>,
        new: *mut Node<Self, E>,
    ) -> Result<(), *mut Node<Self, E>> {
        seize::Guard::compare_exchange(g, link, current, new, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
    }
    #[inline]
    unsafe fn retire<E: Ext>(&self, g: &mut Self::Guard<'_>, p: *mut Node<Self, E>) {
        // SAFETY: `p` is unlinked (no thread that enters later can reach it), retired once, and
        // was allocated with `Box`, which is what `reclaim::boxed` frees.
        unsafe { seize::Guard::defer_retire(g, p, seize::reclaim::boxed::<Node<Self, E>>) }
    }
    #[inline]
    unsafe fn retire_unpinned<E: Ext>(&self, _local: &mut (), p: *mut Node<Self, E>) {
        // SAFETY: as in `retire`; `Collector::retire` is the guard-free form.
        unsafe {
            self.collector
                .retire(p, seize::reclaim::boxed::<Node<Self, E>>)
        }
    }
    fn flush(&self, _local: &mut ()) {
        seize::Guard::flush(&self.collector.enter());
    }
}

// ---------------------------------------------------------------- haphazard

/// haphazard 0.1: the global `Domain`, per-thread `HazardPointer`s created once per thread
/// (outside the timed region) and reused, `Domain::retire_ptr`, `Domain::eager_reclaim`.
pub struct Haphazard;

/// A haphazard "critical section": the thread's hazard pointers, reset when the operation ends.
pub struct HpGuard<'a> {
    hps: &'a mut [haphazard::HazardPointer<'static>; SLOTS],
    /// Bit `i`: slot `i` was used. Only those are reset, so that an operation pays for the
    /// slots it used, not for all [`SLOTS`].
    used: u64,
}

const _: () = assert!(
    SLOTS <= u64::BITS as usize,
    "HpGuard::used has one bit per slot"
);

impl Drop for HpGuard<'_> {
    fn drop(&mut self) {
        let mut used = self.used;
        while used != 0 {
            self.hps[used.trailing_zeros() as usize].reset_protection();
            used &= used - 1;
        }
    }
}

impl Smr for Haphazard {
    const NAME: &'static str = "haphazard";
    const HAS_PIN: bool = false;
    type Header = ();
    type Link<E: Ext> = AtomicPtr<Node<Self, E>>;
    type Local = [haphazard::HazardPointer<'static>; SLOTS];
    type Guard<'a> = HpGuard<'a>;

    fn new() -> Self {
        Haphazard
    }
    fn version() -> String {
        crate::sysinfo::dependency_version("haphazard")
    }
    fn header() {}
    atomic_ptr_links!();
    fn local(&self) -> Self::Local {
        std::array::from_fn(|_| haphazard::HazardPointer::new())
    }
    fn pin<'a>(&'a self, local: &'a mut Self::Local) -> Self::Guard<'a> {
        HpGuard {
            hps: local,
            used: 0,
        }
    }
    #[inline]
    fn protect<E: Ext>(
        g: &mut Self::Guard<'_>,
        slot: usize,
        link: &Self::Link<E>,
    ) -> *mut Node<Self, E> {
        g.used |= 1u64 << slot;
        let hp = &mut g.hps[slot];
        let mut w = link.load(Ordering::Relaxed);
        loop {
            if !is_marked(w) {
                // The documented protect-and-validate step.
                match hp.try_protect_ptr(w, link) {
                    Ok(_) => return w,
                    Err(now) => w = now,
                }
            } else {
                // A marked word: the hazard must hold the node's real (unmarked) address, and the
                // validation compares the whole word. Same steps as `try_protect_ptr`: publish,
                // the light barrier (a SeqCst fence in haphazard 0.1), reload and compare.
                hp.protect_raw(unmarked(w));
                fence(Ordering::SeqCst);
                let now = link.load(Ordering::Acquire);
                if now == w {
                    return w;
                }
                w = now;
            }
        }
    }
    #[inline]
    unsafe fn retire<E: Ext>(&self, _g: &mut Self::Guard<'_>, p: *mut Node<Self, E>) {
        // SAFETY: the caller's contract; hazard pointers retire without a guard.
        unsafe { hp_retire(p) }
    }
    #[inline]
    unsafe fn retire_unpinned<E: Ext>(&self, _local: &mut Self::Local, p: *mut Node<Self, E>) {
        // SAFETY: the caller's contract.
        unsafe { hp_retire(p) }
    }
    fn flush(&self, _local: &mut Self::Local) {
        haphazard::Domain::global().eager_reclaim();
    }
}

/// Retire into the global domain.
///
/// # Safety
///
/// `p` is unlinked (no new hazard can validate it), retired once, valid until reclaimed, and
/// Box-allocated (`P = Box<Node>`).
#[inline]
unsafe fn hp_retire<E: Ext>(p: *mut Node<Haphazard, E>) {
    // SAFETY: the caller's contract.
    unsafe {
        haphazard::Domain::global().retire_ptr::<Node<Haphazard, E>, Box<Node<Haphazard, E>>>(p)
    };
}

// ---------------------------------------------------------------- leak baseline

/// No reclamation: the physical limit for read cost. `retire` only records the pointer in a
/// thread-local buffer; nothing is freed while the measurement runs (the buffers are freed when
/// the measurement's instance is dropped, after every worker has been joined).
pub struct Leak {
    graveyard: Arc<Mutex<Vec<LeakedPtr>>>,
}

/// A retired node of any extension, with the function that frees it as its own type.
struct LeakedPtr {
    node: *mut u8,
    free: unsafe fn(*mut u8),
}
// SAFETY: the pointer is only dereferenced (freed) by `Leak::drop`, after every thread that could
// see the node has been joined.
unsafe impl Send for LeakedPtr {}

impl LeakedPtr {
    fn new<E: Ext>(p: *mut Node<Leak, E>) -> Self {
        /// # Safety
        ///
        /// `p` is a `Node<Leak, E>` of [`Node::alloc_ext`] that nobody else can reach.
        unsafe fn free<E: Ext>(p: *mut u8) {
            // SAFETY: the caller's contract.
            unsafe { Node::free(p.cast::<Node<Leak, E>>()) }
        }
        LeakedPtr {
            node: p.cast(),
            free: free::<E>,
        }
    }
}

/// Per-thread buffer of retired pointers; handed to the instance when the thread drops it.
pub struct LeakLocal {
    buf: Vec<LeakedPtr>,
    sink: Arc<Mutex<Vec<LeakedPtr>>>,
}

impl Drop for LeakLocal {
    fn drop(&mut self) {
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        sink.append(&mut self.buf);
    }
}

impl Drop for Leak {
    fn drop(&mut self) {
        let mut g = self.graveyard.lock().unwrap_or_else(|e| e.into_inner());
        for p in g.drain(..) {
            // SAFETY: every retired node is unlinked and, now that the instance is dropped, no
            // thread of the measurement is running.
            unsafe { (p.free)(p.node) };
        }
    }
}

impl Smr for Leak {
    const NAME: &'static str = "leak";
    type Header = ();
    type Link<E: Ext> = AtomicPtr<Node<Self, E>>;
    type Local = LeakLocal;
    type Guard<'a> = &'a mut LeakLocal;

    fn new() -> Self {
        Leak {
            graveyard: Arc::new(Mutex::new(Vec::new())),
        }
    }
    fn version() -> String {
        "-".to_string()
    }
    fn header() {}
    atomic_ptr_links!();
    fn local(&self) -> LeakLocal {
        LeakLocal {
            buf: Vec::with_capacity(1 << 16),
            sink: Arc::clone(&self.graveyard),
        }
    }
    fn pin<'a>(&'a self, local: &'a mut LeakLocal) -> Self::Guard<'a> {
        local
    }
    #[inline]
    fn protect<E: Ext>(
        _g: &mut Self::Guard<'_>,
        _slot: usize,
        link: &Self::Link<E>,
    ) -> *mut Node<Self, E> {
        link.load(Ordering::Acquire)
    }
    #[inline]
    unsafe fn retire<E: Ext>(&self, g: &mut Self::Guard<'_>, p: *mut Node<Self, E>) {
        g.buf.push(LeakedPtr::new(p));
    }
    fn flush(&self, _local: &mut LeakLocal) {}
}

/// A null node pointer for library `S`.
pub fn null<S: Smr>() -> *mut Node<S> {
    ptr::null_mut()
}
