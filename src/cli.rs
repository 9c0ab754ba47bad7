//! The command line as clap sees it. Values here are raw: `settings` validates them, layers them
//! over the environment and the config file, and names the flag in every error.

use std::path::PathBuf;
use std::sync::LazyLock;

use clap::builder::{PossibleValue, StyledStr};
use clap::{Arg, Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::implementation::Implementation;
use crate::settings::options::spec;

#[derive(Debug, Parser)]
#[command(
    name = "dockhand",
    version,
    about = "Publish built images to any container registry and clean up old tags, safely.",
    long_about = "dockhand publishes the images a CI pipeline built to a container registry under tags computed \
from the CI context, and deletes the tags that are no longer needed, through each registry's own API. \
It detects the registry implementation (OCI Distribution, AWS ECR, Azure CR, Docker Hub, GCR / Artifact \
Registry, GitHub Packages, GitLab, Harbor, Quay) and hides their differences.\n\n\
Every option is also an environment variable DOCKHAND_<OPTION> (e.g. DOCKHAND_IMAGES_REPO), and in a GitHub \
action INPUT_<OPTION>. Precedence: flag > DOCKHAND_* > INPUT_* > config file > CI default > built-in default.",
    after_help = "Exit codes: 0 done, 1 a registry operation failed, 2 bad input, 3 authentication failed, \
4 the registry cannot do it, 130 interrupted (SIGINT), 143 terminated (SIGTERM)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Push built images to the images repo under the computed tags.
    Publish(PublishArgs),
    /// Delete tags that are no longer needed, by policy.
    Cleanup(CleanupArgs),
    /// Keep a mirror repository equal to its source for the matching tags: copy what is missing
    /// or changed (digests kept), optionally delete what the source no longer has.
    Sync(SyncArgs),
    /// Copy one tested image by digest (platforms and referrers included) from a source images
    /// repo to the images repo, under the tags the tag options compute.
    Promote(PromoteArgs),
    /// CI entrypoint: settings from the CI environment, then publish, then cleanup.
    Run(RunArgs),
    /// Show the registry implementation, the repository mode and each image's reference, and why.
    Detect(DetectArgs),
    /// Print the settings derived from the CI environment.
    CiEnv(CiEnvArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish) on stdout.
    #[command(
        after_help = "bash: dockhand completions bash > /etc/bash_completion.d/dockhand \
(or `source <(dockhand completions bash)` in ~/.bashrc); zsh: dockhand completions zsh > \
\"${fpath[1]}/_dockhand\"; fish: dockhand completions fish > ~/.config/fish/completions/dockhand.fish"
    )]
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout: `dockhand man | man -l -`; `dockhand man cleanup`
    /// prints dockhand-cleanup(1).
    Man(ManArgs),
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Config file (default: dockhand.yaml, else werf.yaml, in the working directory).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where images go: a registry, an account or a repository (e.g. registry.example.com/team).
    /// Repeatable: publish and cleanup work on every one (the variable takes a comma- or
    /// newline-separated list).
    #[arg(short = 'i', long, global = true, value_name = "REPO")]
    pub images_repo: Vec<String>,
    /// Repository layout: multirepo (REPO/NAME:TAG), monorepo (REPO:NAME-TAG), or auto (by the
    /// implementation's rules).
    #[arg(long, global = true, value_name = "MODE", ignore_case = true)]
    pub images_repo_mode: Option<ModeArg>,
    /// Registry implementation, instead of detecting it.
    #[arg(long, global = true, value_name = "NAME", ignore_case = true)]
    pub implementation: Option<ImplementationArg>,
    /// Allow plain HTTP or an unverified certificate for this host (repeatable).
    #[arg(long, global = true, value_name = "HOST")]
    pub insecure_registry: Vec<String>,
    /// Do not probe unknown hosts to detect their implementation.
    #[arg(long, global = true)]
    pub no_probe: bool,
    /// Parallel registry operations per host.
    #[arg(long, global = true, value_name = "N", allow_negative_numbers = true)]
    pub concurrency: Option<String>,
    /// Time to open a connection to a registry, TCP and TLS (default 10s).
    #[arg(long, global = true, value_name = "DURATION")]
    pub connect_timeout: Option<String>,
    /// Fail a request when no byte moves either way for DURATION (default 60s); a large upload
    /// that keeps moving is never cut.
    #[arg(long, global = true, value_name = "DURATION")]
    pub read_timeout: Option<String>,
    /// Retry waiting allowed in the whole run, all requests together (default 5m; at most 100
    /// retries); then requests that would be retried fail at once.
    #[arg(long, global = true, value_name = "DURATION")]
    pub retry_budget: Option<String>,
    /// Stop the whole run after DURATION (exit 1); default: no deadline.
    #[arg(long, global = true, value_name = "DURATION")]
    pub deadline: Option<String>,
    /// Largest manifest read from a registry: bytes, or with KiB/MiB/GiB (default 4MiB).
    #[arg(long, global = true, value_name = "SIZE")]
    pub max_manifest_size: Option<String>,
    /// Basic credentials for the images repo's registry (else the Docker config).
    #[arg(long, global = true, value_name = "USER")]
    pub registry_username: Option<String>,
    /// Password or token for --registry-username (prefer DOCKHAND_REGISTRY_PASSWORD).
    #[arg(long, global = true, value_name = "PASSWORD")]
    pub registry_password: Option<String>,
    /// GitHub API token (default: GITHUB_TOKEN), for `--git-refs github`.
    #[arg(long, global = true, value_name = "TOKEN")]
    pub github_token: Option<String>,
    /// GitHub API base (default: GITHUB_API_URL, else https://api.github.com).
    #[arg(long, global = true, value_name = "URL")]
    pub github_api_url: Option<String>,
    /// The GitHub repository whose refs count (default: GITHUB_REPOSITORY).
    #[arg(long, global = true, value_name = "OWNER/REPO")]
    pub github_repository: Option<String>,
    /// GitHub API limits to pace to: `off`, or BUDGET=COUNT/WINDOW items (requests, points,
    /// content), e.g. requests=15000/1h for a GitHub App or a GitHub Enterprise Server's own
    /// (default: github.com's documented limits).
    #[arg(long, global = true, value_name = "LIMITS")]
    pub github_rate_limit: Option<String>,
    /// GitLab API token with read_api (default: CI_JOB_TOKEN as a job token).
    #[arg(long, global = true, value_name = "TOKEN")]
    pub gitlab_token: Option<String>,
    /// GitLab API base (default: CI_API_V4_URL, else https://gitlab.com/api/v4).
    #[arg(long, global = true, value_name = "URL")]
    pub gitlab_api_url: Option<String>,
    /// GitLab project id or path (default: CI_PROJECT_ID).
    #[arg(long, global = true, value_name = "ID")]
    pub gitlab_project: Option<String>,
    /// Docker Hub API user (default: the registry credentials for docker.io).
    #[arg(long, global = true, value_name = "USER")]
    pub docker_hub_username: Option<String>,
    /// Docker Hub account password (prefer --docker-hub-token).
    #[arg(long, global = true, value_name = "PASSWORD")]
    pub docker_hub_password: Option<String>,
    /// Docker Hub personal or organisation access token.
    #[arg(long, global = true, value_name = "TOKEN")]
    pub docker_hub_token: Option<String>,
    /// Docker Hub API base (default: https://hub.docker.com).
    #[arg(long, global = true, value_name = "URL")]
    pub docker_hub_api_url: Option<String>,
    /// Quay OAuth application token (repo:write to delete tags).
    #[arg(long, global = true, value_name = "TOKEN")]
    pub quay_token: Option<String>,
    /// Harbor API user or robot account (default: the registry credentials).
    #[arg(long, global = true, value_name = "USER")]
    pub harbor_username: Option<String>,
    /// Harbor API password or robot secret.
    #[arg(long, global = true, value_name = "PASSWORD")]
    pub harbor_password: Option<String>,
    /// Azure service principal client id (default: AZURE_CLIENT_ID).
    #[arg(long, global = true, value_name = "ID")]
    pub azure_client_id: Option<String>,
    /// Azure service principal secret (default: AZURE_CLIENT_SECRET).
    #[arg(long, global = true, value_name = "SECRET")]
    pub azure_client_secret: Option<String>,
    /// Azure tenant id (default: AZURE_TENANT_ID).
    #[arg(long, global = true, value_name = "ID")]
    pub azure_tenant_id: Option<String>,
    /// Azure login host (default: AZURE_AUTHORITY_HOST, else https://login.microsoftonline.com).
    #[arg(long, global = true, value_name = "URL")]
    pub azure_authority_host: Option<String>,
    /// An Azure AD access token to exchange for an ACR token.
    #[arg(long, global = true, value_name = "TOKEN")]
    pub azure_access_token: Option<String>,
    /// Google OAuth2 access token (gcloud auth print-access-token).
    #[arg(long, global = true, value_name = "TOKEN")]
    pub google_access_token: Option<String>,
    /// Google service account JSON key file (default: GOOGLE_APPLICATION_CREDENTIALS).
    #[arg(long, global = true, value_name = "FILE")]
    pub google_json_key: Option<String>,
    /// Output: text (logs on stderr, results on stdout) or json (one JSON document on stdout).
    #[arg(long, global = true, value_name = "FORMAT", ignore_case = true)]
    pub output: Option<OutputArg>,
    /// Colour and progress bars: auto (NO_COLOR, CLICOLOR_FORCE, CLICOLOR, TERM=dumb, then whether
    /// the output is a terminal or a CI log that renders colour), always, or never.
    #[arg(long, global = true, value_name = "WHEN", ignore_case = true)]
    pub color: Option<ColorArg>,
    /// More detail on stderr (-v verbose, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Args, Default)]
