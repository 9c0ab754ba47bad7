//! Settings: the second stage of argument handling. Raw values from flags, `DOCKHAND_*`,
//! `INPUT_*` and the config file are layered (in that order of precedence) and validated into one
//! typed [`Settings`]; every error names the flag, variable or config key it came from.

pub mod env;
pub mod options;

use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;

use crate::config::{self, Config};
use crate::detect::CiHints;
use crate::error::{Error, Result};
use crate::implementation::Implementation;
use crate::log::ColorChoice;
use crate::naming::layout::ModeChoice;
use crate::naming::reference::{Digest, ImagesRepo, Reference};
use crate::naming::semver::{self, Latest};
use crate::naming::slug::slug_tag;
use crate::naming::tag::{validate_image_name, validate_tag};
use crate::naming::tags_from::{self, TagsFromEntry};
use crate::registry::credentials::Credential;
use crate::secret::Secret;
use env::Env;
use options::{Origin, Value, Values};

// Moved below the edge (the library does not import settings); named here too so that code that
// reads them through settings keeps compiling.
pub use crate::cleanup::git::RefSource as GitRefs;
pub use crate::naming::strategy::TagStrategy;
pub use crate::origin::OriginRecords;

/// `--on-fork-pr`: what publish and cleanup do in a pull request from a fork.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnForkPr {
    /// A notice, exit 0, nothing sent: the fork's token cannot write anyway.
    #[default]
    Skip,
    Run,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Output {
    #[default]
    Text,
    Json,
}

/// One image to work on: its name (`None` = the unnamed image) and where it was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    pub name: Option<String>,
    pub source: Option<String>,
}

/// `--tags-mode`: whether the user's tag options replace the CI's tag set (the default, as before
/// the option existed) or add to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TagsMode {
    #[default]
    Replace,
    Add,
}

pub fn parse_tags_mode(s: &str) -> Result<TagsMode> {
    match s.trim().to_ascii_lowercase().as_str() {
        "replace" => Ok(TagsMode::Replace),
        "add" => Ok(TagsMode::Add),
        _ => Err(Error::input(format!("{s:?} is neither replace nor add"))
            .with_hint("use replace (the default) or add")),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSpec {
    pub tag: String,
    pub strategy: TagStrategy,
    /// The value before slugging (a branch name such as `feature/x`).
    pub source_value: String,
}

/// `--keep-in-use kubernetes` and its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepInUse {
    /// `--kubeconfig`, else `KUBECONFIG`'s files, else `~/.kube/config` (filled in by `build`).
    pub kubeconfig: Vec<PathBuf>,
    pub contexts: crate::kube::Contexts,
    pub skip_unreachable: bool,
}

/// The cleanup policy as given (the planner of the cleanup issue consumes it).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub keep_last: Option<u32>,
    pub keep_younger_than: Option<Duration>,
    pub keep_tag: Vec<Regex>,
    pub only_tag: Vec<Regex>,
    pub grace: Duration,
    pub allow_latest: bool,
    pub keep_list: Option<PathBuf>,
    /// `--keep-in-use kubernetes`: the clusters whose images in use are kept.
    pub keep_in_use: Option<KeepInUse>,
    /// Commit tags of the newest N commits are kept.
    pub keep_commits: Option<u32>,
    /// Commit tags of commits made within this duration are kept.
    pub keep_commits_younger_than: Option<Duration>,
    /// `--delete-untagged`: untagged manifests the registry lists go after the grace period.
    pub delete_untagged: bool,
    /// `--keep-pulled-within`: images pulled within this duration are kept.
    pub keep_pulled_within: Option<Duration>,
    pub git_refs: GitRefs,
    pub git_dir: Option<PathBuf>,
    pub report: Option<PathBuf>,
    /// `--max-deletions`: images deleted this run at most, oldest first; the rest are deferred.
    pub max_deletions: Option<usize>,
    /// `--all-repositories`, or `cleanup.repositories` in the config: every repository under
    /// the images repo is cleaned.
    pub all_repositories: bool,
    /// `cleanup.repositories`: per-repository policies, first match wins.
    pub repositories: Vec<crate::cleanup::repositories::Rule>,
    /// Where the first `--image` was given (its origin's label) and what it names, when every
    /// repository is cleaned: a conflict, but only for a command that cleans up (see
    /// [`Policy::check_images`]); publishing those images under `cleanup.repositories` is fine.
    pub image_with_all_repositories: Option<(String, String)>,
    /// Whether `--all-repositories` itself (else `cleanup.repositories`) turned it on.
    pub all_repositories_flag: bool,
}

impl Policy {
    /// `--image` names some repositories, and `--all-repositories` (or `cleanup.repositories`)
    /// cleans all of them: exit 2 before any request. Called by the commands that clean up.
    pub fn check_images(&self) -> Result<()> {
        let Some((origin, name)) = &self.image_with_all_repositories else {
            return Ok(());
        };
        let why = if self.all_repositories_flag {
            "--all-repositories cleans every repository under the images repo"
        } else {
            "cleanup.repositories in the config cleans every repository under the images repo"
        };
        Err(Error::input(format!(
            "image {name:?} conflicts with all repositories: {why}, and --image names some"
        ))
        .with_hint(
            "use one: drop --image/DOCKHAND_IMAGE to clean every repository, or drop \
             --all-repositories (and cleanup.repositories) to clean the named images",
        )
        .context(origin.clone()))
    }
}

/// A GitLab API token and how it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForgeToken {
    /// `PRIVATE-TOKEN`: a personal, project or group token.
    Private(Secret),
    /// `JOB-TOKEN`: `CI_JOB_TOKEN`.
    Job(Secret),
}

/// Where git-aware cleanup can read refs from a forge API.
#[derive(Debug, Clone, Default)]
pub struct Forge {
    pub github_token: Option<Secret>,
    pub github_api_url: Option<url::Url>,
    pub github_repository: Option<String>,
    /// `--github-rate-limit` (None: github.com's documented limits).
    pub github_rate_limit: Option<crate::forge::github::Limits>,
    pub gitlab_token: Option<ForgeToken>,
    pub gitlab_api_url: Option<url::Url>,
    pub gitlab_project: Option<String>,
}

/// Credentials and endpoints of vendor management APIs. Each vendor module
/// reads its own; URLs are used exactly as given.
#[derive(Debug, Clone, Default)]
pub struct VendorSettings {
    pub docker_hub_username: Option<String>,
    pub docker_hub_password: Option<Secret>,
    pub docker_hub_token: Option<Secret>,
    pub docker_hub_api_url: Option<url::Url>,
    pub quay_token: Option<Secret>,
    pub harbor_username: Option<String>,
    pub harbor_password: Option<Secret>,
    pub azure_client_id: Option<String>,
    pub azure_client_secret: Option<Secret>,
    pub azure_tenant_id: Option<String>,
    pub azure_authority_host: Option<url::Url>,
    pub azure_access_token: Option<Secret>,
    pub google_access_token: Option<Secret>,
    pub google_json_key: Option<PathBuf>,
}

/// One registry a run publishes to and cleans up: an `--images-repo` (repeatable) or an item of
/// the config's `targets:`, with the settings that may differ between targets.
#[derive(Debug, Clone)]
pub struct Target {
    pub images_repo: ImagesRepo,
    pub mode: ModeChoice,
    pub implementation: Option<Implementation>,
    /// This target's login (`username_env`/`password_env` of its `targets:` item; the first
    /// target also takes `--registry-username`/`--registry-password`).
    pub registry_credential: Option<Credential>,
    /// The cleanup policy: the run's, with the item's `cleanup:` keys over it.
    pub policy: Policy,
}

