//! Harbor end to end: the real dockhand binary against the Harbor fake (registry and REST API on
//! one loopback host): detection by probe, publish (project check), cleanup through the Harbor
//! API (listing, tag delete, artifact delete), nested repositories (double encoding), immutable
//! tags, permission errors, rate limits.

use crate::support;
use crate::support::layouts::{git, git_repo_main_ahead, layout, oci};
use crate::support::mixed_plan::{MixedPlan, Session};
use crate::support::report::entry_in as entry;
use crate::support::run::{creds, dockhand, with};

use dockhand::naming::slug::slug_tag;
use support::fake_harbor::{HarborFake, Role, User};
use support::fake_oci::{FaultRule, RetryAfter};

const ROBOT: &str = "robot$proj+ci";
const PASSWORD: &str = "s3cret";

// ---------------------------------------------------------------------------------------------
// Fixtures

fn harbor() -> HarborFake {
    HarborFake::start(
        &["proj"],
        vec![
            User::new(ROBOT, PASSWORD, Role::Maintainer),
            User::new("robot$proj+push", "pw", Role::Developer),
        ],
    )
}

fn count(lines: &[String], pred: impl Fn(&str) -> bool) -> usize {
    lines.iter().filter(|l| pred(l)).count()
}

// ---------------------------------------------------------------------------------------------
// Publish + mixed cleanup, detection by probe

#[test]
fn publish_and_mixed_cleanup_through_the_harbor_api() {
    let h = harbor();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let session = Session {
        cwd,
        images_repo: format!("{}/proj", h.host()),
        login: creds(ROBOT, PASSWORD),
    };
    let images_repo = session.images_repo.clone();

    // The seed example, auto mode (Harbor nests: multirepo), detected by the probe.
    let (seeded, r) = session.publish_seed_example();
    for (name, digest) in &seeded {
        assert_eq!(
            h.tag_map(&format!("proj/{name}")).get("tag"),
            Some(digest),
            "{}",
            r.stderr
        );
    }
    let api = h.api_requests();
    assert!(
        api.iter().any(|l| l == "GET /api/v2.0/systeminfo"),
        "detected by the systeminfo probe: {api:?}"
    );
    assert_eq!(
        count(&api, |l| l.starts_with("GET /api/v2.0/projects/proj")
            && !l.contains("repositories")),
        1,
        "the project is checked once: {api:?}"
    );

    // The mixed plan; lib's stale tag is immutable.
    let plan = MixedPlan::publish(&session, &h, "proj", &[]);
    h.make_immutable("proj/lib", &plan.tag_z);
    plan.delete_branches();
    h.clear_log();
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
    let reason = entry(&doc, &repo_of("lib"), &tag_z)["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("immutab"),
        "kept with Harbor's reason: {reason}"
    );
    assert_eq!(doc["summary"]["failed"], 0, "{doc:#}");

    // Exactly the planned state.
    assert_eq!(h.tags("proj/api"), vec!["keepme"]);
    assert_eq!(h.tag_map("proj/api")["keepme"], api_digest);
    assert!(h.tags("proj/app").is_empty(), "{:?}", h.tags("proj/app"));
    for d in children.iter().chain([&index, &sig]) {
        assert!(h.manifest("proj/app", d).is_none(), "{d} is gone");
    }
    assert!(
        h.manifest_digests("proj/app").is_empty(),
        "nothing left in proj/app: {:?}",
        h.manifest_digests("proj/app")
    );
    assert_eq!(h.tag_map("proj/web")["main"], web_digest);
    assert_eq!(h.tag_map("proj/lib")[&tag_z], lib_digest);
    for (name, digest) in &seeded {
        assert_eq!(h.tag_map(&format!("proj/{name}")).get("tag"), Some(digest));
    }

    // Through Harbor's own API, counted.
    let api = h.api_requests();
    let lists = count(&api, |l| l.starts_with("GET ") && l.contains("/artifacts?"));
    // One artifact listing per repository, and one before and one after the deletions in each
    // of the three with deletions (docs/cleanup-safety.md).
    assert_eq!(lists, 4 + 2 * 3, "artifact listings: {api:?}");
    assert_eq!(
        count(&api, |l| l
            == format!(
                "DELETE /api/v2.0/projects/proj/repositories/api/artifacts/{tag_x}/tags/{tag_x}"
            )),
        1,
        "{api:?}"
    );
    assert_eq!(
        count(&api, |l| l
            == format!(
                "DELETE /api/v2.0/projects/proj/repositories/app/artifacts/{index}"
            )),
        1,
        "{api:?}"
    );
    assert_eq!(
        count(&api, |l| l
            == format!(
                "DELETE /api/v2.0/projects/proj/repositories/app/artifacts/{sig}"
            )),
        1,
        "{api:?}"
    );
    assert_eq!(
        count(&api, |l| l
            == format!(
                "DELETE /api/v2.0/projects/proj/repositories/lib/artifacts/{lib_digest}"
            )),
        1,
        "the immutable one is asked once and refused: {api:?}"
    );
    assert_eq!(
        count(&api, |l| l
            .contains("/api/v2.0/projects/proj/repositories/web")
            && l.starts_with("DELETE")),
        0
    );
    let registry: Vec<String> = h
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/v2/"))
        .map(|r| r.line())
        .collect();
    assert_eq!(
        count(&registry, |l| l.starts_with("DELETE")),
        0,
        "no registry deletes (tag DELETE is 405 on Harbor): {registry:?}"
    );
    assert_eq!(
        count(&registry, |l| l.contains("/manifests/")
            && !l.contains("/manifests/sha256:")),
        0,
        "no per-tag manifest reads: the listing gives digests: {registry:?}"
    );
    // No session cookies, ever.
    assert!(h.requests().iter().all(|r| r.header("cookie").is_none()));
}

