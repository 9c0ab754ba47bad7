//! Local image sources read from real files: OCI layouts, OCI archives and `docker save` archives.

use std::io::Read;
use std::path::{Path, PathBuf};

use dockhand::Kind;
use dockhand::fixtures::{
    File, Image, LongNames, gzip, seed_example, tar, write_layout, write_multiarch_layout,
};
use dockhand::publish::source::{
    ArchiveSelector, BlobLocation, LocalImage, SourceSpec, open_local,
};
use dockhand::registry::media::{
    DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, sha256_digest,
};
use serde_json::json;

// ------------------------------------------------------------------------------------------------
// Helpers

fn image(arch: &str, content: &str) -> Image {
    Image {
        layers: vec![tar(&[File {
            path: "app",
            content: content.as_bytes(),
        }])],
        created: "2024-01-01T00:00:00Z".into(),
        cmd: vec!["/app".into()],
        platform: ("linux".into(), arch.into()),
    }
}

fn open(source: &str) -> dockhand::Result<LocalImage> {
    open_local(&SourceSpec::parse(source)?)
}

/// Opening must fail as bad input (exit 2) with a message containing every `needle`.
fn input_error(source: &str, needles: &[&str]) -> dockhand::Error {
    let e = open(source).expect_err("opening should fail");
    assert_eq!(e.kind, Kind::Input, "{e}");
    for n in needles {
        assert!(e.message.contains(n), "{n:?} not in {:?}", e.message);
    }
    e
}

/// Reads every blob back and checks it hashes to its digest: proves offsets and lengths.
fn assert_blobs_intact(img: &LocalImage) {
    for (digest, loc) in &img.blobs {
        let mut bytes = Vec::new();
        loc.open().unwrap().read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes.len() as u64, loc.len());
        assert_eq!(&sha256_digest(&bytes), digest);
    }
    for m in img.manifests.values() {
        for blob in m.blobs().unwrap() {
            assert!(img.blobs.contains_key(&blob.digest), "{}", blob.digest);
        }
    }
}

fn blob_file(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// Rewrites `index.json` to list `entries` (digest, media type, ref name).
fn set_index(layout: &Path, entries: &[(&str, &str, Option<&str>)]) {
    let manifests: Vec<_> = entries
        .iter()
        .map(|(digest, media_type, name)| {
            let size = std::fs::metadata(blob_file(layout, digest)).unwrap().len();
            let mut d = json!({"mediaType": media_type, "digest": digest, "size": size});
            if let Some(n) = name {
                d["annotations"] = json!({"org.opencontainers.image.ref.name": n});
            }
            d
        })
        .collect();
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
}

enum Entry {
    File(Vec<u8>),
    Symlink(String),
}

/// A tar of `entries`, writing long names with pax or GNU headers.
fn write_tar(entries: &[(String, Entry)], long: LongNames) -> Vec<u8> {
    let entries: Vec<(&str, dockhand::fixtures::TarEntry)> = entries
        .iter()
        .map(|(name, e)| {
            let e = match e {
                Entry::File(d) => dockhand::fixtures::TarEntry::File(d),
                Entry::Symlink(t) => dockhand::fixtures::TarEntry::Symlink(t),
            };
            (name.as_str(), e)
        })
        .collect();
    dockhand::fixtures::tar_entries(&entries, long)
}

/// Every file under `dir` as tar entries (sorted). With `padded`, blob names get a run of `./`
/// in front, making them longer than 100 bytes while naming the same path.
fn dir_entries(dir: &Path, padded: bool) -> Vec<(String, Entry)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Entry)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string();
                out.push((rel, Entry::File(std::fs::read(&path).unwrap())));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    if padded {
        for (name, _) in &mut out {
            if name.starts_with("blobs/") {
                *name = format!("{}{name}", "./".repeat(20));
                assert!(name.len() > 100);
            }
        }
    }
    out
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

// ------------------------------------------------------------------------------------------------
// oci:DIR

