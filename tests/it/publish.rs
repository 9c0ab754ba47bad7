//! `dockhand publish` end to end against a real registry: layouts, sources, digests, transfer
//! economy (counted at a proxy in front of the registry), failures and dry runs.

use crate::support;
use crate::support::run::{dockhand, ok};

use std::path::Path;
use std::process::Command;

use dockhand::fixtures::{self, File, Image};
use reqwest::Method;
use support::*;

/// The digest skopeo sees for a reference (an independent client).
pub(crate) fn skopeo_digest(reference: &str) -> String {
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dockhand::registry::media::sha256_digest(&out.stdout)
}

/// Image tags of a repository (origin-record fallback tags `sha256-…` left out).
fn tags_of(reg: &str, repo: &str) -> Vec<String> {
    let url = format!("{reg}/v2/{repo}/tags/list");
    let body = http_get::blocking_get(&url);
    let mut tags: Vec<String> = body["tags"]
        .as_array()
        .map(|a| a.iter().map(|t| t.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    tags.retain(|t| !t.starts_with("sha256-"));
    tags.sort();
    tags
}

mod http_get {
    /// A tiny blocking GET for assertions, on its own runtime.
    pub fn blocking_get(url: &str) -> serde_json::Value {
        let url = url.to_string();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let resp = ::reqwest::Client::builder()
                    .no_proxy()
                    .build()
                    .unwrap()
                    .get(&url)
                    .send()
                    .await
                    .unwrap();
                if resp.status() == 404 {
                    return serde_json::Value::Null;
                }
                resp.json().await.unwrap()
            })
        })
        .join()
        .unwrap()
    }
    /// A manifest as JSON, fetched with the OCI and Docker Accept types.
    pub fn blocking_get_manifest(base: &str, repo: &str, reference: &str) -> serde_json::Value {
        let url = format!("{base}/v2/{repo}/manifests/{reference}");
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let client = ::reqwest::Client::builder().no_proxy().build().unwrap();
                let resp = client
                    .get(&url)
                    .header("accept", super::MANIFEST_ACCEPT)
                    .send()
                    .await
                    .unwrap();
                assert!(resp.status().is_success(), "GET {url}: {}", resp.status());
                resp.json().await.unwrap()
            })
        })
        .join()
        .unwrap()
    }
}

fn seed(dir: &Path) -> Vec<(String, String)> {
    fixtures::seed_example(&dir.join("images")).unwrap()
}

fn image_args(dir: &Path) -> Vec<String> {
    ["backend", "frontend"]
        .iter()
        .flat_map(|n| {
            [
                "--image".to_string(),
                format!("{n}=oci:{}", dir.join("images").join(n).display()),
            ]
        })
        .collect()
}

