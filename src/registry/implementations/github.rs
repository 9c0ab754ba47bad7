//! GitHub Packages: ghcr.io (and GHES `containers.<host>`), plus the legacy
//! docker.pkg.github.com (GHES `docker.<host>`), treated as an alias
//! (docs/registries.md#github-packages).
//!
//! The registry (OCI data plane) pushes and reads, but refuses manifest DELETE (405). Listing and
//! deletion therefore go through the REST packages API: one package per repository (`owner/a/b`
//! is package `a/b` of `owner`, sent as `a%2Fb`), one *version* per manifest digest (`name` is the
//! digest, `metadata.container.tags` its tags). Deleting a version removes every tag on it, so a
//! single tag is removed by the safe untag (docs/registries.md#safe-untag): push a throw-away to
//! the tag through the registry, then REST-delete the throw-away's version.
//!
//! GitHub's limits (primary, secondary, paced DELETEs) are kept by the forge client
//! ([`crate::forge::github::Api`]) this file sends its REST calls through.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::SystemTime;

use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use serde::Deserialize;
use tokio::sync::OnceCell;
use url::Url;

use super::Registration;
use crate::error::{Error, Result};
use crate::forge::github::Reply;
use crate::implementation::{
    Capabilities, Depth, DigestDelete, HostPattern, Implementation, Probe, RepositoryListing, Spec,
    Untag, is_legacy_github_host,
};
use crate::registry::credentials::Credential;
use crate::registry::distribution::{Deleted, Distribution, Repo, next_link};
use crate::registry::host::HostConfig;
use crate::registry::paging::Pages;
use crate::registry::transport::Request;
use crate::registry::untag::{self};
use crate::registry::{Listed, Listing, Registry};
use crate::secret::{Secret, redact_url, scrub};

/// Every REST request carries these (https://docs.github.com/rest/packages).
const ACCEPT_JSON: &str = "application/vnd.github+json";
const API_VERSION: &str = "2022-11-28";
/// Versions per page: the most the API serves (default 30).
const PER_PAGE: usize = 100;

const TOKEN_HINT: &str = "GitHub Packages needs a classic personal access token with \
    read:packages (to list) and delete:packages (to delete), or a workflow GITHUB_TOKEN with \
    `permissions: packages: write` whose repository has the Admin role on the package; \
    fine-grained personal access tokens and GitHub App tokens cannot delete package versions. \
    Pass it with --github-token or GITHUB_TOKEN";

/// Why GitHub keeps a version on purpose (docs.github.com "Deleting and restoring a package";
/// the messages as the API returns them, see docs/registries.md#github-packages).
fn refusal(message: &str) -> Option<String> {
    let m = message.to_ascii_lowercase();
    if m.contains("last tagged version") || m.contains("last version of a package") {
        Some(format!(
            "GitHub keeps the last tagged version of a package (only the whole package can be deleted): {message}"
        ))
    } else if m.contains("5000 downloads") || m.contains("5,000 downloads") {
        Some(format!(
            "GitHub keeps public versions downloaded more than 5,000 times: {message}"
        ))
    } else {
        None
    }
}

/// docker.pkg.github.com and GHES's `docker.<host>`: the legacy registry.
fn is_legacy(host: &str) -> bool {
    crate::implementation::is_legacy_github_host(&crate::detect::host_name(host))
}

/// The REST base for a registry host: GHES registries (`containers.<h>`, `docker.<h>`) have
/// theirs at `https://<h>/api/v3`; everything else is github.com's.
pub fn default_api_url(host: &str) -> Url {
    let name = crate::detect::host_name(host);
    let ghes = ["containers.", "docker."]
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .filter(|h| !h.is_empty() && *h != "pkg.github.com" && *h != "github.com");
    let s = match ghes {
        Some(h) if !crate::registry::transport::is_loopback(h) => format!("https://{h}/api/v3"),
        _ => "https://api.github.com".to_string(),
    };
    Url::parse(&s).expect("static API URL")
}

