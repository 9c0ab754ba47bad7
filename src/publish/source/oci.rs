//! OCI image layouts (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`), over any [`Store`].
//!
//! Manifests are read as exact bytes and their digests verified, since they are published as they
//! are and a wrong digest would only surface at the registry. Config and layer blobs are checked
//! for presence and size only: hashing gigabytes here would double the read cost, and the
//! registry verifies every blob's digest on upload anyway.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use bytes::Bytes;
use serde::Deserialize;

use super::error::json_error;
use super::store::{DirStore, Store};
use super::{BlobLocation, LocalImage};
use crate::error::{Error, Result};
use crate::naming::reference::Digest;
use crate::registry::media::{
    Descriptor, EMPTY_BLOB, EMPTY_DIGEST, Manifest, ManifestFields, sha256_digest,
};

/// The annotation that names an image inside a layout (`oci:DIR:REF`).
pub(super) const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The full reference containerd and Docker 25+ record next to [`REF_NAME`].
pub(super) const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// Indexes nest only a level or two in practice; this bounds malicious or broken layouts.
const MAX_DEPTH: usize = 8;

/// An image read from a layout: its root manifest, every manifest, and where every blob is.
pub(super) struct Tree {
    pub root: Manifest,
    pub manifests: HashMap<String, Manifest>,
    pub blobs: HashMap<String, BlobLocation>,
    /// Artifacts of the layout whose `subject` is this image or one of its children (an SBOM, a
    /// provenance statement, a signature); their blobs are in `blobs`.
    pub referrers: Vec<LayoutReferrer>,
}

/// A referrer held in a layout: an `index.json` entry whose manifest has a `subject`, as oras
/// and regctl store them (the image layout has no referrers API; its index lists every manifest).
#[derive(Debug, Clone)]
pub struct LayoutReferrer {
    /// The digest of the manifest it refers to.
    pub subject: String,
    /// The descriptor a referrers listing gives it: `artifactType` (else the config's media type)
    /// and the manifest's annotations, as the distribution spec's referrers API answers.
    pub descriptor: Descriptor,
    pub root: Manifest,
    pub manifests: HashMap<String, Manifest>,
}

/// `oci:DIR[:REF]`.
pub(super) fn open_dir(path: &Path, reference: Option<&str>, label: &str) -> Result<LocalImage> {
    if path.is_file() {
        return Err(Error::input(format!(
            "{label}: {} is a file, not a directory",
            path.display()
        ))
        .with_hint(format!(
            "for a tar of an OCI layout use oci-archive:{}",
            path.display()
        )));
    }
    if !path.is_dir() {
        return Err(Error::input(format!(
            "{label}: directory {} does not exist",
            path.display()
        )));
    }
    let tree = open(&DirStore::new(path, label), reference)?;
    Ok(LocalImage::new(tree, false))
}

/// Checks the layout, selects the image named `reference` (or the only one), and reads it with
/// the layout's referrers of it.
///
/// Entries whose manifest has a `subject` are referrers: without a `reference` they are not
/// candidates for "the only image", and those that refer to the selected image (or one of its
/// children) come along, for `--with-referrers`.
pub(super) fn open(store: &dyn Store, reference: Option<&str>) -> Result<Tree> {
    check_layout(store)?;
    let entries = index_entries(store)?;
    let mut images = Vec::new();
    let mut referrers = Vec::new();
    for d in &entries {
        // An entry that cannot be read stays a candidate: selecting it reports the error.
        let subject = read_manifest(store, d, "manifest")
            .ok()
            .and_then(|m| m.fields().ok())
            .and_then(|f| f.subject);
        match subject {
            Some(s) => referrers.push((d, s.digest)),
            None => images.push(d.clone()),
        }
    }
    let selected = match reference {
        Some(_) => select(store, &entries, reference)?,
        None => select(store, &images, None)?,
    };
    let mut tree = read_tree(store, selected)?;
    for (d, subject) in referrers {
        if d.digest == tree.root.digest || !tree.manifests.contains_key(&subject) {
            continue;
        }
        let r = read_tree(store, d)?;
        tree.blobs.extend(r.blobs);
        tree.referrers.push(LayoutReferrer {
            subject,
            descriptor: referrer_descriptor(&r.root),
            root: r.root,
            manifests: r.manifests,
        });
    }
    Ok(tree)
}

