//! `dockhand cleanup`: inventory → plan → (execute) → report.

use std::collections::HashMap;
use std::time::SystemTime;

use futures_util::StreamExt;

use super::context::Context;
use super::detect;
use crate::cleanup::model::ImageScope;
use crate::cleanup::plan::{KeepList, PolicyInput};
use crate::cleanup::{execute, git, inventory, plan, report, repositories};
use crate::error::{Error, Result};
use crate::implementation::{Capabilities, registry_api_host};
use crate::registry::distribution::Repo;
use crate::settings::{Output, Settings};

/// The refs for git-aware cleanup from the source `--git-refs` names. `auto` takes the local
/// checkout when there is one, else the forge API the settings (or the CI) point at, else none.
async fn read_refs(
    settings: &Settings,
    git_dir: &std::path::Path,
    rules: git::CommitRules,
    run_transport: &crate::registry::transport::Transport,
) -> Result<Option<crate::cleanup::model::GitRefs>> {
    use crate::settings::GitRefs as Source;
    let f = &settings.forge;
    let github = || -> Result<(url::Url, crate::secret::Secret, String, String)> {
        let token = f.github_token.clone().ok_or_else(|| {
            Error::input("--git-refs github needs a GitHub token")
                .with_hint("pass --github-token or set GITHUB_TOKEN")
        })?;
        let repo = f.github_repository.clone().ok_or_else(|| {
            Error::input("--git-refs github needs the repository")
                .with_hint("pass --github-repository OWNER/REPO or set GITHUB_REPOSITORY")
        })?;
        let (owner, name) = repo
            .split_once('/')
            .map(|(o, n)| (o.to_string(), n.to_string()))
            .unwrap_or_default();
        let api = f
            .github_api_url
            .clone()
            .unwrap_or_else(|| url::Url::parse("https://api.github.com").expect("static URL"));
        Ok((api, token, owner, name))
    };
    let gitlab = || -> Result<(url::Url, crate::forge::gitlab::Token, String)> {
        // The same parsing as the registry side (`oauth2:<token>` → `Authorization: Bearer`).
        let token = match f.gitlab_token.as_ref() {
            Some(t) => super::host::gitlab_token(t),
            None => {
                return Err(
                    Error::input("--git-refs gitlab needs a GitLab token").with_hint(
                        "pass --gitlab-token (read_api) or run in GitLab CI (CI_JOB_TOKEN)",
                    ),
                );
            }
        };
        let project = f.gitlab_project.clone().ok_or_else(|| {
            Error::input("--git-refs gitlab needs the project")
                .with_hint("pass --gitlab-project ID or set CI_PROJECT_ID")
        })?;
        let api = f
            .gitlab_api_url
            .clone()
            .unwrap_or_else(|| url::Url::parse("https://gitlab.com/api/v4").expect("static URL"));
        Ok((api, token, project))
    };
    let transport = || Ok::<_, Error>(run_transport.clone());
    match settings.policy.git_refs {
        Source::GitHub => {
            let (api, token, owner, name) = github()?;
            crate::forge::github::refs(&transport()?, &api, &token, &owner, &name)
                .await
                .map(Some)
        }
        Source::GitLab => {
            let (api, token, project) = gitlab()?;
            crate::forge::gitlab::refs(&transport()?, &api, &token, &project)
                .await
                .map(Some)
        }
        // A shallow CI checkout knows only some branches; reading it would make the others look
        // deleted. Then the forge API, or the remote, is asked instead.
        Source::Auto if git::checkout_is_complete(git_dir) => {
            git::read(Source::Local, git_dir, rules)
        }
        Source::Auto if github().is_ok() => {
            let (api, token, owner, name) = github()?;
            crate::forge::github::refs(&transport()?, &api, &token, &owner, &name)
                .await
                .map(Some)
        }
        Source::Auto if gitlab().is_ok() => {
            let (api, token, project) = gitlab()?;
            crate::forge::gitlab::refs(&transport()?, &api, &token, &project)
                .await
                .map(Some)
        }
        Source::Auto => match git::read(Source::Remote, git_dir, rules) {
            Ok(r) => Ok(r),
            Err(e) => {
                crate::log::warn(&format!(
                    "git-aware cleanup is off: no complete checkout, no forge API, and {e}"
                ));
                Ok(None)
            }
        },
        other => git::read(other, git_dir, rules),
    }
}