#[command(next_help_heading = "Images")]
pub struct ImageArgs {
    /// An image and where it was built: NAME=SOURCE (oci:DIR, oci-archive:FILE, docker-archive:FILE,
    /// docker://REF). `~=SOURCE` or `=SOURCE` is the unnamed image. Repeatable; adds to the config file.
    #[arg(long = "image", value_name = "NAME=SOURCE")]
    pub image: Vec<String>,
}

#[derive(Debug, Args, Default)]
#[command(next_help_heading = "Tags")]
pub struct TagArgs {
    /// A tag given as is (validated, never changed). Repeatable.
    #[arg(long, value_name = "TAG")]
    pub tag_custom: Vec<String>,
    /// Tag by this git branch (slugged into a valid tag).
    #[arg(long, value_name = "BRANCH")]
    pub tag_git_branch: Option<String>,
    /// Tag by this git tag (slugged into a valid tag).
    #[arg(long, value_name = "TAG")]
    pub tag_git_tag: Option<String>,
    /// Tag by this commit.
    #[arg(long, value_name = "SHA")]
    pub tag_git_commit: Option<String>,
    /// Also tag by content: a tag derived from the image digest, stable for identical content.
    #[arg(long)]
    pub tag_by_digest: bool,
    /// Also tag by the commit the CI built (GITHUB_SHA, CI_COMMIT_SHA, ...).
    #[arg(long)]
    pub tag_ci_commit: bool,
    /// Also tag `sha-<7 characters>` of the commit (--tag-git-commit, else the CI's commit), as
    /// docker/metadata-action's `type=sha` does.
    #[arg(long)]
    pub tag_sha: bool,
    /// `latest`: auto (the default) for the repository's highest release version (v2.0.1, not a
    /// fix v1.4.1 of an old line, not v2.1.0-rc.1), or the default branch of a repository
    /// without release tags; true always, false never.
    #[arg(long, value_name = "WHEN")]
    pub tag_latest: Option<LatestArg>,
    /// Put before each tag made from a git branch or tag (and its versions).
    #[arg(long, value_name = "TEXT")]
    pub tag_prefix: Option<String>,
    /// Put after each tag made from a git branch or tag (and its versions).
    #[arg(long, value_name = "TEXT")]
    pub tag_suffix: Option<String>,
    /// Whether your tag options replace the CI's tags (the default) or add to them.
    #[arg(long, value_name = "MODE")]
    pub tags_mode: Option<TagsModeArg>,
    /// docker/metadata-action's `tags` output: full references (REPO:TAG, whose REPO must be the
    /// target repository) or bare tags, one per line.
    #[arg(long, value_name = "TEXT")]
    pub tags_from: Option<String>,
}

