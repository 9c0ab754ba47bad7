//! The CI-default layer: option values the CI implies, below the config file and every user
//! value (flag > `DOCKHAND_*` > `INPUT_*` > config > CI default > built-in).
//!
//! - GitHub: images repo `ghcr.io/<owner>/<repo>` (lower-cased; `containers.<host>` on GitHub
//!   Enterprise Server), the action's `token` input (else `GITHUB_TOKEN`) as GitHub token, and as
//!   registry password with `GITHUB_ACTOR` — for GitHub's registry only.
//! - GitLab: images repo `CI_REGISTRY_IMAGE`; registry login `CI_REGISTRY_USER`/`_PASSWORD`, else
//!   `gitlab-ci-token`/`CI_JOB_TOKEN` — for the `CI_REGISTRY` host only, so a job token never
//!   travels to another registry. (The implementation follows from `CI_REGISTRY` in detection.)
//! - Every CI: the tags of the pipeline kind — git tag, else `pr-N`/`mr-N`, else the branch — and
//!   the commit with `--tag-ci-commit`. They are the default *tag set*: a user who gives a tag
//!   option of their own (`--tag-custom`, `--tag-git-*`, `--tags-from`) chooses the tags, unless
//!   `--tags-mode add`; `--tag-ci-commit`, `--tag-sha`, `--tag-latest` and `--tag-by-digest` still
//!   add theirs. Branch and tag names are slugged by the settings, as any
//!   git value is.
//!
//! Nothing here writes a Docker config: credentials stay in memory.

use serde::Serialize;

use super::context::{self, CiContext, RefKind, Vendor};
use crate::env::{self, Env};
use crate::naming::reference::ImagesRepo;
use crate::options::{Origin, Value, Values, kind_of};

/// One value the CI implies for an option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Derived {
    pub option: &'static str,
    /// Never serialized for a secret.
    #[serde(skip)]
    pub value: String,
    /// The variable(s) it came from, e.g. `CI_REGISTRY_IMAGE`.
    pub from: String,
    /// A secret is shown as a reference to the variable holding it, never as its value.
    pub secret: Option<&'static str>,
    /// The user's value that wins over this one (`--images-repo`, `DOCKHAND_IMAGES_REPO`, …).
    pub overridden_by: Option<String>,
}

impl Derived {
    /// `DOCKHAND_<OPTION>`.
    pub fn variable(&self) -> String {
        format!(
            "{}{}",
            env::DOCKHAND_PREFIX,
            self.option.to_ascii_uppercase()
        )
    }
}

const TAG_OPTIONS: &[&str] = &[
    "tag_custom",
    "tag_git_branch",
    "tag_git_tag",
    "tag_git_commit",
    "tags_from",
];

