//! Which CI runs us, and what it says about the build: branch, git tag, commit, pull request.
//!
//! [`detect`] is a pure function of the environment snapshot (and GitHub's event payload, read by
//! the caller), so every vendor's rules are unit-tested with plain maps. Vendors are tried in a
//! fixed order, most specific first: Woodpecker reuses GitLab's `CI_COMMIT_*` names, so it is
//! keyed on `CI=woodpecker` and GitLab on `GITLAB_CI`, never on `CI_COMMIT_SHA`.
//!
//! | vendor | detected by | branch | tag | commit | pull / merge request |
//! |---|---|---|---|---|---|
//! | GitHub Actions | `GITHUB_ACTIONS` | `GITHUB_REF` `refs/heads/…` (PR: `GITHUB_HEAD_REF`) | `GITHUB_REF` `refs/tags/…` | `GITHUB_SHA` (PR: the event's head SHA) | `GITHUB_REF` `refs/pull/N/merge`, event `pull_request.number` |
//! | GitLab CI | `GITLAB_CI` | `CI_COMMIT_BRANCH` (MR: `CI_MERGE_REQUEST_SOURCE_BRANCH_NAME`) | `CI_COMMIT_TAG` | `CI_COMMIT_SHA` | `CI_MERGE_REQUEST_IID` (`mr-N`) |
//! | Woodpecker | `CI=woodpecker` | `CI_COMMIT_SOURCE_BRANCH`, `CI_COMMIT_BRANCH` | `CI_COMMIT_TAG` | `CI_COMMIT_SHA` | `CI_COMMIT_PULL_REQUEST` |
//! | Drone | `DRONE` | `DRONE_SOURCE_BRANCH`, `DRONE_BRANCH` | `DRONE_TAG` | `DRONE_COMMIT_SHA` | `DRONE_PULL_REQUEST` |
//! | Buildkite | `BUILDKITE` | `BUILDKITE_BRANCH` | `BUILDKITE_TAG` | `BUILDKITE_COMMIT` (not the symbolic `HEAD`) | `BUILDKITE_PULL_REQUEST` (not `false`) |
//! | CircleCI | `CIRCLECI` | `CIRCLE_BRANCH` | `CIRCLE_TAG` | `CIRCLE_SHA1` | `CIRCLE_PR_NUMBER`, or the number at the end of `CIRCLE_PULL_REQUEST` |
//! | Bitbucket Pipelines | `BITBUCKET_BUILD_NUMBER` | `BITBUCKET_BRANCH` | `BITBUCKET_TAG` | `BITBUCKET_COMMIT` | `BITBUCKET_PR_ID` |
//! | Azure Pipelines | `TF_BUILD` | `BUILD_SOURCEBRANCH` `refs/heads/…` (PR: `SYSTEM_PULLREQUEST_SOURCEBRANCH`) | `BUILD_SOURCEBRANCH` `refs/tags/…` | `BUILD_SOURCEVERSION` | `SYSTEM_PULLREQUEST_PULLREQUESTNUMBER`, `…ID`, `refs/pull/N/merge` |
//! | Jenkins | `JENKINS_URL` | `BRANCH_NAME`, `GIT_LOCAL_BRANCH`, `GIT_BRANCH` (`origin/` removed) | `TAG_NAME` | `GIT_COMMIT` | `CHANGE_ID`, `ghprbPullId` |
//! | any other | `CI` set and not `false` | — | — | — | — |

use serde::Serialize;

use crate::env::Env;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    GitHub,
    GitLab,
    Woodpecker,
    Drone,
    Buildkite,
    CircleCi,
    Bitbucket,
    Azure,
    Jenkins,
    /// `CI=true` and nothing more specific.
    Generic,
}