#[derive(Debug, Args, Default)]
#[command(next_help_heading = "Pipeline files")]
pub struct PipelineArgs {
    /// Write DOCKHAND_IMAGE_<NAME>=REF@DIGEST lines for GitLab's artifacts:reports:dotenv
    /// (default in GitLab CI: dockhand.env).
    #[arg(long, value_name = "FILE")]
    pub dotenv: Option<PathBuf>,
    /// Write a JUnit XML report: one test case per published reference and per deletion.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// In a GitHub pull request from a fork, whose token is read-only: skip (the default: a notice,
    /// exit 0, nothing sent) or run.
    #[arg(long, value_name = "WHAT", help_heading = "Pipeline")]
    pub on_fork_pr: Option<String>,
}

#[derive(Debug, Args, Default)]
#[command(next_help_heading = "Cleanup policy")]
pub struct PolicyArgs {
    /// Keep the newest N images of each image name.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_last: Option<String>,
    /// Keep images pushed within DURATION (30d, 12h).
    #[arg(long, value_name = "DURATION")]
    pub keep_younger_than: Option<String>,
    /// Never delete tags matching REGEX (repeatable).
    #[arg(long, value_name = "REGEX")]
    pub keep_tag: Vec<String>,
    /// Consider only tags matching REGEX (repeatable).
    #[arg(long, value_name = "REGEX")]
    pub only_tag: Vec<String>,
    /// Keep anything pushed within DURATION (default 2h; 0 turns it off).
    #[arg(long, value_name = "DURATION")]
    pub grace: Option<String>,
    /// Let policies delete `latest`.
    #[arg(long)]
    pub allow_latest: bool,
    /// File of references or digests that must stay, one a line.
    #[arg(long, value_name = "FILE")]
    pub keep_list: Option<PathBuf>,
    /// Keep every image the workloads of a runtime use (repeatable): `kubernetes` reads the
    /// clusters of the kubeconfig. A cluster that cannot be read stops the cleanup (exit 1,
    /// nothing deleted). For other runtimes, list their images with --keep-list.
    #[arg(long, value_name = "RUNTIME", ignore_case = true)]
    pub keep_in_use: Vec<KeepInUseArg>,
    /// With --keep-in-use kubernetes: a kubeconfig context to read (repeatable; default: all).
    #[arg(long, value_name = "NAME")]
    pub kube_context: Vec<String>,
    /// With --keep-in-use kubernetes: the kubeconfig file (default: the files in KUBECONFIG,
    /// else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// With --keep-in-use kubernetes: leave out, with a warning, clusters that cannot be reached
    /// instead of stopping; the images in use there are then not kept.
    #[arg(long)]
    pub skip_unreachable_clusters: bool,
    /// Keep commit tags (`--tag-git-commit`) of the newest N commits of the checkout's history.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_commits: Option<String>,
    /// Keep commit tags of commits made within DURATION (30d, 12h).
    #[arg(long, value_name = "DURATION")]
    pub keep_commits_younger_than: Option<String>,
    /// Also delete manifests without a tag that the registry lists (untagged versions,
    /// images, artifacts) once older than --grace, unless a kept image holds them (index
    /// children, signatures and other referrers).
    #[arg(long)]
    pub delete_untagged: bool,
    /// Keep images the registry records as pulled within DURATION (30d, 12h). Where the
    /// registry records no pulls, every image this rule would judge is kept, and the plan says so.
    #[arg(long, value_name = "DURATION")]
    pub keep_pulled_within: Option<String>,
    /// Where git-aware cleanup reads branches and tags.
    #[arg(long, value_name = "SOURCE", ignore_case = true)]
    pub git_refs: Option<GitRefsArg>,
    /// The git checkout to read (default: the working directory).
    #[arg(long, value_name = "DIR")]
    pub git_dir: Option<PathBuf>,
    /// Delete at most N images this run, oldest first; the rest are reported `deferred` (exit
    /// 0) and the next run plans them again.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub max_deletions: Option<String>,
    /// Write the cleanup JSON document to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Clean every repository under the images repo, as the registry lists them (catalog or
    /// vendor API), each as a whole with its policy from `cleanup.repositories` in the config
    /// (first matching pattern wins) or the top-level one. Conflicts with --image.
    #[arg(long)]
    pub all_repositories: bool,
}

