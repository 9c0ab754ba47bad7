//! `--delete-untagged` and `--keep-pulled-within` end to end: the real binary against a real
//! `docker-registry` (no untagged listing, no pull records), the GitHub fake (untagged package
//! versions), the Harbor fake (untagged artifacts, `pull_time`) and moto behind the ECR API proxy
//! (untagged images; the proxy adds the `lastRecordedPullTime` AWS documents and moto lacks),
//! the ACR fake (`_manifests`, locked manifests) and the GCR / Artifact Registry fakes (the
//! extended `tags/list`'s `manifest` map).
//! Outcomes are read from the registries, the JSON document, stderr and the exit code.

use crate::support;
use crate::support::client::BlockingClient as Reg;
use crate::support::fake_ecr::{EcrStack, synthetic_manifest};
use crate::support::fake_github::{GhState, Ghcr};
use crate::support::fake_harbor::{HarborFake, Role, User};
use crate::support::layouts::{fallback_tag, multiarch_layout, oci};
use crate::support::report::{entry, set};
use crate::support::run::{Run, creds, dockhand, dockhand_env, ok, with};

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde_json::Value;
use support::*;

const DAY: u64 = 86_400;

fn doc(r: &Run) -> Value {
    assert_eq!(r.code, 0, "{r}");
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", r.stdout))
}