#[test]
fn oci_dir_single_image() {
    let dir = tempfile::tempdir().unwrap();
    let seeded = seed_example(dir.path()).unwrap();
    let backend = dir.path().join("backend");
    let img = open(&format!("oci:{}", backend.display())).unwrap();
    assert_eq!(img.root.digest, seeded[0].1);
    assert_eq!(img.root.media_type, OCI_MANIFEST);
    assert_eq!(img.manifests.len(), 1);
    assert_eq!(img.blobs.len(), 3, "config and two layers");
    assert!(!img.converted);
    assert!(
        img.blobs
            .values()
            .all(|b| matches!(b, BlobLocation::File { offset: 0, .. }))
    );
    assert_blobs_intact(&img);
}

#[test]
fn oci_dir_multiarch_reads_all_platforms() {
    let dir = tempfile::tempdir().unwrap();
    let digest = write_multiarch_layout(
        dir.path(),
        "v1",
        &[image("amd64", "a"), image("arm64", "b")],
    )
    .unwrap();
    let img = open(&format!("oci:{}:v1", dir.path().display())).unwrap();
    assert_eq!(img.root.digest, digest);
    assert_eq!(img.root.media_type, OCI_INDEX);
    assert_eq!(img.manifests.len(), 3, "the index and both platforms");
    assert_eq!(img.blobs.len(), 4);
    assert_blobs_intact(&img);
}

/// A layout with images `one` and `two`.
fn two_image_layout(dir: &Path) -> (String, String) {
    let one = write_layout(dir, "one", &image("amd64", "1")).unwrap();
    let two = write_layout(dir, "two", &image("amd64", "2")).unwrap();
    set_index(
        dir,
        &[
            (&one, OCI_MANIFEST, Some("one")),
            (&two, OCI_MANIFEST, Some("two")),
        ],
    );
    (one, two)
}

#[test]
fn oci_dir_selects_by_ref_name() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = two_image_layout(dir.path());
    let d = dir.path().display();
    assert_eq!(open(&format!("oci:{d}:one")).unwrap().root.digest, one);
    assert_eq!(open(&format!("oci:{d}:two")).unwrap().root.digest, two);
}

#[test]
fn oci_dir_ambiguous_and_unknown_names_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    two_image_layout(dir.path());
    let d = dir.path().display();
    let e = input_error(&format!("oci:{d}"), &["2 images", "\"one\"", "\"two\""]);
    assert!(e.hint.unwrap().contains(":NAME"));
    input_error(
        &format!("oci:{d}:three"),
        &["\"three\"", "\"one\", \"two\""],
    );
    set_index(dir.path(), &[]);
    input_error(&format!("oci:{d}"), &["lists no image"]);
}

#[test]
fn oci_dir_corrupted_manifest_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let digest = write_layout(dir.path(), "latest", &image("amd64", "a")).unwrap();
    let path = blob_file(dir.path(), &digest);
    let text = std::fs::read_to_string(&path).unwrap();
    let damaged = text.replacen("\"schemaVersion\":2", "\"schemaVersion\":3", 1);
    assert_ne!(text, damaged);
    std::fs::write(&path, damaged).unwrap();
    input_error(
        &format!("oci:{}", dir.path().display()),
        &[&digest, "corrupted"],
    );
}

#[test]
fn oci_dir_missing_blob_or_child_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let digest = write_layout(dir.path(), "latest", &image("amd64", "a")).unwrap();
    let img = open(&format!("oci:{}", dir.path().display())).unwrap();
    let layer = img.root.fields().unwrap().layers[0].digest.clone();
    std::fs::remove_file(blob_file(dir.path(), &layer)).unwrap();
    input_error(
        &format!("oci:{}", dir.path().display()),
        &[&layer, "missing", &digest],
    );

    let multi = tempfile::tempdir().unwrap();
    write_multiarch_layout(
        multi.path(),
        "v1",
        &[image("amd64", "a"), image("arm64", "b")],
    )
    .unwrap();
    let img = open(&format!("oci:{}", multi.path().display())).unwrap();
    let child = img.root.fields().unwrap().manifests[1].digest.clone();
    std::fs::remove_file(blob_file(multi.path(), &child)).unwrap();
    input_error(
        &format!("oci:{}", multi.path().display()),
        &[&child, "missing", "child manifest"],
    );
}