#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The first target's images repo (what single-registry commands work on).
    pub images_repo: Option<ImagesRepo>,
    /// Every registry publish and cleanup work on, in the order given; the first one's values
    /// are also in `images_repo`, `mode`, `implementation`, `registry_credential` and `policy`.
    pub targets: Vec<Target>,
    pub mode: ModeChoice,
    pub implementation: Option<Implementation>,
    pub insecure_registries: Vec<String>,
    pub probe: bool,
    pub concurrency: Option<usize>,
    /// `--connect-timeout`, `--read-timeout`, `--retry-budget` (None: the transport's defaults).
    pub connect_timeout: Option<Duration>,
    pub read_timeout: Option<Duration>,
    pub retry_budget: Option<Duration>,
    /// `--deadline`: the whole run stops after this long.
    pub deadline: Option<Duration>,
    /// `--max-manifest-size` in bytes (default [`crate::registry::media::DEFAULT_MAX_MANIFEST_SIZE`]).
    pub max_manifest_size: Option<u64>,
    pub registry_credential: Option<Credential>,
    pub output: Output,
    /// `--color`: `auto` follows `log::color_wanted`.
    pub color: ColorChoice,
    pub images: Vec<ImageSpec>,
    pub tags: Vec<TagSpec>,
    /// `--tags-from` full references: each tag goes to the image whose repository it names.
    pub tags_from: Vec<TagsFromEntry>,
    pub tag_by_digest: bool,
    /// `--tag-latest`; `auto` is decided in [`Settings::build`] with the repository's tags.
    pub tag_latest: Latest,
    pub dry_run: bool,
    /// Copy referrers of the sources (registry, or held in an OCI layout) along with the images.
    pub with_referrers: bool,
    /// `sync --delete-extra`: delete the mirror's matching tags the source no longer has.
    pub delete_extra: bool,
    /// `promote --from`: the image to promote (a tag or a digest, checked here).
    pub from: Option<Reference>,
    /// `promote --from-digest`: the digest that was tested.
    pub from_digest: Option<Digest>,
    /// The image names given by `--image`/`DOCKHAND_IMAGE` (not the config file's): promote's
    /// choice among the configured images.
    pub image_flags: Vec<Option<String>>,
    pub policy: Policy,
    pub vendor: VendorSettings,
    pub forge: Forge,
    pub docker_config: Option<PathBuf>,
    pub ci: CiHints,
    pub project: Option<String>,
    pub config_path: Option<PathBuf>,
    pub stages: Vec<String>,
    pub on_fork_pr: OnForkPr,
    /// `--origin-records`.
    pub origin_records: OriginRecords,
    /// `--dotenv`: GitLab's dotenv report (the CI layer defaults it in GitLab CI).
    pub dotenv: Option<PathBuf>,
    /// `--junit`: a JUnit XML report.
    pub junit: Option<PathBuf>,
    /// The CI running us and the files it reads back.
    pub pipeline: crate::ci::Pipeline,
}

/// The default grace period for fresh pushes.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(2 * 3600);