#[derive(Debug, Args, Default)]
#[command(next_help_heading = "Copying")]
pub struct CopyArgs {
    /// Also copy the referrers (signatures, attestations, SBOMs) of the sources: of registry
    /// sources from the referrers API, its fallback index, or cosign's
    /// `sha256-<hex>.sig/.att/.sbom` tags; of OCI layouts (`oci:`, `oci-archive:`), the
    /// `index.json` entries whose `subject` is the image.
    #[arg(long)]
    pub with_referrers: bool,
    /// Attach an origin record to each tag set: on (always), off (never), or auto (the default:
    /// on, except where the only way is the referrers tag-schema fallback on a registry whose UI
    /// lists every tag, Docker Hub). Without records, git-aware deletion applies only to tags with
    /// proven origin (none of these), so only the retention rules (--keep-last,
    /// --keep-younger-than) delete them.
    #[arg(long, value_name = "WHEN", ignore_case = true)]
    pub origin_records: Option<OriginRecordsArg>,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub images: ImageArgs,
    #[command(flatten)]
    pub tags: TagArgs,
    #[command(flatten)]
    pub copy: CopyArgs,
    /// Show the references and the transfer plan without writing anything.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    #[command(flatten)]
    pub images: ImageArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Print the plan without deleting anything.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The source repository: HOST/PATH (any implementation).
    #[arg(value_name = "SRC")]
    pub source: String,
    /// The mirror repository: HOST/PATH (any implementation).
    #[arg(value_name = "DST")]
    pub destination: String,
    /// Sync only tags matching REGEX (repeatable; default: every tag).
    #[arg(long, value_name = "REGEX")]
    pub only_tag: Vec<String>,
    /// Delete the mirror's tags that match the filter and that the source no longer has (only
    /// the tag: a digest another tag uses stays).
    #[arg(long)]
    pub delete_extra: bool,
    /// Also copy the referrers (signatures, attestations, SBOMs) of each copied image.
    #[arg(long)]
    pub with_referrers: bool,
    /// Print the plan without copying or deleting anything.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    #[command(flatten)]
    pub from: FromArgs,
    #[command(flatten)]
    pub images: ImageArgs,
    #[command(flatten)]
    pub tags: TagArgs,
    /// Show the references and the transfer plan without writing anything.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Debug, Args, Default)]
#[command(next_help_heading = "Promotion")]
pub struct FromArgs {
    /// The image to promote: REPO/NAME@DIGEST, or REPO/NAME:TAG (then pin it with --from-digest).
    #[arg(long, value_name = "REF")]
    pub from: Option<String>,
    /// The digest that was tested: when --from's tag no longer points at it, nothing is copied.
    #[arg(long, value_name = "DIGEST")]
    pub from_digest: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub images: ImageArgs,
    #[command(flatten)]
    pub tags: TagArgs,
    #[command(flatten)]
    pub copy: CopyArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    // For the `promote` stage (DOCKHAND_STAGES=promote,cleanup); boxed to keep `Command` small.
    #[command(flatten)]
    pub from: Box<FromArgs>,
    /// Show what publish and cleanup would do without writing or deleting anything.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Debug, Args)]
pub struct DetectArgs {
    #[command(flatten)]
    pub images: ImageArgs,
    #[command(flatten)]
    pub tags: TagArgs,
}

#[derive(Debug, Args)]
pub struct CiEnvArgs {
    /// Output format: shell (export lines), dotenv, or json (also `--output json`).
    #[arg(long, value_name = "FORMAT", ignore_case = true)]
    pub format: Option<CiEnvFormat>,
    /// Tag options given here (or as DOCKHAND_*) show how they change the CI's tags.
    #[command(flatten)]
    pub tags: TagArgs,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// A subcommand whose page to print (default: dockhand(1)).
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_name = "SHELL", ignore_case = true)]
    pub shell: clap_complete::Shell,
}

