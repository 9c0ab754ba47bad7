//! `dockhand cleanup --all-repositories` and `cleanup.repositories`: every repository under the
//! images repo, as the registry lists them, each with its own policy (first matching pattern
//! wins; the top-level policy is the default). Outcomes are checked in the registry afterwards,
//! in the per-repository report and in the exit codes.

use std::path::Path;

use reqwest::Method;
use serde_json::Value;

use crate::support::client::BlockingClient as Reg;
use crate::support::run::{self as run, Run, dockhand, ok};
use crate::support::*;

pub(crate) fn write_config(dir: &Path, text: &str) {
    std::fs::write(dir.join("dockhand.yaml"), text).unwrap();
}

fn doc(r: &Run) -> Value {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{r}"))
}

/// `(repository, policy, kept, deleted, failed)` of the report's `repositories`.
pub(crate) fn per_repository(doc: &Value) -> Vec<(String, String, u64, u64, u64)> {
    doc["repositories"]
        .as_array()
        .expect("a repositories array")
        .iter()
        .map(|e| {
            (
                e["repository"].as_str().unwrap().to_string(),
                e["policy"].as_str().unwrap().to_string(),
                e["kept"].as_u64().unwrap(),
                e["deleted"].as_u64().unwrap(),
                e["failed"].as_u64().unwrap(),
            )
        })
        .collect()
}

const POLICIES: &str = "  keep_last: 2\n  grace: '0'\n  repositories:\n    \
    - pattern: api\n      keep_last: 1\n    \
    - pattern: tools/**\n      keep_last: 0\n      keep_younger_than: 10d\n    \
    - pattern: gone-*\n      keep_last: 5\n";

/// Three repositories under `team` on a real docker-registry (its catalog lists them), each
/// cleaned by its own policy; a repository outside `team` is not touched.
#[test]
fn three_repositories_on_docker_registry_each_with_its_policy() {
    let reg = RegistryServer::anonymous();
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    for (tag, days) in [("a1", 1), ("a2", 2), ("a3", 3)] {
        client.push("team/api", tag, &format!("api {tag}"), days);
    }
    for (tag, days) in [("w1", 1), ("w2", 2), ("w3", 3), ("w4", 4)] {
        client.push("team/web", tag, &format!("web {tag}"), days);
    }
    for (tag, days) in [("c1", 5), ("c2", 20), ("c3", 30)] {
        client.push("team/tools/ci", tag, &format!("ci {tag}"), days);
    }
    client.push("other/x", "o1", "other", 50);

    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    write_config(
        cwd,
        &format!(
            "project: p\nimages_repo: {}/team\ncleanup:\n{POLICIES}",
            reg.host()
        ),
    );
    // The dry run plans per repository and deletes nothing.
    let dry = ok(dockhand(
        &[
            "cleanup",
            "--all-repositories",
            "--dry-run",
            "--output",
            "json",
        ],
        cwd,
    ));
    let host = reg.host();
    let want = vec![
        (format!("{host}/team/api"), "api".to_string(), 1, 2, 0),
        (
            format!("{host}/team/tools/ci"),
            "tools/**".to_string(),
            1,
            2,
            0,
        ),
        (format!("{host}/team/web"), "default".to_string(), 2, 2, 0),
    ];
    assert_eq!(per_repository(&doc(&dry)), want);
    assert!(
        dry.stderr.contains("\"gone-*\" matches no repository"),
        "{dry}"
    );
    assert_eq!(client.image_tags("team/api"), ["a1", "a2", "a3"]);

    let run = ok(dockhand(
        &["cleanup", "--all-repositories", "--output", "json"],
        cwd,
    ));
    assert_eq!(per_repository(&doc(&run)), want);
    assert_eq!(client.image_tags("team/api"), ["a1"]);
    assert_eq!(client.image_tags("team/web"), ["w1", "w2"]);
    assert_eq!(client.image_tags("team/tools/ci"), ["c1"]);
    assert_eq!(client.image_tags("other/x"), ["o1"]);

    // The table groups the counts by repository too.
    let text = ok(dockhand(
        &["cleanup", "--all-repositories", "--dry-run"],
        cwd,
    ));
    assert!(text.stdout.contains("REPOSITORY"), "{text}");
    assert!(
        text.stdout
            .lines()
            .any(|l| l.starts_with(&format!("{host}/team/tools/ci")) && l.contains("tools/**")),
        "{text}"
    );
}

