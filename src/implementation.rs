//! What a registry implementation is and what each can do, as data.
//!
//! Everything that differs between registries and can be said without talking to them lives in
//! [`Capabilities`]; the rest of the program asks this table instead of testing the vendor.

use std::fmt;

use serde::Serialize;

/// One registry implementation: a handle on the [`Spec`] its module declares. The specs are
/// registered, in detection order, in `registry::implementations::REGISTERED`, which also gives
/// [`Implementation::all`] and the parsing of names; each module adds its
/// `Implementation::<Name>` constant, so that adding a registry touches its module and that list.
#[derive(Clone, Copy)]
pub struct Implementation(&'static Spec);

impl Implementation {
    pub const fn of(spec: &'static Spec) -> Implementation {
        Implementation(spec)
    }

    /// Everything the program knows about this implementation without talking to it.
    pub fn spec(self) -> &'static Spec {
        self.0
    }

    /// The name used on the command line, in JSON and in logs.
    pub fn name(self) -> &'static str {
        self.0.id
    }

    /// What a person would call it.
    pub fn title(self) -> &'static str {
        self.0.title
    }
}

// Identity is the name: two handles on the same spec are the same implementation.
impl PartialEq for Implementation {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for Implementation {}

impl std::hash::Hash for Implementation {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.id.hash(state);
    }
}

impl fmt::Debug for Implementation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Implementation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Implementation {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// The facts one implementation module declares about its registry, as data.
pub struct Spec {
    /// The name used on the command line, in JSON and in logs (werf's name where werf has one).
    pub id: &'static str,
    pub title: &'static str,
    /// The help of the `--implementation` value.
    pub help: &'static str,
    /// Other spellings `--implementation` accepts, lower-case.
    pub aliases: &'static [&'static str],
    /// Refines the common [`Capabilities`] for a lower-cased registry host.
    pub capabilities: fn(host: &str, common: Capabilities) -> Capabilities,
    /// Host names that are this registry's without asking it, tried in registration order.
    pub hosts: &'static [HostPattern],
    /// A host name prefix taken as this registry when no probe answered.
    pub unprobed_prefix: Option<NamePrefix>,
    pub probe: Probe,
}

/// A whole-host-name pattern (anchored regex on the lower-cased host without port).
pub struct HostPattern {
    pub regex: &'static str,
    /// Ends the detection reason `host "…" is <what>`.
    pub what: &'static str,
    /// A host the pattern matches; the registration test detects it.
    pub example: &'static str,
}

pub struct NamePrefix {
    pub prefix: &'static str,
    /// Whose hint it is, for the detection reason.
    pub why: &'static str,
}

/// How detection's unauthenticated look at an unknown host recognises this registry.
pub struct Probe {
    /// Any of these proves it; proofs of all implementations are tried before any hint.
    pub proof: &'static [Sign],
    /// Any of these points at it when no implementation's proof held.
    pub hint: &'static [Sign],
    /// Ends the detection reason `"host" <reason>`.
    pub reason: &'static str,
}

impl Probe {
    pub const NONE: Probe = Probe {
        proof: &[],
        hint: &[],
        reason: "",
    };
}

/// One thing the probe can see.
pub enum Sign {
    /// A header (lower-case name) on the answer to `GET /v2/`.
    Header(&'static str),
    /// The lower-cased `WWW-Authenticate` challenge of `/v2/` contains all of these.
    Challenge(&'static [&'static str]),
    /// When the challenge contains any of `realm_any`, one anonymous `GET path` whose JSON
    /// `check` accepts. Only the first implementation whose realm matches is asked.
    Confirmed {
        realm_any: &'static [&'static str],
        path: &'static str,
        check: fn(&serde_json::Value) -> bool,
    },
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

/// How the repositories under a namespace are listed (`cleanup --all-repositories`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RepositoryListing {
    /// OCI Distribution `GET /v2/_catalog` (paged by `n`/`last` and `Link`); a registry may
    /// refuse it (401/403/404), and the error then says to name the images instead.
    Catalog,
    /// The vendor's own API (GitHub org/user packages, GitLab registry repositories, ECR
    /// DescribeRepositories, Harbor project repositories, Quay and Docker Hub namespaces).
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
    /// The vendor listing names manifests that have no tag (with their push time), so
    /// `--delete-untagged` can find them; the OCI tag list never does.
    pub lists_untagged: bool,
    /// Whether the registry records when a manifest was last pulled (`--keep-pulled-within`).
    pub pull_records: PullRecords,
    /// How `--all-repositories` finds the repositories under the images repo.
    pub repository_listing: RepositoryListing,
}

/// What a registry records about pulls, as its listing API reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullRecords {
    /// No pull time anywhere in its API: `--keep-pulled-within` keeps (fails closed).
    #[default]
    None,
    /// Each pull updates the record (Harbor's `pull_time`, Docker Hub's `tag_last_pulled`;
    /// both written asynchronously, seconds to minutes late).
    PerPull,
    /// Refreshed at most about once a day: ECR's `lastRecordedPullTime` is updated "at least
    /// once every 24 hours" (DescribeImages, ImageDetail), so a pull up to a day ago may not
    /// show yet. `--keep-pulled-within` shorter than a day is widened by a day there.
    Daily,
}

impl PullRecords {
    /// How late a recorded pull time may be.
    pub fn lag(self) -> std::time::Duration {
        match self {
            PullRecords::Daily => std::time::Duration::from_secs(86_400),
            _ => std::time::Duration::ZERO,
        }
    }
}

impl Capabilities {
    /// The common facts, refined by the implementation's [`Spec::capabilities`] for `host` where
    /// one implementation has several services with different rules (legacy GitHub registry,
    /// Artifact Registry, ECR Public).
    pub fn of(implementation: Implementation, host: &str) -> Capabilities {
        let host = host.to_ascii_lowercase();
        let common = Capabilities {
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
            lists_untagged: false,
            pull_records: PullRecords::None,
            repository_listing: RepositoryListing::Catalog,
        };
        (implementation.spec().capabilities)(&host, common)
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
        for i in Implementation::all() {
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
    fn untagged_listings_and_pull_records_per_registry() {
        let caps = |i, host| Capabilities::of(i, host);
        let mut listing: Vec<&str> = Implementation::all()
            .filter(|i| caps(*i, "registry.example").lists_untagged)
            .map(|i| i.name())
            .collect();
        listing.sort_unstable();
        assert_eq!(listing, vec!["acr", "ecr", "gcr", "github", "harbor"]);
        let ecr = caps(
            Implementation::Ecr,
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        );
        assert_eq!(ecr.pull_records, PullRecords::Daily);
        assert_eq!(ecr.pull_records.lag().as_secs(), 86_400);
        assert_eq!(
            caps(Implementation::Ecr, "public.ecr.aws").pull_records,
            PullRecords::None
        );
        assert_eq!(
            caps(Implementation::Harbor, "h.example").pull_records,
            PullRecords::PerPull
        );
        assert_eq!(
            caps(Implementation::DockerHub, "docker.io").pull_records,
            PullRecords::PerPull
        );
        assert_eq!(
            caps(Implementation::Default, "r.example").pull_records,
            PullRecords::None
        );
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