fn args<'a>(v: &'a [String], extra: &[&'a str]) -> Vec<&'a str> {
    extra
        .iter()
        .copied()
        .chain(v.iter().map(String::as_str))
        .collect()
}

#[test]
fn seed_example_in_both_modes_keeps_digests() {
    let reg = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let digests = seed(dir.path());
    let images = image_args(dir.path());
    let host = reg.host();

    let repo = format!("{host}/flant");
    let r = ok(dockhand(
        &args(&images, &["publish", "-i", &repo, "--tag-custom", "tag"]),
        dir.path(),
    ));
    for (name, digest) in &digests {
        let reference = format!("{host}/flant/{name}:tag");
        assert!(
            r.stdout.contains(&format!("{reference}@{digest}")),
            "{}",
            r.stdout
        );
        assert_eq!(&skopeo_digest(&reference), digest);
    }

    let repo = format!("{host}/flant/project");
    ok(dockhand(
        &args(
            &images,
            &[
                "publish",
                "-i",
                &repo,
                "--images-repo-mode",
                "monorepo",
                "--tag-custom",
                "tag",
            ],
        ),
        dir.path(),
    ));
    assert_eq!(
        tags_of(&reg.url(), "flant/project"),
        vec!["backend-tag", "frontend-tag"]
    );
    for (name, digest) in &digests {
        assert_eq!(
            &skopeo_digest(&format!("{host}/flant/project:{name}-tag")),
            digest
        );
    }
}

#[test]
fn unnamed_image_goes_to_the_repository_itself() {
    let reg = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let digests = seed(dir.path());
    let src = format!("~=oci:{}", dir.path().join("images/backend").display());
    let repo = format!("{}/app", reg.host());
    ok(dockhand(
        &[
            "publish",
            "-i",
            &repo,
            "--image",
            &src,
            "--tag-custom",
            "v1",
            "--tag-custom",
            "v1.0",
        ],
        dir.path(),
    ));
    assert_eq!(tags_of(&reg.url(), "app"), vec!["v1", "v1.0"]);
    assert_eq!(
        skopeo_digest(&format!("{}/app:v1", reg.host())),
        digests[0].1
    );
}

fn skopeo(args: &[&str]) {
    let out = Command::new("skopeo").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn all_four_source_kinds() {
    let reg = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let digests = seed(dir.path());
    let backend = dir.path().join("images/backend");
    let host = reg.host();
    // Archives written by a real tool.
    let oci_archive = dir.path().join("backend-oci.tar");
    let docker_archive = dir.path().join("backend-docker.tar");
    skopeo(&[
        "copy",
        "-q",
        &format!("oci:{}:latest", backend.display()),
        &format!("oci-archive:{}:latest", oci_archive.display()),
    ]);
    skopeo(&[
        "copy",
        "-q",
        &format!("oci:{}:latest", backend.display()),
        &format!(
            "docker-archive:{}:demo/backend:latest",
            docker_archive.display()
        ),
    ]);
    // A registry source: a staging repository the build pushed to.
    skopeo(&[
        "copy",
        "-q",
        "--dest-tls-verify=false",
        &format!("oci:{}:latest", backend.display()),
        &format!("docker://{host}/staging/backend:build-1"),
    ]);

    let sources = [
        ("oci", format!("oci:{}", backend.display())),
        (
            "ociarchive",
            format!("oci-archive:{}", oci_archive.display()),
        ),
        (
            "dockerarchive",
            format!("docker-archive:{}", docker_archive.display()),
        ),
        (
            "registry",
            format!("docker://{host}/staging/backend:build-1"),
        ),
        ("plainref", format!("{host}/staging/backend:build-1")),
    ];
    for (name, source) in &sources {
        let repo = format!("{host}/kinds");
        let image = format!("{name}={source}");
        let r = ok(dockhand(
            &[
                "publish",
                "-i",
                &repo,
                "--image",
                &image,
                "--tag-custom",
                "t",
                "--output",
                "json",
            ],
            dir.path(),
        ));
        let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let digest = doc["images"][0]["digest"].as_str().unwrap().to_string();
        assert_eq!(
            skopeo_digest(&format!("{host}/kinds/{name}:t")),
            digest,
            "{name}"
        );
        if *name != "dockerarchive" {
            assert_eq!(digest, digests[0].1, "{name}: the digest is preserved");
        }
    }
    // The registry source on the same registry is mounted, not uploaded again.
    let r = ok(dockhand(
        &[
            "publish",
            "-i",
            &format!("{host}/mounted"),
            "--image",
            &format!("x=docker://{host}/staging/backend:build-1"),
            "--tag-custom",
            "t",
            "--output",
            "json",
        ],
        dir.path(),
    ));
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["transfer"]["bytes_uploaded"], 0, "{doc}");
    assert!(
        doc["transfer"]["blobs_mounted"].as_u64().unwrap() >= 3,
        "{doc}"
    );
}

fn platform_image(arch: &str, content: &[u8]) -> Image {
    Image {
        layers: vec![fixtures::tar(&[File {
            path: "bin/app",
            content,
        }])],
        created: "2024-05-01T12:00:00Z".into(),
        cmd: vec!["/bin/app".into()],
        platform: ("linux".into(), arch.into()),
    }
}

#[test]
fn multi_arch_index_with_all_children() {
    let reg = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("multi");
    let digest = fixtures::write_multiarch_layout(
        &layout,
        "latest",
        &[
            platform_image("amd64", b"x86"),
            platform_image("arm64", b"arm"),
        ],
    )
    .unwrap();
    let repo = format!("{}/multi", reg.host());
    ok(dockhand(
        &[
            "publish",
            "-i",
            &repo,
            "--image",
            &format!("app=oci:{}", layout.display()),
            "--tag-custom",
            "v1",
        ],
        dir.path(),
    ));
    let reference = format!("{}/multi/app:v1", reg.host());
    assert_eq!(skopeo_digest(&reference), digest);
    // Each child resolves by digest, so every platform can be pulled.
    let index: serde_json::Value = http_get::blocking_get_manifest(&reg.url(), "multi/app", "v1");
    for child in index["manifests"].as_array().unwrap() {
        let d = child["digest"].as_str().unwrap();
        assert_eq!(skopeo_digest(&format!("{}/multi/app@{d}", reg.host())), d);
    }
}

#[test]
fn republishing_uploads_nothing_and_shared_layers_upload_once() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let dir = tempfile::tempdir().unwrap();
    // Ten images over three shared base layers, each with its own top layer.
    let bases: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            fixtures::tar(&[File {
                path: &format!("base/{i}"),
                content: &vec![b'a' + i as u8; 200_000],
            }])
        })
        .collect();
    let mut image_flags = Vec::new();
    for i in 0..10 {
        let mut layers = bases.clone();
        layers.push(fixtures::tar(&[File {
            path: "app",
            content: format!("image {i}").as_bytes(),
        }]));
        let image = Image {
            layers,
            created: "2024-05-01T12:00:00Z".into(),
            cmd: vec![],
            platform: ("linux".into(), "amd64".into()),
        };
        let path = dir.path().join(format!("img{i}"));
        fixtures::write_layout(&path, "latest", &image).unwrap();
        image_flags.push("--image".to_string());
        image_flags.push(format!("img{i}=oci:{}", path.display()));
    }
    let repo = format!("{}/ten", proxy.host());
    ok(dockhand(
        &args(
            &image_flags,
            &["publish", "-i", &repo, "--tag-custom", "v1"],
        ),
        dir.path(),
    ));
    let base_digests: Vec<String> = bases
        .iter()
        .map(|b| dockhand::registry::media::sha256_digest(&fixtures::gzip(b)))
        .collect();
    for d in &base_digests {
        let uploads = proxy
            .requests()
            .iter()
            .filter(|r| {
                r.method == Method::PUT
                    && r.path.contains("/blobs/uploads/")
                    && r.path.contains(&d.replace(':', "%3A"))
            })
            .count();
        assert_eq!(uploads, 1, "shared layer {d} uploaded {uploads} times");
    }
    let first_bytes = proxy.bytes_uploaded();

    proxy.clear_requests();
    let r = ok(dockhand(
        &args(
            &image_flags,
            &[
                "publish",
                "-i",
                &repo,
                "--tag-custom",
                "v1",
                "--output",
                "json",
            ],
        ),
        dir.path(),
    ));
    assert_eq!(
        proxy.bytes_uploaded(),
        0,
        "a re-publish of an unchanged set uploads nothing"
    );
    let writes = proxy
        .requests()
        .iter()
        .filter(|r| r.method != Method::GET && r.method != Method::HEAD)
        .count();
    assert_eq!(writes, 0, "{:?}", proxy.requests());
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(
        doc["images"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["pushed"] == false),
        "{doc}"
    );
    eprintln!(
        "first publish uploaded {first_bytes} bytes; republish requests: {}",
        proxy.requests().len()
    );
}

