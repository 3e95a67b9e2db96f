//! The cross-library comparison: `cargo run --release -p kovan-benches --bin compare -- --help`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use kovan_benches::driver::run_all;
use kovan_benches::libs::libraries;
use kovan_benches::report;
use kovan_benches::workloads::{Config, Workload};

/// Where `--publish` puts the report: the copy the repository keeps.
const PUBLISHED: &str = "docs/benchmarks.md";

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
    #[arg(
        long,
        value_name = "PATH",
        default_value = "target/bench-report/benchmarks.md"
    )]
    out: PathBuf,

    /// Write the report and its charts into docs/ (the same as `--out docs/benchmarks.md`),
    /// replacing the copy the repository keeps.
    #[arg(long, conflicts_with = "out")]
    publish: bool,

    /// Every repetition, with the unfreed-over-time series, as JSON.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "target/bench-report/results.json"
    )]
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
    let mut libs = libraries();
    if let Some(names) = &args.libs {
        libs.retain(|l| names.iter().any(|n| n == l.name()));
        if libs.is_empty() {
            eprintln!("error: --libs matched no library");
            return ExitCode::from(2);
        }
    }
    let command = format!(
        "cargo run --release -p kovan-benches --bin compare --{}",
        std::env::args()
            .skip(1)
            .map(|a| format!(" {a}"))
            .collect::<String>()
    );
    eprintln!(
        "compare: {} libraries, workloads {:?}, threads {:?}, {} reps{}",
        libs.len(),
        workloads.iter().map(|w| w.key()).collect::<Vec<_>>(),
        args.threads,
        cfg.reps,
        if cfg.quick { " (quick)" } else { "" }
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
