//! The toolchains, components and targets the steps need: nightly and its components are
//! installed when missing; the MSRV toolchain and the no-std target are checked (`.ci/run`
//! installs them). Anything that is not available is an error: a check that cannot run fails.

use std::fs;
use std::path::{Path, PathBuf};

use crate::exec::{Cmd, note};

/// The nightly toolchain every nightly-only step uses (`cargo +nightly ...`).
pub const NIGHTLY: &str = "nightly";

/// Ensures `cargo +nightly` works, installing a minimal nightly toolchain if it is missing.
pub fn ensure_nightly(root: &Path) -> Result<(), String> {
    if installed(root, NIGHTLY) {
        return Ok(());
    }
    note("the nightly toolchain is missing; installing it");
    let install =
        Cmd::new("rustup").args(["toolchain", "install", NIGHTLY, "--profile", "minimal"]);
    run_install(root, &install)?;
    if installed(root, NIGHTLY) {
        Ok(())
    } else {
        Err(format!(
            "`rustc +{NIGHTLY} --version` still fails after `{}`",
            install.display()
        ))
    }
}

/// A nightly component and how to tell that it works.
struct Component {
    name: &'static str,
    present: fn(&Path) -> bool,
}

const MIRI: Component = Component {
    name: "miri",
    present: |root| {
        Cmd::new("cargo")
            .args([format!("+{NIGHTLY}"), "miri".into(), "--version".into()])
            .succeeds_quietly(root)
    },
};

const RUST_SRC: Component = Component {
    name: "rust-src",
    present: |root| {
        nightly_sysroot(root).is_some_and(|s| {
            s.join("lib/rustlib/src/rust/library/core/src/lib.rs")
                .is_file()
        })
    },
};

fn nightly_sysroot(root: &Path) -> Option<PathBuf> {
    let out = Cmd::new("rustc")
        .args([format!("+{NIGHTLY}"), "--print".into(), "sysroot".into()])
        .stdout_quietly(root)?;
    Some(PathBuf::from(out.trim()))
}

/// Ensures nightly and the given components of it are installed, installing what is missing.
fn ensure_components(root: &Path, wanted: &[Component]) -> Result<(), String> {
    ensure_nightly(root)?;
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|c| !(c.present)(root))
        .map(|c| c.name)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    note(&format!(
        "missing nightly components: {}; installing",
        missing.join(" ")
    ));
    let install = Cmd::new("rustup")
        .args(["component", "add", "--toolchain", NIGHTLY])
        .args(missing.iter().copied());
    run_install(root, &install)?;
    if wanted.iter().all(|c| (c.present)(root)) {
        Ok(())
    } else {
        Err(format!(
            "{} still missing after `{}`",
            missing.join(" / "),
            install.display()
        ))
    }
}

/// Ensures `cargo +nightly miri` and nightly's `rust-src` (Miri's sysroot) are installed.
pub fn ensure_miri(root: &Path) -> Result<(), String> {
    ensure_components(root, &[MIRI, RUST_SRC])
}

/// Ensures nightly's `rust-src` is installed (for `-Zbuild-std`).
pub fn ensure_rust_src(root: &Path) -> Result<(), String> {
    ensure_components(root, &[RUST_SRC])
}

/// Whether `rustc +TOOLCHAIN` works without rustup installing it on the way.
pub fn installed(root: &Path, toolchain: &str) -> bool {
    Cmd::new("rustc")
        .args([format!("+{toolchain}"), "--version".into()])
        .env("RUSTUP_AUTO_INSTALL", "0")
        .succeeds_quietly(root)
}

/// Whether the default toolchain has the standard library (at least `core`) for `target`.
pub fn target_installed(root: &Path, target: &str) -> bool {
    let Some(dir) = Cmd::new("rustc")
        .args(["--print", "target-libdir", "--target", target])
        .stdout_quietly(root)
    else {
        return false;
    };
    fs::read_dir(dir.trim()).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("libcore-"))
    })
}

/// The `rust-version` of `[workspace.package]` in the root Cargo.toml: the library crates'
/// minimum supported Rust.
pub fn msrv(root: &Path) -> Result<String, String> {
    let path = root.join("Cargo.toml");
    let toml = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    workspace_rust_version(&toml).ok_or_else(|| {
        format!(
            "no rust-version in [workspace.package] of {}",
            path.display()
        )
    })
}

fn workspace_rust_version(toml: &str) -> Option<String> {
    let mut in_section = false;
    for line in toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_section = line == "[workspace.package]";
        } else if in_section
            && let Some((key, value)) = line.split_once('=')
            && key.trim() == "rust-version"
        {
            return Some(value.trim().trim_matches('"').to_owned());
        }
    }
    None
}

fn run_install(root: &Path, cmd: &Cmd) -> Result<(), String> {
    match cmd.run_captured(root) {
        Ok(c) if c.status.success() => Ok(()),
        Ok(c) => Err(format!(
            "`{}` failed ({})",
            cmd.display(),
            crate::exec::describe_status(c.status)
        )),
        Err(e) => Err(format!("`{}` could not run: {e}", cmd.display())),
    }
}

/// The host target triple, from `rustc -vV`.
pub fn host_triple(root: &Path) -> Option<String> {
    let out = Cmd::new("rustc").arg("-vV").stdout_quietly(root)?;
    out.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|h| h.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_workspace_rust_version() {
        let toml = "[package]\nrust-version = \"1.2\"\n\n[workspace.package]\nedition = \"2024\"\n\
                    rust-version = \"1.85\"\n\n[workspace.dependencies]\n";
        assert_eq!(workspace_rust_version(toml).as_deref(), Some("1.85"));
        assert_eq!(
            workspace_rust_version("[package]\nrust-version = \"1.2\"\n"),
            None
        );
    }
}