// ------------------------------------------------------------------------------------------------
// oci-archive:FILE

#[test]
fn oci_archive_plain_with_long_names() {
    let layout = tempfile::tempdir().unwrap();
    let digest = write_multiarch_layout(
        layout.path(),
        "v1",
        &[image("amd64", "a"), image("arm64", "b")],
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    for long in [LongNames::Pax, LongNames::Gnu] {
        let tar = write_tar(&dir_entries(layout.path(), true), long);
        let path = write_file(out.path(), "image.tar", &tar);
        let img = open(&format!("oci-archive:{}:v1", path.display())).unwrap();
        assert_eq!(img.root.digest, digest);
        assert_eq!(img.manifests.len(), 3);
        assert_eq!(img.blobs.len(), 4);
        for loc in img.blobs.values() {
            let BlobLocation::File {
                path: p, offset, ..
            } = loc
            else {
                panic!("blobs stay in the archive")
            };
            assert_eq!(p, &path);
            assert!(*offset > 0 && offset % 512 == 0);
        }
        assert_blobs_intact(&img);
    }
}

/// A gzip-compressed archive is read from its own decompressed stream: every blob points into the
/// archive itself, and nothing is written to the temp directory.
#[test]
fn oci_archive_gzipped_is_read_from_its_stream() {
    let layout = tempfile::tempdir().unwrap();
    let digest = write_layout(layout.path(), "latest", &image("amd64", "a")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let tar = write_tar(&dir_entries(layout.path(), false), LongNames::Pax);
    let path = write_file(out.path(), "image.tar.gz", &gzip(&tar));
    let img = open(&format!("oci-archive:{}", path.display())).unwrap();
    assert_eq!(img.root.digest, digest);
    assert_blobs_intact(&img);
    for loc in img.blobs.values() {
        assert!(
            matches!(loc, BlobLocation::Gzip { path: inner, .. } if inner == &path),
            "{loc:?}"
        );
    }
}

#[test]
fn oci_archive_errors() {
    let out = tempfile::tempdir().unwrap();
    let path = write_file(out.path(), "junk.tar", &[7u8; 1024]);
    input_error(&format!("oci-archive:{}", path.display()), &["checksum"]);
    let tar = write_tar(&[("x".into(), Entry::File(b"x".to_vec()))], LongNames::Pax);
    let path = write_file(out.path(), "x.tar", &tar);
    input_error(
        &format!("oci-archive:{}", path.display()),
        &["no oci-layout"],
    );
}

// ------------------------------------------------------------------------------------------------
// docker-archive:FILE

/// A classic `docker save` image: `<id>.json` config and `<id>/layer.tar` layers.
struct Classic {
    tags: Vec<String>,
    config: Vec<u8>,
    layers: Vec<Vec<u8>>,
}

fn classic(tag: &str, content: &str) -> Classic {
    let plain = tar(&[File {
        path: "a",
        content: content.as_bytes(),
    }]);
    let zipped = gzip(&tar(&[File {
        path: "b",
        content: b"second",
    }]));
    let config =
        json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}, "tag": tag});
    Classic {
        tags: if tag.is_empty() {
            vec![]
        } else {
            vec![tag.into(), format!("{tag}-alias")]
        },
        config: config.to_string().into_bytes(),
        layers: vec![plain, zipped],
    }
}

