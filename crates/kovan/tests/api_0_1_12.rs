//! Every public item of kovan 0.1.12, at its 0.1.12 path and with its 0.1.12 signature.
//!
//! The `let _: fn(..) -> .. = path;` lines coerce each function to the exact 0.1.12 pointer
//! type, so a changed parameter, return type, lifetime or `unsafe`ness fails to compile. The
//! tests also call everything once, as 0.1.12 code would.
#![allow(
    clippy::type_complexity,
    reason = "spelling out the 0.1.12 signatures is the point"
)]
#![allow(
    deprecated,
    reason = "`BirthEra` and `current_era` are 0.1.12 items too"
)]

use std::fmt::{Debug, Display};
use std::ops::{Deref, DerefMut};

use kovan::{
    Atom, AtomGuard, AtomMap, AtomMapGuard, AtomOption, Atomic, BirthEra, CachePadded, Guard,
    Ordering, Reclaimable, Removed, RetiredNode, Shared,
};
use static_assertions::{assert_impl_all, assert_not_impl_any};

/// A hand-built node, as 0.1.12 users write them.
#[repr(C)]
struct Legacy {
    header: RetiredNode,
    value: u32,
}

// SAFETY: repr(C) with the header first; Box-allocated (the default `dealloc`).
unsafe impl Reclaimable for Legacy {
    fn retired_node(&self) -> &RetiredNode {
        &self.header
    }

    fn retired_node_mut(&mut self) -> &mut RetiredNode {
        &mut self.header
    }
}

fn legacy(value: u32) -> *mut Legacy {
    Box::into_raw(Box::new(Legacy {
        header: RetiredNode::new(),
        value,
    }))
}

// Auto traits and derives as in 0.1.12.
assert_impl_all!(Atomic<u32>: Send, Sync, Default);
assert_not_impl_any!(Atomic<std::rc::Rc<u32>>: Send, Sync);
assert_impl_all!(Shared<'static, u32>: Copy, Clone, Eq, PartialEq, Debug);
assert_not_impl_any!(Guard: Send, Sync);
assert_impl_all!(RetiredNode: Send, Sync, Default);
assert_impl_all!(BirthEra: Debug, Clone, Copy, Default);
assert_impl_all!(Atom<String>: Send, Sync, Default, From<String>, Debug);
assert_impl_all!(AtomGuard<'static, String>: Deref<Target = String>, Debug, Display);
assert_not_impl_any!(AtomGuard<'static, String>: Send, Sync);
assert_impl_all!(AtomOption<String>: Send, Sync, Default, Debug);
assert_impl_all!(Removed<String>: Send, Sync, Deref<Target = String>, PartialEq, PartialEq<String>, Debug, Display);
assert_impl_all!(CachePadded<u8>: Deref<Target = u8>, DerefMut, From<u8>, Default, Clone, Copy, Debug);

// Variance as in 0.1.12: `Shared` is covariant in the guard lifetime, `AtomGuard` in both
// parameters (`Atomic<T>` and `Shared<'g, T>` are invariant in `T`, as they were).
fn _shared_is_covariant<'short, 'g: 'short>(ptr: Shared<'g, u8>) -> Shared<'short, u8> {
    ptr
}

fn _atom_guard_is_covariant<'short, 'a: 'short>(
    guard: AtomGuard<'a, &'a str>,
) -> AtomGuard<'short, &'short str> {
    guard
}

#[test]
fn free_functions_and_ordering() {
    let _: fn() -> Guard = kovan::pin;
    let _: fn() = kovan::flush;
    let _: unsafe fn(*mut Legacy) = kovan::retire::<Legacy>;
    let _: fn() -> u64 = kovan::current_era;
    let _: std::sync::atomic::Ordering = Ordering::SeqCst;

    let guard = kovan::pin();
    let nested = kovan::pin();
    drop(nested);
    drop(guard);
    // SAFETY: repr(C), header first, Box-allocated, never published, retired once.
    unsafe { kovan::retire(legacy(1)) };
    kovan::flush();
    assert!(kovan::default_domain().era() >= 1);
    let _ = kovan::current_era(); // 0.1.12's counter: 0 until some thread makes a `BirthEra`
}

