//! The planner: a pure function from inventories, policy, git refs and the clock to a plan in
//! which every tag has an action and a reason. The dry run prints this plan; the real run
//! executes the same object.
//!
//! Rules (README, "Cleanup"; docs/cleanup-safety.md for the clocks):
//! - only tags in scope are considered (the image's repository or `NAME-` prefix, `--only-tag`);
//! - a tag is deleted when a deletion reason applies (its proven git ref is gone, or retention is
//!   configured and does not keep it) and no keep rule holds;
//! - image-level keep rules (newest N, younger than, grace, keep list, unknown push time) keep
//!   every tag of the digest; tag-level rules (existing git ref, keep pattern, `latest`) keep one;
//! - a digest is deleted only when every tag on it goes; otherwise its deleted tags are untagged,
//!   or kept when the registry cannot untag;
//! - children and referrers go after their parent, unless a kept image still references them;
//! - `--keep-pulled-within` is an image-level keep rule judged only where nothing else keeps the
//!   image; without a pull record (a registry that records none) it keeps, and says so;
//! - `--delete-untagged`: an untagged manifest the registry lists goes once older than the grace
//!   period, unless a kept image (or a kept untagged index) holds it or the keep list names it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use regex::Regex;

use super::model::*;
use crate::implementation::PullRecords;
use crate::naming::strategy::TagStrategy;

/// References or digests that must stay (`--keep-list`, `--keep-in-use`).
#[derive(Debug, Clone, Default)]
pub struct KeepList {
    pub digests: HashSet<String>,
    /// `host/path:tag`.
    pub references: HashSet<String>,
    /// Why an entry is there when it is not the `--keep-list` file ("in use on Kubernetes
    /// (context prod)"), so that the report says which workload source kept a tag.
    pub why: HashMap<String, String>,
}

impl KeepList {
    fn reason(&self, entry: &str) -> &str {
        self.why
            .get(entry)
            .map_or("in the keep list", String::as_str)
    }
}

#[derive(Debug, Clone, Default)]
pub struct PolicyInput {
    pub keep_last: Option<u32>,
    pub keep_younger_than: Option<Duration>,
    pub keep_tag: Vec<Regex>,
    pub only_tag: Vec<Regex>,
    pub grace: Duration,
    pub allow_latest: bool,
    pub keep_list: KeepList,
    /// The refs that exist; `None` when they could not be read (git-aware deletion is then off).
    pub git: Option<GitRefs>,
    /// The rules for commit tags (`--keep-commits`, `--keep-commits-younger-than`).
    pub commit_rules: super::git::CommitRules,
    /// The registry can remove one tag of a digest that keeps other tags.
    pub untag_possible: bool,
    /// `--delete-untagged`.
    pub delete_untagged: bool,
    /// `--keep-pulled-within`.
    pub keep_pulled_within: Option<Duration>,
    /// The registry's listing names untagged manifests (capabilities).
    pub lists_untagged: bool,
    /// What the registry records about pulls (capabilities).
    pub pull_records: PullRecords,
}

impl PolicyInput {
    fn retention(&self) -> bool {
        self.keep_last.is_some() || self.keep_younger_than.is_some()
    }
}

/// `sha256-<64 hex>` (referrers fallback index) or `sha256-<64 hex>.<suffix>` (cosign): a tag
/// attached to the manifest it names, not a tag of an image.
pub fn attached_subject(tag: &str) -> Option<String> {
    let rest = tag.strip_prefix("sha256-")?;
    let (hex, suffix) = match rest.split_once('.') {
        Some((h, s)) => (h, Some(s)),
        None => (rest, None),
    };
    let is_hex = hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (is_hex && suffix.is_none_or(|s| !s.is_empty())).then(|| format!("sha256:{hex}"))
}

/// A readable age: `3d`, `5h`, `12m`, `40s`.
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3_600 => format!("{}h", s / 3_600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn short(digest: &str) -> &str {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    &hex[..hex.len().min(12)]
}

/// The scope that owns `tag` in `repository`: multirepo owns everything; among monorepo prefixes
/// the longest wins, so `api-gateway-v1` belongs to `api-gateway`, not to `api`.
fn owner<'a>(scopes: &'a [ImageScope], repository: &str, tag: &str) -> Option<&'a ImageScope> {
    scopes
        .iter()
        .filter(|s| s.repository == repository)
        .filter(|s| {
            s.prefix
                .as_deref()
                .is_none_or(|p| tag.starts_with(p) && tag.len() > p.len())
        })
        .max_by_key(|s| s.prefix.as_deref().map_or(0, str::len))
}

/// Whether the policy looks at `tag` at all: it belongs to a configured image and passes
/// `--only-tag`. (Inventory uses this to fetch push times only where they can matter.)
pub fn considered(scopes: &[ImageScope], repository: &str, tag: &str, only_tag: &[Regex]) -> bool {
    if attached_subject(tag).is_some() {
        return false;
    }
    let Some(scope) = owner(scopes, repository, tag) else {
        return false;
    };
    let logical = scope.prefix.as_deref().map_or(tag, |p| &tag[p.len()..]);
    only_tag.is_empty() || only_tag.iter().any(|r| r.is_match(logical))
}

struct Candidate<'a> {
    tag: &'a str,
    logical: &'a str,
    digest: &'a str,
    scope: &'a ImageScope,
}

pub fn plan(
    inventories: &[Inventory],
    scopes: &[ImageScope],
    policy: &PolicyInput,
    now: SystemTime,
) -> Plan {
    let mut plan = Plan::default();
    for inv in inventories {
        plan_repository(inv, scopes, policy, now, &mut plan);
    }
    if let Some(d) = policy.keep_pulled_within {
        let unrecorded = plan
            .tags
            .iter()
            .filter(|t| t.action == Action::Keep && t.reason.starts_with(NO_PULL_RECORD))
            .count();
        if unrecorded > 0 {
            plan.notices.push(if policy.pull_records == PullRecords::None {
                format!(
                    "--keep-pulled-within {}: this registry records no pulls, so {unrecorded} tag(s) it would have judged are kept (see docs/registry-guide.md for the registries that record pulls)",
                    age(d)
                )
            } else {
                format!(
                    "--keep-pulled-within {}: the registry gave no pull record for {unrecorded} tag(s), which are kept",
                    age(d)
                )
            });
        }
    }
    if policy.delete_untagged
        && policy.lists_untagged
        && inventories.iter().any(|i| i.untagged_unlisted)
    {
        plan.notices.push(
            "--delete-untagged: the registry answered without its vendor listing (e.g. ACR's classic SKU has no /acr/v1), which names no untagged manifests, so none is deleted there".into(),
        );
    }
    if policy.delete_untagged && !policy.lists_untagged {
        plan.notices.push(
            "--delete-untagged: this registry's listing names no untagged manifests, so none is deleted; signature and attestation tags (sha256-<hex>.sig/.att/.sbom) of deleted or missing images are still removed".into(),
        );
    }
    plan
}

/// How a keep reason of `--keep-pulled-within` without a pull record begins.
const NO_PULL_RECORD: &str = "no pull record";

