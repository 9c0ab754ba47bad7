//! `dockhand promote` end to end: real `docker-registry` servers (no referrers API, so referrers
//! travel as cosign's `sha256-<hex>.sig` tags and the `sha256-<hex>` fallback index), images
//! published by `dockhand publish`, digests checked with skopeo, writes counted at a proxy.

use reqwest::Method;
use serde_json::Value;

use crate::publish::skopeo_digest;
use crate::support::client::BlockingClient as Reg;
use crate::support::layouts::{layout, multiarch_layout};
use crate::support::run::{dockhand, dockhand_env, ok};
use crate::support::*;
use crate::sync::publish;

const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Requests that write: manifest and blob PUTs, upload POSTs and PATCHes, DELETEs.
fn writes(proxy: &FaultProxy) -> Vec<String> {
    proxy
        .requests()
        .into_iter()
        .filter(|r| r.method != Method::GET && r.method != Method::HEAD)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// Blob uploads started (POST …/blobs/uploads/ without a mount that the registry honoured).
fn uploads(proxy: &FaultProxy) -> usize {
    proxy
        .requests()
        .iter()
        .filter(|r| {
            (r.method == Method::POST || r.method == Method::PATCH)
                && r.path.contains("/blobs/uploads/")
                && r.status != Some(201)
        })
        .count()
}

/// The references of a report, with their digests and whether each was pushed.
fn images(doc: &Value) -> Vec<(String, String, bool)> {
    doc["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["reference"].as_str().unwrap().to_string(),
                i["digest"].as_str().unwrap().to_string(),
                i["pushed"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_multi_arch_index_with_its_signature_keeps_every_digest_and_moves_nothing_twice() {
    let src = RegistryServer::anonymous();
    let dst = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let (path, index) = multiarch_layout(cwd, "release");
    publish(cwd, &format!("{}/staging", src.host()), &path, "rc1");
    let source = Reg::new(&src.url(), Creds::Anonymous);
    let hex = &index["sha256:".len()..];
    // A cosign signature of the index, and an SBOM listed in its referrers fallback index.
    let sig_tag = format!("sha256-{hex}.sig");
    let sig = source.push("staging/app", &sig_tag, "signature of release", 0);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = RegistryClient::new(&src.url(), Creds::Anonymous);
    let sbom = rt.block_on(client.push_image_as(
        "staging/app",
        None,
        &[b"sbom".to_vec()],
        "2024-05-01T12:00:00Z",
        "linux",
        "amd64",
        false,
    ));
    let listing = serde_json::json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sbom.digest,
         "size": sbom.manifest.len(), "artifactType": "application/spdx+json"}]});
    rt.block_on(client.put_manifest(
        "staging/app",
        &format!("sha256-{hex}"),
        INDEX,
        &serde_json::to_vec(&listing).unwrap(),
    ));

    let proxy = FaultProxy::start(&dst.url());
    let from = format!("{}/staging/app:rc1", src.host());
    let target = format!("{}/prod", proxy.host());
    let promote = || {
        ok(dockhand(
            &[
                "promote",
                "--from",
                &from,
                "--from-digest",
                &index,
                "-i",
                &target,
                "--tag-git-tag",
                "v1.2.3",
                "--tag-latest",
                "false",
                "--output",
                "json",
            ],
            cwd,
        ))
        .json()
    };
    let first = promote();
    let prod = format!("{}/prod/app", proxy.host());
    let expected: Vec<(String, String, bool)> = ["v1.2.3", "1.2.3", "1.2", "1"]
        .iter()
        .map(|t| (format!("{prod}:{t}"), index.clone(), true))
        .collect();
    assert_eq!(images(&first), expected, "{first}");
    assert!(first["failed"].as_array().unwrap().is_empty(), "{first}");
    assert!(
        first["transfer"]["blobs_uploaded"].as_u64().unwrap() > 0,
        "{first}"
    );

    // skopeo, straight at the destination registry: the index, both platforms, the signature.
    let at = |r: &str| format!("{}/prod/app{r}", dst.host());
    for t in ["v1.2.3", "1.2.3", "1.2", "1"] {
        assert_eq!(skopeo_digest(&at(&format!(":{t}"))), index, "{t}");
    }
    let copied = Reg::new(&dst.url(), Creds::Anonymous);
    let children = copied.children("prod/app", &index);
    assert_eq!(children.len(), 2);
    for c in &children {
        assert_eq!(&skopeo_digest(&at(&format!("@{c}"))), c);
    }
    assert_eq!(skopeo_digest(&at(&format!(":{sig_tag}"))), sig);
    assert_eq!(
        skopeo_digest(&at(&format!("@{}", sbom.digest))),
        sbom.digest
    );
    let listed = copied
        .get("prod/app", &format!("sha256-{hex}"))
        .unwrap()
        .json();
    assert!(listed.to_string().contains(&sbom.digest), "{listed}");

    // Again: every tag unchanged, not one blob uploaded, nothing written at all (the referrers
    // the destination lists already are left alone).
    proxy.clear_requests();
    let second = promote();
    let unchanged: Vec<(String, String, bool)> = expected
        .iter()
        .map(|(r, d, _)| (r.clone(), d.clone(), false))
        .collect();
    assert_eq!(images(&second), unchanged, "{second}");
    assert_eq!(second["transfer"]["blobs_uploaded"], 0, "{second}");
    assert_eq!(second["transfer"]["bytes_uploaded"], 0, "{second}");
    assert_eq!(uploads(&proxy), 0, "{:?}", writes(&proxy));
    assert!(writes(&proxy).is_empty(), "{:?}", writes(&proxy));
}

