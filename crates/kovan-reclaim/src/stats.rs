//! Statistics: what a domain has retired and freed, and who holds memory back.

use core::fmt;

use kovan_core::ListHead;
use kovan_core::sync::Ordering;

use crate::domain::Domain;

/// A snapshot of a domain's reclamation, from [`Domain::stats`].
///
/// The counters live in each thread's slot (no shared counter on the hot path) and are summed
/// when this is taken, so while threads retire and free, the figures are a snapshot of moving
/// values: each is exact for some moment during the call, and `freed` never exceeds `retired`.
/// Once the domain is quiescent (no thread inside an operation), every figure is exact.
///
/// ```
/// use std::sync::Arc;
/// use kovan_reclaim::Domain;
///
/// let domain = Arc::new(Domain::new());
/// let handle = domain.register().unwrap();
/// let node = handle.alloc_node(7u32);
/// // SAFETY: never published, retired once.
/// unsafe { handle.retire_node(node) };
/// let stats = domain.stats();
/// assert_eq!((stats.retired, stats.freed, stats.unfreed()), (1, 0, 1));
/// assert_eq!(stats.registered_threads, 1);
/// handle.flush();
/// assert_eq!(domain.stats().unfreed(), 0);
/// println!("{}", domain.stats());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Nodes retired so far, by every thread ever registered: deferred functions included, and
    /// the empty records that a flush or an exit adds to place a small batch of them
    /// ([`Guard::defer`](crate::Guard::defer)).
    pub retired: u64,
    /// Of those, nodes freed so far (their destructor ran).
    pub freed: u64,
    /// Batches parked by exited threads and not adopted yet.
    pub parked_batches: usize,
    /// Thread ids claimed now: handles, owned guards, and the ids of thread-local caches.
    pub registered_threads: usize,
    /// The era clock.
    pub era: u64,
    /// The active reservation with the lowest era: the one that holds back the most memory.
    pub oldest_reservation: Option<OldestReservation>,
}

/// The active reservation with the lowest era, and the thread id that holds it
/// ([`LocalHandle::thread_id`](crate::LocalHandle::thread_id)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OldestReservation {
    /// Its reserved era: it holds back every batch with a node born at or before it.
    pub era: u64,
    /// The id of the thread (or owned guard) that holds it.
    pub thread_id: usize,
}

impl Stats {
    /// Retired nodes not freed yet.
    pub fn unfreed(&self) -> u64 {
        self.retired.saturating_sub(self.freed)
    }
}

impl fmt::Display for Stats {
    /// One line, for a log: `retired 130, freed 64, unfreed 66, parked 0, threads 2, era 3,
    /// oldest reservation era 2 (thread 1)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "retired {}, freed {}, unfreed {}, parked {}, threads {}, era {}, ",
            self.retired,
            self.freed,
            self.unfreed(),
            self.parked_batches,
            self.registered_threads,
            self.era
        )?;
        match self.oldest_reservation {
            Some(oldest) => write!(
                f,
                "oldest reservation era {} (thread {})",
                oldest.era, oldest.thread_id
            ),
            None => f.write_str("no active reservation"),
        }
    }
}

impl Domain {
    /// A snapshot of this domain's reclamation: retired, freed and unfreed nodes, parked
    /// batches, registered threads, the era, and the thread whose reservation holds back the
    /// most memory. Bound: one pass over the registered ids.
    pub fn stats(&self) -> Stats {
        let state = self.state();
        let registry = state.registry();
        let bound = registry.scan_bound();
        // Freed first: a freed count read with Acquire happens-after the retirement it counts
        // (through the batch's reference count), so the retired sum read afterwards covers it.
        let mut freed = 0;
        for tid in 0..bound {
            if let Some(slots) = registry.slots(tid) {
                // Acquire: pairs with the Release store in `Local::count_freed`.
                freed += slots.freed().load(Ordering::Acquire);
            }
        }
        let mut retired = 0;
        let mut oldest_reservation: Option<OldestReservation> = None;
        for tid in 0..registry.scan_bound() {
            let Some(slots) = registry.slots(tid) else {
                continue;
            };
            // Relaxed: a statistic; ordered after the freed sums above by their Acquire loads.
            retired += slots.retired().load(Ordering::Relaxed);
            let reservation = slots.reservation();
            // Relaxed: a snapshot for statistics; nothing is read through it.
            let era = reservation.reserved_era(Ordering::Relaxed);
            if era != 0
                && reservation.list_head(Ordering::Relaxed) != ListHead::Inactive
                && oldest_reservation.is_none_or(|oldest| era < oldest.era)
            {
                oldest_reservation = Some(OldestReservation {
                    era,
                    thread_id: tid,
                });
            }
        }
        Stats {
            retired,
            freed,
            // Relaxed: statistics.
            parked_batches: state.parked_count().load(Ordering::Relaxed),
            registered_threads: registry.claimed_count(),
            era: state.era().load(Ordering::Relaxed),
            oldest_reservation,
        }
    }
}