fn plan_repository(
    inv: &Inventory,
    scopes: &[ImageScope],
    policy: &PolicyInput,
    now: SystemTime,
    plan: &mut Plan,
) {
    let repo = inv.repository.as_str();
    let mut decided: BTreeMap<String, TagPlan> = BTreeMap::new();
    let mut candidates: Vec<Candidate> = Vec::new();
    for (tag, digest) in &inv.tags {
        if attached_subject(tag).is_some() {
            continue;
        }
        let Some(scope) = owner(scopes, repo, tag) else {
            continue;
        };
        // A recorded origin naming another image wins over a prefix match: `api-gateway-v1`
        // recorded for image `api-gateway` is not `api`'s tag `gateway-v1`.
        let recorded = inv
            .manifests
            .get(digest)
            .and_then(|m| m.origins.iter().find(|o| &o.tag == tag));
        if let Some(o) = recorded
            && o.image.is_some()
            && o.image != scope.image
        {
            continue;
        }
        let logical = scope
            .prefix
            .as_deref()
            .map_or(tag.as_str(), |p| &tag[p.len()..]);
        if !policy.only_tag.is_empty() && !policy.only_tag.iter().any(|r| r.is_match(logical)) {
            decided.insert(
                tag.clone(),
                keep(repo, tag, digest, scope, "outside the --only-tag patterns"),
            );
            continue;
        }
        candidates.push(Candidate {
            tag,
            logical,
            digest,
            scope,
        });
    }

    // Per image name: images are digests, ranked newest first (ties by digest, for stability).
    let mut by_scope: BTreeMap<Option<String>, Vec<&Candidate>> = BTreeMap::new();
    for c in &candidates {
        by_scope.entry(c.scope.image.clone()).or_default().push(c);
    }
    // Every image tag on each digest (other images' and out-of-scope tags too: a fresh push
    // of any of them makes the content fresh).
    let mut all_tags_on: HashMap<&str, Vec<&str>> = HashMap::new();
    for (tag, digest) in &inv.tags {
        if attached_subject(tag).is_none() {
            all_tags_on.entry(digest).or_default().push(tag);
        }
    }
    for members in by_scope.values() {
        let mut images: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for c in members {
            images.entry(c.digest).or_default().push(c.tag);
        }
        // Each push time once, not once per comparison or tag. (Unknown times rank last; the
        // images they belong to are kept by their own rule.)
        let times: HashMap<&str, Option<(SystemTime, Clock)>> = images
            .keys()
            .map(|d| {
                let tags = all_tags_on.get(d).map(Vec::as_slice).unwrap_or_default();
                (*d, image_time(inv, d, tags))
            })
            .collect();
        let pushed = |d: &str| times.get(d).copied().flatten();
        let mut ranked: Vec<(Option<(SystemTime, Clock)>, &str)> =
            images.keys().map(|d| (pushed(d), *d)).collect();
        ranked.sort_by(|a, b| {
            let key = |x: &Option<(SystemTime, Clock)>| x.map(|(t, _)| t);
            key(&b.0).cmp(&key(&a.0)).then(a.1.cmp(b.1))
        });
        let image_keep: HashMap<&str, Option<String>> = ranked
            .iter()
            .enumerate()
            .map(|(rank, (when, d))| {
                (
                    *d,
                    image_keep_reason(inv, &images[d], d, rank, *when, policy, now),
                )
            })
            .collect();
        for c in members {
            let tp = decide(
                inv,
                c,
                image_keep[c.digest].as_deref(),
                pushed(c.digest),
                policy,
                now,
            );
            decided.insert(c.tag.to_string(), tp);
        }
    }

    // Digest level: a digest goes only when all its tags go, foreign tags included.
    let mut tags_on: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (tag, digest) in &inv.tags {
        if attached_subject(tag).is_none() {
            tags_on.entry(digest).or_default().push(tag);
        }
    }
    let mut deleted_digests: BTreeSet<String> = BTreeSet::new();
    for (digest, tags) in &tags_on {
        let planned: Vec<&str> = tags
            .iter()
            .copied()
            .filter(|t| decided.get(*t).is_some_and(|p| p.action == Action::Delete))
            .collect();
        if planned.is_empty() {
            continue;
        }
        if planned.len() == tags.len() {
            for t in planned {
                decided.get_mut(t).expect("decided").method = Some(Method::DeleteDigest);
            }
            deleted_digests.insert(digest.to_string());
        } else {
            let kept: Vec<&str> = tags
                .iter()
                .copied()
                .filter(|t| !planned.contains(t))
                .collect();
            for t in planned {
                let p = decided.get_mut(t).expect("decided");
                if policy.untag_possible {
                    p.method = Some(Method::Untag);
                } else {
                    p.action = Action::Keep;
                    p.method = None;
                    p.reason = format!(
                        "{}; but tag {} on the same digest stays and this registry cannot remove a single tag",
                        p.reason, kept[0]
                    );
                }
            }
        }
    }

    // Kept roots protect their children and referrers.
    let kept_roots: BTreeSet<&str> = tags_on
        .keys()
        .copied()
        .filter(|d| !deleted_digests.contains(*d))
        .collect();
    let mut protected: BTreeSet<String> = BTreeSet::new();
    for d in &kept_roots {
        collect_graph(inv, d, &mut protected);
    }
    for d in &deleted_digests {
        plan.digests.push((repo.to_string(), d.clone()));
        if let Some(m) = inv.manifests.get(d) {
            for r in &m.referrers {
                add_dependent(plan, inv, repo, r, d, DependentKind::Referrer, &protected);
            }
            for c in &m.children {
                add_dependent(plan, inv, repo, c, d, DependentKind::Child, &protected);
            }
        }
    }

    if policy.delete_untagged
        && policy.only_tag.is_empty()
        && scopes.iter().any(|s| s.repository == repo)
    {
        plan_untagged(inv, policy, now, &deleted_digests, &mut protected, plan);
    }

    // Dangling tags (listed, manifest gone) in scope: pulling them fails, so they go.
    for tag in &inv.dangling {
        if attached_subject(tag).is_some() || !considered(scopes, repo, tag, &policy.only_tag) {
            continue;
        }
        let Some(scope) = owner(scopes, repo, tag) else {
            continue;
        };
        let mut tp = keep(
            repo,
            tag,
            "",
            scope,
            "dangling: listed, but its manifest is missing (a deletion failed half-way)",
        );
        tp.action = Action::Delete;
        tp.method = Some(Method::Repair);
        decided.insert(tag.clone(), tp);
    }

    // Attached tags follow their subject; orphans (subject gone) are deleted.
    for (tag, digest) in &inv.tags {
        let Some(subject) = attached_subject(tag) else {
            continue;
        };
        if !scopes.iter().any(|s| s.repository == repo) {
            continue;
        }
        let subject_deleted = deleted_digests.contains(&subject)
            || plan.dependents.iter().any(|d| d.digest == subject);
        let tp = if subject_deleted {
            TagPlan {
                repository: repo.into(),
                tag: tag.clone(),
                digest: digest.clone(),
                action: Action::Delete,
                reason: format!("attached to {}, which is deleted", short(&subject)),
                method: Some(Method::WithSubject),
                image: None,
            }
        } else if !inv.manifests.contains_key(&subject) {
            TagPlan {
                repository: repo.into(),
                tag: tag.clone(),
                digest: digest.clone(),
                action: Action::Delete,
                reason: format!("orphan: {} no longer exists", short(&subject)),
                method: Some(Method::WithSubject),
                image: None,
            }
        } else {
            TagPlan {
                repository: repo.into(),
                tag: tag.clone(),
                digest: digest.clone(),
                action: Action::Keep,
                reason: format!("attached to kept {}", short(&subject)),
                method: None,
                image: None,
            }
        };
        decided.insert(tag.clone(), tp);
    }
    plan.tags.extend(decided.into_values());
}

