//! Reading what `cargo test` (and `cargo miri test`) print: per-binary counts, failed tests,
//! ignored tests with their reasons, and test binaries that died without finishing.

/// Test counts, summed over `test result:` lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
}

impl Counts {
    pub fn add(&mut self, other: Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
    }
}

/// One `test result:` line and the binary it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinaryResult {
    /// Test binary name without its hash (`kovan_core`, `loom_pair`), or the crate for doc tests.
    pub binary: String,
    pub doc: bool,
    pub counts: Counts,
}

/// A test that printed `test NAME ... FAILED` (or `ignored`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRef {
    pub binary: String,
    pub name: String,
}

/// A test binary that exited in a way libtest does not (timeout, signal, sanitizer, Miri UB).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Abnormal {
    pub binary: String,
    pub detail: String,
}

impl Abnormal {
    /// Whether the binary (or the `timeout` wrapping it) was stopped by SIGTERM, SIGINT or SIGHUP:
    /// something outside the test stopped it (Ctrl-C, a cleanup), not the code under test.
    /// (SIGKILL is not counted here: the OOM killer sends it, e.g. on unbounded garbage.)
    pub fn external(&self) -> bool {
        ["signal: 15,", "signal: 2,", "signal: 1,"]
            .iter()
            .any(|p| self.detail.starts_with(p))
    }
}

/// Everything parsed from the output of one or more `cargo test` runs.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub binaries: Vec<BinaryResult>,
    pub failed: Vec<TestRef>,
    pub passed: Vec<TestRef>,
    pub ignored: Vec<(TestRef, Option<String>)>,
    pub abnormal: Vec<Abnormal>,
}

/// Collects the tool diagnostics (Miri errors, sanitizer reports) printed while a binary ran,
/// so that an aborted binary can say why.
#[derive(Default)]
struct Diagnostics {
    first: Option<String>,
    more: usize,
}

impl Diagnostics {
    fn saw(&mut self, line: &str) {
        if self.first.is_none() {
            let mut msg: String = line.chars().take(160).collect();
            if msg.len() < line.len() {
                msg.push_str("...");
            }
            self.first = Some(msg);
        } else {
            self.more += 1;
        }
    }

    fn take(&mut self) -> Option<String> {
        let first = self.first.take()?;
        let more = std::mem::take(&mut self.more);
        Some(if more > 0 {
            format!("{first} (+{more} more)")
        } else {
            first
        })
    }
}

/// A line in which Miri or a sanitizer reports an error in the program under test.
fn tool_diagnostic(line: &str) -> Option<&str> {
    // Sanitizers: `==1234==ERROR: AddressSanitizer: heap-use-after-free on address ...`
    for marker in [
        "ERROR: AddressSanitizer",
        "ERROR: LeakSanitizer",
        "WARNING: ThreadSanitizer",
    ] {
        if let Some(pos) = line.find(marker) {
            return Some(&line[pos..]);
        }
    }
    // Miri: `error: Undefined Behavior: ...`, `error: memory leaked: ...`, `error: deadlock ...`.
    // cargo's own `error:` lines are not about the program.
    let rest = line.strip_prefix("error: ")?;
    let cargo_own = [
        "test failed",
        "could not compile",
        "no test target",
        "aborting due to",
        "build failed",
        "process didn't exit",
    ];
    let targets_failed = rest.ends_with("target failed:") || rest.ends_with("targets failed:");
    (!cargo_own.iter().any(|p| rest.starts_with(p)) && !targets_failed).then_some(line)
}

impl Report {
    pub fn merge(&mut self, other: Report) {
        self.binaries.extend(other.binaries);
        self.failed.extend(other.failed);
        self.passed.extend(other.passed);
        self.ignored.extend(other.ignored);
        self.abnormal.extend(other.abnormal);
    }

    /// Counts over all binaries.
    pub fn counts(&self) -> Counts {
        self.counts_where(|_| true)
    }

