//! Carries out a plan: digests first (each once, for all its tags), then single-tag removals,
//! then what hangs off deleted images (attached tags, referrers, index children), so that an
//! interrupted run leaves nothing a kept image needs and a re-run converges. A failure is
//! recorded and the rest goes on.
//!
//! Nothing is taken on trust (docs/cleanup-safety.md): before each chunk of digest deletions the
//! repository is looked at again and a digest that gained a tag the plan does not delete is
//! kept; an untag skips a tag the look shows pushed again (where the look names digests);
//! untags that go through throw-away manifests run one at a time per repository (parallel ones
//! make distribution fail half-way); and after the deletions one more listing decides what the
//! report may call deleted.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use super::guard::{self, Recheck, View};
use super::model::{Action, Method, Plan, TagPlan};
use crate::error::Result;
use crate::registry::distribution::{Deleted, Repo};
use crate::registry::untag::Untagged;
use crate::registry::{Registry, Step};

/// What became of each planned deletion: `Ok` or the error text.
#[derive(Debug, Default)]
pub struct Results {
    /// (repository label, tag) → outcome.
    pub tags: BTreeMap<(String, String), Outcome>,
    /// (repository label, digest) → outcome, for children and referrers.
    pub manifests: BTreeMap<(String, String), Outcome>,
    /// (repository label, digest) → outcome, for untagged manifests (`--delete-untagged`).
    pub untagged: BTreeMap<(String, String), Outcome>,
    /// Tags outside the plan that vanished while cleanup ran (moved onto a deleted digest after
    /// the last look, or deleted by someone else). Reported as failures, so a user can check
    /// and push again.
    pub lost: Vec<Lost>,
}

/// A tag outside the plan that vanished while cleanup ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lost {
    pub repository: String,
    pub tag: String,
    /// Its digest at the last look.
    pub digest: String,
    /// It pointed at a digest this run deleted (else it was deleted by someone else, or moved
    /// onto a deleted digest after the last look).
    pub certain: bool,
}

/// Why a deletion did not happen; `refused` when the registry cannot do it at all (deletion
/// disabled, operation unsupported), which is exit 4 rather than 1 when every failure is one;
/// `kept` when the registry keeps it on purpose for a documented reason (the report says kept,
/// with the reason, and it is no failure); `denied` when the credentials may not delete it
/// (exit 3 when every failure is one).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Failed {
    pub message: String,
    pub refused: bool,
    pub kept: bool,
    /// Refused for lack of permission (a 401/403 naming the role): exit 3.
    pub denied: bool,
    /// Kept by dockhand itself (the repository changed since the plan), not by the registry.
    pub own: bool,
    /// Left for the next run by a budget (`--max-deletions`, the deadline): no failure.
    pub deferred: bool,
}

impl Failed {
    fn new(message: impl Into<String>) -> Failed {
        Failed {
            message: message.into(),
            refused: false,
            kept: false,
            denied: false,
            own: false,
            deferred: false,
        }
    }
    fn kept(reason: impl Into<String>) -> Failed {
        Failed {
            message: reason.into(),
            refused: false,
            kept: true,
            denied: false,
            own: false,
            deferred: false,
        }
    }
    /// Left for the next run.
    fn deferred() -> Failed {
        Failed {
            deferred: true,
            ..Failed::new("deferred to the next run: this run's deletion budget is spent")
        }
    }
    /// Kept because the repository changed since the plan was made.
    fn changed(reason: impl Into<String>) -> Failed {
        Failed {
            own: true,
            ..Failed::kept(reason)
        }
    }
}

impl From<crate::error::Error> for Failed {
    fn from(e: crate::error::Error) -> Failed {
        Failed {
            refused: e.kind == crate::error::Kind::Unsupported,
            message: e.to_string(),
            kept: false,
            denied: e.kind == crate::error::Kind::Auth,
            own: false,
            deferred: false,
        }
    }
}

pub type Outcome = std::result::Result<(), Failed>;

fn done(d: Result<Deleted>) -> Outcome {
    match d {
        Ok(Deleted::Done | Deleted::NotFound) => Ok(()),
        Ok(Deleted::Kept { reason }) => Err(Failed::kept(reason)),
        Ok(Deleted::Unsupported { status, code }) => Err(Failed {
            message: format!(
                "the registry refused the deletion (HTTP {status}{})",
                code.map(|c| format!(" {c}")).unwrap_or_default()
            ),
            refused: true,
            kept: false,
            denied: false,
            own: false,
            deferred: false,
        }),
        Err(e) => Err(e.into()),
    }
}

