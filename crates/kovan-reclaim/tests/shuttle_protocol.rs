//! shuttle model of the protocol on the default domain: with feature `shuttle`, the protocol's
//! atomics are shuttle's and the thread-local default handle is per shuttle thread, so shuttle
//! schedules every protocol step of two writers and a reader.
#![cfg(feature = "shuttle")]

use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering as StdOrdering};

use kovan_core::sync::{AtomicPtr, Ordering};
use kovan_reclaim::{Node, flush, pin, with_handle};

/// The nodes: the initial one and two per writer.
const NODES: usize = 5;

/// Marks itself freed in a side table, so a reader can check liveness without dereferencing.
struct Payload {
    id: usize,
    freed: Arc<[AtomicBool; NODES]>,
}

impl Drop for Payload {
    fn drop(&mut self) {
        assert!(
            !self.freed[self.id].swap(true, StdOrdering::SeqCst),
            "double free of {}",
            self.id
        );
    }
}

/// Two writers each swap in two nodes, retire what they unlinked and flush; a reader protects
/// the pointer twice and checks the node stays unfreed under its guard; at the end every node
/// is freed exactly once.
fn model() {
    let freed = Arc::new([(); NODES].map(|()| AtomicBool::new(false)));
    // Addresses, so that the reader finds a node's id without a dereference.
    let nodes: [usize; NODES] = std::array::from_fn(|id| {
        let payload = Payload {
            id,
            freed: Arc::clone(&freed),
        };
        with_handle(|handle| handle.alloc_node(payload)).as_ptr() as usize
    });
    let shared = Arc::new(AtomicPtr::new(nodes[0] as *mut Node<Payload>));
    let writers = [1, 3].map(|first| {
        let shared = Arc::clone(&shared);
        shuttle::thread::spawn(move || {
            for &next in &nodes[first..first + 2] {
                let old = shared.swap(next as *mut Node<Payload>, Ordering::AcqRel);
                // SAFETY: unlinked by the swap, retired once.
                with_handle(|handle| unsafe { handle.retire_node(NonNull::new(old).unwrap()) });
            }
            flush();
        })
    });
    let reader = {
        let (shared, freed) = (Arc::clone(&shared), Arc::clone(&freed));
        shuttle::thread::spawn(move || {
            for _ in 0..2 {
                let guard = pin();
                let seen = guard.protect(&shared, Ordering::Acquire) as usize;
                let id = nodes
                    .iter()
                    .position(|&n| n == seen)
                    .expect("a published node");
                shuttle::thread::yield_now();
                assert!(
                    !freed[id].load(StdOrdering::SeqCst),
                    "node {id} freed under a guard"
                );
                drop(guard);
            }
        })
    };
    for writer in writers {
        writer.join().unwrap();
    }
    reader.join().unwrap();
    let last = shared.swap(std::ptr::null_mut(), Ordering::AcqRel);
    // SAFETY: unlinked, retired once.
    with_handle(|handle| unsafe { handle.retire_node(NonNull::new(last).unwrap()) });
    flush();
    let freed = freed.iter().filter(|f| f.load(StdOrdering::SeqCst)).count();
    assert_eq!(freed, NODES, "every node freed exactly once");
}

/// Random schedules and PCT schedules (depth 3), on two OS threads at once, as libtest runs a
/// dependent's shuttle tests: each execution must get its own default domain (shuttle's atomics
/// belong to one execution; a domain shared between two panics inside shuttle). Shuttle's
/// default configuration (60 KiB thread stacks), as dependents' suites use it.
#[test]
fn shuttle_random_and_pct_schedules_side_by_side() {
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let random = shuttle::scheduler::RandomScheduler::new(3000);
            shuttle::Runner::new(random, shuttle::Config::new()).run(model);
        });
        scope.spawn(|| {
            let pct = shuttle::scheduler::PctScheduler::new(3, 3000);
            shuttle::Runner::new(pct, shuttle::Config::new()).run(model);
        });
    });
}

/// Drops of the values that `abandoned_execution_model`'s spinning thread retires.
static ABANDONED_DROPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct Counted;

impl Drop for Counted {
    fn drop(&mut self) {
        ABANDONED_DROPS.fetch_add(1, StdOrdering::SeqCst);
    }
}

/// A thread registers, retires a node into its open batch and spins until shuttle abandons the
/// execution at its step bound; shuttle then drops the execution's statics (the default domain)
/// before that thread's thread-locals (its handle).
fn abandoned_execution_model() {
    drop(pin());
    shuttle::thread::spawn(|| {
        with_handle(|handle| {
            let node = handle.alloc_node(Counted);
            // SAFETY: never published, retired once.
            unsafe { handle.retire_node(node) };
        });
        loop {
            shuttle::thread::yield_now();
        }
    });
    loop {
        shuttle::thread::yield_now();
    }
}

/// The handle of a thread that an abandoned execution leaves unfinished still exits on a live
/// domain (each default handle owns a reference to its execution's domain) and frees what it
/// retired. With a borrowed domain, its exit ran on freed memory (heap corruption, SIGABRT).
#[test]
fn an_abandoned_execution_frees_its_unfinished_threads_garbage() {
    const EXECUTIONS: usize = 3;
    let mut config = shuttle::Config::new();
    config.max_steps = shuttle::MaxSteps::ContinueAfter(200);
    let random = shuttle::scheduler::RandomScheduler::new(EXECUTIONS);
    shuttle::Runner::new(random, config).run(abandoned_execution_model);
    assert_eq!(ABANDONED_DROPS.load(StdOrdering::SeqCst), EXECUTIONS);
}
