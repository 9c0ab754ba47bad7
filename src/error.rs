//! Errors that reach the user, and the exit code each kind maps to.
//!
//! Every failure the program expects is an [`Error`] with a [`Kind`]; the kind alone decides the
//! exit code, so the table in the README stays true by construction.
//!
//! Layers that wrap a lower failure (an I/O error, an HTTP error, a YAML error) define their own
//! `thiserror` enum with `#[source]` fields, say its [`Kind`] through [`Classify`], and convert
//! with [`Error::from_layer`]: the message stays the enum's text, and [`std::error::Error::source`]
//! keeps the typed error (and through it the lower one) for whoever needs to look.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

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

/// What a layer's typed error says about itself: which [`Kind`] (so the exit code) it is, and
/// an optional hint for the user.
pub trait Classify: StdError + Send + Sync + 'static {
    fn kind(&self) -> Kind;
    fn hint(&self) -> Option<String> {
        None
    }
}

/// An expected failure: a kind, a message that reads after "error: ", an optional hint, and the
/// typed error it came from, if any.
#[derive(Debug, Clone)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
    pub hint: Option<String>,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
}

/// Two errors are equal when the user would read the same thing (the source is not compared).
impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.message == other.message && self.hint == other.hint
    }
}
impl Eq for Error {}

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            hint: None,
            source: None,
        }
    }
    /// A layer's typed error as an [`Error`]: its text is the message, its [`Classify`] the kind
    /// and hint, and it stays reachable as the source.
    pub fn from_layer<E: Classify>(e: E) -> Self {
        Error {
            kind: e.kind(),
            message: e.to_string(),
            hint: e.hint(),
            source: Some(Arc::new(e)),
        }
    }
    /// Keeps `cause` as this error's source (its text is not added to the message).
    pub fn with_source(mut self, cause: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(cause));
        self
    }
    /// The typed error of a layer this came from, e.g. `e.layer::<HttpError>()`.
    pub fn layer<E: StdError + 'static>(&self) -> Option<&E> {
        self.source.as_deref().and_then(|s| s.downcast_ref::<E>())
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

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

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

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read {path}: {source}")]
    struct ReadFailed {
        path: String,
        #[source]
        source: std::io::Error,
    }
    impl Classify for ReadFailed {
        fn kind(&self) -> Kind {
            Kind::Input
        }
        fn hint(&self) -> Option<String> {
            Some("check the path".into())
        }
    }

    #[test]
    fn a_layer_error_keeps_its_text_kind_hint_and_chain() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = Error::from_layer(ReadFailed {
            path: "dockhand.yaml".into(),
            source: io,
        });
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            e.to_string(),
            "cannot read dockhand.yaml: no such file\n  hint: check the path"
        );
        let layer = e.layer::<ReadFailed>().expect("typed source");
        assert_eq!(layer.path, "dockhand.yaml");
        let io = StdError::source(&e)
            .and_then(StdError::source)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .expect("the I/O error at the end of the chain");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
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
