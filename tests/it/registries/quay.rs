//! Quay end to end: the real dockhand binary against the Quay fake (registry and REST API on one
//! loopback host): detection by probe and Quay's layouts (no nesting), publish with an OAuth
//! token or a robot, cleanup through the Quay API (active-tag listing, tag delete) and the
//! registry (digest delete), immutable and expired tags, permission errors, rate limits.

use crate::support;
use crate::support::layouts::{git, git_repo_main_ahead, layout, oci};
use crate::support::mixed_plan::{MixedPlan, Session};
use crate::support::report::{entry_in as entry, verdicts_by_repository as verdicts};
use crate::support::run::{Run, creds, dockhand, with};

use std::path::{Path, PathBuf};

use dockhand::naming::slug::slug_tag;
use serde_json::Value;
use support::fake_oci::{FaultRule, RetryAfter};
use support::fake_quay::{QuayFake, Robot, Token};

const TOKEN: &str = "oauth-rw-token";
const READ_TOKEN: &str = "oauth-ro-token";
const ROBOT: &str = "acme+ci";
const ROBOT_TOKEN: &str = "robot-secret";

// ---------------------------------------------------------------------------------------------
// Fixtures

fn quay() -> QuayFake {
    QuayFake::start(
        "acme",
        vec![
            Token {
                token: TOKEN.into(),
                scopes: vec!["repo:read", "repo:write"],
            },
            Token {
                token: READ_TOKEN.into(),
                scopes: vec!["repo:read"],
            },
        ],
        vec![Robot {
            name: ROBOT.into(),
            token: ROBOT_TOKEN.into(),
        }],
    )
}

fn count(lines: &[String], pred: impl Fn(&str) -> bool) -> usize {
    lines.iter().filter(|l| pred(l)).count()
}

fn token(t: &str) -> Vec<String> {
    vec!["--quay-token".into(), t.into()]
}

// ---------------------------------------------------------------------------------------------
// Publish + mixed cleanup, detection by probe