// Options with fixed values. clap lists them in `--help` and refuses other values given as a flag;
// the settings layer still validates the raw text (flags, `DOCKHAND_*`, `INPUT_*`, config) with its
// own messages, and `tests::value_enums_match_the_settings_layer` keeps the two in step.

/// `--images-repo-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Decided by the implementation's repository depth rules and the address.
    Auto,
    /// One repository per image: REPO/NAME:TAG.
    Multirepo,
    /// One repository for all images: REPO:NAME-TAG.
    Monorepo,
}

/// `--implementation`: werf's names; a few other spellings are accepted as aliases. The values
/// are the registered implementations (`registry::implementations::REGISTERED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImplementationArg(pub Implementation);

impl ValueEnum for ImplementationArg {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: LazyLock<Vec<ImplementationArg>> =
            LazyLock::new(|| Implementation::all().map(ImplementationArg).collect());
        &ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let spec = self.0.spec();
        Some(
            PossibleValue::new(spec.id)
                .aliases(spec.aliases.iter().copied())
                .help(spec.help),
        )
    }
}

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    Text,
    Json,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

/// `--tag-latest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LatestArg {
    /// The newest release: a git tag that is the repository's highest release version; without
    /// release tags, the default branch.
    Auto,
    /// Always.
    True,
    /// Never.
    False,
}

/// `--tags-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TagsModeArg {
    /// Your tag options replace the CI's tags (the default).
    Replace,
    /// Your tag options add to the CI's tags.
    Add,
}

