//! The verification steps. Each one prints the commands it runs, streams their output, and
//! returns an [`Outcome`]: pass or fail, the test counts it parsed, and notes for the summary.
//!
//! A step that is expected to run tests and ran none fails: a check that did not run must never
//! be reported as passing.

use std::env;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::compat;
use crate::exec::{Cmd, describe_status, note};
use crate::libtest::{self, Counts, Report};
use crate::toolchain::{self, NIGHTLY};

/// Packages whose loom models (`tests/loom*.rs`, `#![cfg(kovan_loom)]`) the loom step runs.
pub const LOOM_PACKAGES: [&str; 3] = ["kovan-core", "kovan-reclaim", "kovan-atom"];
/// Packages Miri runs the tests of.
pub const MIRI_PACKAGES: [&str; 3] = ["kovan-core", "kovan-reclaim", "kovan-atom"];
/// Packages AddressSanitizer runs the tests (stress, stall injection) of.
pub const ASAN_PACKAGES: [&str; 2] = ["kovan-reclaim", "kovan-atom"];
/// Packages ThreadSanitizer runs the tests (stress, stall injection, chaos) of.
pub const TSAN_PACKAGES: [&str; 3] = ["kovan-reclaim", "kovan-atom", "kovan"];
/// The library crates: they must build without `std` (`--no-default-features`) and with the
/// `rust-version` of the root Cargo.toml.
pub const LIBRARY_PACKAGES: [&str; 4] = ["kovan-core", "kovan-reclaim", "kovan-atom", "kovan"];
/// A target without `std` at all: a dependency that pulls `std` in fails to build for it (the
/// host target would link `std` anyway and hide that).
pub const NO_STD_TARGET: &str = "x86_64-unknown-none";
/// Test names containing this run again under `-Zmiri-many-seeds` (the racy ones).
pub const MIRI_SEEDS_MARKER: &str = "miri_seeds";
/// The seed range for the racy tests under Miri.
pub const MIRI_SEEDS: &str = "0..4";
/// Default loom preemption bound (an explicit `LOOM_MAX_PREEMPTIONS` wins).
pub const LOOM_DEFAULT_PREEMPTIONS: &str = "2";
/// The only target the sanitizers run on here.
pub const SANITIZER_TARGET: &str = "x86_64-unknown-linux-gnu";

/// Default seconds one test binary may run before it is killed as hung (`KOVAN_TEST_TIMEOUT`).
pub const DEFAULT_TEST_TIMEOUT_S: u64 = 600;

/// Where the workspace is and where build outputs go.
pub struct Ctx {
    pub root: PathBuf,
    /// `CARGO_TARGET_DIR` from our environment, if the user set one.
    user_target_dir: Option<String>,
    /// `CARGO_TARGET_<HOST>_RUNNER` and its `timeout ...` value, once looked up.
    runner: OnceLock<Option<(String, String)>>,
}

impl Ctx {
    pub fn from_env() -> Ctx {
        // `cargo run` sets CARGO_MANIFEST_DIR at run time too; the compile-time value is the
        // fallback when the binary is started directly.
        let manifest = env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        let root = manifest.parent().map(Path::to_path_buf).unwrap_or(manifest);
        Ctx {
            root,
            user_target_dir: env::var("CARGO_TARGET_DIR").ok().filter(|s| !s.is_empty()),
            runner: OnceLock::new(),
        }
    }

    /// The workspace's target directory.
    pub fn target_dir(&self) -> PathBuf {
        self.root
            .join(self.user_target_dir.as_deref().unwrap_or("target"))
    }

    /// A separate target directory (`target/NAME`) for builds with other flags, so that they do
    /// not invalidate the normal build.
    pub fn sub_target(&self, name: &str) -> String {
        match &self.user_target_dir {
            Some(t) => format!("{}/{name}", t.trim_end_matches('/')),
            None => format!("target/{name}"),
        }
    }
}

