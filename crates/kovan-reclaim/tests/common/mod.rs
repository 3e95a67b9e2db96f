//! Shared test support: a node type whose drops are counted exactly and whose canary is poisoned
//! on drop, so a reader of a freed node notices.
#![allow(dead_code)]

use std::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use kovan_reclaim::{Guard, LocalHandle, Node};

pub const LIVE: u64 = 0x5AFE_5AFE_5AFE_5AFE;
/// Payload values below this are recorded when dropped (keeps the record small).
pub const WATCHED_BELOW: u64 = 16;
pub const POISON: u64 = 0xDEAD_DEAD_DEAD_DEAD;

/// Counts creations and drops of its payloads.
#[derive(Default)]
pub struct Tally {
    pub created: AtomicUsize,
    pub dropped: AtomicUsize,
    /// The most payloads alive at once (sampled at each creation).
    pub peak: AtomicUsize,
    /// Values of dropped payloads, for tests that watch one node in particular.
    pub dropped_values: Mutex<Vec<u64>>,
}

impl Tally {
    pub fn was_dropped(&self, value: u64) -> bool {
        self.dropped_values.lock().unwrap().contains(&value)
    }

    pub fn live(&self) -> usize {
        // Drops first: every value counted as dropped was counted as created before, so the
        // later read of `created` is at least as large (the other order can underflow).
        let dropped = self.dropped.load(Ordering::SeqCst);
        self.created.load(Ordering::SeqCst) - dropped
    }
}

/// A payload with a canary; dropping it twice panics, dropping it poisons the canary.
pub struct Canary {
    pub canary: AtomicUsize,
    pub value: u64,
    tally: &'static Tally,
}

impl Canary {
    pub fn new(tally: &'static Tally, value: u64) -> Self {
        let created = tally.created.fetch_add(1, Ordering::SeqCst) + 1;
        // Saturating: drops counted by other threads since our increment may be newer.
        let live = created.saturating_sub(tally.dropped.load(Ordering::SeqCst));
        tally.peak.fetch_max(live, Ordering::SeqCst);
        Self {
            canary: AtomicUsize::new(LIVE as usize),
            value,
            tally,
        }
    }

    pub fn check(&self) {
        assert_eq!(
            self.canary.load(Ordering::SeqCst),
            LIVE as usize,
            "read a freed node"
        );
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        let previous = self.canary.swap(POISON as usize, Ordering::SeqCst);
        assert_eq!(previous, LIVE as usize, "dropped twice");
        if self.value < WATCHED_BELOW {
            self.tally.dropped_values.lock().unwrap().push(self.value);
        }
        self.tally.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// Every tally handed out, kept reachable from a static so Miri's leak check (which runs
/// without `-Zmiri-ignore-leaks`) does not count them.
static TALLIES: Mutex<Vec<&'static Tally>> = Mutex::new(Vec::new());

pub fn leak_tally() -> &'static Tally {
    let tally: &'static Tally = Box::leak(Box::default());
    TALLIES.lock().unwrap().push(tally);
    tally
}

pub fn alloc(handle: &LocalHandle, tally: &'static Tally, value: u64) -> *mut Node<Canary> {
    handle.alloc_node(Canary::new(tally, value)).as_ptr()
}

/// # Safety
/// `node` is unlinked and retired once.
pub unsafe fn retire(guard: &Guard, node: *mut Node<Canary>) {
    // SAFETY: forwarded.
    unsafe { guard.retire_node(NonNull::new(node).unwrap()) };
}
