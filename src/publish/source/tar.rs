//! An index of a tar archive's entries, so files inside it are read in place, never extracted.
//!
//! A gzip-compressed tar is indexed from its decompressed stream in one pass (nothing is written
//! to disk: a small archive may expand to gigabytes of zeros); its entries are then read by
//! decompressing again up to them, and the small ones (JSON documents) are kept from the index
//! pass so that reading them costs no further pass.
//!
//! Only headers are read: ustar (with its 155-byte name prefix), pax extended headers (`path`,
//! `linkpath`, `size`), GNU long names (`L`/`K`) and GNU base-256 sizes. That covers what
//! `docker save`, BuildKit (`--output type=oci`), GNU tar and Go's `archive/tar` write. Hard and
//! symbolic links are resolved, because `docker save` shares layers between images through them.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::store::{Region, Store, io_error};
use crate::error::{Error, Result};

const BLOCK: u64 = 512;
/// Pax and GNU long-name headers hold names, not data; anything bigger is damage.
const META_LIMIT: u64 = 1 << 20;
/// Link chains longer than this are treated as cycles.
const MAX_LINK_HOPS: usize = 16;
/// In a gzip-compressed tar, entries up to this size are kept in memory from the index pass…
const CACHE_ENTRY: u64 = 1 << 20;
/// …up to this much in all.
const CACHE_TOTAL: u64 = 64 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    File {
        offset: u64,
        len: u64,
    },
    /// A hard or symbolic link, its target already resolved to an archive path.
    Link(String),
}

/// The regular files and links of a tar archive, by normalised path.
pub(super) struct TarArchive {
    file: PathBuf,
    label: String,
    entries: HashMap<String, Entry>,
    /// Offsets are in the decompressed stream of a gzip file.
    gzip: bool,
    /// Small entries of a gzip tar, by data offset, read during the index pass.
    cache: HashMap<u64, Vec<u8>>,
    cached: u64,
}

/// Forward-only reads of the tar's bytes: a file seeks, a decompressed stream reads and drops.
trait Input {
    /// Reads `buf.len()` bytes at `pos` (never before the end of the previous read).
    fn read_at(&mut self, pos: u64, buf: &mut [u8]) -> std::io::Result<()>;

    /// Whether the last failed read found the stream's end exactly at its position.
    fn ended_at_read(&self) -> bool {
        false
    }
}

impl Input for std::fs::File {
    fn read_at(&mut self, pos: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.seek(SeekFrom::Start(pos))?;
        self.read_exact(buf)
    }
}

/// A decompressed stream and how far into it we are.
struct Stream<R> {
    inner: R,
    pos: u64,
    ended_at_read: bool,
}

impl<R: Read> Input for Stream<R> {
    fn read_at(&mut self, pos: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.ended_at_read = false;
        let gap = pos.checked_sub(self.pos).ok_or_else(|| {
            std::io::Error::other("internal: a backward read of a decompressed stream")
        })?;
        let skipped = std::io::copy(&mut (&mut self.inner).take(gap), &mut std::io::sink())
            .map_err(decompress_error)?;
        self.pos += skipped;
        if skipped != gap {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let mut read = 0;
        while read < buf.len() {
            match self.inner.read(&mut buf[read..]) {
                Ok(0) => {
                    self.ended_at_read = read == 0;
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                Ok(n) => {
                    read += n;
                    self.pos += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(decompress_error(e)),
            }
        }
        Ok(())
    }

    fn ended_at_read(&self) -> bool {
        self.ended_at_read
    }
}

/// A gzip stream that ends early is truncation; anything else is damage.
fn decompress_error(e: std::io::Error) -> std::io::Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        return e;
    }
    std::io::Error::new(e.kind(), format!("cannot decompress (gzip): {e}"))
}

/// One parsed 512-byte header.
struct Header {
    name: String,
    linkname: String,
    size: u64,
    typeflag: u8,
}

/// Overrides carried by pax or GNU headers for the next entry.
#[derive(Default)]
struct Pending {
    name: Option<String>,
    linkname: Option<String>,
    size: Option<u64>,
}

impl TarArchive {
    /// Reads every header of the tar at `file`.
    pub fn index(file: &Path, label: &str) -> Result<TarArchive> {
        let mut f = std::fs::File::open(file).map_err(|e| io_error(label, file.display(), e))?;
        let total = f
            .metadata()
            .map_err(|e| io_error(label, file.display(), e))?
            .len();
        let mut archive = TarArchive::empty(file, label, false);
        archive
            .read_entries(&mut f, total)
            .map_err(|e| e.context(label))?;
        Ok(archive)
    }