// ---------------------------------------------------------------------------------------------
// Nested repositories: `{r}` URL-encoded twice

#[test]
fn nested_repository_is_encoded_twice() {
    let h = harbor();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let images_repo = format!("{}/proj/team", h.host());
    // The Harbor options alone: the robot is the registry login too.
    let login: Vec<String> = ["--harbor-username", ROBOT, "--harbor-password", PASSWORD]
        .map(String::from)
        .to_vec();
    let repo = git_repo_main_ahead(cwd, &["feature/n"]);
    let (l, digest) = layout(cwd, "nested");
    let image = format!("app={}", oci(&l));
    dockhand(
        &with(
            &[
                "publish",
                "-i",
                &images_repo,
                "--implementation",
                "harbor",
                "--image",
                &image,
                "--tag-git-branch",
                "feature/n",
                "--tag-custom",
                "stay",
            ],
            &login,
        ),
        cwd,
    )
    .ok();
    assert_eq!(
        h.tags("proj/team/app"),
        vec![slug_tag("feature/n"), "stay".into()]
    );

    // The fake itself: single encoding is a 404, double encoding the repository.
    let base = format!("{}/api/v2.0/projects/proj/repositories", h.url());
    let get = |path: &str| {
        let url = format!("{base}/{path}/artifacts");
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                reqwest::Client::builder()
                    .no_proxy()
                    .build()
                    .unwrap()
                    .get(&url)
                    .basic_auth(ROBOT, Some(PASSWORD))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .join()
        .unwrap()
    };
    assert_eq!(get("team%252Fapp"), 200);
    assert_eq!(get("team%2Fapp"), 404);
    assert_eq!(get("team/app"), 404);

    git(&repo, &["branch", "-D", "feature/n"]);
    h.clear_log();
    let r = dockhand(
        &with(
            &[
                "cleanup",
                "-i",
                &images_repo,
                "--implementation",
                "harbor",
                "--image",
                "app",
                "--git-dir",
                repo.to_str().unwrap(),
                "--git-refs",
                "local",
                "--grace",
                "0",
                "--output",
                "json",
            ],
            &login,
        ),
        cwd,
    )
    .ok();
    let doc = r.json();
    assert_eq!(
        entry(&doc, &format!("{images_repo}/app"), &slug_tag("feature/n"))["result"],
        "deleted",
        "{doc:#}"
    );
    assert_eq!(h.tags("proj/team/app"), vec!["stay"]);
    assert_eq!(h.tag_map("proj/team/app")["stay"], digest);
    let api = h.api_requests();
    assert!(
        api.iter()
            .any(|l| l
                .starts_with("GET /api/v2.0/projects/proj/repositories/team%252Fapp/artifacts?")),
        "{api:?}"
    );
    assert!(
        api.iter().any(|l| l
            == &format!(
                "DELETE /api/v2.0/projects/proj/repositories/team%252Fapp/artifacts/{t}/tags/{t}",
                t = slug_tag("feature/n")
            )),
        "{api:?}"
    );
    assert!(
        api.iter()
            .all(|l| !l.contains("team%2Fapp") && !l.contains("repositories/team/")),
        "never single-encoded or raw: {api:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Refusals

#[test]
fn missing_project_is_exit_2_before_any_push() {
    let h = harbor();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let (l, _) = layout(cwd, "x");
    let image = format!("app={}", oci(&l));
    let login = creds(ROBOT, PASSWORD);
    let r = dockhand(
        &with(
            &[
                "publish",
                "-i",
                &format!("{}/nosuch", h.host()),
                "--implementation",
                "harbor",
                "--image",
                &image,
                "--tag-custom",
                "v1",
            ],
            &login,
        ),
        cwd,
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("project \"nosuch\" does not exist"),
        "{}",
        r.stderr
    );
    let pushes = h
        .requests()
        .iter()
        .filter(|q| q.path.starts_with("/v2/") && (q.method == "PUT" || q.method == "POST"))
        .count();
    assert_eq!(pushes, 0, "nothing pushed");
}

#[test]
fn permission_errors_exit_3_naming_the_permission() {
    let h = harbor();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let images_repo = format!("{}/proj", h.host());
    let repo = git_repo_main_ahead(cwd, &["feature/p"]);
    let (l, digest) = layout(cwd, "p");
    let image = format!("app={}", oci(&l));
    // A robot that may push but not delete.
    let pusher = creds("robot$proj+push", "pw");
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
            ],
            &pusher,
        ),
        cwd,
    )
    .ok();
    git(&repo, &["branch", "-D", "feature/p"]);
    let cleanup = |login: &[String]| {
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
    };
    let r = cleanup(&pusher);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("delete artifact"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    assert_eq!(h.tag_map("proj/app")[&slug_tag("feature/p")], digest);

    // Wrong password: the listing is refused with 401.
    let r = cleanup(&creds(ROBOT, "wrong"));
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("HTTP 401"), "{}", r.stderr);

    // The Harbor options win over the registry credentials for the API.
    let mut both = creds("robot$proj+push", "pw");
    both.extend([
        "--harbor-username".into(),
        ROBOT.into(),
        "--harbor-password".into(),
        PASSWORD.into(),
    ]);
    let r = cleanup(&both);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(h.tags("proj/app").is_empty());
}