/// A referrer's descriptor as the referrers API lists it (distribution spec, "Listing
/// Referrers"): `artifactType` is the manifest's, else its config's media type; annotations are
/// the manifest's.
fn referrer_descriptor(m: &Manifest) -> Descriptor {
    let json: serde_json::Value = serde_json::from_slice(&m.bytes).unwrap_or_default();
    let artifact_type = json["artifactType"]
        .as_str()
        .or_else(|| json["config"]["mediaType"].as_str())
        .map(str::to_string);
    let annotations = json["annotations"].as_object().map(|a| {
        a.iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect()
    });
    Descriptor {
        media_type: m.media_type.clone(),
        digest: m.digest.clone(),
        size: m.bytes.len() as u64,
        artifact_type,
        platform: None,
        annotations,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LayoutFile {
    image_layout_version: Option<String>,
}

/// The `oci-layout` marker must exist and declare a 1.x layout.
pub(super) fn check_layout(store: &dyn Store) -> Result<()> {
    let label = store.label();
    let bytes = store.read_small("oci-layout")?.ok_or_else(|| {
        Error::input(format!(
            "{label} is not an OCI image layout: it has no oci-layout file"
        ))
    })?;
    let layout: LayoutFile = serde_json::from_slice(&bytes)
        .map_err(|e| json_error(format!("{label}: oci-layout is not valid JSON"), e))?;
    match layout.image_layout_version.as_deref() {
        Some(v) if v.starts_with("1.") => Ok(()),
        Some(v) => Err(Error::input(format!(
            "{label}: unsupported OCI layout version {v:?} (dockhand reads 1.x)"
        ))),
        None => Err(Error::input(format!(
            "{label}: oci-layout has no imageLayoutVersion"
        ))),
    }
}

/// The descriptors listed by `index.json`.
pub(super) fn index_entries(store: &dyn Store) -> Result<Vec<Descriptor>> {
    let label = store.label();
    let bytes = store.read_small("index.json")?.ok_or_else(|| {
        Error::input(format!(
            "{label} is not an OCI image layout: it has no index.json"
        ))
    })?;
    let index: ManifestFields = serde_json::from_slice(&bytes)
        .map_err(|e| json_error(format!("{label}: index.json is invalid"), e))?;
    Ok(index.manifests)
}

pub(super) fn annotation<'a>(d: &'a Descriptor, key: &str) -> Option<&'a str> {
    d.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The entry named `reference`, or the single image of the layout.
///
/// Several entries with one digest (one image under several names) count as one image.
fn select<'a>(
    store: &dyn Store,
    entries: &'a [Descriptor],
    reference: Option<&str>,
) -> Result<&'a Descriptor> {
    let label = store.label();
    let candidates: Vec<&Descriptor> = match reference {
        Some(r) => entries
            .iter()
            .filter(|d| annotation(d, REF_NAME) == Some(r))
            .collect(),
        None => entries.iter().collect(),
    };
    let distinct: HashSet<&str> = candidates.iter().map(|d| d.digest.as_str()).collect();
    match (distinct.len(), reference) {
        (1, _) => Ok(candidates[0]),
        (0, None) => Err(Error::input(format!("{label}: index.json lists no image"))),
        (0, Some(r)) => Err(Error::input(format!(
            "{label}: no image named {r:?} in the layout; it has {}",
            names(entries)
        ))
        .with_hint("name one of them after the last ':' of the source")),
        (n, None) => Err(Error::input(format!(
            "{label}: the layout holds {n} images ({}); choose one",
            names(entries)
        ))
        .with_hint(format!("append :NAME to the source, e.g. {label}:NAME"))),
        (n, Some(r)) => Err(Error::input(format!(
            "{label}: {n} different images are named {r:?} in index.json"
        ))),
    }
}

