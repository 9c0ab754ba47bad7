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
        let credentials = CredentialStore::load(settings.docker_config.as_deref())?;
        if let (Some(c), Some(repo)) = (&settings.registry_credential, &settings.images_repo) {
            credentials.set(
                &crate::implementation::registry_api_host(&repo.host),
                c.clone(),
            );
        }
        let mut config = TransportConfig {
            insecure_hosts: settings.insecure_registries.clone(),
            ..Default::default()
        };
        if let Some(n) = settings.concurrency {
            config.concurrency = n;
        }
        if let Some(n) = settings.max_manifest_size {
            config.max_manifest_size = n;
        }
        let transport = Transport::new(config, credentials)?;
        Ok(Context {
            oci: Distribution::new(transport),
        })
    }
}
