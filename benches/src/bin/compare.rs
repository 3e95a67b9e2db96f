//! The cross-library comparison: `cargo run --release -p kovan-benches --bin compare -- [--quick]
//! [--threads 1,2,4,8] [--out docs/benchmarks.md] [--json target/bench-report/results.json]`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kovan_benches::driver::run_all;
use kovan_benches::libs::libraries;
use kovan_benches::report;
use kovan_benches::workloads::{Config, Workload};

const USAGE: &str = "\
usage: compare [--quick] [--threads 1,2,4,8] [--out docs/benchmarks.md]
               [--json target/bench-report/results.json] [--notes docs/benchmarks-notes.md]
               [--workloads pin,read-mostly,...] [--libs name,...] [--reps N] [--duration-ms N]

Runs every workload for every library and writes the markdown report (with SVG charts next to
it) and a JSON file with every repetition. The notes file, if it exists, is copied into the
report's Notes section (hand-written explanations survive regeneration). Relative paths are
taken from the workspace root.
Workloads: pin read-mostly treiber queue map-90-10 map-50-50 oversubscription stalled-reader
idle-reader thread-churn.";

struct Args {
    quick: bool,
    threads: Vec<usize>,
    out: PathBuf,
    json: PathBuf,
    notes: PathBuf,
    workloads: Vec<Workload>,
    libs: Option<Vec<String>>,
    reps: Option<usize>,
    duration_ms: Option<u64>,
}

fn list<T>(v: &str, f: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| f(s).ok_or_else(|| format!("bad value `{s}`")))
        .collect()
}

fn parse() -> Result<Args, String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().unwrap_or(manifest).to_path_buf();
    let mut a = Args {
        quick: false,
        threads: vec![1, 2, 4, 8],
        out: root.join("docs/benchmarks.md"),
        json: root.join("target/bench-report/results.json"),
        notes: root.join("docs/benchmarks-notes.md"),
        workloads: Workload::ALL.to_vec(),
        libs: None,
        reps: None,
        duration_ms: None,
    };
    let rel = |p: String| {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { root.join(p) }
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--quick" => a.quick = true,
            "--threads" => {
                a.threads = list(&value()?, |s| s.parse().ok().filter(|&n: &usize| n > 0))?;
            }
            "--out" => a.out = rel(value()?),
            "--json" => a.json = rel(value()?),
            "--notes" => a.notes = rel(value()?),
            "--workloads" => {
                a.workloads = list(&value()?, |s| {
                    Workload::ALL.iter().copied().find(|w| w.key() == s)
                })?;
            }
            "--libs" => a.libs = Some(list(&value()?, |s| Some(s.to_string()))?),
            "--reps" => {
                a.reps = Some(value()?.parse().map_err(|e| format!("--reps: {e}"))?);
            }
            "--duration-ms" => {
                a.duration_ms = Some(
                    value()?
                        .parse()
                        .map_err(|e| format!("--duration-ms: {e}"))?,
                );
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if a.threads.is_empty() || a.workloads.is_empty() {
        return Err("empty --threads or --workloads".into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}\n");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut cfg = Config::new(args.quick);
    if let Some(r) = args.reps {
        cfg.reps = r.max(1);
    }
    if let Some(d) = args.duration_ms {
        cfg.duration = std::time::Duration::from_millis(d.max(1));
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
        args.workloads.iter().map(|w| w.key()).collect::<Vec<_>>(),
        args.threads,
        cfg.reps,
        if cfg.quick { " (quick)" } else { "" }
    );
    let run = run_all(&cfg, &libs, &args.threads, &args.workloads);
    let notes = std::fs::read_to_string(&args.notes).ok();

    let write = |path: &Path, text: &str| -> Result<(), String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    let mut status = ExitCode::SUCCESS;
    for (path, text) in [
        (
            &args.out,
            report::markdown(&run, &command, notes.as_deref()),
        ),
        (&args.json, report::json(&run, &command)),
    ] {
        match write(path, &text) {
            Ok(()) => eprintln!("wrote {}", path.display()),
            Err(e) => {
                eprintln!("error: {e}");
                status = ExitCode::FAILURE;
            }
        }
    }
    let dir = args.out.parent().unwrap_or(Path::new("."));
    for f in report::charts(&run, dir) {
        eprintln!("wrote {f}");
    }
    eprintln!("done in {:.1} s", run.wall_secs);
    status
}
