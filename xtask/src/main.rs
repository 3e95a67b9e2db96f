//! Project automation for the kovan workspace.
//!
//! ```text
//! cargo xtask verify [--skip NAME]... [--mutants]   every check, then a summary table
//! cargo xtask fmt|clippy|test|compat|test-release|loom|miri|asan|tsan|no-std|msrv
//! cargo xtask mutants [NAME]...                      the mutation check alone
//! cargo xtask chaos --seeds N [--seed S]             the randomized stress test, more seeds
//! cargo xtask bench [--alloc A] [ARGS]...            cargo run --release -p kovan-benches --bin compare -- ARGS
//! ```
//!
//! Every command is printed before it runs; its output is streamed and also parsed for the
//! libtest counts (captured with colour off, so the parser sees plain text). A step that is expected to run tests and runs none fails.

mod compat;
mod exec;
mod libtest;
mod mutants;
mod steps;
mod toolchain;

use std::env;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use steps::{Ctx, Outcome, Step};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  verify [--skip NAME]... [--mutants]
                 run every step in order and print a summary table; fails if any step fails.
                 --skip NAME leaves a step out (shown as SKIPPED in the summary);
                 --mutants adds the mutation check at the end.
  fmt            cargo fmt --all --check
  clippy         cargo clippy --workspace --all-targets -- -D warnings
  test           cargo test --workspace (debug, doc tests included)
  compat         the tests/ of the kovan 0.1.12 package (fetched by cargo at run time),
                 unchanged, against crates/kovan; fails unless every one runs and passes
  test-release   the same with --release
  loom           the loom models (tests/loom*.rs of kovan-core, kovan-reclaim, kovan-atom) under
                 --cfg kovan_loom
  shuttle        the shuttle model of pin/retire/flush (kovan-reclaim, feature shuttle)
  miri           cargo +nightly miri test (kovan-core, kovan-reclaim, kovan-atom), racy tests
                 (names containing `miri_seeds`) again over -Zmiri-many-seeds=0..4
  asan           the kovan-reclaim and kovan-atom tests under AddressSanitizer (x86_64 Linux)
  tsan           the kovan-reclaim, kovan-atom and kovan tests under ThreadSanitizer, std
                 rebuilt instrumented (-Zbuild-std; x86_64 Linux)
  no-std         the library crates, --no-default-features, for x86_64-unknown-none (no std)
  msrv           cargo +VERSION check of the library crates, VERSION the rust-version of
                 [workspace.package] in Cargo.toml
  mutants [NAME]...
                 re-run the tests with each deliberate bug (cfg kovan_mutant) switched in and
                 report which tests catch it; fails if one is caught by none.
  chaos --seeds N [--seed S]
                 the randomized stress test (crates/kovan/tests/chaos.rs), optimised, over
                 seeds 0..N (S..S+N with --seed S; --seed S alone: that seed); prints a line per
                 seed and fails if any seed fails. Runs under KOVAN_TEST_TIMEOUT: raise it for
                 long runs (about 0.5 s per seed here).
  bench [--alloc system|mimalloc] [ARGS]...
                 cargo run --release -p kovan-benches --bin compare -- ARGS (e.g. --quick);
                 --alloc mimalloc builds compare with mimalloc as the global allocator of every
                 library (feature `mimalloc` of kovan-benches; default: the system allocator)
  help           this text

environment:
  KOVAN_TEST_TIMEOUT    seconds one test binary may run before it is killed and counted as
                        failed (default 600; 0: no limit). Not applied under Miri.
  LOOM_MAX_PREEMPTIONS  loom preemption bound (default 2)
";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("error: {msg}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(args: &[String]) -> Result<ExitCode, String> {
    let Some((cmd, rest)) = args.split_first() else {
        return Err("no command given".into());
    };
    let ctx = Ctx::from_env();
    match cmd.as_str() {
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        "verify" => verify(&ctx, rest),
        "mutants" => {
            let results = vec![timed("mutants", || mutants::run(&ctx, rest))];
            Ok(summarize("mutants", &results))
        }
        "chaos" => chaos(&ctx, rest),
        "bench" => {
            let status = steps::bench_cmd(rest)?
                .run_inherit(&ctx.root)
                .map_err(|e| e.to_string())?;
            Ok(match status.code() {
                Some(0) => ExitCode::SUCCESS,
                Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
                None => ExitCode::FAILURE,
            })
        }
        name => {
            let step = Step::from_name(name).ok_or_else(|| format!("unknown command `{name}`"))?;
            if let Some(extra) = rest.first() {
                return Err(format!("`{name}` takes no arguments (got `{extra}`)"));
            }
            let results = vec![timed(step.name, || step.run(&ctx))];
            Ok(summarize(step.name, &results))
        }
    }
}

/// `cargo test --release -p kovan --test chaos` with the seed variables set (both always, an
/// empty one meaning unset, so that the caller's environment cannot add to the selection).
fn chaos(ctx: &Ctx, args: &[String]) -> Result<ExitCode, String> {
    let (mut seeds, mut seed) = (String::new(), String::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (a.as_str(), None),
        };
        let target = match name {
            "--seeds" => &mut seeds,
            "--seed" => &mut seed,
            _ => return Err(format!("unknown chaos argument `{a}`")),
        };
        let value = inline
            .or_else(|| it.next().cloned())
            .ok_or_else(|| format!("{name} needs a number"))?;
        value
            .parse::<u64>()
            .map_err(|_| format!("{name} needs a number (got `{value}`)"))?;
        *target = value;
    }
    if seeds.is_empty() && seed.is_empty() {
        return Err("chaos needs --seeds N, --seed S, or both".into());
    }
    let cmd = exec::Cmd::new("cargo")
        .args(["test", "--release", "-p", "kovan", "--test", "chaos"])
        .env("KOVAN_CHAOS_SEEDS", seeds)
        .env("KOVAN_CHAOS_SEED", seed);
    let cmd = steps::with_timeout(ctx, cmd);
    let results = vec![timed("chaos", || {
        let mut run = steps::TestRun::default();
        run.run(ctx, &cmd);
        steps::finish_tests(&run, "ignored")
    })];
    Ok(summarize("chaos", &results))
}