/// `--origin-records`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OriginRecordsArg {
    /// Never attach origin records.
    Off,
    /// Attach them, except on registries where they would show as `sha256-<hex>` tags in a UI
    /// that lists every tag (Docker Hub).
    Auto,
    /// Always attach them.
    On,
}

/// `--keep-in-use`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeepInUseArg {
    /// The workloads of the kubeconfig's clusters (pods and pod templates).
    Kubernetes,
}

/// `--git-refs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GitRefsArg {
    /// The checkout if it is complete, else the forge API or `git ls-remote`.
    Auto,
    /// The checkout's branches and tags.
    Local,
    /// `git ls-remote` of the checkout's origin.
    Remote,
    /// The GitHub GraphQL API.
    #[value(name = "github")]
    GitHub,
    /// The GitLab REST API.
    #[value(name = "gitlab")]
    GitLab,
    /// No git-aware rules.
    None,
}

/// `ci-env --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CiEnvFormat {
    /// `export NAME=VALUE` lines.
    #[value(alias = "export")]
    Shell,
    /// `NAME=VALUE` lines (GitLab's dotenv report).
    #[value(alias = "env")]
    Dotenv,
    Json,
}

/// The name clap knows a value by (what the settings layer parses again).
pub fn value_name<T: ValueEnum>(v: &T) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

/// Prefixes of the registry vendors' API options, shown under [`VENDOR_HEADING`].
pub const VENDOR_PREFIXES: &[&str] = &[
    "docker_hub_",
    "github_",
    "gitlab_",
    "quay_",
    "harbor_",
    "azure_",
    "google_",
];

pub const VENDOR_HEADING: &str = "Registry vendor options";

/// The environment variable that sets option `id` (every option of the table has one).
pub fn env_var(id: &str) -> Option<String> {
    spec(id).map(|o| o.dockhand_var())
}

/// The command line as `main`, the completions and the man page see it: the derive's definition
/// plus, for every option, its `DOCKHAND_*` variable in the help, and the vendor options under
/// their own heading (shown by `--help`, left out of `-h`).
///
/// clap's `env` attribute is not used: it would make clap read the variable itself, and the
/// settings layer reads the environment with its own precedence (flag > `DOCKHAND_*` >
/// `INPUT_*` > config > CI default).
pub fn command() -> clap::Command {
    annotate(Cli::command())
}

fn annotate(cmd: clap::Command) -> clap::Command {
    let cmd = cmd.mut_args(annotate_arg);
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    subs.iter()
        .fold(cmd, |c, name| c.mut_subcommand(name, annotate))
}

fn annotate_arg(arg: Arg) -> Arg {
    let id = arg.get_id().as_str().to_string();
    let Some(var) = env_var(&id) else {
        return arg;
    };
    let note = format!("[env: {var}]");
    let help = arg
        .get_help()
        .map(|h| format!("{h} {note}"))
        .unwrap_or_else(|| note.clone());
    let vendor = VENDOR_PREFIXES.iter().any(|p| id.starts_with(p));
    // A vendor option is left out of `-h`; its text must then be its long help too, or the man
    // page (which shows short help only when that is not hidden) would show none.
    let long = match arg.get_long_help() {
        Some(h) => Some(format!("{h}\n\n{note}")),
        None if vendor => Some(help.clone()),
        None => None,
    };
    let mut arg = arg.help(StyledStr::from(help));
    if let Some(long) = long {
        arg = arg.long_help(StyledStr::from(long));
    }
    if vendor {
        arg = arg.help_heading(VENDOR_HEADING).hide_short_help(true);
    }
    arg
}

/// The colour of clap's own output (help, usage errors), which is printed before the settings
/// exist: `--color WHEN` / `--color=WHEN` from the arguments, else `DOCKHAND_COLOR`; `auto` lets
/// clap apply `NO_COLOR`, `CLICOLOR_FORCE` and its terminal check.
pub fn clap_color(args: &[String], env_value: Option<&str>) -> clap::ColorChoice {
    let mut given = None;
    for (i, a) in args.iter().enumerate() {
        if a == "--" {
            break;
        }
        if let Some(v) = a.strip_prefix("--color=") {
            given = Some(v.to_string());
        } else if a == "--color" {
            given = args.get(i + 1).cloned();
        }
    }
    let value = given.or_else(|| env_value.map(str::to_string));
    match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("always") => clap::ColorChoice::Always,
        Some("never") => clap::ColorChoice::Never,
        _ => clap::ColorChoice::Auto,
    }
}

