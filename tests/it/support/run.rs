//! Running the dockhand binary as a CI job does, and reading what it printed.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// What one run of the binary left: its exit code and both streams as text.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

// Assertion messages print a run whole: both streams are what explains a failure.
impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl Run {
    /// Expects exit 0.
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "{self}");
        self
    }

    /// Expects exit `code`.
    pub fn code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "{self}");
        self
    }

    /// Standard output as the one JSON document `--output json` promises.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{self}"))
    }
}

pub fn ok(r: Run) -> Run {
    r.ok()
}

pub fn json(r: &Run) -> Value {
    r.json()
}

/// The binary in `cwd` with an empty environment but PATH, and HOME at `cwd`: no Docker config,
/// credential helper or CI variable of the machine running the tests reaches it.
pub fn command(args: &[&str], cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dockhand"));
    cmd.args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", cwd);
    cmd
}

pub fn dockhand(args: &[&str], cwd: &Path) -> Run {
    command(args, cwd).output().unwrap().into()
}

/// [`dockhand`] with `env` set on top (it may override HOME).
pub fn dockhand_env<K, V>(args: &[&str], cwd: &Path, env: &[(K, V)]) -> Run
where
    K: AsRef<OsStr>,
    V: AsRef<OsStr>,
{
    let mut cmd = command(args, cwd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap().into()
}

/// `--registry-username USER --registry-password PASSWORD`.
pub fn creds(user: &str, password: &str) -> Vec<String> {
    vec![
        "--registry-username".into(),
        user.into(),
        "--registry-password".into(),
        password.into(),
    ]
}

/// `base` followed by `extra`, as one argument list.
pub fn with<'a>(base: &[&'a str], extra: &'a [String]) -> Vec<&'a str> {
    base.iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .collect()
}
