//! Machine description and library versions for the report.

use std::fs;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

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

/// `rustc -V` of the compiler that built this binary.
pub fn rustc() -> &'static str {
    env!("BENCH_RUSTC_VERSION")
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The resolved version of the dependency declared under `key` in `benches/Cargo.toml`
/// (a renamed dependency resolves to its `package`; a `path` dependency to the workspace crate).
pub fn dependency_version(key: &str) -> String {
    let manifest = fs::read_to_string(manifest_dir().join("Cargo.toml")).unwrap_or_default();
    let lock = fs::read_to_string(manifest_dir().join("../Cargo.lock")).unwrap_or_default();
    resolve_version(&manifest, &lock, key)
}

/// [`dependency_version`] on the text of a manifest and a lock file.
pub fn resolve_version(manifest: &str, lock: &str, key: &str) -> String {
    let (package, is_path) = manifest
        .lines()
        .map(str::trim)
        .find(|l| {
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|l| {
            let package = l
                .split_once("package")
                .and_then(|(_, rest)| rest.split('"').nth(1))
                .unwrap_or(key)
                .to_string();
            // Path and workspace dependencies are the workspace's own crates.
            (package, l.contains("path") || l.contains("workspace"))
        })
        .unwrap_or_else(|| (key.to_string(), false));
    let mut found = Vec::new();
    for block in lock.split("[[package]]").skip(1) {
        let field = |name: &str| {
            block.lines().find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|r| r.trim_start().strip_prefix('='))
                    .map(|r| r.trim().trim_matches('"').to_string())
            })
        };
        if field("name").as_deref() != Some(package.as_str()) {
            continue;
        }
        let from_registry = field("source").is_some();
        if from_registry != is_path
            && let Some(v) = field("version")
        {
            found.push(if is_path {
                format!("{v} (workspace)")
            } else {
                v
            });
        }
    }
    if found.is_empty() {
        "?".to_string()
    } else {
        found.join(" / ")
    }
}

/// Current UTC time as `YYYY-MM-DD HH:MM UTC`.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3_600,
        rem % 3_600 / 60
    )
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
    use super::resolve_version;

    const MANIFEST: &str = r#"
[dependencies]
kovan_orig = { package = "kovan", version = "=0.1.12" }
kovan = { path = "../crates/kovan" }
kovan-atom = { workspace = true }
crossbeam-epoch = "0.9"
"#;
    const LOCK: &str = r#"
[[package]]
name = "crossbeam-epoch"
version = "0.9.21"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "kovan"
version = "0.1.12"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "kovan"
version = "0.2.0"
dependencies = [
 "kovan-core",
]

[[package]]
name = "kovan-atom"
version = "0.2.0"
"#;

    #[test]
    fn renamed_path_and_plain_dependencies_resolve() {
        assert_eq!(resolve_version(MANIFEST, LOCK, "kovan_orig"), "0.1.12");
        assert_eq!(
            resolve_version(MANIFEST, LOCK, "kovan"),
            "0.2.0 (workspace)"
        );
        assert_eq!(resolve_version(MANIFEST, LOCK, "crossbeam-epoch"), "0.9.21");
        assert_eq!(
            resolve_version(MANIFEST, LOCK, "kovan-atom"),
            "0.2.0 (workspace)"
        );
        assert_eq!(resolve_version(MANIFEST, LOCK, "seize"), "?");
    }
}
