//! Domain-wide state: the era clock, the parked-batch count and the thread-id registry.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ptr;

use crossbeam_utils::CachePadded;

use crate::slots::{MAX_PAGES, MAX_THREADS, SLOTS_PER_PAGE, SlotPage, ThreadSlots};
use crate::sync::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use crate::word_pair::WordPair;

/// Registration failed: [`MAX_THREADS`] threads are registered with the domain already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("all {MAX_THREADS} thread ids of the reclamation domain are in use")]
pub struct RegistryFull;

/// The era a domain's clock starts at. Era 0 is never an era: a reservation holding it has
/// nothing reserved.
const FIRST_ERA: u64 = 1;

/// How often a claim retries one bitmap word whose set bit another claimer took first.
const CLAIM_TRIES_PER_WORD: usize = 2;

/// Lock-free registry of thread ids and the pages holding their slots.
///
/// Ids are recycled through a bitmap of released ids (claim = `fetch_and`, release =
/// `fetch_or`); fresh ids come from a `fetch_add` on the high-water mark. Both finish in a bounded
/// number of steps: a claim visits each bitmap word at most [`CLAIM_TRIES_PER_WORD`] times.
pub struct Registry {
    pages: Box<[AtomicPtr<SlotPage>]>,
    high_water: CachePadded<AtomicUsize>,
    released: Box<[AtomicU64]>,
}

impl Registry {
    /// An empty registry: no pages, no ids.
    pub fn new() -> Self {
        Self {
            pages: (0..MAX_PAGES)
                .map(|_| AtomicPtr::new(ptr::null_mut()))
                .collect(),
            high_water: CachePadded::new(AtomicUsize::new(0)),
            released: (0..MAX_THREADS.div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

    /// Claims a thread id whose slots are allocated; recycled ids keep their slots' tags.
    pub fn claim(&self) -> Result<usize, RegistryFull> {
        let tid = match self.claim_released() {
            Some(tid) => tid,
            None => {
                // Relaxed: the id is only a number; the page it names is published with AcqRel.
                let tid = self.high_water.fetch_add(1, Ordering::Relaxed);
                if tid >= MAX_THREADS {
                    self.high_water.fetch_sub(1, Ordering::Relaxed);
                    return Err(RegistryFull);
                }
                tid
            }
        };
        self.ensure_page(tid / SLOTS_PER_PAGE);
        Ok(tid)
    }

    fn claim_released(&self) -> Option<usize> {
        let words = self.scan_bound().div_ceil(64);
        for (index, word) in self.released[..words].iter().enumerate() {
            // Acquire pairs with the releaser's AcqRel fetch_or: its deactivation of the slots
            // happens-before our reuse of them.
            let mut bits = word.load(Ordering::Acquire);
            for _ in 0..CLAIM_TRIES_PER_WORD {
                if bits == 0 {
                    break;
                }
                let bit = bits & bits.wrapping_neg();
                let previous = word.fetch_and(!bit, Ordering::AcqRel);
                if previous & bit != 0 {
                    return Some(index * 64 + bit.trailing_zeros() as usize);
                }
                bits = previous & !bit;
            }
        }
        None
    }

    fn ensure_page(&self, page: usize) {
        // Acquire pairs with the AcqRel CAS that published the page.
        if !self.pages[page].load(Ordering::Acquire).is_null() {
            return;
        }
        let fresh = Box::into_raw(SlotPage::new_boxed());
        // AcqRel: publishes the initialised page; on failure acquires the winner's page.
        if self.pages[page]
            .compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // SAFETY: `fresh` was never published, so this thread still owns it.
            drop(unsafe { Box::from_raw(fresh) });
        }
    }

    /// Claims the specific released id `tid`; `false` if it is not (or no longer) released.
    pub fn claim_id(&self, tid: usize) -> bool {
        if tid >= MAX_THREADS {
            return false;
        }
        let bit = 1u64 << (tid % 64);
        // AcqRel: as in `claim_released`.
        self.released[tid / 64].fetch_and(!bit, Ordering::AcqRel) & bit != 0
    }

    /// Returns `tid` for reuse. The caller has deactivated every reservation of the id.
    pub fn release(&self, tid: usize) {
        assert!(tid < MAX_THREADS, "thread id {tid} out of range");
        // AcqRel: the releaser's deactivation happens-before a later claimer's reuse (Acquire).
        let previous = self.released[tid / 64].fetch_or(1 << (tid % 64), Ordering::AcqRel);
        debug_assert_eq!(
            previous & (1 << (tid % 64)),
            0,
            "thread id {tid} released twice"
        );
    }

    /// One past the highest id ever claimed: scanners visit ids below this bound.
    #[inline]
    pub fn scan_bound(&self) -> usize {
        // Acquire pairs with nothing in particular: slots of ids claimed after this load are
        // covered by the Dekker argument of the protocol, not by this load.
        self.high_water.load(Ordering::Acquire).min(MAX_THREADS)
    }

    /// The slots of `tid`, or `None` while its page has not been allocated (then no thread can
    /// have activated them, and a scanner treats them as inactive).
    #[inline]
    pub fn slots(&self, tid: usize) -> Option<&ThreadSlots> {
        // Acquire pairs with the AcqRel CAS in `ensure_page`.
        let page = self.pages[tid / SLOTS_PER_PAGE].load(Ordering::Acquire);
        // SAFETY: pages are published fully initialised and freed only when the registry drops.
        unsafe { page.as_ref() }.map(|page| page.slots(tid % SLOTS_PER_PAGE))
    }

    /// Ids claimed now: below `scan_bound` and not released. A snapshot while ids move.
    pub fn claimed_count(&self) -> usize {
        let bound = self.scan_bound();
        let released: usize = self.released[..bound.div_ceil(64)]
            .iter()
            // Relaxed: a count for statistics; nothing is read through it.
            .map(|word| word.load(Ordering::Relaxed).count_ones() as usize)
            .sum();
        bound.saturating_sub(released)
    }

    /// Ids currently released and not yet claimed again. Bound: the words below `scan_bound`.
    pub fn released_ids(&self) -> Vec<usize> {
        let mut ids = Vec::new();
        let words = self.scan_bound().div_ceil(64);
        for (index, word) in self.released[..words].iter().enumerate() {
            let mut bits = word.load(Ordering::Acquire);
            while bits != 0 {
                ids.push(index * 64 + bits.trailing_zeros() as usize);
                bits &= bits - 1;
            }
        }
        ids
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        for page in self.pages.iter() {
            // Relaxed: `&mut self` means no other thread can touch the registry any more.
            let page = page.load(Ordering::Relaxed);
            if !page.is_null() {
                // SAFETY: allocated by `ensure_page` with Box and published once.
                drop(unsafe { Box::from_raw(page) });
            }
        }
    }
}

impl core::fmt::Debug for Registry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Registry")
            .field("scan_bound", &self.scan_bound())
            .finish_non_exhaustive()
    }
}

