//! Reads what a repository holds: every tag and its digest, index children, referrers (with the
//! origin records among them) and push times. I/O only; the planner decides.
//!
//! Costs on a generic registry: one tag listing, one HEAD per tag, one GET per index, the
//! referrers of each tagged digest (skipped when the registry has no referrers API and the
//! fallback tag is absent from the listing), and for digests without an origin record one GET of
//! the manifest and one of its config for the creation time — once per digest.

use std::time::SystemTime;

use futures_util::StreamExt;

use super::model::{Inventory, ManifestInfo};
use super::origin;
use super::plan::attached_subject;
use crate::error::{Error, Result};
use crate::registry::Registry;
use crate::registry::distribution::{Repo, fallback_tag};
use crate::registry::media::is_index;

/// Reads one repository. `label` is `host/path` as the user's references spell it.
pub async fn collect(
    registry: &dyn Registry,
    repo: &Repo,
    label: &str,
    concurrency: usize,
) -> Result<Inventory> {
    let oci = registry.oci();
    let mut inv = Inventory {
        repository: label.to_string(),
        ..Default::default()
    };
    let Some(tags) = registry.list_tags(repo).await? else {
        return Ok(inv);
    };
    let heads: Vec<(String, Result<Option<crate::registry::media::Descriptor>>)> =
        futures_util::stream::iter(tags)
            .map(|t| async move {
                let r = oci.head_manifest(repo, &t).await;
                (t, r)
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
    for (tag, head) in heads {
        // A tag deleted while we listed is simply not there.
        let Some(d) = head? else { continue };
        inv.manifests
            .entry(d.digest.clone())
            .or_insert_with(|| ManifestInfo {
                digest: d.digest.clone(),
                media_type: d.media_type.clone(),
                ..Default::default()
            });
        inv.tags.insert(tag, d.digest);
    }

    // Roots: digests of image tags (attached tags are looked at through their subjects).
    let roots: Vec<String> = inv
        .tags
        .iter()
        .filter(|(t, _)| attached_subject(t).is_none())
        .map(|(_, d)| d.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let tag_names: std::collections::HashSet<String> = inv.tags.keys().cloned().collect();
    let details: Vec<Result<(String, Details)>> = futures_util::stream::iter(roots)
        .map(|d| {
            let media = inv.manifests[&d].media_type.clone();
            let tag_names = &tag_names;
            async move {
                details(registry, repo, &d, &media, tag_names)
                    .await
                    .map(|x| (d, x))
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    for r in details {
        let (digest, x) = r?;
        for (child, media) in &x.children {
            inv.manifests
                .entry(child.clone())
                .or_insert_with(|| ManifestInfo {
                    digest: child.clone(),
                    media_type: media.clone(),
                    ..Default::default()
                });
        }
        for r in &x.referrers {
            inv.manifests
                .entry(r.clone())
                .or_insert_with(|| ManifestInfo {
                    digest: r.clone(),
                    ..Default::default()
                });
        }
        let m = inv.manifests.get_mut(&digest).expect("root is known");
        m.children = x.children.into_iter().map(|(c, _)| c).collect();
        m.referrers = x.referrers;
        m.origins = x.origins;
        m.pushed = x.pushed;
        m.throwaway = x.throwaway;
    }

    // Attached tags whose subject we have not met: is it there at all (untagged), or an orphan?
    let subjects: Vec<String> = inv
        .tags
        .keys()
        .filter_map(|t| attached_subject(t))
        .filter(|s| !inv.manifests.contains_key(s))
        .collect();
    for s in subjects {
        if let Some(d) = oci.head_manifest(repo, &s).await? {
            inv.manifests.insert(
                s.clone(),
                ManifestInfo {
                    digest: s,
                    media_type: d.media_type,
                    ..Default::default()
                },
            );
        }
    }
    Ok(inv)
}

struct Details {
    children: Vec<(String, String)>,
    referrers: Vec<String>,
    origins: Vec<super::model::Origin>,
    pushed: Option<SystemTime>,
    throwaway: bool,
}

async fn details(
    registry: &dyn Registry,
    repo: &Repo,
    digest: &str,
    media_type: &str,
    tags: &std::collections::HashSet<String>,
) -> Result<Details> {
    let oci = registry.oci();
    let mut children = Vec::new();
    if is_index(media_type) {
        let m = oci.get_manifest(repo, digest).await?.ok_or_else(|| {
            Error::operation(format!("{repo}@{digest} vanished while reading it"))
        })?;
        let f = m
            .fields()
            .map_err(|e| Error::operation(format!("{repo}@{digest}: {e}")))?;
        children = f
            .manifests
            .into_iter()
            .map(|d| (d.digest, d.media_type))
            .collect();
    }
    let has_fallback_tag = tags.contains(&fallback_tag(digest));
    let referrers = oci.referrers_known(repo, digest, has_fallback_tag).await?;
    let mut origins = Vec::new();
    let mut others = Vec::new();
    for d in referrers {
        if let Some(o) = origin::from_descriptor(&d) {
            origins.push(o);
        }
        others.push(d.digest);
    }
    let recorded = origins.iter().filter_map(|o| o.pushed).min();
    let mut throwaway = false;
    let pushed = if recorded.is_some() {
        recorded
    } else if registry.capabilities().listing_with_times || is_index(media_type) {
        registry
            .created(repo, digest, media_type, &children)
            .await?
    } else {
        // One GET serves two questions: is this a throw-away left by an interrupted untag, and
        // when was the image created (its config).
        match oci.get_manifest(repo, digest).await? {
            Some(m)
                if m.fields().ok().and_then(|f| f.artifact_type).as_deref()
                    == Some(crate::registry::untag::ARTIFACT_TYPE) =>
            {
                throwaway = true;
                None
            }
            Some(m) => crate::registry::config_created_of(oci, repo, &m).await?,
            None => None,
        }
    };
    Ok(Details {
        children,
        referrers: others,
        origins,
        pushed,
        throwaway,
    })
}