/// `--delete-untagged`: the untagged manifests the listing names, except those a kept image
/// holds (`protected`) and those that go with a deleted image anyway. Untagged indexes are
/// judged first, so the children of one that stays stay too.
fn plan_untagged(
    inv: &Inventory,
    policy: &PolicyInput,
    now: SystemTime,
    deleted_digests: &BTreeSet<String>,
    protected: &mut BTreeSet<String>,
    plan: &mut Plan,
) {
    let repo = inv.repository.as_str();
    let tagged: HashSet<&String> = inv.tags.values().collect();
    let (indexes, others): (Vec<&String>, Vec<&String>) = inv.untagged.iter().partition(|d| {
        inv.manifests
            .get(*d)
            .is_some_and(|m| crate::registry::media::is_index(&m.media_type))
    });
    let indexes: Vec<(&String, bool)> = indexes.into_iter().map(|d| (d, true)).collect();
    for (d, index) in indexes
        .into_iter()
        .chain(others.into_iter().map(|d| (d, false)))
    {
        if protected.contains(d)
            || tagged.contains(d)
            || deleted_digests.contains(d)
            || plan
                .dependents
                .iter()
                .any(|x| x.repository == repo && &x.digest == d)
        {
            continue;
        }
        let m = inv.manifests.get(d);
        let keep_reason = if policy.keep_list.digests.contains(d) {
            Some(format!("its digest is {}", policy.keep_list.reason(d)))
        } else {
            match m.and_then(|m| m.pushed) {
                None => Some("untagged; push time unknown".to_string()),
                Some(p) => {
                    let a = now.duration_since(p).unwrap_or_default();
                    (a < policy.grace).then(|| {
                        format!(
                            "untagged; {}, within the grace period ({})",
                            dated(a, Clock::Registry),
                            age(policy.grace)
                        )
                    })
                }
            }
        };
        let (action, reason) = match keep_reason {
            Some(k) => {
                // What a kept untagged manifest references stays with it.
                collect_graph(inv, d, protected);
                (Action::Keep, k)
            }
            None => {
                let a = m
                    .and_then(|m| m.pushed)
                    .map(|p| now.duration_since(p).unwrap_or_default())
                    .unwrap_or_default();
                (
                    Action::Delete,
                    format!(
                        "untagged, {}; no kept image references it",
                        dated(a, Clock::Registry)
                    ),
                )
            }
        };
        plan.untagged.push(UntaggedPlan {
            repository: repo.into(),
            digest: d.clone(),
            action,
            reason,
            index,
        });
    }
}

fn collect_graph(inv: &Inventory, digest: &str, into: &mut BTreeSet<String>) {
    if !into.insert(digest.to_string()) {
        return;
    }
    if let Some(m) = inv.manifests.get(digest) {
        for d in m.children.iter().chain(&m.referrers) {
            collect_graph(inv, d, into);
        }
    }
}

fn add_dependent(
    plan: &mut Plan,
    inv: &Inventory,
    repo: &str,
    digest: &str,
    parent: &str,
    kind: DependentKind,
    protected: &BTreeSet<String>,
) {
    if protected.contains(digest) || plan.dependents.iter().any(|d| d.digest == digest) {
        return;
    }
    // A tagged manifest is an image of its own: its tags decide, not its parent.
    if inv
        .tags
        .iter()
        .any(|(t, d)| d == digest && attached_subject(t).is_none())
    {
        return;
    }
    plan.dependents.push(Dependent {
        repository: repo.into(),
        digest: digest.into(),
        parent: parent.into(),
        kind,
    });
    if let Some(m) = inv.manifests.get(digest) {
        for r in &m.referrers {
            add_dependent(
                plan,
                inv,
                repo,
                r,
                digest,
                DependentKind::Referrer,
                protected,
            );
        }
        for c in &m.children {
            add_dependent(plan, inv, repo, c, digest, DependentKind::Child, protected);
        }
    }
}

/// Which clock dated a tag: its own origin record, the registry's push time, or only the
/// content's build time (a lower bound: the tag may be much younger).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    Record,
    Registry,
    Content,
}

/// When `tag` (on manifest `m`) was pushed, by the best clock there is.
fn tag_time(m: &ManifestInfo, tag: &str) -> Option<(SystemTime, Clock)> {
    let recorded = m
        .origins
        .iter()
        .filter(|o| o.tag == tag)
        .filter_map(|o| o.pushed)
        .max();
    recorded
        .map(|t| (t, Clock::Record))
        .or(m.pushed.map(|t| (t, Clock::Registry)))
        .or(m.created.map(|t| (t, Clock::Content)))
}

/// The newest evidence of a push of image `digest` (tagged `tags`): the latest time of any of its tags (a
/// fresh re-tag of old content makes the image fresh), with the clock that gave it. Fails
/// closed: `None` (unknown, which keeps the image under every age rule) when any tag of the
/// image cannot be dated at all.
fn image_time(inv: &Inventory, digest: &str, tags: &[&str]) -> Option<(SystemTime, Clock)> {
    let m = inv.manifests.get(digest)?;
    let mut newest: Option<(SystemTime, Clock)> = None;
    let any = !tags.is_empty();
    for t in tags {
        let when = tag_time(m, t)?;
        if newest.is_none_or(|n| when.0 > n.0) {
            newest = Some(when);
        }
    }
    // Records of tags that moved elsewhere still tell when this content was last pushed.
    let recorded = m.origins.iter().filter_map(|o| o.pushed).max();
    match (newest, recorded) {
        (Some(n), Some(r)) if r > n.0 => Some((r, Clock::Record)),
        (None, Some(r)) if !any => Some((r, Clock::Record)),
        (n, _) => n,
    }
}

/// "pushed 5m ago" or "content built 3d ago (no push time for the tag)".
fn dated(age_of: Duration, clock: Clock) -> String {
    match clock {
        Clock::Record => format!("pushed {} ago (origin record)", age(age_of)),
        Clock::Registry => format!("pushed {} ago (registry)", age(age_of)),
        Clock::Content => format!(
            "built {} ago (image config; the registry gives no push time)",
            age(age_of)
        ),
    }
}

