//! The `compat` step: the test suite that ships in the kovan 0.1.12 package, run unchanged
//! against the facade (`crates/kovan`).
//!
//! Nothing of that package is kept in this repository. On every run cargo fetches it through a
//! generated manifest that depends on `kovan = "=0.1.12"` (`target/compat/fetch`), `cargo
//! metadata` says where cargo unpacked it, and a generated crate (`target/compat/suite`) gets one
//! `[[test]]` per file of the package's `tests/`, by path into cargo's copy, with `kovan`
//! pointing at the facade. Both manifests start from the workspace's `Cargo.lock`, so the
//! versions are the workspace's and a machine that built the workspace needs no network.

use std::fs;
use std::path::{Path, PathBuf};

use crate::exec::{Cmd, announce, describe_status};
use crate::steps::{self, Ctx, Outcome, TestRun};

/// The package whose tests run, and its version.
pub const PACKAGE: &str = "kovan";
pub const VERSION: &str = "0.1.12";

pub fn run(ctx: &Ctx) -> Outcome {
    match prepare(ctx) {
        Ok(suite) => {
            let mut run = TestRun::default();
            run.run(ctx, &suite.test_cmd(ctx));
            let mut outcome = steps::finish_tests(&run, "ignored");
            // A skipped test of the old suite is a behaviour not checked: count it as a failure.
            let ignored = run.report.counts().ignored;
            if ignored > 0 {
                outcome.ok = false;
                outcome.notes.push(format!("{ignored} ignored"));
            }
            outcome.notes.push(format!(
                "{PACKAGE} {VERSION} tests/ ({} files)",
                suite.tests
            ));
            outcome
        }
        Err(e) => Outcome::fail(e),
    }
}

/// The generated test crate.
struct Suite {
    manifest: PathBuf,
    target_dir: PathBuf,
    tests: usize,
}

impl Suite {
    fn test_cmd(&self, ctx: &Ctx) -> Cmd {
        let cmd = Cmd::new("cargo")
            .arg("test")
            .arg("--manifest-path")
            .arg(self.manifest.display().to_string())
            .args(["--tests", "--no-fail-fast"])
            .env("CARGO_TARGET_DIR", self.target_dir.display().to_string());
        steps::with_timeout(ctx, cmd)
    }
}

/// Fetches the package and writes the test crate; returns it or why it could not.
fn prepare(ctx: &Ctx) -> Result<Suite, String> {
    let base = ctx.root.join(ctx.sub_target("compat"));
    let fetch_dir = base.join("fetch");
    let fetch_manifest = format!(
        "{HEADER}[package]\nname = \"kovan-compat-fetch\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
         publish = false\n\n[lib]\npath = \"lib.rs\"\n\n[dependencies]\n\
         {PACKAGE} = \"={VERSION}\"\n\n[workspace]\n"
    );
    write_crate(ctx, &fetch_dir, &fetch_manifest)?;
    let package = locate_package(ctx, &fetch_dir.join("Cargo.toml"))?;

    let manifest_text = fs::read_to_string(package.join("Cargo.toml"))
        .map_err(|e| format!("reading {}/Cargo.toml: {e}", package.display()))?;
    let tests_dir = package.join("tests");
    let sources = rust_files(&tests_dir)?;
    // Files directly in tests/ are test targets; files below are their modules.
    let tests: Vec<&PathBuf> = sources
        .iter()
        .filter(|p| p.parent() == Some(tests_dir.as_path()))
        .collect();
    if tests.is_empty() {
        return Err(format!("{} has no test files", tests_dir.display()));
    }
    let mut test_text = String::new();
    for p in &sources {
        test_text
            .push_str(&fs::read_to_string(p).map_err(|e| format!("reading {}: {e}", p.display()))?);
    }

    // The package's own edition: the tests are written for it.
    let edition = package_field(&manifest_text, "edition").unwrap_or_else(|| "2015".to_owned());
    let mut m = format!(
        "{HEADER}[package]\nname = \"kovan-compat-suite\"\nversion = \"0.0.0\"\n\
         edition = {}\npublish = false\n\n[lib]\npath = \"lib.rs\"\ntest = false\n\
         doctest = false\n\n[dependencies]\n{PACKAGE} = {{ path = {} }}\n",
        toml_string(&edition),
        toml_string(&ctx.root.join("crates/kovan").display().to_string()),
    );
    for dep in dev_dependencies(&manifest_text) {
        // Only what the tests name: the rest (benchmark harnesses) would only slow the build.
        if dep.name != PACKAGE && mentions(&test_text, &dep.name.replace('-', "_")) {
            m.push_str(&format!("\n[dev-dependencies.{}]\n{}", dep.name, dep.body));
        }
    }
    for t in &tests {
        let name = t.file_stem().map(|s| s.to_string_lossy().into_owned());
        m.push_str(&format!(
            "\n[[test]]\nname = {}\npath = {}\n",
            toml_string(&name.unwrap_or_default()),
            toml_string(&t.display().to_string()),
        ));
    }
    m.push_str("\n[workspace]\n");
    let suite_dir = base.join("suite");
    write_crate(ctx, &suite_dir, &m)?;
    Ok(Suite {
        manifest: suite_dir.join("Cargo.toml"),
        // The workspace's: same lock file and flags, so the third-party crates built by the
        // `test` step are reused (the kovan crates build again: other features unify there).
        target_dir: ctx.target_dir(),
        tests: tests.len(),
    })
}

