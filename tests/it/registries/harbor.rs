//! Harbor end to end: the real dockhand binary against the Harbor fake (registry and REST API on
//! one loopback host): detection by probe, publish (project check), cleanup through the Harbor
//! API (listing, tag delete, artifact delete), nested repositories (double encoding), immutable
//! tags, permission errors, rate limits.

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dockhand::fixtures::{self, File, Image};
use dockhand::naming::slug::slug_tag;
use serde_json::Value;
use support::fake_harbor::{HarborFake, Role, User};
use support::fake_oci::{FaultRule, RetryAfter};

const ROBOT: &str = "robot$proj+ci";
const PASSWORD: &str = "s3cret";

// ---------------------------------------------------------------------------------------------
// Running dockhand

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

fn dockhand(args: &[&str], cwd: &Path) -> Run {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_dockhand"))
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", cwd)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn creds(user: &str, password: &str) -> Vec<String> {
    vec![
        "--registry-username".into(),
        user.into(),
        "--registry-password".into(),
        password.into(),
    ]
}

fn with<'a>(base: &[&'a str], extra: &'a [String]) -> Vec<&'a str> {
    base.iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Fixtures

fn image(content: &str, arch: &str) -> Image {
    Image {
        layers: vec![fixtures::tar(&[File {
            path: "app/id",
            content: content.as_bytes(),
        }])],
        created: "2024-05-01T12:00:00Z".into(),
        cmd: vec!["/app/id".into()],
        platform: ("linux".into(), arch.into()),
    }
}

fn layout(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join("layouts").join(name);
    let digest = fixtures::write_layout(&path, "latest", &image(name, "amd64")).unwrap();
    (path, digest)
}

fn multiarch_layout(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join("layouts").join(name);
    let digest = fixtures::write_multiarch_layout(
        &path,
        "latest",
        &[
            image(&format!("{name} x86"), "amd64"),
            image(&format!("{name} arm"), "arm64"),
        ],
    )
    .unwrap();
    (path, digest)
}

fn oci(p: &Path) -> String {
    format!("oci:{}", p.display())
}

fn git(repo: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=dockhand test",
            "-c",
            "user.email=test@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .arg("-C")
        .arg(repo)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", repo)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn git_repo(dir: &Path, branches: &[&str]) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["commit", "-q", "--allow-empty", "-m", "first"]);
    for b in branches {
        git(&repo, &["branch", b]);
    }
    git(&repo, &["commit", "-q", "--allow-empty", "-m", "second"]);
    repo
}

/// (repository, tag) → (action, result) of a cleanup document.
fn verdicts(doc: &Value) -> BTreeMap<(String, String), (String, String)> {
    doc["tags"]
        .as_array()
        .expect("tags[]")
        .iter()
        .map(|e| {
            (
                (
                    e["repository"].as_str().unwrap().to_string(),
                    e["tag"].as_str().unwrap().to_string(),
                ),
                (
                    e["action"].as_str().unwrap().to_string(),
                    e["result"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

fn entry<'a>(doc: &'a Value, repository: &str, tag: &str) -> &'a Value {
    let found: Vec<&Value> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["tag"] == tag && e["repository"] == repository)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one entry for {repository}:{tag} in {doc:#}"
    );
    found[0]
}

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
    let host = h.host();
    let images_repo = format!("{host}/proj");
    let login = creds(ROBOT, PASSWORD);

    // The seed example, auto mode (Harbor nests: multirepo), detected by the probe.
    let seeded = fixtures::seed_example(&cwd.join("images")).unwrap();
    let backend = format!("backend=oci:{}", cwd.join("images/backend").display());
    let frontend = format!("frontend=oci:{}", cwd.join("images/frontend").display());
    let r = dockhand(
        &with(
            &[
                "publish",
                "-i",
                &images_repo,
                "--image",
                &backend,
                "--image",
                &frontend,
                "--tag-custom",
                "tag",
            ],
            &login,
        ),
        cwd,
    )
    .ok();
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

    // The mixed plan.
    let repo = git_repo(cwd, &["feature/x", "feature/m", "feature/z"]);
    let (tag_x, tag_m, tag_z) = (
        slug_tag("feature/x"),
        slug_tag("feature/m"),
        slug_tag("feature/z"),
    );
    let publish = |name: &str, l: &Path, tags: &[&str]| {
        let image = format!("{name}={}", oci(l));
        let mut args = vec!["publish", "-i", &images_repo, "--image", &image];
        args.extend_from_slice(tags);
        dockhand(&with(&args, &login), cwd).ok();
    };
    // api: one digest, a stale branch tag and a kept custom tag.
    let (l, api_digest) = layout(cwd, "shared");
    publish(
        "api",
        &l,
        &["--tag-git-branch", "feature/x", "--tag-custom", "keepme"],
    );
    // app: a stale multi-arch index (two untagged children) with a cosign signature.
    let (l, index) = multiarch_layout(cwd, "app");
    publish("app", &l, &["--tag-git-branch", "feature/m"]);
    let children: Vec<String> = h.manifest("proj/app", &index).unwrap().children.clone();
    assert_eq!(children.len(), 2);
    let sig_tag = format!("{}.sig", index.replace(':', "-"));
    let sig = h.with_store(|s| {
        s.seed_image(
            "proj/app",
            Some(&sig_tag),
            &[b"cosign signature"],
            "2024-05-01T12:00:00Z",
        )
    });
    // web: on main, kept.
    let (l, web_digest) = layout(cwd, "web");
    publish("web", &l, &["--tag-git-branch", "main"]);
    // lib: stale but immutable.
    let (l, lib_digest) = layout(cwd, "lib");
    publish("lib", &l, &["--tag-git-branch", "feature/z"]);
    h.make_immutable("proj/lib", &tag_z);

    for b in ["feature/x", "feature/m", "feature/z"] {
        git(&repo, &["branch", "-D", b]);
    }
    h.clear_log();
    let git_dir = repo.to_str().unwrap();
    let r = dockhand(
        &with(
            &[
                "cleanup",
                "-i",
                &images_repo,
                "--image",
                "api",
                "--image",
                "app",
                "--image",
                "web",
                "--image",
                "lib",
                "--git-dir",
                git_dir,
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
    let repo_of = |n: &str| format!("{images_repo}/{n}");
    let v = verdicts(&doc);
    let want = |n: &str, t: &str, a: &str, res: &str| {
        assert_eq!(
            v.get(&(repo_of(n), t.to_string())),
            Some(&(a.to_string(), res.to_string())),
            "{n}:{t} in {doc:#}"
        );
    };
    want("api", &tag_x, "delete", "deleted");
    want("api", "keepme", "keep", "kept");
    want("app", &tag_m, "delete", "deleted");
    want("app", &sig_tag, "delete", "deleted");
    want("web", "main", "keep", "kept");
    want("lib", &tag_z, "delete", "kept");
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
    let repo = git_repo(cwd, &["feature/n"]);
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
    let repo = git_repo(cwd, &["feature/p"]);
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
    let repo = git_repo(cwd, &["feature/r"]);
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
