//! Deterministic OCI image layouts for the demo, the benchmarks and the tests.
//!
//! Real images need a builder; these are small but valid images (tar layers, an image config with
//! `rootfs.diff_ids`, an OCI manifest, an `index.json`) written straight into an OCI image layout
//! directory, so that the same bytes, and so the same digests, come out on every machine.

use std::path::Path;

use serde_json::json;

use std::io::Write;

use sha2::{Digest, Sha256};

use crate::registry::media::{OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST, sha256_digest};

/// One file inside a layer.
pub struct File<'a> {
    pub path: &'a str,
    pub content: &'a [u8],
}

/// One entry of a tar archive written by [`tar_entries`].
pub enum TarEntry<'a> {
    File(&'a [u8]),
    Symlink(&'a str),
    Hardlink(&'a str),
    Dir,
}

/// How names longer than ustar's 100 bytes are written: a pax `path` record or a GNU `L` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongNames {
    Pax,
    Gnu,
}

/// A tar archive (ustar) holding `files`, with fixed owner and time so it is reproducible.
pub fn tar(files: &[File]) -> Vec<u8> {
    let entries: Vec<(&str, TarEntry)> = files
        .iter()
        .map(|f| (f.path, TarEntry::File(f.content)))
        .collect();
    tar_entries(&entries, LongNames::Pax)
}

/// A tar archive of files, links and directories; names over 100 bytes use `long`. Used by the
/// fixtures and by the tests of dockhand's own tar reader.
pub fn tar_entries(entries: &[(&str, TarEntry)], long: LongNames) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, entry) in entries {
        let (flag, data, link): (u8, &[u8], &str) = match entry {
            TarEntry::File(d) => (b'0', d, ""),
            TarEntry::Symlink(t) => (b'2', b"", t),
            TarEntry::Hardlink(t) => (b'1', b"", t),
            TarEntry::Dir => (b'5', b"", ""),
        };
        if name.len() > 100 {
            match long {
                LongNames::Gnu => tar_header(&mut out, "././@LongLink", b'L', name.as_bytes(), ""),
                LongNames::Pax => {
                    let record = pax_record("path", name);
                    tar_header(&mut out, "PaxHeaders.0/x", b'x', record.as_bytes(), "");
                }
            }
        }
        tar_header(&mut out, &name[..name.len().min(100)], flag, data, link);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// A pax extended header record: `<length> <key>=<value>\n`, the length counting itself.
pub fn pax_record(key: &str, value: &str) -> String {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}{body}").len() != len {
        len += 1;
    }
    format!("{len}{body}")
}

/// One ustar header and its data, padded to 512 bytes.
fn tar_header(out: &mut Vec<u8>, name: &str, flag: u8, data: &[u8], link: &str) {
    out.extend_from_slice(&header_block(name, flag, data.len() as u64, link));
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

/// One ustar header block for an entry of `size` bytes.
fn header_block(name: &str, flag: u8, size: u64, link: &str) -> [u8; 512] {
    let mut h = [0u8; 512];
    put(&mut h[0..100], name.as_bytes());
    put(&mut h[100..108], b"0000644\0");
    put(&mut h[108..116], b"0000000\0");
    put(&mut h[116..124], b"0000000\0");
    put(&mut h[124..136], format!("{size:011o}\0").as_bytes());
    put(&mut h[136..148], b"00000000000\0");
    h[156] = flag;
    put(&mut h[157..257], link.as_bytes());
    put(&mut h[257..263], b"ustar\0");
    put(&mut h[263..265], b"00");
    // The checksum is computed with its own field as spaces.
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    put(&mut h[148..156], format!("{sum:06o}\0 ").as_bytes());
    h
}

fn put(dst: &mut [u8], src: &[u8]) {
    dst[..src.len()].copy_from_slice(src);
}

/// gzip of `data` with a fixed header (no time, no name), so equal input gives equal bytes.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("writing to memory");
    e.finish().expect("writing to memory")
}

/// An image: layers (uncompressed tar bytes; stored gzip-compressed) and its config facts.
pub struct Image {
    pub layers: Vec<Vec<u8>>,
    pub created: String,
    pub cmd: Vec<String>,
    pub platform: (String, String),
}