    pub fn counts_where(&self, keep: impl Fn(&BinaryResult) -> bool) -> Counts {
        let mut total = Counts::default();
        for b in self.binaries.iter().filter(|b| keep(b)) {
            total.add(b.counts);
        }
        total
    }
}

/// Parses the merged stdout+stderr of `cargo test`.
pub fn parse(output: &str) -> Report {
    let mut report = Report::default();
    let mut binary = String::from("?");
    let mut doc = false;
    let mut diags = Diagnostics::default();
    for raw in output.lines() {
        let line = raw.trim_end_matches('\r');
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("Running ") {
            binary = binary_from_running(rest);
            doc = false;
            diags = Diagnostics::default();
        } else if let Some(krate) = trimmed.strip_prefix("Doc-tests ") {
            binary = format!("{} (doc)", krate.trim());
            doc = true;
            diags = Diagnostics::default();
        } else if let Some(diag) = tool_diagnostic(line) {
            diags.saw(diag);
        } else if let Some(rest) = line.strip_prefix("test result: ") {
            if let Some(counts) = parse_result_counts(rest) {
                report.binaries.push(BinaryResult {
                    binary: binary.clone(),
                    doc,
                    counts,
                });
            }
        } else if let Some(rest) = line.strip_prefix("test ") {
            let Some((name, outcome)) = rest.rsplit_once(" ... ") else {
                continue;
            };
            let test = TestRef {
                binary: binary.clone(),
                name: name.trim().to_owned(),
            };
            let outcome = outcome.trim();
            if outcome == "FAILED" {
                report.failed.push(test);
            } else if outcome == "ok" {
                report.passed.push(test);
            } else if let Some(why) = outcome.strip_prefix("ignored") {
                let why = why.trim_start_matches(',').trim();
                let why = (!why.is_empty()).then(|| why.to_owned());
                report.ignored.push((test, why));
            }
        } else if let Some(pos) = line.find("process didn't exit successfully: ") {
            let rest = &line[pos..];
            if let Some(mut a) = abnormal_exit(rest) {
                if let Some(why) = diags.take() {
                    a.detail = format!("{}; {why}", a.detail);
                }
                report.abnormal.push(a);
            }
        }
    }
    report
}

/// Parses the output of `cargo test -- --list`: the `NAME: test` lines, with their binaries.
pub fn parse_list(output: &str) -> Vec<TestRef> {
    let mut tests = Vec::new();
    let mut binary = String::from("?");
    for raw in output.lines() {
        let line = raw.trim_end_matches('\r');
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("Running ") {
            binary = binary_from_running(rest);
        } else if let Some(krate) = trimmed.strip_prefix("Doc-tests ") {
            binary = format!("{} (doc)", krate.trim());
        } else if let Some(name) = line.strip_suffix(": test") {
            tests.push(TestRef {
                binary: binary.clone(),
                name: name.to_owned(),
            });
        }
    }
    tests
}

/// `unittests src/lib.rs (target/debug/deps/kovan_core-0123abcd)` -> `kovan_core`.
fn binary_from_running(rest: &str) -> String {
    let path = match (rest.rfind('('), rest.rfind(')')) {
        (Some(open), Some(close)) if open < close => &rest[open + 1..close],
        _ => rest,
    };
    binary_name(path)
}

/// `/x/target/debug/deps/loom_pair-0123abcd[.exe]` -> `loom_pair`.
fn binary_name(path: &str) -> String {
    let file = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let file = file.strip_suffix(".exe").unwrap_or(file);
    match file.rsplit_once('-') {
        Some((stem, hash)) if !hash.is_empty() && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            stem.to_owned()
        }
        _ => file.to_owned(),
    }
}

