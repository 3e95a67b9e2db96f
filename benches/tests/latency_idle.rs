//! The latency and idle-threads workloads: figures that are consistent with one another, the
//! child-process protocol of the idle-threads workload, and kovan's registered-thread count.
//!
//! Its own test binary: the idle-threads measurement registers a thousand threads with kovan's
//! default domain, whose scan bound never shrinks, and no other test shares this process.

use std::process::Command;
use std::time::Duration;

use kovan_benches::idle::{self, CHILD_OPTION, IDLE_THREADS};
use kovan_benches::latency::{self, MAX, OVERHEAD_P50, OVERHEAD_P99, PERCENTILES};
use kovan_benches::libs::{Kovan, Leak};
use kovan_benches::workloads::{Config, Outcome};

fn small() -> Config {
    let mut cfg = Config::new(true);
    cfg.duration = Duration::from_millis(20);
    cfg
}

/// Percentiles in order, up to the maximum; operations counted; overhead measured.
fn check_latency(o: &Outcome) {
    let mut figures: Vec<f64> = PERCENTILES.iter().map(|p| o.get(p.0).unwrap()).collect();
    figures.push(o.get(MAX).unwrap());
    assert!(figures[0] > 0.0, "{o:?}");
    assert!(figures.windows(2).all(|w| w[0] <= w[1]), "{o:?}");
    assert!(o.get("ops").unwrap() > 100.0, "{o:?}");
    let (p50, p99) = (o.get(OVERHEAD_P50).unwrap(), o.get(OVERHEAD_P99).unwrap());
    assert!(0.0 < p50 && p50 <= p99, "{o:?}");
}

#[test]
fn latency_percentiles_are_ordered() {
    let cfg = small();
    for t in latency::THREADS {
        check_latency(&latency::treiber::<Leak>(t, &cfg));
        check_latency(&latency::map::<Leak>(t, &cfg));
    }
    check_latency(&latency::treiber::<Kovan>(2, &cfg));
}

#[test]
fn idle_threads_measure_both_runs_and_kovan_keeps_them_registered() {
    let cfg = small();
    for o in [idle::measure::<Leak>(&cfg), idle::measure::<Kovan>(&cfg)] {
        let (with, without) = (o.get(idle::WITH).unwrap(), o.get(idle::WITHOUT).unwrap());
        assert!(with > 0.0 && without > 0.0, "{o:?}");
        assert_eq!(o.get(idle::RATIO), Some(with / without));
    }
    // `measure` asserted the count while the idle threads were parked; they are joined now, so
    // their thread-local handles have released their ids.
    assert!(kovan::stats().registered_threads < IDLE_THREADS);
}

#[test]
fn the_compare_binary_runs_one_idle_threads_measurement_as_a_child() {
    let out = Command::new(env!("CARGO_BIN_EXE_compare"))
        .args([CHILD_OPTION, "leak", "--duration-ms", "20"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let figures: std::collections::BTreeMap<String, f64> =
        serde_json::from_slice(&out.stdout).unwrap();
    for m in [idle::WITH, idle::WITHOUT, idle::RATIO] {
        assert!(figures[m] > 0.0, "{figures:?}");
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_compare"))
        .args([CHILD_OPTION, "no-such-library"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}