/// What a dependent becomes when its parent (or subject) was not deleted: kept when the
/// registry kept the parent on purpose (what hangs off a kept image stays with it), else a
/// failure of the same kind (refused: exit 4, denied: exit 3), so the exit code follows the cause.
fn consequence(
    digests: &HashMap<(String, String), Outcome>,
    manifests: &BTreeMap<(String, String), Outcome>,
    key: &(String, String),
    message: &str,
) -> Failed {
    match digests.get(key).or_else(|| manifests.get(key)) {
        Some(Err(f)) if f.deferred => Failed::deferred(),
        Some(Err(f)) if f.kept => Failed::kept(format!("{message}: {}", f.message)),
        Some(Err(f)) => Failed {
            message: message.into(),
            refused: f.refused,
            kept: false,
            denied: f.denied,
            own: false,
            deferred: false,
        },
        _ => Failed::new(message),
    }
}

/// Digest deletions between two looks at the repository, per unit of concurrency: small enough
/// that a tag pushed meanwhile is seen within about a second on distribution, large enough that
/// the looks cost a small fraction of the deletions (one tag list per chunk).
const CHUNK_PER_SLOT: usize = 8;

/// Planned digest deletions per HEAD spent on looking at kept tags again after the first look.
const REHEAD_PER: usize = 16;

/// `repos` maps each repository label of the plan to the registry repository it names;
/// `inventory` holds each label's tags as the inventory saw them (tag → digest).
pub async fn execute(
    registry: &dyn Registry,
    plan: &Plan,
    repos: &HashMap<String, Repo>,
    inventory: &HashMap<String, BTreeMap<String, String>>,
    concurrency: usize,
) -> Results {
    let settled = AtomicU64::new(0);
    execute_counted(registry, plan, repos, inventory, concurrency, &settled).await
}

/// What this run leaves for the next one (`--max-deletions`, the deadline): reported as
/// deferred, not failed; the next run plans them again, so nothing is stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deferred {
    /// (repository label, digest) of whole-digest deletions.
    pub digests: BTreeSet<(String, String)>,
    /// (repository label, tag) of single-tag removals and repairs.
    pub tags: BTreeSet<(String, String)>,
}

impl Deferred {
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty() && self.tags.is_empty()
    }
}

/// (repository label, digest) → push time, as the inventory saw it.
pub type Pushed = HashMap<(String, String), SystemTime>;

/// Orders the whole-digest deletions oldest first by push time (unknown times last, as if
/// newest), so that a run cut short has deleted the oldest.
pub fn oldest_first(plan: &mut Plan, pushed: &Pushed) {
    plan.digests
        .sort_by_key(|k| (pushed.get(k).is_none(), pushed.get(k).copied()));
}

/// Units of deletion (a whole digest, a single tag, a repair) oldest first.
fn units(plan: &Plan, pushed: &Pushed) -> Vec<(Option<SystemTime>, bool, (String, String))> {
    let mut units: Vec<_> = plan
        .digests
        .iter()
        .map(|k| (pushed.get(k).copied(), true, k.clone()))
        .collect();
    for t in plan
        .deletions()
        .filter(|t| matches!(t.method, Some(Method::Untag | Method::Repair)))
    {
        let at = pushed
            .get(&(t.repository.clone(), t.digest.clone()))
            .copied();
        units.push((at, false, (t.repository.clone(), t.tag.clone())));
    }
    units.sort_by_key(|(at, _, _)| (at.is_none(), *at));
    units
}

/// Keeps the `max` oldest deletions for this run and defers the rest (what hangs off a
/// deferred image is deferred with it).
pub fn defer(plan: &Plan, pushed: &Pushed, max: usize) -> Deferred {
    let mut deferred = Deferred::default();
    for (_, whole, key) in units(plan, pushed).into_iter().skip(max) {
        if whole {
            deferred.digests.insert(key);
        } else {
            deferred.tags.insert(key);
        }
    }
    deferred
}

/// Units of deletion in the plan (whole digests, single tags, repairs).
pub fn unit_count(plan: &Plan) -> usize {
    plan.digests.len()
        + plan
            .deletions()
            .filter(|t| matches!(t.method, Some(Method::Untag | Method::Repair)))
            .count()
}

