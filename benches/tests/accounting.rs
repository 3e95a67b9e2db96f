//! The memory workloads count unfreed nodes exactly: checked against the leak baseline (nothing is
//! freed, so every retired node must be counted) and against libraries whose behaviour is known.

use std::time::Duration;

use kovan_benches::libs::{Haphazard, Kovan, Leak, Seize};
use kovan_benches::workloads::{Config, Mix, Structure, Workload, run};

fn small() -> Config {
    let mut cfg = Config::new(true);
    cfg.duration = Duration::from_millis(20);
    cfg.stalled_nodes = 20_000;
    cfg.churn_threads = 8;
    cfg.churn_wave = 4;
    cfg.churn_retires = 300;
    cfg
}

#[test]
fn leak_baseline_counts_every_retired_node() {
    let cfg = small();
    let o = run::<Leak>(Workload::Stalled, 2, &cfg);
    assert_eq!(o.get("end_unfreed"), Some(20_000.0));
    assert_eq!(o.get("after_flush"), Some(20_000.0));
    assert_eq!(o.get("reader_ok"), Some(1.0));
    let peak = o.get("peak_unfreed").unwrap();
    assert!((19_000.0..=20_002.0).contains(&peak), "peak {peak}");
    assert!(!o.series.is_empty());

    let o = run::<Leak>(Workload::Idle, 2, &cfg);
    assert_eq!(o.get("end_unfreed"), Some(20_000.0));

    let o = run::<Leak>(Workload::Churn, 8, &cfg);
    assert_eq!(o.get("after_join"), Some(8.0 * 300.0));
    assert_eq!(o.get("after_flush"), Some(8.0 * 300.0));
}

#[test]
fn epoch_like_reader_holds_everything_hazard_pointers_do_not() {
    let cfg = small();
    // seize (Hyaline): an active stalled guard holds every batch retired meanwhile; releasing it
    // frees them, except the partial batches (< 32 nodes each) the exited writers left behind.
    let o = run::<Seize>(Workload::Stalled, 2, &cfg);
    assert!(o.get("end_unfreed").unwrap() >= 19_000.0, "{o:?}");
    assert!(o.get("after_release").unwrap() <= 64.0, "{o:?}");
    assert_eq!(o.get("reader_ok"), Some(1.0));
    // haphazard: only what the hazard pointers name stays, plus the scan threshold; one eager
    // reclaim frees the rest once the reader is gone.
    let o = run::<Haphazard>(Workload::Stalled, 2, &cfg);
    assert!(o.get("peak_unfreed").unwrap() < 5_000.0, "{o:?}");
    assert_eq!(o.get("after_flush"), Some(0.0));
    assert_eq!(o.get("reader_ok"), Some(1.0));
}

#[test]
fn throughput_workloads_report_a_rate() {
    let cfg = small();
    for w in [
        Workload::Pin,
        Workload::ReadMostly,
        Workload::Treiber,
        Workload::Queue,
        Workload::Set(Structure::Map, Mix::WriteOnly),
    ] {
        let o = run::<Leak>(w, 2, &cfg);
        let mops = o.get("mops").unwrap();
        assert!(mops.is_finite() && mops > 0.0, "{w:?}: {mops}");
    }
    let o = run::<Leak>(Workload::Oversub, 16, &cfg);
    assert!(o.get("peak_unfreed").unwrap() > 0.0);
}

/// kovan's own statistics agree with the live count: `check_against_stats` asserts it at the end
/// of each run (all threads joined, flushed), and the monitor records them at its peak. The only
/// test of this binary on kovan's default domain, so no other test moves its counters meanwhile.
#[test]
fn kovan_statistics_agree_with_the_live_count() {
    let cfg = small();
    for w in [Workload::Stalled, Workload::Idle, Workload::Churn] {
        let o = run::<Kovan>(w, 2, &cfg);
        if w == Workload::Churn {
            assert!(o.peak_stats.is_none());
            continue;
        }
        let p = o.peak_stats.expect("kovan has statistics");
        let in_run = p.stats.retired - p.before.retired;
        assert!(in_run <= 20_000, "{w:?}: {in_run} retired by the peak");
        assert!(p.unfreed > 0, "{w:?}: {p:?}");
        if w == Workload::Stalled {
            // The stalled reader pinned before the writers started: its reservation is the oldest.
            let oldest = p.stats.oldest_reservation.expect("the reader is pinned");
            assert!(oldest.era <= p.before.era, "{p:?}");
        }
    }
    assert!(run::<Leak>(Workload::Stalled, 2, &cfg).peak_stats.is_none());
}
