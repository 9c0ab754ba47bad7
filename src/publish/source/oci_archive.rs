//! `oci-archive:FILE[:REF]`: a tar of an OCI image layout, as
//! `docker buildx build --output type=oci,dest=x.tar` writes it.
//!
//! The tar is indexed in place, so blobs are streamed straight out of it. A gzip-compressed
//! archive cannot be read at offsets, so it is first decompressed into a scratch directory that
//! lives as long as the [`LocalImage`] (and its clones) that point into it.

use std::io::{BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::LocalImage;
use super::oci;
use super::store::io_error;
use super::tar::TarArchive;
use crate::error::{Error, Result};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// `oci-archive:FILE[:REF]`.
pub(super) fn open(path: &Path, reference: Option<&str>, label: &str) -> Result<LocalImage> {
    if path.is_dir() {
        return Err(
            Error::input(format!("{label}: {} is a directory", path.display())).with_hint(format!(
                "for an OCI layout directory use oci:{}",
                path.display()
            )),
        );
    }
    let (archive, scratch) = open_archive(path, label)?;
    let tree = oci::open(&archive, reference)?;
    Ok(LocalImage::new(tree, false, scratch))
}

/// Indexes a tar, decompressing it first when it is gzip-compressed.
pub(super) fn open_archive(path: &Path, label: &str) -> Result<(TarArchive, Option<Arc<Scratch>>)> {
    if !path.is_file() {
        return Err(Error::input(format!(
            "{label}: file {} does not exist",
            path.display()
        )));
    }
    if !starts_with_gzip_magic(path).map_err(|e| io_error(label, path.display(), &e))? {
        return Ok((TarArchive::index(path, label)?, None));
    }
    let scratch = Scratch::create().map_err(|e| {
        Error::input(format!(
            "{label}: cannot create a directory to decompress into under {}: {e}",
            std::env::temp_dir().display()
        ))
    })?;
    let tar = scratch.path().join("archive.tar");
    gunzip(path, &tar).map_err(|e| {
        Error::input(format!(
            "{label}: cannot decompress {} (gzip) into {}: {e}",
            path.display(),
            tar.display()
        ))
    })?;
    Ok((TarArchive::index(&tar, label)?, Some(Arc::new(scratch))))
}

/// Whether a file starts with the gzip magic bytes `1f 8b`.
pub(super) fn starts_with_gzip_magic(path: &Path) -> std::io::Result<bool> {
    let mut magic = [0u8; 2];
    let mut file = std::fs::File::open(path)?;
    let mut read = 0;
    while read < magic.len() {
        match file.read(&mut magic[read..])? {
            0 => return Ok(false),
            n => read += n,
        }
    }
    Ok(magic == GZIP_MAGIC)
}

/// Decompresses every gzip member (as pigz and `cat a.gz b.gz` produce) into `to`.
fn gunzip(from: &Path, to: &Path) -> std::io::Result<()> {
    let input = BufReader::new(std::fs::File::open(from)?);
    let mut decoder = flate2::read::MultiGzDecoder::new(input);
    let mut output = BufWriter::new(std::fs::File::create(to)?);
    std::io::copy(&mut decoder, &mut output)?;
    output.into_inner().map_err(|e| e.into_error())?.sync_all()
}

/// A private directory under the system temp dir, removed when dropped.
#[derive(Debug)]
pub(super) struct Scratch {
    dir: PathBuf,
}

/// Every scratch directory that exists now, so that a signal can remove them even while a blocking
/// task still holds one (dropping the work does not wait for blocking threads).
fn live() -> &'static std::sync::Mutex<Vec<PathBuf>> {
    static LIVE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    &LIVE
}

/// Removes every scratch directory still there (on SIGINT/SIGTERM, before exiting).
pub fn remove_scratch_dirs() {
    let dirs = std::mem::take(&mut *live().lock().unwrap_or_else(|p| p.into_inner()));
    for dir in dirs {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

impl Scratch {
    fn create() -> std::io::Result<Scratch> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = base.join(format!(
                "dockhand-source-{}-{nanos}-{n}",
                std::process::id()
            ));
            match std::fs::create_dir(&dir) {
                Ok(()) => {
                    live()
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(dir.clone());
                    return Ok(Scratch { dir });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => {}
                Err(e) => return Err(e),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Best effort: a leftover temp file is not worth failing a publish for.
        let _ = std::fs::remove_dir_all(&self.dir);
        live()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|d| d != &self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::gzip;
    use crate::publish::source::tar::tests::{Kind, write_tar};
    use crate::publish::source::{BlobLocation, store::Store};

    #[test]
    fn gzip_archive_is_decompressed_and_cleaned_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar.gz");
        std::fs::write(&path, gzip(&write_tar(&[("x", Kind::File(b"hi"))], false))).unwrap();
        let (archive, scratch) = open_archive(&path, "oci-archive:a.tar.gz").unwrap();
        let scratch = scratch.expect("a scratch directory for the decompressed tar");
        let scratch_dir = scratch.path().to_path_buf();
        assert!(scratch_dir.starts_with(std::env::temp_dir()));
        assert_eq!(archive.read_small("x").unwrap().unwrap(), b"hi");
        drop(scratch);
        assert!(!scratch_dir.exists());
    }

    #[test]
    fn plain_archive_needs_no_scratch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        std::fs::write(&path, write_tar(&[("x", Kind::File(b"hi"))], false)).unwrap();
        let (archive, scratch) = open_archive(&path, "oci-archive:a.tar").unwrap();
        assert!(scratch.is_none());
        let loc = archive.locate("x").unwrap().unwrap().location();
        assert!(matches!(loc, BlobLocation::File { ref path, .. } if path.ends_with("a.tar")));
    }

    #[test]
    fn bad_gzip_is_an_input_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar.gz");
        std::fs::write(&path, [0x1f, 0x8b, 0, 0, 0]).unwrap();
        let e = open_archive(&path, "oci-archive:a.tar.gz").err().unwrap();
        assert_eq!(e.kind, crate::error::Kind::Input);
        assert!(e.message.contains("decompress"), "{}", e.message);
    }

    #[test]
    fn missing_file_and_directory() {
        let dir = tempfile::tempdir().unwrap();
        let e = open(&dir.path().join("nope.tar"), None, "oci-archive:nope.tar")
            .err()
            .unwrap();
        assert!(e.message.contains("does not exist"), "{}", e.message);
        let e = open(dir.path(), None, "oci-archive:dir").err().unwrap();
        assert!(e.hint.unwrap().contains("oci:"));
    }
}
