//! `dockhand cleanup` end to end: the real binary against a real `docker-registry` (2.8, which has
//! no referrers API and no tag delete), with images published by `dockhand publish` (so they carry
//! origin records) or seeded by the harness (no origin). Outcomes are checked in the registry
//! (tag lists, HEAD by tag and by digest), in the JSON document and in the exit codes.

use crate::support;
use crate::support::client::BlockingClient as Reg;
use crate::support::layouts::{
    fallback_tag, git, git_repo_main_ahead, layout, multiarch_layout, oci,
};
use crate::support::report::{entries, entry, set, summary, verdicts};
use crate::support::run::{command, dockhand, ok};

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use dockhand::naming::slug::slug_tag;
use reqwest::Method;
use serde_json::Value;
use support::*;

// ---------------------------------------------------------------------------------------------
// Running dockhand

/// Runs `dockhand cleanup ARGS --output json`, expects exit 0, returns the document.
fn cleanup(args: &[&str], cwd: &Path) -> Value {
    let mut all = vec!["cleanup"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--output", "json"]);
    let r = ok(dockhand(&all, cwd));
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", r.stdout))
}

/// Publishes `layout` as image `name` into `images_repo` with the tag options in `extra`.
fn publish(cwd: &Path, images_repo: &str, name: &str, layout: &Path, extra: &[&str]) {
    let image = format!("{name}={}", oci(layout));
    let mut all = vec!["publish", "-i", images_repo, "--image", &image];
    all.extend_from_slice(extra);
    ok(dockhand(&all, cwd));
}

// ---------------------------------------------------------------------------------------------
// The cleanup document

/// Tags whose action is `delete`.
fn to_delete(doc: &Value) -> BTreeSet<String> {
    verdicts(doc)
        .into_iter()
        .filter(|(_, (a, _))| a == "delete")
        .map(|(t, _)| t)
        .collect()
}

fn with_result(doc: &Value, result: &str) -> BTreeSet<String> {
    verdicts(doc)
        .into_iter()
        .filter(|(_, (_, r))| r == result)
        .map(|(t, _)| t)
        .collect()
}

/// Origin records and cosign artifacts hang off `sha256-<hex>` tags.
fn is_attached(tag: &str) -> bool {
    tag.starts_with("sha256-")
}

// ---------------------------------------------------------------------------------------------
// The registry, seen without dockhand

// ---------------------------------------------------------------------------------------------
// Fixtures

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---------------------------------------------------------------------------------------------
// 1. Git-aware cleanup

#[test]
fn git_aware_cleanup_deletes_exactly_the_stale_tags() {
    let reg = RegistryServer::anonymous();
    // Every dockhand run goes through the proxy, so the no-op run can be checked for writes.
    let proxy = FaultProxy::start(&reg.url());
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let repo = git_repo_main_ahead(cwd, &["feature/a", "feature/b"]);
    git(&repo, &["tag", "-a", "v1.0", "-m", "release 1.0"]);

    let images_repo = format!("{}/app", proxy.host());
    let r = "app/api";
    for (name, opts) in [
        ("main", vec!["--tag-git-branch", "main"]),
        ("feature-a", vec!["--tag-git-branch", "feature/a"]),
        ("feature-b", vec!["--tag-git-branch", "feature/b"]),
        ("v1", vec!["--tag-git-tag", "v1.0"]),
        ("stable", vec!["--tag-custom", "stable"]),
    ] {
        let (l, _) = layout(cwd, name);
        publish(cwd, &images_repo, "api", &l, &opts);
    }
    // Pushed by hand: no origin record, old.
    client.push(r, "manual", "pushed by hand", 30);

    let tag_a = slug_tag("feature/a");
    let tag_b = slug_tag("feature/b");
    assert!(tag_b.starts_with("feature-b-"), "{tag_b}");
    assert_eq!(
        client.image_tags(r),
        set(["main", &tag_a, &tag_b, "v1.0", "stable", "manual"])
            .into_iter()
            .collect::<Vec<_>>()
    );
    let before = client.resolve_all(r);
    let digest_b = before[&tag_b].clone();
    // Each published image carries its origin record under the fallback tag.
    assert!(before.contains_key(&fallback_tag(&digest_b)), "{before:?}");

    git(&repo, &["branch", "-D", "feature/b"]);
    let args = [
        "-i",
        &images_repo,
        "--image",
        "api",
        "--git-dir",
        path_str(&repo),
        "--git-refs",
        "local",
        "--grace",
        "0",
    ];

    // Dry run: exactly the feature/b tag (and what hangs off its image) is planned.
    let mut dry_args = args.to_vec();
    dry_args.push("--dry-run");
    proxy.clear_requests();
    let dry = cleanup(&dry_args, cwd);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(proxy.count(Method::DELETE), 0, "a dry run deletes nothing");
    assert_eq!(proxy.count(Method::PUT), 0, "a dry run writes nothing");
    for e in entries(&dry) {
        assert_eq!(e["repository"], format!("{images_repo}/api"), "{e}");
        assert!(e["reason"].as_str().is_some_and(|s| !s.is_empty()), "{e}");
        assert_eq!(
            e["digest"].as_str(),
            before.get(e["tag"].as_str().unwrap()).map(String::as_str),
            "{e}"
        );
    }
    let v = verdicts(&dry);
    assert_eq!(
        v.keys().cloned().collect::<BTreeSet<_>>(),
        before.keys().cloned().collect::<BTreeSet<_>>(),
        "every tag of the repository is in the plan"
    );
    for (tag, (action, result)) in &v {
        if tag == &tag_b || tag == &fallback_tag(&digest_b) {
            assert_eq!(
                (action.as_str(), result.as_str()),
                ("delete", "planned"),
                "{tag}: {dry:#}"
            );
        } else {
            assert_eq!(
                (action.as_str(), result.as_str()),
                ("keep", "kept"),
                "{tag}: {dry:#}"
            );
        }
    }
    assert!(
        entry(&dry, &tag_b)["reason"]
            .as_str()
            .unwrap()
            .contains("feature/b"),
        "{dry:#}"
    );
    assert_eq!(summary(&dry, "deleted"), 2, "{dry:#}");
    assert_eq!(summary(&dry, "failed"), 0);
    assert_eq!(client.resolve_all(r), before, "a dry run changes nothing");

    // The real run.
    let real = cleanup(&args, cwd);
    assert_eq!(real["dry_run"], false);
    assert_eq!(entry(&real, &tag_b)["result"], "deleted", "{real:#}");
    let image_deleted: Vec<String> = with_result(&real, "deleted")
        .into_iter()
        .filter(|t| !is_attached(t))
        .collect();
    assert_eq!(image_deleted, vec![tag_b.clone()], "{real:#}");
    // The contract counts every removed tag; here the image tag and its origin-record tag.
    assert_eq!(summary(&real, "deleted"), 2, "{real:#}");
    assert_eq!(summary(&real, "failed"), 0);

    let mut expected = before.clone();
    expected.remove(&tag_b);
    expected.remove(&fallback_tag(&digest_b));
    assert_eq!(
        client.resolve_all(r),
        expected,
        "exactly the stale tag went; every other tag resolves to its old digest"
    );
    assert_eq!(client.head(r, &digest_b), None, "the stale image is gone");

    // Again: nothing left to do, nothing written.
    proxy.clear_requests();
    let again = cleanup(&args, cwd);
    assert_eq!(summary(&again, "deleted"), 0, "{again:#}");
    assert!(to_delete(&again).is_empty(), "{again:#}");
    assert_eq!(proxy.count(Method::DELETE), 0);
    assert_eq!(proxy.count(Method::PUT), 0);
    assert_eq!(client.resolve_all(r), expected);
}

// ---------------------------------------------------------------------------------------------
// 2. Two tags on one digest

#[test]
fn two_tags_on_one_digest_one_kept() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let repo = git_repo_main_ahead(cwd, &["feature/x"]);
    let images_repo = format!("{}/two", proxy.host());
    let r = "two/api";
    let (l, digest) = layout(cwd, "shared");
    publish(
        cwd,
        &images_repo,
        "api",
        &l,
        &["--tag-git-branch", "feature/x", "--tag-custom", "keepme"],
    );
    let tag_x = slug_tag("feature/x");
    assert_eq!(client.image_tags(r), vec![tag_x.clone(), "keepme".into()]);
    assert_eq!(client.head(r, &tag_x).as_deref(), Some(digest.as_str()));
    let record = client
        .head(r, &fallback_tag(&digest))
        .expect("origin records");

    git(&repo, &["branch", "-D", "feature/x"]);
    proxy.clear_requests();
    let doc = cleanup(
        &[
            "-i",
            &images_repo,
            "--image",
            "api",
            "--git-dir",
            path_str(&repo),
            "--git-refs",
            "local",
            "--grace",
            "0",
        ],
        cwd,
    );
    assert_eq!(entry(&doc, &tag_x)["action"], "delete", "{doc:#}");
    assert_eq!(entry(&doc, &tag_x)["result"], "deleted", "{doc:#}");
    assert_eq!(entry(&doc, "keepme")["result"], "kept", "{doc:#}");
    assert_eq!(summary(&doc, "deleted"), 1, "{doc:#}");

    // Only keepme and the origin records remain, both on their old digests.
    assert_eq!(
        client.resolve_all(r),
        BTreeMap::from([
            ("keepme".to_string(), digest.clone()),
            (fallback_tag(&digest), record),
        ]),
        "no leftover tag (no throw-away manifest)"
    );
    // The shared digest was never deleted; the throw-away was (by its own digest).
    let deletes: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|q| q.method == Method::DELETE)
        .map(|q| q.path)
        .collect();
    assert!(
        !deletes.iter().any(|p| p.ends_with(&digest)),
        "the kept digest must not be deleted: {deletes:?}"
    );
    let puts: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|q| q.method == Method::PUT && q.path.contains("/manifests/"))
        .map(|q| q.path)
        .collect();
    assert!(
        puts.iter()
            .any(|p| p.ends_with(&format!("/manifests/{tag_x}"))),
        "the safe untag pushes a throw-away to the tag: {puts:?}"
    );
    let throwaway_deleted = deletes
        .iter()
        .filter(|p| p.contains("/manifests/sha256:"))
        .count();
    assert!(throwaway_deleted >= 1, "{deletes:?}");
    for p in deletes.iter().filter(|p| p.contains("/manifests/sha256:")) {
        let d = p.rsplit('/').next().unwrap();
        assert_eq!(client.head(r, d), None, "throw-away {d} is gone");
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Retention counts images

#[test]
fn retention_keep_last_counts_images() {
    let reg = RegistryServer::anonymous();
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let host = reg.host();

    // Five images, i days old, two tags each.
    let mut digests = BTreeMap::new();
    for i in 1..=5u64 {
        let d = client.push("ret", &format!("r{i}-a"), &format!("image {i}"), i);
        client.retag("ret", &d, &format!("r{i}-b"));
        digests.insert(i, d);
    }
    let doc = cleanup(
        &[
            "-i",
            &host,
            "--image",
            "ret",
            "--keep-last",
            "2",
            "--grace",
            "0",
        ],
        cwd,
    );
    let expected_gone = set((3..=5).flat_map(|i| [format!("r{i}-a"), format!("r{i}-b")]));
    assert_eq!(to_delete(&doc), expected_gone, "{doc:#}");
    assert_eq!(with_result(&doc, "deleted"), expected_gone, "{doc:#}");
    assert_eq!(summary(&doc, "deleted"), 6);
    assert_eq!(summary(&doc, "kept"), 4);
    assert_eq!(
        entry(&doc, "r1-a")["repository"],
        format!("{host}/ret"),
        "multirepo with a bare registry: HOST/NAME"
    );
    assert_eq!(
        client.image_tags("ret"),
        vec!["r1-a", "r1-b", "r2-a", "r2-b"]
    );
    for i in 1..=2 {
        assert_eq!(
            client.head("ret", &format!("r{i}-b")),
            Some(digests[&i].clone())
        );
    }
    for i in 3..=5 {
        assert_eq!(client.head("ret", &digests[&i]), None, "image {i} is gone");
    }

    // `latest` on an old image stays (the other tag of that image goes) unless allowed.
    let n1 = client.push("ret2", "n1", "new", 1);
    let n2 = client.push("ret2", "n2", "middle", 2);
    let old = client.push("ret2", "o3", "old", 3);
    client.retag("ret2", &old, "latest");
    let policy = [
        "-i",
        &host,
        "--image",
        "ret2",
        "--keep-last",
        "1",
        "--grace",
        "0",
    ];
    let doc = cleanup(&policy, cwd);
    assert_eq!(to_delete(&doc), set(["n2", "o3"]), "{doc:#}");
    assert_eq!(entry(&doc, "latest")["action"], "keep");
    assert!(
        entry(&doc, "latest")["reason"]
            .as_str()
            .unwrap()
            .contains("latest"),
        "{doc:#}"
    );
    assert_eq!(client.image_tags("ret2"), vec!["latest", "n1"]);
    assert_eq!(client.head("ret2", "latest"), Some(old.clone()));
    assert_eq!(client.head("ret2", &n2), None);

    let mut allowed = policy.to_vec();
    allowed.push("--allow-latest");
    let doc = cleanup(&allowed, cwd);
    assert_eq!(to_delete(&doc), set(["latest"]), "{doc:#}");
    assert_eq!(client.image_tags("ret2"), vec!["n1"]);
    assert_eq!(client.head("ret2", "n1"), Some(n1));
    assert_eq!(client.head("ret2", &old), None);
}

// ---------------------------------------------------------------------------------------------
// 4. Monorepo prefixes

#[test]
fn monorepo_prefixes_are_not_confused() {
    let reg = RegistryServer::anonymous();
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let images_repo = format!("{}/mono", reg.host());
    // api-gateway's images are the oldest: a planner that took them for api's would keep
    // api's and delete them.
    let mut d = BTreeMap::new();
    for (tag, days) in [
        ("api-v1", 3),
        ("api-v2", 2),
        ("api-gateway-v1", 5),
        ("api-gateway-v2", 4),
    ] {
        d.insert(tag, client.push("mono", tag, tag, days));
    }
    let mono = |images: &[&str]| -> Value {
        let mut args = vec![
            "-i",
            &images_repo,
            "--images-repo-mode",
            "monorepo",
            "--keep-last",
            "1",
            "--grace",
            "0",
        ];
        for i in images {
            args.extend_from_slice(&["--image", i]);
        }
        cleanup(&args, cwd)
    };

    // Only api-gateway configured: api-* tags are not its business.
    let doc = mono(&["api-gateway"]);
    assert_eq!(to_delete(&doc), set(["api-gateway-v1"]), "{doc:#}");
    let listed = verdicts(&doc).into_keys().collect::<BTreeSet<_>>();
    assert_eq!(listed, set(["api-gateway-v1", "api-gateway-v2"]), "{doc:#}");
    assert_eq!(
        client.image_tags("mono"),
        vec!["api-gateway-v2", "api-v1", "api-v2"]
    );

    // Both configured: each image keeps its own newest.
    client.push("mono", "api-gateway-v0", "api-gateway-v0", 6);
    let doc = mono(&["api", "api-gateway"]);
    assert_eq!(
        to_delete(&doc),
        set(["api-v1", "api-gateway-v0"]),
        "{doc:#}"
    );
    assert_eq!(client.image_tags("mono"), vec!["api-gateway-v2", "api-v2"]);
    assert_eq!(client.head("mono", "api-v2"), Some(d["api-v2"].clone()));
    assert_eq!(
        client.head("mono", "api-gateway-v2"),
        Some(d["api-gateway-v2"].clone())
    );
}

#[test]
fn monorepo_single_image_never_touches_a_longer_prefix() {
    let reg = RegistryServer::anonymous();
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let images_repo = format!("{}/mono", reg.host());
    let mode = ["--images-repo-mode", "monorepo"];
    // api-gateway's tags are published by dockhand: their origin records say they belong to
    // image api-gateway.
    for v in ["v1", "v2"] {
        let (l, _) = layout(cwd, &format!("gateway-{v}"));
        let mut opts = mode.to_vec();
        opts.extend_from_slice(&["--tag-custom", v]);
        publish(cwd, &images_repo, "api-gateway", &l, &opts);
    }
    client.push("mono", "api-v1", "api-v1", 3);
    client.push("mono", "api-v2", "api-v2", 2);
    let before = client.resolve_all("mono");

    let doc = cleanup(
        &[
            "-i",
            &images_repo,
            "--images-repo-mode",
            "monorepo",
            "--image",
            "api",
            "--keep-last",
            "1",
            "--grace",
            "0",
        ],
        cwd,
    );
    assert_eq!(to_delete(&doc), set(["api-v1"]), "{doc:#}");
    let mut expected = before.clone();
    expected.remove("api-v1");
    assert_eq!(client.resolve_all("mono"), expected);
}

// ---------------------------------------------------------------------------------------------
// 5. Multi-arch children and signatures

#[test]
fn multi_arch_children_and_signatures() {
    let reg = RegistryServer::anonymous();
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let repo = git_repo_main_ahead(cwd, &["feature/m"]);
    let images_repo = format!("{}/ma", reg.host());
    let tag_m = slug_tag("feature/m");

    // `app` on a branch that goes away; `other` on main, which stays.
    let mut seeded = BTreeMap::new();
    for (name, branch) in [("app", "feature/m"), ("other", "main")] {
        let (l, index) = multiarch_layout(cwd, name);
        publish(cwd, &images_repo, name, &l, &["--tag-git-branch", branch]);
        let r = format!("ma/{name}");
        let tag = slug_tag(branch);
        assert_eq!(client.head(&r, &tag), Some(index.clone()));
        let children = client.children(&r, &index);
        assert_eq!(children.len(), 2);
        for c in &children {
            assert_eq!(client.head(&r, c).as_deref(), Some(c.as_str()));
        }
        // A cosign-style signature of the index.
        let sig_tag = format!("{}.sig", fallback_tag(&index));
        let sig = client.push(&r, &sig_tag, &format!("signature of {name}"), 0);
        seeded.insert(name, (r, tag, index, children, sig_tag, sig));
    }

    git(&repo, &["branch", "-D", "feature/m"]);
    let args = [
        "-i",
        &images_repo,
        "--image",
        "app",
        "--image",
        "other",
        "--git-dir",
        path_str(&repo),
        "--git-refs",
        "local",
        "--grace",
        "0",
    ];
    // The table (a dry run) folds the signature, the fallback index and the origin records into
    // their image's line; `-v` lists them.
    let text = |extra: &[&str]| {
        let mut all = vec!["cleanup", "--dry-run"];
        all.extend_from_slice(&args);
        all.extend_from_slice(extra);
        ok(dockhand(&all, cwd)).stdout
    };
    let folded = text(&[]);
    assert!(!folded.contains("sha256-"), "{folded}");
    assert!(!folded.contains("referrer of"), "{folded}");
    let app_line = folded
        .lines()
        .find(|l| l.contains(&format!("/app:{tag_m}")))
        .unwrap_or_else(|| panic!("{folded}"));
    assert!(app_line.contains(" attached)"), "{folded}");
    assert!(folded.contains("-v lists them"), "{folded}");
    let expanded = text(&["-v"]);
    assert!(expanded.contains(".sig"), "{expanded}");
    assert!(expanded.contains("referrer of"), "{expanded}");
    assert!(!expanded.contains(" attached)"), "{expanded}");
    let doc = cleanup(&args, cwd);
    assert_eq!(summary(&doc, "failed"), 0, "{doc:#}");

    let (r, tag, index, children, sig_tag, sig) = &seeded["app"];
    assert_eq!(tag, &tag_m);
    let gone = set([tag.clone(), sig_tag.clone(), fallback_tag(index)]);
    let deleted: BTreeSet<String> = entries(&doc)
        .iter()
        .filter(|e| e["repository"] == format!("{images_repo}/app") && e["result"] == "deleted")
        .map(|e| e["tag"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(deleted, gone, "{doc:#}");
    assert_eq!(client.tags(r), Vec::<String>::new(), "nothing left in {r}");
    assert_eq!(client.head(r, index), None, "the index is gone");
    assert_eq!(client.head(r, sig), None, "the signature is gone");
    for c in children {
        assert_eq!(client.head(r, c), None, "child {c} is gone with its index");
    }

    // The kept image keeps its children and its signature.
    let (r, tag, index, children, sig_tag, sig) = &seeded["other"];
    assert_eq!(client.head(r, tag).as_ref(), Some(index));
    assert_eq!(client.head(r, sig_tag).as_ref(), Some(sig));
    assert!(client.head(r, &fallback_tag(index)).is_some());
    for c in children {
        assert_eq!(
            client.head(r, c).as_ref(),
            Some(c),
            "child of a kept index stays"
        );
    }
    for e in entries(&doc)
        .iter()
        .filter(|e| e["repository"] == format!("{images_repo}/other"))
    {
        assert_eq!(e["action"], "keep", "{e}");
    }
}

// ---------------------------------------------------------------------------------------------
// 6. An interrupted run converges

#[test]
fn interrupted_run_converges() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    const STALE: usize = 40;
    for i in 0..STALE {
        client.push("conv", &format!("old-{i}"), &format!("stale image {i}"), 10);
    }
    let mut kept = BTreeMap::new();
    for i in 0..3 {
        let tag = format!("keep-{i}");
        kept.insert(tag.clone(), client.push("conv", &tag, &tag, 20));
    }
    let host = proxy.host();
    let args = [
        "cleanup",
        "-i",
        &host,
        "--image",
        "conv",
        "--keep-last",
        "0",
        "--grace",
        "0",
        "--only-tag",
        "^old-",
        "--concurrency",
        "2",
        "--output",
        "json",
    ];

    // Slow deletes, then a SIGKILL once ~10 have been sent.
    proxy.add_fault(Fault::new(
        Method::DELETE,
        "/manifests/",
        10_000,
        FaultAction::Delay(Duration::from_millis(500)),
    ));
    let mut child = command(&args, cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while proxy.count(Method::DELETE) < 10 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "cleanup ended ({status}) before it was interrupted; DELETEs seen: {}",
                proxy.count(Method::DELETE)
            );
        }
        assert!(Instant::now() < deadline, "no DELETEs within 120 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Let in-flight delayed requests settle before looking.
    std::thread::sleep(Duration::from_millis(800));
    let left = client
        .image_tags("conv")
        .into_iter()
        .filter(|t| t.starts_with("old-"))
        .count();
    eprintln!("interrupted with {left} of {STALE} stale tags left");
    assert!(
        left > 0 && left < STALE,
        "the first run was interrupted part-way: {left} stale tags left"
    );

    // Second run, no delay: converges.
    proxy.clear_faults();
    let r = ok(dockhand(&args, cwd));
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(summary(&doc, "failed"), 0, "{doc:#}");
    assert_eq!(summary(&doc, "deleted") as usize, left, "{doc:#}");
    assert_eq!(client.resolve_all("conv"), kept);

    // Third run: nothing to do.
    proxy.clear_requests();
    let r = ok(dockhand(&args, cwd));
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(summary(&doc, "deleted"), 0, "{doc:#}");
    assert_eq!(proxy.count(Method::DELETE), 0);
    assert_eq!(client.resolve_all("conv"), kept);
}

// ---------------------------------------------------------------------------------------------
// 7. A dry run is the real run's plan

#[test]
fn dry_run_matches_real_run() {
    let reg = RegistryServer::anonymous();
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let repo = git_repo_main_ahead(cwd, &["feature/keep", "feature/gone1", "feature/gone2"]);
    let images_repo = format!("{}/mix", reg.host());
    let r = "mix/svc";
    for (name, opts) in [
        ("main", vec!["--tag-git-branch", "main"]),
        ("keep", vec!["--tag-git-branch", "feature/keep"]),
        (
            "gone1",
            vec![
                "--tag-git-branch",
                "feature/gone1",
                "--tag-custom",
                "pinned",
            ],
        ),
        ("gone2", vec!["--tag-git-branch", "feature/gone2"]),
        (
            "gone3",
            vec![
                "--tag-git-branch",
                "feature/gone3",
                "--tag-custom",
                "scratch",
            ],
        ),
    ] {
        if name == "gone3" {
            git(&repo, &["branch", "feature/gone3"]);
        }
        let (l, _) = layout(cwd, name);
        publish(cwd, &images_repo, "svc", &l, &opts);
    }
    client.push(r, "manual", "by hand", 40);
    for b in ["feature/gone1", "feature/gone2", "feature/gone3"] {
        git(&repo, &["branch", "-D", b]);
    }
    let args = [
        "-i",
        &images_repo,
        "--image",
        "svc",
        "--git-dir",
        path_str(&repo),
        "--git-refs",
        "local",
        "--grace",
        "0",
        "--keep-tag",
        "^pinned$",
    ];
    let mut dry_args = args.to_vec();
    dry_args.push("--dry-run");
    let before = client.resolve_all(r);
    let dry = cleanup(&dry_args, cwd);
    assert_eq!(client.resolve_all(r), before);
    let real = cleanup(&args, cwd);

    let actions = |doc: &Value| -> BTreeSet<(String, String)> {
        verdicts(doc)
            .into_iter()
            .map(|(t, (a, _))| (t, a))
            .collect()
    };
    assert_eq!(
        actions(&dry),
        actions(&real),
        "dry:\n{dry:#}\nreal:\n{real:#}"
    );
    assert_eq!(with_result(&dry, "planned"), with_result(&real, "deleted"));
    assert_eq!(with_result(&dry, "kept"), with_result(&real, "kept"));
    assert_eq!(dry["summary"], real["summary"]);
    // Not a trivial plan: untag (gone1 vs pinned), digest deletes, keeps.
    let image_deletes: BTreeSet<String> = to_delete(&real)
        .into_iter()
        .filter(|t| !is_attached(t))
        .collect();
    assert_eq!(
        image_deletes,
        set([
            slug_tag("feature/gone1"),
            slug_tag("feature/gone2"),
            slug_tag("feature/gone3"),
        ]),
        "{real:#}"
    );
    assert_eq!(entry(&real, "pinned")["action"], "keep");
    assert_eq!(
        entry(&real, "scratch")["action"],
        "keep",
        "unknown-origin custom tag stays"
    );
    let now = client.resolve_all(r);
    for t in with_result(&real, "deleted") {
        assert!(!now.contains_key(&t), "{t} was deleted");
    }
    for t in with_result(&real, "kept") {
        assert_eq!(now.get(&t), before.get(&t), "{t} was kept");
    }
}

// ---------------------------------------------------------------------------------------------
// 8. No images: refuse before any request

#[test]
fn no_images_refuses() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let dir = tempfile::tempdir().unwrap();
    let repo = format!("{}/x", proxy.host());
    for extra in [
        &[][..],
        &["--keep-last", "0", "--grace", "0"][..],
        &["--dry-run"][..],
    ] {
        let mut args = vec!["cleanup", "-i", &repo];
        args.extend_from_slice(extra);
        let r = dockhand(&args, dir.path());
        assert_eq!(
            r.code, 2,
            "{args:?}\nstdout:\n{}\nstderr:\n{}",
            r.stdout, r.stderr
        );
        assert!(
            r.stderr.contains("image"),
            "the message names what is missing: {}",
            r.stderr
        );
    }
    assert!(
        proxy.requests().is_empty(),
        "nothing may be sent: {:?}",
        proxy.requests()
    );
}

// ---------------------------------------------------------------------------------------------
// 9. --report FILE

#[test]
fn report_file_written() {
    let reg = RegistryServer::anonymous();
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    for i in 1..=3 {
        client.push("rep", &format!("t{i}"), &format!("report {i}"), i);
    }
    let host = reg.host();
    for dry in [true, false] {
        let report = cwd.join(format!("report-{dry}.json"));
        let mut args = vec![
            "-i",
            &host,
            "--image",
            "rep",
            "--keep-last",
            "1",
            "--grace",
            "0",
            "--report",
            path_str(&report),
        ];
        if dry {
            args.push("--dry-run");
        }
        let stdout = cleanup(&args, cwd);
        let file: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        assert_eq!(file, stdout, "the report file holds stdout's document");
        assert_eq!(file["dry_run"], dry);
        assert!(file["implementation"].is_string(), "{file:#}");
        for e in entries(&file) {
            for k in ["repository", "tag", "digest", "action", "reason", "result"] {
                assert!(e[k].is_string(), "{k} in {e}");
            }
        }
        for k in ["kept", "deleted", "failed"] {
            assert!(file["summary"][k].is_u64(), "summary.{k}");
        }
        assert_eq!(to_delete(&file), set(["t2", "t3"]), "{file:#}");
    }
    assert_eq!(client.image_tags("rep"), vec!["t1"]);

    // Without --output json the report is written all the same, stdout being the table.
    let report = cwd.join("report-text.json");
    let r = ok(dockhand(
        &[
            "cleanup",
            "-i",
            &host,
            "--image",
            "rep",
            "--keep-last",
            "1",
            "--grace",
            "0",
            "--report",
            path_str(&report),
        ],
        cwd,
    ));
    let file: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(file["dry_run"], false);
    assert_eq!(summary(&file, "deleted"), 0, "{file:#}");
    assert!(
        serde_json::from_str::<Value>(&r.stdout).is_err(),
        "stdout is the table"
    );
}

/// A run killed inside the safe untag (the throw-away manifest is on the tag, its DELETE not yet
/// sent) must be finished by the next run.
#[test]
fn interrupted_untag_converges() {
    let reg = RegistryServer::anonymous();
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let repo = git_repo_main_ahead(cwd, &["feature/x"]);
    let r = "two/api";
    let (l, digest) = layout(cwd, "shared");
    publish(
        cwd,
        &format!("{}/two", reg.host()),
        "api",
        &l,
        &["--tag-git-branch", "feature/x", "--tag-custom", "keepme"],
    );
    let tag_x = slug_tag("feature/x");
    let record = client
        .head(r, &fallback_tag(&digest))
        .expect("origin records");
    git(&repo, &["branch", "-D", "feature/x"]);
    let policy = |images_repo: &str| -> Vec<String> {
        [
            "cleanup",
            "-i",
            images_repo,
            "--image",
            "api",
            "--git-dir",
            path_str(&repo),
            "--git-refs",
            "local",
            "--grace",
            "0",
            "--output",
            "json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };

    // First run through a proxy that holds the throw-away's DELETE; killed there.
    let proxy = FaultProxy::start(&reg.url());
    proxy.add_fault(Fault::new(
        Method::DELETE,
        "/manifests/sha256:",
        100,
        FaultAction::Delay(Duration::from_secs(60)),
    ));
    let args = policy(&format!("{}/two", proxy.host()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = command(&args, cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.count_matching(Method::DELETE, "/manifests/sha256:") == 0 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("cleanup ended ({status}) before the throw-away was deleted");
        }
        assert!(
            Instant::now() < deadline,
            "no throw-away DELETE within 60 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(proxy);
    let left = client
        .head(r, &tag_x)
        .expect("the tag points at the throw-away");
    assert_ne!(left, digest, "interrupted inside the safe untag");

    // Second run, straight to the registry: finishes the job.
    let args = policy(&format!("{}/two", reg.host()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r2 = ok(dockhand(&args, cwd));
    let doc: Value = serde_json::from_str(&r2.stdout).unwrap();
    assert_eq!(
        client.resolve_all(r),
        BTreeMap::from([
            ("keepme".to_string(), digest.clone()),
            (fallback_tag(&digest), record),
        ]),
        "the throw-away tag left by the interrupted run is removed: {doc:#}"
    );
    assert_eq!(
        client.head(r, &left),
        None,
        "the throw-away manifest is gone"
    );
}

/// Commit tags follow `--keep-commits`: the tags of the newest N commits of the checkout stay, the
/// older ones go; without the rule, commit tags are left alone.
#[test]
fn commit_tags_follow_keep_commits() {
    let reg = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let repo = git_repo_main_ahead(dir.path(), &[]);
    let mut shas = Vec::new();
    for n in 0..4 {
        git(
            &repo,
            &[
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                &format!("change {n}"),
            ],
        );
        let sha = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
        let (path, _) = layout(dir.path(), &format!("build-{n}"));
        publish(
            dir.path(),
            &format!("{}/c", reg.host()),
            "app",
            &path,
            &["--tag-git-commit", &sha[..12]],
        );
        shas.push(sha[..12].to_string());
    }
    let images_repo = format!("{}/c", reg.host());
    let base = [
        "-i",
        images_repo.as_str(),
        "--image",
        "app",
        "--git-dir",
        path_str(&repo),
        "--grace",
        "0",
    ];
    let doc = cleanup(&base, dir.path());
    assert!(
        to_delete(&doc).is_empty(),
        "no commit rule, no deletion: {doc}"
    );

    let mut args = base.to_vec();
    args.extend(["--keep-commits", "2"]);
    let doc = cleanup(&args, dir.path());
    let gone: BTreeSet<String> = with_result(&doc, "deleted")
        .into_iter()
        .filter(|t| !is_attached(t))
        .collect();
    assert_eq!(gone, set([shas[0].clone(), shas[1].clone()]), "{doc}");
    let left = Reg::new(&reg.url(), Creds::Anonymous).image_tags("c/app");
    assert_eq!(
        left.into_iter().collect::<BTreeSet<_>>(),
        set([shas[2].clone(), shas[3].clone()])
    );
}

/// A GitLab API fake on loopback: `GET /api/v4/projects/42/repository/{branches,tags}` with
/// `JOB-TOKEN: job-token`, one page each. Returns its base URL; requests are counted.
fn gitlab_fake(
    branches: &'static [&'static str],
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}/api/v4", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/api/v4/projects/{id}/repository/{kind}",
                axum::routing::get(
                    move |axum::extract::Path((id, kind)): axum::extract::Path<(
                        String,
                        String,
                    )>,
                          headers: axum::http::HeaderMap| {
                        let counter = counter.clone();
                        async move {
                            counter.fetch_add(1, Ordering::SeqCst);
                            if headers.get("job-token").and_then(|v| v.to_str().ok())
                                != Some("job-token")
                            {
                                return (
                                    axum::http::StatusCode::UNAUTHORIZED,
                                    "{\"message\":\"401 Unauthorized\"}".to_string(),
                                );
                            }
                            if id != "42" {
                                return (
                                    axum::http::StatusCode::NOT_FOUND,
                                    "{\"message\":\"404 Project Not Found\"}".to_string(),
                                );
                            }
                            let names: Vec<&str> = if kind == "branches" {
                                branches.to_vec()
                            } else {
                                Vec::new()
                            };
                            let body: Vec<Value> = names
                                .iter()
                                .map(|n| serde_json::json!({"name": n}))
                                .collect();
                            (
                                axum::http::StatusCode::OK,
                                serde_json::to_string(&body).unwrap(),
                            )
                        }
                    },
                ),
            );
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (base, hits)
}

/// `--git-refs gitlab` reads branches from the GitLab API (with CI's job token and project) and
/// deletes the tags of the branches that are gone there.
#[test]
fn git_refs_from_the_gitlab_api() {
    let reg = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let repo_addr = format!("{}/gl", reg.host());
    for branch in ["main", "feature/x"] {
        let (path, _) = layout(dir.path(), &format!("b-{}", branch.replace('/', "-")));
        publish(
            dir.path(),
            &repo_addr,
            "app",
            &path,
            &["--tag-git-branch", branch],
        );
    }
    let (api, hits) = gitlab_fake(&["main"]);
    let out = command(
        &[
            "cleanup",
            "-i",
            &repo_addr,
            "--image",
            "app",
            "--git-refs",
            "gitlab",
            "--grace",
            "0",
            "--output",
            "json",
        ],
        dir.path(),
    )
    .env("CI_JOB_TOKEN", "job-token")
    .env("CI_PROJECT_ID", "42")
    .env("CI_API_V4_URL", &api)
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let gone: BTreeSet<String> = with_result(&doc, "deleted")
        .into_iter()
        .filter(|t| !is_attached(t))
        .collect();
    assert_eq!(gone, set([slug_tag("feature/x")]), "{doc}");
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "one page of branches, one of tags"
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("job-token"),
        "the token is never printed"
    );
}

/// In `auto`, a shallow checkout (as CI makes) is not trusted: without a forge API or a reachable
/// remote, git-aware deletion is off rather than treating unfetched branches as deleted.
#[test]
fn auto_refs_distrust_a_shallow_checkout() {
    let reg = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let full = git_repo_main_ahead(dir.path(), &["feature/x"]);
    let repo_addr = format!("{}/shallow", reg.host());
    for branch in ["main", "feature/x"] {
        let (path, _) = layout(dir.path(), &format!("s-{}", branch.replace('/', "-")));
        publish(
            dir.path(),
            &repo_addr,
            "app",
            &path,
            &["--tag-git-branch", branch],
        );
    }
    // A depth-1 clone of main only, whose origin is a path that no longer exists.
    let clone = dir.path().join("clone");
    let url = format!("file://{}", full.display());
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            "--branch",
            "main",
            &url,
            path_str(&clone),
        ],
    );
    git(
        &clone,
        &["remote", "set-url", "origin", "/nonexistent/repo"],
    );
    let doc = cleanup(
        &[
            "-i",
            &repo_addr,
            "--image",
            "app",
            "--git-dir",
            path_str(&clone),
            "--grace",
            "0",
        ],
        dir.path(),
    );
    assert!(
        to_delete(&doc).is_empty(),
        "feature/x exists upstream; nothing may go: {doc}"
    );
}

/// A registry with deletion disabled refuses every DELETE: the report marks each as failed, the
/// exit code is 4 ("the registry cannot do what was asked"), and every tag is still there.
#[test]
fn deletion_disabled_exits_4() {
    let reg = RegistryServer::start(RegistryOptions {
        delete_enabled: false,
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    client.push("locked/app", "old", "old content", 30);
    client.push("locked/app", "new", "new content", 1);
    let images_repo = format!("{}/locked", reg.host());
    let r = dockhand(
        &[
            "cleanup",
            "-i",
            &images_repo,
            "--image",
            "app",
            "--keep-last",
            "1",
            "--grace",
            "0",
            "--git-refs",
            "none",
            "--output",
            "json",
        ],
        dir.path(),
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("deletion is disabled"), "{}", r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(summary(&doc, "failed"), 1, "{doc}");
    assert_eq!(entry(&doc, "old")["result"], "failed");
    let mut tags = client.image_tags("locked/app");
    tags.sort();
    assert_eq!(tags, vec!["new", "old"]);
}

// ---------------------------------------------------------------------------------------------
// 9. Tag safety: pipelines that push while cleanup runs, untag races, answers that lie,
//    misnamed inputs (docs/cleanup-safety.md)

/// Seeds `n` tags `old-0..` (each its own digest, content built 10 days ago).
/// `old-0` … `old-{n-1}`, built a day apart (`old-0` the oldest, all over 10 days ago), so the
/// oldest-first deletion order is theirs.
fn seed_old(client: &Reg, repo: &str, n: usize) -> BTreeMap<String, String> {
    (0..n)
        .map(|i| {
            let tag = format!("old-{i}");
            let days = 10 + (n - i) as u64;
            let d = client.push(repo, &tag, &format!("{repo} old image {i}"), days);
            (tag, d)
        })
        .collect()
}

/// Every listed tag resolves to a complete image (manifest and every blob it names present):
/// nothing dangling, nothing half-deleted. Returns tag → digest.
fn assert_intact(client: &Reg, repo: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for tag in client.tags(repo) {
        let m = client
            .get(repo, &tag)
            .unwrap_or_else(|| panic!("{repo}:{tag} is listed but its manifest is missing"));
        let j = m.json();
        let blobs = j["config"]["digest"].as_str().into_iter().chain(
            j["layers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l["digest"].as_str()),
        );
        for b in blobs {
            assert!(
                client.blob_exists(repo, b),
                "{repo}:{tag}: blob {b} is missing"
            );
        }
        out.insert(tag, m.digest);
    }
    out
}

fn cleanup_args<'a>(host: &'a str, image: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "cleanup",
        "-i",
        host,
        "--image",
        image,
        "--only-tag",
        "^old-",
        "--keep-last",
        "0",
        "--grace",
        "0",
        "--output",
        "json",
    ];
    a.extend_from_slice(extra);
    a
}

/// Item: a tag put on a planned digest while cleanup deletes (a rebuild with the same content,
/// a re-tag, an existing tag moved there) survives, and the digest's planned tags are kept with
/// the reason. Before the re-checks every such tag was deleted with its digest, exit 0.
#[test]
fn tags_put_on_planned_digests_during_cleanup_survive() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    let dir = tempfile::tempdir().unwrap();
    const ROUNDS: usize = 5;
    const OLD: usize = 150;
    for round in 0..ROUNDS {
        let repo = format!("race{round}");
        let old = seed_old(&client, &repo, OLD);
        let keep_a = client.push(&repo, "keep-a", &format!("{repo} keep a"), 20);
        let keep_b = client.push(&repo, "keep-b", &format!("{repo} keep b"), 20);
        // Digests are deleted oldest first, 4 at a time; pick ones deleted late.
        let targets: Vec<String> = (110..115)
            .map(|i| old[&format!("old-{i}")].clone())
            .collect();
        let moved_onto = old["old-120"].clone();
        proxy.clear_faults();
        proxy.clear_requests();
        proxy.add_fault(Fault::new(
            Method::DELETE,
            "/manifests/",
            10_000,
            FaultAction::Delay(Duration::from_millis(40)),
        ));
        let host = proxy.host();
        let args = cleanup_args(&host, &repo, &["--concurrency", "4"]);
        let child = command(&args, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while proxy.count(Method::DELETE) < 5 {
            assert!(Instant::now() < deadline, "no DELETEs within 60 s");
            std::thread::sleep(Duration::from_millis(5));
        }
        // A concurrent pipeline, straight to the registry: new tags on planned digests, and
        // an existing kept tag moved onto one.
        for (i, d) in targets.iter().enumerate() {
            client.retag(&repo, d, &format!("new-{i}"));
        }
        client.retag(&repo, &moved_onto, "keep-a");
        let deletes_when_pushed = proxy.count(Method::DELETE);
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "round {round}: stdout:\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            deletes_when_pushed < OLD - 40,
            "round {round}: the pushes came too late ({deletes_when_pushed} DELETEs already)"
        );
        let doc: Value = serde_json::from_str(&stdout).unwrap();
        let after = assert_intact(&client, &repo);
        for (i, d) in targets.iter().enumerate() {
            assert_eq!(
                after.get(&format!("new-{i}")),
                Some(d),
                "round {round}: new-{i} lost"
            );
        }
        assert_eq!(
            after.get("keep-a"),
            Some(&moved_onto),
            "round {round}: keep-a lost"
        );
        assert_eq!(after.get("keep-b"), Some(&keep_b));
        assert_ne!(keep_a, moved_onto);
        // The planned tags of the protected digests are kept, with the reason; all else went.
        let protected: BTreeSet<&String> = targets.iter().chain([&moved_onto]).collect();
        for (tag, d) in &old {
            let e = entry(&doc, tag);
            if protected.contains(d) {
                assert_eq!(e["result"], "kept", "round {round}: {e}");
                assert!(
                    e["reason"]
                        .as_str()
                        .unwrap()
                        .contains("after the plan was made"),
                    "{e}"
                );
                assert_eq!(after.get(tag), Some(d));
            } else {
                assert_eq!(e["result"], "deleted", "round {round}: {e}");
                assert!(!after.contains_key(tag), "round {round}: {tag} still there");
            }
        }
        assert_eq!(summary(&doc, "failed"), 0);
        assert_eq!(summary(&doc, "deleted") as usize, OLD - 6);
    }
}

/// Two cleanups of one repository at once converge: no failure, no dangling tag, exactly the
/// kept tags left, every one a complete image.
#[test]
fn two_cleanups_at_once_converge() {
    let reg = RegistryServer::anonymous();
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    let dir = tempfile::tempdir().unwrap();
    const ROUNDS: usize = 5;
    for round in 0..ROUNDS {
        let repo = format!("twice{round}");
        seed_old(&client, &repo, 120);
        let kept: BTreeMap<String, String> = (0..3)
            .map(|i| {
                let t = format!("keep-{i}");
                let d = client.push(&repo, &t, &format!("{repo} {t}"), 20);
                (t, d)
            })
            .collect();
        let host = reg.host();
        let args = cleanup_args(&host, &repo, &[]);
        let a = command(&args, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let b = command(&args, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        for (name, child) in [("a", a), ("b", b)] {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                out.status.code(),
                Some(0),
                "round {round} cleanup {name}: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let doc: Value = serde_json::from_str(&stdout).unwrap();
            assert_eq!(summary(&doc, "failed"), 0, "{doc:#}");
        }
        assert_eq!(assert_intact(&client, &repo), kept, "round {round}");
    }
}

/// Many untags of one digest (distribution has no tag delete, so each is a throw-away PUT and
/// DELETE): no failure, no dangling tag, the digest and its kept tag intact, in every run.
#[test]
fn many_untags_of_one_digest() {
    let reg = RegistryServer::anonymous();
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    let dir = tempfile::tempdir().unwrap();
    let digest = client.push("shared", "stay", "one shared image", 10);
    const RUNS: usize = 10;
    for run in 0..RUNS {
        for i in 0..60 {
            client.retag("shared", &digest, &format!("old-{i}"));
        }
        let host = reg.host();
        let args = cleanup_args(&host, "shared", &[]);
        let doc: Value = serde_json::from_str(&ok(dockhand(&args, dir.path())).stdout).unwrap();
        assert_eq!(summary(&doc, "failed"), 0, "run {run}: {doc:#}");
        assert_eq!(summary(&doc, "deleted"), 60, "run {run}: {doc:#}");
        let after = assert_intact(&client, "shared");
        assert_eq!(
            after,
            BTreeMap::from([("stay".to_string(), digest.clone())]),
            "run {run}"
        );
    }
}

/// A dangling tag (listed, manifest gone: what a DELETE that fails half-way leaves) is found,
/// reported and removed when in scope; before, runs skipped it with "0 deleted, 0 failed".
#[test]
fn dangling_tags_are_found_and_repaired() {
    let reg = RegistryServer::anonymous();
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    let dir = tempfile::tempdir().unwrap();
    let old = seed_old(&client, "dangle", 2);
    let keep = client.push("dangle", "keep-0", "dangle keep", 1);
    // Remove old-0's revision link the way a half-done DELETE does: the tag stays listed.
    let hex = old["old-0"].trim_start_matches("sha256:");
    let link = reg
        .root()
        .join("docker/registry/v2/repositories/dangle/_manifests/revisions/sha256")
        .join(hex);
    std::fs::remove_dir_all(&link).unwrap();
    assert!(client.tags("dangle").contains(&"old-0".to_string()));
    assert_eq!(client.head("dangle", "old-0"), None);

    let host = reg.host();
    // --keep-last 5 keeps old-1: only the dangling tag goes.
    let mut all = vec![
        "cleanup",
        "-i",
        &host,
        "--image",
        "dangle",
        "--only-tag",
        "^old-",
    ];
    all.extend(["--keep-last", "5", "--grace", "0", "--output", "json"]);
    let r = ok(dockhand(&all, dir.path()));
    assert!(r.stderr.contains("dangling"), "{}", r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    let e = entry(&doc, "old-0");
    assert_eq!(e["result"], "deleted", "{e}");
    assert!(e["reason"].as_str().unwrap().contains("dangling"), "{e}");
    assert_eq!(entry(&doc, "old-1")["result"], "kept");
    assert_eq!(
        assert_intact(&client, "dangle"),
        BTreeMap::from([
            ("keep-0".to_string(), keep),
            ("old-1".to_string(), old["old-1"].clone())
        ])
    );
}

/// A manifest fetched by tag whose bytes do not hash to the `Docker-Content-Digest` the
/// registry names is refused: before, cleanup planned on the served bytes, deleted that other
/// (untagged) manifest and reported the tag deleted while it stayed.
#[test]
fn swapped_manifest_bodies_are_refused() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    let dir = tempfile::tempdir().unwrap();
    let old = seed_old(&client, "swap", 2);
    // An untagged manifest: pushed under a tag, then re-pushed by digest and the tag moved.
    let other = client.push("swap", "tmp", "swap other image", 10);
    let m = client.get("swap", &other).unwrap();
    client.retag("swap", &old["old-1"], "tmp");
    proxy.add_fault(Fault::new(
        Method::GET,
        "/manifests/old-0",
        100,
        FaultAction::Respond {
            status: 200,
            headers: vec![
                ("Content-Type".into(), m.media_type.clone()),
                ("Docker-Content-Digest".into(), old["old-0"].clone()),
            ],
            body: m.bytes.clone(),
        },
    ));
    let host = proxy.host();
    let args = cleanup_args(&host, "swap", &[]);
    let r = dockhand(&args, dir.path());
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&old["old-0"]) && r.stderr.contains(&other),
        "{}",
        r.stderr
    );
    assert_eq!(proxy.count(Method::DELETE), 0, "nothing may be deleted");
    assert_eq!(client.head("swap", &other), Some(other.clone()));
    assert_eq!(client.head("swap", "old-0"), Some(old["old-0"].clone()));
}

/// A 200 with an HTML page (a login or proxy page) and a 404 for a manifest that is still
/// there are not deletions: the tags are reported failed, exit 1. Before, both said deleted.
#[test]
fn deletions_that_did_not_happen_are_not_reported_deleted() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    let dir = tempfile::tempdir().unwrap();
    let old = seed_old(&client, "liar", 3);
    let host = proxy.host();
    let args = cleanup_args(&host, "liar", &[]);
    for fault in [
        Fault::new(
            Method::DELETE,
            "/manifests/",
            100,
            FaultAction::Respond {
                status: 200,
                headers: vec![("Content-Type".into(), "text/html; charset=utf-8".into())],
                body: b"<html><body>Please sign in</body></html>".to_vec(),
            },
        ),
        Fault::status(Method::DELETE, "/manifests/", 100, 404),
    ] {
        proxy.clear_faults();
        proxy.add_fault(fault);
        let r = dockhand(&args, dir.path());
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
        let doc: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(summary(&doc, "deleted"), 0, "{doc:#}");
        assert_eq!(summary(&doc, "failed"), 3, "{doc:#}");
        assert_eq!(assert_intact(&client, "liar"), old);
    }
}

/// The grace period judges the tag, not its content: a tag put a moment ago on content pushed
/// earlier is fresh by its own origin record. Before, the record of the content's first tag
/// dated it, and `--grace 2s --keep-last 1` deleted the tag pushed a second before.
#[test]
fn a_fresh_tag_on_old_content_is_within_the_grace_period() {
    let reg = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let host = reg.host();
    let repo = format!("{host}/graced");
    let (x, x_digest) = layout(cwd, "x");
    let (y, _) = layout(cwd, "y");
    publish(cwd, &repo, "app", &x, &["--tag-custom", "first"]);
    std::thread::sleep(Duration::from_secs(4));
    publish(cwd, &repo, "app", &y, &["--tag-custom", "newer"]);
    publish(cwd, &repo, "app", &x, &["--tag-custom", "again"]);
    let doc = cleanup(
        &[
            "-i",
            &repo,
            "--image",
            "app",
            "--keep-last",
            "1",
            "--grace",
            "3s",
        ],
        cwd,
    );
    let e = entry(&doc, "again");
    assert_eq!(e["result"], "kept", "{doc:#}");
    assert!(e["reason"].as_str().unwrap().contains("grace"), "{e}");
    assert!(
        e["reason"].as_str().unwrap().contains("origin record"),
        "{e}"
    );
    assert_eq!(
        entry(&doc, "first")["result"],
        "kept",
        "same image as `again`"
    );
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    assert_eq!(client.head("graced/app", "again"), Some(x_digest));
}

/// Where only the content's build time is known (no origin record, no registry time), a tag
/// cannot be dated: the grace period keeps it and says which clock it had; `--grace 0` lets the
/// age rules use the build time.
#[test]
fn tags_dated_only_by_their_content_fail_closed_under_grace() {
    let reg = RegistryServer::anonymous();
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    let dir = tempfile::tempdir().unwrap();
    let old = seed_old(&client, "undated", 2);
    let host = reg.host();
    let base = [
        "cleanup",
        "-i",
        &host,
        "--image",
        "undated",
        "--keep-last",
        "0",
        "--output",
        "json",
    ];
    let r = ok(dockhand(
        &[&base[..], &["--grace", "1h"]].concat(),
        dir.path(),
    ));
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    for tag in old.keys() {
        let e = entry(&doc, tag);
        assert_eq!(e["result"], "kept", "{e}");
        let reason = e["reason"].as_str().unwrap();
        assert!(
            reason.contains("image config") && reason.contains("grace"),
            "{reason}"
        );
    }
    assert_eq!(assert_intact(&client, "undated"), old);
    let r = ok(dockhand(
        &[&base[..], &["--grace", "0"]].concat(),
        dir.path(),
    ));
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(summary(&doc, "deleted"), 2, "{doc:#}");
}

/// Misnamed inputs never turn a dry run into a real one: an unknown `INPUT_*`/`DOCKHAND_*` is
/// exit 2 naming the closest option, before any request; the kebab-case spelling GitHub uses
/// for an input named `dry-run` means the option. Before, they were ignored and a real cleanup
/// emptied the repository.
#[test]
fn misnamed_inputs_are_refused_before_any_request() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    let dir = tempfile::tempdir().unwrap();
    let old = seed_old(&client, "inputs", 3);
    let host = proxy.host();
    for (var, value, closest) in [
        ("INPUT_DRYRUN", "true", "INPUT_DRY_RUN"),
        ("INPUT_KEEPLAST", "100", "INPUT_KEEP_LAST"),
        ("DOCKHAND_DRY_RUNN", "true", "DOCKHAND_DRY_RUN"),
        ("INPUT_KEEP_YOUNGER", "1s", "INPUT_KEEP_YOUNGER_THAN"),
    ] {
        proxy.clear_requests();
        let out = command(&cleanup_args(&host, "inputs", &[]), dir.path())
            .env(var, value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}: {stderr}");
        assert!(
            stderr.contains(var) && stderr.contains(closest),
            "{var}: {stderr}"
        );
        assert!(proxy.requests().is_empty(), "{var}: requests were sent");
    }
    // GitHub's spelling of inputs named `dry-run` and `keep-last`.
    proxy.clear_requests();
    let out = command(
        &[
            "cleanup", "-i", &host, "--image", "inputs", "--output", "json",
        ],
        dir.path(),
    )
    .env("INPUT_DRY-RUN", "true")
    .env("INPUT_KEEP-LAST", "0")
    .env("INPUT_GRACE", "0")
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["dry_run"], true);
    assert_eq!(summary(&doc, "deleted"), 3, "planned deletions are counted");
    assert_eq!(proxy.count(Method::DELETE), 0);
    assert_eq!(assert_intact(&client, "inputs"), old);
}