/// `CARGO_TARGET_<HOST>_RUNNER=timeout ...`: each test binary gets a bounded time, so that a
/// hang shows up as a failure of that binary (exit status 124) and the summary still prints,
/// instead of a stuck run. `KOVAN_TEST_TIMEOUT` sets the seconds (0: no timeout).
fn timeout_runner(ctx: &Ctx) -> Option<(String, String)> {
    let secs = match env::var("KOVAN_TEST_TIMEOUT") {
        Ok(s) => match s.trim().parse::<u64>() {
            Ok(n) => n,
            Err(_) => {
                note(&format!(
                    "KOVAN_TEST_TIMEOUT={s:?} is not a number of seconds; using {DEFAULT_TEST_TIMEOUT_S}"
                ));
                DEFAULT_TEST_TIMEOUT_S
            }
        },
        Err(_) => DEFAULT_TEST_TIMEOUT_S,
    };
    if secs == 0 {
        return None;
    }
    if !Cmd::new("timeout")
        .arg("--version")
        .succeeds_quietly(&ctx.root)
    {
        note(
            "no GNU `timeout` command: test binaries run without a time limit (a hang hangs the run)",
        );
        return None;
    }
    let Some(host) = toolchain::host_triple(&ctx.root) else {
        note(
            "could not read the host triple from `rustc -vV`: test binaries run without a time limit",
        );
        return None;
    };
    let key = format!(
        "CARGO_TARGET_{}_RUNNER",
        host.to_ascii_uppercase().replace(['-', '.'], "_")
    );
    // --foreground keeps the test in our process group, so Ctrl-C still reaches it.
    Some((key, format!("timeout --foreground --kill-after=30 {secs}")))
}

/// Runs `cmd`'s test binaries under the per-binary timeout (see [`timeout_runner`]).
pub fn with_timeout(ctx: &Ctx, cmd: Cmd) -> Cmd {
    match ctx.runner.get_or_init(|| timeout_runner(ctx)) {
        Some((k, v)) => cmd.env(k, v.clone()),
        None => cmd,
    }
}

/// A verification step: its name (also its sub-command) and what it runs.
#[derive(Clone, Copy)]
pub struct Step {
    pub name: &'static str,
    run: fn(&Ctx) -> Outcome,
}

impl Step {
    /// Every step, in the order `verify` runs them; a new step is one entry here.
    pub const ALL: &[Step] = &[
        Step {
            name: "fmt",
            run: |ctx| plain(ctx, &fmt_cmd()),
        },
        Step {
            name: "clippy",
            run: |ctx| plain(ctx, &clippy_cmd()),
        },
        Step {
            name: "test",
            run: |ctx| test_step(ctx, &[with_timeout(ctx, test_cmd(false))], "ignored"),
        },
        Step {
            name: "compat",
            run: compat::run,
        },
        Step {
            name: "test-release",
            run: |ctx| test_step(ctx, &[with_timeout(ctx, test_cmd(true))], "ignored"),
        },
        Step {
            name: "loom",
            run: |ctx| {
                let cmd = with_timeout(ctx, loom_cmd(None, &ctx.sub_target("loom")));
                test_step(ctx, &[cmd], "ignored")
            },
        },
        Step {
            name: "shuttle",
            run: |ctx| {
                let cmd = shuttle_cmd().env("CARGO_TARGET_DIR", ctx.sub_target("shuttle"));
                test_step(ctx, &[with_timeout(ctx, cmd)], "ignored")
            },
        },
        Step {
            name: "miri",
            run: miri_step,
        },
        Step {
            name: "asan",
            run: |ctx| sanitizer_step(ctx, "asan", toolchain::ensure_nightly, asan_cmd(ctx)),
        },
        Step {
            name: "tsan",
            run: |ctx| sanitizer_step(ctx, "tsan", toolchain::ensure_rust_src, tsan_cmd(ctx)),
        },
        Step {
            name: "no-std",
            run: no_std_step,
        },
        Step {
            name: "msrv",
            run: msrv_step,
        },
    ];

    pub fn from_name(name: &str) -> Option<Step> {
        Step::ALL.iter().copied().find(|s| s.name == name)
    }

    pub fn run(self, ctx: &Ctx) -> Outcome {
        (self.run)(ctx)
    }
}

/// What a step found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub ok: bool,
    /// Test counts, for steps that run tests.
    pub counts: Option<Counts>,
    /// Short notes for the summary table.
    pub notes: Vec<String>,
    /// Lines printed under the summary (failed tests, ignored tests and why, ...).
    pub details: Vec<String>,
}

