//! What a publish produced (the JSON contract's document), read by the command's printer and by
//! the CI outputs.

use serde::Serialize;

/// One (image, tag) result: the contract's `images[]` entry.
#[derive(Debug, Clone, Serialize)]
pub struct Published {
    pub image: Option<String>,
    pub reference: String,
    pub digest: String,
    /// False when the tag already pointed at this digest.
    pub pushed: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct Transfer {
    pub blobs_uploaded: u64,
    pub bytes_uploaded: u64,
    pub blobs_mounted: u64,
    pub blobs_present: u64,
    pub manifests_put: u64,
    /// HTTP requests sent to registries in this run (detection included).
    pub requests: u64,
    /// Blobs read from the sources (each opening of a blob's content), and their bytes: with
    /// several targets, a blob that several registries lack is still read once.
    pub source_blobs_read: u64,
    pub source_bytes_read: u64,
}

/// What one target (images repo) received: the contract's `targets[]` entry, present when a run
/// publishes to more than one.
#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    pub images_repo: String,
    pub implementation: &'static str,
    pub images: Vec<Published>,
    pub failed: Vec<Failure>,
    pub transfer: TargetTransfer,
}

/// The blob counts of one target's images.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TargetTransfer {
    pub blobs_uploaded: u64,
    pub bytes_uploaded: u64,
    pub blobs_mounted: u64,
    pub blobs_present: u64,
}

#[derive(Debug, Serialize)]
pub struct PublishReport {
    pub implementation: &'static str,
    pub dry_run: bool,
    pub images: Vec<Published>,
    pub failed: Vec<Failure>,
    pub transfer: Transfer,
    /// Per target (`images` and `failed` above list them all); in the document only when
    /// there is more than one, so a single-target document is as it always was.
    #[serde(skip_serializing_if = "one_or_none")]
    pub targets: Vec<TargetReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub image: Option<String>,
    pub references: Vec<String>,
    pub error: String,
    /// Decides the exit code: refused credentials everywhere are exit 3, not 1.
    #[serde(skip)]
    pub kind: crate::error::Kind,
}

fn one_or_none(targets: &[TargetReport]) -> bool {
    targets.len() < 2
}
