//! `impl_kovan_like!`: the [`Smr`](crate::smr::Smr) implementation for any crate with the kovan
//! 0.1.12 API (the crates.io original and, later, the workspace facade).

/// Implements [`Smr`](crate::smr::Smr) for a crate with the kovan 0.1.12 API:
/// `pin`, `retire`, `flush`, `Atomic`, `Shared`, `Guard`, `RetiredNode`.
///
/// `impl_kovan_like!(Name, crate_path)` defines the unit struct `Name`; its report name is the
/// crate path as written (e.g. `kovan_orig`, `kovan`). `impl_kovan_like!(Name, crate_path, stats)`
/// also implements [`Smr::stats`](crate::smr::Smr::stats) with the crate's `stats()`: the
/// default domain's, which is the one the adapter pins and retires into.
#[macro_export]
macro_rules! impl_kovan_like {
    ($name:ident, $krate:ident $(, $stats:ident)?) => {
        /// A kovan-API library (see `impl_kovan_like!`).
        pub struct $name;

        // `Shared::from_raw` only wraps the pointer word: nothing is dereferenced.
        #[allow(clippy::not_unsafe_ptr_arg_deref)]
        impl $crate::smr::Smr for $name {
            const NAME: &'static str = stringify!($krate);
            const KOVAN_LIKE: bool = true;
            type Header = $krate::RetiredNode;
            type Link<E: $crate::smr::Ext> = $krate::Atomic<$crate::smr::Node<Self, E>>;
            type Local = ();
            type Guard<'a> = $krate::Guard;

            fn new() -> Self {
                $name
            }
            fn version() -> String {
                $crate::sysinfo::dependency_version(stringify!($krate))
            }
            fn header() -> Self::Header {
                // Stamps the birth epoch now, at allocation, before the node can be reached.
                $krate::RetiredNode::new()
            }
            fn link<E: $crate::smr::Ext>(p: *mut $crate::smr::Node<Self, E>) -> Self::Link<E> {
                $krate::Atomic::new(p)
            }
            fn local(&self) {}
            fn pin<'a>(&'a self, _local: &'a mut ()) -> Self::Guard<'a> {
                $krate::pin()
            }
            #[inline]
            fn protect<E: $crate::smr::Ext>(
                g: &mut Self::Guard<'_>,
                _slot: usize,
                link: &Self::Link<E>,
            ) -> *mut $crate::smr::Node<Self, E> {
                link.load(::std::sync::atomic::Ordering::Acquire, g)
                    .as_raw()
            }
            #[inline]
            fn load<E: $crate::smr::Ext>(
            g: &mut Self::Guard<'_>,
            link: &Self::Link<E>,
        ) -> *mut $crate::smr::Node<Self, E> {
                // 0.1.12 has no unprotected load: `Atomic::load` is the only way to read a link.
                link.load(::std::sync::atomic::Ordering::Acquire, g)
                    .as_raw()
            }
            #[inline]
            fn store<E: $crate::smr::Ext>(link: &Self::Link<E>, p: *mut $crate::smr::Node<Self, E>) {
                // SAFETY: `p` is a node pointer (possibly marked) or null; `Shared` is a plain word.
                let s = unsafe { $krate::Shared::from_raw(p) };
                link.store(s, ::std::sync::atomic::Ordering::Release);
            }
            #[inline]
            fn swap<E: $crate::smr::Ext>(
                g: &mut Self::Guard<'_>,
                link: &Self::Link<E>,
                p: *mut $crate::smr::Node<Self, E>,
            ) -> *mut $crate::smr::Node<Self, E> {
                // SAFETY: as in `store`.
                let s = unsafe { $krate::Shared::from_raw(p) };
                link.swap(s, ::std::sync::atomic::Ordering::AcqRel, g)
                    .as_raw()
            }
            #[inline]
            fn cas<E: $crate::smr::Ext>(
                g: &mut Self::Guard<'_>,
                link: &Self::Link<E>,
                current: *mut $crate::smr::Node<Self, E>,
                new: *mut $crate::smr::Node<Self, E>,
            ) -> Result<(), *mut $crate::smr::Node<Self, E>> {
                // SAFETY: as in `store`.
                let (c, n) = unsafe {
                    (
                        $krate::Shared::from_raw(current),
                        $krate::Shared::from_raw(new),
                    )
                };
                link.compare_exchange(
                    c,
                    n,
                    ::std::sync::atomic::Ordering::AcqRel,
                    ::std::sync::atomic::Ordering::Acquire,
                    g,
                )
                .map(|_| ())
                .map_err(|s| s.as_raw())
            }
            #[inline]
            unsafe fn retire<E: $crate::smr::Ext>(
                &self,
                _g: &mut Self::Guard<'_>,
                p: *mut $crate::smr::Node<Self, E>,
            ) {
                // SAFETY: `Node` is `#[repr(C)]` with `RetiredNode` first, Box-allocated, unlinked
                // and retired once (the caller's contract).
                unsafe { $krate::retire(p) }
            }
            #[inline]
            unsafe fn retire_unpinned<E: $crate::smr::Ext>(
                &self,
                _local: &mut (),
                p: *mut $crate::smr::Node<Self, E>,
            ) {
                // SAFETY: as in `retire`; kovan's `retire` needs no guard.
                unsafe { $krate::retire(p) }
            }
            fn flush(&self, _local: &mut ()) {
                // Pin once so that the calling thread is registered, then the documented flush.
                drop($krate::pin());
                $krate::flush();
            }
            $(
                fn $stats(&self) -> Option<::kovan::Stats> {
                    Some($krate::$stats())
                }
            )?
        }
    };
}

/// The link methods of [`Smr`](crate::smr::Smr) for a library whose links are std `AtomicPtr`s
/// read and written without the guard (haphazard protects per pointer, in `protect`; the leak
/// baseline frees nothing): `link`, `load`, `store`, `swap` and `cas`, to expand inside the impl.
macro_rules! atomic_ptr_links {
    () => {
        fn link<E: $crate::smr::Ext>(p: *mut $crate::smr::Node<Self, E>) -> Self::Link<E> {
            ::std::sync::atomic::AtomicPtr::new(p)
        }
        #[inline]
        fn load<E: $crate::smr::Ext>(
            _g: &mut Self::Guard<'_>,
            link: &Self::Link<E>,
        ) -> *mut $crate::smr::Node<Self, E> {
            link.load(::std::sync::atomic::Ordering::Acquire)
        }
        #[inline]
        fn store<E: $crate::smr::Ext>(link: &Self::Link<E>, p: *mut $crate::smr::Node<Self, E>) {
            link.store(p, ::std::sync::atomic::Ordering::Release);
        }
        #[inline]
        fn swap<E: $crate::smr::Ext>(
            _g: &mut Self::Guard<'_>,
            link: &Self::Link<E>,
            p: *mut $crate::smr::Node<Self, E>,
        ) -> *mut $crate::smr::Node<Self, E> {
            link.swap(p, ::std::sync::atomic::Ordering::AcqRel)
        }
        #[inline]
        fn cas<E: $crate::smr::Ext>(
            _g: &mut Self::Guard<'_>,
            link: &Self::Link<E>,
            current: *mut $crate::smr::Node<Self, E>,
            new: *mut $crate::smr::Node<Self, E>,
        ) -> Result<(), *mut $crate::smr::Node<Self, E>> {
            link.compare_exchange(
                current,
                new,
                ::std::sync::atomic::Ordering::AcqRel,
                ::std::sync::atomic::Ordering::Acquire,
            )
            .map(|_| ())
        }
    };
}