/// `a/b` → `a%2Fb`: each segment percent-encoded once and the separators encoded, so the
/// package name stays one path segment (a URL library must not turn it back into `/`).
pub fn encode_package(name: &str) -> String {
    crate::registry::rest::encode_segment(name)
}

/// Owner and package name of a repository (`owner/a/b` → `owner`, `a/b`).
fn split(repo: &Repo) -> Result<(&str, &str)> {
    repo.name
        .split_once('/')
        .filter(|(o, p)| !o.is_empty() && !p.is_empty())
        .ok_or_else(|| {
            Error::input(format!(
                "{repo}: GitHub Packages repositories are OWNER/PACKAGE[/…]"
            ))
        })
}

/// A package of the package list: its name is all dockhand reads.
#[derive(Debug, Deserialize)]
struct PackageName {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Version {
    id: u64,
    /// The manifest digest.
    name: String,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    #[serde(default)]
    container: Option<Container>,
}

#[derive(Debug, Deserialize)]
struct Container {
    #[serde(default)]
    tags: Vec<String>,
}

impl Version {
    fn tags(&self) -> &[String] {
        self.metadata
            .as_ref()
            .and_then(|m| m.container.as_ref())
            .map(|c| c.tags.as_slice())
            .unwrap_or_default()
    }
    /// The later of `created_at` and `updated_at` (a tag moved onto an old digest updates it).
    fn pushed(&self) -> Option<SystemTime> {
        [&self.created_at, &self.updated_at]
            .into_iter()
            .flatten()
            .filter_map(|t| crate::registry::rest::parse_time(t))
            .max()
    }
}

#[derive(Deserialize)]
struct Account {
    #[serde(default)]
    login: String,
    #[serde(rename = "type", default)]
    kind: String,
}

/// 401/403 as an auth error naming what the call needs, with the token's scopes if shown.
fn auth_error(reply: &Reply, what: &str, needs: &str) -> Error {
    let scopes = match reply.header("x-oauth-scopes") {
        Some(s) if !s.trim().is_empty() => format!("; the token's scopes: {}", s.trim()),
        Some(_) => "; the token has no scopes".to_string(),
        None => String::new(),
    };
    Error::auth(format!(
        "GitHub refused {what} (HTTP {}: {}); this needs {needs}{scopes}",
        reply.status.as_u16(),
        scrub(&reply.message())
    ))
    .with_hint(TOKEN_HINT)
}

fn api_error(reply: &Reply, what: &str) -> Error {
    Error::operation(format!(
        "GitHub API {what} {} answered HTTP {}: {}",
        redact_url(&reply.url),
        reply.status.as_u16(),
        scrub(&reply.message())
    ))
}

/// The REST packages API client.
struct Api {
    http: crate::forge::github::Api,
    base: Url,
    token: Option<Secret>,
    /// owner → URL scope (`orgs/o`, `users/o`, `user`).
    scopes: tokio::sync::Mutex<HashMap<String, String>>,
    /// The token's own login (`GET /user`), `None` where the token has no user (GITHUB_TOKEN).
    me: OnceCell<Option<String>>,
    /// repository name → digest → version id.
    versions: Mutex<HashMap<String, HashMap<String, u64>>>,
    /// `x-oauth-scopes` of the last reply that had it (classic tokens).
    scopes_seen: Mutex<Option<String>>,
    /// The first DELETE refused for lack of permission: the rest are not sent.
    denied: Mutex<Option<Error>>,
}

impl Api {
    fn url(&self, path: &str) -> Result<Url> {
        let base = self.base.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}/{path}"))
            .map_err(|e| Error::input(format!("invalid GitHub API URL {base}/{path}: {e}")))
    }

    fn token(&self) -> Result<&Secret> {
        self.token.as_ref().ok_or_else(|| {
            Error::input("GitHub Packages cleanup needs a GitHub token for the packages API")
                .with_hint(TOKEN_HINT)
        })
    }

