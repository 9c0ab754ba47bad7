//! Fixtures for `bench/publish`, written as OCI layouts with incompressible layers.
//!
//! `bench_fixtures set DIR` writes 10 images of 5 layers each: 3 base layers shared by all
//! (20 MiB each) and 2 layers of their own (7 MiB each), about 200 MiB of unique bytes.
//! `bench_fixtures big DIR MIB` writes one image with a single layer of MIB mebibytes.
//! Layers are gzip streams of stored (uncompressed) blocks: valid, and fast to write.

use std::io::Write;
use std::path::Path;

use dockhand::registry::media::{
    OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST, sha256_digest,
};
use sha2::{Digest, Sha256};

/// Writes a gzip'd tar of one file of `size` pseudo-random bytes straight to the blob store,
/// streaming; returns (digest, size, diff_id).
fn write_layer(dir: &Path, seed: u64, size: usize) -> std::io::Result<(String, u64, String)> {
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
    let header = dockhand::fixtures::tar(&[dockhand::fixtures::File {
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

fn write_small_blob(dir: &Path, bytes: &[u8]) -> std::io::Result<String> {
    let d = sha256_digest(bytes);
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)?;
    std::fs::write(blobs.join(&d["sha256:".len()..]), bytes)?;
    Ok(d)
}

/// An image layout from layer (seed, MiB) pairs; layers with equal seeds are equal.
fn image(dir: &Path, layers: &[(u64, usize)]) -> std::io::Result<()> {
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for (seed, mib) in layers {
        let (d, size, diff) = write_layer(dir, *seed, mib << 20)?;
        descs.push(serde_json::json!({"mediaType": OCI_LAYER_GZIP, "digest": d, "size": size}));
        diff_ids.push(diff);
    }
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2024-05-01T12:00:00Z",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))?;
    let cd = write_small_blob(dir, &config)?;
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": cd, "size": config.len()},
        "layers": descs,
    }))?;
    let md = write_small_blob(dir, &manifest)?;
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{
        "mediaType": OCI_MANIFEST, "digest": md, "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index)?)
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("set") => {
            let dir = Path::new(&args[2]);
            for i in 0..10u64 {
                let layers = [
                    (1, 20),
                    (2, 20),
                    (3, 20),
                    (100 + 2 * i, 7),
                    (101 + 2 * i, 7),
                ];
                image(&dir.join(format!("img{i}")), &layers)?;
            }
        }
        Some("big") => {
            let mib: usize = args[3].parse().expect("size in MiB");
            image(Path::new(&args[2]), &[(7, mib)])?;
        }
        _ => {
            eprintln!("usage: bench_fixtures set DIR | big DIR MIB");
            std::process::exit(2);
        }
    }
    Ok(())
}