#[test]
fn atomic() {
    let _: fn(*mut u32) -> Atomic<u32> = Atomic::new;
    let _: fn() -> Atomic<u32> = Atomic::null;
    let _: for<'a, 'g> fn(&'a Atomic<u32>, Ordering, &'g Guard) -> Shared<'g, u32> = Atomic::load;
    let _: for<'a, 'b> fn(&'a Atomic<u32>, Shared<'b, u32>, Ordering) = Atomic::store;
    let _: for<'a, 'b, 'g> fn(
        &'a Atomic<u32>,
        Shared<'b, u32>,
        Ordering,
        &'g Guard,
    ) -> Shared<'g, u32> = Atomic::swap;
    type Exchange = for<'a, 'b, 'c, 'g> fn(
        &'a Atomic<u32>,
        Shared<'b, u32>,
        Shared<'c, u32>,
        Ordering,
        Ordering,
        &'g Guard,
    ) -> Result<Shared<'g, u32>, Shared<'g, u32>>;
    let _: Exchange = Atomic::compare_exchange;
    let _: Exchange = Atomic::compare_exchange_weak;
    let _: Atomic<u32> = Default::default();

    let cell = Atomic::new(legacy(1));
    let guard = kovan::pin();
    let current = cell.load(Ordering::Acquire, &guard);
    // SAFETY: a fresh allocation.
    let next = unsafe { Shared::from_raw(legacy(2)) };
    let old = cell
        .compare_exchange(current, next, Ordering::AcqRel, Ordering::Acquire, &guard)
        .unwrap();
    // SAFETY: header first, Box-allocated, unlinked, retired once.
    unsafe { kovan::retire(old.as_raw()) };
    // SAFETY: a fresh allocation.
    let third = unsafe { Shared::from_raw(legacy(3)) };
    let seen = cell
        .compare_exchange_weak(current, third, Ordering::AcqRel, Ordering::Acquire, &guard)
        .unwrap_err();
    assert_eq!(seen, next);
    let old = cell.swap(third, Ordering::AcqRel, &guard);
    // SAFETY: unlinked by the swap, retired once.
    unsafe { kovan::retire(old.as_raw()) };
    // SAFETY: null is always allowed.
    cell.store(
        unsafe { Shared::from_raw(std::ptr::null_mut()) },
        Ordering::Release,
    );
    // SAFETY: `third` was unlinked by the store, retired once.
    unsafe { kovan::retire(third.as_raw()) };
    assert!(cell.load(Ordering::Acquire, &guard).is_null());
}

/// `Shared`'s methods take the guard lifetime from the impl, so they are checked for one `'g`.
fn shared_api<'g>(guard: &'g Guard) {
    let _: unsafe fn(*mut u32) -> Shared<'g, u32> = Shared::<'g, u32>::from_raw;
    let _: for<'a> fn(&'a Shared<'g, u32>) -> *mut u32 = Shared::<'g, u32>::as_raw;
    let _: for<'a> fn(&'a Shared<'g, u32>) -> bool = Shared::<'g, u32>::is_null;
    let _: for<'a> unsafe fn(&'a Shared<'g, u32>) -> Option<&'g u32> = Shared::<'g, u32>::as_ref;
    let _: for<'a> unsafe fn(&'a Shared<'g, u32>) -> &'g u32 = Shared::<'g, u32>::deref;
    let _: for<'a> unsafe fn(&'a mut Shared<'g, u32>) -> Option<&'g mut u32> =
        Shared::<'g, u32>::as_mut;

    let cell = Atomic::new(legacy(4));
    let mut shared = cell.load(Ordering::Acquire, guard);
    assert!(!shared.is_null());
    // SAFETY: loaded under `guard`; this thread is the only one that knows the cell.
    unsafe {
        assert_eq!(shared.as_ref().map(|n| n.value), Some(4));
        assert_eq!(shared.deref().value, 4);
        shared.as_mut().unwrap().value = 5;
        assert!(shared.deref().retired_node().birth_era() >= 1);
    }
    assert_eq!(
        format!("{shared:?}"),
        format!("Shared({:p})", shared.as_raw())
    );
    // SAFETY: header first, Box-allocated, the cell is dropped next, retired once.
    unsafe { kovan::retire(shared.as_raw()) };
}

#[test]
fn shared() {
    shared_api(&kovan::pin());
}

#[test]
fn retired_node_reclaimable_and_eras() {
    let _: fn() -> RetiredNode = RetiredNode::new;
    let _: RetiredNode = Default::default();
    let _: for<'a> fn(&'a Legacy) -> &'a RetiredNode = <Legacy as Reclaimable>::retired_node;
    let _: for<'a> fn(&'a mut Legacy) -> &'a mut RetiredNode =
        <Legacy as Reclaimable>::retired_node_mut;
    let _: unsafe fn(*mut Legacy) = <Legacy as Reclaimable>::dealloc;
    let _: fn() -> BirthEra = BirthEra::new;
    let _: for<'a> fn(&'a BirthEra) -> u64 = BirthEra::value;
    let _: for<'a> fn(&'a BirthEra, u64) -> bool = BirthEra::is_older_than;

    let node = legacy(6);
    // SAFETY: a live allocation nobody else can reach.
    unsafe {
        let _ = (*node).retired_node_mut();
        Legacy::dealloc(node);
    }
    let born = BirthEra::default();
    assert!(!born.is_older_than(born.value()));
}

