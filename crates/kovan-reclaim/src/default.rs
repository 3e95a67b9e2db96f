//! The process-wide default domain and the thread-local default handle (feature `std`).

use core::cell::Cell;
use core::ptr::NonNull;

use crate::domain::Domain;
use crate::handle::{FoundHandle, Guard, HandleBox, LocalHandle};
use crate::header::NodeHeader;
use crate::owned::OwnedGuard;
use crate::reclaim::Destructor;
use crate::stats::Stats;

#[cfg(not(feature = "shuttle"))]
static DEFAULT_DOMAIN: std::sync::OnceLock<Domain> = std::sync::OnceLock::new();

// Under shuttle the domain's atomics belong to one execution: each execution (tests run side by
// side on libtest's threads, each its own execution) gets its own default domain. Shuttle drops
// it at the end of the execution, but an abandoned execution (a failed test, a step bound)
// drops the thread-locals of its unfinished threads after its statics, so every default handle
// owns a reference (`register_default`): the domain is drained when the last one goes.
#[cfg(all(feature = "shuttle", not(kovan_mutant = "shuttle_domain_per_process")))]
shuttle::lazy_static! {
    static ref DEFAULT_DOMAIN: alloc::sync::Arc<Domain> = alloc::sync::Arc::new(Domain::new());
}
/// Mutant: one default domain for the whole process, shared by concurrent executions.
#[cfg(all(feature = "shuttle", kovan_mutant = "shuttle_domain_per_process"))]
static DEFAULT_DOMAIN: std::sync::LazyLock<alloc::sync::Arc<Domain>> =
    std::sync::LazyLock::new(|| alloc::sync::Arc::new(Domain::new()));

// Under shuttle, every shuttle thread (all run on one OS thread) needs its own handle.
#[cfg(not(feature = "shuttle"))]
use std::thread_local;
#[cfg(feature = "shuttle")]
use {kovan_core::sync::LocalKeyCell as _, kovan_core::sync::thread_local};

thread_local! {
    static HANDLE: ThreadHandle = ThreadHandle(register_default());
    /// `HANDLE`'s state while `HANDLE` is alive, for the common case: a constant thread-local
    /// without a destructor is read without the lazily initialised key's state check.
    static LIVE: Cell<Option<NonNull<HandleBox>>> = const { Cell::new(None) };
    /// A default-domain handle of this thread whose exit is running (the thread-local one
    /// being torn down, a temporary one, or either finishing at its last guard's drop). No
    /// destructor of its own, so it stays readable during the teardown.
    static EXITING: Cell<Option<NonNull<HandleBox>>> = const { Cell::new(None) };
    /// As `EXITING`, for a handle that `Domain::pin` registered (of any domain but the
    /// default one: a nested exit of another domain's handle puts the outer one back after).
    static EXITING_CACHED: Cell<Option<NonNull<HandleBox>>> = const { Cell::new(None) };
}

/// Runs `exit`, the exit of the handle `inner`, with `inner` published for this thread (in
/// `EXITING` for a default-domain handle, `EXITING_CACHED` for one `Domain::pin` registered):
/// destructors that the exit runs and that pin, retire or flush after the thread-local handle
/// (or cache) is gone join this exit (one id, a flat stack, freed round by round) instead of
/// registering a handle each, whose exits would nest.
pub(crate) fn run_exit(inner: NonNull<HandleBox>, cached: bool, exit: impl FnOnce()) {
    /// Puts the previous value back, also when a destructor's panic unwinds through `exit`
    /// (before the caller frees the handle).
    struct Restore(bool, Option<NonNull<HandleBox>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let cell = if self.0 { &EXITING_CACHED } else { &EXITING };
            cell.set(self.1);
        }
    }
    let cell = if cached { &EXITING_CACHED } else { &EXITING };
    #[cfg(not(kovan_mutant = "teardown_registers_temporary"))]
    let _restore = Restore(cached, cell.replace(Some(inner)));
    #[cfg(kovan_mutant = "teardown_registers_temporary")]
    let _ = (inner, cell);
    exit();
}

/// The handle of `domain` that `Domain::pin` registered and whose exit is running on this
/// thread, if any (see [`run_exit`]).
pub(crate) fn exiting_cached_handle(domain: &Domain) -> Option<NonNull<HandleBox>> {
    // `try_with`: shuttle's thread-locals can be gone during teardown.
    let exiting = EXITING_CACHED.try_with(Cell::get).ok().flatten()?;
    // SAFETY: published only while that handle's exit runs on this thread (`run_exit`).
    let view = unsafe { LocalHandle::view(exiting) };
    core::ptr::eq(view.domain(), domain).then_some(exiting)
}

