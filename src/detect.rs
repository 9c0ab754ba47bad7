//! Which implementation an address belongs to, and why — the pure part of detection.
//!
//! Order (README, "Detection"): explicit choice → CI knowledge → host patterns → one unauthenticated probe
//! (done by `registry::probe`, interpreted here) → `default`. Patterns are anchored on the whole
//! host name so that look-alikes such as `x.azurecr.io.example.com` are not mistaken.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use crate::implementation::Implementation;

/// How the implementation was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Explicit,
    Ci,
    HostPattern,
    Probe,
    Fallback,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detection {
    pub implementation: Implementation,
    pub source: Source,
    /// One sentence a user can check, e.g. `host "ghcr.io" is GitHub's container registry`.
    pub reason: String,
}

impl Detection {
    fn new(implementation: Implementation, source: Source, reason: impl Into<String>) -> Self {
        Detection {
            implementation,
            source,
            reason: reason.into(),
        }
    }
}

/// What the CI environment says about registries (filled by the `ci` layer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CiHints {
    /// GitLab's `CI_REGISTRY` (`host[:port]`).
    pub gitlab_registry: Option<String>,
    /// Host of `GITHUB_SERVER_URL` when it is a GitHub Enterprise Server.
    pub github_server_host: Option<String>,
}

/// The host without a port, lower-cased.
pub fn host_name(host: &str) -> String {
    let h = host.trim().to_ascii_lowercase();
    if let Some(rest) = h.strip_prefix('[') {
        // [::1]:5000
        return rest.split(']').next().unwrap_or_default().to_string();
    }
    match h.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name.to_string(),
        _ => h,
    }
}

struct Pattern {
    implementation: Implementation,
    regex: Regex,
    what: &'static str,
}

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    use Implementation as I;
    let p = |implementation, re: &str, what| Pattern {
        implementation,
        regex: Regex::new(re).expect("static pattern"),
        what,
    };
    vec![
        // Private ECR, FIPS and China partitions; the dual-stack endpoints live under on.aws.
        p(
            I::Ecr,
            r"^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$",
            "an AWS ECR registry",
        ),
        p(
            I::Ecr,
            r"^\d{12}\.dkr-ecr(-fips)?\.[a-z0-9-]+\.on\.aws$",
            "an AWS ECR dual-stack registry",
        ),
        p(I::Ecr, r"^public\.ecr\.aws$", "AWS ECR Public"),
        // Public cloud, Azure China and Azure US Government.
        p(
            I::Acr,
            r"^[a-z0-9][a-z0-9-]*\.azurecr\.(io|cn|us)$",
            "an Azure Container Registry",
        ),
        p(
            I::DockerHub,
            r"^(docker\.io|index\.docker\.io|registry-1\.docker\.io|registry\.hub\.docker\.com)$",
            "Docker Hub",
        ),
        p(
            I::Gcr,
            r"^([a-z0-9-]+\.)?gcr\.io$",
            "Google Container Registry",
        ),
        p(
            I::Gcr,
            r"^container\.cloud\.google\.com$",
            "Google Container Registry (legacy host)",
        ),
        p(
            I::Gcr,
            r"^[a-z0-9-]+-docker\.pkg\.dev$",
            "Google Artifact Registry",
        ),
        p(I::GitHub, r"^ghcr\.io$", "GitHub's container registry"),
        p(
            I::GitHub,
            r"^docker\.pkg\.github\.com$",
            "GitHub's legacy Docker registry",
        ),
        p(
            I::GitLab,
            r"^registry\.gitlab\.com$",
            "GitLab.com's container registry",
        ),
        p(I::Harbor, r"^demo\.goharbor\.io$", "Harbor's demo instance"),
        p(I::Quay, r"^quay\.io$", "Quay.io"),
    ]
});