/// Everything the CI implies, overridden entries included (for `ci-env`).
/// `upper` holds the user's layers (flags, `DOCKHAND_*`, `INPUT_*`, config).
pub fn derive(ci: Option<&CiContext>, env: &Env, upper: &Values) -> Vec<Derived> {
    let mut out: Vec<Derived> = Vec::new();
    let mut add = |option: &'static str, value: &str, from: &str, secret: Option<&'static str>| {
        let overridden_by = upper.get(option).map(|(_, o)| o.label());
        out.push(Derived {
            option,
            value: value.to_string(),
            from: from.to_string(),
            secret,
            overridden_by,
        });
    };
    let vendor = ci.map(|c| c.vendor);

    // Forge APIs (git-aware cleanup); GitHub's token also logs in to its registry below.
    let github_token = [env::INPUT_TOKEN, env::GITHUB_TOKEN]
        .into_iter()
        .find_map(|v| env.get(v).map(|t| (v, t)));
    if let Some((var, token)) = github_token {
        add("github_token", token, var, Some(var));
    }
    for (option, var) in [
        ("github_api_url", env::GITHUB_API_URL),
        ("github_repository", env::GITHUB_REPOSITORY),
        ("gitlab_api_url", env::CI_API_V4_URL),
        ("gitlab_project", env::CI_PROJECT_ID),
        // Ambient vendor credentials, under the names the vendors' own tools read.
        ("azure_client_id", env::AZURE_CLIENT_ID),
        ("azure_tenant_id", env::AZURE_TENANT_ID),
        ("azure_authority_host", env::AZURE_AUTHORITY_HOST),
        ("google_json_key", env::GOOGLE_APPLICATION_CREDENTIALS),
    ] {
        if let Some(v) = env.get(var) {
            add(option, v, var, None);
        }
    }
    if let Some(v) = env.get(env::AZURE_CLIENT_SECRET) {
        add(
            "azure_client_secret",
            v,
            env::AZURE_CLIENT_SECRET,
            Some(env::AZURE_CLIENT_SECRET),
        );
    }

    // Where images go, and the login for it.
    let mut ci_repo: Option<String> = None;
    let mut login: Option<(String, &str, &'static str, &'static str)> = None;
    let mut registry_host: Option<String> = None;
    match vendor {
        Some(Vendor::GitHub) => {
            if let Some(repo) = env.get(env::GITHUB_REPOSITORY) {
                let host = github_registry_host(env);
                let r = format!("{host}/{}", repo.to_ascii_lowercase());
                add("images_repo", &r, env::GITHUB_REPOSITORY, None);
                ci_repo = Some(r);
                registry_host = Some(host);
            }
            if let (Some(actor), Some((var, token))) =
                (env.get(context::GITHUB_ACTOR), github_token)
            {
                login = Some((actor.to_string(), token, context::GITHUB_ACTOR, var));
            }
        }
        Some(Vendor::GitLab) => {
            if let Some(r) = env.get(context::CI_REGISTRY_IMAGE) {
                add("images_repo", r, context::CI_REGISTRY_IMAGE, None);
                ci_repo = Some(r.to_string());
            }
            registry_host = env.get(env::CI_REGISTRY).map(str::to_string);
            add("dotenv", "dockhand.env", context::GITLAB_CI, None);
            login = match (
                env.get(context::CI_REGISTRY_USER),
                env.get(context::CI_REGISTRY_PASSWORD),
                env.get(env::CI_JOB_TOKEN),
            ) {
                (Some(u), Some(p), _) => Some((
                    u.to_string(),
                    p,
                    context::CI_REGISTRY_USER,
                    context::CI_REGISTRY_PASSWORD,
                )),
                (_, _, Some(t)) => Some((
                    "gitlab-ci-token".to_string(),
                    t,
                    env::CI_JOB_TOKEN,
                    env::CI_JOB_TOKEN,
                )),
                _ => None,
            };
        }
        _ => {}
    }
    let effective_repo = match upper.get("images_repo") {
        Some((Value::Text(s), _)) => Some(s.clone()),
        // Of several images repos, the run's login goes to the first only (see settings).
        Some((Value::List(l), _)) => l.first().cloned(),
        _ => ci_repo,
    };
    let on_ci_registry = match (&effective_repo, &registry_host) {
        (Some(r), Some(h)) => ImagesRepo::parse(r).is_ok_and(|r| r.host.eq_ignore_ascii_case(h)),
        _ => false,
    };
    if let Some((user, password, user_var, password_var)) = login
        && on_ci_registry
    {
        // A user who names either half of the login gives the whole login.
        let user_given = ["registry_username", "registry_password"]
            .iter()
            .find_map(|o| upper.get(o).map(|(_, origin)| origin.label()));
        out.push(Derived {
            option: "registry_username",
            value: user,
            from: user_var.to_string(),
            secret: None,
            overridden_by: user_given.clone(),
        });
        out.push(Derived {
            option: "registry_password",
            value: password.to_string(),
            from: password_var.to_string(),
            secret: Some(password_var),
            overridden_by: user_given,
        });
    }

    // Tags of the pipeline kind.
    if let Some(c) = ci {
        // `--tags-mode add`: the CI's tags stay; a user value of the same option still wins for
        // that option (`--tag-custom` lists are joined by the settings).
        let add_mode = matches!(upper.get("tags_mode"), Some((Value::Text(m), _)) if m.trim().eq_ignore_ascii_case("add"));
        let user_tags = TAG_OPTIONS
            .iter()
            .find_map(|o| upper.get(o).map(|(_, origin)| origin.label()));
        let mut tag = |option: &'static str, value: String, from: &str| {
            let overridden_by = match (add_mode, option) {
                (false, _) => user_tags.clone(),
                (true, "tag_custom") => None,
                (true, _) => upper.get(option).map(|(_, o)| o.label()),
            };
            out.push(Derived {
                option,
                value,
                from: from.to_string(),
                secret: None,
                overridden_by,
            })
        };
        match c.ref_kind() {
            RefKind::Tag(t) => tag("tag_git_tag", t.value.clone(), &t.from),
            RefKind::Change(ch) => tag("tag_custom", ch.tag(), &ch.from),
            RefKind::Branch(b) => tag("tag_git_branch", b.value.clone(), &b.from),
            RefKind::Unknown => {}
        }
        if matches!(upper.get("tag_ci_commit"), Some((Value::Bool(true), _)))
            && let Some(commit) = &c.commit
        {
            out.push(Derived {
                option: "tag_git_commit",
                value: commit.value.clone(),
                from: commit.from.clone(),
                secret: None,
                overridden_by: upper.get("tag_git_commit").map(|(_, o)| o.label()),
            });
        }
    }
    out
}