impl Outcome {
    pub fn fail(note: impl Into<String>) -> Outcome {
        Outcome {
            ok: false,
            notes: vec![note.into()],
            ..Outcome::default()
        }
    }
}

fn cargo(args: &[&str]) -> Cmd {
    Cmd::new("cargo").args(args.iter().copied())
}

fn nightly_cargo(args: &[&str]) -> Cmd {
    Cmd::new("cargo")
        .arg(format!("+{NIGHTLY}"))
        .args(args.iter().copied())
}

fn with_packages(mut cmd: Cmd, packages: &[&str]) -> Cmd {
    for p in packages {
        cmd = cmd.args(["-p", p]);
    }
    cmd
}

pub fn fmt_cmd() -> Cmd {
    cargo(&["fmt", "--all", "--check"])
}

pub fn clippy_cmd() -> Cmd {
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])
}

pub fn test_cmd(release: bool) -> Cmd {
    let mut c = cargo(&["test", "--workspace"]);
    if release {
        c = c.arg("--release");
    }
    c.arg("--no-fail-fast")
}

fn loom_preemptions() -> String {
    env::var("LOOM_MAX_PREEMPTIONS").unwrap_or_else(|_| LOOM_DEFAULT_PREEMPTIONS.to_owned())
}

/// The loom models: every test target named `loom*` in [`LOOM_PACKAGES`], built with
/// `--cfg kovan_loom` (plus a mutant cfg when given) in its own target directory.
pub fn loom_cmd(mutant: Option<&str>, target_dir: &str) -> Cmd {
    let mut flags = String::from("--cfg kovan_loom");
    if let Some(m) = mutant {
        flags.push(' ');
        flags.push_str(&mutant_cfg(m));
    }
    with_packages(cargo(&["test", "--release"]), &LOOM_PACKAGES)
        .args(["--test", "loom*", "--no-fail-fast"])
        .env("RUSTFLAGS", flags)
        .env("LOOM_MAX_PREEMPTIONS", loom_preemptions())
        .env("CARGO_TARGET_DIR", target_dir)
}

/// The shuttle model of pin/retire/flush, built with the `shuttle` feature (which swaps the
/// sync shim and the default handle's thread-locals to shuttle's).
pub fn shuttle_cmd() -> Cmd {
    cargo(&[
        "test",
        "--release",
        "-p",
        "kovan-reclaim",
        "--features",
        "shuttle",
    ])
    .args(["--test", "shuttle_protocol", "--no-fail-fast"])
}

/// `--cfg kovan_mutant="NAME"`.
pub fn mutant_cfg(name: &str) -> String {
    format!("--cfg kovan_mutant=\"{name}\"")
}

fn no_std_cmd() -> Cmd {
    with_packages(
        cargo(&["build", "--target", NO_STD_TARGET]),
        &LIBRARY_PACKAGES,
    )
    .arg("--no-default-features")
}

/// `cargo +VERSION check` of the library crates; `--locked` so that an older cargo cannot
/// rewrite the lock file.
fn msrv_cmd(ctx: &Ctx, version: &str) -> Cmd {
    with_packages(
        Cmd::new("cargo")
            .arg(format!("+{version}"))
            .args(["check", "--locked"]),
        &LIBRARY_PACKAGES,
    )
    .env("CARGO_TARGET_DIR", ctx.sub_target("msrv"))
}

fn miri_cmd(miriflags: &str) -> Cmd {
    // cargo-miri already keeps its build in `<target dir>/miri`, apart from the normal build.
    with_packages(nightly_cargo(&["miri", "test"]), &MIRI_PACKAGES)
        .arg("--no-fail-fast")
        .env("MIRIFLAGS", miriflags)
}

// The explicit --target of the sanitizer builds keeps build scripts and proc macros (host
// code) uninstrumented.
fn asan_cmd(ctx: &Ctx) -> Cmd {
    with_packages(
        nightly_cargo(&["test", "--target", SANITIZER_TARGET]),
        &ASAN_PACKAGES,
    )
    .args(["--tests", "--no-fail-fast"])
    .env("RUSTFLAGS", "-Zsanitizer=address")
    .env("RUSTDOCFLAGS", "-Zsanitizer=address")
    .env("ASAN_OPTIONS", "detect_leaks=1")
    .env("CARGO_TARGET_DIR", ctx.sub_target("asan"))
}

