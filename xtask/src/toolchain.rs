//! Making sure the nightly toolchain and its Miri components are there, installing them if not.
//! Anything that cannot be made available is an error: a check that cannot run fails.

use std::path::{Path, PathBuf};

use crate::exec::{Cmd, note};

/// The nightly toolchain every nightly-only step uses (`cargo +nightly ...`).
pub const NIGHTLY: &str = "nightly";

fn nightly_rustc_works(root: &Path) -> bool {
    Cmd::new("rustc")
        .args([format!("+{NIGHTLY}"), "--version".into()])
        .succeeds_quietly(root)
}

/// Ensures `cargo +nightly` works, installing a minimal nightly toolchain if it is missing.
pub fn ensure_nightly(root: &Path) -> Result<(), String> {
    if nightly_rustc_works(root) {
        return Ok(());
    }
    note("the nightly toolchain is missing; installing it");
    let install =
        Cmd::new("rustup").args(["toolchain", "install", NIGHTLY, "--profile", "minimal"]);
    run_install(root, &install)?;
    if nightly_rustc_works(root) {
        Ok(())
    } else {
        Err(format!(
            "`rustc +{NIGHTLY} --version` still fails after `{}`",
            install.display()
        ))
    }
}

fn miri_works(root: &Path) -> bool {
    Cmd::new("cargo")
        .args([format!("+{NIGHTLY}"), "miri".into(), "--version".into()])
        .succeeds_quietly(root)
}

fn nightly_sysroot(root: &Path) -> Option<PathBuf> {
    let out = Cmd::new("rustc")
        .args([format!("+{NIGHTLY}"), "--print".into(), "sysroot".into()])
        .stdout_quietly(root)?;
    Some(PathBuf::from(out.trim()))
}

fn rust_src_present(root: &Path) -> bool {
    nightly_sysroot(root).is_some_and(|s| {
        s.join("lib/rustlib/src/rust/library/core/src/lib.rs")
            .is_file()
    })
}

/// Ensures `cargo +nightly miri` and nightly's `rust-src` are installed.
pub fn ensure_miri(root: &Path) -> Result<(), String> {
    ensure_nightly(root)?;
    let (miri, src) = (miri_works(root), rust_src_present(root));
    if miri && src {
        note("nightly miri and rust-src are installed");
        return Ok(());
    }
    note(&format!(
        "missing nightly components:{}{}; installing",
        if miri { "" } else { " miri" },
        if src { "" } else { " rust-src" }
    ));
    let install = Cmd::new("rustup").args([
        "component",
        "add",
        "--toolchain",
        NIGHTLY,
        "miri",
        "rust-src",
    ]);
    run_install(root, &install)?;
    if miri_works(root) && rust_src_present(root) {
        Ok(())
    } else {
        Err(format!(
            "miri / rust-src still missing after `{}`",
            install.display()
        ))
    }
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
