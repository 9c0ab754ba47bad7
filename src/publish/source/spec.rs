//! Parsing SOURCE strings (`oci:DIR[:REF]`, `docker-archive:FILE[:REF|:@N]`, …).
//!
//! The syntax is skopeo's, with one improvement: paths may contain ':'. `PATH:REF` is ambiguous
//! then, so the split prefers what exists on disk (the whole string as a path, else the shortest
//! existing prefix before a ':'); only when nothing exists does a syntactic rule decide, and the
//! error that follows ("no such file") names the source as written.

use std::fmt;
use std::path::{Path, PathBuf};

use super::{ArchiveSelector, SourceSpec};
use crate::error::{Error, Result};
use crate::naming::reference::Reference;

/// The accepted SOURCE forms, for hints and help texts.
pub const ACCEPTED_FORMS: &str = "give oci:DIR[:REF], oci-archive:FILE[:REF], \
docker-archive:FILE[:REF|:@N], docker://REF, or a plain image reference such as ghcr.io/owner/app:v1";

/// skopeo transports dockhand does not read; named so the error says "unsupported" rather than
/// "invalid reference".
const OTHER_TRANSPORTS: [&str; 8] = [
    "docker",
    "docker-daemon",
    "containers-storage",
    "dir",
    "ostree",
    "sif",
    "tarball",
    "oci-layout",
];

/// How `PATH:REF` is split when neither part exists on disk.
#[derive(Clone, Copy)]
enum Fallback {
    /// At the last ':' when what follows has no '/', so `dir/a:b` is `dir/a` + `b`.
    LastColon,
    /// At the first ':', as skopeo does: Docker references contain ':' themselves.
    FirstColon,
}

impl SourceSpec {
    /// Parses a SOURCE as written by the user.
    pub fn parse(s: &str) -> Result<SourceSpec> {
        if s.trim().is_empty() {
            return Err(Error::input("image source is empty").with_hint(ACCEPTED_FORMS));
        }
        if let Some(rest) = s.strip_prefix("oci:") {
            let (path, reference) = path_and_ref(s, rest, Fallback::LastColon)?;
            return Ok(SourceSpec::OciDir { path, reference });
        }
        if let Some(rest) = s.strip_prefix("oci-archive:") {
            let (path, reference) = path_and_ref(s, rest, Fallback::LastColon)?;
            return Ok(SourceSpec::OciArchive { path, reference });
        }
        if let Some(rest) = s.strip_prefix("docker-archive:") {
            let (path, reference) = path_and_ref(s, rest, Fallback::FirstColon)?;
            let selector = reference.map(|r| selector(s, &r)).transpose()?;
            return Ok(SourceSpec::DockerArchive { path, selector });
        }
        if let Some(rest) = s.strip_prefix("docker://") {
            return registry(s, rest);
        }
        if let Some(transport) = other_transport(s) {
            return Err(Error::input(format!(
                "image source {s:?} uses the {transport:?} transport, which dockhand does not read"
            ))
            .with_hint(ACCEPTED_FORMS));
        }
        registry(s, s)
    }
}

fn registry(source: &str, reference: &str) -> Result<SourceSpec> {
    match Reference::parse(reference) {
        Ok(_) => Ok(SourceSpec::Registry(reference.to_string())),
        Err(e) => Err(Error::input(format!(
            "image source {source:?} is not a valid source: {e}"
        ))
        .with_hint(ACCEPTED_FORMS)),
    }
}

/// `docker:x`, `docker-daemon:x`, … but not `dir:5000/app` (a registry host with a port).
fn other_transport(s: &str) -> Option<&str> {
    let (name, rest) = s.split_once(':')?;
    if !OTHER_TRANSPORTS.contains(&name) {
        return None;
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let is_port = digits > 0 && matches!(rest.as_bytes().get(digits), None | Some(b'/'));
    (!is_port).then_some(name)
}

fn selector(source: &str, reference: &str) -> Result<ArchiveSelector> {
    if let Some(n) = reference.strip_prefix('@') {
        return n.parse().map(ArchiveSelector::Index).map_err(|_| {
            Error::input(format!(
                "image source {source:?}: {reference:?} is not an image index; @N takes a \
                 number from 0"
            ))
            .with_hint(ACCEPTED_FORMS)
        });
    }
    Reference::parse(reference).map_err(|e| {
        Error::input(format!(
            "image source {source:?}: invalid image reference: {e}"
        ))
        .with_source(e)
        .with_hint(ACCEPTED_FORMS)
    })?;
    Ok(ArchiveSelector::Reference(reference.to_string()))
}

fn path_and_ref(source: &str, rest: &str, fallback: Fallback) -> Result<(PathBuf, Option<String>)> {
    let (path, reference) = split_path_ref(rest, fallback);
    if path.is_empty() {
        return Err(
            Error::input(format!("image source {source:?} has no path")).with_hint(ACCEPTED_FORMS)
        );
    }
    if reference == Some("") {
        return Err(Error::input(format!(
            "image source {source:?} ends with ':' but gives no reference after it; remove the ':'"
        ))
        .with_hint(ACCEPTED_FORMS));
    }
    Ok((PathBuf::from(path), reference.map(str::to_string)))
}

fn split_path_ref(rest: &str, fallback: Fallback) -> (&str, Option<&str>) {
    if !rest.contains(':') || Path::new(rest).exists() {
        return (rest, None);
    }
    let existing = rest
        .match_indices(':')
        .map(|(i, _)| i)
        .find(|&i| i > 0 && Path::new(&rest[..i]).exists());
    if let Some(i) = existing {
        return (&rest[..i], Some(&rest[i + 1..]));
    }
    match fallback {
        Fallback::FirstColon => match rest.split_once(':') {
            Some((p, r)) => (p, Some(r)),
            None => (rest, None),
        },
        Fallback::LastColon => match rest.rsplit_once(':') {
            Some((p, r)) if !r.contains('/') => (p, Some(r)),
            _ => (rest, None),
        },
    }
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::OciDir { path, reference } => {
                write!(f, "oci:{}", path.display())?;
                suffix(f, reference.as_deref())
            }
            SourceSpec::OciArchive { path, reference } => {
                write!(f, "oci-archive:{}", path.display())?;
                suffix(f, reference.as_deref())
            }
            SourceSpec::DockerArchive { path, selector } => {
                write!(f, "docker-archive:{}", path.display())?;
                match selector {
                    Some(ArchiveSelector::Reference(r)) => write!(f, ":{r}"),
                    Some(ArchiveSelector::Index(n)) => write!(f, ":@{n}"),
                    None => Ok(()),
                }
            }
            SourceSpec::Registry(r) => write!(f, "docker://{r}"),
        }
    }
}

