//! GitLab Container Registry, gitlab.com and self-managed
//! (https://docs.gitlab.com/api/container_registry/; docs/registries.md#gitlab).
//!
//! The data plane is the registry itself (Bearer tokens from GitLab's `/jwt/auth`); listing and
//! per-tag deletion go through the REST API v4 as well:
//! - **API base**: `--gitlab-api-url` / `CI_API_V4_URL`; else `https://gitlab.com/api/v4` for
//!   registry.gitlab.com; else the instance the registry's token realm names
//!   (`https://<gitlab>/jwt/auth` → `https://<gitlab>/api/v4`); else exit 2.
//! - **Project and repository ids**: the project is `--gitlab-project` / `CI_PROJECT_ID`, else
//!   the image path minus zero, one or two trailing components (an image nests at most two
//!   levels below its project), longest first; the repository is found in the project's
//!   repository list by `path` (the root image has `name: ""`). Both are cached.
//! - **Listing**: the REST tag list, then per tag either the REST tag detail (digest and
//!   `created_at`) or a registry HEAD (digest and media type), whichever the policy needs.
//! - **Untag**: registry `DELETE /v2/<path>/manifests/<tag>` where the registry advertises
//!   `tag_delete`, else REST `DELETE …/tags/:tag`, else the legacy registry
//!   `DELETE /v2/<path>/tags/reference/<tag>`; the first that works is used for the rest of the
//!   run. A shared digest is never deleted to remove one tag.
//! - **Whole digests**: registry `DELETE /v2/<path>/manifests/<digest>` (every tag on it goes).
//!
//! The bulk endpoint (`DELETE …/tags` with regexes) is never used: it runs at most once an hour
//! per repository, always keeps `latest` and works on manifest creation times, so it cannot carry
//! out an exact plan.

use std::collections::HashMap;
use std::sync::Mutex;

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use super::Registration;
use crate::error::{Error, Result};
use crate::forge::gitlab::{Token, next_page};
use crate::implementation::{
    Capabilities, Depth, HostPattern, Implementation, Probe, RepositoryListing, Sign, Spec,
};
use crate::registry::auth::Scope;
use crate::registry::credentials::Credential;
use crate::registry::distribution::{Deleted, Distribution, Repo};
use crate::registry::host::HostConfig;
use crate::registry::paging::Pages;
use crate::registry::rest::parse_time;
use crate::registry::rest::{MessageError, VendorError};
use crate::registry::transport::Request;
use crate::registry::untag::Untagged;
use crate::registry::{Listed, Listing, Registry, Timed};
use crate::secret::redact_url;

/// The feature GitLab's registry advertises when `DELETE /v2/<path>/manifests/<tag>` untags
/// (container registry 16.4+, docs/registries.md#gitlab).
pub const TAG_DELETE_FEATURE: &str = "tag_delete";
/// The header that lists the registry's features on an authenticated `GET /v2/`.
pub const FEATURES_HEADER: &str = "gitlab-container-registry-features";

/// How one tag is removed; decided by the first tag of a run and kept for the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Registry `DELETE /v2/<path>/manifests/<tag>` (`tag_delete` advertised).
    RegistryTag,
    /// REST `DELETE /projects/:id/registry/repositories/:rid/tags/:tag` → 200.
    Rest,
    /// Registry `DELETE /v2/<path>/tags/reference/<tag>` (older GitLab registries).
    LegacyReference,
}

impl Variant {
    fn describe(self) -> &'static str {
        match self {
            Variant::RegistryTag => "the registry tag delete",
            Variant::Rest => "the REST tag delete",
            Variant::LegacyReference => "the legacy registry tags/reference delete",
        }
    }
}

/// What one deletion attempt through one variant gave.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Attempt {
    Done,
    /// The tag was already gone (the route exists).
    Gone,
    /// This variant does not exist here (404 without a registry code, 405, `DIGEST_INVALID`).
    Unsupported {
        status: u16,
        code: Option<String>,
    },
    /// GitLab keeps it on purpose (a tag protection rule).
    Kept(String),
}

/// A project's container repository (`GET /projects/:id/registry/repositories`).
#[derive(Debug, Clone, Deserialize)]
pub struct RepositoryRecord {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub location: String,
}

/// Where a registry repository lives in the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The project id as sent (numeric, or the path, encoded once as one segment).
    pub project: String,
    pub repository: u64,
}

