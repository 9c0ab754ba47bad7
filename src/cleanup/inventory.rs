//! Reads what a repository holds: every tag and its digest, index children, referrers (with the
//! origin records among them) and push times. I/O only; the planner decides.
//!
//! Requests on a generic registry: one tag listing; one manifest GET per tag (the body gives the
//! digest, index children and throw-away markers at once; where a GET counts as a pull, a HEAD
//! instead and a GET only for indexes); the referrers of each tagged digest (the API is asked
//! once per host; without it the fallback tag is read only if the listing has it); and, only for
//! digests whose tags the policy may judge by age and that have no origin record, the config's
//! `created`, fetched once per config digest.
//!
//! With `avoid_pulls` (`--keep-pulled-within`: dockhand's reads must not look like pulls), tags
//! are read with a HEAD, never a GET; a manifest is fetched only where its body is needed: an
//! index (its children are in the body; Harbor, Docker Hub and ECR count that GET as a pull of
//! the index) and, where no listing dates tags, an image whose config gives its build time.
//! Vendor listings carry the untagged manifests and the pull records; no extra request, except
//! where the registry lists untagged manifests apart (ACR), and then only with `--delete-untagged`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;
use std::time::SystemTime;

use futures_util::StreamExt;

use super::model::{Inventory, ManifestInfo};
use super::plan::attached_subject;
use crate::error::{Error, Result};
use crate::origin;
use crate::registry::Registry;
use crate::registry::distribution::{Repo, fallback_tag};
use crate::registry::media::{Manifest, is_index};
use crate::registry::untag;