/// ThreadSanitizer must see every atomic access, so `std` is rebuilt instrumented
/// (`-Zbuild-std`, from nightly's `rust-src`).
fn tsan_cmd(ctx: &Ctx) -> Cmd {
    with_packages(
        nightly_cargo(&["test", "-Zbuild-std", "--target", SANITIZER_TARGET]),
        &TSAN_PACKAGES,
    )
    .args(["--tests", "--no-fail-fast"])
    .env("RUSTFLAGS", "-Zsanitizer=thread")
    .env("CARGO_TARGET_DIR", ctx.sub_target("tsan"))
}

/// The allocators `cargo xtask bench --alloc NAME` can build the comparison with, and the
/// kovan-benches feature that installs each one as the `compare` binary's global allocator
/// (`None`: the system allocator, no feature).
const ALLOCATORS: [(&str, Option<&str>); 2] = [("system", None), ("mimalloc", Some("mimalloc"))];

/// `cargo run --release -p kovan-benches [--features F] --bin compare -- ARGS`. `--alloc NAME`
/// (or `--alloc=NAME`) among `args` picks the allocator, for every library alike (default
/// `system`); it is a build choice, so it goes to cargo as a feature and not to `compare`, whose
/// report reads the allocator from its own build.
pub fn bench_cmd(args: &[String]) -> Result<Cmd, String> {
    let mut alloc = "system";
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--alloc" {
            alloc = it
                .next()
                .ok_or("`--alloc` needs a value: system or mimalloc")?;
        } else if let Some(name) = a.strip_prefix("--alloc=") {
            alloc = name;
        } else {
            rest.push(a.clone());
        }
    }
    let (_, feature) = ALLOCATORS
        .iter()
        .find(|(name, _)| *name == alloc)
        .ok_or_else(|| format!("`--alloc {alloc}`: unknown allocator (system or mimalloc)"))?;
    let mut cmd = cargo(&["run", "--release", "-p", "kovan-benches"]);
    if let Some(f) = feature {
        cmd = cmd.args(["--features", f]);
    }
    Ok(cmd.args(["--bin", "compare", "--"]).args(rest))
}

/// A step that passes when its one command exits with status 0.
fn plain(ctx: &Ctx, cmd: &Cmd) -> Outcome {
    match cmd.run_captured(&ctx.root) {
        Ok(c) if c.status.success() => Outcome {
            ok: true,
            ..Outcome::default()
        },
        Ok(c) => Outcome::fail(describe_status(c.status)),
        Err(e) => Outcome::fail(format!("could not run: {e}")),
    }
}

/// The parsed output of some test commands, and what went wrong running them.
#[derive(Default)]
pub struct TestRun {
    pub report: Report,
    /// Commands that exited non-zero or could not start.
    pub problems: Vec<String>,
    /// Whether some command's output shows a compile error.
    pub build_failed: bool,
    /// Whether cargo found no test target for a `--test` pattern.
    pub no_target: bool,
}

impl TestRun {
    pub fn run(&mut self, ctx: &Ctx, cmd: &Cmd) {
        match cmd.run_captured(&ctx.root) {
            Ok(c) => {
                self.report.merge(libtest::parse(&c.output));
                if !c.status.success() {
                    self.problems.push(format!(
                        "{} from `{}`",
                        describe_status(c.status),
                        cmd.display()
                    ));
                }
                if c.output.contains("error: could not compile") {
                    self.build_failed = true;
                }
                if c.output.contains("error: no test target matches") {
                    self.no_target = true;
                }
            }
            Err(e) => self
                .problems
                .push(format!("could not run `{}`: {e}", cmd.display())),
        }
    }

    /// Whether everything ran and nothing failed.
    pub fn clean(&self) -> bool {
        self.problems.is_empty()
            && self.report.failed.is_empty()
            && self.report.abnormal.is_empty()
            && self.report.counts().failed == 0
    }