#[derive(Debug, Deserialize)]
struct TagName {
    name: String,
}

#[derive(Debug, Deserialize)]
struct TagDetail {
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
}

/// The text of a GitLab API error body (`message`, else `error`), scrubbed.
fn api_detail(body: &str) -> String {
    crate::secret::scrub(&MessageError::detail(body))
}

pub struct GitLab {
    caps: Capabilities,
    oci: Distribution,
    /// The registry host (`host[:port]`).
    host: String,
    token: Option<Token>,
    explicit_api: Option<Url>,
    explicit_project: Option<String>,
    api: tokio::sync::OnceCell<Url>,
    /// The forge client the REST calls go through (token, rate limit), made on first use.
    rest: std::sync::OnceLock<crate::forge::gitlab::Api>,
    /// Registry features from an authenticated `GET /v2/`.
    features: tokio::sync::OnceCell<Vec<String>>,
    /// Project id → its repositories (`None`: no such project, or not visible).
    projects: Mutex<HashMap<String, Option<Vec<RepositoryRecord>>>>,
    /// Registry path → where it lives (`None`: the repository does not exist).
    located: Mutex<HashMap<String, Option<Located>>>,
    /// The untag variant of this run: `Some(None)` when every variant was refused.
    variant: tokio::sync::Mutex<Option<Option<Variant>>>,
}

impl GitLab {
    /// Reads the GitLab settings; nothing is sent yet. Installs the registry login the API token
    /// implies when no registry credential is configured: `gitlab-ci-token` + the job token in
    /// CI (what `CI_REGISTRY_USER`/`CI_REGISTRY_PASSWORD` hold), `oauth2` + an OAuth token, or a
    /// personal/project/group token under a placeholder user (GitLab checks the token only).
    pub async fn open(
        caps: Capabilities,
        oci: Distribution,
        host: &str,
        config: &HostConfig,
    ) -> Result<GitLab> {
        let token = config.gitlab.token.clone();
        if let Some(t) = &token
            && oci.transport().credential(host).await?.is_none()
        {
            let credential = match t {
                Token::Job(s) => Credential::basic("gitlab-ci-token", s.expose()),
                Token::Bearer(s) => Credential::basic("oauth2", s.expose()),
                Token::Private(s) => Credential::basic("dockhand", s.expose()),
            };
            oci.transport().set_credential(host, credential);
        }
        Ok(GitLab {
            caps,
            oci,
            host: host.to_string(),
            token,
            explicit_api: config.gitlab.api_url.clone(),
            explicit_project: config
                .gitlab
                .project
                .as_deref()
                .map(|p| p.trim().trim_matches('/').to_string())
                .filter(|p| !p.is_empty()),
            api: Default::default(),
            rest: Default::default(),
            features: Default::default(),
            projects: Default::default(),
            located: Default::default(),
            variant: Default::default(),
        })
    }

    fn token(&self) -> Result<&Token> {
        self.token.as_ref().ok_or_else(|| {
            Error::input(format!(
                "cleaning up the GitLab registry {} needs a GitLab API token",
                self.host
            ))
            .with_hint(
                "pass --gitlab-token (a personal, project or group access token with the api scope; \
                 read_api is enough for a dry run), or run in GitLab CI where CI_JOB_TOKEN is used",
            )
        })
    }

