//! Image references (`ghcr.io/owner/app:v1@sha256:…`) and the `--images-repo` address.
//!
//! Parsing follows Docker's normalisation so that what users type behaves as it does with
//! `docker pull`: `alpine` is `docker.io/library/alpine`, and the first path component is a
//! registry host only when it looks like one (contains `.` or `:`, or is `localhost`).
//! Everything is checked up front so that a bad name fails as input (exit 2) before any request,
//! with a message that says what to change.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use super::path::{PathProblem, check_repository_path, is_lower_alnum};
use super::tag::{TagError, validate_tag};

/// The canonical name of Docker Hub's registry.
pub const DOCKER_HUB: &str = "docker.io";

/// Longest `host/repository` clients accept (Docker's limit).
pub const MAX_NAME_LEN: usize = 255;

/// Other spellings of Docker Hub that must compare equal to [`DOCKER_HUB`].
const DOCKER_HUB_ALIASES: [&str; 3] = [
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];

/// Why a reference, an images repo or a digest was rejected.
///
/// Every message names the offending part and, where one exists, the fix.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReferenceError {
    #[error("image reference is empty; give one such as \"alpine:3\" or \"ghcr.io/owner/app:v1\"")]
    Empty,
    #[error(
        "images repo is empty; give a registry, an account or a repository, such as \
         \"registry.example.com\", \"flant\" or \"quay.io/acme/app\""
    )]
    EmptyImagesRepo,
    #[error("{input:?} has a URL scheme; give a reference without \"{scheme}://\"")]
    Scheme { input: String, scheme: String },
    #[error("{input:?} contains whitespace or a control character ({ch:?}); remove it")]
    Whitespace { input: String, ch: char },
    #[error(
        "{input:?} has an empty path component (leading, trailing or doubled '/'); remove the \
         extra '/'"
    )]
    EmptyComponent { input: String },
    #[error(
        "{input:?} names the registry {host:?} but no repository; add one, e.g. \"{host}/app\""
    )]
    MissingRepository { input: String, host: String },
    #[error("repository {repository:?} must be lowercase: use {suggestion:?}")]
    Uppercase {
        repository: String,
        suggestion: String,
    },
    #[error(
        "repository component {component:?} in {input:?} is invalid: use lowercase letters and \
         digits, joined by '.', '_', '__' or runs of '-'"
    )]
    InvalidComponent { input: String, component: String },
    #[error("registry host {host:?} in {input:?} is invalid: {reason}")]
    InvalidHost {
        input: String,
        host: String,
        reason: String,
    },
    #[error(
        "{input:?} is {len} characters long as host/repository; the limit is {MAX_NAME_LEN}: use a \
         shorter repository name"
    )]
    TooLong { input: String, len: usize },
    #[error("invalid tag {tag:?} in {input:?}: {problem}")]
    InvalidTag {
        input: String,
        tag: String,
        problem: TagError,
    },
    #[error("invalid digest in {input:?}: {problem}")]
    InvalidDigest { input: String, problem: DigestError },
    #[error("images repo {input:?} must not carry a tag; remove \":{tag}\"")]
    ImagesRepoTag { input: String, tag: String },
    #[error(
        "images repo {input:?} must not carry a tag; remove \":{tag}\" (or, if it is a registry \
         host with port {tag}, write \"{input}/\")"
    )]
    ImagesRepoTagOrPort { input: String, tag: String },
    #[error("images repo {input:?} must not carry a digest; remove \"@{digest}\"")]
    ImagesRepoDigest { input: String, digest: String },
}

/// Why a digest string is not a valid OCI digest.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DigestError {
    #[error("digest is empty; give one such as \"sha256:<64 hex digits>\"")]
    Empty,
    #[error("digest {digest:?} must have the form ALGORITHM:HEX, e.g. \"sha256:<64 hex digits>\"")]
    MissingAlgorithm { digest: String },
    #[error(
        "digest algorithm {algorithm:?} is invalid: use lowercase letters and digits, e.g. \
         \"sha256\""
    )]
    InvalidAlgorithm { algorithm: String },
    #[error("{algorithm} digest has {actual} hex digits; it must have exactly {expected}")]
    WrongLength {
        algorithm: String,
        expected: usize,
        actual: usize,
    },
    #[error("digest hex must be lowercase: use {suggestion:?}")]
    Uppercase { suggestion: String },
    #[error("{algorithm} digest contains {ch:?}, which is not a hex digit")]
    NotHex { algorithm: String, ch: char },
    #[error("digest contains {ch:?}; after ':' only letters, digits, '=', '_' and '-' are allowed")]
    InvalidEncoded { ch: char },
}

/// Docker Hub under its canonical name; every other host unchanged.
///
/// Hub has several historical host names; treating them as one keeps detection, credentials and
/// printed references consistent whichever spelling the user gave.
pub fn canonical_registry(host: &str) -> &str {
    if DOCKER_HUB_ALIASES
        .iter()
        .any(|alias| alias.eq_ignore_ascii_case(host))
    {
        DOCKER_HUB
    } else {
        host
    }
}