/// Writes the images as `docker save` (before 25) does; shared layers become symlinks.
fn classic_archive(images: &[Classic]) -> Vec<u8> {
    let mut entries: Vec<(String, Entry)> = Vec::new();
    let mut listing = Vec::new();
    let mut written: Vec<(String, String)> = Vec::new(); // digest → path
    for image in images {
        let config_name = format!("{}.json", &sha256_digest(&image.config)[7..]);
        entries.push((config_name.clone(), Entry::File(image.config.clone())));
        let mut layers = Vec::new();
        for (n, layer) in image.layers.iter().enumerate() {
            let digest = sha256_digest(layer);
            let id = format!("{}{n}", &sha256_digest(&image.config)[7..20]);
            let path = format!("{id}/layer.tar");
            match written.iter().find(|(d, _)| *d == digest) {
                Some((_, first)) => {
                    entries.push((path.clone(), Entry::Symlink(format!("../{first}"))))
                }
                None => {
                    entries.push((path.clone(), Entry::File(layer.clone())));
                    written.push((digest, path.clone()));
                }
            }
            layers.push(path);
        }
        listing.push(json!({"Config": config_name, "RepoTags": image.tags, "Layers": layers}));
    }
    let listing = serde_json::to_vec(&listing).unwrap();
    entries.push(("manifest.json".into(), Entry::File(listing)));
    write_tar(&entries, LongNames::Pax)
}

#[test]
fn docker_archive_classic_is_converted() {
    let out = tempfile::tempdir().unwrap();
    let saved = classic("app:v1", "one");
    let path = write_file(
        out.path(),
        "app.tar",
        &classic_archive(std::slice::from_ref(&saved)),
    );
    let img = open(&format!("docker-archive:{}", path.display())).unwrap();
    assert!(img.converted);
    assert_eq!(img.root.media_type, DOCKER_MANIFEST);
    let fields = img.root.fields().unwrap();
    assert_eq!(fields.media_type.as_deref(), Some(DOCKER_MANIFEST));
    let config = fields.config.unwrap();
    assert_eq!(config.media_type, DOCKER_CONFIG);
    assert_eq!(config.digest, sha256_digest(&saved.config));
    assert_eq!(
        fields.layers[0].media_type,
        "application/vnd.docker.image.rootfs.diff.tar"
    );
    assert_eq!(fields.layers[0].digest, sha256_digest(&saved.layers[0]));
    assert_eq!(fields.layers[1].media_type, DOCKER_LAYER_GZIP);
    assert_eq!(fields.layers[1].digest, sha256_digest(&saved.layers[1]));
    assert_blobs_intact(&img);
    // Same archive, same bytes: the digest is stable across runs.
    let again = open(&format!("docker-archive:{}", path.display())).unwrap();
    assert_eq!(again.root, img.root);
    // The selector may name the image in any Docker spelling.
    let by_tag = open(&format!(
        "docker-archive:{}:docker.io/library/app:v1",
        path.display()
    ))
    .unwrap();
    assert_eq!(by_tag.root.digest, img.root.digest);
}

#[test]
fn docker_archive_multi_image_selection() {
    let out = tempfile::tempdir().unwrap();
    // `two` shares its gzip layer with `one`: stored once, linked from the second image.
    let images = [
        classic("one:1", "one"),
        classic("two:2", "two"),
        classic("", "three"),
    ];
    let path = write_file(out.path(), "all.tar", &classic_archive(&images));
    let p = path.display();
    let config_of = |img: &LocalImage| img.root.fields().unwrap().config.unwrap().digest;
    let two = open(&format!("docker-archive:{p}:two:2")).unwrap();
    assert_eq!(config_of(&two), sha256_digest(&images[1].config));
    assert_blobs_intact(&two);
    let first = open(&format!("docker-archive:{p}:@0")).unwrap();
    assert_eq!(config_of(&first), sha256_digest(&images[0].config));
    let third = open(&format!("docker-archive:{p}:@2")).unwrap();
    assert_eq!(config_of(&third), sha256_digest(&images[2].config));

    let e = input_error(
        &format!("docker-archive:{p}"),
        &[
            "3 images",
            "@0 [one:1, one:1-alias]",
            "@1 [two:2, two:2-alias]",
            "@2 (untagged)",
        ],
    );
    assert!(e.hint.unwrap().contains(":@0"));
    input_error(&format!("docker-archive:{p}:@3"), &["no image @3", "one:1"]);
    input_error(
        &format!("docker-archive:{p}:nope:1"),
        &["\"nope:1\"", "two:2"],
    );
}

