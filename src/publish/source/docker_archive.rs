//! `docker-archive:FILE[:REF|:@N]`: what `docker save` writes.
//!
//! `manifest.json` lists the images: `[{"Config": PATH, "RepoTags": [...], "Layers": [PATH...]}]`.
//! Docker 25+ also writes an OCI layout (`oci-layout`, `index.json`, `blobs/`) in the same tar;
//! when the chosen image is found there it is published as is, so its digest stays the one the
//! builder printed. Older archives hold only uncompressed layer tars and a config, so dockhand
//! writes a Docker schema 2 manifest for them (`converted`); its digest is then dockhand's own.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::error::json_error;
use super::oci::{self, CONTAINERD_NAME, REF_NAME, Tree};
use super::oci_archive::open_archive;
use super::store::{Region, Store, io_error};
use super::tar::TarArchive;
use super::{ArchiveSelector, LocalImage};
use crate::error::{Error, Result};
use crate::naming::reference::Reference;
use crate::registry::media::{
    DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, Descriptor, Manifest, is_index,
    sha256_digest,
};

/// Media type of an uncompressed Docker layer (`docker save` writes layers uncompressed).
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// One image of `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedImage {
    config: String,
    /// `null` when the image was saved by ID.
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

impl SavedImage {
    fn tags(&self) -> &[String] {
        self.repo_tags.as_deref().unwrap_or_default()
    }
}

/// `docker-archive:FILE[:REF|:@N]`.
pub(super) fn open(
    path: &Path,
    selector: Option<&ArchiveSelector>,
    label: &str,
) -> Result<LocalImage> {
    let archive = open_archive(path, label)?;
    let has_layout = archive.locate("oci-layout")?.is_some();
    let Some(listing) = archive.read_small("manifest.json")? else {
        if has_layout {
            let tree = layout_only(&archive, selector)?;
            return Ok(LocalImage::new(tree, false));
        }
        return Err(Error::input(format!(
            "{label} is not a docker save archive: it has no manifest.json"
        )));
    };
    let images: Vec<SavedImage> = serde_json::from_slice(&listing)
        .map_err(|e| json_error(format!("{label}: manifest.json is invalid"), e))?;
    let image = choose(&images, selector, label)?;
    let (config_region, config) = read_config(&archive, image)?;
    if has_layout && let Some(tree) = from_layout(&archive, &sha256_digest(&config))? {
        return Ok(LocalImage::new(tree, false));
    }
    let tree = convert(&archive, image, config_region, &config)?;
    Ok(LocalImage::new(tree, true))
}

/// The image the selector names; without one, the only image.
fn choose<'a>(
    images: &'a [SavedImage],
    selector: Option<&ArchiveSelector>,
    label: &str,
) -> Result<&'a SavedImage> {
    let found = match selector {
        None if images.len() == 1 => images.first(),
        None => None,
        Some(ArchiveSelector::Index(n)) => images.get(*n),
        Some(ArchiveSelector::Reference(r)) => images
            .iter()
            .find(|i| i.tags().iter().any(|t| same_image(r, t))),
    };
    found.ok_or_else(|| not_chosen(images, selector, label))
}

fn not_chosen(images: &[SavedImage], selector: Option<&ArchiveSelector>, label: &str) -> Error {
    if images.is_empty() {
        return Error::input(format!("{label}: manifest.json lists no image"));
    }
    let listing = list_images(images);
    let count = images.len();
    let message = match selector {
        None => format!("{label}: the archive holds {count} images: {listing}"),
        Some(ArchiveSelector::Index(n)) => {
            format!("{label}: there is no image @{n}; the archive holds {count}: {listing}")
        }
        Some(ArchiveSelector::Reference(r)) => {
            format!("{label}: no image is tagged {r:?}; the archive holds {listing}")
        }
    };
    let example = images
        .iter()
        .find_map(|i| i.tags().first())
        .map_or("REPO:TAG", String::as_str);
    Error::input(message).with_hint(format!(
        "choose an image by appending :REF or :@N to the source, e.g. \
         docker-archive:FILE:{example} or docker-archive:FILE:@0"
    ))
}

