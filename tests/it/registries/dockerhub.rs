//! Docker Hub end to end: the real binary with `--implementation dockerhub` against the fake Hub
//! (`support::fake_dockerhub`: the Hub API under `/hub` plus the registry on the in-memory OCI
//! fake, one store). Outcomes are checked in the store, in the Hub API's and the registry's
//! request logs, in what the user saw and in the exit codes.

use crate::support;
use crate::support::layouts::{fallback_tag, git, git_repo, multiarch_layout};
use crate::support::run::{Run, dockhand};

use std::path::Path;

use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Naming: auto mode and nesting (no network: host patterns, --no-probe)

#[test]
fn detect_auto_mode_and_nesting_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let detect = |addr: &str, extra: &[&str]| {
        let mut args = vec![
            "detect",
            "-i",
            addr,
            "--no-probe",
            "--output",
            "json",
            "--image",
            "backend",
            "--tag-custom",
            "v1",
        ];
        args.extend_from_slice(extra);
        dockhand(&args, cwd)
    };

    // An account is multirepo (one repository per image), a repository is monorepo; every
    // Hub host name is Docker Hub, and a hostless address is Hub too.
    for (addr, mode, reference) in [
        ("flant", "multirepo", "docker.io/flant/backend:v1"),
        (
            "flant/project",
            "monorepo",
            "docker.io/flant/project:backend-v1",
        ),
        ("docker.io/flant", "multirepo", "docker.io/flant/backend:v1"),
        (
            "index.docker.io/flant/project",
            "monorepo",
            "index.docker.io/flant/project:backend-v1",
        ),
        (
            "registry-1.docker.io/flant",
            "multirepo",
            "registry-1.docker.io/flant/backend:v1",
        ),
    ] {
        let run = detect(addr, &[]);
        assert_eq!(run.code, 0, "{addr}: {run:?}");
        let doc = run.json();
        assert_eq!(doc["implementation"], "dockerhub", "{addr}: {doc:#}");
        assert_eq!(doc["mode"], mode, "{addr}: {doc:#}");
        assert_eq!(
            doc["images"][0]["references"],
            serde_json::json!([reference]),
            "{addr}"
        );
        let caps = &doc["capabilities"];
        assert_eq!(caps["get_counts_as_pull"], true, "HEAD, not GET: {caps}");
        assert_eq!(caps["untag"], "vendor-api", "{caps}");
        assert_eq!(caps["digest_delete"], "refused-while-tagged", "{caps}");
        assert_eq!(caps["listing_with_times"], true, "{caps}");
    }

    // No nesting: exactly NAMESPACE/REPOSITORY.
    let run = detect("docker.io/flant/project/sub", &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("ACCOUNT/REPOSITORY") && run.stderr.contains("Docker Hub"),
        "{run:?}"
    );
    // A bare Hub host is no account.
    let run = detect("docker.io", &[]);
    assert_eq!(run.code, 2, "{run:?}");
    // Multirepo below an account with a nested image name would nest.
    let run = dockhand(
        &[
            "detect",
            "-i",
            "flant",
            "--no-probe",
            "--image",
            "team/api",
            "--tag-custom",
            "v1",
        ],
        cwd,
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("deeper than Docker Hub allows"),
        "{run:?}"
    );
    // Explicit modes that contradict the address say how to fix them.
    let run = detect("flant", &["--images-repo-mode", "monorepo"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("add a repository to the address, or use multirepo"),
        "{run:?}"
    );
    let run = detect("flant/project", &["--images-repo-mode", "multirepo"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("remove the repository from the address, or use monorepo"),
        "{run:?}"
    );

    // Forced on a loopback host (as the tests below run it): the same rules.
    for (addr, want) in [
        ("127.0.0.1:1/acct", Some("multirepo")),
        ("127.0.0.1:1/acct/repo", Some("monorepo")),
        ("127.0.0.1:1/acct/repo/sub", None),
        ("127.0.0.1:1", None),
    ] {
        let run = detect(addr, &["--implementation", "dockerhub"]);
        match want {
            Some(mode) => {
                assert_eq!(run.code, 0, "{addr}: {run:?}");
                assert_eq!(run.json()["mode"], mode, "{addr}");
                assert_eq!(run.json()["detection"]["source"], "explicit", "{addr}");
            }
            None => assert_eq!(run.code, 2, "{addr}: {run:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The fake Hub, fixtures and helpers

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use dockhand::fixtures::{self};
use dockhand::naming::slug::slug_tag;
use support::fake_dockerhub::{FakeHub, HubRequest, HubUser};

const USER: &str = "acme";
const PASSWORD: &str = "correct horse battery";
const PAT: &str = "dckr_pat_0123456789abcdefghij";

fn fake_hub() -> FakeHub {
    FakeHub::start(vec![
        HubUser {
            name: USER.into(),
            password: PASSWORD.into(),
            tokens: vec![PAT.into()],
            two_factor: false,
        },
        HubUser {
            name: "guarded".into(),
            password: "guarded password".into(),
            tokens: vec![],
            two_factor: true,
        },
    ])
}

/// `--implementation dockerhub`, the registry credentials and the Hub API of `fake`.
fn hub_args(fake: &FakeHub) -> Vec<String> {
    [
        "--implementation",
        "dockerhub",
        "--registry-username",
        USER,
        "--registry-password",
        PASSWORD,
        "--docker-hub-api-url",
        &fake.api_url(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn run_with(base: &[&str], extra: &[String], cwd: &Path) -> Run {
    let mut args: Vec<&str> = base.to_vec();
    args.extend(extra.iter().map(String::as_str));
    dockhand(&args, cwd)
}

/// Seeds an image by hand (no origin record) under `tags`, pushed `days_ago` as Hub records
/// it; its config claims it was created now, so only the Hub's push time can make it old.
fn seed_old(fake: &FakeHub, repo: &str, tags: &[String], content: &str, days_ago: u64) -> String {
    let created = support::rfc3339(support::unix_now());
    let digest = fake.with_store(|s| {
        let d = s.seed_image(repo, Some(&tags[0]), &[content.as_bytes()], &created);
        let m = s.repo(repo).unwrap().manifests[&d].clone();
        for t in &tags[1..] {
            s.put_manifest(repo, t, &m.media_type, &m.bytes).unwrap();
        }
        d
    });
    let when = SystemTime::now() - Duration::from_secs(days_ago * 86_400);
    for t in tags {
        fake.hub.set_pushed(repo, t, when);
    }
    digest
}

/// Registry requests (the Hub API under /hub left out).
fn registry_requests(fake: &FakeHub, method: &str) -> Vec<String> {
    fake.requests()
        .into_iter()
        .filter(|r| r.method == method && r.path.starts_with("/v2/"))
        .map(|r| r.path)
        .collect()
}

fn hub_requests(fake: &FakeHub, method: &str) -> Vec<HubRequest> {
    fake.hub
        .requests()
        .into_iter()
        .filter(|r| r.method.as_str() == method)
        .collect()
}

fn deleted_tags(doc: &Value) -> BTreeSet<String> {
    doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["result"] == "deleted")
        .map(|e| e["tag"].as_str().unwrap().to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Publish, then a mixed cleanup through the Hub API

#[test]
fn publish_then_mixed_cleanup_through_the_hub_api() {
    let fake = fake_hub();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let hub = hub_args(&fake);
    let repo = git_repo(cwd, &["feature/x"]);
    let images_repo = format!("{}/{USER}", fake.host());
    let stale = slug_tag("feature/x");

    // The seed example: backend keeps `stable` next to its stale branch tag (one digest, one
    // kept and one stale tag); frontend has only the stale tag.
    let seeded = fixtures::seed_example(&cwd.join("images")).unwrap();
    let digest_of = |name: &str| seeded.iter().find(|(n, _)| n == name).unwrap().1.clone();
    for (name, tags) in [
        (
            "backend",
            vec!["--tag-git-branch", "feature/x", "--tag-custom", "stable"],
        ),
        ("frontend", vec!["--tag-git-branch", "feature/x"]),
    ] {
        let image = format!("{name}=oci:{}", cwd.join("images").join(name).display());
        // Records on Hub only when asked (`auto` is off there): this cleanup is git-aware.
        let mut base = vec![
            "publish",
            "-i",
            &images_repo,
            "--image",
            &image,
            "--origin-records",
            "on",
        ];
        base.extend(tags);
        let r = run_with(&base, &hub, cwd);
        assert_eq!(r.code, 0, "{r:?}");
    }
    // Multi-arch: `app` on the stale branch (with a cosign signature), `app2` on main.
    let (app_layout, app_index) = multiarch_layout(cwd, "app");
    let (app2_layout, app2_index) = multiarch_layout(cwd, "app2");
    for (name, layout, branch) in [
        ("app", &app_layout, "feature/x"),
        ("app2", &app2_layout, "main"),
    ] {
        let image = format!("{name}=oci:{}", layout.display());
        let base = [
            "publish",
            "-i",
            &images_repo,
            "--image",
            &image,
            "--tag-git-branch",
            branch,
            "--origin-records",
            "on",
        ];
        let r = run_with(&base, &hub, cwd);
        assert_eq!(r.code, 0, "{r:?}");
    }
    let sig_tag = format!("{}.sig", fallback_tag(&app_index));
    let sig = fake.with_store(|s| {
        s.seed_image(
            &format!("{USER}/app"),
            Some(&sig_tag),
            &[b"signature of app"],
            "2024-05-01T12:00:00Z",
        )
    });
    fake.hub
        .set_pushed(&format!("{USER}/app"), &sig_tag, SystemTime::now());

    let r = |name: &str| format!("{USER}/{name}");
    assert_eq!(fake.tag_map(&r("backend"))[&stale], digest_of("backend"));
    assert_eq!(fake.tag_map(&r("backend"))["stable"], digest_of("backend"));
    assert_eq!(fake.tag_map(&r("frontend"))[&stale], digest_of("frontend"));
    assert_eq!(fake.tag_map(&r("app"))[&stale], app_index);
    assert_eq!(fake.tag_map(&r("app2"))[&slug_tag("main")], app2_index);
    let children: Vec<String> = fake.manifest(&r("app"), &app_index).unwrap().children;
    assert_eq!(children.len(), 2);
    // Origin records went to the fallback tags (no referrers API on Hub).
    assert!(
        fake.tag_map(&r("frontend"))
            .contains_key(&fallback_tag(&digest_of("frontend")))
    );
    assert!(
        fake.tag_map(&r("app"))
            .contains_key(&fallback_tag(&app_index))
    );

    let before: BTreeMap<String, (BTreeMap<String, String>, Vec<String>)> =
        ["backend", "frontend", "app", "app2"]
            .iter()
            .map(|n| {
                (
                    n.to_string(),
                    (fake.tag_map(&r(n)), fake.manifest_digests(&r(n))),
                )
            })
            .collect();

    git(&repo, &["branch", "-D", "feature/x"]);
    fake.clear_log();
    fake.hub.clear_requests();
    // A nearly spent pull quota: the HEAD before the GETs reads it (for free) and -v says so.
    let pulls_before = support::fake_dockerhub::PULL_LIMIT - 2;
    fake.set_pulls(pulls_before);
    let git_dir = repo.display().to_string();
    let base = [
        "cleanup",
        "-i",
        &images_repo,
        "--image",
        "backend",
        "--image",
        "frontend",
        "--image",
        "app",
        "--image",
        "app2",
        "--git-dir",
        &git_dir,
        "--git-refs",
        "local",
        "--grace",
        "0",
        "--output",
        "json",
        "-v",
    ];
    let run = run_with(&base, &hub, cwd);
    assert_eq!(run.code, 0, "{run:?}");
    let doc = run.json();
    if std::env::var("HUB_DEBUG").is_ok() {
        eprintln!("{doc:#}");
        for q in fake.requests() {
            eprintln!(
                "{} {}{} -> {}",
                q.method,
                q.path,
                q.query.map(|q| format!("?{q}")).unwrap_or_default(),
                q.status
            );
        }
    }
    assert_eq!(doc["implementation"], "dockerhub");
    assert_eq!(doc["summary"]["failed"], 0, "{doc:#}");

    // Exactly the planned state.
    let gone_tags: BTreeSet<String> = [
        stale.clone(),
        fallback_tag(&digest_of("frontend")),
        fallback_tag(&app_index),
        sig_tag.clone(),
    ]
    .into_iter()
    .collect();
    assert_eq!(deleted_tags(&doc), gone_tags, "{doc:#}");
    let (backend_tags, backend_manifests) = &before["backend"];
    let mut want = backend_tags.clone();
    want.remove(&stale);
    assert_eq!(
        fake.tag_map(&r("backend")),
        want,
        "backend keeps stable and its record"
    );
    assert_eq!(
        &fake.manifest_digests(&r("backend")),
        backend_manifests,
        "backend's image stays (untagged once, not deleted)"
    );
    for name in ["frontend", "app"] {
        assert!(
            fake.tags(&r(name)).is_empty(),
            "{name}: {:?}",
            fake.tags(&r(name))
        );
        assert!(
            fake.manifest_digests(&r(name)).is_empty(),
            "{name}: image, children, records and signature all gone: {:?}",
            fake.manifest_digests(&r(name))
        );
    }
    assert_eq!(fake.tag_map(&r("app2")), before["app2"].0, "app2 untouched");
    assert_eq!(fake.manifest_digests(&r("app2")), before["app2"].1);
    assert!(
        fake.manifest(&r("app"), &sig).is_none(),
        "the signature is gone"
    );

    // Through the Hub API: one login, one listing per repository, one DELETE per removed tag
    // (trailing slash), each with the Bearer JWT.
    assert_eq!(
        hub_requests(&fake, "POST").len(),
        1,
        "{:#?}",
        fake.hub.requests()
    );
    assert_eq!(
        fake.hub.count(&reqwest::Method::POST, "/hub/v2/auth/token"),
        1
    );
    // One listing per repository for the inventory; the three with deletions (app, backend,
    // frontend) are listed again before and after them (docs/cleanup-safety.md).
    let listings = hub_requests(&fake, "GET");
    assert_eq!(listings.len(), 4 + 2 * 3, "{listings:#?}");
    assert!(
        listings.iter().all(|q| q.path.contains("page_size=100")),
        "{listings:#?}"
    );
    let hub_deletes = hub_requests(&fake, "DELETE");
    let deleted_paths: BTreeSet<String> = hub_deletes.iter().map(|q| q.path.clone()).collect();
    let mut want_paths = BTreeSet::new();
    for e in doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["result"] == "deleted")
    {
        let repo_label = e["repository"].as_str().unwrap();
        let name = repo_label.rsplit('/').next().unwrap();
        want_paths.insert(format!(
            "/hub/v2/repositories/{USER}/{name}/tags/{}/",
            e["tag"].as_str().unwrap()
        ));
    }
    assert_eq!(deleted_paths, want_paths);
    assert_eq!(hub_deletes.len(), want_paths.len(), "each tag deleted once");
    assert!(
        fake.hub.requests().iter().all(|q| q.status < 300),
        "{:#?}",
        fake.hub.requests()
    );
    assert!(
        fake.hub
            .requests()
            .iter()
            .filter(|q| q.method != reqwest::Method::POST)
            .all(|q| q.scheme.as_deref() == Some("Bearer"))
    );

    // The registry: no tag listing (the Hub listing replaces it), no tag DELETE (refused on
    // Hub), one digest DELETE per removed manifest, no manifest GET where a HEAD does.
    assert!(
        registry_requests(&fake, "GET")
            .iter()
            .all(|p| !p.ends_with("/tags/list"))
    );
    let registry_deletes = registry_requests(&fake, "DELETE");
    assert!(
        registry_deletes
            .iter()
            .all(|p| p.contains("/manifests/sha256:")),
        "{registry_deletes:?}"
    );
    let removed: usize = ["frontend", "app"].iter().map(|n| before[*n].1.len()).sum();
    assert_eq!(registry_deletes.len(), removed, "{registry_deletes:?}");
    let gets: Vec<String> = registry_requests(&fake, "GET")
        .into_iter()
        .filter(|p| p.contains("/manifests/"))
        .collect();
    let indexes = [app_index.clone(), app2_index.clone()];
    for p in &gets {
        let reference = p.rsplit('/').next().unwrap();
        assert!(
            indexes.iter().any(|i| i == reference) || reference.starts_with("sha256-"),
            "GET {p} counts against the pull quota where a HEAD would do"
        );
    }
    assert_eq!(
        fake.pulls() - pulls_before,
        gets.len() as u64,
        "only GETs count"
    );
    assert!(
        run.stderr.contains("Docker Hub pull quota low"),
        "the low quota is reported with -v: {run:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Push times from the Hub listing, all pages

#[test]
fn retention_uses_hub_push_times_across_pages() {
    let fake = fake_hub();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let repo = format!("{USER}/legacy");
    // 120 tags on one image pushed 10 days ago (two pages of 100), one image from yesterday.
    let old_tags: Vec<String> = (0..120).map(|i| format!("l-{i:03}")).collect();
    let old = seed_old(&fake, &repo, &old_tags, "old image", 10);
    let new = seed_old(&fake, &repo, &["l-new".to_string()], "new image", 1);
    // Without media types in the listing, a HEAD per digest (free of the pull quota) tells.
    fake.hub.configure(|c| c.listing_without_media_type = true);

    let images_repo = format!("{}/{USER}", fake.host());
    let base = [
        "cleanup",
        "-i",
        &images_repo,
        "--image",
        "legacy",
        "--keep-younger-than",
        "3d",
        "--grace",
        "0",
        "--output",
        "json",
    ];
    let run = run_with(&base, &hub_args(&fake), cwd);
    assert_eq!(run.code, 0, "{run:?}");
    let doc = run.json();
    assert_eq!(
        deleted_tags(&doc),
        old_tags.iter().cloned().collect::<BTreeSet<_>>(),
        "{doc:#}"
    );
    assert_eq!(fake.tags(&repo), vec!["l-new".to_string()]);
    assert_eq!(fake.manifest_digests(&repo), vec![new.clone()]);
    assert!(fake.manifest(&repo, &old).is_none());

    // Two listing pages, the second from the absolute `next`; the same two again for the look
    // before the deletions, and one page after them (docs/cleanup-safety.md).
    let listings = hub_requests(&fake, "GET");
    assert_eq!(listings.len(), 2 + 2 + 1, "{listings:#?}");
    assert!(listings[1].path.contains("page=2"), "{listings:#?}");
    assert!(listings[3].path.contains("page=2"), "{listings:#?}");
    assert_eq!(hub_requests(&fake, "DELETE").len(), 120);
    // Nothing read from the registry per tag: no manifest GET, no config blob.
    let gets = registry_requests(&fake, "GET");
    assert!(
        gets.iter()
            .all(|p| !p.contains("/manifests/") && !p.contains("/blobs/")),
        "{gets:#?}"
    );
    let heads: BTreeSet<String> = fake
        .requests()
        .into_iter()
        .filter(|q| q.method == "HEAD" && q.status == 200)
        .map(|q| q.path)
        .collect();
    assert_eq!(
        heads,
        [&old, &new]
            .iter()
            .map(|d| format!("/v2/{repo}/manifests/{d}"))
            .collect::<BTreeSet<_>>(),
        "one HEAD per digest"
    );
    assert_eq!(fake.pulls(), 0);
    assert_eq!(
        registry_requests(&fake, "DELETE").len(),
        1,
        "the untagged image"
    );
}

// ---------------------------------------------------------------------------------------------
// 401/403: exit 3 with what to fix

#[test]
fn bad_credentials_2fa_and_forbidden_tokens_exit_3() {
    let fake = fake_hub();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let repo = format!("{USER}/api");
    seed_old(&fake, &repo, &["old".to_string()], "old", 10);
    let images_repo = format!("{}/{USER}", fake.host());
    let before = fake.tag_map(&repo);
    let cleanup = |extra: &[&str]| {
        let mut base = vec![
            "cleanup",
            "-i",
            &images_repo,
            "--image",
            "api",
            "--keep-younger-than",
            "3d",
            "--grace",
            "0",
        ];
        base.extend_from_slice(extra);
        let run = run_with(&base, &hub_args(&fake), cwd);
        if std::env::var("HUB_DEBUG").is_ok() {
            eprintln!("{run:?}");
        }
        run
    };

    // A wrong password: both login endpoints refuse it.
    fake.hub.clear_requests();
    let run = cleanup(&[
        "--docker-hub-username",
        USER,
        "--docker-hub-password",
        "wrong",
    ]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("bad credentials"), "{run:?}");
    assert!(
        run.stderr.contains("password") && run.stderr.contains(USER),
        "{run:?}"
    );
    assert!(
        !run.stderr.contains("wrong"),
        "the secret is never printed: {run:?}"
    );
    assert_eq!(fake.hub.count(&reqwest::Method::POST, "/v2/auth/token"), 1);
    assert_eq!(fake.hub.count(&reqwest::Method::POST, "/v2/users/login"), 1);
    assert!(hub_requests(&fake, "DELETE").is_empty());

    // A wrong access token: exit 3 naming the token.
    let run = cleanup(&[
        "--docker-hub-username",
        USER,
        "--docker-hub-token",
        "dckr_pat_revoked",
    ]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains("access token") && run.stderr.contains("bad credentials"),
        "{run:?}"
    );

    // Two-factor authentication: the password cannot log in; use a PAT.
    let run = cleanup(&[
        "--docker-hub-username",
        "guarded",
        "--docker-hub-password",
        "guarded password",
    ]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("two-factor"), "{run:?}");
    assert!(run.stderr.contains("--docker-hub-token"), "{run:?}");

    // Hub refuses deletes with personal access tokens: exit 3, naming the scope and the way out.
    fake.hub.configure(|c| c.pat_forbidden = true);
    fake.hub.clear_requests();
    let run = cleanup(&["--docker-hub-username", USER, "--docker-hub-token", PAT]);
    assert_eq!(run.code, 3, "{run:?}");
    // The report names the cause and the fix for the tag; the exit code is the denial's.
    let seen = format!("{}{}", run.stdout, run.stderr);
    assert!(seen.contains("personal access token"), "{run:?}");
    assert!(seen.contains("repo:admin"), "{run:?}");
    assert!(seen.contains("--docker-hub-password"), "{run:?}");
    assert!(run.stderr.contains("denied"), "{run:?}");
    assert_eq!(
        hub_requests(&fake, "DELETE")
            .iter()
            .map(|q| q.status)
            .collect::<Vec<_>>(),
        vec![403]
    );
    assert_eq!(fake.tag_map(&repo), before, "nothing deleted");
    assert!(registry_requests(&fake, "DELETE").is_empty());

    // Missing Hub credentials altogether: exit 2 before anything is sent to the Hub API.
    fake.hub.clear_requests();
    let mut base = vec![
        "cleanup",
        "-i",
        &images_repo,
        "--image",
        "api",
        "--keep-younger-than",
        "3d",
        "--grace",
        "0",
        "--implementation",
        "dockerhub",
    ];
    let api = fake.api_url();
    base.extend_from_slice(&["--docker-hub-api-url", &api]);
    let run = dockhand(&base, cwd);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--docker-hub-token"), "{run:?}");
    assert!(fake.hub.requests().is_empty());
}

// ---------------------------------------------------------------------------------------------
// 429 with X-Retry-After (a unix time) is waited out

#[test]
fn rate_limit_429_is_waited_out() {
    let fake = fake_hub();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let repo = format!("{USER}/api");
    seed_old(&fake, &repo, &["old-1".to_string()], "old 1", 10);
    seed_old(&fake, &repo, &["old-2".to_string()], "old 2", 10);
    let keep = seed_old(&fake, &repo, &["new".to_string()], "new", 0);
    let images_repo = format!("{}/{USER}", fake.host());
    // Without digests in the listing, a HEAD per tag resolves them (no GET). JWTs that live
    // 61 s are renewed a minute before they expire, i.e. after one second here.
    fake.hub.configure(|c| {
        c.listing_without_digest = true;
        c.jwt_ttl = 61;
    });
    fake.hub
        .throttle_next(reqwest::Method::DELETE, "/tags/old-1/", 2);
    let started = SystemTime::now();
    let base = [
        "cleanup",
        "-i",
        &images_repo,
        "--image",
        "api",
        "--keep-younger-than",
        "3d",
        "--grace",
        "0",
        "--concurrency",
        "1",
        "--docker-hub-username",
        USER,
        "--docker-hub-token",
        PAT,
        "--output",
        "json",
    ];
    let run = run_with(&base, &hub_args(&fake), cwd);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(fake.tags(&repo), vec!["new".to_string()]);
    assert_eq!(fake.manifest_digests(&repo), vec![keep]);

    let log = fake.hub.requests();
    let limited: Vec<&HubRequest> = log.iter().filter(|q| q.status == 429).collect();
    assert_eq!(
        limited.len(),
        1,
        "one 429, then a wait, not a retry storm: {log:#?}"
    );
    let until = SystemTime::UNIX_EPOCH + Duration::from_secs(limited[0].retry_after.unwrap());
    let after: Vec<&HubRequest> = log.iter().filter(|q| q.at > limited[0].at).collect();
    assert!(!after.is_empty());
    for q in &after {
        assert!(
            q.at >= until,
            "{} {} sent before X-Retry-After",
            q.method,
            q.path
        );
    }
    assert_eq!(
        fake.hub.count(&reqwest::Method::DELETE, "/tags/old-1/"),
        2,
        "the refused delete is sent again once"
    );
    assert!(SystemTime::now().duration_since(started).unwrap() >= Duration::from_secs(1));
    let heads: BTreeSet<String> = fake
        .requests()
        .into_iter()
        .filter(|q| q.method == "HEAD" && q.status == 200)
        .map(|q| q.path.rsplit('/').next().unwrap().to_string())
        .collect();
    assert_eq!(
        heads,
        ["new", "old-1", "old-2"]
            .iter()
            .map(|t| t.to_string())
            .collect::<BTreeSet<_>>()
    );
    assert_eq!(fake.pulls(), 0, "no manifest GET");
    // The wait outlived the JWT's renewal time: a new login before the next call, not a 401.
    let logins: Vec<&HubRequest> = log
        .iter()
        .filter(|q| q.path.ends_with("/v2/auth/token"))
        .collect();
    assert!(logins.len() >= 2, "{log:#?}");
    assert!(logins.last().unwrap().at >= until, "{log:#?}");
    assert!(log.iter().all(|q| q.status != 401), "{log:#?}");
}

#[test]
fn spent_rate_limit_waits_for_the_reset() {
    let fake = fake_hub();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let repo = format!("{USER}/api");
    for i in 1..=3 {
        seed_old(&fake, &repo, &[format!("old-{i}")], &format!("old {i}"), 10);
    }
    seed_old(&fake, &repo, &["new".to_string()], "new", 0);
    // Three Hub API requests per two-second window.
    fake.hub.configure(|c| {
        c.rate_limit = 3;
        c.rate_window = 2;
    });
    let images_repo = format!("{}/{USER}", fake.host());
    let base = [
        "cleanup",
        "-i",
        &images_repo,
        "--image",
        "api",
        "--keep-younger-than",
        "3d",
        "--grace",
        "0",
        "--concurrency",
        "1",
        "--output",
        "json",
    ];
    let run = run_with(&base, &hub_args(&fake), cwd);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(fake.tags(&repo), vec!["new".to_string()]);
    let log = fake.hub.requests();
    assert!(
        log.iter().all(|q| q.status != 429),
        "never over the limit: {log:#?}"
    );
    // After an answer that said nothing is left, the next request waits for the reset.
    for pair in log.windows(2) {
        if pair[0].remaining == 0 {
            let reset = SystemTime::UNIX_EPOCH + Duration::from_secs(pair[0].reset);
            assert!(pair[1].at >= reset, "{log:#?}");
        }
    }
    assert!(log.iter().any(|q| q.remaining == 0), "{log:#?}");
}

#[test]
fn deprecated_login_when_the_current_endpoint_is_missing() {
    let fake = fake_hub();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let repo = format!("{USER}/api");
    seed_old(&fake, &repo, &["old".to_string()], "old", 10);
    seed_old(&fake, &repo, &["new".to_string()], "new", 0);
    fake.hub.configure(|c| c.no_auth_token_endpoint = true);
    let images_repo = format!("{}/{USER}", fake.host());
    // The password comes from the registry credentials.
    let base = [
        "cleanup",
        "-i",
        &images_repo,
        "--image",
        "api",
        "--keep-younger-than",
        "3d",
        "--grace",
        "0",
    ];
    let run = run_with(&base, &hub_args(&fake), cwd);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(fake.tags(&repo), vec!["new".to_string()]);
    let log = fake.hub.requests();
    let logins: Vec<(String, u16)> = log
        .iter()
        .filter(|q| q.method == reqwest::Method::POST)
        .map(|q| (q.path.clone(), q.status))
        .collect();
    assert_eq!(
        logins,
        vec![
            ("/hub/v2/auth/token".to_string(), 404),
            ("/hub/v2/users/login".to_string(), 200)
        ]
    );
}

/// On Docker Hub, whose UI lists every tag and which has no referrers API, `--origin-records
/// auto` (the default) attaches no record and says why in one notice line; `on` attaches them as
/// the fallback tag.
#[test]
fn origin_records_auto_is_off_on_docker_hub() {
    let fake = fake_hub();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let hub = hub_args(&fake);
    let (layout, digest) = multiarch_layout(cwd, "rec");
    let images_repo = format!("{}/{USER}", fake.host());
    let image = format!("rec=oci:{}", layout.display());
    let base = [
        "publish",
        "-i",
        &images_repo,
        "--image",
        &image,
        "--tag-custom",
        "auto",
    ];
    let r = run_with(&base, &hub, cwd);
    assert_eq!(r.code, 0, "{r:?}");
    let notices: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("no origin records on Docker Hub"))
        .collect();
    assert_eq!(notices.len(), 1, "{}", r.stderr);
    assert!(notices[0].contains("--keep-last"), "{}", notices[0]);
    let tags = fake.tag_map(&format!("{USER}/rec"));
    assert_eq!(tags.get("auto"), Some(&digest));
    assert!(!tags.keys().any(|t| t.starts_with("sha256-")), "{tags:?}");

    let base = [
        "publish",
        "-i",
        &images_repo,
        "--image",
        &image,
        "--tag-custom",
        "on",
        "--origin-records",
        "on",
    ];
    let r = run_with(&base, &hub, cwd);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stderr.contains("no origin records"), "{}", r.stderr);
    assert!(
        fake.tag_map(&format!("{USER}/rec"))
            .contains_key(&fallback_tag(&digest))
    );
}

/// `--docker-hub-username` with `--docker-hub-token` (or `--docker-hub-password`) and no other
/// credentials logs in to the registry for publish too: the Hub account is the registry account.
#[test]
fn publish_with_only_docker_hub_credentials() {
    let fake = fake_hub();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let (layout, digest) = multiarch_layout(cwd, "solo");
    let images_repo = format!("{}/{USER}", fake.host());
    let image = format!("solo=oci:{}", layout.display());
    for (flag, secret, tag) in [
        ("--docker-hub-token", PAT, "by-token"),
        ("--docker-hub-password", PASSWORD, "by-password"),
    ] {
        let run = dockhand(
            &[
                "publish",
                "-i",
                &images_repo,
                "--image",
                &image,
                "--tag-custom",
                tag,
                "--implementation",
                "dockerhub",
                "--docker-hub-api-url",
                &fake.api_url(),
                "--docker-hub-username",
                USER,
                flag,
                secret,
            ],
            cwd,
        );
        assert_eq!(run.code, 0, "{flag}: {run:?}");
        assert_eq!(
            fake.tag_map(&format!("{USER}/solo")).get(tag),
            Some(&digest),
            "{flag}"
        );
        assert!(!run.stderr.contains(secret), "the secret is never printed");
    }
}