    /// Reads every header of the gzip-compressed tar at `file` from its decompressed stream
    /// (every gzip member, as pigz and `cat a.gz b.gz` write), keeping small entries.
    pub fn index_gzip(file: &Path, label: &str) -> Result<TarArchive> {
        let f = std::fs::File::open(file).map_err(|e| io_error(label, file.display(), e))?;
        let decoder =
            flate2::read::MultiGzDecoder::new(std::io::BufReader::with_capacity(256 << 10, f));
        let mut stream = Stream {
            inner: decoder,
            pos: 0,
            ended_at_read: false,
        };
        let mut archive = TarArchive::empty(file, label, true);
        archive
            .read_entries(&mut stream, u64::MAX)
            .map_err(|e| e.context(label))?;
        Ok(archive)
    }

    fn empty(file: &Path, label: &str, gzip: bool) -> TarArchive {
        TarArchive {
            file: file.to_path_buf(),
            label: label.to_string(),
            entries: HashMap::new(),
            gzip,
            cache: HashMap::new(),
            cached: 0,
        }
    }

    /// `total` is the archive's length, or `u64::MAX` for a stream whose end shows when read.
    fn read_entries(&mut self, f: &mut dyn Input, total: u64) -> Result<()> {
        let mut pos = 0;
        let mut pending = Pending::default();
        while total.saturating_sub(pos) >= BLOCK {
            let Some(block) = read_block(f, pos, total == u64::MAX)? else {
                return Ok(()); // a stream that ends on a block boundary without the marker
            };
            let Some(header) = parse_header(&block, pos)? else {
                return Ok(()); // end-of-archive marker
            };
            // A pax `size` belongs to the next real entry, not to another extended header.
            let size = match header.typeflag {
                b'x' | b'g' | b'L' | b'K' => header.size,
                _ => pending.size.take().unwrap_or(header.size),
            };
            let data = pos + BLOCK;
            if size > total - data {
                return Err(truncated(pos));
            }
            // A stream has no length to check `size` against: a huge size must not overflow.
            let Some(next) = size
                .checked_next_multiple_of(BLOCK)
                .and_then(|padded| data.checked_add(padded))
            else {
                return Err(truncated(pos));
            };
            self.take_entry(f, header, size, data, &mut pending)?;
            pos = next;
        }
        if pos < total && total - pos < BLOCK {
            return Err(truncated(pos));
        }
        Ok(())
    }

    fn take_entry(
        &mut self,
        f: &mut dyn Input,
        header: Header,
        size: u64,
        data: u64,
        pending: &mut Pending,
    ) -> Result<()> {
        let result = match header.typeflag {
            b'x' => read_meta(f, data, size).and_then(|m| apply_pax(&m, pending)),
            b'L' => read_meta(f, data, size).map(|m| pending.name = Some(c_string(&m))),
            b'K' => read_meta(f, data, size).map(|m| pending.linkname = Some(c_string(&m))),
            b'g' => Ok(()), // global pax defaults: nothing dockhand needs
            typeflag => {
                let name = pending.name.take().unwrap_or(header.name);
                let linkname = pending.linkname.take().unwrap_or(header.linkname);
                if self.add(typeflag, &name, &linkname, data, size) {
                    self.keep_small(f, data, size)
                } else {
                    Ok(())
                }
            }
        };
        result.map_err(|e| e.context(format!("tar entry at offset {data}")))
    }

