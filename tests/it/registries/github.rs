//! GitHub Packages end to end: the real binary against the fake REST packages API
//! (`support::fake_github`) and a ghcr-like registry on the in-memory OCI fake (Bearer token at
//! `/token` with service `ghcr.io`, manifest DELETE 405, no referrers API, every manifest PUT a
//! package version). Outcomes are checked in the fakes (versions, tags, manifests), in the
//! requests sent (counted), in what the user saw and in the exit code.

use crate::support;
use crate::support::layouts::{fallback_tag, git_repo, layout, multiarch_layout};
use crate::support::report::{entries, entry, set, summary};
use crate::support::run::{Run, dockhand_env, json, ok};

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dockhand::fixtures::{self};
use dockhand::naming::slug::slug_tag;
use reqwest::Method;
use serde_json::Value;
use support::fake_github::{GhState, Ghcr, Limit};

/// The binary with this module's extra environment (an empty list has a type here).
fn dockhand(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Run {
    dockhand_env(args, cwd, env)
}

// ---------------------------------------------------------------------------------------------
// 4. Auto mode and nesting: ghcr.io nests; the legacy registry has fixed OWNER/REPO/IMAGE paths

fn detect(images_repo: &str, extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["detect", "-i", images_repo, "--output", "json"];
    args.extend_from_slice(extra);
    dockhand(&args, dir.path(), &[])
}

#[test]
fn detect_auto_mode_and_nesting() {
    // ghcr.io nests: an account and a deeper path are both multirepo.
    for (addr, want) in [
        ("ghcr.io/acme", "ghcr.io/acme/backend"),
        ("ghcr.io/acme/project", "ghcr.io/acme/project/backend"),
    ] {
        let r = ok(detect(addr, &["--image", "backend"]));
        let doc = json(&r);
        assert_eq!(doc["implementation"], "github", "{r}");
        assert_eq!(doc["mode"], "multirepo", "{addr}: {r}");
        assert_eq!(doc["images"][0]["repository"], want, "{r}");
        assert_eq!(doc["capabilities"]["untag"], "safe-untag", "{r}");
        assert_eq!(doc["capabilities"]["digest_delete"], "vendor-api", "{r}");
    }
    // A bare ghcr.io has no owner: exit 2.
    let r = detect("ghcr.io", &[]);
    assert_eq!(r.code, 2, "{r}");

    // Legacy: the account is OWNER/REPOSITORY (→ one package per image), a full
    // OWNER/REPOSITORY/IMAGE path is one package the images share (→ monorepo).
    let r = ok(detect(
        "docker.pkg.github.com/acme/project",
        &["--image", "backend"],
    ));
    let doc = json(&r);
    assert_eq!(doc["implementation"], "github", "{r}");
    assert_eq!(doc["mode"], "multirepo", "{r}");
    assert_eq!(
        doc["images"][0]["repository"],
        "docker.pkg.github.com/acme/project/backend"
    );
    let r = ok(detect(
        "docker.pkg.github.com/acme/project/app",
        &["--image", "backend", "--tag-custom", "v1"],
    ));
    let doc = json(&r);
    assert_eq!(doc["mode"], "monorepo", "{r}");
    assert_eq!(
        doc["images"][0]["references"][0],
        "docker.pkg.github.com/acme/project/app:backend-v1"
    );
    // No nesting: too short, too deep, or a nested image name are input errors naming the shape.
    let r = detect("docker.pkg.github.com/acme", &[]);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("OWNER/PROJECT/IMAGE"), "{r}");
    let r = detect("docker.pkg.github.com/acme/project/app/deeper", &[]);
    assert_eq!(r.code, 2, "{r}");
    let r = detect(
        "docker.pkg.github.com/acme/project",
        &["--image", "team/backend"],
    );
    assert_eq!(r.code, 2, "{r}");
    let r = detect(
        "docker.pkg.github.com/acme/project/app",
        &["--images-repo-mode", "multirepo", "--image", "b"],
    );
    assert_eq!(r.code, 2, "{r}");
    // GitHub Enterprise Server: containers.<host> nests, docker.<host> is the legacy shape.
    let ghes = |addr: &str| {
        let dir = tempfile::tempdir().unwrap();
        dockhand(
            &["detect", "-i", addr, "--output", "json", "--image", "b"],
            dir.path(),
            &[("GITHUB_SERVER_URL", "https://ghe.example")],
        )
    };
    let r = ok(ghes("containers.ghe.example/acme"));
    assert_eq!(json(&r)["mode"], "multirepo", "{r}");
    assert_eq!(json(&r)["implementation"], "github", "{r}");
    let r = ok(ghes("docker.ghe.example/acme/project"));
    assert_eq!(json(&r)["mode"], "multirepo", "{r}");
    assert_eq!(json(&r)["capabilities"]["depth"]["max"], 3, "{r}");
    assert_eq!(ghes("docker.ghe.example/acme").code, 2);
}

