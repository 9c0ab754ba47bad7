//! The registry connection a command works with, built once from the settings.

use crate::error::Result;
use crate::registry::credentials::CredentialStore;
use crate::registry::distribution::Distribution;
use crate::registry::transport::{Transport, TransportConfig};
use crate::settings::Settings;

pub struct Context {
    pub oci: Distribution,
}

impl Context {
    pub fn new(settings: &Settings) -> Result<Context> {
        Context::logged_in(
            settings,
            settings.images_repo.as_ref().map(|r| r.host.as_str()),
        )
    }

    /// As [`Context::new`], with `--registry-username`/`--registry-password` given to `host`
    /// (the registry written to) instead of the images repo's.
    pub fn logged_in(settings: &Settings, host: Option<&str>) -> Result<Context> {
        let credentials = CredentialStore::load(settings.docker_config.as_deref())?;
        if let (Some(c), Some(host)) = (&settings.registry_credential, host) {
            credentials.set(&crate::implementation::registry_api_host(host), c.clone());
        }
        let transport = Transport::new(transport_config(settings), credentials)?;
        Ok(Context {
            oci: Distribution::new(transport),
        })
    }
}

/// The transport settings every command uses: insecure hosts, concurrency, timeouts, retry budget.
pub fn transport_config(settings: &Settings) -> TransportConfig {
    let mut config = TransportConfig {
        insecure_hosts: settings.insecure_registries.clone(),
        ..Default::default()
    };
    if let Some(n) = settings.concurrency {
        config.concurrency = n;
    }
    if let Some(d) = settings.connect_timeout {
        config.connect_timeout = d;
    }
    if let Some(d) = settings.read_timeout {
        config.read_timeout = d;
    }
    if let Some(d) = settings.retry_budget {
        config.budget.max_wait = d;
    }
    if let Some(n) = settings.max_manifest_size {
        config.max_manifest_size = n;
    }
    config
}
