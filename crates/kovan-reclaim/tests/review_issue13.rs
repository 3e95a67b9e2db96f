//! Adversarial review of issue 13 (statistics, owned guards, `Guard::defer`, `Domain::pin`).
//!
//! Tests named `finding_N_*` reproduce a defect the review found (each failed before its fix and
//! now guards against it coming back); `held_*` tests are attacks that the code withstood. A finding whose scenario crashes the process runs in a
//! child process (an `#[ignore]`d `*_child` test that the finding's test launches), so that
//! the finding fails like any other test instead of taking the suite down.
#![cfg(not(kovan_loom))]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::process::Command;
use std::ptr::NonNull;
use std::sync::atomic::AtomicUsize as AtomicCount;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, mpsc};
use std::thread;

use common::{Canary, Tally, alloc, leak_tally};
use kovan_core::MAX_THREADS;
use kovan_reclaim::{Domain, DomainGuard, Guard, LocalHandle, Node, OwnedGuard, RETIRE_FREQ};

fn retire_now<T: Send + 'static>(handle: &LocalHandle, node: *mut Node<T>) {
    // SAFETY: every caller has unlinked `node` (or never published it) and retires it once.
    unsafe { handle.retire_node(NonNull::new(node).unwrap()) };
}

fn retire_fresh(guard: &Guard, tally: &'static Tally, count: u64) {
    for value in 0..count {
        let node = guard.alloc_node(Canary::new(tally, 1_000 + value));
        // SAFETY: never published, retired once.
        unsafe { guard.retire_node(node) };
    }
}

/// Counts how often it was dropped: a deferred function that captures one shows whether the
/// function was run (or at least dropped) or leaked.
struct Token(Arc<AtomicUsize>);

impl Drop for Token {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A value whose drop panics (a destructor or deferred function that fails).
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("bomb");
    }
}

/// Runs the `#[ignore]`d test `name` of this binary in a child process and reports whether it
/// passed: for scenarios that crash the process (a stack overflow aborts it).
fn child_passes(name: &str) -> (bool, String) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            name,
            "--test-threads=1",
            "--nocapture",
        ])
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("the test binary runs again");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: String = stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .rev()
        .take(8)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    (
        output.status.success(),
        format!("{}: {tail}", output.status),
    )
}

/// The layout `Arc<Domain>` allocates (`ArcInner` is `repr(C)`: two counters, then the value).
#[repr(C)]
struct ArcInnerMirror {
    _strong: AtomicCount,
    _weak: AtomicCount,
    _data: Domain,
}

const DOMAIN_ALLOCATION: Layout = Layout::new::<ArcInnerMirror>();

thread_local! {
    /// Whether this thread's `Arc<Domain>` allocations go through the one-block stash below
    /// (const, no destructor: readable from the allocator at any time, allocation-free).
    static REUSE_DOMAIN_ADDRESS: Cell<bool> = const { Cell::new(false) };
}

static STASHED_DOMAIN: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());

/// The system allocator, except that on a thread that asks for it, a freed `Arc<Domain>` block
/// is handed out again by the next `Arc<Domain>` allocation (as any allocator may do; glibc's
/// aligned allocations just rarely do it at once). Makes finding 1 deterministic.
struct ReuseAllocator;

