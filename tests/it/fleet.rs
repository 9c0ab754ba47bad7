//! Fleet-scale cleanup end to end (issue 17's acceptance test): one `cleanup` run per registry
//! over three repositories with per-repository policies and `--delete-untagged`, on a real
//! `docker-registry`, the GitHub fake and ECR (moto behind the API proxy). Untagged children of a
//! kept multi-arch index and signatures of kept images survive; orphaned signatures and untagged
//! manifests past the grace period go. Each run is preceded by a dry run that must plan exactly
//! what the real run then does. Outcomes are read from the registries and fakes themselves, the
//! JSON document and the exit code.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::Value;

use crate::all_repositories::{per_repository, write_config};
use crate::support::client::BlockingClient as Reg;
use crate::support::fake_ecr::EcrStack;
use crate::support::fake_github::{GhState, Ghcr};
use crate::support::layouts::fallback_tag;
use crate::support::report::{entry_in, set};
use crate::support::run::{Run, dockhand_env};
use crate::support::*;
use crate::untagged::untagged;

const DAY: u64 = 86_400;

/// The policies of every fleet: keep two by default, one of `api`, and of `tools/…` only what
/// is younger than ten days.
const POLICIES: &str = "  keep_last: 2\n  git_refs: none\n  delete_untagged: true\n  \
    repositories:\n    \
    - pattern: api\n      keep_last: 1\n    \
    - pattern: tools/**\n      keep_last: 0\n      keep_younger_than: 10d\n";

fn doc(r: &Run) -> Value {
    assert_eq!(r.code, 0, "{r}");
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{r}"))
}

/// What a document plans: `(repository, tag, digest, action)` of `tags[]`,
/// `(repository, digest, action)` of `untagged[]` and `(repository, digest, parent)` of
/// `manifests[]` (what goes with a deleted image: children, referrers).
type Planned = (
    BTreeSet<(String, String, String, String)>,
    BTreeSet<(String, String, String)>,
    BTreeSet<(String, String, String)>,
);

fn planned(d: &Value) -> Planned {
    let s = |v: &Value, f: &str| v[f].as_str().unwrap_or_default().to_string();
    let rows = |f: &str| d[f].as_array().cloned().unwrap_or_default();
    (
        rows("tags")
            .iter()
            .map(|t| {
                (
                    s(t, "repository"),
                    s(t, "tag"),
                    s(t, "digest"),
                    s(t, "action"),
                )
            })
            .collect(),
        rows("untagged")
            .iter()
            .map(|u| (s(u, "repository"), s(u, "digest"), s(u, "action")))
            .collect(),
        rows("manifests")
            .iter()
            .map(|m| (s(m, "repository"), s(m, "digest"), s(m, "parent")))
            .collect(),
    )
}

/// A dry run, then the real run of the same command: both exit 0, the dry run plans exactly
/// what the real run does (same rows, same per-repository counts), every planned deletion is
/// `deleted` afterwards and every keep `kept`. Returns the real run's document.
fn dry_then_real(cwd: &std::path::Path, env: &[(String, String)]) -> Value {
    let dry = doc(&dockhand_env(
        &["cleanup", "--dry-run", "--output", "json"],
        cwd,
        env,
    ));
    assert_eq!(dry["dry_run"], true, "{dry:#}");
    let real = doc(&dockhand_env(&["cleanup", "--output", "json"], cwd, env));
    assert_eq!(real["dry_run"], false, "{real:#}");
    assert_eq!(
        planned(&dry),
        planned(&real),
        "dry run {dry:#}\nreal run {real:#}"
    );
    assert_eq!(per_repository(&dry), per_repository(&real));
    for f in ["tags", "untagged"] {
        for row in real[f].as_array().map(Vec::as_slice).unwrap_or_default() {
            let want = match row["action"].as_str().unwrap() {
                "delete" => "deleted",
                _ => "kept",
            };
            assert_eq!(row["result"], want, "{row}");
        }
    }
    for m in real["manifests"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        assert_eq!(m["result"], "deleted", "{m}");
    }
    assert_eq!(real["summary"]["failed"], 0, "{real:#}");
    real
}