// ---------------------------------------------------------------------------------------------
// Digest

/// A content digest such as `sha256:<64 lowercase hex>`.
///
/// sha256 and sha512 are checked strictly (length and lowercase hex) because registries compare
/// them byte for byte; other algorithms are accepted when they match the OCI digest grammar.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    algorithm: String,
    hex: String,
}

impl Digest {
    /// Parses `ALGORITHM:ENCODED`.
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        if s.is_empty() {
            return Err(DigestError::Empty);
        }
        let Some((algorithm, encoded)) = s.split_once(':') else {
            return Err(DigestError::MissingAlgorithm {
                digest: s.to_string(),
            });
        };
        if !is_valid_algorithm(algorithm) {
            return Err(DigestError::InvalidAlgorithm {
                algorithm: algorithm.to_string(),
            });
        }
        check_encoded(algorithm, encoded)?;
        Ok(Digest {
            algorithm: algorithm.to_string(),
            hex: encoded.to_string(),
        })
    }

    /// A sha256 digest from its hex form (64 lowercase hex digits).
    pub fn of_sha256_hex(hex: &str) -> Result<Digest, DigestError> {
        check_encoded("sha256", hex)?;
        Ok(Digest {
            algorithm: "sha256".to_string(),
            hex: hex.to_string(),
        })
    }

    /// A sha256 digest from the raw hash bytes; infallible, for digests we compute ourselves.
    pub fn from_sha256_bytes(bytes: &[u8; 32]) -> Digest {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(64);
        for byte in bytes {
            hex.push(char::from(HEX[usize::from(byte >> 4)]));
            hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        Digest {
            algorithm: "sha256".to_string(),
            hex,
        }
    }

    /// The algorithm part, e.g. `sha256`.
    pub fn algorithm(&self) -> &str {
        &self.algorithm
    }

    /// The encoded part after `:` (hex for sha256/sha512).
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

/// OCI grammar: `[a-z0-9]+(?:[.+_-][a-z0-9]+)*`.
fn is_valid_algorithm(algorithm: &str) -> bool {
    algorithm
        .split(['.', '+', '_', '-'])
        .all(|part| !part.is_empty() && part.bytes().all(is_lower_alnum))
}

/// Checks the encoded part: exact lowercase hex for sha256/sha512, the OCI charset otherwise.
fn check_encoded(algorithm: &str, encoded: &str) -> Result<(), DigestError> {
    let expected = match algorithm {
        "sha256" => Some(64),
        "sha512" => Some(128),
        _ => None,
    };
    let Some(expected) = expected else {
        if encoded.is_empty() {
            return Err(DigestError::MissingAlgorithm {
                digest: format!("{algorithm}:"),
            });
        }
        return match encoded
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || "=_-".contains(c)))
        {
            Some(ch) => Err(DigestError::InvalidEncoded { ch }),
            None => Ok(()),
        };
    };
    if let Some(ch) = encoded.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(DigestError::NotHex {
            algorithm: algorithm.to_string(),
            ch,
        });
    }
    if encoded.len() != expected {
        return Err(DigestError::WrongLength {
            algorithm: algorithm.to_string(),
            expected,
            actual: encoded.len(),
        });
    }
    if encoded.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(DigestError::Uppercase {
            suggestion: format!("{algorithm}:{}", encoded.to_ascii_lowercase()),
        });
    }
    Ok(())
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// Reference