/// The entries' ref names for messages; unnamed entries appear as their digest.
fn names(entries: &[Descriptor]) -> String {
    if entries.is_empty() {
        return "no images".to_string();
    }
    let mut seen = Vec::new();
    for d in entries {
        let name = match annotation(d, REF_NAME) {
            Some(n) => format!("{n:?}"),
            None => format!("an unnamed image {}", d.digest),
        };
        if !seen.contains(&name) {
            seen.push(name);
        }
    }
    seen.join(", ")
}

/// `blobs/<algorithm>/<encoded>` for a validated digest (never a path outside `blobs/`).
pub(super) fn blob_path(store: &dyn Store, digest: &str) -> Result<String> {
    let d = Digest::parse(digest).map_err(|e| {
        Error::input(format!("{}: invalid digest {digest:?}: {e}", store.label())).with_source(e)
    })?;
    Ok(format!("blobs/{}/{}", d.algorithm(), d.hex()))
}

/// Reads a manifest's exact bytes and verifies size and sha256 digest against the descriptor.
pub(super) fn read_manifest(store: &dyn Store, desc: &Descriptor, role: &str) -> Result<Manifest> {
    let label = store.label();
    let digest = &desc.digest;
    if !digest.starts_with("sha256:") {
        return Err(Error::input(format!(
            "{label}: {role} {digest} uses an unsupported digest algorithm (only sha256)"
        )));
    }
    let path = blob_path(store, digest)?;
    let region = store
        .locate(&path)?
        .ok_or_else(|| Error::input(format!("{label}: {role} {digest} is missing (no {path})")))?;
    if region.len != desc.size {
        return Err(Error::input(format!(
            "{label}: {role} {digest} is {} bytes but its descriptor says {}",
            region.len, desc.size
        )));
    }
    let bytes = store.read_small(&path)?.unwrap_or_default();
    let actual = sha256_digest(&bytes);
    if actual != *digest {
        return Err(Error::input(format!(
            "{label}: {role} {digest} is corrupted: its content hashes to {actual}"
        )));
    }
    let manifest = Manifest::new(Bytes::from(bytes), Some(&desc.media_type));
    manifest
        .fields()
        .map_err(|e| json_error(format!("{label}: {role} {digest} is not valid JSON"), e))?;
    Ok(manifest)
}

/// Reads the manifest `root` points at and everything below it: children of indexes (all
/// platforms and attestations; a missing child is an error) and every config and layer blob.
pub(super) fn read_tree(store: &dyn Store, root: &Descriptor) -> Result<Tree> {
    let root_manifest = read_manifest(store, root, "manifest")?;
    let mut tree = Tree {
        root: root_manifest.clone(),
        manifests: HashMap::new(),
        blobs: HashMap::new(),
        referrers: Vec::new(),
    };
    let mut stack = vec![(root_manifest, 0usize)];
    while let Some((manifest, depth)) = stack.pop() {
        if tree.manifests.contains_key(&manifest.digest) {
            continue;
        }
        let fields = manifest
            .fields()
            .map_err(|e| json_error(store.label().to_string(), e))?;
        for child in &fields.manifests {
            if depth + 1 > MAX_DEPTH {
                return Err(Error::input(format!(
                    "{}: indexes nest deeper than {MAX_DEPTH} levels",
                    store.label()
                )));
            }
            let role = format!("child manifest of index {}", manifest.digest);
            stack.push((read_manifest(store, child, &role)?, depth + 1));
        }
        for blob in fields.config.iter().chain(&fields.layers) {
            add_blob(store, blob, &manifest.digest, &mut tree.blobs)?;
        }
        tree.manifests.insert(manifest.digest.clone(), manifest);
    }
    Ok(tree)
}

