//! A 16-byte atomic `(lo, hi)` pair.
//!
//! Every access, half-word ones included, goes through one [`sync::AtomicU128`](crate::sync):
//! `portable_atomic::AtomicU128` in normal builds (and under Miri), a model mutex under loom or
//! shuttle. Half-word stores and swaps are compare-and-swap loops on the whole pair. No access of
//! another width ever touches these bytes, so the type stays inside Rust's memory model. On
//! x86-64 portable-atomic uses `cmpxchg16b` (detected at run time), on AArch64 `CASP` or
//! `LDXP`/`STXP`.
//!
//! A native backend (64-bit half operations beside a 128-bit CAS on the same bytes) is not built:
//! it is mixed-size atomic access, undefined in Rust's model, and the protocol's hot paths (the
//! pin fast path and the protected load) never touch a `WordPair`. See `docs/architecture.md`.
//!
//! Progress: a half-word store or swap is a CAS loop and so lock-free, not wait-free, when another
//! thread keeps changing the other half. The protocol changes a pair's `hi` half only on rare tag
//! transitions, which bounds the retries in practice; the docs state the hardware argument.

use crate::sync::{AtomicU128, Ordering};

/// A 16-byte `(lo, hi)` pair of `u64`s updated atomically as one unit.
///
/// Every method takes the memory ordering the caller needs; the ordering of each method is that
/// ordering applied to the one 128-bit access (or to each access of its CAS loop).
pub struct WordPair {
    bits: AtomicU128,
}

#[inline]
const fn join(lo: u64, hi: u64) -> u128 {
    ((hi as u128) << 64) | lo as u128
}

#[inline]
const fn split(bits: u128) -> (u64, u64) {
    (bits as u64, (bits >> 64) as u64)
}

/// The ordering a failed CAS (a pure load) may use, derived from a success ordering.
#[inline]
fn load_part(order: Ordering) -> Ordering {
    match order {
        Ordering::Release | Ordering::Relaxed => Ordering::Relaxed,
        Ordering::AcqRel | Ordering::Acquire => Ordering::Acquire,
        _ => Ordering::SeqCst,
    }
}

/// Which half of a pair an update replaces.
#[derive(Clone, Copy)]
enum Half {
    Lo,
    Hi,
}

impl WordPair {
    crate::sync::const_fn! {
        /// Creates a pair holding `(lo, hi)`.
        pub fn new(lo: u64, hi: u64) -> Self {
            Self {
                bits: AtomicU128::new(join(lo, hi)),
            }
        }
    }

    /// Whether the backend's 16-byte operations are lock-free on this machine.
    ///
    /// The wait-freedom claims of the protocol need `true`; portable-atomic falls back to a lock
    /// on targets without a double-width CAS.
    pub fn is_lock_free() -> bool {
        AtomicU128::is_lock_free()
    }

    /// Loads both halves in one atomic access.
    #[inline]
    pub fn load(&self, order: Ordering) -> (u64, u64) {
        split(self.bits.load(order))
    }

    /// Loads the `lo` half (one atomic access of the whole pair).
    #[inline]
    pub fn load_lo(&self, order: Ordering) -> u64 {
        self.load(order).0
    }

    /// Loads the `hi` half (one atomic access of the whole pair).
    #[inline]
    pub fn load_hi(&self, order: Ordering) -> u64 {
        self.load(order).1
    }

    /// Replaces `half` with `f(lo, hi)` atomically, keeping the other half; returns the
    /// previous pair.
    #[inline]
    fn update(
        &self,
        half: Half,
        order: Ordering,
        mut f: impl FnMut(u64, u64) -> u64,
    ) -> (u64, u64) {
        let mut current = self.bits.load(load_part(order));
        loop {
            let (lo, hi) = split(current);
            let new = match half {
                Half::Lo => join(f(lo, hi), hi),
                Half::Hi => join(lo, f(lo, hi)),
            };
            match self
                .bits
                .compare_exchange_weak(current, new, order, load_part(order))
            {
                Ok(_) => return (lo, hi),
                Err(seen) => current = seen,
            }
        }
    }

    /// Stores both halves in one atomic access.
    #[inline]
    pub fn store(&self, lo: u64, hi: u64, order: Ordering) {
        self.bits.store(join(lo, hi), order);
    }

    /// Stores `lo`, keeping `hi`.
    #[inline]
    pub fn store_lo(&self, lo: u64, order: Ordering) {
        self.update(Half::Lo, order, |_, _| lo);
    }

    /// Stores `hi`, keeping `lo`.
    #[inline]
    pub fn store_hi(&self, hi: u64, order: Ordering) {
        self.update(Half::Hi, order, |_, _| hi);
    }