// ---------------------------------------------------------------------------------------------
// The fakes, seen without dockhand

const TOKEN: &str = "ghp_faketoken0123456789";

/// ghcr with organization `acme` and user `octo` (the token's own account).
fn ghcr_with(f: impl FnOnce(&mut GhState)) -> Ghcr {
    let mut st = GhState::default();
    st.token = TOKEN.into();
    st.me = Some("octo".into());
    st.accounts.insert("acme".into(), "Organization");
    st.accounts.insert("octo".into(), "User");
    f(&mut st);
    Ghcr::start(st)
}

fn env(g: &Ghcr, token: &str) -> Vec<(String, String)> {
    vec![
        ("GITHUB_TOKEN".into(), token.into()),
        ("GITHUB_API_URL".into(), g.api.url()),
    ]
}

fn run(g: &Ghcr, token: &str, args: &[&str], cwd: &Path) -> Run {
    let mut all: Vec<&str> = args.to_vec();
    all.extend_from_slice(&["--implementation", "github"]);
    let env = env(g, token);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    dockhand(&all, cwd, &env)
}

fn publish(g: &Ghcr, cwd: &Path, images_repo: &str, images: &[(&str, &Path)], extra: &[&str]) {
    let specs: Vec<String> = images
        .iter()
        .map(|(n, p)| format!("{n}=oci:{}", p.display()))
        .collect();
    let mut args = vec!["publish", "-i", images_repo];
    for s in &specs {
        args.extend_from_slice(&["--image", s]);
    }
    args.extend_from_slice(extra);
    ok(run(g, TOKEN, &args, cwd));
}

/// (digest, sorted tags) of every version of a package.
fn versions(g: &Ghcr, repo: &str) -> BTreeMap<String, BTreeSet<String>> {
    g.api
        .state()
        .versions(repo)
        .into_iter()
        .map(|v| (v.name, v.tags.into_iter().collect()))
        .collect()
}

fn image_tags(tags: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    tags.into_iter()
        .filter(|t| !t.starts_with("sha256-"))
        .collect()
}

/// Pushes a small image through the registry API (so the version hook runs).
fn push(g: &Ghcr, repo: &str, tag: &str, content: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = support::RegistryClient::new(&g.registry.url(), support::Creds::basic("x", TOKEN));
    rt.block_on(client.push_image(
        repo,
        tag,
        &[content.as_bytes().to_vec()],
        "2024-05-01T12:00:00Z",
    ))
    .digest
}

fn cleanup_doc(r: &Run) -> Value {
    assert_eq!(r.code, 0, "{r}");
    json(r)
}

// ---------------------------------------------------------------------------------------------
// 1. Publish, then a mixed cleanup through the REST API

