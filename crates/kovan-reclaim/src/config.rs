//! Protocol constants (small under loom so that models reach the slow paths quickly).

/// Retired nodes a thread gathers before it first tries to place its batch; a batch that cannot
/// be placed grows by this many nodes before the next try.
#[cfg(not(loom))]
pub const RETIRE_FREQ: usize = 64;
/// Retired nodes a thread gathers before it first tries to place its batch (loom).
#[cfg(loom)]
pub const RETIRE_FREQ: usize = 2;

/// Retirements of one thread between two era advances by that thread.
#[cfg(not(loom))]
pub const EPOCH_FREQ: u64 = 128;
/// Retirements of one thread between two era advances by that thread (loom).
#[cfg(loom)]
pub const EPOCH_FREQ: u64 = 2;

/// Publish-and-recheck rounds of a protected load before it escalates.
#[cfg(not(loom))]
pub const PROTECT_ROUNDS: usize = 16;
/// Publish-and-recheck rounds of a protected load before it escalates (loom: 1, so models
/// reach the escalation).
#[cfg(loom)]
pub const PROTECT_ROUNDS: usize = 1;

/// The reserved era during an escalated protected load: every batch is eligible for the slot.
/// It is held for one pointer load, then lowered.
pub const ESCALATED_ERA: u64 = u64::MAX;
