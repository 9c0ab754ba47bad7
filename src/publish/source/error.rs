//! The local sources' failures that wrap a lower error: the text is the message the user reads,
//! the I/O or JSON error stays its source.

use crate::error::{Classify, Error, Kind};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{label}: cannot read {what}: {source}")]
    Read {
        label: String,
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// `what` names the file and what is wrong with it (`LABEL: index.json is invalid`).
    #[error("{what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

impl Classify for SourceError {
    fn kind(&self) -> Kind {
        Kind::Input
    }
}

/// `LABEL: cannot read WHAT: REASON`.
pub(super) fn io_error(label: &str, what: impl std::fmt::Display, e: std::io::Error) -> Error {
    Error::from_layer(SourceError::Read {
        label: label.to_string(),
        what: what.to_string(),
        source: e,
    })
}

/// `WHAT: REASON` for a JSON file that does not parse.
pub(super) fn json_error(what: String, e: serde_json::Error) -> Error {
    Error::from_layer(SourceError::Json { what, source: e })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages, pinned as they were before the typed errors (they must not change).
    #[test]
    fn messages_are_pinned() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e = io_error("oci:/x", "blobs/sha256/ab", io);
        assert_eq!(e.to_string(), "oci:/x: cannot read blobs/sha256/ab: gone");
        assert_eq!(e.kind, Kind::Input);
        let json = serde_json::from_slice::<serde_json::Value>(b"{").unwrap_err();
        let text = json.to_string();
        let e = json_error("oci:/x: index.json is invalid".into(), json);
        assert_eq!(
            e.to_string(),
            format!("oci:/x: index.json is invalid: {text}")
        );
        assert!(matches!(
            e.layer::<SourceError>(),
            Some(SourceError::Json { .. })
        ));
    }
}