#[test]
fn publish_and_mixed_cleanup_through_the_quay_api() {
    let q = quay();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    // The robot logs in to the registry; the OAuth token is for the API.
    let mut login = creds(ROBOT, ROBOT_TOKEN);
    login.extend(token(TOKEN));
    let session = Session {
        cwd,
        images_repo: format!("{}/acme", q.host()),
        login,
    };
    let images_repo = session.images_repo.clone();

    // The seed example: `acme` is a namespace, so auto mode is multirepo.
    let (seeded, r) = session.publish_seed_example();
    for (name, digest) in &seeded {
        assert_eq!(
            q.tag_map(&format!("acme/{name}")).get("tag"),
            Some(digest),
            "{}",
            r.stderr
        );
    }
    assert!(
        q.api_requests()
            .iter()
            .any(|l| l == "GET /api/v1/discovery"),
        "detected by the discovery probe: {:?}",
        q.api_requests()
    );

    // The mixed plan; lib's stale tag is immutable, and web's extra tag expired.
    let plan = MixedPlan::publish(&session, &q, "acme", &["--tag-custom", "old"]);
    // An expired tag is not a tag any more: never listed, never judged.
    q.expire("acme/web", "old");
    q.make_immutable("acme/lib", &plan.tag_z);
    plan.delete_branches();
    q.clear_log();
    let doc = plan.cleanup(&session);
    plan.assert_verdicts(&doc, &images_repo);
    let MixedPlan {
        tag_x,
        tag_z,
        api_digest,
        index,
        children,
        sig,
        web_digest,
        lib_digest,
        ..
    } = plan;
    let repo_of = |n: &str| format!("{images_repo}/{n}");
    let v = verdicts(&doc);
    assert!(
        !v.contains_key(&(repo_of("web"), "old".to_string())),
        "{doc:#}"
    );
    let reason = entry(&doc, &repo_of("lib"), &tag_z)["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("immutable"), "{reason}");
    assert_eq!(doc["summary"]["failed"], 0, "{doc:#}");

    // Exactly the planned state (origin records live under sha256-… tags: no referrers API).
    let image_tags = |r: &str| -> Vec<String> {
        q.tags(r)
            .into_iter()
            .filter(|t| !t.starts_with("sha256-"))
            .collect()
    };
    assert_eq!(image_tags("acme/api"), vec!["keepme"]);
    assert_eq!(q.tag_map("acme/api")["keepme"], api_digest);
    assert!(q.tags("acme/app").is_empty(), "{:?}", q.tags("acme/app"));
    for d in children.iter().chain([&index, &sig]) {
        assert!(q.manifest("acme/app", d).is_none(), "{d} is gone");
    }
    assert_eq!(image_tags("acme/web"), vec!["main"]);
    assert_eq!(q.tag_map("acme/web")["main"], web_digest);
    assert_eq!(q.tag_map("acme/lib")[&tag_z], lib_digest);
    assert!(
        q.tags("acme/lib").iter().any(|t| t.starts_with("sha256-")),
        "the kept image keeps its origin record"
    );

    // Counted: one listing per repository, active tags only; the untag through the API; whole
    // digests through the registry, one DELETE each.
    let api = q.api_requests();
    let lists: Vec<&String> = api
        .iter()
        .filter(|l| l.starts_with("GET /api/v1/repository/"))
        .collect();
    // ... and one before and one after the deletions in each of the three repositories with
    // deletions (docs/cleanup-safety.md).
    assert_eq!(lists.len(), 4 + 2 * 3, "{api:?}");
    assert!(
        lists
            .iter()
            .all(|l| l.contains("onlyActiveTags=true") && l.contains("limit=100")),
        "{api:?}"
    );
    assert_eq!(
        api.iter()
            .filter(|l| l.starts_with("DELETE"))
            .cloned()
            .collect::<Vec<_>>(),
        vec![format!("DELETE /api/v1/repository/acme/api/tag/{tag_x}")]
    );
    let registry: Vec<String> = q
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/v2/") && r.path != "/v2/auth")
        .map(|r| format!("{} {}", r.line(), r.status))
        .collect();
    assert_eq!(
        count(&registry, |l| l
            == format!("DELETE /v2/acme/app/manifests/{index} 202")),
        1,
        "{registry:?}"
    );
    assert_eq!(
        count(&registry, |l| l
            == format!("DELETE /v2/acme/lib/manifests/{lib_digest} 409")),
        1,
        "{registry:?}"
    );
    assert_eq!(
        count(&registry, |l| l.starts_with("DELETE")
            && !l.contains("/manifests/sha256:")),
        0,
        "no registry tag deletes: {registry:?}"
    );
    assert_eq!(
        count(&registry, |l| l.starts_with("DELETE /v2/acme/web")),
        0,
        "{registry:?}"
    );
    assert_eq!(
        count(&registry, |l| l.contains("/tags/list")),
        0,
        "the Quay API lists the tags: {registry:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The fake's own behaviour that the client relies on

#[test]
fn history_paging_and_expired_tags_in_the_fake() {
    let q = quay();
    for i in 0..120 {
        q.with_store(|s| {
            s.seed_image(
                "acme/many",
                Some(&format!("t{i:03}")),
                &[format!("layer {i}").as_bytes()],
                "2024-05-01T12:00:00Z",
            )
        });
    }
    q.expire("acme/many", "t000");
    let get = |path: &str, bearer: &str| -> (u16, Value) {
        let url = format!("{}{path}", q.url());
        let bearer = bearer.to_string();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let r = reqwest::Client::builder()
                    .no_proxy()
                    .build()
                    .unwrap()
                    .get(&url)
                    .bearer_auth(bearer)
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
            })
        })
        .join()
        .unwrap()
    };
    let base = "/api/v1/repository/acme/many/tag/";
    let (s, p1) = get(
        &format!("{base}?onlyActiveTags=true&limit=100&page=1"),
        TOKEN,
    );
    assert_eq!(s, 200);
    assert_eq!(p1["tags"].as_array().unwrap().len(), 100);
    assert_eq!(p1["has_additional"], true);
    let (_, p2) = get(
        &format!("{base}?onlyActiveTags=true&limit=100&page=2"),
        TOKEN,
    );
    assert_eq!(p2["tags"].as_array().unwrap().len(), 19);
    assert_eq!(p2["has_additional"], false);
    // Without onlyActiveTags: the history, the expired entry included.
    let (_, all) = get(&format!("{base}?limit=100&page=2"), TOKEN);
    assert_eq!(all["tags"].as_array().unwrap().len(), 20);
    assert!(
        all["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "t000" && t["end_ts"].is_i64())
    );
    assert_eq!(get(&format!("{base}?limit=101"), TOKEN).0, 400);
    // Robot tokens are registry-only; no token is 401.
    assert_eq!(get(base, ROBOT_TOKEN).0, 401);
    assert_eq!(get(base, "").0, 401);
    // Discovery is anonymous.
    let (s, d) = get("/api/v1/discovery", "");
    assert_eq!(
        (s, d["info"]["title"].as_str()),
        (200, Some("Quay Frontend"))
    );
}

