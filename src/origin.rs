//! Origin records: a small OCI artifact that `publish` attaches to each image it tags, saying
//! which image name, tag, strategy, git ref and commit the tag came from and when it was pushed.
//!
//! Cleanup deletes by git ref only what such a record proves. The record's facts live in the
//! annotations of its manifest, which the referrers API and the fallback index both copy into
//! their descriptors, so listing referrers is enough to read them (no GET per record). On a
//! registry without push times this is also where a cheap push time comes from.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::implementation::Capabilities;
use crate::naming::strategy::TagStrategy;
use crate::registry::media::{Descriptor, Manifest, artifact_manifest};

/// `--origin-records`: whether publish attaches an origin record to each tag it sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OriginRecords {
    /// Never attach one.
    Off,
    /// Attach, except where the only way is the referrers tag-schema fallback on a registry whose
    /// UI lists every tag (Docker Hub): there the `sha256-<hex>` tags would crowd the tag list.
    #[default]
    Auto,
    /// Always attach (the referrers API, else the fallback tag).
    On,
}

/// `publish` writes origin records and `cleanup` reads them, so they live apart from both.
/// Where a tag came from, as recorded by `dockhand publish` next to the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub image: Option<String>,
    pub tag: String,
    pub strategy: TagStrategy,
    /// `refs/heads/NAME` or `refs/tags/NAME` for git strategies.
    pub git_ref: Option<String>,
    pub commit: Option<String>,
    pub pushed: Option<SystemTime>,
}

pub const ARTIFACT_TYPE: &str = "application/vnd.dockhand.origin.v1+json";
const A_IMAGE: &str = "dev.dockhand.image";
const A_TAG: &str = "dev.dockhand.tag";
const A_STRATEGY: &str = "dev.dockhand.strategy";
const A_REF: &str = "dev.dockhand.git-ref";
const A_COMMIT: &str = "dev.dockhand.git-commit";
const A_PUSHED: &str = "dev.dockhand.pushed";

pub fn strategy_name(s: TagStrategy) -> &'static str {
    match s {
        TagStrategy::Custom => "custom",
        TagStrategy::GitBranch => "git-branch",
        TagStrategy::GitTag => "git-tag",
        TagStrategy::GitCommit => "git-commit",
        TagStrategy::Digest => "digest",
    }
}

fn parse_strategy(s: &str) -> Option<TagStrategy> {
    Some(match s {
        "custom" => TagStrategy::Custom,
        "git-branch" => TagStrategy::GitBranch,
        "git-tag" => TagStrategy::GitTag,
        "git-commit" => TagStrategy::GitCommit,
        "digest" => TagStrategy::Digest,
        _ => return None,
    })
}

/// The annotations of a record.
pub fn annotations(o: &Origin) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    if let Some(i) = &o.image {
        a.insert(A_IMAGE.into(), i.clone());
    }
    a.insert(A_TAG.into(), o.tag.clone());
    a.insert(A_STRATEGY.into(), strategy_name(o.strategy).into());
    if let Some(r) = &o.git_ref {
        a.insert(A_REF.into(), r.clone());
    }
    if let Some(c) = &o.commit {
        a.insert(A_COMMIT.into(), c.clone());
    }
    if let Some(p) = o.pushed {
        a.insert(
            A_PUSHED.into(),
            humantime::format_rfc3339_millis(p).to_string(),
        );
    }
    a
}

/// The record's manifest: an OCI 1.1 artifact whose `subject` is the image.
pub fn manifest(o: &Origin, subject: &Descriptor) -> Manifest {
    artifact_manifest(ARTIFACT_TYPE, Some(subject), &annotations(o))
}

/// Reads a record from a referrer descriptor; `None` if it is not one of ours.
pub fn from_descriptor(d: &Descriptor) -> Option<Origin> {
    if d.artifact_type.as_deref() != Some(ARTIFACT_TYPE) {
        return None;
    }
    let a = d.annotations.as_ref()?;
    Some(Origin {
        image: a.get(A_IMAGE).cloned(),
        tag: a.get(A_TAG)?.clone(),
        strategy: parse_strategy(a.get(A_STRATEGY)?)?,
        git_ref: a.get(A_REF).cloned(),
        commit: a.get(A_COMMIT).cloned(),
        pushed: a
            .get(A_PUSHED)
            .and_then(|p| humantime::parse_rfc3339(p).ok())
            .map(|t: SystemTime| t),
    })
}