/// Detection without the network: explicit choice, CI knowledge, host patterns.
/// `None` means the host is unknown: probe it (if allowed) or fall back to `default`.
pub fn detect_offline(
    host: &str,
    explicit: Option<Implementation>,
    ci: &CiHints,
) -> Option<Detection> {
    if let Some(implementation) = explicit {
        return Some(Detection::new(
            implementation,
            Source::Explicit,
            "chosen with --implementation",
        ));
    }
    let lower = host.trim().to_ascii_lowercase();
    if let Some(ci_registry) = &ci.gitlab_registry
        && ci_registry.trim().eq_ignore_ascii_case(&lower)
    {
        return Some(Detection::new(
            Implementation::GitLab,
            Source::Ci,
            format!("host {host:?} is this GitLab pipeline's CI_REGISTRY"),
        ));
    }
    let name = host_name(host);
    if let Some(ghes) = &ci.github_server_host {
        let ghes = ghes.to_ascii_lowercase();
        if name == format!("containers.{ghes}") || name == format!("docker.{ghes}") {
            return Some(Detection::new(
                Implementation::GitHub,
                Source::Ci,
                format!("host {host:?} is the registry of GitHub Enterprise Server {ghes}"),
            ));
        }
    }
    PATTERNS.iter().find(|p| p.regex.is_match(&name)).map(|p| {
        Detection::new(
            p.implementation,
            Source::HostPattern,
            format!("host {name:?} is {}", p.what),
        )
    })
}

/// The fallback when the probe answered and showed no known product.
pub fn fallback(host: &str) -> Detection {
    Detection::new(
        Implementation::Default,
        Source::Fallback,
        format!("host {host:?} matched no known pattern and its probe showed a generic registry"),
    )
}

/// Why no probe answer decided the implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unprobed {
    /// `--no-probe`.
    Off,
    /// The probe could not reach the host, or its answer was no registry's.
    Unreachable,
}

/// Detection when the probe did not answer: a host name starting with `harbor.` is taken as
/// Harbor, the hint werf used (its `harborPatterns`, `^harbor\..*`, in
/// `pkg/docker_registry/harbor.go`), so werf users' `harbor.<domain>` hosts keep working without a
/// probe; any other host is `default`.
pub fn fallback_unprobed(host: &str, why: Unprobed) -> Detection {
    let name = host_name(host);
    let when = match why {
        Unprobed::Off => "probing is off",
        Unprobed::Unreachable => "the probe could not reach it",
    };
    if name.starts_with("harbor.") && name.len() > "harbor.".len() {
        return Detection::new(
            Implementation::Harbor,
            Source::HostPattern,
            format!("host {name:?} starts with \"harbor.\", werf's hint for Harbor ({when})"),
        );
    }
    Detection::new(
        Implementation::Default,
        Source::Fallback,
        format!("host {host:?} matched no known pattern ({when})"),
    )
}

/// What one unauthenticated look at a registry showed (collected by `registry::probe`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeFacts {
    /// The `WWW-Authenticate` header of `GET /v2/`, if any.
    pub challenge: Option<String>,
    /// A `Gitlab-Container-Registry-Version` header was present.
    pub gitlab_header: bool,
    /// `GET /api/v2.0/systeminfo` answered JSON with `auth_mode`.
    pub harbor_systeminfo: bool,
    /// `GET /api/v1/discovery` answered Swagger with title `Quay Frontend`.
    pub quay_discovery: bool,
}

/// Which confirming request, if any, the challenge of `/v2/` calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    Harbor,
    Quay,
    Nothing,
}

/// Reads the `/v2/` challenge: the realm's path names the product behind it.
pub fn confirmation_for(challenge: Option<&str>) -> Confirm {
    let Some(c) = challenge.map(str::to_ascii_lowercase) else {
        return Confirm::Nothing;
    };
    if c.contains("/service/token") || c.contains("realm=\"harbor\"") {
        Confirm::Harbor
    } else if c.contains("/v2/auth") {
        Confirm::Quay
    } else {
        Confirm::Nothing
    }
}

