//! Removing one tag while the other tags on its digest stay.
//!
//! First the OCI 1.1 tag delete. Where the registry refuses it (distribution 2.8 answers 400
//! `DIGEST_INVALID`, others 405), the safe untag: push a unique throw-away manifest to the tag, so
//! that the tag no longer names the shared digest, then delete the throw-away by its digest.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::Registry;
use super::distribution::{Deleted, Repo};
use super::media::{Manifest, artifact_manifest};
use crate::error::{Error, Result};

/// The artifact type of throw-away manifests, so a later run can recognise one left behind.
pub const ARTIFACT_TYPE: &str = "application/vnd.dockhand.untag.v1";

/// How the tag went away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Untagged {
    /// The registry removed the tag itself.
    Native,
    /// Through a throw-away manifest.
    SafeUntag,
    /// It was not there any more.
    Absent,
    /// The registry keeps it on purpose (immutable, protected or locked tag): the reason.
    Kept(String),
}

/// A manifest no image can have: empty config and layer, and an annotation with the tag, the
/// time and a nonce. OCI family always: every registry that stores Docker manifests accepts OCI
/// ones under the same tag.
pub fn throwaway(tag: &str) -> Manifest {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    // Unique per call, also within one nanosecond and across processes: two untags never
    // share a throw-away, so deleting one can never take another untag's tag with it.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nonce = format!(
        "{}-{}-{}-{}",
        now.as_secs(),
        now.subsec_nanos(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let annotations = [
        ("dev.dockhand.untag", tag.to_string()),
        ("dev.dockhand.nonce", nonce),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    artifact_manifest(ARTIFACT_TYPE, None, &annotations)
}

/// Removes `tag` from `repo`, keeping its digest and that digest's other tags.
/// `tag_delete_works`: what an earlier call learned about this registry (skips a refused try).
/// The throw-away goes through `registry.delete_digest`, so a vendor whose registry refuses
/// digest deletes (ghcr) deletes it through its own API.
pub async fn untag(
    registry: &dyn Registry,
    repo: &Repo,
    tag: &str,
    tag_delete_works: Option<bool>,
) -> Result<(Untagged, bool)> {
    let oci = registry.oci();
    if tag_delete_works != Some(false) {
        match oci.delete_manifest(repo, tag).await? {
            Deleted::Done => return Ok((Untagged::Native, true)),
            Deleted::NotFound => return Ok((Untagged::Absent, true)),
            Deleted::Kept { reason } => return Ok((Untagged::Kept(reason), true)),
            Deleted::Unsupported { .. } => {}
        }
    }
    Ok((safe_untag(registry, repo, tag).await?, false))
}

/// Pushes a throw-away manifest to `tag` and deletes it by digest: the tag goes, and the
/// digest it named keeps its other tags.
pub async fn safe_untag(registry: &dyn Registry, repo: &Repo, tag: &str) -> Result<Untagged> {
    if registry.oci().head_manifest(repo, tag).await?.is_none() {
        return Ok(Untagged::Absent);
    }
    through_throwaway(registry, repo, tag).await
}

/// Removes a dangling tag (listed, but its manifest is gone: a manifest DELETE that failed
/// half-way). Looked up once more first: a tag pushed again meanwhile is left alone.
pub async fn repair(registry: &dyn Registry, repo: &Repo, tag: &str) -> Result<Untagged> {
    if let Some(d) = registry.oci().head_manifest(repo, tag).await? {
        return Ok(Untagged::Kept(format!(
            "it resolves again (to {}): pushed again meanwhile",
            d.digest
        )));
    }
    let listed = registry.list_tags(repo).await?.unwrap_or_default();
    if !listed.iter().any(|t| t == tag) {
        return Ok(Untagged::Absent);
    }
    through_throwaway(registry, repo, tag).await
}

/// Points `tag` at a fresh throw-away manifest, then deletes that by digest. The throw-away goes
/// through `registry.delete_digest`, so a vendor whose registry refuses digest deletes (ghcr)
/// deletes it through its own API.
async fn through_throwaway(registry: &dyn Registry, repo: &Repo, tag: &str) -> Result<Untagged> {
    let oci = registry.oci();
    oci.ensure_empty_blob(repo).await?;
    let dummy = throwaway(tag);
    oci.put_manifest(repo, tag, &dummy).await?;
    match registry.delete_digest(repo, &dummy.digest).await? {
        Deleted::Done | Deleted::NotFound => Ok(Untagged::SafeUntag),
        Deleted::Kept { reason } => Err(Error::operation(format!(
            "{repo}:{tag} now points at throw-away manifest {} because the registry kept it: {reason}",
            dummy.digest
        ))),
        Deleted::Unsupported { status, .. } => Err(Error::unsupported(format!(
            "{repo}:{tag} now points at throw-away manifest {} because the registry refused to delete it (HTTP {status})",
            dummy.digest
        ))
        .with_hint(format!("delete {repo}@{} by hand, or enable deletion on the registry", dummy.digest))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::media::OCI_MANIFEST;

    #[test]
    fn throwaways_are_unique() {
        let a = throwaway("t");
        std::thread::sleep(std::time::Duration::from_millis(1));
        let b = throwaway("t");
        assert_ne!(a.digest, b.digest);
        // No sleep: the counter alone keeps them apart.
        let many: std::collections::HashSet<String> =
            (0..1000).map(|_| throwaway("t").digest).collect();
        assert_eq!(many.len(), 1000);
        assert_eq!(a.media_type, OCI_MANIFEST);
    }
}
