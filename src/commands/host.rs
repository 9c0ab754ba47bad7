//! The library-side configuration built from the settings: [`HostConfig`] for opening a
//! registry and the forge API configs git-aware cleanup reads refs with. The only place where
//! settings types become registry or forge types, so that the layers below `commands` never
//! read `Settings`.

use crate::forge::gitlab::Token;
use crate::forge::{GitHubConfig, GitLabConfig};
use crate::registry::host::{HostConfig, VendorApis};
use crate::settings::{ForgeToken, Settings, VendorSettings};

/// What `registry::open` needs from the settings.
pub fn host_config(settings: &Settings) -> HostConfig {
    HostConfig {
        vendor: vendor_apis(&settings.vendor),
        github: github(settings),
        gitlab: gitlab(settings),
        registry_credential_given: settings.registry_credential.is_some(),
        dry_run: settings.dry_run,
    }
}

/// GitHub's API as the settings (or the CI) give it.
pub fn github(settings: &Settings) -> GitHubConfig {
    let f = &settings.forge;
    GitHubConfig {
        token: f.github_token.clone(),
        api_url: f.github_api_url.clone(),
        repository: f.github_repository.clone(),
        limits: f.github_rate_limit.clone().unwrap_or_default(),
    }
}

/// GitLab's API as the settings (or the CI) give it.
pub fn gitlab(settings: &Settings) -> GitLabConfig {
    let f = &settings.forge;
    GitLabConfig {
        token: f.gitlab_token.as_ref().map(gitlab_token),
        api_url: f.gitlab_api_url.clone(),
        project: f.gitlab_project.clone(),
    }
}

/// The GitLab token as sent: the one conversion both the registry and the git-refs path use.
pub fn gitlab_token(token: &ForgeToken) -> Token {
    match token {
        ForgeToken::Private(s) => Token::from_option(s),
        ForgeToken::Job(s) => Token::Job(s.clone()),
    }
}

fn vendor_apis(v: &VendorSettings) -> VendorApis {
    VendorApis {
        docker_hub_username: v.docker_hub_username.clone(),
        docker_hub_password: v.docker_hub_password.clone(),
        docker_hub_token: v.docker_hub_token.clone(),
        docker_hub_api_url: v.docker_hub_api_url.clone(),
        quay_token: v.quay_token.clone(),
        harbor_username: v.harbor_username.clone(),
        harbor_password: v.harbor_password.clone(),
        azure_client_id: v.azure_client_id.clone(),
        azure_client_secret: v.azure_client_secret.clone(),
        azure_tenant_id: v.azure_tenant_id.clone(),
        azure_authority_host: v.azure_authority_host.clone(),
        azure_access_token: v.azure_access_token.clone(),
        google_access_token: v.google_access_token.clone(),
        google_json_key: v.google_json_key.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn gitlab_tokens_from_settings() {
        let t = gitlab_token(&ForgeToken::Private(Secret::new("glpat-x")));
        assert!(matches!(&t, Token::Private(s) if s.expose() == "glpat-x"));
        let t = gitlab_token(&ForgeToken::Private(Secret::new("oauth2:abc")));
        assert!(matches!(&t, Token::Bearer(s) if s.expose() == "abc"));
        assert_eq!(t.header().unwrap().1.to_str().unwrap(), "Bearer abc");
        let t = gitlab_token(&ForgeToken::Job(Secret::new("job")));
        assert_eq!(t.header().unwrap().0.as_str(), "job-token");
        assert!(t.describe().contains("CI_JOB_TOKEN"));
    }

    /// The registry side and the git-refs side see the same token for `oauth2:` (the bug the
    /// split once caused: the git-refs path sent it literally as `PRIVATE-TOKEN`).
    #[test]
    fn both_paths_get_the_bearer_token_for_oauth2() {
        let mut settings = Settings::default();
        settings.forge.gitlab_token = Some(ForgeToken::Private(Secret::new("oauth2:abc")));
        let registry_side = host_config(&settings).gitlab.token.unwrap();
        let refs_side = gitlab(&settings).token.unwrap();
        for t in [registry_side, refs_side] {
            assert!(matches!(&t, Token::Bearer(s) if s.expose() == "abc"));
        }
    }
}
