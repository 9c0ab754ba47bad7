//! An image to publish, wherever it was built: a local layout or archive, or a registry.
//!
//! The copy engine sees one shape: the root manifest, every manifest below it by digest (index
//! children, exact bytes), and a way to stream each blob.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::StreamExt;

use super::source::{BlobLocation, LocalImage, SourceSpec, open_local};
use crate::error::{Error, Result};
use crate::implementation::registry_api_host;
use crate::naming::reference::Reference;
use crate::registry::distribution::{Distribution, Repo, file_range_body};
use crate::registry::media::{Descriptor, Manifest};
use crate::registry::transport::Body;

pub enum Origin {
    Local(LocalImage),
    /// A registry: blobs are streamed from it, or mounted when it is the destination's registry.
    Registry {
        oci: Distribution,
        repo: Repo,
    },
}

pub struct SourceImage {
    pub root: Manifest,
    pub manifests: HashMap<String, Manifest>,
    pub origin: Origin,
    /// The manifest was built by dockhand (docker-archive without an OCI index).
    pub converted: bool,
    /// What the user wrote, for messages.
    pub label: String,
}

impl SourceImage {
    /// Reads a source. Local sources are read from disk; registry sources are fetched (manifests
    /// only; blobs stream during the copy).
    pub async fn open(text: &str, oci: &Distribution) -> Result<SourceImage> {
        let spec = SourceSpec::parse(text)?;
        match spec {
            SourceSpec::Registry(reference) => Self::open_registry(text, &reference, oci).await,
            local => {
                let path_text = text.to_string();
                let image = tokio::task::spawn_blocking(move || open_local(&local))
                    .await
                    .map_err(|e| {
                        Error::operation(format!("reading {path_text}: {e}")).with_source(e)
                    })??;
                Ok(SourceImage {
                    root: image.root.clone(),
                    manifests: image.manifests.clone(),
                    converted: image.converted,
                    origin: Origin::Local(image),
                    label: text.to_string(),
                })
            }
        }
    }

    async fn open_registry(text: &str, reference: &str, oci: &Distribution) -> Result<SourceImage> {
        let r = Reference::parse(reference)
            .map_err(|e| Error::input(format!("source {text:?}: {e}")).with_source(e))?;
        let repo = Repo::new(registry_api_host(&r.registry), r.repository.clone());
        let wanted = r
            .digest
            .as_ref()
            .map(|d| d.to_string())
            .or(r.tag.clone())
            .unwrap_or_else(|| "latest".into());
        let root = oci.get_manifest(&repo, &wanted).await?.ok_or_else(|| {
            Error::input(format!("source {text:?}: {repo}:{wanted} does not exist"))
        })?;
        let mut manifests = HashMap::new();
        for child in root.fields().map(|f| f.manifests).unwrap_or_default() {
            let m = oci
                .get_manifest(&repo, &child.digest)
                .await?
                .ok_or_else(|| {
                    Error::operation(format!(
                        "source {text:?}: child {} of the index is missing",
                        child.digest
                    ))
                })?;
            manifests.insert(m.digest.clone(), m);
        }
        manifests.insert(root.digest.clone(), root.clone());
        Ok(SourceImage {
            root,
            manifests,
            converted: false,
            origin: Origin::Registry {
                oci: oci.clone(),
                repo,
            },
            label: text.to_string(),
        })
    }

    /// Manifests in push order: children before the index that lists them.
    pub fn manifests_in_order(&self) -> Vec<&Manifest> {
        let mut out: Vec<&Manifest> = Vec::new();
        if let Ok(f) = self.root.fields() {
            for child in f.manifests {
                if let Some(m) = self.manifests.get(&child.digest) {
                    out.push(m);
                }
            }
        }
        out.push(&self.root);
        out
    }

    /// Every blob of every manifest, each once (config and layers).
    pub fn blobs(&self) -> Result<Vec<Descriptor>> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for m in self.manifests_in_order() {
            let blobs = m.blobs().map_err(|e| {
                Error::input(format!(
                    "source {}: manifest {} is not valid JSON: {e}",
                    self.label, m.digest
                ))
                .with_source(e)
            })?;
            for b in blobs {
                if seen.insert(b.digest.clone()) {
                    out.push(b);
                }
            }
        }
        Ok(out)
    }

    /// The source repository for a cross-repository mount, if the blobs are in a registry.
    pub fn registry_repo(&self) -> Option<&Repo> {
        match &self.origin {
            Origin::Registry { repo, .. } => Some(repo),
            Origin::Local(_) => None,
        }
    }

    /// A replayable body for one blob.
    pub fn blob_body(&self, blob: &Descriptor) -> Result<Body> {
        match &self.origin {
            Origin::Local(image) => match image.blobs.get(&blob.digest) {
                Some(BlobLocation::File { path, offset, len }) => {
                    Ok(file_range_body(path.clone(), *offset, *len))
                }
                Some(gz @ BlobLocation::Gzip { .. }) => Ok(reader_body(gz.clone())),
                Some(BlobLocation::Memory(bytes)) => Ok(Body::Bytes(bytes.clone())),
                None => Err(Error::input(format!(
                    "source {}: blob {} is missing",
                    self.label, blob.digest
                ))),
            },
            Origin::Registry { oci, repo } => {
                let (oci, repo, digest) = (oci.clone(), repo.clone(), blob.digest.clone());
                Ok(Body::Stream {
                    len: blob.size,
                    make: Arc::new(move || {
                        let (oci, repo, digest) = (oci.clone(), repo.clone(), digest.clone());
                        let stream = futures_util::stream::once(async move {
                            let resp = oci
                                .get_blob(&repo, &digest)
                                .await
                                .map_err(std::io::Error::other)?;
                            Ok::<_, std::io::Error>(
                                resp.bytes_stream()
                                    .map(|r| r.map_err(std::io::Error::other)),
                            )
                        });
                        reqwest::Body::wrap_stream(
                            stream
                                .map(|r| match r {
                                    Ok(s) => s.left_stream(),
                                    Err(e) => futures_util::stream::once(async move { Err(e) })
                                        .right_stream(),
                                })
                                .flatten(),
                        )
                    }),
                })
            }
        }
    }
}

/// A body streamed from a blocking reader (a blob inside a gzip-compressed archive), opened
/// anew for each attempt. The reader runs on the blocking pool and hands chunks over a small
/// channel, so at most a few chunks are in memory whatever the blob's size.
fn reader_body(location: BlobLocation) -> Body {
    const CHUNK: usize = 256 << 10;
    let len = location.len();
    let location = Arc::new(location);
    Body::Stream {
        len,
        make: Arc::new(move || {
            let location = location.clone();
            let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
            tokio::task::spawn_blocking(move || {
                use std::io::Read;
                let mut reader = match location.open() {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                };
                loop {
                    let mut buf = vec![0u8; CHUNK];
                    match reader.read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => {
                            buf.truncate(n);
                            // The receiver is gone when the request was dropped: stop reading.
                            if tx.blocking_send(Ok(bytes::Bytes::from(buf))).is_err() {
                                return;
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            let _ = tx.blocking_send(Err(e));
                            return;
                        }
                    }
                }
            });
            let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            });
            reqwest::Body::wrap_stream(stream)
        }),
    }
}
