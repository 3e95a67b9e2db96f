//! `Atomic` / `Shared` / `NodeBox` and the 0.1.12 retirement path, with exact counts.
#![cfg(not(kovan_loom))]
mod common;

use std::mem::{ManuallyDrop, offset_of};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::thread;

use common::{OPS, Tally, Tracked};
use kovan_atom::{
    Atomic, Guard, Node, NodeBox, Ordering, Reclaimable, RetiredNode, Shared, pin, retire,
    retire_reclaimable,
};

#[test]
fn atomic_operations_and_shared_pointers() {
    static TALLY: Tally = Tally::new();
    let guard = pin();
    let cell = Atomic::from(NodeBox::new(Tracked::new(&TALLY, 1)));
    // Single-threaded: the orderings exercise the API. Relaxed loads and failure orderings are
    // allowed: protection makes them at least Acquire.
    let first = cell.load(Ordering::Relaxed, &guard);
    // SAFETY: loaded under `guard` from a live cell.
    assert_eq!(unsafe { first.deref() }.value().get(), 1);
    assert_eq!(first, first.clone());
    assert_eq!(
        format!("{first:?}"),
        format!("Shared({:p})", first.as_raw())
    );

    let second = NodeBox::new(Tracked::new(&TALLY, 2)).into_shared(&guard);
    let stale = Shared::null();
    let seen = cell
        .compare_exchange(stale, second, Ordering::AcqRel, Ordering::Relaxed, &guard)
        .unwrap_err();
    assert_eq!(seen, first, "a failed exchange reports the current pointer");
    let replaced = cell
        .compare_exchange_weak(seen, second, Ordering::AcqRel, Ordering::Relaxed, &guard)
        .or_else(|seen| {
            cell.compare_exchange(seen, second, Ordering::AcqRel, Ordering::Acquire, &guard)
        })
        .unwrap();
    assert_eq!(replaced, first);
    // SAFETY: a default-domain node unlinked above, retired once.
    unsafe { replaced.retire(&guard) };

    let third = NodeBox::new(Tracked::new(&TALLY, 3)).into_shared(&guard);
    let before = cell.swap(third, Ordering::AcqRel, &guard);
    assert_eq!(before, second);
    // SAFETY: unlinked by the swap above, retired once.
    unsafe { before.retire(&guard) };
    cell.store(Shared::null(), Ordering::Release);
    assert!(cell.load(Ordering::Acquire, &guard).is_null());
    // SAFETY: null is always allowed.
    assert!(unsafe { cell.load(Ordering::Acquire, &guard).as_ref() }.is_none());
    // SAFETY: `third` was unlinked by the store above, retired once.
    unsafe { third.retire(&guard) };
    drop(guard);
    TALLY.assert_all_dropped();
}

#[test]
fn node_box_owns_until_published() {
    static TALLY: Tally = Tally::new();
    let mut node = NodeBox::new(Tracked::new(&TALLY, 5));
    node.extra = AtomicUsize::new(9); // plain mutable access before publication
    assert!(node.birth_era() <= kovan_reclaim::default_domain().era());
    let value = node.into_inner();
    assert_eq!((value.get(), value.extra.load(SeqCst)), (5, 9));
    drop(value);
    drop(NodeBox::new(Tracked::new(&TALLY, 6)));
    let raw = NodeBox::from(Tracked::new(&TALLY, 7)).into_raw();
    // SAFETY: from `into_raw`, never published.
    let back = unsafe { NodeBox::from_raw(raw) };
    assert_eq!(format!("{:?}", NodeBox::new(1)), "NodeBox(1)");
    drop(back);
    assert_eq!(TALLY.dropped(), 3, "unpublished nodes are freed at once");
    TALLY.assert_all_dropped();
}

#[repr(C)]
struct Legacy {
    header: RetiredNode,
    payload: Tracked,
}

#[test]
fn retire_frees_header_first_boxes_exactly_once() {
    static TALLY: Tally = Tally::new();
    assert_eq!(offset_of!(Legacy, header), 0);
    let cell: Atomic<Legacy> = Atomic::null();
    let make = |v| {
        Box::into_raw(Box::new(Legacy {
            header: RetiredNode::new(),
            payload: Tracked::new(&TALLY, v),
        }))
    };
    // Release / AcqRel: publish each node; read the one replaced.
    cell.store(
        // SAFETY: a fresh allocation, freed only through `retire`.
        unsafe { Shared::from_raw(make(0)) },
        Ordering::Release,
    );
    for v in 1..=OPS as u64 {
        let guard = pin();
        // SAFETY: a fresh allocation.
        let old = cell.swap(
            unsafe { Shared::from_raw(make(v)) },
            Ordering::AcqRel,
            &guard,
        );
        // SAFETY: loaded (unlinked) under `guard`.
        assert_eq!(unsafe { old.deref() }.payload.get(), v - 1);
        // SAFETY: repr(C) with the header first, Box-allocated, unlinked above, retired once.
        unsafe { retire(old.as_raw()) };
    }
    let mut cell = cell;
    // SAFETY: `&mut` access: unlinked; retired once.
    unsafe { retire(*cell.get_mut()) };
    TALLY.assert_all_dropped();
    assert_eq!(TALLY.created(), OPS + 1);
}