#[test]
fn uploads_broken_off_midway_are_retried_and_the_result_is_right() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let dir = tempfile::tempdir().unwrap();
    let digests = seed(dir.path());
    // One upload connection reset, one upload answered 500, one session start refused with 429.
    proxy.add_fault(Fault::reset(Method::PUT, "/blobs/uploads/", 1));
    proxy.add_fault(Fault::status(Method::PUT, "/blobs/uploads/", 1, 500));
    proxy.add_fault(Fault::retry_after_secs(
        Method::POST,
        "/blobs/uploads/",
        1,
        429,
        1,
    ));
    let repo = format!("{}/flaky", proxy.host());
    ok(dockhand(
        &args(
            &image_args(dir.path()),
            &["publish", "-i", &repo, "--tag-custom", "v1"],
        ),
        dir.path(),
    ));
    assert_eq!(proxy.faults_remaining(), 0, "every fault was hit");
    for (name, digest) in &digests {
        assert_eq!(
            &skopeo_digest(&format!("{}/flaky/{name}:v1", reg.host())),
            digest
        );
    }
}

#[test]
fn a_permanent_failure_exits_1_names_the_reference_and_tags_nothing() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    proxy.add_fault(Fault::status(Method::PUT, "/blobs/uploads/", 1000, 500));
    let repo = format!("{}/down", proxy.host());
    let r = dockhand(
        &args(
            &image_args(dir.path()),
            &["publish", "-i", &repo, "--tag-custom", "v1"],
        ),
        dir.path(),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("{}/down/backend:v1", proxy.host())),
        "{}",
        r.stderr
    );
    assert!(
        tags_of(&reg.url(), "down/backend").is_empty(),
        "no tag may point at incomplete content"
    );
    assert!(tags_of(&reg.url(), "down/frontend").is_empty());
}

