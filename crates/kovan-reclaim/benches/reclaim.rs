//! Protocol costs: pin+unpin (default handle, a registered handle, `Domain::pin`), protected load with a stable era, retire; beside crossbeam-epoch's
//! `pin()` and a plain `AtomicPtr` load measured in the same run.

use std::hint::black_box;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};

fn pin(c: &mut Criterion) {
    let mut group = c.benchmark_group("pin_unpin");
    group.bench_function("kovan", |b| {
        b.iter(|| drop(black_box(kovan_reclaim::pin())))
    });
    group.bench_function("crossbeam_epoch", |b| {
        b.iter(|| drop(black_box(crossbeam_epoch::pin())))
    });
    let domain = std::sync::Arc::new(kovan_reclaim::Domain::new());
    let handle = domain.register().unwrap();
    group.bench_function("kovan_local_handle", |b| {
        b.iter(|| drop(black_box(handle.pin())))
    });
    group.bench_function("kovan_domain_pin", |b| {
        b.iter(|| drop(black_box(domain.pin())))
    });
    group.finish();
}

fn protect(c: &mut Criterion) {
    let mut value = 7u64;
    let shared = AtomicPtr::new(&mut value as *mut u64);
    let mut group = c.benchmark_group("protected_load_stable_era");
    let guard = kovan_reclaim::pin();
    group.bench_function("kovan", |b| {
        b.iter(|| guard.protect(black_box(&shared), Ordering::Acquire))
    });
    group.bench_function("atomic_ptr_load", |b| {
        b.iter(|| black_box(&shared).load(Ordering::Acquire))
    });
    drop(guard);
    group.finish();
}

fn retire(c: &mut Criterion) {
    let mut group = c.benchmark_group("retire");
    group.bench_function("kovan_alloc_and_retire", |b| {
        kovan_reclaim::with_handle(|handle| {
            b.iter(|| {
                let node: NonNull<kovan_reclaim::Node<u64>> = handle.alloc_node(black_box(1));
                // SAFETY: never published, retired once.
                unsafe { handle.retire_node(node) };
            });
            handle.flush();
        })
    });
    group.bench_function("crossbeam_epoch_alloc_and_defer_destroy", |b| {
        b.iter(|| {
            let guard = crossbeam_epoch::pin();
            let owned = crossbeam_epoch::Owned::new(black_box(1u64)).into_shared(&guard);
            // SAFETY: never published, destroyed once.
            unsafe { guard.defer_destroy(owned) };
        })
    });
    group.finish();
}

criterion_group!(benches, pin, protect, retire);
criterion_main!(benches);
