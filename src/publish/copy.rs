//! The copy engine: puts a source image into a destination repository under some tags.
//!
//! Order: blobs, then child manifests, then the root manifest under each tag, so a tag only ever
//! points at complete content. Each blob is checked with HEAD, mounted from a repository of the
//! same registry that has it (the source, or where this run uploaded it), or uploaded as a stream.
//! A blob shared by several images of the run is uploaded once per registry: the first task
//! uploads, the others wait for it and mount.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::OnceCell;

use super::image::SourceImage;
use crate::error::{Error, Kind, Result};
use crate::origin::{self, Origin};
use crate::registry::distribution::{Distribution, Mounted, Repo};
use crate::registry::media::{Descriptor, EMPTY_DIGEST, Manifest};
use crate::registry::transport::Body;

/// How many times one blob upload is restarted after the registry broke it off.
const UPLOAD_ATTEMPTS: u32 = 3;

#[derive(Debug, Default)]
pub struct Stats {
    pub bytes_uploaded: AtomicU64,
    pub blobs_uploaded: AtomicU64,
    pub blobs_mounted: AtomicU64,
    pub blobs_present: AtomicU64,
    pub manifests_put: AtomicU64,
}

tokio::task_local! {
    /// Bytes uploaded for the image whose publish runs in this task-local scope ([`counting`]).
    static IMAGE_BYTES: Arc<AtomicU64>;
}

/// Runs `work` (an [`Engine::publish`]) adding the bytes it uploads to `counter` too, for a
/// progress line per image. The engine's uploads run inside the future (no spawned tasks), so
/// the task-local value reaches them.
pub async fn counting<F: std::future::Future>(counter: Arc<AtomicU64>, work: F) -> F::Output {
    IMAGE_BYTES.scope(counter, work).await
}

/// What happened to one blob in one repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobOutcome {
    Present,
    Mounted,
    Uploaded,
    /// Dry run: would be uploaded (or mounted).
    Missing,
}

/// What the engine did for one image: per tag whether it changed, and the blob counts.
#[derive(Debug, Clone, Default)]
pub struct ImageTransfer {
    pub changed_tags: Vec<String>,
    pub unchanged_tags: Vec<String>,
    pub uploaded: u64,
    pub uploaded_bytes: u64,
    pub mounted: u64,
    pub present: u64,
    pub missing: u64,
    pub missing_bytes: u64,
}

/// Per (host, digest): the repository of the destination registry that has the blob, set once.
type Located = Mutex<HashMap<(String, String), Arc<OnceCell<Repo>>>>;

/// Per (repository, subject digest): the lock around its fallback referrers index.
type RecordLocks = Mutex<HashMap<(Repo, String), Arc<tokio::sync::Mutex<()>>>>;

pub struct Engine {
    oci: Distribution,
    mount: bool,
    dry_run: bool,
    concurrency: usize,
    /// Where on the destination registry a blob is known to be: (host, digest) → repository.
    located: Located,
    present: Mutex<HashSet<(Repo, String)>>,
    /// Fallback referrers indexes are read-modify-write: one update at a time per index.
    records: RecordLocks,
    pub stats: Stats,
    /// Reads of source blobs, shared by the engines of every registry of a run.
    source: Arc<SourceStats>,
}

impl Engine {
    pub fn new(oci: Distribution, mount: bool, dry_run: bool, concurrency: usize) -> Engine {
        Engine {
            oci,
            mount,
            dry_run,
            concurrency: concurrency.max(1),
            located: Mutex::new(HashMap::new()),
            present: Mutex::new(HashSet::new()),
            records: Mutex::new(HashMap::new()),
            stats: Stats::default(),
            source: Arc::default(),
        }
    }

    /// Counts this engine's source reads in `stats` (the run's, shared by every registry).
    pub fn with_source_stats(mut self, stats: Arc<SourceStats>) -> Engine {
        self.source = stats;
        self
    }

    pub fn oci(&self) -> &Distribution {
        &self.oci
    }

    /// Whether blobs can be mounted between repositories of this engine's registry.
    pub fn mounts(&self) -> bool {
        self.mount
    }