/// The steps `execute` takes for `plan` with `deferred` left out, as a vendor API's pace sees
/// them: per repository a look, then chunks of digest deletions each after a look, the single
/// tags, the final look; then dependents and attached tags. `sizes` holds each label's (tags,
/// manifests) from the inventory; the looks are taken as vendor listings (the registries that
/// pace their API list through it).
pub fn steps(
    plan: &Plan,
    sizes: &HashMap<String, (usize, usize)>,
    batch_delete: Option<usize>,
    concurrency: usize,
    deferred: &Deferred,
) -> Vec<Step> {
    let mut out = Vec::new();
    let labels: BTreeSet<&String> = plan.deletions().map(|t| &t.repository).collect();
    let mut finals = Vec::new();
    for label in labels {
        let (tags, mut manifests) = sizes.get(label.as_str()).copied().unwrap_or_default();
        let digests = plan
            .digests
            .iter()
            .filter(|k| &k.0 == label && !deferred.digests.contains(*k))
            .count();
        let untags = plan
            .deletions()
            .filter(|t| {
                &t.repository == label && matches!(t.method, Some(Method::Untag | Method::Repair))
            })
            .filter(|t| {
                !deferred
                    .tags
                    .contains(&(t.repository.clone(), t.tag.clone()))
            })
            .count();
        if digests + untags == 0 {
            continue;
        }
        let chunk = chunk_size(batch_delete, concurrency, true, tags);
        out.push(Step::List { manifests });
        let mut left = digests;
        let mut first = true;
        while left > 0 {
            if !first {
                out.push(Step::List { manifests });
            }
            first = false;
            let part = left.min(chunk);
            out.push(Step::Delete { count: part });
            left -= part;
            manifests = manifests.saturating_sub(part);
        }
        if untags > 0 {
            out.push(Step::Untag { count: untags });
        }
        finals.push(Step::List { manifests });
    }
    let gone_with = |parent: &(String, String)| !deferred.digests.contains(parent);
    let dependents = plan
        .dependents
        .iter()
        .filter(|d| gone_with(&(d.repository.clone(), d.parent.clone())))
        .count();
    let attached = plan
        .deletions()
        .filter(|t| t.method == Some(Method::WithSubject))
        .filter(|t| {
            let subject = super::plan::attached_subject(&t.tag).unwrap_or_default();
            gone_with(&(t.repository.clone(), subject))
        })
        .count();
    if dependents + attached > 0 {
        out.push(Step::Delete {
            count: dependents + attached,
        });
    }
    out.extend(finals);
    out
}

/// Digest deletions between two looks (see `CHUNK_PER_SLOT`).
fn chunk_size(
    batch_delete: Option<usize>,
    concurrency: usize,
    vendor: bool,
    listed: usize,
) -> usize {
    let mut chunk = match batch_delete {
        Some(b) => b * (concurrency.max(1) * CHUNK_PER_SLOT / b).max(1),
        None => concurrency.max(1) * CHUNK_PER_SLOT,
    };
    if vendor {
        // A vendor listing costs a page per ~100 tags: bigger chunks in big repositories,
        // so the looks stay near one listing page per 80 deletions (API rate budgets).
        chunk = chunk.max(listed / CHUNK_PER_SLOT);
        if let Some(b) = batch_delete {
            chunk = chunk.div_ceil(b) * b;
        }
    }
    chunk
}

/// [`execute`], adding to `settled` each planned tag deletion as it is decided (done, failed
/// or kept), for a progress bar of the deletions done of those planned.
pub async fn execute_counted(
    registry: &dyn Registry,
    plan: &Plan,
    repos: &HashMap<String, Repo>,
    inventory: &HashMap<String, BTreeMap<String, String>>,
    concurrency: usize,
    settled: &AtomicU64,
) -> Results {
    let none = Deferred::default();
    execute_deferring(
        registry,
        plan,
        repos,
        inventory,
        concurrency,
        settled,
        &none,
    )
    .await
}

