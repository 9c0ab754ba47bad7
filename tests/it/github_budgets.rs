//! Rate budgets at fleet scale on GitHub Packages: the real binary against the GitHub fake with
//! the documented limits enforced (primary `x-ratelimit-*` budget with its reset, secondary
//! points per "minute"; docs.github.com "Rate limits for the REST API"), scaled down in time
//! with `--github-rate-limit` so thousands of deletions take seconds. Outcomes: the fake's
//! refusals (none), the versions left, the plan's estimate against the measured time, and the
//! oldest-first order of a run stopped by `--max-deletions`.

use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::support::fake_github::{GhState, GhVersion, Ghcr};
use crate::support::report::{entries, summary};
use crate::support::run::{Run, dockhand_env};
use crate::support::util::unix_now;

const TOKEN: &str = "ghp_faketoken0123456789";

/// ghcr with organization `acme` whose package `app` has `n` versions, each with one tag
/// (`v00000`, … oldest first, pushed a minute apart, the newest a day ago), seeded in the API
/// and in the registry alike.
fn fleet(n: usize, f: impl FnOnce(&mut GhState)) -> (Ghcr, Vec<String>) {
    let mut st = GhState::default();
    st.token = TOKEN.into();
    st.accounts.insert("acme".into(), "Organization");
    f(&mut st);
    let g = Ghcr::start(st);
    let newest = unix_now() - 86_400;
    let mut versions = Vec::new();
    let mut digests = Vec::new();
    g.registry.handle().with_store(|s| {
        for i in 0..n {
            let tag = format!("v{i:05}");
            let layer = format!("layer {i}");
            let digest = s.seed_image(
                "acme/app",
                Some(&tag),
                &[layer.as_bytes()],
                "2024-05-01T12:00:00Z",
            );
            let at = newest - 60 * (n - 1 - i) as u64;
            versions.push(GhVersion {
                id: 5000 + i as u64,
                name: digest.clone(),
                tags: vec![tag],
                created: at,
                updated: at,
            });
            digests.push(digest);
        }
    });
    g.api
        .state()
        .packages
        .insert(("acme".into(), "app".into()), versions);
    (g, digests)
}

fn cleanup(g: &Ghcr, extra: &[&str], cwd: &Path) -> Run {
    let registry = format!("{}/acme", g.registry.host());
    let mut args = vec![
        "cleanup",
        "-i",
        &registry,
        "--image",
        "app",
        "--implementation",
        "github",
        "--git-refs",
        "none",
        "--keep-last",
        "1",
        "--grace",
        "0",
        "--output",
        "json",
    ];
    args.extend_from_slice(extra);
    let url = g.api.url();
    dockhand_env(
        &args,
        cwd,
        &[("GITHUB_TOKEN", TOKEN), ("GITHUB_API_URL", url.as_str())],
    )
}

fn tags_left(g: &Ghcr) -> Vec<String> {
    g.api.state().tags("acme/app").into_keys().collect()
}

fn results(doc: &Value, result: &str) -> Vec<String> {
    entries(doc)
        .iter()
        .filter(|e| e["result"] == result)
        .map(|e| e["tag"].as_str().unwrap().to_string())
        .collect()
}

