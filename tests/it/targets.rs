//! Several targets in one run (`targets:` / repeatable `--images-repo`): the seed example published
//! to two real `docker-registry` servers and the ghcr fake at once. Checked: the tags each registry
//! has afterwards, each blob read from the source once (the run's `transfer` figures) and uploaded
//! once per registry (counted at each), and the exit codes when one or every target refuses the
//! credentials.

use crate::support;
use crate::support::run::{Run, dockhand_env};

use std::collections::BTreeMap;

use reqwest::Method;
use support::fake_github::{GhState, Ghcr};
use support::*;

const TOKEN: &str = "ghp_faketoken0123456789";

fn ghcr() -> Ghcr {
    let mut st = GhState::default();
    st.token = TOKEN.into();
    st.me = Some("octo".into());
    st.accounts.insert("acme".into(), "Organization");
    st.accounts.insert("octo".into(), "User");
    Ghcr::start(st)
}

/// Blob digest → uploads finished (the closing `PUT …?digest=`), from request paths.
fn uploads<'a>(paths: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for p in paths {
        if let Some(d) = p.split("digest=").nth(1) {
            let d = d.split('&').next().unwrap_or(d).replace("%3A", ":");
            *out.entry(d).or_default() += 1;
        }
    }
    out
}

/// Tags of `repo` as a client with `login` sees them.
fn tags(base: &str, repo: &str, login: Option<(&str, &str)>) -> Vec<String> {
    let url = format!("{base}/v2/{repo}/tags/list");
    let login = login.map(|(u, p)| (u.to_string(), p.to_string()));
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut req = reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap()
                .get(&url);
            if let Some((u, p)) = login {
                req = req.basic_auth(u, Some(p));
            }
            let resp = req.send().await.unwrap();
            if resp.status() == 404 {
                return Vec::new();
            }
            let doc: serde_json::Value = resp.json().await.unwrap();
            let mut t: Vec<String> = doc["tags"]
                .as_array()
                .map(|a| a.iter().map(|t| t.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            t.retain(|t| !t.starts_with("sha256-"));
            t.sort();
            t
        })
    })
    .join()
    .unwrap()
}

/// The ghcr fake's tags of `repo`, origin-record fallback tags (`sha256-…`) left out.
fn image_tags(g: &Ghcr, repo: &str) -> Vec<String> {
    let mut t = g.registry.tags(repo);
    t.retain(|t| !t.starts_with("sha256-"));
    t.sort();
    t
}

struct Scene {
    a: RegistryServer,
    proxy_a: FaultProxy,
    b: RegistryServer,
    proxy_b: FaultProxy,
    g: Ghcr,
    dir: tempfile::TempDir,
}

impl Scene {
    fn start() -> Scene {
        let a = RegistryServer::anonymous();
        let proxy_a = FaultProxy::start(&a.url());
        let b = RegistryServer::start(RegistryOptions {
            auth: RegistryAuth::Htpasswd(vec![("ci", "right")]),
            ..Default::default()
        });
        let proxy_b = FaultProxy::start(&b.url());
        let g = ghcr();
        let dir = tempfile::tempdir().unwrap();
        dockhand::fixtures::seed_example(&dir.path().join("images")).unwrap();
        let config = format!(
            "project: demo\nconfigVersion: 1\ntargets:\n\
             - images_repo: {}/demo\n\
             - images_repo: {}/demo\n  username_env: B_USER\n  password_env: B_PASS\n  cleanup:\n    keep_last: 1\n\
             - images_repo: {}/acme\n  implementation: github\n\
             ---\nimage: backend\nsource: oci:images/backend\n\
             ---\nimage: frontend\nsource: oci:images/frontend\n",
            proxy_a.host(),
            proxy_b.host(),
            g.registry.host()
        );
        std::fs::write(dir.path().join("dockhand.yaml"), config).unwrap();
        Scene {
            a,
            proxy_a,
            b,
            proxy_b,
            g,
            dir,
        }
    }

    fn run(&self, args: &[&str], b_pass: &str, token: &str) -> Run {
        self.run_with(args, b_pass, token, &[])
    }

    fn run_with(&self, args: &[&str], b_pass: &str, token: &str, extra: &[(&str, &str)]) -> Run {
        let api = self.g.api.url();
        let mut env = vec![
            ("B_USER", "ci"),
            ("B_PASS", b_pass),
            ("GITHUB_TOKEN", token),
            ("GITHUB_API_URL", api.as_str()),
        ];
        env.extend_from_slice(extra);
        dockhand_env(args, self.dir.path(), &env)
    }
}

