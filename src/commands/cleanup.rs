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

pub async fn run(settings: &Settings) -> Result<()> {
    let doc = cleanup(settings).await?;
    match settings.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default()),
        Output::Text => print!(
            "{}",
            report::table(
                &doc,
                crate::log::stdout_color(),
                crate::log::verbosity() >= 2
            )
        ),
    }
    crate::ci::outputs::write(
        settings.output_files(),
        &settings.pipeline,
        crate::ci::outputs::Results {
            publish: None,
            cleanup: Some(&doc),
        },
    )?;
    outcome(&doc)
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
            inventory::collect(registry_ref, &repos[label], label, concurrency, &timed).await
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
    let the_plan = repositories::merge(inventories.iter().map(|inv| {
        plan::plan(
            std::slice::from_ref(inv),
            &scopes,
            &policies[&inv.repository],
            now,
        )
    }));
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
        let work = execute::execute_counted(
            registry.as_ref(),
            &the_plan,
            &repos,
            &seen,
            concurrency,
            &settled,
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
