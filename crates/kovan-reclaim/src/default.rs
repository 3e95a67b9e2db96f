//! The process-wide default domain and the thread-local default handle (feature `std`).

use std::sync::OnceLock;

use kovan_core::{Destructor, NodeHeader};

use crate::domain::Domain;
use crate::handle::{Guard, LocalHandle};

static DEFAULT_DOMAIN: OnceLock<Domain> = OnceLock::new();

std::thread_local! {
    static HANDLE: LocalHandle = register_default();
}

/// The process-wide default domain used by [`pin`], [`flush`] and [`retire_raw`].
pub fn default_domain() -> &'static Domain {
    DEFAULT_DOMAIN.get_or_init(Domain::new)
}

fn register_default() -> LocalHandle {
    LocalHandle::new_static(default_domain()).unwrap_or_else(|full| panic!("kovan: {full}"))
}

/// Runs `f` with the current thread's default handle. After the thread's TLS has been torn
/// down (a pin, retire or flush from another thread-local's destructor), `f` gets a temporary
/// handle with its own thread id instead, so the operation stays protected and loses nothing.
#[inline]
pub fn with_handle<R>(f: impl FnOnce(&LocalHandle) -> R) -> R {
    let mut f = Some(f);
    match HANDLE.try_with(|handle| (f.take().expect("called once"))(handle)) {
        Ok(result) => result,
        Err(_) => (f.take().expect("not called when TLS is gone"))(&register_default()),
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