/// Every name and alias of a value enum's variants, with the variant's canonical name.
pub fn spellings<T: ValueEnum>() -> Vec<(String, String)> {
    T::value_variants()
        .iter()
        .filter_map(|v| v.to_possible_value())
        .flat_map(|p: PossibleValue| {
            let name = p.get_name().to_string();
            p.get_name_and_aliases()
                .map(|n| (n.to_string(), name.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::layout::ModeChoice;
    use crate::options::OptionKind;
    use crate::settings::{self, GitRefs, Output};

    #[test]
    fn cli_is_consistent() {
        command().debug_assert();
    }

    fn long_help(sub: &str) -> String {
        let mut cmd = command();
        cmd.build();
        cmd.find_subcommand_mut(sub)
            .expect("subcommand")
            .render_long_help()
            .to_string()
    }

    fn short_help(sub: &str) -> String {
        let mut cmd = command();
        cmd.build();
        cmd.find_subcommand_mut(sub)
            .expect("subcommand")
            .render_help()
            .to_string()
    }

    #[test]
    fn help_names_each_options_variable() {
        let flat = |s: String| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let cleanup = flat(long_help("cleanup"));
        for var in [
            "[env: DOCKHAND_KEEP_LAST]",
            "[env: DOCKHAND_IMAGES_REPO]",
            "[env: DOCKHAND_GIT_REFS]",
            "[env: DOCKHAND_COLOR]",
            "[env: DOCKHAND_QUAY_TOKEN]",
        ] {
            assert!(
                cleanup.contains(var),
                "cleanup --help lacks {var}:\n{cleanup}"
            );
        }
        // Not options of the table: no variable.
        assert!(!cleanup.contains("DOCKHAND_VERBOSE"), "{cleanup}");
        let ci_env = flat(long_help("ci-env"));
        assert!(!ci_env.contains("DOCKHAND_FORMAT"), "{ci_env}");
    }

    #[test]
    fn help_lists_fixed_values() {
        let flat = |s: String| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let short = flat(short_help("cleanup"));
        // The implementations are the registered ones, in registration order.
        let names: Vec<&str> = Implementation::all().map(|i| i.name()).collect();
        let implementations = format!("[possible values: {}]", names.join(", "));
        assert!(implementations.starts_with("[possible values: default, ecr, acr, dockerhub,"));
        for values in [
            "[possible values: auto, multirepo, monorepo]",
            "[possible values: text, json]",
            "[possible values: auto, always, never]",
            &implementations,
            "[possible values: auto, local, remote, github, gitlab, none]",
        ] {
            assert!(
                short.contains(values),
                "cleanup -h lacks {values}:\n{short}"
            );
        }
    }

    #[test]
    fn vendor_options_have_their_heading_and_stay_out_of_short_help() {
        let long = long_help("publish");
        let heading = long.find(VENDOR_HEADING).expect("vendor heading");
        for flag in [
            "--docker-hub-token",
            "--github-token",
            "--gitlab-project",
            "--quay-token",
            "--harbor-username",
            "--azure-tenant-id",
            "--google-json-key",
        ] {
            let at = long.find(flag).unwrap_or_else(|| panic!("{flag}:\n{long}"));
            assert!(
                at > heading,
                "{flag} is not under the vendor heading:\n{long}"
            );
        }
        let short = short_help("publish");
        assert!(!short.contains("--quay-token"), "{short}");
        assert!(short.contains("--images-repo"), "{short}");
    }

    /// Every option of the table but `stages` (an action input) is a flag, and every flag that is
    /// an option has the table's long name, kind (a switch for a `Bool`, repeatable for a list)
    /// and variable: the derive cannot drift from the table.
    #[test]
    fn options_and_flags_agree() {
        let mut cmd = command();
        cmd.build();
        let mut args: Vec<Arg> = cmd.get_arguments().cloned().collect();
        for sub in cmd.get_subcommands() {
            args.extend(sub.get_arguments().cloned());
        }
        for o in crate::options::OPTION_SPECS {
            assert!(
                o.name == "stages" || args.iter().any(|a| a.get_id() == o.name),
                "option {} has no flag",
                o.name
            );
        }
        for arg in &args {
            let Some(o) = spec(arg.get_id().as_str()) else {
                continue;
            };
            assert_eq!(arg.get_long(), Some(o.long().as_str()), "{}", o.name);
            let switch = matches!(arg.get_action(), clap::ArgAction::SetTrue);
            assert_eq!(switch, o.kind == OptionKind::Bool, "{}: switch", o.name);
            if matches!(
                o.kind,
                OptionKind::List | OptionKind::Patterns | OptionKind::StrictList
            ) {
                assert!(
                    matches!(arg.get_action(), clap::ArgAction::Append),
                    "{}: a list option is repeatable",
                    o.name
                );
            }
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(
                help.ends_with(&format!("[env: {}]", o.dockhand_var())),
                "{}: {help}",
                o.name
            );
        }
    }

    #[test]
    fn clap_colour_follows_the_flag_then_the_variable() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        use clap::ColorChoice::{Always, Auto, Never};
        assert_eq!(
            clap_color(&a(&["dockhand", "--color", "never", "-h"]), None),
            Never
        );
        assert_eq!(
            clap_color(&a(&["dockhand", "--color=ALWAYS"]), Some("never")),
            Always
        );
        assert_eq!(
            clap_color(&a(&["dockhand", "detect"]), Some("never")),
            Never
        );
        assert_eq!(clap_color(&a(&["dockhand", "detect"]), None), Auto);
        assert_eq!(
            clap_color(&a(&["dockhand", "--", "--color", "never"]), None),
            Auto
        );
    }

    /// clap's values and the settings layer's accept the same spellings and mean the same thing.
    #[test]
    fn value_enums_match_the_settings_layer() {
        for (spelling, name) in spellings::<ModeArg>() {
            let parsed: ModeChoice = spelling.parse().expect("mode");
            assert_eq!(serde_json::to_value(parsed).unwrap(), name.as_str());
        }
        let mut names = Vec::new();
        for (spelling, name) in spellings::<ImplementationArg>() {
            let parsed: Implementation = spelling.parse().expect("implementation");
            assert_eq!(parsed.name(), name, "{spelling}");
            names.push(name);
        }
        for i in Implementation::all() {
            assert!(
                names.iter().any(|n| n == i.name()),
                "{} is no value",
                i.name()
            );
        }
        for (spelling, name) in spellings::<OutputArg>() {
            let parsed = match settings::parse_output(&spelling).expect("output") {
                Output::Text => "text",
                Output::Json => "json",
            };
            assert_eq!(parsed, name);
        }
        for (spelling, name) in spellings::<GitRefsArg>() {
            let parsed = match settings::parse_git_refs(&spelling).expect("git refs") {
                GitRefs::Auto => "auto",
                GitRefs::Local => "local",
                GitRefs::Remote => "remote",
                GitRefs::GitHub => "github",
                GitRefs::GitLab => "gitlab",
                GitRefs::None => "none",
            };
            assert_eq!(parsed, name);
        }
        for (spelling, name) in spellings::<ColorArg>() {
            let parsed = match settings::parse_color(&spelling).expect("color") {
                crate::log::ColorChoice::Auto => "auto",
                crate::log::ColorChoice::Always => "always",
                crate::log::ColorChoice::Never => "never",
            };
            assert_eq!(parsed, name);
        }
        for (spelling, name) in spellings::<LatestArg>() {
            let parsed = match spelling
                .parse::<crate::naming::semver::Latest>()
                .expect("latest")
            {
                crate::naming::semver::Latest::Auto => "auto",
                crate::naming::semver::Latest::True => "true",
                crate::naming::semver::Latest::False => "false",
            };
            assert_eq!(parsed, name);
        }
        for (spelling, name) in spellings::<TagsModeArg>() {
            let parsed = match settings::parse_tags_mode(&spelling).expect("tags mode") {
                settings::TagsMode::Replace => "replace",
                settings::TagsMode::Add => "add",
            };
            assert_eq!(parsed, name);
        }
        for (spelling, name) in spellings::<OriginRecordsArg>() {
            let parsed = match settings::parse_origin_records(&spelling).expect("origin records") {
                settings::OriginRecords::Off => "off",
                settings::OriginRecords::Auto => "auto",
                settings::OriginRecords::On => "on",
            };
            assert_eq!(parsed, name);
        }
        for (spelling, name) in spellings::<CiEnvFormat>() {
            let parsed = match crate::commands::ci_env::Format::parse(&spelling).expect("format") {
                crate::commands::ci_env::Format::Shell => "shell",
                crate::commands::ci_env::Format::Dotenv => "dotenv",
                crate::commands::ci_env::Format::Json => "json",
            };
            assert_eq!(parsed, name);
        }
        // What neither accepts.
        assert!(settings::parse_output("yaml").is_err());
        assert!(ImplementationArg::from_str("artifactory", true).is_err());
    }
}
