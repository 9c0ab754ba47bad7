//! CI integration: which CI runs us and what it says (`context`), the option values it implies
//! (`defaults`), the files a pipeline reads back (`outputs`), and progress lines for long work
//! (`progress`). The log dialect itself lives in `log`.

pub mod context;
pub mod defaults;
pub mod outputs;
pub mod progress;

use std::path::PathBuf;

use context::{CiContext, Vendor};

use crate::env::{self, Env};
use crate::options::{Value, Values};

/// What a command needs to know about its pipeline to write its outputs.
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    pub vendor: Option<Vendor>,
    /// GitHub's `$GITHUB_OUTPUT` file.
    pub github_output: Option<PathBuf>,
    /// GitHub's `$GITHUB_STEP_SUMMARY` file.
    pub github_summary: Option<PathBuf>,
    /// A GitHub pull request from a fork: which one (see `context::CiContext::fork`).
    pub fork_pr: Option<String>,
}

impl Pipeline {
    pub fn from_env(env: &Env, ci: Option<&CiContext>) -> Pipeline {
        Pipeline {
            vendor: ci.map(|c| c.vendor),
            github_output: env.get(env::GITHUB_OUTPUT).map(PathBuf::from),
            github_summary: env.get(env::GITHUB_STEP_SUMMARY).map(PathBuf::from),
            fork_pr: ci.and_then(|c| c.fork.as_ref()).map(|f| f.value.clone()),
        }
    }
}

/// Variables that hold secrets whatever their name says.
const SECRET_VARS: &[&str] = &[
    "CI_JOB_TOKEN",
    "CI_REGISTRY_PASSWORD",
    "CI_DEPLOY_PASSWORD",
    "GITHUB_TOKEN",
    "INPUT_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_CLIENT_SECRET",
    "DOCKER_AUTH_CONFIG",
];

/// Whether an option's value is a secret (`registry_password`, `github_token`, …).
pub fn is_secret_option(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["password", "token", "secret"]
        .iter()
        .any(|s| n.ends_with(s))
}

/// Registers every secret the environment and the command line hold, before anything is printed
/// (on GitHub, `log::flush_masks` then masks them first thing).
pub fn register_secrets(env: &Env, flags: &Values) {
    for (k, v) in env.vars() {
        let option = k
            .strip_prefix(env::DOCKHAND_PREFIX)
            .or_else(|| k.strip_prefix(env::INPUT_PREFIX));
        if SECRET_VARS.contains(&k) || option.is_some_and(is_secret_option) {
            crate::secret::register(v);
        }
    }
    for crate::options::OptionSpec { name, .. } in crate::options::OPTION_SPECS {
        if is_secret_option(name)
            && let Some((Value::Text(v), _)) = flags.get(name)
        {
            crate::secret::register(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_options_by_name() {
        assert!(is_secret_option("registry_password"));
        assert!(is_secret_option("github_token"));
        assert!(is_secret_option("TOKEN"));
        assert!(!is_secret_option("registry_username"));
        assert!(!is_secret_option("images_repo"));
    }
}
