//! `Domain::pin`: per-domain handles from a thread-local cache, released at thread exit or at
//! the domain's drop, whichever comes first.
#![cfg(not(kovan_loom))]
mod common;

use std::cell::RefCell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use common::{Canary, Tally, leak_tally};
use kovan_reclaim::{Domain, Guard, Node};

fn retire_fresh(guard: &Guard, tally: &'static Tally, count: u64) {
    for value in 0..count {
        let node = guard.alloc_node(Canary::new(tally, 1_000 + value));
        // SAFETY: never published, retired once.
        unsafe { guard.retire_node(node) };
    }
}

#[test]
fn one_cached_handle_per_thread_released_at_thread_exit() {
    let domain = Arc::new(Domain::new());
    let (pinned_tx, pinned_rx) = mpsc::channel::<()>();
    let (exit_tx, exit_rx) = mpsc::channel::<()>();
    let exit_rx = Arc::new(Mutex::new(exit_rx));
    // `spawn` and `join`, not a scope: a scope may return before the threads' thread-local
    // destructors (where cached handles are released) have run.
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let (domain, pinned_tx, exit_rx) =
                (Arc::clone(&domain), pinned_tx.clone(), Arc::clone(&exit_rx));
            thread::spawn(move || {
                let first = domain.pin();
                let nested = domain.pin();
                drop((first, nested));
                drop(domain.pin());
                pinned_tx.send(()).unwrap();
                // Held until every thread has pinned, so the count below sees all three.
                let _ = exit_rx.lock().unwrap().recv();
            })
        })
        .collect();
    for _ in 0..3 {
        pinned_rx.recv().unwrap();
    }
    assert_eq!(domain.stats().registered_threads, 3, "one id per thread");
    drop(exit_tx);
    for thread in threads {
        thread.join().unwrap();
    }
    // Three threads pinned repeatedly: one id each, all released when they exited.
    assert_eq!(domain.stats().registered_threads, 0);
    let guard = domain.pin();
    assert_eq!(domain.stats().registered_threads, 1);
    drop(guard);
    drop(domain.pin());
    assert_eq!(domain.stats().registered_threads, 1);
}

#[test]
fn dropping_the_domain_releases_the_handles_of_live_threads() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let (retired_tx, retired_rx) = mpsc::channel::<()>();
    let (dropped_tx, dropped_rx) = mpsc::channel::<()>();
    thread::scope(|scope| {
        // Owned by this closure, so a failed assertion below drops it and the thread's `recv`
        // fails instead of waiting forever.
        let dropped_tx = dropped_tx;
        let weak = Arc::downgrade(&domain);
        scope.spawn(move || {
            let domain = weak.upgrade().unwrap();
            let guard = domain.pin();
            // Stays in this thread's open batch: too few to place.
            retire_fresh(&guard, tally, 3);
            drop(guard);
            drop(domain);
            retired_tx.send(()).unwrap();
            dropped_rx.recv().unwrap();
            // The thread lives on and pins through other domains: its cache prunes the
            // dropped domain's entry without touching the released handle.
            let other = Arc::new(Domain::new());
            retire_fresh(&other.pin(), tally, 2);
            other.flush();
        });
        retired_rx.recv().unwrap();
        assert_eq!(tally.live(), 3);
        // The last reference: the drop exits the thread's cached handle, freeing its batch.
        drop(domain);
        assert_eq!(
            tally.live(),
            0,
            "the domain's drop released the cached handle"
        );
        dropped_tx.send(()).unwrap();
    });
    assert_eq!(tally.live(), 0);
}