    /// Swaps `lo` for `new`, keeping `hi`; returns the previous `lo`.
    #[inline]
    pub fn exchange_lo(&self, new: u64, order: Ordering) -> u64 {
        self.update(Half::Lo, order, |_, _| new).0
    }

    /// Replaces the whole pair with `new` if it equals `current`.
    ///
    /// Returns the previous pair: `Ok` on success, `Err` with the pair seen on failure.
    #[inline]
    pub fn compare_exchange(
        &self,
        current: (u64, u64),
        new: (u64, u64),
        success: Ordering,
        failure: Ordering,
    ) -> Result<(u64, u64), (u64, u64)> {
        self.bits
            .compare_exchange(
                join(current.0, current.1),
                join(new.0, new.1),
                success,
                failure,
            )
            .map(split)
            .map_err(split)
    }

    /// Like [`compare_exchange`](Self::compare_exchange), but may fail spuriously.
    #[inline]
    pub fn compare_exchange_weak(
        &self,
        current: (u64, u64),
        new: (u64, u64),
        success: Ordering,
        failure: Ordering,
    ) -> Result<(u64, u64), (u64, u64)> {
        self.bits
            .compare_exchange_weak(
                join(current.0, current.1),
                join(new.0, new.1),
                success,
                failure,
            )
            .map(split)
            .map_err(split)
    }

    /// Replaces `lo` with `new` if it equals `current`, whatever `hi` holds.
    ///
    /// Returns the previous `lo`: `Ok` on success, `Err` with the `lo` seen on failure. Retries
    /// only while `lo` still matches and `hi` changed underneath.
    #[inline]
    pub fn compare_exchange_lo(&self, current: u64, new: u64, order: Ordering) -> Result<u64, u64> {
        let (seen, _) = self.update(
            Half::Lo,
            order,
            |lo, _| if lo == current { new } else { lo },
        );
        if seen == current { Ok(seen) } else { Err(seen) }
    }
}

impl core::fmt::Debug for WordPair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (lo, hi) = self.load(Ordering::Relaxed);
        f.debug_struct("WordPair")
            .field("lo", &lo)
            .field("hi", &hi)
            .finish()
    }
}

#[cfg(all(test, not(kovan_loom)))]
mod tests {
    use super::*;
    use crate::sync::Ordering::SeqCst;

    #[test]
    fn halves_are_independent() {
        let pair = WordPair::new(1, 2);
        assert_eq!(pair.load(SeqCst), (1, 2));
        pair.store_lo(10, SeqCst);
        assert_eq!(pair.load(SeqCst), (10, 2));
        pair.store_hi(20, SeqCst);
        assert_eq!(pair.load(SeqCst), (10, 20));
        assert_eq!(pair.exchange_lo(u64::MAX, SeqCst), 10);
        assert_eq!(pair.load_lo(SeqCst), u64::MAX);
        assert_eq!(pair.load_hi(SeqCst), 20);
        pair.store(3, 4, SeqCst);
        assert_eq!(pair.load(SeqCst), (3, 4));
    }

    #[test]
    fn compare_exchange_compares_both_halves() {
        let pair = WordPair::new(5, 6);
        assert_eq!(
            pair.compare_exchange((5, 7), (0, 0), SeqCst, SeqCst),
            Err((5, 6))
        );
        assert_eq!(
            pair.compare_exchange((4, 6), (0, 0), SeqCst, SeqCst),
            Err((5, 6))
        );
        assert_eq!(
            pair.compare_exchange((5, 6), (8, 9), SeqCst, SeqCst),
            Ok((5, 6))
        );
        assert_eq!(pair.load(SeqCst), (8, 9));
        let mut spins = 0;
        while pair
            .compare_exchange_weak((8, 9), (1, 1), SeqCst, SeqCst)
            .is_err()
        {
            spins += 1;
            assert!(spins < 1000, "weak CAS failed 1000 times in a row");
        }
        assert_eq!(pair.load(SeqCst), (1, 1));
    }

    #[test]
    fn compare_exchange_lo_keeps_hi() {
        let pair = WordPair::new(5, 6);
        assert_eq!(pair.compare_exchange_lo(4, 0, SeqCst), Err(5));
        assert_eq!(pair.compare_exchange_lo(5, 0, SeqCst), Ok(5));
        assert_eq!(pair.load(SeqCst), (0, 6));
    }

    #[test]
    fn extreme_values_round_trip() {
        let pair = WordPair::new(u64::MAX, 0);
        assert_eq!(pair.load(SeqCst), (u64::MAX, 0));
        pair.store(0, u64::MAX, SeqCst);
        assert_eq!(pair.load(SeqCst), (0, u64::MAX));
    }
}
