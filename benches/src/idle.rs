//! Many registered idle threads: what a thread that registered once and then sits idle costs the
//! threads that work.
//!
//! Placing a batch of retired nodes means scanning every registered thread's slot, so retire cost
//! can grow with the number of threads that ever pinned, whether or not they still run (the same
//! is reported of crossbeam-epoch's list of `Local`s, crossbeam#852). The workload registers
//! [`IDLE_THREADS`] threads (each creates the library's per-thread state, pins once, unpins and
//! then blocks, its state kept alive), and runs the retire-heavy Treiber push + pop on
//! [`ACTIVE`] threads beside them. The same Treiber run without the idle threads, in the same
//! repetition, gives the paired ratio.
//!
//! Some registries never shrink (kovan's scan bound is the highest thread id ever claimed;
//! haphazard's hazard-pointer records are reused, never freed), so once the idle threads have
//! registered, every later measurement of that library in the process would scan their slots.
//! Each measurement therefore runs in a child process (the `compare` binary run again with
//! [`CHILD_OPTION`]): the run without idle threads comes first on a fresh registry, and nothing
//! is left behind for the workloads measured after it.

use std::collections::BTreeMap;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::thread;

use crate::ds::Treiber;
use crate::libs::Library;
use crate::smr::{LiveCounter, Smr};
use crate::workloads::{Config, Outcome, Workload, throughput};

/// Threads that register and then stay idle for the whole measurement.
pub const IDLE_THREADS: usize = 1_000;

/// Threads that run the Treiber stack, with and without the idle ones.
pub const ACTIVE: usize = 2;

/// Stack size of an idle thread: it only creates its per-thread state, pins once and blocks.
pub const IDLE_STACK: usize = 64 * 1024;

/// Throughput with the idle threads registered (Mops/s, push and pop counted as one each).
pub const WITH: &str = "mops";

/// Throughput of the same run without idle threads, measured first in the same child process.
pub const WITHOUT: &str = "no_idle_mops";

/// [`WITH`] / [`WITHOUT`] of one repetition.
pub const RATIO: &str = "idle_ratio";

/// Every figure of a measurement, in the order the child reports them.
const METRICS: [&str; 3] = [WITHOUT, WITH, RATIO];

/// The hidden option of `compare` that runs one measurement of this workload for the library it
/// names and prints its figures on stdout, as a JSON object.
pub const CHILD_OPTION: &str = "--idle-threads-child";

/// Set in the child process: there, [`run`] measures instead of starting another child.
static IN_CHILD: AtomicBool = AtomicBool::new(false);

/// One measurement for library `S`: in a child process, or in this one when it is that child.
pub fn run<S: Smr>(cfg: &Config) -> Outcome {
    // Relaxed: set by the child's main thread before it calls `run` on the same thread.
    if IN_CHILD.load(Ordering::Relaxed) {
        measure::<S>(cfg)
    } else {
        in_child(S::NAME, cfg)
    }
}

/// Run the measurement of `lib` in a child process: this program (the `compare` binary) with
/// [`CHILD_OPTION`] and the settings the measurement uses. Its stderr is this process's.
fn in_child(lib: &str, cfg: &Config) -> Outcome {
    let exe = std::env::current_exe().expect("the path of the running compare binary");
    let mut cmd = Command::new(exe);
    cmd.args([CHILD_OPTION, lib, "--duration-ms"])
        .arg(cfg.duration.as_millis().to_string());
    if cfg.quick {
        cmd.arg("--quick");
    }
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("start the idle-threads child process");
    assert!(
        out.status.success(),
        "idle-threads child for {lib} failed: {}",
        out.status
    );
    parse(&out.stdout)
}

/// The figures a child printed.
fn parse(stdout: &[u8]) -> Outcome {
    let figures: BTreeMap<String, f64> =
        serde_json::from_slice(stdout).expect("the idle-threads child prints one JSON object");
    let metrics = METRICS
        .iter()
        .map(|&m| {
            let v = figures.get(m).copied();
            (
                m,
                v.unwrap_or_else(|| panic!("the idle-threads child printed no `{m}`")),
            )
        })
        .collect();
    Outcome {
        metrics,
        ..Outcome::default()
    }
}

/// The figures of `outcome` as the child prints them.
fn print(outcome: &Outcome) -> String {
    let figures: BTreeMap<&str, f64> = outcome.metrics.iter().copied().collect();
    serde_json::to_string(&figures).expect("a map of numbers serializes")
}