    /// The REST API base, decided once (see the module documentation).
    pub async fn api_url(&self) -> Result<Url> {
        self.api
            .get_or_try_init(|| async {
                if let Some(u) = &self.explicit_api {
                    return Ok(u.clone());
                }
                if crate::detect::host_name(&self.host) == "registry.gitlab.com" {
                    return Ok(Url::parse("https://gitlab.com/api/v4").expect("static URL"));
                }
                let ping = self.oci.ping(&self.host).await.ok();
                let realm = ping.as_ref().and_then(|p| {
                    p.headers
                        .get(reqwest::header::WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(crate::registry::auth::Challenge::parse)
                });
                if let Some(crate::registry::auth::Challenge::Bearer { realm, .. }) = realm
                    && let Some(api) = api_from_realm(&realm)
                {
                    return Ok(api);
                }
                Err(Error::input(format!(
                    "cannot tell which GitLab instance serves the registry {}",
                    self.host
                ))
                .with_hint(
                    "pass --gitlab-api-url https://GITLAB/api/v4 (GitLab CI sets CI_API_V4_URL)",
                ))
            })
            .await
            .cloned()
    }

    /// One REST request with the API token, JSON accepted.
    async fn api_send(&self, method: Method, url: Url) -> Result<reqwest::Response> {
        let rest = match self.rest.get() {
            Some(rest) => rest,
            None => {
                let rest =
                    crate::forge::gitlab::Api::new(self.oci.transport().clone(), self.token()?)?;
                self.rest.get_or_init(|| rest)
            }
        };
        rest.send(method, url).await
    }

    /// `{api}/projects/<project>/<tail…>` with each part one path segment (a project path's `/`
    /// becomes `%2F` exactly once).
    fn api_path(api: &Url, project: &str, tail: &[&str]) -> Result<Url> {
        let mut url = api.clone();
        url.set_query(None);
        url.set_fragment(None);
        url.path_segments_mut()
            .map_err(|_| Error::input(format!("the GitLab API URL {api} cannot take a path")))?
            .pop_if_empty()
            .push("projects")
            .push(project)
            .extend(tail);
        Ok(url)
    }

    /// The error a refused REST call gives: 401/403 name the token and what it lacks (exit 3).
    fn refused(&self, status: StatusCode, body: &str, action: &str, write: bool) -> Error {
        let who = self
            .token
            .as_ref()
            .map(Token::describe)
            .unwrap_or("the GitLab token");
        let e = MessageError::parse(body).unwrap_or_default();
        let scope_hint = if write {
            "deleting needs a personal, project or group access token with the api scope and at \
             least the Developer role (pass --gitlab-token); CI_JOB_TOKEN may only delete in the \
             pipeline's own project, and only where the project's job token settings and the \
             role of the user who started the job allow it"
        } else {
            "listing needs a personal, project or group access token with the read_api scope \
             (pass --gitlab-token); CI_JOB_TOKEN reads only the pipeline's own project"
        };
        match status.as_u16() {
            401 => Error::auth(format!("GitLab refused {who} to {action}: HTTP 401")).with_hint(
                format!("check that the token is valid and not expired or revoked; {scope_hint}"),
            ),
            403 => {
                let scope = if e.error().as_deref() == Some("insufficient_scope") {
                    format!(
                        " (the token lacks the {} scope)",
                        if write { "api" } else { "read_api" }
                    )
                } else {
                    String::new()
                };
                Error::auth(format!(
                    "{who} may not {action}{scope} (HTTP 403: {})",
                    api_detail(body)
                ))
                .with_hint(scope_hint)
            }
            code => Error::operation(format!(
                "GitLab answered HTTP {code} to {action}: {}",
                api_detail(body)
            )),
        }
    }

    /// Every item of a paged REST list: `Link rel="next"` on the API's origin (keyset paging
    /// sends only that), else `X-Next-Page`.
    async fn list_all<T: serde::de::DeserializeOwned>(
        &self,
        first: Url,
        action: &str,
    ) -> Result<Option<Vec<T>>> {
        let mut url = first.clone();
        let mut out = Vec::new();
        let mut pages = Pages::new(format!("GitLab's list for {action}"));
        loop {
            pages.visit_url(&url)?;
            let resp = self.api_send(Method::GET, url.clone()).await?;
            let status = resp.status();
            if status == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            let headers = resp.headers().clone();
            let body = resp.text().await.map_err(|e| {
                Error::operation(format!("reading {} failed: {e}", redact_url(&url)))
            })?;
            if !status.is_success() {
                return Err(self.refused(status, &body, action, false));
            }
            let page: Vec<T> = serde_json::from_str(&body).map_err(|e| {
                Error::operation(format!(
                    "GitLab answered {} with an unexpected body: {e}",
                    redact_url(&url)
                ))
                .with_hint("check that the GitLab API URL ends in /api/v4")
            })?;
            out.extend(page);
            match next_page(&headers, &url, &first)? {
                Some(next) => url = next,
                None => return Ok(Some(out)),
            }
        }
    }

    /// The container repositories of a project (cached); `None` if the project is not found.
    async fn repositories(&self, project: &str) -> Result<Option<Vec<RepositoryRecord>>> {
        if let Some(r) = self
            .projects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(project)
        {
            return Ok(r.clone());
        }
        let api = self.api_url().await?;
        let mut first = Self::api_path(&api, project, &["registry", "repositories"])?;
        first.query_pairs_mut().append_pair("per_page", "100");
        let list = self
            .list_all::<RepositoryRecord>(
                first,
                &format!("list the container repositories of project {project}"),
            )
            .await?;
        self.projects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(project.to_string(), list.clone());
        Ok(list)
    }

    /// The registry paths of the project or group `under` names
    /// (docs.gitlab.com/api/container_registry: `GET /projects/:id/registry/repositories`, else
    /// `GET /groups/:id/registry/repositories`), else of the configured project.
    async fn namespace_repositories(&self, under: &str) -> Result<Vec<String>> {
        let paths = |list: Vec<RepositoryRecord>| list.into_iter().map(|r| r.path).collect();
        if !under.is_empty() {
            if let Some(list) = self.repositories(under).await? {
                return Ok(paths(list));
            }
            let api = self.api_url().await?;
            let mut url = api.clone();
            url.set_query(None);
            url.path_segments_mut()
                .map_err(|_| Error::input(format!("the GitLab API URL {api} cannot take a path")))?
                .pop_if_empty()
                .push("groups")
                .push(under)
                .extend(["registry", "repositories"]);
            url.query_pairs_mut().append_pair("per_page", "100");
            if let Some(list) = self
                .list_all::<RepositoryRecord>(
                    url,
                    &format!("list the container repositories of group {under}"),
                )
                .await?
            {
                return Ok(paths(list));
            }
        }
        if let Some(project) = self.explicit_project.clone()
            && let Some(list) = self.repositories(&project).await?
        {
            return Ok(paths(list));
        }
        Err(Error::input(format!(
            "GitLab shows no project or group {under:?} to this token"
        ))
        .with_hint(
            "the images repo after the registry host must be a GitLab project or group path \
             the token can read (read_api)",
        ))
    }

    /// Finds the project and repository id of a registry path (cached).
    pub async fn locate(&self, repo: &Repo) -> Result<Option<Located>> {
        if let Some(l) = self
            .located
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&repo.name)
        {
            return Ok(l.clone());
        }
        let mut found = None;
        for project in project_candidates(self.explicit_project.as_deref(), &repo.name) {
            let Some(list) = self.repositories(&project).await? else {
                continue;
            };
            let location = format!("{}/{}", self.host, repo.name);
            if let Some(r) = list
                .iter()
                .find(|r| r.path == repo.name || r.location == location)
            {
                found = Some(Located {
                    project: project.clone(),
                    repository: r.id,
                });
                break;
            }
            // The project the path belongs to exists but has no such repository yet; a project
            // given explicitly may simply be another one, so the path is still tried.
            if Some(&project) != self.explicit_project.as_ref() {
                break;
            }
        }
        self.located
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(repo.name.clone(), found.clone());
        Ok(found)
    }