    /// Lines for the summary: failed tests, aborted binaries, command errors, ignored tests.
    pub fn details(&self, ignored_label: &str) -> Vec<String> {
        let r = &self.report;
        let mut d = Vec::new();
        for t in &r.failed {
            d.push(format!("FAILED   {}: {}", t.binary, t.name));
        }
        for a in &r.abnormal {
            d.push(format!("ABORTED  {}: {}", a.binary, a.detail));
        }
        for p in &self.problems {
            d.push(format!("ERROR    {p}"));
        }
        for (t, why) in &r.ignored {
            d.push(format!(
                "{ignored_label} {}: {} ({})",
                t.binary,
                t.name,
                why.as_deref().unwrap_or("no reason given")
            ));
        }
        d
    }
}

/// Library tests: everything but xtask's own unit tests.
fn library_counts(r: &Report) -> Counts {
    r.counts_where(|b| b.binary != "xtask")
}

fn test_step(ctx: &Ctx, cmds: &[Cmd], ignored_label: &str) -> Outcome {
    let mut run = TestRun::default();
    for cmd in cmds {
        run.run(ctx, cmd);
    }
    finish_tests(&run, ignored_label)
}

pub fn finish_tests(run: &TestRun, ignored_label: &str) -> Outcome {
    let r = &run.report;
    let counts = r.counts();
    let lib = library_counts(r);
    let mut notes = Vec::new();
    let mut ok = run.clean();
    if lib.passed == 0 && lib.failed == 0 {
        ok = false;
        notes.push(if counts.passed > 0 {
            "no library tests ran (only xtask's)".to_owned()
        } else {
            "no tests ran".to_owned()
        });
    }
    let doc = r.counts_where(|b| b.doc).passed;
    if doc > 0 {
        notes.push(format!("incl. {doc} doc tests"));
    }
    if counts.passed > lib.passed {
        notes.push(format!(
            "incl. {} xtask self-tests",
            counts.passed - lib.passed
        ));
    }
    if !r.abnormal.is_empty() {
        let n = r.abnormal.len();
        notes.push(format!(
            "{n} {} aborted",
            if n == 1 { "binary" } else { "binaries" }
        ));
    }
    if run.no_target {
        notes.push("no matching test target".to_owned());
    }
    if run.build_failed {
        notes.push("build failed".to_owned());
    } else if !run.no_target
        && !run.problems.is_empty()
        && r.failed.is_empty()
        && r.abnormal.is_empty()
    {
        notes.push("cargo failed".to_owned());
    }
    Outcome {
        ok,
        counts: Some(counts),
        notes,
        details: run.details(ignored_label),
    }
}

fn miri_step(ctx: &Ctx) -> Outcome {
    if let Err(e) = toolchain::ensure_miri(&ctx.root) {
        return Outcome::fail(format!("Miri unavailable: {e}"));
    }
    let setup = nightly_cargo(&["miri", "setup"]);
    match setup.run_captured(&ctx.root) {
        Ok(c) if c.status.success() => {}
        Ok(c) => {
            return Outcome::fail(format!("`cargo miri setup`: {}", describe_status(c.status)));
        }
        Err(e) => return Outcome::fail(format!("`cargo miri setup` could not run: {e}")),
    }

    // 1. Everything except the racy tests, with Miri's defaults (leak check on; no flags).
    let mut run = TestRun::default();
    run.run(ctx, &miri_cmd("").args(["--", "--skip", MIRI_SEEDS_MARKER]));
    let mut outcome = finish_tests(&run, "excluded under Miri:");

    // 2. The racy tests (`*miri_seeds*`) over several scheduler seeds. Miri runs the seeds in
    //    parallel and their output interleaves, so the tests are counted by a `--list` first and
    //    the seeded run is judged by its exit status.
    let list_cmd = miri_cmd("").args(["--", MIRI_SEEDS_MARKER, "--list"]);
    let seeded = match list_cmd.run_captured(&ctx.root) {
        Ok(c) if c.status.success() => libtest::parse_list(&c.output),
        Ok(c) => {
            outcome.ok = false;
            outcome
                .notes
                .push(format!("listing racy tests: {}", describe_status(c.status)));
            Vec::new()
        }
        Err(e) => {
            outcome.ok = false;
            outcome.notes.push(format!("listing racy tests: {e}"));
            Vec::new()
        }
    };
    if seeded.is_empty() {
        outcome.ok = false;
        outcome.notes.push(format!(
            "no `*{MIRI_SEEDS_MARKER}*` test for -Zmiri-many-seeds"
        ));
        return outcome;
    }
    let seeds_cmd =
        miri_cmd(&format!("-Zmiri-many-seeds={MIRI_SEEDS}")).args(["--", MIRI_SEEDS_MARKER]);
    let verdict = match seeds_cmd.run_captured(&ctx.root) {
        Ok(c) if c.status.success() => "ok".to_owned(),
        Ok(c) => {
            outcome.ok = false;
            // The seeds' own output interleaves, but cargo's lines about binaries are whole.
            for a in libtest::parse(&c.output).abnormal {
                outcome.details.push(format!(
                    "ABORTED  {} (seeds {MIRI_SEEDS}): {}",
                    a.binary, a.detail
                ));
            }
            outcome.details.push(format!(
                "ERROR    {} from `{}`",
                describe_status(c.status),
                seeds_cmd.display()
            ));
            "FAILED".to_owned()
        }
        Err(e) => {
            outcome.ok = false;
            format!("could not run: {e}")
        }
    };
    outcome.notes.push(format!(
        "+{} racy tests x seeds {MIRI_SEEDS}: {verdict}",
        seeded.len()
    ));
    for t in &seeded {
        outcome.details.push(format!(
            "seeded   {}: {} (seeds {MIRI_SEEDS})",
            t.binary, t.name
        ));
    }
    outcome
}