    /// Records an entry; true when it is a regular file.
    fn add(&mut self, typeflag: u8, name: &str, linkname: &str, offset: u64, len: u64) -> bool {
        let Some(path) = normalize(name) else {
            return false; // the root directory itself, or a path escaping the archive
        };
        let entry = match typeflag {
            b'0' | 0 | b'7' if !name.ends_with('/') => Entry::File { offset, len },
            b'1' => match normalize(linkname) {
                Some(target) => Entry::Link(target),
                None => return false,
            },
            b'2' => match symlink_target(&path, linkname) {
                Some(target) => Entry::Link(target),
                None => return false,
            },
            _ => return false, // directories, devices, fifos: not image content
        };
        let file = matches!(entry, Entry::File { .. });
        // Later entries replace earlier ones, as when extracting.
        self.entries.insert(path, entry);
        file
    }

    /// In a gzip tar, keeps a small file's bytes (JSON documents are read more than once, and
    /// each read of the stream would decompress everything before them again).
    fn keep_small(&mut self, f: &mut dyn Input, offset: u64, len: u64) -> Result<()> {
        if !self.gzip || len > CACHE_ENTRY || self.cached + len > CACHE_TOTAL {
            return Ok(());
        }
        let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(0)];
        f.read_at(offset, &mut bytes).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => truncated(offset),
            _ => Error::input(format!("cannot read the entry at offset {offset}: {e}")),
        })?;
        self.cached += len;
        self.cache.insert(offset, bytes);
        Ok(())
    }

    /// Follows links to a regular file.
    fn resolve(&self, path: &str) -> Result<Option<(u64, u64)>> {
        let mut current = normalize(path);
        for _ in 0..=MAX_LINK_HOPS {
            let Some(p) = current else { return Ok(None) };
            match self.entries.get(&p) {
                None => return Ok(None),
                Some(Entry::File { offset, len }) => return Ok(Some((*offset, *len))),
                Some(Entry::Link(target)) => current = Some(target.clone()),
            }
        }
        Err(Error::input(format!(
            "{}: {path} is a chain of more than {MAX_LINK_HOPS} links (a cycle?)",
            self.label
        )))
    }
}

impl Store for TarArchive {
    fn label(&self) -> &str {
        &self.label
    }

    fn locate(&self, path: &str) -> Result<Option<Region>> {
        Ok(self.resolve(path)?.map(|(offset, len)| Region {
            path: self.file.clone(),
            offset,
            len,
            gzip: self.gzip,
        }))
    }

    fn read_small(&self, path: &str) -> Result<Option<Vec<u8>>> {
        if let Some((offset, _)) = self.resolve(path)?
            && let Some(bytes) = self.cache.get(&offset)
        {
            return Ok(Some(bytes.clone()));
        }
        super::store::read_small_default(self, path)
    }
}

fn truncated(pos: u64) -> Error {
    Error::input(format!(
        "the tar archive is truncated (entry at offset {pos} runs past the end of the file)"
    ))
}

/// The header block at `pos`; `None` when a stream (`streamed`) ends right there.
fn read_block(f: &mut dyn Input, pos: u64, streamed: bool) -> Result<Option<[u8; 512]>> {
    let mut block = [0u8; 512];
    match f.read_at(pos, &mut block) {
        Ok(()) => Ok(Some(block)),
        // A stream ending exactly where a header would start lacks only the end-of-archive
        // marker, which tar readers accept; ending inside the previous entry or this header is
        // truncation.
        Err(e) if streamed && e.kind() == std::io::ErrorKind::UnexpectedEof => {
            if f.ended_at_read() {
                Ok(None)
            } else {
                Err(truncated(pos))
            }
        }
        Err(e) => Err(Error::input(format!(
            "cannot read the tar header at offset {pos}: {e}"
        ))),
    }
}

