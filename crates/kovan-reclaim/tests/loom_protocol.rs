//! loom models of the protocol (small constants under `cfg(kovan_loom)`: batches of 2, one protect
//! round before escalation, an era advance every 2 retires).
#![cfg(kovan_loom)]

use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering as StdOrdering};

use kovan_core::sync::{AtomicPtr, Ordering};
use kovan_reclaim::{Domain, Node};

/// Marks itself freed in a side table, so a reader can check liveness without dereferencing.
struct Payload {
    id: usize,
    freed: Arc<[AtomicBool; 3]>,
    drops: Arc<AtomicUsize>,
}

impl Drop for Payload {
    fn drop(&mut self) {
        assert!(
            !self.freed[self.id].swap(true, StdOrdering::SeqCst),
            "double free of {}",
            self.id
        );
        self.drops.fetch_add(1, StdOrdering::SeqCst);
    }
}

struct World {
    domain: Arc<Domain>,
    shared: Arc<AtomicPtr<Node<Payload>>>,
    nodes: [usize; 3],
    freed: Arc<[AtomicBool; 3]>,
    drops: Arc<AtomicUsize>,
}

fn world() -> World {
    let domain = Arc::new(Domain::new());
    let freed = Arc::new([
        AtomicBool::new(false),
        AtomicBool::new(false),
        AtomicBool::new(false),
    ]);
    let drops = Arc::new(AtomicUsize::new(0));
    let nodes = [0, 1, 2].map(|id| {
        Node::alloc(
            &domain,
            Payload {
                id,
                freed: Arc::clone(&freed),
                drops: Arc::clone(&drops),
            },
        )
        .as_ptr() as usize
    });
    let shared = Arc::new(AtomicPtr::new(nodes[0] as *mut Node<Payload>));
    World {
        domain,
        shared,
        nodes,
        freed,
        drops,
    }
}

/// A reader protects the shared pointer while a writer unlinks twice, retires both old nodes
/// (one full batch) and flushes (advancing the era, so the reader may escalate). The node the
/// reader holds is never freed under its guard; at the end every node is freed exactly once.
#[test]
fn loom_protect_races_unlink_and_retire() {
    loom::model(|| {
        let World {
            domain,
            shared,
            nodes,
            freed,
            drops,
        } = world();
        let reader = {
            let (domain, shared, freed) =
                (Arc::clone(&domain), Arc::clone(&shared), Arc::clone(&freed));
            loom::thread::spawn(move || {
                let handle = domain.register().unwrap();
                let guard = handle.pin();
                let seen = guard.protect(&shared, Ordering::Acquire) as usize;
                let id = nodes
                    .iter()
                    .position(|&n| n == seen)
                    .expect("a published node");
                loom::thread::yield_now();
                assert!(
                    !freed[id].load(StdOrdering::SeqCst),
                    "node {id} freed under a guard"
                );
                drop(guard);
            })
        };
        let writer = {
            let (domain, shared) = (Arc::clone(&domain), Arc::clone(&shared));
            loom::thread::spawn(move || {
                let handle = domain.register().unwrap();
                for next in [nodes[1], nodes[2]] {
                    let old = shared.swap(next as *mut Node<Payload>, Ordering::AcqRel);
                    // SAFETY: unlinked by the swap, retired once.
                    unsafe { handle.retire_node(NonNull::new(old).unwrap()) };
                }
                handle.flush();
            })
        };
        reader.join().unwrap();
        writer.join().unwrap();
        let last = shared.swap(std::ptr::null_mut(), Ordering::AcqRel);
        let handle = domain.register().unwrap();
        // SAFETY: unlinked, retired once.
        unsafe { handle.retire_node(NonNull::new(last).unwrap()) };
        handle.flush();
        drop(handle);
        assert_eq!(
            drops.load(StdOrdering::SeqCst),
            3,
            "every node freed once, no domain drop needed"
        );
        drop(domain);
    });
}