#[test]
fn dry_run_writes_nothing() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let repo = format!("{}/dry", proxy.host());
    let r = ok(dockhand(
        &args(
            &image_args(dir.path()),
            &["publish", "-i", &repo, "--tag-custom", "v1", "--dry-run"],
        ),
        dir.path(),
    ));
    assert!(r.stderr.contains("would push"), "{}", r.stderr);
    let writes: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method != Method::GET && r.method != Method::HEAD)
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    assert!(tags_of(&reg.url(), "dry/backend").is_empty());
}

#[test]
fn json_document_follows_the_contract() {
    let reg = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let digests = seed(dir.path());
    let repo = format!("{}/doc", reg.host());
    let r = ok(dockhand(
        &args(
            &image_args(dir.path()),
            &[
                "publish",
                "-i",
                &repo,
                "--tag-custom",
                "a",
                "--tag-by-digest",
                "--output",
                "json",
            ],
        ),
        dir.path(),
    ));
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let images = doc["images"].as_array().unwrap();
    assert_eq!(images.len(), 4, "two images x two tags");
    for i in images {
        let name = i["image"].as_str().unwrap();
        let digest = &digests.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(i["digest"].as_str().unwrap(), digest);
        assert_eq!(i["pushed"], true);
        assert!(
            i["reference"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{}/doc/{name}:", reg.host()))
        );
    }
    let hex = &digests[0].1["sha256:".len()..];
    assert!(
        images.iter().any(|i| i["reference"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":digest-{}", &hex[..16]))),
        "{doc}"
    );
}

#[test]
fn bad_sources_exit_2_before_anything_is_sent() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let repo = format!("{}/bad", proxy.host());
    let missing = format!("a=oci:{}", dir.path().join("nope").display());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--image", &missing, "--tag-custom", "v1"], "nope"),
        (
            vec!["--image", "a=zip:/x", "--tag-custom", "v1"],
            "image \"a\"",
        ),
        (vec!["--image", "a", "--tag-custom", "v1"], "has no source"),
        (vec!["--image", "a=oci:/tmp"], "no tag"),
    ];
    for (extra, expect) in cases {
        let mut a = vec!["publish", "-i", &repo];
        a.extend(extra.iter().copied());
        let r = dockhand(&a, dir.path());
        assert_eq!(r.code, 2, "{a:?}: {}", r.stderr);
        assert!(r.stderr.contains(expect), "{a:?}: {}", r.stderr);
    }
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
}