    /// One REST request with the token and GitHub's headers, not yet sent.
    fn request(&self, method: Method, url: Url) -> Result<Request> {
        let token = self.token()?;
        let auth = crate::registry::transport::bearer_value(token).ok_or_else(|| {
            Error::input("the GitHub token holds characters not allowed in a header")
        })?;
        let mut req = Request::new(method, url)
            .header(ACCEPT, ACCEPT_JSON)
            .header(
                reqwest::header::HeaderName::from_static("x-github-api-version"),
                API_VERSION,
            );
        req.headers.insert(AUTHORIZATION, auth);
        req.registry_auth = false;
        Ok(req)
    }

    /// Sends one REST request through the forge client (which waits out the rate limits).
    async fn send(&self, method: Method, url: Url) -> Result<Reply> {
        let reply = self.http.send(self.request(method, url)?).await?;
        self.saw(&reply);
        Ok(reply)
    }

    /// Keeps the `x-oauth-scopes` a classic token's replies show.
    fn saw(&self, reply: &Reply) {
        if let Some(scopes) = reply.header("x-oauth-scopes") {
            *self.scopes_seen.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(scopes.trim().to_string());
        }
    }

    /// The URL scope of an owner's packages: `orgs/{o}`, `user` (the token's own account) or
    /// `users/{o}`. Asked once per owner.
    async fn scope(&self, owner: &str) -> Result<String> {
        let mut scopes = self.scopes.lock().await;
        if let Some(s) = scopes.get(owner) {
            return Ok(s.clone());
        }
        let url = self.url(&format!("users/{}", encode_package(owner)))?;
        let reply = self.send(Method::GET, url).await?;
        let scope = match reply.status.as_u16() {
            200 => {
                let account: Account = reply.json()?;
                if account.kind.eq_ignore_ascii_case("organization") {
                    format!("orgs/{}", encode_package(owner))
                } else if self
                    .me()
                    .await?
                    .is_some_and(|me| me.eq_ignore_ascii_case(owner))
                {
                    "user".to_string()
                } else {
                    format!("users/{}", encode_package(owner))
                }
            }
            401 | 403 => {
                return Err(auth_error(
                    &reply,
                    &format!("looking up {owner}"),
                    "a valid token",
                ));
            }
            404 => {
                return Err(
                    Error::input(format!("GitHub has no user or organization {owner:?}"))
                        .with_hint("check the owner in the images repo address (ghcr.io/OWNER/…)"),
                );
            }
            _ => return Err(api_error(&reply, "user lookup")),
        };
        scopes.insert(owner.to_string(), scope.clone());
        Ok(scope)
    }

    /// The token's own login; `None` for tokens without a user (a workflow's GITHUB_TOKEN).
    async fn me(&self) -> Result<Option<String>> {
        self.me
            .get_or_try_init(|| async {
                let reply = self.send(Method::GET, self.url("user")?).await?;
                match reply.status.as_u16() {
                    200 => Ok(Some(reply.json::<Account>()?.login)),
                    401 => Err(auth_error(&reply, "the token", "a valid token")),
                    // "Resource not accessible by integration": an installation token.
                    _ => Ok(None),
                }
            })
            .await
            .cloned()
    }

    /// `…/{scope}/packages/container/{package}` of a repository.
    async fn package_path(&self, repo: &Repo) -> Result<String> {
        let (owner, package) = split(repo)?;
        let scope = self.scope(owner).await?;
        Ok(format!(
            "{scope}/packages/container/{}",
            encode_package(package)
        ))
    }

    /// The names of an owner's container packages (`GET /{scope}/packages?package_type=container`,
    /// <https://docs.github.com/rest/packages/packages#list-packages-for-an-organization>), paged
    /// by `Link`; a nested package `a/b` is named as it is.
    async fn list_packages(&self, owner: &str) -> Result<Vec<String>> {
        let scope = self.scope(owner).await?;
        let mut url = self.url(&format!(
            "{scope}/packages?package_type=container&per_page={PER_PAGE}"
        ))?;
        let mut out = Vec::new();
        let mut pages = Pages::new(format!("GitHub's package list of {owner}"));
        loop {
            pages.visit_url(&url)?;
            let reply = self.send(Method::GET, url.clone()).await?;
            match reply.status.as_u16() {
                200 => {}
                401 | 403 => {
                    return Err(auth_error(
                        &reply,
                        &format!("listing the packages of {owner}"),
                        "read:packages",
                    ));
                }
                _ => return Err(api_error(&reply, "listing packages")),
            }
            let page: Vec<PackageName> = reply.json()?;
            out.extend(page.into_iter().map(|p| p.name));
            match next_link(&reply.headers, &url) {
                Some(next) => url = next,
                None => return Ok(out),
            }
        }
    }