#[repr(C)]
struct Pooled {
    header: RetiredNode,
    freed: &'static AtomicUsize,
}

// SAFETY: repr(C) with the header first; `dealloc` frees the Box the test allocates.
unsafe impl Reclaimable for Pooled {
    fn retired_node(&self) -> &RetiredNode {
        &self.header
    }

    fn retired_node_mut(&mut self) -> &mut RetiredNode {
        &mut self.header
    }

    unsafe fn dealloc(ptr: *mut Self) {
        // SAFETY: Box-allocated by the test, freed once, here.
        let node = unsafe { Box::from_raw(ptr) };
        node.freed.fetch_add(1, SeqCst);
    }
}

#[test]
fn retire_reclaimable_runs_the_types_dealloc() {
    static FREED: AtomicUsize = AtomicUsize::new(0);
    let count = if cfg!(miri) { 10 } else { 300 };
    for _ in 0..count {
        let mut node = Box::new(Pooled {
            header: RetiredNode::default(),
            freed: &FREED,
        });
        assert!(node.retired_node_mut().birth_era() >= 1);
        // SAFETY: repr(C), header first, never published, retired once.
        unsafe { retire_reclaimable(Box::into_raw(node)) };
    }
    common::settle(|| FREED.load(SeqCst) >= count);
    assert_eq!(FREED.load(SeqCst), count);
}

#[test]
#[allow(deprecated, reason = "checks the 0.1.12 era counter")]
fn birth_era_keeps_the_0_1_12_counter_apart_from_the_clock() {
    use kovan_atom::{BirthEra, current_era};
    let born = BirthEra::new();
    // Each thread moves the counter once in every 256 of its `BirthEra::new` calls.
    for _ in 0..256 {
        let _ = BirthEra::new();
    }
    assert!(born.is_older_than(current_era()));
    assert!(BirthEra::default() > born);
    // Headers are stamped from the domain's clock, which the counter does not touch.
    let header = RetiredNode::new();
    assert!(header.birth_era() <= kovan_reclaim::default_domain().era());
    assert!(format!("{header:?}").starts_with("RetiredNode { birth_era: "));
}

/// A hand-off cell of `NodeBox` nodes (the Treiber stack of `kovan/examples/treiber_stack.rs`
/// is the full structure; this is its move-out-and-retire step alone, small enough for Miri's
/// seeds): each thread swaps its value in, moves the value out of the node it unlinked, and
/// retires that node, whose own drop leaves the value alone (`ManuallyDrop`). Meanwhile it
/// reads the value of whatever node is current, which another thread may unlink and retire.
struct Entry(ManuallyDrop<Tracked>);

fn hand_off(cell: &Atomic<Node<Entry>>, value: Tracked, guard: &Guard) -> Option<Tracked> {
    let node = NodeBox::new(Entry(ManuallyDrop::new(value))).into_shared(guard);
    // AcqRel: Release publishes the entry; Acquire reads the one unlinked.
    let old = cell.swap(node, Ordering::AcqRel, guard);
    // SAFETY: unlinked by this swap, so only this thread moves its value out; it stays
    // allocated until retired below.
    let entry = unsafe { old.as_ref() }?.value();
    // SAFETY: as above; the node's own drop does not drop the value (ManuallyDrop).
    let value = unsafe { std::ptr::read(&*entry.0) };
    // SAFETY: default-domain node, unlinked above, retired once.
    unsafe { old.retire(guard) };
    Some(value)
}

#[test]
fn hand_off_moves_every_value_once_miri_seeds() {
    static TALLY: Tally = Tally::new();
    const THREADS: usize = 4;
    let cell = Arc::new(Atomic::<Node<Entry>>::null());
    let barrier = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (cell, barrier) = (Arc::clone(&cell), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                let mut taken = Vec::new();
                for i in 0..OPS {
                    let guard = pin();
                    // Acquire: pairs with the Release of the swap that published the node.
                    let current = cell.load(Ordering::Acquire, &guard);
                    // SAFETY: loaded under `guard` from the live cell.
                    if let Some(entry) = unsafe { current.as_ref() } {
                        assert!(entry.value().0.get() < (THREADS * OPS) as u64);
                    }
                    let value = Tracked::new(&TALLY, (t * OPS + i) as u64);
                    taken.extend(hand_off(&cell, value, &guard).map(|v| v.get()));
                }
                kovan_atom::flush();
                taken
            })
        })
        .collect();
    let mut seen: Vec<u64> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let guard = pin();
    let last = cell.swap(Shared::null(), Ordering::AcqRel, &guard);
    // SAFETY: unlinked by the swap above; the value is moved out once, the node retired once.
    unsafe {
        seen.push(std::ptr::read(&*last.deref().value().0).get());
        last.retire(&guard);
    }
    drop(guard);
    seen.sort_unstable();
    let expected: Vec<u64> = (0..(THREADS * OPS) as u64).collect();
    assert_eq!(seen, expected, "every value handed off exactly once");
    TALLY.assert_all_dropped();
}
