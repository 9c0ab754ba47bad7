//! `dockhand sync` end to end: two real `docker-registry` servers (2.8: no tag delete, so the
//! mirror's extra tags go through the safe untag), images published by `dockhand publish`.

use std::path::Path;

use serde_json::Value;

use crate::support::client::BlockingClient as Reg;
use crate::support::layouts::{layout, multiarch_layout, oci};
use crate::support::run::{dockhand, ok};
use crate::support::*;

/// Publishes the layout at `path` as `BASE/app:TAG`, without an origin record (no extra tags);
/// promote's tests seed their sources with it too.
pub(crate) fn publish(cwd: &Path, base: &str, path: &Path, tag: &str) {
    let image = format!("app={}", oci(path));
    ok(dockhand(
        &[
            "publish",
            "-i",
            base,
            "--image",
            &image,
            "--tag-custom",
            tag,
            "--origin-records",
            "off",
        ],
        cwd,
    ));
}

/// (tag, action, digest, previous_digest) of each line of a sync document.
fn actions(doc: &Value) -> Vec<(String, String, String, Option<String>)> {
    doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["tag"].as_str().unwrap().to_string(),
                t["action"].as_str().unwrap().to_string(),
                t["digest"].as_str().unwrap().to_string(),
                t["previous_digest"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[test]
fn a_mirror_with_missing_changed_and_extra_tags_converges_in_one_run() {
    let src = RegistryServer::anonymous();
    let dst = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let (la, da) = layout(cwd, "a");
    let (lb, db) = layout(cwd, "b new");
    let (lb_old, db_old) = layout(cwd, "b old");
    let (lx, dx) = layout(cwd, "x");
    let (ly, dy) = layout(cwd, "y");
    let (lc, dc) = multiarch_layout(cwd, "c");
    let src_base = format!("{}/src", src.host());
    let dst_base = format!("{}/mirror", dst.host());
    for (l, tag) in [(&la, "a"), (&lb, "b"), (&lc, "c")] {
        publish(cwd, &src_base, l, tag);
    }
    for (l, tag) in [(&la, "a"), (&lb_old, "b"), (&lx, "x"), (&ly, "y")] {
        publish(cwd, &dst_base, l, tag);
    }
    let mirror = Reg::new(&dst.url(), Creds::Anonymous);
    assert_eq!(mirror.tags("mirror/app"), ["a", "b", "x", "y"]);

    let src_repo = format!("{src_base}/app");
    let dst_repo = format!("{dst_base}/app");
    let args = |extra: &[&'static str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "sync",
            &src_repo,
            &dst_repo,
            "--only-tag",
            "^[a-x]$",
            "--delete-extra",
            "--output",
            "json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |extra: &[&'static str]| -> Value {
        let a = args(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        ok(dockhand(&a, cwd)).json()
    };

    // The dry run changes nothing and lists exactly what the real run then reports.
    let dry = run(&["--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(mirror.tags("mirror/app"), ["a", "b", "x", "y"]);
    let real = run(&[]);
    assert_eq!(real["dry_run"], false);
    assert_eq!(actions(&dry), actions(&real));
    let s = |t: &str| t.to_string();
    assert_eq!(
        actions(&real),
        [
            (s("a"), s("unchanged"), da.clone(), Some(da.clone())),
            (s("b"), s("updated"), db.clone(), Some(db_old.clone())),
            (s("c"), s("copied"), dc.clone(), None),
            (s("x"), s("deleted"), dx.clone(), Some(dx.clone())),
        ]
    );
    assert_eq!(real["source"], src_repo.as_str());
    assert_eq!(real["destination"], dst_repo.as_str());
    assert_eq!(real["summary"]["failed"], 0);

    // The mirror: a, b on the source's digest, c the source's index with its children, no x,
    // y (outside the filter) untouched.
    let tags = mirror.resolve_all("mirror/app");
    assert_eq!(
        tags.keys().map(String::as_str).collect::<Vec<_>>(),
        ["a", "b", "c", "y"]
    );
    assert_eq!(tags["a"], da);
    assert_eq!(tags["b"], db);
    assert_eq!(tags["c"], dc);
    assert_eq!(tags["y"], dy);
    let index = mirror.get("mirror/app", &dc).expect("index copied").json();
    let children = index["manifests"].as_array().unwrap();
    assert_eq!(children.len(), 2);
    for c in children {
        let d = c["digest"].as_str().unwrap();
        assert_eq!(mirror.head("mirror/app", d).as_deref(), Some(d));
    }

    // A second run has nothing to do and moves nothing.
    let again = run(&[]);
    assert!(
        actions(&again).iter().all(|(_, a, _, _)| a == "unchanged"),
        "{again}"
    );
    assert_eq!(actions(&again).len(), 3, "{again}");
    assert_eq!(again["transfer"]["blobs_uploaded"], 0, "{again}");
    assert_eq!(again["transfer"]["manifests_put"], 0, "{again}");

    // The text table names each tag's action.
    let a = args(&[]);
    let mut a: Vec<&str> = a.iter().map(String::as_str).collect();
    a.truncate(a.len() - 2);
    let text = ok(dockhand(&a, cwd));
    assert!(text.stdout.contains("unchanged"), "{text}");
    assert!(text.stdout.contains("0 failed"), "{text}");
}

#[test]
fn bad_input_exits_2_with_nothing_sent() {
    let reg = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let repo = format!("{}/src/app", reg.host());
    let mirror = format!("{}/mirror/app", reg.host());
    let before = reg.log().lines().count();
    for args in [
        vec!["sync", repo.as_str()],
        vec!["sync", &repo, &mirror, "--only-tag", "["],
        vec!["sync", &repo, "bad//repo"],
        vec!["sync", &repo, "host.example/app:tag"],
        vec!["sync", &repo, &repo],
    ] {
        let r = dockhand(&args, cwd);
        r.code(2);
    }
    let after = reg.log();
    assert_eq!(
        after.lines().count(),
        before,
        "requests were sent:\n{after}"
    );
}

#[test]
fn refused_credentials_exit_3_and_the_docker_config_logs_in() {
    let src = RegistryServer::anonymous();
    let dst = RegistryServer::start(RegistryOptions {
        auth: RegistryAuth::Htpasswd(vec![("mirror", "s3cret")]),
        delete_enabled: true,
    });
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let (la, da) = layout(cwd, "a");
    let src_base = format!("{}/src", src.host());
    publish(cwd, &src_base, &la, "a");
    let src_repo = format!("{src_base}/app");
    let dst_repo = format!("{}/mirror/app", dst.host());
    let args = [
        "sync",
        src_repo.as_str(),
        dst_repo.as_str(),
        "--output",
        "json",
    ];

    // No credentials for the mirror: the registry refuses them (exit 3).
    dockhand(&args, cwd).code(3);

    // --registry-username/--registry-password are the mirror's.
    let mut with_creds = args.to_vec();
    with_creds.extend([
        "--registry-username",
        "mirror",
        "--registry-password",
        "s3cret",
        "--dry-run",
    ]);
    let dry = ok(dockhand(&with_creds, cwd)).json();
    assert_eq!(dry["tags"][0]["action"], "copied", "{dry}");

    // The Docker config's credentials for the mirror's host are used.
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode("mirror:s3cret");
    let config = serde_json::json!({"auths": {dst.host(): {"auth": auth}}});
    std::fs::create_dir_all(cwd.join(".docker")).unwrap();
    std::fs::write(cwd.join(".docker/config.json"), config.to_string()).unwrap();
    let doc = ok(dockhand(&args, cwd)).json();
    assert_eq!(
        actions(&doc),
        [("a".to_string(), "copied".to_string(), da, None)]
    );
}
