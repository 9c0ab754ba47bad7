//! The nine registry implementations dockhand supports and what each can do, as data.
//!
//! Everything that differs between registries and can be said without talking to them lives in
//! [`Capabilities`]; the rest of the program asks this table instead of testing the vendor.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Implementation {
    /// Any OCI Distribution / Docker Registry v2 server.
    Default,
    Ecr,
    Acr,
    DockerHub,
    Gcr,
    GitHub,
    GitLab,
    Harbor,
    Quay,
}

impl Implementation {
    pub const ALL: [Implementation; 9] = [
        Implementation::Default,
        Implementation::Ecr,
        Implementation::Acr,
        Implementation::DockerHub,
        Implementation::Gcr,
        Implementation::GitHub,
        Implementation::GitLab,
        Implementation::Harbor,
        Implementation::Quay,
    ];

    /// The name used on the command line, in JSON and in logs.
    pub fn name(self) -> &'static str {
        match self {
            Implementation::Default => "default",
            Implementation::Ecr => "ecr",
            Implementation::Acr => "acr",
            Implementation::DockerHub => "dockerhub",
            Implementation::Gcr => "gcr",
            Implementation::GitHub => "github",
            Implementation::GitLab => "gitlab",
            Implementation::Harbor => "harbor",
            Implementation::Quay => "quay",
        }
    }

    /// What a person would call it.
    pub fn title(self) -> &'static str {
        match self {
            Implementation::Default => "OCI Distribution registry",
            Implementation::Ecr => "AWS ECR",
            Implementation::Acr => "Azure Container Registry",
            Implementation::DockerHub => "Docker Hub",
            Implementation::Gcr => "Google Container Registry / Artifact Registry",
            Implementation::GitHub => "GitHub Packages",
            Implementation::GitLab => "GitLab Container Registry",
            Implementation::Harbor => "Harbor",
            Implementation::Quay => "Quay",
        }
    }
}

impl fmt::Display for Implementation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Implementation {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let wanted = s.trim().to_ascii_lowercase();
        // werf's names are the canonical ones; a few spellings people type are accepted too.
        let found = match wanted.as_str() {
            "default" | "generic" | "oci" | "distribution" => Some(Implementation::Default),
            "ecr" | "aws" | "aws-ecr" => Some(Implementation::Ecr),
            "acr" | "azure" | "azure-cr" => Some(Implementation::Acr),
            "dockerhub" | "docker-hub" | "hub" => Some(Implementation::DockerHub),
            "gcr" | "gar" | "artifact-registry" | "google" => Some(Implementation::Gcr),
            "github" | "ghcr" | "github-packages" => Some(Implementation::GitHub),
            "gitlab" => Some(Implementation::GitLab),
            "harbor" => Some(Implementation::Harbor),
            "quay" => Some(Implementation::Quay),
            _ => None,
        };
        found.ok_or_else(|| {
            let names: Vec<&str> = Implementation::ALL.iter().map(|i| i.name()).collect();
            Error::input(format!("unknown implementation {s:?}"))
                .with_hint(format!("use one of: {}", names.join(", ")))
        })
    }
}

/// How many path components a repository may have on a registry (`flant/backend` has two).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Depth {
    pub min: usize,
    pub max: Option<usize>,
}

impl Depth {
    pub fn allows(self, n: usize) -> bool {
        n >= self.min && self.max.is_none_or(|max| n <= max)
    }
    /// Whether repository names can nest below an account (`acct/a/b`).
    pub fn nests(self) -> bool {
        self.max.is_none()
    }
}

/// How one tag can be removed while its sibling tags on the same digest stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Untag {
    /// `DELETE /v2/<name>/manifests/<tag>` where the server supports it (OCI 1.1), else safe untag.
    OciTagDeleteOrSafeUntag,
    /// A vendor API removes one tag.
    VendorApi,
    /// No per-tag operation: push a throw-away manifest to the tag and delete that.
    SafeUntag,
}

/// What deleting a manifest by digest does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DigestDelete {
    /// The manifest goes, and every tag on it with it.
    RemovesTags,
    /// Refused while any tag points at it: untag first.
    RefusedWhileTagged,
    /// Only through the vendor API.
    VendorApi,
}

/// The facts about one implementation that shape publishing and cleanup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    pub implementation: Implementation,
    /// Allowed repository depth, which drives the `auto` repository mode.
    pub depth: Depth,
    /// Pushing to a repository that does not exist creates it.
    pub creates_repositories_on_push: bool,
    pub untag: Untag,
    pub digest_delete: DigestDelete,
    /// Push times come from a vendor listing API (otherwise from image configs).
    pub listing_with_times: bool,
    /// Largest batch for a batch delete API, if there is one.
    pub batch_delete: Option<usize>,
    /// Cross-repository blob mount within the registry works.
    pub cross_repo_mount: bool,
    /// Manifest GETs count as pulls (rate limits, retention): prefer HEAD.
    pub get_counts_as_pull: bool,
    /// Parallel operations per host unless the user says otherwise.
    pub default_concurrency: usize,
    /// Known to have no referrers API: an artifact attached to an image (signature, origin
    /// record) can only be listed through the referrers tag-schema fallback, a `sha256-<hex>`
    /// tag (docs/registries.md, "Referrers"). `false` where the API exists or varies by server.
    pub referrers_fallback_only: bool,
    /// The registry's web UI lists every tag of a repository, fallback tags included, to
    /// everyone who looks at the repository.
    pub ui_lists_every_tag: bool,
}

