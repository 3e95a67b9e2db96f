//! The id registry under real threads: no id is live twice, and released ids are reused.
#![cfg(not(kovan_loom))]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use kovan_core::Registry;

const THREADS: usize = 8;
const CYCLES: usize = if cfg!(miri) { 30 } else { 10_000 };

#[test]
fn miri_seeds_claim_release_never_hands_out_a_live_id_twice() {
    let registry = Arc::new(Registry::new());
    let live: Arc<Vec<AtomicBool>> = Arc::new((0..1024).map(|_| AtomicBool::new(false)).collect());
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let registry = Arc::clone(&registry);
            let live = Arc::clone(&live);
            thread::spawn(move || {
                let mut highest = 0;
                for _ in 0..CYCLES {
                    let tid = registry.claim().expect("registry full");
                    highest = highest.max(tid);
                    assert!(
                        !live[tid].swap(true, Ordering::SeqCst),
                        "id {tid} handed out twice"
                    );
                    assert!(registry.slots(tid).is_some(), "claimed id without a page");
                    live[tid].store(false, Ordering::SeqCst);
                    registry.release(tid);
                }
                highest
            })
        })
        .collect();
    let highest = workers
        .into_iter()
        .map(|w| w.join().unwrap())
        .max()
        .unwrap();
    // Recycling keeps the id space near the number of concurrent claimers; the bound allows for
    // claims that missed a just-released bit and took a fresh id.
    assert!(highest < 64, "ids were not recycled: highest id {highest}");
    let mut released = registry.released_ids();
    released.sort_unstable();
    assert_eq!(
        released.len(),
        registry.scan_bound(),
        "every id ever claimed is free again"
    );
}
