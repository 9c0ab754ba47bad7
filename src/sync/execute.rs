//! Carrying out a sync plan: copies through the publish copy engine (blobs mounted or skipped
//! when present, digests kept, so the mirror's tag ends on exactly the source's digest) and
//! deletions through the registry's untag path (only the tag goes; a digest other tags use stays).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use super::plan::{Action, Plan};
use crate::publish::copy::Engine;
use crate::publish::image::SourceImage;
use crate::registry::Registry;
use crate::registry::distribution::Repo;
use crate::registry::untag::Untagged;

/// One side of a sync: the registry and the repository on it.
pub struct Side<'a> {
    pub registry: &'a dyn Registry,
    pub repo: &'a Repo,
}

/// What happened to one planned tag: `Ok(())` done (or nothing to do), `Err` the reason it failed.
pub type Results = BTreeMap<String, std::result::Result<(), String>>;

/// Transfer counters of the run (for the report and the "nothing uploaded" promise).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Transfer {
    pub blobs_uploaded: u64,
    pub blobs_mounted: u64,
    pub blobs_present: u64,
    pub manifests_put: u64,
}

/// Executes `plan`: copies and updates grouped by source digest (each image read once), then
/// the deletions. Failures are per tag; the rest goes on.
pub async fn execute(
    source: Side<'_>,
    mirror: Side<'_>,
    plan: &Plan,
    with_referrers: bool,
    concurrency: usize,
) -> (Results, Transfer) {
    let mut results = Results::new();
    let engine = Engine::new(mirror.registry.oci().clone(), true, false, concurrency);
    let mut by_digest: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for s in plan
        .steps
        .iter()
        .filter(|s| matches!(s.action, Action::Copy | Action::Update))
    {
        by_digest
            .entry(s.digest.as_str())
            .or_default()
            .push(s.tag.clone());
    }
    if !by_digest.is_empty()
        && let Err(e) = mirror.registry.ensure_repository(mirror.repo).await
    {
        for tags in by_digest.values() {
            for t in tags {
                results.insert(t.clone(), Err(e.to_string()));
            }
        }
        by_digest.clear();
    }
    for (digest, tags) in &by_digest {
        // By digest, not by tag: a source tag moved since the listing still copies what was planned.
        let text = format!("docker://{}@{digest}", source.repo);
        let copied: crate::Result<()> = async {
            let image = SourceImage::open(&text, source.registry.oci()).await?;
            engine.publish(&image, mirror.repo, tags, &[]).await?;
            if with_referrers {
                engine.copy_referrers(&image, mirror.repo).await?;
            }
            Ok(())
        }
        .await;
        for t in tags {
            results.insert(
                t.clone(),
                copied.as_ref().map(|_| ()).map_err(|e| e.to_string()),
            );
        }
    }
    // A fresh HEAD right before deleting: a tag pushed again onto other content since the plan is
    // no longer the extra tag the plan saw, so it stays (reported as failed, never as deleted).
    let mut doomed: Vec<String> = Vec::new();
    for s in plan.of(Action::Delete) {
        match mirror
            .registry
            .oci()
            .head_manifest(mirror.repo, &s.tag)
            .await
        {
            Ok(Some(d)) if d.digest == s.digest => doomed.push(s.tag.clone()),
            Ok(Some(d)) => {
                let why = format!("kept: it moved to {} since the plan", d.digest);
                results.insert(s.tag.clone(), Err(why));
            }
            Ok(None) => {
                results.insert(s.tag.clone(), Err("kept: it is gone since the plan".into()));
            }
            Err(e) => {
                results.insert(s.tag.clone(), Err(e.to_string()));
            }
        }
    }
    let untagged = mirror
        .registry
        .untag_tags(mirror.repo, &doomed, concurrency)
        .await;
    for (tag, r) in doomed.into_iter().zip(untagged) {
        let r = match r {
            Ok(Untagged::Kept(why)) => Err(format!("the registry keeps it: {why}")),
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        };
        results.insert(tag, r);
    }
    let s = &engine.stats;
    let transfer = Transfer {
        blobs_uploaded: s.blobs_uploaded.load(Ordering::Relaxed),
        blobs_mounted: s.blobs_mounted.load(Ordering::Relaxed),
        blobs_present: s.blobs_present.load(Ordering::Relaxed),
        manifests_put: s.manifests_put.load(Ordering::Relaxed),
    };
    (results, transfer)
}