const HEADER: &str =
    "# Generated by `cargo xtask compat` on every run; not kept in the repository.\n\n";

/// Writes a one-manifest crate with an empty library and the workspace's lock file.
fn write_crate(ctx: &Ctx, dir: &Path, manifest: &str) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    write_if_changed(&dir.join("Cargo.toml"), manifest)?;
    write_if_changed(&dir.join("lib.rs"), "")?;
    // The workspace's pinned versions: no index look-up (cargo prunes what is not needed).
    let lock = fs::read_to_string(ctx.root.join("Cargo.lock"))
        .map_err(|e| format!("reading the workspace Cargo.lock: {e}"))?;
    write_if_changed(&dir.join("Cargo.lock"), &lock)
}

/// Leaves an unchanged file alone, so that cargo sees nothing new.
fn write_if_changed(path: &Path, text: &str) -> Result<(), String> {
    if fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Downloads the package (if cargo does not have it yet) and returns the directory cargo
/// unpacked it in.
fn locate_package(ctx: &Ctx, manifest: &Path) -> Result<PathBuf, String> {
    let manifest = manifest.display().to_string();
    let fetch = Cmd::new("cargo").args(["fetch", "--manifest-path", &manifest]);
    match fetch.run_captured(&ctx.root) {
        Ok(c) if c.status.success() => {}
        Ok(c) => return Err(format!("`cargo fetch`: {}", describe_status(c.status))),
        Err(e) => return Err(format!("`cargo fetch` could not run: {e}")),
    }
    // Everything is local after the fetch; stdout is the JSON alone.
    let metadata = Cmd::new("cargo").args([
        "metadata",
        "--format-version",
        "1",
        "--offline",
        "--manifest-path",
        &manifest,
    ]);
    announce(&metadata.display());
    let json = metadata
        .stdout_quietly(&ctx.root)
        .ok_or("`cargo metadata` failed (run it by hand to see why)")?;
    let path = manifest_path(&json, PACKAGE, VERSION)
        .ok_or_else(|| format!("`cargo metadata` does not list {PACKAGE} {VERSION}"))?;
    path.parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("odd manifest path {}", path.display()))
}

/// The `manifest_path` of package `name` `version` in `cargo metadata --format-version 1`
/// output. cargo writes each package object's fields in a fixed order: `name`, `version`, ...,
/// and `manifest_path` is the first of that key after them (dependencies and targets have none).
fn manifest_path(json: &str, name: &str, version: &str) -> Option<PathBuf> {
    let start = json.find(&format!("{{\"name\":\"{name}\",\"version\":\"{version}\""))?;
    let key = "\"manifest_path\":\"";
    let rest = &json[start..];
    let value = &rest[rest.find(key)? + key.len()..];
    json_string(value).map(PathBuf::from)
}