    /// Every version of a package, newest first as GitHub lists them; `None` when the API shows
    /// no such package. With `until`, stops at the page holding that digest.
    async fn list_versions(
        &self,
        repo: &Repo,
        until: Option<&str>,
    ) -> Result<Option<Vec<Version>>> {
        let path = self.package_path(repo).await?;
        let mut url = self.url(&format!("{path}/versions?per_page={PER_PAGE}"))?;
        let mut out: Vec<Version> = Vec::new();
        let mut pages = Pages::new(format!("GitHub's version list of {repo}"));
        loop {
            pages.visit_url(&url)?;
            let reply = self.send(Method::GET, url.clone()).await?;
            match reply.status.as_u16() {
                200 => {}
                404 if out.is_empty() => return Ok(None),
                401 | 403 => {
                    return Err(auth_error(
                        &reply,
                        &format!("listing the versions of {repo}"),
                        "read:packages",
                    ));
                }
                _ => return Err(api_error(&reply, "listing versions")),
            }
            let page: Vec<Version> = reply.json()?;
            let found = until.is_some_and(|d| page.iter().any(|v| v.name == d));
            out.extend(page);
            {
                let mut map = self.versions.lock().unwrap_or_else(|p| p.into_inner());
                let entry = map.entry(repo.name.clone()).or_default();
                for v in &out {
                    entry.insert(v.name.clone(), v.id);
                }
            }
            if found {
                return Ok(Some(out));
            }
            match next_link(&reply.headers, &url) {
                Some(next) => url = next,
                None => return Ok(Some(out)),
            }
        }
    }

    fn known_id(&self, repo: &Repo, digest: &str) -> Option<u64> {
        self.versions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&repo.name)
            .and_then(|m| m.get(digest))
            .copied()
    }

    fn forget(&self, repo: &Repo, digest: &str) {
        if let Some(m) = self
            .versions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&repo.name)
        {
            m.remove(digest);
        }
    }

    /// REST-deletes the version of `digest` (all its tags go with it).
    async fn delete_version(&self, repo: &Repo, digest: &str) -> Result<Deleted> {
        if let Some(e) = self
            .denied
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Err(e);
        }
        let result = self.delete_version_once(repo, digest).await;
        if let Err(e) = &result
            && e.kind == crate::error::Kind::Auth
        {
            *self.denied.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.clone());
        }
        result
    }

    async fn delete_version_once(&self, repo: &Repo, digest: &str) -> Result<Deleted> {
        let id = match self.known_id(repo, digest) {
            Some(id) => id,
            // Not seen yet (a throw-away just pushed): the newest pages hold it.
            None => match self.list_versions(repo, Some(digest)).await? {
                None => return Ok(Deleted::NotFound),
                Some(_) => match self.known_id(repo, digest) {
                    Some(id) => id,
                    None => return Ok(Deleted::NotFound),
                },
            },
        };
        let path = self.package_path(repo).await?;
        let url = self.url(&format!("{path}/versions/{id}"))?;
        let reply = self
            .http
            .send_write(self.request(Method::DELETE, url.clone())?)
            .await?;
        self.saw(&reply);
        let status = reply.status.as_u16();
        if reply.status.is_success() {
            self.forget(repo, digest);
            return Ok(Deleted::Done);
        }
        if matches!(status, 400 | 403 | 409 | 422)
            && let Some(reason) = refusal(&reply.message())
        {
            return Ok(Deleted::Kept { reason });
        }
        match status {
            404 => {
                // GitHub answers 404 when the token may not delete; a version that is still
                // listed shows which it was.
                let check = self.send(Method::GET, url).await?;
                if check.status.is_success() {
                    let scopes = reply.header("x-oauth-scopes").map(str::to_string);
                    let mut reply = reply;
                    if let Some(s) =
                        scopes.or_else(|| check.header("x-oauth-scopes").map(str::to_string))
                        && let Ok(v) = HeaderValue::from_str(&s)
                    {
                        reply.headers.insert("x-oauth-scopes", v);
                    }
                    return Err(auth_error(
                        &reply,
                        &format!(
                            "deleting version {id} ({digest}) of {repo}: it exists, but GitHub answers 404 \
                             when the token may not delete it"
                        ),
                        "delete:packages and the Admin role on the package",
                    ));
                }
                self.forget(repo, digest);
                Ok(Deleted::NotFound)
            }
            401 | 403 => Err(auth_error(
                &reply,
                &format!("deleting version {id} ({digest}) of {repo}"),
                "delete:packages and the Admin role on the package",
            )),
            _ => Err(api_error(&reply, "deleting a version")),
        }
    }
}

