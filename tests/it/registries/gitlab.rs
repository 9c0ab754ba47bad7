//! GitLab Container Registry end to end: the real binary against the GitLab fake
//! (`support::fake_gitlab`: REST API v4 and the registry data plane on one loopback server).
//! Outcomes are checked in the fake's store (tags and manifests left), in the requests it
//! received (counted), in the JSON document and in the exit codes.

use crate::support;
use crate::support::client::BlockingClient;
use crate::support::layouts::{fallback_tag, git, git_repo_main_ahead, multiarch_layout};
use crate::support::report::{entries, entry_ending as entry, summary};
use crate::support::run::{Run, dockhand_env, json, ok};

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use dockhand::fixtures::{self};
use dockhand::naming::slug::slug_tag;
use serde_json::Value;
use support::Creds;
use support::fake_gitlab::{FakeGitlab, GitlabOptions, Paging};
use support::fake_oci::{FaultRule, RetryAfter};

/// The binary with this module's extra environment (an empty list has a type here).
fn dockhand(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Run {
    dockhand_env(args, cwd, env)
}

// ---------------------------------------------------------------------------------------------
// Running dockhand

/// The options every run against the fake takes.
const TOKEN: [&str; 2] = ["--gitlab-token", "glpat-api"];

fn publish(cwd: &Path, images_repo: &str, name: &str, layout: &Path, extra: &[&str]) {
    let image = format!("{name}=oci:{}", layout.display());
    let mut all = vec!["publish", "-i", images_repo, "--image", &image];
    all.extend_from_slice(&TOKEN);
    all.extend_from_slice(extra);
    ok(dockhand(&all, cwd, &[]));
}

// ---------------------------------------------------------------------------------------------
// Fixtures

/// A registry client logged in through `/jwt/auth` with the `api` token; its pushes are a day old.
fn logged_in(fake: &FakeGitlab) -> BlockingClient {
    BlockingClient::new(
        &fake.url(),
        Creds::Basic("someone".into(), "glpat-api".into()),
    )
}

fn days_ago(days: u64, extra_secs: u64) -> SystemTime {
    SystemTime::now() - Duration::from_secs(days * 86_400 + extra_secs)
}

// ---------------------------------------------------------------------------------------------
// 1. A mixed plan, for each tag delete variant

/// Which untag variant a fake offers, and the request counts that prove it was decided once.
struct VariantCase {
    features: Option<&'static str>,
    rest_tag_delete: bool,
    /// (registry tag DELETEs, REST tag DELETEs, legacy tags/reference DELETEs) for two untags.
    expected: (usize, usize, usize),
    /// Pass the API URL (else it is derived from the registry's `/jwt/auth` realm).
    explicit_api: bool,
}

fn mixed_plan(case: VariantCase) {
    let fake = FakeGitlab::start(GitlabOptions {
        features: case.features.map(str::to_string),
        rest_tag_delete: case.rest_tag_delete,
        ..GitlabOptions::default()
    });
    let client = logged_in(&fake);
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let repo = git_repo_main_ahead(cwd, &["feature/a", "feature/b"]);
    let images_repo = format!("{}/group/project", fake.host());
    let tag_a = slug_tag("feature/a");
    let tag_b = slug_tag("feature/b");

    // The seed example: backend on two stale branches and a kept custom tag (one digest, some
    // tags kept: two untags); frontend only on a stale branch (the whole digest goes).
    let seeded: BTreeMap<String, String> = fixtures::seed_example(&cwd.join("images"))
        .unwrap()
        .into_iter()
        .collect();
    let backend = cwd.join("images/backend");
    let frontend = cwd.join("images/frontend");
    publish(
        cwd,
        &images_repo,
        "backend",
        &backend,
        &["--tag-git-branch", "feature/a", "--tag-custom", "stable"],
    );
    publish(
        cwd,
        &images_repo,
        "backend",
        &backend,
        &["--tag-git-branch", "feature/b"],
    );
    publish(
        cwd,
        &images_repo,
        "frontend",
        &frontend,
        &["--tag-git-branch", "feature/a"],
    );
    // The project's root image: a multi-arch index on a stale branch, with a signature; and a
    // multi-arch image on main, which stays with its children.
    let (root_layout, root_index) = multiarch_layout(cwd, "root");
    publish(
        cwd,
        &images_repo,
        "~",
        &root_layout,
        &["--tag-git-branch", "feature/b"],
    );
    let (multi_layout, multi_index) = multiarch_layout(cwd, "multi");
    publish(
        cwd,
        &images_repo,
        "multi",
        &multi_layout,
        &["--tag-git-branch", "main"],
    );
    let sig_tag = format!("{}.sig", fallback_tag(&root_index));
    let sig = client.push("group/project", &sig_tag, "signature of the root image", 1);

    let root = "group/project";
    let (be, fe, mu) = (
        "group/project/backend",
        "group/project/frontend",
        "group/project/multi",
    );
    let before: BTreeMap<&str, BTreeMap<String, String>> = [root, be, fe, mu]
        .into_iter()
        .map(|r| (r, fake.tag_map(r)))
        .collect();
    assert_eq!(before[be][&tag_a], seeded["backend"]);
    assert_eq!(before[be][&tag_b], seeded["backend"]);
    assert_eq!(before[be]["stable"], seeded["backend"]);
    assert_eq!(before[fe][&tag_a], seeded["frontend"]);
    assert_eq!(before[root][&tag_b], root_index);
    let children = |repo: &str, index: &str| -> Vec<String> {
        fake.manifest(repo, index).expect("index").children
    };
    let root_children = children(root, &root_index);
    let multi_children = children(mu, &multi_index);
    assert_eq!(root_children.len(), 2);

    git(&repo, &["branch", "-D", "feature/a", "feature/b"]);
    fake.clear_log();
    let api = fake.api_url();
    let mut args = vec![
        "cleanup",
        "-i",
        &images_repo,
        "--image",
        "~",
        "--image",
        "backend",
        "--image",
        "frontend",
        "--image",
        "multi",
        "--git-dir",
        repo.to_str().unwrap(),
        "--git-refs",
        "local",
        "--grace",
        "0",
        "--output",
        "json",
    ];
    args.extend_from_slice(&TOKEN);
    if case.explicit_api {
        args.extend_from_slice(&["--gitlab-api-url", &api]);
    }
    let doc = json(&ok(dockhand(&args, cwd, &[])));
    assert_eq!(doc["implementation"], "gitlab", "{doc:#}");
    assert_eq!(summary(&doc, "failed"), 0, "{doc:#}");
    assert_eq!(
        entry(&doc, "/backend", &tag_a)["result"],
        "deleted",
        "{doc:#}"
    );
    assert_eq!(
        entry(&doc, "/backend", &tag_b)["result"],
        "deleted",
        "{doc:#}"
    );
    assert_eq!(
        entry(&doc, "/backend", "stable")["result"],
        "kept",
        "{doc:#}"
    );
    assert_eq!(
        entry(&doc, "/frontend", &tag_a)["result"],
        "deleted",
        "{doc:#}"
    );
    assert_eq!(entry(&doc, "/multi", "main")["result"], "kept", "{doc:#}");

    // Exactly the planned state.
    let mut want_be = before[be].clone();
    want_be.remove(&tag_a);
    want_be.remove(&tag_b);
    assert_eq!(
        fake.tag_map(be),
        want_be,
        "backend keeps stable and its records"
    );
    assert!(
        fake.manifest(be, &seeded["backend"]).is_some(),
        "the shared digest stays"
    );
    assert_eq!(fake.tag_map(fe), BTreeMap::new(), "frontend is empty");
    assert!(fake.manifest(fe, &seeded["frontend"]).is_none());
    assert_eq!(
        fake.tag_map(root),
        BTreeMap::new(),
        "the root image is gone, tags and all"
    );
    assert!(fake.manifest(root, &root_index).is_none());
    assert!(fake.manifest(root, &sig).is_none(), "its signature too");
    for c in &root_children {
        assert!(
            fake.manifest(root, c).is_none(),
            "untagged child {c} went with its index"
        );
    }
    assert_eq!(fake.tag_map(mu), before[mu], "the kept image is untouched");
    for c in &multi_children {
        assert!(
            fake.manifest(mu, c).is_some(),
            "child {c} of a kept index stays"
        );
    }

    // The variant: decided once, then used for every tag.
    let registry_tag_deletes = fake
        .requests()
        .iter()
        .filter(|r| {
            r.method == "DELETE"
                && r.status != 401
                && r.path.contains("/manifests/")
                && !r.path.contains("sha256:")
        })
        .count();
    let rest_deletes = fake.rest("DELETE", "/tags/");
    let legacy = fake.registry("DELETE", "/tags/reference/");
    assert_eq!(
        (registry_tag_deletes, rest_deletes, legacy),
        case.expected,
        "(registry tag, REST, legacy) deletes: {:#?}",
        fake.requests().iter().map(|r| r.line()).collect::<Vec<_>>()
    );
    // The registry's features are read once, with a token.
    let feature_reads = fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/v2/" && r.has_auth())
        .count();
    assert_eq!(feature_reads, 1);
    // Never the bulk endpoint, never a shared digest.
    let bulk = fake
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE" && r.path.ends_with("/tags"))
        .count();
    assert_eq!(bulk, 0);
    assert_eq!(
        fake.registry("DELETE", &seeded["backend"]),
        0,
        "the kept digest is never deleted"
    );
    // No age rule: no tag details, a HEAD per tag instead.
    assert_eq!(fake.rest("GET", "/tags/"), 0);
    // One repository listing for the project, whatever the number of images.
    assert_eq!(
        fake.rest_exact(
            "GET",
            "/api/v4/projects/group%2Fproject/registry/repositories"
        ),
        1
    );
}

#[test]
fn mixed_plan_with_registry_tag_delete() {
    mixed_plan(VariantCase {
        features: Some("tag_delete,tag_rename"),
        rest_tag_delete: true,
        expected: (2, 0, 0),
        explicit_api: false,
    });
}

#[test]
fn mixed_plan_with_rest_tag_delete() {
    mixed_plan(VariantCase {
        features: Some("tag_rename"),
        rest_tag_delete: true,
        expected: (0, 2, 0),
        explicit_api: true,
    });
}

#[test]
fn mixed_plan_with_legacy_tag_reference_delete() {
    // No features header at all, and a REST route that refuses: the REST delete is tried once.
    mixed_plan(VariantCase {
        features: None,
        rest_tag_delete: false,
        expected: (0, 1, 2),
        explicit_api: false,
    });
}

// ---------------------------------------------------------------------------------------------
// 2. Project and repository ids

/// Seeds `group/project` (root) and `group/project/a/b` (two levels below) by hand, old.
fn seed_nested(fake: &FakeGitlab) -> (String, String) {
    let client = logged_in(fake);
    let root = client.push("group/project", "old-root", "root image", 1);
    let nested = client.push("group/project/a/b", "old-nested", "nested image", 1);
    fake.set_pushed("group/project", &root, days_ago(30, 0));
    fake.set_pushed("group/project/a/b", &nested, days_ago(30, 0));
    (root, nested)
}

#[test]
fn project_from_ci_project_id_and_from_the_path() {
    let fake = FakeGitlab::start(GitlabOptions::default());
    let (root, nested) = seed_nested(&fake);
    let dir = tempfile::tempdir().unwrap();
    let images_repo = format!("{}/group/project", fake.host());
    let api = fake.api_url();
    let args = [
        "cleanup",
        "-i",
        &images_repo,
        "--image",
        "~",
        "--image",
        "a/b",
        "--git-refs",
        "none",
        "--keep-younger-than",
        "7d",
        "--dry-run",
        "--output",
        "json",
    ];

    // In CI: the project id and the job token from the pipeline.
    fake.clear_log();
    let ci = [
        ("CI_PROJECT_ID", "42"),
        ("CI_JOB_TOKEN", "job-secret"),
        ("CI_API_V4_URL", api.as_str()),
    ];
    let doc = json(&ok(dockhand(&args, dir.path(), &ci)));
    assert_eq!(entry(&doc, "/project", "old-root")["digest"], root.as_str());
    assert_eq!(entry(&doc, "/a/b", "old-nested")["digest"], nested.as_str());
    assert_eq!(
        entry(&doc, "/a/b", "old-nested")["result"],
        "planned",
        "{doc:#}"
    );
    let listed: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/v4/projects/"))
        .map(|r| r.path.clone())
        .collect();
    assert!(
        listed.iter().all(|p| p.starts_with("/api/v4/projects/42/")),
        "only the CI project is asked: {listed:?}"
    );
    assert_eq!(
        fake.rest_exact("GET", "/api/v4/projects/42/registry/repositories"),
        1
    );
    assert!(
        fake.requests()
            .iter()
            .filter(|r| r.path.starts_with("/api/v4/"))
            .all(|r| r.header("job-token").is_some() || r.authorization.is_none()),
        "the job token goes as JOB-TOKEN"
    );

    // Outside CI: the project from the path, longest prefix first, `/` encoded once.
    fake.clear_log();
    let mut with_token = args.to_vec();
    with_token.extend_from_slice(&TOKEN);
    let doc = json(&ok(dockhand(&with_token, dir.path(), &[])));
    assert_eq!(entry(&doc, "/a/b", "old-nested")["digest"], nested.as_str());
    let asked: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/registry/repositories"))
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        asked,
        vec![
            "/api/v4/projects/group%2Fproject/registry/repositories",
            "/api/v4/projects/group%2Fproject%2Fa%2Fb/registry/repositories",
            "/api/v4/projects/group%2Fproject%2Fa/registry/repositories",
        ],
        "the root image's project, then the nested image's candidates longest first"
    );
    assert_eq!(
        fake.rest_exact(
            "GET",
            "/api/v4/projects/group%2Fproject/registry/repositories"
        ),
        1,
        "the project's list is read once and cached: {asked:?}"
    );
    assert!(
        asked.iter().all(|p| !p.contains("%25")),
        "never double-encoded: {asked:?}"
    );
    // The age rule needs push times: one tag detail per tag, with GitLab's offset timestamps.
    assert_eq!(fake.rest("GET", "/tags/old-"), 2);
}

