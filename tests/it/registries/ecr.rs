//! AWS ECR end to end: the real binary against moto (the ECR API on the real AWS wire protocol)
//! with a real `docker-registry` as the data plane (tests/it/support/fake_ecr.rs bridges them the way
//! ECR behaves), and the ECR module against an in-memory fake of the JSON 1.1 protocol for what
//! moto does not reproduce (paging, the 100-id limit, registryId, per-id failure codes).
//! State after a cleanup is read from ECR's own view (DescribeImages).

use crate::support;
use crate::support::layouts::{fallback_tag, git, git_repo, multiarch_layout, oci};
use crate::support::run::{Run, dockhand_env, json as json_doc, ok};

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use dockhand::fixtures::{self};
use dockhand::implementation::{Capabilities, Implementation};
use dockhand::naming::slug::slug_tag;
use dockhand::registry::Registry;
use dockhand::registry::credentials::{Credential, CredentialStore};
use dockhand::registry::distribution::{Deleted, Distribution, Repo};
use dockhand::registry::implementations::ecr::{Ecr, Target};
use dockhand::registry::transport::{Transport, TransportConfig};
use dockhand::registry::untag::Untagged;
use serde_json::{Value, json};
use support::fake_ecr::*;
use support::{Creds, RegistryClient, rfc3339, sha256_digest, unix_now};

/// The binary with this module's extra environment (an empty list has a type here).
fn dockhand(args: &[&str], cwd: &Path, env: &[(String, String)]) -> Run {
    dockhand_env(args, cwd, env)
}

// ---------------------------------------------------------------------------------------------
// Running dockhand

