//! Test support: payloads whose creations and drops are counted exactly, with a canary that a
//! drop poisons and a checksum that readers verify, so a reader of a freed or torn value fails.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const LIVE: u64 = 0x5AFE_5AFE_5AFE_5AFE;
const POISON: u64 = 0xDEAD_DEAD_DEAD_DEAD;

/// Threaded tests run this many operations per thread (few under Miri, which is slow).
pub const OPS: usize = if cfg!(miri) { 50 } else { 10_000 };

/// Counts the payloads of one test. Declare one per test (`static TALLY: Tally = Tally::new();`):
/// the default domain is shared by every test of the binary, counters must not be.
pub struct Tally {
    created: AtomicUsize,
    dropped: AtomicUsize,
}

impl Tally {
    pub const fn new() -> Self {
        Self {
            created: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
        }
    }

    pub fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }

    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }

    /// Waits (see [`settle`]) until every payload created so far has dropped, then checks.
    pub fn assert_all_dropped(&self) {
        settle(|| self.dropped() >= self.created());
        assert_eq!(self.dropped(), self.created(), "created vs dropped");
    }
}

/// Flushes this thread until `done()` holds, or 20 s pass. Other tests of the binary may hold
/// batches in their reservations for a while (until they pin again or exit), hence the retries;
/// a leak never satisfies `done`, and the caller's assertion then fails.
pub fn settle(done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        kovan_atom::flush();
        if done() || Instant::now() > deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A counted payload: `value`, a checksum of it, and a canary.
pub struct Tracked {
    canary: AtomicU64,
    value: u64,
    check: u64,
    /// Free for tests: flags, hit counters.
    pub extra: AtomicUsize,
    tally: &'static Tally,
}

fn checksum(value: u64) -> u64 {
    value.rotate_left(17) ^ 0x9E37_79B9_7F4A_7C15
}

impl Tracked {
    pub fn new(tally: &'static Tally, value: u64) -> Self {
        tally.created.fetch_add(1, Ordering::SeqCst);
        Self {
            canary: AtomicU64::new(LIVE),
            value,
            check: checksum(value),
            extra: AtomicUsize::new(0),
            tally,
        }
    }

    /// The value, after checking that the payload is live and intact.
    pub fn get(&self) -> u64 {
        assert_eq!(
            self.canary.load(Ordering::SeqCst),
            LIVE,
            "read a dropped value"
        );
        assert_eq!(
            self.check,
            checksum(self.value),
            "read a value that was never stored"
        );
        self.value
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        Self::new(self.tally, self.get())
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let previous = self.canary.swap(POISON, Ordering::SeqCst);
        assert_eq!(previous, LIVE, "dropped twice");
        self.tally.dropped.fetch_add(1, Ordering::SeqCst);
    }
}
