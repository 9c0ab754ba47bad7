//! Carries out a plan: digests first (each once, for all its tags), then single-tag removals,
//! then what hangs off deleted images (attached tags, referrers, index children), so that an
//! interrupted run leaves nothing a kept image needs and a re-run converges. A 404 counts as done;
//! a failure is recorded and the rest goes on.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::model::{Method, Plan};
use crate::error::Result;
use crate::registry::Registry;
use crate::registry::distribution::{Deleted, Repo};
use crate::registry::untag::Untagged;

/// Groups (repository, item) pairs by repository, keeping each group's order.
fn by_repository<'a>(
    items: impl Iterator<Item = (&'a String, &'a String)>,
) -> BTreeMap<&'a str, Vec<String>> {
    let mut out: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (label, item) in items {
        out.entry(label.as_str()).or_default().push(item.clone());
    }
    out
}

/// What became of each planned deletion: `Ok` or the error text.
#[derive(Debug, Default)]
pub struct Results {
    /// (repository label, tag) → outcome.
    pub tags: BTreeMap<(String, String), Outcome>,
    /// (repository label, digest) → outcome, for children and referrers.
    pub manifests: BTreeMap<(String, String), Outcome>,
}

/// Why a deletion did not happen; `refused` when the registry cannot do it at all (deletion
/// disabled, operation unsupported), which is exit 4 rather than 1 when every failure is one;
/// `kept` when the registry keeps it on purpose for a documented reason (the report says kept,
/// with the reason, and it is no failure); `denied` when the credentials may not delete it
/// (exit 3 when every failure is one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub message: String,
    pub refused: bool,
    pub kept: bool,
    /// Refused for lack of permission (a 401/403 naming the role): exit 3.
    pub denied: bool,
}

impl Failed {
    fn new(message: impl Into<String>) -> Failed {
        Failed {
            message: message.into(),
            refused: false,
            kept: false,
            denied: false,
        }
    }
    fn kept(reason: impl Into<String>) -> Failed {
        Failed {
            message: reason.into(),
            refused: false,
            kept: true,
            denied: false,
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
        Some(Err(f)) if f.kept => Failed::kept(format!("{message}: {}", f.message)),
        Some(Err(f)) => Failed {
            message: message.into(),
            refused: f.refused,
            kept: false,
            denied: f.denied,
        },
        _ => Failed::new(message),
    }
}

/// `repos` maps each repository label of the plan to the registry repository it names.
pub async fn execute(
    registry: &dyn Registry,
    plan: &Plan,
    repos: &HashMap<String, Repo>,
    concurrency: usize,
) -> Results {
    let mut results = Results::default();
    let repo_of = |label: &str| {
        repos
            .get(label)
            .cloned()
            .unwrap_or_else(|| Repo::parse(label).expect("label"))
    };

    // 1. Whole digests (every tag on them is planned to go), a batch per repository.
    let mut digest_ok: HashMap<(String, String), Outcome> = HashMap::new();
    for (label, digests) in by_repository(plan.digests.iter().map(|(l, d)| (l, d))) {
        let repo = repo_of(label);
        let outcomes = registry.delete_digests(&repo, &digests, concurrency).await;
        for (digest, r) in digests.into_iter().zip(outcomes) {
            digest_ok.insert((label.to_string(), digest), done(r));
        }
    }
    for t in plan
        .deletions()
        .filter(|t| t.method == Some(Method::DeleteDigest))
    {
        let r = digest_ok
            .get(&(t.repository.clone(), t.digest.clone()))
            .cloned()
            .unwrap_or(Err(Failed::new("not attempted")));
        results
            .tags
            .insert((t.repository.clone(), t.tag.clone()), r);
    }

    // 2. Single tags, a batch per repository.
    let untags = plan
        .deletions()
        .filter(|t| t.method == Some(Method::Untag))
        .map(|t| (&t.repository, &t.tag));
    for (label, tags) in by_repository(untags) {
        let repo = repo_of(label);
        let outcomes = registry.untag_tags(&repo, &tags, concurrency).await;
        for (tag, r) in tags.into_iter().zip(outcomes) {
            let outcome = match r {
                Ok(Untagged::Kept(reason)) => Err(Failed::kept(reason)),
                Ok(_) => Ok(()),
                Err(e) => Err(Failed::from(e)),
            };
            results.tags.insert((label.to_string(), tag), outcome);
        }
    }

    // 3. What hangs off deleted digests, only where the parent really went.
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
        results
            .tags
            .insert((t.repository.clone(), t.tag.clone()), r);
    }
    results
}
