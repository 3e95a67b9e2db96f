//! Machine description and library versions for the report.

use std::fs;
use std::sync::OnceLock;
use std::time::SystemTime;

use cargo_metadata::{Metadata, MetadataCommand};

/// `model name` from `/proc/cpuinfo`.
pub fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// Logical cores: `processor` entries in `/proc/cpuinfo`, and what the process may use.
pub fn cores() -> (usize, usize) {
    let listed = fs::read_to_string("/proc/cpuinfo")
        .map(|s| s.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(0);
    let usable = std::thread::available_parallelism().map_or(0, |n| n.get());
    (listed, usable)
}

/// Kernel release, from `/proc/sys/kernel/osrelease`.
pub fn kernel() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| format!("Linux {}", s.trim()))
        .unwrap_or_else(|_| std::env::consts::OS.to_string())
}

/// The global allocator every library allocates and frees through: mimalloc when the package is
/// built with its `mimalloc` feature (which installs it in the `compare` binary), the system
/// allocator otherwise. Read from the build, not from the command line, so the report cannot
/// name an allocator it did not use.
pub fn allocator() -> &'static str {
    if cfg!(feature = "mimalloc") {
        "mimalloc"
    } else if cfg!(target_env = "gnu") {
        "system (glibc malloc)"
    } else {
        "system"
    }
}

/// `rustc -V` of the compiler that built this binary.
pub fn rustc() -> &'static str {
    env!("BENCH_RUSTC_VERSION")
}

/// `cargo metadata` of this package, run once: its resolve graph names every dependency as the
/// code imports it (renames included) and the exact package it resolved to.
fn metadata() -> Option<&'static Metadata> {
    static METADATA: OnceLock<Option<Metadata>> = OnceLock::new();
    METADATA
        .get_or_init(|| {
            MetadataCommand::new()
                .manifest_path(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
                .exec()
                .map_err(|e| eprintln!("cargo metadata: {e}"))
                .ok()
        })
        .as_ref()
}

/// The resolved version of this package's dependency `key` (as declared in `benches/Cargo.toml`;
/// a workspace crate is marked `(workspace)`), or `?`.
pub fn dependency_version(key: &str) -> String {
    let resolved = || {
        let meta = metadata()?;
        let resolve = meta.resolve.as_ref()?;
        let root = resolve.root.as_ref()?;
        let crate_name = key.replace('-', "_");
        let dep = resolve
            .nodes
            .iter()
            .find(|n| &n.id == root)?
            .deps
            .iter()
            .find(|d| d.name == crate_name)?;
        let package = meta.packages.iter().find(|p| p.id == dep.pkg)?;
        Some(match package.source {
            Some(_) => package.version.to_string(),
            None => format!("{} (workspace)", package.version),
        })
    };
    resolved().unwrap_or_else(|| "?".to_string())
}

/// Current UTC time as `YYYY-MM-DD HH:MM UTC`.
pub fn utc_now() -> String {
    // `2026-01-02T03:04:05Z`: keep the date and the minutes.
    let t = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    format!("{} {} UTC", &t[..10], &t[11..16])
}

/// Work done per unit time by `n` threads of a pure ALU loop, relative to one thread
/// (1.0: the threads share one core's worth of time; `n`: they run fully in parallel).
pub fn parallel_scaling(n: usize) -> f64 {
    use std::hint::black_box;
    use std::time::Instant;
    fn spin(iters: u64) -> u64 {
        let mut x = 1u64;
        for i in 0..iters {
            x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i));
        }
        x
    }
    const ITERS: u64 = 20_000_000;
    black_box(spin(ITERS / 4));
    let t = Instant::now();
    black_box(spin(ITERS));
    let one = t.elapsed().as_secs_f64();
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| black_box(spin(ITERS)));
        }
    });
    n as f64 * one / t.elapsed().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::{dependency_version, utc_now};

    #[test]
    fn renamed_workspace_and_registry_dependencies_resolve() {
        assert_eq!(dependency_version("kovan_orig"), "0.1.12");
        assert_eq!(
            dependency_version("kovan"),
            format!("{} (workspace)", env!("CARGO_PKG_VERSION"))
        );
        assert!(dependency_version("crossbeam-epoch").starts_with("0.9."));
        assert_eq!(dependency_version("no-such-crate"), "?");
    }

    #[test]
    fn the_start_time_reads_as_a_date_and_minutes() {
        let t = utc_now();
        assert_eq!(t.len(), "2026-01-02 03:04 UTC".len(), "{t}");
        assert!(t.ends_with(" UTC") && t.as_bytes()[10] == b' ', "{t}");
    }
}