/// Reads one repository. `label` is `host/path` as the user's references spell it; `timed`
/// says which tags the policy may judge by age (their digests get a push time).
pub async fn collect(
    registry: &dyn Registry,
    repo: &Repo,
    label: &str,
    concurrency: usize,
    timed: &(dyn Fn(&str) -> bool + Sync),
    avoid_pulls: bool,
    untagged_graph: bool,
) -> Result<Inventory> {
    let oci = registry.oci();
    let caps = registry.capabilities();
    let mut inv = Inventory {
        repository: label.to_string(),
        ..Default::default()
    };
    let mut bodies: HashMap<String, Manifest> = HashMap::new();
    // Push times a vendor listing gave, by digest.
    let mut listed_times: HashMap<String, SystemTime> = HashMap::new();
    if let Some(mut listing) = registry.listing(repo, timed).await? {
        if untagged_graph {
            // A digest a tag names stays tagged even if the second listing (later) says not.
            for (digest, l) in registry.untagged_listing(repo).await? {
                listing.manifests.entry(digest).or_insert(l);
            }
        }
        // The listing names every tag's digest; only a missing media type costs a HEAD.
        let mut media: HashMap<String, String> = HashMap::new();
        for (digest, l) in listing.untagged() {
            inv.untagged.insert(digest.clone());
            inv.manifests.insert(
                digest.clone(),
                ManifestInfo {
                    digest: digest.clone(),
                    media_type: l.media_type.clone().unwrap_or_default(),
                    pushed: l.pushed,
                    pulled: l.pulled,
                    ..Default::default()
                },
            );
        }
        for (digest, l) in &listing.manifests {
            if let Some(m) = &l.media_type {
                media.insert(digest.clone(), m.clone());
            }
            if let Some(t) = l.pushed {
                listed_times.insert(digest.clone(), t);
            }
        }
        let unknown: BTreeSet<&String> = listing
            .tags
            .values()
            .filter(|d| !media.contains_key(*d))
            .collect();
        let heads: Vec<(String, Result<Option<crate::registry::media::Descriptor>>)> =
            futures_util::stream::iter(unknown)
                .map(|d| async move { (d.clone(), oci.head_manifest(repo, d).await) })
                .buffer_unordered(concurrency)
                .collect()
                .await;
        for (digest, head) in heads {
            if let Some(h) = head? {
                media.insert(digest, h.media_type);
            }
        }
        for (tag, digest) in listing.tags {
            // A manifest gone between the listing and the HEAD is simply not there.
            let Some(media_type) = media.get(&digest) else {
                continue;
            };
            let pulled = listing.manifests.get(&digest).map(|l| l.pulled);
            inv.manifests
                .entry(digest.clone())
                .or_insert_with(|| ManifestInfo {
                    digest: digest.clone(),
                    media_type: media_type.clone(),
                    pulled: pulled.unwrap_or_default(),
                    ..Default::default()
                });
            inv.tags.insert(tag, digest);
        }
    } else {
        // The OCI way names no untagged manifest: the plan says so rather than deleting none
        // in silence.
        inv.untagged_unlisted = untagged_graph;
        let Some(tags) = registry.list_tags(repo).await? else {
            return Ok(inv);
        };
        // Where a GET is free, one GET per tag replaces HEAD-then-GET.
        let use_get = !caps.get_counts_as_pull && !avoid_pulls;
        let reads: Vec<(String, Result<Option<TagRead>>)> = futures_util::stream::iter(tags)
            .map(|t| async move {
                let r = if use_get {
                    oci.get_manifest(repo, &t)
                        .await
                        .map(|m| m.map(|m| (m.digest.clone(), m.media_type.clone(), Some(m))))
                } else {
                    oci.head_manifest(repo, &t)
                        .await
                        .map(|d| d.map(|d| (d.digest, d.media_type, None)))
                };
                (t, r)
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        for (tag, read) in reads {
            // Listed but not found: deleted while we listed, or dangling (a manifest DELETE
            // that failed after the manifest went but before its tags did; see
            // docs/cleanup-safety.md). The executor looks again before it touches one.
            let Some((digest, media_type, body)) = read? else {
                inv.dangling.insert(tag);
                continue;
            };
            inv.manifests
                .entry(digest.clone())
                .or_insert_with(|| ManifestInfo {
                    digest: digest.clone(),
                    media_type,
                    ..Default::default()
                });
            if let Some(m) = body {
                bodies.entry(digest.clone()).or_insert(m);
            }
            inv.tags.insert(tag, digest);
        }
    }

    // Roots: digests of image tags (attached tags are looked at through their subjects).
    let mut roots: BTreeSet<&str> = BTreeSet::new();
    let mut timed_roots: HashSet<&str> = HashSet::new();
    for (t, d) in &inv.tags {
        if attached_subject(t).is_none() {
            roots.insert(d);
            if timed(t) {
                timed_roots.insert(d);
            }
        }
    }
    let ctx = DetailContext {
        registry,
        repo,
        tags: inv.tags.keys().cloned().collect(),
        tags_of: {
            let mut m: HashMap<String, Vec<String>> = HashMap::new();
            for (t, d) in &inv.tags {
                if attached_subject(t).is_none() {
                    m.entry(d.clone()).or_default().push(t.clone());
                }
            }
            m
        },
        configs: Mutex::new(HashMap::new()),
        listed_times,
    };
    // The first digest alone: it tells whether the host has a referrers API, which the rest reuse.
    let roots: Vec<(String, String, bool)> = roots
        .into_iter()
        .map(|d| {
            (
                d.to_string(),
                inv.manifests[d].media_type.clone(),
                timed_roots.contains(d),
            )
        })
        .collect();
    let mut results = Vec::new();
    let mut rest = roots.iter();
    if let Some((d, media, timed)) = rest.next() {
        results.push(
            ctx.details(d, media, bodies.get(d), *timed)
                .await
                .map(|x| (d.clone(), x)),
        );
    }
    let more: Vec<Result<(String, Details)>> = futures_util::stream::iter(rest)
        .map(|(d, media, timed)| {
            let ctx = &ctx;
            let body = bodies.get(d);
            async move {
                ctx.details(d, media, body, *timed)
                    .await
                    .map(|x| (d.clone(), x))
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    results.extend(more);
    for r in results {
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
        m.created = x.created;
        m.throwaway = x.throwaway;
    }

    if untagged_graph {
        untagged_children(registry, repo, &mut inv, concurrency).await?;
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

/// `--delete-untagged`: the children of untagged indexes, so that an index that stays keeps
/// them. A listing without media types (GitHub's versions) costs a HEAD per untagged manifest;
/// an index costs a GET (unavoidable: its children are only in its body). Untagged manifests a
/// kept image references are read too: one may be an index whose children it holds.
async fn untagged_children(
    registry: &dyn Registry,
    repo: &Repo,
    inv: &mut Inventory,
    concurrency: usize,
) -> Result<()> {
    let oci = registry.oci();
    let unknown: Vec<String> = inv
        .untagged
        .iter()
        .filter(|d| {
            inv.manifests
                .get(*d)
                .is_none_or(|m| m.media_type.is_empty())
        })
        .cloned()
        .collect();
    let heads: Vec<(String, Result<Option<crate::registry::media::Descriptor>>)> =
        futures_util::stream::iter(unknown)
            .map(|d| async move {
                let r = oci.head_manifest(repo, &d).await;
                (d, r)
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
    for (d, head) in heads {
        match head? {
            Some(h) => {
                if let Some(m) = inv.manifests.get_mut(&d) {
                    m.media_type = h.media_type;
                }
            }
            // Gone since the listing.
            None => {
                inv.untagged.remove(&d);
                inv.manifests.remove(&d);
            }
        }
    }
    let indexes: Vec<String> = inv
        .untagged
        .iter()
        .filter(|d| {
            inv.manifests
                .get(*d)
                .is_some_and(|m| is_index(&m.media_type))
        })
        .cloned()
        .collect();
    let bodies: Vec<(String, Result<Option<Manifest>>)> = futures_util::stream::iter(indexes)
        .map(|d| async move {
            let r = oci.get_manifest(repo, &d).await;
            (d, r)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    for (d, body) in bodies {
        let Some(body) = body? else { continue };
        let fields = body
            .fields()
            .map_err(|e| Error::operation(format!("{repo}@{d}: {e}")).with_source(e))?;
        let children: Vec<String> = fields.manifests.iter().map(|c| c.digest.clone()).collect();
        if let Some(m) = inv.manifests.get_mut(&d) {
            m.children = children;
        }
    }
    Ok(())
}

/// What reading one tag gave: digest, media type, and the body when it was fetched.
type TagRead = (String, String, Option<Manifest>);

struct Details {
    children: Vec<(String, String)>,
    referrers: Vec<String>,
    origins: Vec<crate::origin::Origin>,
    pushed: Option<SystemTime>,
    created: Option<SystemTime>,
    throwaway: bool,
}

struct DetailContext<'a> {
    registry: &'a dyn Registry,
    repo: &'a Repo,
    tags: HashSet<String>,
    /// The image tags on each digest.
    tags_of: HashMap<String, Vec<String>>,
    /// `created` by config digest: images built from one config share it.
    configs: Mutex<HashMap<String, Option<SystemTime>>>,
    /// Push times from the vendor listing, by digest.
    listed_times: HashMap<String, SystemTime>,
}

impl DetailContext<'_> {
    async fn details(
        &self,
        digest: &str,
        media_type: &str,
        body: Option<&Manifest>,
        timed: bool,
    ) -> Result<Details> {
        let (registry, repo) = (self.registry, self.repo);
        let oci = registry.oci();
        // The body, when it is needed and not already read with the tag.
        let fetched;
        let body = match body {
            Some(b) => Some(b),
            None if is_index(media_type)
                || (timed && !registry.capabilities().listing_with_times) =>
            {
                fetched = oci.get_manifest(repo, digest).await?;
                fetched.as_ref()
            }
            None => None,
        };
        let fields = body
            .map(|m| {
                m.fields()
                    .map_err(|e| Error::operation(format!("{repo}@{digest}: {e}")).with_source(e))
            })
            .transpose()?;
        let children: Vec<(String, String)> = match (&fields, is_index(media_type)) {
            (Some(f), true) => f
                .manifests
                .iter()
                .map(|d| (d.digest.clone(), d.media_type.clone()))
                .collect(),
            (None, true) => {
                return Err(Error::operation(format!(
                    "{repo}@{digest} vanished while reading it"
                )));
            }
            _ => Vec::new(),
        };
        let throwaway =
            fields.as_ref().and_then(|f| f.artifact_type.as_deref()) == Some(untag::ARTIFACT_TYPE);

        let has_fallback_tag = self.tags.contains(&fallback_tag(digest));
        let mut origins = Vec::new();
        let mut referrers = Vec::new();
        for d in oci.referrers_known(repo, digest, has_fallback_tag).await? {
            if let Some(o) = origin::from_descriptor(&d) {
                origins.push(o);
            }
            referrers.push(d.digest);
        }
        // Which clocks can date this digest's tags: a tag's own origin record first, then the
        // registry's push time, and only where neither exists the content's build time.
        let every_tag_recorded = self.tags_of.get(digest).is_some_and(|tags| {
            tags.iter()
                .all(|t| origins.iter().any(|o| &o.tag == t && o.pushed.is_some()))
        });
        let (mut pushed, mut created) = (None, None);
        if timed && !throwaway && !every_tag_recorded {
            if let Some(t) = self.listed_times.get(digest) {
                pushed = Some(*t);
            } else if registry.capabilities().listing_with_times {
                pushed = registry
                    .created(repo, digest, media_type, &children)
                    .await?;
            } else if is_index(media_type) {
                created = registry
                    .created(repo, digest, media_type, &children)
                    .await?;
            } else if let Some(config) = fields.and_then(|f| f.config) {
                created = self.config_created(&config).await?;
            }
        }
        Ok(Details {
            children,
            referrers,
            origins,
            pushed,
            created,
            throwaway,
        })
    }

    async fn config_created(
        &self,
        config: &crate::registry::media::Descriptor,
    ) -> Result<Option<SystemTime>> {
        if let Some(t) = self
            .configs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&config.digest)
        {
            return Ok(*t);
        }
        let t = crate::registry::blob_created(self.registry.oci(), self.repo, config).await?;
        self.configs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(config.digest.clone(), t);
        Ok(t)
    }
}