/// Reads `--keep-list`: one reference (`host/repo:tag`) or digest a line; `#` starts a comment.
pub fn read_keep_list(path: &std::path::Path) -> Result<KeepList> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::input(format!("--keep-list {}: {e}", path.display()))
            .with_source(e)
            .with_hint("give a readable file")
    })?;
    let mut list = KeepList::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        if let Some((_, digest)) = line.rsplit_once('@') {
            list.digests.insert(digest.to_string());
        } else if line.starts_with("sha256:") {
            list.digests.insert(line.to_string());
        } else {
            let r = crate::naming::reference::Reference::parse(line).map_err(|e| {
                Error::input(format!("--keep-list {}:{}: {e}", path.display(), n + 1))
                    .with_source(e)
            })?;
            let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
            list.references
                .insert(format!("{}/{}:{tag}", r.registry, r.repository));
            // References are matched as the layout spells them, Docker Hub included.
            list.references
                .insert(format!("{}:{tag}", r.repository_ref()));
        }
    }
    Ok(list)
}

fn check_input(settings: &Settings) -> Result<()> {
    if settings.images.is_empty() {
        return Err(Error::input("cleanup needs the image names, and none are configured")
            .with_hint("list images in dockhand.yaml or pass --image NAME (repeatable); dockhand never guesses"));
    }
    Ok(())
}

/// One target's cleanup: its images repo and its report, or why it could not run.
pub struct TargetCleanup {
    pub images_repo: String,
    pub result: Result<report::Report>,
}

#[derive(serde::Serialize)]
struct TargetDoc<'a> {
    images_repo: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<&'a report::Report>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Cleans up every target with its own policy, one after the other (each reads its registry's
/// tags and decides alone); a target that fails does not stop the others. With one target this
/// is [`cleanup`]; with several, each `--report` file gets the target's number (`report.2.json`).
pub async fn cleanup_targets(settings: &Settings) -> Result<Vec<TargetCleanup>> {
    if settings.targets.len() < 2 {
        let doc = cleanup(settings).await?;
        let images_repo = settings
            .images_repo
            .as_ref()
            .map(|r| r.to_string())
            .unwrap_or_default();
        return Ok(vec![TargetCleanup {
            images_repo,
            result: Ok(doc),
        }]);
    }
    check_input(settings)?;
    let mut out = Vec::new();
    for (n, t) in settings.targets.iter().enumerate() {
        let mut one = settings.for_target(t);
        if let Some(p) = &one.policy.report {
            one.policy.report = Some(numbered(p, n + 1));
        }
        let images_repo = t.images_repo.to_string();
        crate::log::info(&format!("cleanup of {images_repo}"));
        let result = cleanup(&one).await;
        if let Err(e) = &result {
            crate::log::error(&format!("{images_repo}: {e}"));
        }
        out.push(TargetCleanup {
            images_repo,
            result,
        });
    }
    Ok(out)
}

/// `report.json` → `report.2.json` (the target's number before the extension).
fn numbered(p: &std::path::Path, n: usize) -> std::path::PathBuf {
    let stem = p
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match p.extension() {
        Some(ext) => format!("{stem}.{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{n}"),
    };
    p.with_file_name(name)
}

/// Prints the cleanups: one document or table for one target; per target otherwise (JSON:
/// `{"targets": [{images_repo, report | error}]}`).
pub fn print_targets(done: &[TargetCleanup], output: Output) {
    match (done, output) {
        ([one], Output::Json) => {
            if let Ok(doc) = &one.result {
                println!("{}", serde_json::to_string_pretty(doc).unwrap_or_default());
            }
        }
        ([one], Output::Text) => {
            if let Ok(doc) = &one.result {
                print!("{}", table(doc));
            }
        }
        (_, Output::Json) => {
            let docs: Vec<TargetDoc> = done.iter().map(target_doc).collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "targets": docs }))
                    .unwrap_or_default()
            );
        }
        (_, Output::Text) => {
            for t in done {
                println!("{}:", t.images_repo);
                match &t.result {
                    Ok(doc) => print!("{}", table(doc)),
                    Err(e) => println!("  failed: {e}"),
                }
            }
        }
    }
}