/// `cleanup.repositories` alone turns the enumeration on; `--image` then conflicts (exit 2)
/// before any request.
#[test]
fn all_repositories_conflicts_with_image_and_sends_nothing() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let repo = format!("{}/team", proxy.host());
    let r = dockhand(
        &[
            "cleanup",
            "-i",
            &repo,
            "--all-repositories",
            "--image",
            "api",
        ],
        cwd,
    );
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("--image"), "{r}");
    assert!(r.stderr.contains("--all-repositories"), "{r}");
    write_config(
        cwd,
        &format!("project: p\nimages_repo: {repo}\ncleanup:\n{POLICIES}"),
    );
    let r = dockhand(&["cleanup", "--image", "api"], cwd);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("cleanup.repositories"), "{r}");
    assert_eq!(proxy.requests().len(), 0);
}

/// Under a config with `cleanup.repositories`, `--image` only conflicts where cleanup runs:
/// `publish` and a publish-only `run` (a pipeline's publish job) publish the named images; a
/// `run` that also cleans up is exit 2 before anything is sent.
#[test]
fn publishing_named_images_under_repository_rules_is_no_conflict() {
    use crate::support::layouts::{layout, oci};
    let reg = RegistryServer::anonymous();
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    write_config(
        cwd,
        &format!(
            "project: p\nimages_repo: {}/team\ncleanup:\n{POLICIES}",
            reg.host()
        ),
    );
    let (l, _) = layout(cwd, "api");
    let image = format!("api={}", oci(&l));
    let args = |tag: &'static str| {
        ["--image", &image, "--tag-custom", tag]
            .map(String::from)
            .to_vec()
    };
    let publish = |cmd: &str, tag: &'static str, env: &[(&str, &str)]| {
        let mut a = vec![cmd.to_string()];
        a.extend(args(tag));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        run::dockhand_env(&a, cwd, env)
    };
    ok(publish("publish", "v1", &[]));
    ok(publish("run", "v2", &[("DOCKHAND_STAGES", "publish")]));
    let r = publish("run", "v3", &[]);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("cleanup.repositories"), "{r}");
    assert_eq!(client.image_tags("team/api"), ["v1", "v2"]);
}

/// A bad `cleanup.repositories` entry is exit 2 naming the key, with nothing sent.
#[test]
fn bad_repository_rules_name_their_key_and_send_nothing() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let head = format!(
        "project: p\nimages_repo: {}/team\ncleanup:\n  repositories:\n",
        proxy.host()
    );
    for (entry, key) in [
        (
            "    - pattern: '^api$'\n",
            "cleanup.repositories[0].pattern",
        ),
        (
            "    - pattern: api\n    - pattern: web\n      keep_younger_than: soon\n",
            "cleanup.repositories[1].keep_younger_than",
        ),
        (
            "    - pattern: api\n      only_tag: '(['\n",
            "cleanup.repositories[0].only_tag",
        ),
        (
            "    - pattern: api\n      keep_latest: 3\n",
            "cleanup.repositories[0]",
        ),
        ("    - keep_last: 3\n", "pattern"),
    ] {
        write_config(cwd, &format!("{head}{entry}"));
        let r = dockhand(&["cleanup", "--dry-run"], cwd);
        assert_eq!(r.code, 2, "{entry}: {r}");
        assert!(r.stderr.contains(key), "{entry}: wants {key}: {r}");
    }
    assert_eq!(proxy.count(Method::GET), 0);
    assert_eq!(proxy.requests().len(), 0);
}

// ---------------------------------------------------------------------------------------------
// GitHub Packages: the owner's package list (paged), then each package's versions

