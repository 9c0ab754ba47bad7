//! Google Container Registry and Artifact Registry end to end: the real binary with
//! `--implementation gcr` against the GCR/AR fake (`support::fake_gcr`): credentials
//! (`oauth2accesstoken`, `_json_key`), the extended `tags/list` as inventory, untag-then-delete
//! ordering, AR repositories that must exist, permissions (exit 3), 429s, and `dockhand detect`.

use crate::support;
use crate::support::layouts::{git, git_repo, layout, oci};
use crate::support::mixed_plan::BranchPlan;
use crate::support::report::entry_ending as entry;
use crate::support::run::{Run, dockhand_env, ok};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use dockhand::naming::slug::slug_tag;
use serde_json::Value;
use support::fake_gcr::{DANGLING_PARENT, DANGLING_TAG, FakeGcr, Identities, json_key};
use support::fake_oci::{FaultRule, Grants, RetryAfter};
use support::{Creds, RegistryClient};

const ACCESS_TOKEN: &str = "ya29.fake-access-token-Jk3";
const SA: &str = "ci@fake-project.iam.gserviceaccount.com";
const READ_WRITE_TOKEN: &str = "ya29.push-only-token-Qm1";

fn ids() -> Identities {
    let all = Grants::none().allow("*", &["pull", "push", "delete"]);
    let push = Grants::none().allow("*", &["pull", "push"]);
    Identities {
        tokens: HashMap::from([
            (ACCESS_TOKEN.to_string(), all.clone()),
            (READ_WRITE_TOKEN.to_string(), push),
        ]),
        keys: HashMap::from([(SA.to_string(), all)]),
    }
}

/// The binary with this module's extra environment (an empty list has a type here).
fn dockhand(args: &[&str], cwd: &Path, env: &[(&str, String)]) -> Run {
    dockhand_env(args, cwd, env)
}

// ---------------------------------------------------------------------------------------------
// Running dockhand

/// `GOOGLE_APPLICATION_CREDENTIALS` pointing at a key file of the service account.
fn key_env(cwd: &Path) -> Vec<(&'static str, String)> {
    let path = cwd.join("sa-key.json");
    std::fs::write(&path, json_key(SA)).unwrap();
    vec![("GOOGLE_APPLICATION_CREDENTIALS", path.display().to_string())]
}

// ---------------------------------------------------------------------------------------------
// Fixtures