/// A DELETE that did its work but answered 500 (as distribution does when a parallel push
/// rewrites a tag link it reads) is judged by the final listing: the tag is gone, so it is
/// deleted, and the run succeeds. Before, it was a failure with exit 1.
#[test]
fn a_deletion_that_happened_despite_an_error_counts() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    let dir = tempfile::tempdir().unwrap();
    seed_old(&client, "halfway", 3);
    let keep = client.push("halfway", "keep-0", "halfway keep", 1);
    proxy.add_fault(Fault::new(
        Method::DELETE,
        "/manifests/",
        1,
        FaultAction::ForwardThenRespond {
            status: 500,
            headers: vec![("Content-Type".into(), "application/json".into())],
        },
    ));
    let host = proxy.host();
    let doc: Value = serde_json::from_str(
        &ok(dockhand(&cleanup_args(&host, "halfway", &[]), dir.path())).stdout,
    )
    .unwrap();
    assert_eq!(summary(&doc, "deleted"), 3, "{doc:#}");
    assert_eq!(summary(&doc, "failed"), 0, "{doc:#}");
    // No retry covered it up: one DELETE per digest, the listing decided.
    assert_eq!(proxy.count(Method::DELETE), 3);
    assert_eq!(
        assert_intact(&client, "halfway"),
        BTreeMap::from([("keep-0".to_string(), keep)])
    );
}