#[test]
fn publishes_the_seed_example_to_every_target_reading_each_blob_once() {
    let s = Scene::start();
    let r = s.run(
        &["publish", "--tag-custom", "v1", "--output", "json"],
        "right",
        TOKEN,
    );
    assert_eq!(r.code, 0, "{r}");
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();

    // Every registry has both images under the tag.
    for image in ["backend", "frontend"] {
        let repo = format!("demo/{image}");
        assert_eq!(tags(&s.a.url(), &repo, None), ["v1"], "{image}");
        assert_eq!(tags(&s.b.url(), &repo, Some(("ci", "right"))), ["v1"]);
        assert_eq!(image_tags(&s.g, &format!("acme/{image}")), ["v1"]);
    }
    // The report: one entry per (image, target) and a part per target, in the order given.
    assert_eq!(doc["images"].as_array().unwrap().len(), 6, "{doc}");
    let targets = doc["targets"].as_array().unwrap();
    let repos: Vec<&str> = targets
        .iter()
        .map(|t| t["images_repo"].as_str().unwrap())
        .collect();
    assert_eq!(
        repos,
        [
            format!("{}/demo", s.proxy_a.host()),
            format!("{}/demo", s.proxy_b.host()),
            format!("{}/acme", s.g.registry.host())
        ]
    );
    assert_eq!(targets[2]["implementation"], "github", "{doc}");
    for t in targets {
        assert_eq!(t["images"].as_array().unwrap().len(), 2, "{t}");
        assert!(t["failed"].as_array().unwrap().is_empty(), "{t}");
    }

    // Uploads per registry: each distinct blob once, the shared base layer mounted into the
    // second repository instead.
    let at_a = uploads(
        s.proxy_a
            .requests()
            .iter()
            .filter(|q| q.method == Method::PUT && q.path.contains("/blobs/uploads/"))
            .map(|q| q.path.as_str())
            .collect::<Vec<_>>()
            .into_iter(),
    );
    let at_b = uploads(
        s.proxy_b
            .requests()
            .iter()
            .filter(|q| q.method == Method::PUT && q.path.contains("/blobs/uploads/"))
            .map(|q| q.path.as_str())
            .collect::<Vec<_>>()
            .into_iter(),
    );
    let ghcr_requests = s.g.registry.requests_matching("PUT", "/blobs/uploads/");
    let at_g = uploads(ghcr_requests.iter().filter_map(|q| {
        q.query
            .as_deref()
            .filter(|q| q.contains("digest="))
            .or(Some(q.path.as_str()))
    }));
    // Blobs that are not dockhand's own (the empty config of origin records).
    let empty = dockhand::registry::media::EMPTY_DIGEST;
    let image_blobs: Vec<&String> = at_a.keys().filter(|d| *d != empty).collect();
    assert!(image_blobs.len() >= 4, "{at_a:?}");
    for (name, counted) in [("a", &at_a), ("b", &at_b), ("ghcr", &at_g)] {
        for d in &image_blobs {
            assert_eq!(counted.get(*d), Some(&1), "{name}: {d} in {counted:?}");
        }
    }
    assert!(
        s.proxy_a.count_matching(Method::POST, "mount=") >= 1,
        "the shared base layer is mounted across repositories"
    );
    // Each blob read from the source once, for three registries.
    assert_eq!(
        doc["transfer"]["source_blobs_read"].as_u64().unwrap(),
        image_blobs.len() as u64,
        "{doc}"
    );
    // What each target reports it uploaded is the image blobs its registry received (the shared
    // reads included; origin records' own blobs are not image transfer), and the log says so
    // per image: no cold push reads "uploaded 0 blob(s)".
    for (t, counted) in targets.iter().zip([&at_a, &at_b, &at_g]) {
        let received: usize = counted
            .iter()
            .filter(|(d, _)| d.as_str() != empty)
            .map(|(_, n)| n)
            .sum();
        assert_eq!(
            t["transfer"]["blobs_uploaded"].as_u64().unwrap(),
            received as u64,
            "{t} {counted:?}"
        );
    }
    assert!(!r.stderr.contains("uploaded 0 blob(s)"), "{}", r.stderr);
}