/// The per-target entries of a run's JSON document.
pub fn target_docs(done: &[TargetCleanup]) -> serde_json::Value {
    serde_json::to_value(done.iter().map(target_doc).collect::<Vec<_>>()).unwrap_or_default()
}

fn target_doc(t: &TargetCleanup) -> TargetDoc<'_> {
    TargetDoc {
        images_repo: &t.images_repo,
        report: t.result.as_ref().ok(),
        error: t.result.as_ref().err().map(|e| e.to_string()),
    }
}

fn table(doc: &report::Report) -> String {
    report::table(
        doc,
        crate::log::stdout_color(),
        crate::log::verbosity() >= 2,
    )
}

/// The reports, for the CI outputs: (images repo, report) of each target that ran.
pub fn reports(done: &[TargetCleanup]) -> Vec<(&str, &report::Report)> {
    done.iter()
        .filter_map(|t| t.result.as_ref().ok().map(|r| (t.images_repo.as_str(), r)))
        .collect()
}

pub async fn run(settings: &Settings) -> Result<()> {
    let done = cleanup_targets(settings).await?;
    print_targets(&done, settings.output);
    crate::ci::outputs::write_targets(
        settings.output_files(),
        &settings.pipeline,
        None,
        &reports(&done),
    )?;
    outcome_targets(&done)
}

/// Exit status of the cleanups of every target: one target's is [`outcome`]; with several, exit
/// 3 when every target failed for its credentials, else exit 1 when any failed.
pub fn outcome_targets(done: &[TargetCleanup]) -> Result<()> {
    let results: Vec<Result<()>> = done
        .iter()
        .map(|t| match &t.result {
            Ok(doc) => outcome(doc),
            Err(e) => Err(e.clone()),
        })
        .collect();
    if let [one] = results.as_slice() {
        return one.clone();
    }
    let failed: Vec<(&str, &Error)> = done
        .iter()
        .zip(&results)
        .filter_map(|(t, r)| r.as_ref().err().map(|e| (t.images_repo.as_str(), e)))
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = failed.iter().map(|(n, _)| *n).collect();
    let message = format!(
        "cleanup failed for {} of {} targets: {}",
        failed.len(),
        done.len(),
        names.join(", ")
    );
    if failed.len() == done.len()
        && failed
            .iter()
            .all(|(_, e)| e.kind == crate::error::Kind::Auth)
    {
        Err(Error::auth(message).with_hint("every registry refused the credentials"))
    } else {
        Err(Error::operation(message)
            .with_hint("the other targets were cleaned up; see the errors above"))
    }
}

/// Exit status of a cleanup: failures are exit 1.
pub fn outcome(doc: &report::Report) -> Result<()> {
    let s = &doc.summary;
    if s.failed > 0 && s.refused == s.failed {
        return Err(Error::unsupported(format!(
            "the registry refused all {} deletion(s): deletion is disabled or not supported there",
            s.failed
        ))
        .with_hint("enable deletion on the registry (distribution: storage.delete.enabled), or check --implementation"));
    }
    // Deletions refused for lack of permission are an authorization failure (exit 3), as
    // deletions the registry cannot do at all are exit 4: when every failure is one.
    if let Some(first) = s.first_denied.as_ref().filter(|_| s.denied == s.failed) {
        return Err(Error::auth(format!(
            "the registry denied all {} deletion(s) to these credentials; the first: {first}",
            s.failed
        ))
        .with_hint(
            "give the credentials delete permission (see the report), or run with --dry-run",
        ));
    }
    if doc.summary.failed > 0 {
        return Err(Error::operation(format!(
            "{} deletion(s) failed; the report names each",
            doc.summary.failed
        )));
    }
    Ok(())
}

/// Repositories whose inventories are read at the same time with `--all-repositories`.
const REPOSITORIES_AT_ONCE: usize = 4;