/// The child side of [`CHILD_OPTION`]: measure library `name` of `libs` once, print the figures
/// on stdout.
pub fn child_main(libs: &[Box<dyn Library>], name: &str, cfg: &Config) -> ExitCode {
    let Some(lib) = libs.iter().find(|l| l.name() == name) else {
        eprintln!("error: {CHILD_OPTION}: no library named {name}");
        return ExitCode::from(2);
    };
    // Relaxed: read by this thread only (see `run`).
    IN_CHILD.store(true, Ordering::Relaxed);
    println!("{}", print(&lib.run(Workload::IdleThreads, ACTIVE, cfg)));
    ExitCode::SUCCESS
}

/// The measurement itself, in the calling process: an unrecorded warm-up, the Treiber run
/// without idle threads, then the idle threads register and the same run again beside them.
///
/// The idle threads are spawned, registered, and joined outside both timed regions. For a
/// library with statistics of its own (kovan), the workload asserts that they really are
/// registered (the default `kovan::pin()` handle is thread-local: it stays registered while the
/// idle thread is alive) before and after the timed region.
pub fn measure<S: Smr>(cfg: &Config) -> Outcome {
    let counter = LiveCounter::new(S::NAME);
    let smr = S::new();
    let stack = Treiber::new(&smr, counter);
    let treiber = |cfg: &Config| {
        throughput(&smr, ACTIVE, cfg, cfg.duration, None, |local, rng| {
            stack.push(local, rng.bits());
            std::hint::black_box(stack.pop(local));
            2
        })
    };
    let mut warm = cfg.clone();
    warm.duration = cfg.duration / 4;
    treiber(&warm);
    let without = treiber(cfg);

    let check_registered = |when: &str| {
        if let Some(stats) = smr.stats() {
            assert!(
                stats.registered_threads >= IDLE_THREADS,
                "{}: only {} threads registered {when} the run with {IDLE_THREADS} idle threads",
                S::NAME,
                stats.registered_threads
            );
        }
    };
    let parked = Parked::default();
    let with = thread::scope(|s| {
        let idle: Vec<_> = (0..IDLE_THREADS)
            .map(|_| {
                let (smr, parked) = (&smr, &parked);
                thread::Builder::new()
                    .stack_size(IDLE_STACK)
                    .spawn_scoped(s, move || {
                        let mut local = smr.local();
                        drop(smr.pin(&mut local));
                        parked.park();
                        drop(local);
                    })
                    .expect("spawn an idle thread")
            })
            .collect();
        parked.wait_all_parked();
        check_registered("before");
        let with = treiber(cfg);
        check_registered("after");
        parked.release();
        // `join` returns after the thread's thread-local destructors ran (where the libraries
        // unregister it); the end of the scope alone does not wait for them.
        for h in idle {
            h.join().expect("idle thread panicked");
        }
        with
    });
    drop(stack);
    Outcome {
        metrics: vec![(WITHOUT, without), (WITH, with), (RATIO, with / without)],
        ..Outcome::default()
    }
}

/// Where the idle threads sleep. A thread counts itself and goes to sleep on `wake` in one step
/// under the mutex (`Condvar::wait` releases it atomically), so when the main thread sees every
/// thread counted while holding the mutex, every one of them is asleep: none is still waking up
/// (a thousand threads leaving a barrier at once would run beside the timed region).
#[derive(Default)]
struct Parked {
    /// Threads parked, and whether they are released.
    state: Mutex<(usize, bool)>,
    /// The last thread to park tells the main thread.
    all_parked: Condvar,
    /// The main thread releases them all.
    wake: Condvar,
}

impl Parked {
    /// Count the calling thread and sleep until [`Parked::release`].
    fn park(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.0 += 1;
        if state.0 == IDLE_THREADS {
            self.all_parked.notify_one();
        }
        let _released = self
            .wake
            .wait_while(state, |s| !s.1)
            .unwrap_or_else(PoisonError::into_inner);
    }

    /// Block until every idle thread sleeps in [`Parked::park`].
    fn wait_all_parked(&self) {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let _all = self
            .all_parked
            .wait_while(state, |s| s.0 < IDLE_THREADS)
            .unwrap_or_else(PoisonError::into_inner);
    }

    /// Wake every idle thread.
    fn release(&self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).1 = true;
        self.wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::{METRICS, parse, print};
    use crate::workloads::Outcome;

    #[test]
    fn the_child_figures_read_back_as_printed() {
        let sent = Outcome {
            metrics: METRICS
                .iter()
                .zip([1.5, 1.25, 0.8])
                .map(|(&m, v)| (m, v))
                .collect(),
            ..Outcome::default()
        };
        let back = parse(print(&sent).as_bytes());
        assert_eq!(back.metrics, sent.metrics);
    }
}