fn read_meta(f: &mut dyn Input, offset: u64, len: u64) -> Result<Vec<u8>> {
    if len > META_LIMIT {
        return Err(Error::input(format!(
            "an extended header of {len} bytes is implausibly large"
        )));
    }
    let mut out = vec![0u8; usize::try_from(len).unwrap_or(0)];
    f.read_at(offset, &mut out)
        .map_err(|e| Error::input(format!("cannot read an extended header: {e}")).with_source(e))?;
    Ok(out)
}

/// Parses a header block; `None` for an all-zero block (the end-of-archive marker).
fn parse_header(block: &[u8; 512], pos: u64) -> Result<Option<Header>> {
    if block.iter().all(|b| *b == 0) {
        return Ok(None);
    }
    if !checksum_ok(block) {
        return Err(Error::input(format!(
            "not a tar archive, or damaged: the header at offset {pos} has a wrong checksum"
        )));
    }
    let size = number(&block[124..136])
        .ok_or_else(|| Error::input(format!("the tar header at offset {pos} has a bad size")))?;
    let mut name = c_string(&block[0..100]);
    // POSIX ustar splits long names into prefix/name; GNU's "ustar  " uses those bytes otherwise.
    if &block[257..263] == b"ustar\0" {
        let prefix = c_string(&block[345..500]);
        if !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
    }
    Ok(Some(Header {
        name,
        linkname: c_string(&block[157..257]),
        size,
        typeflag: block[156],
    }))
}

/// The checksum counts the header with its own field as spaces; old writers summed signed bytes.
fn checksum_ok(block: &[u8; 512]) -> bool {
    let Some(stored) = number(&block[148..156]) else {
        return false;
    };
    let field = 148..156;
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, b) in block.iter().enumerate() {
        let b = if field.contains(&i) { b' ' } else { *b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed)
}

/// An octal field (NUL/space padded), or GNU base-256 when the high bit is set.
fn number(field: &[u8]) -> Option<u64> {
    let first = *field.first()?;
    if first & 0x80 != 0 {
        if first == 0xff {
            return None; // negative
        }
        let mut value = u64::from(first & 0x7f);
        for b in &field[1..] {
            value = value.checked_mul(256)?.checked_add(u64::from(*b))?;
        }
        return Some(value);
    }
    let text = std::str::from_utf8(field).ok()?;
    let digits = text.trim_matches(|c: char| c == '\0' || c == ' ');
    if digits.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(digits, 8).ok()
}

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Pax records are `LEN key=value\n`, LEN counting the whole record.
fn apply_pax(data: &[u8], pending: &mut Pending) -> Result<()> {
    let mut rest = data;
    while !rest.is_empty() && rest[0] != 0 {
        let bad = || Error::input("malformed pax extended header");
        let space = rest.iter().position(|b| *b == b' ').ok_or_else(bad)?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|l| *l > space && *l <= rest.len())
            .ok_or_else(bad)?;
        let record = &rest[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        let eq = record.iter().position(|b| *b == b'=').ok_or_else(bad)?;
        let value = String::from_utf8_lossy(&record[eq + 1..]).into_owned();
        match &record[..eq] {
            b"path" => pending.name = Some(value),
            b"linkpath" => pending.linkname = Some(value),
            b"size" => pending.size = Some(value.parse().map_err(|_| bad())?),
            _ => {}
        }
        rest = &rest[len..];
    }
    Ok(())
}

/// A symlink's target as an archive path: relative targets start from the link's directory.
fn symlink_target(link: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return normalize(target);
    }
    let dir = link.rsplit_once('/').map_or("", |(d, _)| d);
    normalize(&format!("{dir}/{target}"))
}

