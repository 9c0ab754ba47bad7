//! The planner: a pure function from inventories, policy, git refs and the clock to a plan in
//! which every tag has an action and a reason. The dry run prints this plan; the real run
//! executes the same object.
//!
//! Rules (DESIGN.md, cleanup semantics):
//! - only tags in scope are considered (the image's repository or `NAME-` prefix, `--only-tag`);
//! - a tag is deleted when a deletion reason applies (its proven git ref is gone, or retention is
//!   configured and does not keep it) and no keep rule holds;
//! - image-level keep rules (newest N, younger than, grace, keep list, unknown push time) keep
//!   every tag of the digest; tag-level rules (existing git ref, keep pattern, `latest`) keep one;
//! - a digest is deleted only when every tag on it goes; otherwise its deleted tags are untagged,
//!   or kept when the registry cannot untag;
//! - children and referrers go after their parent, unless a kept image still references them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use regex::Regex;

use super::model::*;
use crate::settings::TagStrategy;

/// References or digests that must stay (`--keep-list`).
#[derive(Debug, Clone, Default)]
pub struct KeepList {
    pub digests: HashSet<String>,
    /// `host/path:tag`.
    pub references: HashSet<String>,
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
    /// The registry can remove one tag of a digest that keeps other tags.
    pub untag_possible: bool,
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
    plan
}

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
    for members in by_scope.values() {
        let mut digests: Vec<&str> = members
            .iter()
            .map(|c| c.digest)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let pushed = |d: &str| inv.manifests.get(d).and_then(pushed_time);
        digests.sort_by(|a, b| pushed(b).cmp(&pushed(a)).then(a.cmp(b)));
        let image_keep: HashMap<&str, Option<String>> = digests
            .iter()
            .enumerate()
            .map(|(rank, d)| {
                (
                    *d,
                    image_keep_reason(inv, members, d, rank, pushed(d), policy, now),
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

/// The push time: the registry's, else the earliest origin record.
fn pushed_time(m: &ManifestInfo) -> Option<SystemTime> {
    m.pushed
        .or_else(|| m.origins.iter().filter_map(|o| o.pushed).min())
}

fn image_keep_reason(
    inv: &Inventory,
    members: &[&Candidate],
    digest: &str,
    rank: usize,
    pushed: Option<SystemTime>,
    policy: &PolicyInput,
    now: SystemTime,
) -> Option<String> {
    if policy.keep_list.digests.contains(digest) {
        return Some("its digest is in the keep list".into());
    }
    for c in members.iter().filter(|c| c.digest == digest) {
        if policy
            .keep_list
            .references
            .contains(&format!("{}:{}", inv.repository, c.tag))
        {
            return Some(format!("{}:{} is in the keep list", inv.repository, c.tag));
        }
    }
    let Some(pushed) = pushed else {
        // Fail closed: without a push time no age-based rule can be checked.
        return Some("push time unknown".into());
    };
    let age_of = now.duration_since(pushed).unwrap_or(Duration::ZERO);
    if age_of < policy.grace {
        return Some(format!(
            "pushed {} ago, within the grace period ({})",
            age(age_of),
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
        return Some(format!(
            "pushed {} ago, younger than {}",
            age(age_of),
            age(d)
        ));
    }
    None
}

fn decide(
    inv: &Inventory,
    c: &Candidate,
    image_keep: Option<&str>,
    pushed: Option<SystemTime>,
    policy: &PolicyInput,
    now: SystemTime,
) -> TagPlan {
    let origin = inv
        .manifests
        .get(c.digest)
        .and_then(|m| m.origins.iter().find(|o| o.tag == c.tag));
    let git = git_verdict(origin, policy.git.as_ref());
    let tag_keep = if let Some(p) = policy.keep_tag.iter().find(|r| r.is_match(c.logical)) {
        Some(format!("matches keep pattern {:?}", p.as_str()))
    } else if c.logical == "latest" && !policy.allow_latest {
        Some("`latest` is protected (--allow-latest to change)".to_string())
    } else if let Some(GitVerdict::Exists(r)) = &git {
        Some(format!("{r} still exists"))
    } else {
        None
    };
    let delete_reason = match &git {
        Some(GitVerdict::Gone(r)) => Some(format!("{r} no longer exists")),
        _ if policy.retention() => Some(retention_reason(pushed, policy, now)),
        _ => None,
    };
    let (action, reason) = match (image_keep, tag_keep, delete_reason) {
        (_, _, None) => (Action::Keep, no_deletion_reason(origin, policy)),
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

fn retention_reason(pushed: Option<SystemTime>, policy: &PolicyInput, now: SystemTime) -> String {
    let mut parts = Vec::new();
    if let Some(n) = policy.keep_last {
        parts.push(format!("not among the newest {n} images"));
    }
    if let (Some(d), Some(p)) = (policy.keep_younger_than, pushed) {
        parts.push(format!(
            "pushed {} ago, older than {}",
            age(now.duration_since(p).unwrap_or_default()),
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
fn git_verdict(origin: Option<&Origin>, git: Option<&GitRefs>) -> Option<GitVerdict> {
    let o = origin?;
    let git = git?;
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
        GitVerdict::Exists(label)
    } else {
        GitVerdict::Gone(label)
    })
}