    /// Records what a look before the copy found: `repo` has the blob.
    pub fn note_present(&self, repo: &Repo, digest: &str) {
        self.mark_present(repo, digest);
        let cell = self.cell(repo, digest);
        let _ = cell.set(repo.clone());
    }

    /// Uploads a blob whose body comes from elsewhere (the fan-out of one source read), and
    /// records it as placed in `repo` so that the copy mounts it from there or skips it.
    pub async fn upload_given(&self, repo: &Repo, blob: &Descriptor, body: Body) -> Result<()> {
        self.oci.upload_blob(repo, &blob.digest, body).await?;
        self.count_upload(blob);
        self.note_present(repo, &blob.digest);
        Ok(())
    }

    /// Publishes `src` to `repo` under every tag in `tags`, and attaches an origin record for
    /// each tag that changed (`origins`: the records to attach, or empty for none).
    pub async fn publish(
        &self,
        src: &SourceImage,
        repo: &Repo,
        tags: &[String],
        origins: &[Origin],
    ) -> Result<ImageTransfer> {
        let mut t = ImageTransfer::default();
        let heads = futures_util::future::join_all(
            tags.iter().map(|tag| self.oci.head_manifest(repo, tag)),
        )
        .await;
        for (tag, head) in tags.iter().zip(heads) {
            match head? {
                Some(d) if d.digest == src.root.digest => t.unchanged_tags.push(tag.clone()),
                _ => t.changed_tags.push(tag.clone()),
            }
        }
        if t.changed_tags.is_empty() {
            return Ok(t);
        }
        // A tag already on this digest proves the content is complete in this repository.
        if t.unchanged_tags.is_empty() {
            self.ensure_content(src, repo, &mut t).await?;
        }
        if self.dry_run {
            return Ok(t);
        }
        for tag in &t.changed_tags {
            self.oci
                .put_manifest(repo, tag, &src.root)
                .await
                .map_err(|e| explain_push_error(e, repo))?;
            self.stats.manifests_put.fetch_add(1, Ordering::Relaxed);
        }
        let changed: Vec<&Origin> = origins
            .iter()
            .filter(|o| t.changed_tags.contains(&o.tag))
            .collect();
        if !changed.is_empty()
            && let Err(e) = self.record(src, repo, &changed).await
        {
            // The image is published; without the record cleanup simply cannot prove its origin.
            crate::log::warn(&format!(
                "{repo}: could not attach the origin record ({e}); git-aware cleanup will keep these tags"
            ));
        }
        Ok(t)
    }