impl Vendor {
    pub fn title(self) -> &'static str {
        match self {
            Vendor::GitHub => "GitHub Actions",
            Vendor::GitLab => "GitLab CI",
            Vendor::Woodpecker => "Woodpecker CI",
            Vendor::Drone => "Drone",
            Vendor::Buildkite => "Buildkite",
            Vendor::CircleCi => "CircleCI",
            Vendor::Bitbucket => "Bitbucket Pipelines",
            Vendor::Azure => "Azure Pipelines",
            Vendor::Jenkins => "Jenkins",
            Vendor::Generic => "a CI (CI=true)",
        }
    }
}

/// A value and the variable (or file field) it was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fact<T = String> {
    pub value: T,
    pub from: String,
}

fn fact(value: impl Into<String>, from: impl Into<String>) -> Fact {
    Fact {
        value: value.into(),
        from: from.into(),
    }
}

/// A pull request (GitHub and most CIs) or a merge request (GitLab).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub number: u64,
    /// `pr` or `mr`: the tag is `<prefix>-<number>`.
    pub prefix: &'static str,
    pub from: String,
}

impl Change {
    pub fn tag(&self) -> String {
        format!("{}-{}", self.prefix, self.number)
    }
}

/// What the CI says about this build. Fields the CI does not give are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CiContext {
    pub vendor: Vendor,
    /// The branch built (in a pull request: its source branch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<Fact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<Fact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<Fact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_branch: Option<Fact>,
    /// A pull request from a fork (GitHub): `HEAD-REPO into BASE-REPO`. Its token is read-only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fork: Option<Fact>,
}