fn push_signature(fake: &FakeGcr, repo: &str, subject: &str) -> (String, String) {
    let client = RegistryClient::new(&fake.url(), Creds::basic("oauth2accesstoken", ACCESS_TOKEN));
    let tag = format!("{}.sig", subject.replace(':', "-"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let d = rt
        .block_on(client.push_image(repo, &tag, &[b"signature".to_vec()], "2024-05-01T12:00:00Z"))
        .digest;
    (tag, d)
}

/// Tags without the `sha256-…` ones (origin records, signatures).
fn image_tags(fake: &FakeGcr, repo: &str) -> Vec<String> {
    fake.tags(repo)
        .into_iter()
        .filter(|t| !t.starts_with("sha256-"))
        .collect()
}

/// Runs the mixed plan on a fresh fake: the seed example and two multi-arch images published,
/// a signature, a digest with a kept and a stale tag; checks the end state and the requests.
fn mixed_cleanup(artifact_registry: bool) {
    let fake = FakeGcr::start(artifact_registry, ids());
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let base = if artifact_registry {
        fake.create_repository("proj/repo");
        "proj/repo"
    } else {
        "proj"
    };
    let images_repo = format!("{}/{base}", fake.host());
    let env = key_env(cwd);
    let publish = |extra: &[&str]| {
        let mut args = vec!["publish", "-i", &images_repo, "--implementation", "gcr"];
        args.extend_from_slice(extra);
        ok(dockhand(&args, cwd, &env));
    };
    let BranchPlan {
        repo,
        tag_x,
        seeded,
        app_index,
        other_index,
    } = BranchPlan::publish(cwd, publish);
    let r = |n: &str| format!("{base}/{n}");
    let (app_sig, _) = push_signature(&fake, &r("app"), &app_index);
    let (other_sig, _) = push_signature(&fake, &r("other"), &other_index);

    let backend_digest = &seeded[0].1;
    assert_eq!(fake.tag_map(&r("backend"))[&tag_x], *backend_digest);
    assert_eq!(fake.tag_map(&r("backend"))["stable"], *backend_digest);
    let names = ["backend", "frontend", "app", "other"];
    let before: BTreeMap<&str, (BTreeMap<String, String>, Vec<String>)> = names
        .into_iter()
        .map(|n| (n, (fake.tag_map(&r(n)), fake.manifest_digests(&r(n)))))
        .collect();

    git(&repo, &["branch", "-D", "feature/x"]);
    fake.clear_log();
    let doc = ok(dockhand(
        &[
            "cleanup",
            "-i",
            &images_repo,
            "--implementation",
            "gcr",
            "--image",
            "backend",
            "--image",
            "frontend",
            "--image",
            "app",
            "--image",
            "other",
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
        &env,
    ))
    .json();
    assert_eq!(doc["implementation"], "gcr");
    assert_eq!(doc["summary"]["failed"], 0, "{doc:#}");

    // The planned state.
    assert_eq!(entry(&doc, "/backend", &tag_x)["result"], "deleted");
    assert_eq!(entry(&doc, "/app", &app_sig)["result"], "deleted");
    let stable_only: BTreeMap<String, String> = before["backend"]
        .0
        .iter()
        .filter(|(t, _)| *t != &tag_x)
        .map(|(t, d)| (t.clone(), d.clone()))
        .collect();
    assert_eq!(fake.tag_map(&r("backend")), stable_only);
    assert!(fake.tag_map(&r("backend")).contains_key("stable"));
    assert_eq!(
        fake.manifest_digests(&r("backend")),
        before["backend"].1,
        "untag keeps the digest"
    );
    for gone in ["frontend", "app"] {
        assert!(
            fake.tags(&r(gone)).is_empty(),
            "{gone}: {:?}",
            fake.tags(&r(gone))
        );
        let left: Vec<(String, String, Option<String>)> = fake
            .manifest_digests(&r(gone))
            .into_iter()
            .map(|d| {
                let m = fake.manifest(&r(gone), &d).unwrap();
                (d, m.media_type.clone(), m.artifact_type.clone())
            })
            .collect();
        assert!(left.is_empty(), "{gone}: {left:?}\n{doc:#}");
    }
    assert_eq!(fake.tag_map(&r("other")), before["other"].0);
    assert_eq!(fake.manifest_digests(&r("other")), before["other"].1);
    assert!(fake.tags(&r("other")).contains(&other_sig));

    // Through GCR's own ways: extended tags/list listings, tag DELETEs before each
    // digest's DELETE (never a dangling-tag or dangling-parent refusal), one DELETE per tag and per
    // manifest, no manifest reads for digests and times, no throw-away manifests.
    let log = fake.requests();
    for n in names {
        let lists = log
            .iter()
            .filter(|q| q.method == "GET" && q.path == format!("/v2/{}/tags/list", r(n)))
            .filter(|q| q.status == 200)
            .count();
        // The inventory; repositories with deletions are listed again before and after them
        // (docs/cleanup-safety.md).
        let want = if n == "other" { 1 } else { 3 };
        assert_eq!(lists, want, "{n}: listings");
    }
    assert!(
        log.iter().all(|q| q.status != 400),
        "no refusal: {:?}",
        log.iter()
            .filter(|q| q.status == 400)
            .map(|q| q.line())
            .collect::<Vec<_>>()
    );
    let deletes: Vec<String> = log
        .iter()
        .filter(|q| q.method == "DELETE")
        .map(|q| q.path.clone())
        .collect();
    let expected_tags: BTreeSet<String> = ["frontend", "app"]
        .iter()
        .flat_map(|n| {
            before[n]
                .0
                .keys()
                .map(move |t| format!("/v2/{}/manifests/{t}", r(n)))
        })
        .chain([format!("/v2/{}/manifests/{tag_x}", r("backend"))])
        .collect();
    let expected_digests: BTreeSet<String> = ["frontend", "app"]
        .iter()
        .flat_map(|n| {
            before[n]
                .1
                .iter()
                .map(move |d| format!("/v2/{}/manifests/{d}", r(n)))
        })
        .collect();
    let sent: BTreeSet<String> = deletes.iter().cloned().collect();
    assert_eq!(
        deletes.len(),
        sent.len(),
        "nothing deleted twice: {deletes:?}"
    );
    assert_eq!(
        sent,
        expected_tags.union(&expected_digests).cloned().collect(),
        "{deletes:?}"
    );
    // Order: a digest's DELETE comes after every tag DELETE of that digest.
    let position = |p: &str| deletes.iter().position(|d| d == p).unwrap();
    for n in ["frontend", "app"] {
        for (t, d) in &before[n].0 {
            assert!(
                position(&format!("/v2/{}/manifests/{t}", r(n)))
                    < position(&format!("/v2/{}/manifests/{d}", r(n))),
                "untag {t} before deleting {d}: {deletes:?}"
            );
        }
    }
    assert_eq!(
        log.iter().filter(|q| q.method == "PUT").count(),
        0,
        "no safe untag"
    );
    assert!(
        log.iter()
            .all(|q| q.auth_scheme().as_deref() != Some("basic") || q.path == "/v2/token"),
        "the key goes to the token realm only"
    );
    let _ = (DANGLING_TAG, DANGLING_PARENT);
}

// ---------------------------------------------------------------------------------------------
// 1. Publish, then a mixed cleanup

#[test]
fn gcr_publish_then_mixed_cleanup() {
    mixed_cleanup(false);
}

#[test]
fn artifact_registry_publish_then_mixed_cleanup() {
    mixed_cleanup(true);
}

// ---------------------------------------------------------------------------------------------
// 2. Credentials, the AR repository, times

#[test]
fn access_token_json_key_and_missing_ar_repository() {
    let fake = FakeGcr::start(true, ids());
    fake.create_repository("proj/repo");
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let src = format!("app={}", oci(&layout(cwd, "ar-app").0));

    // An access token: Basic oauth2accesstoken to the realm, Bearer everywhere else.
    let images_repo = format!("{}/proj/repo", fake.host());
    ok(dockhand(
        &[
            "publish",
            "-i",
            &images_repo,
            "--implementation",
            "gcr",
            "--image",
            &src,
            "--tag-custom",
            "v1",
            "--google-access-token",
            ACCESS_TOKEN,
        ],
        cwd,
        &[],
    ));
    assert_eq!(image_tags(&fake, "proj/repo/app"), vec!["v1"]);
    use base64::Engine;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("oauth2accesstoken:{ACCESS_TOKEN}"))
    );
    let realm: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|q| q.path == "/v2/token")
        .collect();
    assert!(!realm.is_empty());
    assert!(
        realm
            .iter()
            .all(|q| q.authorization.as_deref() == Some(basic.as_str()))
    );

    // AR answers with numbers for timeUploadedMs: the push time is read all the same.
    let listed = RegistryClient::new(&fake.url(), Creds::basic("oauth2accesstoken", ACCESS_TOKEN));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body: Value = rt.block_on(async {
        listed
            .send(
                reqwest::Method::GET,
                "/v2/proj/repo/app/tags/list",
                Default::default(),
                None,
            )
            .await
            .json()
            .await
            .unwrap()
    });
    let m = body["manifest"].as_object().unwrap();
    assert!(m.values().all(|e| e["timeUploadedMs"].is_u64()), "{body:#}");
    fake.clear_log();
    let doc = ok(dockhand(
        &[
            "cleanup",
            "-i",
            &images_repo,
            "--implementation",
            "gcr",
            "--image",
            "app",
            "--keep-younger-than",
            "1h",
            "--grace",
            "0",
            "--dry-run",
            "--output",
            "json",
            "--google-access-token",
            ACCESS_TOKEN,
        ],
        cwd,
        &[],
    ))
    .json();
    assert_eq!(
        entry(&doc, "/app", "v1")["action"],
        "keep",
        "pushed just now: {doc:#}"
    );
    assert_eq!(
        fake.requests_matching("GET", "/blobs/").len(),
        0,
        "times from the listing, no config reads"
    );

    // A repository that does not exist on AR: exit 2 naming it, before any upload.
    fake.clear_log();
    let r = dockhand(
        &[
            "publish",
            "-i",
            &format!("{}/proj/missing", fake.host()),
            "--implementation",
            "gcr",
            "--image",
            &src,
            "--tag-custom",
            "v1",
            "--google-access-token",
            ACCESS_TOKEN,
        ],
        cwd,
        &[],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("proj/missing") && r.stderr.contains("does not exist"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("gcloud artifacts repositories create missing"),
        "{}",
        r.stderr
    );
    assert!(fake.requests_matching("POST", "/blobs/uploads").is_empty());
    assert!(fake.requests_matching("PUT", "/manifests/").is_empty());

    // A JSON key that is not JSON: exit 2 before anything is sent.
    let bad = cwd.join("bad-key.json");
    std::fs::write(&bad, "not a key").unwrap();
    fake.clear_log();
    let r = dockhand(
        &[
            "publish",
            "-i",
            &images_repo,
            "--implementation",
            "gcr",
            "--image",
            &src,
            "--tag-custom",
            "v2",
            "--google-json-key",
            bad.to_str().unwrap(),
        ],
        cwd,
        &[],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(fake.requests_matching("PUT", "").is_empty());
}

// ---------------------------------------------------------------------------------------------
// 3. Permissions and 429

fn stale_and_kept(fake: &FakeGcr, cwd: &Path, images_repo: &str) -> PathBuf {
    let repo = git_repo(cwd, &["feature/q"]);
    let src = format!("app={}", oci(&layout(cwd, "perm-app").0));
    ok(dockhand(
        &[
            "publish",
            "-i",
            images_repo,
            "--implementation",
            "gcr",
            "--image",
            &src,
            "--tag-git-branch",
            "feature/q",
            "--tag-custom",
            "keep",
            "--google-access-token",
            ACCESS_TOKEN,
        ],
        cwd,
        &[],
    ));
    git(&repo, &["branch", "-D", "feature/q"]);
    let _ = fake;
    repo
}

fn cleanup_with(images_repo: &str, repo: &Path, cwd: &Path, token: &str) -> Run {
    dockhand(
        &[
            "cleanup",
            "-i",
            images_repo,
            "--implementation",
            "gcr",
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
            "--google-access-token",
            token,
        ],
        cwd,
        &[],
    )
}

#[test]
fn missing_delete_role_exits_3_naming_it() {
    for ar in [false, true] {
        let fake = FakeGcr::start(ar, ids());
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path();
        let base = if ar {
            fake.create_repository("proj/repo");
            "proj/repo"
        } else {
            "proj"
        };
        let images_repo = format!("{}/{base}", fake.host());
        let repo = stale_and_kept(&fake, cwd, &images_repo);
        let r = cleanup_with(&images_repo, &repo, cwd, READ_WRITE_TOKEN);
        assert_eq!(r.code, 3, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("roles/artifactregistry.repoAdmin"),
            "{}",
            r.stderr
        );
        if !ar {
            assert!(r.stderr.contains("Storage Admin"), "{}", r.stderr);
        }
        assert_eq!(
            image_tags(&fake, &format!("{base}/app")).len(),
            2,
            "nothing removed: {:?}",
            fake.tags(&format!("{base}/app"))
        );
    }
}

#[test]
fn rate_limits_are_waited_out() {
    let fake = FakeGcr::start(false, ids());
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let images_repo = format!("{}/proj", fake.host());
    let repo = stale_and_kept(&fake, cwd, &images_repo);
    let mut expected = fake.tag_map("proj/app");
    expected.remove(&slug_tag("feature/q"));
    assert!(expected.contains_key("keep"));
    fake.clear_log();
    fake.fail_next(FaultRule::too_many("/tags/list", 2, RetryAfter::Seconds(1)));
    let start = std::time::Instant::now();
    let doc = ok(cleanup_with(&images_repo, &repo, cwd, ACCESS_TOKEN)).json();
    assert!(start.elapsed() >= std::time::Duration::from_secs(2));
    let statuses: Vec<u16> = fake
        .requests_matching("GET", "/tags/list")
        .iter()
        .map(|q| q.status)
        .collect();
    assert_eq!(&statuses[..2], &[429, 429], "{statuses:?}");
    assert_eq!(statuses.last(), Some(&200), "{statuses:?}");
    assert_eq!(doc["summary"]["failed"], 0, "{doc:#}");
    assert_eq!(fake.tag_map("proj/app"), expected, "{doc:#}");
}

// ---------------------------------------------------------------------------------------------
// 4. Detection

#[test]
fn detect_gcr_and_ar_hosts_auto_mode_and_nesting() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    for (address, reference) in [
        ("gcr.io/my-project", "gcr.io/my-project/backend:tag"),
        (
            "eu.gcr.io/my-project/team",
            "eu.gcr.io/my-project/team/backend:tag",
        ),
        (
            "europe-west1-docker.pkg.dev/my-project/repo",
            "europe-west1-docker.pkg.dev/my-project/repo/backend:tag",
        ),
        (
            "us-docker.pkg.dev/p/r/a/b",
            "us-docker.pkg.dev/p/r/a/b/backend:tag",
        ),
    ] {
        let doc = ok(dockhand(
            &[
                "detect",
                "-i",
                address,
                "--image",
                "backend",
                "--tag-custom",
                "tag",
                "--output",
                "json",
            ],
            cwd,
            &[],
        ))
        .json();
        assert_eq!(doc["implementation"], "gcr", "{address}: {doc:#}");
        assert_eq!(doc["detection"]["source"], "host-pattern");
        assert_eq!(doc["mode"], "multirepo", "{address}: nests");
        assert_eq!(doc["images"][0]["references"][0], reference);
    }
    // Too shallow: gcr.io needs a project, AR a project and a repository.
    for address in ["gcr.io", "us-docker.pkg.dev/my-project"] {
        let r = dockhand(
            &[
                "detect",
                "-i",
                address,
                "--image",
                "backend",
                "--tag-custom",
                "tag",
                "--output",
                "json",
            ],
            cwd,
            &[],
        );
        assert_eq!(r.code, 2, "{address}: {}", r.stderr);
    }
    // AR monorepo: the images share one image path below the repository.
    let doc = ok(dockhand(
        &[
            "detect",
            "-i",
            "us-docker.pkg.dev/p/r/all",
            "--images-repo-mode",
            "monorepo",
            "--image",
            "backend",
            "--tag-custom",
            "tag",
            "--output",
            "json",
        ],
        cwd,
        &[],
    ))
    .json();
    assert_eq!(
        doc["images"][0]["references"][0],
        "us-docker.pkg.dev/p/r/all:backend-tag"
    );
    let r = dockhand(
        &[
            "detect",
            "-i",
            "us-docker.pkg.dev/p/r",
            "--images-repo-mode",
            "monorepo",
            "--image",
            "backend",
            "--tag-custom",
            "tag",
        ],
        cwd,
        &[],
    );
    assert_eq!(
        r.code, 2,
        "an AR repository cannot hold images itself: {}",
        r.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Push times from the listing (strings on GCR), no config reads

#[test]
fn push_times_come_from_the_extended_listing() {
    let fake = FakeGcr::start(false, ids());
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let client = RegistryClient::new(&fake.url(), Creds::basic("oauth2accesstoken", ACCESS_TOKEN));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Pushed by hand (no origin records); configs say 2020, so reading them would judge both old.
    let old = rt
        .block_on(client.push_image(
            "proj/times",
            "old",
            &[b"old".to_vec()],
            "2020-01-01T00:00:00Z",
        ))
        .digest;
    rt.block_on(client.push_image(
        "proj/times",
        "new",
        &[b"new".to_vec()],
        "2020-01-01T00:00:00Z",
    ));
    fake.set_pushed(
        "proj/times",
        &old,
        std::time::SystemTime::now() - std::time::Duration::from_secs(30 * 86_400),
    );
    fake.clear_log();
    let doc = ok(dockhand(
        &[
            "cleanup",
            "-i",
            &format!("{}/proj", fake.host()),
            "--implementation",
            "gcr",
            "--image",
            "times",
            "--keep-younger-than",
            "7d",
            "--grace",
            "0",
            "--output",
            "json",
            "--google-access-token",
            ACCESS_TOKEN,
        ],
        cwd,
        &[],
    ))
    .json();
    assert_eq!(entry(&doc, "/times", "old")["result"], "deleted", "{doc:#}");
    assert_eq!(entry(&doc, "/times", "new")["result"], "kept", "{doc:#}");
    assert_eq!(fake.tags("proj/times"), vec!["new"]);
    assert_eq!(
        fake.manifest_digests("proj/times").len(),
        1,
        "the old image is gone"
    );
    assert_eq!(
        fake.requests_matching("GET", "/blobs/").len(),
        0,
        "no config reads"
    );
    // Digests and media types come from the listing: no manifest reads (the one probe of the
    // referrers fallback tag is how the inventory learns that the host has no referrers API).
    let reads: Vec<String> = fake
        .requests_matching("GET", "/manifests/")
        .iter()
        .map(|r| r.path.clone())
        .filter(|p| !p.contains("/manifests/sha256-"))
        .collect();
    assert!(reads.is_empty(), "{reads:?}");
}

// ---------------------------------------------------------------------------------------------
// 6. A tag pushed between the listing and the delete stays

#[test]
fn a_tag_added_after_the_listing_stays() {
    let fake = FakeGcr::start(false, ids());
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let images_repo = format!("{}/proj", fake.host());
    let repo = git_repo(cwd, &["feature/r"]);
    let src = format!("app={}", oci(&layout(cwd, "race-app").0));
    ok(dockhand(
        &[
            "publish",
            "-i",
            &images_repo,
            "--implementation",
            "gcr",
            "--image",
            &src,
            "--tag-git-branch",
            "feature/r",
            "--google-access-token",
            ACCESS_TOKEN,
        ],
        cwd,
        &[],
    ));
    git(&repo, &["branch", "-D", "feature/r"]);
    let stale = slug_tag("feature/r");
    let digest = fake.tag_map("proj/app")[&stale].clone();
    // Someone tags the image right before dockhand deletes it.
    let target = format!("app/manifests/{digest}");
    let once = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    fake.update_profile(|p| {
        p.hooks.v2_override = Some(std::sync::Arc::new(
            move |req: &support::fake_oci::V2Request, h| {
                if req.method == reqwest::Method::DELETE
                    && req.rest.ends_with(&target)
                    && !once.swap(true, std::sync::atomic::Ordering::SeqCst)
                {
                    let d = target.rsplit('/').next().unwrap().to_string();
                    h.with_store(|s| {
                        s.repo_mut("proj/app")
                            .tags
                            .insert("pushed-meanwhile".into(), d);
                    });
                }
                None
            },
        ));
    });
    // GCR removes the stale tag, then refuses the digest, which has a tag now. The final listing
    // (docs/cleanup-safety.md) shows the stale tag gone: that tag is deleted, as planned, and the
    // digest stays with the tag nobody planned to delete.
    let r = cleanup_with(&images_repo, &repo, cwd, ACCESS_TOKEN);
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let doc = r.json();
    let e = entry(&doc, "/app", &stale);
    assert_eq!(e["result"], "deleted", "{doc:#}");
    assert!(!fake.tag_map("proj/app").contains_key(&stale));
    assert_eq!(
        fake.tag_map("proj/app").get("pushed-meanwhile"),
        Some(&digest),
        "the new tag stays"
    );
    assert!(fake.manifest_digests("proj/app").contains(&digest));
    assert!(
        fake.requests_matching("DELETE", "/manifests/pushed-meanwhile")
            .is_empty(),
        "a tag nobody judged is never removed"
    );
}
