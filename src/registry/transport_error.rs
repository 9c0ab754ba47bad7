//! The transport's own failures (client setup, connection, TLS, timeouts, redirects, the retry
//! budget) as one typed enum: the texts are what the user reads, the lower `reqwest` error stays
//! reachable as the source. Statuses a registry answers with are worded by the layers above.

use crate::error::{Classify, Error, Kind};

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot set up the HTTP client: {source}")]
    ClientSetup {
        #[source]
        source: reqwest::Error,
    },
    /// `attempt` is `METHOD URL failed`.
    #[error("{attempt}: no connection to {host} within {limit} (--connect-timeout)")]
    ConnectTimeout {
        attempt: String,
        host: String,
        limit: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{method} {url} failed: no answer from {host} for {limit} (--read-timeout)")]
    Idle {
        method: String,
        url: String,
        host: String,
        limit: String,
    },
    /// `what` is the TLS problem in words, the host already in it; `verified` says whether
    /// the certificate (rather than the protocol) was the problem.
    #[error("{attempt}: {what}")]
    Tls {
        attempt: String,
        what: String,
        host: String,
        verified: bool,
        #[source]
        source: reqwest::Error,
    },
    /// Any other failed send; `chain` is the error chain in words, scrubbed.
    #[error("{attempt}: {chain}")]
    Send {
        attempt: String,
        chain: String,
        #[source]
        source: reqwest::Error,
    },
    #[error(
        "{host} redirected {method} {url} to plain HTTP ({next}); refused, because {target} is \
         not an insecure registry"
    )]
    PlainHttpRedirect {
        host: String,
        method: String,
        url: String,
        next: String,
        target: String,
    },
    #[error("too many redirects for {url}")]
    TooManyRedirects { url: String },
    #[error("{host} asks to wait {secs} s ({why}); not waited: {spent}")]
    BudgetSpent {
        host: String,
        secs: f64,
        why: String,
        spent: String,
    },
    #[error("no answer from {host} within {limit}")]
    ProbeTimeout { host: String, limit: String },
}

impl Classify for TransportError {
    fn kind(&self) -> Kind {
        Kind::Operation
    }

    fn hint(&self) -> Option<String> {
        match self {
            TransportError::ConnectTimeout { host, .. } => Some(format!(
                "check the address and that {host} is reachable from here; raise --connect-timeout (DOCKHAND_CONNECT_TIMEOUT) on a slow network"
            )),
            TransportError::Idle { host, .. } => Some(format!(
                "check that {host} is a reachable registry; raise --read-timeout (DOCKHAND_READ_TIMEOUT) if it is just slow"
            )),
            TransportError::Tls {
                host,
                verified: true,
                ..
            } => Some(format!(
                "if {host} uses a private or self-signed certificate authority, put its certificate in a PEM file and set SSL_CERT_FILE to it (or SSL_CERT_DIR to its directory); to skip verification for this host only, pass --insecure-registry {host}"
            )),
            TransportError::Tls { host, .. } => Some(format!(
                "check that {host} serves HTTPS on this port; for a registry that speaks plain HTTP, pass --insecure-registry {host}"
            )),
            TransportError::PlainHttpRedirect { target, .. } => Some(format!(
                "if {target} may be reached without TLS, pass --insecure-registry {target}"
            )),
            TransportError::BudgetSpent { .. } => {
                Some("try again later, or raise --retry-budget".to_string())
            }
            TransportError::ClientSetup { .. }
            | TransportError::Send { .. }
            | TransportError::TooManyRedirects { .. }
            | TransportError::ProbeTimeout { .. } => None,
        }
    }
}

impl From<TransportError> for Error {
    fn from(e: TransportError) -> Error {
        Error::from_layer(e)
    }
}