/// The descriptor of a record as it goes into a fallback referrers index.
pub fn descriptor(m: &Manifest, o: &Origin) -> Descriptor {
    Descriptor {
        media_type: m.media_type.clone(),
        digest: m.digest.clone(),
        size: m.bytes.len() as u64,
        artifact_type: Some(ARTIFACT_TYPE.into()),
        platform: None,
        annotations: Some(annotations(o)),
    }
}

/// What `--origin-records` means on a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Attach,
    /// `off`.
    Off,
    /// `auto` on a registry where records would only be fallback tags in a UI that lists every
    /// tag; the notice says why and what it costs.
    AutoOff(String),
}

impl Decision {
    pub fn attach(&self) -> bool {
        *self == Decision::Attach
    }
}

/// Whether publish attaches origin records (pure: the choice and the registry's capabilities).
/// `auto` is off only where the sole way is the referrers tag-schema fallback
/// ([distribution-spec, "Referrers Tag Schema"](https://github.com/opencontainers/distribution-spec/blob/main/spec.md#referrers-tag-schema))
/// and the registry's UI lists every tag, so each record would show as a `sha256-<hex>` tag.
pub fn decide(choice: OriginRecords, caps: &Capabilities) -> Decision {
    match choice {
        OriginRecords::On => Decision::Attach,
        OriginRecords::Off => Decision::Off,
        OriginRecords::Auto if caps.referrers_fallback_only && caps.ui_lists_every_tag => {
            Decision::AutoOff(format!(
                "no origin records on {}: it has no referrers API, so each record would be a sha256-<hex> tag \
                 in the tag list its UI shows; without records git-aware cleanup deletes none of these tags, \
                 only --keep-last/--keep-younger-than do (--origin-records on attaches them anyway)",
                caps.implementation.title()
            ))
        }
        OriginRecords::Auto => Decision::Attach,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::implementation::Implementation;
    use crate::registry::media::{EMPTY_DIGEST, OCI_MANIFEST};

    /// `auto` is off on Docker Hub alone; `on` and `off` mean the same everywhere.
    #[test]
    fn auto_decision_per_implementation() {
        for i in Implementation::all() {
            let host = match i.name() {
                "dockerhub" => "registry-1.docker.io",
                "github" => "ghcr.io",
                "gcr" => "gcr.io",
                _ => "registry.example.com",
            };
            let caps = Capabilities::of(i, host);
            let auto = decide(OriginRecords::Auto, &caps);
            if i == Implementation::DockerHub {
                let Decision::AutoOff(notice) = &auto else {
                    panic!("{i}: {auto:?}");
                };
                assert!(notice.contains("Docker Hub"), "{notice}");
                assert!(notice.contains("--keep-last"), "{notice}");
                assert!(!notice.contains('\n'), "one line: {notice}");
            } else {
                assert_eq!(auto, Decision::Attach, "{i}");
            }
            assert_eq!(decide(OriginRecords::On, &caps), Decision::Attach, "{i}");
            assert_eq!(decide(OriginRecords::Off, &caps), Decision::Off, "{i}");
        }
        // A UI that lists every tag is no reason while the referrers API keeps records out of it.
        let caps = Capabilities {
            referrers_fallback_only: false,
            ..Capabilities::of(Implementation::DockerHub, "registry-1.docker.io")
        };
        assert_eq!(decide(OriginRecords::Auto, &caps), Decision::Attach);
        // Fallback tags nobody is shown (ghcr.io, gcr.io) are no reason either.
        let caps = Capabilities::of(Implementation::GitHub, "ghcr.io");
        assert!(caps.referrers_fallback_only && !caps.ui_lists_every_tag);
        assert_eq!(decide(OriginRecords::Auto, &caps), Decision::Attach);
    }

    #[test]
    fn records_round_trip_through_descriptors() {
        let o = Origin {
            image: Some("backend".into()),
            tag: "feature-x-1a2b3c4d".into(),
            strategy: TagStrategy::GitBranch,
            git_ref: Some("refs/heads/feature/x".into()),
            commit: Some("0123abcd".into()),
            pushed: Some(humantime::parse_rfc3339("2024-05-01T12:00:00Z").unwrap()),
        };
        let subject = Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: EMPTY_DIGEST.into(),
            size: 2,
            artifact_type: None,
            platform: None,
            annotations: None,
        };
        let m = manifest(&o, &subject);
        assert_eq!(m.fields().unwrap().subject.unwrap().digest, EMPTY_DIGEST);
        assert_eq!(from_descriptor(&descriptor(&m, &o)), Some(o));
    }
}