/// The process-wide default domain used by [`pin`], [`flush`] and [`retire_raw`].
///
/// With the `shuttle` feature there is one per shuttle execution, and the reference is valid
/// only inside the execution that returned it (as for any `shuttle::lazy_static`).
pub fn default_domain() -> &'static Domain {
    #[cfg(not(feature = "shuttle"))]
    return DEFAULT_DOMAIN.get_or_init(Domain::new);
    #[cfg(feature = "shuttle")]
    return &DEFAULT_DOMAIN;
}

fn register_default() -> LocalHandle {
    LocalHandle::new_default(default_domain(), owned_default())
        .unwrap_or_else(|full| panic!("kovan: {full}"))
}

/// What keeps the default domain alive for a handle: nothing (it lives as long as the
/// program), or under shuttle a reference to its execution's domain.
fn owned_default() -> Option<alloc::sync::Arc<Domain>> {
    #[cfg(any(
        not(feature = "shuttle"),
        kovan_mutant = "shuttle_handle_borrows_domain"
    ))]
    return None;
    #[cfg(all(
        feature = "shuttle",
        not(kovan_mutant = "shuttle_handle_borrows_domain")
    ))]
    return Some(alloc::sync::Arc::clone(&DEFAULT_DOMAIN));
}

/// An [`OwnedGuard`] on the default domain: a guard that may move between threads and be held
/// across an `.await` (see [`Domain::pin_owned`]).
///
/// ```
/// let guard = kovan_reclaim::pin_owned().unwrap();
/// std::thread::spawn(move || drop(guard)).join().unwrap();
/// ```
///
/// # Errors
/// [`RegistryFull`](crate::RegistryFull) when [`kovan_core::MAX_THREADS`] ids are in use.
pub fn pin_owned() -> Result<OwnedGuard, crate::RegistryFull> {
    OwnedGuard::new(default_domain(), owned_default())
}

/// [`Domain::stats`] of the default domain.
pub fn stats() -> Stats {
    default_domain().stats()
}

/// Runs `f` with the current thread's default handle. While a default-domain handle of this
/// thread runs its exit after the thread-local handle is torn down (or during that teardown),
/// `f` gets the exiting handle: what it retires is freed by the exit's next round. Otherwise,
/// after the thread-local handle is gone (a pin, retire or flush from a later thread-local
/// destructor), `f` gets a temporary handle with its own thread id, so the operation stays
/// protected and loses nothing.
#[inline]
pub fn with_handle<R>(f: impl FnOnce(&LocalHandle) -> R) -> R {
    // The common case inline; first use and teardown out of line.
    if let Ok(Some(inner)) = LIVE.try_with(Cell::get) {
        // SAFETY: set while the thread-local handle lives, cleared first thing in its drop,
        // so the handle outlives the call.
        let view = unsafe { LocalHandle::view(inner) };
        return f(&view);
    }
    f(&slow_handle())
}

/// The thread-local handle `HANDLE`; its drop clears `LIVE` before the handle exits.
struct ThreadHandle(LocalHandle);

impl Drop for ThreadHandle {
    fn drop(&mut self) {
        let _ = LIVE.try_with(|live| live.set(None));
    }
}

/// The handle for a call that did not find `LIVE` set: the thread-local one (initialised by
/// this call), or after its teardown began the exiting one of this thread, or a temporary one.
#[cold]
#[inline(never)]
fn slow_handle() -> FoundHandle {
    if let Ok(inner) = HANDLE.try_with(|handle| handle.0.raw()) {
        let _ = LIVE.try_with(|live| live.set(Some(inner)));
        // SAFETY: the thread-local handle, alive until this thread's teardown, which cannot
        // start during the call.
        return FoundHandle::View(unsafe { LocalHandle::view(inner) });
    }
    // `try_with`: shuttle's thread-locals, unlike this const one of std's, are gone after the
    // thread's teardown.
    match EXITING.try_with(Cell::get).ok().flatten() {
        // SAFETY: set only while that handle's exit runs on this thread, and put back before
        // its state is freed (`run_exit`).
        Some(exiting) => FoundHandle::View(unsafe { LocalHandle::view(exiting) }),
        None => FoundHandle::Temporary(register_default()),
    }
}

/// Pins the current thread on the default domain.
///
/// ```
/// let guard = kovan_reclaim::pin();
/// drop(guard);
/// ```
#[inline]
pub fn pin() -> Guard {
    with_handle(LocalHandle::pin)
}

/// Pushes the current thread's garbage through on the default domain (see
/// [`LocalHandle::flush`]).
pub fn flush() {
    with_handle(LocalHandle::flush);
}

/// Retires `node` on the default domain (see [`LocalHandle::retire_raw`]).
///
/// # Safety
/// As for [`LocalHandle::retire_raw`], with the default domain's era as birth era.
pub unsafe fn retire_raw(node: *mut NodeHeader, destructor: Destructor) {
    // SAFETY: forwarded contract.
    with_handle(|handle| unsafe { handle.retire_raw(node, destructor) });
}