impl Capabilities {
    /// The table. `host` refines it where one implementation has several services with
    /// different rules (legacy GitHub registry, Artifact Registry, ECR Public).
    pub fn of(implementation: Implementation, host: &str) -> Capabilities {
        use Implementation as I;
        let host = host.to_ascii_lowercase();
        let base = Capabilities {
            implementation,
            depth: Depth { min: 1, max: None },
            creates_repositories_on_push: true,
            untag: Untag::VendorApi,
            digest_delete: DigestDelete::RemovesTags,
            listing_with_times: true,
            batch_delete: None,
            cross_repo_mount: true,
            get_counts_as_pull: false,
            default_concurrency: 8,
            referrers_fallback_only: false,
            ui_lists_every_tag: false,
        };
        match implementation {
            I::Default => Capabilities {
                untag: Untag::OciTagDeleteOrSafeUntag,
                listing_with_times: false,
                ..base
            },
            I::Ecr if host == "public.ecr.aws" => Capabilities {
                depth: Depth { min: 2, max: None },
                creates_repositories_on_push: false,
                batch_delete: Some(100),
                cross_repo_mount: false,
                ..base
            },
            I::Ecr => Capabilities {
                creates_repositories_on_push: false,
                batch_delete: Some(100),
                // Mounting needs BLOB_MOUNTING on the account; the fallback upload covers it.
                cross_repo_mount: true,
                ..base
            },
            I::Acr => Capabilities {
                default_concurrency: 16,
                ..base
            },
            I::DockerHub => Capabilities {
                depth: Depth {
                    min: 2,
                    max: Some(2),
                },
                digest_delete: DigestDelete::RefusedWhileTagged,
                get_counts_as_pull: true,
                default_concurrency: 4,
                referrers_fallback_only: true,
                ui_lists_every_tag: true,
                ..base
            },
            I::Gcr if host.ends_with(".pkg.dev") => Capabilities {
                // host/project/repository/image: the Artifact Registry repository must exist.
                depth: Depth { min: 3, max: None },
                untag: Untag::OciTagDeleteOrSafeUntag,
                digest_delete: DigestDelete::RefusedWhileTagged,
                ..base
            },
            I::Gcr => Capabilities {
                depth: Depth { min: 2, max: None },
                untag: Untag::OciTagDeleteOrSafeUntag,
                digest_delete: DigestDelete::RefusedWhileTagged,
                referrers_fallback_only: true,
                ..base
            },
            I::GitHub if is_legacy_github_host(&host) => Capabilities {
                depth: Depth {
                    min: 3,
                    max: Some(3),
                },
                untag: Untag::SafeUntag,
                digest_delete: DigestDelete::VendorApi,
                get_counts_as_pull: true,
                default_concurrency: 4,
                ..base
            },
            I::GitHub => Capabilities {
                depth: Depth { min: 2, max: None },
                untag: Untag::SafeUntag,
                digest_delete: DigestDelete::VendorApi,
                get_counts_as_pull: true,
                default_concurrency: 4,
                referrers_fallback_only: true,
                ..base
            },
            I::GitLab => Capabilities {
                depth: Depth { min: 2, max: None },
                ..base
            },
            I::Harbor => Capabilities {
                depth: Depth { min: 2, max: None },
                get_counts_as_pull: true,
                ..base
            },
            I::Quay => Capabilities {
                depth: Depth {
                    min: 2,
                    max: Some(2),
                },
                ..base
            },
        }
    }
}

/// docker.pkg.github.com and GHES's `docker.<host>`: fixed `owner/repo/image` paths. Asked only
/// of hosts already known to be GitHub's (GHES's current registry is `containers.<host>`).
pub fn is_legacy_github_host(host: &str) -> bool {
    host == "docker.pkg.github.com" || host.starts_with("docker.")
}

/// The host that serves the registry API for an address's host (Docker Hub's names all lead to
/// `registry-1.docker.io`).
pub fn registry_api_host(host: &str) -> String {
    match host.to_ascii_lowercase().as_str() {
        "docker.io" | "index.docker.io" | "registry.hub.docker.com" => {
            "registry-1.docker.io".into()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for i in Implementation::ALL {
            assert_eq!(i.name().parse::<Implementation>().unwrap(), i);
        }
    }

    #[test]
    fn unknown_name_lists_the_valid_ones() {
        let e = "dockerhubb".parse::<Implementation>().unwrap_err();
        assert_eq!(e.kind, crate::error::Kind::Input);
        assert!(e.message.contains("dockerhubb"));
        assert!(e.hint.unwrap().contains("default, ecr, acr, dockerhub"));
    }

    #[test]
    fn nesting_follows_the_reference() {
        assert!(
            Capabilities::of(Implementation::GitHub, "ghcr.io")
                .depth
                .nests()
        );
        assert!(
            !Capabilities::of(Implementation::GitHub, "docker.pkg.github.com")
                .depth
                .nests()
        );
        assert!(
            !Capabilities::of(Implementation::DockerHub, "docker.io")
                .depth
                .nests()
        );
        assert!(
            !Capabilities::of(Implementation::Quay, "quay.io")
                .depth
                .nests()
        );
        assert!(
            Capabilities::of(Implementation::Harbor, "h.example")
                .depth
                .nests()
        );
        assert_eq!(
            Capabilities::of(Implementation::Gcr, "europe-docker.pkg.dev")
                .depth
                .min,
            3
        );
    }
}
