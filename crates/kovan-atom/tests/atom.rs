//! `Atom` / `AtomOption` semantics, single-threaded and under real threads, with exact counts.
mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use common::{OPS, Tally, Tracked};
use kovan_atom::{Atom, AtomOption};

const THREADS: usize = 4;

#[test]
fn load_store_swap_and_friends() {
    static TALLY: Tally = Tally::new();
    let atom = Atom::new(Tracked::new(&TALLY, 1));
    assert_eq!(atom.load().get(), 1);
    assert_eq!(atom.peek(|v| v.get() + 1), 2);
    assert_eq!(atom.load_clone().get(), 1);

    let held = atom.load();
    atom.store(Tracked::new(&TALLY, 2));
    assert_eq!(held.get(), 1, "a guard keeps the old value");
    assert_eq!(atom.load().get(), 2);
    drop(held);

    let removed = atom.swap(Tracked::new(&TALLY, 3));
    assert_eq!(removed.get(), 2);
    assert_eq!(atom.load().get(), 3);
    drop(removed);

    atom.rcu(|v| Tracked::new(&TALLY, v.get() * 10));
    assert_eq!(atom.load().get(), 30);

    let current = atom.load();
    let swapped = atom
        .compare_and_swap(&current, Tracked::new(&TALLY, 4))
        .ok()
        .unwrap();
    assert_eq!(swapped.get(), 4);
    let rejected = atom
        .compare_and_swap(&current, Tracked::new(&TALLY, 5))
        .err()
        .unwrap();
    assert_eq!(rejected.get(), 5, "a stale guard gets the new value back");
    drop((current, swapped, rejected));

    let pair = Atom::new((Tracked::new(&TALLY, 8), 16u64));
    let second = pair.map(|p| &p.1);
    assert_eq!(*second.load(), 16);
    let first = pair.map(|p| &p.0);
    assert_eq!(first.load().get(), 8);
    drop(pair.into_inner());

    let value = atom.into_inner();
    assert_eq!(value.get(), 4);
    drop(value);
    TALLY.assert_all_dropped();
}

