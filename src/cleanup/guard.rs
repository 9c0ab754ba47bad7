//! Looking again before and after deleting: what the repository holds *now*.
//!
//! A plan is made from an inventory that can be seconds or minutes old by the time a deletion
//! runs, and pipelines keep pushing meanwhile. A manifest DELETE by digest removes every tag on
//! that digest, so a tag put on a planned digest after the inventory (a rebuild with the same
//! content, a re-tag) would go with it. The executor therefore asks for a fresh view of the
//! repository right before each chunk of deletions and keeps any digest that gained a tag the
//! plan does not delete; after the deletions it lists once more and reports only what is gone.
//! docs/cleanup-safety.md describes the remaining window.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::StreamExt;

use crate::error::Result;
use crate::registry::Registry;
use crate::registry::distribution::Repo;

/// tag → digest, as the registry answers now. Tags whose manifest cannot be found (dangling
/// or deleted in between) are left out; `listed` holds every tag the listing named.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    pub tags: BTreeMap<String, String>,
    pub listed: BTreeSet<String>,
    /// From a vendor listing (one listing costs a page per ~100 tags; no HEADs).
    pub vendor: bool,
}

/// Which tags need a fresh digest (a HEAD on registries whose tag list has no digests).
pub enum Recheck<'a> {
    /// Every listed tag except these (the planned deletions: where they point now does not
    /// change what deleting their old digest does to other tags).
    AllBut(&'a BTreeSet<String>),
    /// Only tags missing from the previous view (one tag list per chunk, a HEAD per new tag).
    New,
}

/// A fresh view of `repo`. `before` is the last view (the inventory's tags at first): tags it
/// has and `recheck` does not name keep their digest without a request.
pub async fn look(
    registry: &dyn Registry,
    repo: &Repo,
    before: &BTreeMap<String, String>,
    recheck: Recheck<'_>,
    concurrency: usize,
) -> Result<View> {
    // A vendor listing names every tag's digest in one go.
    if let Some(listing) = registry.listing(repo, &|_| false).await? {
        return Ok(View {
            listed: listing.tags.keys().cloned().collect(),
            tags: listing.tags,
            vendor: true,
        });
    }
    let listed: BTreeSet<String> = registry
        .list_tags(repo)
        .await?
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut view = View {
        listed: listed.clone(),
        ..View::default()
    };
    let mut ask = Vec::new();
    for tag in &listed {
        let fresh = match &recheck {
            Recheck::AllBut(planned) => !planned.contains(tag),
            Recheck::New => !before.contains_key(tag),
        };
        match before.get(tag) {
            Some(d) if !fresh => {
                view.tags.insert(tag.clone(), d.clone());
            }
            _ => ask.push(tag.clone()),
        }
    }
    let oci = registry.oci();
    let heads: Vec<(String, Result<Option<crate::registry::media::Descriptor>>)> =
        futures_util::stream::iter(ask)
            .map(|t| async move {
                let r = oci.head_manifest(repo, &t).await;
                (t, r)
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
    for (tag, head) in heads {
        if let Some(d) = head? {
            view.tags.insert(tag, d.digest);
        }
    }
    Ok(view)
}

/// Tags in `view` on `digest` that are not in `planned`: each would be lost with the digest.
pub fn blockers<'a>(
    view: &'a View,
    digest: &str,
    planned: Option<&BTreeSet<String>>,
) -> Vec<&'a str> {
    view.tags
        .iter()
        .filter(|(t, d)| *d == digest && planned.is_none_or(|p| !p.contains(*t)))
        .map(|(t, _)| t.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_gained_by_a_planned_digest_blocks_it() {
        let view = View {
            tags: [
                ("old", "sha256:a"),
                ("new", "sha256:a"),
                ("other", "sha256:b"),
            ]
            .into_iter()
            .map(|(t, d)| (t.to_string(), d.to_string()))
            .collect(),
            listed: BTreeSet::new(),
            vendor: false,
        };
        let planned: BTreeSet<String> = ["old".to_string()].into();
        assert_eq!(blockers(&view, "sha256:a", Some(&planned)), vec!["new"]);
        assert!(blockers(&view, "sha256:c", Some(&planned)).is_empty());
        let both: BTreeSet<String> = ["old".to_string(), "new".to_string()].into();
        assert!(blockers(&view, "sha256:a", Some(&both)).is_empty());
    }
}