/// Plans and (unless a dry run) executes; writes `--report`; returns the document.
pub async fn cleanup(settings: &Settings) -> Result<report::Report> {
    // `--deadline` counts from about here (the settings were read just before).
    let started = std::time::Instant::now();
    if !settings.policy.all_repositories {
        check_input(settings)?;
    }
    let mut keep_list = match &settings.policy.keep_list {
        Some(p) => read_keep_list(p)?,
        None => KeepList::default(),
    };
    if let Some(k) = &settings.policy.keep_in_use {
        // Before any registry request: a cluster that cannot be read stops the run (exit 1,
        // nothing deleted) unless --skip-unreachable-clusters (docs/keep-in-use.md).
        let http = crate::kube::HttpOptions::from(&super::context::transport_config(settings));
        let in_use =
            crate::kube::collect(&k.kubeconfig, &k.contexts, k.skip_unreachable, &http).await?;
        for line in in_use.summary() {
            crate::log::info(&format!("--keep-in-use kubernetes: {line}"));
        }
        in_use.merge_into(&mut keep_list);
    }
    let git_dir = settings
        .policy
        .git_dir
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    let commit_rules = git::CommitRules {
        newest: settings.policy.keep_commits,
        within: settings.policy.keep_commits_younger_than,
    };
    let ctx = Context::new(settings)?;
    let git_refs = read_refs(settings, &git_dir, commit_rules, ctx.oci.transport()).await?;

    let resolved = detect::resolve(settings, &ctx).await?;
    let layout = &resolved.layout;
    let caps = Capabilities::of(resolved.detection.implementation, &layout.repo.host);
    let registry = crate::registry::open(
        caps,
        ctx.oci.clone(),
        &crate::implementation::registry_api_host(&layout.repo.host),
        &super::host::host_config(settings),
    )
    .await?;

    let mut scopes = Vec::new();
    let mut repos: HashMap<String, Repo> = HashMap::new();
    // With --all-repositories: repository → the `cleanup.repositories` rule that gave its policy.
    let mut rule_of: HashMap<String, Option<usize>> = HashMap::new();
    let rules = &settings.policy.repositories;
    if settings.policy.all_repositories {
        let under = layout.repo.path.join("/");
        let api_host = registry_api_host(&layout.repo.host);
        let listed = registry.repositories(&api_host, &under).await?;
        let (targets, unused) = repositories::targets(&layout.repo.host, &under, &listed, rules);
        for i in unused {
            crate::log::warn(&format!(
                "cleanup.repositories[{i}]: pattern {:?} matches no repository under {}",
                rules[i].pattern, layout.repo
            ));
        }
        crate::log::info(&format!(
            "--all-repositories: {} repositor{} under {} ({})",
            targets.len(),
            if targets.len() == 1 { "y" } else { "ies" },
            layout.repo,
            match caps.repository_listing {
                crate::implementation::RepositoryListing::Catalog => "the registry's catalog",
                crate::implementation::RepositoryListing::VendorApi => "the vendor's API",
            }
        ));
        for t in targets {
            let label = t.scope.repository.clone();
            let path = label
                .split_once('/')
                .map_or(String::new(), |(_, p)| p.to_string());
            repos.insert(label.clone(), Repo::new(api_host.clone(), path));
            rule_of.insert(label, t.rule);
            scopes.push(t.scope);
        }
    } else {
        for image in &settings.images {
            let name = image.name.as_deref();
            let label = layout.repository(name)?;
            scopes.push(ImageScope {
                image: image.name.clone(),
                repository: label.clone(),
                prefix: layout.tag_prefix(name),
            });
            let (host, path) = label.split_once('/').unwrap_or((&label, ""));
            repos.insert(label.clone(), Repo::new(registry_api_host(host), path));
        }
    }
    let concurrency = settings.concurrency.unwrap_or(caps.default_concurrency);
    let base = PolicyInput {
        keep_last: settings.policy.keep_last,
        keep_younger_than: settings.policy.keep_younger_than,
        keep_tag: settings.policy.keep_tag.clone(),
        only_tag: settings.policy.only_tag.clone(),
        grace: settings.policy.grace,
        allow_latest: settings.policy.allow_latest,
        keep_list,
        git: git_refs,
        commit_rules,
        // Every implementation has a way to remove one tag (its API, OCI tag delete or the safe
        // untag); a refusal at run time is reported for that tag.
        untag_possible: true,
        delete_untagged: settings.policy.delete_untagged,
        keep_pulled_within: settings.policy.keep_pulled_within,
        lists_untagged: caps.lists_untagged,
        pull_records: caps.pull_records,
    };
    let mut labels: Vec<&String> = repos.keys().collect();
    labels.sort();
    // Each repository's policy: its rule's overrides on the top-level policy (one policy for
    // all without --all-repositories).
    let policies: HashMap<&String, PolicyInput> = labels
        .iter()
        .map(|l| {
            let rule = rule_of.get(*l).copied().flatten().map(|i| &rules[i]);
            (*l, repositories::policy_for(&base, rule))
        })
        .collect();
    // Repositories are read a few at a time; requests within each are bounded by `concurrency`
    // and by the transport's per-host limit, which all of them share.
    let registry_ref = registry.as_ref();
    let reads = labels.iter().map(|label| {
        let label: &String = label;
        let policy = &policies[label];
        let scopes = &scopes;
        let repos = &repos;
        async move {
            // Push times matter only where an age rule can apply, and only for tags the policy
            // considers.
            let ages_matter = policy.keep_last.is_some()
                || policy.keep_younger_than.is_some()
                || !policy.grace.is_zero();
            let timed =
                |tag: &str| ages_matter && plan::considered(scopes, label, tag, &policy.only_tag);
            inventory::collect(
                registry_ref,
                &repos[label],
                label,
                concurrency,
                &timed,
                policy.keep_pulled_within.is_some(),
                policy.delete_untagged && caps.lists_untagged,
            )
            .await
        }
    });
    // Configured images are read one after another as before (vendor caches such as GitLab's
    // project lookup are filled by the first); every listed repository, a few at a time.
    let at_once = if settings.policy.all_repositories {
        REPOSITORIES_AT_ONCE
    } else {
        1
    };
    let collected: Vec<Result<crate::cleanup::model::Inventory>> =
        futures_util::stream::iter(reads)
            .buffered(at_once)
            .collect()
            .await;
    let mut inventories = Vec::new();
    for inv in collected {
        let inv = inv?;
        for tag in &inv.dangling {
            crate::log::warn(&format!(
                "{}:{tag} is listed but its manifest is missing (dangling); pulling it fails",
                inv.repository
            ));
        }
        inventories.push(inv);
    }
    let now = SystemTime::now();
    let mut the_plan = repositories::merge(inventories.iter().map(|inv| {
        plan::plan(
            std::slice::from_ref(inv),
            &scopes,
            &policies[&inv.repository],
            now,
        )
    }));
    let (deferred, pace) = budget(
        settings,
        registry.as_ref(),
        &mut the_plan,
        &inventories,
        concurrency,
        started,
    );
    for notice in &the_plan.notices {
        crate::log::notice(notice);
    }
    if let Some(p) = &pace {
        crate::log::info(&p.line());
    }
    let results = if settings.dry_run {
        None
    } else {
        let planned = the_plan
            .tags
            .iter()
            .filter(|t| t.action == crate::cleanup::model::Action::Delete)
            .count();
        let seen: HashMap<String, std::collections::BTreeMap<String, String>> = inventories
            .iter()
            .map(|i| (i.repository.clone(), i.tags.clone()))
            .collect();
        let settled = std::sync::atomic::AtomicU64::new(0);
        let work = execute::execute_deferring(
            registry.as_ref(),
            &the_plan,
            &repos,
            &seen,
            concurrency,
            &settled,
            &deferred,
        );
        let meter = crate::ci::progress::Meter::Count {
            done: &settled,
            total: planned as u64,
            unit: "tags",
        };
        Some(
            crate::ci::progress::watch(
                work,
                "cleaning up",
                || format!("deleting {planned} tag(s)"),
                Some(meter),
            )
            .await,
        )
    };
    let mut doc = report::build(
        resolved.detection.implementation.name(),
        &the_plan,
        results.as_ref(),
    );
    doc.pace = pace;
    if settings.policy.all_repositories {
        let grouped: Vec<(String, String)> = labels
            .iter()
            .map(|l| {
                let policy = match rule_of.get(*l).copied().flatten() {
                    Some(i) => rules[i].pattern.clone(),
                    None => "default".to_string(),
                };
                ((*l).clone(), policy)
            })
            .collect();
        report::group(&mut doc, &grouped);
    }
    if let Some(path) = &settings.policy.report {
        let json = serde_json::to_vec_pretty(&doc).unwrap_or_default();
        std::fs::write(path, json).map_err(|e| {
            Error::operation(format!("cannot write --report {}: {e}", path.display()))
                .with_source(e)
        })?;
    }
    Ok(doc)
}