/// Decodes a JSON string body up to its closing quote.
fn json_string(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = s.chars();
    loop {
        match chars.next()? {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                c => out.push(c), // `"`, `\`, `/`
            },
            c => out.push(c),
        }
    }
}

/// A basic TOML string.
fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `key = "value"` in the `[package]` table.
fn package_field(manifest: &str, key: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == key
        {
            return Some(v.trim().trim_matches('"').to_owned());
        }
    }
    None
}

/// A `[dev-dependencies.NAME]` table: its name and its lines.
struct DevDep {
    name: String,
    body: String,
}

/// The dev-dependencies of a manifest as `cargo package` writes it (one `[dev-dependencies.NAME]`
/// table each).
fn dev_dependencies(manifest: &str) -> Vec<DevDep> {
    let mut deps: Vec<DevDep> = Vec::new();
    let mut current: Option<DevDep> = None;
    for line in manifest.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            deps.extend(current.take());
            current = trimmed
                .strip_prefix("[dev-dependencies.")
                .and_then(|r| r.strip_suffix(']'))
                .map(|name| DevDep {
                    name: name.trim_matches('"').to_owned(),
                    body: String::new(),
                });
        } else if let Some(dep) = &mut current
            && !trimmed.is_empty()
        {
            dep.body.push_str(trimmed);
            dep.body.push('\n');
        }
    }
    deps.extend(current);
    deps
}

/// Whether `ident` occurs in `text` as a whole word.
fn mentions(text: &str, ident: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(ident).any(|(i, _)| {
        !text[..i].chars().next_back().is_some_and(word)
            && !text[i + ident.len()..].chars().next().is_some_and(word)
    })
}

/// The `.rs` files under `dir`, recursively, sorted.
fn rust_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|e| format!("reading {}: {e}", dir.display()))?
            .path();
        if path.is_dir() {
            files.extend(rust_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
[package]
edition = "2024"
name = "kovan"

[dev-dependencies.criterion]
version = "0.5.1"
features = ["html_reports"]

[dev-dependencies.crossbeam-epoch]
version = "0.9.18"

[target."cfg(loom)".dependencies.loom]
version = "0.7"
"#;

    #[test]
    fn reads_the_edition_and_dev_dependencies() {
        assert_eq!(package_field(MANIFEST, "edition").as_deref(), Some("2024"));
        let deps = dev_dependencies(MANIFEST);
        let names: Vec<_> = deps.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["criterion", "crossbeam-epoch"]);
        assert_eq!(
            deps[0].body,
            "version = \"0.5.1\"\nfeatures = [\"html_reports\"]\n"
        );
    }

    #[test]
    fn finds_the_manifest_path_of_the_package() {
        let json = r#"{"packages":[{"name":"kovan-compat-fetch","version":"0.0.0","dependencies":[{"name":"kovan","source":"registry","req":"=0.1.12"}],"manifest_path":"/w/fetch/Cargo.toml"},{"name":"kovan","version":"0.1.12","id":"x","targets":[{"src_path":"/r/kovan-0.1.12/src/lib.rs"}],"manifest_path":"C:\\r\\kovan-0.1.12\\Cargo.toml"}]}"#;
        assert_eq!(
            manifest_path(json, "kovan", "0.1.12"),
            Some(PathBuf::from(r"C:\r\kovan-0.1.12\Cargo.toml"))
        );
        assert_eq!(manifest_path(json, "kovan", "0.1.11"), None);
    }

    #[test]
    fn whole_words_only() {
        assert!(mentions("use seize::Collector;", "seize"));
        assert!(!mentions("let seized = 1; // unseize", "seize"));
        assert_eq!(toml_string(r#"C:\a "b""#), r#""C:\\a \"b\"""#);
    }
}
