//! Which implementation an address belongs to, and why — the pure part of detection.
//!
//! Order (README, "Detection"): explicit choice → CI knowledge → host patterns → one unauthenticated probe
//! (done by `registry::probe`, interpreted here) → `default`. Patterns are anchored on the whole
//! host name so that look-alikes such as `x.azurecr.io.example.com` are not mistaken.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use crate::implementation::{Implementation, Sign};

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

/// The host patterns of every implementation, in registration order.
static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    Implementation::all()
        .flat_map(|implementation| {
            implementation.spec().hosts.iter().map(move |p| Pattern {
                implementation,
                regex: Regex::new(p.regex).expect("static pattern"),
                what: p.what,
            })
        })
        .collect()
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

/// Detection when the probe did not answer: a host name starting with an implementation's
/// [`unprobed_prefix`](crate::implementation::Spec::unprobed_prefix) (Harbor's `harbor.`, the
/// hint werf used) is taken as that implementation; any other host is `default`.
pub fn fallback_unprobed(host: &str, why: Unprobed) -> Detection {
    let name = host_name(host);
    let when = match why {
        Unprobed::Off => "probing is off",
        Unprobed::Unreachable => "the probe could not reach it",
    };
    for implementation in Implementation::all() {
        let Some(hint) = &implementation.spec().unprobed_prefix else {
            continue;
        };
        if name.starts_with(hint.prefix) && name.len() > hint.prefix.len() {
            return Detection::new(
                implementation,
                Source::HostPattern,
                format!(
                    "host {name:?} starts with {:?}, {} ({when})",
                    hint.prefix, hint.why
                ),
            );
        }
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
    /// The (lower-case) header names of the answer to `GET /v2/`.
    pub headers: Vec<String>,
    /// The implementation whose confirming request (see [`confirmation_for`]) answered as its
    /// product does.
    pub confirmed: Option<Implementation>,
}

/// The one confirming request the challenge of `/v2/` calls for.
#[derive(Clone, Copy)]
pub struct Confirmation {
    pub implementation: Implementation,
    /// Below the registry's base URL.
    pub path: &'static str,
    pub check: fn(&serde_json::Value) -> bool,
}

/// Reads the `/v2/` challenge: the realm's path names the product behind it. The first
/// implementation, in registration order, whose realm matches is asked.
pub fn confirmation_for(challenge: Option<&str>) -> Option<Confirmation> {
    let c = challenge?.to_ascii_lowercase();
    Implementation::all().find_map(|implementation| {
        implementation
            .spec()
            .probe
            .proof
            .iter()
            .chain(implementation.spec().probe.hint)
            .find_map(|sign| match sign {
                Sign::Confirmed {
                    realm_any,
                    path,
                    check,
                } if realm_any.iter().any(|r| c.contains(r)) => Some(Confirmation {
                    implementation,
                    path,
                    check: *check,
                }),
                _ => None,
            })
    })
}

/// Turns probe facts into a detection, or `None` for "a generic registry": every
/// implementation's proofs first, in registration order, then their hints.
pub fn interpret_probe(host: &str, facts: &ProbeFacts) -> Option<Detection> {
    let challenge = facts
        .challenge
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let holds = |implementation: Implementation, sign: &Sign| match sign {
        Sign::Header(name) => facts.headers.iter().any(|h| h.eq_ignore_ascii_case(name)),
        Sign::Challenge(words) => words.iter().all(|w| challenge.contains(w)),
        Sign::Confirmed { .. } => facts.confirmed == Some(implementation),
    };
    let proofs = Implementation::all().map(|i| (i, i.spec().probe.proof));
    let hints = Implementation::all().map(|i| (i, i.spec().probe.hint));
    proofs
        .chain(hints)
        .find(|(i, signs)| signs.iter().any(|sign| holds(*i, sign)))
        .map(|(i, _)| {
            Detection::new(
                i,
                Source::Probe,
                format!("{host:?} {}", i.spec().probe.reason),
            )
        })
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
        assert_eq!(
            confirmation_for(Some(harbor_challenge)).map(|c| c.implementation),
            Some(I::Harbor)
        );
        let harbor = ProbeFacts {
            confirmed: Some(I::Harbor),
            ..facts(harbor_challenge)
        };
        assert_eq!(
            interpret_probe("h", &harbor).unwrap().implementation,
            I::Harbor
        );
        assert_eq!(
            confirmation_for(Some(
                r#"Bearer realm="https://q.example/v2/auth",service="q.example""#
            ))
            .map(|c| c.implementation),
            Some(I::Quay)
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