#[test]
fn docker_archive_with_inner_oci_layout_keeps_digests() {
    let layout = tempfile::tempdir().unwrap();
    let digest = write_layout(layout.path(), "v1", &image("amd64", "a")).unwrap();
    let manifest = std::fs::read(blob_file(layout.path(), &digest)).unwrap();
    let fields: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let blob_path = |d: &serde_json::Value| format!("blobs/sha256/{}", &d.as_str().unwrap()[7..]);
    let listing = json!([{
        "Config": blob_path(&fields["config"]["digest"]),
        "RepoTags": ["app:v1"],
        "Layers": [blob_path(&fields["layers"][0]["digest"])],
    }]);
    let mut entries = dir_entries(layout.path(), false);
    entries.push((
        "manifest.json".into(),
        Entry::File(listing.to_string().into_bytes()),
    ));
    let out = tempfile::tempdir().unwrap();
    let path = write_file(out.path(), "app.tar", &write_tar(&entries, LongNames::Pax));
    for selector in ["", ":app:v1", ":@0"] {
        let img = open(&format!("docker-archive:{}{selector}", path.display())).unwrap();
        assert!(!img.converted);
        assert_eq!(img.root.digest, digest, "{selector}");
        assert_eq!(img.root.media_type, OCI_MANIFEST);
        assert_blobs_intact(&img);
    }
}

#[test]
fn docker_archive_with_partial_index_publishes_the_saved_platform() {
    let layout = tempfile::tempdir().unwrap();
    write_multiarch_layout(
        layout.path(),
        "v1",
        &[image("amd64", "a"), image("arm64", "b")],
    )
    .unwrap();
    let full = open(&format!("oci:{}", layout.path().display())).unwrap();
    let children = full.root.fields().unwrap().manifests;
    // containerd's docker save keeps one platform: drop the other's manifest.
    std::fs::remove_file(blob_file(layout.path(), &children[1].digest)).unwrap();
    let kept = &full.manifests[&children[0].digest];
    let config = kept.fields().unwrap().config.unwrap().digest;
    let listing = json!([{
        "Config": format!("blobs/sha256/{}", &config[7..]),
        "RepoTags": ["app:v1"],
        "Layers": [],
    }]);
    let mut entries = dir_entries(layout.path(), false);
    entries.push((
        "manifest.json".into(),
        Entry::File(listing.to_string().into_bytes()),
    ));
    let out = tempfile::tempdir().unwrap();
    let path = write_file(out.path(), "app.tar", &write_tar(&entries, LongNames::Gnu));
    let img = open(&format!("docker-archive:{}", path.display())).unwrap();
    assert!(!img.converted);
    assert_eq!(img.root.digest, children[0].digest);
    assert_blobs_intact(&img);
}

#[test]
fn docker_archive_errors() {
    let out = tempfile::tempdir().unwrap();
    let tar = write_tar(&[("x".into(), Entry::File(b"x".to_vec()))], LongNames::Pax);
    let path = write_file(out.path(), "x.tar", &tar);
    input_error(
        &format!("docker-archive:{}", path.display()),
        &["no manifest.json"],
    );
    let listing = br#"[{"Config":"c.json","RepoTags":["a:1"],"Layers":["l/layer.tar"]}]"#;
    let entries = [
        ("manifest.json".to_string(), Entry::File(listing.to_vec())),
        ("c.json".to_string(), Entry::File(b"{}".to_vec())),
    ];
    let path = write_file(out.path(), "y.tar", &write_tar(&entries, LongNames::Pax));
    input_error(
        &format!("docker-archive:{}", path.display()),
        &["l/layer.tar", "missing"],
    );
    input_error(
        &format!("docker-archive:{}", out.path().join("absent.tar").display()),
        &["does not exist", "absent.tar"],
    );
}

#[test]
fn parse_accepts_selectors() {
    assert_eq!(
        SourceSpec::parse("docker-archive:/nonexistent/x.tar:@1").unwrap(),
        SourceSpec::DockerArchive {
            path: "/nonexistent/x.tar".into(),
            selector: Some(ArchiveSelector::Index(1)),
        }
    );
}