/// A thread retires one node (a batch too small to place while others are active) and exits
/// while another thread pins and flushes: the batch is placed or parked and adopted, never
/// freed early, never lost.
#[test]
fn loom_exit_races_retire_and_flush() {
    loom::model(|| {
        let World {
            domain,
            shared,
            nodes,
            freed,
            drops,
        } = world();
        let exiting = {
            let (domain, shared) = (Arc::clone(&domain), Arc::clone(&shared));
            loom::thread::spawn(move || {
                let handle = domain.register().unwrap();
                let old = shared.swap(nodes[1] as *mut Node<Payload>, Ordering::AcqRel);
                // SAFETY: unlinked by the swap, retired once.
                unsafe { handle.retire_node(NonNull::new(old).unwrap()) };
                drop(handle);
            })
        };
        let reader = {
            let (domain, shared, freed) =
                (Arc::clone(&domain), Arc::clone(&shared), Arc::clone(&freed));
            loom::thread::spawn(move || {
                let handle = domain.register().unwrap();
                let guard = handle.pin();
                let seen = guard.protect(&shared, Ordering::Acquire) as usize;
                let id = nodes
                    .iter()
                    .position(|&n| n == seen)
                    .expect("a published node");
                handle.flush();
                assert!(
                    !freed[id].load(StdOrdering::SeqCst),
                    "node {id} freed under a guard"
                );
                drop(guard);
                handle.flush();
            })
        };
        exiting.join().unwrap();
        reader.join().unwrap();
        let handle = domain.register().unwrap();
        handle.flush();
        assert_eq!(
            drops.load(StdOrdering::SeqCst),
            1,
            "the exiting thread's batch was freed"
        );
        let last = shared.swap(std::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: unlinked, retired once.
        unsafe { handle.retire_node(NonNull::new(last).unwrap()) };
        handle.flush();
        drop(handle);
        assert_eq!(drops.load(StdOrdering::SeqCst), 2);
        // Node 2 was never published.
        // SAFETY: allocated in `world`, never published or retired.
        unsafe { Node::dealloc(NonNull::new(nodes[2] as *mut Node<Payload>).unwrap()) };
        drop(domain);
    });
}

/// The reservation update at an outermost pin (capture the list, traverse, republish) races a
/// `try_retire` inserting into that list, docked-tail path included: nothing is freed under
/// the second guard and every node is freed exactly once.
#[test]
fn loom_pin_update_races_try_retire() {
    loom::model(|| {
        let World {
            domain,
            shared,
            nodes,
            freed,
            drops,
        } = world();
        let reader = {
            let (domain, shared, freed) =
                (Arc::clone(&domain), Arc::clone(&shared), Arc::clone(&freed));
            loom::thread::spawn(move || {
                let handle = domain.register().unwrap();
                for _ in 0..2 {
                    let guard = handle.pin();
                    let seen = guard.protect(&shared, Ordering::Acquire) as usize;
                    let id = nodes
                        .iter()
                        .position(|&n| n == seen)
                        .expect("a published node");
                    assert!(
                        !freed[id].load(StdOrdering::SeqCst),
                        "node {id} freed under a guard"
                    );
                    drop(guard);
                }
            })
        };
        let writer = {
            let (domain, shared) = (Arc::clone(&domain), Arc::clone(&shared));
            loom::thread::spawn(move || {
                let handle = domain.register().unwrap();
                let guard = handle.pin();
                for next in [nodes[1], nodes[2]] {
                    let old = shared.swap(next as *mut Node<Payload>, Ordering::AcqRel);
                    // SAFETY: unlinked by the swap, retired once.
                    unsafe { guard.retire_node(NonNull::new(old).unwrap()) };
                }
                drop(guard);
            })
        };
        reader.join().unwrap();
        writer.join().unwrap();
        let last = shared.swap(std::ptr::null_mut(), Ordering::AcqRel);
        let handle = domain.register().unwrap();
        // SAFETY: unlinked, retired once.
        unsafe { handle.retire_node(NonNull::new(last).unwrap()) };
        handle.flush();
        drop(handle);
        assert_eq!(drops.load(StdOrdering::SeqCst), 3);
        drop(domain);
    });
}