/// Writes blobs into `dir/blobs/sha256/` and returns the manifest's (digest, size, bytes).
fn write_image(dir: &Path, image: &Image) -> std::io::Result<(String, usize, Vec<u8>)> {
    let mut layers = Vec::new();
    for l in &image.layers {
        let compressed = gzip(l);
        let d = write_blob(dir, &compressed)?;
        layers.push(json!({"mediaType": OCI_LAYER_GZIP, "digest": d, "size": compressed.len()}));
    }
    let diff_ids: Vec<String> = image.layers.iter().map(|l| sha256_digest(l)).collect();
    let config = serde_json::to_vec(&json!({
        "architecture": image.platform.1,
        "os": image.platform.0,
        "created": image.created,
        "config": {"Cmd": image.cmd},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))?;
    let config_digest = write_blob(dir, &config)?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": layers,
    }))?;
    let digest = write_blob(dir, &manifest)?;
    Ok((digest, manifest.len(), manifest))
}

fn write_blob(dir: &Path, bytes: &[u8]) -> std::io::Result<String> {
    let digest = sha256_digest(bytes);
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs)?;
    let path = blobs.join(digest.trim_start_matches("sha256:"));
    if !path.exists() {
        std::fs::write(path, bytes)?;
    }
    Ok(digest)
}

fn write_index(dir: &Path, entries: &[serde_json::Value]) -> std::io::Result<()> {
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries});
    std::fs::write(dir.join("index.json"), serde_json::to_vec_pretty(&index)?)
}

/// Writes an OCI layout at `dir` holding `image` under the reference name `tag`; returns the
/// manifest digest.
pub fn write_layout(dir: &Path, tag: &str, image: &Image) -> std::io::Result<String> {
    let (digest, size, _) = write_image(dir, image)?;
    write_index(
        dir,
        &[json!({
            "mediaType": OCI_MANIFEST, "digest": digest, "size": size,
            "annotations": {"org.opencontainers.image.ref.name": tag},
        })],
    )?;
    Ok(digest)
}

/// Writes a multi-platform layout: an image index with one child per image; returns the index
/// digest.
pub fn write_multiarch_layout(dir: &Path, tag: &str, images: &[Image]) -> std::io::Result<String> {
    let mut children = Vec::new();
    for image in images {
        let (digest, size, _) = write_image(dir, image)?;
        children.push(json!({
            "mediaType": OCI_MANIFEST, "digest": digest, "size": size,
            "platform": {"os": image.platform.0, "architecture": image.platform.1},
        }));
    }
    let index = serde_json::to_vec(
        &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}),
    )?;
    let digest = write_blob(dir, &index)?;
    write_index(
        dir,
        &[json!({
            "mediaType": OCI_INDEX, "digest": digest, "size": index.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        })],
    )?;
    Ok(digest)
}

/// Adds to the layout at `dir` an artifact whose `subject` is the manifest `subject` (digest) of
/// that layout, as an unnamed `index.json` entry (where oras keeps referrers in a layout): the
/// empty config, one layer `payload` of `artifact_type`. Returns the artifact's digest.
pub fn add_layout_referrer(
    dir: &Path,
    subject: &str,
    artifact_type: &str,
    payload: &[u8],
) -> std::io::Result<String> {
    let hex = subject.trim_start_matches("sha256:");
    let subject_bytes = std::fs::read(dir.join("blobs").join("sha256").join(hex))?;
    let subject_type = serde_json::from_slice::<serde_json::Value>(&subject_bytes)?["mediaType"]
        .as_str()
        .unwrap_or(OCI_MANIFEST)
        .to_string();
    let empty = write_blob(dir, b"{}")?;
    let layer = write_blob(dir, payload)?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": artifact_type, "digest": layer, "size": payload.len()}],
        "subject": {"mediaType": subject_type, "digest": subject, "size": subject_bytes.len()},
        "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
    }))?;
    let digest = write_blob(dir, &manifest)?;
    let index_path = dir.join("index.json");
    let mut index: serde_json::Value = serde_json::from_slice(&std::fs::read(&index_path)?)?;
    index["manifests"]
        .as_array_mut()
        .expect("index.json lists manifests")
        .push(json!({
            "mediaType": OCI_MANIFEST, "digest": digest, "size": manifest.len(),
            "artifactType": artifact_type,
        }));
    std::fs::write(index_path, serde_json::to_vec_pretty(&index)?)?;
    Ok(digest)
}

