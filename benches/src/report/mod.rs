//! The report of a run: the markdown report ([`markdown`]), the results file ([`results`]) and
//! the SVG charts ([`charts`]).

mod charts;
mod extra;
mod format;
mod markdown;
pub mod results;
mod sections;
mod stats;
pub mod targets;

pub use charts::charts;
pub use markdown::markdown;
pub use results::json;
pub use stats::{Stat, stat};

/// The reference library for ratios.
pub const REFERENCE: &str = "crossbeam-epoch";
/// The no-reclamation baseline.
pub const BASELINE: &str = "leak";
