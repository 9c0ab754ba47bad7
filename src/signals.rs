//! SIGINT and SIGTERM: stop the run cleanly and say so.
//!
//! `main` races the command against [`Stop::wait`]. When a signal wins, the command's future is
//! dropped: no new work starts, requests in flight are aborted (dropping a reqwest future closes
//! its connection), and temp dirs are removed by their owners' `Drop`. The exit code follows the
//! shell convention 128 + signal number: 130 for SIGINT, 143 for SIGTERM.
//!
//! Installing the handlers also matters as a container's PID 1: the kernel does not deliver a
//! signal to a namespace's init process when its disposition is the default (pid_namespaces(7)),
//! so without a handler SIGTERM from `docker stop` or a cancelled CI job is ignored.

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::error::{Error, Kind, Result};

/// Installed SIGINT and SIGTERM handlers.
pub struct Stop {
    int: Signal,
    term: Signal,
}

impl Stop {
    /// Installs both handlers now (a signal that arrives later is seen by [`Stop::wait`]).
    pub fn install() -> Result<Stop> {
        let install = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|e| {
                Error::operation(format!("cannot install a handler for {name}: {e}")).with_source(e)
            })
        };
        Ok(Stop {
            int: install(SignalKind::interrupt(), "SIGINT")?,
            term: install(SignalKind::terminate(), "SIGTERM")?,
        })
    }

    /// Waits for the first of SIGINT and SIGTERM; the error to end the run with.
    pub async fn wait(&mut self) -> Error {
        let (kind, name) = tokio::select! {
            _ = self.int.recv() => (Kind::Interrupted, "SIGINT"),
            _ = self.term.recv() => (Kind::Terminated, "SIGTERM"),
        };
        Error::new(
            kind,
            format!("interrupted by {name}; stopped the work in progress"),
        )
    }
}