/// `./a//b/../c` → `a/c`; `None` for the root or a path leaving the archive.
pub(super) fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub use crate::fixtures::TarEntry as Kind;
    use crate::fixtures::pax_record;

    /// A tar for tests: pax headers for long names, GNU `L` when `gnu` is set.
    pub fn write_tar(entries: &[(&str, Kind)], gnu: bool) -> Vec<u8> {
        let long = if gnu {
            crate::fixtures::LongNames::Gnu
        } else {
            crate::fixtures::LongNames::Pax
        };
        crate::fixtures::tar_entries(entries, long)
    }

    fn index(bytes: &[u8]) -> (tempfile::TempDir, Result<TarArchive>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        std::fs::write(&path, bytes).unwrap();
        let archive = TarArchive::index(&path, "oci-archive:a.tar");
        (dir, archive)
    }

    fn content(archive: &TarArchive, path: &str) -> Option<Vec<u8>> {
        archive.read_small(path).unwrap()
    }

    #[test]
    fn reads_files_in_place_and_resolves_links() {
        let tar = write_tar(
            &[
                ("./blobs/", Kind::Dir),
                ("./blobs/sha256/aa", Kind::File(b"layer")),
                ("id1/layer.tar", Kind::Symlink("../blobs/sha256/aa")),
                ("id2/layer.tar", Kind::Hardlink("id1/layer.tar")),
                ("index.json", Kind::File(b"{}")),
            ],
            false,
        );
        let (_d, archive) = index(&tar);
        let archive = archive.unwrap();
        assert_eq!(content(&archive, "blobs/sha256/aa").unwrap(), b"layer");
        assert_eq!(content(&archive, "id1/layer.tar").unwrap(), b"layer");
        assert_eq!(content(&archive, "./id2/layer.tar").unwrap(), b"layer");
        assert_eq!(content(&archive, "index.json").unwrap(), b"{}");
        assert_eq!(content(&archive, "blobs"), None);
        let region = archive.locate("blobs/sha256/aa").unwrap().unwrap();
        assert_eq!(region.offset % 512, 0);
        assert_eq!(region.len, 5);
    }

    #[test]
    fn long_names_by_pax_and_gnu() {
        let long = format!("blobs/sha256/{}", "b".repeat(120));
        for gnu in [false, true] {
            let tar = write_tar(&[(long.as_str(), Kind::File(b"data"))], gnu);
            let (_d, archive) = index(&tar);
            assert_eq!(
                content(&archive.unwrap(), &long).unwrap(),
                b"data",
                "gnu={gnu}"
            );
        }
    }

    #[test]
    fn ustar_prefix_is_joined() {
        let mut tar = write_tar(&[("name", Kind::File(b"x"))], false);
        tar[345..351].copy_from_slice(b"prefix");
        tar[148..156].fill(b' ');
        let sum: u32 = tar[..512].iter().map(|b| u32::from(*b)).sum();
        tar[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let (_d, archive) = index(&tar);
        assert_eq!(content(&archive.unwrap(), "prefix/name").unwrap(), b"x");
    }

    #[test]
    fn base256_sizes() {
        let mut field = [0u8; 12];
        field[0] = 0x80;
        field[11] = 0x02;
        field[10] = 0x01;
        assert_eq!(number(&field), Some(258));
        assert_eq!(number(b"00000000012\0"), Some(10));
        assert_eq!(number(b"           \0"), Some(0));
        assert_eq!(number(b"9\0"), None);
    }

    #[test]
    fn damage_is_an_input_error() {
        let mut tar = write_tar(&[("a", Kind::File(b"hello"))], false);
        tar[0] = b'b'; // checksum no longer matches
        let (_d, archive) = index(&tar);
        let e = archive.err().unwrap();
        assert_eq!(e.kind, crate::error::Kind::Input);
        assert!(e.message.contains("checksum"), "{}", e.message);

        let tar = write_tar(&[("a", Kind::File(&[7u8; 2000]))], false);
        let (_d, archive) = index(&tar[..1024]);
        let e = archive.err().unwrap();
        assert!(e.message.contains("truncated"), "{}", e.message);
        assert!(e.message.starts_with("oci-archive:a.tar"), "{}", e.message);
    }

    /// Found by reasoning about the stream case the property tests cover: a base-256 size near
    /// `u64::MAX` in a gzip archive (no file length to check it against) overflowed the next
    /// header's offset (a panic in debug builds, a wrapped offset in release).
    #[test]
    fn huge_sizes_in_a_stream_are_errors_not_overflows() {
        let mut tar = write_tar(&[("a", Kind::File(b"x"))], false);
        tar[124..128].copy_from_slice(&[0x80, 0, 0, 0]);
        tar[128..136].copy_from_slice(&(u64::MAX - 1024).to_be_bytes());
        tar[148..156].fill(b' ');
        let sum: u32 = tar[..512].iter().map(|b| u32::from(*b)).sum();
        tar[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("a.tar.gz");
        std::fs::write(&gz, crate::fixtures::gzip(&tar)).unwrap();
        let e = TarArchive::index_gzip(&gz, "oci-archive:a.tar.gz")
            .err()
            .unwrap();
        assert!(e.message.contains("truncated"), "{}", e.message);
        let (_d, plain) = index(&tar);
        assert!(plain.err().unwrap().message.contains("truncated"));
        // `u64::MAX` itself: `offset + size` overflowed for plain archives too.
        tar[128..136].copy_from_slice(&u64::MAX.to_be_bytes());
        tar[148..156].fill(b' ');
        let sum: u32 = tar[..512].iter().map(|b| u32::from(*b)).sum();
        tar[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let (_d, plain) = index(&tar);
        assert!(plain.err().unwrap().message.contains("truncated"));
        std::fs::write(&gz, crate::fixtures::gzip(&tar)).unwrap();
        assert!(TarArchive::index_gzip(&gz, "x").is_err());
    }

    #[test]
    fn link_cycles_are_errors() {
        let tar = write_tar(
            &[("a", Kind::Symlink("b")), ("b", Kind::Symlink("a"))],
            false,
        );
        let (_d, archive) = index(&tar);
        assert!(archive.unwrap().locate("a").is_err());
    }

    #[test]
    fn normalize_paths() {
        assert_eq!(normalize("./a//b/../c").as_deref(), Some("a/c"));
        assert_eq!(normalize("/x").as_deref(), Some("x"));
        assert_eq!(normalize("./"), None);
        assert_eq!(normalize("../x"), None);
        assert_eq!(symlink_target("a/b", "../c").as_deref(), Some("c"));
        assert_eq!(symlink_target("a/b", "/c").as_deref(), Some("c"));
    }

    #[test]
    fn pax_records() {
        let mut p = Pending::default();
        let data = format!("{}{}", pax_record("path", "x/y"), pax_record("size", "42"));
        apply_pax(data.as_bytes(), &mut p).unwrap();
        assert_eq!(p.name.as_deref(), Some("x/y"));
        assert_eq!(p.size, Some(42));
        assert!(apply_pax(b"99 path=x\n", &mut Pending::default()).is_err());
    }
}

/// Property tests of the header parsers (run longer with `PROPTEST_CASES=100000 cargo test
/// proptest`): no bytes make them panic, and what the fixtures write reads back.
#[cfg(test)]
mod proptests {
    use super::*;
    use crate::fixtures::{LongNames, TarEntry, pax_record, tar_entries};
    use proptest::prelude::*;

    fn config() -> ProptestConfig {
        ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    /// A header block that is right often enough to get past the checksum: random fields, then
    /// the checksum written over them (or left random).
    fn block() -> impl Strategy<Value = [u8; 512]> {
        (
            proptest::collection::vec(any::<u8>(), 512),
            any::<bool>(),
            proptest::option::of(any::<u64>()),
        )
            .prop_map(|(bytes, fix_sum, size)| {
                let mut b = [0u8; 512];
                b.copy_from_slice(&bytes);
                if let Some(n) = size {
                    let field = format!("{:011o}\0", n % (1 << 33));
                    b[124..136].copy_from_slice(field.as_bytes());
                }
                if fix_sum {
                    b[148..156].fill(b' ');
                    let sum: u32 = b.iter().map(|x| u32::from(*x)).sum();
                    b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
                }
                b
            })
    }

    fn index_bytes(bytes: &[u8]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        std::fs::write(&path, bytes).unwrap();
        if let Ok(archive) = TarArchive::index(&path, "t") {
            for p in archive.entries.keys().cloned().collect::<Vec<_>>() {
                let _ = archive.read_small(&p);
            }
        }
        let gz = dir.path().join("a.tar.gz");
        std::fs::write(&gz, crate::fixtures::gzip(bytes)).unwrap();
        if let Ok(archive) = TarArchive::index_gzip(&gz, "t") {
            for p in archive.entries.keys().cloned().collect::<Vec<_>>() {
                let _ = archive.read_small(&p);
            }
        }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn header_parsing_never_panics(b in block(), pos in any::<u64>()) {
            let _ = parse_header(&b, pos);
            let _ = number(&b[124..136]);
            let _ = checksum_ok(&b);
        }

        #[test]
        fn numbers_never_panic_and_octal_round_trips(
            field in proptest::collection::vec(any::<u8>(), 0..16),
            n in 0u64..(1 << 33),
        ) {
            let _ = number(&field);
            prop_assert_eq!(number(format!("{n:011o}\0").as_bytes()), Some(n));
            // GNU base-256: the high bit set, then big-endian bytes.
            let mut b256 = [0u8; 12];
            b256[4..].copy_from_slice(&n.to_be_bytes());
            b256[0] = 0x80;
            prop_assert_eq!(number(&b256), Some(n));
        }

        #[test]
        fn pax_never_panics_and_records_round_trip(
            data in proptest::collection::vec(any::<u8>(), 0..300),
            path in "[^\0]{0,200}",
            size in any::<u64>(),
        ) {
            let _ = apply_pax(&data, &mut Pending::default());
            let mut p = Pending::default();
            let records = format!("{}{}", pax_record("path", &path), pax_record("size", &size.to_string()));
            apply_pax(records.as_bytes(), &mut p).unwrap();
            prop_assert_eq!(p.name, Some(path));
            prop_assert_eq!(p.size, Some(size));
        }

        #[test]
        fn normalize_never_panics_is_idempotent_and_stays_inside(path in "[a./]{0,30}|.{0,30}") {
            if let Some(n) = normalize(&path) {
                prop_assert_eq!(normalize(&n), Some(n.clone()));
                prop_assert!(!n.split('/').any(|c| c == ".." || c == "." || c.is_empty()));
            }
            let _ = symlink_target(&path, &path);
        }

        #[test]
        fn indexing_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
            index_bytes(&bytes);
        }

        #[test]
        fn indexing_damaged_archives_never_panics(
            names in proptest::collection::vec("[a-z./]{1,120}", 1..4),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
            cut in any::<prop::sample::Index>(),
            gnu in any::<bool>(),
        ) {
            let entries: Vec<(&str, TarEntry)> = names
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    // The fixture writes link targets into the 100-byte ustar field only.
                    let target = &names[0][..names[0].len().min(100)];
                    let e = match i % 3 {
                        0 => TarEntry::File(b"content"),
                        1 => TarEntry::Symlink(target),
                        _ => TarEntry::Hardlink(target),
                    };
                    (n.as_str(), e)
                })
                .collect();
            let mut tar = tar_entries(&entries, if gnu { LongNames::Gnu } else { LongNames::Pax });
            // Whole archives read back their files.
            index_bytes(&tar);
            for (at, value) in flips {
                let i = at.index(tar.len());
                tar[i] = value;
            }
            let len = cut.index(tar.len() + 1);
            index_bytes(&tar[..len]);
        }
    }
}