/// The layer itself: the derived values that no user value overrides.
pub fn layer(derived: &[Derived]) -> Values {
    let mut v = Values::default();
    for d in derived.iter().filter(|d| d.overridden_by.is_none()) {
        v.set_text(
            d.option,
            kind_of(d.option),
            &d.value,
            Origin::Env(d.from.clone()),
        );
    }
    v
}

/// GitHub's container registry: `ghcr.io`, or `containers.<host>` on GitHub Enterprise Server.
pub fn github_registry_host(env: &Env) -> String {
    env.ci_hints()
        .github_server_host
        .map(|h| format!("containers.{h}"))
        .unwrap_or_else(|| "ghcr.io".to_string())
}

/// What detection will decide from the CI alone (shown by `ci-env`): GitLab for `CI_REGISTRY`.
pub fn implementation_hint(env: &Env, derived: &[Derived]) -> Option<(&'static str, String)> {
    let registry = env.get(env::CI_REGISTRY)?;
    let repo = derived
        .iter()
        .find(|d| d.option == "images_repo" && d.overridden_by.is_none())?;
    ImagesRepo::parse(&repo.value)
        .ok()
        .filter(|r| r.host.eq_ignore_ascii_case(registry))
        .map(|_| ("gitlab", env::CI_REGISTRY.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn derived(pairs: &[(&str, &str)], upper: &[(&'static str, &str)]) -> Vec<Derived> {
        let env = Env::from_pairs(pairs.iter().copied());
        let ci = context::detect(&env, None);
        let mut u = Values::default();
        for (k, v) in upper {
            let kind = kind_of(k);
            u.set_text(k, kind, v, Origin::Flag(k));
        }
        derive(ci.as_ref(), &env, &u)
    }

    fn get<'a>(d: &'a [Derived], option: &str) -> Option<&'a Derived> {
        d.iter().find(|x| x.option == option)
    }

    const GITLAB: &[(&str, &str)] = &[
        ("GITLAB_CI", "true"),
        ("CI_REGISTRY", "registry.example.com:5050"),
        ("CI_REGISTRY_IMAGE", "registry.example.com:5050/group/app"),
        ("CI_JOB_TOKEN", "job-token-value"),
        ("CI_COMMIT_BRANCH", "feature/x"),
        ("CI_COMMIT_SHA", "0123456789abcdef"),
        ("CI_API_V4_URL", "https://gitlab.example.com/api/v4"),
        ("CI_PROJECT_ID", "17"),
    ];

    #[test]
    fn gitlab_defaults() {
        let d = derived(GITLAB, &[]);
        assert_eq!(
            get(&d, "images_repo").unwrap().value,
            "registry.example.com:5050/group/app"
        );
        assert_eq!(
            get(&d, "registry_username").unwrap().value,
            "gitlab-ci-token"
        );
        let p = get(&d, "registry_password").unwrap();
        assert_eq!(p.secret, Some("CI_JOB_TOKEN"));
        assert_eq!(get(&d, "tag_git_branch").unwrap().value, "feature/x");
        assert_eq!(get(&d, "gitlab_project").unwrap().value, "17");
        assert!(
            get(&d, "tag_git_commit").is_none(),
            "the commit only when asked"
        );
        let env = Env::from_pairs(GITLAB.iter().copied());
        assert_eq!(
            implementation_hint(&env, &d),
            Some(("gitlab", "CI_REGISTRY".into()))
        );
        let v = layer(&d);
        assert_eq!(v.get("images_repo").unwrap().1.label(), "CI_REGISTRY_IMAGE");
    }

    #[test]
    fn the_job_token_never_goes_to_another_registry() {
        let d = derived(GITLAB, &[("images_repo", "docker.io/acme")]);
        assert!(get(&d, "registry_password").is_none(), "{d:?}");
        assert_eq!(
            get(&d, "images_repo").unwrap().overridden_by.as_deref(),
            Some("--images-repo")
        );
        // A user's own login replaces the CI's, both halves.
        let d = derived(GITLAB, &[("registry_username", "me")]);
        assert_eq!(
            get(&d, "registry_password")
                .unwrap()
                .overridden_by
                .as_deref(),
            Some("--registry-username")
        );
        assert!(layer(&d).get("registry_password").is_none());
    }

    #[test]
    fn user_tags_replace_the_ci_tags_but_the_commit_adds() {
        let d = derived(GITLAB, &[("tag_custom", "v1"), ("tag_ci_commit", "true")]);
        let v = layer(&d);
        assert!(v.get("tag_git_branch").is_none());
        assert_eq!(
            v.get("tag_git_commit").unwrap().0,
            Value::Text("0123456789abcdef".into())
        );
    }

    #[test]
    fn tags_mode_add_keeps_the_ci_tags() {
        let d = derived(GITLAB, &[("tag_custom", "v1"), ("tags_mode", "add")]);
        let v = layer(&d);
        assert_eq!(
            v.get("tag_git_branch").unwrap().0,
            Value::Text("feature/x".into())
        );
        // The user's own branch still wins for that option.
        let d = derived(GITLAB, &[("tag_git_branch", "main"), ("tags_mode", "add")]);
        assert!(layer(&d).get("tag_git_branch").is_none());
        // `--tags-from` is a tag set of the user's: it replaces the CI's by default.
        let d = derived(GITLAB, &[("tags_from", "1.2.3")]);
        assert!(layer(&d).get("tag_git_branch").is_none());
    }

    #[test]
    fn github_defaults() {
        let env = [
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REPOSITORY", "Octo-Org/Hello-World"),
            ("GITHUB_ACTOR", "octocat"),
            ("INPUT_TOKEN", "ghs_input"),
            ("GITHUB_TOKEN", "ghs_env"),
            ("GITHUB_REF", "refs/pull/3/merge"),
        ];
        let d = derived(&env, &[]);
        assert_eq!(
            get(&d, "images_repo").unwrap().value,
            "ghcr.io/octo-org/hello-world"
        );
        assert_eq!(get(&d, "github_token").unwrap().value, "ghs_input");
        assert_eq!(get(&d, "registry_username").unwrap().value, "octocat");
        assert_eq!(
            get(&d, "registry_password").unwrap().secret,
            Some("INPUT_TOKEN")
        );
        assert_eq!(get(&d, "tag_custom").unwrap().value, "pr-3");
        let v = layer(&d);
        assert_eq!(
            v.get("tag_custom").unwrap().0,
            Value::List(vec!["pr-3".into()])
        );

        // GitHub Enterprise Server: its own registry host.
        let mut ghes = env.to_vec();
        ghes.push(("GITHUB_SERVER_URL", "https://github.corp.example"));
        let d = derived(&ghes, &[]);
        assert_eq!(
            get(&d, "images_repo").unwrap().value,
            "containers.github.corp.example/octo-org/hello-world"
        );
        assert!(get(&d, "registry_password").is_some());
    }

    #[test]
    fn outside_ci_only_forge_variables_count() {
        let d = derived(&[("GITHUB_TOKEN", "t0ken-value")], &[]);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].option, "github_token");
    }
}