impl Settings {
    /// The report files the CI outputs write (`--dotenv`, `--junit`).
    pub fn output_files(&self) -> crate::ci::outputs::Files<'_> {
        crate::ci::outputs::Files {
            dotenv: self.dotenv.as_deref(),
            junit: self.junit.as_deref(),
        }
    }

    /// Layers and validates. `flags` are the values given on the command line; `ci` is the CI
    /// context (computed once per run by the caller); `cwd` is where default config files are
    /// looked for.
    pub fn build(
        flags: Values,
        env: &Env,
        ci: Option<&crate::ci::context::CiContext>,
        cwd: &Path,
    ) -> Result<Settings> {
        env.check_names()?;
        let env_layers = env
            .options(env::DOCKHAND_PREFIX)?
            .over(env.options(env::INPUT_PREFIX)?);
        let upper = flags.over(env_layers);
        let upper_repos = upper.get("images_repo").cloned();
        let config_flag = match upper.get("config") {
            Some((Value::Text(p), _)) => Some(PathBuf::from(p)),
            _ => None,
        };
        let config_path = config::find(config_flag.as_deref(), cwd)?;
        let config = match &config_path {
            Some(p) => Some(config::load(p)?),
            None => None,
        };
        let values = match &config {
            Some(c) => upper.over(c.values.clone()),
            None => upper,
        };
        let ci_layer = env.ci_defaults(ci, &values);
        let add = match values.get("tags_mode") {
            Some((Value::Text(m), o)) => parse_tags_mode(m).map_err(|e| at(o, e))? == TagsMode::Add,
            _ => false,
        };
        let user_custom = values.get("tag_custom").cloned();
        let mut values = values.over(ci_layer.clone());
        // `--tags-mode add`: the user's custom tags join the CI's (`pr-N`, `mr-N`).
        if add
            && let (Some((Value::List(user), origin)), Some((Value::List(ci), _))) =
                (user_custom, ci_layer.get("tag_custom"))
        {
            let mut joined = ci.clone();
            joined.extend(user.into_iter().filter(|t| !ci.contains(t)));
            values.set("tag_custom", Value::List(joined), origin);
        }
        let ci_commit = ci.and_then(|c| c.commit.as_ref()).map(|c| c.value.clone());
        let mut s = Settings::from_values(&values, config.as_ref(), ci_commit.as_deref())?;
        s.targets = targets(&s, &values, upper_repos, config.as_ref(), env)?;
        if let Some(first) = s.targets.first().cloned() {
            s.images_repo = Some(first.images_repo);
            s.mode = first.mode;
            s.implementation = first.implementation;
            s.registry_credential = first.registry_credential;
            s.policy = first.policy;
        }
        // An explicit GitLab token is a personal/project token; the CI job token is a job token.
        if s.forge.gitlab_token.is_none() {
            s.forge.gitlab_token = env.ci_job_token().map(|t| ForgeToken::Job(Secret::new(t)));
        }
        if s.tag_latest == Latest::Auto {
            let default_branch = ci
                .and_then(|c| c.default_branch.as_ref())
                .map(|b| b.value.clone());
            let git_dir = s
                .policy
                .git_dir
                .clone()
                .unwrap_or_else(|| cwd.to_path_buf());
            resolve_latest(&mut s, default_branch, &git_dir);
        }
        s.docker_config = env.docker_config_file();
        if let Some(k) = &mut s.policy.keep_in_use
            && k.kubeconfig.is_empty()
        {
            k.kubeconfig = crate::kube::kubeconfig::default_paths(
                env.get(env::KUBECONFIG),
                env.get(env::HOME).map(Path::new),
            );
        }
        s.ci = env.ci_hints();
        s.pipeline = crate::ci::Pipeline::from_env(env, ci);
        s.config_path = config_path;
        s.project = config.map(|c| c.project);
        Ok(s)
    }

    fn from_values(
        v: &Values,
        config: Option<&Config>,
        ci_commit: Option<&str>,
    ) -> Result<Settings> {
        let r = Reader(v);
        let mode = r
            .parse("images_repo_mode", |s| s.parse::<ModeChoice>())?
            .unwrap_or_default();
        let implementation = r.parse("implementation", |s| s.parse::<Implementation>())?;
        let concurrency = r.parse("concurrency", |s| match s.parse::<usize>() {
            Ok(n) if (1..=256).contains(&n) => Ok(n),
            _ => Err(Error::input(format!("{s:?} is not a number from 1 to 256"))),
        })?;
        let positive = |s: &str| match duration(s)? {
            d if d.is_zero() => Err(Error::input(format!("{s:?} must be longer than 0"))
                .with_hint("write it like 10s, 90s or 5m")),
            d => Ok(d),
        };
        let connect_timeout = r.parse("connect_timeout", positive)?;
        let read_timeout = r.parse("read_timeout", positive)?;
        let retry_budget = r.parse("retry_budget", duration)?;
        let deadline = r.parse("deadline", positive)?;
        let max_manifest_size = r.parse("max_manifest_size", parse_manifest_size)?;
        let output = r.parse("output", parse_output)?.unwrap_or_default();
        let color = r.parse("color", parse_color)?.unwrap_or_default();
        let registry_credential = match (r.text("registry_username"), r.text("registry_password")) {
            (Some((u, _)), Some((p, _))) => Some(Credential::basic(u, p)),
            (None, None) => None,
            (Some((_, o)), None) => {
                return Err(
                    Error::input(format!("{} is given without a password", o.label()))
                        .with_hint("also set DOCKHAND_REGISTRY_PASSWORD (or --registry-password)"),
                );
            }
            (None, Some((_, o))) => {
                return Err(
                    Error::input(format!("{} is given without a username", o.label()))
                        .with_hint("also set DOCKHAND_REGISTRY_USERNAME (or --registry-username)"),
                );
            }
        };
        let mut insecure_registries = Vec::new();
        for (h, o) in r.list("insecure_registry") {
            if h.contains('/') || h.contains("://") {
                return Err(at(
                    o,
                    Error::input(format!("{h:?} is not a host"))
                        .with_hint("give HOST or HOST:PORT, without scheme or path"),
                ));
            }
            insecure_registries.push(h.to_ascii_lowercase());
        }

        let images = images(&r, config)?;
        let url = |name: &str| {
            r.parse(name, |s| {
                url::Url::parse(s.trim_end_matches('/')).map_err(|e| {
                    Error::input(format!("{s:?} is not a URL ({e})"))
                        .with_source(e)
                        .with_hint("give it as https://HOST/PATH")
                })
            })
        };
        let forge = Forge {
            github_token: r.text("github_token").map(|(t, _)| Secret::new(t)),
            github_api_url: url("github_api_url")?,
            github_repository: r.parse("github_repository", |s| match s.split_once('/') {
                Some((o, n)) if !o.is_empty() && !n.is_empty() && !n.contains('/') => {
                    Ok(s.to_string())
                }
                _ => Err(Error::input(format!("{s:?} is not OWNER/REPO"))),
            })?,
            github_rate_limit: r.parse("github_rate_limit", |s| {
                crate::forge::github::Limits::parse(s).map_err(|e| {
                    Error::input(e).with_hint(
                        "e.g. --github-rate-limit requests=15000/1h (a GitHub App), or off \
                         where GitHub Enterprise Server has no rate limits",
                    )
                })
            })?,
            gitlab_token: r
                .text("gitlab_token")
                .map(|(t, _)| ForgeToken::Private(Secret::new(t))),
            gitlab_api_url: url("gitlab_api_url")?,
            gitlab_project: r.text("gitlab_project").map(|(p, _)| p),
        };
        let secret = |name: &str| r.text(name).map(|(t, _)| Secret::new(t));
        let vendor = VendorSettings {
            docker_hub_username: r.text("docker_hub_username").map(|(t, _)| t),
            docker_hub_password: secret("docker_hub_password"),
            docker_hub_token: secret("docker_hub_token"),
            docker_hub_api_url: url("docker_hub_api_url")?,
            quay_token: secret("quay_token"),
            harbor_username: r.text("harbor_username").map(|(t, _)| t),
            harbor_password: secret("harbor_password"),
            azure_client_id: r.text("azure_client_id").map(|(t, _)| t),
            azure_client_secret: secret("azure_client_secret"),
            azure_tenant_id: r.text("azure_tenant_id").map(|(t, _)| t),
            azure_authority_host: url("azure_authority_host")?,
            azure_access_token: secret("azure_access_token"),
            google_access_token: secret("google_access_token"),
            google_json_key: r.text("google_json_key").map(|(t, _)| PathBuf::from(t)),
        };
        let (tags, tags_from, tag_latest) = tags(&r, ci_commit)?;
        let (from, from_digest) = promotion(&r)?;
        let mut image_flags: Vec<Option<String>> = Vec::new();
        for (item, _) in r.list("image") {
            let name = image_flag_name(&item).map(str::to_string);
            if !image_flags.contains(&name) {
                image_flags.push(name);
            }
        }
        let mut policy = policy(&r)?;
        (policy.all_repositories, policy.repositories) = all_repositories(&r, config)?;
        policy.all_repositories_flag = r.flag("all_repositories")?;
        if policy.all_repositories {
            policy.image_with_all_repositories = r
                .list("image")
                .into_iter()
                .next()
                .map(|(name, origin)| (origin.label(), name));
        }
        let stages = match r.text("stages") {
            Some((s, o)) => {
                let list: Vec<String> = s
                    .split(',')
                    .map(|x| x.trim().to_ascii_lowercase())
                    .filter(|x| !x.is_empty())
                    .collect();
                if let Some(bad) = list
                    .iter()
                    .find(|x| !["publish", "promote", "cleanup"].contains(&x.as_str()))
                {
                    return Err(at(
                        o,
                        Error::input(format!("unknown stage {bad:?}")).with_hint(
                            "use publish, promote, cleanup, publish,cleanup or promote,cleanup",
                        ),
                    ));
                }
                // Promote takes publish's place in a run: both would write the same tags.
                if list.iter().any(|x| x == "publish") && list.iter().any(|x| x == "promote") {
                    return Err(at(
                        o,
                        Error::input("stages publish and promote exclude each other")
                            .with_hint("a build pipeline runs publish,cleanup; a release pipeline promote,cleanup"),
                    ));
                }
                list
            }
            None => vec!["publish".into(), "cleanup".into()],
        };
        let on_fork_pr = match r.text("on_fork_pr") {
            Some((s, o)) => match s.to_ascii_lowercase().as_str() {
                "skip" => OnForkPr::Skip,
                "run" => OnForkPr::Run,
                _ => {
                    return Err(at(
                        o,
                        Error::input(format!("{s:?} is neither skip nor run"))
                            .with_hint("use skip (the default) or run"),
                    ));
                }
            },
            None => OnForkPr::Skip,
        };
        let origin_records = r
            .parse("origin_records", parse_origin_records)?
            .unwrap_or_default();
        Ok(Settings {
            mode,
            implementation,
            insecure_registries,
            probe: !r.flag("no_probe")?,
            concurrency,
            connect_timeout,
            read_timeout,
            retry_budget,
            deadline,
            max_manifest_size,
            registry_credential,
            output,
            color,
            images,
            tags,
            tags_from,
            tag_latest,
            tag_by_digest: r.flag("tag_by_digest")?,
            dry_run: r.flag("dry_run")?,
            with_referrers: r.flag("with_referrers")?,
            delete_extra: r.flag("delete_extra")?,
            from,
            from_digest,
            image_flags,
            forge,
            policy,
            vendor,
            stages,
            on_fork_pr,
            origin_records,
            dotenv: r.text("dotenv").map(|(p, _)| PathBuf::from(p)),
            junit: r.text("junit").map(|(p, _)| PathBuf::from(p)),
            ..Default::default()
        })
    }

    /// These settings narrowed to one target: its images repo, mode, implementation, login and
    /// policy, as a single-registry command reads them.
    pub fn for_target(&self, t: &Target) -> Settings {
        let mut s = self.clone();
        s.images_repo = Some(t.images_repo.clone());
        s.mode = t.mode;
        s.implementation = t.implementation;
        s.registry_credential = t.registry_credential.clone();
        s.policy = t.policy.clone();
        s.targets = vec![t.clone()];
        s
    }

    /// These settings with only `targets` (the first one's values in the single-registry fields).
    pub fn with_targets(&self, targets: Vec<Target>) -> Settings {
        let mut s = match targets.first() {
            Some(first) => self.for_target(first),
            None => self.clone(),
        };
        s.targets = targets;
        s
    }

    /// The targets, or the error a command that needs one gives.
    pub fn require_targets(&self) -> Result<&[Target]> {
        self.require_images_repo()?;
        Ok(&self.targets)
    }

    /// The images repo, or the error a command that needs one gives.
    pub fn require_images_repo(&self) -> Result<&ImagesRepo> {
        self.images_repo.as_ref().ok_or_else(|| {
            Error::input("no images repo given")
                .with_hint("pass -i/--images-repo REPO, set DOCKHAND_IMAGES_REPO, or put images_repo in the config file")
        })
    }
}