fn reusing() -> bool {
    REUSE_DOMAIN_ADDRESS.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: forwards to `System`, except for blocks of one layout that it keeps and hands out
// again for that same layout.
unsafe impl GlobalAlloc for ReuseAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout == DOMAIN_ALLOCATION && reusing() {
            let stashed = STASHED_DOMAIN.swap(std::ptr::null_mut(), Ordering::AcqRel);
            if !stashed.is_null() {
                return stashed;
            }
        }
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout == DOMAIN_ALLOCATION
            && reusing()
            && STASHED_DOMAIN
                .compare_exchange(
                    std::ptr::null_mut(),
                    ptr,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return;
        }
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: ReuseAllocator = ReuseAllocator;

// ---------------------------------------------------------------------------------------------
// Finding 1 (high): `Domain::pin` on a full registry panics between pruning the cache and
// resetting `LAST`, so `LAST` keeps naming a handle that the domain's drop freed, at an address
// that the pruned `Weak` no longer reserves. A new domain allocated there takes the fast path
// and pins through the freed handle: a use-after-free in safe code.
// ---------------------------------------------------------------------------------------------

#[test]
#[cfg_attr(miri, ignore = "claims all 65,536 ids, and spawns a child process")]
fn finding_1_a_registry_full_panic_in_domain_pin_leaves_a_dangling_fast_path() {
    // In a child process: natively the child's assertion fails; under ASan the child aborts
    // with heap-use-after-free (a read of the freed handle in `Local::pin`).
    let (passed, status) = child_passes("finding_1_child");
    assert!(
        passed,
        "Domain::pin of a new domain at a dropped domain's address went through the dropped \
         domain's freed cached handle: {status}"
    );
}

#[test]
#[ignore = "finding 1 child: use-after-free (run by finding_1_...)"]
fn finding_1_child() {
    thread::spawn(|| {
        let dropped = Arc::new(Domain::new());
        let dropped_at = Arc::as_ptr(&dropped) as usize;
        // The thread's `LAST` names `dropped` and its cached handle.
        drop(dropped.pin());
        // The domain's drop exits and frees that handle; the cache's `Weak` still keeps the
        // domain's allocation, so no new domain can appear at its address yet.
        drop(dropped);

        let full = Arc::new(Domain::new());
        let handles: Vec<LocalHandle> =
            (0..MAX_THREADS).map(|_| full.register().unwrap()).collect();
        REUSE_DOMAIN_ADDRESS.set(true);
        let quiet = panic::take_hook();
        panic::set_hook(Box::new(|_| {}));
        // A miss: the cache prunes the dropped domain's entry (its `Weak` was the last: the
        // allocation is freed), then registration fails and panics before `LAST` is reset.
        let panicked = panic::catch_unwind(AssertUnwindSafe(|| drop(full.pin()))).is_err();
        panic::set_hook(quiet);
        assert!(
            panicked,
            "`Domain::pin` documents a panic on a full registry"
        );

        // Allocate domains until one lands where the dropped one was.
        let mut others = Vec::new();
        let reused = loop {
            let candidate = Arc::new(Domain::new());
            if Arc::as_ptr(&candidate) as usize == dropped_at {
                break Some(candidate);
            }
            others.push(candidate);
            if others.len() == 10_000 {
                break None;
            }
        };
        REUSE_DOMAIN_ADDRESS.set(false);
        let Some(reused) = reused else {
            // The allocator never handed the address out again: nothing to show here.
            eprintln!("finding 1: address not reused by the allocator; scenario not reached");
            return;
        };
        let before = reused.stats().registered_threads;
        let guard = reused.pin();
        let after = reused.stats().registered_threads;
        let reserved = reused.stats().oldest_reservation;
        drop(guard);
        // `handles` stay alive up to here so that the freed handle's memory (reused by one of
        // them) is valid memory of the wrong domain rather than unmapped.
        drop(handles);
        assert_eq!(
            (before, after),
            (0, 1),
            "the first pin of a new domain must register a handle; it went through the freed \
             handle of the dropped domain (stale LAST fast path)"
        );
        assert!(
            reserved.is_some(),
            "the guard must hold a reservation in its own domain"
        );
    })
    .join()
    .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Finding 2 (medium): a chain freed while a thread's `Domain::pin` cache is torn down (or
// after it) nests one temporary handle, one thread id and one exit per link: the stack grows
// with the chain. The default domain joins the exiting handle instead (`tests/teardown.rs`:
// 100,000 links on a 256 KiB stack); `Domain::pin` has no such path and overflows.
// ---------------------------------------------------------------------------------------------

const CHAIN_LINKS: usize = 20_000;

/// A link whose drop retires the next one through `Domain::pin`, as the teardown of a
/// lock-free list with its own domain does.
struct DomainLink {
    domain: Arc<Domain>,
    next: Option<NonNull<Node<DomainLink>>>,
    drops: Arc<AtomicUsize>,
}

// SAFETY: a link is owned by whoever holds the previous one; the chain is never shared.
unsafe impl Send for DomainLink {}

impl Drop for DomainLink {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if let Some(next) = self.next.take() {
            let guard = self.domain.pin();
            // SAFETY: reachable only from this link, which gives it up; retired once.
            unsafe { guard.retire_node(next) };
        }
    }
}

#[test]
#[ignore = "finding 2 child: overflows the stack (run by finding_2_...)"]
fn finding_2_child() {
    let domain = Arc::new(Domain::new());
    let drops = Arc::new(AtomicUsize::new(0));
    let (worker_domain, worker_drops) = (Arc::clone(&domain), Arc::clone(&drops));
    thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let mut next = None;
            for _ in 0..CHAIN_LINKS {
                next = Some(Node::alloc(
                    &worker_domain,
                    DomainLink {
                        domain: Arc::clone(&worker_domain),
                        next,
                        drops: Arc::clone(&worker_drops),
                    },
                ));
            }
            let guard = worker_domain.pin();
            // SAFETY: never published, retired once.
            unsafe { guard.retire_node(next.unwrap()) };
            drop(guard);
            // The head waits in the cached handle's open batch; the cache's destructor exits
            // the handle, frees the head, and every link's drop pins through the torn-down
            // cache.
        })
        .unwrap()
        .join()
        .unwrap();
    // A link's drop pins, which republishes this thread's reservation: each flush frees what
    // the previous one left covered by it, one link at a time (flush's documented rule).
    for _ in 0..2 * CHAIN_LINKS {
        if drops.load(Ordering::SeqCst) == CHAIN_LINKS {
            break;
        }
        domain.flush();
    }
    assert_eq!(drops.load(Ordering::SeqCst), CHAIN_LINKS);
}

