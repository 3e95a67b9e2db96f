//! Building blocks of the kovan reclamation protocol.
//!
//! This crate holds the data of the Crystalline-W protocol and nothing of its logic:
//!
//! - [`WordPair`]: a 16-byte `(lo, hi)` atomic pair with a double-width compare-and-swap.
//! - [`ThreadSlots`]: one thread's reservations (list head and era pairs) and help mailbox, kept in
//!   lazily allocated pages so that [`MAX_THREADS`] threads can register without reserving memory
//!   for all of them up front.
//! - [`DomainState`]: the era clock, the slow-path counter and the lock-free thread-id [`Registry`].
//! - [`sync`]: the one module through which the workspace imports atomics, so that `--cfg kovan_loom`
//!   swaps every protocol atomic for loom's model-checked version.
//!
//! The crate is `#![no_std]` and needs only `alloc`.
#![no_std]
#![warn(missing_docs)]

extern crate alloc;

mod domain;
mod slots;
pub mod sync;
mod word_pair;

pub use domain::{DomainState, Registry, RegistryFull};
pub use slots::{
    HelpMailbox, ListHead, ListNode, MAX_PAGES, MAX_THREADS, Reservation, SLOTS_PER_PAGE,
    SLOTS_PER_THREAD, SlotPage, ThreadSlots,
};
pub use word_pair::WordPair;