/// [`execute_counted`], leaving out the `deferred` deletions (reported as deferred).
pub async fn execute_deferring(
    registry: &dyn Registry,
    plan: &Plan,
    repos: &HashMap<String, Repo>,
    inventory: &HashMap<String, BTreeMap<String, String>>,
    concurrency: usize,
    settled: &AtomicU64,
    deferred: &Deferred,
) -> Results {
    let add = |n: usize| {
        settled.fetch_add(n as u64, Ordering::Relaxed);
    };
    let mut results = Results::default();
    let repo_of = |label: &str| {
        repos
            .get(label)
            .cloned()
            .unwrap_or_else(|| Repo::parse(label).expect("label"))
    };
    let empty = BTreeMap::new();
    let mut digest_ok: HashMap<(String, String), Outcome> = HashMap::new();
    // The last view of each repository with deletions, for the final check.
    let mut views: BTreeMap<String, View> = BTreeMap::new();

    let labels: BTreeSet<&String> = plan.deletions().map(|t| &t.repository).collect();
    for label in labels {
        let repo = repo_of(label);
        let deletions: Vec<&TagPlan> = plan
            .deletions()
            .filter(|t| &t.repository == label)
            .collect();
        let planned_tags: BTreeSet<String> = deletions.iter().map(|t| t.tag.clone()).collect();
        let mut on_digest: HashMap<&str, BTreeSet<String>> = HashMap::new();
        for t in &deletions {
            on_digest
                .entry(t.digest.as_str())
                .or_default()
                .insert(t.tag.clone());
        }
        // Left for the next run: recorded, and what hangs off them follows in step 4.
        for d in plan
            .digests
            .iter()
            .filter(|k| &k.0 == label && deferred.digests.contains(*k))
        {
            digest_ok.insert(d.clone(), Err(Failed::deferred()));
        }
        let is_deferred = |t: &TagPlan| match t.method {
            Some(Method::DeleteDigest) => deferred
                .digests
                .contains(&(label.clone(), t.digest.clone())),
            Some(Method::Untag | Method::Repair) => {
                deferred.tags.contains(&(label.clone(), t.tag.clone()))
            }
            _ => false,
        };
        let (later, deletions): (Vec<&TagPlan>, Vec<&TagPlan>) =
            deletions.into_iter().partition(|t| is_deferred(t));
        for t in &later {
            results
                .tags
                .insert((label.clone(), t.tag.clone()), Err(Failed::deferred()));
        }
        add(later.len());
        if !later.is_empty()
            && !deletions
                .iter()
                .any(|t| t.method != Some(Method::WithSubject))
        {
            continue;
        }
        let known = inventory.get(label.as_str()).unwrap_or(&empty);
        let mut view = match guard::look(
            registry,
            &repo,
            known,
            Recheck::AllBut(&planned_tags),
            concurrency,
        )
        .await
        {
            Ok(v) => v,
            Err(e) => {
                // Without a fresh look nothing is deleted in this repository.
                let why = format!("not deleted: the repository could not be re-read first: {e}");
                for t in &deletions {
                    results.tags.insert(
                        (label.clone(), t.tag.clone()),
                        Err(Failed {
                            denied: e.kind == crate::error::Kind::Auth,
                            ..Failed::new(why.clone())
                        }),
                    );
                }
                for d in plan.digests.iter().filter(|(l, _)| l == label) {
                    digest_ok.insert(d.clone(), Err(Failed::new(why.clone())));
                }
                add(deletions.len());
                continue;
            }
        };

        // 1. Whole digests (every tag on them is planned to go), in chunks, each after a look.
        let digests: Vec<String> = plan
            .digests
            .iter()
            .filter(|k| &k.0 == label && !deferred.digests.contains(*k))
            .map(|(_, d)| d.clone())
            .collect();
        // A batch API (ECR: 100 ids a call) gets whole batches.
        let chunk = chunk_size(
            registry.capabilities().batch_delete,
            concurrency,
            view.vendor,
            view.listed.len(),
        );
        // HEADs that may be spent on looking at the kept tags again (a kept tag moved onto a
        // planned digest): one per REHEAD_PER deletions, so the looks stay a small fraction of
        // the requests. Tags new since the last look are always looked at.
        let mut head_budget = digests.len() / REHEAD_PER;
        for (i, part) in digests.chunks(chunk).enumerate() {
            if i > 0 {
                let kept = view
                    .tags
                    .keys()
                    .filter(|t| !planned_tags.contains(*t))
                    .count();
                let recheck = if kept <= head_budget {
                    head_budget -= kept;
                    Recheck::AllBut(&planned_tags)
                } else {
                    Recheck::New
                };
                match guard::look(registry, &repo, &view.tags, recheck, concurrency).await {
                    Ok(v) => view = v,
                    Err(e) => {
                        let why = format!("not deleted: the repository could not be re-read: {e}");
                        for d in digests[i * chunk..].iter() {
                            digest_ok.insert((label.clone(), d.clone()), Err(Failed::new(&why)));
                        }
                        break;
                    }
                }
            }
            let mut go = Vec::new();
            for d in part {
                let blocking = guard::blockers(&view, d, on_digest.get(d.as_str()));
                if let Some(first) = blocking.first() {
                    digest_ok.insert(
                        (label.clone(), d.clone()),
                        Err(Failed::changed(format!(
                            "not deleted: tag {first} was put on this digest after the plan was made"
                        ))),
                    );
                } else {
                    go.push(d.clone());
                }
            }
            let outcomes = registry.delete_digests(&repo, &go, concurrency).await;
            for (digest, r) in go.into_iter().zip(outcomes) {
                digest_ok.insert((label.clone(), digest), done(r));
            }
            add(part
                .iter()
                .map(|d| on_digest.get(d.as_str()).map_or(0, BTreeSet::len))
                .sum());
        }
        for t in deletions
            .iter()
            .filter(|t| t.method == Some(Method::DeleteDigest))
        {
            let r = digest_ok
                .get(&(label.clone(), t.digest.clone()))
                .cloned()
                .unwrap_or(Err(Failed::new("not attempted")));
            // A planned tag that moved to other content stays with it.
            let r = match view.tags.get(&t.tag) {
                Some(now) if now != &t.digest && r.is_ok() => Err(moved(now)),
                _ => r,
            };
            results.tags.insert((label.clone(), t.tag.clone()), r);
        }

        // 2. Single tags, unless pushed again since the plan.
        let mut untags = Vec::new();
        for t in deletions.iter().filter(|t| t.method == Some(Method::Untag)) {
            match view.tags.get(&t.tag) {
                Some(now) if now != &t.digest => {
                    results
                        .tags
                        .insert((label.clone(), t.tag.clone()), Err(moved(now)));
                }
                _ => untags.push(t.tag.clone()),
            }
        }
        let outcomes = registry.untag_tags(&repo, &untags, concurrency).await;
        add(deletions
            .iter()
            .filter(|t| t.method == Some(Method::Untag))
            .count());
        for (tag, r) in untags.into_iter().zip(outcomes) {
            results.tags.insert((label.clone(), tag), untagged(r));
        }

        // 3. Dangling tags: listed, manifest gone. Look once more, then point each at a
        // throw-away and delete that.
        for t in deletions
            .iter()
            .filter(|t| t.method == Some(Method::Repair))
        {
            let r = match view.tags.get(&t.tag) {
                Some(now) => Err(moved(now)),
                None if !view.listed.contains(&t.tag) => Ok(()),
                None => untagged(crate::registry::untag::repair(registry, &repo, &t.tag).await),
            };
            add(1);
            results.tags.insert((label.clone(), t.tag.clone()), r);
        }
        views.insert(label.clone(), view);
    }

    // 4. What hangs off deleted digests, only where the parent really went.
    let gone: BTreeSet<(String, String)> = digest_ok
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(k, _)| k.clone())
        .collect();
    let mut gone_all = gone.clone();
    for d in &plan.dependents {
        if gone_all.contains(&(d.repository.clone(), d.parent.clone())) {
            let r = done(
                registry
                    .delete_digest(&repo_of(&d.repository), &d.digest)
                    .await,
            );
            if r.is_ok() {
                gone_all.insert((d.repository.clone(), d.digest.clone()));
            }
            results
                .manifests
                .insert((d.repository.clone(), d.digest.clone()), r);
        } else {
            let parent = (d.repository.clone(), d.parent.clone());
            let failed = consequence(
                &digest_ok,
                &results.manifests,
                &parent,
                "its parent was not deleted",
            );
            results
                .manifests
                .insert((d.repository.clone(), d.digest.clone()), Err(failed));
        }
    }
    for t in plan
        .deletions()
        .filter(|t| t.method == Some(Method::WithSubject))
    {
        let subject = super::plan::attached_subject(&t.tag).unwrap_or_default();
        let subject_known_deleted = gone_all.contains(&(t.repository.clone(), subject.clone()));
        let subject_planned = plan
            .digests
            .iter()
            .any(|(r, d)| r == &t.repository && d == &subject)
            || plan
                .dependents
                .iter()
                .any(|d| d.repository == t.repository && d.digest == subject);
        let r = if subject_planned && !subject_known_deleted {
            let key = (t.repository.clone(), subject.clone());
            Err(consequence(
                &digest_ok,
                &results.manifests,
                &key,
                "its subject was not deleted",
            ))
        } else {
            done(
                registry
                    .delete_digest(&repo_of(&t.repository), &t.digest)
                    .await,
            )
        };
        add(1);
        results
            .tags
            .insert((t.repository.clone(), t.tag.clone()), r);
    }

    // 5. Untagged manifests (`--delete-untagged`), each repository after a fresh look: one that
    // got a tag since the plan is an image again and stays.
    delete_untagged(
        registry,
        plan,
        &repo_of,
        &views,
        inventory,
        concurrency,
        &mut results,
    )
    .await;

    // 6. One more look: the report calls deleted only what is gone.
    for (label, before) in &views {
        confirm(
            registry,
            &repo_of(label),
            label,
            plan,
            before,
            &gone,
            &mut results,
        )
        .await;
    }
    results
}

