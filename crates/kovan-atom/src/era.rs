//! `BirthEra` and `current_era`: read-only views of a domain's era clock, kept for the kovan
//! 0.1.12 API.

use kovan_reclaim::Domain;

/// A snapshot of an era clock, taken when an object is created.
///
/// Reclamation does not read it: the protocol keeps its own birth era in each node's header
/// (stamped by [`RetiredNode::new`](crate::RetiredNode::new) and [`NodeBox`](crate::NodeBox)).
/// In kovan 0.1.12 this type read a separate counter that nothing else used; here it reads the
/// real clock, which starts at 1 and advances as threads retire (every 128 retirements of a
/// thread) and flush.
///
/// ```
/// # use kovan_atom as kovan;
/// use kovan::{BirthEra, current_era};
///
/// let born = BirthEra::new();
/// assert!(!born.is_older_than(born.value()));
/// assert!(born.value() <= current_era());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BirthEra(u64);

impl BirthEra {
    /// The default domain's current era.
    #[cfg(feature = "std")]
    pub fn new() -> Self {
        Self(current_era())
    }

    /// `domain`'s current era.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// use kovan::{BirthEra, Domain};
    ///
    /// let domain = Domain::new();
    /// assert_eq!(BirthEra::new_in(&domain).value(), domain.era());
    /// ```
    pub fn new_in(domain: &Domain) -> Self {
        Self(domain.era())
    }

    /// The era number.
    pub fn value(&self) -> u64 {
        self.0
    }

    /// Whether this era is strictly before `other`.
    ///
    /// ```
    /// # use kovan_atom as kovan;
    /// use kovan::{BirthEra, Domain};
    ///
    /// let born = BirthEra::new_in(&Domain::new());
    /// assert!(born.is_older_than(born.value() + 1));
    /// ```
    pub fn is_older_than(&self, other: u64) -> bool {
        self.0 < other
    }
}

#[cfg(feature = "std")]
impl Default for BirthEra {
    /// As [`BirthEra::new`].
    fn default() -> Self {
        Self::new()
    }
}

/// The default domain's current era ([`Domain::era`] of
/// [`default_domain`](kovan_reclaim::default_domain)).
///
/// ```
/// # use kovan_atom as kovan;
/// let before = kovan::current_era();
/// kovan::flush(); // a flush advances the clock
/// assert!(kovan::current_era() > before);
/// ```
#[cfg(feature = "std")]
pub fn current_era() -> u64 {
    kovan_reclaim::default_domain().era()
}
