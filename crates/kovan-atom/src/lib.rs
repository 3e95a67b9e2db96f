//! Pointer types and the safe `Atom<T>` cell on top of the kovan reclamation protocol.
//!
//! - [`Atomic<T>`] and [`Shared<'g, T>`]: an atomic pointer whose loads are protected by a
//!   [`Guard`], with the kovan 0.1.12 signatures. The pointer is stored as a pointer, so it keeps
//!   its provenance.
//! - [`NodeBox<T>`]: a typed owning allocation of a [`Node<T>`] (the value behind the protocol
//!   header, its birth era stamped at allocation), retired with [`Shared::retire`]. Safe code
//!   built on it never meets the header-layout contract.
//! - [`RetiredNode`], [`retire`], [`Reclaimable`]: the 0.1.12 way, for hand-built
//!   `#[repr(C)]` nodes whose first field is the header.
//! - [`Atom<T>`], [`AtomOption<T>`], [`AtomGuard`], [`AtomMap`], [`AtomMapGuard`],
//!   [`Removed<T>`]: a cell that readers borrow and writers replace, with no `unsafe` at the call
//!   site.
//! - [`BirthEra`] and [`current_era`] (deprecated): the 0.1.12 era counter, with its 0.1.12
//!   behaviour; reclamation does not use it.
//!
//! Protection has hazard-pointer scope: a pointer loaded under a guard stays valid while the
//! guard lives **if it was reachable from the live structure when it was loaded**. Following a
//! link out of a node that was already unlinked is not protected.
//!
//! ```
//! # use kovan_atom as kovan;
//! use kovan::Atom;
//!
//! let config = Atom::new(String::from("v1"));
//! let seen = config.load();
//! config.store(String::from("v2"));
//! assert_eq!(*seen, "v1");
//! assert_eq!(*config.load(), "v2");
//! ```
//!
//! **Internal crate, no semver promise.** Everything here is re-exported by the `kovan` facade,
//! and the examples use its paths (`kovan::Atom`); this crate is the layer, `kovan` is what
//! applications depend on, and only the facade's paths follow semver.
//!
//! Feature `std` (default) adds everything that uses the process-wide default domain: [`pin`],
//! [`flush`], [`retire`], [`RetiredNode::new`], [`NodeBox::new`] and the `Atom` family; and the
//! deprecated [`BirthEra`] and [`current_era`]. Without it the crate is `#![no_std]`; nodes are
//! built with `*_in(&Domain, ..)` constructors and threads register handles with a [`Domain`]
//! explicitly.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

extern crate alloc;

#[cfg(feature = "std")]
mod atom;
mod atomic;
#[cfg(feature = "std")]
mod default;
#[cfg(feature = "std")]
mod era;
mod node_box;
mod retired;

#[cfg(feature = "std")]
pub use atom::{Atom, AtomGuard, AtomMap, AtomMapGuard, AtomOption, Removed};
pub use atomic::{Atomic, Shared};
#[cfg(kovan_loom)]
#[doc(hidden)]
pub use default::exit_thread;
#[cfg(feature = "std")]
pub use default::{flush, pin};
#[cfg(feature = "std")]
#[allow(deprecated)]
pub use era::{BirthEra, current_era};
pub use kovan_core::sync::Ordering;
pub use kovan_reclaim::{Domain, Guard, Node};
pub use node_box::NodeBox;
pub use retired::{Reclaimable, RetiredNode};
#[cfg(feature = "std")]
pub use retired::{retire, retire_reclaimable};
