//! What cleanup knows about a repository (the inventory) and what it decides (the plan).
//! Plain data: the inventory is filled by I/O code, the plan by the pure planner.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use serde::Serialize;

pub use crate::origin::Origin;
pub use crate::registry::Pulled;

/// A manifest in the repository: a tagged image, an index child, or a referrer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ManifestInfo {
    pub digest: String,
    pub media_type: String,
    /// When the registry says it was pushed (a vendor listing; for registries that date tags,
    /// the newest push of any of its tags); `None` when the registry does not say.
    pub pushed: Option<SystemTime>,
    /// When its content was built (the image config's `created`): a lower bound for any push of
    /// any of its tags, never a tag's own time.
    pub created: Option<SystemTime>,
    /// Platform children of an index.
    pub children: Vec<String>,
    /// Manifests whose `subject` is this one (signatures, attestations, SBOMs, origin records).
    pub referrers: Vec<String>,
    /// Origin records attached to this manifest.
    pub origins: Vec<Origin>,
    /// A throw-away manifest left on a tag by an interrupted safe untag.
    pub throwaway: bool,
    /// The registry's record of its last pull (`--keep-pulled-within`).
    pub pulled: Pulled,
}

/// One repository's tags and manifests.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// `host/path` of the repository.
    pub repository: String,
    /// Every tag of the repository and the digest it points at.
    pub tags: BTreeMap<String, String>,
    pub manifests: BTreeMap<String, ManifestInfo>,
    /// Tags the registry lists whose manifest it cannot find (a deletion that failed half-way
    /// left them): pulling them fails. Cleanup reports them and removes those in its scope.
    pub dangling: BTreeSet<String>,
    /// Manifests without a tag that the vendor listing names (its `manifests` hold their push
    /// and pull times); empty where the registry does not list them.
    pub untagged: BTreeSet<String>,
    /// Untagged manifests were asked for, but the registry answered without its vendor listing
    /// (ACR's classic SKU has no `/acr/v1`): none could be named here.
    pub untagged_unlisted: bool,
}

/// One configured image whose tags live in a repository (multirepo: the whole repository;
/// monorepo: the tags with its `NAME-` prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageScope {
    pub image: Option<String>,
    pub repository: String,
    pub prefix: Option<String>,
}

/// The branches and tags that exist, by name and by slug (tags are made from slugs).
#[derive(Debug, Clone, Default)]
pub struct GitRefs {
    pub branches: BTreeSet<String>,
    pub tags: BTreeSet<String>,
    /// The commits the commit rules keep (full SHAs), when they were read from a checkout.
    pub recent_commits: Option<BTreeSet<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Keep,
    Delete,
}

/// How a planned deletion is carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Delete the manifest by digest: every tag on it is planned to go.
    DeleteDigest,
    /// Remove only this tag (native tag delete or safe untag); other tags on the digest stay.
    Untag,
    /// Goes with its subject (a signature or origin tag of a deleted image).
    WithSubject,
    /// A dangling tag (listed, manifest gone): pointed at a throw-away that is then deleted.
    Repair,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagPlan {
    pub repository: String,
    pub tag: String,
    pub digest: String,
    pub action: Action,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<Method>,
    #[serde(skip)]
    pub image: Option<String>,
}

/// Untagged manifests that go after their parent: index children and referrers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependent {
    pub repository: String,
    pub digest: String,
    /// The deleted manifest it belonged to.
    pub parent: String,
    pub kind: DependentKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DependentKind {
    Child,
    Referrer,
}

/// An untagged manifest judged by `--delete-untagged` (those a kept image holds are not listed:
/// they are part of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UntaggedPlan {
    pub repository: String,
    pub digest: String,
    pub action: Action,
    pub reason: String,
    /// An image index: deleted before the other untagged manifests, which may be its
    /// children (ECR refuses to delete a manifest an index still references).
    #[serde(skip)]
    pub index: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub tags: Vec<TagPlan>,
    /// Digests deleted whole (after their tags are gone), in execution order.
    pub digests: Vec<(String, String)>,
    pub dependents: Vec<Dependent>,
    /// Untagged manifests (`--delete-untagged`): deleted by digest after everything else.
    pub untagged: Vec<UntaggedPlan>,
    /// Lines the user must read with the plan (a rule that could not be applied, and why).
    pub notices: Vec<String>,
}

impl Plan {
    pub fn deletions(&self) -> impl Iterator<Item = &TagPlan> {
        self.tags.iter().filter(|t| t.action == Action::Delete)
    }
}
