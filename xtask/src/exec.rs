//! Running child processes: print the command, stream its output, keep a copy to parse.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

/// A command line with the environment changes it runs under, printable as a shell line.
#[derive(Clone, Debug)]
pub struct Cmd {
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

/// What a captured run left behind.
pub struct Captured {
    pub status: ExitStatus,
    /// stdout and stderr of the child, merged in the order they were written.
    pub output: String,
}

impl Cmd {
    pub fn new(program: &str) -> Self {
        Cmd {
            program: program.to_owned(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the child (shown in front of the printed command).
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        let value = value.into();
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value));
        self
    }

    /// The command as a line one could paste into a POSIX shell.
    pub fn display(&self) -> String {
        let mut line = String::new();
        for (k, v) in &self.env {
            let _ = write!(line, "{k}={} ", shell_quote(v));
        }
        line.push_str(&shell_quote(&self.program));
        for a in &self.args {
            line.push(' ');
            line.push_str(&shell_quote(a));
        }
        line
    }

    fn command(&self, root: &Path) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args).current_dir(root);
        // An encoded RUSTFLAGS set around us would silently win over the RUSTFLAGS we set.
        if self.env.iter().any(|(k, _)| k == "RUSTFLAGS") {
            cmd.env_remove("CARGO_ENCODED_RUSTFLAGS");
        }
        if self.env.iter().any(|(k, _)| k == "RUSTDOCFLAGS") {
            cmd.env_remove("CARGO_ENCODED_RUSTDOCFLAGS");
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Prints the command, runs it with stdout and stderr merged into one pipe, copies what it
    /// writes to our stdout as it arrives, and returns the exit status with the full text.
    pub fn run_captured(&self, root: &Path) -> io::Result<Captured> {
        announce(&self.display());
        let (mut reader, writer) = io::pipe()?;
        let mut cmd = self.command(root);
        // The output is parsed, so no colour codes, whatever the caller's CARGO_TERM_COLOR (CI
        // sets `always`): this turns cargo's and rustdoc's off, and libtest's are off by
        // themselves since the test binaries write to a pipe (its `--color auto`).
        cmd.env("CARGO_TERM_COLOR", "never");
        cmd.stdin(Stdio::null())
            .stdout(writer.try_clone()?)
            .stderr(writer);
        let mut child = cmd.spawn().map_err(|e| {
            io::Error::new(e.kind(), format!("cannot start `{}`: {e}", self.program))
        })?;
        // Our copies of the write end must be closed, or the read below never sees EOF.
        drop(cmd);

        let mut captured = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        let mut out = io::stdout().lock();
        loop {
            match reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    // Streaming is best effort; a closed terminal must not kill the run.
                    let _ = out.write_all(&chunk[..n]);
                    let _ = out.flush();
                    captured.extend_from_slice(&chunk[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        drop(out);
        let status = child.wait()?;
        Ok(Captured {
            status,
            output: String::from_utf8_lossy(&captured).into_owned(),
        })
    }

    /// Prints the command and runs it with our stdio (nothing captured).
    pub fn run_inherit(&self, root: &Path) -> io::Result<ExitStatus> {
        announce(&self.display());
        self.command(root)
            .status()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start `{}`: {e}", self.program)))
    }

    /// Runs the command quietly and reports whether it exited with status 0.
    pub fn succeeds_quietly(&self, root: &Path) -> bool {
        self.command(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Runs the command quietly and returns its stdout if it exited with status 0.
    pub fn stdout_quietly(&self, root: &Path) -> Option<String> {
        let out = self
            .command(root)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// Prints a line that stands out from cargo's output.
pub fn announce(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "\n$ {line}");
    let _ = out.flush();
}

/// Prints an xtask message (not a command).
pub fn note(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "[xtask] {line}");
    let _ = out.flush();
}

/// Quotes a word for a POSIX shell when it needs it.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./=:,+@%^".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Describes an exit status in words ("exit status 101", "signal 11").
pub fn describe_status(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return format!("killed by signal {sig}");
        }
    }
    status.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("cargo"), "cargo");
        assert_eq!(shell_quote("--cfg kovan_loom"), "'--cfg kovan_loom'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(
            shell_quote("--cfg kovan_mutant=\"x\""),
            "'--cfg kovan_mutant=\"x\"'"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("loom*"), "'loom*'");
    }

    #[test]
    fn display_puts_env_first() {
        let c = Cmd::new("cargo")
            .args(["test", "--release"])
            .env("RUSTFLAGS", "--cfg kovan_loom")
            .env("LOOM_MAX_PREEMPTIONS", "2");
        assert_eq!(
            c.display(),
            "RUSTFLAGS='--cfg kovan_loom' LOOM_MAX_PREEMPTIONS=2 cargo test --release"
        );
    }
}
