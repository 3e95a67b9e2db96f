//! Building blocks of the kovan reclamation protocol: its data, none of its logic.
//!
//! **Internal crate, no semver promise.** Applications and data structures depend on the `kovan`
//! facade; this crate's items may change in any release. It is published only because the
//! protocol crate builds on it.
//!
//! - [`WordPair`]: a 16-byte `(lo, hi)` atomic pair with a double-width compare-and-swap.
//! - [`ThreadSlots`]: one thread's reservation (a list head pair and an era pair) and parked
//!   cell, kept in lazily allocated pages so that [`MAX_THREADS`] threads can register without
//!   reserving memory for all of them up front.
//! - [`DomainState`]: the era clock, the parked-batch count and the lock-free thread-id
//!   [`Registry`].
//! - [`sync`]: the one module through which the workspace imports atomics, fences and cells, so
//!   that a model checker's backend replaces every shared access at once.
//!
//! The crate is `#![no_std]` and needs only `alloc`.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

extern crate alloc;

mod domain;
mod slots;
pub mod sync;
mod word_pair;

pub use domain::{DomainState, Registry, RegistryFull};
pub use slots::{
    ListHead, ListNode, MAX_PAGES, MAX_THREADS, Reservation, SLOTS_PER_PAGE, SlotPage, ThreadSlots,
};
pub use word_pair::WordPair;