/// digest → (action, result) of the document's `untagged[]`.
pub(crate) fn untagged(doc: &Value) -> std::collections::BTreeMap<String, (String, String)> {
    doc["untagged"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|u| {
            let text = |f: &str| u[f].as_str().unwrap().to_string();
            (text("digest"), (text("action"), text("result")))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A generic registry: the index kept by keep-last keeps its children and signature; the
// signatures of deleted and missing images go; no untagged listing, and the notice says so.

#[test]
fn generic_keep_last_keeps_index_children_and_signature_and_collects_orphan_signatures() {
    let reg = RegistryServer::anonymous();
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let images_repo = format!("{}/u", reg.host());
    let r = "u/app";

    // An old single-platform image (built 30 days ago, no origin record) and a multi-arch index
    // published now by dockhand (its origin record dates it).
    let old = client.push(r, "old", "old content", 30);
    let (l, index) = multiarch_layout(cwd, "app");
    let image = format!("app={}", oci(&l));
    ok(dockhand(
        &[
            "publish",
            "-i",
            &images_repo,
            "--image",
            &image,
            "--tag-custom",
            "new",
        ],
        cwd,
    ));
    let children: Vec<String> = client.get(r, &index).unwrap().json()["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["digest"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(children.len(), 2);
    let sig_kept = format!("{}.sig", fallback_tag(&index));
    let sig_kept_digest = client.push(r, &sig_kept, "signature of the index", 0);
    let sig_of_old = format!("{}.sig", fallback_tag(&old));
    client.push(r, &sig_of_old, "signature of old", 0);
    let missing = format!("sha256:{}", "f".repeat(64));
    let sig_orphan = format!("{}.sig", fallback_tag(&missing));
    client.push(r, &sig_orphan, "signature of nothing", 0);

    let run = dockhand(
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
            "--delete-untagged",
            "--output",
            "json",
        ],
        cwd,
    );
    let d = doc(&run);
    assert!(
        run.stderr.contains("names no untagged manifests"),
        "{}",
        run.stderr
    );
    assert!(
        d["notices"][0]
            .as_str()
            .unwrap()
            .contains("--delete-untagged"),
        "{d:#}"
    );
    assert_eq!(entry(&d, "old")["result"], "deleted", "{d:#}");
    assert_eq!(entry(&d, &sig_of_old)["result"], "deleted", "{d:#}");
    assert_eq!(entry(&d, &sig_orphan)["result"], "deleted", "{d:#}");
    assert!(
        entry(&d, &sig_orphan)["reason"]
            .as_str()
            .unwrap()
            .starts_with("orphan"),
        "{d:#}"
    );

    assert_eq!(client.head(r, "old"), None);
    assert_eq!(client.head(r, &old), None);
    assert_eq!(client.head(r, &sig_of_old), None);
    assert_eq!(client.head(r, &sig_orphan), None);
    assert_eq!(client.head(r, "new").as_ref(), Some(&index));
    for c in &children {
        assert_eq!(
            client.head(r, c).as_ref(),
            Some(c),
            "child of the kept index"
        );
    }
    assert_eq!(client.head(r, &sig_kept).as_ref(), Some(&sig_kept_digest));
}

// ---------------------------------------------------------------------------------------------
// A generic registry records no pulls: --keep-pulled-within keeps and says why.

#[test]
fn generic_keep_pulled_within_keeps_every_judged_image_and_says_why() {
    let reg = RegistryServer::anonymous();
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let images_repo = format!("{}/p", reg.host());
    for (i, t) in ["a", "b", "c"].iter().enumerate() {
        client.push("p/app", t, &format!("content {t}"), 10 + i as u64);
    }
    let base = [
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
        "--keep-pulled-within",
        "7d",
    ];
    let as_json = ["--output".to_string(), "json".to_string()];
    let json_run = dockhand(&with(&base, &as_json), cwd);
    let d = doc(&json_run);
    assert_eq!(entry(&d, "a")["reason"], "among the newest 1 images");
    for t in ["b", "c"] {
        let e = entry(&d, t);
        assert_eq!(e["result"], "kept", "{e}");
        assert!(
            e["reason"]
                .as_str()
                .unwrap()
                .contains("this registry records no pulls"),
            "{e}"
        );
    }
    assert!(
        json_run
            .stderr
            .contains("--keep-pulled-within 7d: this registry records no pulls, so 2 tag(s)"),
        "{}",
        json_run.stderr
    );
    // The table says it too, and nothing was deleted.
    let text = ok(dockhand(&base, cwd)).stdout;
    assert!(text.contains("no pull record"), "{text}");
    assert_eq!(
        client.tags("p/app").into_iter().collect::<BTreeSet<_>>(),
        set(["a", "b", "c"])
    );
}

// ---------------------------------------------------------------------------------------------
// GitHub: untagged versions past the grace period go; a child of a kept index and a young one
// stay.

const GH_TOKEN: &str = "ghp_faketoken0123456789";

#[test]
fn github_untagged_versions_older_than_grace_are_deleted() {
    let mut st = GhState::default();
    st.token = GH_TOKEN.into();
    st.me = Some("octo".into());
    st.accounts.insert("acme".into(), "Organization");
    let g = Ghcr::start(st);
    let env = [
        ("GITHUB_TOKEN".to_string(), GH_TOKEN.to_string()),
        ("GITHUB_API_URL".to_string(), g.api.url()),
    ];
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let images_repo = format!("{}/acme", g.registry.host());
    let (l, index) = multiarch_layout(cwd, "app");
    let image = format!("app={}", oci(&l));
    ok(dockhand_env(
        &[
            "publish",
            "-i",
            &images_repo,
            "--implementation",
            "github",
            "--image",
            &image,
            "--tag-custom",
            "v1",
        ],
        cwd,
        &env,
    ));
    // `tmp` pushed three times: the first two versions lose it (untagged).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = RegistryClient::new(&g.registry.url(), Creds::basic("x", GH_TOKEN));
    let push = |content: &str| {
        rt.block_on(client.push_image(
            "acme/app",
            "tmp",
            &[content.as_bytes().to_vec()],
            "2024-05-01T12:00:00Z",
        ))
        .digest
    };
    let stale = push("first");
    let young = push("second");
    let current = push("third");
    let children: Vec<String> = g.registry.with_store(|s| {
        s.repo("acme/app").unwrap().manifests[&index]
            .children
            .clone()
    });
    assert_eq!(children.len(), 2);
    // Age the stale version and the index's children (ten days); the young one is just pushed.
    let old = unix_now() - 10 * DAY;
    {
        let mut st = g.api.state();
        for v in st
            .packages
            .values_mut()
            .flatten()
            .filter(|v| v.name == stale || children.contains(&v.name))
        {
            v.created = old;
            v.updated = old;
        }
    }
    let versions_before: BTreeSet<String> = g
        .api
        .state()
        .versions("acme/app")
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert!(versions_before.contains(&stale) && versions_before.contains(&young));

    let r = dockhand_env(
        &[
            "cleanup",
            "-i",
            &images_repo,
            "--implementation",
            "github",
            "--image",
            "app",
            "--git-refs",
            "none",
            "--grace",
            "2h",
            "--delete-untagged",
            "--output",
            "json",
        ],
        cwd,
        &env,
    );
    let d = doc(&r);
    let u = untagged(&d);
    assert_eq!(
        u.get(&stale),
        Some(&("delete".to_string(), "deleted".to_string())),
        "{d:#}"
    );
    assert_eq!(
        u.get(&young),
        Some(&("keep".to_string(), "kept".to_string())),
        "{d:#}"
    );
    for c in &children {
        assert!(
            !u.contains_key(c),
            "a child of a kept index is not judged: {d:#}"
        );
    }
    let after: BTreeSet<String> = g
        .api
        .state()
        .versions("acme/app")
        .into_iter()
        .map(|v| v.name)
        .collect();
    let mut expected = versions_before.clone();
    expected.remove(&stale);
    assert_eq!(after, expected);
    assert!(after.contains(&index) && after.contains(&current) && after.contains(&young));
    for c in &children {
        assert!(after.contains(c));
    }
    // One version DELETE: the stale one.
    assert_eq!(g.api.state().count(&Method::DELETE, "/versions/"), 1);
}

// ---------------------------------------------------------------------------------------------
// Harbor: a recently pulled image survives a keep-last that would drop it; an old untagged
// artifact goes; dockhand itself GETs no manifest (a GET is a pull on Harbor).

const ROBOT: &str = "robot$proj+ci";
const PASSWORD: &str = "s3cret";

#[test]
fn harbor_keep_pulled_within_and_untagged_artifacts() {
    let h = HarborFake::start(
        &["proj"],
        vec![User::new(ROBOT, PASSWORD, Role::Maintainer)],
    );
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = RegistryClient::new(&h.url(), Creds::basic(ROBOT, PASSWORD));
    let push = |tag: &str, content: &str| {
        rt.block_on(client.push_image(
            "proj/app",
            tag,
            &[content.as_bytes().to_vec()],
            "2024-05-01T12:00:00Z",
        ))
        .digest
    };
    let now = SystemTime::now();
    let days = |n: u64| now - Duration::from_secs(n * DAY);
    let untagged_old = push("tmp", "will lose its tag");
    let newest = push("newest", "newest");
    let pulled = push("pulled-lately", "pulled lately");
    let stale = push("pulled-long-ago", "pulled long ago");
    let never = push("never-pulled", "never pulled");
    push("tmp", "took the tag");
    h.set_pushed_all("proj/app", &untagged_old, days(30));
    h.set_pushed_all("proj/app", &newest, days(1));
    h.set_pushed_all("proj/app", &pulled, days(10));
    h.set_pushed_all("proj/app", &stale, days(20));
    h.set_pushed_all("proj/app", &never, days(30));
    h.set_pulled("proj/app", &pulled, now - Duration::from_secs(3600));
    h.set_pulled("proj/app", &stale, days(40));
    h.clear_log();

    let base = [
        "cleanup",
        "-i",
        &format!("{}/proj", h.host()),
        "--implementation",
        "harbor",
        "--image",
        "app",
        "--only-tag",
        "^(newest|pulled-.*|never-pulled)$",
        "--keep-last",
        "1",
        "--grace",
        "2h",
        "--git-refs",
        "none",
        "--keep-pulled-within",
        "7d",
        "--output",
        "json",
    ]
    .map(String::from);
    let login = creds(ROBOT, PASSWORD);
    let base: Vec<&str> = base.iter().map(String::as_str).collect();
    let d = doc(&dockhand(&with(&base, &login), cwd));
    assert!(
        entry(&d, "pulled-lately")["reason"]
            .as_str()
            .unwrap()
            .starts_with("pulled 1h ago (registry), within --keep-pulled-within 7d"),
        "{d:#}"
    );
    assert_eq!(entry(&d, "pulled-long-ago")["result"], "deleted", "{d:#}");
    assert_eq!(entry(&d, "never-pulled")["result"], "deleted", "{d:#}");
    let tags: BTreeSet<String> = h.tag_map("proj/app").into_keys().collect();
    assert_eq!(tags, set(["newest", "pulled-lately", "tmp"]));
    assert!(
        h.requests_matching("GET", "/manifests/").is_empty(),
        "no manifest GET (a pull on Harbor)"
    );
    assert!(d.get("notices").is_none(), "{d:#}");

    // --only-tag narrows the cleanup, so untagged artifacts are left alone; without it they go.
    let mut base: Vec<&str> = base.clone();
    let at = base.iter().position(|a| *a == "--only-tag").unwrap();
    base.drain(at..at + 2);
    // `tmp` (pushed now) is an image of this run too: three kept by count.
    let n = base.iter().position(|a| *a == "--keep-last").unwrap() + 1;
    base[n] = "3";
    base.push("--delete-untagged");
    let d = doc(&dockhand(&with(&base, &login), cwd));
    assert_eq!(
        untagged(&d).get(&untagged_old),
        Some(&("delete".to_string(), "deleted".to_string())),
        "{d:#}"
    );
    assert!(h.with_store(|s| {
        !s.repo("proj/app")
            .unwrap()
            .manifests
            .contains_key(&untagged_old)
    }));
    let tags: BTreeSet<String> = h.tag_map("proj/app").into_keys().collect();
    assert_eq!(tags, set(["newest", "pulled-lately", "tmp"]));
}

// ---------------------------------------------------------------------------------------------
// ECR (moto; the proxy adds lastRecordedPullTime): a pulled image survives --keep-last 0.

#[test]
fn ecr_keep_pulled_within_keeps_a_recently_pulled_image() {
    let Some(stack) = EcrStack::start() else {
        return;
    };
    let env = stack.env();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let repo = "pl/app";
    let tags = [
        Some("pulled-lately"),
        Some("pulled-long-ago"),
        Some("never"),
        None,
    ];
    let digests: Vec<String> = stack.rt.block_on(async {
        stack.direct.create_repository(repo).await;
        let mut out = Vec::new();
        for (n, tag) in tags.iter().enumerate() {
            let (m, d) = synthetic_manifest(&format!("pulled-{n}"));
            let (s, v) = stack
                .direct
                .put_image(
                    repo,
                    &m,
                    "application/vnd.oci.image.manifest.v1+json",
                    &d,
                    *tag,
                )
                .await;
            assert_eq!(s, 200, "{v}");
            out.push(d);
        }
        out
    });
    let now = unix_now() as f64;
    stack.api.set_pulled(&digests[0], now - 3600.0);
    stack.api.set_pulled(&digests[1], now - 40.0 * DAY as f64);
    let r = dockhand_env(
        &[
            "cleanup",
            "-i",
            &format!("{}/pl", stack.host()),
            "--implementation",
            "ecr",
            "--image",
            "app",
            "--keep-last",
            "0",
            "--grace",
            "0",
            "--git-refs",
            "none",
            "--keep-pulled-within",
            "7d",
            "--delete-untagged",
            "--output",
            "json",
        ],
        cwd,
        &env,
    );
    let d = doc(&r);
    let reason = entry(&d, "pulled-lately")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.starts_with("pulled 1h ago (registry), within --keep-pulled-within 7d + 1d"),
        "{reason}"
    );
    assert_eq!(entry(&d, "pulled-long-ago")["result"], "deleted", "{d:#}");
    assert_eq!(entry(&d, "never")["result"], "deleted", "{d:#}");
    assert_eq!(
        untagged(&d).get(&digests[3]),
        Some(&("delete".to_string(), "deleted".to_string())),
        "{d:#}"
    );
    let left: BTreeSet<String> = stack.images(repo).into_keys().collect();
    assert_eq!(left, set([digests[0].clone()]));
}

// ---------------------------------------------------------------------------------------------
// The executor looks again right before an untagged deletion: a manifest tagged since the plan
// stays (kept, with the tag in the reason); one still untagged goes.

#[tokio::test]
async fn an_untagged_manifest_that_got_a_tag_since_the_plan_is_kept() {
    use dockhand::cleanup::execute::execute;
    use dockhand::cleanup::model::{Action, Plan, UntaggedPlan};
    use dockhand::implementation::{Capabilities, Implementation};
    use dockhand::registry::Generic;
    use dockhand::registry::credentials::CredentialStore;
    use dockhand::registry::distribution::{Distribution, Repo};
    use dockhand::registry::transport::{Transport, TransportConfig};
    use std::collections::{BTreeMap, HashMap};

    let reg = tokio::task::spawn_blocking(RegistryServer::anonymous)
        .await
        .unwrap();
    let client = RegistryClient::new(&reg.url(), Creds::Anonymous);
    let push = |tag: &'static str, content: &'static str| {
        let client = &client;
        async move {
            client
                .push_image(
                    "x/app",
                    tag,
                    &[content.as_bytes().to_vec()],
                    "2024-05-01T12:00:00Z",
                )
                .await
                .digest
        }
    };
    // Both lose `tmp` (untagged at plan time); then one is tagged `v2` again.
    let retagged = push("tmp", "one").await;
    let stays_untagged = push("tmp", "two").await;
    push("tmp", "three").await;
    let m = client.get_manifest("x/app", &retagged).await.unwrap();
    client
        .put_manifest("x/app", "v2", &m.media_type, &m.bytes)
        .await;

    let label = format!("{}/x/app", reg.host());
    let plan = Plan {
        untagged: [&retagged, &stays_untagged]
            .into_iter()
            .map(|d| UntaggedPlan {
                repository: label.clone(),
                digest: d.clone(),
                action: Action::Delete,
                reason: "untagged".into(),
                index: false,
            })
            .collect(),
        ..Plan::default()
    };
    let transport = Transport::new(TransportConfig::default(), CredentialStore::default()).unwrap();
    let registry = Generic::new(
        Capabilities::of(Implementation::Default, &reg.host()),
        Distribution::new(transport),
    );
    let repos = HashMap::from([(label.clone(), Repo::new(reg.host(), "x/app"))]);
    let seen = HashMap::from([(label.clone(), BTreeMap::new())]);
    let results = execute(&registry, &plan, &repos, &seen, 2).await;
    let kept = results.untagged[&(label.clone(), retagged.clone())]
        .clone()
        .unwrap_err();
    assert!(kept.kept && kept.own, "{kept:?}");
    assert!(
        kept.message.contains("tag v2 was put on this manifest"),
        "{kept:?}"
    );
    assert!(results.untagged[&(label.clone(), stays_untagged.clone())].is_ok());
    assert!(client.head_manifest("x/app", &retagged).await.is_some());
    assert!(
        client
            .head_manifest("x/app", &stays_untagged)
            .await
            .is_none()
    );
    let report = dockhand::cleanup::report::build("default", &plan, Some(&results));
    assert_eq!(report.untagged[0].result, "kept");
    assert_eq!(report.untagged[1].result, "deleted");
    assert_eq!(report.summary.failed, 0);
}

// ---------------------------------------------------------------------------------------------
// Bad input: exit 2 naming the flag, the variable or the config key, and nothing sent.

#[test]
fn a_bad_keep_pulled_within_exits_2_naming_its_source_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    // Port 9 on loopback: nothing may be sent there, and nothing is.
    let args = [
        "cleanup",
        "-i",
        "127.0.0.1:9/x",
        "--image",
        "app",
        "--git-refs",
        "none",
    ];
    let r = dockhand(
        &with(&args, &["--keep-pulled-within".into(), "7x".into()]),
        cwd,
    );
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("--keep-pulled-within"), "{r}");
    let r = dockhand_env(&args, cwd, &[("DOCKHAND_KEEP_PULLED_WITHIN", "soon")]);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("DOCKHAND_KEEP_PULLED_WITHIN"), "{r}");
    std::fs::write(
        cwd.join("dockhand.yaml"),
        "project: p\ncleanup:\n  keep_pulled_within: lately\n  delete_untagged: true\n",
    )
    .unwrap();
    let r = dockhand(&args, cwd);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("keep_pulled_within"), "{r}");
}

