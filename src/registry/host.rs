//! What opening a registry needs to know about its host, apart from the transport: vendor API
//! credentials and endpoints, the forge API the registry belongs to, and run-wide switches.
//!
//! The commands build one [`HostConfig`] from their settings (`commands/host.rs`), much as
//! regclient keeps a per-host configuration, so nothing under `registry` reads the settings and
//! the library can be driven without them. URLs are used exactly as given.

use std::path::PathBuf;

use crate::forge::{GitHubConfig, GitLabConfig};
use crate::secret::Secret;

/// Everything [`crate::registry::open`] hands to the implementation it picks.
#[derive(Debug, Clone, Default)]
pub struct HostConfig {
    /// Vendor management APIs; each implementation reads its own part.
    pub vendor: VendorApis,
    /// GitHub's REST API (GitHub Packages); the same client config reads git refs.
    pub github: GitHubConfig,
    /// GitLab's REST API (container registry API); the same client config reads git refs.
    pub gitlab: GitLabConfig,
    /// A registry login was configured explicitly (`--registry-username`/`--registry-password`):
    /// vendor logins then do not replace it.
    pub registry_credential_given: bool,
    /// A dry run: nothing is changed, so vendor checks that only a change needs are skipped.
    pub dry_run: bool,
}

/// Credentials and endpoints of vendor management APIs.
#[derive(Debug, Clone, Default)]
pub struct VendorApis {
    pub docker_hub_username: Option<String>,
    pub docker_hub_password: Option<Secret>,
    pub docker_hub_token: Option<Secret>,
    pub docker_hub_api_url: Option<url::Url>,
    pub quay_token: Option<Secret>,
    pub harbor_username: Option<String>,
    pub harbor_password: Option<Secret>,
    pub azure_client_id: Option<String>,
    pub azure_client_secret: Option<Secret>,
    pub azure_tenant_id: Option<String>,
    pub azure_authority_host: Option<url::Url>,
    pub azure_access_token: Option<Secret>,
    pub google_access_token: Option<Secret>,
    pub google_json_key: Option<PathBuf>,
}