async fn delete_untagged(
    registry: &dyn Registry,
    plan: &Plan,
    repo_of: &(dyn Fn(&str) -> Repo + Sync),
    views: &BTreeMap<String, View>,
    inventory: &HashMap<String, BTreeMap<String, String>>,
    concurrency: usize,
    results: &mut Results,
) {
    let labels: BTreeSet<&String> = plan
        .untagged
        .iter()
        .filter(|u| u.action == Action::Delete)
        .map(|u| &u.repository)
        .collect();
    let empty = BTreeMap::new();
    for label in labels {
        let repo = repo_of(label);
        let planned: Vec<_> = plan
            .untagged
            .iter()
            .filter(|u| &u.repository == label && u.action == Action::Delete)
            .collect();
        let known = views
            .get(label)
            .map(|v| &v.tags)
            .or_else(|| inventory.get(label.as_str()))
            .unwrap_or(&empty);
        let none = BTreeSet::new();
        let view = match guard::look(registry, &repo, known, Recheck::AllBut(&none), concurrency)
            .await
        {
            Ok(v) => v,
            Err(e) => {
                let why = format!("not deleted: the repository could not be re-read first: {e}");
                for u in &planned {
                    results.untagged.insert(
                        (label.clone(), u.digest.clone()),
                        Err(Failed {
                            denied: e.kind == crate::error::Kind::Auth,
                            ..Failed::new(why.clone())
                        }),
                    );
                }
                continue;
            }
        };
        // Indexes first: their children may be among the rest.
        for indexes in [true, false] {
            let mut go = Vec::new();
            for u in planned.iter().filter(|u| u.index == indexes) {
                match guard::blockers(&view, &u.digest, None).first() {
                    Some(tag) => {
                        results.untagged.insert(
                            (label.clone(), u.digest.clone()),
                            Err(Failed::changed(format!(
                                "not deleted: tag {tag} was put on this manifest after the plan was made"
                            ))),
                        );
                    }
                    None => go.push(u.digest.clone()),
                }
            }
            let outcomes = registry.delete_digests(&repo, &go, concurrency).await;
            for (digest, r) in go.into_iter().zip(outcomes) {
                results.untagged.insert((label.clone(), digest), done(r));
            }
        }
    }
}

