//! Benchmarks for kovan: the cross-library comparison harness behind the `compare` binary.
//!
//! Every compared library implements [`smr::Smr`] with its own documented API
//! ([`libs`]); the data structures ([`ds`]) and workloads ([`workloads`]) are written once over
//! that trait. [`driver`] runs the plan with the libraries interleaved, and [`report`] writes the
//! markdown report, the JSON dump and the SVG charts. [`latency`] and [`idle`] hold the
//! per-operation latency and many-idle-threads workloads.
//!
//! The criterion micro-benchmarks (`benches/micro.rs`) use the same [`smr::Smr`] adapters.

#[macro_use]
mod macros;

pub mod driver;
pub mod ds;
pub mod idle;
pub mod latency;
pub mod libs;
pub mod report;
pub mod smr;
pub mod sysinfo;
pub mod workloads;