fn image_keep_reason(
    inv: &Inventory,
    tags: &[&str],
    digest: &str,
    rank: usize,
    pushed: Option<(SystemTime, Clock)>,
    policy: &PolicyInput,
    now: SystemTime,
) -> Option<String> {
    if policy.keep_list.digests.contains(digest) {
        return Some(format!("its digest is {}", policy.keep_list.reason(digest)));
    }
    for tag in tags
        .iter()
        .filter(|_| !policy.keep_list.references.is_empty())
    {
        let reference = format!("{}:{tag}", inv.repository);
        if policy.keep_list.references.contains(&reference) {
            let why = policy.keep_list.reason(&reference);
            return Some(format!("{reference} is {why}"));
        }
    }
    let Some((pushed, clock)) = pushed else {
        // Fail closed: an age rule that cannot be checked keeps the image.
        let ages_matter = policy.retention() || !policy.grace.is_zero();
        return ages_matter.then(|| "push time unknown".into());
    };
    let age_of = now.duration_since(pushed).unwrap_or(Duration::ZERO);
    if age_of < policy.grace {
        return Some(format!(
            "{}, within the grace period ({})",
            dated(age_of, clock),
            age(policy.grace)
        ));
    }
    if clock == Clock::Content && !policy.grace.is_zero() {
        // The build time is only a lower bound: a tag put on old content a minute ago looks
        // as old as the content. The grace period fails closed for tags it cannot date.
        return Some(format!(
            "{}; its tags may be younger than the grace period ({}): kept (publish with dockhand to record push times, or --grace 0)",
            dated(age_of, clock),
            age(policy.grace)
        ));
    }
    if let Some(n) = policy.keep_last
        && rank < n as usize
    {
        return Some(format!("among the newest {n} images"));
    }
    if let Some(d) = policy.keep_younger_than
        && age_of < d
    {
        return Some(format!("{}, younger than {}", dated(age_of, clock), age(d)));
    }
    pull_keep_reason(inv, digest, policy, now)
}

/// `--keep-pulled-within`: the latest pull of the image (its own record or any platform
/// child's) within the window, widened by how late the registry's record may be. Without a
/// record the rule cannot be checked and keeps; a record of "never pulled" does not keep.
fn pull_keep_reason(
    inv: &Inventory,
    digest: &str,
    policy: &PolicyInput,
    now: SystemTime,
) -> Option<String> {
    let window = policy.keep_pulled_within?;
    let m = inv.manifests.get(digest)?;
    let pulled = m
        .children
        .iter()
        .filter_map(|c| inv.manifests.get(c))
        .fold(m.pulled, |acc, c| acc.latest(c.pulled));
    match pulled {
        Pulled::At(t) => {
            let ago = now.duration_since(t).unwrap_or_default();
            let lag = policy.pull_records.lag();
            (ago < window + lag).then(|| {
                let late = if lag.is_zero() {
                    String::new()
                } else {
                    format!(" + {} the registry's record may lag", age(lag))
                };
                format!(
                    "pulled {} ago (registry), within --keep-pulled-within {}{late}",
                    age(ago),
                    age(window)
                )
            })
        }
        Pulled::Never => None,
        Pulled::Unrecorded if policy.pull_records == PullRecords::None => Some(format!(
            "{NO_PULL_RECORD}: this registry records no pulls, so --keep-pulled-within {} cannot be checked (kept)",
            age(window)
        )),
        Pulled::Unrecorded => Some(format!(
            "{NO_PULL_RECORD}: the registry's listing gave none for it, so --keep-pulled-within {} cannot be checked (kept)",
            age(window)
        )),
    }
}

fn decide(
    inv: &Inventory,
    c: &Candidate,
    image_keep: Option<&str>,
    pushed: Option<(SystemTime, Clock)>,
    policy: &PolicyInput,
    now: SystemTime,
) -> TagPlan {
    if inv.manifests.get(c.digest).is_some_and(|m| m.throwaway) {
        // An untag that was interrupted: the tag was already meant to go.
        let mut tp = keep(
            &inv.repository,
            c.tag,
            c.digest,
            c.scope,
            "left on a throw-away manifest by an interrupted untag",
        );
        tp.action = Action::Delete;
        return tp;
    }
    let origin = inv
        .manifests
        .get(c.digest)
        .and_then(|m| m.origins.iter().find(|o| o.tag == c.tag));
    let git = git_verdict(origin, policy.git.as_ref(), policy.commit_rules);
    let tag_keep = if let Some(p) = policy.keep_tag.iter().find(|r| r.is_match(c.logical)) {
        Some(format!("matches keep pattern {:?}", p.as_str()))
    } else if c.logical == "latest" && !policy.allow_latest {
        Some("`latest` is protected (--allow-latest to change)".to_string())
    } else if let Some(GitVerdict::Exists(r)) = &git {
        Some(r.clone())
    } else {
        None
    };
    let delete_reason = match &git {
        Some(GitVerdict::Gone(r)) => Some(r.clone()),
        _ if policy.retention() => Some(retention_reason(pushed, policy, now)),
        _ => None,
    };
    let (action, reason) = match (image_keep, tag_keep, delete_reason) {
        // Nothing deletes it; a tag-level keep (its branch exists) is the most telling reason.
        (_, Some(k), None) => (Action::Keep, k),
        (_, None, None) => (Action::Keep, no_deletion_reason(origin, policy)),
        (Some(k), _, Some(_)) => (Action::Keep, k.to_string()),
        (None, Some(k), Some(_)) => (Action::Keep, k),
        (None, None, Some(d)) => (Action::Delete, d),
    };
    let mut tp = keep(&inv.repository, c.tag, c.digest, c.scope, &reason);
    tp.action = action;
    tp
}

fn keep(repo: &str, tag: &str, digest: &str, scope: &ImageScope, reason: &str) -> TagPlan {
    TagPlan {
        repository: repo.into(),
        tag: tag.into(),
        digest: digest.into(),
        action: Action::Keep,
        reason: reason.into(),
        method: None,
        image: scope.image.clone(),
    }
}

fn no_deletion_reason(origin: Option<&Origin>, policy: &PolicyInput) -> String {
    match origin {
        Some(o) if o.git_ref.is_some() && policy.git.is_none() => {
            "git refs unavailable: git-aware cleanup is off".into()
        }
        Some(o) if matches!(o.strategy, TagStrategy::GitBranch | TagStrategy::GitTag) => {
            "no rule deletes it".into()
        }
        Some(_) => "no retention policy applies".into(),
        None => "origin unknown and no retention policy applies".into(),
    }
}

fn retention_reason(
    pushed: Option<(SystemTime, Clock)>,
    policy: &PolicyInput,
    now: SystemTime,
) -> String {
    let mut parts = Vec::new();
    if let Some(n) = policy.keep_last {
        parts.push(format!("not among the newest {n} images"));
    }
    if let (Some(d), Some((p, clock))) = (policy.keep_younger_than, pushed) {
        parts.push(format!(
            "{}, older than {}",
            dated(now.duration_since(p).unwrap_or_default(), clock),
            age(d)
        ));
    }
    parts.join(", ")
}

enum GitVerdict {
    Exists(String),
    Gone(String),
}

