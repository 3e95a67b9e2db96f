//! The mutation check: switch in each deliberate bug (`--cfg kovan_mutant="NAME"`), re-run the
//! release tests and the loom models, and report which tests catch it. A mutant that no test
//! catches fails the command: it shows a hole in the suite.

use std::fs;
use std::path::Path;
use std::time::Instant;

use crate::exec::{Cmd, note};
use crate::steps::{self, Ctx, Outcome, TestRun};

/// Packages whose tests (stress, stall injection, unit) are re-run against each mutant.
pub const MUTANT_TEST_PACKAGES: [&str; 3] = ["kovan-reclaim", "kovan-atom", "kovan"];

/// The mutant names: `values(...)` of `cfg(kovan_mutant, ...)` in the root Cargo.toml's
/// `check-cfg`, the one list of them (rustc warns about a mutant cfg that is not in it).
fn mutant_names(root: &Path) -> Result<Vec<String>, String> {
    let path = root.join("Cargo.toml");
    let toml = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_declared(&toml).ok_or_else(|| {
        format!(
            "no `cfg(kovan_mutant, values(...))` in the check-cfg of {}",
            path.display()
        )
    })
}

fn parse_declared(toml: &str) -> Option<Vec<String>> {
    let start = toml.find("cfg(kovan_mutant")?;
    let rest = &toml[start..];
    let values = rest.find("values(")? + "values(".len();
    let end = values + rest[values..].find(')')?;
    let list = rest[values..end].replace('\\', "");
    let names: Vec<String> = list
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    (!names.is_empty()).then_some(names)
}

fn tests_cmd(mutant: Option<&str>, target_dir: Option<&str>) -> Cmd {
    let mut c = Cmd::new("cargo").args(["test", "--release"]);
    for p in MUTANT_TEST_PACKAGES {
        c = c.args(["-p", p]);
    }
    c = c.args(["--tests", "--no-fail-fast"]);
    mutant_env(c, mutant, target_dir)
}

/// The protocol crate's doc tests, whose `compile_fail` examples show that safe code cannot
/// reach the protocol's words.
fn doc_tests_cmd(mutant: Option<&str>, target_dir: Option<&str>) -> Cmd {
    let c = Cmd::new("cargo").args(["test", "--release", "-p", "kovan-reclaim", "--doc"]);
    mutant_env(c, mutant, target_dir)
}

/// The shuttle model (feature `shuttle`: shuttle's atomics and thread-locals, small thread
/// stacks), in the mutant's release target directory so that most dependencies are built.
fn shuttle_cmd(mutant: Option<&str>, target_dir: Option<&str>) -> Cmd {
    mutant_env(steps::shuttle_cmd(), mutant, target_dir)
}

fn mutant_env(mut c: Cmd, mutant: Option<&str>, target_dir: Option<&str>) -> Cmd {
    if let Some(m) = mutant {
        c = c.env("RUSTFLAGS", steps::mutant_cfg(m));
    }
    if let Some(t) = target_dir {
        c = c.env("CARGO_TARGET_DIR", t);
    }
    c
}

/// What one mutant did to the suite.
struct MutantResult {
    name: String,
    caught_by: Vec<String>,
    error: Option<String>,
}

