//! Carries out a plan: digests first (each once, for all its tags), then single-tag removals,
//! then what hangs off deleted images (attached tags, referrers, index children), so that an
//! interrupted run leaves nothing a kept image needs and a re-run converges. A 404 counts as done;
//! a failure is recorded and the rest goes on.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use futures_util::StreamExt;

use super::model::{Method, Plan};
use crate::error::Result;
use crate::registry::Registry;
use crate::registry::distribution::{Deleted, Repo};

/// What became of each planned deletion: `Ok` or the error text.
#[derive(Debug, Default)]
pub struct Results {
    /// (repository label, tag) → outcome.
    pub tags: BTreeMap<(String, String), Result<(), String>>,
    /// (repository label, digest) → outcome, for children and referrers.
    pub manifests: BTreeMap<(String, String), Result<(), String>>,
}

fn done(d: Result<Deleted>) -> Result<(), String> {
    match d {
        Ok(Deleted::Done | Deleted::NotFound) => Ok(()),
        Ok(Deleted::Unsupported { status, code }) => Err(format!(
            "the registry refused the deletion (HTTP {status}{})",
            code.map(|c| format!(" {c}")).unwrap_or_default()
        )),
        Err(e) => Err(e.to_string()),
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

    // 1. Whole digests (every tag on them is planned to go).
    let digest_results: Vec<((String, String), Result<(), String>)> =
        futures_util::stream::iter(plan.digests.iter())
            .map(|(label, digest)| {
                let repo = repo_of(label);
                async move {
                    (
                        (label.clone(), digest.clone()),
                        done(registry.delete_digest(&repo, digest).await),
                    )
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
    let digest_ok: HashMap<(String, String), Result<(), String>> =
        digest_results.into_iter().collect();
    for t in plan
        .deletions()
        .filter(|t| t.method == Some(Method::DeleteDigest))
    {
        let r = digest_ok
            .get(&(t.repository.clone(), t.digest.clone()))
            .cloned()
            .unwrap_or(Err("not attempted".into()));
        results
            .tags
            .insert((t.repository.clone(), t.tag.clone()), r);
    }

    // 2. Single tags. What the first untag learns about tag deletes is reused for the rest.
    let learned: Mutex<HashMap<String, bool>> = Mutex::new(HashMap::new());
    let untags: Vec<((String, String), Result<(), String>)> =
        futures_util::stream::iter(plan.deletions().filter(|t| t.method == Some(Method::Untag)))
            .map(|t| {
                let repo = repo_of(&t.repository);
                let learned = &learned;
                async move {
                    let known = learned
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get(&repo.host)
                        .copied();
                    let r = registry.untag(&repo, &t.tag, known).await;
                    if let Ok((_, works)) = &r {
                        learned
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(repo.host.clone(), *works);
                    }
                    (
                        (t.repository.clone(), t.tag.clone()),
                        r.map(drop).map_err(|e| e.to_string()),
                    )
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
    results.tags.extend(untags);

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
            results.manifests.insert(
                (d.repository.clone(), d.digest.clone()),
                Err("its parent was not deleted".into()),
            );
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
            Err("its subject was not deleted".to_string())
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
