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
}

#[derive(Debug, Serialize)]
pub struct PublishReport {
    pub implementation: &'static str,
    pub dry_run: bool,
    pub images: Vec<Published>,
    pub failed: Vec<Failure>,
    pub transfer: Transfer,
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
