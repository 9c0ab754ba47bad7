//! One module per registry implementation that does something differently from the OCI way
//! (docs/registries.md#per-registry). Each holds its vendor API client and a [`Registry`] that
//! overrides only what its vendor changes; everything else is the shared OCI data plane.
//!
//! [`open`] picks the module for the detected implementation and gives it the [`HostConfig`]
//! (tokens, API URLs, credentials), so vendor logins happen here and nowhere else.

pub mod acr;
pub mod dockerhub;
pub mod ecr;
pub mod gcr;
pub mod github;
pub mod gitlab;
pub mod harbor;
pub mod quay;

use super::distribution::Distribution;
use super::{Generic, Registry};
use crate::error::Result;
use crate::implementation::{Capabilities, Implementation};
use crate::registry::host::HostConfig;

/// The registry object for a detected implementation. `host` is the registry host of the
/// images repo (`host[:port]`). Vendors without a module of their own use the generic one with
/// their capabilities.
pub async fn open(
    caps: Capabilities,
    oci: Distribution,
    host: &str,
    config: &HostConfig,
) -> Result<Box<dyn Registry>> {
    let generic = |oci| -> Result<Box<dyn Registry>> { Ok(Box::new(Generic::new(caps, oci))) };
    match caps.implementation {
        Implementation::Default => generic(oci),

        Implementation::Ecr => ecr::open(caps, oci, host).await,

        Implementation::GitHub => Ok(Box::new(
            github::GitHub::open(caps, oci, host, config).await?,
        )),

        Implementation::GitLab => Ok(Box::new(
            gitlab::GitLab::open(caps, oci, host, config).await?,
        )),

        Implementation::DockerHub => Ok(Box::new(dockerhub::DockerHub::new(
            caps, oci, host, config,
        )?)),

        Implementation::Acr => acr::open(caps, oci, host, config).await,

        Implementation::Harbor => Ok(Box::new(
            harbor::Harbor::open(caps, oci, host, config).await?,
        )),

        Implementation::Quay => Ok(Box::new(quay::Quay::open(caps, oci, host, config).await?)),

        Implementation::Gcr => gcr::open(caps, oci, host, config).await,
    }
}