/// `ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s`
pub fn parse_result_counts(rest: &str) -> Option<Counts> {
    let words: Vec<&str> = rest
        .split_whitespace()
        .map(|w| w.trim_end_matches([';', '.', ',']))
        .collect();
    let mut counts = Counts::default();
    let mut seen = false;
    for pair in words.windows(2) {
        let Ok(n) = pair[0].parse::<u64>() else {
            continue;
        };
        match pair[1] {
            "passed" => counts.passed = n,
            "failed" => counts.failed = n,
            "ignored" => counts.ignored = n,
            _ => continue,
        }
        seen = true;
    }
    seen.then_some(counts)
}

/// cargo's ``process didn't exit successfully: `cmd ... /deps/name-hash` (exit status: 124)``.
/// Exit status 101 is libtest's ordinary "some tests failed" and is not abnormal.
fn abnormal_exit(rest: &str) -> Option<Abnormal> {
    let start = rest.find('`')?;
    let end = start + 1 + rest[start + 1..].find('`')?;
    let cmdline = &rest[start + 1..end];
    let status = rest[end + 1..]
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .trim();
    if status == "exit status: 101" {
        return None;
    }
    let exe = cmdline
        .split_whitespace()
        .find(|w| w.contains("/deps/") || w.contains("\\deps\\"))
        .unwrap_or(cmdline);
    let mut detail = status.to_owned();
    // `timeout` exits 124 after its TERM, 137 if it had to KILL.
    if matches!(status, "exit status: 124" | "exit status: 137") && cmdline.starts_with("timeout ")
    {
        detail.push_str(", timed out");
    }
    Some(Abnormal {
        binary: binary_name(exe),
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
   Compiling kovan-core v0.2.0 (/w/crates/kovan-core)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 1.00s
     Running unittests src/lib.rs (target/debug/deps/kovan_core-21c89039554623dc)

running 3 tests
test tests::a_miri_seeds ... ok
test tests::b ... FAILED
test tests::c ... ignored, too slow under miri

test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.29s

     Running tests/loom_pair.rs (target/release/deps/loom_pair-4ed023317a1a1d15)

running 1 test
test pair_cas_vs_exchange ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.13s

     Running tests/stress.rs (target/release/deps/stress-67200d5facdab802)

running 2 tests
test fails ... FAILED
error: test failed, to rerun pass `--test stress`

Caused by:
  process didn't exit successfully: `timeout --kill-after=30 600 /w/target/release/deps/stress-67200d5facdab802` (exit status: 124)
note: test exited abnormally; to see the full output pass --no-capture to the harness.
error: test failed, to rerun pass `--lib`

Caused by:
  process didn't exit successfully: `/w/target/debug/deps/kovan_core-21c89039554623dc` (exit status: 101)
   Doc-tests kovan_core

running 2 tests
test crates/kovan-core/src/lib.rs - WordPair (line 10) ... ok
test crates/kovan-core/src/lib.rs - WordPair::load (line 20) - compile fail ... ignored

test result: ok. 1 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s
";

    #[test]
    fn parses_counts_per_binary() {
        let r = parse(SAMPLE);
        let names: Vec<_> = r.binaries.iter().map(|b| b.binary.as_str()).collect();
        assert_eq!(names, ["kovan_core", "loom_pair", "kovan_core (doc)"]);
        assert!(r.binaries[2].doc);
        assert_eq!(
            r.counts(),
            Counts {
                passed: 3,
                failed: 1,
                ignored: 2
            }
        );
        assert_eq!(r.counts_where(|b| b.binary.starts_with("loom")).passed, 1);
    }

    #[test]
    fn parses_failed_ignored_and_abnormal() {
        let r = parse(SAMPLE);
        let failed: Vec<_> = r
            .failed
            .iter()
            .map(|t| format!("{}::{}", t.binary, t.name))
            .collect();
        assert_eq!(failed, ["kovan_core::tests::b", "stress::fails"]);
        assert_eq!(r.ignored.len(), 2);
        assert_eq!(r.ignored[0].0.name, "tests::c");
        assert_eq!(r.ignored[0].1.as_deref(), Some("too slow under miri"));
        assert_eq!(r.ignored[1].1, None);
        assert_eq!(
            r.abnormal,
            [Abnormal {
                binary: "stress".into(),
                detail: "exit status: 124, timed out".into()
            }]
        );
        assert!(r.passed.iter().any(|t| t.name == "tests::a_miri_seeds"));
    }

    #[test]
    fn aborted_binary_says_why() {
        let out = "\
     Running tests/smoke.rs (target/miri/x/debug/deps/smoke-6a58b9822c1b4156)
test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 7.22s

error: memory leaked: alloc338634 (Rust heap, size: 128, align: 8), allocated here:
error: memory leaked: alloc95120 (Rust heap, size: 128, align: 8), allocated here:
error: test failed, to rerun pass `-p kovan-reclaim --test smoke`

Caused by:
  process didn't exit successfully: `cargo-miri runner /w/target/miri/x/debug/deps/smoke-6a58b9822c1b4156` (exit status: 1)
     Running tests/stress.rs (target/asan/x/debug/deps/stress-0123abcd)
==4849==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010
  process didn't exit successfully: `/w/target/asan/x/debug/deps/stress-0123abcd` (exit status: 1)
";
        let r = parse(out);
        assert_eq!(r.abnormal.len(), 2);
        assert_eq!(r.abnormal[0].binary, "smoke");
        assert_eq!(
            r.abnormal[0].detail,
            "exit status: 1; error: memory leaked: alloc338634 (Rust heap, size: 128, align: 8), \
             allocated here: (+1 more)"
        );
        assert_eq!(
            r.abnormal[1].detail,
            "exit status: 1; ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010"
        );
    }

    #[test]
    fn sigterm_is_external() {
        let line = "  process didn't exit successfully: `timeout --foreground 600 \
                    /w/target/release/deps/stall-0123abcd` (signal: 15, SIGTERM: termination signal)";
        assert!(parse(line).abnormal[0].external());
        let line = "  process didn't exit successfully: `/w/target/release/deps/stall-0123abcd` \
                    (signal: 6, SIGABRT: process abort signal)";
        assert!(!parse(line).abnormal[0].external());
    }

    #[test]
    fn timeout_kill_is_a_timeout() {
        let line = "  process didn't exit successfully: `timeout --foreground --kill-after=30 600 \
                    /w/target/release/deps/stall-0123abcd` (exit status: 137)";
        assert_eq!(
            parse(line).abnormal[0].detail,
            "exit status: 137, timed out"
        );
    }

    #[test]
    fn signal_exit_is_abnormal() {
        let line = "  process didn't exit successfully: `/w/target/debug/deps/stress-0123abcd` \
                    (signal: 11, SIGSEGV: invalid memory reference)";
        let r = parse(line);
        assert_eq!(r.abnormal[0].binary, "stress");
        assert_eq!(
            r.abnormal[0].detail,
            "signal: 11, SIGSEGV: invalid memory reference"
        );
    }

    #[test]
    fn parses_list() {
        let out =
            "     Running unittests src/lib.rs (target/miri/x/debug/deps/exp-21c89039554623dc)
tests::a_miri_seeds: test

1 test, 0 benchmarks
     Running tests/loom_x.rs (target/miri/x/debug/deps/loom_x-4ed023317a1a1d15)
0 tests, 0 benchmarks
";
        let l = parse_list(out);
        assert_eq!(
            l,
            [TestRef {
                binary: "exp".into(),
                name: "tests::a_miri_seeds".into()
            }]
        );
    }

    #[test]
    fn result_line_variants() {
        assert_eq!(
            parse_result_counts("ok. 0 passed; 0 failed; 0 ignored; 0 measured; 5 filtered out"),
            Some(Counts::default())
        );
        assert_eq!(parse_result_counts("garbage"), None);
    }
}