/// Records where a config or layer blob is, after checking it exists with the declared size.
fn add_blob(
    store: &dyn Store,
    blob: &Descriptor,
    owner: &str,
    blobs: &mut HashMap<String, BlobLocation>,
) -> Result<()> {
    if blobs.contains_key(&blob.digest) {
        return Ok(());
    }
    let label = store.label();
    let path = blob_path(store, &blob.digest)?;
    let Some(region) = store.locate(&path)? else {
        return missing_blob(blob, owner, label, blobs);
    };
    if region.len != blob.size {
        return Err(Error::input(format!(
            "{label}: blob {} of manifest {owner} is {} bytes but the manifest says {}",
            blob.digest, region.len, blob.size
        )));
    }
    blobs.insert(blob.digest.clone(), region.location());
    Ok(())
}

/// A blob absent from the layout is an error, except the two a layout may legitimately omit:
/// the OCI empty blob `{}` (we supply it), and non-distributable (foreign) layers, which
/// registries fetch from their URLs and never receive from clients.
fn missing_blob(
    blob: &Descriptor,
    owner: &str,
    label: &str,
    blobs: &mut HashMap<String, BlobLocation>,
) -> Result<()> {
    if blob.digest == EMPTY_DIGEST {
        let memory = BlobLocation::Memory(Bytes::from_static(EMPTY_BLOB));
        blobs.insert(blob.digest.clone(), memory);
        return Ok(());
    }
    if blob.media_type.contains("nondistributable") || blob.media_type.contains("foreign") {
        return Ok(());
    }
    Err(Error::input(format!(
        "{label}: blob {} ({}) of manifest {owner} is missing from the layout",
        blob.digest, blob.media_type
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;
    use crate::fixtures::{File, Image, tar, write_layout, write_multiarch_layout};
    use crate::registry::media::{OCI_INDEX, OCI_MANIFEST};

    fn image(arch: &str) -> Image {
        Image {
            layers: vec![tar(&[File {
                path: "a",
                content: arch.as_bytes(),
            }])],
            created: "2024-01-01T00:00:00Z".into(),
            cmd: vec!["/a".into()],
            platform: ("linux".into(), arch.into()),
        }
    }

    fn open_at(dir: &Path, reference: Option<&str>) -> Result<LocalImage> {
        open_dir(dir, reference, "oci:test")
    }

    #[test]
    fn single_image() {
        let dir = tempfile::tempdir().unwrap();
        let digest = write_layout(dir.path(), "latest", &image("amd64")).unwrap();
        let img = open_at(dir.path(), None).unwrap();
        assert_eq!(img.root.digest, digest);
        assert_eq!(img.root.media_type, OCI_MANIFEST);
        assert_eq!(img.manifests.len(), 1);
        assert_eq!(img.blobs.len(), 2, "config and one layer");
        assert!(!img.converted);
        assert_eq!(
            open_at(dir.path(), Some("latest")).unwrap().root.digest,
            digest
        );
    }

    #[test]
    fn multiarch_reads_every_child() {
        let dir = tempfile::tempdir().unwrap();
        let digest =
            write_multiarch_layout(dir.path(), "v1", &[image("amd64"), image("arm64")]).unwrap();
        let img = open_at(dir.path(), None).unwrap();
        assert_eq!(img.root.digest, digest);
        assert_eq!(img.root.media_type, OCI_INDEX);
        assert_eq!(img.manifests.len(), 3);
        assert_eq!(img.blobs.len(), 4);
    }

    #[test]
    fn referrers_in_the_layout_come_with_their_subject() {
        use crate::fixtures::add_layout_referrer;
        let dir = tempfile::tempdir().unwrap();
        let digest =
            write_multiarch_layout(dir.path(), "v1", &[image("amd64"), image("arm64")]).unwrap();
        let sbom =
            add_layout_referrer(dir.path(), &digest, "application/spdx+json", b"{}").unwrap();
        // A referrer of a child (a platform's signature) comes along too.
        let child = open_at(dir.path(), Some("v1")).unwrap();
        let child = child
            .manifests
            .keys()
            .find(|d| **d != digest)
            .unwrap()
            .clone();
        let sig = add_layout_referrer(dir.path(), &child, "application/x-sig", b"sig").unwrap();
        // Without :REF the image is still the layout's only image: referrers are no candidates.
        let img = open_at(dir.path(), None).unwrap();
        assert_eq!(img.root.digest, digest);
        assert_eq!(
            img.manifests.len(),
            3,
            "the referrers are not part of the image"
        );
        let mut found: Vec<(String, String, Option<String>)> = img
            .referrers
            .iter()
            .map(|r| {
                (
                    r.subject.clone(),
                    r.root.digest.clone(),
                    r.descriptor.artifact_type.clone(),
                )
            })
            .collect();
        found.sort();
        let mut want = vec![
            (
                digest.clone(),
                sbom,
                Some("application/spdx+json".to_string()),
            ),
            (child, sig, Some("application/x-sig".to_string())),
        ];
        want.sort();
        assert_eq!(found, want);
        for r in &img.referrers {
            for b in r.root.blobs().unwrap() {
                assert!(
                    img.blobs.contains_key(&b.digest),
                    "{} not located",
                    b.digest
                );
            }
            assert!(
                r.descriptor.annotations.as_ref().unwrap()["org.opencontainers.image.created"]
                    .starts_with("2024")
            );
        }
        // A named image of another layout entry keeps its own (no) referrers.
        assert_eq!(open_at(dir.path(), Some("v1")).unwrap().referrers.len(), 2);
    }

    #[test]
    fn unknown_ref_lists_names() {
        let dir = tempfile::tempdir().unwrap();
        write_layout(dir.path(), "latest", &image("amd64")).unwrap();
        let e = open_at(dir.path(), Some("v2")).err().unwrap();
        assert_eq!(e.kind, Kind::Input);
        assert!(e.message.contains("\"latest\""), "{}", e.message);
    }

    #[test]
    fn missing_layout_marker() {
        let dir = tempfile::tempdir().unwrap();
        let e = open_at(dir.path(), None).err().unwrap();
        assert!(e.message.contains("no oci-layout"), "{}", e.message);
        std::fs::write(
            dir.path().join("oci-layout"),
            br#"{"imageLayoutVersion":"2.0.0"}"#,
        )
        .unwrap();
        let e = open_at(dir.path(), None).err().unwrap();
        assert!(e.message.contains("2.0.0"), "{}", e.message);
    }

    #[test]
    fn missing_empty_blob_is_supplied() {
        let mut blobs = HashMap::new();
        let d = Descriptor {
            media_type: crate::registry::media::OCI_EMPTY.into(),
            digest: EMPTY_DIGEST.into(),
            size: 2,
            artifact_type: None,
            platform: None,
            annotations: None,
        };
        missing_blob(&d, "sha256:x", "oci:test", &mut blobs).unwrap();
        assert_eq!(blobs[EMPTY_DIGEST].len(), 2);
    }

    #[test]
    fn wrong_blob_size_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write_layout(dir.path(), "latest", &image("amd64")).unwrap();
        let img = open_at(dir.path(), None).unwrap();
        let manifest = img.root.fields().unwrap();
        let layer = &manifest.layers[0].digest;
        let path = dir.path().join("blobs/sha256").join(&layer[7..]);
        std::fs::write(path, b"short").unwrap();
        let e = open_at(dir.path(), None).err().unwrap();
        assert!(
            e.message.contains("bytes but the manifest says"),
            "{}",
            e.message
        );
    }

    #[test]
    fn file_instead_of_directory_hints_at_oci_archive() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.tar");
        std::fs::write(&file, b"").unwrap();
        let e = open_at(&file, None).err().unwrap();
        assert!(e.hint.unwrap().contains("oci-archive:"));
    }
}