// ---------------------------------------------------------------------------------------------
// Without a token; refusals; rate limits

fn stale_setup(q: &QuayFake, cwd: &Path, login: &[String]) -> (PathBuf, String) {
    let images_repo = format!("{}/acme", q.host());
    let repo = git_repo_main_ahead(cwd, &["feature/p"]);
    let (l, digest) = layout(cwd, "p");
    let image = format!("app={}", oci(&l));
    dockhand(
        &with(
            &[
                "publish",
                "-i",
                &images_repo,
                "--image",
                &image,
                "--tag-git-branch",
                "feature/p",
                "--tag-custom",
                "stay",
            ],
            login,
        ),
        cwd,
    )
    .ok();
    git(&repo, &["branch", "-D", "feature/p"]);
    (repo, digest)
}

fn cleanup_app(q: &QuayFake, cwd: &Path, repo: &Path, login: &[String]) -> Run {
    let images_repo = format!("{}/acme", q.host());
    dockhand(
        &with(
            &[
                "cleanup",
                "-i",
                &images_repo,
                "--image",
                "app",
                "--git-dir",
                repo.to_str().unwrap(),
                "--git-refs",
                "local",
                "--grace",
                "0",
            ],
            login,
        ),
        cwd,
    )
}

#[test]
fn token_alone_logs_in_and_permission_errors_exit_3() {
    let q = quay();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    // The OAuth token alone: the registry login is `$oauthtoken`.
    let (repo, digest) = stale_setup(&q, cwd, &token(TOKEN));
    let tag_p = slug_tag("feature/p");
    assert_eq!(q.tag_map("acme/app")[&tag_p], digest);

    // A read-only token: listing works, the tag delete is refused → exit 3 naming repo:write.
    let r = cleanup_app(&q, cwd, &repo, &token(READ_TOKEN));
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("repo:write"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    assert!(q.tags("acme/app").contains(&tag_p));

    // A robot token given as --quay-token: the API refuses it → exit 3 naming the token type.
    let mut robot = creds(ROBOT, ROBOT_TOKEN);
    robot.extend(token(ROBOT_TOKEN));
    let r = cleanup_app(&q, cwd, &repo, &robot);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("OAuth application token"), "{}", r.stderr);

    // A 429 on the API is waited out.
    q.clear_log();
    q.fail_next(FaultRule::too_many(
        "/api/v1/repository/acme/app/tag/",
        2,
        RetryAfter::Seconds(1),
    ));
    let started = std::time::Instant::now();
    cleanup_app(&q, cwd, &repo, &token(TOKEN)).ok();
    assert!(started.elapsed() >= std::time::Duration::from_secs(2));
    assert_eq!(q.requests().iter().filter(|r| r.status == 429).count(), 2);
    assert!(!q.tags("acme/app").contains(&tag_p));
    assert!(q.tags("acme/app").contains(&"stay".to_string()));
    assert_eq!(
        count(&q.api_requests(), |l| l
            == format!("DELETE /api/v1/repository/acme/app/tag/{tag_p}")),
        1
    );
}