fn moved(now: &str) -> Failed {
    Failed::changed(format!(
        "not deleted: the tag was pushed again after the plan was made (now {now})"
    ))
}

fn untagged(r: Result<Untagged>) -> Outcome {
    match r {
        Ok(Untagged::Kept(reason)) => Err(Failed::kept(reason)),
        Ok(_) => Ok(()),
        Err(e) => Err(Failed::from(e)),
    }
}

/// Lists `repo` once after its deletions. A tag reported deleted that is still listed is
/// looked at: pushed again (kept, with its new digest), still on the planned digest (the
/// registry said yes and did nothing: failed), or dangling (its manifest went, the tag stayed:
/// repaired through a throw-away, else failed). A tag of the last view that pointed at a
/// deleted digest and is gone now was moved there during the deletions: reported as lost.
async fn confirm(
    registry: &dyn Registry,
    repo: &Repo,
    label: &str,
    plan: &Plan,
    before: &View,
    gone: &BTreeSet<(String, String)>,
    results: &mut Results,
) {
    // The tag list is what counts here; tags already in the last view keep their digest (the
    // planned ones still listed are looked up one by one below).
    let after = match guard::look(registry, repo, &before.tags, Recheck::New, 1).await {
        Ok(v) => v,
        Err(e) => {
            crate::log::warn(&format!(
                "{label}: could not list the repository after the deletions to confirm them: {e}"
            ));
            return;
        }
    };
    for t in plan.deletions().filter(|t| t.repository == label) {
        let key = (label.to_string(), t.tag.clone());
        // Successes are checked; so are plain failures, because a DELETE that failed half-way
        // (distribution answers 500 when a parallel push rewrites a tag link it reads) may
        // have removed the tag after all, or left it dangling.
        let (succeeded, failed) = match results.tags.get(&key) {
            Some(Ok(())) => (true, false),
            Some(Err(f)) => (false, !f.kept && !f.refused && !f.denied && !f.deferred),
            None => (false, false),
        };
        if !succeeded && !failed {
            continue;
        }
        if !after.listed.contains(&t.tag) {
            if failed {
                results.tags.insert(key, Ok(()));
            }
            continue;
        }
        let now = if after.vendor {
            Ok(after.tags.get(&t.tag).cloned())
        } else {
            registry
                .oci()
                .head_manifest(repo, &t.tag)
                .await
                .map(|d| d.map(|d| d.digest))
        };
        let now = match now {
            Ok(now) => now,
            Err(e) => {
                results.tags.insert(
                    key,
                    Err(Failed::new(format!(
                        "still listed after its deletion, and looking it up failed: {e}"
                    ))),
                );
                continue;
            }
        };
        let outcome = match now.as_ref() {
            Some(now) if now != &t.digest => Err(moved(now)),
            Some(_) if failed => continue,
            Some(now) => Err(Failed::new(format!(
                "the registry answered the deletion with success, but the tag still points at {now}"
            ))),
            None => untagged(crate::registry::untag::repair(registry, repo, &t.tag).await)
                .map_err(|f| Failed {
                    message: format!(
                        "the tag is still listed but its manifest is gone (dangling); repairing it failed: {}",
                        f.message
                    ),
                    ..f
                }),
        };
        results.tags.insert(key, outcome);
    }
    // A digest the registry would not delete because it got a tag meanwhile (GCR refuses a
    // manifest that still has tags) keeps what hangs off it: kept, with that tag, not failed.
    let planned: BTreeSet<&str> = plan
        .deletions()
        .filter(|t| t.repository == label)
        .map(|t| t.tag.as_str())
        .collect();
    let holder = |digest: &str| {
        after
            .tags
            .iter()
            .find(|(t, d)| *d == digest && !planned.contains(t.as_str()))
            .map(|(t, _)| t.clone())
    };
    let held = |outcome: Option<&Outcome>, parent: &str| match outcome {
        Some(Err(f)) if !f.kept => holder(parent).map(|t| {
            Failed::changed(format!(
                "not deleted: {} got tag {t} during cleanup and stays",
                &parent[..parent.len().min(19)]
            ))
        }),
        _ => None,
    };
    for d in plan.dependents.iter().filter(|d| d.repository == label) {
        let key = (label.to_string(), d.digest.clone());
        if let Some(kept) = held(results.manifests.get(&key), &d.parent) {
            results.manifests.insert(key, Err(kept));
        }
    }
    for t in plan
        .deletions()
        .filter(|t| t.repository == label && t.method == Some(Method::WithSubject))
    {
        let key = (label.to_string(), t.tag.clone());
        let subject = super::plan::attached_subject(&t.tag).unwrap_or_default();
        if let Some(kept) = held(results.tags.get(&key), &subject) {
            results.tags.insert(key, Err(kept));
        }
    }

    // A tag this run did not plan to delete that is gone now: deleted by someone else, or
    // moved onto a digest this run deleted after the last look. Either way the user hears of it.
    for (tag, digest) in &before.tags {
        if !after.listed.contains(tag)
            && !plan
                .deletions()
                .any(|t| t.repository == label && &t.tag == tag)
        {
            let ours = gone.contains(&(label.to_string(), digest.clone()));
            results.lost.push(Lost {
                repository: label.to_string(),
                tag: tag.clone(),
                digest: digest.clone(),
                certain: ours,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::cleanup::model::{Action, Dependent, DependentKind};

    const REPO: &str = "ghcr.io/acme/app";
    /// The newest image, with an attached signature tag (so a real digest).
    const D5: &str = "sha256:5555555555555555555555555555555555555555555555555555555555555555";

    /// Five whole-digest deletions pushed at 5, 1, (unknown), 3, 2 and one untag pushed at 4,
    /// with a child of d1 and an attached tag of d5.
    fn plan() -> (Plan, Pushed) {
        let tag = |tag: &str, digest: &str, method| TagPlan {
            repository: REPO.into(),
            tag: tag.into(),
            digest: digest.into(),
            action: Action::Delete,
            reason: "stale".into(),
            method: Some(method),
            image: None,
        };
        let mut plan = Plan::default();
        let mut pushed = Pushed::new();
        for (d, at) in [
            (D5, Some(5)),
            ("d1", Some(1)),
            ("dx", None),
            ("d3", Some(3)),
            ("d2", Some(2)),
        ] {
            plan.tags
                .push(tag(&format!("t-{d}"), d, Method::DeleteDigest));
            plan.digests.push((REPO.into(), d.into()));
            if let Some(at) = at {
                pushed.insert(
                    (REPO.into(), d.into()),
                    UNIX_EPOCH + Duration::from_secs(at),
                );
            }
        }
        plan.tags.push(tag("u4", "d4", Method::Untag));
        pushed.insert(
            (REPO.into(), "d4".into()),
            UNIX_EPOCH + Duration::from_secs(4),
        );
        let attached = format!("sha256-{}.sig", "5".repeat(64));
        plan.tags.push(tag(&attached, "sig", Method::WithSubject));
        plan.dependents.push(Dependent {
            repository: REPO.into(),
            digest: "c1".into(),
            parent: "d1".into(),
            kind: DependentKind::Child,
        });
        (plan, pushed)
    }

    fn keys(set: &BTreeSet<(String, String)>) -> Vec<&str> {
        set.iter().map(|(_, k)| k.as_str()).collect()
    }

    #[test]
    fn digests_go_oldest_first_unknown_times_last() {
        let (mut plan, pushed) = plan();
        oldest_first(&mut plan, &pushed);
        let order: Vec<&str> = plan.digests.iter().map(|(_, d)| d.as_str()).collect();
        assert_eq!(order, ["d1", "d2", "d3", D5, "dx"]);
    }

    #[test]
    fn a_budget_defers_the_newest() {
        let (mut plan, pushed) = plan();
        oldest_first(&mut plan, &pushed);
        assert_eq!(unit_count(&plan), 6);
        let d = defer(&plan, &pushed, 3);
        assert_eq!(keys(&d.digests), ["dx", D5]);
        assert_eq!(keys(&d.tags), ["u4"]);
        assert!(defer(&plan, &pushed, 6).is_empty());
        assert_eq!(defer(&plan, &pushed, 0).digests.len(), 5);
    }

    /// The steps follow `execute`: a look, chunks each after a look, the untags, then what hangs
    /// off deleted images, then the final look; deferred work is left out.
    #[test]
    fn steps_mirror_the_execution() {
        let (mut plan, pushed) = plan();
        oldest_first(&mut plan, &pushed);
        let sizes = HashMap::from([(REPO.to_string(), (6, 8))]);
        let all = steps(&plan, &sizes, None, 1, &Deferred::default());
        assert_eq!(
            all,
            [
                Step::List { manifests: 8 },
                Step::Delete { count: 5 },
                Step::Untag { count: 1 },
                Step::Delete { count: 2 },
                Step::List { manifests: 3 },
            ]
        );
        // d5 (the attached tag's subject) deferred: its attached tag waits too.
        let d = defer(&plan, &pushed, 4);
        assert_eq!(keys(&d.digests), ["dx", D5]);
        let some = steps(&plan, &sizes, None, 1, &d);
        assert_eq!(
            some,
            [
                Step::List { manifests: 8 },
                Step::Delete { count: 3 },
                Step::Untag { count: 1 },
                Step::Delete { count: 1 },
                Step::List { manifests: 5 },
            ]
        );
        // Chunk sizes: 8 per slot, and with a vendor listing an eighth of the tags listed.
        assert_eq!(chunk_size(None, 1, false, 0), CHUNK_PER_SLOT);
        assert_eq!(chunk_size(None, 4, true, 5000), 625);
    }
}