/// A fully normalised image reference: `registry/repository[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Canonical registry host (with port), e.g. `docker.io`, `localhost:5000`.
    pub registry: String,
    /// Repository path, e.g. `library/alpine`, `owner/app`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalises a reference the way Docker does.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        if input.is_empty() {
            return Err(ReferenceError::Empty);
        }
        check_common(input)?;
        let (rest, digest) = match input.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (input, None),
        };
        let (name, tag) = split_tag(rest);
        let (host, path) = split_host(name);
        if let Some(host) = host {
            check_host(input, host)?;
        }
        let registry = host.map_or(DOCKER_HUB, canonical_registry).to_string();
        check_path(input, path, host.unwrap_or(DOCKER_HUB))?;
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        check_length(input, registry.len() + 1 + repository.len())?;
        if let Some(tag) = tag {
            validate_tag(tag).map_err(|problem| ReferenceError::InvalidTag {
                input: input.to_string(),
                tag: tag.to_string(),
                problem,
            })?;
        }
        let digest = digest.map(Digest::parse).transpose().map_err(|problem| {
            ReferenceError::InvalidDigest {
                input: input.to_string(),
                problem,
            }
        })?;
        Ok(Reference {
            registry,
            repository,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// `registry/repository`, without tag or digest.
    pub fn repository_ref(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The short form users type: `docker.io/` and a sole `library/` dropped (`alpine:3`).
    pub fn familiar(&self) -> String {
        let name = if self.registry == DOCKER_HUB {
            match self.repository.strip_prefix("library/") {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.repository.clone(),
            }
        } else {
            self.repository_ref()
        };
        format!("{name}{}", self.suffix())
    }

    /// The same repository under `tag` (any digest is kept).
    pub fn with_tag(&self, tag: &str) -> Result<Reference, TagError> {
        validate_tag(tag)?;
        Ok(Reference {
            tag: Some(tag.to_string()),
            ..self.clone()
        })
    }

    /// The same repository and tag pinned to `digest`.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// `:tag@digest`, each part only when present.
    fn suffix(&self) -> String {
        let mut s = String::new();
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(&digest.to_string());
        }
        s
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}{}", self.registry, self.repository, self.suffix())
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

impl Serialize for Reference {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Reference::parse(&s).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// ImagesRepo

/// The `--images-repo` address: a registry, an account/namespace or a repository.
///
/// Unlike a [`Reference`], a hostless single name is an account (`flant` → `docker.io/flant`),
/// never `library/flant`, and a lone `host.name` or `host:port` is a bare registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagesRepo {
    /// Host as written (with port); `docker.io` when the address has no host.
    pub host: String,
    /// Path components; empty for a bare registry.
    pub path: Vec<String>,
}

impl ImagesRepo {
    /// Parses an images-repo address; a trailing `/` is tolerated.
    pub fn parse(input: &str) -> Result<ImagesRepo, ReferenceError> {
        if input.is_empty() {
            return Err(ReferenceError::EmptyImagesRepo);
        }
        check_common(input)?;
        if let Some((_, digest)) = input.split_once('@') {
            return Err(ReferenceError::ImagesRepoDigest {
                input: input.to_string(),
                digest: digest.to_string(),
            });
        }
        let trimmed = input.strip_suffix('/').unwrap_or(input);
        if trimmed.is_empty() {
            return Err(ReferenceError::EmptyComponent {
                input: input.to_string(),
            });
        }
        let (host, path) = match trimmed.split_once('/') {
            Some((first, rest)) if is_host_like(first) => (Some(first), rest),
            Some(_) => (None, trimmed),
            None if input.ends_with('/') && is_host_like(trimmed) => (Some(trimmed), ""),
            None if is_bare_host(trimmed) => (Some(trimmed), ""),
            None => (None, trimmed),
        };
        check_no_tag(input, host, path)?;
        if let Some(host) = host {
            check_host(input, host)?;
        }
        let host = host.unwrap_or(DOCKER_HUB);
        if !path.is_empty() {
            check_path(input, path, host)?;
        }
        check_length(input, host.len() + 1 + path.len())?;
        let path = if path.is_empty() {
            Vec::new()
        } else {
            path.split('/').map(str::to_string).collect()
        };
        Ok(ImagesRepo {
            host: host.to_string(),
            path,
        })
    }

    /// The path joined by `/` (empty for a bare registry).
    pub fn repository(&self) -> String {
        self.path.join("/")
    }

    /// Whether the address is only a registry host.
    pub fn is_bare_registry(&self) -> bool {
        self.path.is_empty()
    }

    /// The canonical registry host (Docker Hub aliases folded to `docker.io`).
    pub fn registry(&self) -> &str {
        canonical_registry(&self.host)
    }
}

impl fmt::Display for ImagesRepo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.host)?;
        for component in &self.path {
            write!(f, "/{component}")?;
        }
        Ok(())
    }
}

impl FromStr for ImagesRepo {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImagesRepo::parse(s)
    }
}

/// A tag in an images repo is a mistake; `host:port` without a dot is ambiguous, so the error
/// for that shape also says how to mean a port.
fn check_no_tag(input: &str, host: Option<&str>, path: &str) -> Result<(), ReferenceError> {
    let last = path.rsplit('/').next().unwrap_or(path);
    let Some((_, tag)) = last.split_once(':') else {
        return Ok(());
    };
    let tag = tag.to_string();
    let input = input.to_string();
    if host.is_none() && !path.contains('/') {
        Err(ReferenceError::ImagesRepoTagOrPort { input, tag })
    } else {
        Err(ReferenceError::ImagesRepoTag { input, tag })
    }
}

/// A lone first component that can only be a registry: a dotted name, `localhost[:port]` or an
/// IPv6 literal. A dotless `name:123` stays ambiguous (Docker reads it as a tag).
fn is_bare_host(s: &str) -> bool {
    s.contains('.') || s == "localhost" || s.starts_with("localhost:") || s.starts_with('[')
}

// ---------------------------------------------------------------------------------------------
// Shared checks

/// Docker's rule for the first path component: a host if it has `.` or `:` or is `localhost`.
fn is_host_like(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost"
}

/// Splits `name[:tag]`: the tag is after the last `:` that follows the last `/` (so ports stay).
fn split_tag(s: &str) -> (&str, Option<&str>) {
    let after_slash = s.rfind('/').map_or(0, |i| i + 1);
    match s[after_slash..].rfind(':') {
        Some(i) => (&s[..after_slash + i], Some(&s[after_slash + i + 1..])),
        None => (s, None),
    }
}