#[test]
fn run_publishes_then_cleans_up() {
    let reg = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old");
    let new = dir.path().join("new");
    fixtures::write_layout(&old, "latest", &platform_image("amd64", b"old")).unwrap();
    fixtures::write_layout(&new, "latest", &platform_image("amd64", b"new")).unwrap();
    let repo = format!("{}/run", reg.host());
    ok(dockhand(
        &[
            "publish",
            "-i",
            &repo,
            "--image",
            &format!("app=oci:{}", old.display()),
            "--tag-custom",
            "v1",
        ],
        dir.path(),
    ));
    let image = format!("app=oci:{}", new.display());
    let r = ok(dockhand(
        &[
            "run",
            "-i",
            &repo,
            "--image",
            &image,
            "--tag-custom",
            "v2",
            "--keep-last",
            "1",
            "--grace",
            "0",
            "--output",
            "json",
        ],
        dir.path(),
    ));
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["publish"]["images"][0]["pushed"], true, "{doc}");
    let deleted: Vec<&str> = doc["cleanup"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["result"] == "deleted" && !t["tag"].as_str().unwrap().starts_with("sha256-"))
        .map(|t| t["tag"].as_str().unwrap())
        .collect();
    assert_eq!(deleted, vec!["v1"]);
    assert_eq!(tags_of(&reg.url(), "run/app"), vec!["v2"]);
}

/// A 1 GiB single-layer image goes through the streamed path (its memory use is measured by
/// `bench/publish`); the registry ends with the same digest.
#[test]
fn one_gib_single_layer_image() {
    let reg = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("big");
    let digest = fixtures::write_random_layout(&layout, &[(7, 1024)]).unwrap();
    let repo = format!("{}/big", reg.host());
    let r = ok(dockhand(
        &[
            "publish",
            "-i",
            &repo,
            "--image",
            &format!("big=oci:{}", layout.display()),
            "--tag-custom",
            "v1",
            "--output",
            "json",
        ],
        dir.path(),
    ));
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(
        doc["transfer"]["bytes_uploaded"].as_u64().unwrap() > 1 << 30,
        "{doc}"
    );
    assert_eq!(skopeo_digest(&format!("{}/big/big:v1", reg.host())), digest);
}

/// `--with-referrers` brings a registry source's signature tag and the referrers its fallback
/// index lists; without it, neither is copied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrers_of_a_registry_source_are_copied_when_asked() {
    let reg = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let digests = seed(dir.path());
    let host = reg.host();
    let backend = dir.path().join("images/backend");
    skopeo(&[
        "copy",
        "-q",
        "--dest-tls-verify=false",
        &format!("oci:{}:latest", backend.display()),
        &format!("docker://{host}/staging/app:b1"),
    ]);
    let subject = &digests[0].1;
    let hex = &subject["sha256:".len()..];
    let client = RegistryClient::new(&reg.url(), Creds::Anonymous);
    // A cosign-style signature tag, and an SBOM listed in the referrers fallback index.
    let sig = client
        .push_image(
            "staging/app",
            &format!("sha256-{hex}.sig"),
            &[b"signature".to_vec()],
            "2024-05-01T12:00:00Z",
        )
        .await;
    let sbom = client
        .push_image_as(
            "staging/app",
            None,
            &[b"sbom".to_vec()],
            "2024-05-01T12:00:00Z",
            "linux",
            "amd64",
            false,
        )
        .await;
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sbom.digest, "size": sbom.manifest.len(), "artifactType": "application/spdx+json"}]});
    client
        .put_manifest(
            "staging/app",
            &format!("sha256-{hex}"),
            "application/vnd.oci.image.index.v1+json",
            &serde_json::to_vec(&index).unwrap(),
        )
        .await;

    let source = format!("app=docker://{host}/staging/app:b1");
    let cwd = dir.path().to_path_buf();
    let run = move |repo: String, extra: Option<&'static str>| {
        let (source, cwd) = (source.clone(), cwd.clone());
        std::thread::spawn(move || {
            let mut a = vec![
                "publish".to_string(),
                "-i".into(),
                repo,
                "--image".into(),
                source,
                "--tag-custom".into(),
                "v1".into(),
            ];
            a.extend(extra.map(str::to_string));
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            ok(dockhand(&a, &cwd))
        })
        .join()
        .unwrap()
    };
    run(format!("{host}/plain"), None);
    let plain = client.tags("plain/app").await;
    assert!(!plain.iter().any(|t| t.ends_with(".sig")), "{plain:?}");

    let r = run(format!("{host}/signed"), Some("--with-referrers"));
    assert!(r.stderr.contains("copied 2 referrer(s)"), "{}", r.stderr);
    assert_eq!(
        client
            .head_manifest("signed/app", &format!("sha256-{hex}.sig"))
            .await
            .as_deref(),
        Some(sig.digest.as_str())
    );
    let listed = client
        .get_manifest("signed/app", &format!("sha256-{hex}"))
        .await
        .expect("fallback index")
        .json();
    let listed: Vec<&str> = listed["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["digest"].as_str().unwrap())
        .collect();
    assert!(listed.contains(&sbom.digest.as_str()), "{listed:?}");
    assert!(
        client
            .head_manifest("signed/app", &sbom.digest)
            .await
            .is_some()
    );
}

