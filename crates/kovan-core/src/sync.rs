//! The single source of atomics, fences and shared cells for the workspace.
//!
//! Every protocol file imports them from here, and this module picks one backend for all of them:
//!
//! - **core** (default): `core`'s atomics and cell, and `portable_atomic::AtomicU128`.
//! - **loom** (`--cfg kovan_loom`): loom's model-checked types; the 16-byte atomic is a loom mutex
//!   around a `u128`, so the checker explores every interleaving of pair operations.
//! - **shuttle** (feature `shuttle`): shuttle's scheduled atomics; the 16-byte atomic is a
//!   shuttle mutex around a `u128`. The cell is `core`'s (shuttle does not model cells). Every
//!   operation on these types must then run inside a shuttle test.
//!
//! Each backend has the same names and methods, so no other file needs a backend `cfg`. Orderings
//! are irrelevant to the mutex-based 16-byte atomics: a mutex is stronger than any of them.

#[cfg(all(kovan_loom, feature = "shuttle"))]
compile_error!("`--cfg kovan_loom` and feature `shuttle` pick two model checkers; use one");

#[cfg(not(any(kovan_loom, feature = "shuttle")))]
pub use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence};
#[cfg(not(any(kovan_loom, feature = "shuttle")))]
pub use portable_atomic::AtomicU128;

#[cfg(kovan_loom)]
pub use loom::cell::UnsafeCell;
#[cfg(kovan_loom)]
pub use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence};

#[cfg(all(feature = "shuttle", not(kovan_loom)))]
pub use shuttle::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence};
/// Shuttle's per-task `thread_local!`, for the default domain's thread-local handle.
#[cfg(all(feature = "shuttle", not(kovan_loom)))]
pub use shuttle::thread_local;

/// `std`'s `get`/`set`/`replace` of a thread-local `Cell`, which shuttle's `LocalKey` lacks.
#[cfg(all(feature = "shuttle", not(kovan_loom)))]
pub trait LocalKeyCell<T: Copy> {
    /// The value of this thread's cell.
    fn get(&'static self) -> T;
    /// Sets this thread's cell to `value`.
    fn set(&'static self, value: T);
    /// Sets this thread's cell to `value`, returning the previous value.
    fn replace(&'static self, value: T) -> T;
}

#[cfg(all(feature = "shuttle", not(kovan_loom)))]
impl<T: Copy + 'static> LocalKeyCell<T> for shuttle::thread::LocalKey<core::cell::Cell<T>> {
    fn get(&'static self) -> T {
        self.with(core::cell::Cell::get)
    }
    fn set(&'static self, value: T) {
        self.with(|cell| cell.set(value));
    }
    fn replace(&'static self, value: T) -> T {
        self.with(|cell| cell.replace(value))
    }
}

#[cfg(not(kovan_loom))]
pub use self::cell::UnsafeCell;
#[cfg(any(kovan_loom, feature = "shuttle"))]
pub use self::locked::AtomicU128;

/// Hint to the processor (or the model's scheduler) that the caller is in a bounded retry loop.
#[inline]
pub fn spin_hint() {
    #[cfg(kovan_loom)]
    loom::thread::yield_now();
    #[cfg(all(feature = "shuttle", not(kovan_loom)))]
    shuttle::hint::spin_loop();
    #[cfg(not(any(kovan_loom, feature = "shuttle")))]
    core::hint::spin_loop();
}

/// Declares a `const fn`, except under loom, whose atomics and cells have no `const`
/// constructors; so constructors of types built on this module stay `const` in normal builds.
#[doc(hidden)]
#[macro_export]
#[cfg(not(kovan_loom))]
macro_rules! __const_fn {
    ($(#[$attr:meta])* $vis:vis fn $($rest:tt)*) => {
        $(#[$attr])* $vis const fn $($rest)*
    };
}

/// Declares a `const fn`, except under loom, whose atomics and cells have no `const`
/// constructors; so constructors of types built on this module stay `const` in normal builds.
#[doc(hidden)]
#[macro_export]
#[cfg(kovan_loom)]
macro_rules! __const_fn {
    ($(#[$attr:meta])* $vis:vis fn $($rest:tt)*) => {
        $(#[$attr])* $vis fn $($rest)*
    };
}

#[doc(inline)]
pub use crate::__const_fn as const_fn;

#[cfg(not(kovan_loom))]
mod cell {
    /// `core::cell::UnsafeCell` behind loom's closure API, so that one call site serves every
    /// backend. Zero-cost: the closures are inlined to a plain pointer access.
    #[repr(transparent)]
    pub struct UnsafeCell<T: ?Sized>(core::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        /// A cell holding `value`.
        #[inline]
        pub const fn new(value: T) -> Self {
            Self(core::cell::UnsafeCell::new(value))
        }
    }

    impl<T: ?Sized> UnsafeCell<T> {
        /// Runs `f` with a pointer for reading the value; the caller rules out concurrent writes.
        #[inline]
        pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Runs `f` with a pointer for writing the value; the caller rules out any concurrent
        /// access.
        #[inline]
        pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

#[cfg(any(kovan_loom, feature = "shuttle"))]
mod locked {
    use super::Ordering;

    #[cfg(kovan_loom)]
    use loom::sync::Mutex;
    #[cfg(all(feature = "shuttle", not(kovan_loom)))]
    use shuttle::sync::Mutex;

    /// A 16-byte atomic for model checkers that have none: a model mutex around the value, with
    /// the methods of `portable_atomic::AtomicU128` that the workspace uses.
    pub struct AtomicU128(Mutex<u128>);

    impl AtomicU128 {
        crate::sync::const_fn! {
            /// An atomic holding `value`.
            pub fn new(value: u128) -> Self {
                Self(Mutex::new(value))
            }
        }

        /// Always `true`: the model checker runs each operation as one step.
        pub fn is_lock_free() -> bool {
            true
        }

        /// Loads the value.
        pub fn load(&self, _: Ordering) -> u128 {
            *self.0.lock().unwrap()
        }

        /// Stores `value`.
        pub fn store(&self, value: u128, _: Ordering) {
            *self.0.lock().unwrap() = value;
        }

        /// Replaces the value with `new` if it equals `current`; returns the previous value,
        /// `Ok` on success, `Err` on failure.
        pub fn compare_exchange(
            &self,
            current: u128,
            new: u128,
            _: Ordering,
            _: Ordering,
        ) -> Result<u128, u128> {
            let mut value = self.0.lock().unwrap();
            if *value == current {
                *value = new;
                Ok(current)
            } else {
                Err(*value)
            }
        }

        /// As [`compare_exchange`](Self::compare_exchange): the model never fails spuriously.
        pub fn compare_exchange_weak(
            &self,
            current: u128,
            new: u128,
            success: Ordering,
            failure: Ordering,
        ) -> Result<u128, u128> {
            self.compare_exchange(current, new, success, failure)
        }
    }
}
