//! Talking to registries: one transport, the OCI data plane on it, and one [`Registry`] per
//! implementation that overrides only what its vendor does differently.

pub mod auth;
pub mod credentials;
pub mod distribution;
pub mod media;
pub mod probe;
pub mod retry;
pub mod transport;

use futures_util::future::BoxFuture;

use crate::error::Result;
use crate::implementation::Capabilities;
use distribution::{Distribution, Repo};

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