#[test]
fn rate_limits_are_waited_out() {
    let h = harbor();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let images_repo = format!("{}/proj", h.host());
    let repo = git_repo_main_ahead(cwd, &["feature/r"]);
    let (l, _) = layout(cwd, "r");
    let image = format!("app={}", oci(&l));
    let login = creds(ROBOT, PASSWORD);
    dockhand(
        &with(
            &[
                "publish",
                "-i",
                &images_repo,
                "--image",
                &image,
                "--tag-git-branch",
                "feature/r",
            ],
            &login,
        ),
        cwd,
    )
    .ok();
    git(&repo, &["branch", "-D", "feature/r"]);
    h.clear_log();
    h.fail_next(FaultRule::too_many(
        "/api/v2.0/projects/proj/repositories/app/artifacts",
        2,
        RetryAfter::Seconds(1),
    ));
    let started = std::time::Instant::now();
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
            &login,
        ),
        cwd,
    )
    .ok();
    assert!(started.elapsed() >= std::time::Duration::from_secs(2));
    let limited = h.requests().iter().filter(|r| r.status == 429).count();
    assert_eq!(limited, 2);
    assert!(h.tags("proj/app").is_empty());
}

// ---------------------------------------------------------------------------------------------
// dockhand detect

#[test]
fn detect_harbor_by_probe_and_its_layouts() {
    let h = harbor();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let host = h.host();
    let detect = |args: &[&str]| {
        let mut all = vec!["detect", "--output", "json"];
        all.extend_from_slice(args);
        dockhand(&all, cwd)
    };
    let doc = detect(&["-i", &format!("{host}/proj/team"), "--image", "app"])
        .ok()
        .json();
    assert_eq!(doc["implementation"], "harbor", "{doc:#}");
    assert_eq!(doc["detection"]["source"], "probe", "{doc:#}");
    assert_eq!(doc["mode"], "multirepo", "{doc:#}");
    assert_eq!(
        doc["images"][0]["repository"],
        format!("{host}/proj/team/app")
    );
    // The probe is anonymous: /v2/ then systeminfo, no credentials sent.
    let probes: Vec<_> = h
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v2.0/systeminfo")
        .collect();
    assert_eq!(probes.len(), 1);
    assert!(!probes[0].has_auth());

    // No probe: the generic registry.
    let doc = detect(&[
        "-i",
        &format!("{host}/proj"),
        "--image",
        "app",
        "--no-probe",
    ])
    .ok()
    .json();
    assert_eq!(doc["implementation"], "default", "{doc:#}");

    // A bare registry cannot hold a Harbor image: the project is missing.
    let r = detect(&["-i", &host, "--image", "app"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

// ---------------------------------------------------------------------------------------------
// Paging

#[test]
fn artifact_listing_follows_harbor_paging() {
    let h = harbor();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    for i in 0..130 {
        h.with_store(|s| {
            s.seed_image(
                "proj/many",
                Some(&format!("t{i:03}")),
                &[format!("layer {i}").as_bytes()],
                "2024-05-01T12:00:00Z",
            )
        });
    }
    let login = creds(ROBOT, PASSWORD);
    let r = dockhand(
        &with(
            &[
                "cleanup",
                "-i",
                &format!("{}/proj", h.host()),
                "--image",
                "many",
                "--git-refs",
                "none",
                "--dry-run",
                "--output",
                "json",
            ],
            &login,
        ),
        cwd,
    )
    .ok();
    let doc = r.json();
    assert_eq!(doc["tags"].as_array().unwrap().len(), 130, "{doc:#}");
    let lists: Vec<String> = h
        .api_requests()
        .into_iter()
        .filter(|l| l.contains("/repositories/many/artifacts"))
        .collect();
    assert_eq!(
        lists.len(),
        2,
        "100 per page, the second from Link: {lists:?}"
    );
    assert!(lists[1].contains("page=2"), "{lists:?}");
    // A dry run deletes nothing and reads no manifest by tag.
    assert_eq!(h.tags("proj/many").len(), 130);
    assert!(
        h.requests()
            .iter()
            .all(|r| r.method != "DELETE" && !(r.path.contains("/manifests/t")))
    );
}
