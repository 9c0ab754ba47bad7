//! Every environment variable dockhand reads, in one place (the option variables are parsed by
//! `settings::env`, which adds those methods to [`Env`]).
//!
//! The process environment is read once into an [`Env`] snapshot; the rest of the program asks
//! it typed questions, and tests build one from pairs. Empty values count as unset, because CI
//! systems commonly pass every declared input, empty or not.
//!
//! | variable | meaning |
//! |---|---|
//! | `DOCKHAND_<OPTION>` | any option (see `options::OPTIONS`; read by `settings::env`), e.g. `DOCKHAND_IMAGES_REPO` |
//! | `INPUT_<OPTION>` | the same, as GitHub passes a Docker action's inputs |
//! | `DOCKER_CONFIG`, `HOME` | where the Docker config (`config.json`) is |
//! | `KUBECONFIG`, `HOME` | the kubeconfig files `--keep-in-use kubernetes` reads (else `~/.kube/config`) |
//! | `CI_REGISTRY` | GitLab's registry host: that host is GitLab |
//! | `GITHUB_SERVER_URL` | a GitHub Enterprise Server, whose registry hosts are GitHub's |
//! | `GITHUB_TOKEN`, `GITHUB_API_URL`, `GITHUB_REPOSITORY` | defaults for `--github-*` |
//! | `CI_JOB_TOKEN`, `CI_API_V4_URL`, `CI_PROJECT_ID` | defaults for `--gitlab-*` (the job token as a `JOB-TOKEN`) |
//! | `INPUT_TOKEN` | the GitHub action's `token` input: GitHub token and ghcr.io password |
//! | `GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY` | files a GitHub step writes its outputs and summary to |
//! | `NO_COLOR`, `CLICOLOR_FORCE`, `CLICOLOR`, `TERM` | whether log lines are coloured |
//! | CI vendor variables | which CI runs and its branch/tag/commit/PR: see `ci::context` and `ci::defaults` |

use std::collections::HashMap;
use std::path::PathBuf;

use crate::detect::CiHints;

pub const DOCKHAND_PREFIX: &str = "DOCKHAND_";
pub const INPUT_PREFIX: &str = "INPUT_";
pub const DOCKER_CONFIG: &str = "DOCKER_CONFIG";
pub const HOME: &str = "HOME";
/// Kubeconfig files joined by `:` (kubectl's variable), for `--keep-in-use kubernetes`.
pub const KUBECONFIG: &str = "KUBECONFIG";
pub const CI_REGISTRY: &str = "CI_REGISTRY";
pub const GITHUB_SERVER_URL: &str = "GITHUB_SERVER_URL";
pub const GITHUB_TOKEN: &str = "GITHUB_TOKEN";
pub const GITHUB_API_URL: &str = "GITHUB_API_URL";
pub const GITHUB_REPOSITORY: &str = "GITHUB_REPOSITORY";
pub const CI_JOB_TOKEN: &str = "CI_JOB_TOKEN";
pub const CI_API_V4_URL: &str = "CI_API_V4_URL";
pub const CI_PROJECT_ID: &str = "CI_PROJECT_ID";
/// Ambient vendor credentials, as the vendors' own tools read them.
pub const AZURE_CLIENT_ID: &str = "AZURE_CLIENT_ID";
pub const AZURE_CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
pub const AZURE_TENANT_ID: &str = "AZURE_TENANT_ID";
pub const AZURE_AUTHORITY_HOST: &str = "AZURE_AUTHORITY_HOST";
pub const GOOGLE_APPLICATION_CREDENTIALS: &str = "GOOGLE_APPLICATION_CREDENTIALS";
pub const INPUT_TOKEN: &str = "INPUT_TOKEN";
pub const GITHUB_OUTPUT: &str = "GITHUB_OUTPUT";
pub const GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";
pub const NO_COLOR: &str = "NO_COLOR";
pub const CLICOLOR_FORCE: &str = "CLICOLOR_FORCE";
pub const CLICOLOR: &str = "CLICOLOR";
pub const TERM: &str = "TERM";
/// Seconds between progress lines (tests shorten it).
pub const DOCKHAND_PROGRESS_INTERVAL: &str = "DOCKHAND_PROGRESS_INTERVAL";

#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The one place the process environment is read (clippy.toml forbids it elsewhere).
    #[allow(clippy::disallowed_methods)]
    pub fn from_process() -> Env {
        Env::from_pairs(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .filter(|(_, v)| !v.is_empty())
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Every (non-empty) variable, for the secret scan that runs before anything is printed.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub fn docker_config_file(&self) -> Option<PathBuf> {
        if let Some(dir) = self.get(DOCKER_CONFIG) {
            return Some(PathBuf::from(dir).join("config.json"));
        }
        self.get(HOME)
            .map(|h| PathBuf::from(h).join(".docker").join("config.json"))
    }

    /// `CI_JOB_TOKEN`, which is sent as a `JOB-TOKEN` (not a personal token).
    pub fn ci_job_token(&self) -> Option<&str> {
        self.get(CI_JOB_TOKEN)
    }

    /// What the CI environment says about registry hosts.
    pub fn ci_hints(&self) -> CiHints {
        let github_server_host = self
            .get(GITHUB_SERVER_URL)
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .filter(|h| h != "github.com");
        CiHints {
            gitlab_registry: self.get(CI_REGISTRY).map(str::to_string),
            github_server_host,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_location() {
        assert_eq!(
            Env::from_pairs([("DOCKER_CONFIG", "/c"), ("HOME", "/h")]).docker_config_file(),
            Some("/c/config.json".into())
        );
        assert_eq!(
            Env::from_pairs([("HOME", "/h")]).docker_config_file(),
            Some("/h/.docker/config.json".into())
        );
    }

    #[test]
    fn ci_hints() {
        let env = Env::from_pairs([
            ("CI_REGISTRY", "gitlab.example:5050"),
            ("GITHUB_SERVER_URL", "https://github.com"),
        ]);
        let h = env.ci_hints();
        assert_eq!(h.gitlab_registry.as_deref(), Some("gitlab.example:5050"));
        assert_eq!(h.github_server_host, None);
    }
}
