//! loom model of `Atom`: a compare-and-swap, a store and a reader race on one cell, on the
//! default handle that kovan-atom gives each loom thread.
#![cfg(kovan_loom)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use kovan_atom::{Atom, exit_thread, flush};

/// Counts its drops per id in a side table, so a reader can check liveness without a
/// dereference of freed memory.
struct Value {
    id: usize,
    dropped: Arc<[AtomicUsize; 3]>,
}

impl Drop for Value {
    fn drop(&mut self) {
        self.dropped[self.id].fetch_add(1, Ordering::SeqCst);
    }
}

/// `compare_and_swap(&v0, v1)` and `store(v2)` race a `load`. The reader's value stays alive
/// while its guard lives; a successful exchange returns its own value (never a later
/// writer's); a failed one hands `v1` back; the cell ends with the last writer's value; and
/// each value is dropped exactly once. Each thread exits its handle before its closure ends:
/// loom's `join` does not order the joiner after thread-local destructors (std's does), so
/// without it the final flush may legitimately not yet see the batches those exits parked.
#[test]
fn loom_atom_cas_races_store_and_reader() {
    loom::model(|| {
        let dropped = Arc::new([0, 1, 2].map(|_| AtomicUsize::new(0)));
        let value = |id| Value {
            id,
            dropped: Arc::clone(&dropped),
        };
        let atom = Arc::new(Atom::new(value(0)));
        let cas_won = Arc::new(AtomicBool::new(false));
        let swapper = {
            let (atom, cas_won, v1) = (Arc::clone(&atom), Arc::clone(&cas_won), value(1));
            loom::thread::spawn(move || {
                let current = atom.load();
                if current.id == 0 {
                    match atom.compare_and_swap(&current, v1) {
                        Ok(mine) => {
                            assert_eq!(mine.id, 1, "the exchange returns its own value");
                            cas_won.store(true, Ordering::SeqCst);
                        }
                        Err(back) => assert_eq!(back.id, 1),
                    }
                }
                drop(current);
                exit_thread();
            })
        };
        let storer = {
            let (atom, v2) = (Arc::clone(&atom), value(2));
            loom::thread::spawn(move || {
                atom.store(v2);
                exit_thread();
            })
        };
        let seen = atom.load();
        loom::thread::yield_now();
        assert_eq!(
            dropped[seen.id].load(Ordering::SeqCst),
            0,
            "read value freed"
        );
        drop(seen);
        swapper.join().unwrap();
        storer.join().unwrap();
        let last = atom.load().id;
        assert!(last == 2 || (last == 1 && cas_won.load(Ordering::SeqCst)));
        drop(Arc::into_inner(atom).expect("the threads are joined"));
        flush();
        let counts = dropped.each_ref().map(|d| d.load(Ordering::SeqCst));
        assert_eq!(counts, [1, 1, 1], "each value dropped exactly once");
    });
}
