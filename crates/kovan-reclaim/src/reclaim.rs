//! Destructors: how a retired object is freed once no guard can reach it.
//!
//! A retirement installs one [`Destructor`] in the object's header; the thread that frees the
//! object's batch calls it once. [`boxed`] serves every `Box`-allocated object whose header is
//! its first field ([`Node`](crate::Node), and hand-built `#[repr(C)]` nodes).

use alloc::boxed::Box;

use crate::header::NodeHeader;

/// Runs the destructor of the object whose header is at the given address and frees its memory.
///
/// # Safety
/// Called once, by the thread that freed the object's batch, with the header of a live object
/// that the destructor's installer allocated in the matching way.
pub type Destructor = unsafe fn(*mut NodeHeader);

/// Drops and deallocates a `Box<T>` whose first field (offset 0 of a `#[repr(C)]` `T`) is the
/// header at `header`.
///
/// # Safety
/// - `header` is offset 0 of a live `T` allocated with `Box` (so `T` is `#[repr(C)]` with the
///   header as its first field: not a zero-sized or `packed` type), and carries the provenance
///   of the whole allocation (from `Box::into_raw` or a cast of it, never from a reference to
///   the header field);
/// - no thread can reach the object any more, and this is called once;
/// - `T` may be dropped on whichever thread runs this (`Send` in spirit).
///
/// As a [`Destructor`], the retirement's contract provides this.
pub unsafe fn boxed<T>(header: *mut NodeHeader) {
    // SAFETY: per the contract; the cast restores the pointer the object was allocated as.
    drop(unsafe { Box::from_raw(header.cast::<T>()) });
}

/// A deferred function behind the protocol header: a record that no reader ever reaches.
#[repr(C)]
struct Deferred<F> {
    header: NodeHeader,
    f: F,
}

/// Allocates the record of `f`, born at [`DEFERRED_BIRTH_ERA`](crate::config::DEFERRED_BIRTH_ERA)
/// (so that every active reservation is eligible for it); [`run_deferred::<F>`] is its destructor.
pub(crate) fn deferred<F: FnOnce() + Send + 'static>(f: F) -> *mut NodeHeader {
    #[cfg(not(kovan_mutant = "deferred_born_late"))]
    let birth = crate::config::DEFERRED_BIRTH_ERA;
    // Mutant: born after every era, so no reservation holds it.
    #[cfg(kovan_mutant = "deferred_born_late")]
    let birth = u64::MAX;
    let record = Box::new(Deferred {
        header: NodeHeader::new(birth),
        f,
    });
    Box::into_raw(record).cast()
}

/// Frees a record made by [`deferred`] and then calls its function, so that a panicking
/// function leaves nothing allocated.
///
/// # Safety
/// `header` came from [`deferred::<F>`], and this is called once.
pub(crate) unsafe fn run_deferred<F: FnOnce()>(header: *mut NodeHeader) {
    // SAFETY: per the contract, the record was allocated as a `Box<Deferred<F>>`.
    let record = unsafe { Box::from_raw(header.cast::<Deferred<F>>()) };
    let Deferred { f, .. } = *record;
    f();
}

/// Allocates a filler record: an empty deferred record that lets a small deferred batch be
/// placed (one node per eligible reservation); [`boxed::<NodeHeader>`] frees it.
pub(crate) fn filler() -> *mut NodeHeader {
    Box::into_raw(Box::new(NodeHeader::new(crate::config::DEFERRED_BIRTH_ERA)))
}