/// Runs the mutation check over `only` (all declared mutants when empty).
pub fn run(ctx: &Ctx, only: &[String]) -> Outcome {
    let all = match mutant_names(&ctx.root) {
        Ok(names) => names,
        Err(e) => return Outcome::fail(e),
    };
    for o in only {
        if !all.contains(o) {
            return Outcome {
                ok: false,
                notes: vec![format!(
                    "unknown mutant `{o}` (declared: {})",
                    all.join(", ")
                )],
                ..Outcome::default()
            };
        }
    }
    let names: Vec<String> = if only.is_empty() {
        all
    } else {
        all.into_iter().filter(|n| only.contains(n)).collect()
    };

    // Baseline: without a mutant every test must pass, or a "catch" would mean nothing.
    note("mutants: baseline run without any mutant");
    let mut base = TestRun::default();
    base.run(ctx, &steps::with_timeout(ctx, tests_cmd(None, None)));
    base.run(ctx, &steps::with_timeout(ctx, doc_tests_cmd(None, None)));
    base.run(
        ctx,
        &steps::with_timeout(ctx, steps::loom_cmd(None, &ctx.sub_target("loom"))),
    );
    base.run(
        ctx,
        &steps::with_timeout(ctx, shuttle_cmd(None, Some(&ctx.sub_target("shuttle")))),
    );
    if !base.clean() || base.report.counts().passed == 0 {
        let mut details =
            vec!["the suite must pass without mutants before it can judge them:".to_owned()];
        details.extend(base.details("ignored"));
        return Outcome {
            ok: false,
            notes: vec![if base.report.counts().passed == 0 {
                "baseline ran no tests".to_owned()
            } else {
                "baseline (no mutant) fails".to_owned()
            }],
            details,
            ..Outcome::default()
        };
    }

    let total = names.len();
    let mut results = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let tag = format!("[mutants {}/{total}] {name}", i + 1);
        let mut run = TestRun::default();
        let runs = [
            (
                "release tests",
                tests_cmd(
                    Some(name),
                    Some(&ctx.sub_target(&format!("mutants/{name}"))),
                ),
            ),
            (
                "doc tests",
                doc_tests_cmd(
                    Some(name),
                    Some(&ctx.sub_target(&format!("mutants/{name}"))),
                ),
            ),
            (
                "loom models",
                steps::loom_cmd(Some(name), &ctx.sub_target(&format!("mutants/{name}-loom"))),
            ),
            (
                "shuttle model",
                shuttle_cmd(
                    Some(name),
                    Some(&ctx.sub_target(&format!("mutants/{name}"))),
                ),
            ),
        ];
        for (what, cmd) in runs {
            note(&format!("{tag}: {what}"));
            let started = Instant::now();
            let before = (run.report.failed.len(), run.report.abnormal.len());
            run.run(ctx, &steps::with_timeout(ctx, cmd));
            note(&format!(
                "{tag}: {what}: {} failed tests, {} aborted binaries ({:.0?})",
                run.report.failed.len() - before.0,
                run.report.abnormal.len() - before.1,
                started.elapsed()
            ));
        }
        let mut caught_by: Vec<String> = run
            .report
            .failed
            .iter()
            .map(|t| format!("{}: {}", t.binary, t.name))
            .chain(
                run.report
                    .abnormal
                    .iter()
                    .filter(|a| !a.external())
                    .map(|a| format!("{}: aborted ({})", a.binary, a.detail)),
            )
            .collect();
        caught_by.dedup();
        let interrupted: Vec<String> = run
            .report
            .abnormal
            .iter()
            .filter(|a| a.external())
            .map(|a| format!("{} ({})", a.binary, a.detail))
            .collect();
        if !interrupted.is_empty() {
            note(&format!(
                "{tag}: stopped from outside, not counted as catches: {}",
                interrupted.join(", ")
            ));
        }
        let error = if run.build_failed {
            Some("did not build".to_owned())
        } else if caught_by.is_empty() && !interrupted.is_empty() {
            Some(format!("run interrupted: {}", interrupted.join(", ")))
        } else if caught_by.is_empty() && !run.problems.is_empty() {
            Some(format!(
                "cargo failed without a failing test: {}",
                run.problems.join("; ")
            ))
        } else {
            None
        };
        note(&format!(
            "{tag}: {}",
            match (&error, caught_by.len()) {
                (Some(e), _) => format!("ERROR: {e}"),
                (None, 0) => "MISSED: no test failed".to_owned(),
                (None, n) => format!("caught by {n}"),
            }
        ));
        results.push(MutantResult {
            name: name.clone(),
            caught_by,
            error,
        });
    }

    let missed: Vec<&str> = results
        .iter()
        .filter(|r| r.error.is_some() || r.caught_by.is_empty())
        .map(|r| r.name.as_str())
        .collect();
    let mut notes = vec![format!("{}/{total} mutants caught", total - missed.len())];
    if !missed.is_empty() {
        notes.push(format!("not caught: {}", missed.join(", ")));
    }
    Outcome {
        ok: missed.is_empty(),
        counts: None,
        notes,
        details: table(&results),
    }
}

fn table(results: &[MutantResult]) -> Vec<String> {
    let w = results
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(0)
        .max("MUTANT".len());
    let mut lines = vec![format!("{:<w$}  {:<11}  CAUGHT BY", "MUTANT", "RESULT")];
    for r in results {
        let result = match (&r.error, r.caught_by.len()) {
            (Some(_), _) => "ERROR".to_owned(),
            (None, 0) => "MISSED".to_owned(),
            (None, n) => format!("caught ({n})"),
        };
        let mut by: Vec<String> = r.caught_by.clone();
        if let Some(e) = &r.error {
            by.insert(0, e.clone());
        }
        if by.is_empty() {
            by.push("-".to_owned());
        }
        for (i, b) in by.iter().enumerate() {
            if i == 0 {
                lines.push(format!("{:<w$}  {result:<11}  {b}", r.name));
            } else {
                lines.push(format!("{:<w$}  {:<11}  {b}", "", ""));
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_check_cfg_values() {
        let toml =
            r#"check-cfg = ["cfg(kovan_loom)", "cfg(kovan_mutant, values(\"a_b\", \"c\"))"] }"#;
        assert_eq!(parse_declared(toml).unwrap(), ["a_b", "c"]);
        assert_eq!(parse_declared("nothing here"), None);
    }

    #[test]
    fn table_lists_every_catch() {
        let t = table(&[
            MutantResult {
                name: "a".into(),
                caught_by: vec!["stress: x".into(), "loom_p: y".into()],
                error: None,
            },
            MutantResult {
                name: "bb".into(),
                caught_by: vec![],
                error: None,
            },
        ]);
        assert_eq!(t.len(), 4);
        assert!(t[1].contains("caught (2)") && t[1].ends_with("stress: x"));
        assert!(t[2].ends_with("loom_p: y"));
        assert!(t[3].contains("MISSED"));
    }
}
