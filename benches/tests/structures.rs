//! The benchmark's data structures are correct, single- and multi-threaded, for every library:
//! exact element counts, FIFO order, exactly-once delivery, and exact node accounting where the
//! library frees everything on drop (the leak baseline and seize).

use std::collections::HashSet;
use std::sync::Barrier;
use std::thread;

use kovan_benches::ds::{HashMap, MsQueue, Treiber};
use kovan_benches::libs::{Crossbeam, Haphazard, KovanOrig, Leak, Seize};
use kovan_benches::smr::{LiveCounter, Smr};
use kovan_benches::workloads::Rng;

/// After the structure and the library instance are dropped: no node is counted twice, and the
/// libraries that reclaim everything on drop left nothing.
fn check_accounting<S: Smr>(counter: &LiveCounter, allocated: i64) {
    let live = counter.live();
    assert!(
        live >= 0,
        "{}: {live} live nodes: a node was dropped twice",
        S::NAME
    );
    assert!(live <= allocated, "{}: {live} live of {allocated}", S::NAME);
    if S::NAME == "leak" || S::NAME == "seize" {
        assert_eq!(live, 0, "{}: nodes not freed on drop", S::NAME);
    }
}

fn queue_single<S: Smr>() {
    let counter = LiveCounter::new("test");
    let smr = S::new();
    {
        let q = MsQueue::new(&smr, counter);
        let mut local = smr.local();
        assert_eq!(q.dequeue(&mut local), None);
        for round in 0..3u64 {
            for i in 0..1000 {
                q.enqueue(&mut local, round * 1000 + i);
            }
            for i in 0..1000 {
                assert_eq!(q.dequeue(&mut local), Some(round * 1000 + i));
            }
            assert_eq!(q.dequeue(&mut local), None);
        }
        // Teardown frees what is still queued.
        for i in 0..10 {
            q.enqueue(&mut local, i);
        }
    }
    drop(smr);
    check_accounting::<S>(counter, 3011);
}

fn queue_multi<S: Smr>() {
    const PRODUCERS: u64 = 3;
    const CONSUMERS: usize = 3;
    const PER: u64 = 20_000;
    let counter = LiveCounter::new("test");
    let smr = S::new();
    {
        let q = MsQueue::new(&smr, counter);
        let start = Barrier::new(PRODUCERS as usize + CONSUMERS);
        let total = (PRODUCERS * PER) as usize;
        let taken = std::sync::atomic::AtomicUsize::new(0);
        let mut seen: Vec<Vec<u64>> = Vec::new();
        thread::scope(|s| {
            for p in 0..PRODUCERS {
                let (q, smr, start) = (&q, &smr, &start);
                s.spawn(move || {
                    let mut local = smr.local();
                    start.wait();
                    for i in 0..PER {
                        q.enqueue(&mut local, p << 32 | i);
                    }
                });
            }
            let consumers: Vec<_> = (0..CONSUMERS)
                .map(|_| {
                    let (q, smr, start, taken) = (&q, &smr, &start, &taken);
                    s.spawn(move || {
                        let mut local = smr.local();
                        let mut got = Vec::new();
                        start.wait();
                        while taken.load(std::sync::atomic::Ordering::Relaxed) < total {
                            if let Some(v) = q.dequeue(&mut local) {
                                taken.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                got.push(v);
                            }
                        }
                        got
                    })
                })
                .collect();
            seen = consumers.into_iter().map(|h| h.join().unwrap()).collect();
        });
        // Each consumer sees every producer's values in the order they were enqueued.
        for got in &seen {
            let mut last = vec![None; PRODUCERS as usize];
            for &v in got {
                let (p, i) = ((v >> 32) as usize, v & 0xFFFF_FFFF);
                assert!(last[p].is_none_or(|l| l < i), "FIFO order broken");
                last[p] = Some(i);
            }
        }
        // Every value exactly once.
        let mut all: Vec<u64> = seen.into_iter().flatten().collect();
        assert_eq!(all.len(), total);
        all.sort_unstable();
        let mut expect: Vec<u64> = (0..PRODUCERS)
            .flat_map(|p| (0..PER).map(move |i| p << 32 | i))
            .collect();
        expect.sort_unstable();
        assert_eq!(all, expect);
        let mut local = smr.local();
        assert_eq!(q.dequeue(&mut local), None);
    }
    drop(smr);
    check_accounting::<S>(counter, (PRODUCERS * PER + 1) as i64);
}

fn stack_multi<S: Smr>() {
    const THREADS: u64 = 4;
    const PER: u64 = 20_000;
    let counter = LiveCounter::new("test");
    let smr = S::new();
    {
        let stack = Treiber::new(&smr, counter);
        let start = Barrier::new(THREADS as usize);
        let popped: Vec<u64> = thread::scope(|s| {
            let hs: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (stack, smr, start) = (&stack, &smr, &start);
                    s.spawn(move || {
                        let mut local = smr.local();
                        let mut got = Vec::new();
                        start.wait();
                        for i in 0..PER {
                            stack.push(&mut local, t << 32 | i);
                            got.push(stack.pop(&mut local).expect("a push precedes every pop"));
                        }
                        got
                    })
                })
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let set: HashSet<u64> = popped.iter().copied().collect();
        assert_eq!(popped.len(), (THREADS * PER) as usize);
        assert_eq!(set.len(), popped.len(), "a value was popped twice");
        let mut local = smr.local();
        assert_eq!(stack.pop(&mut local), None);
    }
    drop(smr);
    check_accounting::<S>(counter, (THREADS * PER) as i64);
}