/// This run's share of the plan: deletions oldest first; `--max-deletions` and, where the
/// registry's API is paced, what fits before `--deadline` (with a tenth to spare) go now, the
/// rest are deferred to the next run. Also the estimate of how long the deletions take at the
/// API's pace.
fn budget(
    settings: &Settings,
    registry: &dyn crate::registry::Registry,
    the_plan: &mut crate::cleanup::model::Plan,
    inventories: &[crate::cleanup::model::Inventory],
    concurrency: usize,
    started: std::time::Instant,
) -> (execute::Deferred, Option<report::Pace>) {
    let mut pushed = execute::Pushed::new();
    let mut sizes = HashMap::new();
    for inv in inventories {
        for (digest, m) in &inv.manifests {
            if let Some(at) = m.pushed.or(m.created) {
                pushed.insert((inv.repository.clone(), digest.clone()), at);
            }
        }
        sizes.insert(
            inv.repository.clone(),
            (inv.tags.len(), inv.manifests.len()),
        );
    }
    execute::oldest_first(the_plan, &pushed);
    let batch = registry.capabilities().batch_delete;
    let paced = |deferred: &execute::Deferred| {
        registry.paced(&execute::steps(
            the_plan,
            &sizes,
            batch,
            concurrency,
            deferred,
        ))
    };
    let units = execute::unit_count(the_plan);
    let mut n = settings.policy.max_deletions.unwrap_or(units).min(units);
    if let Some(deadline) = settings.deadline {
        let left = deadline.saturating_sub(started.elapsed()).mul_f64(0.9);
        let fits = |n: usize| {
            paced(&execute::defer(the_plan, &pushed, n)).is_none_or(|p| p.duration <= left)
        };
        if !fits(n) {
            // The most deletions whose paced duration fits (the duration grows with n).
            let (mut lo, mut hi) = (0, n);
            while lo < hi {
                let mid = (lo + hi).div_ceil(2);
                if fits(mid) { lo = mid } else { hi = mid - 1 }
            }
            crate::log::info(&format!(
                "{lo} of {n} deletion(s) fit before --deadline at the API's rate limits; the \
                 rest are deferred to the next run"
            ));
            n = lo;
        }
    }
    let deferred = if n < units {
        execute::defer(the_plan, &pushed, n)
    } else {
        execute::Deferred::default()
    };
    let pace = paced(&deferred).map(|p| report::Pace {
        deletions: n,
        requests: p.requests,
        seconds: (p.duration.as_secs_f64() * 10.0).round() / 10.0,
        limits: p.limits,
    });
    (deferred, pace)
}

#[cfg(test)]
mod target_tests {
    use super::*;

    #[test]
    fn report_files_are_numbered_per_target() {
        use std::path::Path;
        assert_eq!(
            numbered(Path::new("out/report.json"), 2),
            Path::new("out/report.2.json")
        );
        assert_eq!(numbered(Path::new("report"), 1), Path::new("report.1"));
    }

    #[test]
    fn exit_codes_over_targets() {
        let failed = |kind: crate::error::Kind| TargetCleanup {
            images_repo: "x".into(),
            result: Err(match kind {
                crate::error::Kind::Auth => Error::auth("refused"),
                _ => Error::operation("no"),
            }),
        };
        let e = outcome_targets(&[
            failed(crate::error::Kind::Auth),
            failed(crate::error::Kind::Auth),
        ])
        .unwrap_err();
        assert_eq!(e.kind, crate::error::Kind::Auth);
        let e = outcome_targets(&[
            failed(crate::error::Kind::Auth),
            failed(crate::error::Kind::Operation),
        ])
        .unwrap_err();
        assert_eq!(e.kind, crate::error::Kind::Operation);
        assert!(e.message.contains("2 of 2 targets"), "{e}");
        assert!(outcome_targets(&[]).is_ok());
    }
}