/// What kind of pipeline this is, which decides the tag it publishes under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefKind<'a> {
    Tag(&'a Fact),
    Change(&'a Change),
    Branch(&'a Fact),
    Unknown,
}

impl CiContext {
    fn new(vendor: Vendor) -> CiContext {
        CiContext {
            vendor,
            branch: None,
            tag: None,
            commit: None,
            change: None,
            default_branch: None,
            fork: None,
        }
    }

    /// A git tag wins over a pull request, which wins over a branch.
    pub fn ref_kind(&self) -> RefKind<'_> {
        if let Some(t) = &self.tag {
            RefKind::Tag(t)
        } else if let Some(c) = &self.change {
            RefKind::Change(c)
        } else if let Some(b) = &self.branch {
            RefKind::Branch(b)
        } else {
            RefKind::Unknown
        }
    }

    /// Reads the process's CI: the environment, plus GitHub's event payload when there is one.
    pub fn from_env(env: &Env) -> Option<CiContext> {
        let event = env
            .get(GITHUB_EVENT_PATH)
            .filter(|_| env.get(GITHUB_ACTIONS).is_some())
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
        detect(env, event.as_ref())
    }
}

pub const CI: &str = "CI";
pub const GITHUB_ACTIONS: &str = "GITHUB_ACTIONS";
pub const GITHUB_REF: &str = "GITHUB_REF";
pub const GITHUB_HEAD_REF: &str = "GITHUB_HEAD_REF";
pub const GITHUB_SHA: &str = "GITHUB_SHA";
pub const GITHUB_EVENT_PATH: &str = "GITHUB_EVENT_PATH";
pub const GITHUB_ACTOR: &str = "GITHUB_ACTOR";
pub const GITHUB_EVENT_NAME: &str = "GITHUB_EVENT_NAME";
pub const GITLAB_CI: &str = "GITLAB_CI";
pub const CI_COMMIT_TAG: &str = "CI_COMMIT_TAG";
pub const CI_COMMIT_BRANCH: &str = "CI_COMMIT_BRANCH";
pub const CI_COMMIT_REF_NAME: &str = "CI_COMMIT_REF_NAME";
pub const CI_COMMIT_SHA: &str = "CI_COMMIT_SHA";
pub const CI_MERGE_REQUEST_IID: &str = "CI_MERGE_REQUEST_IID";
pub const CI_MERGE_REQUEST_SOURCE_BRANCH_NAME: &str = "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME";
pub const CI_DEFAULT_BRANCH: &str = "CI_DEFAULT_BRANCH";
pub const CI_REGISTRY_IMAGE: &str = "CI_REGISTRY_IMAGE";
pub const CI_REGISTRY_USER: &str = "CI_REGISTRY_USER";
pub const CI_REGISTRY_PASSWORD: &str = "CI_REGISTRY_PASSWORD";

fn is_true(v: Option<&str>) -> bool {
    v.is_some_and(|v| !v.eq_ignore_ascii_case("false") && v != "0")
}

/// The CI this environment belongs to, or `None` outside CI.
pub fn detect(env: &Env, github_event: Option<&serde_json::Value>) -> Option<CiContext> {
    let get = |k: &str| env.get(k);
    let ci = get(CI).map(str::to_ascii_lowercase);
    if is_true(get(GITHUB_ACTIONS)) {
        return Some(github(env, github_event));
    }
    if is_true(get(GITLAB_CI)) {
        return Some(gitlab(env));
    }
    if ci.as_deref() == Some("woodpecker") {
        return Some(woodpecker(env));
    }
    if is_true(get("DRONE")) {
        return Some(simple(
            env,
            Vendor::Drone,
            &["DRONE_SOURCE_BRANCH", "DRONE_BRANCH"],
            &["DRONE_TAG"],
            &["DRONE_COMMIT_SHA"],
            &["DRONE_PULL_REQUEST"],
        ));
    }
    if is_true(get("BUILDKITE")) {
        let mut c = simple(
            env,
            Vendor::Buildkite,
            &["BUILDKITE_BRANCH"],
            &["BUILDKITE_TAG"],
            &["BUILDKITE_COMMIT"],
            &["BUILDKITE_PULL_REQUEST"],
        );
        // Buildkite may give the symbolic HEAD: that names no commit.
        if c.commit.as_ref().is_some_and(|f| f.value == "HEAD") {
            c.commit = None;
        }
        return Some(c);
    }
    if is_true(get("CIRCLECI")) {
        let mut c = simple(
            env,
            Vendor::CircleCi,
            &["CIRCLE_BRANCH"],
            &["CIRCLE_TAG"],
            &["CIRCLE_SHA1"],
            &["CIRCLE_PR_NUMBER"],
        );
        if c.change.is_none()
            && let Some(url) = get("CIRCLE_PULL_REQUEST")
            && let Some(n) = url.rsplit('/').next().and_then(|n| n.parse().ok())
        {
            c.change = Some(Change {
                number: n,
                prefix: "pr",
                from: "CIRCLE_PULL_REQUEST".into(),
            });
        }
        return Some(c);
    }
    if get("BITBUCKET_BUILD_NUMBER").is_some() {
        return Some(simple(
            env,
            Vendor::Bitbucket,
            &["BITBUCKET_BRANCH"],
            &["BITBUCKET_TAG"],
            &["BITBUCKET_COMMIT"],
            &["BITBUCKET_PR_ID"],
        ));
    }
    if is_true(get("TF_BUILD")) {
        return Some(azure(env));
    }
    if get("JENKINS_URL").is_some() {
        return Some(jenkins(env));
    }
    if is_true(ci.as_deref()) {
        return Some(CiContext::new(Vendor::Generic));
    }
    None
}

/// The first of `vars` that is set.
fn first(env: &Env, vars: &[&str]) -> Option<Fact> {
    vars.iter()
        .find_map(|v| env.get(v).map(|value| fact(value, *v)))
}

/// A pull-request number from the first of `vars` that holds one (`false` and junk are not).
fn change(env: &Env, vars: &[&str], prefix: &'static str) -> Option<Change> {
    vars.iter().find_map(|v| {
        let n: u64 = env.get(v)?.trim().trim_start_matches('#').parse().ok()?;
        Some(Change {
            number: n,
            prefix,
            from: (*v).to_string(),
        })
    })
}

fn simple(
    env: &Env,
    vendor: Vendor,
    branch: &[&str],
    tag: &[&str],
    commit: &[&str],
    pr: &[&str],
) -> CiContext {
    let mut c = CiContext::new(vendor);
    c.branch = first(env, branch);
    c.tag = first(env, tag);
    c.commit = first(env, commit);
    c.change = change(env, pr, "pr");
    c
}

/// `refs/heads/x` → branch, `refs/tags/x` → tag, `refs/pull/N/…` → pull request.
enum GitRef {
    Branch(String),
    Tag(String),
    Pull(u64),
}

fn parse_ref(r: &str) -> Option<GitRef> {
    if let Some(b) = r.strip_prefix("refs/heads/") {
        return Some(GitRef::Branch(b.to_string()));
    }
    if let Some(t) = r.strip_prefix("refs/tags/") {
        return Some(GitRef::Tag(t.to_string()));
    }
    let rest = r.strip_prefix("refs/pull/")?;
    rest.split('/').next()?.parse().ok().map(GitRef::Pull)
}

fn github(env: &Env, event: Option<&serde_json::Value>) -> CiContext {
    let mut c = CiContext::new(Vendor::GitHub);
    match env.get(GITHUB_REF).and_then(parse_ref) {
        Some(GitRef::Branch(b)) => c.branch = Some(fact(b, GITHUB_REF)),
        Some(GitRef::Tag(t)) => c.tag = Some(fact(t, GITHUB_REF)),
        Some(GitRef::Pull(n)) => {
            c.change = Some(Change {
                number: n,
                prefix: "pr",
                from: GITHUB_REF.into(),
            })
        }
        None => {}
    }
    let pr = event.and_then(|e| e.get("pull_request"));
    if c.change.is_none()
        && let Some(n) = pr.and_then(|p| p.get("number")).and_then(|n| n.as_u64())
    {
        c.change = Some(Change {
            number: n,
            prefix: "pr",
            from: "GITHUB_EVENT_PATH: pull_request.number".into(),
        });
    }
    if c.change.is_some() {
        c.branch = first(env, &[GITHUB_HEAD_REF]);
    }
    // On a pull request GITHUB_SHA is a throw-away merge commit; the head commit is the one that
    // exists in a branch.
    c.commit = pr
        .and_then(|p| p.pointer("/head/sha"))
        .and_then(|s| s.as_str())
        .map(|s| fact(s, "GITHUB_EVENT_PATH: pull_request.head.sha"))
        .or_else(|| first(env, &[GITHUB_SHA]));
    c.default_branch = event
        .and_then(|e| e.pointer("/repository/default_branch"))
        .and_then(|s| s.as_str())
        .map(|s| fact(s, "GITHUB_EVENT_PATH: repository.default_branch"));
    c.fork = fork_pull_request(env, event);
    c
}

/// A pull request from a fork, from the event payload: its head repository is not its base
/// repository (`pull_request.head.repo.full_name`, `pull_request.base.repo.full_name`), or, when
/// the payload lacks the names, `pull_request.head.repo.fork` is true. (A fork flag alone would
/// also match a pull request inside a repository that is itself a fork.) GitHub gives such a
/// workflow a read-only `GITHUB_TOKEN` and no secrets:
/// https://docs.github.com/en/actions/writing-workflows/choosing-when-your-workflow-runs/events-that-trigger-workflows#pull_request
/// `pull_request_target` runs in the base repository with its token, so it is not one.
fn fork_pull_request(env: &Env, event: Option<&serde_json::Value>) -> Option<Fact> {
    if env.get(GITHUB_EVENT_NAME) == Some("pull_request_target") {
        return None;
    }
    let pr = event?.get("pull_request")?;
    let name = |p: &str| pr.pointer(p).and_then(|v| v.as_str());
    match (name("/head/repo/full_name"), name("/base/repo/full_name")) {
        (Some(head), Some(base)) => (!head.eq_ignore_ascii_case(base)).then(|| {
            fact(
                format!("{head} into {base}"),
                "GITHUB_EVENT_PATH: pull_request.head.repo.full_name",
            )
        }),
        (head, _) => {
            (pr.pointer("/head/repo/fork").and_then(|v| v.as_bool()) == Some(true)).then(|| {
                fact(
                    head.unwrap_or("a fork").to_string(),
                    "GITHUB_EVENT_PATH: pull_request.head.repo.fork",
                )
            })
        }
    }
}

fn gitlab(env: &Env) -> CiContext {
    let mut c = CiContext::new(Vendor::GitLab);
    c.tag = first(env, &[CI_COMMIT_TAG]);
    c.change = change(env, &[CI_MERGE_REQUEST_IID], "mr");
    c.branch = if c.change.is_some() {
        first(
            env,
            &[CI_MERGE_REQUEST_SOURCE_BRANCH_NAME, CI_COMMIT_REF_NAME],
        )
    } else if c.tag.is_some() {
        None
    } else {
        first(env, &[CI_COMMIT_BRANCH, CI_COMMIT_REF_NAME])
    };
    c.commit = first(env, &[CI_COMMIT_SHA]);
    c.default_branch = first(env, &[CI_DEFAULT_BRANCH]);
    c
}

fn woodpecker(env: &Env) -> CiContext {
    let mut c = simple(
        env,
        Vendor::Woodpecker,
        &["CI_COMMIT_SOURCE_BRANCH", "CI_COMMIT_BRANCH"],
        &["CI_COMMIT_TAG"],
        &["CI_COMMIT_SHA"],
        &["CI_COMMIT_PULL_REQUEST"],
    );
    c.default_branch = first(env, &["CI_REPO_DEFAULT_BRANCH"]);
    c
}

fn azure(env: &Env) -> CiContext {
    let mut c = CiContext::new(Vendor::Azure);
    const SOURCE: &str = "BUILD_SOURCEBRANCH";
    match env.get(SOURCE).and_then(parse_ref) {
        Some(GitRef::Branch(b)) => c.branch = Some(fact(b, SOURCE)),
        Some(GitRef::Tag(t)) => c.tag = Some(fact(t, SOURCE)),
        Some(GitRef::Pull(n)) => {
            c.change = Some(Change {
                number: n,
                prefix: "pr",
                from: SOURCE.into(),
            })
        }
        None => {}
    }
    if let Some(n) = change(
        env,
        &[
            "SYSTEM_PULLREQUEST_PULLREQUESTNUMBER",
            "SYSTEM_PULLREQUEST_PULLREQUESTID",
        ],
        "pr",
    ) {
        c.change = Some(n);
    }
    if c.change.is_some() {
        const PR_SOURCE: &str = "SYSTEM_PULLREQUEST_SOURCEBRANCH";
        c.branch = env.get(PR_SOURCE).map(|b| {
            fact(
                b.strip_prefix("refs/heads/").unwrap_or(b).to_string(),
                PR_SOURCE,
            )
        });
    }
    c.commit = first(env, &["BUILD_SOURCEVERSION"]);
    c
}

fn jenkins(env: &Env) -> CiContext {
    let mut c = CiContext::new(Vendor::Jenkins);
    c.tag = first(env, &["TAG_NAME"]);
    c.change = change(env, &["CHANGE_ID", "ghprbPullId"], "pr");
    c.branch = if c.change.is_some() {
        first(env, &["CHANGE_BRANCH", "ghprbSourceBranch"])
    } else {
        // The git plugin names the remote branch (`origin/main`); multibranch gives the name.
        first(env, &["BRANCH_NAME", "GIT_LOCAL_BRANCH", "GIT_BRANCH"]).map(|f| {
            let v = f.value.strip_prefix("refs/remotes/").unwrap_or(&f.value);
            let v = v.strip_prefix("origin/").unwrap_or(v).to_string();
            fact(v, f.from)
        })
    };
    if c.tag.is_some() {
        c.branch = None;
    }
    c.commit = first(env, &["GIT_COMMIT"]);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> Option<CiContext> {
        detect(&Env::from_pairs(pairs.iter().copied()), None)
    }

    fn summary(c: &CiContext) -> (Option<&str>, Option<&str>, Option<&str>, Option<String>) {
        (
            c.branch.as_ref().map(|f| f.value.as_str()),
            c.tag.as_ref().map(|f| f.value.as_str()),
            c.commit.as_ref().map(|f| f.value.as_str()),
            c.change.as_ref().map(Change::tag),
        )
    }

    #[test]
    fn outside_ci_there_is_no_context() {
        assert_eq!(ctx(&[]), None);
        assert_eq!(ctx(&[("CI", "false")]), None);
        assert_eq!(ctx(&[("CI", "true")]).unwrap().vendor, Vendor::Generic);
    }

    #[test]
    fn github_fork_pull_requests() {
        let env = Env::from_pairs([
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_REF", "refs/pull/9/merge"),
        ]);
        let pr = |head: serde_json::Value, base: serde_json::Value| serde_json::json!({"pull_request": {"number": 9, "head": {"repo": head}, "base": {"repo": base}}});
        let fork = pr(
            serde_json::json!({"full_name": "someone/Hello-World", "fork": true}),
            serde_json::json!({"full_name": "Octo-Org/Hello-World", "fork": false}),
        );
        let f = detect(&env, Some(&fork)).unwrap().fork.unwrap();
        assert_eq!(f.value, "someone/Hello-World into Octo-Org/Hello-World");
        // The same repository: not a fork, even when that repository is itself a fork.
        let same = pr(
            serde_json::json!({"full_name": "me/Hello-World", "fork": true}),
            serde_json::json!({"full_name": "me/Hello-World", "fork": true}),
        );
        assert_eq!(detect(&env, Some(&same)).unwrap().fork, None);
        // Without names, the fork flag decides.
        let flagged = pr(serde_json::json!({"fork": true}), serde_json::json!({}));
        assert!(detect(&env, Some(&flagged)).unwrap().fork.is_some());
        // pull_request_target runs with the base repository's token.
        let target = Env::from_pairs([
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "pull_request_target"),
        ]);
        assert_eq!(detect(&target, Some(&fork)).unwrap().fork, None);
        // A push has no pull request.
        let push = serde_json::json!({"ref": "refs/heads/main"});
        assert_eq!(detect(&env, Some(&push)).unwrap().fork, None);
    }

    #[test]
    fn github_push_tag_and_pull_request() {
        let c = ctx(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REF", "refs/heads/feature/x"),
            ("GITHUB_SHA", "abc123"),
        ])
        .unwrap();
        assert_eq!(summary(&c), (Some("feature/x"), None, Some("abc123"), None));
        assert_eq!(c.branch.unwrap().from, "GITHUB_REF");

        let c = ctx(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REF", "refs/tags/v1.2.3"),
        ])
        .unwrap();
        assert_eq!(summary(&c).1, Some("v1.2.3"));

        let event = serde_json::json!({
            "pull_request": {"number": 7, "head": {"sha": "fedcba"}},
            "repository": {"default_branch": "main"}
        });
        let env = Env::from_pairs([
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REF", "refs/pull/7/merge"),
            ("GITHUB_HEAD_REF", "fix/y"),
            ("GITHUB_SHA", "merge0"),
        ]);
        let c = detect(&env, Some(&event)).unwrap();
        assert_eq!(
            summary(&c),
            (Some("fix/y"), None, Some("fedcba"), Some("pr-7".into()))
        );
        assert!(matches!(c.ref_kind(), RefKind::Change(_)));
        assert_eq!(c.default_branch.unwrap().value, "main");
    }

    #[test]
    fn gitlab_branch_tag_and_merge_request() {
        let base = [("GITLAB_CI", "true"), ("CI_COMMIT_SHA", "0123abcd")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            ctx(&v).unwrap()
        };
        let c = with(&[("CI_COMMIT_BRANCH", "main"), ("CI_COMMIT_REF_NAME", "main")]);
        assert_eq!(summary(&c), (Some("main"), None, Some("0123abcd"), None));
        let c = with(&[("CI_COMMIT_TAG", "v2.0"), ("CI_COMMIT_REF_NAME", "v2.0")]);
        assert_eq!(summary(&c), (None, Some("v2.0"), Some("0123abcd"), None));
        assert!(matches!(c.ref_kind(), RefKind::Tag(_)));
        let c = with(&[
            ("CI_MERGE_REQUEST_IID", "42"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feat"),
            ("CI_COMMIT_REF_NAME", "feat"),
        ]);
        assert_eq!(c.change.as_ref().unwrap().tag(), "mr-42");
        assert_eq!(summary(&c).0, Some("feat"));
    }

    #[test]
    fn woodpecker_is_not_mistaken_for_gitlab() {
        let c = ctx(&[
            ("CI", "woodpecker"),
            ("CI_COMMIT_BRANCH", "dev"),
            ("CI_COMMIT_SHA", "aa"),
        ])
        .unwrap();
        assert_eq!(c.vendor, Vendor::Woodpecker);
        assert_eq!(summary(&c).0, Some("dev"));
    }

    #[test]
    fn other_vendors() {
        let c = ctx(&[
            ("JENKINS_URL", "http://jenkins.local/"),
            ("GIT_BRANCH", "origin/release/1"),
            ("GIT_COMMIT", "c0ffee"),
        ])
        .unwrap();
        assert_eq!(c.vendor, Vendor::Jenkins);
        assert_eq!(summary(&c), (Some("release/1"), None, Some("c0ffee"), None));
        let c = ctx(&[
            ("JENKINS_URL", "x"),
            ("BRANCH_NAME", "PR-5"),
            ("CHANGE_ID", "5"),
            ("CHANGE_BRANCH", "topic"),
        ])
        .unwrap();
        assert_eq!(summary(&c).3, Some("pr-5".into()));
        assert_eq!(summary(&c).0, Some("topic"));

        let c = ctx(&[
            ("CIRCLECI", "true"),
            ("CIRCLE_BRANCH", "main"),
            ("CIRCLE_PULL_REQUEST", "https://github.com/o/r/pull/31"),
        ])
        .unwrap();
        assert_eq!(summary(&c).3, Some("pr-31".into()));

        let c = ctx(&[
            ("BUILDKITE", "true"),
            ("BUILDKITE_BRANCH", "main"),
            ("BUILDKITE_COMMIT", "HEAD"),
            ("BUILDKITE_PULL_REQUEST", "false"),
        ])
        .unwrap();
        assert_eq!(summary(&c), (Some("main"), None, None, None));

        let c = ctx(&[
            ("BITBUCKET_BUILD_NUMBER", "9"),
            ("BITBUCKET_TAG", "v3"),
            ("BITBUCKET_COMMIT", "b1"),
        ])
        .unwrap();
        assert_eq!(summary(&c), (None, Some("v3"), Some("b1"), None));

        let c = ctx(&[
            ("TF_BUILD", "True"),
            ("BUILD_SOURCEBRANCH", "refs/heads/feature/deep/x"),
            ("BUILD_SOURCEBRANCHNAME", "x"),
            ("BUILD_SOURCEVERSION", "a2"),
        ])
        .unwrap();
        assert_eq!(c.vendor, Vendor::Azure);
        assert_eq!(
            summary(&c).0,
            Some("feature/deep/x"),
            "the full branch name"
        );
        let c = ctx(&[
            ("TF_BUILD", "True"),
            ("BUILD_SOURCEBRANCH", "refs/pull/12/merge"),
            ("SYSTEM_PULLREQUEST_SOURCEBRANCH", "refs/heads/topic"),
        ])
        .unwrap();
        assert_eq!(summary(&c).3, Some("pr-12".into()));
        assert_eq!(summary(&c).0, Some("topic"));

        let c = ctx(&[("DRONE", "true"), ("DRONE_TAG", "v9"), ("CI", "true")]).unwrap();
        assert_eq!(c.vendor, Vendor::Drone);
        assert_eq!(summary(&c).1, Some("v9"));
    }
}
