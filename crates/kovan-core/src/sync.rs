//! The single source of atomics for the workspace.
//!
//! Every protocol file imports its atomics and fences from here. Under `--cfg kovan_loom` they are loom's
//! model-checked types; otherwise they are `core`'s.

#[cfg(not(kovan_loom))]
pub use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence};

#[cfg(kovan_loom)]
pub use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence};

/// Hint to the processor that the caller is in a bounded retry loop.
#[inline]
pub fn spin_hint() {
    #[cfg(kovan_loom)]
    loom::thread::yield_now();
    #[cfg(not(kovan_loom))]
    core::hint::spin_loop();
}
