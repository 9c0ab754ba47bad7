//! Forge API clients (GitHub, GitLab): how each takes its token, pages, waits out its rate
//! limits and words its errors. The registry implementations for GitHub Packages and GitLab's
//! container registry and git-aware cleanup's ref reading both use them.

pub mod github;
pub mod gitlab;

use crate::secret::Secret;

/// GitHub's API as configured for this run.
#[derive(Debug, Clone, Default)]
pub struct GitHubConfig {
    /// `--github-token` / `GITHUB_TOKEN`.
    pub token: Option<Secret>,
    /// The REST base (`https://api.github.com`, or `https://HOST/api/v3` on GitHub Enterprise
    /// Server); `None`: derived from the host.
    pub api_url: Option<url::Url>,
    /// `OWNER/REPO`, for git refs.
    pub repository: Option<String>,
    /// The limits to pace to (`--github-rate-limit`).
    pub limits: github::Limits,
}

/// GitLab's API as configured for this run.
#[derive(Debug, Clone, Default)]
pub struct GitLabConfig {
    /// The token with its kind already decided ([`gitlab::Token::from_option`]).
    pub token: Option<gitlab::Token>,
    /// The API base (`…/api/v4`); `None`: derived from the registry host.
    pub api_url: Option<url::Url>,
    /// The numeric id or full path of the project.
    pub project: Option<String>,
}
