//! Every environment variable dockhand reads, in one place.
//!
//! The process environment is read once into an [`Env`] snapshot; the rest of the program asks
//! it typed questions, and tests build one from pairs. Empty values count as unset, because CI
//! systems commonly pass every declared input, empty or not.
//!
//! | variable | meaning |
//! |---|---|
//! | `DOCKHAND_<OPTION>` | any option (see `options::OPTIONS`), e.g. `DOCKHAND_IMAGES_REPO` |
//! | `INPUT_<OPTION>` | the same, as GitHub passes a Docker action's inputs |
//! | `DOCKER_CONFIG`, `HOME` | where the Docker config (`config.json`) is |
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

use super::options::{EnvValues, OPTIONS, Origin, Values};
use crate::detect::CiHints;
use crate::error::{Error, Result};

pub const DOCKHAND_PREFIX: &str = "DOCKHAND_";
pub const INPUT_PREFIX: &str = "INPUT_";
pub const DOCKER_CONFIG: &str = "DOCKER_CONFIG";
pub const HOME: &str = "HOME";
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

/// Variables with the dockhand prefix that are not options but are still ours.
const OTHER_DOCKHAND_VARS: &[&str] = &[DOCKHAND_PROGRESS_INTERVAL];

#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
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

    /// The options set through variables with `prefix` (`DOCKHAND_` or `INPUT_`).
    pub fn options(&self, prefix: &str) -> Result<Values> {
        let pairs = self
            .vars
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()));
        let parsed: EnvValues = envy::prefixed(prefix)
            .from_iter(pairs)
            .map_err(|e| Error::input(format!("environment variables {prefix}*: {e}")))?;
        let prefix = prefix.to_string();
        Ok(parsed
            .into_values(move |name| Origin::Env(format!("{prefix}{}", name.to_ascii_uppercase()))))
    }

    /// `DOCKHAND_*` variables that name no option: almost always a typo worth a warning.
    pub fn unknown_dockhand_vars(&self) -> Vec<String> {
        let mut unknown: Vec<String> = self
            .vars
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(DOCKHAND_PREFIX)?;
                let name = rest.to_ascii_lowercase();
                // Our own dotenv report (`DOCKHAND_IMAGE_<NAME>=REF@DIGEST`) reaches later jobs.
                let report = name.starts_with("image_") && v.contains("@sha256:");
                let known = OPTIONS.iter().any(|(o, _)| *o == name)
                    || OTHER_DOCKHAND_VARS.contains(&k.as_str())
                    || report;
                (!known).then(|| k.clone())
            })
            .collect();
        unknown.sort();
        unknown
    }

    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub fn docker_config_file(&self) -> Option<PathBuf> {
        if let Some(dir) = self.get(DOCKER_CONFIG) {
            return Some(PathBuf::from(dir).join("config.json"));
        }
        self.get(HOME)
            .map(|h| PathBuf::from(h).join(".docker").join("config.json"))
    }

    /// The CI-derived layer (below the config file): what the CI implies, given the user's
    /// layers `upper` (see `ci::defaults`).
    pub fn ci_defaults(&self, upper: &Values) -> Values {
        let ci = crate::ci::context::CiContext::from_env(self);
        crate::ci::defaults::layer(&crate::ci::defaults::derive(ci.as_ref(), self, upper))
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
    use super::super::options::Value;
    use super::*;

    #[test]
    fn reads_prefixed_options_with_their_names() {
        let env = Env::from_pairs([
            ("DOCKHAND_IMAGES_REPO", "localhost:5000/x"),
            ("DOCKHAND_TAG_CUSTOM", "a,b"),
            ("INPUT_IMAGES_REPO", "ghcr.io/o"),
            ("INPUT_OUTPUT", ""),
            ("DOCKHAND_IMAGES_REPOO", "typo"),
            ("DOCKHAND_IMAGE_API", "r.example/api:main@sha256:ab"),
            ("DOCKHAND_IMAGE_REPO", "r.example/x"),
        ]);
        let d = env.options(DOCKHAND_PREFIX).unwrap();
        assert_eq!(
            d.get("images_repo").unwrap().0,
            Value::Text("localhost:5000/x".into())
        );
        assert_eq!(
            d.get("images_repo").unwrap().1.label(),
            "DOCKHAND_IMAGES_REPO"
        );
        assert_eq!(
            d.get("tag_custom").unwrap().0,
            Value::List(vec!["a".into(), "b".into()])
        );
        let i = env.options(INPUT_PREFIX).unwrap();
        assert_eq!(
            i.get("images_repo").unwrap().0,
            Value::Text("ghcr.io/o".into())
        );
        assert!(i.get("output").is_none(), "empty inputs are unset");
        assert_eq!(
            env.unknown_dockhand_vars(),
            vec![
                "DOCKHAND_IMAGES_REPOO".to_string(),
                "DOCKHAND_IMAGE_REPO".to_string()
            ],
            "a dotenv report's variable is ours, a typo is not"
        );
    }

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