/// The targets: the repositories flags or variables give (each taking the settings of the
/// config's `targets:` item with the same images repo, if any), else the config's `targets:`,
/// else the one images repo of the config or the CI. An item's own keys win over the run's
/// (it is the more specific), so one target can keep more than the others.
fn targets(
    base: &Settings,
    values: &Values,
    upper: Option<(Value, Origin)>,
    config: Option<&Config>,
    env: &Env,
) -> Result<Vec<Target>> {
    let entries: &[config::TargetEntry] = config.map_or(&[], |c| c.targets.as_slice());
    if !entries.is_empty()
        && let Some((_, o @ Origin::Config { .. })) = values.get("images_repo")
    {
        return Err(at(
            o,
            Error::input("is given together with `targets:`")
                .with_hint("list every registry under `targets:` (each with its images_repo), or keep images_repo alone"),
        ));
    }
    // (repository text, its origin, the config item that describes it)
    let mut given: Vec<(String, Origin, Option<&config::TargetEntry>)> = Vec::new();
    // The run's login (`--registry-username`, the CI's) is for the first images repo the user
    // or CI gave; items of `targets:` carry their own (the CI's job token must never reach
    // another registry).
    let mut run_login = true;
    let entry_repo = |e: &config::TargetEntry| match e.values.get("images_repo") {
        Some((Value::Text(t), o)) => Some((t.clone(), o.clone())),
        _ => None,
    };
    let from_upper = upper.map(|(v, o)| {
        let items = match v {
            Value::List(l) => l,
            Value::Text(t) => vec![t],
            Value::Bool(_) => Vec::new(),
        };
        (items, o)
    });
    match from_upper {
        Some((items, o)) => {
            for (n, item) in items.into_iter().enumerate() {
                if item.is_empty() {
                    return Err(at(
                        &o,
                        Error::input(format!("item {} of the list is empty", n + 1)).with_hint(
                            "separate images repos with one comma or newline, without a trailing comma",
                        ),
                    ));
                }
                let parsed = ImagesRepo::parse(&item).map_err(|e| at(&o, e.into()))?;
                let entry = entries.iter().find(|e| {
                    entry_repo(e)
                        .is_some_and(|(t, _)| ImagesRepo::parse(&t).ok() == Some(parsed.clone()))
                });
                given.push((item, o.clone(), entry));
            }
        }
        None if !entries.is_empty() => {
            run_login = false;
            for e in entries {
                // `images_repo` is a required key of an item.
                let (t, o) = entry_repo(e).unwrap_or((String::new(), Origin::Default));
                given.push((t, o, Some(e)));
            }
        }
        None => {
            if let Some((t, o)) = Reader(values).text("images_repo") {
                given.push((t, o.clone(), None));
            }
        }
    }
    let mut out: Vec<Target> = Vec::new();
    for (i, (text, origin, entry)) in given.into_iter().enumerate() {
        let images_repo = ImagesRepo::parse(&text).map_err(|e| at(&origin, e.into()))?;
        // Hosts compare without case (DNS), paths exactly.
        if out.iter().any(|t| {
            t.images_repo.host.eq_ignore_ascii_case(&images_repo.host)
                && t.images_repo.path == images_repo.path
        }) {
            return Err(at(
                &origin,
                Error::input(format!("images repo {images_repo} is given twice"))
                    .with_hint("list each images repo once"),
            ));
        }
        let (mode, implementation, policy) = match entry {
            Some(e) => {
                let layered = e.values.clone().over(values.clone());
                let r = Reader(&layered);
                (
                    r.parse("images_repo_mode", |s| s.parse::<ModeChoice>())?
                        .unwrap_or_default(),
                    r.parse("implementation", |s| s.parse::<Implementation>())?,
                    policy(&r)?,
                )
            }
            None => (base.mode, base.implementation, base.policy.clone()),
        };
        let own = match entry {
            Some(e) => target_credential(e, config, env)?,
            None => None,
        };
        // The run's login belongs to the first registry only: sending it to another registry
        // would hand one registry's password to a different one.
        let registry_credential = own.or_else(|| {
            (i == 0 && run_login)
                .then(|| base.registry_credential.clone())
                .flatten()
        });
        if let Some(other) = out.iter().find(|t| {
            t.images_repo.host.eq_ignore_ascii_case(&images_repo.host)
                && t.registry_credential != registry_credential
                && t.registry_credential.is_some()
                && registry_credential.is_some()
        }) {
            return Err(at(
                &origin,
                Error::input(format!(
                    "{images_repo} and {} are on one registry with different logins",
                    other.images_repo
                ))
                .with_hint("targets on one registry share its login: give it once"),
            ));
        }
        out.push(Target {
            images_repo,
            mode,
            implementation,
            registry_credential,
            policy,
        });
    }
    Ok(out)
}

/// A `targets:` item's login from the variables it names; a named variable that is unset is
/// bad input, as a forgotten secret would otherwise mean an anonymous push.
fn target_credential(
    e: &config::TargetEntry,
    config: Option<&Config>,
    env: &Env,
) -> Result<Option<Credential>> {
    let file = config.map_or_else(String::new, |c| c.path.display().to_string());
    let key = |k: &str| format!("{file}: targets[{}].{k}", e.index);
    let read = |k: &str, var: &str| -> Result<String> {
        match env.get(var) {
            Some(v) if !v.is_empty() => Ok(v.to_string()),
            _ => Err(
                Error::input(format!("{}: variable {var} is not set", key(k)))
                    .with_hint(format!("set {var} (e.g. from a CI secret), or remove {k}")),
            ),
        }
    };
    match (&e.username_env, &e.password_env) {
        (Some(u), Some(p)) => {
            let password = read("password_env", p)?;
            crate::secret::register(&password);
            Ok(Some(Credential::basic(read("username_env", u)?, password)))
        }
        (None, None) => Ok(None),
        (Some(_), None) => Err(Error::input(format!(
            "{}: is given without password_env",
            key("username_env")
        ))
        .with_hint("name the variable holding the password or token in password_env too")),
        (None, Some(_)) => Err(Error::input(format!(
            "{}: is given without username_env",
            key("password_env")
        ))
        .with_hint("name the variable holding the username in username_env too")),
    }
}

fn at(origin: &Origin, e: Error) -> Error {
    e.context(origin.label())
}

/// Typed reads from the merged layers.
struct Reader<'a>(&'a Values);

impl Reader<'_> {
    fn text(&self, name: &str) -> Option<(String, &Origin)> {
        match self.0.get(name) {
            Some((Value::Text(s), o)) if !s.is_empty() => Some((s.clone(), o)),
            Some((Value::List(l), o)) => l.last().map(|s| (s.clone(), o)),
            _ => None,
        }
    }
    fn list(&self, name: &str) -> Vec<(String, &Origin)> {
        match self.0.get(name) {
            Some((Value::List(l), o)) => l.iter().map(|s| (s.clone(), o)).collect(),
            Some((Value::Text(s), o)) if !s.is_empty() => vec![(s.clone(), o)],
            _ => Vec::new(),
        }
    }
    fn flag(&self, name: &str) -> Result<bool> {
        match self.0.get(name) {
            Some((Value::Bool(b), _)) => Ok(*b),
            Some((Value::Text(s), o)) => Err(at(
                o,
                Error::input(format!("{s:?} is not a boolean")).with_hint("use true or false"),
            )),
            _ => Ok(false),
        }
    }
    fn parse<T>(&self, name: &str, f: impl Fn(&str) -> Result<T>) -> Result<Option<T>> {
        self.text(name)
            .map(|(s, o)| f(&s).map_err(|e| at(o, e)))
            .transpose()
    }
}