/// Splits `host/path` when the first component looks like a host.
fn split_host(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest)) if is_host_like(first) => (Some(first), rest),
        _ => (None, name),
    }
}

/// Rejects what is never part of a reference and deserves its own message.
fn check_common(input: &str) -> Result<(), ReferenceError> {
    if let Some((scheme, _)) = input.split_once("://")
        && is_url_scheme(scheme)
    {
        return Err(ReferenceError::Scheme {
            input: input.to_string(),
            scheme: scheme.to_string(),
        });
    }
    if let Some(ch) = input.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(ReferenceError::Whitespace {
            input: input.to_string(),
            ch,
        });
    }
    Ok(())
}

/// RFC 3986 scheme: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn is_url_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

fn check_length(input: &str, len: usize) -> Result<(), ReferenceError> {
    if len > MAX_NAME_LEN {
        return Err(ReferenceError::TooLong {
            input: input.to_string(),
            len,
        });
    }
    Ok(())
}

/// Validates a registry host: DNS-style labels or a bracketed IPv6 address, optional port.
fn check_host(input: &str, host: &str) -> Result<(), ReferenceError> {
    host_problem(host).map_or(Ok(()), |reason| {
        Err(ReferenceError::InvalidHost {
            input: input.to_string(),
            host: host.to_string(),
            reason,
        })
    })
}

fn host_problem(host: &str) -> Option<String> {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((address, after)) = rest.split_once(']') else {
            return Some("an IPv6 address must be closed with ']'".to_string());
        };
        if address.parse::<Ipv6Addr>().is_err() {
            return Some(format!("{address:?} is not an IPv6 address"));
        }
        match after {
            "" => return None,
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return Some(format!("unexpected {after:?} after the IPv6 address")),
            },
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(host), None),
        }
    };
    name.and_then(hostname_problem)
        .or_else(|| port.and_then(port_problem))
}

fn hostname_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("the host name is empty".to_string());
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Some("it has an empty label (leading, trailing or doubled '.')".to_string());
        }
        if label.len() > 63 {
            return Some(format!("label {label:?} is longer than 63 characters"));
        }
        if let Some(ch) = label
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || c == '-'))
        {
            return Some(format!(
                "{ch:?} is not allowed in a host name (letters, digits, '-' and '.')"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some(format!("label {label:?} must not start or end with '-'"));
        }
    }
    None
}

fn port_problem(port: &str) -> Option<String> {
    let valid = !port.is_empty()
        && port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>().is_ok_and(|p| (1..=65_535).contains(&p));
    (!valid).then(|| format!("port {port:?} is not a number from 1 to 65535"))
}

