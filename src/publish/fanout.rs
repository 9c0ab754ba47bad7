//! One read of a source blob for the uploads of several registries.
//!
//! When a run publishes to more than one registry, a blob that several of them lack is read from
//! the source once and its chunks go to every upload at the same time: each upload takes them
//! through a small channel, so the slowest upload paces the read and memory stays at a few chunks
//! per upload whatever the blob's size. Within one registry a blob is uploaded to one repository;
//! the copy engine mounts it into the others.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::BodyExt;

use super::copy::{Engine, SourceStats};
use super::image::SourceImage;
use crate::error::Result;
use crate::registry::distribution::Repo;
use crate::registry::media::Descriptor;
use crate::registry::transport::Body;

/// Chunks buffered per upload: the reader waits for the slowest upload beyond that.
const CHUNKS_PER_UPLOAD: usize = 4;

/// One upload of the fan-out: the registry's engine and the repository to upload into.
pub struct Upload<'a> {
    pub engine: &'a Engine,
    pub repo: &'a Repo,
}

/// Reads `blob` from `src` once and uploads it to every one of `uploads` at the same time.
/// Returns each upload's result, in order; a failed upload does not stop the others (a retry of
/// it, or the copy that follows, reads the source again, counted).
pub async fn fan_out(
    src: &SourceImage,
    blob: &Descriptor,
    uploads: &[Upload<'_>],
    stats: &Arc<SourceStats>,
) -> Vec<Result<()>> {
    let body = match src.blob_body(blob) {
        Ok(b) => b,
        Err(e) => return uploads.iter().map(|_| Err(e.clone())).collect(),
    };
    stats.count(blob.size);
    let reader = match body {
        Body::Stream { make, .. } => make(),
        Body::Bytes(b) => reqwest::Body::from(b),
        Body::Empty => reqwest::Body::from(Bytes::new()),
    };
    let mut senders = Vec::new();
    let mut bodies = Vec::new();
    for _ in uploads {
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(CHUNKS_PER_UPLOAD);
        senders.push(Some(tx));
        let fallback = match src.blob_body(blob) {
            Ok(b) => b,
            Err(e) => return uploads.iter().map(|_| Err(e.clone())).collect(),
        };
        bodies.push(channel_body(rx, blob.size, fallback, stats.clone()));
    }
    let pump = async move {
        let mut stream = reader.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(std::io::Error::other);
            let mut open = 0;
            for slot in senders.iter_mut() {
                let Some(tx) = slot else { continue };
                let item = match &chunk {
                    Ok(b) => Ok(b.clone()),
                    Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
                };
                // A closed channel is an upload that ended (failed): the others go on.
                if tx.send(item).await.is_err() {
                    *slot = None;
                } else {
                    open += 1;
                }
            }
            if open == 0 || chunk.is_err() {
                break;
            }
        }
    };
    let work = futures_util::future::join_all(
        uploads
            .iter()
            .zip(bodies)
            .map(|(u, body)| u.engine.upload_given(u.repo, blob, body)),
    );
    let ((), results) = tokio::join!(pump, work);
    results
}

/// A body fed by the fan-out's channel. Its first sending takes the shared read; a retry of the
/// same request (the transport makes the body anew) reads the source itself, counted.
fn channel_body(
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    len: u64,
    fallback: Body,
    stats: Arc<SourceStats>,
) -> Body {
    let rx = Arc::new(Mutex::new(Some(rx)));
    Body::Stream {
        len,
        make: Arc::new(move || {
            let taken = rx.lock().unwrap_or_else(|p| p.into_inner()).take();
            match taken {
                Some(rx) => {
                    reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async {
                        rx.recv().await.map(|item| (item, rx))
                    }))
                }
                None => {
                    stats.count(len);
                    match &fallback {
                        Body::Stream { make, .. } => make(),
                        Body::Bytes(b) => reqwest::Body::from(b.clone()),
                        Body::Empty => reqwest::Body::from(Bytes::new()),
                    }
                }
            }
        }),
    }
}
