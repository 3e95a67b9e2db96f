//! The default domain and thread-local handle behind `Atom`, `NodeBox::new`, `retire`, `pin`
//! and `flush`: kovan-reclaim's; under loom, which gives kovan-reclaim none, one domain per model
//! execution and one handle per loom thread, so that models can run this crate's code as is.

#[cfg(not(kovan_loom))]
pub(crate) use kovan_reclaim::{default_domain, retire_raw, with_handle};
#[cfg(not(kovan_loom))]
pub use kovan_reclaim::{flush, pin};

#[cfg(kovan_loom)]
pub(crate) use self::model::{default_domain, retire_raw, with_handle};
#[cfg(kovan_loom)]
pub use self::model::{exit_thread, flush, pin};

#[cfg(kovan_loom)]
mod model {
    extern crate std;

    use alloc::sync::Arc;
    use core::cell::RefCell;

    use kovan_reclaim::{Destructor, Domain, Guard, LocalHandle, NodeHeader};

    loom::lazy_static! {
        static ref DOMAIN: Arc<Domain> = Arc::new(Domain::new());
    }

    loom::thread_local! {
        static HANDLE: RefCell<Option<LocalHandle>> = RefCell::new(None);
    }

    /// This execution's domain.
    pub(crate) fn default_domain() -> &'static Domain {
        &DOMAIN
    }

    /// Runs `f` with this loom thread's handle, registering it first if needed.
    pub(crate) fn with_handle<R>(f: impl FnOnce(&LocalHandle) -> R) -> R {
        HANDLE.with(|cell| {
            if cell.borrow().is_none() {
                let handle = DOMAIN.register().expect("a model registers few threads");
                *cell.borrow_mut() = Some(handle);
            }
            // A shared borrow, so that destructors run inside `f` can nest.
            f(cell.borrow().as_ref().expect("registered above"))
        })
    }

    /// Exits this loom thread's handle now. loom's `join` synchronises with the end of the
    /// thread's closure, not with its thread-local destructors (std's does), so a model whose
    /// joiner checks what the exit freed ends each thread with this.
    pub fn exit_thread() {
        let handle = HANDLE.with(|cell| cell.borrow_mut().take());
        drop(handle);
    }

    /// Pins this loom thread.
    pub fn pin() -> Guard {
        with_handle(LocalHandle::pin)
    }

    /// Pushes this loom thread's garbage through.
    pub fn flush() {
        with_handle(LocalHandle::flush);
    }

    /// As `kovan_reclaim::retire_raw`.
    ///
    /// # Safety
    /// As for [`LocalHandle::retire_raw`].
    pub(crate) unsafe fn retire_raw(node: *mut NodeHeader, destructor: Destructor) {
        // SAFETY: forwarded contract.
        with_handle(|handle| unsafe { handle.retire_raw(node, destructor) });
    }
}