    fn tags_url(&self, api: &Url, at: &Located, tail: &[&str]) -> Result<Url> {
        let rid = at.repository.to_string();
        let mut parts = vec!["registry", "repositories", rid.as_str(), "tags"];
        parts.extend_from_slice(tail);
        Self::api_path(api, &at.project, &parts)
    }

    /// The registry's features, from the headers of an authenticated `GET /v2/` (asked once).
    pub async fn features(&self) -> Vec<String> {
        self.features
            .get_or_init(|| async {
                let from = |h: &reqwest::header::HeaderMap| -> Option<Vec<String>> {
                    let v = h.get(FEATURES_HEADER)?.to_str().ok()?;
                    Some(
                        v.split(',')
                            .map(|f| f.trim().to_ascii_lowercase())
                            .filter(|f| !f.is_empty())
                            .collect(),
                    )
                };
                let Ok(base) = self.oci.transport().base_url(&self.host).await else {
                    return Vec::new();
                };
                let Ok(url) = base.join("v2/") else {
                    return Vec::new();
                };
                match self
                    .oci
                    .transport()
                    .send(Request::new(Method::GET, url))
                    .await
                {
                    Ok(resp) => from(resp.headers()).unwrap_or_default(),
                    Err(_) => Vec::new(),
                }
            })
            .await
            .clone()
    }