fn suffix(f: &mut fmt::Formatter<'_>, reference: Option<&str>) -> fmt::Result {
    match reference {
        Some(r) => write!(f, ":{r}"),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;

    fn oci(path: &str, reference: Option<&str>) -> SourceSpec {
        SourceSpec::OciDir {
            path: path.into(),
            reference: reference.map(str::to_string),
        }
    }

    fn input_error(s: &str) -> Error {
        let e = SourceSpec::parse(s).unwrap_err();
        assert_eq!(e.kind, Kind::Input, "{s}");
        assert!(
            e.message.contains(s),
            "message names the source: {}",
            e.message
        );
        assert_eq!(e.hint.as_deref(), Some(ACCEPTED_FORMS));
        e
    }

    #[test]
    fn oci_paths_and_refs() {
        let p = |s| SourceSpec::parse(s).unwrap();
        assert_eq!(p("oci:/nonexistent/a:b"), oci("/nonexistent/a", Some("b")));
        assert_eq!(p("oci:build/x"), oci("build/x", None));
        assert_eq!(p("oci:/nonexistent/a:b/c"), oci("/nonexistent/a:b/c", None));
        assert_eq!(
            p("oci-archive:out.tar:v1"),
            SourceSpec::OciArchive {
                path: "out.tar".into(),
                reference: Some("v1".into())
            }
        );
    }

    #[test]
    fn existing_paths_with_colons_win() {
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("a:b");
        std::fs::create_dir(&odd).unwrap();
        let odd_s = odd.to_str().unwrap();
        assert_eq!(
            SourceSpec::parse(&format!("oci:{odd_s}")).unwrap(),
            oci(odd_s, None)
        );
        assert_eq!(
            SourceSpec::parse(&format!("oci:{odd_s}:v1")).unwrap(),
            oci(odd_s, Some("v1"))
        );
        // A ref with ':' is found after the existing directory, not split at its own ':'.
        let plain = dir.path().join("plain");
        std::fs::create_dir(&plain).unwrap();
        let plain_s = plain.to_str().unwrap();
        assert_eq!(
            SourceSpec::parse(&format!("oci:{plain_s}:example.com/app:v1")).unwrap(),
            oci(plain_s, Some("example.com/app:v1"))
        );
    }

    #[test]
    fn docker_archive_selectors() {
        let p = |s| SourceSpec::parse(s).unwrap();
        let da = |path: &str, selector| SourceSpec::DockerArchive {
            path: path.into(),
            selector,
        };
        assert_eq!(p("docker-archive:img.tar"), da("img.tar", None));
        assert_eq!(
            p("docker-archive:img.tar:app:v1"),
            da("img.tar", Some(ArchiveSelector::Reference("app:v1".into())))
        );
        assert_eq!(
            p("docker-archive:img.tar:@2"),
            da("img.tar", Some(ArchiveSelector::Index(2)))
        );
    }

    #[test]
    fn registry_references() {
        assert_eq!(
            SourceSpec::parse("docker://ghcr.io/o/app:v1").unwrap(),
            SourceSpec::Registry("ghcr.io/o/app:v1".into())
        );
        assert_eq!(
            SourceSpec::parse("localhost:5000/app").unwrap(),
            SourceSpec::Registry("localhost:5000/app".into())
        );
        assert_eq!(
            SourceSpec::parse("dir:5000/app").unwrap(),
            SourceSpec::Registry("dir:5000/app".into())
        );
    }

    #[test]
    fn bad_sources_are_input_errors_with_the_forms() {
        input_error("oci:");
        input_error("oci::v1");
        input_error("oci-archive:");
        input_error("docker-archive:/nonexistent/x.tar:@x");
        input_error("docker-archive:/nonexistent/x.tar:Bad/Name");
        input_error("docker://");
        input_error("Not A Reference");
        let e = input_error("docker-daemon:alpine:3");
        assert!(e.message.contains("docker-daemon"), "{}", e.message);
        input_error("docker:alpine");
    }

    #[test]
    fn trailing_colon_is_rejected() {
        let e = input_error("oci:/nonexistent/dir:");
        assert!(e.message.contains("no reference"), "{}", e.message);
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "oci:/x/y:v1",
            "oci-archive:a.tar",
            "docker-archive:a.tar:app:v1",
            "docker-archive:a.tar:@1",
            "docker://alpine",
        ] {
            assert_eq!(SourceSpec::parse(s).unwrap().to_string(), s);
        }
    }
}
