//! The cross-library comparison: `cargo run --release -p kovan-benches --bin compare -- --help`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use kovan_benches::driver::run_all;
use kovan_benches::libs::libraries;
use kovan_benches::report;
use kovan_benches::workloads::{Config, Workload};
use kovan_benches::{idle, sysinfo};

/// With the `mimalloc` feature (`cargo xtask bench --alloc mimalloc`), every library allocates
/// and frees through mimalloc; the report reads which allocator this is from the same feature
/// ([`sysinfo::allocator`]).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Default output paths: a mimalloc build writes its own files, so that it never replaces the
/// system-allocator report (`--publish`: docs/benchmarks-mimalloc.md).
#[cfg(not(feature = "mimalloc"))]
mod paths {
    /// Where `--publish` puts the report: the copy the repository keeps.
    pub const PUBLISHED: &str = "docs/benchmarks.md";
    /// Default `--out`.
    pub const OUT: &str = "target/bench-report/benchmarks.md";
    /// Default `--json`.
    pub const JSON: &str = "target/bench-report/results.json";
}
#[cfg(feature = "mimalloc")]
mod paths {
    /// Where `--publish` puts the report: the copy the repository keeps.
    pub const PUBLISHED: &str = "docs/benchmarks-mimalloc.md";
    /// Default `--out`.
    pub const OUT: &str = "target/bench-report/benchmarks-mimalloc.md";
    /// Default `--json`.
    pub const JSON: &str = "target/bench-report/results-mimalloc.json";
}
use paths::PUBLISHED;

/// Runs every workload for every library and writes the markdown report (with SVG charts next
/// to it) and a JSON file with every repetition.
///
/// By default everything goes under target/bench-report/, so a run leaves the tracked files as
/// they are; `--publish` (or `--out`) writes the report elsewhere. The notes file, if it exists,
/// is copied into the report's Notes section (hand-written explanations survive regeneration).
/// Relative paths are taken from the workspace root.
#[derive(Parser, Debug)]
#[command(name = "compare")]
struct Args {
    /// Short run: fewer repetitions, shorter timed regions and fewer retired nodes (the sizes
    /// are in docs/benchmarks-method.md).
    #[arg(long)]
    quick: bool,

    /// Thread counts of the scaled workloads.
    #[arg(long, value_name = "N,N,...", value_delimiter = ',', default_value = "1,2,4,8",
          value_parser = positive)]
    threads: Vec<usize>,

    /// The markdown report; the SVG charts (bench-*.svg) go to the same folder.
    #[arg(long, value_name = "PATH", default_value = paths::OUT)]
    out: PathBuf,

    /// Write the report and its charts into docs/ (the same as `--out docs/benchmarks.md`),
    /// replacing the copy the repository keeps.
    #[arg(long, conflicts_with = "out")]
    publish: bool,

    /// Every repetition, with the unfreed-over-time series, as JSON.
    #[arg(long, value_name = "PATH", default_value = paths::JSON)]
    json: PathBuf,

    /// Hand-written text for the report's Notes section, used if the file exists.
    #[arg(long, value_name = "PATH", default_value = "docs/benchmarks-notes.md")]
    notes: PathBuf,

    /// Workloads to run, in this order (for development); all by default.
    #[arg(long, value_name = "W,W,...", value_delimiter = ',', value_enum)]
    workloads: Option<Vec<Workload>>,

    /// Libraries to run (report names, e.g. kovan,crossbeam-epoch); all by default.
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    libs: Option<Vec<String>>,

    /// Repetitions per measurement (at least 1; overrides --quick's and the full run's).
    #[arg(long, value_name = "N")]
    reps: Option<usize>,

    /// Timed region of a throughput measurement, in milliseconds (at least 1).
    #[arg(long, value_name = "N")]
    duration_ms: Option<u64>,

    /// Internal: one measurement of the idle-threads workload for library NAME, figures as JSON
    /// on stdout (the run starts one such child process per measurement).
    #[arg(long = &idle::CHILD_OPTION[2..], value_name = "NAME", hide = true)]
    idle_threads_child: Option<String>,
}

/// A thread count.
fn positive(s: &str) -> Result<usize, String> {
    match s.parse() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e}")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().unwrap_or(manifest);
    let out = root.join(if args.publish {
        Path::new(PUBLISHED)
    } else {
        &args.out
    });
    let (json, notes) = (root.join(&args.json), root.join(&args.notes));
    let workloads = args.workloads.unwrap_or_else(|| Workload::ALL.to_vec());

    let mut cfg = Config::new(args.quick);
    if let Some(r) = args.reps {
        cfg.reps = r.max(1);
    }
    if let Some(d) = args.duration_ms {
        cfg.duration = Duration::from_millis(d.max(1));
    }
    if let Some(name) = &args.idle_threads_child {
        return idle::child_main(&libraries(), name, &cfg);
    }
    let mut libs = libraries();
    if let Some(names) = &args.libs {
        libs.retain(|l| names.iter().any(|n| n == l.name()));
        if libs.is_empty() {
            eprintln!("error: --libs matched no library");
            return ExitCode::from(2);
        }
    }
    let command = format!(
        "cargo run --release -p kovan-benches{} --bin compare --{}",
        if cfg!(feature = "mimalloc") {
            " --features mimalloc"
        } else {
            ""
        },
        std::env::args()
            .skip(1)
            .map(|a| format!(" {a}"))
            .collect::<String>()
    );
    eprintln!(
        "compare: {} libraries, workloads {:?}, threads {:?}, {} reps{}, allocator {}",
        libs.len(),
        workloads.iter().map(|w| w.key()).collect::<Vec<_>>(),
        args.threads,
        cfg.reps,
        if cfg.quick { " (quick)" } else { "" },
        sysinfo::allocator()
    );
    let run = run_all(&cfg, &libs, &args.threads, &workloads);
    let notes = std::fs::read_to_string(&notes).ok();

    let write = |path: &Path, text: &str| -> Result<(), String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    let mut status = ExitCode::SUCCESS;
    for (path, text) in [
        (&out, report::markdown(&run, &command, notes.as_deref())),
        (&json, report::json(&run, &command)),
    ] {
        match write(path, &text) {
            Ok(()) => eprintln!("wrote {}", path.display()),
            Err(e) => {
                eprintln!("error: {e}");
                status = ExitCode::FAILURE;
            }
        }
    }
    let dir = out.parent().unwrap_or(Path::new("."));
    for f in report::charts(&run, dir) {
        eprintln!("wrote {f}");
    }
    eprintln!("done in {:.1} s", run.wall_secs);
    status
}