/// digest → (action, result) of `untagged[]` rows of one repository.
fn untagged_in(d: &Value, repository: &str) -> BTreeMap<String, (String, String)> {
    let mut only = d.clone();
    if let Some(rows) = only["untagged"].as_array_mut() {
        rows.retain(|u| u["repository"] == repository);
    }
    untagged(&only)
}

fn row(
    repository: String,
    policy: &str,
    kept: u64,
    deleted: u64,
) -> (String, String, u64, u64, u64) {
    (repository, policy.to_string(), kept, deleted, 0)
}

fn deleted() -> (String, String) {
    ("delete".to_string(), "deleted".to_string())
}

fn kept() -> (String, String) {
    ("keep".to_string(), "kept".to_string())
}

// ---------------------------------------------------------------------------------------------
// A real docker-registry: its catalog lists the repositories; it names no untagged manifests,
// so only signatures are judged beyond the tags.

#[test]
fn docker_registry_fleet_keeps_index_children_and_signatures_and_collects_orphans() {
    let reg = RegistryServer::anonymous();
    let client = Reg::new(&reg.url(), Creds::Anonymous);
    let host = reg.host();

    // fleet/api (keep_last 1): a multi-arch index pushed a day ago is kept with its untagged
    // platform children and its signature; the month-old image it replaces goes, and with it
    // the signature that now signs nothing kept.
    let old = client.push("fleet/api", "v1", "api v1", 30);
    let index = {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let c = RegistryClient::new(&reg.url(), Creds::Anonymous);
        rt.block_on(c.push_index("fleet/api", "v2", &rfc3339(unix_now() - DAY)))
            .digest
    };
    let children = client.children("fleet/api", &index);
    assert_eq!(children.len(), 2);
    let index_sig = format!("{}.sig", fallback_tag(&index));
    let index_sig_digest = client.push("fleet/api", &index_sig, "signature of v2", 0);
    let old_sig = format!("{}.sig", fallback_tag(&old));
    client.push("fleet/api", &old_sig, "signature of v1", 0);

    // fleet/web (default, keep_last 2): the oldest of three goes; a signature whose subject
    // was deleted long ago goes too.
    for (tag, days) in [("w1", 1), ("w2", 2), ("w3", 3)] {
        client.push("fleet/web", tag, &format!("web {tag}"), days);
    }
    let gone = format!("sha256:{}", "e".repeat(64));
    let orphan_sig = format!("{}.sig", fallback_tag(&gone));
    client.push("fleet/web", &orphan_sig, "signature of nothing", 0);

    // fleet/tools/ci (keep_last 0, keep_younger_than 10d): the young one stays.
    for (tag, days) in [("c1", 5), ("c2", 20)] {
        client.push("fleet/tools/ci", tag, &format!("ci {tag}"), days);
    }
    // Outside the images repo: never touched.
    client.push("other/x", "o1", "other", 50);

    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    write_config(
        cwd,
        &format!("project: p\nimages_repo: {host}/fleet\ncleanup:\n  grace: '0'\n{POLICIES}"),
    );
    let d = dry_then_real(cwd, &[]);

    assert_eq!(
        per_repository(&d),
        vec![
            row(format!("{host}/fleet/api"), "api", 2, 2),
            row(format!("{host}/fleet/tools/ci"), "tools/**", 1, 1),
            row(format!("{host}/fleet/web"), "default", 2, 2),
        ],
        "{d:#}"
    );
    // The registry, afterwards.
    assert_eq!(
        client.tags("fleet/api"),
        [index_sig.clone(), "v2".to_string()]
    );
    assert_eq!(client.head("fleet/api", "v2").as_ref(), Some(&index));
    for c in &children {
        assert_eq!(
            client.head("fleet/api", c).as_ref(),
            Some(c),
            "a child of v2"
        );
    }
    assert_eq!(
        client.head("fleet/api", &index_sig).as_ref(),
        Some(&index_sig_digest)
    );
    assert_eq!(client.head("fleet/api", &old), None);
    assert!(
        entry_in(&d, &format!("{host}/fleet/web"), &orphan_sig)["reason"]
            .as_str()
            .unwrap()
            .starts_with("orphan"),
        "{d:#}"
    );
    assert_eq!(client.tags("fleet/web"), ["w1", "w2"]);
    assert_eq!(client.tags("fleet/tools/ci"), ["c1"]);
    assert_eq!(client.tags("other/x"), ["o1"]);
    // The registry names no untagged manifests: nothing judged, and the notice says so.
    assert!(untagged(&d).is_empty(), "{d:#}");
    assert!(
        d["notices"][0]
            .as_str()
            .unwrap_or_default()
            .contains("--delete-untagged"),
        "{d:#}"
    );
}