    async fn record(&self, src: &SourceImage, repo: &Repo, origins: &[&Origin]) -> Result<()> {
        // One update at a time per fallback index (same repository and subject); others run freely.
        let lock = {
            let mut locks = self.records.lock().unwrap_or_else(|p| p.into_inner());
            locks
                .entry((repo.clone(), src.root.digest.clone()))
                .or_default()
                .clone()
        };
        let _one_at_a_time = lock.lock().await;
        if !self.known_present(repo, EMPTY_DIGEST) {
            self.oci.ensure_empty_blob(repo).await?;
            self.mark_present(repo, EMPTY_DIGEST);
        }
        let subject = src.root.descriptor();
        for o in origins {
            let m = origin::manifest(o, &subject);
            self.oci
                .push_referrer(repo, &m, origin::descriptor(&m, o), &src.root.digest)
                .await?;
            self.stats.manifests_put.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Copies the referrers of a registry source's image (and of its platform children) into
    /// `repo`: those the source's referrers API or fallback index lists, and cosign's
    /// `sha256-<hex>.sig/.att/.sbom` tags. dockhand's own origin records and throw-aways are not
    /// copied: they describe the source's tags, not the destination's. Returns how many were copied.
    pub async fn copy_referrers(&self, src: &SourceImage, repo: &Repo) -> Result<usize> {
        if let super::image::Origin::Local(image) = &src.origin {
            return self.copy_layout_referrers(src, image, repo).await;
        }
        let Some(from) = src.registry_repo().cloned() else {
            return Ok(0);
        };
        let super::image::Origin::Registry { oci: source, .. } = &src.origin else {
            return Ok(0);
        };
        let source = source.clone();
        let mut subjects: Vec<String> = vec![src.root.digest.clone()];
        subjects.extend(
            src.manifests
                .keys()
                .filter(|d| **d != src.root.digest)
                .cloned(),
        );
        let source_tags = source.tags(&from, None).await?.unwrap_or_default();
        let skip = [origin::ARTIFACT_TYPE, crate::registry::untag::ARTIFACT_TYPE];
        let mut copied = 0;
        for subject in &subjects {
            // What the destination lists already is there, manifest and listing: a copy repeated
            // (a second promotion, a sync run again) writes nothing.
            let listed: HashSet<String> = self
                .oci
                .referrers(repo, subject)
                .await?
                .descriptors
                .into_iter()
                .map(|d| d.digest)
                .collect();
            for d in source.referrers(&from, subject).await?.descriptors {
                if d.artifact_type
                    .as_deref()
                    .is_some_and(|t| skip.contains(&t))
                    || listed.contains(&d.digest)
                {
                    continue;
                }
                let r = self.referrer_source(&source, &from, &d.digest, src).await?;
                self.ensure_content(&r, repo, &mut ImageTransfer::default())
                    .await?;
                self.oci
                    .push_referrer(repo, &r.root, d.clone(), subject)
                    .await?;
                copied += 1;
            }
            let hex = subject.split_once(':').map_or(subject.as_str(), |(_, h)| h);
            for tag in source_tags
                .iter()
                .filter(|t| t.starts_with(&format!("sha256-{hex}.")))
            {
                let r = self.referrer_source(&source, &from, tag, src).await?;
                if self
                    .oci
                    .head_manifest(repo, tag)
                    .await?
                    .is_some_and(|d| d.digest == r.root.digest)
                {
                    continue;
                }
                self.ensure_content(&r, repo, &mut ImageTransfer::default())
                    .await?;
                self.oci.put_manifest(repo, tag, &r.root).await?;
                copied += 1;
            }
        }
        Ok(copied)
    }

    /// Copies the referrers an OCI layout holds next to the image (`index.json` entries whose
    /// `subject` is the image or one of its children), each listed by its subject in `repo`
    /// (referrers API, else the fallback index). Digests are kept, so the subject is the same.
    async fn copy_layout_referrers(
        &self,
        src: &SourceImage,
        image: &super::source::LocalImage,
        repo: &Repo,
    ) -> Result<usize> {
        let mut copied = 0;
        for r in &image.referrers {
            let referrer = SourceImage {
                root: r.root.clone(),
                manifests: r.manifests.clone(),
                origin: super::image::Origin::Local(super::source::LocalImage::from_parts(
                    r.root.clone(),
                    r.manifests.clone(),
                    image.blobs.clone(),
                    false,
                )),
                converted: false,
                label: format!("{} referrer {}", src.label, r.root.digest),
            };
            let mut t = ImageTransfer::default();
            self.ensure_content(&referrer, repo, &mut t).await?;
            self.oci
                .push_referrer(repo, &referrer.root, r.descriptor.clone(), &r.subject)
                .await?;
            self.stats.manifests_put.fetch_add(1, Ordering::Relaxed);
            copied += 1;
        }
        Ok(copied)
    }

    /// A referrer in the source registry as an image to copy.
    async fn referrer_source(
        &self,
        source: &Distribution,
        from: &Repo,
        reference: &str,
        of: &SourceImage,
    ) -> Result<SourceImage> {
        let root = source.get_manifest(from, reference).await?.ok_or_else(|| {
            Error::operation(format!(
                "referrer {from}@{reference} of {} vanished",
                of.label
            ))
        })?;
        let mut manifests = HashMap::new();
        manifests.insert(root.digest.clone(), root.clone());
        Ok(SourceImage {
            root,
            manifests,
            origin: super::image::Origin::Registry {
                oci: source.clone(),
                repo: from.clone(),
            },
            converted: false,
            label: format!("{from}@{reference}"),
        })
    }

    /// Blobs and child manifests, so that the root manifest can be put.
    async fn ensure_content(
        &self,
        src: &SourceImage,
        repo: &Repo,
        t: &mut ImageTransfer,
    ) -> Result<()> {
        let children: Vec<&Manifest> = src
            .manifests_in_order()
            .into_iter()
            .filter(|m| m.digest != src.root.digest)
            .collect();
        let mut needed_children = Vec::new();
        for m in &children {
            if self.oci.head_manifest(repo, &m.digest).await?.is_none() {
                needed_children.push(*m);
            }
        }
        // Blobs of the root (an image) and of the children not yet there; largest first, so the
        // long uploads start early.
        let mut blobs: Vec<Descriptor> = Vec::new();
        let mut seen = HashSet::new();
        for m in needed_children
            .iter()
            .copied()
            .chain(std::iter::once(&src.root))
        {
            for b in m
                .blobs()
                .map_err(|e| Error::input(format!("source {}: {e}", src.label)).with_source(e))?
            {
                if seen.insert(b.digest.clone()) {
                    blobs.push(b);
                }
            }
        }
        blobs.sort_by_key(|b| std::cmp::Reverse(b.size));
        let results: Vec<Result<(BlobOutcome, u64)>> = futures_util::stream::iter(blobs.iter())
            .map(|b| async move { self.ensure_blob(src, repo, b).await.map(|o| (o, b.size)) })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        for r in results {
            match r? {
                (BlobOutcome::Present, _) => t.present += 1,
                (BlobOutcome::Mounted, _) => t.mounted += 1,
                (BlobOutcome::Uploaded, n) => {
                    t.uploaded += 1;
                    t.uploaded_bytes += n;
                }
                (BlobOutcome::Missing, n) => {
                    t.missing += 1;
                    t.missing_bytes += n;
                }
            }
        }
        if !self.dry_run {
            for m in needed_children {
                self.oci
                    .put_manifest(repo, &m.digest, m)
                    .await
                    .map_err(|e| explain_push_error(e, repo))?;
                self.stats.manifests_put.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    fn cell(&self, repo: &Repo, digest: &str) -> Arc<OnceCell<Repo>> {
        let mut located = self.located.lock().unwrap_or_else(|p| p.into_inner());
        located
            .entry((repo.host.clone(), digest.to_string()))
            .or_default()
            .clone()
    }

    fn known_present(&self, repo: &Repo, digest: &str) -> bool {
        self.present
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&(repo.clone(), digest.to_string()))
    }

    fn mark_present(&self, repo: &Repo, digest: &str) {
        self.present
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((repo.clone(), digest.to_string()));
    }

    async fn ensure_blob(
        &self,
        src: &SourceImage,
        repo: &Repo,
        blob: &Descriptor,
    ) -> Result<BlobOutcome> {
        if self.known_present(repo, &blob.digest) {
            return Ok(BlobOutcome::Present);
        }
        let cell = self.cell(repo, &blob.digest);
        let mut outcome = None;
        let home = cell
            .get_or_try_init(|| async {
                let o = self.place_blob(src, repo, blob).await?;
                outcome = Some(o);
                Ok::<_, Error>(repo.clone())
            })
            .await?
            .clone();
        if let Some(o) = outcome {
            if o != BlobOutcome::Missing {
                self.mark_present(repo, &blob.digest);
            }
            return Ok(o);
        }
        // Another image of this run put the blob into `home` already.
        if &home == repo {
            return Ok(BlobOutcome::Present);
        }
        if self.oci.head_blob(repo, &blob.digest).await?.is_some() {
            self.mark_present(repo, &blob.digest);
            return Ok(BlobOutcome::Present);
        }
        if self.dry_run {
            return Ok(if self.mount {
                BlobOutcome::Mounted
            } else {
                BlobOutcome::Missing
            });
        }
        let o = self.mount_or_upload(src, repo, blob, Some(&home)).await?;
        self.mark_present(repo, &blob.digest);
        Ok(o)
    }

    /// The first placement of a blob on the destination registry in this run.
    async fn place_blob(
        &self,
        src: &SourceImage,
        repo: &Repo,
        blob: &Descriptor,
    ) -> Result<BlobOutcome> {
        if self.oci.head_blob(repo, &blob.digest).await?.is_some() {
            self.stats.blobs_present.fetch_add(1, Ordering::Relaxed);
            return Ok(BlobOutcome::Present);
        }
        if self.dry_run {
            return Ok(BlobOutcome::Missing);
        }
        let from = src
            .registry_repo()
            .filter(|r| r.host.eq_ignore_ascii_case(&repo.host))
            .cloned();
        self.mount_or_upload(src, repo, blob, from.as_ref()).await
    }

    async fn mount_or_upload(
        &self,
        src: &SourceImage,
        repo: &Repo,
        blob: &Descriptor,
        from: Option<&Repo>,
    ) -> Result<BlobOutcome> {
        if let (true, Some(from)) = (self.mount, from) {
            match self.oci.mount_blob(repo, &blob.digest, &from.name).await {
                Ok(Mounted::Yes) => {
                    self.stats.blobs_mounted.fetch_add(1, Ordering::Relaxed);
                    return Ok(BlobOutcome::Mounted);
                }
                Ok(Mounted::Session(session)) => {
                    // The registry could not mount and opened an upload instead: use it.
                    if self
                        .oci
                        .finish_upload(repo, session, &blob.digest, self.source_body(src, blob)?)
                        .await
                        .is_ok()
                    {
                        self.count_upload(blob);
                        return Ok(BlobOutcome::Uploaded);
                    }
                }
                // Some registries refuse mounts outright; a plain upload still works.
                Err(e) if e.kind != Kind::Auth => {
                    crate::log::debug(&format!("mount of {} refused: {e}", blob.digest))
                }
                Err(e) => return Err(e),
            }
        }
        self.upload(src, repo, blob).await
    }

    async fn upload(
        &self,
        src: &SourceImage,
        repo: &Repo,
        blob: &Descriptor,
    ) -> Result<BlobOutcome> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .oci
                .upload_blob(repo, &blob.digest, self.source_body(src, blob)?)
                .await
            {
                Ok(()) => {
                    self.count_upload(blob);
                    return Ok(BlobOutcome::Uploaded);
                }
                Err(e) if e.kind == Kind::Operation && attempt < UPLOAD_ATTEMPTS => {
                    crate::log::verbose(&format!(
                        "upload of {} to {repo} broke off ({e}); starting again",
                        blob.digest
                    ));
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
                Err(e) => return Err(explain_push_error(e, repo)),
            }
        }
    }

    /// The source's body for `blob`, each read of it counted.
    fn source_body(&self, src: &SourceImage, blob: &Descriptor) -> Result<Body> {
        Ok(counted(src.blob_body(blob)?, &self.source))
    }

    fn count_upload(&self, blob: &Descriptor) {
        self.stats.blobs_uploaded.fetch_add(1, Ordering::Relaxed);
        self.stats
            .bytes_uploaded
            .fetch_add(blob.size, Ordering::Relaxed);
        let _ = IMAGE_BYTES.try_with(|c| c.fetch_add(blob.size, Ordering::Relaxed));
    }
}

/// Reads of source blobs in a run: every time a blob's content is opened at the source (a
/// file, an archive member, a registry GET), however many registries it then goes to.
#[derive(Debug, Default)]
pub struct SourceStats {
    pub blobs_read: AtomicU64,
    pub bytes_read: AtomicU64,
}

impl SourceStats {
    pub fn count(&self, len: u64) {
        self.blobs_read.fetch_add(1, Ordering::Relaxed);
        self.bytes_read.fetch_add(len, Ordering::Relaxed);
    }
}

/// `body`, with each read of it (each attempt opens it anew) counted in `stats`.
pub fn counted(body: Body, stats: &Arc<SourceStats>) -> Body {
    match body {
        Body::Stream { len, make } => {
            let stats = stats.clone();
            Body::Stream {
                len,
                make: Arc::new(move || {
                    stats.count(len);
                    make()
                }),
            }
        }
        Body::Bytes(b) => {
            // Held in memory already (a manifest-sized blob of an archive): one read.
            stats.count(b.len() as u64);
            Body::Bytes(b)
        }
        Body::Empty => Body::Empty,
    }
}

/// Adds what to do when a registry refuses a push for a reason the user can fix.
fn explain_push_error(e: Error, repo: &Repo) -> Error {
    if e.message.contains("NAME_UNKNOWN") || e.message.contains("NAME_INVALID") {
        let hint = format!(
            "the registry does not accept repository {repo}: create it first (ECR: allow ecr:CreateRepository, \
             which dockhand calls; Harbor: the project; Artifact Registry: the repository), or check the images repo"
        );
        return e.with_hint(hint);
    }
    e
}