fn atom_api<T: Send + Sync + 'static + Clone>() {
    let _: fn(T) -> Atom<T> = Atom::new;
    let _: fn(Atom<T>) -> T = Atom::into_inner;
    let _: for<'a> fn(&'a Atom<T>) -> AtomGuard<'a, T> = Atom::load;
    let _: for<'a> fn(&'a Atom<T>) -> T = Atom::load_clone;
    let _: for<'a> fn(&'a Atom<T>, T) = Atom::store;
    let _: for<'a> fn(&'a Atom<T>, T) -> Removed<T> = Atom::swap;
    let _: for<'a, 'b, 'c> fn(&'a Atom<T>, &'b AtomGuard<'c, T>, T) -> Result<AtomGuard<'a, T>, T> =
        Atom::compare_and_swap;
    let _: for<'a> fn(&'a Atom<T>, fn(&T) -> T) = Atom::rcu::<fn(&T) -> T>;

    let _: fn() -> AtomOption<T> = AtomOption::none;
    let _: fn(T) -> AtomOption<T> = AtomOption::some;
    let _: for<'a> fn(&'a AtomOption<T>) -> Option<AtomGuard<'a, T>> = AtomOption::load;
    let _: for<'a> fn(&'a AtomOption<T>) -> bool = AtomOption::is_none;
    let _: for<'a> fn(&'a AtomOption<T>) -> bool = AtomOption::is_some;
    let _: for<'a> fn(&'a AtomOption<T>, T) = AtomOption::store_some;
    let _: for<'a> fn(&'a AtomOption<T>) = AtomOption::store_none;
    let _: for<'a> fn(&'a AtomOption<T>) -> Option<Removed<T>> = AtomOption::take;

    let _: unsafe fn(Removed<T>) -> T = Removed::into_inner_unchecked;
}

/// `map` bounds its lifetime (`R: 'a`), so it is checked for one `'a`.
fn map_api<'a, T: Send + Sync + 'static + Copy>(atom: &'a Atom<T>) -> T {
    type Project<T> = fn(&T) -> &T;
    let map: fn(&'a Atom<T>, Project<T>) -> AtomMap<'a, T, T, Project<T>> =
        Atom::map::<T, Project<T>>;
    let load: for<'s> fn(&'s AtomMap<'a, T, T, Project<T>>) -> AtomMapGuard<'a, T, T, Project<T>> =
        AtomMap::load;
    let view = map(atom, |t| t);
    *load(&view)
}

#[test]
fn atom_family() {
    atom_api::<String>();

    let atom = Atom::new(1_u64);
    assert_eq!(*atom.load(), 1);
    assert_eq!(atom.load_clone(), 1);
    assert_eq!(atom.peek(|v| v + 1), 2);
    atom.store(2);
    let old = atom.swap(3);
    assert_eq!(old, 2);
    assert_eq!(*old, 2);
    let current = atom.load();
    assert_eq!(*atom.compare_and_swap(&current, 4).unwrap(), 4);
    assert_eq!(atom.compare_and_swap(&current, 5).err(), Some(5));
    drop(current);
    atom.rcu(|v| v * 10);
    assert_eq!(map_api(&atom), 40);
    assert_eq!(
        format!("{atom:?} {} {:?}", atom.load(), atom.load()),
        "Atom { value: 40 } 40 40"
    );
    assert_eq!(format!("{old} {old:?}"), "2 2");
    assert_eq!(Atom::<u64>::default().into_inner(), 0);
    assert_eq!(Atom::from(7_u64).into_inner(), 7);
    assert_eq!(atom.into_inner(), 40);
    // SAFETY: single-threaded; no guard of the old value is alive.
    assert_eq!(unsafe { old.into_inner_unchecked() }, 2);

    let slot = AtomOption::none();
    assert!(slot.is_none() && slot.load().is_none());
    slot.store_some(String::from("a"));
    assert!(slot.is_some());
    assert_eq!(format!("{slot:?}"), r#"AtomOption::Some("a")"#);
    assert_eq!(*slot.take().unwrap(), "a");
    slot.store_some(String::from("b"));
    slot.store_none();
    assert_eq!(
        format!("{:?}", AtomOption::<u8>::default()),
        "AtomOption::None"
    );
    assert!(AtomOption::some(1).is_some());
}

#[test]
fn cache_padded() {
    let _: fn(u64) -> CachePadded<u64> = CachePadded::new;
    let _: fn(CachePadded<u64>) -> u64 = CachePadded::into_inner;
    let mut padded = CachePadded::from(5_u64);
    *padded += 1;
    assert_eq!(*padded, 6);
    assert_eq!(format!("{padded:?}"), "CachePadded { value: 6 }");
    assert!(std::mem::align_of::<CachePadded<u8>>() >= 64);
    let copy = padded;
    assert_eq!(
        copy.into_inner(),
        CachePadded::<u64>::default().into_inner() + 6
    );
}