/// The git-aware verdict for a tag with a proven origin; `None` when git says nothing about it.
/// Branch and git-tag tags follow their ref; commit tags follow the commit rules, if any is set.
fn git_verdict(
    origin: Option<&Origin>,
    git: Option<&GitRefs>,
    rules: super::git::CommitRules,
) -> Option<GitVerdict> {
    let o = origin?;
    let git = git?;
    if o.strategy == TagStrategy::GitCommit {
        let recent = git.recent_commits.as_ref().filter(|_| rules.active())?;
        let commit = o.commit.as_deref()?;
        let short = &commit[..commit.len().min(12)];
        let kept = recent
            .iter()
            .any(|full| full.starts_with(commit) || commit.starts_with(full.as_str()));
        let mut what = Vec::new();
        if let Some(n) = rules.newest {
            what.push(format!("among the newest {n} commits"));
        }
        if let Some(d) = rules.within {
            what.push(format!("younger than {}", age(d)));
        }
        let label = format!("commit {short}");
        return Some(if kept {
            GitVerdict::Exists(format!("{label} is {}", what.join(" or ")))
        } else {
            GitVerdict::Gone(format!("{label} is not {}", what.join(" nor ")))
        });
    }
    let r = o.git_ref.as_deref()?;
    let (set, name, what) = if let Some(b) = r.strip_prefix("refs/heads/") {
        (&git.branches, b, "branch")
    } else if let Some(t) = r.strip_prefix("refs/tags/") {
        (&git.tags, t, "git tag")
    } else {
        return None;
    };
    let label = format!("{what} {name:?}");
    Some(if set.contains(name) {
        GitVerdict::Exists(format!("{label} still exists"))
    } else {
        GitVerdict::Gone(format!("{label} no longer exists"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cleanup::model::Origin;

    const DAY: u64 = 86_400;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn d(n: u32) -> String {
        format!("sha256:{n:064x}")
    }

    /// An inventory builder: `tag(name, digest, days_ago)`.
    struct Inv(Inventory);

    impl Inv {
        fn new(repo: &str) -> Inv {
            Inv(Inventory {
                repository: repo.into(),
                ..Default::default()
            })
        }
        fn image(mut self, digest: &str, days_ago: u64, tags: &[&str]) -> Inv {
            let m = self
                .0
                .manifests
                .entry(digest.into())
                .or_insert_with(|| ManifestInfo {
                    digest: digest.into(),
                    media_type: crate::registry::media::OCI_MANIFEST.into(),
                    ..Default::default()
                });
            m.pushed = Some(now() - Duration::from_secs(days_ago * DAY));
            for t in tags {
                self.0.tags.insert(t.to_string(), digest.into());
            }
            self
        }
        fn origin(mut self, digest: &str, tag: &str, branch: &str) -> Inv {
            self.0
                .manifests
                .get_mut(digest)
                .unwrap()
                .origins
                .push(Origin {
                    image: None,
                    tag: tag.into(),
                    strategy: TagStrategy::GitBranch,
                    git_ref: Some(format!("refs/heads/{branch}")),
                    commit: None,
                    pushed: None,
                });
            self
        }
        fn children(mut self, digest: &str, children: &[&str]) -> Inv {
            for c in children {
                self.0.manifests.insert(
                    c.to_string(),
                    ManifestInfo {
                        digest: c.to_string(),
                        ..Default::default()
                    },
                );
            }
            self.0.manifests.get_mut(digest).unwrap().children =
                children.iter().map(|c| c.to_string()).collect();
            self
        }
        fn tag(mut self, tag: &str, digest: &str) -> Inv {
            self.0.tags.insert(tag.into(), digest.into());
            self.0
                .manifests
                .entry(digest.into())
                .or_insert_with(|| ManifestInfo {
                    digest: digest.into(),
                    ..Default::default()
                });
            self
        }
    }

    fn scope(repo: &str, prefix: Option<&str>, image: &str) -> ImageScope {
        ImageScope {
            image: Some(image.into()),
            repository: repo.into(),
            prefix: prefix.map(str::to_string),
        }
    }

    fn retention(n: u32) -> PolicyInput {
        PolicyInput {
            keep_last: Some(n),
            untag_possible: true,
            ..Default::default()
        }
    }

    fn git(branches: &[&str]) -> Option<GitRefs> {
        Some(GitRefs {
            branches: branches.iter().map(|b| b.to_string()).collect(),
            ..Default::default()
        })
    }

    fn run(inv: Inv, scopes: &[ImageScope], p: &PolicyInput) -> Plan {
        plan(&[inv.0], scopes, p, now())
    }

    fn action(p: &Plan, tag: &str) -> (Action, Option<Method>, String) {
        let t = p
            .tags
            .iter()
            .find(|t| t.tag == tag)
            .unwrap_or_else(|| panic!("{tag} not in plan: {p:#?}"));
        (t.action, t.method, t.reason.clone())
    }

    fn deleted(p: &Plan) -> Vec<&str> {
        p.deletions().map(|t| t.tag.as_str()).collect()
    }

    #[test]
    fn keep_last_counts_images_not_tags() {
        let inv = Inv::new("r/app")
            .image(&d(1), 1, &["a1", "a2"])
            .image(&d(2), 2, &["b1", "b2"])
            .image(&d(3), 3, &["c1", "c2"]);
        let p = run(inv, &[scope("r/app", None, "app")], &retention(2));
        assert_eq!(deleted(&p), vec!["c1", "c2"]);
        assert_eq!(action(&p, "a2").2, "among the newest 2 images");
        assert_eq!(action(&p, "c1").1, Some(Method::DeleteDigest));
        assert_eq!(p.digests, vec![("r/app".to_string(), d(3))]);
    }

    #[test]
    fn keep_last_zero_keeps_nothing_by_count() {
        let inv = Inv::new("r/app").image(&d(1), 1, &["a"]);
        let p = run(inv, &[scope("r/app", None, "app")], &retention(0));
        assert_eq!(deleted(&p), vec!["a"]);
    }

    #[test]
    fn two_tags_on_one_digest_one_kept_the_digest_survives() {
        let inv = Inv::new("r/app")
            .image(&d(1), 10, &["feature-x", "stable"])
            .origin(&d(1), "feature-x", "feature/x");
        let p = PolicyInput {
            git: git(&["main"]),
            untag_possible: true,
            ..Default::default()
        };
        let plan = run(inv, &[scope("r/app", None, "app")], &p);
        assert_eq!(deleted(&plan), vec!["feature-x"]);
        assert_eq!(action(&plan, "feature-x").1, Some(Method::Untag));
        assert_eq!(action(&plan, "stable").0, Action::Keep);
        assert!(plan.digests.is_empty(), "the digest stays");
    }

    #[test]
    fn without_untag_a_shared_digest_keeps_both_tags() {
        let inv = Inv::new("r/app")
            .image(&d(1), 10, &["feature-x", "stable"])
            .origin(&d(1), "feature-x", "feature/x");
        let p = PolicyInput {
            git: git(&["main"]),
            untag_possible: false,
            ..Default::default()
        };
        let plan = run(inv, &[scope("r/app", None, "app")], &p);
        assert!(deleted(&plan).is_empty());
        assert!(
            action(&plan, "feature-x")
                .2
                .contains("cannot remove a single tag"),
            "{plan:?}"
        );
    }

    #[test]
    fn git_aware_only_with_proven_origin() {
        let inv = Inv::new("r/app")
            .image(&d(1), 10, &["feature-gone"])
            .origin(&d(1), "feature-gone", "feature/gone")
            .image(&d(2), 10, &["main"])
            .origin(&d(2), "main", "main")
            .image(&d(3), 10, &["feature-unknown"]);
        let p = PolicyInput {
            git: git(&["main"]),
            untag_possible: true,
            ..Default::default()
        };
        let plan = run(inv, &[scope("r/app", None, "app")], &p);
        assert_eq!(deleted(&plan), vec!["feature-gone"]);
        assert_eq!(
            action(&plan, "feature-gone").2,
            "branch \"feature/gone\" no longer exists"
        );
        assert_eq!(action(&plan, "main").0, Action::Keep);
        // A tag of unknown origin is never deleted because no branch has its name.
        assert_eq!(
            action(&plan, "feature-unknown").2,
            "origin unknown and no retention policy applies"
        );
    }

    #[test]
    fn git_refs_unavailable_fails_closed() {
        let inv = Inv::new("r/app")
            .image(&d(1), 10, &["feature-gone"])
            .origin(&d(1), "feature-gone", "feature/gone");
        let plan = run(
            inv,
            &[scope("r/app", None, "app")],
            &PolicyInput {
                untag_possible: true,
                ..Default::default()
            },
        );
        assert!(deleted(&plan).is_empty());
        assert!(
            action(&plan, "feature-gone")
                .2
                .contains("git refs unavailable")
        );
    }

    #[test]
    fn existing_branch_keeps_its_tag_against_retention() {
        let inv = Inv::new("r/app")
            .image(&d(1), 100, &["main"])
            .origin(&d(1), "main", "main");
        let p = PolicyInput {
            git: git(&["main"]),
            ..retention(0)
        };
        let plan = run(inv, &[scope("r/app", None, "app")], &p);
        assert_eq!(action(&plan, "main").2, "branch \"main\" still exists");
    }

    #[test]
    fn latest_is_protected_unless_allowed() {
        let inv = || Inv::new("r/app").image(&d(1), 100, &["latest", "old"]);
        let plan = run(inv(), &[scope("r/app", None, "app")], &retention(0));
        assert_eq!(deleted(&plan), vec!["old"]);
        assert_eq!(
            action(&plan, "old").1,
            Some(Method::Untag),
            "latest keeps the digest"
        );
        let p = PolicyInput {
            allow_latest: true,
            ..retention(0)
        };
        let plan = run(inv(), &[scope("r/app", None, "app")], &p);
        assert_eq!(deleted(&plan), vec!["latest", "old"]);
    }

    #[test]
    fn grace_period_keeps_fresh_pushes() {
        let inv = Inv::new("r/app")
            .image(&d(1), 0, &["fresh"])
            .image(&d(2), 1, &["day-old"]);
        let p = PolicyInput {
            grace: Duration::from_secs(7200),
            ..retention(0)
        };
        let plan = run(inv, &[scope("r/app", None, "app")], &p);
        assert_eq!(deleted(&plan), vec!["day-old"]);
        assert!(action(&plan, "fresh").2.contains("grace period"));
    }

    #[test]
    fn younger_than_and_keep_patterns() {
        let inv = Inv::new("r/app")
            .image(&d(1), 3, &["new"])
            .image(&d(2), 40, &["old"])
            .image(&d(3), 40, &["v1.2.3"]);
        let p = PolicyInput {
            keep_younger_than: Some(Duration::from_secs(30 * DAY)),
            keep_tag: vec![Regex::new(r"^v\d+\.\d+\.\d+$").unwrap()],
            untag_possible: true,
            ..Default::default()
        };
        let plan = run(inv, &[scope("r/app", None, "app")], &p);
        assert_eq!(deleted(&plan), vec!["old"]);
        assert!(
            action(&plan, "old").2.contains("older than 30d"),
            "{}",
            action(&plan, "old").2
        );
        assert!(
            action(&plan, "v1.2.3")
                .2
                .starts_with("matches keep pattern")
        );
    }

    #[test]
    fn only_tag_limits_scope_and_keep_last_counts_within_it() {
        let inv = Inv::new("r/app")
            .image(&d(1), 1, &["pr-1"])
            .image(&d(2), 2, &["pr-2"])
            .image(&d(3), 3, &["release"]);
        let p = PolicyInput {
            only_tag: vec![Regex::new("^pr-").unwrap()],
            ..retention(1)
        };
        let plan = run(inv, &[scope("r/app", None, "app")], &p);
        assert_eq!(deleted(&plan), vec!["pr-2"]);
        assert_eq!(
            action(&plan, "release").2,
            "outside the --only-tag patterns"
        );
    }

    #[test]
    fn monorepo_prefixes_are_not_confused() {
        let mut inv = Inv::new("r/mono")
            .image(&d(1), 1, &["api-v2"])
            .image(&d(2), 2, &["api-v1"])
            .image(&d(3), 5, &["api-gateway-v1"])
            .image(&d(4), 6, &["other"]);
        inv.0
            .manifests
            .get_mut(&d(3))
            .unwrap()
            .origins
            .push(Origin {
                image: Some("api-gateway".into()),
                tag: "api-gateway-v1".into(),
                strategy: TagStrategy::Custom,
                git_ref: None,
                commit: None,
                pushed: None,
            });
        // Only `api` configured: api-gateway-v1 is recorded as api-gateway's, so it is not api's.
        let scopes = [scope("r/mono", Some("api-"), "api")];
        let plan = run(Inv(inv.0.clone()), &scopes, &retention(1));
        assert_eq!(deleted(&plan), vec!["api-v1"]);
        assert!(
            plan.tags.iter().all(|t| t.tag != "other"),
            "tags outside every scope are not even listed"
        );
        let scopes = [
            scope("r/mono", Some("api-"), "api"),
            scope("r/mono", Some("api-gateway-"), "api-gateway"),
        ];
        let plan = run(inv, &scopes, &retention(1));
        assert_eq!(
            deleted(&plan),
            vec!["api-v1"],
            "api-gateway-v1 is the newest of its own image"
        );
    }

    #[test]
    fn keep_list_by_digest_and_reference() {
        let inv = Inv::new("r/app")
            .image(&d(1), 50, &["a"])
            .image(&d(2), 50, &["b"])
            .image(&d(3), 50, &["c"]);
        let mut p = retention(0);
        p.keep_list.digests.insert(d(1));
        p.keep_list.references.insert("r/app:b".into());
        let plan = run(inv, &[scope("r/app", None, "app")], &p);
        assert_eq!(deleted(&plan), vec!["c"]);
        assert_eq!(action(&plan, "a").2, "its digest is in the keep list");
    }

    #[test]
    fn unknown_push_time_is_kept() {
        let inv = Inv::new("r/app").tag("mystery", &d(9));
        let plan = run(inv, &[scope("r/app", None, "app")], &retention(0));
        assert_eq!(action(&plan, "mystery").2, "push time unknown");
    }

    #[test]
    fn multi_arch_children_follow_their_index() {
        let inv = || {
            Inv::new("r/app")
                .image(&d(10), 50, &["old"])
                .children(&d(10), &[&d(11), &d(12)])
                .image(&d(20), 1, &["new"])
                .children(&d(20), &[&d(12), &d(21)])
        };
        // The old index goes; its child shared with the kept index stays.
        let plan = run(inv(), &[scope("r/app", None, "app")], &retention(1));
        assert_eq!(deleted(&plan), vec!["old"]);
        let deps: Vec<&str> = plan.dependents.iter().map(|x| x.digest.as_str()).collect();
        assert_eq!(deps, vec![d(11).as_str()]);
        // Keeping both: no child is touched.
        let plan = run(inv(), &[scope("r/app", None, "app")], &retention(2));
        assert!(plan.dependents.is_empty() && deleted(&plan).is_empty());
    }

    #[test]
    fn signatures_follow_their_image() {
        let sig_of = |n: u32| format!("sha256-{n:064x}.sig");
        let inv = Inv::new("r/app")
            .image(&d(1), 50, &["old"])
            .image(&d(2), 1, &["new"])
            .tag(&sig_of(1), &d(101))
            .tag(&sig_of(2), &d(102))
            .tag(&sig_of(3), &d(103));
        let plan = run(inv, &[scope("r/app", None, "app")], &retention(1));
        let (a, m, r) = action(&plan, &sig_of(1));
        assert_eq!((a, m), (Action::Delete, Some(Method::WithSubject)), "{r}");
        assert_eq!(action(&plan, &sig_of(2)).0, Action::Keep);
        // d(3) does not exist at all: an orphan.
        assert!(action(&plan, &sig_of(3)).2.starts_with("orphan"));
        assert_eq!(
            deleted(&plan),
            vec!["old", sig_of(1).as_str(), sig_of(3).as_str()]
        );
    }

    #[test]
    fn attached_tags_are_recognised() {
        let hex = "a".repeat(64);
        assert_eq!(
            attached_subject(&format!("sha256-{hex}")),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(
            attached_subject(&format!("sha256-{hex}.att")),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(attached_subject("sha256-abc"), None);
        assert_eq!(attached_subject(&format!("sha256-{hex}.")), None);
        assert_eq!(attached_subject("v1"), None);
    }

    #[test]
    fn a_tag_left_on_a_throwaway_is_finished() {
        let mut inv = Inv::new("r/app").image(&d(1), 0, &["half-untagged"]);
        inv.0.manifests.get_mut(&d(1)).unwrap().throwaway = true;
        let plan = run(inv, &[scope("r/app", None, "app")], &PolicyInput::default());
        assert_eq!(deleted(&plan), vec!["half-untagged"]);
        assert_eq!(action(&plan, "half-untagged").1, Some(Method::DeleteDigest));
    }

    #[test]
    fn unknown_push_time_does_not_block_git_aware_deletion_without_age_rules() {
        let inv = Inv::new("r/app").tag("feature-gone", &d(1)).origin(
            &d(1),
            "feature-gone",
            "feature/gone",
        );
        let p = PolicyInput {
            git: git(&["main"]),
            untag_possible: true,
            ..Default::default()
        };
        assert_eq!(
            deleted(&run(inv, &[scope("r/app", None, "app")], &p)),
            vec!["feature-gone"]
        );
    }

    #[test]
    fn commit_tags_follow_the_commit_rules() {
        let commit = |tag: &str, sha: &str| Origin {
            image: None,
            tag: tag.into(),
            strategy: TagStrategy::GitCommit,
            git_ref: None,
            commit: Some(sha.into()),
            pushed: None,
        };
        let mut inv =
            Inv::new("r/app")
                .image(&d(1), 10, &["abc1234"])
                .image(&d(2), 10, &["def5678"]);
        inv.0
            .manifests
            .get_mut(&d(1))
            .unwrap()
            .origins
            .push(commit("abc1234", "abc1234"));
        inv.0
            .manifests
            .get_mut(&d(2))
            .unwrap()
            .origins
            .push(commit("def5678", "def5678"));
        let recent = ["abc1234ffffffffffffffffffffffffffffffffff".to_string()]
            .into_iter()
            .collect();
        let refs = GitRefs {
            recent_commits: Some(recent),
            ..Default::default()
        };
        let rules = crate::cleanup::git::CommitRules {
            newest: Some(5),
            within: None,
        };
        let p = PolicyInput {
            git: Some(refs.clone()),
            commit_rules: rules,
            untag_possible: true,
            ..Default::default()
        };
        let plan = run(Inv(inv.0.clone()), &[scope("r/app", None, "app")], &p);
        assert_eq!(deleted(&plan), vec!["def5678"]);
        assert_eq!(
            action(&plan, "abc1234").2,
            "commit abc1234 is among the newest 5 commits"
        );
        assert_eq!(
            action(&plan, "def5678").2,
            "commit def5678 is not among the newest 5 commits"
        );
        // Without a commit rule, or without the history, commit tags are left alone.
        let p = PolicyInput {
            git: Some(refs),
            untag_possible: true,
            ..Default::default()
        };
        assert!(deleted(&run(Inv(inv.0.clone()), &[scope("r/app", None, "app")], &p)).is_empty());
        let p = PolicyInput {
            git: git(&[]),
            commit_rules: rules,
            untag_possible: true,
            ..Default::default()
        };
        assert!(deleted(&run(inv, &[scope("r/app", None, "app")], &p)).is_empty());
    }

    /// Adds an untagged manifest the listing named, pushed `days_ago`.
    fn untagged(mut inv: Inv, digest: &str, days_ago: u64) -> Inv {
        inv.0.untagged.insert(digest.into());
        let m = inv
            .0
            .manifests
            .entry(digest.into())
            .or_insert_with(|| ManifestInfo {
                digest: digest.into(),
                media_type: crate::registry::media::OCI_MANIFEST.into(),
                ..Default::default()
            });
        m.pushed = Some(now() - Duration::from_secs(days_ago * DAY));
        inv
    }

    fn untagged_verdicts(p: &Plan) -> BTreeMap<String, Action> {
        p.untagged
            .iter()
            .map(|u| (u.digest.clone(), u.action))
            .collect()
    }

    #[test]
    fn untagged_manifests_go_after_grace_unless_a_kept_image_holds_them() {
        let inv = Inv::new("r/app")
            .image(&d(1), 1, &["new"])
            .children(&d(1), &[&d(11), &d(12)]);
        let inv = untagged(inv, &d(11), 5);
        let inv = untagged(inv, &d(12), 5);
        // A signature (referrer) of the kept image, untagged.
        let mut inv = untagged(inv, &d(13), 5);
        inv.0
            .manifests
            .get_mut(&d(1))
            .unwrap()
            .referrers
            .push(d(13));
        let inv = untagged(inv, &d(20), 5); // old, held by nothing: goes
        let inv = untagged(inv, &d(21), 0); // pushed just now: grace
        let mut inv = untagged(inv, &d(22), 5); // in the keep list
        inv.0.untagged.insert(d(23)); // no push time: kept
        inv.0.manifests.insert(
            d(23),
            ManifestInfo {
                digest: d(23),
                ..Default::default()
            },
        );
        let mut p = PolicyInput {
            grace: Duration::from_secs(7200),
            delete_untagged: true,
            lists_untagged: true,
            ..retention(1)
        };
        p.keep_list.digests.insert(d(22));
        let plan = run(inv, &[scope("r/app", None, "app")], &p);
        let v = untagged_verdicts(&plan);
        assert_eq!(v.get(&d(11)), None, "a child of a kept index is part of it");
        assert_eq!(
            v.get(&d(13)),
            None,
            "a referrer of a kept image is part of it"
        );
        assert_eq!(v[&d(20)], Action::Delete);
        assert_eq!(v[&d(21)], Action::Keep);
        assert_eq!(v[&d(22)], Action::Keep);
        assert_eq!(v[&d(23)], Action::Keep);
        let reason = |n| {
            plan.untagged
                .iter()
                .find(|u| u.digest == d(n))
                .unwrap()
                .reason
                .clone()
        };
        assert!(
            reason(21).contains("within the grace period"),
            "{}",
            reason(21)
        );
        assert!(
            reason(20).starts_with("untagged, pushed 5d ago"),
            "{}",
            reason(20)
        );
        assert!(reason(23).contains("push time unknown"));
        // Without the option nothing untagged is judged.
        let plan = run(
            untagged(Inv::new("r/app"), &d(20), 5),
            &[scope("r/app", None, "app")],
            &PolicyInput {
                lists_untagged: true,
                ..retention(1)
            },
        );
        assert!(plan.untagged.is_empty());
    }

    #[test]
    fn a_kept_untagged_index_keeps_its_children_and_a_deleted_image_takes_its_own() {
        // d(30): an untagged index pushed just now (grace) with an old child d(31).
        let mut inv = untagged(Inv::new("r/app"), &d(30), 0);
        inv.0.manifests.get_mut(&d(30)).unwrap().media_type =
            crate::registry::media::OCI_INDEX.into();
        inv.0.manifests.get_mut(&d(30)).unwrap().children = vec![d(31)];
        let inv = untagged(inv, &d(31), 5);
        // An old image goes by keep-last; its untagged child goes with it as a dependent.
        let inv = untagged(
            inv.image(&d(40), 9, &["old"])
                .children(&d(40), &[&d(41)])
                .image(&d(50), 1, &["new"]),
            &d(41),
            9,
        );
        let p = PolicyInput {
            grace: Duration::from_secs(7200),
            delete_untagged: true,
            lists_untagged: true,
            ..retention(1)
        };
        let plan = run(inv, &[scope("r/app", None, "app")], &p);
        let v = untagged_verdicts(&plan);
        assert_eq!(v[&d(30)], Action::Keep);
        assert_eq!(v.get(&d(31)), None, "held by the kept untagged index");
        assert_eq!(v.get(&d(41)), None, "goes with its index");
        assert!(plan.dependents.iter().any(|x| x.digest == d(41)));
        assert!(
            plan.untagged
                .iter()
                .find(|u| u.digest == d(30))
                .unwrap()
                .index
        );
    }

    #[test]
    fn delete_untagged_where_the_registry_lists_none_says_so() {
        let p = PolicyInput {
            delete_untagged: true,
            ..retention(1)
        };
        let plan = run(
            Inv::new("r/app").image(&d(1), 1, &["a"]),
            &[scope("r/app", None, "app")],
            &p,
        );
        assert_eq!(plan.notices.len(), 1);
        assert!(plan.notices[0].contains("names no untagged manifests"));
    }

    fn pulled(mut inv: Inv, digest: &str, p: Pulled) -> Inv {
        inv.0.manifests.get_mut(digest).unwrap().pulled = p;
        inv
    }

    #[test]
    fn keep_pulled_within_keeps_a_recent_pull_against_keep_last() {
        let hours = |h: u64| Pulled::At(now() - Duration::from_secs(h * 3600));
        let inv = Inv::new("r/app")
            .image(&d(1), 1, &["newest"])
            .image(&d(2), 10, &["pulled-lately"])
            .image(&d(3), 20, &["pulled-long-ago"])
            .image(&d(4), 30, &["never-pulled"])
            .image(&d(5), 40, &["index"])
            .children(&d(5), &[&d(51)]);
        let inv = pulled(inv, &d(2), hours(3));
        let inv = pulled(inv, &d(3), hours(24 * 30));
        let inv = pulled(inv, &d(4), Pulled::Never);
        let inv = pulled(inv, &d(5), Pulled::Never);
        // A platform child pulled lately keeps its index.
        let inv = pulled(inv, &d(51), hours(1));
        let p = PolicyInput {
            keep_pulled_within: Some(Duration::from_secs(7 * DAY)),
            pull_records: PullRecords::PerPull,
            ..retention(1)
        };
        let plan = run(inv, &[scope("r/app", None, "app")], &p);
        assert_eq!(deleted(&plan), vec!["never-pulled", "pulled-long-ago"]);
        assert_eq!(
            action(&plan, "pulled-lately").2,
            "pulled 3h ago (registry), within --keep-pulled-within 7d"
        );
        assert!(action(&plan, "index").2.starts_with("pulled 1h ago"));
        assert!(plan.notices.is_empty());
    }

    #[test]
    fn keep_pulled_within_widens_by_a_daily_records_lag() {
        let inv =
            Inv::new("r/app")
                .image(&d(1), 1, &["newest"])
                .image(&d(2), 10, &["pulled-30h-ago"]);
        let inv = pulled(
            inv,
            &d(2),
            Pulled::At(now() - Duration::from_secs(30 * 3600)),
        );
        let p = |records| PolicyInput {
            keep_pulled_within: Some(Duration::from_secs(12 * 3600)),
            pull_records: records,
            ..retention(1)
        };
        let scopes = [scope("r/app", None, "app")];
        let plan = run(Inv(inv.0.clone()), &scopes, &p(PullRecords::Daily));
        assert!(deleted(&plan).is_empty(), "{plan:#?}");
        assert!(action(&plan, "pulled-30h-ago").2.contains("may lag"));
        let plan = run(inv, &scopes, &p(PullRecords::PerPull));
        assert_eq!(deleted(&plan), vec!["pulled-30h-ago"]);
    }

    #[test]
    fn keep_pulled_within_without_pull_records_keeps_and_says_why() {
        let inv = Inv::new("r/app")
            .image(&d(1), 1, &["newest"])
            .image(&d(2), 10, &["older"])
            .image(&d(3), 20, &["oldest"]);
        let p = PolicyInput {
            keep_pulled_within: Some(Duration::from_secs(7 * DAY)),
            ..retention(1)
        };
        let plan = run(inv, &[scope("r/app", None, "app")], &p);
        assert!(deleted(&plan).is_empty());
        assert_eq!(action(&plan, "newest").2, "among the newest 1 images");
        assert!(
            action(&plan, "older")
                .2
                .starts_with("no pull record: this registry records no pulls"),
            "{}",
            action(&plan, "older").2
        );
        assert_eq!(plan.notices.len(), 1);
        assert!(
            plan.notices[0].contains("records no pulls, so 2 tag(s)"),
            "{}",
            plan.notices[0]
        );
    }

    #[test]
    fn ages_read_well() {
        assert_eq!(age(Duration::from_secs(3 * DAY + 5)), "3d");
        assert_eq!(age(Duration::from_secs(7200)), "2h");
        assert_eq!(age(Duration::from_secs(59)), "59s");
    }
}
