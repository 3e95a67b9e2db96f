//! loom model: a pair CAS racing `exchange_lo` and `store_hi`.
#![cfg(kovan_loom)]

use std::sync::Arc;

use kovan_core::WordPair;
use kovan_core::sync::Ordering::{AcqRel, Acquire, SeqCst};

#[test]
fn loom_pair_cas_races_exchange_lo() {
    loom::model(|| {
        let pair = Arc::new(WordPair::new(0, 0));
        let swapper = {
            let pair = Arc::clone(&pair);
            loom::thread::spawn(move || pair.exchange_lo(5, AcqRel))
        };
        let current = pair.load(Acquire);
        let cas = pair.compare_exchange(current, (current.0 + 1, current.1 + 1), AcqRel, Acquire);
        let swapped_out = swapper.join().unwrap();
        let end = pair.load(SeqCst);
        match (cas, swapped_out) {
            // Load and CAS before the swap: the swap took the CAS's lo and kept its hi.
            (Ok((0, 0)), 1) => assert_eq!(end, (5, 1)),
            // Swap before the load: the CAS built on (5, 0).
            (Ok((5, 0)), 0) => assert_eq!(end, (6, 1)),
            // Swap between load and CAS: the CAS saw the new lo and failed.
            (Err(seen), 0) => {
                assert_eq!(seen, (5, 0));
                assert_eq!(end, (5, 0));
            }
            other => panic!("impossible outcome {other:?}, final pair {end:?}"),
        }
    });
}
