//! Thread exit is bounded by the exiting thread's own work. Destructors that only read (pin
//! and load, creating no garbage) reactivate the exiting reservation, and other threads place
//! batches in it; the exit releases those once and parks what that frees for another thread,
//! instead of freeing it and running more destructors for as long as other threads keep
//! placing. Found by the adversarial review of issue 11 (mutant `exit_loops_while_fed`: one
//! round per batch another thread places).
#![cfg(not(kovan_loom))]

use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;

use kovan_reclaim::stall::{self, Step};
use kovan_reclaim::{Node, default_domain, with_handle};

/// Batches the writer places while the reader's thread exits.
const FED: usize = 50;

static CELL: AtomicPtr<Node<u64>> = AtomicPtr::new(std::ptr::null_mut());
static ROUNDS: AtomicUsize = AtomicUsize::new(0);

/// `Reader` values created and dropped.
static CREATED: AtomicUsize = AtomicUsize::new(0);
static DROPPED: AtomicUsize = AtomicUsize::new(0);

/// A value whose drop only reads a shared cell (pin, protected load); it retires nothing.
struct Reader;

impl Drop for Reader {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
        let guard = kovan_reclaim::pin();
        // Moves the era (a flush under a guard keeps the reservation), so that the load below
        // publishes again.
        kovan_reclaim::flush();
        let _ = guard.protect(&CELL, Ordering::Acquire);
    }
}

fn retire_readers(count: usize) {
    let nodes: Vec<_> = (0..count)
        .map(|_| {
            CREATED.fetch_add(1, Ordering::SeqCst);
            Node::alloc(default_domain(), Reader)
        })
        .collect();
    for node in nodes {
        // SAFETY: never published, retired once.
        with_handle(|handle| unsafe { handle.retire_node(node) });
    }
}

#[test]
fn thread_exit_ends_when_its_destructors_create_no_garbage() {
    CELL.store(Node::alloc(default_domain(), 7).as_ptr(), Ordering::Release);
    let (request_tx, request_rx) = mpsc::channel::<()>();
    let (reply_tx, reply_rx) = mpsc::channel::<()>();
    let writer = thread::spawn(move || {
        let mut fed = 0;
        while request_rx.recv().is_ok() {
            if fed < FED {
                fed += 1;
                // Two nodes: one for the exiting thread's reservation, one refs node.
                retire_readers(2);
                kovan_reclaim::flush();
            }
            reply_tx.send(()).unwrap();
        }
    });
    let exiting = thread::spawn(move || {
        // The hook is registered before the default handle, so it outlives the handle's exit.
        let mut fed_in_round = usize::MAX;
        stall::set_hook(move |step| match step {
            Step::ExitDeactivated => {
                ROUNDS.fetch_add(1, Ordering::SeqCst);
            }
            Step::ProtectPublished => {
                let round = ROUNDS.load(Ordering::SeqCst);
                if fed_in_round != round {
                    fed_in_round = round;
                    // Another thread places a batch while this reservation is active.
                    request_tx.send(()).unwrap();
                    reply_rx.recv().unwrap();
                }
            }
            _ => {}
        });
        retire_readers(1);
    });
    exiting.join().unwrap();
    writer.join().unwrap();
    let rounds = ROUNDS.load(Ordering::SeqCst);
    println!("exit rounds: {rounds}");
    assert!(
        rounds <= 4,
        "the exit ran {rounds} rounds; its destructors created no garbage"
    );
    // What the exit parked is adopted and freed by the next flush of any thread.
    kovan_reclaim::flush();
    assert_eq!(
        DROPPED.load(Ordering::SeqCst),
        CREATED.load(Ordering::SeqCst),
        "every reader is dropped once"
    );
}