// ---------------------------------------------------------------------------------------------
// GitHub: the owner's container packages; untagged versions past the grace period go.

const GH_TOKEN: &str = "ghp_faketoken0123456789";

#[test]
fn github_fleet_deletes_untagged_versions_past_grace_per_package_policy() {
    let mut st = GhState::default();
    st.token = GH_TOKEN.into();
    st.accounts.insert("acme".into(), "Organization");
    let g = Ghcr::start(st);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = RegistryClient::new(&g.registry.url(), Creds::basic("x", GH_TOKEN));
    let now = unix_now();
    // The listing dates a version by GitHub's created/updated times: set them `days` back.
    let age =
        |repo: &str, digest: &str, days: u64| g.api.state().date(repo, digest, now - days * DAY);
    // Aged once every push is done: a later push that moves a tag updates the version it
    // leaves (as GitHub does), which would undo an earlier ageing.
    let ages = std::cell::RefCell::new(Vec::new());
    let push = |repo: &str, tag: &str, content: &str, days: u64| {
        let d = rt
            .block_on(client.push_image(
                repo,
                tag,
                &[content.as_bytes().to_vec()],
                "2024-05-01T12:00:00Z",
            ))
            .digest;
        ages.borrow_mut().push((repo.to_string(), d.clone(), days));
        d
    };

    // acme/fleet/api (keep_last 1): the index `v2` (pushed now) is kept with its untagged
    // children (ten days old); `v1` goes.
    let v1 = push("acme/fleet/api", "v1", "api v1", 20);
    let idx = rt.block_on(client.push_index("acme/fleet/api", "v2", "2024-05-01T12:00:00Z"));
    let children: Vec<String> = idx.children.iter().map(|c| c.digest.clone()).collect();
    ages.borrow_mut()
        .push(("acme/fleet/api".to_string(), idx.digest.clone(), 1));
    for c in &children {
        ages.borrow_mut()
            .push(("acme/fleet/api".to_string(), c.clone(), 10));
    }
    // acme/fleet/web (default, keep_last 2): `w1` pushed three times leaves two untagged
    // versions, a stale one (ten days) that goes and a young one (now, within the 2h grace)
    // that stays; `w3` goes by count.
    let web_stale = push("acme/fleet/web", "w1", "web w1 first", 10);
    let web_young = push("acme/fleet/web", "w1", "web w1 second", 0);
    push("acme/fleet/web", "w1", "web w1", 1);
    push("acme/fleet/web", "w2", "web w2", 2);
    let w3 = push("acme/fleet/web", "w3", "web w3", 3);
    // acme/fleet/tools/ci (keep_last 0, keep_younger_than 10d): `c1` stays, `c2` and an old
    // untagged version go.
    let ci_stale = push("acme/fleet/tools/ci", "c1", "ci c1 first", 30);
    push("acme/fleet/tools/ci", "c1", "ci c1", 5);
    let c2 = push("acme/fleet/tools/ci", "c2", "ci c2", 20);
    // Outside the images repo.
    push("acme/elsewhere", "e1", "elsewhere", 40);
    for (repo, digest, days) in ages.take() {
        age(&repo, &digest, days);
    }

    let versions = |repo: &str| -> BTreeSet<String> {
        g.api
            .state()
            .versions(repo)
            .into_iter()
            .map(|v| v.name)
            .collect()
    };
    let before: BTreeMap<&str, BTreeSet<String>> = [
        "acme/fleet/api",
        "acme/fleet/web",
        "acme/fleet/tools/ci",
        "acme/elsewhere",
    ]
    .into_iter()
    .map(|r| (r, versions(r)))
    .collect();

    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let host = g.registry.host();
    write_config(
        cwd,
        &format!(
            "project: p\nimages_repo: {host}/acme/fleet\nimplementation: github\ncleanup:\n  \
             grace: 2h\n{POLICIES}"
        ),
    );
    let env = [
        ("GITHUB_TOKEN".to_string(), GH_TOKEN.to_string()),
        ("GITHUB_API_URL".to_string(), g.api.url()),
    ];
    let d = dry_then_real(cwd, &env);

    let rows = per_repository(&d);
    assert_eq!(
        rows.iter()
            .map(|(r, p, ..)| (r.clone(), p.clone()))
            .collect::<Vec<_>>(),
        [
            (format!("{host}/acme/fleet/api"), "api".to_string()),
            (
                format!("{host}/acme/fleet/tools/ci"),
                "tools/**".to_string()
            ),
            (format!("{host}/acme/fleet/web"), "default".to_string()),
        ],
        "{d:#}"
    );
    assert_eq!(
        entry_in(&d, &format!("{host}/acme/fleet/api"), "v2")["reason"],
        "among the newest 1 images",
        "{d:#}"
    );
    // Untagged: judged per package, under that package's grace.
    let api = untagged_in(&d, &format!("{host}/acme/fleet/api"));
    for c in &children {
        assert!(
            !api.contains_key(c),
            "a child of a kept index is not judged: {d:#}"
        );
    }
    let web = untagged_in(&d, &format!("{host}/acme/fleet/web"));
    assert_eq!(web.get(&web_stale), Some(&deleted()), "{d:#}");
    assert_eq!(web.get(&web_young), Some(&kept()), "{d:#}");
    let ci = untagged_in(&d, &format!("{host}/acme/fleet/tools/ci"));
    assert_eq!(ci.get(&ci_stale), Some(&deleted()), "{d:#}");

    // GitHub's package versions, afterwards: exactly the planned ones are gone.
    let gone = |repo: &str, removed: &[&String]| -> BTreeSet<String> {
        let mut s = before[repo].clone();
        for r in removed {
            assert!(s.remove(*r), "{r} was a version of {repo}");
        }
        s
    };
    assert_eq!(versions("acme/fleet/api"), gone("acme/fleet/api", &[&v1]));
    assert_eq!(
        versions("acme/fleet/web"),
        gone("acme/fleet/web", &[&web_stale, &w3])
    );
    assert_eq!(
        versions("acme/fleet/tools/ci"),
        gone("acme/fleet/tools/ci", &[&ci_stale, &c2])
    );
    assert_eq!(versions("acme/elsewhere"), before["acme/elsewhere"]);
    let tags = |repo: &str| -> Vec<String> { g.api.state().tags(repo).into_keys().collect() };
    assert_eq!(tags("acme/fleet/api"), ["v2"]);
    assert_eq!(tags("acme/fleet/web"), ["w1", "w2"]);
    assert_eq!(tags("acme/fleet/tools/ci"), ["c1"]);
    // One version DELETE per deleted version, none for the dry run.
    assert_eq!(g.api.state().count(&Method::DELETE, "/versions/"), 5);
    assert_eq!(idx.digest, g.api.state().tags("acme/fleet/api")["v2"]);
}

