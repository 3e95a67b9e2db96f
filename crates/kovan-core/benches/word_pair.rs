//! WordPair costs next to a plain 64-bit atomic swap (one thread, uncontended).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use kovan_core::WordPair;

fn word_pair(c: &mut Criterion) {
    let mut group = c.benchmark_group("word_pair");
    let pair = WordPair::new(1, 2);
    let plain = AtomicU64::new(1);
    group.bench_function("atomic_u64_swap", |b| {
        b.iter(|| plain.swap(black_box(3), Ordering::AcqRel))
    });
    group.bench_function("atomic_u64_load", |b| {
        b.iter(|| plain.load(Ordering::Acquire))
    });
    group.bench_function("exchange_lo", |b| {
        b.iter(|| pair.exchange_lo(black_box(3), Ordering::AcqRel))
    });
    group.bench_function("load", |b| b.iter(|| pair.load(Ordering::Acquire)));
    group.bench_function("load_lo", |b| b.iter(|| pair.load_lo(Ordering::Acquire)));
    group.bench_function("compare_exchange", |b| {
        b.iter(|| {
            let current = pair.load(Ordering::Relaxed);
            pair.compare_exchange(
                current,
                (current.0 ^ 1, current.1),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, word_pair);
criterion_main!(benches);