#[test]
fn a_tag_moved_since_the_test_is_refused_and_nothing_is_copied() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let (tested, tested_digest) = layout(cwd, "tested");
    let (newer, newer_digest) = layout(cwd, "newer");
    let staging = format!("{}/staging", reg.host());
    publish(cwd, &staging, &tested, "rc1");
    publish(cwd, &staging, &newer, "rc1");
    let from = format!("{}/staging/app:rc1", proxy.host());
    let target = format!("{}/prod", proxy.host());
    let r = dockhand(
        &[
            "promote",
            "--from",
            &from,
            "--from-digest",
            &tested_digest,
            "-i",
            &target,
            "--tag-custom",
            "stable",
        ],
        cwd,
    );
    r.code(1);
    assert!(r.stderr.contains("refused"), "{}", r.stderr);
    assert!(
        r.stderr.contains(&tested_digest) && r.stderr.contains(&newer_digest),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("nothing was copied"), "{}", r.stderr);
    assert!(writes(&proxy).is_empty(), "{:?}", writes(&proxy));
    assert!(
        Reg::new(&reg.url(), Creds::Anonymous)
            .tags("prod/app")
            .is_empty()
    );

    // Bad input: exit 2, and not one request.
    proxy.clear_requests();
    let other = format!("{}/staging/app@{newer_digest}", proxy.host());
    for (args, says) in [
        (
            vec!["--from", &from, "--from-digest", "sha256:1234"],
            "--from-digest",
        ),
        (
            vec!["--from", &other, "--from-digest", &tested_digest],
            "differs",
        ),
        (
            vec!["--from", &from, "--image", "a", "--image", "b"],
            "--image",
        ),
        (vec!["--tag-custom", "x"], "--from is not given"),
    ] {
        let mut a = vec!["promote", "-i", &target, "--tag-custom", "stable"];
        a.extend(args);
        let r = dockhand(&a, cwd);
        r.code(2);
        assert!(r.stderr.contains(says), "{a:?}: {}", r.stderr);
    }
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
}

/// Within one registry the blobs are mounted, not uploaded; a dry run writes nothing; and
/// promote runs as a stage of `dockhand run`.
#[test]
fn within_one_registry_blobs_are_mounted_and_a_dry_run_writes_nothing() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let (path, index) = multiarch_layout(cwd, "mounted");
    publish(cwd, &format!("{}/staging", reg.host()), &path, "rc1");
    let from = format!("{}/staging/app@{index}", proxy.host());
    let target = format!("{}/prod", proxy.host());
    let env = [
        ("DOCKHAND_STAGES", "promote"),
        ("DOCKHAND_FROM", from.as_str()),
        ("DOCKHAND_IMAGES_REPO", target.as_str()),
        ("DOCKHAND_TAG_CUSTOM", "stable"),
        ("DOCKHAND_OUTPUT", "json"),
    ];
    let dry = ok(dockhand_env(&["run", "--dry-run"], cwd, &env)).json();
    assert_eq!(dry["promote"]["dry_run"], true, "{dry}");
    assert!(dry.get("publish").is_none(), "{dry}");
    assert_eq!(
        images(&dry["promote"]),
        [(format!("{target}/app:stable"), index.clone(), true)]
    );
    assert!(writes(&proxy).is_empty(), "{:?}", writes(&proxy));
    let registry = Reg::new(&reg.url(), Creds::Anonymous);
    assert!(registry.tags("prod/app").is_empty());

    let real = ok(dockhand_env(&["run"], cwd, &env)).json();
    let t = &real["promote"]["transfer"];
    assert_eq!(t["blobs_uploaded"], 0, "{real}");
    assert!(t["blobs_mounted"].as_u64().unwrap() >= 3, "{real}");
    assert_eq!(
        registry.head("prod/app", "stable").as_deref(),
        Some(index.as_str())
    );
    assert_eq!(
        skopeo_digest(&format!("{}/prod/app:stable", reg.host())),
        index
    );
}