/// 5,000 versions planned for deletion under GitHub's limits scaled to a 30 s hour and a 1 s
/// minute (a DELETE every 6.5 ms, slow enough that the pace, not the machine, sets the time): the run paces itself (no 403/429 from the fake), deletes every planned version, and
/// the plan's estimate is within 10% of the time the deletions took.
#[test]
fn five_thousand_deletions_paced_within_the_estimate() {
    let (g, _) = fleet(5001, |st| {
        st.limit = 5000;
        st.remaining = 5000;
        st.reset_after = 30;
        st.points = Some((900, Duration::from_secs(1)));
    });
    let dir = tempfile::tempdir().unwrap();
    let r = cleanup(
        &g,
        &["--github-rate-limit", "requests=5000/30s,points=900/1s"],
        dir.path(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(summary(&doc, "deleted"), 5000, "{}", r.stderr);
    assert_eq!(summary(&doc, "failed"), 0);
    assert_eq!(summary(&doc, "deferred"), 0);
    assert_eq!(tags_left(&g), vec!["v05000".to_string()]);

    let st = g.api.state();
    assert_eq!(
        st.rate_limited(),
        0,
        "the fake refused requests for its limits"
    );
    assert!(st.log.iter().all(|q| !matches!(q.status, 403 | 429)));
    let deletes: Vec<_> = st
        .log
        .iter()
        .filter(|q| q.method == Method::DELETE)
        .collect();
    assert_eq!(deletes.len(), 5000);
    let measured = st.log.last().unwrap().at - deletes[0].at;
    let planned = doc["pace"]["seconds"].as_f64().expect("pace.seconds");
    assert_eq!(doc["pace"]["deletions"], 5000, "{:#}", doc["pace"]);
    let ratio = planned / measured.as_secs_f64();
    assert!(
        (0.9..=1.1).contains(&ratio),
        "planned {planned:.1}s, measured {measured:?}, {:#}",
        doc["pace"]
    );
    // The primary budget bound: more requests than one window holds, so the run spans a reset.
    assert!(st.log.len() > 5000, "{}", st.log.len());
    assert!(
        r.stderr.contains("deleting 5000 image(s) takes ~"),
        "{}",
        r.stderr
    );
    eprintln!("planned {planned:.1}s, measured {measured:?}");
}

/// `--max-deletions`: the oldest go, the newest are deferred (exit 0, not failed), and the next
/// run, planning again, finishes the job.
#[test]
fn budget_stop_defers_the_newest_and_the_next_run_finishes() {
    let (g, _) = fleet(30, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let r = cleanup(&g, &["--max-deletions", "10"], dir.path());
    assert_eq!(r.code, 0, "{r}");
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(summary(&doc, "deleted"), 10, "{doc:#}");
    assert_eq!(summary(&doc, "deferred"), 19, "{doc:#}");
    assert_eq!(summary(&doc, "failed"), 0);
    let mut deleted = results(&doc, "deleted");
    deleted.sort();
    let oldest: Vec<String> = (0..10).map(|i| format!("v{i:05}")).collect();
    assert_eq!(deleted, oldest, "the oldest first");
    let left = tags_left(&g);
    assert_eq!(left.len(), 20);
    assert_eq!(left[0], "v00010");
    assert_eq!(g.api.state().count(&Method::DELETE, ""), 10);

    let r = cleanup(&g, &[], dir.path());
    assert_eq!(r.code, 0, "{r}");
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(summary(&doc, "deleted"), 19, "{doc:#}");
    assert_eq!(summary(&doc, "deferred"), 0);
    assert_eq!(tags_left(&g), vec!["v00029".to_string()]);
}

/// Bad budgets are input errors naming the option, before any request.
#[test]
fn bad_budgets_exit_2_naming_the_option() {
    let (g, _) = fleet(2, |_| {});
    let dir = tempfile::tempdir().unwrap();
    for (args, name) in [
        (
            &["--github-rate-limit", "points=900"][..],
            "--github-rate-limit",
        ),
        (
            &["--github-rate-limit", "bananas=1/1m"][..],
            "--github-rate-limit",
        ),
        (&["--max-deletions", "-3"][..], "--max-deletions"),
    ] {
        let r = cleanup(&g, args, dir.path());
        assert_eq!(r.code, 2, "{args:?}: {r}");
        assert!(r.stderr.contains(name), "{args:?}: {r}");
    }
    assert!(g.api.state().log.is_empty(), "nothing was sent");
}

/// `--deadline` on a paced API: what fits before it (with a tenth to spare) is deleted, oldest
/// first, and the rest is deferred; the run ends in time with exit 0, and the next one finishes.
#[test]
fn deadline_defers_what_does_not_fit() {
    let (g, _) = fleet(80, |st| st.points = Some((100, Duration::from_secs(1))));
    let dir = tempfile::tempdir().unwrap();
    let limits = ["--github-rate-limit", "points=100/1s"];
    let mut args = limits.to_vec();
    args.extend(["--deadline", "3s"]);
    let r = cleanup(&g, &args, dir.path());
    assert_eq!(r.code, 0, "{r}");
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    let (deleted, deferred) = (summary(&doc, "deleted"), summary(&doc, "deferred"));
    assert!(
        deleted > 10 && deferred > 10,
        "{deleted} deleted, {deferred} deferred"
    );
    assert_eq!(deleted + deferred, 79);
    let mut gone = results(&doc, "deleted");
    gone.sort();
    let oldest: Vec<String> = (0..deleted).map(|i| format!("v{i:05}")).collect();
    assert_eq!(gone, oldest, "the oldest first");
    assert!(r.stderr.contains("fit before --deadline"), "{}", r.stderr);
    assert_eq!(g.api.state().rate_limited(), 0);

    let r = cleanup(&g, &limits, dir.path());
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(tags_left(&g), vec!["v00079".to_string()]);
    assert_eq!(g.api.state().rate_limited(), 0);
}