/// Bytes under `dir`, files in subdirectories included (0 when it is gone).
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// A gzip-compressed OCI archive that expands to 256 MiB of zeros publishes from the
/// decompressed stream: nothing is unpacked into TMPDIR (watched while dockhand runs), and the
/// registry ends with the archive's digest.
#[test]
fn gzip_bomb_archive_publishes_without_filling_tmpdir() {
    let reg = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("bomb.tar.gz");
    let digest = fixtures::write_zero_bomb_archive(&archive, 256).unwrap();
    let compressed = std::fs::metadata(&archive).unwrap().len();
    assert!(compressed < 2 << 20, "{compressed} bytes");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let repo = format!("{}/bomb", reg.host());
    let mut child = Command::new(env!("CARGO_BIN_EXE_dockhand"))
        .args([
            "publish",
            "-i",
            &repo,
            "--image",
            &format!("zeros=oci-archive:{}", archive.display()),
            "--tag-custom",
            "v1",
        ])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("TMPDIR", &tmp)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut peak = 0;
    let status = loop {
        peak = peak.max(dir_bytes(&tmp));
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let out = child.wait_with_output().unwrap();
    assert!(status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(peak, 0, "TMPDIR held {peak} bytes at its fullest");
    assert_eq!(
        skopeo_digest(&format!("{}/bomb/zeros:v1", reg.host())),
        digest
    );
}

/// An `oci:` layout whose blob is a symbolic link to a file outside it is refused before any
/// request, naming the blob; the file it points at is not uploaded.
#[cfg(unix)]
#[test]
fn oci_layout_blob_linking_outside_is_refused() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let image = Image {
        layers: vec![fixtures::tar(&[File {
            path: "app/id",
            content: b"linked",
        }])],
        created: "2024-05-01T12:00:00Z".into(),
        cmd: vec!["/app".into()],
        platform: ("linux".into(), "amd64".into()),
    };
    fixtures::write_layout(&layout, "latest", &image).unwrap();
    // Swap the layer blob for a link to a file of the same bytes outside the layout.
    let manifest_digest = {
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        index["manifests"][0]["digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let blob = |d: &str| {
        layout
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(&manifest_digest)).unwrap()).unwrap();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let outside = dir.path().join("outside.bin");
    std::fs::rename(blob(&layer), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, blob(&layer)).unwrap();

    let r = dockhand(
        &[
            "publish",
            "-i",
            &format!("{}/linked", proxy.host()),
            "--image",
            &format!("app=oci:{}", layout.display()),
            "--tag-custom",
            "v1",
        ],
        dir.path(),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    let hex = layer.trim_start_matches("sha256:");
    assert!(r.stderr.contains(hex), "names the blob: {}", r.stderr);
    assert!(r.stderr.contains("outside the layout"), "{}", r.stderr);
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
}

/// Every tag of a repository, fallback and signature tags included.
fn all_tags_of(reg: &str, repo: &str) -> Vec<String> {
    let body = http_get::blocking_get(&format!("{reg}/v2/{repo}/tags/list"));
    body["tags"]
        .as_array()
        .map(|a| a.iter().map(|t| t.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// The referrers of `digest`: the API's answer where there is one (distribution has none: a
/// 404), plus the fallback index tagged `sha256-<hex>`.
fn referrers_of(reg: &str, repo: &str, digest: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let api = http_get::blocking_get(&format!("{reg}/v2/{repo}/referrers/{digest}"));
    if let Some(m) = api["manifests"].as_array() {
        out.extend(m.iter().cloned());
    }
    let hex = digest.trim_start_matches("sha256:");
    if all_tags_of(reg, repo).contains(&format!("sha256-{hex}")) {
        let index = http_get::blocking_get_manifest(reg, repo, &format!("sha256-{hex}"));
        out.extend(index["manifests"].as_array().cloned().unwrap_or_default());
    }
    out
}

/// `--origin-records off` attaches nothing (no `sha256-*` tag, no referrer); `on` and the
/// default `auto` (a plain OCI registry is no registry whose UI lists every tag) attach one
/// record per tag; the variable and the config key say the same as the flag.
#[test]
fn origin_records_off_on_and_auto() {
    let reg = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let digests = seed(dir.path());
    let images = image_args(dir.path());
    let host = reg.host();
    let publish = |repo: &str, extra: &[&str]| {
        let repo = format!("{host}/{repo}");
        let mut a = vec!["publish", "-i", repo.as_str(), "--tag-custom", "one"];
        a.extend_from_slice(&["--tag-custom", "two"]);
        a.extend_from_slice(extra);
        ok(dockhand(&args(&images, &a), dir.path()))
    };
    let records = |repo: &str, name: &str, digest: &str| -> Vec<String> {
        referrers_of(&reg.url(), &format!("{repo}/{name}"), digest)
            .iter()
            .filter(|d| d["artifactType"] == dockhand::cleanup::origin::ARTIFACT_TYPE)
            .map(|d| {
                d["annotations"]["dev.dockhand.tag"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };

    let r = publish("off", &["--origin-records", "off"]);
    assert!(!r.stderr.contains("notice"), "{}", r.stderr);
    for (name, digest) in &digests {
        let repo = format!("off/{name}");
        assert_eq!(all_tags_of(&reg.url(), &repo), vec!["one", "two"]);
        assert!(referrers_of(&reg.url(), &repo, digest).is_empty());
    }

    publish("on", &["--origin-records", "ON"]);
    publish("auto", &[]);
    for repo in ["on", "auto"] {
        for (name, digest) in &digests {
            let hex = digest.trim_start_matches("sha256:");
            let mut tags = all_tags_of(&reg.url(), &format!("{repo}/{name}"));
            tags.sort();
            assert_eq!(
                tags,
                vec!["one".to_string(), format!("sha256-{hex}"), "two".into()]
            );
            let mut got = records(repo, name, digest);
            got.sort();
            assert_eq!(got, vec!["one", "two"], "{repo}/{name}");
        }
    }

    // DOCKHAND_ORIGIN_RECORDS and the config key `origin_records`.
    let env_run = Command::new(env!("CARGO_BIN_EXE_dockhand"))
        .args(args(
            &images,
            &[
                "publish",
                "-i",
                &format!("{host}/env"),
                "--tag-custom",
                "one",
            ],
        ))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("DOCKHAND_ORIGIN_RECORDS", "off")
        .output()
        .unwrap();
    assert!(env_run.status.success(), "{env_run:?}");
    let config = dir.path().join("records.yaml");
    std::fs::write(&config, "project: p\norigin_records: off\n").unwrap();
    let config = config.display().to_string();
    publish("config", &["--config", &config]);
    for repo in ["env", "config"] {
        for (name, digest) in &digests {
            let repo = format!("{repo}/{name}");
            assert!(
                all_tags_of(&reg.url(), &repo)
                    .iter()
                    .all(|t| !t.starts_with("sha256-")),
                "{repo}"
            );
            assert!(referrers_of(&reg.url(), &repo, digest).is_empty(), "{repo}");
        }
    }

    // A bad value is refused before anything is sent, naming where it came from.
    std::fs::write(
        dir.path().join("bad.yaml"),
        "project: p\norigin_records: sometimes\n",
    )
    .unwrap();
    let bad = dir.path().join("bad.yaml").display().to_string();
    let r = dockhand(
        &args(
            &images,
            &[
                "publish",
                "-i",
                &format!("{host}/bad"),
                "--tag-custom",
                "one",
                "--config",
                &bad,
            ],
        ),
        dir.path(),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("origin_records"), "{}", r.stderr);
}

/// `--with-referrers` from an OCI layout (`oci:` and `oci-archive:`): the `index.json` entries
/// whose `subject` is the image index or a child (an SBOM of the index, a signature of a platform)
/// are published with it and listed by their subject; without the flag they stay behind. The
/// layout still has one image for `oci:DIR` without `:REF`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrers_held_in_a_layout_are_copied_when_asked() {
    let reg = RegistryServer::anonymous();
    let host = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("release");
    let digest = fixtures::write_multiarch_layout(
        &layout,
        "1.0.0",
        &[
            platform_image("amd64", b"amd64 bits"),
            platform_image("arm64", b"arm64 bits"),
        ],
    )
    .unwrap();
    let sbom =
        fixtures::add_layout_referrer(&layout, &digest, "application/spdx+json", b"{\"spdx\":1}")
            .unwrap();
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            layout
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .unwrap(),
    )
    .unwrap();
    let child = index["manifests"][1]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let sig =
        fixtures::add_layout_referrer(&layout, &child, "application/vnd.dev.sig", b"sig").unwrap();
    let archive = dir.path().join("release.tar");
    let tar = Command::new("tar")
        .arg("-cf")
        .arg(&archive)
        .arg("-C")
        .arg(&layout)
        .arg(".")
        .status()
        .unwrap();
    assert!(tar.success());

    let cwd = dir.path().to_path_buf();
    let publish = move |repo: String, source: String, extra: Option<&'static str>| {
        let cwd = cwd.clone();
        std::thread::spawn(move || {
            let mut a = vec![
                "publish".to_string(),
                "-i".into(),
                repo,
                "--insecure-registry".into(),
                "127.0.0.1".into(),
                "--image".into(),
                format!("~={source}"),
                "--tag-custom".into(),
                "1.0.0".into(),
            ];
            a.extend(extra.map(str::to_string));
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            ok(dockhand(&a, &cwd))
        })
        .join()
        .unwrap()
    };
    let client = RegistryClient::new(&reg.url(), Creds::Anonymous);
    let listed = |repo: &'static str, subject: String| {
        let client = &client;
        async move {
            let hex = subject.trim_start_matches("sha256:").to_string();
            client
                .get_manifest(repo, &format!("sha256-{hex}"))
                .await
                .map(|m| {
                    m.json()["manifests"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|d| {
                            (
                                d["digest"].as_str().unwrap().to_string(),
                                d["artifactType"].as_str().unwrap_or("").to_string(),
                            )
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        }
    };

    let oci = format!("oci:{}", layout.display());
    let r = publish(format!("{host}/plain"), oci.clone(), None);
    assert_eq!(r.stdout.trim(), format!("{host}/plain:1.0.0@{digest}"));
    assert!(
        !listed("plain", digest.clone())
            .await
            .iter()
            .any(|(d, _)| *d == sbom)
    );

    for (repo, source) in [
        ("with", oci),
        ("fromarchive", format!("oci-archive:{}", archive.display())),
    ] {
        let r = publish(format!("{host}/{repo}"), source, Some("--with-referrers"));
        assert_eq!(r.stdout.trim(), format!("{host}/{repo}:1.0.0@{digest}"));
        assert!(r.stderr.contains("copied 2 referrer(s)"), "{}", r.stderr);
        assert_eq!(skopeo_digest(&format!("{host}/{repo}:1.0.0")), digest);
        let repo: &'static str = if repo == "with" {
            "with"
        } else {
            "fromarchive"
        };
        assert!(
            listed(repo, digest.clone())
                .await
                .contains(&(sbom.clone(), "application/spdx+json".to_string())),
            "{repo}: the SBOM is not listed by the index"
        );
        assert!(
            listed(repo, child.clone())
                .await
                .contains(&(sig.clone(), "application/vnd.dev.sig".to_string())),
            "{repo}: the signature is not listed by its platform manifest"
        );
        let m = client
            .get_manifest(repo, &sbom)
            .await
            .expect("the SBOM manifest")
            .json();
        assert_eq!(m["subject"]["digest"], digest.as_str());
    }
}