/// The seed example: `backend` and `frontend` built from one Dockerfile with two targets, so they
/// share their base layer. Writes `dir/backend` and `dir/frontend`; returns (name, digest) pairs.
pub fn seed_example(dir: &Path) -> std::io::Result<Vec<(String, String)>> {
    seed_example_variant(dir, None)
}

/// The seed example built from another commit: `variant` changes each image's own layer (the
/// base stays shared), so each variant has its own digests.
pub fn seed_example_variant(
    dir: &Path,
    variant: Option<&str>,
) -> std::io::Result<Vec<(String, String)>> {
    let base = tar(&[
        File {
            path: "etc/os-release",
            content: b"NAME=dockhand-demo\nID=demo\n",
        },
        File {
            path: "usr/share/demo/README",
            content: b"shared base layer of the seed example\n",
        },
    ]);
    let mut out = Vec::new();
    for (name, app) in [
        ("backend", &b"#!/bin/sh\necho backend\n"[..]),
        ("frontend", &b"<html>frontend</html>\n"[..]),
    ] {
        let path = format!("app/{name}");
        let mut files = vec![File {
            path: &path,
            content: app,
        }];
        if let Some(v) = variant {
            files.push(File {
                path: "app/VERSION",
                content: v.as_bytes(),
            });
        }
        let own = tar(&files);
        let image = Image {
            layers: vec![base.clone(), own],
            created: "2024-05-01T12:00:00Z".into(),
            cmd: vec![format!("/app/{name}")],
            platform: ("linux".into(), "amd64".into()),
        };
        let digest = write_layout(&dir.join(name), "latest", &image)?;
        out.push((name.to_string(), digest));
    }
    Ok(out)
}

/// Writes a gzip'd tar of one file of `size` pseudo-random bytes straight to the blob store,
/// streaming; returns (digest, size, diff_id).
fn write_random_layer(
    dir: &Path,
    seed: u64,
    size: usize,
) -> std::io::Result<(String, u64, String)> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("tmp-{seed}"));
    let file = std::fs::File::create(&tmp)?;
    let mut tar_hash = Sha256::new();
    struct Tee<W: Write> {
        inner: W,
        hash: Sha256,
        len: u64,
    }
    impl<W: Write> Write for Tee<W> {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let n = self.inner.write(b)?;
            self.hash.update(&b[..n]);
            self.len += n as u64;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.inner.flush()
        }
    }
    let tee = Tee {
        inner: std::io::BufWriter::new(file),
        hash: Sha256::new(),
        len: 0,
    };
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(tee, flate2::Compression::none());
    let header = tar(&[File {
        path: "data",
        content: &[],
    }]);
    // A ustar header for a file of `size` bytes: reuse the fixture writer's header for an empty
    // file and patch the size field (octal) and checksum.
    let mut h = header[..512].to_vec();
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut emit = |b: &[u8],
                    gz: &mut flate2::write::GzEncoder<Tee<std::io::BufWriter<std::fs::File>>>|
     -> std::io::Result<()> {
        tar_hash.update(b);
        gz.write_all(b)
    };
    emit(&h, &mut gz)?;
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len());
        for w in chunk[..n].chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let bytes = state.to_le_bytes();
            w.copy_from_slice(&bytes[..w.len()]);
        }
        emit(&chunk[..n], &mut gz)?;
        left -= n;
    }
    let pad = (512 - size % 512) % 512 + 1024;
    emit(&vec![0u8; pad], &mut gz)?;
    let mut tee = gz.finish()?;
    tee.flush()?;
    let len = tee.len;
    let digest = format!("sha256:{}", hex::encode(tee.hash.finalize()));
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)?;
    std::fs::rename(&tmp, blobs.join(&digest["sha256:".len()..]))?;
    Ok((
        digest,
        len,
        format!("sha256:{}", hex::encode(tar_hash.finalize())),
    ))
}

