//! loom models of the protocol (small constants under `cfg(kovan_loom)`: batches of 2, one protect
//! round before escalation, an era advance every 2 retires).
#![cfg(kovan_loom)]

use std::panic::AssertUnwindSafe;
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

/// Unlinks the last published node and retires it on a fresh handle, then flushes and exits that
/// handle: afterwards nothing of the model is left to free.
fn retire_last(domain: &Arc<Domain>, shared: &AtomicPtr<Node<Payload>>) {
    let last = shared.swap(std::ptr::null_mut(), Ordering::AcqRel);
    let handle = domain.register().unwrap();
    // SAFETY: unlinked, retired once.
    unsafe { handle.retire_node(NonNull::new(last).unwrap()) };
    handle.flush();
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
        retire_last(&domain, &shared);
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
        domain.register().unwrap().flush();
        assert_eq!(
            drops.load(StdOrdering::SeqCst),
            1,
            "the exiting thread's batch was freed"
        );
        retire_last(&domain, &shared);
        assert_eq!(drops.load(StdOrdering::SeqCst), 2);
        // Node 2 was never published.
        // SAFETY: allocated in `world`, never published or retired.
        unsafe { Node::dealloc(NonNull::new(nodes[2] as *mut Node<Payload>).unwrap()) };
        drop(domain);
    });
}

/// The reservation update at an outermost pin (capture the list, traverse, republish) races a
/// a batch placement inserting into that list, docked-tail path included: nothing is freed under
/// the second guard and every node is freed exactly once.
#[test]
fn loom_pin_update_races_placement() {
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
        retire_last(&domain, &shared);
        assert_eq!(drops.load(StdOrdering::SeqCst), 3);
        drop(domain);
    });
}

/// A thread retires one node and exits while the main thread's guard keeps every reservation
/// of its era busy, so its one-node batch cannot be placed and is parked; another thread
/// retires and flushes meanwhile, adopting the parked batch if it is there yet (else the main
/// thread's flush does). The node under the main guard is never freed; at the end every node
/// is freed exactly once, so no parked batch is lost.
#[test]
fn loom_exit_parks_and_flush_adopts() {
    loom::model(|| {
        let World {
            domain,
            shared,
            nodes,
            freed,
            drops,
        } = world();
        let handle = domain.register().unwrap();
        let guard = handle.pin();
        let seen = guard.protect(&shared, Ordering::Acquire) as usize;
        assert_eq!(seen, nodes[0]);
        let swapper = |next: usize, flush: bool| {
            let (domain, shared) = (Arc::clone(&domain), Arc::clone(&shared));
            loom::thread::spawn(move || {
                let handle = domain.register().unwrap();
                let old = shared.swap(next as *mut Node<Payload>, Ordering::AcqRel);
                // SAFETY: unlinked by the swap, retired once.
                unsafe { handle.retire_node(NonNull::new(old).unwrap()) };
                if flush {
                    handle.flush();
                }
            })
        };
        let exiting = swapper(nodes[1], false);
        let flushing = swapper(nodes[2], true);
        exiting.join().unwrap();
        flushing.join().unwrap();
        assert!(
            !freed[0].load(StdOrdering::SeqCst),
            "node 0 freed under the main guard"
        );
        drop(guard);
        handle.flush();
        drop(handle);
        retire_last(&domain, &shared);
        assert_eq!(drops.load(StdOrdering::SeqCst), 3);
        drop(domain);
    });
}