/// The GitHub Packages registry.
pub struct GitHub {
    caps: Capabilities,
    oci: Distribution,
    api: Api,
    legacy: bool,
    /// A dry run deletes nothing, so it needs no delete scope.
    dry_run: bool,
}

impl GitHub {
    /// `host` is the registry host of the images repo.
    pub async fn open(
        caps: Capabilities,
        oci: Distribution,
        host: &str,
        config: &HostConfig,
    ) -> Result<GitHub> {
        let transport = oci.transport().clone();
        let legacy = is_legacy(host);
        if legacy {
            crate::log::warn(&format!(
                "{host} is GitHub's legacy Docker registry, replaced by ghcr.io (its images were \
                 migrated there); dockhand treats it as an alias of ghcr.io and manages it through \
                 the same packages API"
            ));
        }
        let registry_credential = transport.credential(host).await?;
        let token = match (&config.github.token, &registry_credential) {
            (Some(t), _) if !t.expose().trim().is_empty() => Some(t.clone()),
            (_, Some(Credential::Basic { password, .. })) => Some(password.clone()),
            _ => None,
        };
        if let Some(t) = &token {
            if t.expose().starts_with("github_pat_") {
                crate::log::warn(
                    "the GitHub token is a fine-grained personal access token, which GitHub \
                     Packages does not accept for its API; use a classic token or GITHUB_TOKEN",
                );
            }
            // The same token logs in to the registry (any user name) unless one is configured.
            if registry_credential.is_none() {
                transport.set_credential(host, Credential::basic("dockhand", t.expose()));
            }
        }
        let base = config
            .github
            .api_url
            .clone()
            .unwrap_or_else(|| default_api_url(host));
        Ok(GitHub {
            caps,
            api: Api {
                http: crate::forge::github::Api::with_limits(
                    transport,
                    crate::forge::github::rest_read_error,
                    config.github.limits.clone(),
                ),
                base,
                token,
                scopes: Default::default(),
                me: OnceCell::new(),
                versions: Default::default(),
                scopes_seen: Mutex::new(None),
                denied: Mutex::new(None),
            },
            oci,
            legacy,
            dry_run: config.dry_run,
        })
    }
}

impl Registry for GitHub {
    crate::registry::registry_accessors!();

