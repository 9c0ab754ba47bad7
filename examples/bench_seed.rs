//! Seeding for `bench/cleanup`: many tags, each on its own tiny image, quickly.
//!
//! `bench_seed KEEP OLD HOST/REPO...` gives every repository `KEEP` tags `keep-0..` and `OLD` tags
//! `old-0..`. All images share one config (with a fixed `created` time, so age rules can decide)
//! and one small layer, uploaded once per repository; each manifest carries its own annotation
//! (`bench.tag`), so every tag has its own digest and deleting one digest removes exactly one tag.
//! The bytes depend only on the repository name and the tag, so two registries seeded with the
//! same arguments hold the same digests. Manifest PUTs go out with bounded concurrency.
//! stdout gets one line per tag: `HOST/REPO TAG DIGEST`.

use std::io::Write;
use std::time::Instant;

use futures_util::StreamExt;

use dockhand::registry::credentials::CredentialStore;
use dockhand::registry::distribution::{Distribution, Repo, bytes_body};
use dockhand::registry::media::{
    Manifest, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, sha256_digest,
};
use dockhand::registry::transport::{Transport, TransportConfig};

const CONCURRENCY: usize = 32;

fn layer() -> (Vec<u8>, String) {
    let tar = dockhand::fixtures::tar(&[dockhand::fixtures::File {
        path: "bench.txt",
        content: b"dockhand bench/cleanup\n",
    }]);
    let diff_id = sha256_digest(&tar);
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).expect("in memory");
    (gz.finish().expect("in memory"), diff_id)
}

fn descriptor(media_type: &str, bytes: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "mediaType": media_type,
        "digest": sha256_digest(bytes),
        "size": bytes.len(),
    })
}

async fn seed(
    oci: &Distribution,
    repo: &Repo,
    keep: usize,
    old: usize,
    config: &[u8],
    layer: &[u8],
) -> Result<Vec<(String, String)>, String> {
    for blob in [config, layer] {
        let digest = sha256_digest(blob);
        if oci
            .head_blob(repo, &digest)
            .await
            .map_err(|e| e.to_string())?
            .is_none()
        {
            oci.upload_blob(repo, &digest, bytes_body(blob.to_vec()))
                .await
                .map_err(|e| format!("{repo}: upload {digest}: {e}"))?;
        }
    }
    let config_d = descriptor(OCI_CONFIG, config);
    let layer_d = descriptor(OCI_LAYER_GZIP, layer);
    let tags: Vec<String> = (0..keep)
        .map(|i| format!("keep-{i}"))
        .chain((0..old).map(|i| format!("old-{i}")))
        .collect();
    let results: Vec<Result<(String, String), String>> = futures_util::stream::iter(tags)
        .map(|tag| {
            let body = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": config_d,
                "layers": [layer_d],
                "annotations": {"bench.repository": repo.name, "bench.tag": tag},
            });
            let manifest = Manifest::new(
                serde_json::to_vec(&body).expect("json").into(),
                Some(OCI_MANIFEST),
            );
            async move {
                oci.put_manifest(repo, &tag, &manifest)
                    .await
                    .map(|digest| (tag.clone(), digest))
                    .map_err(|e| format!("{repo}:{tag}: {e}"))
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: bench_seed KEEP OLD HOST/REPO...";
    let (Some(keep), Some(old)) = (
        args.first().and_then(|s| s.parse::<usize>().ok()),
        args.get(1).and_then(|s| s.parse::<usize>().ok()),
    ) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let repos: Vec<Repo> = match args[2..].iter().map(|r| Repo::parse(r)).collect() {
        Some(r) if !args[2..].is_empty() => r,
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let transport = Transport::new(
        TransportConfig {
            concurrency: CONCURRENCY,
            ..Default::default()
        },
        CredentialStore::default(),
    )
    .unwrap_or_else(|e| {
        eprintln!("bench_seed: {e}");
        std::process::exit(1);
    });
    let oci = Distribution::new(transport);
    let (layer, diff_id) = layer();
    let config = serde_json::to_vec(&serde_json::json!({
        "created": "2020-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))
    .expect("json");

    let t0 = Instant::now();
    let results = futures_util::future::join_all(
        repos
            .iter()
            .map(|repo| seed(&oci, repo, keep, old, &config, &layer)),
    )
    .await;
    let mut total = 0;
    let mut out = String::new();
    for (repo, r) in repos.iter().zip(results) {
        match r {
            Ok(tags) => {
                total += tags.len();
                for (tag, digest) in tags {
                    out.push_str(&format!("{repo} {tag} {digest}\n"));
                }
            }
            Err(e) => {
                eprintln!("bench_seed: {repo}: {e}");
                std::process::exit(1);
            }
        }
    }
    print!("{out}");
    eprintln!(
        "bench_seed: {total} tags over {} repositories in {:.2} s",
        repos.len(),
        t0.elapsed().as_secs_f64()
    );
}
