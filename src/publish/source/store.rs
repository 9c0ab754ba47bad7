//! Where the files of a local image live: a directory, or the entries of a tar archive.
//!
//! Readers of OCI layouts and `docker save` archives need only two things — where a file's bytes
//! are, and the full bytes of a small JSON file — so they are written once against [`Store`] and
//! work the same over a directory, a tar, and a decompressed tar.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::BlobLocation;
use crate::error::{Error, Result};

/// Largest JSON file (index, manifest, config) read into memory. Registries must accept 4 MB
/// manifests; anything far beyond that in a layout is damage, not an image.
pub(super) const SMALL_LIMIT: u64 = 16 << 20;

/// `len` bytes at `offset` in the file at `path`, or in its decompressed stream when `gzip`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Region {
    pub path: PathBuf,
    pub offset: u64,
    pub len: u64,
    pub gzip: bool,
}

impl Region {
    pub fn location(&self) -> BlobLocation {
        let (path, offset, len) = (self.path.clone(), self.offset, self.len);
        if self.gzip {
            BlobLocation::Gzip { path, offset, len }
        } else {
            BlobLocation::File { path, offset, len }
        }
    }

    /// A reader over exactly the region's bytes.
    pub fn reader(&self) -> std::io::Result<Box<dyn Read + Send>> {
        self.location().open()
    }
}

/// A read-only tree of files addressed by relative '/'-separated paths.
pub(super) trait Store {
    /// The source as the user wrote it, for messages.
    fn label(&self) -> &str;

    /// Where the file at `path` is, or `None` when the store has no such file.
    fn locate(&self, path: &str) -> Result<Option<Region>>;

    /// The whole file at `path`, or `None` when absent; refuses files over [`SMALL_LIMIT`].
    fn read_small(&self, path: &str) -> Result<Option<Vec<u8>>> {
        read_small_default(self, path)
    }
}

/// [`Store::read_small`] by [`Store::locate`] and a read of the region.
pub(super) fn read_small_default(
    store: &(impl Store + ?Sized),
    path: &str,
) -> Result<Option<Vec<u8>>> {
    let Some(region) = store.locate(path)? else {
        return Ok(None);
    };
    if region.len > SMALL_LIMIT {
        return Err(Error::input(format!(
            "{}: {path} is {} bytes, too large for a JSON document (limit {SMALL_LIMIT})",
            store.label(),
            region.len
        )));
    }
    read_region(&region)
        .map(Some)
        .map_err(|e| io_error(store.label(), path, e))
}

fn read_region(region: &Region) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(usize::try_from(region.len).unwrap_or(0));
    region.reader()?.read_to_end(&mut out)?;
    if out.len() as u64 != region.len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "file is shorter than expected (truncated?)",
        ));
    }
    Ok(out)
}

/// A local I/O failure while reading a source: the user's input is unreadable (exit 2).
pub(super) use super::error::io_error;

/// An OCI layout directory.
pub(super) struct DirStore {
    root: PathBuf,
    /// `root` with every symbolic link resolved: files must resolve to a path under it.
    canonical_root: Option<PathBuf>,
    label: String,
}

impl DirStore {
    pub fn new(root: &Path, label: &str) -> DirStore {
        DirStore {
            root: root.to_path_buf(),
            canonical_root: std::fs::canonicalize(root).ok(),
            label: label.to_string(),
        }
    }

    /// The file's real path, refused when a symbolic link (in the file's name or a directory on
    /// the way) leads out of the layout: publishing would upload a file the layout never held.
    fn inside(&self, path: &str, full: &Path) -> Result<PathBuf> {
        let real =
            std::fs::canonicalize(full).map_err(|e| io_error(&self.label, full.display(), e))?;
        let root = self.canonical_root.as_deref().ok_or_else(|| {
            Error::input(format!(
                "{}: cannot resolve the layout directory {}",
                self.label,
                self.root.display()
            ))
        })?;
        if real.starts_with(root) {
            return Ok(real);
        }
        Err(Error::input(format!(
            "{}: {path} is a symbolic link to {}, outside the layout; refusing to read it",
            self.label,
            real.display()
        ))
        .with_hint("copy the file into the layout (e.g. `cp -L`), or publish from a layout without links that leave it"))
    }
}

impl Store for DirStore {
    fn label(&self) -> &str {
        &self.label
    }

    fn locate(&self, path: &str) -> Result<Option<Region>> {
        // Paths come from digests and file names in JSON we do not control: stay inside root.
        if path.split('/').any(|c| c.is_empty() || c == "..") {
            return Err(Error::input(format!(
                "{}: refusing path {path:?} outside the layout",
                self.label
            )));
        }
        let full = self.root.join(path);
        match std::fs::metadata(&full) {
            Ok(m) if m.is_file() => Ok(Some(Region {
                path: self.inside(path, &full)?,
                offset: 0,
                len: m.len(),
                gzip: false,
            })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&self.label, full.display(), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_store_locates_and_reads() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
        std::fs::write(dir.path().join("blobs/sha256/ab"), b"hello").unwrap();
        let store = DirStore::new(dir.path(), "oci:x");
        let region = store.locate("blobs/sha256/ab").unwrap().unwrap();
        assert_eq!((region.offset, region.len), (0, 5));
        assert_eq!(
            store.read_small("blobs/sha256/ab").unwrap().unwrap(),
            b"hello"
        );
        assert_eq!(store.locate("missing").unwrap(), None);
        assert_eq!(
            store.locate("blobs").unwrap(),
            None,
            "a directory is not a file"
        );
    }

    #[test]
    #[cfg(unix)]
    fn dir_store_refuses_symlinks_out_of_the_layout() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"not yours").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
        std::fs::write(dir.path().join("blobs/sha256/in"), b"ok").unwrap();
        let link = |name: &str, to: &Path| {
            std::os::unix::fs::symlink(to, dir.path().join("blobs/sha256").join(name)).unwrap()
        };
        link("out", &outside.path().join("secret"));
        link("rel", Path::new("../../../../../../../../etc/hostname"));
        link("same", Path::new("in"));
        std::os::unix::fs::symlink(outside.path(), dir.path().join("blobs/linked")).unwrap();
        std::fs::write(outside.path().join("x"), b"x").unwrap();
        let store = DirStore::new(dir.path(), "oci:x");
        for path in ["blobs/sha256/out", "blobs/linked/x"] {
            let e = store.locate(path).unwrap_err();
            assert_eq!(e.kind, crate::error::Kind::Input);
            assert!(e.message.contains(path), "{}", e.message);
            assert!(e.message.contains("outside the layout"), "{}", e.message);
        }
        if Path::new("/etc/hostname").exists() {
            assert!(store.locate("blobs/sha256/rel").is_err());
        }
        // A link that stays inside the layout is fine (deduplicated blobs).
        assert_eq!(
            store.read_small("blobs/sha256/same").unwrap().unwrap(),
            b"ok"
        );
    }

    #[test]
    fn dir_store_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::new(dir.path(), "oci:x");
        assert!(store.locate("../etc/passwd").is_err());
        assert!(store.locate("/etc/passwd").is_err());
    }
}