/// The era-advance rule at exit: a thread retires three nodes (its second retire advances the
/// era but cannot place the batch of two while two reservations are eligible) and exits, which
/// places the batch in the main thread's reservation and advances the era once more, as it
/// retired since its last advance. The main thread re-pins concurrently; its next pin after
/// the exit sees a new era, updates, and frees the whole batch, whatever era it had reserved
/// (it retired nothing since its last update, so it runs every destructor at once).
#[test]
fn loom_exit_advances_the_era_for_pinned_readers() {
    loom::model(|| {
        let World {
            domain,
            nodes,
            drops,
            ..
        } = world();
        // `shared` keeps node 0's address but nobody loads it: all three are retired below.
        let start = domain.era();
        let reader = domain.register().unwrap();
        drop(reader.pin());
        let exiting = {
            let domain = Arc::clone(&domain);
            loom::thread::spawn(move || {
                let handle = domain.register().unwrap();
                let guard = handle.pin();
                for node in nodes {
                    // SAFETY: never published to any reader, retired once.
                    unsafe { guard.retire_node(NonNull::new(node as *mut Node<Payload>).unwrap()) };
                }
            })
        };
        drop(reader.pin());
        exiting.join().unwrap();
        assert_eq!(
            domain.era(),
            start + 2,
            "one advance by retire, one by exit"
        );
        let guard = reader.pin();
        assert_eq!(
            drops.load(StdOrdering::SeqCst),
            3,
            "the next pin after the exit frees the batch (a reader runs it whole)"
        );
        drop(guard);
        drop(reader);
        drop(domain);
    });
}

/// The panic payload of [`Bomb`], which the model's panic hook keeps quiet.
const BOMB: &str = "bomb destructor";

/// Drops a counter, then panics: a destructor that fails.
struct Bomb(Arc<AtomicUsize>);

impl Drop for Bomb {
    fn drop(&mut self) {
        self.0.fetch_add(1, StdOrdering::SeqCst);
        std::panic::panic_any(BOMB);
    }
}

/// A destructor panics inside the call that frees its batch: another thread retires the bomb
/// and two nodes, placing {bomb, node 1} in this thread's reservation (or freeing it itself,
/// when this thread's re-pin released its reference first) and parking {node 2} at its exit,
/// racing this thread's pins. The panic leaves that call (`catch_unwind`) exactly once, this
/// handle ends unpinned, the bomb's destructor runs once, every other node is freed exactly
/// once, and the handle's id is reused by the next registration.
#[test]
fn loom_panicking_destructor_during_pin() {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&BOMB) {
            hook(info);
        }
    }));
    loom::model(|| {
        let World {
            domain,
            nodes,
            drops,
            ..
        } = world();
        let bombs = Arc::new(AtomicUsize::new(0));
        let bomb = Node::alloc(&domain, Bomb(Arc::clone(&bombs))).as_ptr() as usize;
        let reader = domain.register().unwrap();
        let id = reader.thread_id();
        drop(reader.pin());
        let retiring = {
            let domain = Arc::clone(&domain);
            loom::thread::spawn(move || {
                let handle = domain.register().unwrap();
                let panicked = |retire: &dyn Fn()| {
                    usize::from(std::panic::catch_unwind(AssertUnwindSafe(retire)).is_err())
                };
                let mut panics = panicked(&|| {
                    // SAFETY: never published, retired once.
                    unsafe { handle.retire_node(NonNull::new(bomb as *mut Node<Bomb>).unwrap()) }
                });
                for node in [nodes[1], nodes[2]] {
                    panics += panicked(&|| {
                        let node = NonNull::new(node as *mut Node<Payload>).unwrap();
                        // SAFETY: never published, retired once.
                        unsafe { handle.retire_node(node) }
                    });
                }
                panics
            })
        };
        let pin = || std::panic::catch_unwind(AssertUnwindSafe(|| drop(reader.pin()))).is_err();
        let mut panics = usize::from(pin());
        panics += retiring.join().unwrap();
        panics += usize::from(pin());
        assert_eq!(panics, 1, "the bomb went off exactly once");
        assert!(!reader.is_pinned(), "the panicking pin left no pin count");
        assert_eq!(bombs.load(StdOrdering::SeqCst), 1);
        reader.flush();
        assert_eq!(
            drops.load(StdOrdering::SeqCst),
            2,
            "nodes 1 and 2 freed once"
        );
        drop(reader);
        assert_eq!(
            domain.register().unwrap().thread_id(),
            id,
            "the id is reused"
        );
        // SAFETY: allocated in `world`, never published or retired.
        unsafe { Node::dealloc(NonNull::new(nodes[0] as *mut Node<Payload>).unwrap()) };
        assert_eq!(drops.load(StdOrdering::SeqCst), 3);
        assert_eq!(bombs.load(StdOrdering::SeqCst), 1);
        drop(domain);
    });
}