/// The shared state of one reclamation domain, as a value (the protocol receives it by reference).
#[derive(Debug)]
pub struct DomainState {
    era: CachePadded<AtomicU64>,
    parked_count: AtomicUsize,
    registry: Registry,
}

impl DomainState {
    /// A fresh domain: era 1, no parked batches, no threads.
    ///
    /// # Panics
    /// On a target where 16-byte atomics are not lock-free (portable-atomic would use a lock),
    /// since the protocol's progress guarantees would silently not hold.
    pub fn new() -> Self {
        // Miri emulates 16-byte atomics with a lock (still one width, so still model-sound).
        assert!(
            cfg!(miri) || WordPair::is_lock_free(),
            "kovan needs lock-free 16-byte atomics (cmpxchg16b on x86-64, CASP/LDXP on AArch64)"
        );
        Self {
            era: CachePadded::new(AtomicU64::new(FIRST_ERA)),
            parked_count: AtomicUsize::new(0),
            registry: Registry::new(),
        }
    }

    /// The era clock. Starts at 1 and only grows.
    #[inline]
    pub fn era(&self) -> &AtomicU64 {
        &self.era
    }

    /// Batches parked by exiting threads and not adopted yet.
    #[inline]
    pub fn parked_count(&self) -> &AtomicUsize {
        &self.parked_count
    }

    /// The thread-id registry and slot pages.
    #[inline]
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

impl Default for DomainState {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(all(test, not(kovan_loom)))]
mod tests {
    use super::*;
    use crate::slots::ListHead;
    use crate::sync::Ordering::SeqCst;

    #[test]
    fn era_starts_at_one() {
        let domain = DomainState::new();
        assert_eq!(domain.era().load(SeqCst), 1);
    }

    #[test]
    fn ids_are_dense_then_recycled() {
        let registry = Registry::new();
        let a = registry.claim().unwrap();
        let b = registry.claim().unwrap();
        assert_eq!((a, b), (0, 1));
        assert!(registry.slots(a).is_some());
        registry.release(a);
        assert_eq!(registry.released_ids(), [a]);
        assert_eq!(registry.claimed_count(), 1);
        assert_eq!(registry.claim().unwrap(), a);
        assert_eq!(registry.claim().unwrap(), 2);
        assert_eq!(registry.scan_bound(), 3);
    }

    #[test]
    fn recycled_ids_keep_their_tags() {
        let registry = Registry::new();
        let tid = registry.claim().unwrap();
        let slots = registry.slots(tid).unwrap();
        slots.reservation().list().store_hi(4, SeqCst);
        registry.release(tid);
        assert_eq!(registry.claim().unwrap(), tid);
        let slots = registry.slots(tid).unwrap();
        assert_eq!(
            slots.reservation().list().load(SeqCst),
            (ListHead::Inactive.encode(), 4)
        );
    }

    #[test]
    fn unallocated_pages_read_as_absent() {
        let registry = Registry::new();
        assert!(registry.slots(SLOTS_PER_PAGE * 3).is_none());
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "allocates every page of a 65,536-thread registry: minutes under Miri"
    )]
    fn full_registry_is_an_error() {
        let registry = Registry::new();
        for expected in 0..MAX_THREADS {
            assert_eq!(registry.claim(), Ok(expected));
        }
        assert_eq!(registry.claim(), Err(RegistryFull));
        assert_eq!(registry.claim(), Err(RegistryFull));
        registry.release(4242);
        assert!(registry.claim_id(4242));
        assert!(!registry.claim_id(4242));
        registry.release(4242);
        assert_eq!(registry.claim(), Ok(4242));
        assert_eq!(registry.claim(), Err(RegistryFull));
        assert_eq!(registry.scan_bound(), MAX_THREADS);
    }
}