#[test]
fn without_a_token_the_registry_alone_cleans_up() {
    let q = quay();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let robot = creds(ROBOT, ROBOT_TOKEN);
    let (repo, digest) = stale_setup(&q, cwd, &robot);
    q.clear_log();
    cleanup_app(&q, cwd, &repo, &robot).ok();
    let tag_p = slug_tag("feature/p");
    assert!(!q.tags("acme/app").contains(&tag_p));
    assert_eq!(q.tag_map("acme/app")["stay"], digest);
    let api = q.api_requests();
    assert!(
        api.iter().all(|l| l == "GET /api/v1/discovery"),
        "only the anonymous probe touches the API: {api:?}"
    );
    // The registry tag DELETE, with the push scope Quay checks.
    assert_eq!(
        q.requests_matching("DELETE", &format!("/v2/acme/app/manifests/{tag_p}"))
            .iter()
            .filter(|r| r.status == 202)
            .count(),
        1
    );
}

// ---------------------------------------------------------------------------------------------
// dockhand detect: probe, no nesting

#[test]
fn detect_quay_by_probe_and_its_layouts() {
    let q = quay();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let host = q.host();
    let detect = |args: &[&str]| {
        let mut all = vec!["detect", "--output", "json"];
        all.extend_from_slice(args);
        dockhand(&all, cwd)
    };
    // A namespace: one repository per image.
    let doc = detect(&["-i", &format!("{host}/acme"), "--image", "backend"])
        .ok()
        .json();
    assert_eq!(doc["implementation"], "quay", "{doc:#}");
    assert_eq!(doc["detection"]["source"], "probe", "{doc:#}");
    assert_eq!(doc["mode"], "multirepo", "{doc:#}");
    assert_eq!(
        doc["images"][0]["repository"],
        format!("{host}/acme/backend")
    );
    // A repository: images share it.
    let doc = detect(&[
        "-i",
        &format!("{host}/acme/app"),
        "--image",
        "backend",
        "--image",
        "frontend",
        "--tag-custom",
        "tag",
    ])
    .ok()
    .json();
    assert_eq!(doc["mode"], "monorepo", "{doc:#}");
    assert_eq!(
        doc["images"][1]["references"][0],
        format!("{host}/acme/app:frontend-tag")
    );
    // Nesting is refused before anything is sent to the registry.
    let r = detect(&[
        "-i",
        &format!("{host}/acme/app"),
        "--image",
        "backend",
        "--images-repo-mode",
        "multirepo",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("monorepo"), "{}", r.stderr);
    // The probe was anonymous.
    let probes: Vec<_> = q
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/discovery")
        .collect();
    assert!(!probes.is_empty());
    assert!(probes.iter().all(|p| !p.has_auth()));
}

// ---------------------------------------------------------------------------------------------
// Paging

#[test]
fn tag_listing_follows_quay_paging() {
    let q = quay();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    for i in 0..130 {
        q.with_store(|s| {
            s.seed_image(
                "acme/many",
                Some(&format!("t{i:03}")),
                &[format!("layer {i}").as_bytes()],
                "2024-05-01T12:00:00Z",
            )
        });
    }
    let r = dockhand(
        &with(
            &[
                "cleanup",
                "-i",
                &format!("{}/acme", q.host()),
                "--image",
                "many",
                "--git-refs",
                "none",
                "--dry-run",
                "--output",
                "json",
            ],
            &token(TOKEN),
        ),
        cwd,
    )
    .ok();
    let doc = r.json();
    assert_eq!(doc["tags"].as_array().unwrap().len(), 130, "{doc:#}");
    let lists: Vec<String> = q
        .api_requests()
        .into_iter()
        .filter(|l| l.contains("/repository/acme/many/tag/"))
        .collect();
    assert_eq!(
        lists.len(),
        2,
        "100 per page while has_additional: {lists:?}"
    );
    assert!(lists[1].contains("page=2"), "{lists:?}");
    assert_eq!(q.tags("acme/many").len(), 130);
}