// ---------------------------------------------------------------------------------------------
// ECR (moto; the API proxy dates the pushes): DescribeRepositories lists the repositories,
// untagged images past the grace period go.

#[test]
fn ecr_fleet_deletes_untagged_images_past_grace_per_repository_policy() {
    let Some(stack) = EcrStack::start() else {
        return;
    };
    let now = unix_now() as f64;
    // `(tag or untagged, days since the push)` per repository; returns the digests in order.
    let seed = |repo: &str, images: &[(Option<&str>, u64)]| -> Vec<String> {
        stack.rt.block_on(stack.direct.create_repository(repo));
        let mut out = Vec::new();
        for (n, (tag, days)) in images.iter().enumerate() {
            let d = stack.put_synthetic(repo, &format!("{repo}-{n}"), *tag);
            if *days > 0 {
                stack.api.set_pushed(&d, now - (*days * DAY) as f64);
            }
            out.push(d);
        }
        out
    };
    // proj/api (keep_last 1): a2 goes, the old untagged image goes.
    let api = seed("proj/api", &[(Some("a1"), 1), (Some("a2"), 2), (None, 10)]);
    // proj/web (default, keep_last 2): w3 goes; the stale untagged image goes, the one pushed
    // now (within the 2h grace) stays.
    let web = seed(
        "proj/web",
        &[
            (Some("w1"), 1),
            (Some("w2"), 2),
            (Some("w3"), 3),
            (None, 10),
            (None, 0),
        ],
    );
    // proj/tools/ci (keep_last 0, keep_younger_than 10d): t1 stays, t2 and the untagged go.
    let ci = seed(
        "proj/tools/ci",
        &[(Some("t1"), 5), (Some("t2"), 20), (None, 30)],
    );
    seed("other/x", &[(Some("o1"), 50), (None, 50)]);

    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let host = stack.host();
    write_config(
        cwd,
        &format!(
            "project: p\nimages_repo: {host}/proj\nimplementation: ecr\ncleanup:\n  \
             grace: 2h\n{POLICIES}"
        ),
    );
    let d = dry_then_real(cwd, &stack.env());

    assert_eq!(
        per_repository(&d)
            .iter()
            .map(|(r, p, ..)| (r.clone(), p.clone()))
            .collect::<Vec<_>>(),
        [
            (format!("{host}/proj/api"), "api".to_string()),
            (format!("{host}/proj/tools/ci"), "tools/**".to_string()),
            (format!("{host}/proj/web"), "default".to_string()),
        ],
        "{d:#}"
    );
    assert_eq!(
        untagged_in(&d, &format!("{host}/proj/api")),
        BTreeMap::from([(api[2].clone(), deleted())]),
        "{d:#}"
    );
    let w = untagged_in(&d, &format!("{host}/proj/web"));
    assert_eq!(w.get(&web[3]), Some(&deleted()), "{d:#}");
    assert_eq!(w.get(&web[4]), Some(&kept()), "{d:#}");
    assert_eq!(
        untagged_in(&d, &format!("{host}/proj/tools/ci")),
        BTreeMap::from([(ci[2].clone(), deleted())]),
        "{d:#}"
    );

    // ECR (moto), afterwards: digest → tags.
    let images = |repo: &str| -> BTreeMap<String, Vec<String>> { stack.images(repo) };
    let expect = |pairs: &[(&String, &[&str])]| -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(d, t)| ((*d).clone(), t.iter().map(|s| s.to_string()).collect()))
            .collect()
    };
    assert_eq!(images("proj/api"), expect(&[(&api[0], &["a1"])]));
    assert_eq!(
        images("proj/web"),
        expect(&[(&web[0], &["w1"]), (&web[1], &["w2"]), (&web[4], &[])])
    );
    assert_eq!(images("proj/tools/ci"), expect(&[(&ci[0], &["t1"])]));
    assert_eq!(images("other/x").len(), 2);
    assert_eq!(
        set(stack.repositories()),
        set(["other/x", "proj/api", "proj/tools/ci", "proj/web"])
    );
}