/// `@0 [app:v1, app:latest], @1 (untagged)`.
fn list_images(images: &[SavedImage]) -> String {
    images
        .iter()
        .enumerate()
        .map(|(n, i)| match i.tags() {
            [] => format!("@{n} (untagged)"),
            tags => format!("@{n} [{}]", tags.join(", ")),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether two references name the same tagged image, as Docker normalises them
/// (`app` = `app:latest` = `docker.io/library/app:latest`).
fn same_image(a: &str, b: &str) -> bool {
    match (Reference::parse(a), Reference::parse(b)) {
        (Ok(x), Ok(y)) => {
            x.registry == y.registry
                && x.repository == y.repository
                && x.tag.as_deref().unwrap_or("latest") == y.tag.as_deref().unwrap_or("latest")
                && x.digest == y.digest
        }
        _ => a == b,
    }
}

fn read_config(archive: &TarArchive, image: &SavedImage) -> Result<(Region, Vec<u8>)> {
    let label = archive.label();
    let missing = || {
        Error::input(format!(
            "{label}: config {} listed in manifest.json is missing from the archive",
            image.config
        ))
    };
    let region = archive.locate(&image.config)?.ok_or_else(missing)?;
    let bytes = archive.read_small(&image.config)?.ok_or_else(missing)?;
    serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|e| {
        json_error(
            format!("{label}: config {} is not valid JSON", image.config),
            e,
        )
    })?;
    Ok((region, bytes))
}

/// The image of the inner OCI layout whose config is `config_digest`.
///
/// A multi-platform index whose children are all present is taken whole (its digest is what
/// was pushed or built); when `docker save` kept only some platforms (containerd image store),
/// the platform manifest with this config is taken instead, since the index cannot be published.
/// `None` when the layout does not hold the image; the caller then converts.
fn from_layout(archive: &TarArchive, config_digest: &str) -> Result<Option<Tree>> {
    oci::check_layout(archive)?;
    let mut seen = HashSet::new();
    for entry in oci::index_entries(archive)? {
        if !seen.insert(entry.digest.clone()) {
            continue;
        }
        let Ok(manifest) = oci::read_manifest(archive, &entry, "manifest") else {
            continue;
        };
        if config_of(&manifest).as_deref() == Some(config_digest) {
            return oci::read_tree(archive, &entry).map(Some);
        }
        if !is_index(&manifest.media_type) {
            continue;
        }
        if let Some(child) = child_with_config(archive, &manifest, config_digest) {
            let tree = oci::read_tree(archive, &entry).or_else(|e| {
                crate::log::verbose(&format!(
                    "{}: publishing only the saved platform {}: {}",
                    archive.label(),
                    child.digest,
                    e.message
                ));
                oci::read_tree(archive, &child)
            });
            return tree.map(Some);
        }
    }
    Ok(None)
}

fn child_with_config(
    archive: &TarArchive,
    index: &Manifest,
    config_digest: &str,
) -> Option<Descriptor> {
    let fields = index.fields().ok()?;
    fields.manifests.into_iter().find(|child| {
        oci::read_manifest(archive, child, "manifest")
            .is_ok_and(|m| config_of(&m).as_deref() == Some(config_digest))
    })
}

fn config_of(manifest: &Manifest) -> Option<String> {
    manifest.fields().ok()?.config.map(|c| c.digest)
}

/// An archive with an OCI layout but no `manifest.json`: select by annotations or position.
fn layout_only(archive: &TarArchive, selector: Option<&ArchiveSelector>) -> Result<Tree> {
    let reference = match selector {
        None => return oci::open(archive, None),
        Some(ArchiveSelector::Reference(r)) => r,
        Some(ArchiveSelector::Index(n)) => {
            oci::check_layout(archive)?;
            let entries = oci::index_entries(archive)?;
            let entry = entries.get(*n).ok_or_else(|| {
                Error::input(format!(
                    "{}: there is no image @{n}; index.json lists {}",
                    archive.label(),
                    entries.len()
                ))
            })?;
            return oci::read_tree(archive, entry);
        }
    };
    oci::check_layout(archive)?;
    let entries = oci::index_entries(archive)?;
    let named = entries.iter().find(|e| {
        oci::annotation(e, CONTAINERD_NAME).is_some_and(|n| same_image(reference, n))
            || oci::annotation(e, REF_NAME) == Some(reference.as_str())
    });
    match named {
        Some(entry) => oci::read_tree(archive, entry),
        None => oci::open(archive, Some(reference)), // reports the names there are
    }
}

/// The Docker schema 2 manifest, fields in Docker's order so equal input gives equal bytes.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SchemaTwo<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

/// Writes a Docker schema 2 manifest for a classic `docker save` image.
///
/// Layer digests are not recorded anywhere in such an archive, so each layer is read once in full
/// and hashed here (streamed, never held in memory): for big images this is the cost of opening
/// the source.
fn convert(
    archive: &TarArchive,
    image: &SavedImage,
    config_region: Region,
    config: &[u8],
) -> Result<Tree> {
    let config_desc = descriptor(DOCKER_CONFIG, sha256_digest(config), config.len() as u64);
    let mut blobs = HashMap::from([(config_desc.digest.clone(), config_region.location())]);
    let mut layers = Vec::new();
    for path in &image.layers {
        let region = archive.locate(path)?.ok_or_else(|| {
            Error::input(format!(
                "{}: layer {path} listed in manifest.json is missing from the archive",
                archive.label()
            ))
        })?;
        let (digest, gzipped) =
            hash_region(&region).map_err(|e| io_error(archive.label(), path, e))?;
        let media_type = if gzipped {
            DOCKER_LAYER_GZIP
        } else {
            DOCKER_LAYER
        };
        layers.push(descriptor(media_type, digest.clone(), region.len));
        blobs.insert(digest, region.location());
    }
    let body = SchemaTwo {
        schema_version: 2,
        media_type: DOCKER_MANIFEST,
        config: config_desc,
        layers,
    };
    let bytes = serde_json::to_vec(&body).map_err(|e| {
        Error::input(format!("{}: cannot write a manifest: {e}", archive.label())).with_source(e)
    })?;
    let root = Manifest::new(Bytes::from(bytes), Some(DOCKER_MANIFEST));
    let manifests = HashMap::from([(root.digest.clone(), root.clone())]);
    Ok(Tree {
        root,
        manifests,
        blobs,
        referrers: Vec::new(),
    })
}

fn descriptor(media_type: &str, digest: String, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.to_string(),
        digest,
        size,
        artifact_type: None,
        platform: None,
        annotations: None,
    }
}

/// sha256 of a region, streamed, and whether it starts with the gzip magic bytes.
fn hash_region(region: &Region) -> std::io::Result<(String, bool)> {
    let mut reader = region.reader()?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut head: Vec<u8> = Vec::with_capacity(2);
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if head.len() < 2 {
            head.extend(buf[..n].iter().take(2 - head.len()));
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    if total != region.len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the archive ends inside this file (truncated?)",
        ));
    }
    let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
    Ok((digest, head == [0x1f, 0x8b]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind as ErrorKind;
    use crate::fixtures::{File, gzip, tar};
    use crate::publish::source::tar::tests::{Kind, write_tar};

    fn saved(tags: &[&str]) -> SavedImage {
        SavedImage {
            config: "c.json".into(),
            repo_tags: Some(tags.iter().map(|t| t.to_string()).collect()),
            layers: vec![],
        }
    }

    #[test]
    fn references_match_after_normalisation() {
        assert!(same_image("app", "docker.io/library/app:latest"));
        assert!(same_image("app:v1", "app:v1"));
        assert!(!same_image("app:v1", "app:v2"));
        assert!(!same_image("ghcr.io/o/app:v1", "app:v1"));
    }

    #[test]
    fn choose_by_tag_index_or_alone() {
        let images = [saved(&["a:1"]), saved(&["b:2", "b:latest"])];
        let tag = ArchiveSelector::Reference("b".into());
        assert_eq!(choose(&images, Some(&tag), "x").unwrap().tags()[0], "b:2");
        let at = ArchiveSelector::Index(0);
        assert_eq!(choose(&images, Some(&at), "x").unwrap().tags()[0], "a:1");
        assert_eq!(choose(&images[..1], None, "x").unwrap().tags()[0], "a:1");
    }

    #[test]
    fn ambiguity_lists_repo_tags() {
        let images = [saved(&["a:1"]), saved(&[]), saved(&["b:2"])];
        let e = choose(&images, None, "docker-archive:x.tar").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Input);
        assert!(
            e.message.contains("@0 [a:1], @1 (untagged), @2 [b:2]"),
            "{}",
            e.message
        );
        let e = choose(&images, Some(&ArchiveSelector::Index(7)), "x").unwrap_err();
        assert!(e.message.contains("no image @7"), "{}", e.message);
        let missing = ArchiveSelector::Reference("c:3".into());
        let e = choose(&images, Some(&missing), "x").unwrap_err();
        assert!(e.message.contains("\"c:3\""), "{}", e.message);
    }

    #[test]
    fn conversion_hashes_layers_and_is_deterministic() {
        let layer = tar(&[File {
            path: "f",
            content: b"x",
        }]);
        let zipped = gzip(&layer);
        let config = br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let listing = br#"[{"Config":"c.json","RepoTags":["app:v1"],"Layers":["l1/layer.tar","l2/layer.tar"]}]"#;
        let bytes = write_tar(
            &[
                ("manifest.json", Kind::File(listing)),
                ("c.json", Kind::File(config)),
                ("l1/layer.tar", Kind::File(&layer)),
                ("l2/layer.tar", Kind::File(&zipped)),
            ],
            false,
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        std::fs::write(&path, bytes).unwrap();
        let a = open(&path, None, "docker-archive:a.tar").unwrap();
        let b = open(&path, None, "docker-archive:a.tar").unwrap();
        assert_eq!(a.root, b.root);
        assert!(a.converted);
        let fields = a.root.fields().unwrap();
        assert_eq!(fields.layers[0].media_type, DOCKER_LAYER);
        assert_eq!(fields.layers[0].digest, sha256_digest(&layer));
        assert_eq!(fields.layers[1].media_type, DOCKER_LAYER_GZIP);
        assert_eq!(fields.layers[1].digest, sha256_digest(&zipped));
        let config_desc = fields.config.unwrap();
        assert_eq!(config_desc.media_type, DOCKER_CONFIG);
        assert_eq!(config_desc.digest, sha256_digest(config));
        assert!(
            a.root
                .bytes
                .starts_with(br#"{"schemaVersion":2,"mediaType":"#)
        );
        assert_eq!(a.blobs.len(), 3);
    }
}
