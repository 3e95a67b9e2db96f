//! Wait-free memory reclamation with bounded garbage.
//!
//! A lock-free structure removes a node while another thread may still be reading it. The
//! remover cannot free the node at once: it must wait until no reader can hold a reference to
//! it. A garbage collector would track this for free; without one, a *memory reclamation*
//! scheme does. Kovan implements Crystalline-W: reads are as cheap as in epoch-based
//! reclamation, every operation finishes in a bounded number of its own steps, and a stalled
//! thread holds back only the garbage it could still reach, never all garbage.
//!
//! Code written for kovan 0.1.12 compiles unchanged against this crate (see
//! [Coming from 0.1.12](#coming-from-0112)).
//!
//! # Pinning
//!
//! A thread that reads shared pointers first [`pin`]s itself. The returned [`Guard`] marks a
//! critical section: pointers loaded under it stay valid until it drops. Guards nest freely;
//! only the outermost one does real work.
//!
//! # Loading
//!
//! Shared pointers live in [`Atomic<T>`] cells. [`Atomic::load`] takes the guard and returns a
//! [`Shared<'g, T>`] tied to the guard's lifetime, so the borrow checker stops the pointer from
//! outliving the guard. Dereferencing is `unsafe` because the pointer may be null, and because
//! of the protection scope below.
//!
//! # Retiring
//!
//! Whoever unlinks a node *retires* it: kovan drops it later, on some thread, once no guard can
//! reach it. Nodes are built as [`NodeBox<T>`], a typed allocation that puts the protocol header
//! ([`Node<T>`]) in front of the value and stamps the current era into it, and are retired with
//! [`Shared::retire`]:
//!
//! ```
//! use kovan::{Atomic, NodeBox, Ordering, Shared, pin};
//!
//! let cell = Atomic::from(NodeBox::new(String::from("first")));
//!
//! let guard = pin();
//! let current = cell.load(Ordering::Acquire, &guard);
//! // SAFETY: loaded under `guard` from a live cell.
//! assert_eq!(unsafe { current.deref() }.value(), "first");
//!
//! let next = NodeBox::new(String::from("second")).into_shared(&guard);
//! let old = cell.swap(next, Ordering::AcqRel, &guard);
//! // SAFETY: unlinked by the swap, retired once; readers that loaded it keep it alive.
//! unsafe { old.retire(&guard) };
//! # let last = cell.swap(Shared::null(), Ordering::AcqRel, &guard);
//! # // SAFETY: unlinked, retired once.
//! # unsafe { last.retire(&guard) };
//! ```
//!
//! Hand-built nodes work as in 0.1.12: a `#[repr(C)]` struct whose first field is a
//! [`RetiredNode`], allocated with `Box` and handed to the `unsafe` [`retire`]. Retired nodes
//! are gathered into per-thread batches; [`flush`] pushes the calling thread's garbage through
//! at once (useful before checking that everything was freed, in tests for example).
//!
//! # What a guard protects
//!
//! Protection has **hazard-pointer scope**: a pointer loaded under a guard stays valid while the
//! guard lives *if it was reachable from the live structure when it was loaded*. Following a
//! link out of a node that another thread had already unlinked is **not** protected: the node
//! behind that link may have been unlinked and retired earlier, before the load, and may be freed
//! while the guard still lives. Epoch-based schemes (crossbeam-epoch) protect everything
//! retired after the pin; kovan protects less, which is what lets it bound the garbage of a
//! stalled reader. Structures whose readers walk through removed nodes must re-validate (for
//! example, restart from the head when a node turns out to be unlinked).
//!
//! # `Atom<T>`
//!
//! For the common case of one value that many threads read and some replace, [`Atom<T>`]
//! wraps all of the above behind a safe API (the kovan counterpart of `ArcSwap`, with no `Arc`
//! needed):
//!
//! ```
//! use kovan::Atom;
//!
//! let config = Atom::new(vec![1, 2, 3]);
//! let snapshot = config.load(); // pins; derefs to the value
//! config.rcu(|v| v.iter().map(|x| x * 10).collect());
//! assert_eq!(*snapshot, [1, 2, 3]); // still alive: the guard holds it
//! assert_eq!(*config.load(), [10, 20, 30]);
//! ```
//!
//! # Guarantees
//!
//! **Reads.** The common protected load is one pointer load, one load of the domain's era clock
//! and one compare with a thread-local copy: no store, no fence, no read-modify-write. When the
//! era moved, the load publishes the new era and re-checks, for at most
//! [`PROTECT_ROUNDS`] (16) rounds; then it *escalates* for one load (see below) and returns.
//!
//! **Progress.** [`pin`], [`Atomic::load`], guard drop, [`retire`] and [`flush`] are wait-free:
//! each finishes in a number of its own steps bounded by the number of registered threads and
//! by the garbage it releases, whatever other threads do (stalled, preempted, or hammering the
//! era clock). No operation waits for another thread, takes a lock or spins on a condition
//! (the memory allocator and the one-time creation of the default domain aside). Registering a
//! thread (its first `pin` or `retire`) and thread exit are bounded too. Dropping a guard is a
//! thread-local decrement in the common case.
//!
//! **Memory.** Each thread gathers [`RETIRE_FREQ`] (64) retired nodes in a batch before placing
//! it, or as many as there are thread ids the domain ever handed out if that is more (placing
//! scans them all, so the scan stays O(1) per retirement); a batch that cannot be placed yet
//! grows by another 64 before the next try. Every
//! [`EPOCH_FREQ`] (128) retirements a thread advances the era, and once more when it exits if it
//! retired anything since (so short-lived threads move the era too). A reader stalled anywhere
//! (inside a guard, or idle after its guards dropped) holds back only the batches containing a
//! node born no later than its reserved era: what it could still have loaded. The resulting
//! bound, a formula of the thread count, the number of lagging readers and the structure's size,
//! is [`garbage_bound`]. One state is not bounded: a protected load that saw the era move on all
//! of its 16 rounds reserves every era for the length of one pointer load and one era load, then
//! lowers its reservation; a thread stalled exactly there holds back every batch placed
//! meanwhile. Every retired node is dropped exactly once, including nodes retired by threads
//! that exit, and nodes retired from destructors (also during thread-local teardown, with a
//! flat stack). Freeing is amortized: a batch that no reservation holds any more waits on the
//! list of the thread that released it last, which drops [`FREE_STEP`] (2) of its nodes per
//! retire and per pin after the era moved (a thread that retired nothing since its previous
//! such pin, a reader, drops everything at once; so does any thread for a batch of deferred
//! functions), and whole batches while more than [`FREE_LIST_CAP`] (2) wait; so freed memory
//! goes back to the allocator a few blocks at a time, where the thread's next allocations find
//! it. When [`flush`] returns, everything the thread retired before or during the call is
//! freed, unless a reservation still covers it (a live guard, or a thread that pinned and has
//! not pinned or flushed since the era moved: its reservation stays published between guards,
//! which keeps pinning a load and a compare) or it waits on the list of another thread that
//! retires, until that thread's next operations.
//!
//! **Panics.** A destructor may panic on any path that runs destructors (pin, retire, flush,
//! guard or handle drop, domain drop): the rest of its batch is still dropped (the other waiting
//! batches stay on the list for the thread's next operations, or are dropped by the same call
//! when it is a flush, an exit or a drop), the panic then propagates, and the handle stays
//! consistent (unpinned, its exit completed). A second panic
//! while the first unwinds aborts, as Rust does.
//!
//! **Costs.** Each node carries a 32-byte header (24 bytes on 32-bit targets). At most
//! [`MAX_THREADS`] (65,536) threads can be registered with a domain at once; ids of exited
//! threads are reused. Past the limit, [`Domain::register`] returns [`RegistryFull`] and the
//! default handle behind [`pin`] panics.
//!
//! # Domains and handles
//!
//! [`pin`], [`flush`], [`retire`] and the `Atom` family use the process-wide
//! [`default_domain`] through a thread-local handle. A structure may use its own [`Domain`]:
//! [`Domain::pin`] pins the calling thread through a handle that a thread-local cache registers
//! on first use and releases when the thread exits or the domain drops, whichever comes first;
//! or threads [`register`](Domain::register) a [`LocalHandle`] with it and pin through that.
//! Nodes must be retired through the domain they were allocated for ([`NodeBox::new_in`]).
//!
//! # Async code, deferred functions, statistics
//!
//! - A [`Guard`] stands for its thread's reservation, so it is not `Send`. [`pin_owned`] (and
//!   [`Domain::pin_owned`]) returns an [`OwnedGuard`]: `Send + Sync`, with a reservation of its
//!   own, so a task can hold it, and pointers loaded under it, across an `.await`. It derefs to
//!   [`Guard`].
//! - [`Guard::defer`] runs a function once every guard live at the call has dropped, for
//!   resources that are not kovan nodes (an old bucket array after a resize).
//! - [`stats`] (and [`Domain::stats`]) tells what is retired, freed and still unfreed, and which
//!   thread's reservation holds memory back:
//!
//! ```
//! use std::sync::Arc;
//! use kovan::{Atomic, NodeBox, Ordering};
//!
//! let cell = Arc::new(Atomic::from(NodeBox::new(1u64)));
//! // Pinned here, used on another thread.
//! let guard = kovan::pin_owned().expect("thread ids left");
//! let reader = {
//!     let cell = Arc::clone(&cell);
//!     std::thread::spawn(move || {
//!         let value = cell.load(Ordering::Acquire, &guard);
//!         // SAFETY: loaded under `guard` from a live cell.
//!         *unsafe { value.deref() }.value()
//!     })
//! };
//! assert_eq!(reader.join().unwrap(), 1);
//! println!("{}", kovan::stats());
//! # let guard = kovan::pin();
//! # let last = cell.swap(kovan::Shared::null(), Ordering::AcqRel, &guard);
//! # // SAFETY: unlinked, retired once.
//! # unsafe { last.retire(&guard) };
//! ```
//!
//! # Coming from 0.1.12
//!
//! Every 0.1.12 item keeps its path and signature. Behaviour changes, all in the safe
//! direction:
//!
//! - [`Removed<T>`] owns the unlinked node itself instead of a bitwise copy, so readers and the
//!   holder see one object (interior mutation included).
//! - Dropping an [`Atom`] or [`AtomOption`] drops the current value at once, as in 0.1.12, but
//!   runs no [`flush`].
//! - [`flush`] never frees what a live guard of the calling thread can reach.
//! - [`Atom::compare_and_swap`]'s `Ok` guard shows the value the call stored, as documented in
//!   0.1.12 (the value stays alive under that guard even if another writer replaces it).
//! - [`BirthEra`] and [`current_era`] keep 0.1.12's separate counter and are deprecated:
//!   reclamation never used them; the clock is [`Domain::era`].
//! - [`Atomic`] stores a pointer (not a `usize`), so provenance is kept;
//!   [`Atomic::compare_exchange`] returns a protected pointer on failure.
//! - [`retire`] still does not require `T: Send`, but the destructor may run on any thread:
//!   retire only values that may be dropped elsewhere. [`Shared::retire`] requires `T: Send`.
//!
//! # Features
//!
//! `std` (default) adds the default domain and everything built on it. Without it the crate is
//! `#![no_std]` (it needs `alloc`): threads register [`LocalHandle`]s with a [`Domain`]
//! explicitly.
//!
//! `shuttle` (for tests of crates built on kovan, as kovan 0.1.15's feature): kovan's atomics,
//! pointer words and thread-local handle become [shuttle](https://docs.rs/shuttle)'s (0.9.10 or
//! later), so a dependent's shuttle suite schedules kovan too. Every kovan operation must then run
//! inside a shuttle execution; each execution has its own default domain, so suites may run
//! their tests side by side.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub use crossbeam_utils::CachePadded;
#[cfg(feature = "std")]
pub use kovan_atom::{
    Atom, AtomGuard, AtomMap, AtomMapGuard, AtomOption, Removed, flush, pin, retire,
    retire_reclaimable,
};
pub use kovan_atom::{
    Atomic, Domain, Guard, Node, NodeBox, Ordering, Reclaimable, RetiredNode, Shared,
};
#[cfg(feature = "std")]
#[allow(deprecated)]
pub use kovan_atom::{BirthEra, current_era};
pub use kovan_core::MAX_THREADS;
pub use kovan_reclaim::{
    Destructor, EPOCH_FREQ, FREE_LIST_CAP, FREE_STEP, LocalHandle, NodeHeader, OldestReservation,
    PROTECT_ROUNDS, RETIRE_FREQ, RegistryFull, Stats, garbage_bound,
};
#[cfg(feature = "std")]
pub use kovan_reclaim::{DomainGuard, OwnedGuard, default_domain, pin_owned, stats};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