// ---------------------------------------------------------------------------------------------
// 3. Refused tokens exit 3 and say which token and scope

#[test]
fn refused_tokens_exit_3_naming_the_token() {
    let fake = FakeGitlab::start(GitlabOptions {
        projects: vec![(42, "group/project".into()), (7, "other/project".into())],
        features: None,
        ..GitlabOptions::default()
    });
    let client = logged_in(&fake);
    let d = client.push("other/project", "old", "other", 1);
    fake.set_pushed("other/project", &d, days_ago(30, 0));
    let d = client.push("group/project/app", "old", "app", 1);
    client.retag("group/project/app", &d, "keep");
    fake.set_pushed("group/project/app", &d, days_ago(30, 0));
    let dir = tempfile::tempdir().unwrap();
    let api = fake.api_url();
    let run = |repo: &str, image: &str, extra: &[&str], env: &[(&str, &str)]| {
        let images_repo = format!("{}/{repo}", fake.host());
        let mut args = vec![
            "cleanup",
            "-i",
            &images_repo,
            "--image",
            image,
            "--git-refs",
            "none",
            "--keep-younger-than",
            "7d",
            "--keep-tag",
            "^keep$",
            "--gitlab-api-url",
            &api,
        ];
        args.extend_from_slice(extra);
        dockhand(&args, dir.path(), env)
    };

    // An unknown token: 401 while listing.
    let r = run(
        "group/project",
        "app",
        &["--gitlab-token", "glpat-wrong"],
        &[],
    );
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("PRIVATE-TOKEN"), "{}", r.stderr);
    assert!(r.stderr.contains("401"), "{}", r.stderr);

    // The job token on another project: 403, and the message says what a job token may do.
    let r = run(
        "other/project",
        "~",
        &[],
        &[("CI_JOB_TOKEN", "job-secret"), ("CI_PROJECT_ID", "7")],
    );
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("CI_JOB_TOKEN"), "{}", r.stderr);
    assert!(r.stderr.contains("own project"), "{}", r.stderr);

    // A read_api token lists fine but may not delete: the REST delete answers 403
    // insufficient_scope, and the report names the api scope.
    let r = run(
        "group/project",
        "app",
        &["--gitlab-token", "glpat-read", "--output", "json"],
        &[],
    );
    let doc = json(&r);
    let e = entry(&doc, "/app", "old");
    assert_eq!(e["result"], "failed", "{doc:#}");
    let err = e["error"].as_str().unwrap();
    assert!(err.contains("api scope"), "{err}");
    assert!(err.contains("PRIVATE-TOKEN"), "{err}");
    // Denied deletions fail the run (exit 3 once denials are told apart from other failures).
    assert!(r.code == 3 || r.code == 1, "{}", r.stderr);
    assert_eq!(fake.tags("group/project/app"), vec!["keep", "old"]);

    // No token at all: bad input before anything is sent to the API.
    fake.clear_log();
    let r = run("group/project", "app", &[], &[]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("--gitlab-token"), "{}", r.stderr);
    assert_eq!(fake.rest("GET", "/"), 0);
}

