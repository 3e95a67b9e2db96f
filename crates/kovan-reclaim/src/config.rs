//! Protocol constants (small under loom so that models reach the slow paths quickly).

/// Retired nodes a thread gathers before it first tries to place its batch (or the number of
/// ids a placement scans, if larger); a batch that cannot be placed grows by this many nodes
/// before the next try.
#[cfg(not(kovan_loom))]
pub const RETIRE_FREQ: usize = 64;
/// Retired nodes a thread gathers before it first tries to place its batch (loom).
#[cfg(kovan_loom)]
pub const RETIRE_FREQ: usize = 2;

/// Retirements of one thread between two era advances by that thread.
#[cfg(not(kovan_loom))]
pub const EPOCH_FREQ: u64 = 128;
/// Retirements of one thread between two era advances by that thread (loom).
#[cfg(kovan_loom)]
pub const EPOCH_FREQ: u64 = 2;

/// Destructors run by each retire, deferral and reservation update while freed batches wait:
/// two, so that the list drains faster than one thread's own retirements refill it, and few,
/// so that the allocator's thread cache takes the freed blocks (glibc's holds 7 per size) for
/// the thread's next allocations.
pub const FREE_STEP: usize = 2;

/// Freed batches a thread may keep waiting after an operation; past it, the operation runs
/// whole batches until it is back at the cap (a reader that frees others' batches but retires
/// little). Adds at most this many batches per thread to the memory bound.
pub const FREE_LIST_CAP: usize = 2;

/// Publish-and-recheck rounds of a protected load before it escalates.
#[cfg(not(kovan_loom))]
pub const PROTECT_ROUNDS: usize = 16;
/// Publish-and-recheck rounds of a protected load before it escalates (loom: 1, so models
/// reach the escalation).
#[cfg(kovan_loom)]
pub const PROTECT_ROUNDS: usize = 1;

/// The birth era of a deferred function's record: below every era a reservation publishes (the
/// clock starts at 1), so every active reservation holds it; no node is born at it, which
/// tells records apart in a parked chain.
pub(crate) const DEFERRED_BIRTH_ERA: u64 = 0;

/// The reserved era during an escalated protected load: every batch is eligible for the slot.
/// It is held for one pointer load, then lowered.
pub const ESCALATED_ERA: u64 = u64::MAX;

/// The most retired-but-unfreed nodes a domain can hold (docs/protocol.md §5), given:
///
/// - `threads`: the most threads registered with the domain at once (T);
/// - `lagging`: how many of their reservations may lag, that is, sit stalled inside a guard or
///   stay published by a thread that is alive but not pinning while the era moves (k). A
///   thread that keeps loading inside one long guard is not lagging but outside the bound: each
///   protected load that finds the era moved raises its reservation, so the guard holds what
///   is retired while it lives, as in epoch schemes (§5, "A long guard");
/// - `unretired`: the most nodes allocated and not yet retired at once (n: the structure's
///   nodes plus what threads hold between allocating and retiring).
///
/// It does not cover a thread stalled inside an escalated protected load, nor destructors that
/// pin while a thread exits (§5). With
/// R = [`RETIRE_FREQ`], F = [`EPOCH_FREQ`], C = [`FREE_LIST_CAP`], S = T + R + T² (the largest
/// batch) and O = T·(T + R) + T² (open and parked batches), the bound is
/// `O + (2·T·F + O) + k·(n + T·(F/R + 4))·S + T·C·S` (the last term: freed batches waiting on
/// the threads' free lists).
///
/// ```
/// use kovan_reclaim::garbage_bound;
///
/// // One reader stalled in a guard over a one-node structure, two writers (T = 3).
/// assert_eq!(garbage_bound(3, 1, 1), 3_088);
/// assert_eq!(garbage_bound(65_536, 65_536, 1), usize::MAX);
/// ```
///
/// Saturates at `usize::MAX` instead of overflowing.
pub const fn garbage_bound(threads: usize, lagging: usize, unretired: usize) -> usize {
    let t = threads;
    let epoch = EPOCH_FREQ as usize;
    let t_squared = t.saturating_mul(t);
    let largest_batch = t.saturating_add(RETIRE_FREQ).saturating_add(t_squared);
    let open_and_parked = t
        .saturating_mul(t.saturating_add(RETIRE_FREQ))
        .saturating_add(t_squared);
    let kept_up = t.saturating_mul(2 * epoch).saturating_add(open_and_parked);
    let per_lagging = unretired
        .saturating_add(t.saturating_mul(epoch / RETIRE_FREQ + 4))
        .saturating_mul(largest_batch);
    let free_lists = t
        .saturating_mul(FREE_LIST_CAP)
        .saturating_mul(largest_batch);
    open_and_parked
        .saturating_add(kept_up)
        .saturating_add(lagging.saturating_mul(per_lagging))
        .saturating_add(free_lists)
}