    /// A registry `DELETE` of `/v2/<path>/<tail>` with a `delete` token, classified.
    async fn registry_delete(&self, repo: &Repo, tail: &str) -> Result<Attempt> {
        let base = self.oci.transport().base_url(&repo.host).await?;
        let url = Url::parse(&format!("{base}v2/{}/{tail}", repo.name))
            .map_err(|e| Error::input(format!("invalid repository {repo}: {e}")))?;
        let req = Request::new(Method::DELETE, url.clone())
            .scope(Scope::repository(&repo.name, &["delete"]));
        let resp = self.oci.transport().send(req).await?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let code = registry_code(&text);
        Ok(match (status, code.as_deref()) {
            (200..=299, _) => Attempt::Done,
            (404, Some("MANIFEST_UNKNOWN" | "NAME_UNKNOWN" | "BLOB_UNKNOWN")) => Attempt::Gone,
            (404 | 405, _) | (400, Some("DIGEST_INVALID" | "UNSUPPORTED")) => {
                Attempt::Unsupported { status, code }
            }
            // GitLab's registry denies deleting what a tag protection rule covers.
            (403, _) => Attempt::Kept(format!(
                "GitLab refused to delete {repo} {} (HTTP 403{}): a protected container tag rule covers it",
                tail.rsplit('/').next().unwrap_or(tail),
                code.map(|c| format!(" {c}")).unwrap_or_default()
            )),
            (401, _) => {
                return Err(Error::auth(format!(
                    "the GitLab registry refused to delete in {repo} (HTTP 401)"
                ))
                .with_hint(self.registry_hint()));
            }
            _ => {
                return Err(Error::operation(format!(
                    "DELETE {} failed: HTTP {status} {}",
                    redact_url(&url),
                    code.unwrap_or_default()
                )));
            }
        })
    }

    fn registry_hint(&self) -> String {
        let via = match &self.token {
            Some(Token::Job(_)) => {
                "the job token (gitlab-ci-token) may delete only in the \
                                   pipeline's own project, when the job's user has the role"
            }
            _ => {
                "the registry login needs a token with the api (or write_registry) scope and at \
                  least the Developer role"
            }
        };
        format!(
            "{via}; pass --registry-username/--registry-password or --gitlab-token with a token \
             that may delete"
        )
    }

    /// One tag through the REST API.
    async fn rest_delete(&self, repo: &Repo, tag: &str) -> Result<Attempt> {
        let Some(at) = self.locate(repo).await? else {
            return Ok(Attempt::Gone);
        };
        let api = self.api_url().await?;
        let url = self.tags_url(&api, &at, &[tag])?;
        let resp = self.api_send(Method::DELETE, url).await?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let e = MessageError::parse(&body).unwrap_or_default();
        let protected = e
            .message()
            .is_some_and(|m| m.to_ascii_lowercase().contains("protected"));
        Ok(match status.as_u16() {
            200..=299 => Attempt::Done,
            // Grape's `not_found!` carries a `message` ("404 Tag Not Found"); a route GitLab does
            // not have answers with an `error` or no JSON at all.
            404 if e.message.is_some() => Attempt::Gone,
            404 | 405 => Attempt::Unsupported {
                status: status.as_u16(),
                code: e.error(),
            },
            400 | 403 if protected => {
                Attempt::Kept(format!("GitLab keeps {repo}:{tag}: {}", api_detail(&body)))
            }
            401 | 403 => {
                return Err(self.refused(status, &body, &format!("delete tag {repo}:{tag}"), true));
            }
            _ => {
                return Err(Error::operation(format!(
                    "GitLab could not delete tag {repo}:{tag}: HTTP {} {}",
                    status.as_u16(),
                    api_detail(&body)
                )));
            }
        })
    }

    async fn attempt(&self, variant: Variant, repo: &Repo, tag: &str) -> Result<Attempt> {
        match variant {
            Variant::RegistryTag => {
                self.registry_delete(repo, &format!("manifests/{tag}"))
                    .await
            }
            Variant::Rest => self.rest_delete(repo, tag).await,
            Variant::LegacyReference => {
                self.registry_delete(repo, &format!("tags/reference/{tag}"))
                    .await
            }
        }
    }