// ---------------------------------------------------------------------------------------------
// 4. Protected tags are kept, with the reason

#[test]
fn protected_tags_are_kept_with_the_reason() {
    let fake = FakeGitlab::start(GitlabOptions {
        // REST untags (no tag_delete feature), so the REST 403 is seen; the lone protected tag
        // goes through the registry digest DELETE, which GitLab's registry also refuses.
        features: None,
        protected: vec!["^release-".into()],
        ..GitlabOptions::default()
    });
    let client = logged_in(&fake);
    let r = "group/project/app";
    let shared = client.push(r, "release-1", "shared", 1);
    client.retag(r, &shared, "keepme");
    let lone = client.push(r, "release-2", "lone", 1);
    let old = client.push(r, "old", "old", 1);
    for d in [&shared, &lone, &old] {
        fake.set_pushed(r, d, days_ago(30, 0));
    }
    let dir = tempfile::tempdir().unwrap();
    let images_repo = format!("{}/group/project", fake.host());
    let mut args = vec![
        "cleanup",
        "-i",
        &images_repo,
        "--image",
        "app",
        "--git-refs",
        "none",
        "--keep-younger-than",
        "7d",
        "--keep-tag",
        "^keepme$",
        "--grace",
        "0",
        "--output",
        "json",
    ];
    args.extend_from_slice(&TOKEN);
    let doc = json(&ok(dockhand(&args, dir.path(), &[])));
    for tag in ["release-1", "release-2"] {
        let e = entry(&doc, "/app", tag);
        assert_eq!(e["action"], "delete", "{doc:#}");
        assert_eq!(e["result"], "kept", "{doc:#}");
        let reason = e["reason"].as_str().unwrap();
        assert!(reason.contains("kept by the registry"), "{reason}");
        assert!(reason.contains("protected"), "{reason}");
    }
    assert_eq!(entry(&doc, "/app", "old")["result"], "deleted");
    assert_eq!(entry(&doc, "/app", "keepme")["result"], "kept");
    assert_eq!(summary(&doc, "failed"), 0, "{doc:#}");
    assert_eq!(
        fake.tag_map(r),
        BTreeMap::from([
            ("keepme".to_string(), shared.clone()),
            ("release-1".to_string(), shared.clone()),
            ("release-2".to_string(), lone.clone()),
        ])
    );
    assert!(fake.manifest(r, &old).is_none());
}