fn images(r: &Reader, config: Option<&Config>) -> Result<Vec<ImageSpec>> {
    let mut out: Vec<ImageSpec> = config
        .map(|c| {
            c.images
                .iter()
                .map(|i| ImageSpec {
                    name: i.name.clone(),
                    source: i.source.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(c) = config {
        for (spec, entry) in out.iter().zip(&c.images) {
            if let Some(name) = &spec.name {
                validate_image_name(name).map_err(|e| {
                    Error::input(format!(
                        "{}:{}: image {name:?}: {e}",
                        c.path.display(),
                        entry.line
                    ))
                    .with_source(e)
                })?;
            }
        }
    }
    for (item, origin) in r.list("image") {
        let (name, source) = match item.split_once('=') {
            Some((n, s)) => (
                n.trim(),
                Some(s.trim().to_string()).filter(|s| !s.is_empty()),
            ),
            None => (item.trim(), None),
        };
        let name = match name {
            "" | "~" => None,
            n => {
                validate_image_name(n)
                    .map_err(|e| at(origin, Error::input(format!("image {n:?}: {e}"))))?;
                Some(n.to_string())
            }
        };
        // A flag names an image of the config to give it a source, or adds one.
        match out.iter_mut().find(|i| i.name == name) {
            Some(existing) if source.is_some() => existing.source = source,
            Some(_) => {}
            None => out.push(ImageSpec { name, source }),
        }
    }
    Ok(out)
}

/// The name part of an `--image NAME[=SOURCE]` value (`~` and empty: the unnamed image).
fn image_flag_name(item: &str) -> Option<&str> {
    match item.split_once('=').map_or(item, |(n, _)| n).trim() {
        "" | "~" => None,
        n => Some(n),
    }
}

/// `--from` and `--from-digest`, checked before anything is sent: a reference with a tag or a
/// digest, a well-formed digest, and no two different digests.
fn promotion(r: &Reader) -> Result<(Option<Reference>, Option<Digest>)> {
    let from = match r.text("from") {
        Some((text, o)) => {
            let reference = Reference::parse(&text).map_err(|e| {
                at(
                    o,
                    Error::input(format!("{text:?} is not an image reference: {e}"))
                        .with_source(e)
                        .with_hint("give REPO/NAME@sha256:<hex> or REPO/NAME:TAG"),
                )
            })?;
            if reference.tag.is_none() && reference.digest.is_none() {
                return Err(at(
                    o,
                    Error::input(format!("{text:?} names neither a tag nor a digest"))
                        .with_hint("give REPO/NAME@sha256:<hex> (what was tested), or REPO/NAME:TAG with --from-digest"),
                ));
            }
            Some((reference, o))
        }
        None => None,
    };
    let from_digest = match r.text("from_digest") {
        Some((text, o)) => Some((
            Digest::parse(&text).map_err(|e| {
                at(
                    o,
                    Error::input(format!("{text:?} is not a digest: {e}"))
                        .with_source(e)
                        .with_hint("give it as sha256:<64 lowercase hex digits>"),
                )
            })?,
            o,
        )),
        None => None,
    };
    if let (Some((reference, _)), Some((pinned, o))) = (&from, &from_digest)
        && let Some(d) = &reference.digest
        && d != pinned
    {
        return Err(at(
            o,
            Error::input(format!(
                "{pinned} differs from the digest --from names ({d})"
            ))
            .with_hint("give the digest once: in --from (REPO/NAME@DIGEST) or in --from-digest"),
        ));
    }
    Ok((from.map(|(f, _)| f), from_digest.map(|(d, _)| d)))
}

/// The tag list: custom tags as given; git values slugged, with `--tag-prefix`/`--tag-suffix`,
/// and a git tag's semver expansion (docker/metadata-action's `type=semver`); the commit;
/// `sha-<7>`; `--tags-from`; `latest` by `--tag-latest`. Full references of `--tags-from` are
/// returned apart: publish matches them with each image's repository.
fn tags(r: &Reader, ci_commit: Option<&str>) -> Result<(Vec<TagSpec>, Vec<TagsFromEntry>, Latest)> {
    let mut out: Vec<TagSpec> = Vec::new();
    let mut push = |t: TagSpec| {
        if !out.iter().any(|o| o.tag == t.tag) {
            out.push(t);
        }
    };
    for (t, o) in r.list("tag_custom") {
        validate_tag(&t).map_err(|e| at(o, Error::input(format!("tag {t:?}: {e}"))))?;
        push(TagSpec {
            tag: t.clone(),
            strategy: TagStrategy::Custom,
            source_value: t,
        });
    }
    // A prefix or suffix applies to tags made from git values, as metadata-action's flavor
    // reaches its `ref` and `semver` entries but not `sha-`, `pr-` or `latest`.
    let prefix = r.text("tag_prefix");
    let suffix = r.text("tag_suffix");
    let affix = |t: String| -> Result<String> {
        let (p, s) = (
            prefix.as_ref().map_or("", |(p, _)| p.as_str()),
            suffix.as_ref().map_or("", |(s, _)| s.as_str()),
        );
        let tagged = format!("{p}{t}{s}");
        validate_tag(&tagged).map_err(|e| {
            let origin = prefix.as_ref().or(suffix.as_ref()).map(|(_, o)| *o);
            let err = Error::input(format!("tag {tagged:?}: {e}"))
                .with_hint("shorten --tag-prefix/--tag-suffix or use tag characters only");
            match origin {
                Some(o) => at(o, err),
                None => err,
            }
        })?;
        Ok(tagged)
    };
    // Git ref names are not tags (`feature/x`): they become tags through werf's slug.
    if let Some((b, _)) = r.text("tag_git_branch") {
        push(TagSpec {
            tag: affix(slug_tag(&b))?,
            strategy: TagStrategy::GitBranch,
            source_value: b,
        });
    }
    let git_tag = r.text("tag_git_tag").map(|(t, _)| t);
    if let Some(t) = &git_tag {
        push(TagSpec {
            tag: affix(slug_tag(t))?,
            strategy: TagStrategy::GitTag,
            source_value: t.clone(),
        });
        for v in semver::expand(t) {
            push(TagSpec {
                tag: affix(v)?,
                strategy: TagStrategy::GitTag,
                source_value: t.clone(),
            });
        }
    }
    let mut commit: Option<String> = None;
    if let Some((c, o)) = r.text("tag_git_commit") {
        if c.len() < 4 || c.len() > 64 || !c.chars().all(|ch| ch.is_ascii_hexdigit()) {
            return Err(at(
                o,
                Error::input(format!("{c:?} is not a commit id"))
                    .with_hint("give a hexadecimal commit SHA"),
            ));
        }
        let lower = c.to_ascii_lowercase();
        commit = Some(lower.clone());
        push(TagSpec {
            tag: lower.clone(),
            strategy: TagStrategy::GitCommit,
            source_value: lower,
        });
    }
    if r.flag("tag_sha")? {
        let c = commit
            .or_else(|| ci_commit.map(str::to_ascii_lowercase))
            .filter(|c| c.len() >= 4 && c.chars().all(|ch| ch.is_ascii_hexdigit()))
            .ok_or_else(|| {
                Error::input("--tag-sha: no commit to tag")
                    .with_hint("pass --tag-git-commit SHA, or run in a CI that names its commit")
            })?;
        push(TagSpec {
            tag: semver::sha_tag(&c),
            strategy: TagStrategy::GitCommit,
            source_value: c,
        });
    }
    let mut bound = Vec::new();
    if let Some((text, o)) = r.text("tags_from") {
        for e in tags_from::parse(&text).map_err(|e| at(o, e.into()))? {
            if e.repository.is_some() {
                bound.push(e);
            } else {
                push(TagSpec {
                    tag: e.tag.clone(),
                    strategy: TagStrategy::Custom,
                    source_value: e.tag,
                });
            }
        }
    }
    let latest = r
        .parse("tag_latest", |s| {
            s.parse::<Latest>()
                .map_err(|e| Error::input(e).with_hint("use auto (the default), true or false"))
        })?
        .unwrap_or_default();
    if latest == Latest::True {
        push(latest_spec());
    }
    Ok((out, bound, latest))
}

fn latest_spec() -> TagSpec {
    TagSpec {
        tag: "latest".into(),
        strategy: TagStrategy::Custom,
        source_value: "latest".into(),
    }
}

/// `--tag-latest auto`: adds `latest` when this run publishes the newest release (or, in a
/// repository without releases, the default branch), and says why either way when a release or
/// the default branch is involved. The repository's tags are read only then.
fn resolve_latest(s: &mut Settings, default_branch: Option<String>, git_dir: &Path) {
    let source = |k: TagStrategy| {
        s.tags
            .iter()
            .find(|t| t.strategy == k)
            .map(|t| t.source_value.clone())
    };
    let mut facts = semver::LatestFacts {
        git_tag: source(TagStrategy::GitTag),
        branch: source(TagStrategy::GitBranch),
        default_branch,
        repo_tags: None,
    };
    let release = facts
        .git_tag
        .as_deref()
        .and_then(semver::Version::parse)
        .is_some_and(|v| !v.is_prerelease());
    let on_default =
        facts.git_tag.is_none() && facts.branch.is_some() && facts.branch == facts.default_branch;
    if !release && !on_default {
        return;
    }
    facts.repo_tags = crate::cleanup::git::repository_tags(git_dir);
    let (latest, why) = semver::decide_latest(Latest::Auto, &facts);
    if latest {
        if !s.tags.iter().any(|t| t.tag == "latest") {
            s.tags.push(latest_spec());
        }
        crate::log::verbose(&format!("latest: {why}"));
    } else {
        crate::log::info(&format!("no latest tag: {why}"));
    }
}

/// `--all-repositories` and `cleanup.repositories`: whether every repository is cleaned, and the
/// per-repository rules, each pattern, duration and regex checked and named by its key.
fn all_repositories(
    r: &Reader,
    config: Option<&Config>,
) -> Result<(bool, Vec<crate::cleanup::repositories::Rule>)> {
    use crate::cleanup::repositories::{Overrides, Rule};
    let mut rules = Vec::new();
    if let Some(c) = config {
        for (i, e) in c.repositories.iter().enumerate() {
            let key = |k: &str| format!("{}: cleanup.repositories[{i}].{k}", c.path.display());
            let named = |k: &str, e: Error| e.context(key(k));
            let dur = |k: &str, v: &Option<String>| {
                v.as_deref()
                    .map(duration)
                    .transpose()
                    .map_err(|e| named(k, e))
            };
            let res = |k: &str, v: &Option<Vec<String>>| -> Result<Option<Vec<Regex>>> {
                v.as_ref()
                    .map(|l| {
                        l.iter()
                            .map(|p| {
                                Regex::new(p).map_err(|e| {
                                    named(k, Error::input(format!("invalid pattern {p:?}: {e}")))
                                })
                            })
                            .collect()
                    })
                    .transpose()
            };
            let overrides = Overrides {
                keep_last: e.keep_last,
                keep_younger_than: dur("keep_younger_than", &e.keep_younger_than)?,
                keep_tag: res("keep_tag", &e.keep_tag)?,
                only_tag: res("only_tag", &e.only_tag)?,
                grace: dur("grace", &e.grace)?,
                allow_latest: e.allow_latest,
            };
            let rule = Rule::new(&e.pattern, overrides).map_err(|why| {
                named(
                    "pattern",
                    Error::input(format!(
                        "{:?} is not a repository pattern: {why}",
                        e.pattern
                    ))
                    .with_hint(
                        "write a glob of repository paths below the images repo, e.g. \
                             `backend`, `tools/*` or `**`",
                    ),
                )
            })?;
            rules.push(rule);
        }
    }
    let all = r.flag("all_repositories")? || !rules.is_empty();
    Ok((all, rules))
}

fn duration(s: &str) -> Result<Duration> {
    if s.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(s.trim()).map_err(|e| {
        Error::input(format!("{s:?} is not a duration ({e})"))
            .with_source(e)
            .with_hint("write it like 30d, 12h or 90m")
    })
}

fn policy(r: &Reader) -> Result<Policy> {
    let regexes = |name: &str| -> Result<Vec<Regex>> {
        r.list(name)
            .into_iter()
            .map(|(p, o)| {
                Regex::new(&p)
                    .map_err(|e| at(o, Error::input(format!("invalid pattern {p:?}: {e}"))))
            })
            .collect()
    };
    let git_refs = r.parse("git_refs", parse_git_refs)?.unwrap_or_default();
    Ok(Policy {
        keep_last: r.parse("keep_last", |s| {
            s.parse::<u32>().map_err(|_| {
                Error::input(format!("{s:?} is not a whole number"))
                    .with_hint("give N >= 0, e.g. --keep-last 10")
            })
        })?,
        keep_younger_than: r.parse("keep_younger_than", duration)?,
        keep_commits: r.parse("keep_commits", |s| {
            s.parse::<u32>().map_err(|_| {
                Error::input(format!("{s:?} is not a whole number"))
                    .with_hint("give N >= 0, e.g. --keep-commits 20")
            })
        })?,
        keep_commits_younger_than: r.parse("keep_commits_younger_than", duration)?,
        delete_untagged: r.flag("delete_untagged")?,
        keep_pulled_within: r.parse("keep_pulled_within", duration)?,
        keep_tag: regexes("keep_tag")?,
        only_tag: regexes("only_tag")?,
        grace: r.parse("grace", duration)?.unwrap_or(DEFAULT_GRACE),
        allow_latest: r.flag("allow_latest")?,
        keep_list: r.text("keep_list").map(|(p, _)| PathBuf::from(p)),
        keep_in_use: keep_in_use(r)?,
        git_refs,
        git_dir: r.text("git_dir").map(|(p, _)| PathBuf::from(p)),
        report: r.text("report").map(|(p, _)| PathBuf::from(p)),
        max_deletions: r.parse("max_deletions", |s| {
            s.trim().parse::<usize>().map_err(|_| {
                Error::input(format!("{s:?} is not a whole number"))
                    .with_hint("give N >= 0, e.g. --max-deletions 1000")
            })
        })?,
        all_repositories: false,
        repositories: Vec::new(),
        image_with_all_repositories: None,
        all_repositories_flag: false,
    })
}

/// Smallest and largest `--max-manifest-size`: 1 KiB, 1 GiB.
const MANIFEST_SIZE_RANGE: std::ops::RangeInclusive<u64> = 1 << 10..=1 << 30;

/// A size in bytes: a number, optionally followed by `B`, `KiB`, `MiB` or `GiB` (`K`, `M`, `G`
/// and `KB`, `MB`, `GB` read the same, as powers of 1024).
/// `--output` (`cli::OutputArg` documents the same values).
pub fn parse_output(s: &str) -> Result<Output> {
    match s.trim().to_ascii_lowercase().as_str() {
        "text" => Ok(Output::Text),
        "json" => Ok(Output::Json),
        _ => Err(Error::input(format!("unknown output {s:?}")).with_hint("use text or json")),
    }
}

/// `--color` (`cli::ColorArg` documents the same values).
pub fn parse_color(s: &str) -> Result<ColorChoice> {
    match s.trim().to_ascii_lowercase().as_str() {
        "auto" => Ok(ColorChoice::Auto),
        "always" => Ok(ColorChoice::Always),
        "never" => Ok(ColorChoice::Never),
        _ => Err(Error::input(format!("unknown colour choice {s:?}"))
            .with_hint("use auto, always or never")),
    }
}

/// `--origin-records` (`cli::OriginRecordsArg` documents the same values).
pub fn parse_origin_records(s: &str) -> Result<OriginRecords> {
    match s.trim().to_ascii_lowercase().as_str() {
        "off" => Ok(OriginRecords::Off),
        "auto" => Ok(OriginRecords::Auto),
        "on" => Ok(OriginRecords::On),
        _ => Err(Error::input(format!("unknown origin records choice {s:?}"))
            .with_hint("use off, auto (the default) or on")),
    }
}

/// `--keep-in-use` (`cli::KeepInUseArg` documents the values) and the Kubernetes options.
fn keep_in_use(r: &Reader) -> Result<Option<KeepInUse>> {
    let mut kubernetes = false;
    for (v, o) in r.list("keep_in_use") {
        match v.trim().to_ascii_lowercase().as_str() {
            "kubernetes" => kubernetes = true,
            _ => {
                return Err(at(
                    o,
                    Error::input(format!("unknown runtime {v:?}")).with_hint(
                        "use kubernetes; for other runtimes list their images with --keep-list FILE",
                    ),
                ));
            }
        }
    }
    let contexts: Vec<(String, &Origin)> = r.list("kube_context");
    let kubeconfig = r.text("kubeconfig");
    let skip_unreachable = r.flag("skip_unreachable_clusters")?;
    if !kubernetes {
        // The Kubernetes options alone would read nothing: a forgotten --keep-in-use would
        // silently delete images that are in use.
        let stray = contexts
            .first()
            .map(|(_, o)| *o)
            .or(kubeconfig.as_ref().map(|(_, o)| *o))
            .or_else(|| {
                skip_unreachable
                    .then(|| r.0.get("skip_unreachable_clusters").map(|(_, o)| o))
                    .flatten()
            });
        return match stray {
            Some(o) => Err(at(
                o,
                Error::input("applies only with --keep-in-use kubernetes")
                    .with_hint("add --keep-in-use kubernetes, or remove this option"),
            )),
            None => Ok(None),
        };
    }
    let names: Vec<String> = contexts.into_iter().map(|(c, _)| c).collect();
    Ok(Some(KeepInUse {
        kubeconfig: kubeconfig
            .map(|(p, _)| vec![PathBuf::from(p)])
            .unwrap_or_default(),
        contexts: if names.is_empty() {
            crate::kube::Contexts::All
        } else {
            crate::kube::Contexts::Named(names)
        },
        skip_unreachable,
    }))
}

/// `--git-refs` (`cli::GitRefsArg` documents the same values).
pub fn parse_git_refs(s: &str) -> Result<GitRefs> {
    match s.trim().to_ascii_lowercase().as_str() {
        "auto" => Ok(GitRefs::Auto),
        "local" => Ok(GitRefs::Local),
        "remote" => Ok(GitRefs::Remote),
        "github" => Ok(GitRefs::GitHub),
        "gitlab" => Ok(GitRefs::GitLab),
        "none" => Ok(GitRefs::None),
        _ => Err(Error::input(format!("unknown git refs source {s:?}"))
            .with_hint("use auto, local, remote, github, gitlab or none")),
    }
}

pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return None,
    };
    n.checked_mul(1 << shift)
}

fn parse_manifest_size(s: &str) -> Result<u64> {
    match parse_size(s) {
        Some(n) if MANIFEST_SIZE_RANGE.contains(&n) => Ok(n),
        _ => Err(
            Error::input(format!("{s:?} is not a size from 1KiB to 1GiB"))
                .with_hint("give bytes, or a number with KiB, MiB or GiB (e.g. 8MiB)"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_bytes_or_binary_units() {
        assert_eq!(parse_size("4194304"), Some(4 << 20));
        assert_eq!(parse_size("8MiB"), Some(8 << 20));
        assert_eq!(parse_size(" 8 mb "), Some(8 << 20));
        assert_eq!(parse_size("1k"), Some(1024));
        assert_eq!(parse_size("2GiB"), Some(2 << 30));
        assert_eq!(parse_size("512B"), Some(512));
        for bad in [
            "",
            "MiB",
            "-1",
            "1.5MiB",
            "8 furlongs",
            "99999999999999999999",
        ] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
        assert_eq!(parse_size("18446744073709551615GiB"), None, "overflow");
        assert!(parse_manifest_size("512").is_err());
        assert!(parse_manifest_size("2GiB").is_err());
        assert_eq!(parse_manifest_size("16MiB").unwrap(), 16 << 20);
    }
    use crate::error::Kind;

    fn build(flags: &[(&'static str, &str)], env: &[(&str, &str)]) -> Result<Settings> {
        let mut v = Values::default();
        for (k, val) in flags {
            let kind = options::kind_of(k);
            v.set_text(k, kind, val, Origin::Flag(k));
        }
        let dir = tempfile::tempdir().unwrap();
        let env = Env::from_pairs(env.iter().map(|(a, b)| (a.to_string(), b.to_string())));
        let ci = crate::ci::context::CiContext::from_env(&env);
        Settings::build(v, &env, ci.as_ref(), dir.path())
    }

    #[test]
    fn keep_in_use_reads_kubeconfig_and_contexts() {
        use crate::kube::Contexts;
        let s = build(
            &[("keep_in_use", "kubernetes")],
            &[("KUBECONFIG", "/k/a:/k/b"), ("HOME", "/h")],
        )
        .unwrap();
        let k = s.policy.keep_in_use.unwrap();
        assert_eq!(k.kubeconfig, vec![PathBuf::from("/k/a"), "/k/b".into()]);
        assert_eq!(k.contexts, Contexts::All);
        assert!(!k.skip_unreachable);

        // The flag wins over KUBECONFIG; HOME is the last default.
        let s = build(
            &[
                ("keep_in_use", "Kubernetes"),
                ("kubeconfig", "/x/config"),
                ("kube_context", "prod"),
                ("skip_unreachable_clusters", "true"),
            ],
            &[("KUBECONFIG", "/k/a")],
        )
        .unwrap();
        let k = s.policy.keep_in_use.unwrap();
        assert_eq!(k.kubeconfig, vec![PathBuf::from("/x/config")]);
        assert_eq!(k.contexts, Contexts::Named(vec!["prod".into()]));
        assert!(k.skip_unreachable);
        let s = build(
            &[],
            &[("DOCKHAND_KEEP_IN_USE", "kubernetes"), ("HOME", "/h")],
        )
        .unwrap();
        assert_eq!(
            s.policy.keep_in_use.unwrap().kubeconfig,
            vec![PathBuf::from("/h/.kube/config")]
        );
        assert!(build(&[], &[]).unwrap().policy.keep_in_use.is_none());

        let e = build(&[("keep_in_use", "docker")], &[]).unwrap_err();
        assert!(e.to_string().contains("--keep-in-use"), "{e}");
        let e = build(&[("kubeconfig", "/x")], &[]).unwrap_err();
        assert!(e.to_string().contains("--kubeconfig"), "{e}");
        assert!(e.hint.unwrap().contains("--keep-in-use kubernetes"));
    }

    fn tag_names(s: &Settings) -> Vec<&str> {
        s.tags.iter().map(|t| t.tag.as_str()).collect()
    }

    const GITHUB_TAG_PUSH: &[(&str, &str)] = &[
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REF", "refs/tags/v1.2.3"),
        ("GITHUB_SHA", "4f1e0a6c9d2b3e5f7a8b9c0d1e2f3a4b5c6d7e8f"),
    ];

    #[test]
    fn metadata_action_tags_from_a_tag_push() {
        // metadata-action README, "Semver" table: `refs/tags/v1.2.3` → `1.2.3`, `1.2`, `latest`.
        let s = build(&[("tag_sha", "true")], GITHUB_TAG_PUSH).unwrap();
        assert_eq!(
            tag_names(&s),
            ["v1.2.3", "1.2.3", "1.2", "1", "sha-4f1e0a6", "latest"]
        );
        let s = build(&[("tag_latest", "false")], GITHUB_TAG_PUSH).unwrap();
        assert!(!tag_names(&s).contains(&"latest"));
        // Prefix and suffix on the git values only.
        let s = build(
            &[("tag_prefix", "app-"), ("tag_suffix", "-alpine")],
            GITHUB_TAG_PUSH,
        )
        .unwrap();
        assert_eq!(
            tag_names(&s),
            [
                "app-v1.2.3-alpine",
                "app-1.2.3-alpine",
                "app-1.2-alpine",
                "app-1-alpine",
                "latest"
            ]
        );
        let e = build(&[("tag_prefix", "-")], GITHUB_TAG_PUSH).unwrap_err();
        assert!(e.to_string().contains("--tag-prefix"), "{e}");
        // `replace` (default): the user's tags only; `add`: both, and `latest` of the git tag.
        let s = build(&[("tag_custom", "x")], GITHUB_TAG_PUSH).unwrap();
        assert_eq!(tag_names(&s), ["x"]);
        let s = build(
            &[("tag_custom", "x"), ("tags_mode", "add")],
            GITHUB_TAG_PUSH,
        )
        .unwrap();
        assert_eq!(
            tag_names(&s),
            ["x", "v1.2.3", "1.2.3", "1.2", "1", "latest"]
        );
        let e = build(&[("tags_mode", "merge")], GITHUB_TAG_PUSH).unwrap_err();
        assert!(e.to_string().contains("--tags-mode"), "{e}");
        // `--tag-sha` needs a commit.
        let e = build(&[("tag_custom", "x"), ("tag_sha", "true")], &[]).unwrap_err();
        assert!(e.to_string().contains("--tag-sha"), "{e}");
    }

    #[test]
    fn tags_mode_add_joins_custom_tags_with_the_pull_request_tag() {
        let pr = [
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REF", "refs/pull/2/merge"),
        ];
        let s = build(&[("tag_custom", "x")], &pr).unwrap();
        assert_eq!(tag_names(&s), ["x"]);
        let s = build(&[("tag_custom", "x"), ("tags_mode", "add")], &pr).unwrap();
        assert_eq!(tag_names(&s), ["pr-2", "x"]);
    }

    #[test]
    fn tags_from_splits_bare_tags_and_references() {
        let s = build(&[("tags_from", "ghcr.io/o/r:1.2.3\nbare")], &[]).unwrap();
        assert_eq!(tag_names(&s), ["bare"]);
        assert_eq!(s.tags_from.len(), 1);
        assert_eq!(s.tags_from[0].tag, "1.2.3");
        let e = build(&[("tags_from", "ok\n-bad")], &[]).unwrap_err();
        assert!(e.to_string().contains("--tags-from"), "{e}");
    }

    #[test]
    fn precedence_flag_env_input() {
        let s = build(
            &[],
            &[
                ("DOCKHAND_IMAGES_REPO", "a.example/x"),
                ("INPUT_IMAGES_REPO", "b.example/y"),
            ],
        )
        .unwrap();
        assert_eq!(s.images_repo.unwrap().host, "a.example");
        let s = build(
            &[("images_repo", "c.example/z")],
            &[("DOCKHAND_IMAGES_REPO", "a.example/x")],
        )
        .unwrap();
        assert_eq!(s.images_repo.unwrap().host, "c.example");
        let s = build(&[], &[("INPUT_IMAGES_REPO", "b.example/y")]).unwrap();
        assert_eq!(s.images_repo.unwrap().host, "b.example");
    }

    #[test]
    fn errors_name_their_origin() {
        let e = build(&[], &[("DOCKHAND_IMPLEMENTATION", "nope")]).unwrap_err();
        assert_eq!(e.kind, Kind::Input);
        assert!(
            e.message
                .starts_with("DOCKHAND_IMPLEMENTATION: unknown implementation"),
            "{e}"
        );
        let e = build(&[("tag_custom", &"x".repeat(129))], &[]).unwrap_err();
        assert!(e.message.starts_with("--tag-custom: tag"), "{e}");
        let e = build(&[("keep_last", "-1")], &[]).unwrap_err();
        assert!(e.message.starts_with("--keep-last"), "{e}");
        let e = build(&[], &[("INPUT_GRACE", "soon")]).unwrap_err();
        assert!(e.message.starts_with("INPUT_GRACE"), "{e}");
        let e = build(&[("registry_username", "u")], &[]).unwrap_err();
        assert!(e.message.contains("without a password"), "{e}");
    }

    #[test]
    fn promotion_inputs_are_checked_before_anything_is_sent() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let s = build(
            &[("from", "stage.example/team/app:rc1"), ("from_digest", &a)],
            &[("DOCKHAND_IMAGE", "api")],
        )
        .unwrap();
        assert_eq!(s.from.unwrap().tag.as_deref(), Some("rc1"));
        assert_eq!(s.from_digest.unwrap().to_string(), a);
        assert_eq!(s.image_flags, vec![Some("api".to_string())]);
        let e = build(&[("from_digest", "sha256:abc")], &[]).unwrap_err();
        assert_eq!(e.kind, Kind::Input);
        assert!(
            e.message
                .starts_with("--from-digest: \"sha256:abc\" is not a digest"),
            "{e}"
        );
        let e = build(&[], &[("DOCKHAND_FROM", "stage.example/app")]).unwrap_err();
        assert!(e.message.starts_with("DOCKHAND_FROM:"), "{e}");
        assert!(e.message.contains("neither a tag nor a digest"), "{e}");
        let from = format!("stage.example/app@{a}");
        let e = build(&[("from", &from), ("from_digest", &b)], &[]).unwrap_err();
        assert!(
            e.message.contains("differs from the digest --from names"),
            "{e}"
        );
        let s = build(&[], &[("DOCKHAND_STAGES", "promote,cleanup")]).unwrap();
        assert_eq!(s.stages, vec!["promote", "cleanup"]);
        let e = build(&[], &[("DOCKHAND_STAGES", "publish,promote")]).unwrap_err();
        assert!(e.message.contains("exclude each other"), "{e}");
    }

    #[test]
    fn git_values_are_slugged_and_custom_tags_kept() {
        let s = build(
            &[
                ("tag_git_branch", "feature/MyFeature#169"),
                ("tag_custom", "v1.2.3"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(s.tags[0].tag, "v1.2.3");
        assert!(
            s.tags[1].tag.starts_with("feature-myfeature169-"),
            "{:?}",
            s.tags[1]
        );
        assert_eq!(s.tags[1].strategy, TagStrategy::GitBranch);
    }

    #[test]
    fn images_from_flags() {
        let s = build(
            &[
                ("image", "backend=oci:build/b"),
                ("images_repo", "localhost:5000"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(
            s.images,
            vec![ImageSpec {
                name: Some("backend".into()),
                source: Some("oci:build/b".into())
            }]
        );
        let e = build(&[("image", "Back=oci:x")], &[]).unwrap_err();
        assert!(e.message.starts_with("--image: image \"Back\""), "{e}");
    }

    fn build_in(
        dir: &Path,
        config: &str,
        flags: &[(&'static str, &str)],
        env: &[(&str, &str)],
    ) -> Result<Settings> {
        std::fs::write(dir.join("dockhand.yaml"), config).unwrap();
        let mut v = Values::default();
        for (k, val) in flags {
            v.set_text(k, options::kind_of(k), val, Origin::Flag(k));
        }
        let env = Env::from_pairs(env.iter().map(|(a, b)| (a.to_string(), b.to_string())));
        Settings::build(v, &env, None, dir)
    }

    fn repos(s: &Settings) -> Vec<String> {
        s.targets
            .iter()
            .map(|t| t.images_repo.to_string())
            .collect()
    }

    #[test]
    fn images_repo_lists_from_flags_and_variables() {
        let s = build(
            &[],
            &[(
                "DOCKHAND_IMAGES_REPO",
                "a.example/x, b.example/y\nc.example/z\n",
            )],
        )
        .unwrap();
        assert_eq!(repos(&s), ["a.example/x", "b.example/y", "c.example/z"]);
        assert_eq!(s.images_repo.unwrap().host, "a.example");
        let mut v = Values::default();
        v.set(
            "images_repo",
            Value::List(vec!["a.example/x".into(), "b.example/y".into()]),
            Origin::Flag("images_repo"),
        );
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::build(
            v,
            &Env::from_pairs(Vec::<(String, String)>::new()),
            None,
            dir.path(),
        )
        .unwrap();
        assert_eq!(repos(&s), ["a.example/x", "b.example/y"]);
        let s = build(&[], &[("INPUT_IMAGES-REPO", "a.example/x\nb.example/y")]).unwrap();
        assert_eq!(s.targets.len(), 2);
        // A stray separator is refused, naming the variable; duplicates too.
        for bad in ["a.example/x,,b.example/y", "a.example/x,"] {
            let e = build(&[], &[("DOCKHAND_IMAGES_REPO", bad)]).unwrap_err();
            assert_eq!(e.kind, Kind::Input);
            assert!(e.message.starts_with("DOCKHAND_IMAGES_REPO: item 2"), "{e}");
        }
        let e = build(&[], &[("DOCKHAND_IMAGES_REPO", "a.example/x,A.example/x/")]).unwrap_err();
        assert!(e.message.contains("given twice"), "{e}");
        // The run's login goes to the first registry only.
        let s = build(
            &[("registry_username", "u"), ("registry_password", "p")],
            &[("DOCKHAND_IMAGES_REPO", "a.example/x,b.example/y")],
        )
        .unwrap();
        assert!(s.targets[0].registry_credential.is_some());
        assert!(s.targets[1].registry_credential.is_none());
    }

    #[test]
    fn config_targets_with_their_own_settings() {
        let dir = tempfile::tempdir().unwrap();
        let config = "project: p\ncleanup:\n  keep_last: 5\ntargets:\n- images_repo: a.example/x\n- images_repo: quay.io/acme\n  implementation: quay\n  images_repo_mode: monorepo\n  username_env: Q_USER\n  password_env: Q_PASS\n  cleanup:\n    keep_last: 1\n";
        let env = [("Q_USER", "robot"), ("Q_PASS", "s3cret")];
        let s = build_in(dir.path(), config, &[], &env).unwrap();
        assert_eq!(repos(&s), ["a.example/x", "quay.io/acme"]);
        assert_eq!(s.targets[0].policy.keep_last, Some(5));
        assert_eq!(s.targets[1].policy.keep_last, Some(1));
        assert_eq!(s.targets[1].implementation.unwrap().name(), "quay");
        assert_eq!(s.targets[1].mode, ModeChoice::Monorepo);
        assert!(s.targets[1].registry_credential.is_some());
        let one = s.for_target(&s.targets[1]);
        assert_eq!(one.images_repo.unwrap().host, "quay.io");
        assert_eq!(one.policy.keep_last, Some(1));
        // A flag picks targets; a matching item still gives its settings.
        let s = build_in(dir.path(), config, &[("images_repo", "quay.io/acme")], &env).unwrap();
        assert_eq!(repos(&s), ["quay.io/acme"]);
        assert_eq!(s.policy.keep_last, Some(1));
        // Errors name the item's key.
        let e = build_in(dir.path(), config, &[], &[("Q_USER", "robot")]).unwrap_err();
        assert!(
            e.message
                .contains("targets[2].password_env: variable Q_PASS"),
            "{e}"
        );
        let bad = config.replace("keep_last: 1", "keep_last: 1\n    grace: soon");
        let e = build_in(dir.path(), &bad, &[], &env).unwrap_err();
        assert!(e.message.contains("targets[2].cleanup.grace"), "{e}");
        let bad = config.replace("implementation: quay", "implementation: nope");
        let e = build_in(dir.path(), &bad, &[], &env).unwrap_err();
        assert!(e.message.contains("targets[2].implementation"), "{e}");
        let both = config.replace("project: p\n", "project: p\nimages_repo: c.example/z\n");
        let e = build_in(dir.path(), &both, &[], &env).unwrap_err();
        assert!(
            e.message
                .contains("images_repo: is given together with `targets:`"),
            "{e}"
        );
        let dup = config.replace("quay.io/acme", "a.example/x");
        let e = build_in(dir.path(), &dup, &[], &env).unwrap_err();
        assert!(
            e.message
                .contains("targets[2].images_repo: images repo a.example/x is given twice"),
            "{e}"
        );
    }

    #[test]
    fn defaults_are_safe() {
        let s = build(&[], &[]).unwrap();
        assert_eq!(s.policy.grace, DEFAULT_GRACE);
        assert_eq!(s.policy.keep_last, None);
        assert!(s.probe);
        assert_eq!(s.stages, vec!["publish", "cleanup"]);
    }
}