#[test]
#[cfg_attr(miri, ignore = "spawns a child process")]
fn finding_2_a_chain_freed_at_thread_exit_through_domain_pin_nests_per_link() {
    let (passed, status) = child_passes("finding_2_child");
    assert!(
        passed,
        "freeing a {CHAIN_LINKS}-link chain at thread exit through Domain::pin crashed the \
         process on a 256 KiB stack (one nested temporary handle per link): {status}"
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 3 (medium): deferred records that an exit parks are adopted into the adopter's
// *node* batch (`adopt_from` merges every parked chain into `batch`), so the record's first
// era makes that node batch eligible for every reservation: a stalled reader then holds back
// the nodes retired beside it, which section 9 says never happens.
// ---------------------------------------------------------------------------------------------

#[test]
fn finding_3_a_parked_deferred_record_makes_the_adopters_nodes_wait_for_a_stalled_reader() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let reader = domain.register().unwrap();
    let stalled = reader.pin();
    let writer = domain.register().unwrap();
    // Move the era past the stalled reader's: nodes born from now on are not its business.
    writer.flush();
    assert!(domain.era() > domain.stats().oldest_reservation.unwrap().era);

    // Control: young nodes retired and flushed are all freed despite the stalled reader.
    for value in 0..10 {
        retire_now(&writer, alloc(&writer, tally, 100 + value));
    }
    writer.flush();
    assert_eq!(
        tally.live(),
        0,
        "control: young nodes are not held by the stalled reader"
    );

    // A short-lived thread defers one function and exits: one record cannot be placed with
    // the reader's reservation eligible, so the exit parks it.
    let ran = Arc::new(AtomicUsize::new(0));
    thread::scope(|scope| {
        scope.spawn(|| {
            let handle = domain.register().unwrap();
            let guard = handle.pin();
            let ran = Arc::clone(&ran);
            guard.defer(move || {
                ran.fetch_add(1, Ordering::SeqCst);
            });
        });
    });
    // Since the fix for finding 6 the exit places the record (padded with an empty one)
    // instead of parking it; either way the young nodes below must not wait for the reader.

    // The same young nodes as the control; a flush would adopt a parked record.
    for value in 0..10 {
        retire_now(&writer, alloc(&writer, tally, 200 + value));
    }
    writer.flush();
    let held = tally.live();

    drop(stalled);
    reader.flush();
    writer.flush();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(tally.live(), 0);
    assert_eq!(
        held, 0,
        "{held} young nodes held back by the stalled reader because a parked deferred record \
         joined their batch"
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 4 (medium): a destructor (or deferred function) that panics while `Domain::drop`
// exits a thread's cached handle unwinds out of the claim loop: the cached handles of the
// other threads are never claimed and the final drain never runs, so their garbage and their
// deferred functions leak (I5 says the rest still runs).
// ---------------------------------------------------------------------------------------------

#[test]
fn finding_4_a_panic_while_the_domain_drops_skips_the_other_threads_cached_handles() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    // This thread's cached handle takes the lowest id, so the drop claims it first.
    domain.flush();
    let ran = Arc::new(AtomicUsize::new(0));
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (exit_tx, exit_rx) = mpsc::channel::<()>();
    let other = {
        let (domain, ran) = (Arc::clone(&domain), Arc::clone(&ran));
        thread::spawn(move || {
            let guard = domain.pin();
            retire_fresh(&guard, tally, 3);
            guard.defer(move || {
                ran.fetch_add(1, Ordering::SeqCst);
            });
            drop(guard);
            drop(domain);
            ready_tx.send(()).unwrap();
            // Alive (its cache entry stays) until the domain has dropped.
            exit_rx.recv().unwrap();
        })
    };
    ready_rx.recv().unwrap();
    // Born after the other thread's reservation: the drop's exit of this thread's handle
    // frees it at once.
    domain.flush();
    let guard = domain.pin();
    let bomb = guard.alloc_node(Bomb);
    // SAFETY: never published, retired once.
    unsafe { guard.retire_node(bomb) };
    drop(guard);

    let quiet = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let panicked = panic::catch_unwind(AssertUnwindSafe(|| drop(domain))).is_err();
    panic::set_hook(quiet);
    assert!(panicked, "the destructor's panic propagates");
    exit_tx.send(()).unwrap();
    other.join().unwrap();
    assert_eq!(
        (tally.live(), ran.load(Ordering::SeqCst)),
        (0, 1),
        "the other thread's nodes and deferred function leaked: the panic skipped its cached \
         handle and the domain's final drain"
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 5 (medium): retire, defer and flush through an owned guard register a handle for
// the calling thread; on a full registry that panics (no typed error, no `# Panics` on
// `Guard::defer`/`retire_raw`), and what was handed over leaks: the deferred function is
// neither run nor dropped (a retired node likewise).
// ---------------------------------------------------------------------------------------------

#[test]
#[cfg_attr(miri, ignore = "claims all 65,536 ids")]
fn finding_5_defer_through_an_owned_guard_on_a_full_registry_leaks_the_function() {
    let domain = Arc::new(Domain::new());
    let owned = domain.pin_owned().unwrap();
    let handles: Vec<LocalHandle> = (1..MAX_THREADS)
        .map(|_| domain.register().unwrap())
        .collect();
    assert!(domain.pin_owned().is_err(), "the registry is full");
    let dropped = Arc::new(AtomicUsize::new(0));
    let quiet = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let panicked = thread::scope(|scope| {
        let (owned, dropped) = (&owned, &dropped);
        scope
            .spawn(move || {
                let token = Token(Arc::clone(dropped));
                panic::catch_unwind(AssertUnwindSafe(|| {
                    owned.defer(move || drop(token));
                }))
                .is_err()
            })
            .join()
            .unwrap()
    });
    panic::set_hook(quiet);
    drop(handles);
    drop(owned);
    drop(domain);
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the deferred function was neither run nor dropped (defer panicked: {panicked})"
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 6 (medium): a thread's deferred batch with fewer records than there are active
// reservations can never be placed (every reservation is eligible for a first-era record),
// so while another thread is merely alive and pinning now and then, `flush` never runs a
// single deferred function, even after every guard dropped and the other thread "pinned again
// after the era moved" (what `Guard::defer` promises). Nodes retired the same way are freed.
// ---------------------------------------------------------------------------------------------

#[test]
fn finding_6_one_deferred_function_never_runs_while_another_thread_is_registered() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let other = domain.register().unwrap();
    // The other thread pinned once and is idle: its reservation stays published (era 1).
    drop(other.pin());
    let handle = domain.register().unwrap();
    handle.flush();
    let ran = Arc::new(AtomicUsize::new(0));
    let guard = handle.pin();
    let counter = Arc::clone(&ran);
    guard.defer(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    // A node unlinked at the same moment, born after the idle reservation's era.
    retire_now(&handle, alloc(&handle, tally, 1));
    drop(guard);
    handle.flush();
    assert_eq!(
        tally.live(),
        0,
        "the node retired beside it is freed by the flush"
    );
    for _ in 0..10 {
        // The other thread pins again after each era advance (what `Guard::defer` says
        // releases it), and this thread flushes.
        drop(other.pin());
        handle.flush();
    }
    assert_eq!(
        ran.load(Ordering::SeqCst),
        1,
        "no guard is live, the other thread pinned again after every era advance and this \
         thread flushed eleven times: the deferred function never ran (a one-record batch is \
         never placed while another reservation is active)"
    );
    drop(other);
    handle.flush();
    assert_eq!(
        ran.load(Ordering::SeqCst),
        1,
        "runs once the other thread is gone"
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 7 (high, Miri): `Domain::drop(&mut self)` exits the threads' cached handles, whose
// `Local` reaches the domain through a pointer taken from a shared reference when the handle
// was registered. The `&mut self` of the drop is a unique retag of the whole domain, which
// invalidates that pointer; the exit then reads the domain through it (`Local::domain` in
// `finish_exit`'s era tick and elsewhere): undefined behaviour under Stacked Borrows. Passes
// natively; `cargo +nightly miri test -p kovan-reclaim --test review_issue13 finding_7` fails,
// and so does the project's own `domain_pin::destructors_may_pin_through_other_domains`.
// ---------------------------------------------------------------------------------------------

#[test]
fn finding_7_the_domains_drop_exits_a_cached_handle_through_an_invalidated_pointer() {
    let domain = Arc::new(Domain::new());
    let guard = domain.pin();
    let node = guard.alloc_node(5u32);
    // SAFETY: never published, retired once.
    unsafe { guard.retire_node(node) };
    drop(guard);
    // The last reference, with this thread's cached handle still registered: the drop claims
    // and exits it.
    drop(domain);
}

// ---------------------------------------------------------------------------------------------
// Attacks that held.
// ---------------------------------------------------------------------------------------------

/// Dropping an owned guard inside a destructor (its exit runs nested in the drain of another
/// thread's handle): its id is released, and what it held is freed.
#[test]
fn held_an_owned_guard_dropped_by_a_destructor() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let writer = domain.register().unwrap();
    let shared = AtomicPtr::new(alloc(&writer, tally, 1));
    let owned = domain.pin_owned().unwrap();
    let loaded = owned.protect(&shared, Ordering::Acquire);
    let old = shared.swap(alloc(&writer, tally, 2), Ordering::AcqRel);
    assert_eq!(old, loaded);
    retire_now(&writer, old);
    // Companions, so that the batch is placed (a node goes to the owned guard's reservation)
    // before the holder below is retired: otherwise the holder would share a batch with `old`
    // and the owned guard would hold the node that owns it.
    for value in 1..RETIRE_FREQ as u64 {
        retire_now(&writer, alloc(&writer, tally, 100 + value));
    }
    writer.flush();
    assert!(!tally.was_dropped(1), "held by the owned guard");
    // SAFETY: protected by `owned`, alive.
    unsafe { &*loaded }.value().check();
    let registered = domain.stats().registered_threads;
    // A node whose value is the owned guard: its destructor drops the guard.
    let holder = writer.alloc_node(owned);
    // SAFETY: never published, retired once.
    unsafe { writer.retire_node(holder) };
    writer.flush();
    assert_eq!(domain.stats().registered_threads, registered - 1);
    assert!(tally.was_dropped(1), "released with the owned guard");
    retire_now(&writer, shared.swap(std::ptr::null_mut(), Ordering::AcqRel));
    writer.flush();
    assert_eq!(tally.live(), 0);
    assert_eq!(domain.stats().unfreed(), 0);
}

thread_local! {
    static OWNED_AT_EXIT: RefCell<Option<OwnedAtExit>> = const { RefCell::new(None) };
}

/// Retires, defers and drops an owned guard from a thread-local destructor, whichever of it
/// and the `Domain::pin` cache the thread tears down first.
struct OwnedAtExit {
    guard: OwnedGuard,
    tally: &'static Tally,
    ran: Arc<AtomicUsize>,
}

impl Drop for OwnedAtExit {
    fn drop(&mut self) {
        retire_fresh(&self.guard, self.tally, 3);
        let ran = Arc::clone(&self.ran);
        self.guard.defer(move || {
            ran.fetch_add(1, Ordering::SeqCst);
        });
        self.guard.flush();
    }
}

#[test]
fn held_an_owned_guard_used_and_dropped_during_thread_teardown() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let ran = Arc::new(AtomicUsize::new(0));
    for cache_first in [false, true] {
        let (worker_domain, worker_ran) = (Arc::clone(&domain), Arc::clone(&ran));
        thread::spawn(move || {
            if !cache_first {
                // Registered first, torn down last: after the cache.
                OWNED_AT_EXIT.with(|_| {});
            }
            drop(worker_domain.pin());
            let guard = worker_domain.pin_owned().unwrap();
            OWNED_AT_EXIT.with(|slot| {
                *slot.borrow_mut() = Some(OwnedAtExit {
                    guard,
                    tally,
                    ran: worker_ran,
                });
            });
        })
        .join()
        .unwrap();
    }
    let handle = domain.register().unwrap();
    handle.flush();
    assert_eq!(ran.load(Ordering::SeqCst), 2);
    assert_eq!(tally.live(), 0);
    let stats = domain.stats();
    assert_eq!(
        stats.registered_threads, 1,
        "only `handle`: every worker id was released"
    );
    // 8 retirements, plus the empty records that exits and flushes add to place a small
    // deferred batch (one per eligible reservation plus one, each time).
    assert!(stats.retired >= 8, "{stats}");
    assert_eq!(stats.unfreed(), 0, "{stats}");
}

/// An owned guard moved to another thread and dropped there during that thread's teardown,
/// while this thread defers: the function waits for it.
#[test]
fn held_defer_waits_for_an_owned_guard_parked_on_another_thread() {
    let domain = Arc::new(Domain::new());
    let handle = domain.register().unwrap();
    let owned = domain.pin_owned().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let guard = handle.pin();
    let counter = Arc::clone(&ran);
    guard.defer(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    drop(guard);
    let (drop_tx, drop_rx) = mpsc::channel::<()>();
    let parked = thread::spawn(move || {
        drop_rx.recv().unwrap();
        drop(owned);
    });
    for _ in 0..3 {
        handle.flush();
    }
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "the owned guard was live at the call"
    );
    drop_tx.send(()).unwrap();
    parked.join().unwrap();
    handle.flush();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    drop(handle);
    drop(domain);
    assert_eq!(ran.load(Ordering::SeqCst), 1, "exactly once");
}

/// A deferred function that defers another: both run exactly once, the second in the same
/// flush (the flush continues while destructors retire).
#[test]
fn held_a_deferred_function_may_defer_again() {
    let domain = Arc::new(Domain::new());
    let first = Arc::new(AtomicUsize::new(0));
    let second = Arc::new(AtomicUsize::new(0));
    let (worker_domain, worker_first, worker_second) =
        (Arc::clone(&domain), Arc::clone(&first), Arc::clone(&second));
    // On a joined thread: its cache releases its handle at exit (a domain dropped with a
    // cached handle still registered runs into finding 7 under Miri).
    thread::spawn(move || {
        let (domain, first, second) = (worker_domain, worker_first, worker_second);
        let guard = domain.pin();
        let (inner_domain, first_ran, second_ran) =
            (Arc::clone(&domain), Arc::clone(&first), Arc::clone(&second));
        guard.defer(move || {
            first_ran.fetch_add(1, Ordering::SeqCst);
            let guard = inner_domain.pin();
            guard.defer(move || {
                second_ran.fetch_add(1, Ordering::SeqCst);
            });
        });
        drop(guard);
        domain.flush();
        assert_eq!(first.load(Ordering::SeqCst), 1);
        // The first function's pin published this thread's reservation again during the
        // flush, which holds the second record until the next flush (documented on `flush`).
        domain.flush();
        assert_eq!(
            (first.load(Ordering::SeqCst), second.load(Ordering::SeqCst)),
            (1, 1)
        );
        domain.flush();
    })
    .join()
    .unwrap();
    drop(domain);
    assert_eq!(
        (first.load(Ordering::SeqCst), second.load(Ordering::SeqCst)),
        (1, 1)
    );
}

/// A domain dropped on a thread whose own cache has an entry for it (the drop exits that very
/// handle while `LAST` still names it), then domains created and pinned on the same thread:
/// each registers a fresh handle; none is ever confused with the dropped one. (Holds natively;
/// under Miri the drop runs into finding 7.)
#[test]
fn held_a_domain_dropped_on_its_own_cached_thread_then_new_domains() {
    let tally = leak_tally();
    thread::spawn(move || {
        for _ in 0..if cfg!(miri) { 3 } else { 200 } {
            let domain = Arc::new(Domain::new());
            let guard = domain.pin();
            retire_fresh(&guard, tally, 3);
            drop(guard);
            let address = Arc::as_ptr(&domain);
            drop(domain);
            assert_eq!(tally.live(), 0, "the drop freed the cached handle's batch");
            let next = Arc::new(Domain::new());
            assert_ne!(
                Arc::as_ptr(&next),
                address,
                "the entry's Weak reserves the address"
            );
            let guard = next.pin();
            assert_eq!(next.stats().registered_threads, 1);
            retire_fresh(&guard, tally, 2);
            drop(guard);
            drop(next);
            assert_eq!(tally.live(), 0);
        }
    })
    .join()
    .unwrap();
}

/// Pins through another domain from destructors that `Domain::drop` runs while it exits a
/// cached handle of another (live) thread. (Holds natively; under Miri the drop runs into
/// finding 7.)
#[test]
fn held_domain_pin_from_destructors_run_by_the_domains_drop() {
    struct PinsOther {
        other: Arc<Domain>,
        tally: &'static Tally,
    }
    impl Drop for PinsOther {
        fn drop(&mut self) {
            let guard = self.other.pin();
            retire_fresh(&guard, self.tally, 2);
        }
    }
    let tally = leak_tally();
    let first = Arc::new(Domain::new());
    let other = Arc::new(Domain::new());
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (exit_tx, exit_rx) = mpsc::channel::<()>();
    let worker = {
        let (first, other) = (Arc::clone(&first), Arc::clone(&other));
        thread::spawn(move || {
            let guard = first.pin();
            for _ in 0..5 {
                let node = guard.alloc_node(PinsOther {
                    other: Arc::clone(&other),
                    tally,
                });
                // SAFETY: never published, retired once.
                unsafe { guard.retire_node(node) };
            }
            drop(guard);
            drop((first, other));
            ready_tx.send(()).unwrap();
            exit_rx.recv().unwrap();
        })
    };
    ready_rx.recv().unwrap();
    // The last reference: the drop exits the worker's cached handle here, and its destructors
    // pin `other` through this thread's cache.
    drop(first);
    assert_eq!(other.stats().retired, 10);
    other.flush();
    assert_eq!(other.stats().unfreed(), 0);
    exit_tx.send(()).unwrap();
    worker.join().unwrap();
    assert_eq!(tally.live(), 0);
}

/// The domain's last reference is held by nodes of the domain itself: the thread's cache
/// destructor upgrades the `Weak`, exits the handle (freeing those nodes), and the domain then
/// drops inside the cache's destructor, during the thread's teardown.
#[test]
fn held_a_domain_that_drops_inside_the_cache_destructor() {
    struct HoldsDomain {
        _domain: Arc<Domain>,
        drops: &'static AtomicUsize,
    }
    impl Drop for HoldsDomain {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
        }
    }
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let weak = thread::spawn(|| {
        let domain = Arc::new(Domain::new());
        let guard = domain.pin();
        for _ in 0..5 {
            let node = guard.alloc_node(HoldsDomain {
                _domain: Arc::clone(&domain),
                drops: &DROPS,
            });
            // SAFETY: never published, retired once.
            unsafe { guard.retire_node(node) };
        }
        drop(guard);
        Arc::downgrade(&domain)
    })
    .join()
    .unwrap();
    assert_eq!(DROPS.load(Ordering::SeqCst), 5);
    assert!(
        weak.upgrade().is_none(),
        "dropped during the thread's teardown"
    );
}

thread_local! {
    static HELD_GUARD: RefCell<Option<DomainGuard<'static>>> = const { RefCell::new(None) };
}

static STATIC_DOMAIN: LazyLock<Arc<Domain>> = LazyLock::new(|| Arc::new(Domain::new()));

/// A `DomainGuard<'static>` (from a `static` Arc) kept in a thread-local that is torn down after
/// the cache: the cache's destructor finds the handle pinned and leaves its exit to the guard's
/// drop; the id is released either way, and what the guard protects stays valid until then.
#[test]
fn held_a_static_domain_guard_outliving_the_cache() {
    let tally = leak_tally();
    static SHARED: AtomicPtr<Node<Canary>> = AtomicPtr::new(std::ptr::null_mut());
    let shared = &SHARED;
    let writer = STATIC_DOMAIN.register().unwrap();
    shared.store(alloc(&writer, tally, 5), Ordering::Release);
    let baseline = STATIC_DOMAIN.stats().registered_threads;
    thread::spawn(move || {
        // Registered first, torn down last.
        HELD_GUARD.with(|_| {});
        let guard = STATIC_DOMAIN.pin();
        let loaded = guard.protect(shared, Ordering::Acquire);
        // SAFETY: loaded under `guard` from the live cell.
        unsafe { &*loaded }.value().check();
        HELD_GUARD.with(|slot| *slot.borrow_mut() = Some(guard));
    })
    .join()
    .unwrap();
    assert_eq!(STATIC_DOMAIN.stats().registered_threads, baseline);
    retire_now(&writer, shared.swap(std::ptr::null_mut(), Ordering::AcqRel));
    writer.flush();
    assert_eq!(tally.live(), 0);
}

/// Statistics while threads come and go (ids recycled, so `retired_base` matters), free each
/// other's batches and defer: every snapshot has `freed <= retired`, and once quiescent the
/// counts are exact.
#[test]
fn held_stats_stay_consistent_across_id_recycling_and_cross_thread_frees() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let stop = AtomicBool::new(false);
    let waves = if cfg!(miri) { 2 } else { 40 };
    let per_thread: u64 = if cfg!(miri) { 10 } else { 150 };
    let deferred = Arc::new(AtomicUsize::new(0));
    thread::scope(|scope| {
        scope.spawn(|| {
            let mut last = domain.stats();
            while !stop.load(Ordering::Relaxed) {
                let now = domain.stats();
                assert!(now.freed <= now.retired, "{now}");
                assert!(
                    now.retired >= last.retired && now.freed >= last.freed,
                    "{last} / {now}"
                );
                last = now;
                thread::yield_now();
            }
        });
        for _ in 0..waves {
            let workers: Vec<_> = (0..3)
                .map(|worker| {
                    let (domain, deferred) = (Arc::clone(&domain), Arc::clone(&deferred));
                    thread::spawn(move || {
                        let registered = domain.register().unwrap();
                        for value in 0..per_thread {
                            let guard = if worker == 0 {
                                registered.pin()
                            } else {
                                let guard = domain.pin();
                                // A `DomainGuard` derefs to a guard; keep the plain one.
                                drop(guard);
                                registered.pin()
                            };
                            retire_fresh(&guard, tally, 1);
                            if value % 50 == 0 {
                                let deferred = Arc::clone(&deferred);
                                guard.defer(move || {
                                    deferred.fetch_add(1, Ordering::SeqCst);
                                });
                            }
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.join().unwrap();
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    let defers_per_thread = per_thread.div_ceil(50);
    let expected = waves as u64 * 3 * (per_thread + defers_per_thread);
    let handle = domain.register().unwrap();
    handle.flush();
    let stats = domain.stats();
    // Plus the empty records that exits and flushes add to place small deferred batches.
    assert!(stats.retired >= expected, "{stats}");
    assert_eq!(stats.unfreed(), 0, "{stats}");
    assert_eq!(
        stats.registered_threads, 1,
        "only `handle`: every worker id was released"
    );
    assert_eq!(tally.live(), 0);
    assert_eq!(
        deferred.load(Ordering::SeqCst) as u64,
        waves as u64 * 3 * defers_per_thread
    );
}

/// The oldest reservation names an owned guard by the id it reports, also after it moved to
/// another thread; its id is released when it drops there.
#[test]
fn held_stats_name_an_owned_guard_wherever_it_lives() {
    let domain = Arc::new(Domain::new());
    let writer = domain.register().unwrap();
    let owned = domain.pin_owned().unwrap();
    let id = owned.thread_id();
    writer.flush();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (checked_tx, checked_rx) = mpsc::channel::<()>();
    let parked = thread::spawn(move || {
        let _ = go_rx.recv();
        drop(owned);
        checked_tx.send(()).unwrap();
    });
    let oldest = domain.stats().oldest_reservation.unwrap();
    assert_eq!(oldest.thread_id, id);
    assert_eq!(domain.stats().registered_threads, 2);
    go_tx.send(()).unwrap();
    checked_rx.recv().unwrap();
    parked.join().unwrap();
    let stats = domain.stats();
    assert_eq!(stats.registered_threads, 1);
    assert_eq!(stats.oldest_reservation, None);
}

thread_local! {
    static PIN_LATE: Cell<Option<&'static Arc<Domain>>> = const { Cell::new(None) };
    static PIN_LATE_GUARD: PinLate = const { PinLate };
}

struct PinLate;

impl Drop for PinLate {
    fn drop(&mut self) {
        if let Some(domain) = PIN_LATE.take() {
            // After the cache is gone: `LAST` was reset, so these take temporary handles.
            for _ in 0..3 {
                let guard = domain.pin();
                let node = guard.alloc_node(7u64);
                // SAFETY: never published, retired once.
                unsafe { guard.retire_node(node) };
            }
            domain.flush();
        }
    }
}

/// `Domain::pin` after the thread's cache was destroyed, where `LAST` named the same domain
/// just before: the fast path is not taken (its handle was released), temporary handles are.
#[test]
fn held_the_fast_path_after_the_cache_is_gone() {
    static LATE_DOMAIN: LazyLock<Arc<Domain>> = LazyLock::new(|| Arc::new(Domain::new()));
    let domain: &'static Arc<Domain> = &LATE_DOMAIN;
    thread::spawn(move || {
        // Registered first, torn down after the cache.
        PIN_LATE_GUARD.with(|_| {});
        drop(domain.pin());
        PIN_LATE.set(Some(domain));
    })
    .join()
    .unwrap();
    let stats = domain.stats();
    assert_eq!(stats.registered_threads, 0);
    assert_eq!(stats.retired, 3);
    domain.register().unwrap().flush();
    assert_eq!(domain.stats().unfreed(), 0);
}

/// Protected loads through one owned guard from several threads while one of them also
/// retires, defers and flushes through it (each on its own handle) and a writer keeps the era
/// moving so the guard's loads take the sharer path. Joined threads, not a scope: the writer's
/// cached handle is released by its thread-local destructor, which a scope does not wait for.
#[test]
fn held_sharers_load_while_another_sharer_retires_through_the_guard() {
    let tally = leak_tally();
    let domain = Arc::new(Domain::new());
    let shared = Arc::new(AtomicPtr::new(std::ptr::null_mut::<Node<Canary>>()));
    let rounds: usize = if cfg!(miri) { 40 } else { 3_000 };
    let deferred = Arc::new(AtomicUsize::new(0));
    let owned = Arc::new(domain.pin_owned().unwrap());
    let mut threads = Vec::new();
    for _ in 0..2 {
        let (owned, shared) = (Arc::clone(&owned), Arc::clone(&shared));
        threads.push(thread::spawn(move || {
            for _ in 0..rounds {
                let loaded = owned.protect(&shared, Ordering::Acquire);
                if !loaded.is_null() {
                    // SAFETY: loaded under the shared owned guard from the live cell.
                    unsafe { &*loaded }.value().check();
                }
            }
        }));
    }
    {
        let (owned, shared, deferred, domain) = (
            Arc::clone(&owned),
            Arc::clone(&shared),
            Arc::clone(&deferred),
            Arc::clone(&domain),
        );
        threads.push(thread::spawn(move || {
            for value in 0..rounds as u64 {
                let fresh = owned.alloc_node(Canary::new(tally, 100 + value)).as_ptr();
                owned.cover(domain.era());
                let old = shared.swap(fresh, Ordering::AcqRel);
                if let Some(old) = NonNull::new(old) {
                    // SAFETY: unlinked by the swap, retired once.
                    unsafe { owned.retire_node(old) };
                }
                if value % 100 == 0 {
                    let deferred = Arc::clone(&deferred);
                    owned.defer(move || {
                        deferred.fetch_add(1, Ordering::SeqCst);
                    });
                    owned.flush();
                }
            }
        }));
    }
    for thread in threads {
        thread.join().unwrap();
    }
    drop(Arc::try_unwrap(owned).expect("every sharer joined"));
    let last = shared.swap(std::ptr::null_mut(), Ordering::AcqRel);
    let handle = domain.register().unwrap();
    retire_now(&handle, last);
    handle.flush();
    drop(handle);
    drop(domain);
    assert_eq!(tally.live(), 0);
    assert_eq!(deferred.load(Ordering::SeqCst), rounds.div_ceil(100));
}

/// A panicking deferred function run by an exit through a plain handle drop: the rest runs,
/// the id is released.
#[test]
fn held_a_panicking_deferred_function_in_a_handle_exit() {
    let domain = Arc::new(Domain::new());
    let ran = Arc::new(AtomicUsize::new(0));
    let handle = domain.register().unwrap();
    let guard = handle.pin();
    for index in 0..5 {
        let ran = Arc::clone(&ran);
        guard.defer(move || {
            ran.fetch_add(1, Ordering::SeqCst);
            if index == 2 {
                drop(Bomb);
            }
        });
    }
    drop(guard);
    let quiet = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let panicked = panic::catch_unwind(AssertUnwindSafe(|| drop(handle))).is_err();
    panic::set_hook(quiet);
    assert!(panicked);
    assert_eq!(ran.load(Ordering::SeqCst), 5);
    let stats = domain.stats();
    assert_eq!((stats.registered_threads, stats.unfreed()), (0, 0));
}
