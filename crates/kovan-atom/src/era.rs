//! `BirthEra` and `current_era`: the 0.1.12 era counter, with its 0.1.12 behaviour.
//!
//! Reclamation never read this counter, in 0.1.12 or here; it is kept for code that calls it.
//! The protocol's clock is [`Domain::era`](kovan_reclaim::Domain::era), and a node's birth era is
//! [`NodeBox::birth_era`](crate::NodeBox::birth_era) or
//! [`RetiredNode::birth_era`](crate::RetiredNode::birth_era).
#![allow(deprecated, reason = "this module defines the deprecated items")]

extern crate std;

use core::cell::Cell;
use core::sync::atomic::{AtomicU64, Ordering};

/// Each thread moves the counter on its first [`BirthEra::new`] and then once every this many.
const CALLS_PER_ERA: u32 = 256;

/// The counter; 0 until some thread makes a `BirthEra`.
static ERA: AtomicU64 = AtomicU64::new(0);

std::thread_local! {
    /// `BirthEra::new` calls made by this thread (wrapping).
    static CALLS: Cell<u32> = const { Cell::new(0) };
}

/// A reading of the 0.1.12 era counter, taken when an object is created.
///
/// As in 0.1.12, [`BirthEra::new`] moves the counter (on each thread's first call, then once
/// every 256 calls of that thread) and [`current_era`] reads it; nothing else does, and
/// reclamation does not look at it.
///
/// ```
/// # #![allow(deprecated)]
/// # use kovan_atom as kovan;
/// use kovan::{BirthEra, current_era};
///
/// let born = BirthEra::new();
/// for _ in 0..300 {
///     let _ = BirthEra::new();
/// }
/// assert!(born.is_older_than(current_era()));
/// ```
#[deprecated(
    note = "not part of reclamation; use `Domain::era` for the era clock, \
            `NodeBox::birth_era` or `RetiredNode::birth_era` for a node's birth era"
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BirthEra(u64);

impl BirthEra {
    /// Counts a creation on this thread (moving the counter when due, as 0.1.12 did) and reads
    /// the counter.
    pub fn new() -> Self {
        let calls = CALLS.with(|c| c.replace(c.get().wrapping_add(1)));
        if calls % CALLS_PER_ERA == 0 {
            // Relaxed: a counter read for its own value; it publishes nothing.
            ERA.fetch_add(1, Ordering::Relaxed);
        }
        Self(current_era())
    }

    /// The era number.
    pub fn value(&self) -> u64 {
        self.0
    }

    /// Whether this era is strictly before `other`.
    ///
    /// ```
    /// # #![allow(deprecated)]
    /// # use kovan_atom as kovan;
    /// let born = kovan::BirthEra::new();
    /// assert!(born.is_older_than(born.value() + 1));
    /// assert!(!born.is_older_than(born.value()));
    /// ```
    pub fn is_older_than(&self, other: u64) -> bool {
        self.0 < other
    }
}

impl Default for BirthEra {
    /// As [`BirthEra::new`].
    fn default() -> Self {
        Self::new()
    }
}

/// The 0.1.12 era counter (see [`BirthEra`]); only [`BirthEra::new`] moves it.
///
/// ```
/// # #![allow(deprecated)]
/// # use kovan_atom as kovan;
/// let before = kovan::current_era();
/// let born = kovan::BirthEra::new();
/// assert!(born.value() >= before && kovan::current_era() >= born.value());
/// ```
#[deprecated(
    note = "not part of reclamation; use `Domain::era` (e.g. `kovan::default_domain().era()`) \
            for the era clock"
)]
pub fn current_era() -> u64 {
    // Relaxed: as in `BirthEra::new`.
    ERA.load(Ordering::Relaxed)
}