    crate::registry::registry_call!(listing, self, |repo, _timed| async move {
        let Some(versions) = self.api.list_versions(repo, None).await? else {
            // No package, or one the token cannot see: the registry tells which.
            return match self.oci.tags(repo, None).await? {
                Some(tags) if !tags.is_empty() => Err(Error::auth(format!(
                    "{repo} has {} tag(s) in the registry, but the GitHub API shows no package {} \
                         to this token",
                    tags.len(),
                    split(repo)?.1
                ))
                .with_hint(TOKEN_HINT)),
                _ => Ok(Some(Listing::default())),
            };
        };
        // A classic token names its scopes: one that cannot delete fails the cleanup here,
        // before anything is planned or deleted.
        let scopes = self
            .api
            .scopes_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if !self.dry_run
            && let Some(scopes) = scopes
            && !scopes.split(',').any(|s| s.trim() == "delete:packages")
        {
            let shown = if scopes.is_empty() {
                "none".to_string()
            } else {
                scopes
            };
            return Err(Error::auth(format!(
                "the GitHub token cannot delete package versions of {repo}: it lacks the \
                     delete:packages scope (the token's scopes: {shown})"
            ))
            .with_hint(TOKEN_HINT));
        }
        let mut listing = Listing::default();
        for v in versions {
            for t in v.tags() {
                // werf saw a synthetic tag on the legacy registry that is no image.
                if self.legacy && t == "docker-base-layer" {
                    continue;
                }
                listing.tags.insert(t.clone(), v.name.clone());
            }
            listing.manifests.insert(
                v.name.clone(),
                Listed {
                    media_type: None,
                    pushed: v.pushed(),
                    ..Default::default()
                },
            );
        }
        Ok(Some(listing))
    });

    /// GitHub's pace: a listing page per 100 versions, a DELETE per version; the safe untag finds
    /// its throw-away's version on the first page, then deletes it.
    fn paced(&self, steps: &[crate::registry::Step]) -> Option<crate::registry::Paced> {
        use crate::forge::github::Cost;
        use crate::registry::Step;
        if self.api.http.limits().0.is_empty() {
            return None;
        }
        let mut ops = Vec::new();
        for step in steps {
            match *step {
                Step::List { manifests } => ops.extend(std::iter::repeat_n(
                    Cost::READ,
                    manifests.div_ceil(PER_PAGE).max(1),
                )),
                Step::Delete { count } => ops.extend(std::iter::repeat_n(Cost::DELETE, count)),
                Step::Untag { count } => {
                    for _ in 0..count {
                        ops.extend([Cost::READ, Cost::DELETE]);
                    }
                }
            }
        }
        Some(crate::registry::Paced {
            requests: ops.len(),
            duration: self.api.http.estimate(ops),
            limits: self.api.http.limits().describe(),
        })
    }

    // Every package of the owner (the first path segment), as `owner/package`.
    crate::registry::registry_call!(repositories, self, |_host, under| async move {
        let owner = under.split('/').next().unwrap_or_default();
        if owner.is_empty() {
            return Err(Error::input(
                "--all-repositories on GitHub Packages needs the owner in the images repo",
            )
            .with_hint("use --images-repo ghcr.io/OWNER (or ghcr.io/OWNER/PREFIX)"));
        }
        let names = self.api.list_packages(owner).await?;
        Ok(crate::registry::repositories_under(
            names.into_iter().map(|n| format!("{owner}/{n}")),
            under,
        ))
    });

    crate::registry::registry_call!(delete_digest, self, |repo, digest| self
        .api
        .delete_version(repo, digest));

    // Registry tag DELETE is 405 on ghcr: straight to the safe untag.
    crate::registry::registry_call!(untag, self, |repo, tag, _tag_delete_works| async move {
        Ok((untag::safe_untag(self, repo, tag).await?, false))
    });
}

/// Tags → digests of a versions page, for tests and diagnostics.
#[allow(dead_code)]
fn tag_map(versions: &[Version]) -> BTreeMap<String, String> {
    versions
        .iter()
        .flat_map(|v| v.tags().iter().map(move |t| (t.clone(), v.name.clone())))
        .collect()
}

impl Implementation {
    #[allow(non_upper_case_globals)]
    pub const GitHub: Implementation = Implementation::of(&SPEC);
}