    /// The variants this registry may have, in order of preference.
    async fn candidates(&self) -> Vec<Variant> {
        let mut v = Vec::new();
        if self
            .features()
            .await
            .iter()
            .any(|f| f == TAG_DELETE_FEATURE)
        {
            v.push(Variant::RegistryTag);
        }
        if self.token.is_some() {
            v.push(Variant::Rest);
        }
        v.push(Variant::LegacyReference);
        v
    }

    /// Removes one tag with the run's variant, deciding it on the first call.
    async fn untag_one(&self, repo: &Repo, tag: &str) -> Result<Untagged> {
        let decided = *self.variant.lock().await;
        let outcome = match decided {
            Some(Some(v)) => self.attempt(v, repo, tag).await?,
            Some(None) => return Err(self.no_variant(repo, tag, &[])),
            None => {
                // Decide under the lock, so concurrent first calls do not probe twice.
                let mut slot = self.variant.lock().await;
                if let Some(v) = *slot {
                    drop(slot);
                    return match v {
                        Some(v) => to_untagged(self.attempt(v, repo, tag).await?),
                        None => Err(self.no_variant(repo, tag, &[])),
                    };
                }
                let mut refused = Vec::new();
                let mut outcome = None;
                for v in self.candidates().await {
                    match self.attempt(v, repo, tag).await? {
                        Attempt::Unsupported { status, code } => {
                            refused.push((v, unsupported_text(status, code.as_deref())))
                        }
                        other => {
                            crate::log::verbose(&format!(
                                "{}: removing single tags with {}",
                                self.host,
                                v.describe()
                            ));
                            *slot = Some(Some(v));
                            outcome = Some(other);
                            break;
                        }
                    }
                }
                match outcome {
                    Some(o) => o,
                    None => {
                        *slot = Some(None);
                        return Err(self.no_variant(repo, tag, &refused));
                    }
                }
            }
        };
        to_untagged(outcome)
    }

    fn no_variant(&self, repo: &Repo, tag: &str, refused: &[(Variant, String)]) -> Error {
        let tried: Vec<String> = refused
            .iter()
            .map(|(v, why)| format!("{} ({why})", v.describe()))
            .collect();
        let detail = if tried.is_empty() {
            String::new()
        } else {
            format!(": {}", tried.join(", "))
        };
        Error::unsupported(format!(
            "GitLab offers no way to remove the single tag {repo}:{tag}{detail}"
        ))
        .with_hint(
            "give --gitlab-token so the REST API can delete tags, or upgrade the GitLab registry",
        )
    }

    /// Lists one repository: REST tag names, then per tag the detail or a HEAD.
    async fn list(&self, repo: &Repo, timed: Timed<'_>) -> Result<Listing> {
        self.token()?;
        let Some(at) = self.locate(repo).await? else {
            return Ok(Listing::default());
        };
        let api = self.api_url().await?;
        let mut first = self.tags_url(&api, &at, &[])?;
        first.query_pairs_mut().append_pair("per_page", "100");
        // gitlab.com prefers keyset paging for tags; self-managed instances page by offset.
        if api.host_str() == Some("gitlab.com") {
            first.query_pairs_mut().append_pair("pagination", "keyset");
        }
        let Some(names) = self
            .list_all::<TagName>(first, &format!("list the tags of {repo}"))
            .await?
        else {
            return Ok(Listing::default());
        };
        // Tag → digest costs one request per tag either way. Where the policy may judge the tag
        // by age, the REST detail gives digest and `created_at` in one request (its media type
        // then costs one HEAD per distinct digest, done by the inventory). Elsewhere a registry
        // HEAD gives digest and media type in one request, so the detail would only add that
        // HEAD: HEAD is the cheaper of the two for them.
        let concurrency = self.caps.default_concurrency.max(1);
        let reads: Vec<Result<Option<(String, String, Listed)>>> =
            futures_util::stream::iter(names.into_iter().map(|t| t.name))
                .map(|tag| {
                    let at = &at;
                    let api = &api;
                    async move {
                        if timed(&tag) {
                            self.tag_detail(api, at, repo, tag).await
                        } else {
                            Ok(self.oci.head_manifest(repo, &tag).await?.map(|d| {
                                let listed = Listed {
                                    media_type: Some(d.media_type),
                                    pushed: None,
                                    ..Default::default()
                                };
                                (tag, d.digest, listed)
                            }))
                        }
                    }
                })
                .buffer_unordered(concurrency)
                .collect()
                .await;
        let mut listing = Listing::default();
        for r in reads {
            let Some((tag, digest, listed)) = r? else {
                continue;
            };
            let entry = listing.manifests.entry(digest.clone()).or_default();
            if entry.media_type.is_none() {
                entry.media_type = listed.media_type;
            }
            entry.pushed = match (entry.pushed, listed.pushed) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            listing.tags.insert(tag, digest);
        }
        Ok(listing)
    }

