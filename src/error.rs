//! Errors that reach the user, and the exit code each kind maps to.
//!
//! Every failure the program expects is an [`Error`] with a [`Kind`]; the kind alone decides the
//! exit code, so the table in the README stays true by construction.

use std::fmt;

/// The documented, append-only exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A registry operation failed (exit 1).
    Operation,
    /// Bad input: flags, environment, config file, reference, tag or policy (exit 2).
    Input,
    /// Authentication or authorization failed (exit 3).
    Auth,
    /// The registry cannot do what was asked, or the stage is not available (exit 4).
    Unsupported,
    /// Interrupted by SIGINT (exit 130 = 128 + 2, the shell's convention).
    Interrupted,
    /// Stopped by SIGTERM (exit 143 = 128 + 15), as by `docker stop` or a cancelled CI job.
    Terminated,
}

impl Kind {
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::Operation => 1,
            Kind::Input => 2,
            Kind::Auth => 3,
            Kind::Unsupported => 4,
            Kind::Interrupted => 130,
            Kind::Terminated => 143,
        }
    }
    /// Whether the run was stopped by a signal.
    pub fn is_signal(self) -> bool {
        matches!(self, Kind::Interrupted | Kind::Terminated)
    }
}

/// An expected failure: a kind, a message that reads after "error: ", and an optional hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
    pub hint: Option<String>,
}

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            hint: None,
        }
    }
    pub fn input(message: impl Into<String>) -> Self {
        Self::new(Kind::Input, message)
    }
    pub fn operation(message: impl Into<String>) -> Self {
        Self::new(Kind::Operation, message)
    }
    pub fn auth(message: impl Into<String>) -> Self {
        Self::new(Kind::Auth, message)
    }
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(Kind::Unsupported, message)
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    /// Prefixes the message with context, e.g. the option or file the error belongs to.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
    pub fn exit_code(&self) -> i32 {
        self.kind.exit_code()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_contract() {
        assert_eq!(Kind::Operation.exit_code(), 1);
        assert_eq!(Kind::Input.exit_code(), 2);
        assert_eq!(Kind::Auth.exit_code(), 3);
        assert_eq!(Kind::Unsupported.exit_code(), 4);
        assert_eq!(Kind::Interrupted.exit_code(), 130);
        assert_eq!(Kind::Terminated.exit_code(), 143);
    }

    #[test]
    fn hint_is_rendered_on_its_own_line() {
        let e = Error::input("bad tag")
            .with_hint("use fewer characters")
            .context("--tag-custom");
        assert_eq!(
            e.to_string(),
            "--tag-custom: bad tag\n  hint: use fewer characters"
        );
    }
}
