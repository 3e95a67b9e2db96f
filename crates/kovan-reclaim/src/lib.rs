//! The Crystalline-W reclamation protocol as kovan runs it.
//!
//! **Internal crate, no semver promise.** Applications and data structures depend on the `kovan`
//! facade, which re-exports what is supported from here; this crate's other items may change in
//! any release.
//!
//! A thread registers a [`LocalHandle`] with a [`Domain`], enters critical sections with
//! [`LocalHandle::pin`], loads shared pointers with [`Guard::protect`], and hands unlinked
//! nodes to [`LocalHandle::retire_raw`] or [`LocalHandle::retire_node`]. A retired node is
//! freed once no guard that could have loaded it is alive, by whichever thread releases the last
//! reference on its batch.
//!
//! - **Reads**: the common protected load is a pointer load, an era load and a compare.
//! - **Progress**: pin, protected load, guard drop, retire, flush and thread exit finish in a
//!   bounded number of their own steps (bounds in `docs/protocol.md`).
//! - **Memory**: a reader stalled inside a guard holds back only batches containing a node born
//!   no later than its reserved era. A protected load that saw the era move on every one of
//!   [`PROTECT_ROUNDS`] rounds escalates: it reserves every era for one pointer load, then
//!   lowers its reservation. A thread stalled inside that window holds back every batch placed
//!   meanwhile; this is the one state whose memory is not bounded.
//!
//! With the default feature `std`, [`pin`], [`flush`] and [`retire_raw`] use a thread-local
//! handle on the process-wide [`default_domain`]. Without it the crate is `#![no_std]` and
//! threads register handles explicitly.
//!
//! ```
//! use core::ptr::NonNull;
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicPtr, Ordering};
//! use kovan_reclaim::{Domain, Node};
//!
//! let domain = Arc::new(Domain::new());
//! let handle = domain.register().unwrap();
//! let shared = AtomicPtr::new(handle.alloc_node(1u32).as_ptr());
//!
//! let guard = handle.pin();
//! let current = guard.protect(&shared, Ordering::Acquire);
//! // SAFETY: loaded under `guard` from a live structure.
//! assert_eq!(*unsafe { &*current }.value(), 1);
//!
//! let old = shared.swap(handle.alloc_node(2u32).as_ptr(), Ordering::AcqRel);
//! // SAFETY: unlinked by the swap above and retired once.
//! unsafe { handle.retire_node(NonNull::new(old).unwrap()) };
//! drop(guard);
//!
//! let last = shared.swap(core::ptr::null_mut(), Ordering::AcqRel);
//! // SAFETY: unlinked and retired once.
//! unsafe { handle.retire_node(NonNull::new(last).unwrap()) };
//! handle.flush();
//! ```
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(all(feature = "std", not(kovan_loom)))]
mod cache;
mod config;
#[cfg(all(feature = "std", not(kovan_loom)))]
mod default;
mod domain;
mod handle;
mod header;
mod local;
mod node;
#[cfg(all(feature = "std", not(kovan_loom)))]
mod owned;
pub mod reclaim;
#[doc(hidden)]
pub mod stall;
mod stats;

#[cfg(all(feature = "std", not(kovan_loom)))]
pub use cache::DomainGuard;
pub use config::{
    EPOCH_FREQ, ESCALATED_ERA, FREE_LIST_CAP, FREE_STEP, PROTECT_ROUNDS, RETIRE_FREQ, garbage_bound,
};
#[cfg(all(feature = "std", not(kovan_loom)))]
pub use default::{default_domain, flush, pin, pin_owned, retire_raw, stats, with_handle};
pub use domain::Domain;
pub use handle::{Guard, LocalHandle};
pub use header::NodeHeader;
pub use kovan_core::RegistryFull;
pub use node::Node;
#[cfg(all(feature = "std", not(kovan_loom)))]
pub use owned::OwnedGuard;
pub use reclaim::Destructor;
pub use stats::{OldestReservation, Stats};