fn verify(ctx: &Ctx, args: &[String]) -> Result<ExitCode, String> {
    let mut skip: Vec<&str> = Vec::new();
    let mut with_mutants = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let name = if a == "--skip" {
            Some(it.next().ok_or("--skip needs a step name")?.as_str())
        } else {
            a.strip_prefix("--skip=")
        };
        if let Some(name) = name {
            let step = Step::from_name(name).ok_or_else(|| {
                let names: Vec<_> = Step::ALL.iter().map(|s| s.name).collect();
                format!("cannot skip `{name}`: steps are {}", names.join(", "))
            })?;
            skip.push(step.name);
        } else if a == "--mutants" {
            with_mutants = true;
        } else {
            return Err(format!("unknown verify argument `{a}`"));
        }
    }

    let total = Step::ALL.len() + usize::from(with_mutants);
    let mut results = Vec::new();
    for (i, step) in Step::ALL.iter().enumerate() {
        if skip.contains(&step.name) {
            exec::note(&format!(
                "[{}/{total}] {}: SKIPPED (by --skip)",
                i + 1,
                step.name
            ));
            results.push(StepResult {
                name: step.name,
                status: Status::Skipped,
                time: None,
                outcome: Outcome::default(),
            });
            continue;
        }
        banner(&format!("[{}/{total}] {}", i + 1, step.name));
        results.push(timed(step.name, || step.run(ctx)));
    }
    if with_mutants {
        banner(&format!("[{total}/{total}] mutants"));
        results.push(timed("mutants", || mutants::run(ctx, &[])));
    }
    Ok(summarize("verify", &results))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pass,
    Fail,
    Skipped,
}

struct StepResult {
    name: &'static str,
    status: Status,
    time: Option<Duration>,
    outcome: Outcome,
}

fn timed(name: &'static str, f: impl FnOnce() -> Outcome) -> StepResult {
    let started = Instant::now();
    let outcome = f();
    let time = started.elapsed();
    let status = if outcome.ok {
        Status::Pass
    } else {
        Status::Fail
    };
    exec::note(&format!(
        "{name}: {} in {}",
        if outcome.ok { "PASS" } else { "FAIL" },
        fmt_duration(time)
    ));
    StepResult {
        name,
        status,
        time: Some(time),
        outcome,
    }
}

fn banner(title: &str) {
    println!("\n==================== {title} ====================");
}

fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1}s")
    } else {
        let whole = d.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

/// Prints the details and the summary table; the exit code is failure if any step failed.
fn summarize(what: &str, results: &[StepResult]) -> ExitCode {
    banner(&format!("{what} summary"));
    for r in results {
        if !r.outcome.details.is_empty() {
            println!("--- {} ---", r.name);
            for d in &r.outcome.details {
                println!("  {d}");
            }
        }
    }
    for line in table(results) {
        println!("{line}");
    }
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| r.status == Status::Fail)
        .map(|r| r.name)
        .collect();
    let skipped: Vec<&str> = results
        .iter()
        .filter(|r| r.status == Status::Skipped)
        .map(|r| r.name)
        .collect();
    let mut verdict = if failed.is_empty() {
        format!("{what}: PASSED")
    } else {
        format!(
            "{what}: FAILED ({} of {} steps failed: {})",
            failed.len(),
            results.len(),
            failed.join(", ")
        )
    };
    if !skipped.is_empty() {
        verdict.push_str(&format!("; NOT RUN (--skip): {}", skipped.join(", ")));
    }
    println!("{verdict}");
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn table(results: &[StepResult]) -> Vec<String> {
    let header = [
        "STEP", "STATUS", "TIME", "PASSED", "FAILED", "IGNORED", "NOTES",
    ];
    let mut rows: Vec<[String; 7]> = Vec::new();
    for r in results {
        let status = match r.status {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skipped => "SKIPPED (by --skip)",
        };
        let (p, f, i) = match r.outcome.counts {
            Some(c) => (
                c.passed.to_string(),
                c.failed.to_string(),
                c.ignored.to_string(),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        rows.push([
            r.name.to_owned(),
            status.to_owned(),
            r.time.map_or_else(|| "-".to_owned(), fmt_duration),
            p,
            f,
            i,
            r.outcome.notes.join("; "),
        ]);
    }
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let fmt_row = |cells: [&str; 7]| {
        let mut line = String::new();
        for (col, cell) in cells.iter().enumerate() {
            let w = widths[col];
            let cell = match col {
                // counts and times right-aligned, text left-aligned
                2..=5 => format!("{cell:>w$}"),
                6 => (*cell).to_owned(),
                _ => format!("{cell:<w$}"),
            };
            line.push_str(&cell);
            line.push_str("  ");
        }
        line.trim_end().to_owned()
    };
    let mut lines = vec![fmt_row(header)];
    lines.push("-".repeat(lines[0].len().max(60)));
    for row in &rows {
        lines.push(fmt_row(row.each_ref().map(String::as_str)));
    }
    lines
}