    async fn tag_detail(
        &self,
        api: &Url,
        at: &Located,
        repo: &Repo,
        tag: String,
    ) -> Result<Option<(String, String, Listed)>> {
        let url = self.tags_url(api, at, &[tag.as_str()])?;
        let resp = self.api_send(Method::GET, url).await?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if status == StatusCode::NOT_FOUND {
            // Deleted while we listed.
            return Ok(None);
        }
        if !status.is_success() {
            return Err(self.refused(status, &body, &format!("read tag {repo}:{tag}"), false));
        }
        let d: TagDetail = serde_json::from_str(&body).map_err(|e| {
            Error::operation(format!(
                "GitLab's detail of tag {repo}:{tag} is not JSON: {e}"
            ))
        })?;
        let Some(digest) = d.digest.filter(|d| d.contains(':')) else {
            // A tag without a manifest (GitLab shows these as broken); the registry decides.
            return Ok(self
                .oci
                .head_manifest(repo, &tag)
                .await?
                .map(|h| (tag, h.digest, Listed::default())));
        };
        let pushed = d.created_at.as_deref().and_then(parse_time);
        Ok(Some((
            tag,
            digest,
            Listed {
                media_type: None,
                pushed,
                ..Default::default()
            },
        )))
    }
}

fn to_untagged(a: Attempt) -> Result<Untagged> {
    Ok(match a {
        Attempt::Done => Untagged::Native,
        Attempt::Gone => Untagged::Absent,
        Attempt::Kept(reason) => Untagged::Kept(reason),
        Attempt::Unsupported { status, code } => {
            return Err(Error::unsupported(format!(
                "GitLab refused the tag delete it accepted before ({})",
                unsupported_text(status, code.as_deref())
            )));
        }
    })
}

fn unsupported_text(status: u16, code: Option<&str>) -> String {
    format!(
        "HTTP {status}{}",
        code.map(|c| format!(" {c}")).unwrap_or_default()
    )
}

/// The `code` of the first registry error in a body.
fn registry_code(body: &str) -> Option<String> {
    crate::registry::rest::OciError::first_code(body)
}

/// `https://gitlab.example/jwt/auth` → `https://gitlab.example/api/v4` (a relative URL root such
/// as `/gitlab/jwt/auth` is kept).
pub fn api_from_realm(realm: &str) -> Option<Url> {
    let mut url = Url::parse(realm).ok()?;
    let path = url.path().trim_end_matches('/').to_string();
    let root = path.strip_suffix("/jwt/auth")?;
    url.set_query(None);
    url.set_fragment(None);
    url.set_path(&format!("{root}/api/v4"));
    Some(url)
}