/// The destination refuses missing credentials (exit 3, nothing there); `--registry-username`
/// and `--registry-password` are the destination's, and the source is read anonymously.
#[test]
fn refused_credentials_exit_3_and_the_registry_login_is_the_destinations() {
    let src = RegistryServer::anonymous();
    let dst = RegistryServer::start(RegistryOptions {
        auth: RegistryAuth::Htpasswd(vec![("release", "s3cret")]),
        delete_enabled: true,
    });
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let (path, digest) = layout(cwd, "signed off");
    publish(cwd, &format!("{}/staging", src.host()), &path, "rc1");
    let from = format!("{}/staging/app@{digest}", src.host());
    let target = format!("{}/prod", dst.host());
    let args = [
        "promote",
        "--from",
        &from,
        "-i",
        &target,
        "--tag-custom",
        "stable",
    ];
    let r = dockhand(&args, cwd);
    r.code(3);
    assert!(
        r.stderr
            .contains(&format!("promotion failed for {target}/app:stable")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("refused the credentials"), "{}", r.stderr);
    let registry = Reg::new(&dst.url(), Creds::basic("release", "s3cret"));
    assert!(registry.tags("prod/app").is_empty());

    let mut with_creds = args.to_vec();
    with_creds.extend([
        "--registry-username",
        "release",
        "--registry-password",
        "s3cret",
    ]);
    let r = ok(dockhand(&with_creds, cwd));
    assert_eq!(r.stdout.trim(), format!("{target}/app:stable@{digest}"));
    assert_eq!(registry.head("prod/app", "stable"), Some(digest));
    assert!(!r.stderr.contains("s3cret"), "{}", r.stderr);
}

#[test]
fn every_target_gets_the_tested_digest_and_one_refusing_fails_alone() {
    let src = RegistryServer::anonymous();
    let open = RegistryServer::anonymous();
    let locked = RegistryServer::start(RegistryOptions {
        auth: RegistryAuth::Htpasswd(vec![("release", "s3cret")]),
        delete_enabled: true,
    });
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let (path, index) = multiarch_layout(cwd, "two places");
    publish(cwd, &format!("{}/staging", src.host()), &path, "rc1");
    let from = format!("{}/staging/app:rc1", src.host());
    let (a, b) = (
        format!("{}/prod", open.host()),
        format!("{}/prod", locked.host()),
    );
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "promote",
            "--from",
            &from,
            "--from-digest",
            &index,
            "--tag-custom",
            "stable",
            "--output",
            "json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        dockhand(&a, cwd)
    };

    // The second target refuses anonymous pushes: it fails alone (exit 1), the first is promoted.
    let r = run(&["-i", &a, "-i", &b]);
    r.code(1);
    let doc = r.json();
    let targets = doc["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2, "{doc}");
    assert_eq!(targets[0]["images"][0]["digest"], index.as_str(), "{doc}");
    assert!(targets[0]["failed"].as_array().unwrap().is_empty(), "{doc}");
    assert_eq!(targets[1]["failed"].as_array().unwrap().len(), 1, "{doc}");
    let prod_a = Reg::new(&open.url(), Creds::Anonymous);
    let prod_b = Reg::new(&locked.url(), Creds::basic("release", "s3cret"));
    assert_eq!(prod_a.head("prod/app", "stable"), Some(index.clone()));
    assert!(prod_b.tags("prod/app").is_empty());

    // The locked target's login from its `targets:` item: both hold the tested digest, the
    // platform manifests with it, and the first target is not written again.
    std::fs::write(
        cwd.join("dockhand.yaml"),
        format!(
            "project: app\ntargets:\n- images_repo: {a}\n- images_repo: {b}\n  \
             username_env: PROD_USER\n  password_env: PROD_PASS\n"
        ),
    )
    .unwrap();
    let a2 = args(&[]);
    let a2: Vec<&str> = a2.iter().map(String::as_str).collect();
    let r = ok(dockhand_env(
        &a2,
        cwd,
        &[("PROD_USER", "release"), ("PROD_PASS", "s3cret")],
    ));
    assert!(!r.stderr.contains("s3cret"), "{}", r.stderr);
    let doc = r.json();
    assert_eq!(prod_b.head("prod/app", "stable"), Some(index.clone()));
    assert_eq!(prod_b.children("prod/app", &index).len(), 2);
    let pushed: Vec<bool> = doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["images"][0]["pushed"].as_bool().unwrap())
        .collect();
    assert_eq!(pushed, [false, true], "{doc}");
}
