//! Origin records: a small OCI artifact that `publish` attaches to each image it tags, saying
//! which image name, tag, strategy, git ref and commit the tag came from and when it was pushed.
//!
//! Cleanup deletes by git ref only what such a record proves. The record's facts live in the
//! annotations of its manifest, which the referrers API and the fallback index both copy into
//! their descriptors, so listing referrers is enough to read them (no GET per record). On a
//! registry without push times this is also where a cheap push time comes from.

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::model::Origin;
use crate::registry::media::{Descriptor, Manifest, artifact_manifest};
use crate::settings::TagStrategy;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::media::{EMPTY_DIGEST, OCI_MANIFEST};

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