/// Project ids to try for an image path: the explicit one first, then the path minus zero, one
/// or two trailing components (GitLab allows two levels below the project), longest first; a
/// project path has at least two components (namespace/project).
pub fn project_candidates(explicit: Option<&str>, path: &str) -> Vec<String> {
    let mut out: Vec<String> = explicit.map(str::to_string).into_iter().collect();
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    for drop in 0..=2usize {
        if parts.len() >= drop + 2 {
            let p = parts[..parts.len() - drop].join("/");
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

impl Registry for GitLab {
    crate::registry::registry_accessors!();

    crate::registry::registry_call!(listing, self, |repo, timed| async move {
        self.list(repo, timed).await.map(Some)
    });

    crate::registry::registry_call!(repositories, self, |_host, under| async move {
        Ok(crate::registry::repositories_under(
            self.namespace_repositories(under).await?,
            under,
        ))
    });

    crate::registry::registry_call!(delete_digest, self, |repo, digest| async move {
        Ok(
            match self
                .registry_delete(repo, &format!("manifests/{digest}"))
                .await?
            {
                Attempt::Done => Deleted::Done,
                Attempt::Gone => Deleted::NotFound,
                Attempt::Kept(reason) => Deleted::Kept { reason },
                // A plain 404 on a manifest DELETE: nothing there (as the OCI client reads it).
                Attempt::Unsupported {
                    status: 404,
                    code: None,
                } => Deleted::NotFound,
                Attempt::Unsupported { status, code } => Deleted::Unsupported { status, code },
            },
        )
    });

    crate::registry::registry_call!(untag, self, |repo, tag, _tag_delete_works| async move {
        Ok((self.untag_one(repo, tag).await?, true))
    });

    crate::registry::registry_call!(untag_tags, self, |repo, tags, concurrency| async move {
        let Some((first, rest)) = tags.split_first() else {
            return Vec::new();
        };
        // The first tag decides the variant; the rest reuse it concurrently.
        let mut out = vec![self.untag_one(repo, first).await];
        let calls: Vec<_> = rest
            .iter()
            .map(|t| self.untag_one(repo, t.as_str()))
            .collect();
        let more: Vec<Result<Untagged>> = futures_util::stream::iter(calls)
            .buffered(concurrency.max(1))
            .collect()
            .await;
        out.extend(more);
        out
    });
}

impl Implementation {
    #[allow(non_upper_case_globals)]
    pub const GitLab: Implementation = Implementation::of(&SPEC);
}

static SPEC: Spec = Spec {
    id: "gitlab",
    title: "GitLab Container Registry",
    help: "GitLab Container Registry",
    aliases: &[],
    capabilities: |_, common| Capabilities {
        depth: Depth { min: 2, max: None },
        repository_listing: RepositoryListing::VendorApi,
        ..common
    },
    hosts: &[HostPattern {
        regex: r"^registry\.gitlab\.com$",
        what: "GitLab.com's container registry",
        example: "registry.gitlab.com",
    }],
    unprobed_prefix: None,
    probe: Probe {
        proof: &[
            Sign::Header("gitlab-container-registry-version"),
            Sign::Challenge(&["/jwt/auth", "container_registry"]),
        ],
        hint: &[],
        reason: "answers with GitLab's /jwt/auth token realm",
    },
};

pub static REGISTRATION: Registration = Registration {
    implementation: Implementation::GitLab,
    open: |caps, oci, host, config| {
        Box::pin(async move {
            Ok(Box::new(GitLab::open(caps, oci, host, config).await?) as Box<dyn Registry>)
        })
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn api_from_the_realm() {
        assert_eq!(
            api_from_realm("https://gitlab.example.com/jwt/auth")
                .unwrap()
                .as_str(),
            "https://gitlab.example.com/api/v4"
        );
        assert_eq!(
            api_from_realm("https://example.com/gitlab/jwt/auth?x=1")
                .unwrap()
                .as_str(),
            "https://example.com/gitlab/api/v4"
        );
        assert_eq!(
            api_from_realm("http://127.0.0.1:5050/jwt/auth")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:5050/api/v4"
        );
        assert!(api_from_realm("https://auth.docker.io/token").is_none());
    }

    #[test]
    fn project_candidates_longest_first_two_levels_at_most() {
        assert_eq!(
            project_candidates(None, "group/sub/project/img/x"),
            vec![
                "group/sub/project/img/x",
                "group/sub/project/img",
                "group/sub/project"
            ]
        );
        assert_eq!(
            project_candidates(None, "group/project"),
            vec!["group/project"]
        );
        assert_eq!(
            project_candidates(Some("42"), "g/p/img"),
            vec!["42", "g/p/img", "g/p"]
        );
    }

    #[test]
    fn times_with_offsets() {
        let utc = parse_time("2019-01-06T16:49:51.272+00:00").unwrap();
        let z = parse_time("2019-01-06T16:49:51.272Z").unwrap();
        assert_eq!(utc, z);
        let plus2 = parse_time("2019-01-06T18:49:51.272+02:00").unwrap();
        assert_eq!(plus2, z);
        let minus5 = parse_time("2019-01-06T11:49:51.272-05:00").unwrap();
        assert_eq!(minus5, z);
        let secs = z.duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs, 1_546_793_391);
        assert!(parse_time("yesterday").is_none());
    }

    #[test]
    fn registry_codes() {
        assert_eq!(
            registry_code(r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"x"}]}"#).as_deref(),
            Some("MANIFEST_UNKNOWN")
        );
        assert_eq!(registry_code("404 page not found"), None);
    }
}
