//! WordPair under real threads: double-width CAS keeps a tag invariant and loses no update.
#![cfg(not(kovan_loom))]

use std::sync::Arc;
use std::thread;

use kovan_core::WordPair;
use kovan_core::sync::Ordering::{AcqRel, Acquire, SeqCst};

const THREADS: u64 = 4;
const INCREMENTS: u64 = if cfg!(miri) { 50 } else { 20_000 };

/// Every CAS increments `lo` and moves `hi` to `2 * lo`, so a torn pair or a lost update breaks
/// `hi == 2 * lo` or the final count.
#[test]
fn miri_seeds_pair_cas_increments_keep_the_tag_invariant() {
    let pair = Arc::new(WordPair::new(0, 0));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let pair = Arc::clone(&pair);
            thread::spawn(move || {
                let mut retries = 0u64;
                for _ in 0..INCREMENTS {
                    let mut current = pair.load(Acquire);
                    loop {
                        assert_eq!(current.1, current.0 * 2, "torn or corrupted pair");
                        let next = (current.0 + 1, (current.0 + 1) * 2);
                        match pair.compare_exchange_weak(current, next, AcqRel, Acquire) {
                            Ok(_) => break,
                            Err(seen) => {
                                current = seen;
                                retries += 1;
                            }
                        }
                    }
                }
                retries
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(
        pair.load(SeqCst),
        (THREADS * INCREMENTS, 2 * THREADS * INCREMENTS)
    );
}

/// `exchange_lo` racing a pair CAS on `hi`: neither update is lost.
#[test]
fn miri_seeds_exchange_lo_and_pair_cas_do_not_lose_updates() {
    let pair = Arc::new(WordPair::new(0, 0));
    let swapper = {
        let pair = Arc::clone(&pair);
        thread::spawn(move || {
            let mut sum = 0u64;
            for value in 1..=INCREMENTS {
                sum += pair.exchange_lo(value, AcqRel);
            }
            sum + pair.load_lo(Acquire)
        })
    };
    let tagger = {
        let pair = Arc::clone(&pair);
        thread::spawn(move || {
            for _ in 0..INCREMENTS {
                let mut current = pair.load(Acquire);
                while let Err(seen) =
                    pair.compare_exchange(current, (current.0, current.1 + 1), AcqRel, Acquire)
                {
                    current = seen;
                }
            }
        })
    };
    let swapped_total = swapper.join().unwrap();
    tagger.join().unwrap();
    // Every value stored by exchange_lo is returned exactly once (by a later swap or the final load).
    assert_eq!(swapped_total, INCREMENTS * (INCREMENTS + 1) / 2);
    assert_eq!(pair.load_hi(SeqCst), INCREMENTS);
}