// ---------------------------------------------------------------------------------------------
// 5. Push times from the tag detail (offset timestamps), only where an age rule applies

#[test]
fn tag_details_only_for_timed_tags_with_offset_times() {
    let fake = FakeGitlab::start(GitlabOptions::default());
    let client = logged_in(&fake);
    let r = "group/project/aged";
    // 7 days and an hour old: older than 7d only if the `+02:00` offset is read right.
    let a = client.push(r, "old-1", "a", 1);
    fake.set_pushed(r, &a, days_ago(7, 3600));
    let b = client.push(r, "old-2", "b", 1);
    fake.set_pushed(r, &b, days_ago(6, 0));
    let c = client.push(r, "other", "c", 1);
    fake.set_pushed(r, &c, days_ago(30, 0));
    let dir = tempfile::tempdir().unwrap();
    let images_repo = format!("{}/group/project", fake.host());
    let mut args = vec![
        "cleanup",
        "-i",
        &images_repo,
        "--image",
        "aged",
        "--git-refs",
        "none",
        "--only-tag",
        "^old-",
        "--keep-younger-than",
        "7d",
        "--grace",
        "0",
        "--output",
        "json",
    ];
    args.extend_from_slice(&TOKEN);
    fake.clear_log();
    let doc = json(&ok(dockhand(&args, dir.path(), &[])));
    assert_eq!(
        entry(&doc, "/aged", "old-1")["result"],
        "deleted",
        "{doc:#}"
    );
    assert_eq!(entry(&doc, "/aged", "old-2")["result"], "kept", "{doc:#}");
    assert_eq!(fake.tags(r), vec!["old-2", "other"]);
    // Details for the two tags the age rule judges, a HEAD for the other one; the looks
    // before and after the deletions (docs/cleanup-safety.md) need digests only: a HEAD each.
    assert_eq!(fake.rest("GET", "/tags/old-1"), 1);
    assert_eq!(fake.rest("GET", "/tags/old-2"), 1);
    assert_eq!(fake.rest("GET", "/tags/other"), 0);
    assert_eq!(fake.registry("HEAD", "/manifests/other"), 3);
}