/// Validates a repository path and maps problems to errors that name `input`.
fn check_path(input: &str, path: &str, host: &str) -> Result<(), ReferenceError> {
    check_repository_path(path).map_err(|problem| match problem {
        PathProblem::Empty => ReferenceError::MissingRepository {
            input: input.to_string(),
            host: host.to_string(),
        },
        PathProblem::EmptyComponent => ReferenceError::EmptyComponent {
            input: input.to_string(),
        },
        PathProblem::Uppercase { suggestion } => ReferenceError::Uppercase {
            repository: path.to_string(),
            suggestion,
        },
        PathProblem::InvalidComponent { component } => ReferenceError::InvalidComponent {
            input: input.to_string(),
            component,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parse(s: &str) -> Reference {
        Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> ReferenceError {
        match Reference::parse(s) {
            Ok(r) => panic!("{s} parsed as {r}"),
            Err(e) => e,
        }
    }

    fn full(s: &str) -> String {
        parse(s).to_string()
    }

    // --- normalisation ---

    #[test]
    fn official_image_gets_docker_io_and_library() {
        let r = parse("alpine");
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r.repository, "library/alpine");
        assert_eq!(r.tag, None);
        assert_eq!(r.digest, None);
        assert_eq!(r.to_string(), "docker.io/library/alpine");
    }

    #[test]
    fn official_image_with_tag() {
        assert_eq!(full("alpine:3.19"), "docker.io/library/alpine:3.19");
    }

    #[test]
    fn user_image_on_docker_hub() {
        assert_eq!(full("flant/werf"), "docker.io/flant/werf");
        assert_eq!(full("flant/werf:v1"), "docker.io/flant/werf:v1");
    }

    #[test]
    fn explicit_docker_io_single_component_gets_library() {
        assert_eq!(full("docker.io/alpine"), "docker.io/library/alpine");
        assert_eq!(full("docker.io/library/alpine"), "docker.io/library/alpine");
    }

    #[test]
    fn docker_hub_aliases_are_folded() {
        assert_eq!(full("index.docker.io/flant/werf"), "docker.io/flant/werf");
        assert_eq!(
            full("registry-1.docker.io/library/alpine"),
            "docker.io/library/alpine"
        );
        assert_eq!(
            full("registry.hub.docker.com/alpine"),
            "docker.io/library/alpine"
        );
        assert_eq!(full("Index.Docker.IO/alpine"), "docker.io/library/alpine");
        assert_eq!(canonical_registry("ghcr.io"), "ghcr.io");
        assert_eq!(canonical_registry("docker.io"), "docker.io");
    }

    #[test]
    fn localhost_is_a_registry() {
        let r = parse("localhost/app");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("localhost", "app")
        );
    }

    #[test]
    fn localhost_with_port() {
        let r = parse("localhost:5000/x");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("localhost:5000", "x", None)
        );
        assert_eq!(full("localhost:5000/a/b:v2"), "localhost:5000/a/b:v2");
    }

    #[test]
    fn ipv6_registry_with_port() {
        let r = parse("[::1]:5000/x");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("[::1]:5000", "x")
        );
        assert_eq!(full("[fe80::1]/x:t"), "[fe80::1]/x:t");
    }

    #[test]
    fn ipv4_registry_with_port_and_tag() {
        let r = parse("127.0.0.1:5000/x:tag");
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "x");
        assert_eq!(r.tag.as_deref(), Some("tag"));
    }

    #[test]
    fn deep_paths_on_other_registries_are_kept() {
        let r = parse("registry.gitlab.com/group/sub/project/image:1.0");
        assert_eq!(r.registry, "registry.gitlab.com");
        assert_eq!(r.repository, "group/sub/project/image");
        assert_eq!(full("ghcr.io/owner/app"), "ghcr.io/owner/app");
    }

    #[test]
    fn dotless_first_component_is_a_path() {
        // Docker: `foo/bar` is on Docker Hub, not on a host called `foo`.
        assert_eq!(full("foo/bar/baz"), "docker.io/foo/bar/baz");
    }

    #[test]
    fn lone_host_like_name_without_slash_is_a_repository() {
        // Docker reads a name without '/' as a repository, and `localhost:5000` as name:tag.
        assert_eq!(full("localhost:5000"), "docker.io/library/localhost:5000");
        assert_eq!(
            full("registry.example.com"),
            "docker.io/library/registry.example.com"
        );
    }

    // --- digests ---

    #[test]
    fn digest_only() {
        let r = parse(&format!("alpine@{SHA}"));
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_ref().map(Digest::algorithm), Some("sha256"));
        assert_eq!(r.to_string(), format!("docker.io/library/alpine@{SHA}"));
    }

    #[test]
    fn tag_and_digest() {
        let r = parse(&format!("localhost:5000/app:v1@{SHA}"));
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(
            r.digest.as_ref().map(ToString::to_string).as_deref(),
            Some(SHA)
        );
        assert_eq!(r.to_string(), format!("localhost:5000/app:v1@{SHA}"));
    }

    #[test]
    fn bad_digest_in_reference() {
        let e = err("alpine@sha256:abc");
        assert!(
            matches!(
                &e,
                ReferenceError::InvalidDigest {
                    problem: DigestError::WrongLength {
                        expected: 64,
                        actual: 3,
                        ..
                    },
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(matches!(
            err("alpine@"),
            ReferenceError::InvalidDigest {
                problem: DigestError::Empty,
                ..
            }
        ));
        assert!(matches!(
            err(&format!("alpine@{SHA}@x")),
            ReferenceError::InvalidDigest { .. }
        ));
    }

    #[test]
    fn digest_parsing() {
        let d = Digest::parse(SHA).unwrap();
        assert_eq!(d.algorithm(), "sha256");
        assert_eq!(d.hex().len(), 64);
        assert_eq!(d.to_string(), SHA);
        assert_eq!(SHA.parse::<Digest>(), Ok(d));
        let sha512 = format!("sha512:{}", "a".repeat(128));
        assert_eq!(Digest::parse(&sha512).map(|d| d.to_string()), Ok(sha512));
        assert!(matches!(
            Digest::parse(&format!("sha512:{}", "a".repeat(64))),
            Err(DigestError::WrongLength {
                expected: 128,
                actual: 64,
                ..
            })
        ));
        // Other algorithms follow the OCI grammar.
        assert!(
            Digest::parse("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8")
                .is_ok()
        );
        assert!(Digest::parse("blake3:abc=_-").is_ok());
        assert_eq!(Digest::parse(""), Err(DigestError::Empty));
        assert!(matches!(
            Digest::parse("abc"),
            Err(DigestError::MissingAlgorithm { .. })
        ));
        assert!(matches!(
            Digest::parse("SHA256:abc"),
            Err(DigestError::InvalidAlgorithm { .. })
        ));
        assert!(matches!(
            Digest::parse(":abc"),
            Err(DigestError::InvalidAlgorithm { .. })
        ));
        assert!(matches!(
            Digest::parse("sha+:abc"),
            Err(DigestError::InvalidAlgorithm { .. })
        ));
        assert!(matches!(
            Digest::parse("foo:"),
            Err(DigestError::MissingAlgorithm { .. })
        ));
        assert!(matches!(
            Digest::parse("foo:a/b"),
            Err(DigestError::InvalidEncoded { ch: '/' })
        ));
        assert!(matches!(
            Digest::parse(&format!("sha256:{}", "g".repeat(64))),
            Err(DigestError::NotHex { ch: 'g', .. })
        ));
    }

    #[test]
    fn uppercase_digest_hex_suggests_lowercase() {
        let upper = format!("sha256:{}", "AB".repeat(32));
        let e = Digest::parse(&upper).unwrap_err();
        assert_eq!(
            e,
            DigestError::Uppercase {
                suggestion: format!("sha256:{}", "ab".repeat(32))
            }
        );
        assert!(e.to_string().contains("must be lowercase"));
    }

    #[test]
    fn digest_constructors() {
        let hex = &SHA["sha256:".len()..];
        assert_eq!(
            Digest::of_sha256_hex(hex).map(|d| d.to_string()).as_deref(),
            Ok(SHA)
        );
        assert!(Digest::of_sha256_hex("abc").is_err());
        assert!(Digest::of_sha256_hex(&hex.to_uppercase()).is_err());
        let mut bytes = [0u8; 32];
        bytes[0] = 0xab;
        bytes[31] = 0x0f;
        let d = Digest::from_sha256_bytes(&bytes);
        assert_eq!(d.hex(), format!("ab{}0f", "0".repeat(60)));
        assert_eq!(Digest::parse(&d.to_string()), Ok(d));
    }

    #[test]
    fn digest_and_reference_serde_as_strings() {
        let d = Digest::parse(SHA).unwrap();
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{SHA}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"sha256:xyz\"").is_err());
        let r = parse("alpine:3");
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            "\"docker.io/library/alpine:3\""
        );
        assert_eq!(
            serde_json::from_str::<Reference>("\"alpine:3\"").unwrap(),
            r
        );
    }

    // --- errors ---

    #[test]
    fn uppercase_repository_suggests_lowercase() {
        let e = err("Flant/App");
        assert_eq!(
            e,
            ReferenceError::Uppercase {
                repository: "Flant/App".into(),
                suggestion: "flant/app".into()
            }
        );
        assert_eq!(
            e.to_string(),
            r#"repository "Flant/App" must be lowercase: use "flant/app""#
        );
        assert!(matches!(
            err("ghcr.io/Owner/app:v1"),
            ReferenceError::Uppercase { .. }
        ));
    }

    #[test]
    fn uppercase_host_is_fine() {
        assert_eq!(full("GHCR.io/owner/app"), "GHCR.io/owner/app");
    }

    #[test]
    fn scheme_prefix_is_rejected_with_fix() {
        let e = err("https://x");
        assert_eq!(
            e.to_string(),
            r#""https://x" has a URL scheme; give a reference without "https://""#
        );
        assert!(matches!(
            err("docker://alpine"),
            ReferenceError::Scheme { .. }
        ));
    }

    #[test]
    fn empty_input_and_components() {
        assert_eq!(err(""), ReferenceError::Empty);
        assert!(matches!(err("a//b"), ReferenceError::EmptyComponent { .. }));
        assert!(matches!(
            err("/alpine"),
            ReferenceError::EmptyComponent { .. }
        ));
        assert!(matches!(
            err("ghcr.io/owner/"),
            ReferenceError::EmptyComponent { .. }
        ));
        assert!(matches!(
            err("ghcr.io//app"),
            ReferenceError::EmptyComponent { .. }
        ));
        assert!(err("a//b").to_string().contains("remove the extra '/'"));
    }

    #[test]
    fn registry_without_repository() {
        let e = err("localhost:5000/");
        assert_eq!(
            e,
            ReferenceError::MissingRepository {
                input: "localhost:5000/".into(),
                host: "localhost:5000".into()
            }
        );
        assert!(e.to_string().contains("\"localhost:5000/app\""));
    }

    #[test]
    fn too_long_tag_in_reference() {
        let input = format!("alpine:{}", "a".repeat(129));
        let e = err(&input);
        assert!(
            matches!(
                &e,
                ReferenceError::InvalidTag {
                    problem: TagError::TooLong { len: 129 },
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("129") && e.to_string().contains("128"));
        assert!(Reference::parse(&format!("alpine:{}", "a".repeat(128))).is_ok());
    }

    #[test]
    fn invalid_tags_in_reference() {
        assert!(matches!(
            err("alpine:"),
            ReferenceError::InvalidTag {
                problem: TagError::Empty,
                ..
            }
        ));
        assert!(matches!(
            err("alpine:-x"),
            ReferenceError::InvalidTag {
                problem: TagError::BadStart { .. },
                ..
            }
        ));
        assert!(matches!(
            err("alpine:a+b"),
            ReferenceError::InvalidTag { .. }
        ));
    }

    #[test]
    fn invalid_components() {
        for bad in ["a..b", "-a", "a-", "a___b", "_a", "a/b.", "x/a$b"] {
            assert!(
                matches!(err(bad), ReferenceError::InvalidComponent { .. }),
                "{bad}: {:?}",
                err(bad)
            );
        }
        for good in ["a.b", "a_b", "a__b", "a-b", "a---b", "a0/9z", "a.b-c_d__e"] {
            assert!(Reference::parse(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn invalid_hosts() {
        let cases = [
            "localhost:0/x",
            "localhost:65536/x",
            "localhost:abc/x",
            "localhost:/x",
            "-bad.example.com/x",
            "bad-.example.com/x",
            "a..b.com/x",
            "[::zz]:5000/x",
            "[::1/x",
            "[::1]5000/x",
            "exa_mple.com/x",
        ];
        for bad in cases {
            assert!(
                matches!(err(bad), ReferenceError::InvalidHost { .. }),
                "{bad}: {:?}",
                err(bad)
            );
        }
        assert!(Reference::parse("localhost:65535/x").is_ok());
        assert!(Reference::parse("localhost:1/x").is_ok());
        let msg = err("localhost:99999/x").to_string();
        assert!(
            msg.contains("\"99999\"") && msg.contains("1 to 65535"),
            "{msg}"
        );
    }

    #[test]
    fn whitespace_is_named() {
        assert_eq!(
            err("alpine\n"),
            ReferenceError::Whitespace {
                input: "alpine\n".into(),
                ch: '\n'
            }
        );
        assert!(matches!(
            err(" alpine"),
            ReferenceError::Whitespace { ch: ' ', .. }
        ));
    }

    #[test]
    fn name_length_limit_is_255() {
        // "ghcr.io/" is 8 characters; 247 more reach exactly 255.
        let ok = format!("ghcr.io/{}", "a".repeat(247));
        assert!(Reference::parse(&ok).is_ok());
        let long = format!("ghcr.io/{}", "a".repeat(248));
        assert!(matches!(
            err(&long),
            ReferenceError::TooLong { len: 256, .. }
        ));
        // The normalised name counts: docker.io/library/ adds 18 characters.
        let hub = "a".repeat(255 - "docker.io/library/".len());
        assert!(Reference::parse(&hub).is_ok());
        assert!(Reference::parse(&format!("{hub}a")).is_err());
    }

    // --- helpers ---

    #[test]
    fn familiar_form() {
        assert_eq!(parse("alpine:3").familiar(), "alpine:3");
        assert_eq!(parse("docker.io/library/alpine").familiar(), "alpine");
        assert_eq!(parse("docker.io/flant/werf").familiar(), "flant/werf");
        assert_eq!(parse("docker.io/library/a/b").familiar(), "library/a/b");
        assert_eq!(
            parse("ghcr.io/library/x:1").familiar(),
            "ghcr.io/library/x:1"
        );
        assert_eq!(
            parse(&format!("alpine@{SHA}")).familiar(),
            format!("alpine@{SHA}")
        );
    }

    #[test]
    fn with_tag_and_repository_ref() {
        let r = parse("ghcr.io/owner/app");
        assert_eq!(r.repository_ref(), "ghcr.io/owner/app");
        let tagged = r.with_tag("v2").unwrap();
        assert_eq!(tagged.to_string(), "ghcr.io/owner/app:v2");
        assert_eq!(tagged.with_tag("v3").unwrap().tag.as_deref(), Some("v3"));
        assert_eq!(
            r.with_tag("bad/tag"),
            Err(TagError::InvalidChar {
                ch: '/',
                position: 4
            })
        );
        let pinned = tagged.with_digest(Digest::parse(SHA).unwrap());
        assert_eq!(pinned.to_string(), format!("ghcr.io/owner/app:v2@{SHA}"));
        assert_eq!(
            pinned.with_tag("v4").unwrap().to_string(),
            format!("ghcr.io/owner/app:v4@{SHA}")
        );
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "alpine",
            "flant/werf:v1",
            "localhost:5000/a/b:c",
            "[::1]:5000/x",
            "quay.io/acme/app:1.0",
            &format!("ghcr.io/o/a:t@{SHA}"),
        ] {
            let r = parse(s);
            assert_eq!(parse(&r.to_string()), r, "{s}");
            assert_eq!(r.to_string().parse::<Reference>().as_ref(), Ok(&r));
        }
    }

    // --- ImagesRepo ---

    fn repo(s: &str) -> ImagesRepo {
        ImagesRepo::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn repo_err(s: &str) -> ReferenceError {
        match ImagesRepo::parse(s) {
            Ok(r) => panic!("{s} parsed as {r:?}"),
            Err(e) => e,
        }
    }

    fn parts(s: &str) -> (String, Vec<String>) {
        let r = repo(s);
        (r.host, r.path)
    }

    fn p(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn images_repo_bare_registries() {
        assert_eq!(
            parts("registry.example.com"),
            ("registry.example.com".into(), p(&[]))
        );
        assert_eq!(parts("localhost:5000"), ("localhost:5000".into(), p(&[])));
        assert_eq!(parts("localhost"), ("localhost".into(), p(&[])));
        assert_eq!(parts("127.0.0.1:5000"), ("127.0.0.1:5000".into(), p(&[])));
        assert_eq!(parts("[::1]:5000"), ("[::1]:5000".into(), p(&[])));
        assert_eq!(parts("docker.io"), ("docker.io".into(), p(&[])));
        assert!(repo("ghcr.io").is_bare_registry());
        assert_eq!(repo("ghcr.io").repository(), "");
    }

    #[test]
    fn images_repo_accounts_are_not_library() {
        assert_eq!(parts("flant"), ("docker.io".into(), p(&["flant"])));
        assert_eq!(
            parts("docker.io/flant"),
            ("docker.io".into(), p(&["flant"]))
        );
        assert_eq!(repo("flant").to_string(), "docker.io/flant");
        assert!(!repo("flant").is_bare_registry());
    }

    #[test]
    fn images_repo_repositories() {
        assert_eq!(
            parts("flant/project"),
            ("docker.io".into(), p(&["flant", "project"]))
        );
        assert_eq!(
            parts("quay.io/acme/app"),
            ("quay.io".into(), p(&["acme", "app"]))
        );
        assert_eq!(
            parts("localhost:5000/test"),
            ("localhost:5000".into(), p(&["test"]))
        );
        assert_eq!(
            repo("registry.gitlab.com/group/project").repository(),
            "group/project"
        );
        assert_eq!(repo("quay.io/acme/app").to_string(), "quay.io/acme/app");
    }

    #[test]
    fn images_repo_host_kept_as_written_with_canonical_registry() {
        let r = repo("index.docker.io/flant");
        assert_eq!(r.host, "index.docker.io");
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(repo("flant").registry(), "docker.io");
    }

    #[test]
    fn images_repo_trailing_slash() {
        assert_eq!(repo("flant/"), repo("flant"));
        assert_eq!(repo("quay.io/acme/"), repo("quay.io/acme"));
        assert_eq!(repo("localhost:5000/"), repo("localhost:5000"));
        // A trailing slash also makes a dotless host:port unambiguous.
        assert_eq!(parts("registry:5000/"), ("registry:5000".into(), p(&[])));
        assert!(matches!(
            repo_err("flant//"),
            ReferenceError::EmptyComponent { .. }
        ));
    }

    #[test]
    fn images_repo_rejects_tags_and_digests() {
        let e = repo_err("x:1");
        assert_eq!(
            e,
            ReferenceError::ImagesRepoTagOrPort {
                input: "x:1".into(),
                tag: "1".into()
            }
        );
        assert!(
            e.to_string()
                .starts_with(r#"images repo "x:1" must not carry a tag"#),
            "{e}"
        );
        let e = repo_err("flant/project:v1");
        assert_eq!(
            e,
            ReferenceError::ImagesRepoTag {
                input: "flant/project:v1".into(),
                tag: "v1".into()
            }
        );
        assert!(matches!(
            repo_err("localhost:5000/app:v1"),
            ReferenceError::ImagesRepoTag { .. }
        ));
        let e = repo_err(&format!("quay.io/acme/app@{SHA}"));
        assert!(matches!(e, ReferenceError::ImagesRepoDigest { .. }));
        assert!(e.to_string().contains("must not carry a digest"));
    }

    #[test]
    fn images_repo_errors() {
        assert_eq!(repo_err(""), ReferenceError::EmptyImagesRepo);
        assert_eq!(
            repo_err("Flant/Project"),
            ReferenceError::Uppercase {
                repository: "Flant/Project".into(),
                suggestion: "flant/project".into()
            }
        );
        assert!(matches!(
            repo_err("Flant"),
            ReferenceError::Uppercase { .. }
        ));
        assert!(matches!(
            repo_err("quay.io/Acme"),
            ReferenceError::Uppercase { .. }
        ));
        assert!(matches!(
            repo_err("https://quay.io/acme"),
            ReferenceError::Scheme { .. }
        ));
        assert!(matches!(
            repo_err("a//b"),
            ReferenceError::EmptyComponent { .. }
        ));
        assert!(matches!(
            repo_err("/"),
            ReferenceError::EmptyComponent { .. }
        ));
        assert!(matches!(
            repo_err("localhost:70000"),
            ReferenceError::InvalidHost { .. }
        ));
        assert!(matches!(
            repo_err("[::g]:5000"),
            ReferenceError::InvalidHost { .. }
        ));
        assert!(matches!(
            repo_err("bad_host.com/x"),
            ReferenceError::InvalidHost { .. }
        ));
        assert!(matches!(
            repo_err("quay.io/a..b"),
            ReferenceError::InvalidComponent { .. }
        ));
        assert!(matches!(
            repo_err(" flant"),
            ReferenceError::Whitespace { .. }
        ));
        let long = format!("quay.io/{}", "a".repeat(248));
        assert!(matches!(repo_err(&long), ReferenceError::TooLong { .. }));
    }

    #[test]
    fn images_repo_from_str_and_display_round_trip() {
        for s in [
            "flant",
            "flant/project",
            "quay.io/acme/app",
            "localhost:5000",
            "[::1]:5000/a",
        ] {
            let r: ImagesRepo = s.parse().unwrap();
            assert_eq!(repo(&r.to_string()), r, "{s}");
        }
    }
}
