//! Where a built image comes from, and reading local images without loading their blobs.
//!
//! A publish SOURCE is written the way skopeo spells transports (`oci:`, `oci-archive:`,
//! `docker-archive:`, `docker://`) or as a plain reference. Local sources are opened into a
//! [`LocalImage`]: the exact manifest bytes (so digests survive the copy) plus, for every config
//! and layer blob, *where* its bytes are — a file region, never a copy in memory — so that
//! multi-gigabyte layers can be streamed to the registry.

mod docker_archive;
mod error;
pub use error::SourceError;
mod oci;
mod oci_archive;
mod spec;
mod store;
mod tar;

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::registry::media::Manifest;

pub use oci::LayoutReferrer;
pub use spec::ACCEPTED_FORMS;

/// Where a built image is, as given by `--image NAME=SOURCE` or `source:` in the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// `oci:DIR[:REF]`: an OCI image layout directory; REF selects by `ref.name` annotation.
    OciDir {
        path: PathBuf,
        reference: Option<String>,
    },
    /// `oci-archive:FILE[:REF]`: a tar (optionally gzip-compressed) of an OCI image layout.
    OciArchive {
        path: PathBuf,
        reference: Option<String>,
    },
    /// `docker-archive:FILE[:REF|:@N]`: what `docker save` writes.
    DockerArchive {
        path: PathBuf,
        selector: Option<ArchiveSelector>,
    },
    /// `docker://REF` or a plain reference; holds the reference as written, without `docker://`.
    Registry(String),
}

/// Which image of a multi-image `docker save` archive: skopeo's `[:{reference|@source-index}]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveSelector {
    /// Matches one of the image's `RepoTags` (after Docker normalisation).
    Reference(String),
    /// The N-th image (from 0) of `manifest.json`.
    Index(usize),
}

/// A local image, read without copying blobs into memory.
#[derive(Debug, Clone)]
pub struct LocalImage {
    /// The manifest or index to publish under the tag.
    pub root: Manifest,
    /// Every manifest by digest, root and children.
    pub manifests: HashMap<String, Manifest>,
    /// Every config/layer blob by digest.
    pub blobs: HashMap<String, BlobLocation>,
    /// True when the manifest was built by us (docker-archive without an OCI index): its digest
    /// is then ours, not the one the builder printed.
    pub converted: bool,
    /// The layout's referrers of this image (OCI layouts only); their blobs are in `blobs`.
    pub referrers: Vec<LayoutReferrer>,
}

/// Where a blob's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobLocation {
    /// `len` bytes at `offset` in `path` (a blob file, or a region of a tar archive).
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
    /// `len` bytes at `offset` of the decompressed stream of the gzip file at `path` (a
    /// gzip-compressed archive): read by decompressing from the start, never written out.
    Gzip {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
    /// Bytes we hold ourselves (e.g. the OCI empty blob `{}` when a layout omits it).
    Memory(Bytes),
}

impl BlobLocation {
    /// The blob's size in bytes.
    pub fn len(&self) -> u64 {
        match self {
            BlobLocation::File { len, .. } | BlobLocation::Gzip { len, .. } => *len,
            BlobLocation::Memory(b) => b.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A reader over exactly the blob's bytes (blocking I/O; wrap in `spawn_blocking` or
    /// `tokio::fs` as the caller prefers).
    pub fn open(&self) -> std::io::Result<Box<dyn Read + Send>> {
        match self {
            BlobLocation::File { path, offset, len } => {
                let mut file = std::fs::File::open(path)?;
                file.seek(SeekFrom::Start(*offset))?;
                Ok(Box::new(file.take(*len)))
            }
            BlobLocation::Gzip { path, offset, len } => {
                let file = std::io::BufReader::with_capacity(256 << 10, std::fs::File::open(path)?);
                let mut stream = flate2::read::MultiGzDecoder::new(file);
                let skipped =
                    std::io::copy(&mut (&mut stream).take(*offset), &mut std::io::sink())?;
                if skipped != *offset {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the decompressed archive is shorter than when it was indexed",
                    ));
                }
                Ok(Box::new(stream.take(*len)))
            }
            BlobLocation::Memory(bytes) => Ok(Box::new(std::io::Cursor::new(bytes.clone()))),
        }
    }
}

impl LocalImage {
    /// An image assembled by the caller (e.g. a copy-engine test); nothing on disk is kept alive.
    pub fn from_parts(
        root: Manifest,
        manifests: HashMap<String, Manifest>,
        blobs: HashMap<String, BlobLocation>,
        converted: bool,
    ) -> Self {
        LocalImage {
            root,
            manifests,
            blobs,
            converted,
            referrers: Vec::new(),
        }
    }

    fn new(tree: oci::Tree, converted: bool) -> Self {
        LocalImage {
            root: tree.root,
            manifests: tree.manifests,
            blobs: tree.blobs,
            converted,
            referrers: tree.referrers,
        }
    }
}

/// Opens a local source: checks its structure, verifies manifest digests and blob sizes.
///
/// Blob contents are not hashed here (the registry verifies them on upload), except the layers of
/// a classic `docker save` archive, whose digests must be computed to write a manifest at all.
pub fn open_local(spec: &SourceSpec) -> Result<LocalImage> {
    let label = spec.to_string();
    match spec {
        SourceSpec::OciDir { path, reference } => oci::open_dir(path, reference.as_deref(), &label),
        SourceSpec::OciArchive { path, reference } => {
            oci_archive::open(path, reference.as_deref(), &label)
        }
        SourceSpec::DockerArchive { path, selector } => {
            docker_archive::open(path, selector.as_ref(), &label)
        }
        SourceSpec::Registry(_) => Err(Error::input(format!(
            "image source {label} is not local: it is read from a registry"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_location_reads_only_its_region() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let loc = BlobLocation::File {
            path,
            offset: 3,
            len: 4,
        };
        let mut out = String::new();
        loc.open().unwrap().read_to_string(&mut out).unwrap();
        assert_eq!(out, "3456");
        assert_eq!(loc.len(), 4);
    }

    #[test]
    fn memory_location_reads_its_bytes() {
        let loc = BlobLocation::Memory(Bytes::from_static(b"{}"));
        let mut out = Vec::new();
        loc.open().unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, b"{}");
        assert!(!loc.is_empty());
    }

    #[test]
    fn registry_source_is_not_local() {
        let e = open_local(&SourceSpec::Registry("alpine:3".into())).unwrap_err();
        assert_eq!(e.kind, crate::error::Kind::Input);
        assert!(e.message.contains("not local"), "{}", e.message);
    }
}