/// tag → (action, result) of the entries of `repository`.
fn verdicts(doc: &Value, repository: &str) -> BTreeMap<String, (String, String)> {
    doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["repository"] == repository)
        .map(|e| {
            (
                e["tag"].as_str().unwrap().to_string(),
                (
                    e["action"].as_str().unwrap().to_string(),
                    e["result"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Publish, then a mixed cleanup, through moto

#[test]
fn publish_then_mixed_cleanup_ends_in_the_planned_state() {
    let Some(stack) = EcrStack::start() else {
        return;
    };
    let env = stack.env();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let git_dir = git_repo(cwd, &["feature/x", "feature/gone"]);
    let host = stack.host();
    let images_repo = format!("{host}/proj");
    let publish = |name_sources: &[(&str, String)], tags: &[&str]| {
        let mut args = vec![
            "publish".to_string(),
            "-i".into(),
            images_repo.clone(),
            "--implementation".into(),
            "ecr".into(),
        ];
        for (name, source) in name_sources {
            args.extend(["--image".into(), format!("{name}={source}")]);
        }
        args.extend(tags.iter().map(|t| t.to_string()));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(dockhand(&argv, cwd, &env))
    };

    // The seed example on a branch that stays referenced by a kept custom tag, a variant on a
    // branch that goes, and a variant on main.
    let seed = fixtures::seed_example(&cwd.join("seed")).unwrap();
    let gone = fixtures::seed_example_variant(&cwd.join("gone"), Some("gone")).unwrap();
    let main = fixtures::seed_example_variant(&cwd.join("main"), Some("main")).unwrap();
    let sources = |root: &str| {
        ["backend", "frontend"]
            .iter()
            .map(|n| (*n, oci(&cwd.join(root).join(n))))
            .collect::<Vec<_>>()
    };
    let before_first = stack.api.count("CreateRepository");
    assert_eq!(before_first, 0);
    publish(
        &sources("seed"),
        &["--tag-git-branch", "feature/x", "--tag-custom", "keepme"],
    );
    // Each repository was created through the API before the push (ECR does not create on
    // push: the data plane answers NAME_UNKNOWN for a repository moto does not have).
    assert_eq!(stack.api.count("CreateRepository"), 2);
    assert_eq!(stack.repositories(), vec!["proj/backend", "proj/frontend"]);
    // The push used the registry login dockhand obtained itself (the data plane accepts only
    // moto's AWS:<password>; there is no Docker config in this HOME).
    assert!(stack.api.count("GetAuthorizationToken") >= 1);
    publish(&sources("gone"), &["--tag-git-branch", "feature/gone"]);
    publish(&sources("main"), &["--tag-git-branch", "main"]);
    assert_eq!(
        stack.api.count("CreateRepository"),
        2,
        "existing repositories are described, not created again"
    );

    // A multi-arch image on the branch that goes and one on main, each with a cosign-style
    // signature pushed by another tool through the data plane.
    let (app_gone, app_gone_index) = multiarch_layout(cwd, "app-gone");
    let (app_main, app_main_index) = multiarch_layout(cwd, "app-main");
    publish(
        &[("app", oci(&app_gone))],
        &["--tag-git-branch", "feature/gone"],
    );
    publish(&[("app", oci(&app_main))], &["--tag-git-branch", "main"]);
    assert_eq!(stack.api.count("CreateRepository"), 3);
    let client = RegistryClient::new(
        &format!("http://{host}"),
        Creds::basic(LOGIN_USER, LOGIN_PASSWORD),
    );
    let mut sigs = BTreeMap::new();
    for index in [&app_gone_index, &app_main_index] {
        let tag = format!("{}.sig", fallback_tag(index));
        let pushed = stack.rt.block_on(client.push_image(
            "proj/app",
            &tag,
            &[format!("signature of {index}").into_bytes()],
            &rfc3339(unix_now()),
        ));
        sigs.insert(index.clone(), (tag, pushed.digest));
    }

    // What ECR holds now, and the referrers (origin records) of each image.
    let repos = ["proj/backend", "proj/frontend", "proj/app"];
    let before: BTreeMap<&str, BTreeMap<String, Vec<String>>> =
        repos.iter().map(|r| (*r, stack.images(r))).collect();
    let referrers = |repo: &str, digest: &str| -> Vec<String> {
        stack
            .rt
            .block_on(client.get_manifest(repo, &fallback_tag(digest)))
            .map(|m| {
                m.json()["manifests"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d["digest"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let children = |repo: &str, index: &str| -> Vec<String> {
        stack
            .rt
            .block_on(client.get_manifest(repo, index))
            .unwrap()
            .json()["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["digest"].as_str().unwrap().to_string())
            .collect()
    };

    // The plan: feature/gone's images go whole (with their children, origin records and
    // signature); feature/x's tag goes from the seed images, whose `keepme` stays.
    let tag_x = slug_tag("feature/x");
    let tag_gone = slug_tag("feature/gone");
    let mut expected = before.clone();
    // An image goes with its origin records (referrers) and their fallback index.
    let drop_image =
        |expected: &mut BTreeMap<&str, BTreeMap<String, Vec<String>>>, repo: &str, digest: &str| {
            let images = expected.get_mut(repo).unwrap();
            assert!(images.remove(digest).is_some(), "{repo}@{digest} was there");
            for r in referrers(repo, digest) {
                images.remove(&r);
            }
            let fallback = before[repo]
                .iter()
                .find(|(_, tags)| tags.contains(&fallback_tag(digest)))
                .map(|(d, _)| d.clone());
            if let Some(f) = fallback {
                images.remove(&f);
            }
        };
    for (i, name) in ["backend", "frontend"].iter().enumerate() {
        let repo = format!("proj/{name}");
        drop_image(&mut expected, &repo, &gone[i].1);
        let images = expected.get_mut(repo.as_str()).unwrap();
        let tags = images.get_mut(&seed[i].1).unwrap();
        assert!(tags.contains(&tag_x) && tags.contains(&"keepme".to_string()));
        tags.retain(|t| t != &tag_x);
        assert!(images.contains_key(&main[i].1));
    }
    let gone_children = children("proj/app", &app_gone_index);
    drop_image(&mut expected, "proj/app", &app_gone_index);
    {
        let app = expected.get_mut("proj/app").unwrap();
        for c in &gone_children {
            assert!(app.remove(c).is_some(), "child {c} was an untagged image");
        }
        assert!(app.remove(&sigs[&app_gone_index].1).is_some());
    }

    git(&git_dir, &["branch", "-D", "feature/x", "feature/gone"]);
    stack.api.clear_calls();
    let r = ok(dockhand(
        &[
            "cleanup",
            "-i",
            &images_repo,
            "--implementation",
            "ecr",
            "--image",
            "backend",
            "--image",
            "frontend",
            "--image",
            "app",
            "--git-dir",
            git_dir.to_str().unwrap(),
            "--git-refs",
            "local",
            "--grace",
            "0",
            "--output",
            "json",
        ],
        cwd,
        &env,
    ));
    let doc = json_doc(&r);
    assert_eq!(doc["implementation"], "ecr");
    assert_eq!(doc["summary"]["failed"], 0, "{doc:#}");

    // ECR's own view is exactly the plan.
    for repo in repos {
        assert_eq!(stack.images(repo), expected[repo], "{repo}\n{doc:#}");
    }
    for name in ["backend", "frontend"] {
        let v = verdicts(&doc, &format!("{images_repo}/{name}"));
        assert_eq!(v[&tag_x], ("delete".into(), "deleted".into()), "{doc:#}");
        assert_eq!(v[&tag_gone], ("delete".into(), "deleted".into()), "{doc:#}");
        assert_eq!(v["keepme"].1, "kept", "{doc:#}");
        assert_eq!(v["main"].1, "kept", "{doc:#}");
    }
    let v = verdicts(&doc, &format!("{images_repo}/app"));
    assert_eq!(v[&tag_gone].1, "deleted");
    assert_eq!(v[&sigs[&app_gone_index].0].1, "deleted");
    assert_eq!(v[&sigs[&app_main_index].0].1, "kept");

    // Everything went through BatchDeleteImage (the data plane saw no DELETE), by digest for
    // whole images and by tag for the untags, at most 100 ids a call.
    let deletes: Vec<ApiCall> = stack
        .api
        .calls()
        .into_iter()
        .filter(|c| c.action == "BatchDeleteImage")
        .collect();
    assert!(!deletes.is_empty());
    for c in &deletes {
        assert_eq!(c.status, 200, "{c:?}");
        assert!(c.body["imageIds"].as_array().unwrap().len() <= 100);
        assert!(
            c.body.get("registryId").is_none(),
            "no account is known for a loopback host"
        );
    }
    let untagged: BTreeSet<(String, String)> = deletes
        .iter()
        .flat_map(|c| {
            let repo = c.body["repositoryName"].as_str().unwrap().to_string();
            c.body["imageIds"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|i| i["imageTag"].as_str().map(str::to_string))
                .map(move |t| (repo.clone(), t))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        untagged,
        BTreeSet::from([
            ("proj/backend".to_string(), tag_x.clone()),
            ("proj/frontend".to_string(), tag_x.clone()),
        ]),
        "only the shared digests are untagged by tag"
    );
    assert!(
        !stack
            .plane
            .requests()
            .iter()
            .any(|q| q.method == reqwest::Method::DELETE),
        "no registry DELETE"
    );
    // The data plane agrees with ECR: a deleted tag no longer resolves, a kept one does.
    assert_eq!(
        stack
            .rt
            .block_on(client.head_manifest("proj/backend", &tag_x)),
        None
    );
    assert_eq!(
        stack
            .rt
            .block_on(client.head_manifest("proj/backend", "keepme")),
        Some(seed[0].1.clone())
    );

    // A second run finds nothing more to delete.
    let again = json_doc(&ok(dockhand(
        &[
            "cleanup",
            "-i",
            &images_repo,
            "--implementation",
            "ecr",
            "--image",
            "backend",
            "--image",
            "frontend",
            "--image",
            "app",
            "--git-dir",
            git_dir.to_str().unwrap(),
            "--git-refs",
            "local",
            "--grace",
            "0",
            "--output",
            "json",
        ],
        cwd,
        &env,
    )));
    assert_eq!(again["summary"]["deleted"], 0, "{again:#}");
    for repo in repos {
        assert_eq!(stack.images(repo), expected[repo], "{repo}");
    }
}

// ---------------------------------------------------------------------------------------------
// 1,000 tags in at most 10 calls; per-tag failures

#[test]
fn thousand_tags_take_ten_batch_calls_and_failures_are_reported_per_tag() {
    let Some(stack) = EcrStack::start() else {
        return;
    };
    let env = stack.env();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let repo = "bulk/app";
    // Seeded straight into ECR (moto): cleanup reads images only through DescribeImages.
    // 900 images with one stale tag, 100 with a stale and a kept tag: 1,000 ids to delete.
    let digests: Vec<String> = stack.rt.block_on(async {
        use futures_util::StreamExt;
        stack.direct.create_repository(repo).await;
        let direct = &stack.direct;
        futures_util::stream::iter(0..1000)
            .map(|n| async move {
                let (manifest, digest) = synthetic_manifest(&n.to_string());
                let media = "application/vnd.oci.image.manifest.v1+json";
                let (s, v) = direct
                    .put_image(
                        repo,
                        &manifest,
                        media,
                        &digest,
                        Some(&format!("old-{n:04}")),
                    )
                    .await;
                assert_eq!(s, 200, "{v}");
                if n >= 900 {
                    let (s, v) = direct
                        .put_image(
                            repo,
                            &manifest,
                            media,
                            &digest,
                            Some(&format!("keep-{n:04}")),
                        )
                        .await;
                    assert_eq!(s, 200, "{v}");
                }
                digest
            })
            .buffered(8)
            .collect()
            .await
    });
    assert_eq!(stack.images(repo).len(), 1000);

    // ECR refuses three of them: two whole images and one untag.
    stack.api.fail_id(
        &digests[7],
        "ImageReferencedByManifestList",
        "referenced by an index",
    );
    stack
        .api
        .fail_id(&digests[500], "KmsError", "the KMS key is disabled");
    stack.api.fail_id(
        "old-0950",
        "ImageTagDoesNotMatchDigest",
        "tag moved meanwhile",
    );

    let r = dockhand(
        &[
            "cleanup",
            "-i",
            &format!("{}/bulk", stack.host()),
            "--implementation",
            "ecr",
            "--image",
            "app",
            "--keep-last",
            "0",
            "--keep-tag",
            "^keep-",
            "--grace",
            "0",
            "--output",
            "json",
        ],
        cwd,
        &env,
    );
    assert_eq!(
        r.code, 1,
        "partial failure is exit 1\n{}\n{}",
        r.stdout, r.stderr
    );
    let doc = json_doc(&r);
    let calls: Vec<ApiCall> = stack
        .api
        .calls()
        .into_iter()
        .filter(|c| c.action == "BatchDeleteImage")
        .collect();
    let ids: usize = calls
        .iter()
        .map(|c| c.body["imageIds"].as_array().unwrap().len())
        .sum();
    // 900 digests in 9 calls, 100 untags in 1: within the required "at most 10".
    assert_eq!(calls.len(), 10, "BatchDeleteImage calls");
    assert_eq!(ids, 1000, "one id per planned deletion");
    for c in &calls {
        assert_eq!(c.status, 200, "no call over the 100-id limit: {c:?}");
    }

    // The report names each failed tag with ECR's failure code; everything else went.
    let failed: BTreeMap<String, String> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["result"] == "failed")
        .map(|e| {
            (
                e["tag"].as_str().unwrap().to_string(),
                e["error"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        failed.keys().map(String::as_str).collect::<Vec<_>>(),
        vec!["old-0007", "old-0500", "old-0950"],
        "{doc:#}"
    );
    assert!(failed["old-0007"].contains("ImageReferencedByManifestList"));
    assert!(failed["old-0500"].contains("KmsError"));
    assert!(failed["old-0950"].contains("ImageTagDoesNotMatchDigest"));
    assert_eq!(doc["summary"]["failed"], 3);
    assert_eq!(doc["summary"]["deleted"], 997);
    assert_eq!(doc["summary"]["kept"], 100);

    // ECR's view: the refused ones are still there, the rest as planned.
    let after = stack.images(repo);
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    expected.insert(digests[7].clone(), vec!["old-0007".into()]);
    expected.insert(digests[500].clone(), vec!["old-0500".into()]);
    for (n, d) in digests.iter().enumerate().skip(900) {
        let mut tags = vec![format!("keep-{n:04}")];
        if n == 950 {
            tags.push("old-0950".into());
        }
        expected.insert(d.clone(), tags);
    }
    assert_eq!(after, expected);
}

// ---------------------------------------------------------------------------------------------
// Refusals and throttling

fn cleanup_args(images_repo: &str) -> Vec<String> {
    [
        "cleanup",
        "-i",
        images_repo,
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
        "--output",
        "json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn argv(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Seeds `n` single-tag images into `repo` straight into moto.
fn seed_images(stack: &EcrStack, repo: &str, n: usize) {
    stack.rt.block_on(async {
        stack.direct.create_repository(repo).await;
        for i in 0..n {
            let (m, d) = synthetic_manifest(&i.to_string());
            let (s, v) = stack
                .direct
                .put_image(
                    repo,
                    &m,
                    "application/vnd.oci.image.manifest.v1+json",
                    &d,
                    Some(&format!("t{i}")),
                )
                .await;
            assert_eq!(s, 200, "{v}");
        }
    });
}

#[test]
fn access_denied_exits_3_naming_the_permission() {
    let Some(stack) = EcrStack::start() else {
        return;
    };
    let env = stack.env();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let images_repo = format!("{}/deny", stack.host());
    seed_images(&stack, "deny/app", 3);
    let denied = |action: &str| {
        ApiFault::new(
            action,
            1,
            400,
            "AccessDeniedException",
            &format!(
                "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecr:{action} on resource: arn:aws:ecr:eu-west-1:123456789012:repository/deny/app because no identity-based policy allows the ecr:{action} action"
            ),
        )
    };

    // The registry login.
    stack.api.add_fault(denied("GetAuthorizationToken"));
    let r = dockhand(&argv(&cleanup_args(&images_repo)), cwd, &env);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("IAM permission ecr:GetAuthorizationToken"),
        "{}",
        r.stderr
    );

    // Listing.
    stack.api.add_fault(denied("DescribeImages"));
    let r = dockhand(&argv(&cleanup_args(&images_repo)), cwd, &env);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("IAM permission ecr:DescribeImages"),
        "{}",
        r.stderr
    );

    // Deleting: every deletion is refused, so the run is an auth failure, not exit 1.
    stack.api.add_fault(denied("BatchDeleteImage"));
    let r = dockhand(&argv(&cleanup_args(&images_repo)), cwd, &env);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("IAM permission ecr:BatchDeleteImage"),
        "{}",
        r.stderr
    );
    assert_eq!(stack.images("deny/app").len(), 3, "nothing was deleted");

    // Creating a repository on publish.
    stack.api.add_fault(denied("CreateRepository"));
    let layout = cwd.join("seed");
    fixtures::seed_example(&layout).unwrap();
    let r = dockhand(
        &[
            "publish",
            "-i",
            &format!("{}/new", stack.host()),
            "--implementation",
            "ecr",
            "--image",
            &format!("backend={}", oci(&layout.join("backend"))),
            "--tag-custom",
            "v1",
        ],
        cwd,
        &env,
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("IAM permission ecr:CreateRepository"),
        "{}",
        r.stderr
    );
    assert!(stack.repositories().iter().all(|r| r != "new/backend"));

    // An unknown access key.
    stack.api.add_fault(ApiFault::new(
        "GetAuthorizationToken",
        1,
        400,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    ));
    let r = dockhand(&argv(&cleanup_args(&images_repo)), cwd, &env);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("AWS_ACCESS_KEY_ID"), "{}", r.stderr);

    // No credentials anywhere, or no region for a host that names none: bad input (exit 2),
    // found before any ECR call.
    let calls = stack.api.calls().len();
    let without = |names: &[&str]| -> Vec<(String, String)> {
        env.iter()
            .filter(|(k, _)| !names.contains(&k.as_str()))
            .cloned()
            .collect()
    };
    let r = dockhand(
        &argv(&cleanup_args(&images_repo)),
        cwd,
        &without(&["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no AWS credentials"), "{}", r.stderr);
    let r = dockhand(
        &argv(&cleanup_args(&images_repo)),
        cwd,
        &without(&["AWS_REGION"]),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("AWS_REGION"), "{}", r.stderr);
    assert_eq!(stack.api.calls().len(), calls, "no ECR call was made");
}

#[test]
fn throttling_is_waited_out() {
    let Some(stack) = EcrStack::start() else {
        return;
    };
    let env = stack.env();
    let dir = tempfile::tempdir().unwrap();
    let images_repo = format!("{}/slow", stack.host());
    seed_images(&stack, "slow/app", 5);
    let throttle = |action: &str, times| {
        ApiFault::new(action, times, 400, "ThrottlingException", "Rate exceeded")
    };
    stack.api.add_fault(throttle("DescribeImages", 2));
    stack.api.add_fault(throttle("BatchDeleteImage", 1));
    let started = std::time::Instant::now();
    let r = ok(dockhand(
        &argv(&cleanup_args(&images_repo)),
        dir.path(),
        &env,
    ));
    let doc = json_doc(&r);
    assert_eq!(doc["summary"]["deleted"], 5, "{doc:#}");
    assert!(stack.images("slow/app").is_empty());
    let statuses = |action: &str| -> Vec<u16> {
        stack
            .api
            .calls()
            .iter()
            .filter(|c| c.action == action)
            .map(|c| c.status)
            .collect()
    };
    // Throttled twice, then the inventory's listing; the looks before and after the deletions
    // (docs/cleanup-safety.md) go through at once.
    let describe = statuses("DescribeImages");
    assert_eq!(describe[..3], [400, 400, 200], "{describe:?}");
    assert!(describe[3..].iter().all(|s| *s == 200), "{describe:?}");
    assert_eq!(statuses("BatchDeleteImage"), vec![400, 200]);
    // Backoff from 250 ms: at least 250 + 500 + 250 ms were waited.
    assert!(started.elapsed() >= std::time::Duration::from_millis(1000));
}

// ---------------------------------------------------------------------------------------------
// Detection and naming (no network)

fn detect(args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut all = vec!["detect", "--no-probe", "--output", "json"];
    all.extend_from_slice(args);
    dockhand(&all, dir.path(), &[])
}

fn references(doc: &Value) -> Vec<String> {
    doc["images"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["references"].as_array().unwrap().clone())
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn ecr_hosts_detect_auto_mode_and_nested_names() {
    let hosts = [
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
        "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
        "123456789012.dkr-ecr.us-west-2.on.aws",
    ];
    for host in hosts {
        // A bare registry, an account-like path and a nested one: ECR nests, so auto is
        // multirepo, each image its own repository under the path.
        for (path, want) in [
            ("", format!("{host}/backend:tag")),
            ("/team", format!("{host}/team/backend:tag")),
            (
                "/team/sub/deep",
                format!("{host}/team/sub/deep/backend:tag"),
            ),
        ] {
            let r = detect(&[
                "-i",
                &format!("{host}{path}"),
                "--image",
                "backend",
                "--tag-custom",
                "tag",
            ]);
            let doc = json_doc(&ok(r));
            assert_eq!(doc["implementation"], "ecr", "{doc:#}");
            assert_eq!(doc["detection"]["source"], "host-pattern");
            assert_eq!(doc["mode"], "multirepo", "{doc:#}");
            assert_eq!(references(&doc), vec![want]);
        }
        // Monorepo with a repository: tags carry the image name.
        let r = detect(&[
            "-i",
            &format!("{host}/team/project"),
            "--images-repo-mode",
            "monorepo",
            "--image",
            "backend",
            "--image",
            "frontend",
            "--tag-custom",
            "tag",
        ]);
        let doc = json_doc(&ok(r));
        assert_eq!(
            references(&doc),
            vec![
                format!("{host}/team/project:backend-tag"),
                format!("{host}/team/project:frontend-tag")
            ]
        );
        // Monorepo on a bare registry is an input error.
        let r = detect(&[
            "-i",
            host,
            "--images-repo-mode",
            "monorepo",
            "--image",
            "backend",
        ]);
        assert_eq!(r.code, 2, "{}", r.stderr);
    }
    // Look-alikes are not ECR; a forced implementation is explicit.
    let doc = json_doc(&ok(detect(&[
        "-i",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com.example.com/x",
        "--image",
        "backend",
    ])));
    assert_eq!(doc["implementation"], "default");
    let doc = json_doc(&ok(detect(&[
        "-i",
        "127.0.0.1:5000/x",
        "--implementation",
        "ecr",
        "--image",
        "backend",
    ])));
    assert_eq!(doc["implementation"], "ecr");
    assert_eq!(doc["detection"]["source"], "explicit");
    assert_eq!(doc["capabilities"]["batch_delete"], 100);
    assert_eq!(doc["capabilities"]["creates_repositories_on_push"], false);
}

// ---------------------------------------------------------------------------------------------
// The module against the in-memory JSON 1.1 fake (what moto does not do)

const ECR_HOST: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
const MEDIA: &str = "application/vnd.oci.image.manifest.v1+json";

fn ecr_on(fake: &FakeEcr) -> Ecr {
    let transport = Transport::new(TransportConfig::default(), CredentialStore::default()).unwrap();
    let config = aws_sdk_ecr::Config::builder()
        .behavior_version(aws_sdk_ecr::config::BehaviorVersion::latest())
        .region(aws_sdk_ecr::config::Region::new(REGION))
        .endpoint_url(fake.url())
        .credentials_provider(aws_sdk_ecr::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .build();
    Ecr::new(
        Capabilities::of(Implementation::Ecr, ECR_HOST),
        Distribution::new(transport),
        ECR_HOST,
        Target::from_host(ECR_HOST).unwrap(),
        config,
    )
}

fn digest(n: usize) -> String {
    sha256_digest(format!("image {n}").as_bytes())
}

/// Every call but the login carried the account from the host as `registryId`.
fn assert_registry_id(fake: &FakeEcr) {
    for c in fake.calls() {
        if c.action != "GetAuthorizationToken" {
            assert_eq!(c.body["registryId"], ACCOUNT, "{c:?}");
        }
    }
}

#[tokio::test]
async fn login_installs_the_aws_basic_credential_once() {
    let fake = FakeEcr::start(100);
    let ecr = ecr_on(&fake);
    ecr.login().await.unwrap();
    ecr.login().await.unwrap();
    assert_eq!(
        fake.count("GetAuthorizationToken"),
        1,
        "cached until expiresAt"
    );
    let cred = ecr.oci().transport().credential(ECR_HOST).await.unwrap();
    assert_eq!(
        cred,
        Some(Credential::basic("AWS", "fake-ecr-password-0123"))
    );
    assert_eq!(ecr.registry_id(), Some(ACCOUNT));
}

#[tokio::test]
async fn listing_follows_next_token_with_fractional_push_times() {
    let fake = FakeEcr::start(3);
    fake.create("app", false);
    for n in 0..10 {
        let tags: Vec<String> = match n {
            0 => vec![],
            1 => vec!["a".into(), "b".into()],
            n => vec![format!("t{n}")],
        };
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        fake.add("app", &digest(n), &tags, MEDIA, "{}");
    }
    let ecr = ecr_on(&fake);
    let repo = Repo::new(ECR_HOST, "app");
    let listing = ecr.listing(&repo, &|_| true).await.unwrap().unwrap();
    assert_eq!(fake.count("DescribeImages"), 4, "10 images in pages of 3");
    assert_eq!(
        listing.manifests.len(),
        10,
        "untagged images are listed too"
    );
    assert_eq!(listing.tags.len(), 10);
    assert_eq!(listing.tags["a"], digest(1));
    assert_eq!(listing.tags["b"], digest(1));
    let listed = &listing.manifests[&digest(2)];
    assert_eq!(listed.media_type.as_deref(), Some(MEDIA));
    let pushed = listed
        .pushed
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    assert_eq!(pushed.as_millis(), 1_700_000_002_250);
    let tokens: Vec<Value> = fake
        .calls()
        .iter()
        .filter(|c| c.action == "DescribeImages")
        .map(|c| c.body["nextToken"].clone())
        .collect();
    assert_eq!(
        tokens,
        vec![
            Value::Null,
            json!("page-3"),
            json!("page-6"),
            json!("page-9")
        ]
    );
    assert_registry_id(&fake);

    // A missing repository is an empty listing.
    let none = ecr
        .listing(&Repo::new(ECR_HOST, "nope"), &|_| true)
        .await
        .unwrap()
        .unwrap();
    assert!(none.tags.is_empty() && none.manifests.is_empty());
}

#[tokio::test]
async fn deletes_go_in_chunks_of_100_with_per_id_outcomes() {
    let fake = FakeEcr::start(1000);
    fake.create("app", false);
    for n in 0..250 {
        fake.add("app", &digest(n), &[&format!("t{n}")], MEDIA, "{}");
    }
    let ecr = ecr_on(&fake);
    let repo = Repo::new(ECR_HOST, "app");
    let mut digests: Vec<String> = (0..250).map(digest).collect();
    digests.push(digest(9999));
    let out = ecr.delete_digests(&repo, &digests, 4).await;
    assert_eq!(out.len(), 251);
    assert!(
        out[..250].iter().all(|o| *o == Ok(Deleted::Done)),
        "{out:?}"
    );
    assert_eq!(
        out[250],
        Ok(Deleted::NotFound),
        "ImageNotFound is done already"
    );
    let sizes: Vec<usize> = fake
        .calls()
        .iter()
        .filter(|c| c.action == "BatchDeleteImage")
        .map(|c| c.body["imageIds"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes.iter().sum::<usize>(), 251);
    assert_eq!(sizes.len(), 3, "{sizes:?}");
    assert!(sizes.iter().all(|&s| s <= 100));
    assert!(fake.images("app").is_empty());
    assert_registry_id(&fake);
}

#[tokio::test]
async fn untag_keeps_the_last_tag_and_reports_failures() {
    let fake = FakeEcr::start(1000);
    fake.create("app", false);
    fake.add("app", &digest(1), &["t1", "t2"], MEDIA, "{}");
    fake.add("app", &digest(2), &["only"], MEDIA, "{}");
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": MEDIA, "digest": digest(3), "size": 2}]})
    .to_string();
    fake.add("app", &digest(3), &[], MEDIA, "{}");
    fake.add(
        "app",
        &digest(4),
        &["idx"],
        "application/vnd.oci.image.index.v1+json",
        &index,
    );
    let ecr = ecr_on(&fake);
    let repo = Repo::new(ECR_HOST, "app");
    let tags: Vec<String> = ["t1", "only", "missing"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let out = ecr.untag_tags(&repo, &tags, 2).await;
    assert_eq!(out[0], Ok(Untagged::Native));
    match &out[1] {
        Ok(Untagged::Kept(reason)) => assert!(reason.contains("last tag"), "{reason}"),
        other => panic!("the last tag must stay: {other:?}"),
    }
    assert_eq!(out[2], Ok(Untagged::Absent));
    assert_eq!(fake.images("app")[&digest(1)], vec!["t2"]);
    assert_eq!(fake.images("app")[&digest(2)], vec!["only"]);
    // Only t1 was sent.
    let sent: Vec<Value> = fake
        .calls()
        .iter()
        .filter(|c| c.action == "BatchDeleteImage")
        .map(|c| c.body["imageIds"].clone())
        .collect();
    assert_eq!(sent, vec![json!([{"imageTag": "t1"}])]);

    // A child of a kept index: ECR's failure code is the outcome of that id.
    let out = ecr.delete_digests(&repo, &[digest(3)], 1).await;
    let e = out[0].clone().unwrap_err();
    assert_eq!(e.kind, dockhand::error::Kind::Operation);
    assert!(e.message.contains("ImageReferencedByManifestList"), "{e}");
    assert!(fake.images("app").contains_key(&digest(3)));
}

#[tokio::test]
async fn ensure_repository_describes_then_creates_once() {
    let fake = FakeEcr::start(100);
    fake.create("exists", false);
    let ecr = ecr_on(&fake);
    ecr.ensure_repository(&Repo::new(ECR_HOST, "exists"))
        .await
        .unwrap();
    ecr.ensure_repository(&Repo::new(ECR_HOST, "team/new"))
        .await
        .unwrap();
    ecr.ensure_repository(&Repo::new(ECR_HOST, "team/new"))
        .await
        .unwrap();
    assert_eq!(fake.count("DescribeRepositories"), 2);
    assert_eq!(fake.count("CreateRepository"), 1);
    assert!(fake.images("team/new").is_empty());
    assert_registry_id(&fake);
}

#[tokio::test]
async fn api_errors_map_to_exit_codes() {
    let fake = FakeEcr::start(100);
    fake.create("app", false);
    let ecr = ecr_on(&fake);
    let repo = Repo::new(ECR_HOST, "app");
    fake.add_fault(ApiFault::new(
        "DescribeImages",
        1,
        400,
        "AccessDeniedException",
        "not authorized to perform: ecr:DescribeImages",
    ));
    let e = ecr.listing(&repo, &|_| true).await.unwrap_err();
    assert_eq!(e.exit_code(), 3);
    let hint = e.hint.unwrap();
    assert!(hint.contains("ecr:DescribeImages"), "{hint}");
    assert!(
        hint.contains("arn:aws:ecr:eu-west-1:123456789012:repository/app"),
        "{hint}"
    );

    fake.add_fault(ApiFault::new(
        "DescribeImages",
        1,
        400,
        "ExpiredTokenException",
        "The security token included in the request is expired",
    ));
    let e = ecr.listing(&repo, &|_| true).await.unwrap_err();
    assert_eq!(e.exit_code(), 3);

    // Throttling and server errors are retried; other errors are not.
    fake.add_fault(ApiFault::new(
        "DescribeImages",
        2,
        400,
        "ThrottlingException",
        "Rate exceeded",
    ));
    fake.add_fault(ApiFault::new(
        "DescribeImages",
        1,
        500,
        "ServerException",
        "oops",
    ));
    let before = fake.count("DescribeImages");
    ecr.listing(&repo, &|_| true).await.unwrap();
    assert_eq!(fake.count("DescribeImages") - before, 4);
    fake.add_fault(ApiFault::new(
        "DescribeImages",
        1,
        400,
        "InvalidParameterException",
        "bad",
    ));
    let e = ecr.listing(&repo, &|_| true).await.unwrap_err();
    assert_eq!(e.exit_code(), 1);
}