fn map_single<S: Smr>() {
    let counter = LiveCounter::new("test");
    let smr = S::new();
    let mut allocated = 0;
    {
        let m = HashMap::new(&smr, counter, 4);
        let mut local = smr.local();
        let mut model = HashSet::new();
        let mut rng = Rng::new(7);
        for _ in 0..50_000 {
            let k = rng.below(500);
            match rng.below(3) {
                0 => assert_eq!(m.get(&mut local, k), model.contains(&k).then_some(k * 3)),
                1 => {
                    let inserted = m.insert(&mut local, k, k * 3);
                    assert_eq!(inserted, model.insert(k), "insert {k}");
                    allocated += i64::from(inserted);
                }
                _ => assert_eq!(m.remove(&mut local, k), model.remove(&k), "remove {k}"),
            }
        }
        assert_eq!(m.len(), model.len());
        for k in 0..500 {
            assert_eq!(m.get(&mut local, k).is_some(), model.contains(&k));
        }
    }
    drop(smr);
    check_accounting::<S>(counter, allocated);
}

/// Threads own disjoint key sets (sharing buckets and lists), and each checks every result
/// against its own model.
fn map_disjoint<S: Smr>() {
    const THREADS: u64 = 4;
    let counter = LiveCounter::new("test");
    let smr = S::new();
    {
        let m = HashMap::new(&smr, counter, 2);
        let start = Barrier::new(THREADS as usize);
        let sizes: Vec<usize> = thread::scope(|s| {
            let hs: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (m, smr, start) = (&m, &smr, &start);
                    s.spawn(move || {
                        let mut local = smr.local();
                        let mut model = HashSet::new();
                        let mut rng = Rng::new(t + 100);
                        start.wait();
                        for _ in 0..60_000 {
                            let k = rng.below(400) * THREADS + t;
                            match rng.below(3) {
                                0 => assert_eq!(m.get(&mut local, k).is_some(), model.contains(&k)),
                                1 => assert_eq!(m.insert(&mut local, k, k), model.insert(k)),
                                _ => assert_eq!(m.remove(&mut local, k), model.remove(&k)),
                            }
                        }
                        model.len()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(m.len(), sizes.iter().sum::<usize>());
    }
    drop(smr);
    check_accounting::<S>(counter, i64::MAX);
}

/// All threads insert, then remove, the same keys in different orders: each key is inserted
/// exactly once and removed exactly once.
fn map_contended<S: Smr>() {
    const THREADS: usize = 4;
    const KEYS: u64 = 5_000;
    let counter = LiveCounter::new("test");
    let smr = S::new();
    {
        let m = HashMap::new(&smr, counter, 3);
        let start = Barrier::new(THREADS);
        let mid = Barrier::new(THREADS);
        let counts: Vec<(u64, u64)> = thread::scope(|s| {
            let hs: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (m, smr, start, mid) = (&m, &smr, &start, &mid);
                    s.spawn(move || {
                        let mut local = smr.local();
                        let order: Vec<u64> = if t % 2 == 0 {
                            (0..KEYS).collect()
                        } else {
                            (0..KEYS).rev().collect()
                        };
                        start.wait();
                        let ins = order
                            .iter()
                            .filter(|&&k| m.insert(&mut local, k, k))
                            .count() as u64;
                        mid.wait();
                        let rem = order.iter().filter(|&&k| m.remove(&mut local, k)).count() as u64;
                        (ins, rem)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(counts.iter().map(|c| c.0).sum::<u64>(), KEYS, "inserts");
        assert_eq!(counts.iter().map(|c| c.1).sum::<u64>(), KEYS, "removes");
        assert!(m.is_empty());
    }
    drop(smr);
    check_accounting::<S>(counter, KEYS as i64);
}

macro_rules! suite {
    ($($module:ident: $lib:ty),* $(,)?) => {$(
        mod $module {
            use super::*;
            #[test]
            fn queue_single_thread() {
                queue_single::<$lib>();
            }
            #[test]
            fn queue_multi_thread() {
                queue_multi::<$lib>();
            }
            #[test]
            fn stack_multi_thread() {
                stack_multi::<$lib>();
            }
            #[test]
            fn map_single_thread_matches_model() {
                map_single::<$lib>();
            }
            #[test]
            fn map_multi_thread_disjoint_keys() {
                map_disjoint::<$lib>();
            }
            #[test]
            fn map_multi_thread_same_keys() {
                map_contended::<$lib>();
            }
        }
    )*};
}

suite! {
    leak: Leak,
    crossbeam: Crossbeam,
    seize: Seize,
    haphazard: Haphazard,
    kovan_orig: KovanOrig,
}