// ---------------------------------------------------------------------------------------------
// 6. Paging: offset with headers and Link, headers only, keyset

#[test]
fn tag_lists_page_in_every_shape() {
    for paging in [Paging::Offset, Paging::HeadersOnly, Paging::Keyset] {
        let fake = FakeGitlab::start(GitlabOptions {
            paging,
            ..GitlabOptions::default()
        });
        let client = logged_in(&fake);
        let r = "group/project/many";
        let d = client.push(r, "t-000", "many", 1);
        let m = fake.manifest(r, &d).unwrap();
        fake.with_store(|s| {
            for i in 1..130 {
                s.put_manifest(r, &format!("t-{i:03}"), &m.media_type, &m.bytes)
                    .unwrap();
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let images_repo = format!("{}/group/project", fake.host());
        let mut args = vec![
            "cleanup",
            "-i",
            &images_repo,
            "--image",
            "many",
            "--git-refs",
            "none",
            "--dry-run",
            "--output",
            "json",
        ];
        args.extend_from_slice(&TOKEN);
        fake.clear_log();
        let doc = json(&ok(dockhand(&args, dir.path(), &[])));
        let tags: BTreeSet<&str> = entries(&doc)
            .iter()
            .map(|e| e["tag"].as_str().unwrap())
            .collect();
        assert_eq!(tags.len(), 130, "{paging:?}");
        let pages = fake
            .requests()
            .iter()
            .filter(|q| q.method == "GET" && q.path.ends_with("/tags"))
            .count();
        assert_eq!(pages, 2, "{paging:?}: 100 a page");
    }
}

// ---------------------------------------------------------------------------------------------
// 7. 429 with Retry-After is waited out

#[test]
fn rate_limited_api_is_waited_out() {
    let fake = FakeGitlab::start(GitlabOptions::default());
    let client = logged_in(&fake);
    client.push("group/project/app", "v1", "app", 1);
    fake.fail_next(FaultRule::too_many(
        "/registry/repositories",
        1,
        RetryAfter::Seconds(1),
    ));
    let dir = tempfile::tempdir().unwrap();
    let images_repo = format!("{}/group/project", fake.host());
    let mut args = vec![
        "cleanup",
        "-i",
        &images_repo,
        "--image",
        "app",
        "--git-refs",
        "none",
        "--dry-run",
        "--output",
        "json",
    ];
    args.extend_from_slice(&TOKEN);
    let started = Instant::now();
    let doc = json(&ok(dockhand(&args, dir.path(), &[])));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(entry(&doc, "/app", "v1")["result"], "kept");
    let statuses: Vec<u16> = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/registry/repositories"))
        .map(|r| r.status)
        .collect();
    assert!(statuses.starts_with(&[429]), "{statuses:?}");
    assert!(statuses.contains(&200), "{statuses:?}");
}

// ---------------------------------------------------------------------------------------------
// 8. Auto mode and nesting through `dockhand detect`

#[test]
fn detect_auto_mode_and_nesting() {
    let dir = tempfile::tempdir().unwrap();
    let detect = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["detect", "--output", "json"];
        all.extend_from_slice(args);
        dockhand(&all, dir.path(), env)
    };
    // registry.gitlab.com by its host name, without a request: nested names, so multirepo.
    let r = ok(detect(
        &[
            "-i",
            "registry.gitlab.com/group/project",
            "--image",
            "backend",
            "--image",
            "tools/lint",
        ],
        &[],
    ));
    let doc = json(&r);
    assert_eq!(doc["implementation"], "gitlab");
    assert_eq!(doc["mode"], "multirepo");
    let repos: Vec<&str> = doc["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["repository"].as_str().unwrap())
        .collect();
    assert_eq!(
        repos,
        vec![
            "registry.gitlab.com/group/project/backend",
            "registry.gitlab.com/group/project/tools/lint"
        ]
    );
    // Three levels below the project: GitLab refuses that, so does dockhand (exit 2).
    let r = detect(
        &[
            "-i",
            "registry.gitlab.com/group/project",
            "--image",
            "a/b/c",
        ],
        &[],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("two levels"), "{}", r.stderr);
    // Monorepo on request.
    let r = ok(detect(
        &[
            "-i",
            "registry.gitlab.com/group/project",
            "--images-repo-mode",
            "monorepo",
            "--image",
            "backend",
        ],
        &[],
    ));
    assert_eq!(
        json(&r)["images"][0]["pattern"],
        "registry.gitlab.com/group/project:backend-<tag>"
    );

    // A self-managed registry: CI_REGISTRY says so, or the /jwt/auth realm of its challenge.
    let fake = FakeGitlab::start(GitlabOptions::default());
    let addr = format!("{}/group/project", fake.host());
    let r = ok(detect(&["-i", &addr], &[("CI_REGISTRY", &fake.host())]));
    let doc = json(&r);
    assert_eq!(doc["implementation"], "gitlab");
    assert_eq!(doc["detection"]["source"], "ci");
    let r = ok(detect(&["-i", &addr, "--image", "backend"], &[]));
    let doc = json(&r);
    assert_eq!(doc["implementation"], "gitlab", "{doc:#}");
    assert_eq!(doc["detection"]["source"], "probe");
    assert_eq!(doc["mode"], "multirepo");
}

// ---------------------------------------------------------------------------------------------
// 9. The fake refuses what GitLab refuses (so the tests above prove something)

#[test]
fn fake_follows_gitlab() {
    let fake = FakeGitlab::start(GitlabOptions::default());
    let client = logged_in(&fake);
    client.push("group/project", "v1", "root", 1);
    client.push("group/project/app", "v1", "app", 1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let api = fake.api_url();
    let send = |m: reqwest::Method, path: &str, h: (&str, &str)| {
        let url = format!("{api}{path}");
        rt.block_on(async {
            let resp = http.request(m, &url).header(h.0, h.1).send().await.unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            (status, body)
        })
    };
    let pat = ("private-token", "glpat-api");
    // The root image has an empty name; numeric and encoded ids are the same project.
    let (s, body) = send(
        reqwest::Method::GET,
        "/projects/42/registry/repositories",
        pat,
    );
    assert_eq!(s, 200);
    let root = body
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == "group/project")
        .unwrap();
    assert_eq!(root["name"], "");
    let (s, _) = send(
        reqwest::Method::GET,
        "/projects/group%2Fproject/registry/repositories",
        pat,
    );
    assert_eq!(s, 200);
    let (s, _) = send(
        reqwest::Method::GET,
        "/projects/group%252Fproject/registry/repositories",
        pat,
    );
    assert_eq!(s, 404, "double encoding names another project");
    // Tokens: none → 401, Bearer OAuth → 200, the job token only on its own project.
    let (s, _) = send(
        reqwest::Method::GET,
        "/projects/42/registry/repositories",
        ("x", "y"),
    );
    assert_eq!(s, 401);
    let (s, _) = send(
        reqwest::Method::GET,
        "/projects/42/registry/repositories",
        ("authorization", "Bearer oauth-token"),
    );
    assert_eq!(s, 200);
    let app = body
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == "group/project/app")
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    // Tag detail: an offset timestamp.
    let (s, detail) = send(
        reqwest::Method::GET,
        &format!("/projects/42/registry/repositories/{app}/tags/v1"),
        pat,
    );
    assert_eq!(s, 200);
    assert!(
        detail["created_at"].as_str().unwrap().ends_with("+02:00"),
        "{detail}"
    );
    assert!(detail["digest"].as_str().unwrap().starts_with("sha256:"));
    // Bulk delete: accepted once, then refused within the hour.
    let bulk = format!("/projects/42/registry/repositories/{app}/tags?name_regex_delete=.*");
    assert_eq!(send(reqwest::Method::DELETE, &bulk, pat).0, 202);
    assert_eq!(send(reqwest::Method::DELETE, &bulk, pat).0, 400);
    // read_api may not delete.
    let (s, body) = send(
        reqwest::Method::DELETE,
        &format!("/projects/42/registry/repositories/{app}/tags/v1"),
        ("private-token", "glpat-read"),
    );
    assert_eq!(s, 403);
    assert_eq!(body["error"], "insufficient_scope");
    let (s, _) = send(
        reqwest::Method::DELETE,
        &format!("/projects/42/registry/repositories/{app}/tags/v1"),
        pat,
    );
    assert_eq!(s, 200);
    assert!(fake.tags("group/project/app").is_empty());

    // The registry tag DELETE untags only where `tag_delete` is advertised.
    let client = logged_in(&fake);
    let d = client.push("group/project/app", "a", "app", 1);
    client.retag("group/project/app", &d, "b");
    let status = client.delete_manifest("group/project/app", "a");
    assert_eq!(status.as_u16(), 202);
    assert_eq!(fake.tags("group/project/app"), vec!["b"]);
    fake.update(|o| o.features = Some("tag_rename".into()));
    let status = client.delete_manifest("group/project/app", "b");
    assert_eq!(status.as_u16(), 400, "DIGEST_INVALID without tag_delete");
    assert_eq!(fake.tags("group/project/app"), vec!["b"]);
}

// ---------------------------------------------------------------------------------------------
// 10. Tokens and the API base

#[test]
fn oauth_token_goes_as_bearer() {
    let fake = FakeGitlab::start(GitlabOptions::default());
    logged_in(&fake).push("group/project/app", "v1", "app", 1);
    let dir = tempfile::tempdir().unwrap();
    let images_repo = format!("{}/group/project", fake.host());
    let args = [
        "cleanup",
        "-i",
        &images_repo,
        "--image",
        "app",
        "--git-refs",
        "none",
        "--dry-run",
        "--output",
        "json",
        "--gitlab-token",
        "oauth2:oauth-token",
    ];
    let doc = json(&ok(dockhand(&args, dir.path(), &[])));
    assert_eq!(entry(&doc, "/app", "v1")["result"], "kept");
    let rest: Vec<Option<String>> = fake
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/v4/"))
        .map(|r| r.authorization.clone())
        .collect();
    assert!(!rest.is_empty());
    assert!(
        rest.iter()
            .all(|a| a.as_deref() == Some("Bearer oauth-token")),
        "{rest:?}"
    );
}

#[test]
fn self_managed_without_a_known_api_needs_the_option() {
    // A registry whose challenge names no /jwt/auth realm: the API base cannot be derived.
    let fake = support::fake_oci::FakeOci::start(support::fake_oci::Profile::distribution());
    let dir = tempfile::tempdir().unwrap();
    let images_repo = format!("{}/group/project", fake.host());
    let r = dockhand(
        &[
            "cleanup",
            "-i",
            &images_repo,
            "--image",
            "app",
            "--implementation",
            "gitlab",
            "--git-refs",
            "none",
            "--gitlab-token",
            "glpat-api",
        ],
        dir.path(),
        &[],
    );
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("--gitlab-api-url"), "{}", r.stderr);
    assert!(
        fake.requests().iter().all(|q| !q.path.starts_with("/api/")),
        "nothing sent to an API"
    );
}