#[test]
fn mixed_cleanup_ends_in_exactly_the_planned_versions() {
    let g = ghcr_with(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    // Nested: packages are team/backend, team/frontend, team/multi (sent as team%2F…).
    let images_repo = format!("{}/acme/team", g.registry.host());
    let pkg = |name: &str| format!("acme/team/{name}");

    // The seed example three times: on a deleted branch, on main, and on another deleted
    // branch plus a custom tag (one digest, one stale tag and one kept tag).
    let mut seeded: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    for (variant, extra) in [
        ("v1", vec!["--tag-git-branch", "feature/a"]),
        ("v2", vec!["--tag-git-branch", "main"]),
        (
            "v3",
            vec!["--tag-git-branch", "feature/b", "--tag-custom", "keepme"],
        ),
    ] {
        let d = cwd.join("seed").join(variant);
        let pairs = fixtures::seed_example_variant(&d, Some(variant)).unwrap();
        let images: Vec<(&str, PathBuf)> = if variant == "v3" {
            vec![("backend", d.join("backend"))]
        } else {
            vec![
                ("backend", d.join("backend")),
                ("frontend", d.join("frontend")),
            ]
        };
        let images: Vec<(&str, &Path)> = images.iter().map(|(n, p)| (*n, p.as_path())).collect();
        publish(&g, cwd, &images_repo, &images, &extra);
        seeded.insert(variant, pairs);
    }
    let digest = |variant: &str, name: &str| {
        seeded[variant]
            .iter()
            .find(|(n, _)| n == name)
            .unwrap()
            .1
            .clone()
    };
    // Multi-arch: a stale index and a kept one, each with two untagged child versions.
    let (m1_path, m1) = multiarch_layout(cwd, "m1");
    let (m2_path, m2) = multiarch_layout(cwd, "m2");
    publish(
        &g,
        cwd,
        &images_repo,
        &[("multi", &m1_path)],
        &["--tag-git-branch", "feature/a"],
    );
    publish(
        &g,
        cwd,
        &images_repo,
        &[("multi", &m2_path)],
        &["--tag-git-branch", "main"],
    );
    let children = |index: &str| -> Vec<String> {
        g.registry.manifest(&pkg("multi"), index).unwrap().json()["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["digest"].as_str().unwrap().to_string())
            .collect()
    };
    let (m1_children, m2_children) = (children(&m1), children(&m2));
    let multi = versions(&g, &pkg("multi"));
    for c in m1_children.iter().chain(&m2_children) {
        assert_eq!(
            multi.get(c),
            Some(&BTreeSet::new()),
            "child {c} is an untagged version"
        );
    }
    // A cosign-style signature of the stale index.
    let sig_tag = format!("{}.sig", fallback_tag(&m1));
    let sig = push(&g, &pkg("multi"), &sig_tag, "signature of m1");

    let tag_a = slug_tag("feature/a");
    let tag_b = slug_tag("feature/b");
    assert_eq!(
        image_tags(g.api.state().tags(&pkg("backend")).into_keys()),
        set([tag_a.clone(), tag_b.clone(), "main".into(), "keepme".into()])
    );
    let before: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> =
        ["backend", "frontend", "multi"]
            .iter()
            .map(|n| (n.to_string(), versions(&g, &pkg(n))))
            .collect();

    let repo = git_repo(cwd, &[]);
    g.api.state().log.clear();
    g.registry.clear_log();
    let r = run(
        &g,
        TOKEN,
        &[
            "cleanup",
            "-i",
            &images_repo,
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
        ],
        cwd,
    );
    let doc = cleanup_doc(&r);
    assert_eq!(summary(&doc, "failed"), 0, "{doc:#}");

    // The plan, per repository: stale image tags and their attached tags go, nothing else.
    let deleted = |name: &str| -> BTreeSet<String> {
        entries(&doc)
            .iter()
            .filter(|e| {
                e["repository"] == format!("{images_repo}/{name}") && e["result"] == "deleted"
            })
            .map(|e| e["tag"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        image_tags(deleted("backend")),
        set([tag_a.clone(), tag_b.clone()]),
        "{doc:#}"
    );
    assert_eq!(
        image_tags(deleted("frontend")),
        set([tag_a.clone()]),
        "{doc:#}"
    );
    assert_eq!(
        image_tags(deleted("multi")),
        set([tag_a.clone()]),
        "{doc:#}"
    );
    assert!(deleted("multi").contains(&sig_tag), "{doc:#}");
    for e in entries(&doc) {
        assert!(e["result"] == "deleted" || e["result"] == "kept", "{e}");
    }
    assert_eq!(entry(&doc, "keepme")["result"], "kept");

    // GitHub's side afterwards: exactly the kept versions, with exactly the kept tags.
    let after: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> =
        ["backend", "frontend", "multi"]
            .iter()
            .map(|n| (n.to_string(), versions(&g, &pkg(n))))
            .collect();
    let b = &after["backend"];
    assert!(!b.contains_key(&digest("v1", "backend")), "{b:?}");
    assert_eq!(
        image_tags(b[&digest("v2", "backend")].clone()),
        set(["main"])
    );
    assert_eq!(
        image_tags(b[&digest("v3", "backend")].clone()),
        set(["keepme"]),
        "the shared digest keeps its kept tag"
    );
    let f = &after["frontend"];
    assert!(!f.contains_key(&digest("v1", "frontend")));
    assert_eq!(
        image_tags(f[&digest("v2", "frontend")].clone()),
        set(["main"])
    );
    let m = &after["multi"];
    for gone in std::iter::once(&m1)
        .chain(&m1_children)
        .chain(std::iter::once(&sig))
    {
        assert!(!m.contains_key(gone), "{gone} is deleted: {m:?}");
        assert!(
            g.registry.manifest(&pkg("multi"), gone).is_none(),
            "{gone} left the registry"
        );
    }
    for kept in std::iter::once(&m2).chain(&m2_children) {
        assert!(m.contains_key(kept), "{kept} stays: {m:?}");
        assert!(g.registry.manifest(&pkg("multi"), kept).is_some());
    }
    // Only versions that existed before remain (the throw-away went), and the registry's tags
    // agree with the API's.
    for name in ["backend", "frontend", "multi"] {
        for (d, tags) in &after[name] {
            let was = before[name]
                .get(d)
                .unwrap_or_else(|| panic!("{name}: new version {d} left behind"));
            assert!(tags.is_subset(was), "{name} {d}: {tags:?} ⊄ {was:?}");
        }
        let api_tags: BTreeSet<String> = g.api.state().tags(&pkg(name)).into_keys().collect();
        let reg_tags: BTreeSet<String> = g.registry.tags(&pkg(name)).into_iter().collect();
        assert_eq!(api_tags, reg_tags, "{name}");
    }

    // Requests: one DELETE per version gone (throw-aways included), each once; the registry
    // was never asked to DELETE (it answers 405); versions listed three times per package plus
    // one refresh per throw-away; the owner looked up once; nested names encoded once.
    let st = g.api.state();
    let removed: usize = before
        .iter()
        .map(|(n, v)| v.keys().filter(|d| !after[n].contains_key(*d)).count())
        .sum();
    let throwaways = g.registry.requests_matching("PUT", "/manifests/").len();
    assert_eq!(throwaways, 1, "one safe untag (feature-b beside keepme)");
    let deletes: Vec<_> = st
        .log
        .iter()
        .filter(|q| q.method == Method::DELETE)
        .collect();
    assert_eq!(deletes.len(), removed + throwaways, "{:#?}", st.log);
    assert!(deletes.iter().all(|q| q.status == 204), "{deletes:#?}");
    assert_eq!(
        g.registry.requests_matching("DELETE", "/manifests/").len(),
        0
    );
    let lists = st.count(&Method::GET, "/versions");
    // Each package listed for the inventory, and again before and after its deletions
    // (docs/cleanup-safety.md), plus one refresh per throw-away.
    assert!(
        lists <= 3 * 3 + throwaways,
        "{lists} version listings: {:#?}",
        st.log
    );
    assert_eq!(st.count(&Method::GET, "/users/acme"), 1);
    for q in &st.log {
        assert_eq!(
            q.authorization.as_deref(),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        assert_eq!(q.accept.as_deref(), Some("application/vnd.github+json"));
        assert_eq!(q.api_version.as_deref(), Some("2022-11-28"));
        if q.path.contains("/packages/") {
            assert!(
                q.path.starts_with("/orgs/acme/packages/container/team%2F"),
                "{}",
                q.path
            );
        }
    }
    eprintln!(
        "REST requests: {} ({} DELETE, {lists} version listings); registry requests: {}",
        st.log.len(),
        deletes.len(),
        g.registry.requests().len()
    );
}

// ---------------------------------------------------------------------------------------------
// 2. The refusals GitHub documents are kept with their reason, not failures

#[test]
fn documented_refusals_are_kept_with_reason() {
    let g = ghcr_with(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    // The token's own account: its packages are under /user/packages.
    let images_repo = format!("{}/octo", g.registry.host());
    let tag_a = slug_tag("feature/a");
    // `solo`: one image on a deleted branch; once it is gone, its origin record is the last
    // tagged version. `popular`: the stale version was downloaded more than 5,000 times.
    let (l, solo) = layout(cwd, "solo");
    publish(
        &g,
        cwd,
        &images_repo,
        &[("solo", &l)],
        &["--tag-git-branch", "feature/a"],
    );
    let (l, popular) = layout(cwd, "popular-old");
    publish(
        &g,
        cwd,
        &images_repo,
        &[("popular", &l)],
        &["--tag-git-branch", "feature/a"],
    );
    let (l, fresh) = layout(cwd, "popular-new");
    publish(
        &g,
        cwd,
        &images_repo,
        &[("popular", &l)],
        &["--tag-git-branch", "main"],
    );
    g.api.state().popular.insert(popular.clone());
    let before = (versions(&g, "octo/solo"), versions(&g, "octo/popular"));
    let repo = git_repo(cwd, &[]);
    g.api.state().log.clear();

    let r = run(
        &g,
        TOKEN,
        &[
            "cleanup",
            "-i",
            &images_repo,
            "--image",
            "solo",
            "--image",
            "popular",
            "--git-dir",
            repo.to_str().unwrap(),
            "--git-refs",
            "local",
            "--grace",
            "0",
            "--output",
            "json",
        ],
        cwd,
    );
    let doc = cleanup_doc(&r);
    assert_eq!(summary(&doc, "failed"), 0, "{doc:#}");
    let of = |name: &str| {
        entries(&doc)
            .iter()
            .find(|e| {
                e["repository"] == format!("{images_repo}/{name}") && e["tag"] == tag_a.as_str()
            })
            .unwrap_or_else(|| panic!("{name}:{tag_a} in {doc:#}"))
            .clone()
    };
    let record = |name: &str, digest: &str| {
        entries(&doc)
            .iter()
            .find(|e| {
                e["repository"] == format!("{images_repo}/{name}")
                    && e["tag"] == fallback_tag(digest)
            })
            .unwrap_or_else(|| panic!("{name}: origin record of {digest} in {doc:#}"))
            .clone()
    };
    // solo: the image went; its origin record, now the last tagged version, is kept.
    let s = of("solo");
    assert_eq!(s["result"], "deleted", "{s}");
    let s = record("solo", &solo);
    assert_eq!(
        (s["action"].as_str(), s["result"].as_str()),
        (Some("delete"), Some("kept")),
        "{s}"
    );
    assert!(
        s["reason"]
            .as_str()
            .unwrap()
            .contains("last tagged version"),
        "{s}"
    );
    // popular: kept for its downloads, and its origin record with it.
    let p = of("popular");
    assert_eq!(
        (p["action"].as_str(), p["result"].as_str()),
        (Some("delete"), Some("kept")),
        "{p}"
    );
    assert!(p["reason"].as_str().unwrap().contains("5,000"), "{p}");
    let p = record("popular", &popular);
    assert_eq!(p["result"], "kept", "{p}");
    assert!(p["reason"].as_str().unwrap().contains("5,000"), "{p}");
    assert!(r.stderr.is_empty() || !r.stderr.contains("error"), "{r}");

    // GitHub's side: solo keeps only its origin record's fallback index (its image and the
    // record itself went); popular is unchanged.
    let solo_after = versions(&g, "octo/solo");
    assert_eq!(
        solo_after.into_values().collect::<Vec<_>>(),
        vec![set([fallback_tag(&solo)])],
        "{before:?}"
    );
    assert_eq!(versions(&g, "octo/popular"), before.1);
    assert!(g.registry.manifest("octo/popular", &popular).is_some());
    assert!(g.registry.manifest("octo/popular", &fresh).is_some());
    // Each version asked once, under /user/packages: solo's image and record (204), its
    // fallback index (400), popular's image (400); nothing hanging off popular is asked.
    let st = g.api.state();
    let deletes: Vec<_> = st
        .log
        .iter()
        .filter(|q| q.method == Method::DELETE)
        .collect();
    let mut statuses: Vec<u16> = deletes.iter().map(|q| q.status).collect();
    statuses.sort();
    assert_eq!(statuses, vec![204, 204, 400, 400], "{deletes:#?}");
    assert!(
        deletes
            .iter()
            .all(|q| q.path.starts_with("/user/packages/container/")),
        "{deletes:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. 401/403 exit 3 naming what is missing; rate limits are waited out

/// A package with one stale and one kept tag, published by the harness.
fn small_package(g: &Ghcr, cwd: &Path) -> (String, PathBuf) {
    let images_repo = format!("{}/acme", g.registry.host());
    let (l, _) = layout(cwd, "stale");
    publish(
        g,
        cwd,
        &images_repo,
        &[("app", &l)],
        &["--tag-git-branch", "feature/a"],
    );
    let (l, _) = layout(cwd, "kept");
    publish(
        g,
        cwd,
        &images_repo,
        &[("app", &l)],
        &["--tag-git-branch", "main"],
    );
    (images_repo, git_repo(cwd, &[]))
}

fn cleanup_app(g: &Ghcr, token: &str, images_repo: &str, repo: &Path, cwd: &Path) -> Run {
    run(
        g,
        token,
        &[
            "cleanup",
            "-i",
            images_repo,
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
        cwd,
    )
}

#[test]
fn bad_token_exits_3_naming_the_token_type() {
    let g = ghcr_with(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let (images_repo, repo) = small_package(&g, dir.path());
    let r = cleanup_app(&g, "ghp_wrongtoken000", &images_repo, &repo, dir.path());
    assert_eq!(r.code, 3, "{r}");
    assert!(r.stderr.contains("HTTP 401"), "{r}");
    assert!(r.stderr.contains("classic personal access token"), "{r}");
    assert!(
        r.stderr.contains("read:packages") && r.stderr.contains("delete:packages"),
        "{r}"
    );
    assert!(r.stderr.contains("fine-grained"), "{r}");
    assert!(
        !r.stderr.contains("ghp_wrongtoken000"),
        "the token is never printed: {r}"
    );
    assert_eq!(g.api.state().count(&Method::DELETE, ""), 0);
}

#[test]
fn missing_read_scope_exits_3_with_the_tokens_scopes() {
    let g = ghcr_with(|st| {
        st.can_read = false;
        st.scopes = Some("repo, read:user".into());
    });
    let dir = tempfile::tempdir().unwrap();
    let (images_repo, repo) = small_package(&g, dir.path());
    let r = cleanup_app(&g, TOKEN, &images_repo, &repo, dir.path());
    assert_eq!(r.code, 3, "{r}");
    assert!(r.stderr.contains("HTTP 403"), "{r}");
    assert!(r.stderr.contains("this needs read:packages"), "{r}");
    assert!(
        r.stderr.contains("the token's scopes: repo, read:user"),
        "{r}"
    );
}

#[test]
fn classic_token_without_delete_scope_exits_3_before_deleting() {
    let g = ghcr_with(|st| st.scopes = Some("read:packages, write:packages".into()));
    let dir = tempfile::tempdir().unwrap();
    let (images_repo, repo) = small_package(&g, dir.path());
    let r = cleanup_app(&g, TOKEN, &images_repo, &repo, dir.path());
    assert_eq!(r.code, 3, "{r}");
    assert!(r.stderr.contains("delete:packages"), "{r}");
    assert!(r.stderr.contains("read:packages, write:packages"), "{r}");
    assert_eq!(g.api.state().count(&Method::DELETE, ""), 0);
    // A dry run needs no delete scope.
    let r = run(
        &g,
        TOKEN,
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
            "--output",
            "json",
            "--dry-run",
        ],
        dir.path(),
    );
    assert_eq!(r.code, 0, "{r}");
}

#[test]
fn delete_answered_404_names_the_missing_permission() {
    // A workflow GITHUB_TOKEN (no x-oauth-scopes) whose repository is not admin on the package:
    // GitHub answers the DELETE with 404 although the version is there.
    let g = ghcr_with(|st| {
        st.scopes = None;
        st.me = None;
        st.can_delete = false;
    });
    let dir = tempfile::tempdir().unwrap();
    let (images_repo, repo) = small_package(&g, dir.path());
    let r = cleanup_app(&g, TOKEN, &images_repo, &repo, dir.path());
    assert_eq!(r.code, 3, "{r}");
    assert!(
        r.stdout.contains("the Admin role on the package")
            || r.stderr.contains("the Admin role on the package"),
        "{r}"
    );
    assert!(
        r.stdout.contains("answers 404") || r.stderr.contains("answers 404"),
        "{r}"
    );
    assert_eq!(
        image_tags(g.api.state().tags("acme/app").into_keys()).len(),
        2,
        "nothing deleted"
    );
    // The first denied DELETE stops the others from being sent.
    assert_eq!(g.api.state().count(&Method::DELETE, ""), 1);
}

#[test]
fn rate_limits_are_waited_out() {
    let g = ghcr_with(|st| {
        // Secondary limit on a listing (403) and on a DELETE (429), each with retry-after 1 s
        // (docs.github.com "Rate limits for the REST API").
        st.limits.push_back(Limit {
            status: 403,
            retry_after: Some(1),
            method: Some(Method::GET),
        });
        st.limits.push_back(Limit {
            status: 429,
            retry_after: Some(1),
            method: Some(Method::DELETE),
        });
        st.limits.push_back(Limit {
            status: 403,
            retry_after: Some(1),
            method: Some(Method::DELETE),
        });
    });
    let dir = tempfile::tempdir().unwrap();
    let (images_repo, repo) = small_package(&g, dir.path());
    let started = Instant::now();
    let r = cleanup_app(&g, TOKEN, &images_repo, &repo, dir.path());
    let doc = cleanup_doc(&r);
    assert_eq!(summary(&doc, "failed"), 0, "{doc:#}");
    assert_eq!(
        entry(&doc, &slug_tag("feature/a"))["result"],
        "deleted",
        "{doc:#}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let st = g.api.state();
    let statuses: Vec<u16> = st
        .log
        .iter()
        .filter(|q| q.method == Method::DELETE)
        .map(|q| q.status)
        .collect();
    assert_eq!(&statuses[..3], &[429, 403, 204], "{:#?}", st.log);
    assert!(statuses[3..].iter().all(|s| *s == 204), "{statuses:?}");
    assert_eq!(image_tags(st.tags("acme/app").into_keys()), set(["main"]));
}

#[test]
fn primary_limit_spent_waits_for_the_reset() {
    // Three requests left in the window, reset 2 s after it is spent: dockhand waits for the
    // reset instead of running into 403s.
    let g = ghcr_with(|st| {
        st.remaining = 3;
        st.reset_after = 2;
    });
    let dir = tempfile::tempdir().unwrap();
    let (images_repo, repo) = small_package(&g, dir.path());
    let started = Instant::now();
    let r = cleanup_app(&g, TOKEN, &images_repo, &repo, dir.path());
    let doc = cleanup_doc(&r);
    assert_eq!(summary(&doc, "failed"), 0, "{doc:#}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let st = g.api.state();
    assert!(st.log.iter().all(|q| q.status != 403), "{:#?}", st.log);
    assert_eq!(image_tags(st.tags("acme/app").into_keys()), set(["main"]));
}

// ---------------------------------------------------------------------------------------------
// The fake itself: routing and paging as GitHub does them

#[test]
fn fake_routes_nested_names_and_pages_like_github() {
    let g = ghcr_with(|st| {
        for i in 0..130 {
            st.record_push("acme/team/api", &format!("sha256:{i:064x}"), None);
        }
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", g.api.url())
        };
        rt.block_on(async {
            let r = http
                .get(url)
                .bearer_auth(TOKEN)
                .header("accept", "application/vnd.github+json")
                .header("x-github-api-version", "2022-11-28")
                .send()
                .await
                .unwrap();
            let link = r
                .headers()
                .get("link")
                .map(|l| l.to_str().unwrap().to_string());
            (r.status().as_u16(), link, r.json::<Value>().await.ok())
        })
    };
    // %2F is one segment, decoded once; unencoded or double-encoded names are unknown.
    let base = "/orgs/acme/packages/container";
    let (status, link, body) = get(&format!("{base}/team%2Fapi/versions"));
    assert_eq!(status, 200);
    assert_eq!(
        body.unwrap().as_array().unwrap().len(),
        30,
        "default per_page"
    );
    assert!(link.unwrap().contains("rel=\"next\""));
    assert_eq!(get(&format!("{base}/team/api/versions")).0, 404);
    assert_eq!(get(&format!("{base}/team%252Fapi/versions")).0, 404);
    assert_eq!(
        get("/users/acme/packages/container/team%2Fapi/versions").0,
        404,
        "acme is an organization"
    );
    // per_page is capped at 100; Link is absolute and leads through every version once.
    let mut url = format!("{base}/team%2Fapi/versions?per_page=500");
    let mut seen = BTreeSet::new();
    let mut pages = 0;
    loop {
        let (status, link, body) = get(&url);
        assert_eq!(status, 200);
        let page = body.unwrap().as_array().unwrap().clone();
        assert!(page.len() <= 100);
        pages += 1;
        seen.extend(page.iter().map(|v| v["id"].as_u64().unwrap()));
        let next = link.and_then(|l| {
            l.split(',').find(|p| p.contains("rel=\"next\"")).map(|p| {
                p.trim()
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap()
                    .to_string()
            })
        });
        match next {
            Some(n) => {
                assert!(n.starts_with("http://"), "absolute Link: {n}");
                url = n;
            }
            None => break,
        }
    }
    assert_eq!((pages, seen.len()), (2, 130));
    // The token is checked.
    let status = rt.block_on(async {
        http.get(format!("{}/users/acme", g.api.url()))
            .bearer_auth("nope")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 401);
}

#[test]
fn versions_are_paged_through_link() {
    let g = ghcr_with(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let (images_repo, repo) = small_package(&g, dir.path());
    // 150 untagged versions more (old platform children, say): the listing takes two pages.
    {
        let mut st = g.api.state();
        for i in 0..150 {
            st.record_push("acme/app", &format!("sha256:{i:064x}"), None);
        }
        st.log.clear();
    }
    let r = cleanup_app(&g, TOKEN, &images_repo, &repo, dir.path());
    let doc = cleanup_doc(&r);
    assert_eq!(
        entry(&doc, &slug_tag("feature/a"))["result"],
        "deleted",
        "{doc:#}"
    );
    let st = g.api.state();
    let lists: Vec<String> = st
        .log
        .iter()
        .filter(|q| q.method == Method::GET && q.path.ends_with("/versions"))
        .map(|q| q.query.clone())
        .collect();
    // Two pages each time: the inventory, the look before deleting, the listing after.
    let two_pages = [
        "per_page=100".to_string(),
        "per_page=100&page=2".to_string(),
    ];
    assert_eq!(
        lists,
        [&two_pages[..], &two_pages[..], &two_pages[..]].concat(),
        "{:#?}",
        st.log
    );
    assert_eq!(image_tags(st.tags("acme/app").into_keys()), set(["main"]));
}

#[test]
fn token_from_the_docker_config() {
    // No GITHUB_TOKEN: the password `docker login ghcr.io` stored for the host is the token.
    let g = ghcr_with(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let (images_repo, repo) = small_package(&g, cwd);
    let config = cwd.join("docker");
    std::fs::create_dir_all(&config).unwrap();
    let auth = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("someone:{TOKEN}"),
    );
    std::fs::write(
        config.join("config.json"),
        serde_json::json!({"auths": {g.registry.host(): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    g.api.state().log.clear();
    let r = dockhand(
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
            "--output",
            "json",
            "--implementation",
            "github",
            "--github-api-url",
            &g.api.url(),
        ],
        cwd,
        &[("DOCKER_CONFIG", config.to_str().unwrap())],
    );
    let doc = cleanup_doc(&r);
    assert_eq!(
        entry(&doc, &slug_tag("feature/a"))["result"],
        "deleted",
        "{doc:#}"
    );
    let st = g.api.state();
    assert!(!st.log.is_empty());
    assert!(
        st.log
            .iter()
            .all(|q| q.authorization.as_deref() == Some(&format!("Bearer {TOKEN}")))
    );

    // With no token anywhere, cleanup stops before sending anything to the API (exit 2).
    drop(st);
    g.api.state().log.clear();
    let r = dockhand(
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
            "--implementation",
            "github",
            "--github-api-url",
            &g.api.url(),
        ],
        cwd,
        &[],
    );
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("needs a GitHub token"), "{r}");
    assert!(g.api.state().log.is_empty());
}