/// Domains created and dropped while threads pin through them, threads exiting while domains
/// drop: every node dropped exactly once (the canary panics on a second drop, ASan and Miri
/// see a dangling handle), and no id left registered in the domains that survive.
#[test]
fn domains_and_threads_come_and_go() {
    let tally = leak_tally();
    let rounds = if cfg!(miri) { 4 } else { 60 };
    let pool: Arc<Mutex<Vec<Arc<Domain>>>> = Arc::default();
    let survivors: Mutex<Vec<Arc<Domain>>> = Mutex::new(Vec::new());
    let next = Arc::new(AtomicUsize::new(0));
    for round in 0..rounds {
        // Joined threads (not a scope): their thread-local destructors have run.
        let workers: Vec<_> = (0..3)
            .map(|worker| {
                let (pool, next) = (Arc::clone(&pool), Arc::clone(&next));
                thread::spawn(move || {
                    for step in 0..if cfg!(miri) { 5 } else { 40 } {
                        let domain = {
                            let mut pool = pool.lock().unwrap();
                            if pool.len() < 4 || step % 5 == worker {
                                pool.push(Arc::new(Domain::new()));
                            }
                            let index = next.fetch_add(1, Ordering::Relaxed) % pool.len();
                            // Some threads take the last reference away: those domains drop
                            // while other threads still have cache entries for them.
                            if step % 3 == 0 {
                                pool.swap_remove(index)
                            } else {
                                Arc::clone(&pool[index])
                            }
                        };
                        let guard = domain.pin();
                        retire_fresh(&guard, tally, 1 + (step % 4) as u64);
                        drop(guard);
                        if step % 7 == 0 {
                            domain.flush();
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        if round % 10 == 9 {
            survivors
                .lock()
                .unwrap()
                .extend(pool.lock().unwrap().drain(..2));
        }
    }
    for domain in survivors.lock().unwrap().iter() {
        assert_eq!(domain.stats().registered_threads, 0, "every worker exited");
    }
    pool.lock().unwrap().clear();
    survivors.lock().unwrap().clear();
    assert_eq!(tally.live(), 0);
}

/// A destructor that pins through `Domain::pin` while another `Domain::pin` of the same thread
/// is freeing: the cache is not borrowed across the pin, so nesting works.
#[test]
fn destructors_may_pin_through_other_domains() {
    struct PinsOnDrop {
        other: Arc<Domain>,
        drops: &'static AtomicUsize,
    }
    impl Drop for PinsOnDrop {
        fn drop(&mut self) {
            let guard = self.other.pin();
            let node = guard.alloc_node(7u32);
            // SAFETY: never published, retired once.
            unsafe { guard.retire_node(node) };
            self.drops.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    let first = Arc::new(Domain::new());
    let other = Arc::new(Domain::new());
    let guard = first.pin();
    for _ in 0..200 {
        let node = guard.alloc_node(PinsOnDrop {
            other: Arc::clone(&other),
            drops,
        });
        // SAFETY: never published, retired once.
        unsafe { guard.retire_node(node) };
    }
    drop(guard);
    first.flush();
    assert_eq!(drops.load(Ordering::SeqCst), 200);
    other.flush();
    assert_eq!(other.stats().unfreed(), 0);
    assert_eq!(other.stats().retired, 200);
    // SAFETY: every user of the counter is gone.
    drop(unsafe { Box::from_raw(std::ptr::from_ref(drops).cast_mut()) });
}

thread_local! {
    static LATE: RefCell<LatePin> = const { RefCell::new(LatePin(None)) };
}

/// Pins through a domain from a thread-local destructor, whichever of it and the cache the
/// thread tears down first.
struct LatePin(Option<(Arc<Domain>, &'static Tally)>);

impl Drop for LatePin {
    fn drop(&mut self) {
        if let Some((domain, tally)) = self.0.take() {
            let guard = domain.pin();
            retire_fresh(&guard, tally, 5);
            drop(guard);
            domain.flush();
        }
    }
}

#[test]
fn pinning_during_thread_teardown_loses_nothing() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let shared: AtomicPtr<Node<Canary>> = AtomicPtr::new(std::ptr::null_mut());
    let shared = Arc::new(shared);
    // Thread-local destructors run in the reverse order of first use (on this platform): once
    // with the late pinner torn down first, once with the cache torn down first.
    for late_pinner_first in [false, true] {
        let (worker_domain, worker_shared) = (Arc::clone(&domain), Arc::clone(&shared));
        thread::spawn(move || {
            if late_pinner_first {
                LATE.with(|_| {});
            }
            drop(worker_domain.pin());
            LATE.with(|late| late.borrow_mut().0 = Some((Arc::clone(&worker_domain), tally)));
            let guard = worker_domain.pin();
            let node = guard.alloc_node(Canary::new(tally, 1)).as_ptr();
            let previous = worker_shared.swap(node, Ordering::AcqRel);
            if let Some(previous) = NonNull::new(previous) {
                // SAFETY: unlinked by the swap, retired once.
                unsafe { guard.retire_node(previous) };
            }
        })
        .join()
        .unwrap();
    }
    let last = shared.swap(std::ptr::null_mut(), Ordering::AcqRel);
    let guard = domain.pin();
    // SAFETY: unlinked, retired once.
    unsafe { guard.retire_node(NonNull::new(last).unwrap()) };
    drop(guard);
    domain.flush();
    assert_eq!(
        domain.stats().registered_threads,
        1,
        "only this thread's cached handle"
    );
    drop(domain);
    assert_eq!(tally.live(), 0);
}