/// An image layout (tag `latest`) from layer (seed, MiB) pairs of incompressible data, streamed to
/// disk (a 1 GiB layer never sits in memory); layers with equal seeds are equal. Returns the
/// manifest digest. Layers are gzip streams of stored blocks: valid, and fast to write.
pub fn write_random_layout(dir: &Path, layers: &[(u64, usize)]) -> std::io::Result<String> {
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for (seed, mib) in layers {
        let (d, size, diff) = write_random_layer(dir, *seed, mib << 20)?;
        descs.push(serde_json::json!({"mediaType": OCI_LAYER_GZIP, "digest": d, "size": size}));
        diff_ids.push(diff);
    }
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2024-05-01T12:00:00Z",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))?;
    let cd = write_blob(dir, &config)?;
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": cd, "size": config.len()},
        "layers": descs,
    }))?;
    let md = write_blob(dir, &manifest)?;
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{
        "mediaType": OCI_MANIFEST, "digest": md, "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index)?)?;
    Ok(md)
}

/// A gzip-compressed OCI archive (`oci-archive:FILE`) whose one layer is `mib` MiB of zeros,
/// stored uncompressed: a few hundred KiB on disk that expand a thousandfold (a gzip bomb, yet a
/// valid image). Streamed, so the zeros never sit in memory. The layer comes first in the tar,
/// before the small documents, as the hardest order for a reader of the stream. Returns the
/// manifest digest.
pub fn write_zero_bomb_archive(path: &Path, mib: u64) -> std::io::Result<String> {
    let zeros = vec![0u8; 1 << 20];
    let mut hasher = Sha256::new();
    for _ in 0..mib {
        hasher.update(&zeros);
    }
    let layer = format!("sha256:{}", hex::encode(hasher.finalize()));
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "created": "2024-05-01T12:00:00Z",
        "rootfs": {"type": "layers", "diff_ids": [layer]},
    }))?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(&config), "size": config.len()},
        "layers": [{"mediaType": crate::registry::media::OCI_LAYER, "digest": layer, "size": mib << 20}],
    }))?;
    let digest = sha256_digest(&manifest);
    let index = serde_json::to_vec(
        &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{
        "mediaType": OCI_MANIFEST, "digest": digest, "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}),
    )?;
    let blob = |d: &str| format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(file, flate2::Compression::default());
    gz.write_all(&header_block(&blob(&layer), b'0', mib << 20, ""))?;
    for _ in 0..mib {
        gz.write_all(&zeros)?;
    }
    let mut rest = Vec::new();
    tar_header(&mut rest, &blob(&sha256_digest(&config)), b'0', &config, "");
    tar_header(&mut rest, &blob(&digest), b'0', &manifest, "");
    tar_header(
        &mut rest,
        "oci-layout",
        b'0',
        br#"{"imageLayoutVersion":"1.0.0"}"#,
        "",
    );
    tar_header(&mut rest, "index.json", b'0', &index, "");
    rest.resize(rest.len() + 1024, 0);
    gz.write_all(&rest)?;
    gz.finish()?.flush()?;
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_headers_are_valid() {
        let t = tar(&[File {
            path: "a.txt",
            content: b"hello",
        }]);
        assert_eq!(t.len(), 512 + 512 + 1024);
        assert_eq!(&t[257..262], b"ustar");
        // Checksum as written equals the sum with the field blanked.
        let mut h = t[..512].to_vec();
        let written = u32::from_str_radix(std::str::from_utf8(&h[148..154]).unwrap(), 8).unwrap();
        h[148..156].fill(b' ');
        assert_eq!(written, h.iter().map(|b| u32::from(*b)).sum::<u32>());
    }

    #[test]
    fn seed_example_is_reproducible_and_shares_the_base() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let da = seed_example(a.path()).unwrap();
        let db = seed_example(b.path()).unwrap();
        assert_eq!(da, db);
        assert_ne!(da[0].1, da[1].1);
        let blobs = |p: &Path| {
            std::fs::read_dir(p.join("blobs/sha256"))
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect::<std::collections::BTreeSet<_>>()
        };
        let shared = blobs(&a.path().join("backend"))
            .intersection(&blobs(&a.path().join("frontend")))
            .count();
        assert_eq!(shared, 1, "the base layer is the one blob both images have");
    }
}