/// A sanitizer's test run; `ensure` installs the nightly parts it needs.
fn sanitizer_step(
    ctx: &Ctx,
    step: &str,
    ensure: fn(&Path) -> Result<(), String>,
    cmd: Cmd,
) -> Outcome {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return Outcome::fail(format!(
            "the sanitizers run on {SANITIZER_TARGET} only; use --skip {step} here"
        ));
    }
    if let Err(e) = ensure(&ctx.root) {
        return Outcome::fail(format!("nightly unavailable: {e}"));
    }
    test_step(ctx, &[with_timeout(ctx, cmd)], "ignored")
}

fn no_std_step(ctx: &Ctx) -> Outcome {
    if !toolchain::target_installed(&ctx.root, NO_STD_TARGET) {
        return Outcome::fail(format!(
            "target {NO_STD_TARGET} is not installed: rustup target add {NO_STD_TARGET}"
        ));
    }
    let mut outcome = plain(ctx, &no_std_cmd());
    outcome.notes.push(NO_STD_TARGET.to_owned());
    outcome
}

fn msrv_step(ctx: &Ctx) -> Outcome {
    let version = match toolchain::msrv(&ctx.root) {
        Ok(v) => v,
        Err(e) => return Outcome::fail(e),
    };
    if !toolchain::installed(&ctx.root, &version) {
        return Outcome::fail(format!(
            "toolchain {version} (rust-version in Cargo.toml) is not installed: \
             rustup toolchain install {version} --profile minimal"
        ));
    }
    let mut outcome = plain(ctx, &msrv_cmd(ctx, &version));
    outcome.notes.push(format!("Rust {version}"));
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_are_unique_and_found() {
        for (i, step) in Step::ALL.iter().enumerate() {
            assert!(Step::ALL[..i].iter().all(|s| s.name != step.name));
            assert_eq!(Step::from_name(step.name).map(|s| s.name), Some(step.name));
        }
        assert!(Step::from_name("mutants").is_none());
    }

    #[test]
    fn bench_alloc_picks_a_feature_and_is_not_passed_on() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let plain = bench_cmd(&args(&["--quick"])).unwrap().display();
        assert!(plain.ends_with("--bin compare -- --quick"), "{plain}");
        assert!(!plain.contains("--features"), "{plain}");
        assert_eq!(
            bench_cmd(&args(&["--alloc", "system", "--quick"]))
                .unwrap()
                .display(),
            plain
        );
        for a in [
            &["--alloc", "mimalloc", "--quick"][..],
            &["--quick", "--alloc=mimalloc"],
        ] {
            let mi = bench_cmd(&args(a)).unwrap().display();
            assert!(mi.contains("--features mimalloc --bin compare"), "{mi}");
            assert!(!mi.contains("--alloc"), "{mi}");
        }
        assert!(bench_cmd(&args(&["--alloc", "jemalloc"])).is_err());
        assert!(bench_cmd(&args(&["--alloc"])).is_err());
    }
}