/// Turns probe facts into a detection, or `None` for "a generic registry".
pub fn interpret_probe(host: &str, facts: &ProbeFacts) -> Option<Detection> {
    let challenge = facts
        .challenge
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let found =
        |implementation, why: String| Some(Detection::new(implementation, Source::Probe, why));
    if facts.gitlab_header
        || (challenge.contains("/jwt/auth") && challenge.contains("container_registry"))
    {
        return found(
            Implementation::GitLab,
            format!("{host:?} answers with GitLab's /jwt/auth token realm"),
        );
    }
    if facts.harbor_systeminfo {
        return found(
            Implementation::Harbor,
            format!("{host:?} serves Harbor's /api/v2.0/systeminfo"),
        );
    }
    if facts.quay_discovery {
        return found(
            Implementation::Quay,
            format!("{host:?} serves Quay's /api/v1/discovery"),
        );
    }
    if challenge.contains("/oauth2/token") {
        return found(
            Implementation::Acr,
            format!("{host:?} answers with ACR's /oauth2/token realm"),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use Implementation as I;

    fn offline(host: &str) -> Option<Implementation> {
        detect_offline(host, None, &CiHints::default()).map(|d| d.implementation)
    }

    /// Hosts of every implementation, their alternatives, and look-alikes that must not match.
    #[test]
    fn host_table() {
        let table: &[(&str, Option<Implementation>)] = &[
            ("123456789012.dkr.ecr.us-east-1.amazonaws.com", Some(I::Ecr)),
            (
                "123456789012.dkr.ecr.eu-central-1.amazonaws.com",
                Some(I::Ecr),
            ),
            (
                "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
                Some(I::Ecr),
            ),
            (
                "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
                Some(I::Ecr),
            ),
            ("123456789012.dkr-ecr.us-west-2.on.aws", Some(I::Ecr)),
            ("public.ecr.aws", Some(I::Ecr)),
            ("12345.dkr.ecr.us-east-1.amazonaws.com", None),
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
                None,
            ),
            ("myregistry.azurecr.io", Some(I::Acr)),
            ("myregistry.azurecr.cn", Some(I::Acr)),
            ("myregistry.azurecr.us", Some(I::Acr)),
            ("MyRegistry.AzureCR.io", Some(I::Acr)),
            ("x.azurecr.io.example.com", None),
            ("azurecr.io", None),
            ("docker.io", Some(I::DockerHub)),
            ("index.docker.io", Some(I::DockerHub)),
            ("registry-1.docker.io", Some(I::DockerHub)),
            ("registry.hub.docker.com", Some(I::DockerHub)),
            ("mydocker.io", None),
            ("gcr.io", Some(I::Gcr)),
            ("eu.gcr.io", Some(I::Gcr)),
            ("us.gcr.io", Some(I::Gcr)),
            ("asia.gcr.io", Some(I::Gcr)),
            ("container.cloud.google.com", Some(I::Gcr)),
            ("europe-west1-docker.pkg.dev", Some(I::Gcr)),
            ("us-docker.pkg.dev", Some(I::Gcr)),
            ("gcr.io.example.com", None),
            ("ghcr.io", Some(I::GitHub)),
            ("docker.pkg.github.com", Some(I::GitHub)),
            ("ghcr.io.example.com", None),
            ("registry.gitlab.com", Some(I::GitLab)),
            ("gitlab.com", None),
            ("registry.gitlab.com.example.org", None),
            ("demo.goharbor.io", Some(I::Harbor)),
            ("notdemo.goharbor.io.example", None),
            ("quay.io", Some(I::Quay)),
            ("quay.io.example.com", None),
            ("localhost:5000", None),
            ("127.0.0.1:5000", None),
            ("[::1]:5000", None),
            ("registry.example.com", None),
            ("harbor.example.com", None),
            ("gcr.io:443", Some(I::Gcr)),
        ];
        assert!(table.len() >= 40);
        for (host, want) in table {
            assert_eq!(offline(host), *want, "host {host}");
        }
    }

    #[test]
    fn explicit_wins_over_patterns() {
        let d = detect_offline("ghcr.io", Some(I::Default), &CiHints::default()).unwrap();
        assert_eq!((d.implementation, d.source), (I::Default, Source::Explicit));
    }

    #[test]
    fn gitlab_ci_registry_is_gitlab() {
        let ci = CiHints {
            gitlab_registry: Some("gitlab.example.com:5050".into()),
            ..Default::default()
        };
        let d = detect_offline("gitlab.example.com:5050", None, &ci).unwrap();
        assert_eq!((d.implementation, d.source), (I::GitLab, Source::Ci));
        assert_eq!(detect_offline("other.example.com:5050", None, &ci), None);
    }

    #[test]
    fn ghes_registry_hosts_are_github() {
        let ci = CiHints {
            github_server_host: Some("github.corp.example".into()),
            ..Default::default()
        };
        assert_eq!(
            detect_offline("containers.github.corp.example", None, &ci)
                .unwrap()
                .implementation,
            I::GitHub
        );
        assert_eq!(
            detect_offline("docker.github.corp.example", None, &ci)
                .unwrap()
                .implementation,
            I::GitHub
        );
    }

    #[test]
    fn probe_interpretation() {
        let facts = |c: &str| ProbeFacts {
            challenge: Some(c.into()),
            ..Default::default()
        };
        let gl = facts(
            r#"Bearer realm="https://gitlab.example.com/jwt/auth",service="container_registry""#,
        );
        assert_eq!(interpret_probe("h", &gl).unwrap().implementation, I::GitLab);
        let harbor_challenge =
            r#"Bearer realm="https://h.example/service/token",service="harbor-registry""#;
        assert_eq!(confirmation_for(Some(harbor_challenge)), Confirm::Harbor);
        let harbor = ProbeFacts {
            harbor_systeminfo: true,
            ..facts(harbor_challenge)
        };
        assert_eq!(
            interpret_probe("h", &harbor).unwrap().implementation,
            I::Harbor
        );
        assert_eq!(
            confirmation_for(Some(
                r#"Bearer realm="https://q.example/v2/auth",service="q.example""#
            )),
            Confirm::Quay
        );
        let plain = facts(r#"Basic realm="Registry Realm""#);
        assert_eq!(interpret_probe("h", &plain), None);
        // A realm that only looks like Harbor's is not enough without systeminfo.
        assert_eq!(interpret_probe("h", &facts(harbor_challenge)), None);
    }

    #[test]
    fn harbor_host_name_is_a_hint_without_a_probe() {
        for why in [Unprobed::Off, Unprobed::Unreachable] {
            let d = fallback_unprobed("harbor.example.com", why);
            assert_eq!(
                (d.implementation, d.source),
                (I::Harbor, Source::HostPattern)
            );
            assert!(d.reason.contains("werf"), "{}", d.reason);
            let d = fallback_unprobed("Harbor.Corp.Example:8443", why);
            assert_eq!(d.implementation, I::Harbor, "{}", d.reason);
            for other in [
                "registry.example.com",
                "myharbor.example.com",
                "harbor",
                "harbor.",
            ] {
                let d = fallback_unprobed(other, why);
                assert_eq!(
                    (d.implementation, d.source),
                    (I::Default, Source::Fallback),
                    "{other}"
                );
            }
        }
        assert!(
            fallback_unprobed("r.example", Unprobed::Off)
                .reason
                .contains("probing is off")
        );
        assert!(
            fallback_unprobed("r.example", Unprobed::Unreachable)
                .reason
                .contains("could not reach")
        );
        // The hint is no host pattern: with the probe on and answering, the probe decides.
        assert_eq!(offline("harbor.example.com"), None);
    }

    #[test]
    fn host_name_strips_ports() {
        assert_eq!(host_name("LocalHost:5000"), "localhost");
        assert_eq!(host_name("[::1]:5000"), "::1");
        assert_eq!(host_name("gcr.io"), "gcr.io");
    }
}
