//! One module per registry implementation that does something differently from the OCI way
//! (registries.md §3). Each holds its vendor API client and a [`Registry`] that overrides only
//! what its vendor changes; everything else is the shared OCI data plane.
//!
//! [`open`] picks the module for the detected implementation and gives it the settings it
//! reads (tokens, API URLs, credentials), so vendor logins happen here and nowhere else.

// Vendor modules (one line each, apart, so parallel work merges cleanly).

pub mod dockerhub;

use super::distribution::Distribution;
use super::{Generic, Registry};
use crate::error::Result;
use crate::implementation::{Capabilities, Implementation};
use crate::settings::Settings;

/// The registry object for a detected implementation. `host` is the registry host of the
/// images repo (`host[:port]`). Vendors without a module of their own use the generic one with
/// their capabilities.
pub async fn open(
    caps: Capabilities,
    oci: Distribution,
    host: &str,
    settings: &Settings,
) -> Result<Box<dyn Registry>> {
    let _ = (host, settings);
    let generic = |oci| -> Result<Box<dyn Registry>> { Ok(Box::new(Generic::new(caps, oci))) };
    match caps.implementation {
        Implementation::Default => generic(oci),

        Implementation::Ecr => generic(oci),

        Implementation::GitHub => generic(oci),

        Implementation::GitLab => generic(oci),

        Implementation::DockerHub => Ok(Box::new(dockerhub::DockerHub::new(
            caps, oci, host, settings,
        )?)),

        Implementation::Acr => generic(oci),

        Implementation::Harbor => generic(oci),

        Implementation::Quay => generic(oci),

        Implementation::Gcr => generic(oci),
    }
}
