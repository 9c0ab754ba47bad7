//! `oci-archive:FILE[:REF]`: a tar of an OCI image layout, as
//! `docker buildx build --output type=oci,dest=x.tar` writes it.
//!
//! The tar is indexed in place, so blobs are streamed straight out of it. A gzip-compressed
//! archive cannot be read at offsets: it is indexed from its decompressed stream, and each blob
//! is read by decompressing the archive again up to it and on to its end. Nothing is written to
//! disk, so a gzip bomb (a small archive of gigabytes of zeros) costs time, not space.

use std::io::Read;
use std::path::Path;

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
    let archive = open_archive(path, label)?;
    let tree = oci::open(&archive, reference)?;
    Ok(LocalImage::new(tree, false))
}

/// Indexes a tar, through its decompressed stream when it is gzip-compressed.
pub(super) fn open_archive(path: &Path, label: &str) -> Result<TarArchive> {
    if !path.is_file() {
        return Err(Error::input(format!(
            "{label}: file {} does not exist",
            path.display()
        )));
    }
    if !starts_with_gzip_magic(path).map_err(|e| io_error(label, path.display(), e))? {
        return TarArchive::index(path, label);
    }
    TarArchive::index_gzip(path, label).map_err(|e| {
        e.with_hint(format!(
            "{} starts like gzip; check that it is a whole gzip-compressed tar",
            path.display()
        ))
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::gzip;
    use crate::publish::source::tar::tests::{Kind, write_tar};
    use crate::publish::source::{BlobLocation, store::Store};

    #[test]
    fn gzip_archive_is_read_from_its_stream() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar.gz");
        let big = vec![0u8; 3 << 20];
        let tar = write_tar(
            &[
                ("big", Kind::File(&big)),
                ("x", Kind::File(b"hi")),
                ("y", Kind::Symlink("x")),
            ],
            false,
        );
        std::fs::write(&path, gzip(&tar)).unwrap();
        let archive = open_archive(&path, "oci-archive:a.tar.gz").unwrap();
        assert_eq!(archive.read_small("x").unwrap().unwrap(), b"hi");
        assert_eq!(archive.read_small("y").unwrap().unwrap(), b"hi");
        let loc = archive.locate("big").unwrap().unwrap().location();
        assert!(
            matches!(loc, BlobLocation::Gzip { ref path, len, .. } if path.ends_with("a.tar.gz") && len == 3 << 20),
            "{loc:?}"
        );
        let mut read = Vec::new();
        loc.open().unwrap().read_to_end(&mut read).unwrap();
        assert!(read == big, "the blob decompressed from the stream");
        // The small entry after the big one was kept from the index pass; a region read of it
        // decompresses up to it.
        let x = archive.locate("x").unwrap().unwrap();
        let mut read = Vec::new();
        x.reader().unwrap().read_to_end(&mut read).unwrap();
        assert_eq!(read, b"hi");
    }

    #[test]
    fn plain_archive_is_read_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        std::fs::write(&path, write_tar(&[("x", Kind::File(b"hi"))], false)).unwrap();
        let archive = open_archive(&path, "oci-archive:a.tar").unwrap();
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
        assert!(e.message.contains("truncated"), "{}", e.message);
        let mut damaged = gzip(&write_tar(&[("x", Kind::File(b"hi"))], false));
        let middle = damaged.len() / 2;
        damaged[10..middle].fill(0xff);
        std::fs::write(&path, &damaged).unwrap();
        let e = open_archive(&path, "oci-archive:a.tar.gz").err().unwrap();
        assert_eq!(e.kind, crate::error::Kind::Input);
        assert!(e.message.contains("decompress"), "{}", e.message);
    }

    #[test]
    fn truncated_gzip_is_an_input_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar.gz");
        let tar = write_tar(&[("x", Kind::File(&[7u8; 100_000]))], false);
        let gz = gzip(&tar);
        std::fs::write(&path, &gz[..gz.len() / 2]).unwrap();
        let e = open_archive(&path, "oci-archive:a.tar.gz").err().unwrap();
        assert_eq!(e.kind, crate::error::Kind::Input);
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