#[test]
fn defaults_conversions_and_formatting() {
    let atom: Atom<String> = Atom::default();
    assert_eq!(*atom.load(), "");
    let atom = Atom::from(String::from("kovan"));
    assert_eq!(format!("{atom:?}"), r#"Atom { value: "kovan" }"#);
    assert_eq!(format!("{}", atom.load()), "kovan");
    assert_eq!(format!("{:?}", atom.load()), r#""kovan""#);
    let old = atom.swap(String::from("next"));
    assert_eq!(old, String::from("kovan"));
    assert_eq!(format!("{old} {old:?}"), r#"kovan "kovan""#);
    let name = atom.map(|s| s.as_str());
    assert_eq!(
        format!("{} {:?}", name.load(), name.load()),
        r#"next "next""#
    );
    // SAFETY: single-threaded: no guard of the old value is alive.
    assert_eq!(unsafe { old.into_inner_unchecked() }, "kovan");

    let empty: AtomOption<u8> = AtomOption::default();
    assert_eq!(format!("{empty:?}"), "AtomOption::None");
    empty.store_some(7);
    assert_eq!(format!("{empty:?}"), "AtomOption::Some(7)");
}

#[test]
fn atom_option_api() {
    static TALLY: Tally = Tally::new();
    let slot = AtomOption::none();
    assert!(slot.is_none() && !slot.is_some());
    assert!(slot.load().is_none());
    assert!(slot.take().is_none());
    slot.store_some(Tracked::new(&TALLY, 1));
    assert!(slot.is_some());
    slot.store_some(Tracked::new(&TALLY, 2));
    assert_eq!(slot.load().unwrap().get(), 2);
    let taken = slot.take().unwrap();
    assert_eq!(taken.get(), 2);
    assert!(slot.is_none());
    slot.store_none();
    let full = AtomOption::some(Tracked::new(&TALLY, 3));
    full.store_none();
    assert!(full.is_none());
    let kept = AtomOption::some(Tracked::new(&TALLY, 4));
    drop((slot, taken, full, kept));
    TALLY.assert_all_dropped();
}

#[test]
fn rcu_from_four_threads_counts_exactly_miri_seeds() {
    static TALLY: Tally = Tally::new();
    let atom = Arc::new(Atom::new(Tracked::new(&TALLY, 0)));
    let start = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (atom, start) = (Arc::clone(&atom), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                for _ in 0..OPS {
                    atom.rcu(|v| Tracked::new(&TALLY, v.get() + 1));
                }
                kovan_atom::flush();
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(atom.load().get(), (THREADS * OPS) as u64);
    assert!(
        TALLY.created() > THREADS * OPS,
        "one creation per increment, plus the first"
    );
    drop(atom);
    TALLY.assert_all_dropped();
}

#[test]
fn every_stored_value_is_dropped_exactly_once() {
    static TALLY: Tally = Tally::new();
    let atom = Arc::new(Atom::new(Tracked::new(&TALLY, 0)));
    let start = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (atom, start) = (Arc::clone(&atom), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                for i in 0..OPS {
                    let value = (t * OPS + i) as u64;
                    match i % 4 {
                        0 => atom.store(Tracked::new(&TALLY, value)),
                        1 => drop(atom.swap(Tracked::new(&TALLY, value))),
                        2 => {
                            let seen = atom.load();
                            let _ = atom.compare_and_swap(&seen, Tracked::new(&TALLY, value));
                        }
                        _ => {
                            atom.load().get();
                        }
                    }
                }
                kovan_atom::flush();
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let created = TALLY.created();
    // The first value, then one per store, swap and compare_and_swap attempt (3 of every 4).
    assert_eq!(created, 1 + THREADS * (OPS - OPS / 4));
    drop(atom);
    TALLY.assert_all_dropped();
}

#[test]
fn readers_only_observe_stored_values_in_order() {
    static TALLY: Tally = Tally::new();
    let atom = Arc::new(Atom::new(Tracked::new(&TALLY, 0)));
    let start = Arc::new(Barrier::new(THREADS));
    let readers: Vec<_> = (0..THREADS - 1)
        .map(|_| {
            let (atom, start) = (Arc::clone(&atom), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                let mut last = 0;
                for _ in 0..OPS {
                    let seen = atom.load();
                    let value = seen.get();
                    assert!(value >= last, "went back from {last} to {value}");
                    assert!(value <= OPS as u64, "never stored: {value}");
                    last = value;
                }
                kovan_atom::flush();
            })
        })
        .collect();
    start.wait();
    for value in 1..=OPS as u64 {
        atom.store(Tracked::new(&TALLY, value));
    }
    for reader in readers {
        reader.join().unwrap();
    }
    assert_eq!(atom.load().get(), OPS as u64);
    drop(atom);
    TALLY.assert_all_dropped();
}

#[test]
fn compare_and_swap_succeeds_exactly_once_per_round_miri_seeds() {
    static TALLY: Tally = Tally::new();
    let rounds = if cfg!(miri) { 8 } else { 500 };
    let atom = Arc::new(Atom::new(Tracked::new(&TALLY, u64::MAX)));
    let wins: Arc<Vec<AtomicUsize>> = Arc::new((0..rounds).map(|_| AtomicUsize::new(0)).collect());
    let barrier = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (atom, wins, barrier) =
                (Arc::clone(&atom), Arc::clone(&wins), Arc::clone(&barrier));
            thread::spawn(move || {
                for round in 0..rounds {
                    barrier.wait();
                    let seen = atom.load();
                    barrier.wait(); // everyone holds the same value before anyone writes
                    let mine = (round * THREADS + t) as u64;
                    match atom.compare_and_swap(&seen, Tracked::new(&TALLY, mine)) {
                        Ok(now) => {
                            assert_eq!(now.get(), mine, "nobody else can replace it this round");
                            wins[round].fetch_add(1, Ordering::SeqCst);
                        }
                        Err(back) => assert_eq!(back.get(), mine, "the rejected value comes back"),
                    }
                }
                kovan_atom::flush();
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    for (round, count) in wins.iter().enumerate() {
        assert_eq!(count.load(Ordering::SeqCst), 1, "round {round}");
    }
    let last = atom.load().get() as usize;
    assert_eq!(
        last / THREADS,
        rounds - 1,
        "the last round's winner holds the cell"
    );
    drop(atom);
    TALLY.assert_all_dropped();
}

#[test]
fn atom_option_take_and_store_race_miri_seeds() {
    static TALLY: Tally = Tally::new();
    let slot: Arc<AtomOption<Tracked>> = Arc::new(AtomOption::none());
    let stored = Arc::new(AtomicUsize::new(0));
    let producers: Vec<_> = (0..2)
        .map(|t| {
            let (slot, stored) = (Arc::clone(&slot), Arc::clone(&stored));
            thread::spawn(move || {
                for i in 0..OPS {
                    slot.store_some(Tracked::new(&TALLY, (t * OPS + i) as u64));
                    stored.fetch_add(1, Ordering::SeqCst);
                    if i % 16 == 15 {
                        slot.store_none();
                    }
                }
                kovan_atom::flush();
            })
        })
        .collect();
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let slot = Arc::clone(&slot);
            thread::spawn(move || {
                let mut taken = Vec::new();
                for _ in 0..OPS {
                    if let Some(seen) = slot.load() {
                        assert!(seen.get() < 2 * OPS as u64, "read a value never stored");
                    }
                    if let Some(removed) = slot.take() {
                        taken.push(removed.get());
                    }
                }
                kovan_atom::flush();
                taken
            })
        })
        .collect();
    for producer in producers {
        producer.join().unwrap();
    }
    let mut taken: Vec<u64> = consumers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    if let Some(last) = slot.take() {
        taken.push(last.get());
    }
    let unique: HashSet<u64> = taken.iter().copied().collect();
    assert_eq!(unique.len(), taken.len(), "a value was taken twice");
    assert!(
        taken.iter().all(|&v| v < 2 * OPS as u64),
        "took a value never stored"
    );
    assert_eq!(stored.load(Ordering::SeqCst), 2 * OPS);
    assert_eq!(TALLY.created(), 2 * OPS, "one creation per store");
    drop(slot);
    TALLY.assert_all_dropped();
}

#[test]
fn interior_mutation_by_a_reader_is_visible_through_removed() {
    static TALLY: Tally = Tally::new();
    let atom = Arc::new(Atom::new(Tracked::new(&TALLY, 1)));
    let barrier = Arc::new(Barrier::new(2));
    let reader = {
        let (atom, barrier) = (Arc::clone(&atom), Arc::clone(&barrier));
        thread::spawn(move || {
            let seen = atom.load();
            seen.extra.fetch_add(2, Ordering::SeqCst);
            barrier.wait(); // loaded
            barrier.wait(); // swapped out
            seen.extra.fetch_add(5, Ordering::SeqCst);
            barrier.wait(); // mutated after the swap
            barrier.wait(); // checked
            assert_eq!(seen.get(), 1);
        })
    };
    barrier.wait();
    let removed = atom.swap(Tracked::new(&TALLY, 2));
    assert_eq!(removed.extra.load(Ordering::SeqCst), 2);
    barrier.wait();
    barrier.wait();
    assert_eq!(
        removed.extra.load(Ordering::SeqCst),
        7,
        "one object, not a copy"
    );
    barrier.wait();
    reader.join().unwrap();
    drop((atom, removed));
    TALLY.assert_all_dropped();
}

#[test]
fn a_guard_on_another_thread_outlives_stores_flushes_and_drops() {
    static TALLY: Tally = Tally::new();
    let outer = Arc::new(Atom::new(Atom::new(Tracked::new(&TALLY, 7))));
    let barrier = Arc::new(Barrier::new(2));
    let reader = {
        let (outer, barrier) = (Arc::clone(&outer), Arc::clone(&barrier));
        thread::spawn(move || {
            let inner_atom = outer.load();
            let value = inner_atom.load();
            barrier.wait(); // holding both
            barrier.wait(); // the writer replaced, flushed and dropped everything it could
            assert_eq!(value.get(), 7, "freed under a live guard");
        })
    };
    barrier.wait();
    let rounds = if cfg!(miri) { 3 } else { 300 };
    for i in 0..rounds {
        // Each replaced inner Atom is retired; its destructor retires the value it holds.
        outer.store(Atom::new(Tracked::new(&TALLY, 100 + i)));
        kovan_atom::flush();
    }
    barrier.wait();
    reader.join().unwrap();
    drop(outer);
    TALLY.assert_all_dropped();
}

/// Issue 11.5: the `Ok` guard of `compare_and_swap` shows the value it stored, even when the
/// era moved since the caller pinned and another writer replaces the value right after the
/// exchange (from the stall point of the protected load the old code ran before returning),
/// and the stored value stays alive under that guard after it is replaced and flushed.
#[test]
fn compare_and_swap_returns_the_value_it_stored() {
    use kovan_reclaim::stall::{self, Step};

    static TALLY: Tally = Tally::new();
    let atom = Arc::new(Atom::new(Tracked::new(&TALLY, 0)));
    let current = atom.load();
    for _ in 0..3 {
        kovan_atom::flush(); // the era moves past `current`'s reservation
    }
    let replaced = Arc::new(AtomicUsize::new(0));
    stall::set_hook({
        let (atom, replaced) = (Arc::clone(&atom), Arc::clone(&replaced));
        move |step| {
            if step == Step::ProtectPublished && replaced.fetch_add(1, Ordering::SeqCst) == 0 {
                atom.store(Tracked::new(&TALLY, 99));
            }
        }
    });
    let stored = atom
        .compare_and_swap(&current, Tracked::new(&TALLY, 1))
        .ok()
        .expect("the cell still held `current`");
    stall::clear_hook();
    assert_eq!(
        stored.get(),
        1,
        "the Ok guard shows the value this call stored"
    );
    drop(current);
    // Replaced and flushed from another thread: the guard keeps it.
    thread::scope(|s| {
        s.spawn(|| {
            atom.store(Tracked::new(&TALLY, 2));
            for _ in 0..4 {
                kovan_atom::flush();
            }
        });
    });
    assert_eq!(stored.get(), 1);
    drop(stored);
    drop(atom);
    TALLY.assert_all_dropped();
}

/// Writers racing `compare_and_swap` while the era moves: every `Ok` guard shows the value
/// its own call stored.
#[test]
fn racing_compare_and_swap_guards_show_their_own_values() {
    static TALLY: Tally = Tally::new();
    let atom = Atom::new(Tracked::new(&TALLY, 0));
    let wins = AtomicUsize::new(0);
    thread::scope(|s| {
        for t in 0..THREADS as u64 {
            let (atom, wins) = (&atom, &wins);
            s.spawn(move || {
                for i in 0..OPS as u64 {
                    let mine = (t + 1) * 1_000_000 + i;
                    let current = atom.load();
                    if i % 7 == 0 {
                        kovan_atom::flush();
                    }
                    if let Ok(stored) = atom.compare_and_swap(&current, Tracked::new(&TALLY, mine))
                    {
                        assert_eq!(stored.get(), mine);
                        wins.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert!(wins.load(Ordering::Relaxed) > 0);
    drop(atom);
    TALLY.assert_all_dropped();
}