#[test]
fn a_target_refusing_credentials_fails_alone_and_all_refusing_is_exit_3() {
    let s = Scene::start();
    let r = s.run(
        &["publish", "--tag-custom", "v1", "--output", "json"],
        "wrong",
        TOKEN,
    );
    assert_eq!(r.code, 1, "{r}");
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let targets = doc["targets"].as_array().unwrap();
    assert_eq!(targets[1]["images"].as_array().unwrap().len(), 0, "{doc}");
    assert_eq!(targets[1]["failed"].as_array().unwrap().len(), 2, "{doc}");
    assert!(
        r.stderr.contains("publishing failed for 1 of 3 targets"),
        "{r}"
    );
    // The others have their tags; the refusing one has nothing.
    assert_eq!(tags(&s.a.url(), "demo/backend", None), ["v1"]);
    assert_eq!(image_tags(&s.g, "acme/frontend"), ["v1"]);
    assert!(tags(&s.b.url(), "demo/backend", Some(("ci", "right"))).is_empty());
    // The refused password never shows.
    assert!(
        !r.stderr.contains("wrong") && !r.stdout.contains("wrong"),
        "{r}"
    );

    // Every target refusing: exit 3. (The anonymous registry cannot refuse, so it is left out.)
    let b = format!("{}/demo", s.proxy_b.host());
    let g = format!("{}/acme", s.g.registry.host());
    let r = s.run(
        &["publish", "-i", &b, "-i", &g, "--tag-custom", "v2"],
        "wrong",
        "ghp_wrongtoken",
    );
    assert_eq!(r.code, 3, "{r}");
    assert!(
        image_tags(&s.g, "acme/frontend") == ["v1"],
        "nothing pushed"
    );
}

#[test]
fn bad_target_lists_are_exit_2_and_send_nothing() {
    let s = Scene::start();
    let a = format!("{}/demo", s.proxy_a.host());
    let list = format!("{a},,{}/other", s.proxy_a.host());
    let r = dockhand_env(
        &["publish", "--tag-custom", "v1"],
        s.dir.path(),
        &[("DOCKHAND_IMAGES_REPO", list.as_str())],
    );
    assert_eq!(r.code, 2, "{r}");
    assert!(
        r.stderr
            .contains("DOCKHAND_IMAGES_REPO: item 2 of the list is empty"),
        "{r}"
    );
    let r = s.run(
        &["publish", "-i", &a, "-i", &a, "--tag-custom", "v1"],
        "right",
        TOKEN,
    );
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("given twice"), "{r}");
    assert!(
        s.proxy_a.requests().is_empty(),
        "{:?}",
        s.proxy_a.requests()
    );
}

#[test]
fn cleanup_runs_per_target_with_its_policy() {
    let s = Scene::start();
    for (tag, variant) in [("v1", None), ("v2", Some("second"))] {
        dockhand::fixtures::seed_example_variant(&s.dir.path().join("images"), variant).unwrap();
        let r = s.run(&["publish", "--tag-custom", tag], "right", TOKEN);
        assert_eq!(r.code, 0, "{r}");
    }
    // The second target keeps one image (its own `keep_last: 1` wins over the run's 5); the
    // others keep both.
    let r = s.run(
        &[
            "cleanup",
            "--keep-last",
            "5",
            "--grace",
            "0",
            "--git-refs",
            "none",
            "--output",
            "json",
        ],
        "right",
        TOKEN,
    );
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_default();
    let targets = doc["targets"].as_array().cloned().unwrap_or_default();
    assert_eq!(targets.len(), 3, "{r}");
    assert_eq!(
        tags(&s.b.url(), "demo/backend", Some(("ci", "right"))).len(),
        1,
        "{r}"
    );
    assert_eq!(tags(&s.a.url(), "demo/backend", None), ["v1", "v2"], "{r}");
}

#[test]
fn an_upload_broken_off_in_the_shared_read_is_redone_from_the_source() {
    let s = Scene::start();
    // The second registry resets the first blob upload: that target reads the blob again (one more
    // read, counted); the others keep the shared read.
    s.proxy_b
        .add_fault(Fault::reset(Method::PUT, "/blobs/uploads/", 1));
    let r = s.run(
        &["publish", "--tag-custom", "v1", "--output", "json"],
        "right",
        TOKEN,
    );
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(s.proxy_b.faults_remaining(), 0, "the fault was met");
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    for image in ["backend", "frontend"] {
        let repo = format!("demo/{image}");
        assert_eq!(tags(&s.a.url(), &repo, None), ["v1"]);
        assert_eq!(tags(&s.b.url(), &repo, Some(("ci", "right"))), ["v1"]);
        assert_eq!(image_tags(&s.g, &format!("acme/{image}")), ["v1"]);
    }
    let empty = dockhand::registry::media::EMPTY_DIGEST;
    let at_a = uploads(
        s.proxy_a
            .requests()
            .iter()
            .filter(|q| q.method == Method::PUT && q.path.contains("/blobs/uploads/"))
            .map(|q| q.path.as_str())
            .collect::<Vec<_>>()
            .into_iter(),
    );
    let blobs = at_a.keys().filter(|d| *d != empty).count() as u64;
    assert_eq!(
        doc["transfer"]["source_blobs_read"].as_u64().unwrap(),
        blobs + 1,
        "{doc}"
    );
}

