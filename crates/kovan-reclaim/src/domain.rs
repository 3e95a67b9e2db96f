//! A reclamation domain: the shared state that handles register with.

use alloc::sync::Arc;

use kovan_core::sync::Ordering;
use kovan_core::{DomainState, RegistryFull};

use crate::handle::LocalHandle;

/// A reclamation domain: threads register a [`LocalHandle`] with it, and nodes retired through
/// one of its handles are freed once no guard of the same domain can reach them.
///
/// The process-wide default domain (feature `std`) is one instance of this type; structures may
/// also use their own.
///
/// ```
/// use std::sync::Arc;
/// use kovan_reclaim::Domain;
///
/// let domain = Arc::new(Domain::new());
/// let handle = domain.register().expect("thread ids left");
/// let guard = handle.pin();
/// drop(guard);
/// ```
#[derive(Debug, Default)]
pub struct Domain {
    state: DomainState,
}

impl Domain {
    /// A fresh domain with its era clock at 1.
    pub fn new() -> Self {
        Self {
            state: DomainState::new(),
        }
    }

    /// Registers the calling thread. The handle keeps the domain alive.
    ///
    /// # Errors
    /// [`RegistryFull`] when [`kovan_core::MAX_THREADS`] handles are registered already.
    pub fn register(self: &Arc<Self>) -> Result<LocalHandle, RegistryFull> {
        LocalHandle::new_shared(Arc::clone(self))
    }

    /// The current era: stamp it as the birth era of an object before publishing the object.
    #[inline]
    pub fn era(&self) -> u64 {
        // Relaxed: any value read before publication is at most the era at publication, which
        // is the safe direction for a birth era.
        self.state.era().load(Ordering::Relaxed)
    }

    pub(crate) fn state(&self) -> &DomainState {
        &self.state
    }
}

impl Drop for Domain {
    fn drop(&mut self) {
        // Threads' cached handles (`Domain::pin`) that their threads have not released are
        // exited first; then the rest is drained.
        #[cfg(all(feature = "std", not(kovan_loom)))]
        crate::cache::release_claimed_then_drain(self, crate::cache::claim_all(self));
        #[cfg(not(all(feature = "std", not(kovan_loom))))]
        self.drain();
    }
}

impl Domain {
    /// No handle is left (each keeps the domain alive, and cached ones were exited), so no
    /// reader exists: take every slot list and parked batch through one last handle and free
    /// all of it.
    pub(crate) fn drain(&self) {
        if let Ok(tid) = self.state.registry().claim() {
            // SAFETY: `self` outlives the temporary state, and `tid` was claimed for it.
            let local = unsafe { crate::local::Local::new(self, tid) };
            local.drain_domain();
        }
    }
}
