//! The command line as clap sees it. Values here are raw: `settings` validates them, layers them
//! over the environment and the config file, and names the flag in every error.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    /// CI entrypoint: settings from the CI environment, then publish, then cleanup.
    Run(RunArgs),
    /// Show the registry implementation, the repository mode and each image's reference, and why.
    Detect(DetectArgs),
    /// Print the settings derived from the CI environment.
    CiEnv(CiEnvArgs),
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Config file (default: dockhand.yaml, else werf.yaml, in the working directory).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where images go: a registry, an account or a repository (e.g. registry.example.com/team).
    #[arg(short = 'i', long, global = true, value_name = "REPO")]
    pub images_repo: Option<String>,
    /// Repository layout: auto, multirepo (REPO/NAME:TAG) or monorepo (REPO:NAME-TAG).
    #[arg(long, global = true, value_name = "MODE")]
    pub images_repo_mode: Option<String>,
    /// Registry implementation, instead of detecting it: default, ecr, acr, dockerhub, gcr, github, gitlab, harbor, quay.
    #[arg(long, global = true, value_name = "NAME")]
    pub implementation: Option<String>,
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
    #[arg(long, global = true, value_name = "USER", help_heading = "Vendor APIs")]
    pub docker_hub_username: Option<String>,
    /// Docker Hub account password (prefer --docker-hub-token).
    #[arg(
        long,
        global = true,
        value_name = "PASSWORD",
        help_heading = "Vendor APIs"
    )]
    pub docker_hub_password: Option<String>,
    /// Docker Hub personal or organisation access token.
    #[arg(
        long,
        global = true,
        value_name = "TOKEN",
        help_heading = "Vendor APIs"
    )]
    pub docker_hub_token: Option<String>,
    /// Docker Hub API base (default: https://hub.docker.com).
    #[arg(long, global = true, value_name = "URL", help_heading = "Vendor APIs")]
    pub docker_hub_api_url: Option<String>,
    /// Quay OAuth application token (repo:write to delete tags).
    #[arg(
        long,
        global = true,
        value_name = "TOKEN",
        help_heading = "Vendor APIs"
    )]
    pub quay_token: Option<String>,
    /// Harbor API user or robot account (default: the registry credentials).
    #[arg(long, global = true, value_name = "USER", help_heading = "Vendor APIs")]
    pub harbor_username: Option<String>,
    /// Harbor API password or robot secret.
    #[arg(
        long,
        global = true,
        value_name = "PASSWORD",
        help_heading = "Vendor APIs"
    )]
    pub harbor_password: Option<String>,
    /// Azure service principal client id (default: AZURE_CLIENT_ID).
    #[arg(long, global = true, value_name = "ID", help_heading = "Vendor APIs")]
    pub azure_client_id: Option<String>,
    /// Azure service principal secret (default: AZURE_CLIENT_SECRET).
    #[arg(
        long,
        global = true,
        value_name = "SECRET",
        help_heading = "Vendor APIs"
    )]
    pub azure_client_secret: Option<String>,
    /// Azure tenant id (default: AZURE_TENANT_ID).
    #[arg(long, global = true, value_name = "ID", help_heading = "Vendor APIs")]
    pub azure_tenant_id: Option<String>,
    /// Azure login host (default: AZURE_AUTHORITY_HOST, else https://login.microsoftonline.com).
    #[arg(long, global = true, value_name = "URL", help_heading = "Vendor APIs")]
    pub azure_authority_host: Option<String>,
    /// An Azure AD access token to exchange for an ACR token.
    #[arg(
        long,
        global = true,
        value_name = "TOKEN",
        help_heading = "Vendor APIs"
    )]
    pub azure_access_token: Option<String>,
    /// Google OAuth2 access token (gcloud auth print-access-token).
    #[arg(
        long,
        global = true,
        value_name = "TOKEN",
        help_heading = "Vendor APIs"
    )]
    pub google_access_token: Option<String>,
    /// Google service account JSON key file (default: GOOGLE_APPLICATION_CREDENTIALS).
    #[arg(long, global = true, value_name = "FILE", help_heading = "Vendor APIs")]
    pub google_json_key: Option<String>,
    /// Output: text (logs on stderr, results on stdout) or json (one JSON document on stdout).
    #[arg(long, global = true, value_name = "FORMAT")]
    pub output: Option<String>,
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
    /// Keep commit tags (`--tag-git-commit`) of the newest N commits of the checkout's history.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_commits: Option<String>,
    /// Keep commit tags of commits made within DURATION (30d, 12h).
    #[arg(long, value_name = "DURATION")]
    pub keep_commits_younger_than: Option<String>,
    /// Where git-aware cleanup reads branches and tags: auto, local, remote, github, gitlab, none.
    #[arg(long, value_name = "SOURCE")]
    pub git_refs: Option<String>,
    /// The git checkout to read (default: the working directory).
    #[arg(long, value_name = "DIR")]
    pub git_dir: Option<PathBuf>,
    /// Write the cleanup JSON document to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
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
pub struct RunArgs {
    #[command(flatten)]
    pub images: ImageArgs,
    #[command(flatten)]
    pub tags: TagArgs,
    #[command(flatten)]
    pub copy: CopyArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
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
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Tag options given here (or as DOCKHAND_*) show how they change the CI's tags.
    #[command(flatten)]
    pub tags: TagArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