#[test]
fn run_writes_outputs_and_a_summary_per_target() {
    let s = Scene::start();
    let out = s.dir.path().join("github_output");
    let summary = s.dir.path().join("summary.md");
    let dotenv = s.dir.path().join("dockhand.env");
    let (out_s, summary_s, dotenv_s) = (
        out.display().to_string(),
        summary.display().to_string(),
        dotenv.display().to_string(),
    );
    let r = s.run_with(
        &[
            "run",
            "--tag-custom",
            "v1",
            "--keep-last",
            "5",
            "--git-refs",
            "none",
            "--dotenv",
            &dotenv_s,
            "--output",
            "json",
        ],
        "right",
        TOKEN,
        &[
            ("GITHUB_OUTPUT", out_s.as_str()),
            ("GITHUB_STEP_SUMMARY", summary_s.as_str()),
        ],
    );
    assert_eq!(r.code, 0, "{r}");
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        doc["publish"]["targets"].as_array().unwrap().len(),
        3,
        "{doc}"
    );
    assert_eq!(doc["cleanup_targets"].as_array().unwrap().len(), 3, "{doc}");
    assert!(doc.get("cleanup").is_none(), "{doc}");

    let outputs = std::fs::read_to_string(&out).unwrap();
    let line = outputs
        .lines()
        .find(|l| l.starts_with("targets="))
        .expect("a targets output");
    let targets: serde_json::Value = serde_json::from_str(&line["targets=".len()..]).unwrap();
    assert_eq!(targets.as_array().unwrap().len(), 3, "{outputs}");
    assert_eq!(
        targets[2]["images"][0]["reference"],
        format!("{}/acme/backend:v1", s.g.registry.host())
    );
    let kept: u64 = doc["cleanup_targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["report"]["summary"]["kept"].as_u64().unwrap())
        .sum();
    assert!(kept >= 6, "{doc}");
    assert!(
        outputs.lines().any(|l| l == format!("kept={kept}")),
        "kept summed over targets: {outputs}"
    );

    let text = std::fs::read_to_string(&summary).unwrap();
    for repo in [
        format!("{}/demo", s.proxy_a.host()),
        format!("{}/demo", s.proxy_b.host()),
        format!("{}/acme", s.g.registry.host()),
    ] {
        assert!(
            text.contains(&format!("### dockhand: published: `{repo}`")),
            "{text}"
        );
        assert!(
            text.contains(&format!("### dockhand: cleanup: `{repo}`")),
            "{text}"
        );
    }
    let env = std::fs::read_to_string(&dotenv).unwrap();
    assert!(
        env.contains(&format!(
            "DOCKHAND_IMAGE_BACKEND={}/demo/backend:v1@",
            s.proxy_a.host()
        )),
        "{env}"
    );
    assert!(
        env.contains(&format!(
            "DOCKHAND_IMAGE_BACKEND_3={}/acme/backend:v1@",
            s.g.registry.host()
        )),
        "{env}"
    );
}

#[test]
fn detect_reports_each_target() {
    let s = Scene::start();
    let r = s.run(&["detect", "--output", "json"], "right", TOKEN);
    assert_eq!(r.code, 0, "{r}");
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let targets = doc["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 3, "{doc}");
    assert_eq!(targets[0]["implementation"], "default", "{doc}");
    assert_eq!(targets[2]["implementation"], "github", "{doc}");
    assert_eq!(
        targets[2]["images"][0]["repository"],
        format!("{}/acme/backend", s.g.registry.host())
    );
    // One target: the document as it always was.
    let a = format!("{}/demo", s.proxy_a.host());
    let r = s.run(&["detect", "-i", &a, "--output", "json"], "right", TOKEN);
    assert_eq!(r.code, 0, "{r}");
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["images_repo"], a, "{doc}");
}

#[test]
fn run_cleans_up_only_the_targets_that_were_published() {
    let s = Scene::start();
    let r = s.run(
        &[
            "run",
            "--tag-custom",
            "v1",
            "--keep-last",
            "5",
            "--git-refs",
            "none",
            "--output",
            "json",
        ],
        "wrong",
        TOKEN,
    );
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("cleanup skipped for"), "{r}");
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let cleaned: Vec<&str> = doc["cleanup_targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["images_repo"].as_str().unwrap())
        .collect();
    assert_eq!(
        cleaned,
        [
            format!("{}/demo", s.proxy_a.host()),
            format!("{}/acme", s.g.registry.host())
        ],
        "{doc}"
    );
}
