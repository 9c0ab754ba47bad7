//! Talking to registries: one transport, the OCI data plane on it, and one [`Registry`] per
//! implementation that overrides only what its vendor does differently.

pub mod auth;
pub mod credentials;
pub mod distribution;
pub mod media;
pub mod probe;
pub mod retry;
pub mod transport;
pub mod untag;

use std::time::SystemTime;

use futures_util::future::BoxFuture;

use crate::error::Result;
use crate::implementation::Capabilities;
use distribution::{Deleted, Distribution, Repo};

/// What publish and cleanup need from a registry. The provided methods are the OCI way; an
/// implementation module overrides those its vendor does differently (listing with times, untag,
/// repository creation), and its [`Capabilities`] say which paths the planner may take.
pub trait Registry: Send + Sync {
    fn capabilities(&self) -> Capabilities;

    /// The OCI Distribution client for this registry's host.
    fn oci(&self) -> &Distribution;

    /// All tags of a repository, or `None` when the repository does not exist.
    fn list_tags<'a>(&'a self, repo: &'a Repo) -> BoxFuture<'a, Result<Option<Vec<String>>>> {
        Box::pin(self.oci().tags(repo, None))
    }

    /// Makes sure a repository can be pushed to (creates it where the registry needs that).
    fn ensure_repository<'a>(&'a self, _repo: &'a Repo) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// When a manifest was pushed or created. The OCI way reads the image config's `created`
    /// (for an index: its first child's); vendors with listing times override this.
    fn created<'a>(
        &'a self,
        repo: &'a Repo,
        digest: &'a str,
        media_type: &'a str,
        children: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<Option<SystemTime>>> {
        Box::pin(async move {
            let target = if media::is_index(media_type) {
                match children.first() {
                    Some((child, _)) => child.as_str(),
                    None => return Ok(None),
                }
            } else {
                digest
            };
            config_created(self.oci(), repo, target).await
        })
    }

    /// Deletes a manifest by digest (every tag on it goes too).
    fn delete_digest<'a>(
        &'a self,
        repo: &'a Repo,
        digest: &'a str,
    ) -> BoxFuture<'a, Result<Deleted>> {
        Box::pin(self.oci().delete_manifest(repo, digest))
    }

    /// Removes one tag and keeps the digest. `tag_delete_works` carries what earlier calls learned.
    fn untag<'a>(
        &'a self,
        repo: &'a Repo,
        tag: &'a str,
        tag_delete_works: Option<bool>,
    ) -> BoxFuture<'a, Result<(untag::Untagged, bool)>> {
        Box::pin(untag::untag(self.oci(), repo, tag, tag_delete_works))
    }
}

/// The `created` time of an image's config, or `None` when it has none or it cannot be read.
pub async fn config_created(
    oci: &Distribution,
    repo: &Repo,
    digest: &str,
) -> Result<Option<SystemTime>> {
    match oci.get_manifest(repo, digest).await? {
        Some(m) => config_created_of(oci, repo, &m).await,
        None => Ok(None),
    }
}

/// The `created` time in the config of a manifest already fetched.
pub async fn config_created_of(
    oci: &Distribution,
    repo: &Repo,
    m: &media::Manifest,
) -> Result<Option<SystemTime>> {
    match m.fields().ok().and_then(|f| f.config) {
        Some(config) => blob_created(oci, repo, &config).await,
        None => Ok(None),
    }
}

/// The `created` time of an image config blob; `None` for artifacts (empty config) or when the
/// config says nothing usable.
pub async fn blob_created(
    oci: &Distribution,
    repo: &Repo,
    config: &media::Descriptor,
) -> Result<Option<SystemTime>> {
    if config.media_type == media::OCI_EMPTY {
        return Ok(None);
    }
    let resp = oci.get_blob(repo, &config.digest).await?;
    let Ok(value) = resp.json::<serde_json::Value>().await else {
        return Ok(None);
    };
    Ok(value
        .get("created")
        .and_then(|c| c.as_str())
        .and_then(|c| humantime::parse_rfc3339_weak(c).ok()))
}

/// Any OCI Distribution registry: everything through the provided methods.
pub struct Generic {
    caps: Capabilities,
    oci: Distribution,
}

impl Generic {
    pub fn new(caps: Capabilities, oci: Distribution) -> Generic {
        Generic { caps, oci }
    }
}

impl Registry for Generic {
    fn capabilities(&self) -> Capabilities {
        self.caps
    }
    fn oci(&self) -> &Distribution {
        &self.oci
    }
}

/// The registry object for a detected implementation. Vendors without their own module yet use
/// the generic one with their capabilities.
pub fn open(caps: Capabilities, oci: Distribution) -> Box<dyn Registry> {
    Box::new(Generic::new(caps, oci))
}