static SPEC: Spec = Spec {
    id: "github",
    title: "GitHub Packages",
    help: "GitHub Packages (ghcr.io)",
    aliases: &["ghcr", "github-packages"],
    capabilities: |host, common| {
        if is_legacy_github_host(host) {
            Capabilities {
                depth: Depth {
                    min: 3,
                    max: Some(3),
                },
                untag: Untag::SafeUntag,
                digest_delete: DigestDelete::VendorApi,
                get_counts_as_pull: true,
                default_concurrency: 4,
                lists_untagged: true,
                repository_listing: RepositoryListing::VendorApi,
                ..common
            }
        } else {
            Capabilities {
                depth: Depth { min: 2, max: None },
                untag: Untag::SafeUntag,
                digest_delete: DigestDelete::VendorApi,
                get_counts_as_pull: true,
                default_concurrency: 4,
                referrers_fallback_only: true,
                // Package versions without tags are the untagged manifests.
                lists_untagged: true,
                ..common
            }
        }
    },
    hosts: &[
        HostPattern {
            regex: r"^ghcr\.io$",
            what: "GitHub's container registry",
            example: "ghcr.io",
        },
        HostPattern {
            regex: r"^docker\.pkg\.github\.com$",
            what: "GitHub's legacy Docker registry",
            example: "docker.pkg.github.com",
        },
    ],
    unprobed_prefix: None,
    probe: Probe::NONE,
};

pub static REGISTRATION: Registration = Registration {
    implementation: Implementation::GitHub,
    open: |caps, oci, host, config| {
        Box::pin(async move {
            Ok(Box::new(GitHub::open(caps, oci, host, config).await?) as Box<dyn Registry>)
        })
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_are_one_segment() {
        assert_eq!(encode_package("app"), "app");
        assert_eq!(encode_package("a/b"), "a%2Fb");
        assert_eq!(encode_package("a/b/c.d_e-f"), "a%2Fb%2Fc.d_e-f");
        // The URL library keeps %2F as it is: one segment, encoded once.
        let u = Url::parse(&format!(
            "https://api.github.com/orgs/o/packages/container/{}/versions",
            encode_package("a/b")
        ))
        .unwrap();
        assert_eq!(u.path(), "/orgs/o/packages/container/a%2Fb/versions");
        assert_eq!(u.path_segments().unwrap().count(), 6);
    }

    #[test]
    fn api_url_defaults() {
        assert_eq!(
            default_api_url("ghcr.io").as_str(),
            "https://api.github.com/"
        );
        assert_eq!(
            default_api_url("docker.pkg.github.com").as_str(),
            "https://api.github.com/"
        );
        assert_eq!(
            default_api_url("containers.ghe.example").as_str(),
            "https://ghe.example/api/v3"
        );
        assert_eq!(
            default_api_url("docker.ghe.example").as_str(),
            "https://ghe.example/api/v3"
        );
    }

    #[test]
    fn refusals_are_recognised() {
        assert!(
            refusal("You cannot delete the last tagged version of a package. You must delete the package instead.")
                .unwrap()
                .contains("last tagged version")
        );
        assert!(
            refusal("You cannot delete the last version of a package. You must delete the package instead.")
                .is_some()
        );
        assert!(
            refusal(
                "Publicly visible package versions with more than 5000 downloads cannot be deleted."
            )
            .unwrap()
            .contains("5,000")
        );
        assert!(refusal("Must have admin rights to Repository.").is_none());
    }

    #[test]
    fn versions_parse_with_tags_and_times() {
        let v: Vec<Version> = serde_json::from_str(
            r#"[{"id":7,"name":"sha256:aa","created_at":"2024-05-01T12:00:00Z",
                 "updated_at":"2024-05-03T12:00:00Z","metadata":{"package_type":"container",
                 "container":{"tags":["v1","latest"]}}},
                {"id":8,"name":"sha256:bb","created_at":"2024-05-01T12:00:00Z",
                 "metadata":{"package_type":"container","container":{"tags":[]}}}]"#,
        )
        .unwrap();
        assert_eq!(
            tag_map(&v),
            BTreeMap::from([
                ("latest".to_string(), "sha256:aa".to_string()),
                ("v1".to_string(), "sha256:aa".to_string())
            ])
        );
        let want = humantime::parse_rfc3339("2024-05-03T12:00:00Z").unwrap();
        assert_eq!(v[0].pushed(), Some(want));
        assert!(v[1].tags().is_empty());
    }
}