/// Three packages under `acme/team` among 120 others of the organisation: the package list is
/// read over two pages, and only `team/…` is cleaned, each package by its policy.
#[test]
fn github_org_packages_are_listed_over_pages_and_cleaned_per_policy() {
    use crate::support::fake_github::{GhState, Ghcr};
    const TOKEN: &str = "ghp_faketoken0123456789";
    let mut st = GhState::default();
    st.token = TOKEN.into();
    st.accounts.insert("acme".into(), "Organization");
    for i in 0..120 {
        st.packages
            .insert(("acme".into(), format!("filler-{i:03}")), Vec::new());
    }
    let g = Ghcr::start(st);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = RegistryClient::new(&g.registry.url(), Creds::basic("x", TOKEN));
    let now = unix_now();
    let push = |repo: &str, tag: &str, days: u64| {
        let d = rt
            .block_on(client.push_image(
                repo,
                tag,
                &[format!("{repo} {tag}").into_bytes()],
                "2024-05-01T12:00:00Z",
            ))
            .digest;
        // The listing dates a version by GitHub's created/updated times.
        g.api.state().date(repo, &d, now - days * 86_400);
    };
    for (tag, days) in [("a1", 1), ("a2", 2), ("a3", 3)] {
        push("acme/team/api", tag, days);
    }
    for (tag, days) in [("w1", 1), ("w2", 2), ("w3", 3), ("w4", 4)] {
        push("acme/team/web", tag, days);
    }
    for (tag, days) in [("c1", 5), ("c2", 20), ("c3", 30)] {
        push("acme/team/tools/ci", tag, days);
    }
    push("acme/elsewhere", "e1", 40);

    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    write_config(
        cwd,
        &format!(
            "project: p\nimages_repo: {}/acme/team\nimplementation: github\ncleanup:\n{POLICIES}",
            g.registry.host()
        ),
    );
    let env = [("GITHUB_TOKEN", TOKEN), ("GITHUB_API_URL", &g.api.url())];
    let r = run::dockhand_env(&["cleanup", "--output", "json"], cwd, &env);
    assert_eq!(r.code, 0, "{r}");
    let host = g.registry.host();
    assert_eq!(
        per_repository(&doc(&r)),
        vec![
            (format!("{host}/acme/team/api"), "api".to_string(), 1, 2, 0),
            (
                format!("{host}/acme/team/tools/ci"),
                "tools/**".to_string(),
                1,
                2,
                0
            ),
            (
                format!("{host}/acme/team/web"),
                "default".to_string(),
                2,
                2,
                0
            ),
        ]
    );
    let tags = |repo: &str| -> Vec<String> { g.api.state().tags(repo).into_keys().collect() };
    assert_eq!(tags("acme/team/api"), ["a1"]);
    assert_eq!(tags("acme/team/web"), ["w1", "w2"]);
    assert_eq!(tags("acme/team/tools/ci"), ["c1"]);
    assert_eq!(tags("acme/elsewhere"), ["e1"]);
    // The list of 124 packages took two pages of 100 (GitHub's largest page).
    let lists: Vec<String> = g
        .api
        .state()
        .log
        .iter()
        .filter(|l| l.path == "/orgs/acme/packages")
        .map(|l| l.query.clone())
        .collect();
    assert_eq!(lists.len(), 2, "{lists:?}");
    assert!(
        lists.iter().all(|q| q.contains("package_type=container")),
        "{lists:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// ECR: DescribeRepositories on moto

/// Three repositories under `proj` in ECR (moto), listed by DescribeRepositories; each keeps
/// what its policy says; `other/x` is not touched.
#[test]
fn ecr_repositories_are_described_and_cleaned_per_policy() {
    use crate::support::fake_ecr::EcrStack;
    let Some(stack) = EcrStack::start() else {
        return;
    };
    let seed = |repo: &str, tags: &[&str]| {
        stack.rt.block_on(stack.direct.create_repository(repo));
        for t in tags {
            stack.put_synthetic(repo, &format!("{repo}-{t}"), Some(t));
        }
    };
    seed("proj/api", &["a1", "a2", "a3"]);
    seed("proj/web", &["w1", "w2", "w3"]);
    seed("proj/tools/ci", &["t0", "t1", "t2"]);
    seed("other/x", &["o1"]);
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    write_config(
        cwd,
        &format!(
            "project: p\nimages_repo: {}/proj\nimplementation: ecr\ncleanup:\n  keep_last: 2\n  \
             grace: '0'\n  git_refs: none\n  repositories:\n    - pattern: api\n      keep_last: 1\n    \
             - pattern: tools/*\n      keep_last: 0\n      only_tag: '^t0$'\n",
            stack.host()
        ),
    );
    let r = run::dockhand_env(&["cleanup", "--output", "json"], cwd, &stack.env());
    assert_eq!(r.code, 0, "{r}");
    assert!(stack.api.count("DescribeRepositories") >= 1);
    let host = stack.host();
    let got = per_repository(&doc(&r));
    assert_eq!(
        got.iter()
            .map(|(r, p, ..)| (r.as_str(), p.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (format!("{host}/proj/api").as_str(), "api"),
            (format!("{host}/proj/tools/ci").as_str(), "tools/*"),
            (format!("{host}/proj/web").as_str(), "default"),
        ]
    );
    let tags = |repo: &str| -> Vec<String> {
        let mut t: Vec<String> = stack.images(repo).into_values().flatten().collect();
        t.sort();
        t
    };
    assert_eq!(tags("proj/api").len(), 1, "{:?}", tags("proj/api"));
    assert_eq!(tags("proj/web").len(), 2, "{:?}", tags("proj/web"));
    assert_eq!(tags("proj/tools/ci"), ["t1", "t2"]);
    assert_eq!(tags("other/x"), ["o1"]);
}

// ---------------------------------------------------------------------------------------------
// Other vendors' listings, each against its fake: the names and the paging

/// `cleanup --all-repositories --dry-run` of `images_repo` with `extra` arguments: the
/// repositories of the report (in order) and the run.
fn listed(images_repo: &str, extra: &[&str], env: &[(&str, &str)]) -> (Vec<String>, Run) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "cleanup",
        "-i",
        images_repo,
        "--all-repositories",
        "--git-refs",
        "none",
        "--dry-run",
        "--output",
        "json",
    ];
    args.extend_from_slice(extra);
    let r = run::dockhand_env(&args, dir.path(), env);
    assert_eq!(r.code, 0, "{r}");
    let names = doc(&r)["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["repository"].as_str().unwrap().to_string())
        .collect();
    (names, r)
}

/// Harbor names a project's repositories with the project; 105 of them take two pages of 100.
#[test]
fn harbor_project_repositories_are_listed_over_pages() {
    use crate::support::fake_harbor::{HarborFake, Role, User};
    let h = HarborFake::start(
        &["proj", "other"],
        vec![User::new("robot$proj+ci", "pw", Role::Maintainer)],
    );
    let mut want = Vec::new();
    for i in 0..105 {
        let repo = if i == 7 {
            "proj/team/nested".to_string()
        } else {
            format!("proj/r{i:03}")
        };
        h.with_store(|s| {
            s.seed_image(&repo, Some("t"), &[repo.as_bytes()], "2024-05-01T12:00:00Z")
        });
        want.push(format!("{}/{repo}", h.host()));
    }
    h.with_store(|s| s.seed_image("other/x", Some("t"), &[b"x"], "2024-05-01T12:00:00Z"));
    want.sort();
    let (names, _) = listed(
        &format!("{}/proj", h.host()),
        &[
            "--implementation",
            "harbor",
            "--registry-username",
            "robot$proj+ci",
            "--registry-password",
            "pw",
        ],
        &[],
    );
    assert_eq!(names, want);
    let lists: Vec<String> = h
        .api_requests()
        .into_iter()
        .filter(|l| l.starts_with("GET /api/v2.0/projects/proj/repositories?"))
        .collect();
    assert_eq!(lists.len(), 2, "{lists:?}");
    assert!(lists[1].contains("page=2"), "{lists:?}");
}

/// Quay lists a namespace's repositories 100 a page, the next named by an opaque token.
#[test]
fn quay_namespace_repositories_are_listed_over_pages() {
    use crate::support::fake_quay::{QuayFake, Token};
    let q = QuayFake::start(
        "acme",
        vec![Token {
            token: "oauth-rw-token".into(),
            scopes: vec!["repo:read", "repo:write"],
        }],
        vec![],
    );
    let mut want = Vec::new();
    for i in 0..103 {
        let repo = format!("acme/app{i:03}");
        q.with_store(|s| {
            s.seed_image(&repo, Some("t"), &[repo.as_bytes()], "2024-05-01T12:00:00Z")
        });
        want.push(format!("{}/{repo}", q.host()));
    }
    let (names, _) = listed(
        &format!("{}/acme", q.host()),
        &["--implementation", "quay", "--quay-token", "oauth-rw-token"],
        &[],
    );
    assert_eq!(names, want);
    let lists: Vec<String> = q
        .api_requests()
        .into_iter()
        .filter(|l| l.starts_with("GET /api/v1/repository?"))
        .collect();
    assert_eq!(lists.len(), 2, "{lists:?}");
    assert!(lists[1].contains("next_page="), "{lists:?}");
}

/// GitLab: a group path lists the repositories of every project below it (two pages of 100);
/// a project path lists that project's.
#[test]
fn gitlab_group_and_project_repositories_are_listed() {
    use crate::support::fake_gitlab::{FakeGitlab, GitlabOptions};
    let fake = FakeGitlab::start(GitlabOptions {
        projects: vec![(42, "group/project".into()), (43, "group/sub/other".into())],
        ..Default::default()
    });
    let mut project = Vec::new();
    for i in 0..101 {
        project.push(format!("group/project/r{i:03}"));
    }
    project.push("group/project".to_string());
    let mut all = project.clone();
    all.push("group/sub/other/b".to_string());
    for repo in &all {
        fake.with_store(|s| {
            s.seed_image(repo, Some("t"), &[repo.as_bytes()], "2024-05-01T12:00:00Z")
        });
    }
    let host = fake.host();
    let full = |v: &[String]| {
        let mut v: Vec<String> = v.iter().map(|r| format!("{host}/{r}")).collect();
        v.sort();
        v
    };
    let token = ["--implementation", "gitlab", "--gitlab-token", "glpat-read"];
    fake.clear_log();
    let (names, _) = listed(&format!("{host}/group"), &token, &[]);
    assert_eq!(names, full(&all));
    assert_eq!(
        fake.rest("GET", "/api/v4/groups/group/registry/repositories"),
        2,
        "102 repositories at 100 a page"
    );
    let (names, _) = listed(&format!("{host}/group/project"), &token, &[]);
    assert_eq!(names, full(&project));
}

/// Docker Hub lists a namespace through the Hub API (its registry has no catalog), following
/// the absolute `next` over two pages of 100.
#[test]
fn docker_hub_namespace_repositories_are_listed_over_pages() {
    use crate::support::fake_dockerhub::{FakeHub, HubUser};
    let fake = FakeHub::start(vec![HubUser {
        name: "acme".into(),
        password: "pw".into(),
        tokens: vec![],
        two_factor: false,
    }]);
    let mut want = Vec::new();
    for i in 0..101 {
        let repo = format!("acme/app{i:03}");
        fake.with_store(|s| {
            s.seed_image(&repo, Some("t"), &[repo.as_bytes()], "2024-05-01T12:00:00Z")
        });
        want.push(format!("{}/{repo}", fake.host()));
    }
    let api = fake.api_url();
    let (names, _) = listed(
        &format!("{}/acme", fake.host()),
        &[
            "--implementation",
            "dockerhub",
            "--registry-username",
            "acme",
            "--registry-password",
            "pw",
            "--docker-hub-api-url",
            &api,
        ],
        &[],
    );
    assert_eq!(names, want);
    let lists = fake
        .requests()
        .into_iter()
        .filter(|r| {
            r.path.contains("/v2/namespaces/acme/repositories") && !r.path.contains("/tags")
        })
        .count();
    assert_eq!(lists, 2);
}

/// A registry that refuses its catalog gets an error that names the fix (exit 4), and nothing is
/// deleted.
#[test]
fn a_refused_catalog_names_the_fix() {
    use crate::support::fake_oci::{FakeOci, Profile};
    let fake = FakeOci::start(Profile {
        catalog: false,
        ..Profile::distribution()
    });
    fake.with_store(|s| s.seed_image("team/api", Some("t"), &[b"a"], "2024-05-01T12:00:00Z"));
    let dir = tempfile::tempdir().unwrap();
    let repo = format!("{}/team", fake.host());
    let r = dockhand(
        &[
            "cleanup",
            "-i",
            &repo,
            "--all-repositories",
            "--keep-last",
            "0",
            "--grace",
            "0",
            "--git-refs",
            "none",
        ],
        dir.path(),
    );
    assert_eq!(r.code, 4, "{r}");
    assert!(r.stderr.contains("_catalog"), "{r}");
    assert!(r.stderr.contains("--image NAME"), "{r}");
    assert_eq!(
        fake.with_store(|s| s.repo("team/api").unwrap().tags.len()),
        1
    );
}

/// ACR lists through the OCI catalog, which its admin user may read; a token without the
/// catalog scope is refused (exit 4 naming the fix).
#[test]
fn acr_repositories_come_from_the_catalog() {
    use crate::support::fake_acr::{ADMIN_PASSWORD, ADMIN_USER, FakeAcr, push_only};
    let fake = FakeAcr::start();
    for repo in ["team/api", "team/tools/ci", "other/x"] {
        fake.with_store(|s| {
            s.seed_image(repo, Some("t"), &[repo.as_bytes()], "2024-05-01T12:00:00Z")
        });
    }
    let host = fake.host();
    let (names, _) = listed(
        &format!("{host}/team"),
        &[
            "--implementation",
            "acr",
            "--registry-username",
            ADMIN_USER,
            "--registry-password",
            ADMIN_PASSWORD,
        ],
        &[],
    );
    assert_eq!(
        names,
        [format!("{host}/team/api"), format!("{host}/team/tools/ci")]
    );
    let token = fake.refresh_token(push_only());
    let dir = tempfile::tempdir().unwrap();
    let repo = format!("{host}/team");
    let r = dockhand(
        &[
            "cleanup",
            "-i",
            &repo,
            "--implementation",
            "acr",
            // ACR's refresh token as the registry password, under the empty GUID.
            "--registry-username",
            "00000000-0000-0000-0000-000000000000",
            "--registry-password",
            &token,
            "--all-repositories",
            "--dry-run",
        ],
        dir.path(),
    );
    assert_eq!(r.code, 4, "{r}");
    assert!(r.stderr.contains("--image NAME"), "{r}");
}

/// Google's registries are walked through the extended `tags/list`'s `child` lists: from the
/// project on gcr.io (which holds no image itself, nor does `proj/tools`), from
/// PROJECT/REPOSITORY on Artifact Registry.
#[test]
fn gcr_and_artifact_registry_repositories_are_walked_by_child() {
    use crate::support::fake_gcr::{FakeGcr, Identities};
    use crate::support::fake_oci::Grants;
    const TOKEN: &str = "ya29.fake-access-token-Jk3";
    for ar in [false, true] {
        let ids = Identities {
            tokens: std::collections::HashMap::from([(
                TOKEN.to_string(),
                Grants::none().allow("*", &["pull", "push", "delete"]),
            )]),
            keys: Default::default(),
        };
        let fake = FakeGcr::start(ar, ids);
        let base = if ar {
            fake.create_repository("proj/repo");
            "proj/repo"
        } else {
            "proj"
        };
        // The fake answers an intermediate name without images (`proj/tools`) only as gcr.io
        // does; on Artifact Registry only the repository lists its images.
        let repos = if ar {
            vec![format!("{base}/api"), format!("{base}/web")]
        } else {
            vec![
                format!("{base}/api"),
                format!("{base}/tools/ci"),
                format!("{base}/tools/ci/deep"),
            ]
        };
        for repo in &repos {
            fake.with_store(|s| {
                s.seed_image(repo, Some("t"), &[repo.as_bytes()], "2024-05-01T12:00:00Z")
            });
        }
        let host = fake.host();
        let (names, _) = listed(
            &format!("{host}/{base}"),
            &["--implementation", "gcr", "--google-access-token", TOKEN],
            &[],
        );
        let want: Vec<String> = repos.iter().map(|r| format!("{host}/{r}")).collect();
        assert_eq!(names, want, "artifact registry: {ar}");
    }
}