// ---------------------------------------------------------------------------------------------
// The ECR listing on the in-memory JSON 1.1 fake: pull records and untagged images.

#[tokio::test]
async fn ecr_listing_gives_pull_records_and_untagged_images() {
    use dockhand::implementation::{Capabilities, Implementation};
    use dockhand::registry::credentials::CredentialStore;
    use dockhand::registry::distribution::{Distribution, Repo};
    use dockhand::registry::implementations::ecr::{Ecr, Target};
    use dockhand::registry::transport::{Transport, TransportConfig};
    use dockhand::registry::{Pulled, Registry};
    use support::fake_ecr::{FakeEcr, REGION};

    const HOST: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
    let fake = FakeEcr::start(100);
    fake.create("app", false);
    let media = "application/vnd.oci.image.manifest.v1+json";
    let digest = |n: u8| format!("sha256:{}", format!("{n:02x}").repeat(32));
    fake.add("app", &digest(1), &["pulled"], media, "{}");
    fake.add("app", &digest(2), &["never"], media, "{}");
    fake.add("app", &digest(3), &[], media, "{}");
    fake.set_pulled("app", &digest(1), 1_700_000_500.5);
    let transport = Transport::new(TransportConfig::default(), CredentialStore::default()).unwrap();
    let config = aws_sdk_ecr::Config::builder()
        .behavior_version(aws_sdk_ecr::config::BehaviorVersion::latest())
        .region(aws_sdk_ecr::config::Region::new(REGION))
        .endpoint_url(fake.url())
        .credentials_provider(aws_sdk_ecr::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .build();
    let ecr = Ecr::new(
        Capabilities::of(Implementation::Ecr, HOST),
        Distribution::new(transport),
        HOST,
        Target::from_host(HOST).unwrap(),
        config,
    );
    let l = ecr
        .listing(&Repo::new(HOST, "app"), &|_| true)
        .await
        .unwrap()
        .unwrap();
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(1_700_000_500.5);
    assert_eq!(l.manifests[&digest(1)].pulled, Pulled::At(at));
    assert_eq!(l.manifests[&digest(2)].pulled, Pulled::Never);
    let untagged: Vec<&String> = l.untagged().map(|(d, _)| d).collect();
    assert_eq!(untagged, vec![&digest(3)]);
}

// ---------------------------------------------------------------------------------------------
// ACR and GCR / Artifact Registry: an untagged manifest past --grace goes, a young one and the
// untagged children of a kept index stay; on ACR a locked untagged manifest stays with its reason.

/// What [`untagged_setup`] pushed: `v1` a multi-arch index (untagged children), and
/// `tmp` pushed four times, so that three manifests lost it.
struct Pushed {
    index: String,
    children: Vec<String>,
    stale: String,
    locked: String,
    young: String,
    current: String,
}

/// Publishes the index as `v1` with dockhand, pushes `tmp` four times, and ages everything but
/// the young and current manifests ten days.
fn untagged_setup(
    reg: &crate::support::fake_oci::FakeOci,
    images_repo: &str,
    repo: &str,
    implementation: &str,
    login: &[String],
    push_creds: Creds,
    cwd: &std::path::Path,
) -> Pushed {
    let (l, index) = multiarch_layout(cwd, "app");
    let image = format!("app={}", oci(&l));
    let base = [
        "publish",
        "-i",
        images_repo,
        "--implementation",
        implementation,
        "--image",
        &image,
        "--tag-custom",
        "v1",
    ];
    ok(dockhand(&with(&base, login), cwd));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = RegistryClient::new(&reg.url(), push_creds);
    let push = |content: &str| {
        rt.block_on(client.push_image(
            repo,
            "tmp",
            &[content.as_bytes().to_vec()],
            "2024-05-01T12:00:00Z",
        ))
        .digest
    };
    let stale = push("first");
    let locked = push("second");
    let young = push("third");
    let current = push("fourth");
    let children: Vec<String> =
        reg.with_store(|s| s.repo(repo).unwrap().manifests[&index].children.clone());
    assert_eq!(children.len(), 2);
    let old = SystemTime::now() - Duration::from_secs(10 * DAY);
    for d in [&index, &stale, &locked, &current]
        .into_iter()
        .chain(&children)
    {
        reg.set_pushed(repo, d, old);
    }
    Pushed {
        index,
        children,
        stale,
        locked,
        young,
        current,
    }
}

fn cleanup_untagged(
    images_repo: &str,
    implementation: &str,
    login: &[String],
    cwd: &std::path::Path,
) -> Value {
    let base = [
        "cleanup",
        "-i",
        images_repo,
        "--implementation",
        implementation,
        "--image",
        "app",
        "--git-refs",
        "none",
        "--grace",
        "2h",
        "--delete-untagged",
        "--output",
        "json",
    ];
    doc(&dockhand(&with(&base, login), cwd))
}

fn manifests_of(reg: &crate::support::fake_oci::FakeOci, repo: &str) -> BTreeSet<String> {
    reg.with_store(|s| s.repo(repo).unwrap().manifests.keys().cloned().collect())
}

#[test]
fn acr_untagged_manifests_from_the_manifests_listing() {
    use crate::support::fake_acr::{ADMIN_PASSWORD, ADMIN_USER, FakeAcr};
    let fake = FakeAcr::start();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let images_repo = format!("{}/acme", fake.host());
    let login = creds(ADMIN_USER, ADMIN_PASSWORD);
    let repo = "acme/app";
    let p = untagged_setup(
        &fake,
        &images_repo,
        repo,
        "acr",
        &login,
        Creds::basic(ADMIN_USER, ADMIN_PASSWORD),
        cwd,
    );
    // Locked itself (`az acr repository update --image acme/app@<digest> --delete-enabled false`).
    fake.lock_manifest(repo, &p.locked);
    let before = manifests_of(&fake, repo);
    // The index, its two children, four `tmp` pushes and dockhand's origin record (a referrer).
    assert_eq!(before.len(), 8);

    // Without --delete-untagged, no `_manifests` request at all.
    fake.clear_log();
    let plain = [
        "cleanup",
        "-i",
        &images_repo,
        "--implementation",
        "acr",
        "--image",
        "app",
        "--git-refs",
        "none",
        "--output",
        "json",
    ];
    let d = doc(&dockhand(&with(&plain, &login), cwd));
    assert!(d.get("untagged").is_none(), "{d:#}");
    assert!(fake.requests_matching("GET", "/_manifests").is_empty());
    assert_eq!(manifests_of(&fake, repo), before);

    fake.clear_log();
    let d = cleanup_untagged(&images_repo, "acr", &login, cwd);
    let u = untagged(&d);
    assert_eq!(
        u.get(&p.stale),
        Some(&("delete".to_string(), "deleted".to_string())),
        "{d:#}"
    );
    assert_eq!(
        u.get(&p.young),
        Some(&("keep".to_string(), "kept".to_string())),
        "{d:#}"
    );
    assert_eq!(
        u.get(&p.locked),
        Some(&("delete".to_string(), "kept".to_string())),
        "{d:#}"
    );
    let locked_reason = d["untagged"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["digest"] == p.locked.as_str())
        .unwrap()["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(locked_reason.contains("deleteEnabled: false"), "{d:#}");
    for c in &p.children {
        assert!(
            !u.contains_key(c),
            "a child of a kept index is not judged: {d:#}"
        );
    }
    let mut expected = before.clone();
    expected.remove(&p.stale);
    assert_eq!(manifests_of(&fake, repo), expected);
    assert!(expected.contains(&p.index) && expected.contains(&p.current));
    // The `_manifests` walk: 8 manifests in pages of 2, each page from the previous one's Link.
    let walk = fake.requests_matching("GET", "/acr/v1/acme/app/_manifests");
    assert_eq!(walk.len(), 4, "{walk:?}");
    assert!(
        walk[0]
            .query
            .as_deref()
            .is_none_or(|q| !q.contains("last="))
    );
    assert!(walk[1..].iter().all(|r| {
        r.query
            .as_deref()
            .is_some_and(|q| q.contains("last=sha256"))
    }));
    // One digest DELETE: the locked manifest's lock is known from the listing, so no request.
    let deletes = fake.requests_matching("DELETE", "/manifests/");
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    assert!(deletes[0].path.ends_with(&p.stale));
}

#[test]
fn gcr_and_artifact_registry_untagged_manifests_from_the_extended_tag_list() {
    use crate::support::fake_gcr::{FakeGcr, Identities};
    use crate::support::fake_oci::Grants;
    const TOKEN: &str = "ya29.fake-access-token-Un7";
    for ar in [false, true] {
        let ids = Identities {
            tokens: std::collections::HashMap::from([(
                TOKEN.to_string(),
                Grants::none().allow("*", &["pull", "push", "delete"]),
            )]),
            keys: Default::default(),
        };
        let fake = FakeGcr::start(ar, ids);
        // Artifact Registry images are HOST/PROJECT/REPOSITORY/IMAGE.
        let (images_repo, repo) = if ar {
            fake.create_repository("acme/repo");
            (format!("{}/acme/repo", fake.host()), "acme/repo/app")
        } else {
            (format!("{}/acme", fake.host()), "acme/app")
        };
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path();
        let login = vec!["--google-access-token".to_string(), TOKEN.to_string()];
        let p = untagged_setup(
            &fake,
            &images_repo,
            repo,
            "gcr",
            &login,
            Creds::basic("oauth2accesstoken", TOKEN),
            cwd,
        );
        let before = manifests_of(&fake, repo);
        fake.clear_log();
        let d = cleanup_untagged(&images_repo, "gcr", &login, cwd);
        let u = untagged(&d);
        let delete = ("delete".to_string(), "deleted".to_string());
        assert_eq!(u.get(&p.stale), Some(&delete), "ar={ar}: {d:#}");
        assert_eq!(u.get(&p.locked), Some(&delete), "ar={ar}: {d:#}");
        assert_eq!(
            u.get(&p.young),
            Some(&("keep".to_string(), "kept".to_string())),
            "ar={ar}: {d:#}"
        );
        for c in &p.children {
            assert!(
                !u.contains_key(c),
                "ar={ar}: a child of a kept index: {d:#}"
            );
        }
        let mut expected = before.clone();
        expected.remove(&p.stale);
        expected.remove(&p.locked);
        assert_eq!(manifests_of(&fake, repo), expected, "ar={ar}");
        assert!(expected.contains(&p.index) && expected.contains(&p.current));
        // No listing besides tags/list; two digest DELETEs, no tag DELETE (they had none).
        let deletes = fake.requests_matching("DELETE", "/manifests/");
        assert_eq!(deletes.len(), 2, "ar={ar}: {deletes:?}");
        assert!(
            deletes
                .iter()
                .all(|r| r.path.contains("/manifests/sha256:"))
        );
    }
}
